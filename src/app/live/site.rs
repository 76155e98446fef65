//! One build of the preview: the publication read as `build` reads it,
//! with its URLs moved to the preview's address, turned into pages held
//! in memory (nothing is written to disk): every file a build writes
//! under `feeds/`, and a page for each article as a reader sees it.

use crate::config::{Config, ConfigError};
use crate::content::{discover_content, Article, Catalog, ContentErrors};
use crate::templates::{Escape, TemplateSet};
use crate::{feeds, Error};
use chrono::{DateTime, FixedOffset};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The article page's template, which `templates/` may replace.
pub(super) const ARTICLE_TEMPLATE: &str = "article.html.hbs";

/// Where the feeds' files are served, under the preview's address.
pub(super) const FEEDS_PREFIX: &str = "feeds/";

/// Where an article whose `url` leads off the site gets its page.
const OFF_SITE_ARTICLES: &str = "__preview/articles";

/// One build's pages, by their URL path (decoded, without the leading
/// `/`).
#[derive(Debug, Default)]
pub(super) struct Pages {
    /// The pages.
    pub files: HashMap<String, Vec<u8>>,
    /// Articles shown.
    pub articles: usize,
}

/// What a build reads beside the config file: the folders to watch.
pub(super) fn watched(config_path: &Path, config: Option<&Config>) -> Vec<PathBuf> {
    let root = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut paths = vec![config_path.to_owned()];
    match config {
        Some(c) => paths.extend([c.site.content_dir.clone(), c.site.templates_dir.clone()]),
        // Before the config reads, the folders it names by default.
        None => paths.extend([root.join("content"), root.join("templates")]),
    }
    paths
}

/// Reads the config at `config_path` as served from `origin`
/// (`http://127.0.0.1:1111`): the site's and the feeds' URLs are the
/// preview's, so every link on a page stays in the preview.
pub(super) fn load_config(config_path: &Path, origin: &str) -> Result<Config, ConfigError> {
    let mut env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("BROADSHEET_"))
        .collect();
    env.insert("BROADSHEET_SITE__BASE_URL".into(), origin.to_owned());
    env.insert(
        "BROADSHEET_FEEDS__URL".into(),
        format!("{origin}/{}", FEEDS_PREFIX.trim_end_matches('/')),
    );
    // No hub is told of a preview.
    env.remove("BROADSHEET_FEEDS__WEBSUB_HUB");
    Config::load_with_env(config_path, &env)
}

/// Builds every page of `config`'s publication at `now`, drafts and
/// scheduled articles among them when `unpublished` is set. Every content
/// error is reported, as `build` reports them.
pub(super) fn build(
    config: &Config,
    origin: &str,
    now: DateTime<FixedOffset>,
    unpublished: bool,
) -> Result<Pages, Error> {
    let templates = feeds::PageTemplates::load(config)?;
    let mut article_template = TemplateSet::new(Escape::Html);
    article_template.add(
        ARTICLE_TEMPLATE,
        &config.site.templates_dir,
        ARTICLE_TEMPLATE,
        &|p| config.display_path(p).into_owned(),
    )?;
    let (files, walk_errors) = discover_content(config, false);
    let (catalog, mut errors) =
        Catalog::from_files_with(config, files, walk_errors, now, unpublished);
    let specs = feeds::plan(config, catalog.index());
    let sink = feeds::InMemory::default();
    if errors.is_empty() {
        let generated = feeds::generate_catalog(config, &catalog, &specs, &templates, &sink)?;
        errors.extend(generated.errors);
    }
    let mut pages = HashMap::new();
    for a in catalog.articles() {
        match article_page(config, &article_template, a, now) {
            Ok(page) => {
                pages.insert(page_path(origin, a), page);
            }
            Err(Error::Content(e)) => errors.extend(e.0),
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        // The same error twice (a body a feed and the page both read) is
        // said once.
        errors.sort_by_key(|e| e.to_string());
        errors.dedup_by_key(|e| e.to_string());
        return Err(ContentErrors::sorted(errors).into());
    }
    for f in sink.into_files() {
        pages.insert(format!("{FEEDS_PREFIX}{}", f.path), f.bytes);
    }
    Ok(Pages {
        files: pages,
        articles: catalog.articles().len(),
    })
}

/// The path an article's page is served at: its permalink's, when the
/// permalink is on the preview's site; else one under
/// [`OFF_SITE_ARTICLES`].
fn page_path(origin: &str, a: &Article) -> String {
    let on_site = a
        .url
        .strip_prefix(origin)
        .filter(|rest| rest.starts_with('/'))
        .and_then(|_| url::Url::parse(&a.url).ok());
    let mut path = match on_site {
        Some(u) => decode(u.path().trim_start_matches('/')),
        None => format!("{OFF_SITE_ARTICLES}/{}/{}/", a.column.as_str(), a.slug),
    };
    if path.is_empty() || path.ends_with('/') {
        path.push_str("index.html");
    }
    path
}

/// A URL path, percent-decoded: how pages are looked up.
pub(super) fn decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// An article as a reader sees it: the whole body, the byline, the dates
/// and the correction at the top, as the feeds carry them.
fn article_page(
    config: &Config,
    template: &TemplateSet,
    a: &Article,
    now: DateTime<FixedOffset>,
) -> Result<Vec<u8>, Error> {
    let tz = config.site.timezone;
    let mut body = crate::content::markdown::render(a, config.feeds.summary_chars)
        .map_err(|e| ContentErrors(vec![e]))?;
    if let Some((note, _)) = a.correction_note(&config.site.language, config.site.timezone) {
        body.html.insert_str(0, &note);
    }
    let date = |d: DateTime<FixedOffset>| {
        let local = d.with_timezone(&tz);
        json!({
            "date": local.format("%Y-%m-%d").to_string(),
            "datetime": local.to_rfc3339(),
        })
    };
    let published = date(a.published);
    let column = config.column(a.column.as_str());
    let data = json!({
        "site": {
            "title": config.site.title,
            "language": config.site.language,
            "url": format!("{}/", config.site.base_url),
        },
        "column": {
            "slug": a.column.as_str(),
            "title": column.map_or(a.column.as_str(), |c| c.title.as_str()),
            "page": format!("{}/{}/", config.feeds.url, feeds::url_path(a.column.as_str())),
        },
        "article": {
            "title": a.title,
            "url": a.url,
            "byline": a.authors.iter().map(|au| au.byline()).collect::<Vec<_>>().join("、"),
            "date": published["date"],
            "datetime": published["datetime"],
            "updated": a.updated.filter(|u| *u > a.published).map(date),
            "summary": body.summary,
            "tags": a.tags,
            "body": body.html,
            "draft": a.draft,
            "scheduled": a.published > now,
        },
        "links": { "index": format!("{}/", config.feeds.url) },
    });
    Ok(template.render(ARTICLE_TEMPLATE, &data)?.into_bytes())
}
