//! Feeds: the catalog turned into output files. Pure: [`plan`] decides which
//! articles each feed carries, [`render_bodies`] renders only those bodies,
//! and [`generate`] serialises RSS 2.0, Atom 1.0, JSON Feed 1.1 and OPML.
//! [`output`] is the I/O edge that writes the files.

mod atom;
mod json;
mod opml;
pub mod output;
pub mod pages;
mod rss;

use crate::config::{Config, FeedContent};
use crate::content::{Article, Catalog, ContentError, RenderedBody};
use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};

pub use output::OutputFile;
pub use pages::PageTemplates;

/// Why a feed or page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A page template does not compile or render.
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    /// A feed could not be serialised (a bug rather than bad input).
    #[error("could not write the {format} feed for {feed}: {message}")]
    Serialize {
        /// Which format failed: rss, atom, json or opml.
        format: &'static str,
        /// Which feed: a column slug or `all`.
        feed: String,
        /// What the serialiser said.
        message: String,
    },
}

/// The folder (under `output_dir`) of the feeds over every column.
pub const ALL: &str = "all";
/// The folder (under `output_dir`) holding one folder per author.
pub const AUTHORS: &str = "authors";

/// A path under `output_dir` as it goes into a URL: each segment
/// percent-encoded (an author's folder may be "陳大文").
pub fn url_path(path: &str) -> String {
    use percent_encoding::utf8_percent_encode;
    path.split('/')
        .map(|s| utf8_percent_encode(s, crate::text::URL_PATH_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Plain text for a field that readers (and the W3C validator) take as
/// HTML, escaped as HTML when it holds markup characters, so that `<b>` in
/// a title shows as `<b>` and a `<script>` in an editor's note never runs.
/// `None` when the text needs no escaping and may go as it is.
pub(crate) fn html_of_text(s: &str) -> Option<String> {
    s.contains(['<', '&']).then(|| crate::text::escape_xml(s))
}

/// One feed to write, in three formats.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    /// Its folder under `output_dir`: a column slug or [`ALL`].
    pub dir: String,
    /// The feed's title.
    pub title: String,
    /// Its description (the editor's note for a column).
    pub description: String,
    /// The page on the site it stands for.
    pub home_url: String,
    /// Positions in [`Catalog::articles`], newest first.
    pub items: Vec<usize>,
    /// Whether items carry the whole article, or only its summary.
    pub full: bool,
}

impl FeedSpec {
    /// The public URL of one of this feed's files.
    pub fn file_url(&self, config: &Config, file: &str) -> String {
        format!("{}/{}/{}", config.feeds.url, url_path(&self.dir), file)
    }
}

/// A rendered item: the article and its body.
pub(crate) struct Entry<'a> {
    pub article: &'a Article,
    pub body: &'a RenderedBody,
}

impl Entry<'_> {
    /// The summary as feeds carry it: the correction note first, where a
    /// reader who saw the first version will look. After a `。` or any
    /// full-width mark the lead follows at once, as Chinese puts no space
    /// between sentences; after anything else (Latin text, or a note that
    /// stops on a character with no mark) one space keeps the two apart.
    pub(crate) fn summary(&self) -> std::borrow::Cow<'_, str> {
        match &self.body.correction {
            Some(note) if note.chars().next_back().is_some_and(is_full_width_mark) => {
                format!("{note}{}", self.body.summary).into()
            }
            Some(note) => format!("{note} {}", self.body.summary).into(),
            None => self.body.summary.as_str().into(),
        }
    }
}

/// Whether `c` is CJK or full-width punctuation (`。`, `，`, `」`, `）`, …),
/// which carries its own space.
fn is_full_width_mark(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F      // CJK symbols and punctuation
        | 0xFE10..=0xFE1F    // vertical forms
        | 0xFE30..=0xFE6F    // compatibility and small forms
        | 0xFF01..=0xFF0F    // full-width ！＂＃＄％＆＇（）＊＋，－．／
        | 0xFF1A..=0xFF20    // ：；＜＝＞？＠
        | 0xFF3B..=0xFF40
        | 0xFF5B..=0xFF65) // ｛｜｝～, white brackets, half-width 。「」、・
}

/// The feeds to write: one per column, then the one over every column, each
/// holding its newest `feeds.max_items` articles.
pub fn plan(config: &Config, catalog: &Catalog) -> Vec<FeedSpec> {
    let max = config.feeds.max_items;
    let mut specs: Vec<FeedSpec> = config
        .columns
        .iter()
        .map(|c| FeedSpec {
            dir: c.slug.to_string(),
            title: format!("{} | {}", c.title, config.site.title),
            description: if c.description.is_empty() {
                c.title.clone()
            } else {
                c.description.clone()
            },
            home_url: c.url.clone(),
            full: config.feeds.content == FeedContent::Full,
            items: catalog
                .column_indices(&c.slug)
                .iter()
                .take(max)
                .copied()
                .collect(),
        })
        .collect();
    specs.push(FeedSpec {
        dir: ALL.to_owned(),
        title: config.site.title.clone(),
        description: config.site.title.clone(),
        home_url: format!("{}/", config.site.base_url),
        items: (0..catalog.articles().len().min(max)).collect(),
        full: config.feeds.content == FeedContent::Full,
    });
    if config.feeds.author_feeds {
        specs.extend(author_specs(config, catalog));
    }
    specs
}

/// One feed per author (by slug) with at least
/// `feeds.author_min_articles` published articles, holding their newest
/// `feeds.author_max_items` and named as their newest article names them.
fn author_specs(config: &Config, catalog: &Catalog) -> Vec<FeedSpec> {
    let max = config.feeds.author_max_items;
    let min = config.feeds.author_min_articles;
    let chinese = config.site.language.starts_with("zh");
    // Articles are newest first, so the first article seen for a slug
    // gives the name, and filling stops at `max`. The count of articles
    // goes on past it, for the threshold; `last` keeps an article that
    // names the same author twice from counting twice.
    struct Seen<'a> {
        name: &'a str,
        items: Vec<usize>,
        count: usize,
        last: usize,
    }
    let mut by_slug: std::collections::BTreeMap<&str, Seen<'_>> = Default::default();
    for (i, a) in catalog.articles().iter().enumerate() {
        for au in &a.authors {
            let seen = by_slug.entry(au.slug.as_str()).or_insert(Seen {
                name: au.name.as_str(),
                items: Vec::new(),
                count: 0,
                last: usize::MAX,
            });
            if seen.last != i {
                seen.last = i;
                seen.count += 1;
                if seen.items.len() < max {
                    seen.items.push(i);
                }
            }
        }
    }
    by_slug
        .into_iter()
        .filter(|(_, seen)| seen.count >= min)
        .map(|(slug, Seen { name, items, .. })| FeedSpec {
            dir: format!("{AUTHORS}/{slug}"),
            title: format!("{name} | {}", config.site.title),
            description: if chinese {
                // A space between a Latin name and the Chinese after it,
                // as Chinese typesetting does; none after a Chinese name.
                let gap = if name.chars().next_back().is_some_and(crate::text::is_cjk) {
                    ""
                } else {
                    " "
                };
                format!("{name}{gap}在《{}》的文章", config.site.title)
            } else {
                format!("Articles by {name} in {}", config.site.title)
            },
            home_url: format!("{}/", config.site.base_url),
            items,
            full: config.feeds.author_content == FeedContent::Full,
        })
        .collect()
}

/// Renders the body of every article some feed carries, and no other.
pub fn render_bodies(
    config: &Config,
    catalog: &Catalog,
    specs: &[FeedSpec],
) -> (HashMap<usize, RenderedBody>, Vec<ContentError>) {
    let needed: BTreeSet<usize> = specs.iter().flat_map(|s| s.items.iter().copied()).collect();
    let needed: Vec<usize> = needed.into_iter().collect();
    // Articles only summary feeds carry get their summary alone: across a
    // thousand author feeds their HTML would be most of the memory, and
    // writing it time spent on nothing.
    let full: std::collections::HashSet<usize> = specs
        .iter()
        .filter(|s| s.full)
        .flat_map(|s| s.items.iter().copied())
        .collect();
    let results: Vec<(usize, Result<RenderedBody, ContentError>)> = needed
        .par_iter()
        .map(|&i| {
            let a = &catalog.articles()[i];
            let full = full.contains(&i);
            let render = if full {
                crate::content::markdown::render
            } else {
                crate::content::markdown::render_summary
            };
            let rendered = render(a, config.feeds.summary_chars).map(|mut body| {
                // A correction goes at the top of the item, where a
                // reader who saw the first version will look.
                if let Some((html, text)) =
                    a.correction_note(&config.site.language, config.site.timezone)
                {
                    if full {
                        body.html.insert_str(0, &html);
                    }
                    body.correction = Some(text);
                }
                body
            });
            (i, rendered)
        })
        .collect();
    let mut bodies = HashMap::with_capacity(results.len());
    let mut errors = Vec::new();
    for (i, r) in results {
        match r {
            Ok(b) => {
                bodies.insert(i, b);
            }
            Err(e) => errors.push(e),
        }
    }
    (bodies, errors)
}

/// Serialises every feed, and the pages for people beside them. Bodies
/// must hold every article the specs carry.
pub fn generate(
    config: &Config,
    catalog: &Catalog,
    specs: &[FeedSpec],
    bodies: &HashMap<usize, RenderedBody>,
    pages: &PageTemplates,
) -> Result<Vec<OutputFile>, FeedError> {
    let per_feed: Vec<Result<Vec<OutputFile>, FeedError>> = specs
        .par_iter()
        .map(|spec| {
            let entries: Vec<Entry<'_>> = spec
                .items
                .iter()
                .map(|&i| Entry {
                    article: &catalog.articles()[i],
                    body: &bodies[&i],
                })
                .collect();
            let updated = newest(&entries);
            let mut files = Vec::with_capacity(4);
            if config.column(&spec.dir).is_some() {
                files.push(OutputFile::new(
                    format!("{}/index.html", spec.dir),
                    pages::column(config, pages, spec, &entries)?,
                ));
            }
            files.extend([
                OutputFile::new(
                    format!("{}/rss.xml", spec.dir),
                    rss::write(config, spec, &entries, updated)?,
                ),
                OutputFile::new(
                    format!("{}/atom.xml", spec.dir),
                    atom::write(config, spec, &entries, updated)?,
                ),
                OutputFile::new(
                    format!("{}/feed.json", spec.dir),
                    json::write(config, spec, &entries)?,
                ),
            ]);
            Ok(files)
        })
        .collect();
    let mut files = Vec::new();
    for f in per_feed {
        files.extend(f?);
    }
    files.push(OutputFile::new(
        opml::COLUMNS.to_owned(),
        opml::columns(config, specs),
    ));
    if let Some(authors) = opml::authors(config, specs) {
        files.push(OutputFile::new(opml::AUTHOR_LIST.to_owned(), authors));
    }
    files.push(OutputFile::new(
        "index.html".to_owned(),
        pages::index(config, pages, catalog, specs)?,
    ));
    Ok(files)
}

/// The newest change among a feed's items. An empty feed has no date of
/// its own, and output dates never come from the clock, so it says the Unix
/// epoch.
fn newest(entries: &[Entry<'_>]) -> DateTime<FixedOffset> {
    entries
        .iter()
        .map(|e| e.article.last_changed())
        .max()
        .unwrap_or_else(|| DateTime::UNIX_EPOCH.fixed_offset())
}
