//! Feeds: the index turned into output files. [`plan`] decides which
//! articles each feed carries, and [`generate`] reads those again, a feed
//! at a time, and serialises RSS 2.0, Atom 1.0, JSON Feed 1.1 and OPML.
//! [`output`] is the I/O edge that writes the files.

mod atom;
mod json;
mod opml;
pub mod output;
pub mod pages;
mod rss;

use crate::config::{Config, FeedContent};
use crate::content::{Article, ContentError, Index, RenderedBody};
use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;

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
    /// Positions in [`Index::published`], newest first.
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
pub fn plan(config: &Config, index: &Index) -> Vec<FeedSpec> {
    let max = config.feeds.max_items;
    let mut specs: Vec<FeedSpec> = config
        .columns
        .iter()
        .enumerate()
        .map(|(at, c)| FeedSpec {
            dir: c.slug.to_string(),
            title: format!("{} | {}", c.title, config.site.title),
            description: if c.description.is_empty() {
                c.title.clone()
            } else {
                c.description.clone()
            },
            home_url: c.url.clone(),
            full: config.feeds.content == FeedContent::Full,
            items: index
                .column_positions(at)
                .iter()
                .take(max)
                .map(|&p| p as usize)
                .collect(),
        })
        .collect();
    specs.push(FeedSpec {
        dir: ALL.to_owned(),
        title: config.site.title.clone(),
        description: config.site.title.clone(),
        home_url: format!("{}/", config.site.base_url),
        items: (0..index.published().len().min(max)).collect(),
        full: config.feeds.content == FeedContent::Full,
    });
    if config.feeds.author_feeds {
        specs.extend(author_specs(config, index));
    }
    specs
}

/// One feed per author (by slug) with at least
/// `feeds.author_min_articles` published articles, holding their newest
/// `feeds.author_max_items` and named as their newest article names them.
fn author_specs(config: &Config, index: &Index) -> Vec<FeedSpec> {
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
    let mut by_slug: rustc_hash::FxHashMap<&str, Seen<'_>> = Default::default();
    for (i, k) in index.published().iter().enumerate() {
        for &b in index.authors(k) {
            let byline = index.byline(b);
            let seen = by_slug.entry(&byline.slug).or_insert(Seen {
                name: &byline.name,
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
    let mut chosen: Vec<(&str, Seen<'_>)> = by_slug
        .into_iter()
        .filter(|(_, seen)| seen.count >= min)
        .map(|(slug, mut seen)| {
            // Grown a push at a time; a hundred thousand such feeds are
            // held until the build ends.
            seen.items.shrink_to_fit();
            (slug, seen)
        })
        .collect();
    chosen.sort_unstable_by(|a, b| a.0.cmp(b.0));
    chosen
        .into_iter()
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

/// Reads and renders one article as a feed carries it: the whole body for
/// a feed of whole articles, the summary alone otherwise (across a
/// thousand author feeds the HTML would be time spent on nothing).
pub fn render_entry(
    config: &Config,
    a: &Article,
    full: bool,
) -> Result<RenderedBody, ContentError> {
    use crate::content::markdown;
    let body = if full {
        markdown::render(a, config.feeds.summary_chars)?
    } else {
        markdown::render_summary(a, config.feeds.summary_chars)?
    };
    Ok(with_correction(config, a, full, body))
}

/// [`render_entry`] of a body read already (by `Index::load_with_body`).
fn render_read(
    config: &Config,
    a: &Article,
    text: &str,
    full: bool,
) -> Result<RenderedBody, ContentError> {
    use crate::content::markdown;
    let body = if full {
        markdown::render_text(a, text, config.feeds.summary_chars)?
    } else {
        markdown::summary_of(a, text, config.feeds.summary_chars)
    };
    Ok(with_correction(config, a, full, body))
}

/// A correction goes at the top of the item, where a reader who saw the
/// first version will look.
fn with_correction(
    config: &Config,
    a: &Article,
    full: bool,
    mut body: RenderedBody,
) -> RenderedBody {
    if let Some((html, text)) = a.correction_note(&config.site.language, config.site.timezone) {
        if full {
            body.html.insert_str(0, &html);
        }
        body.correction = Some(text);
    }
    body
}

/// The files a feed is written as, under `output_dir`: its three feeds,
/// and a page for a column.
pub fn feed_files(config: &Config, spec: &FeedSpec) -> Vec<String> {
    let mut files = Vec::with_capacity(4);
    if config.column(&spec.dir).is_some() {
        files.push(format!("{}/index.html", spec.dir));
    }
    for name in ["rss.xml", "atom.xml", "feed.json"] {
        files.push(format!("{}/{name}", spec.dir));
    }
    files
}

/// What [`generate`] did.
#[derive(Debug, Default)]
pub struct Generated {
    /// Feeds made again, as positions in the specs.
    pub made_feeds: Vec<usize>,
    /// Feeds whose inputs had not changed, left as they were.
    pub kept: usize,
    /// Problems in the articles the feeds made carry (a body that cannot be
    /// read or rendered, a file changed while the build ran).
    pub errors: Vec<ContentError>,
}

/// Where [`generate`] puts what it makes.
pub trait Sink: Sync {
    /// Whether the files of `spec` are still those its inputs would make
    /// (then they are kept, not made again).
    fn is_current(&self, index: &Index, spec: &FeedSpec, files: &[String]) -> bool;
    /// Keeps a file as it is.
    fn keep(&self, path: &str);
    /// Takes one file made, as soon as it is made.
    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), crate::Error>;
    /// Takes one file as `write` makes it: for a file too large to hold
    /// whole first (the list of every author's feeds, at a million
    /// articles about 45 MB). A sink that keeps its files in memory holds
    /// it anyway.
    fn put_with(
        &self,
        path: &str,
        write: &mut crate::fsio::WriteWith<'_>,
    ) -> Result<(), crate::Error> {
        let mut bytes = Vec::new();
        write(&mut bytes).map_err(crate::fsio::FsError::at(
            std::path::Path::new(path),
            crate::fsio::FsAction::Write,
        ))?;
        self.put(path, &bytes)
    }
}

/// A sink that keeps every file in memory: for a preview, which serves
/// them from there.
#[derive(Default)]
pub struct InMemory(std::sync::Mutex<Vec<OutputFile>>);

impl InMemory {
    /// The files made, in no particular order.
    pub fn into_files(self) -> Vec<OutputFile> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sink for InMemory {
    fn is_current(&self, _: &Index, _: &FeedSpec, _: &[String]) -> bool {
        false
    }

    fn keep(&self, _: &str) {}

    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), crate::Error> {
        let file = OutputFile::new(path.to_owned(), bytes.to_vec());
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(file);
        Ok(())
    }
}

/// Makes every feed whose inputs changed, a feed at a time, reading again
/// the articles it carries and giving each file to `sink` as soon as it is
/// made: what is held at once is a few feeds' articles, however many
/// feeds there are. Then the lists of feeds, and the index page.
pub fn generate(
    config: &Config,
    index: &Index,
    specs: &[FeedSpec],
    pages: &PageTemplates,
    sink: &dyn Sink,
) -> Result<Generated, crate::Error> {
    generate_from(config, index, None, specs, pages, sink)
}

/// [`generate`] from a catalog, whose articles are read already: they
/// are taken from it rather than read again, so a preview shows the
/// version it read even when a writer saves again meanwhile.
pub fn generate_catalog(
    config: &Config,
    catalog: &crate::content::Catalog,
    specs: &[FeedSpec],
    pages: &PageTemplates,
    sink: &dyn Sink,
) -> Result<Generated, crate::Error> {
    let read = Some(catalog.articles());
    generate_from(config, catalog.index(), read, specs, pages, sink)
}

/// Makes one feed's files, unless its inputs are those of the files there.
fn make_feed(
    config: &Config,
    index: &Index,
    read: Option<&[Article]>,
    spec: &FeedSpec,
    pages: &PageTemplates,
    sink: &dyn Sink,
) -> Result<Outcome, crate::Error> {
    let files = feed_files(config, spec);
    if sink.is_current(index, spec, &files) {
        files.iter().for_each(|f| sink.keep(f));
        return Ok(Ok(false));
    }
    let mut errors = Vec::new();
    let mut articles = Vec::with_capacity(spec.items.len());
    let mut bodies = Vec::with_capacity(spec.items.len());
    for &i in &spec.items {
        let loaded = match read.and_then(|r| r.get(i)) {
            Some(a) => render_entry(config, a, spec.full)
                .map(|body| (a.clone(), body))
                .map_err(|e| vec![e]),
            None => index
                .load_with_body(config, &index.published()[i])
                .and_then(
                    |(a, text)| match render_read(config, &a, &text, spec.full) {
                        Ok(body) => Ok((a, body)),
                        Err(e) => Err(vec![e]),
                    },
                ),
        };
        match loaded {
            Ok((a, body)) => {
                articles.push(a);
                bodies.push(body);
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let entries: Vec<Entry<'_>> = articles
        .iter()
        .zip(&bodies)
        .map(|(article, body)| Entry { article, body })
        .collect();
    let updated = newest(&entries);
    for file in &files {
        let bytes = match file.rsplit('/').next() {
            Some("index.html") => pages::column(config, pages, spec, &entries)?,
            Some("rss.xml") => rss::write(config, spec, &entries, updated)?,
            Some("atom.xml") => atom::write(config, spec, &entries, updated)?,
            _ => json::write(config, spec, &entries)?,
        };
        sink.put(file, &bytes)?;
    }
    Ok(Ok(true))
}

/// What making one feed came to: made (`true`) or kept as it was, or the
/// problems of the articles it carries.
type Outcome = Result<bool, Vec<ContentError>>;

fn generate_from(
    config: &Config,
    index: &Index,
    read: Option<&[Article]>,
    specs: &[FeedSpec],
    pages: &PageTemplates,
    sink: &dyn Sink,
) -> Result<Generated, crate::Error> {
    // Each feed's outcome is held until every feed is made: the error of
    // one that failed is boxed, so that a hundred thousand that did not
    // take eight bytes each for it, not the size of the largest error.
    let outcomes: Vec<Result<Outcome, Box<crate::Error>>> = specs
        .par_iter()
        .map(|spec| make_feed(config, index, read, spec, pages, sink).map_err(Box::new))
        .collect();
    let mut generated = Generated::default();
    for (at, o) in outcomes.into_iter().enumerate() {
        match o.map_err(|e| *e)? {
            Ok(true) => generated.made_feeds.push(at),
            Ok(false) => generated.kept += 1,
            Err(e) => generated.errors.extend(e),
        }
    }
    // An article two feeds carry is named once.
    generated.errors.sort_by(|a, b| {
        a.location
            .cmp(&b.location)
            .then_with(|| a.message.cmp(&b.message))
    });
    generated.errors.dedup();
    sink.put(opml::COLUMNS, &opml::columns(config, specs))?;
    if opml::has_authors(specs) {
        sink.put_with(opml::AUTHOR_LIST, &mut |out| {
            opml::authors(config, specs, out)
        })?;
    }
    sink.put("index.html", &pages::index(config, pages, index, specs)?)?;
    Ok(generated)
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
