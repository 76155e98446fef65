//! The common shape of front matter, read straight from the TOML parser's
//! events.
//!
//! `toml::from_str` lexes and parses, then builds a generic table of spanned
//! values, then deserializes that table through serde: the last two steps
//! cost twice what the parse does, and at 100,000 articles they were a third
//! of a cold build. Front matter is nearly always a handful of `key = value`
//! lines, so for that shape the events of `toml_parser` (the parser inside
//! `toml`) are mapped to [`FrontMatter`] directly. Anything else (a table
//! header, a dotted key, `extra`, an unknown or repeated key, another
//! tool's name for a field, a value of an unexpected type, any parse error)
//! gives `None`, and the caller goes the `toml` deserializer's way, which
//! gives the same result for what is read here and the same messages for
//! everything that is not.

use super::FrontMatter;
use std::borrow::Cow;
use toml::Spanned;
use toml_parser::decoder::ScalarKind;
use toml_parser::lexer::Token;
use toml_parser::parser::{Event, EventKind, RecursionGuard, ValidateWhitespace};
use toml_parser::{ParseError, Source};

/// Deeper than anything read here (an array of inline tables); what goes
/// deeper is handed to `toml`, which has its own limit.
const MAX_DEPTH: u32 = 8;

/// Reads `text` when it has the common shape; `None` when `toml` must.
pub(super) fn read(text: &str) -> Option<FrontMatter> {
    thread_local! {
        /// Tokens and events of the last front matter read on this thread:
        /// the arrays are reused rather than allocated per article.
        static BUFFERS: std::cell::RefCell<(Vec<Token>, Vec<Event>)> = Default::default();
    }
    BUFFERS.with_borrow_mut(|(tokens, events)| {
        let source = Source::new(text);
        tokens.clear();
        tokens.extend(source.lex());
        events.clear();
        let mut errors: Vec<ParseError> = Vec::new();
        {
            let mut validate = ValidateWhitespace::new(events, source);
            let mut guard = RecursionGuard::new(&mut validate, MAX_DEPTH);
            toml_parser::parser::parse_document(tokens, &mut guard, &mut errors);
        }
        if !errors.is_empty() {
            return None;
        }
        Reader {
            source,
            events,
            at: 0,
        }
        .document()
    })
}

/// A value as written, before it is given to a field.
enum Value {
    String(String),
    Boolean(bool),
    Datetime(toml::value::Datetime),
    Array(Vec<Spanned<Value>>),
    Table(Vec<(String, Spanned<Value>)>),
}

struct Reader<'e, 'i> {
    source: Source<'i>,
    events: &'e [Event],
    at: usize,
}

impl<'i> Reader<'_, 'i> {
    /// The next event that is not whitespace, a comment or a line end.
    fn next_significant(&mut self) -> Option<Event> {
        while let Some(e) = self.events.get(self.at) {
            self.at += 1;
            if !matches!(
                e.kind(),
                EventKind::Whitespace | EventKind::Comment | EventKind::Newline
            ) {
                return Some(*e);
            }
        }
        None
    }

    /// The next event that is not whitespace (line ends count).
    fn next_on_line(&mut self) -> Option<Event> {
        while let Some(e) = self.events.get(self.at) {
            self.at += 1;
            if e.kind() != EventKind::Whitespace {
                return Some(*e);
            }
        }
        None
    }

    fn document(mut self) -> Option<FrontMatter> {
        let mut fm = FrontMatter::blank();
        let mut seen = 0u32;
        while let Some(event) = self.next_significant() {
            if event.kind() != EventKind::SimpleKey {
                return None; // a table header, or something stranger
            }
            let key = self.key(event)?;
            if self.next_on_line()?.kind() != EventKind::KeyValSep {
                return None; // a dotted key
            }
            let value = self.value()?;
            // The rest of the line: a comment at most.
            match self.next_on_line() {
                None => {}
                Some(e) if matches!(e.kind(), EventKind::Comment | EventKind::Newline) => {}
                Some(_) => return None,
            }
            // A key met twice is for `toml` to report.
            let bit = 1 << field_index(&key)?;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            assign(&mut fm, &key, value)?;
        }
        // A title and a date are required: without them, the slow way
        // says so (or finds the date in the file name). Two names for one
        // date are for it to report too.
        let bit = |k| field_index(k).map(|i| 1u32 << i);
        let title = bit("title")?;
        let dates = [bit("published")?, bit("date")?]
            .into_iter()
            .filter(|b| seen & b != 0)
            .count();
        let updates = [bit("updated")?, bit("lastmod")?]
            .into_iter()
            .filter(|b| seen & b != 0)
            .count();
        (seen & title != 0 && dates == 1 && updates <= 1).then_some(fm)
    }

    fn key(&self, event: Event) -> Option<Cow<'i, str>> {
        let raw = self.source.get(event)?;
        let mut key = Cow::Borrowed("");
        let mut errors: Vec<ParseError> = Vec::new();
        raw.decode_key(&mut key, &mut errors);
        errors.is_empty().then_some(key)
    }

    fn value(&mut self) -> Option<Spanned<Value>> {
        let event = self.next_on_line()?;
        match event.kind() {
            EventKind::Scalar => self.scalar(event),
            EventKind::ArrayOpen => self.array(event),
            EventKind::InlineTableOpen => self.inline_table(event),
            _ => None,
        }
    }

    fn scalar(&self, event: Event) -> Option<Spanned<Value>> {
        let raw = self.source.get(event)?;
        let mut decoded = Cow::Borrowed("");
        let mut errors: Vec<ParseError> = Vec::new();
        let kind = raw.decode_scalar(&mut decoded, &mut errors);
        if !errors.is_empty() {
            return None;
        }
        let value = match kind {
            ScalarKind::String => Value::String(decoded.into_owned()),
            ScalarKind::Boolean(b) => Value::Boolean(b),
            ScalarKind::DateTime => Value::Datetime(decoded.parse().ok()?),
            // No field of an article is a number.
            ScalarKind::Float | ScalarKind::Integer(_) => return None,
        };
        Some(Spanned::new(span(event, event), value))
    }

    fn array(&mut self, open: Event) -> Option<Spanned<Value>> {
        let mut items = Vec::new();
        loop {
            let event = self.next_significant()?;
            match event.kind() {
                EventKind::ArrayClose => {
                    return Some(Spanned::new(span(open, event), Value::Array(items)))
                }
                EventKind::ValueSep => {}
                EventKind::Scalar => items.push(self.scalar(event)?),
                EventKind::InlineTableOpen => items.push(self.inline_table(event)?),
                _ => return None,
            }
        }
    }

    fn inline_table(&mut self, open: Event) -> Option<Spanned<Value>> {
        let mut entries: Vec<(String, Spanned<Value>)> = Vec::new();
        loop {
            let event = self.next_on_line()?;
            match event.kind() {
                EventKind::InlineTableClose => {
                    return Some(Spanned::new(span(open, event), Value::Table(entries)))
                }
                EventKind::ValueSep => {}
                EventKind::SimpleKey => {
                    let key = self.key(event)?;
                    if self.next_on_line()?.kind() != EventKind::KeyValSep
                        || entries.iter().any(|(k, _)| *k == key)
                    {
                        return None;
                    }
                    let event = self.next_on_line()?;
                    if event.kind() != EventKind::Scalar {
                        return None;
                    }
                    entries.push((key.into_owned(), self.scalar(event)?));
                }
                _ => return None,
            }
        }
    }
}

fn span(first: Event, last: Event) -> std::ops::Range<usize> {
    first.span().start()..last.span().end()
}

/// The fields read here, as [`FrontMatter`] names them (`extra` is left to
/// `toml`).
const FIELDS: [&str; 15] = [
    "title",
    "column",
    "published",
    "updated",
    "authors",
    "summary",
    "correction",
    "tags",
    "slug",
    "id",
    "url",
    "draft",
    // Zola's and Hugo's names, as common in their TOML as ours are here.
    "date",
    "lastmod",
    "description",
];

fn field_index(key: &str) -> Option<usize> {
    FIELDS.iter().position(|f| *f == key)
}

/// Gives `value` to the field `key`; `None` for an unknown key or a value
/// of a type the field does not take.
fn assign(fm: &mut FrontMatter, key: &str, value: Spanned<Value>) -> Option<()> {
    match key {
        "title" => fm.title = string(value)?,
        "column" => fm.column = Some(string(value)?),
        "published" => fm.published = Some(date(value)?),
        "updated" => fm.updated = Some(date(value)?),
        "authors" => fm.authors = Some(authors(value)?),
        "summary" => fm.summary = Some(string(value)?.into_inner()),
        "correction" => fm.correction = Some(string(value)?),
        "tags" => fm.tags = strings(value)?,
        "slug" => fm.slug = Some(string(value)?),
        "id" => fm.id = Some(string(value)?),
        "url" => fm.url = Some(string(value)?),
        "date" => fm.date = Some(date(value)?),
        "lastmod" => fm.lastmod = Some(date(value)?),
        "description" => fm.description = Some(string(value)?.into_inner()),
        "draft" => match value.into_inner() {
            Value::Boolean(b) => fm.draft = b,
            _ => return None,
        },
        _ => return None,
    }
    Some(())
}

fn string(value: Spanned<Value>) -> Option<Spanned<String>> {
    let span = value.span();
    match value.into_inner() {
        Value::String(s) => Some(Spanned::new(span, s)),
        _ => None,
    }
}

fn strings(value: Spanned<Value>) -> Option<Vec<String>> {
    match value.into_inner() {
        Value::Array(items) => items
            .into_iter()
            .map(|i| string(i).map(Spanned::into_inner))
            .collect(),
        _ => None,
    }
}

/// A date field takes what `parse_date` reads: a TOML date-time or a string.
fn date(value: Spanned<Value>) -> Option<Spanned<toml::Value>> {
    let span = value.span();
    let v = match value.into_inner() {
        Value::Datetime(d) => toml::Value::Datetime(d),
        Value::String(s) => toml::Value::String(s),
        _ => return None,
    };
    Some(Spanned::new(span, v))
}

/// `authors` as `toml` would give it: names, or tables of strings.
fn authors(value: Spanned<Value>) -> Option<Spanned<toml::Value>> {
    let span = value.span();
    let Value::Array(items) = value.into_inner() else {
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(match item.into_inner() {
            Value::String(s) => toml::Value::String(s),
            Value::Table(entries) => {
                let mut table = toml::Table::new();
                for (k, v) in entries {
                    let Value::String(s) = v.into_inner() else {
                        return None;
                    };
                    table.insert(k, toml::Value::String(s));
                }
                toml::Value::Table(table)
            }
            _ => return None,
        });
    }
    Some(Spanned::new(span, toml::Value::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `parse_article` reads from a [`FrontMatter`], spans
    /// included, as text to compare.
    fn shown(fm: &FrontMatter) -> String {
        let s = |v: &Spanned<String>| format!("{:?}@{:?}", v.get_ref(), v.span());
        let o = |v: &Option<Spanned<String>>| v.as_ref().map(s);
        let val = |v: &Spanned<toml::Value>| format!("{:?}@{:?}", v.get_ref(), v.span());
        format!(
            "title={} column={:?} published={:?} updated={:?} authors={:?} summary={:?} \
             correction={:?} tags={:?} slug={:?} id={:?} url={:?} draft={} extra={:?} \
             date={:?} lastmod={:?} description={:?}",
            s(&fm.title),
            o(&fm.column),
            fm.published.as_ref().map(val),
            fm.updated.as_ref().map(val),
            fm.authors.as_ref().map(val),
            fm.summary,
            o(&fm.correction),
            fm.tags,
            o(&fm.slug),
            o(&fm.id),
            o(&fm.url),
            fm.draft,
            fm._extra,
            fm.date.as_ref().map(val),
            fm.lastmod.as_ref().map(val),
            fm.description,
        )
    }

    /// Front matter this reader takes: each must come out exactly as
    /// `toml::from_str` gives it.
    const COMMON: &[&str] = &[
        "title = \"未來旅遊合作\"\npublished = 2022-02-22T07:59:00+08:00\n",
        "\ntitle = \"未來旅遊合作\"\npublished = 2022-02-22T07:59:00+08:00\nauthors = [\n  { name = \"謝富玲\", role = \"工程師\" },\n  { name = \"盧志\", role = \"中學校長\" },\n]\ntags = [\"效率\", \"土地\"]\n",
        "title = 'literal \\n'\npublished = 2026-06-12\nupdated = \"2026-06-13 08:00\"\ndraft = true\n",
        "# a comment\ntitle = \"x\" # trailing\r\npublished = 2026-06-12T07:00:00Z\r\nslug = \"a-b\"\r\n",
        "\"title\" = \"quoted key\"\npublished = 2026-06-12T07:00:00\ncolumn = \"economy\"\n",
        "title = \"\"\"\nmulti\nline\"\"\"\npublished = 2026-06-12T07:00:00.5+08:00\nsummary = '''raw\\\\'''\n",
        "title = \"esc \\u00e9 \\t \\\"q\\\"\"\npublished = 2026-06-12\nauthors = [\"A\", { name = \"B\" }, { name = \"C\", role = \"D\", slug = \"c\" }]\n",
        "title = \"t\"\npublished = 2026-06-12\ncorrection = \"fixed\"\nupdated = 2026-06-13\nid = \"urn:x\"\nurl = \"https://e.com/\"\ntags = []\n",
        "title=\"tight\"\npublished=2026-06-12\ndraft=false\n",
        "title = \"Zola\"\ndate = 2016-10-08\nupdated = 2016-10-09\ndescription = \"d\"\n",
        "title = \"Hugo\"\ndate = 2026-06-12T07:00:00+08:00\nlastmod = 2026-06-13\n",
    ];

    /// Front matter this reader hands to `toml`: valid or not, unusual.
    const UNUSUAL: &[&str] = &[
        "title = \"t\"\npublished = 2026-06-12\n[extra]\nx = 1\n",
        "title = \"t\"\npublished = 2026-06-12\nextra.x = 1\n",
        "title = \"t\"\ntitle = \"u\"\npublished = 2026-06-12\n",
        "title = \"t\"\npublished = 2026-06-12\npublised = 2026-06-12\n",
        "title = 5\npublished = 2026-06-12\n",
        "title = \"t\"\npublished = 2026-06-12\ndraft = \"yes\"\n",
        "title = \"t\"\npublished = 2026-06-12\ntags = \"one\"\n",
        "title = \"t\"\npublished = 2026-06-12\ntags = [1]\n",
        "title = \"t\"\npublished = next tuesday\n",
        "title = \"t\"\npublished = 2026-13-45\n",
        "title = \"t\"\npublished = 2026-06-12\nauthors = [{ name = \"A\", age = 3 }]\n",
        "title = \"t\"\npublished = 2026-06-12\nauthors = [{ name = \"A\", name = \"B\" }]\n",
        "title = \"t\"\npublished = 2026-06-12\nauthors = [[\"A\"]]\n",
        "title = \"bad \\q escape\"\npublished = 2026-06-12\n",
        "title = \"t\" x\npublished = 2026-06-12\n",
        "title = \"t\"\n",
        "published = 2026-06-12\n",
        "title = \"t\"\npublished = 2026-06-12\ndate = 2026-06-12\n",
        "title = \"t\"\ndate = 2026-06-12\nupdated = 2026-06-13\nlastmod = 2026-06-13\n",
        "title = \"t\"\ndate = 2026-06-12\npublishDate = 2026-06-13\n",
        "title = \"ctrl \u{1}\"\npublished = 2026-06-12\n",
        "",
    ];

    #[test]
    fn the_common_shape_reads_as_toml_reads_it() {
        for text in COMMON {
            let fast = read(text).unwrap_or_else(|| panic!("not read: {text:?}"));
            let slow: FrontMatter = toml::from_str(text).expect(text);
            assert_eq!(shown(&fast), shown(&slow), "{text:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_toml() {
        for text in UNUSUAL {
            assert!(read(text).is_none(), "read: {text:?}");
        }
    }

    /// Every article of the sample publication has the common shape.
    #[test]
    fn the_sample_publication_reads_as_toml_reads_it() {
        fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "md") {
                    found.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("content"),
            &mut files,
        );
        assert!(files.len() >= 10, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.trim_start_matches('\u{feff}');
            let front = text.split("+++").nth(1).expect("front matter");
            let fast = read(front).unwrap_or_else(|| panic!("not read: {}", path.display()));
            let slow: FrontMatter = toml::from_str(front).unwrap();
            assert_eq!(shown(&fast), shown(&slow), "{}", path.display());
        }
    }

    /// Every text one edit away from a common one (a character deleted, or
    /// one of TOML's significant characters inserted): whatever this reader
    /// takes, `toml` must take the same way.
    #[test]
    fn what_is_read_is_what_toml_reads_one_edit_away() {
        let mut read_here = 0;
        for text in COMMON {
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let mut variants = Vec::new();
            for &(i, c) in &chars {
                variants.push(format!("{}{}", &text[..i], &text[i + c.len_utf8()..]));
                for extra in [
                    '"', '\'', '=', '[', ']', '{', '}', ',', '.', '#', '\n', ' ', 'x', '1',
                ] {
                    variants.push(format!("{}{extra}{}", &text[..i], &text[i..]));
                }
            }
            for v in variants {
                let Some(fast) = read(&v) else { continue };
                read_here += 1;
                let slow: FrontMatter = toml::from_str(&v)
                    .unwrap_or_else(|e| panic!("read here, refused by toml: {v:?}: {e}"));
                assert_eq!(shown(&fast), shown(&slow), "{v:?}");
            }
        }
        assert!(read_here > 100, "only {read_here} variants read");
    }
}
