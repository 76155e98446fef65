//! The weekly digest, pure: [`schedule`] finds the slot now due,
//! [`select`] the articles an issue carries, [`words`] says it in the
//! site's language, [`render`] fills the templates once per set of
//! followed columns, and [`personalise`] fills in each reader's own parts;
//! [`archive`] lists past issues for `digests/index.html`. Making the MIME
//! message, sending and state live elsewhere: this module hands out
//! subject, HTML and text only.

pub mod assemble;
pub mod render;
pub mod schedule;
pub mod select;
pub mod words;

use crate::config::Config;
use crate::content::Article;
use crate::templates::TemplateError;
use chrono::{DateTime, FixedOffset};
use render::{
    ArchiveData, ArchiveIssue, ArticleData, ColumnData, CorrectionData, DigestData, IssueData,
    LinksData, RenderedDigest, SiteData, SubscriberData, Templates,
};
use schedule::Slot;
use words::{Counts, Lang, Words};

// Stand-ins for what differs between readers of the same columns: the
// templates are filled once per set of columns with these, then each is
// replaced per reader. Private-use characters, so no text can hold them
// and no escaping touches them.
const NAME: &str = "\u{e000}name\u{e001}";
const EMAIL: &str = "\u{e000}email\u{e001}";
const UNSUBSCRIBE: &str = "\u{e000}unsubscribe\u{e001}";
const PREFERENCES: &str = "\u{e000}preferences\u{e001}";

/// An issue's articles with their summaries, ready to render.
pub struct IssueContent<'a> {
    /// The slot (cutoff and label).
    pub slot: Slot,
    /// Carried articles, newest first, each with its summary.
    pub articles: Vec<(&'a Article, String)>,
    /// Articles an earlier issue carried that have since been corrected.
    pub corrections: Vec<&'a Article>,
}

/// Per-reader values put into a shared rendering.
pub struct Personal<'a> {
    /// Their name; may be empty.
    pub name: &'a str,
    /// Their address.
    pub email: &'a str,
    /// Their one-click unsubscribe URL.
    pub unsubscribe_url: &'a str,
    /// Their preferences URL.
    pub preferences_url: &'a str,
}

/// Where the web copy of an issue is published (under `feeds.url`).
pub fn web_copy_path(label: &str) -> String {
    format!("digests/{label}/index.html")
}

/// Where the archive of past issues is published (under `feeds.url`).
pub const ARCHIVE_PATH: &str = "digests/index.html";

/// The web address of `rel` under `feeds.url`, a folder's without its
/// `index.html`, as emails link it.
fn feeds_url(config: &Config, rel: &str) -> String {
    format!("{}/{}", config.feeds.url, rel)
        .trim_end_matches("index.html")
        .to_owned()
}

/// The footer's sender lines: `digest.sender_address`, or the site's title.
/// The service's emails end with them too.
pub(crate) fn sender(config: &Config) -> Vec<String> {
    config
        .digest
        .sender_address
        .clone()
        .unwrap_or_else(|| vec![config.site.title.clone()])
}

fn site_data(config: &Config) -> SiteData {
    SiteData {
        title: config.site.title.clone(),
        url: format!("{}/", config.site.base_url),
        language: config.site.language.clone(),
    }
}

/// A past issue, as the archive lists it.
pub struct PastIssue {
    /// Its ISO week label.
    pub label: String,
    /// Its cutoff.
    pub cutoff: DateTime<FixedOffset>,
    /// Articles it carried.
    pub articles: usize,
    /// Corrections it listed.
    pub corrections: usize,
}

/// The archive page: `issues` (those with a web copy), newest first by
/// cutoff then label, so the same issues give the same bytes.
pub fn archive(
    config: &Config,
    templates: &Templates,
    mut issues: Vec<PastIssue>,
    public_url: &str,
) -> Result<String, TemplateError> {
    let lang = Lang::of(&config.site.language);
    let tz = config.site.timezone;
    issues.sort_by(|a, b| b.cutoff.cmp(&a.cutoff).then_with(|| b.label.cmp(&a.label)));
    let data = ArchiveData {
        site: site_data(config),
        issues: issues
            .iter()
            .map(|i| {
                let day = i.cutoff.with_timezone(&tz).date_naive();
                let count = match (i.articles, i.corrections) {
                    (_, 0) => lang.articles(i.articles),
                    (0, c) => lang.corrections(c),
                    (a, c) => match lang {
                        Lang::ZhHant => format!("{}、{}", lang.articles(a), lang.corrections(c)),
                        Lang::En => format!("{}, {}", lang.articles(a), lang.corrections(c)),
                    },
                };
                ArchiveIssue {
                    label: i.label.clone(),
                    url: feeds_url(config, &web_copy_path(&i.label)),
                    full_day: lang.full_day(day),
                    datetime: day.format("%Y-%m-%d").to_string(),
                    articles: i.articles,
                    count,
                }
            })
            .collect(),
        links: public_links(config, public_url, String::new()),
        words: Words::new(
            lang,
            &config.site.title,
            "",
            &Counts {
                articles: 0,
                corrections: 0,
            },
            true,
        ),
        sender: sender(config),
    };
    templates.archive(&data)
}

/// The links of a page anyone may read: sign-up, not unsubscribe.
fn public_links(config: &Config, public_url: &str, web_copy: String) -> LinksData {
    LinksData {
        unsubscribe: format!("{public_url}/manage"),
        preferences: format!("{public_url}/"),
        web_copy,
        subscribe: format!("{public_url}/"),
        archive: feeds_url(config, ARCHIVE_PATH),
    }
}

/// Fills the templates for an issue.
#[derive(Clone, Copy)]
pub struct Composer<'a> {
    config: &'a Config,
    templates: &'a Templates,
    content: &'a IssueContent<'a>,
}

impl<'a> Composer<'a> {
    /// A composer for `content`.
    pub fn new(
        config: &'a Config,
        templates: &'a Templates,
        content: &'a IssueContent<'a>,
    ) -> Composer<'a> {
        Composer {
            config,
            templates,
            content,
        }
    }

    fn web_url(&self) -> String {
        feeds_url(self.config, &web_copy_path(&self.content.slot.label))
    }

    /// A column's section with every one of its new articles.
    fn column_data(&self, c: &crate::config::Column) -> ColumnData {
        ColumnData {
            slug: c.slug.to_string(),
            title: c.title.clone(),
            description: c.description.clone(),
            url: c.url.clone(),
            articles: self
                .content
                .articles
                .iter()
                .filter(|(a, _)| a.column == c.slug)
                .map(|(a, summary)| self.article_data(a, summary, &c.title))
                .collect(),
        }
    }

    fn article_data(&self, a: &Article, summary: &str, column: &str) -> ArticleData {
        let tz = self.config.site.timezone;
        let lang = Lang::of(&self.config.site.language);
        ArticleData {
            title: a.title.clone(),
            url: a.url.clone(),
            summary: summary.to_owned(),
            date: lang.unbroken_date(a.published.with_timezone(&tz).date_naive()),
            datetime: a
                .published
                .with_timezone(&tz)
                .format("%Y-%m-%d")
                .to_string(),
            byline: lang.join_names(&a.authors.iter().map(|au| au.byline()).collect::<Vec<_>>()),
            column: column.to_owned(),
        }
    }

    fn correction_data(&self, a: &Article) -> CorrectionData {
        let tz = self.config.site.timezone;
        let lang = Lang::of(&self.config.site.language);
        CorrectionData {
            title: a.title.clone(),
            url: a.url.clone(),
            correction: a.correction.clone().unwrap_or_default(),
            date: lang.unbroken_date(a.last_changed().with_timezone(&tz).date_naive()),
            column: self
                .config
                .column(a.column.as_str())
                .map(|c| c.title.clone())
                .unwrap_or_default(),
        }
    }

    /// What the templates see, but with no columns, corrections or
    /// headlines: `counts` says how many articles and corrections there are.
    fn frame(
        &self,
        subscriber: SubscriberData,
        links: LinksData,
        web_copy: bool,
        counts: &Counts,
    ) -> DigestData {
        let tz = self.config.site.timezone;
        let lang = Lang::of(&self.config.site.language);
        let day = self.content.slot.cutoff.with_timezone(&tz).date_naive();
        let words = Words::new(
            lang,
            &self.config.site.title,
            &subscriber.email,
            counts,
            web_copy,
        );
        DigestData {
            site: site_data(self.config),
            issue: IssueData {
                label: self.content.slot.label.clone(),
                date: day.format("%Y-%m-%d").to_string(),
                day: lang.day(day),
                full_day: lang.full_day(day),
                articles: counts.articles,
                count: lang.articles(counts.articles),
            },
            subscriber,
            columns: Vec::new(),
            corrections: Vec::new(),
            headlines: Vec::new(),
            links,
            web_copy,
            words,
            sender: sender(self.config),
        }
    }

    fn data(
        &self,
        followed: &[String],
        subscriber: SubscriberData,
        links: LinksData,
        web_copy: bool,
    ) -> DigestData {
        let follows = |c: &str| follows(followed, c);
        let columns: Vec<ColumnData> = self
            .config
            .columns
            .iter()
            .filter(|c| follows(c.slug.as_str()))
            .map(|c| self.column_data(c))
            .filter(|c| !c.articles.is_empty())
            .collect();
        let corrections: Vec<CorrectionData> = self
            .content
            .corrections
            .iter()
            .filter(|a| follows(a.column.as_str()))
            .map(|a| self.correction_data(a))
            .collect();
        let counts = Counts {
            articles: columns.iter().map(|c| c.articles.len()).sum(),
            corrections: corrections.len(),
        };
        DigestData {
            columns,
            corrections,
            ..self.frame(subscriber, links, web_copy, &counts)
        }
    }

    /// What the templates see for readers following `followed`, with
    /// stand-ins for the personal parts.
    fn email_data(&self, followed: &[String], has_name: bool) -> DigestData {
        self.data(
            followed,
            SubscriberData {
                name: if has_name { NAME.into() } else { String::new() },
                email: EMAIL.into(),
            },
            self.email_links(),
            false,
        )
    }

    /// [`Composer::email_data`] with no columns, corrections or headlines.
    fn email_frame(&self, has_name: bool, counts: &Counts) -> DigestData {
        self.frame(
            SubscriberData {
                name: if has_name { NAME.into() } else { String::new() },
                email: EMAIL.into(),
            },
            self.email_links(),
            false,
            counts,
        )
    }

    fn email_links(&self) -> LinksData {
        LinksData {
            unsubscribe: UNSUBSCRIBE.into(),
            preferences: PREFERENCES.into(),
            web_copy: self.web_url(),
            // A reader's own email is sent with the service's address
            // checked; the preview may have none.
            subscribe: self
                .config
                .server
                .public_url
                .as_ref()
                .map(|u| format!("{u}/"))
                .unwrap_or_default(),
            archive: feeds_url(self.config, ARCHIVE_PATH),
        }
    }

    /// The email shared by every reader following `followed` (empty: every
    /// column), with stand-ins for the personal parts; `None` when those
    /// columns have nothing new.
    pub fn shared(
        &self,
        followed: &[String],
        has_name: bool,
    ) -> Result<Option<RenderedDigest>, TemplateError> {
        let data = self.email_data(followed, has_name);
        if data.columns.is_empty() && data.corrections.is_empty() {
            return Ok(None);
        }
        self.templates.render_within_limit(&data).map(Some)
    }

    /// The web copy: every column, no reader named.
    pub fn web_copy(&self, public_url: &str) -> Result<String, TemplateError> {
        let data = self.data(
            &[],
            SubscriberData {
                name: String::new(),
                email: String::new(),
            },
            public_links(self.config, public_url, self.web_url()),
            true,
        );
        Ok(self.templates.render(&data)?.html)
    }
}

/// Whether a reader following `followed` (empty: every column) gets the
/// news of `column`.
fn follows(followed: &[String], column: &str) -> bool {
    followed.is_empty() || followed.iter().any(|f| f == column)
}

/// One reader's email from a shared rendering.
pub fn personalise(shared: &RenderedDigest, p: &Personal<'_>) -> RenderedDigest {
    let values = Values::new(p);
    RenderedDigest {
        subject: values.subject(&shared.subject),
        html: values.html(&shared.html),
        text: values.text(&shared.text),
    }
}

/// `s` with each stand-in of `values` replaced by its value.
fn fill_in<V: AsRef<str>>(s: &str, values: &[(&'static str, V)]) -> String {
    let mut out = s.to_owned();
    for (k, v) in values {
        if out.contains(k) {
            out = out.replace(k, v.as_ref());
        }
    }
    out
}

/// A reader's values, for the stand-ins they replace.
struct Values<'p> {
    html: [(&'static str, String); 4],
    text: [(&'static str, &'p str); 4],
}

impl<'p> Values<'p> {
    fn new(p: &Personal<'p>) -> Values<'p> {
        Values {
            html: [
                (NAME, crate::text::escape_xml(p.name)),
                (EMAIL, crate::text::escape_xml(p.email)),
                (UNSUBSCRIBE, crate::text::escape_xml(p.unsubscribe_url)),
                (PREFERENCES, crate::text::escape_xml(p.preferences_url)),
            ],
            text: [
                (NAME, p.name),
                (EMAIL, p.email),
                (UNSUBSCRIBE, p.unsubscribe_url),
                (PREFERENCES, p.preferences_url),
            ],
        }
    }

    /// `html` with the values in.
    fn html(&self, html: &str) -> String {
        fill_in(html, &self.html)
    }

    fn fill(&self, line: &str) -> String {
        fill_in(line, &self.text)
    }

    /// `text` (wrapped) with the values in. Only lines holding a stand-in
    /// change, and only they are wrapped again (a name can make a line
    /// longer than the width): the text may be filled a few lines at a
    /// time.
    fn text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 256);
        for line in text.split_inclusive('\n') {
            if line.contains('\u{e000}') {
                out.push_str(&render::wrap_text(&self.fill(line)));
            } else {
                out.push_str(line);
            }
        }
        out
    }

    fn subject(&self, subject: &str) -> String {
        crate::text::one_line(&self.fill(subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_a_readers_address_is_wrapped_once_with_the_address_in() {
        let line = |email: &str| {
            format!("You receive this because {email} subscribed to the weekly digest of The Forum, which comes every Monday.")
        };
        let shared = RenderedDigest {
            subject: String::new(),
            html: String::new(),
            text: render::wrap_text(&line(EMAIL)),
        };
        let email = "a.rather.long.address@newsroom.example.com";
        let mine = personalise(
            &shared,
            &Personal {
                name: "",
                email,
                unsubscribe_url: "",
                preferences_url: "",
            },
        );
        assert_eq!(mine.text, render::wrap_text(&line(email)));
        assert_eq!(mine.text.lines().count(), 2, "{}", mine.text);
    }
}
