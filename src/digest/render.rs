//! Rendering a digest with Handlebars: built-in templates that files in
//! `templates/` replace, strict mode so a misspelt field fails at `check`,
//! and the limits mail clients impose (Gmail clips HTML over 102 KB).

use super::words::{Lang, Words};
use crate::diagnostic::Location;
use crate::templates::{Escape, TemplateError, TemplateSet};
use serde::Serialize;
use std::path::Path;

/// Keep every email's HTML under this many bytes; Gmail clips at 102 KB.
pub const HTML_LIMIT: usize = 100 * 1024;
/// Room left under [`HTML_LIMIT`] for what personalisation adds.
const PERSONAL_MARGIN: usize = 2 * 1024;
/// The text part is wrapped at this many columns (CJK counting 2).
pub const TEXT_WIDTH: usize = 72;

/// The digest templates, compiled.
pub struct Templates {
    html: TemplateSet,
    text: TemplateSet,
    /// The built-in digest templates cut into the parts an email is
    /// assembled from; `None` when `templates/` replaces either of them.
    parts: Option<Parts>,
    /// Whether the subject is the built-in one (no `digest.subject`).
    builtin_subject: bool,
}

/// A piece of the digest templates between two of the block tags in
/// [`CUTS`], in the order they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Up to the loop over the columns. It and the other parts outside
    /// the loops see the data with no columns, corrections or headlines
    /// in it, only their counts: they are rendered once per count.
    Head,
    /// A column's heading; sees the column (with all its articles).
    ColumnOpen,
    /// One article in full; sees the article (and `@root.words`).
    Article,
    /// After a column's articles; sees the column.
    ColumnClose,
    /// Between the columns and the corrections.
    BeforeCorrections,
    /// The corrections' heading, when there are some.
    CorrectionsOpen,
    /// One correction; sees it (and `@root.words`).
    Correction,
    /// After the corrections.
    CorrectionsClose,
    /// Between the corrections and the headlines.
    BeforeHeadlines,
    /// The headlines' heading, when some articles are listed by title.
    HeadlinesOpen,
    /// One headline; sees it (and `@root.words`).
    Headline,
    /// After the headlines.
    HeadlinesClose,
    /// The rest: the footer.
    Foot,
}

/// The tags the built-in digest templates are cut at, each ending the
/// part of the same index in [`PARTS`].
const CUTS: [&str; 12] = [
    "{{#each columns}}",
    "{{#each articles}}",
    "{{/each}}",
    "{{/each}}",
    "{{#if corrections}}",
    "{{#each corrections}}",
    "{{/each}}",
    "{{/if}}",
    "{{#if headlines}}",
    "{{#each headlines}}",
    "{{/each}}",
    "{{/if}}",
];

const PARTS: [Part; 13] = [
    Part::Head,
    Part::ColumnOpen,
    Part::Article,
    Part::ColumnClose,
    Part::BeforeCorrections,
    Part::CorrectionsOpen,
    Part::Correction,
    Part::CorrectionsClose,
    Part::BeforeHeadlines,
    Part::HeadlinesOpen,
    Part::Headline,
    Part::HeadlinesClose,
    Part::Foot,
];

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::Head => "head",
            Part::ColumnOpen => "column-open",
            Part::Article => "article",
            Part::ColumnClose => "column-close",
            Part::BeforeCorrections => "before-corrections",
            Part::CorrectionsOpen => "corrections-open",
            Part::Correction => "correction",
            Part::CorrectionsClose => "corrections-close",
            Part::BeforeHeadlines => "before-headlines",
            Part::HeadlinesOpen => "headlines-open",
            Part::Headline => "headline",
            Part::HeadlinesClose => "headlines-close",
            Part::Foot => "foot",
        }
    }
}

/// The built-in digest templates cut at their loops over columns,
/// articles, corrections and headlines, each part compiled on its own:
/// an issue renders each article's part once, and each reader's email is
/// put together from the parts of the columns they follow.
///
/// Only the built-in templates are cut. A template in `templates/` may do
/// what a part rendered on its own cannot see (`@index`, `../`, a count
/// of `columns` in the header), so one is always rendered whole; the
/// tests hold the assembled built-ins byte for byte to a whole render.
pub struct Parts {
    html: TemplateSet,
    text: TemplateSet,
}

/// Cuts `src` at the first `tag`: what comes before it and what after. A tag alone on its line takes the line with it, as
/// Handlebars leaves such a line out of what it renders.
fn cut<'s>(src: &'s str, tag: &str) -> Option<(&'s str, &'s str)> {
    let at = src.find(tag)?;
    let end = at + tag.len();
    let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[end..].find('\n').map_or(src.len(), |i| end + i + 1);
    let alone = src[line_start..at].chars().all(|c| c == ' ' || c == '\t')
        && src[end..line_end].chars().all(char::is_whitespace);
    Some(match alone {
        true => (&src[..line_start], &src[line_end..]),
        false => (&src[..at], &src[end..]),
    })
}

impl Parts {
    /// The parts of the built-in templates; `None` if they no longer cut
    /// as [`CUTS`] says (the tests would say so first).
    fn builtin() -> Option<Parts> {
        let mut html = TemplateSet::new(Escape::Html);
        let mut text = TemplateSet::new(Escape::Text);
        for (set, name) in [(&mut html, HTML_NAME), (&mut text, TEXT_NAME)] {
            let mut rest = crate::templates::builtin(name);
            for (i, part) in PARTS.iter().enumerate() {
                let piece = match CUTS.get(i) {
                    Some(tag) => {
                        let (piece, after) = cut(rest, tag)?;
                        rest = after;
                        piece
                    }
                    None => rest,
                };
                // Text parts are wrapped one by one, so each must end a
                // line (the last is wrapped last).
                let wrapped = name == TEXT_NAME;
                if wrapped && i + 1 < PARTS.len() && !piece.is_empty() && !piece.ends_with('\n') {
                    return None;
                }
                let from = Location::file(format!("built-in {name}"));
                set.add_text(part.key(), piece, from).ok()?;
            }
        }
        Some(Parts { html, text })
    }

    /// Renders `part` against `data`: HTML, and text wrapped as a whole
    /// render wraps it.
    pub fn render<T: Serialize>(
        &self,
        part: Part,
        data: &T,
    ) -> Result<(String, String), TemplateError> {
        let html = self.html.render(part.key(), data)?;
        let text = self.text.render(part.key(), data)?;
        Ok((html, wrap_part(&text)))
    }
}

/// [`wrap_text`] for a part: an empty part stays empty (the whole text
/// is wrapped line by line, and a part holds whole lines).
fn wrap_part(text: &str) -> String {
    match text.is_empty() {
        true => String::new(),
        false => wrap_text(text),
    }
}

/// A rendered digest: subject, HTML part and text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDigest {
    /// The subject line, on one line.
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The text part, wrapped.
    pub text: String,
}

/// What templates see.
#[derive(Debug, Clone, Serialize)]
pub struct DigestData {
    /// The publication.
    pub site: SiteData,
    /// The issue.
    pub issue: IssueData,
    /// The reader.
    pub subscriber: SubscriberData,
    /// Followed columns with new articles, in config order.
    pub columns: Vec<ColumnData>,
    /// Corrections since the last issue to articles in followed columns.
    pub corrections: Vec<CorrectionData>,
    /// Articles listed by title only, when the week is too long for one
    /// email.
    pub headlines: Vec<HeadlineData>,
    /// Links every email carries.
    pub links: LinksData,
    /// True for the web copy, which names no reader.
    pub web_copy: bool,
    /// The sentences of the built-in templates, in the site's language.
    pub words: Words,
    /// The footer's sender: `digest.sender_address`, a line each, or the
    /// site's title when it is not set.
    pub sender: Vec<String>,
}

/// `site`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteData {
    /// Its name.
    pub title: String,
    /// Its address.
    pub url: String,
    /// Its language tag.
    pub language: String,
}

/// `issue`.
#[derive(Debug, Clone, Serialize)]
pub struct IssueData {
    /// ISO week, e.g. 2026-W24.
    pub label: String,
    /// The cutoff's date in the site's zone, YYYY-MM-DD.
    pub date: String,
    /// That day as people write it, without the year: `6月15日（星期一）`,
    /// `Monday 15 June` (the default subject's).
    pub day: String,
    /// With the year: `2026年6月15日（星期一）`, `Monday 15 June 2026`.
    pub full_day: String,
    /// Articles in this email.
    pub articles: usize,
    /// That count in words: `3 篇新文章`, `1 new article`.
    pub count: String,
}

/// `subscriber`.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberData {
    /// Their name; may be empty.
    pub name: String,
    /// Their address.
    pub email: String,
}

/// One column's section.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnData {
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// The editor's note.
    pub description: String,
    /// Its page.
    pub url: String,
    /// Its new articles, newest first.
    pub articles: Vec<ArticleData>,
}

/// One article.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleData {
    /// Title.
    pub title: String,
    /// Permalink.
    pub url: String,
    /// Summary, plain text.
    pub summary: String,
    /// Publication date in the site's zone and language, with no place a
    /// line may break inside it: `2026⁠年⁠6⁠月⁠12⁠日`, `12 June 2026`.
    pub date: String,
    /// The same, YYYY-MM-DD, for `<time datetime>`.
    pub datetime: String,
    /// Authors with roles, joined: "陳大文（院長）、李小明（教授）".
    pub byline: String,
    /// The column's title.
    pub column: String,
}

/// A correction to an article an earlier issue carried.
#[derive(Debug, Clone, Serialize)]
pub struct CorrectionData {
    /// The article's title.
    pub title: String,
    /// Its permalink.
    pub url: String,
    /// What was corrected.
    pub correction: String,
    /// When, in the site's zone and language, unbroken as an article's.
    pub date: String,
    /// The column's title.
    pub column: String,
}

/// An article listed by title only.
#[derive(Debug, Clone, Serialize)]
pub struct HeadlineData {
    /// Title.
    pub title: String,
    /// Permalink.
    pub url: String,
    /// The column's title.
    pub column: String,
}

/// `links`.
#[derive(Debug, Clone, Serialize)]
pub struct LinksData {
    /// One-click unsubscribe page.
    pub unsubscribe: String,
    /// Preferences page.
    pub preferences: String,
    /// The web copy of the issue.
    pub web_copy: String,
    /// The sign-up page of the subscriber service.
    pub subscribe: String,
    /// The archive of past issues' web copies.
    pub archive: String,
}

/// What the archive page (`digests/index.html`) sees.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveData {
    /// The publication.
    pub site: SiteData,
    /// Past issues with a web copy, newest first.
    pub issues: Vec<ArchiveIssue>,
    /// `links.subscribe` and `links.archive` (the others as in a web copy).
    pub links: LinksData,
    /// The sentences of the built-in templates.
    pub words: Words,
    /// The sender, as in a digest's footer.
    pub sender: Vec<String>,
}

/// One past issue in the archive.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveIssue {
    /// ISO week, as in its address.
    pub label: String,
    /// Its web copy.
    pub url: String,
    /// Its day with the year, in the site's language.
    pub full_day: String,
    /// Its cutoff's date, YYYY-MM-DD, for `<time datetime>`.
    pub datetime: String,
    /// How many articles it carried.
    pub articles: usize,
    /// That in words, with corrections when it listed some:
    /// `3 篇新文章`, `1 new article, 2 corrections`.
    pub count: String,
}

const HTML_NAME: &str = "digest.html.hbs";
const TEXT_NAME: &str = "digest.txt.hbs";
/// The archive of past issues, `digests/index.html`.
pub const ARCHIVE_NAME: &str = "digest-archive.html.hbs";
const SUBJECT_NAME: &str = "subject";

impl Templates {
    /// Compiles the templates: a file in `templates_dir` replaces the
    /// built-in one of the same name; the subject comes from the config,
    /// and an error in it names the config file and the key.
    pub fn load(config: &crate::config::Config) -> Result<Templates, TemplateError> {
        let display = |p: &Path| config.display_path(p).into_owned();
        let dir = &config.site.templates_dir;
        let mut html = TemplateSet::new(Escape::Html);
        html.add(HTML_NAME, dir, HTML_NAME, &display)?;
        html.add(ARCHIVE_NAME, dir, ARCHIVE_NAME, &display)?;
        let mut text = TemplateSet::new(Escape::Text);
        text.add(TEXT_NAME, dir, TEXT_NAME, &display)?;
        let parts = match html.is_builtin(HTML_NAME) && text.is_builtin(TEXT_NAME) {
            true => Parts::builtin(),
            false => None,
        };
        match &config.digest.subject {
            Some(subject) => {
                let from = Location::file(display(&config.path)).field("digest.subject");
                text.add_text(SUBJECT_NAME, subject, from)?;
            }
            None => {
                let lang = Lang::of(&config.site.language);
                let from = Location::file(format!("built-in subject ({})", lang.tag()));
                text.add_text(SUBJECT_NAME, lang.default_subject(), from)?;
            }
        }
        Ok(Templates {
            html,
            text,
            parts,
            builtin_subject: config.digest.subject.is_none(),
        })
    }

    /// The built-in templates' parts, when the digest uses them.
    pub fn parts(&self) -> Option<&Parts> {
        self.parts.as_ref()
    }

    /// Whether the subject is the built-in one, which sees only the
    /// issue and the site: the same for every reader with as many
    /// articles and corrections.
    pub fn builtin_subject(&self) -> bool {
        self.builtin_subject
    }

    /// The subject alone, against `data`.
    pub fn subject(&self, data: &DigestData) -> Result<String, TemplateError> {
        Ok(crate::text::one_line(
            &self.text.render(SUBJECT_NAME, data)?,
        ))
    }

    /// The archive page of past issues.
    pub fn archive(&self, data: &ArchiveData) -> Result<String, TemplateError> {
        self.html.render(ARCHIVE_NAME, data)
    }

    /// Renders every template against `data`; strict mode makes a field
    /// the data lacks an error here rather than in the middle of a send.
    pub fn render(&self, data: &DigestData) -> Result<RenderedDigest, TemplateError> {
        let html = self.html.render(HTML_NAME, data)?;
        let text = self.text.render(TEXT_NAME, data)?;
        let subject = self.text.render(SUBJECT_NAME, data)?;
        Ok(RenderedDigest {
            subject: crate::text::one_line(&subject),
            html,
            text: wrap_text(&text),
        })
    }

    /// Renders `data`, moving the last articles to the headline list until
    /// the HTML fits under [`HTML_LIMIT`].
    pub fn render_within_limit(&self, data: &DigestData) -> Result<RenderedDigest, TemplateError> {
        let first = self.render(data)?;
        if fits(first.html.len()) {
            return Ok(first);
        }
        let total: usize = data.columns.iter().map(|c| c.articles.len()).sum();
        let mut best = None;
        let full = fullest(total, |n| {
            let r = self.render(&with_full(data, n))?;
            let ok = fits(r.html.len());
            if ok {
                best = Some(r);
            }
            Ok::<_, TemplateError>(ok)
        })?;
        match best {
            Some(r) => Ok(r),
            None => self.render(&with_full(data, full)),
        }
    }
}

/// Whether an email whose shared HTML is `html_len` bytes stays under
/// [`HTML_LIMIT`] once a reader's own parts are in.
pub fn fits(html_len: usize) -> bool {
    html_len + PERSONAL_MARGIN <= HTML_LIMIT
}

/// The most of `total` articles (in reading order) that can be shown in
/// full, the rest listed by title, when not all of them fit: a binary
/// search, asking `fits` of a count of articles in full. The last count
/// it was asked of and answered true is the one returned (or 0).
pub fn fullest<E>(
    total: usize,
    mut fits: impl FnMut(usize) -> Result<bool, E>,
) -> Result<usize, E> {
    let (mut lo, mut hi) = (0usize, total);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// `data` with only the first `full` articles (in reading order) kept in
/// full and the rest listed as headlines.
pub(super) fn with_full(data: &DigestData, full: usize) -> DigestData {
    let mut out = data.clone();
    let mut seen = 0;
    let mut headlines = Vec::new();
    for column in &mut out.columns {
        let keep = full.saturating_sub(seen).min(column.articles.len());
        seen += column.articles.len();
        for a in column.articles.drain(keep..) {
            headlines.push(HeadlineData {
                title: a.title,
                url: a.url,
                column: a.column,
            });
        }
    }
    out.columns.retain(|c| !c.articles.is_empty());
    headlines.extend(data.headlines.iter().cloned());
    out.headlines = headlines;
    out
}

/// Wraps every line of `text` at [`TEXT_WIDTH`] columns, counting East
/// Asian wide characters as two and breaking between Chinese characters
/// where the Unicode line-breaking rules allow (never before 。 or ，).
/// Lines that are a bare link are left whole, so they stay clickable, and
/// so are lines holding a stand-in for a reader's own value (a private-use
/// character): `personalise` wraps them once the value is in, and a line
/// wrapped twice would break early.
pub fn wrap_text(text: &str) -> String {
    let options = textwrap::Options::new(TEXT_WIDTH)
        .word_separator(textwrap::WordSeparator::UnicodeBreakProperties)
        .break_words(false);
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("http://")
            || trimmed.starts_with("https://")
            || line.contains('\u{e000}')
            || textwrap::core::display_width(line) <= TEXT_WIDTH
        {
            out.push_str(line.trim_end());
        } else {
            let indent = &line[..line.len() - trimmed.len()];
            let wrapped = textwrap::wrap(
                trimmed,
                options
                    .clone()
                    .initial_indent(indent)
                    .subsequent_indent(indent),
            );
            out.push_str(&wrapped.join("\n"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_wrapped_at_72_columns_counting_two_each() {
        let text = "香港".repeat(50) + "。";
        let wrapped = wrap_text(&text);
        for line in wrapped.lines() {
            assert!(textwrap::core::display_width(line) <= TEXT_WIDTH, "{line}");
        }
        assert_eq!(wrapped.lines().next().unwrap().chars().count(), 36);
        assert_eq!(wrapped.replace('\n', ""), text);
    }

    #[test]
    fn links_are_never_broken() {
        let url = format!("https://news.example.com/{}", "a".repeat(100));
        assert_eq!(wrap_text(&url), format!("{url}\n"));
    }
}
