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
        Ok(Templates { html, text })
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
        if first.html.len() + PERSONAL_MARGIN <= HTML_LIMIT {
            return Ok(first);
        }
        let total: usize = data.columns.iter().map(|c| c.articles.len()).sum();
        // The most articles shown in full that still fit: binary search.
        let (mut lo, mut hi) = (0usize, total);
        let mut best = self.render(&with_full(data, 0))?;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let r = self.render(&with_full(data, mid))?;
            if r.html.len() + PERSONAL_MARGIN <= HTML_LIMIT {
                lo = mid;
                best = r;
            } else {
                hi = mid - 1;
            }
        }
        Ok(best)
    }
}

/// `data` with only the first `full` articles (in reading order) kept in
/// full and the rest listed as headlines.
fn with_full(data: &DigestData, full: usize) -> DigestData {
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
