//! How deep a body's HTML nests, measured before the sanitiser parses it.
//!
//! html5ever's tree builder (which ammonia uses) looks through the stack of
//! open elements for almost every tag, so its time grows with the square of
//! the nesting depth: 200,000 nested `<div>`s, well inside the size limit
//! of an article, take minutes, and nothing in the parser caps the depth.
//! Browsers stop nesting at 512 (Chromium's and WebKit's
//! `kMaximumHTMLParserDOMTreeDepth`); a body whose HTML nests deeper is
//! refused here, in time linear in its length.
//!
//! The depth is the size of the stack of open elements as the HTML parsing
//! algorithm builds it, followed closely enough to agree on ordinary HTML:
//! tags come from html5ever's own tokenizer (so quoting, comments, CDATA
//! and raw text are read as the parser reads them), and the rules that pop
//! elements without an end tag are kept (an unclosed `<p>` or `<li>`, an
//! unclosed cell at `</table>`, `/>` in SVG and MathML). Where the model is
//! simpler than the parser, it errs towards counting deeper, never
//! shallower, so nesting cannot be hidden from it; what it counts deeper
//! (misnested formatting, tables built oddly) is not found 512 levels deep
//! in real articles.

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use std::cell::{Cell, RefCell};

/// The deepest nesting of elements a body's HTML may have.
pub(super) const MAX_HTML_DEPTH: usize = 512;

/// Whether `html`, parsed as the sanitiser will, nests elements deeper
/// than [`MAX_HTML_DEPTH`].
pub(super) fn too_deep(html: &str) -> bool {
    let sink = DepthSink::default();
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.over.get()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Html,
    Svg,
    MathMl,
}

struct Open {
    name: String,
    ns: Ns,
}

#[derive(Default)]
struct DepthSink {
    stack: RefCell<Vec<Open>>,
    /// Set once the limit is passed; from then on nothing is looked at, so
    /// the work stays linear.
    over: Cell<bool>,
}

const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// The spec's "special" elements (HTML namespace).
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "keygen",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "p",
    "param",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "source",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
];

/// Start tags that first close an open `<p>` in button scope.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "search",
    "section",
    "summary",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "listing",
    "form",
    "li",
    "dd",
    "dt",
    "plaintext",
    "table",
    "hr",
    "xmp",
];

/// Start tags that end SVG or MathML content.
const BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "strike",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];

impl Open {
    fn is(&self, name: &str) -> bool {
        self.ns == Ns::Html && self.name == name
    }

    fn is_special(&self) -> bool {
        match self.ns {
            Ns::Html => SPECIAL.contains(&self.name.as_str()),
            _ => self.is_integration_point(),
        }
    }

    /// SVG and MathML elements whose content is read as HTML. MathML's
    /// `annotation-xml` counts as one whatever its encoding: reading more
    /// as HTML only counts deeper.
    fn is_integration_point(&self) -> bool {
        match self.ns {
            Ns::Html => false,
            Ns::Svg => matches!(
                self.name.to_ascii_lowercase().as_str(),
                "foreignobject" | "desc" | "title"
            ),
            Ns::MathMl => matches!(
                self.name.as_str(),
                "mi" | "mo" | "mn" | "ms" | "mtext" | "annotation-xml"
            ),
        }
    }

    /// Whether a scope ends here (the default scope, and `extra`).
    fn bounds_scope(&self, extra: &[&str]) -> bool {
        match self.ns {
            Ns::Html => {
                matches!(
                    self.name.as_str(),
                    "applet"
                        | "caption"
                        | "html"
                        | "table"
                        | "td"
                        | "th"
                        | "marquee"
                        | "object"
                        | "template"
                ) || extra.contains(&self.name.as_str())
            }
            _ => self.is_integration_point(),
        }
    }
}

impl DepthSink {
    fn start(&self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        let mut stack = self.stack.borrow_mut();
        let foreign = stack
            .last()
            .is_some_and(|top| top.ns != Ns::Html && !top.is_integration_point());
        if foreign {
            let breaks_out = BREAKOUT.contains(&name)
                || (name == "font"
                    && tag
                        .attrs
                        .iter()
                        .any(|a| matches!(&*a.name.local, "color" | "face" | "size")));
            if !breaks_out {
                if !tag.self_closing {
                    let ns = stack.last().map_or(Ns::Html, |t| t.ns);
                    push(&mut stack, name, ns);
                }
                self.check(&stack);
                return TokenSinkResult::Continue;
            }
            while stack
                .last()
                .is_some_and(|t| t.ns != Ns::Html && !t.is_integration_point())
            {
                stack.pop();
            }
        }
        let mut raw = TokenSinkResult::Continue;
        match name {
            "svg" | "math" => {
                if !tag.self_closing {
                    let ns = if name == "svg" { Ns::Svg } else { Ns::MathMl };
                    push(&mut stack, name, ns);
                }
            }
            _ if VOID.contains(&name) => {
                if CLOSES_P.contains(&name) {
                    close_p(&mut stack);
                }
            }
            _ => {
                if CLOSES_P.contains(&name) {
                    close_p(&mut stack);
                }
                match name {
                    "li" => close_list_item(&mut stack, &["li"]),
                    "dd" | "dt" => close_list_item(&mut stack, &["dd", "dt"]),
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                        pop_while(&mut stack, &["h1", "h2", "h3", "h4", "h5", "h6"]);
                    }
                    "option" | "optgroup" => pop_while(&mut stack, &["option"]),
                    "td" | "th" => pop_while(&mut stack, &["td", "th"]),
                    "tr" => pop_while(&mut stack, &["td", "th", "tr"]),
                    "tbody" | "thead" | "tfoot" => {
                        pop_while(&mut stack, &["td", "th", "tr", "tbody", "thead", "tfoot"]);
                    }
                    "a" => {
                        // An open <a> is closed by the next, when nothing
                        // but phrasing stands above it.
                        if let Some(i) = stack.iter().rposition(|t| t.is("a") || t.is_special()) {
                            if stack[i].is("a") {
                                stack.truncate(i);
                            }
                        }
                    }
                    _ => {}
                }
                push(&mut stack, name, Ns::Html);
                raw = match name {
                    "script" => TokenSinkResult::RawData(RawKind::ScriptData),
                    "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                        TokenSinkResult::RawData(RawKind::Rawtext)
                    }
                    "textarea" | "title" => TokenSinkResult::RawData(RawKind::Rcdata),
                    "plaintext" => TokenSinkResult::Plaintext,
                    _ => TokenSinkResult::Continue,
                };
            }
        }
        self.check(&stack);
        raw
    }

    fn end(&self, tag: &Tag) {
        let name: &str = &tag.name;
        let mut stack = self.stack.borrow_mut();
        // In SVG or MathML: the nearest element of that name, unless an
        // HTML element comes first.
        if stack.last().is_some_and(|t| t.ns != Ns::Html) {
            for i in (0..stack.len()).rev() {
                if stack[i].ns == Ns::Html {
                    break;
                }
                if stack[i].name.eq_ignore_ascii_case(name) {
                    stack.truncate(i);
                    return;
                }
            }
        }
        match name {
            "p" => pop_in_scope(&mut stack, |t| t.is("p"), &["button"]),
            "li" => pop_in_scope(&mut stack, |t| t.is("li"), &["ol", "ul"]),
            "dd" | "dt" => pop_in_scope(&mut stack, |t| t.is(name), &[]),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                pop_in_scope(&mut stack, |t| t.ns == Ns::Html && is_heading(&t.name), &[])
            }
            "table" | "tbody" | "thead" | "tfoot" | "tr" | "td" | "th" | "caption" => {
                pop_in_table_scope(&mut stack, name)
            }
            "br" => {}
            _ if SPECIAL.contains(&name) => pop_in_scope(&mut stack, |t| t.is(name), &[]),
            _ => {
                // Formatting and any other element: the nearest of that
                // name, if no special element stands above it. (Where one
                // does, the parser's adoption agency moves elements about
                // rather than closing them: counting them all open errs
                // deeper.)
                if let Some(i) = stack.iter().rposition(|t| t.is(name) || t.is_special()) {
                    if stack[i].is(name) {
                        stack.truncate(i);
                    }
                }
            }
        }
    }

    fn check(&self, stack: &[Open]) {
        if stack.len() > MAX_HTML_DEPTH {
            self.over.set(true);
        }
    }
}

fn push(stack: &mut Vec<Open>, name: &str, ns: Ns) {
    stack.push(Open {
        name: name.to_owned(),
        ns,
    });
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Closes an open `<p>` in button scope, with what stands above it.
fn close_p(stack: &mut Vec<Open>) {
    pop_in_scope(stack, |t| t.is("p"), &["button"]);
}

/// Pops down to and including the nearest element `is` picks, if no scope
/// boundary (the default ones, and `extra`) comes first.
fn pop_in_scope(stack: &mut Vec<Open>, is: impl Fn(&Open) -> bool, extra: &[&str]) {
    for i in (0..stack.len()).rev() {
        if is(&stack[i]) {
            stack.truncate(i);
            return;
        }
        if stack[i].bounds_scope(extra) {
            return;
        }
    }
}

/// `</table>`, `</tr>` and the like: the nearest such element inside the
/// table.
fn pop_in_table_scope(stack: &mut Vec<Open>, name: &str) {
    for i in (0..stack.len()).rev() {
        if stack[i].is(name) {
            stack.truncate(i);
            return;
        }
        if stack[i].is("table") || stack[i].is("template") || stack[i].is("html") {
            return;
        }
    }
}

/// A new `<li>` (or `<dd>`, `<dt>`) closes the open one, unless a special
/// element other than `address`, `div` or `p` stands above it.
fn close_list_item(stack: &mut Vec<Open>, names: &[&str]) {
    for i in (0..stack.len()).rev() {
        let t = &stack[i];
        if t.ns == Ns::Html && names.contains(&t.name.as_str()) {
            stack.truncate(i);
            return;
        }
        if t.is_special() && !(t.is("address") || t.is("div") || t.is("p")) {
            return;
        }
    }
}

/// Pops the top while it is one of `names`.
fn pop_while(stack: &mut Vec<Open>, names: &[&str]) {
    while stack
        .last()
        .is_some_and(|t| t.ns == Ns::Html && names.contains(&t.name.as_str()))
    {
        stack.pop();
    }
}

impl TokenSink for DepthSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        if self.over.get() {
            return TokenSinkResult::Continue;
        }
        match token {
            Token::TagToken(tag) => match tag.kind {
                TagKind::StartTag => self.start(&tag),
                TagKind::EndTag => {
                    self.end(&tag);
                    TokenSinkResult::Continue
                }
            },
            _ => TokenSinkResult::Continue,
        }
    }

    /// CDATA sections exist only in SVG and MathML; elsewhere the parser
    /// reads `<![CDATA[` as a comment.
    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.stack.borrow().last().is_some_and(|t| t.ns != Ns::Html)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(html: &str) -> bool {
        too_deep(html)
    }

    #[test]
    fn nesting_past_the_limit_is_found_however_it_is_written() {
        let n = MAX_HTML_DEPTH + 1;
        for html in [
            "<div>".repeat(n),
            "<div/>".repeat(n),
            "<span><b>".repeat(n),
            "<ul><li>".repeat(n),
            "<dd><li>".repeat(n),
            "<blockquote>".repeat(n),
            "<table><tr><td>".repeat(n),
            "<a><div>".repeat(n),
            format!("<svg>{}", "<g>".repeat(n)),
            format!("<svg>{}", "<div/>".repeat(n)),
            format!("<svg><foreignObject>{}", "<div/>".repeat(n)),
            "<div><svg><![CDATA[></div>]]></svg>".repeat(n),
            "<div><!-- </div> -->".repeat(n),
            "<div title='</div>'>".repeat(n),
        ] {
            assert!(deep(&html), "{}", &html[..40.min(html.len())]);
        }
    }

    #[test]
    fn ordinary_html_is_not_counted_deep() {
        let n = 5 * MAX_HTML_DEPTH;
        for html in [
            "<div>x</div>".repeat(n),
            "<p>paragraph".repeat(n),
            format!("<ul>{}</ul>", "<li>item".repeat(n)),
            format!("<ul>{}</ul>", "<li><p>item".repeat(n)),
            format!("<dl>{}</dl>", "<dt>term<dd>meaning".repeat(n)),
            "<div><p>unclosed</div>".repeat(n),
            "<table><tr><td>cell<td>cell<tr><td>row</table>".repeat(n),
            "<p>a<br>b<img src=x><hr>".repeat(n),
            "<a href=x>one<a href=y>two".repeat(n),
            "<h2>head<h3>sub</h3>".repeat(n),
            format!("<svg>{}</svg>", "<path d='M0 0'/>".repeat(n)),
            format!("<math>{}</math>", "<mi>x</mi><mo>+</mo>".repeat(n)),
            format!("<script>{}</script>", "<div>".repeat(n)),
            format!("<!-- {} -->", "<div>".repeat(n)),
            format!(
                "{}{}",
                "<div>".repeat(MAX_HTML_DEPTH),
                "</div>".repeat(MAX_HTML_DEPTH)
            ),
        ] {
            assert!(!deep(&html), "{}", &html[..60.min(html.len())]);
        }
    }
}
