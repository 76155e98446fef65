//! A reader's email put together from parts rendered once per issue.
//!
//! Rendering each set of followed columns whole costs a render of every
//! article in them, and a big paper's readers follow thousands of
//! different sets: the sender would spend its time in Handlebars, and a
//! cache of whole renderings helps only while readers of the same set come
//! one after another. Here each article, column heading and correction is
//! rendered once per issue (HTML, and text already wrapped), the parts
//! around them once per count of articles and corrections, and a reader's
//! email is those pieces one after another, the same bytes a whole render
//! gives ([`Composer::shared`] then [`personalise`](super::personalise)).
//! That holds for the built-in templates, which are the ones cut into
//! parts (see [`Parts`]); with templates of one's own every email is
//! rendered whole.

use super::render::{fits, fullest, with_full, HeadlineData, Part, Parts, RenderedDigest};
use super::words::{Counts, Words};
use super::{follows, Composer, Personal, Values};
use crate::templates::TemplateError;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Frames kept at once: one per count of articles and corrections (and
/// name or none), so a few dozen in a normal issue.
const FRAMES: usize = 256;

/// One rendered part: its HTML and its text, wrapped.
struct Piece {
    html: String,
    text: String,
    /// It holds a stand-in for a reader's own value.
    personal: bool,
}

impl Piece {
    fn new((html, text): (String, String)) -> Piece {
        let personal = html.contains('\u{e000}') || text.contains('\u{e000}');
        Piece {
            html,
            text,
            personal,
        }
    }
}

/// An article in full, and as a headline when the email is too long.
struct ArticlePieces {
    full: Piece,
    headline: Piece,
}

/// A column with news: its heading, its articles, what ends it.
struct ColumnPieces {
    slug: String,
    open: Piece,
    articles: Vec<ArticlePieces>,
    close: Piece,
}

/// A correction, under the column of its article.
struct CorrectionPiece {
    column: String,
    piece: Piece,
}

/// What surrounds the articles and corrections: the same for every reader
/// with as many of each, and a name or none.
struct Frame {
    /// The built-in subject, which sees only the issue and the site.
    subject: Option<String>,
    head: Piece,
    before_corrections: Piece,
    corrections_open: Piece,
    corrections_close: Piece,
    before_headlines: Piece,
    headlines_open: Piece,
    headlines_close: Piece,
    foot: Piece,
}

/// An item part's data: the item, and the whole data's `words`, which
/// the built-in parts reach as `@root.words`.
#[derive(Serialize)]
struct Item<'d, T: Serialize> {
    #[serde(flatten)]
    item: &'d T,
    words: &'d Words,
}

/// An issue's parts, rendered, and the frames made so far.
pub struct Assembler<'a> {
    composer: Composer<'a>,
    parts: &'a Parts,
    columns: Vec<ColumnPieces>,
    corrections: Vec<CorrectionPiece>,
    frames: Mutex<HashMap<(usize, usize, bool), Arc<Frame>>>,
}

impl<'a> Assembler<'a> {
    /// Renders every part of `composer`'s issue once; `None` when the
    /// digest templates are not the built-in ones.
    pub fn new(composer: Composer<'a>) -> Result<Option<Assembler<'a>>, TemplateError> {
        let Some(parts) = composer.templates.parts() else {
            return Ok(None);
        };
        let none = Counts {
            articles: 0,
            corrections: 0,
        };
        let words = composer.email_frame(false, &none).words;
        let mut columns = Vec::new();
        for c in &composer.config.columns {
            let data = composer.column_data(c);
            if data.articles.is_empty() {
                continue;
            }
            let mut articles = Vec::with_capacity(data.articles.len());
            for a in &data.articles {
                let headline = HeadlineData {
                    title: a.title.clone(),
                    url: a.url.clone(),
                    column: a.column.clone(),
                };
                articles.push(ArticlePieces {
                    full: piece(parts, &words, Part::Article, a)?,
                    headline: piece(parts, &words, Part::Headline, &headline)?,
                });
            }
            columns.push(ColumnPieces {
                slug: c.slug.to_string(),
                open: piece(parts, &words, Part::ColumnOpen, &data)?,
                articles,
                close: piece(parts, &words, Part::ColumnClose, &data)?,
            });
        }
        let mut corrections = Vec::new();
        for a in &composer.content.corrections {
            corrections.push(CorrectionPiece {
                column: a.column.to_string(),
                piece: piece(
                    parts,
                    &words,
                    Part::Correction,
                    &composer.correction_data(a),
                )?,
            });
        }
        Ok(Some(Assembler {
            composer,
            parts,
            columns,
            corrections,
            frames: Mutex::new(HashMap::new()),
        }))
    }

    /// The frame for `counts` and a name or none, rendered on first use.
    fn frame(&self, has_name: bool, counts: &Counts) -> Result<Arc<Frame>, TemplateError> {
        let key = (counts.articles, counts.corrections, has_name);
        if let Some(f) = self.frames.lock().expect("frames lock").get(&key) {
            return Ok(f.clone());
        }
        let data = self.composer.email_frame(has_name, counts);
        let part = |p: Part| self.parts.render(p, &data).map(Piece::new);
        let templates = self.composer.templates;
        let frame = Arc::new(Frame {
            subject: match templates.builtin_subject() {
                true => Some(templates.subject(&data)?),
                false => None,
            },
            head: part(Part::Head)?,
            before_corrections: part(Part::BeforeCorrections)?,
            corrections_open: part(Part::CorrectionsOpen)?,
            corrections_close: part(Part::CorrectionsClose)?,
            before_headlines: part(Part::BeforeHeadlines)?,
            headlines_open: part(Part::HeadlinesOpen)?,
            headlines_close: part(Part::HeadlinesClose)?,
            foot: part(Part::Foot)?,
        });
        let mut frames = self.frames.lock().expect("frames lock");
        if frames.len() >= FRAMES {
            frames.clear();
        }
        frames.insert(key, frame.clone());
        Ok(frame)
    }

    /// The email of a reader following `followed` (empty: every column),
    /// with a name or not, and `personal` in it: what
    /// `personalise(composer.shared(followed, has_name), personal)` gives.
    /// `None` when those columns have nothing new.
    pub fn email(
        &self,
        followed: &[String],
        has_name: bool,
        personal: &Personal<'_>,
    ) -> Result<Option<RenderedDigest>, TemplateError> {
        let columns: Vec<&ColumnPieces> = self
            .columns
            .iter()
            .filter(|c| follows(followed, &c.slug))
            .collect();
        let corrections: Vec<&Piece> = self
            .corrections
            .iter()
            .filter(|c| follows(followed, &c.column))
            .map(|c| &c.piece)
            .collect();
        if columns.is_empty() && corrections.is_empty() {
            return Ok(None);
        }
        let counts = Counts {
            articles: columns.iter().map(|c| c.articles.len()).sum(),
            corrections: corrections.len(),
        };
        let frame = self.frame(has_name, &counts)?;
        let email = Email {
            frame: &frame,
            columns: &columns,
            corrections: &corrections,
        };
        // As `Templates::render_within_limit` chooses, from the lengths.
        let total = counts.articles;
        let full = match fits(email.html_len(total)) {
            true => total,
            false => fullest(total, |n| Ok::<_, TemplateError>(fits(email.html_len(n))))?,
        };
        let values = Values::new(personal);
        let subject = match &frame.subject {
            Some(s) => s.clone(),
            // A subject of one's own may look at anything in the data.
            None => {
                let data = self.composer.email_data(followed, has_name);
                match full < total {
                    true => self.composer.templates.subject(&with_full(&data, full))?,
                    false => self.composer.templates.subject(&data)?,
                }
            }
        };
        let (mut html_len, mut text_len) = (0, 0);
        email.each(full, |p| {
            html_len += p.html.len();
            text_len += p.text.len();
        });
        let mut html = String::with_capacity(html_len + 1024);
        let mut text = String::with_capacity(text_len + 512);
        email.each(full, |p| match p.personal {
            true => {
                html.push_str(&values.html(&p.html));
                text.push_str(&values.text(&p.text));
            }
            false => {
                html.push_str(&p.html);
                text.push_str(&p.text);
            }
        });
        Ok(Some(RenderedDigest {
            subject: values.subject(&subject),
            html,
            text,
        }))
    }
}

/// One reader's pieces.
struct Email<'e> {
    frame: &'e Frame,
    columns: &'e [&'e ColumnPieces],
    corrections: &'e [&'e Piece],
}

impl Email<'_> {
    /// Calls `f` with each piece of the email, in order, when its first
    /// `full` articles (in reading order) are shown in full and the rest
    /// listed as headlines, as `with_full` arranges the data.
    fn each<'p>(&'p self, full: usize, mut f: impl FnMut(&'p Piece)) {
        let frame = self.frame;
        f(&frame.head);
        let mut seen = 0;
        for c in self.columns {
            let keep = full.saturating_sub(seen).min(c.articles.len());
            seen += c.articles.len();
            if keep == 0 {
                continue;
            }
            f(&c.open);
            c.articles[..keep].iter().for_each(|a| f(&a.full));
            f(&c.close);
        }
        f(&frame.before_corrections);
        if !self.corrections.is_empty() {
            f(&frame.corrections_open);
            self.corrections.iter().for_each(|p| f(p));
            f(&frame.corrections_close);
        }
        f(&frame.before_headlines);
        if full < seen {
            f(&frame.headlines_open);
            let mut seen = 0;
            for c in self.columns {
                let keep = full.saturating_sub(seen).min(c.articles.len());
                seen += c.articles.len();
                c.articles[keep..].iter().for_each(|a| f(&a.headline));
            }
            f(&frame.headlines_close);
        }
        f(&frame.foot);
    }

    /// The length of the shared HTML with `full` articles in full.
    fn html_len(&self, full: usize) -> usize {
        let mut n = 0;
        self.each(full, |p| n += p.html.len());
        n
    }
}

/// An item part rendered for `data`.
fn piece<T: Serialize>(
    parts: &Parts,
    words: &Words,
    part: Part,
    data: &T,
) -> Result<Piece, TemplateError> {
    parts
        .render(part, &Item { item: data, words })
        .map(Piece::new)
}

#[cfg(test)]
mod tests {
    use super::super::schedule::Slot;
    use super::super::{personalise, IssueContent};
    use super::*;
    use crate::config::Config;
    use crate::content::{Article, Catalog};
    use chrono::DateTime;
    use std::fmt::Write as _;

    const NOW: &str = "2026-11-30T09:00:00+08:00";

    /// A publication of five columns: `a` with three articles, `b` with
    /// one, `c` with nothing new but a corrected article, `d` with two
    /// and a correction, `long` with more than one email can hold.
    fn publication(dir: &std::path::Path, language: &str, subject: Option<&str>) -> Config {
        let mut config = format!(
            "[site]\ntitle = \"論壇 & <朋友>\"\nbase_url = \"https://news.example.com\"\nlanguage = \"{language}\"\n\n[feeds]\nid_authority = \"news.example.com\"\n\n[server]\npublic_url = \"https://news.example.com/newsletter\"\n"
        );
        if let Some(subject) = subject {
            write!(config, "\n[digest]\nsubject = '{subject}'\n").unwrap();
        }
        for (slug, title) in [
            ("a", "鑰匙與未來"),
            ("b", "城市筆記"),
            ("c", "教育漫談"),
            ("d", "Markets & \"Money\""),
            ("long", "長文"),
        ] {
            write!(
                config,
                "\n[[columns]]\nslug = \"{slug}\"\ntitle = '{title}'\ndescription = \"編者按。\"\n"
            )
            .unwrap();
        }
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let article = |column: &str, name: &str, front: &str| {
            let folder = dir.join("content").join(column);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join(format!("{name}.md")),
                format!("+++\n{front}\n+++\n\n第一段。\n"),
            )
            .unwrap();
        };
        let by = "authors = [{ name = \"陳大文\", role = \"院長\" }, { name = \"Jane Doe\" }]";
        for (k, day) in [(0, 24), (1, 26), (2, 28)] {
            article(
                "a",
                &format!("a{k}"),
                &format!(
                    "title = \"算力擴容之{k}\"\npublished = 2026-11-{day}T07:00:00+08:00\n{by}"
                ),
            );
        }
        article(
            "b",
            "b0",
            "title = \"<b>城市</b> & 生活\"\npublished = 2026-11-25T07:00:00+08:00",
        );
        article(
            "c",
            "old",
            "title = \"舊文\"\npublished = 2026-11-10T07:00:00+08:00\nupdated = 2026-11-27T09:00:00+08:00\ncorrection = \"數字有誤，已更正。\"",
        );
        for k in 0..2 {
            article(
                "d",
                &format!("d{k}"),
                &format!("title = \"A rather long English title number {k} that will need to be wrapped in the text part of the email\"\npublished = 2026-11-2{}T07:00:00+08:00\nauthors = [{{ name = \"Jane Doe\", role = \"Editor\" }}]", k + 5),
            );
        }
        article(
            "d",
            "old",
            "title = \"Old & wrong\"\npublished = 2026-11-01T07:00:00+08:00\nupdated = 2026-11-28T09:00:00+08:00\ncorrection = \"The figure is 30%, not 3%.\"",
        );
        for k in 0..60 {
            article(
                "long",
                &format!("l{k:02}"),
                &format!(
                    "title = \"長文第{k}篇\"\npublished = 2026-11-29T{:02}:{:02}:00+08:00\n{by}",
                    k / 60,
                    k % 60
                ),
            );
        }
        Config::load(&dir.join("config.toml")).unwrap()
    }

    /// An issue of every new article (with a summary as long as the
    /// column's `long` needs) and the two corrections.
    fn issue<'c>(catalog: &'c Catalog, now: DateTime<chrono::FixedOffset>) -> IssueContent<'c> {
        let mut articles: Vec<&Article> = catalog
            .articles()
            .iter()
            .filter(|a| a.correction.is_none())
            .collect();
        articles.sort_by(|a, b| b.published.cmp(&a.published).then_with(|| a.id.cmp(&b.id)));
        let mut corrections: Vec<&Article> = catalog
            .articles()
            .iter()
            .filter(|a| a.correction.is_some())
            .collect();
        corrections.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
        IssueContent {
            slot: Slot {
                cutoff: now,
                label: "2026-W49".into(),
            },
            articles: articles
                .into_iter()
                .map(|a| {
                    let summary = match a.column.as_str() {
                        "long" => "香港的城市規劃與土地供應，".repeat(40),
                        "d" => "An English summary that is long enough to be wrapped at seventy-two columns, with <tags> & ampersands.".into(),
                        _ => "一段摘要，說明這篇文章的重點。".into(),
                    };
                    (a, summary)
                })
                .collect(),
            corrections,
        }
    }

    /// Every set of columns a reader might follow here, with and without
    /// a name, assembled and rendered whole, must be the same bytes.
    fn assembled_equals_whole(language: &str, subject: Option<&str>) {
        let dir = tempfile::tempdir().unwrap();
        let config = publication(dir.path(), language, subject);
        let now = DateTime::parse_from_rfc3339(NOW).unwrap();
        let catalog = Catalog::load(&config, now).unwrap();
        let content = issue(&catalog, now);
        let templates = super::super::render::Templates::load(&config).unwrap();
        let composer = Composer::new(&config, &templates, &content);
        let assembler = Assembler::new(composer).unwrap().expect("built-in parts");
        let sets: &[&[&str]] = &[
            &[],
            &["a"],
            &["b"],
            &["c"],
            &["d"],
            &["a", "b"],
            &["a", "c"],
            &["b", "c", "d"],
            &["a", "b", "c", "d"],
            &["long"],
            &["a", "long"],
            &["a", "b", "c", "d", "long"],
            &["nosuch"],
        ];
        let readers = [
            ("陳大文", "chan@example.com"),
            ("", "reader@example.com"),
            (
                "A & <B> \"Quoted\" with a name long enough to push a line of the text part past its width",
                "a.rather.long.address+digest@newsroom.example.com",
            ),
        ];
        let mut over_limit = false;
        for set in sets {
            let followed: Vec<String> = set.iter().map(|s| (*s).to_owned()).collect();
            for (name, email) in readers {
                let personal = Personal {
                    name,
                    email,
                    unsubscribe_url: "https://news.example.com/newsletter/unsubscribe?token=a&b",
                    preferences_url: "https://news.example.com/newsletter/preferences?token=c",
                };
                let has_name = !name.is_empty();
                let whole = composer
                    .shared(&followed, has_name)
                    .unwrap()
                    .map(|shared| personalise(&shared, &personal));
                let assembled = assembler.email(&followed, has_name, &personal).unwrap();
                if let Some(w) = &whole {
                    // The heading of the articles listed by title only.
                    over_limit |= ["== 本週還有 ==", "== More this week =="]
                        .iter()
                        .any(|h| w.text.contains(h));
                }
                assert_eq!(
                    assembled.is_some(),
                    whole.is_some(),
                    "{set:?} {name:?}: an email one way and not the other"
                );
                let (Some(assembled), Some(whole)) = (assembled, whole) else {
                    continue;
                };
                assert_eq!(
                    assembled.subject, whole.subject,
                    "{set:?} {name:?}: subject"
                );
                assert_eq!(assembled.text, whole.text, "{set:?} {name:?}: text");
                // One line a difference, not 100 KB of HTML.
                for (n, (a, w)) in assembled.html.lines().zip(whole.html.lines()).enumerate() {
                    assert_eq!(a, w, "{set:?} {name:?}: HTML line {}", n + 1);
                }
                assert_eq!(assembled.html, whole.html, "{set:?} {name:?}: HTML");
            }
        }
        assert!(over_limit, "no set was too long for one email");
    }

    #[test]
    fn an_assembled_email_is_the_whole_rendering_in_chinese() {
        assembled_equals_whole("zh-Hant-HK", None);
    }

    #[test]
    fn an_assembled_email_is_the_whole_rendering_in_english() {
        assembled_equals_whole("en-GB", None);
    }

    #[test]
    fn an_assembled_email_is_the_whole_rendering_with_a_subject_of_ones_own() {
        // It may look at the columns, and at what is left out of the email.
        assembled_equals_whole(
            "zh-Hant-HK",
            Some("{{subscriber.name}} {{issue.count}}：{{#each columns}}{{title}}（{{#each articles}}·{{/each}}）{{/each}}{{#if headlines}} +{{/if}}"),
        );
    }

    #[test]
    fn templates_of_ones_own_are_rendered_whole() {
        let dir = tempfile::tempdir().unwrap();
        let config = publication(dir.path(), "zh-Hant-HK", None);
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("templates/digest.txt.hbs"),
            "{{#each columns}}{{@index}}. {{title}}\n{{/each}}",
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339(NOW).unwrap();
        let catalog = Catalog::load(&config, now).unwrap();
        let content = issue(&catalog, now);
        let templates = super::super::render::Templates::load(&config).unwrap();
        let composer = Composer::new(&config, &templates, &content);
        assert!(Assembler::new(composer).unwrap().is_none());
    }
}
