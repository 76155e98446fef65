//! Bodies: CommonMark (with GitHub tables and footnotes) to HTML that is
//! safe to put in a feed or an email, plus the plain-text lead a summary is
//! cut from.

use super::{Article, ContentError};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::sync::OnceLock;

/// An article body ready for output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedBody {
    /// Cleaned HTML with absolute links.
    pub html: String,
    /// The summary: the editor's, or the lead of the body cut near the
    /// configured length.
    pub summary: String,
    /// The correction note, as plain text, when the article has one: feeds
    /// put it before the summary, pages beside it.
    pub correction: Option<String>,
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_SMART_PUNCTUATION
}

/// The sanitiser's policy: ammonia's safe defaults (no scripts, frames,
/// event handlers or `javascript:` URLs), plus what the Markdown renderer
/// itself emits for footnotes and table alignment.
fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.add_tag_attributes("div", ["id", "class"])
            .add_tag_attributes("sup", ["id", "class"])
            .add_tag_attributes("th", ["style"])
            .add_tag_attributes("td", ["style"])
            .filter_style_properties(["text-align"].into_iter().collect())
            // Links come out as the Markdown renderer writes them, with or
            // without raw HTML in the body.
            .link_rel(None);
        b
    })
}

/// Reads `article`'s body: checked as UTF-8, and without the characters
/// XML cannot carry (they never reach a feed).
fn read_body(article: &Article) -> Result<String, ContentError> {
    super::source::read_body(
        &article.path,
        &article.source,
        article.body_offset,
        article.body_line,
    )
}

/// Reads `article`'s body for its summary alone, as [`render`] gives it,
/// without writing HTML: for an article only feeds of summaries carry.
pub fn render_summary(
    article: &Article,
    summary_chars: usize,
) -> Result<RenderedBody, ContentError> {
    // Read (and so checked) even when the editor wrote a summary, as every
    // body a feed carries is.
    let body = read_body(article)?;
    Ok(summary_of(article, &body, summary_chars))
}

/// [`render_summary`] of a body read already, as [`read_body`] gives it
/// (what `Index::load_with_body` gives).
pub fn summary_of(article: &Article, body: &str, summary_chars: usize) -> RenderedBody {
    let summary = match &article.summary {
        Some(s) => s.clone(),
        None => body_summary(body, summary_chars),
    };
    RenderedBody {
        html: String::new(),
        summary,
        correction: None,
    }
}

/// Reads and renders `article`'s body. `summary_chars` bounds a summary cut
/// from the body.
pub fn render(article: &Article, summary_chars: usize) -> Result<RenderedBody, ContentError> {
    let body = read_body(article)?;
    render_text(article, &body, summary_chars)
}

/// [`render`] of a body read already, as [`read_body`] gives it (what
/// `Index::load_with_body` gives).
pub fn render_text(
    article: &Article,
    body: &str,
    summary_chars: usize,
) -> Result<RenderedBody, ContentError> {
    let base = url::Url::parse(&article.url).ok();
    let events: Vec<Event<'_>> = Parser::new_ext(body, options())
        .map(|e| absolute_links(e, base.as_ref()))
        .collect();
    // pulldown-cmark escapes every text and attribute it writes, and
    // `absolute_links` has dropped unsafe link schemes: only raw HTML in the
    // body can carry markup of its own, so only then does the (costly)
    // sanitiser run. The footnote markup below is our own, so it is asked
    // before that is written.
    let raw_html = events
        .iter()
        .any(|e| matches!(e, Event::Html(_) | Event::InlineHtml(_)));
    let mut html = String::with_capacity(body.len() + body.len() / 4);
    let mut notes = Footnotes::new(article);
    pulldown_cmark::html::push_html(&mut html, events.iter().cloned().map(|e| notes.rewrite(e)));
    let html = if raw_html {
        // The sanitiser's parser takes time that grows with the square of
        // the nesting depth: a body nested too deep is refused first.
        if super::html_depth::too_deep(&html) {
            return Err(ContentError::new(
                &article.source,
                format!(
                    "the body's HTML nests elements more than {} deep; expected ordinary HTML (close what is opened)",
                    super::html_depth::MAX_HTML_DEPTH
                ),
            )
            .field("body"));
        }
        sanitizer().clean(&html).to_string()
    } else {
        html
    };
    let summary = summary(article, || &events, summary_chars);
    Ok(RenderedBody {
        html,
        summary,
        correction: None,
    })
}

/// Footnote links as a feed reader needs them. pulldown-cmark writes
/// `href="#1"` and `id="1"`: relative, so a reader showing the item away
/// from its page follows them nowhere, and the same in every article, so a
/// reader showing many items on one page jumps to another article's note.
/// Each reference becomes a link to `{permalink}#fn-{column}-{slug}-{n}`
/// (a slug is unique in its column, and the feed over every column mixes
/// them) and each definition gets that id, numbered as pulldown-cmark
/// numbers them (in the order a note is first met).
struct Footnotes {
    base: Option<url::Url>,
    prefix: String,
    numbers: std::collections::HashMap<String, usize>,
}

impl Footnotes {
    fn new(article: &Article) -> Footnotes {
        Footnotes {
            base: url::Url::parse(&article.url).ok(),
            prefix: format!("fn-{}-{}-", article.column, article.slug),
            numbers: Default::default(),
        }
    }

    fn number(&mut self, name: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(name.to_owned()).or_insert(next)
    }

    /// The note's id, and the absolute link to it.
    fn target(&mut self, name: &str) -> (usize, String, String) {
        let n = self.number(name);
        let id = format!("{}{n}", self.prefix);
        let href = match &self.base {
            Some(base) => {
                let mut u = base.clone();
                u.set_fragment(Some(&id));
                u.to_string()
            }
            None => format!("#{id}"),
        };
        (n, id, href)
    }

    fn rewrite<'a>(&mut self, event: Event<'a>) -> Event<'a> {
        use crate::text::escape_xml;
        match event {
            Event::FootnoteReference(name) => {
                let (n, _, href) = self.target(&name);
                Event::InlineHtml(
                    format!(
                        "<sup class=\"footnote-reference\"><a href=\"{}\">{n}</a></sup>",
                        escape_xml(&href)
                    )
                    .into(),
                )
            }
            Event::Start(Tag::FootnoteDefinition(name)) => {
                let (n, id, _) = self.target(&name);
                Event::Html(
                    format!(
                        "<div class=\"footnote-definition\" id=\"{}\"><sup class=\"footnote-definition-label\">{n}</sup>\n",
                        escape_xml(&id)
                    )
                    .into(),
                )
            }
            Event::End(TagEnd::FootnoteDefinition) => Event::Html("</div>\n".into()),
            other => other,
        }
    }
}

/// The editor's summary, or the lead of the body cut near `summary_chars`;
/// `events` are the body's, asked for only when there is no summary.
fn summary<'a, E: std::borrow::Borrow<Event<'a>>, I: IntoIterator<Item = E>>(
    article: &Article,
    events: impl FnOnce() -> I,
    summary_chars: usize,
) -> String {
    match &article.summary {
        Some(s) => s.clone(),
        None => crate::text::cut_summary(&lead(events(), summary_chars * 2), summary_chars),
    }
}

/// The summary cut from `body`'s lead, parsing as little of it as gives
/// the same lead as the whole. The parser reads a whole document before
/// its first event, and a feed of summaries (every author feed) would
/// otherwise parse every body it carries whole for a sentence or two.
fn body_summary(body: &str, summary_chars: usize) -> String {
    let enough = summary_chars * 2;
    let from_prefix = lead_prefix(body, enough).and_then(|prefix| {
        let (lead, complete) = lead_until(Parser::new_ext(prefix, options()), enough);
        complete.then_some(lead)
    });
    let lead = from_prefix.unwrap_or_else(|| lead(Parser::new_ext(body, options()), enough));
    crate::text::cut_summary(&lead, summary_chars)
}

/// The start of `body` up to a blank line, holding at least `enough`
/// characters, when nothing after that line can change how it parses;
/// `None` when no such start is found.
///
/// Hand-written because the parser has no notion of "enough": CommonMark
/// lets a later part of a document change an earlier one only through a
/// few constructs, and a start holding none of them is left as it is by
/// whatever follows a blank line. Those refused here:
/// - link reference and footnote definitions (anywhere, they change what
///   a `[` before them means): any line with `[` or `]`;
/// - blocks that can span a blank line: fenced code (`` ` `` or `~`),
///   HTML blocks (`<`), indented code (a tab or four spaces first);
/// - containers, whose looseness (and so whether their text is in
///   paragraphs) a later line can change: lines opening a list item
///   (`-`, `+`, `*`, a digit) or a block quote (`>`);
/// - tables (`|`), and lines opening with `=`, `_` or `:` (setext
///   underlines, thematic breaks, table alignments), to be plain.
///
/// A start that passes is parsed alone, and its lead is taken only when
/// the lead stopped inside it ([`lead_until`]); otherwise the whole body
/// is parsed, as before.
fn lead_prefix(body: &str, enough: usize) -> Option<&str> {
    let mut chars = 0usize;
    let mut end = 0usize;
    for line in body.split_inclusive('\n') {
        end += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if content.trim_matches([' ', '\t']).is_empty() {
            if chars >= enough {
                return Some(&body[..end]);
            }
            continue;
        }
        if !plain_line(content) {
            return None;
        }
        chars += content.chars().count();
    }
    None
}

/// Whether a line is one [`lead_prefix`] takes: see there.
fn plain_line(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent >= 4 || line.starts_with('\t') {
        return false;
    }
    let rest = &line[indent..];
    let opens_block = rest.starts_with(['>', '-', '+', '*', '=', '_', ':', '\t'])
        || rest.starts_with(|c: char| c.is_ascii_digit());
    !opens_block && !rest.contains(['[', ']', '<', '`', '~', '|'])
}

/// Feed readers and mail clients show an article away from its page, so a
/// relative link or image is made absolute against the permalink.
fn absolute_links<'a>(event: Event<'a>, base: Option<&url::Url>) -> Event<'a> {
    let absolute = |dest: pulldown_cmark::CowStr<'a>| -> pulldown_cmark::CowStr<'a> {
        if dest.starts_with('#') {
            return dest;
        }
        match url::Url::parse(&dest) {
            // Only schemes a reader can follow safely survive.
            Ok(u) if matches!(u.scheme(), "http" | "https" | "mailto") => dest,
            Ok(_) => "".into(),
            Err(_) => match base.and_then(|b| b.join(&dest).ok()) {
                Some(u) => u.to_string().into(),
                None => dest,
            },
        }
    };
    match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: absolute(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: absolute(dest_url),
            title,
            id,
        }),
        other => other,
    }
}

/// The text of the body's paragraphs (code, tables and footnotes left out)
/// up to the first heading after some text, or about `enough` characters.
/// A section head starts another part of the argument: a summary that ran
/// on across it would join two thoughts into one sentence. Stops reading
/// `events` there.
fn lead<'a, E: std::borrow::Borrow<Event<'a>>>(
    events: impl IntoIterator<Item = E>,
    enough: usize,
) -> String {
    lead_until(events, enough).0
}

/// [`lead`], and whether it stopped before the events ran out (at a
/// heading, or with enough text): a lead that stopped is the same
/// whatever would have followed.
fn lead_until<'a, E: std::borrow::Borrow<Event<'a>>>(
    events: impl IntoIterator<Item = E>,
    enough: usize,
) -> (String, bool) {
    let mut stopped = false;
    let mut out = String::new();
    let mut chars = 0;
    let mut depth_skip = 0usize; // inside something that is not prose
    let mut in_paragraph = false;
    for event in events {
        match event.borrow() {
            Event::Start(Tag::Heading { .. }) if depth_skip == 0 && chars > 0 => {
                stopped = true;
                break;
            }
            Event::Start(
                Tag::Heading { .. }
                | Tag::CodeBlock(_)
                | Tag::Table(_)
                | Tag::FootnoteDefinition(_)
                | Tag::Image { .. },
            ) => depth_skip += 1,
            Event::End(
                TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::Table
                | TagEnd::FootnoteDefinition
                | TagEnd::Image,
            ) => depth_skip = depth_skip.saturating_sub(1),
            Event::Start(Tag::Paragraph) if depth_skip == 0 => {
                in_paragraph = true;
                join(&mut out);
            }
            Event::End(TagEnd::Paragraph) => {
                in_paragraph = false;
                if chars >= enough {
                    stopped = true;
                    break;
                }
            }
            Event::Text(t) | Event::Code(t) if in_paragraph && depth_skip == 0 => {
                out.push_str(t);
                chars += t.chars().count();
            }
            Event::SoftBreak | Event::HardBreak if in_paragraph && depth_skip == 0 => {
                join(&mut out)
            }
            // What a <script> or <style> holds is code, not prose: the
            // sanitiser drops it from the body, so the lead drops it too.
            Event::InlineHtml(h) => match code_element(h) {
                Some(true) => depth_skip += 1,
                Some(false) => depth_skip = depth_skip.saturating_sub(1),
                None => {}
            },
            _ => {}
        }
    }
    (crate::text::one_line(&out), stopped)
}

/// Whether an inline HTML tag opens (`Some(true)`) or closes
/// (`Some(false)`) a `<script>` or `<style>` element.
fn code_element(html: &str) -> Option<bool> {
    let tag = html.trim().to_ascii_lowercase();
    let (rest, opens) = match tag.strip_prefix("</") {
        Some(rest) => (rest, false),
        None => (tag.strip_prefix('<')?, true),
    };
    let name = rest.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    matches!(name, "script" | "style").then_some(opens)
}

/// Separates two runs of text: nothing after Chinese (lines of Chinese
/// prose are joined without spaces), a space otherwise.
fn join(out: &mut String) {
    match out.chars().last() {
        Some(c) if !crate::text::is_cjk(c) && !c.is_whitespace() => out.push(' '),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead_of(md: &str) -> String {
        let events: Vec<_> = Parser::new_ext(md, options()).collect();
        lead(&events, 1000)
    }

    /// Every body of up to four lines drawn from a set that holds each
    /// construct [`lead_prefix`] must refuse, beside plain lines and blank
    /// ones, gives the summary a parse of the whole body gives, for
    /// lengths that cut after one line, two, or none.
    #[test]
    fn a_summary_from_the_start_of_a_body_is_the_one_from_the_whole_body() {
        const LINES: [&str; 23] = [
            "甲乙丙",
            "Plain text",
            "",
            "  ",
            "# 題目",
            "- 項",
            "1. 項",
            "> 引文",
            "    碼",
            "\t碼",
            "```",
            "~~~",
            "[a]: http://example.com/",
            "見[a]。",
            "<div>",
            "*強*調",
            "---",
            "===",
            "a | b",
            "註[^1]",
            "[^1]: 注",
            "___",
            "乙丙\r",
        ];
        let mut taken = 0;
        let mut bodies = vec![String::new()];
        for _ in 0..4 {
            let mut longer = Vec::with_capacity(bodies.len() * LINES.len());
            for body in &bodies {
                for line in LINES {
                    longer.push(format!("{body}{line}\n"));
                }
            }
            for body in &longer {
                for summary_chars in [1, 3, 20] {
                    let whole = crate::text::cut_summary(
                        &lead(Parser::new_ext(body, options()), summary_chars * 2),
                        summary_chars,
                    );
                    assert_eq!(
                        body_summary(body, summary_chars),
                        whole,
                        "{body:?}, {summary_chars}"
                    );
                    taken += usize::from(lead_prefix(body, summary_chars * 2).is_some());
                }
            }
            bodies = longer;
        }
        // The shortcut is taken, not only refused.
        assert!(taken > 5_000, "{taken}");
    }

    #[test]
    fn the_lead_skips_headings_and_joins_chinese_lines_without_spaces() {
        assert_eq!(
            lead_of("## 小標題\n\n第一段，\n第二行。\n\nSecond\nline."),
            "第一段，第二行。Second line."
        );
    }

    #[test]
    fn the_lead_stops_at_a_heading_after_its_first_text() {
        assert_eq!(
            lead_of("第一段。\n\n第二段。\n\n## 另一節\n\n第三段。"),
            "第一段。第二段。"
        );
        assert_eq!(lead_of("# 題\n\n正文。\n\n### 小節\n\n後文。"), "正文。");
    }
}
