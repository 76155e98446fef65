//! YAML front matter (between `---` lines, as Jekyll and Hugo write it),
//! read into the same `FrontMatter` as TOML.
//!
//! Read from the events of `saphyr-parser` rather than through a document
//! loader: a loader expands every alias as it goes (a few hundred bytes of
//! "billion laughs" become gigabytes), while the events let this reader
//! stop at the first anchor or alias, and at the first mapping or list
//! nested deeper than [`MAX_DEPTH`], before anything is built. Front matter
//! needs neither. Events carry line numbers, so every error names the line.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// Deeper than any front matter (a list of author mappings is three
/// levels); past it the file is refused without reading further.
const MAX_DEPTH: usize = 16;

/// What went wrong, at a 1-based line of the front matter, with the key
/// it concerns when there is one.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct YamlError {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

/// A value as written: a scalar (with whether it was plain, unquoted),
/// a list, or a mapping with each key's line.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Scalar { text: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(String, usize, Node)>),
}

impl Node {
    /// A plain `~`, `null` or nothing at all: YAML's null, read as if the
    /// key were absent (`description:` left empty is common).
    pub(super) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, plain: true, .. }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// YAML 1.2's booleans, unquoted.
    pub(super) fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Scalar {
                text, plain: true, ..
            } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// What the value is, for "found …" in a message.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } if self.as_bool().is_some() => "a boolean",
            Node::Scalar { .. } => "a string",
            Node::Seq(..) => "a list",
            Node::Map(..) => "a mapping",
        }
    }

    /// The value as `toml` would hold it, for the checks both formats
    /// share (dates, authors). Nulls inside lists and mappings are dropped.
    pub(super) fn to_toml(&self) -> toml::Value {
        match self {
            Node::Scalar { text, .. } => match self.as_bool() {
                Some(b) => toml::Value::Boolean(b),
                None => toml::Value::String(text.clone()),
            },
            Node::Seq(items) => toml::Value::Array(
                items
                    .iter()
                    .filter(|n| !n.is_null())
                    .map(Node::to_toml)
                    .collect(),
            ),
            Node::Map(entries) => toml::Value::Table(
                entries
                    .iter()
                    .filter(|(_, _, n)| !n.is_null())
                    .map(|(k, _, n)| (k.clone(), n.to_toml()))
                    .collect(),
            ),
        }
    }
}

/// Reads `text` (the YAML between the `---` lines, starting on line
/// `first_line` of its file) into its top-level mapping: keys in order,
/// each with its line in `text` and its value. Empty front matter is an
/// empty mapping.
pub(super) fn read(text: &str, first_line: usize) -> Result<Vec<(String, usize, Node)>, YamlError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        depth: 0,
        first_line,
    };
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
            Event::StreamEnd | Event::DocumentEnd => return Ok(Vec::new()),
            Event::MappingStart(anchor, _) => {
                reader.check_anchor(anchor, span)?;
                let Node::Map(entries) = reader.mapping(span)? else {
                    unreachable!("a mapping reads as a mapping")
                };
                return reader.end(entries);
            }
            Event::Scalar(ref s, ScalarStyle::Plain, 0, _) if s.trim().is_empty() => {
                return reader.end(Vec::new())
            }
            other => {
                return Err(YamlError {
                    line: line(span),
                    field: None,
                    message: format!(
                        "expected `key: value` lines in the YAML front matter, found {}",
                        describe(&other)
                    ),
                })
            }
        }
    }
}

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    depth: usize,
    /// For messages that name another line of the file.
    first_line: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    /// After the top-level mapping: nothing but the end of the document
    /// (a second document cannot be given, since `---` closes the front
    /// matter), with the parser's errors still reported.
    fn end(
        &mut self,
        entries: Vec<(String, usize, Node)>,
    ) -> Result<Vec<(String, usize, Node)>, YamlError> {
        loop {
            match self.next()?.0 {
                Event::StreamEnd => return Ok(entries),
                Event::DocumentEnd | Event::Nothing => {}
                _ => {
                    return Err(YamlError {
                        line: 1,
                        field: None,
                        message: "expected one YAML document in the front matter, found more"
                            .into(),
                    })
                }
            }
        }
    }

    fn check_anchor(&self, anchor: usize, span: Span) -> Result<(), YamlError> {
        if anchor == 0 {
            Ok(())
        } else {
            Err(anchor_error(span))
        }
    }

    fn enter(&mut self, span: Span) -> Result<(), YamlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(YamlError {
                line: line(span),
                field: None,
                message: nesting_message(),
            });
        }
        Ok(())
    }

    /// A value whose first event is `event`.
    fn value(&mut self, event: Event<'a>, span: Span) -> Result<Node, YamlError> {
        match event {
            Event::Scalar(text, style, anchor, _) => {
                self.check_anchor(anchor, span)?;
                Ok(Node::Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                })
            }
            Event::SequenceStart(anchor, _) => {
                self.check_anchor(anchor, span)?;
                self.enter(span)?;
                let mut items = Vec::new();
                loop {
                    let (event, item_span) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.value(event, item_span)?);
                }
                self.depth -= 1;
                Ok(Node::Seq(items))
            }
            Event::MappingStart(anchor, _) => {
                self.check_anchor(anchor, span)?;
                self.mapping(span)
            }
            Event::Alias(_) => Err(anchor_error(span)),
            other => Err(YamlError {
                line: line(span),
                field: None,
                message: format!("expected a value, found {}", describe(&other)),
            }),
        }
    }

    /// The rest of a mapping whose start was read. A key given twice is
    /// refused: which of the two was meant cannot be known.
    fn mapping(&mut self, span: Span) -> Result<Node, YamlError> {
        self.enter(span)?;
        let mut entries: Vec<(String, usize, Node)> = Vec::new();
        loop {
            let (event, key_span) = self.next()?;
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, _, anchor, _) => {
                    self.check_anchor(anchor, key_span)?;
                    text.into_owned()
                }
                Event::Alias(_) => return Err(anchor_error(key_span)),
                other => {
                    return Err(YamlError {
                        line: line(key_span),
                        field: None,
                        message: format!("expected a key, found {}", describe(&other)),
                    })
                }
            };
            let key_line = line(key_span);
            if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == key) {
                return Err(YamlError {
                    line: key_line,
                    field: Some(key.clone()),
                    message: format!(
                        "`{key}` is given twice, first on line {}; expected each key once",
                        self.first_line + first - 1
                    ),
                });
            }
            let (event, value_span) = self.next()?;
            let value = self.value(event, value_span)?;
            entries.push((key, key_line, value));
        }
        self.depth -= 1;
        Ok(Node::Map(entries))
    }
}

fn line(span: Span) -> usize {
    span.start.line().max(1)
}

fn nesting_message() -> String {
    format!(
        "the YAML nests deeper than {MAX_DEPTH} levels; front matter is a few `key: value` lines"
    )
}

fn anchor_error(span: Span) -> YamlError {
    YamlError {
        line: line(span),
        field: None,
        message: "anchors (&name) and aliases (*name) are not accepted in front matter; write the value out".into(),
    }
}

fn scan_error(e: &ScanError) -> YamlError {
    let info = e.info();
    // The scanner's own bound on `[`/`{` nesting, met before ours when
    // it reads ahead.
    if info.contains("recursion limit") {
        return YamlError {
            line: e.marker().line().max(1),
            field: None,
            message: nesting_message(),
        };
    }
    let hint = if info.contains("tab") {
        "; indent YAML with spaces, not tabs"
    } else {
        ""
    };
    YamlError {
        line: e.marker().line().max(1),
        field: None,
        message: format!("invalid YAML: {info}{hint}"),
    }
}

fn describe(event: &Event<'_>) -> &'static str {
    match event {
        Event::Scalar(..) => "a single value",
        Event::SequenceStart(..) => "a list",
        Event::MappingStart(..) => "a mapping",
        Event::Alias(..) => "an alias",
        _ => "the end of the document",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_with_their_lines() {
        let entries = read("title: 未來\ndate: 2013-05-06\ntags:\n  - a\n  - b\n", 2).unwrap();
        let keys: Vec<(&str, usize)> = entries.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        assert_eq!(keys, [("title", 1), ("date", 2), ("tags", 3)]);
    }

    #[test]
    fn an_alias_bomb_stops_at_the_first_anchor() {
        let bomb = "a: &a [\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n";
        let e = read(bomb, 2).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.starts_with("anchors (&name)"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_at_the_bound() {
        for deep in [
            format!("x: {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
            format!("x:\n  {}y\n", "- ".repeat(10_000)),
            format!("x: {}1{}\n", "{a: ".repeat(10_000), "}".repeat(10_000)),
        ] {
            let e = read(&deep, 2).unwrap_err();
            assert!(e.message.contains("deeper than 16 levels"), "{}", e.message);
        }
    }

    #[test]
    fn empty_front_matter_is_an_empty_mapping() {
        assert!(read("", 2).unwrap().is_empty());
        assert!(read("# only a comment\n", 2).unwrap().is_empty());
    }
}
