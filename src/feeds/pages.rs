//! Pages for people: `<column>/index.html` greets whoever clicks a feed
//! link (browsers no longer style feeds with XSLT) with the column, its
//! latest articles, its feeds explained and a sign-up form; `index.html`
//! lists the columns. Handlebars, escaped, overridable from `templates/`.

use super::FeedError;
use super::{Entry, FeedSpec, ALL};
use crate::config::Config;
use crate::content::{Catalog, Index};
use crate::digest::words::Lang;
use crate::templates::{Escape, TemplateError, TemplateSet};
use serde_json::{json, Value};

/// Articles listed on a column's page.
const PAGE_ARTICLES: usize = 20;

/// The page templates, by the file name that overrides each.
pub const NAMES: [&str; 2] = ["column.html.hbs", "index.html.hbs"];

/// The page templates, compiled.
pub struct PageTemplates {
    set: TemplateSet,
}

impl PageTemplates {
    /// Compiles the templates; a file of the same name in `templates_dir`
    /// replaces a built-in one.
    pub fn load(config: &Config) -> Result<PageTemplates, TemplateError> {
        let mut set = TemplateSet::new(Escape::Html);
        for name in NAMES {
            set.add(name, &config.site.templates_dir, name, &|p| {
                config.display_path(p).into_owned()
            })?;
        }
        Ok(PageTemplates { set })
    }

    fn render(&self, index: usize, data: &Value) -> Result<Vec<u8>, TemplateError> {
        self.set.render(NAMES[index], data).map(String::into_bytes)
    }
}

fn site(config: &Config) -> Value {
    json!({
        "title": config.site.title,
        "language": config.site.language,
        "url": format!("{}/", config.site.base_url),
    })
}

fn feed_links(config: &Config, spec: &FeedSpec) -> Value {
    json!({
        "rss": spec.file_url(config, "rss.xml"),
        "atom": spec.file_url(config, "atom.xml"),
        "json": spec.file_url(config, "feed.json"),
    })
}

/// A column's page.
pub(super) fn column(
    config: &Config,
    templates: &PageTemplates,
    spec: &FeedSpec,
    entries: &[Entry<'_>],
) -> Result<Vec<u8>, FeedError> {
    let tz = config.site.timezone;
    let column = config.column(&spec.dir);
    // Names as the page's language lists them.
    let names_joined_by = match config.site.language.starts_with("zh") {
        true => "、",
        false => ", ",
    };
    let articles: Vec<Value> = entries
        .iter()
        .take(PAGE_ARTICLES)
        .map(|e| {
            let a = e.article;
            let published = a.published.with_timezone(&tz);
            json!({
                "title": a.title,
                "url": a.url,
                "summary": e.body.summary,
                // Beside the lead, not in place of it.
                "correction": e.body.correction,
                "date": published.format("%Y-%m-%d").to_string(),
                "datetime": published.to_rfc3339(),
                "byline": a.authors.iter().map(|au| au.byline()).collect::<Vec<_>>().join(names_joined_by),
            })
        })
        .collect();
    let data = json!({
        "site": site(config),
        "column": {
            "slug": spec.dir,
            "title": column.map_or(spec.title.as_str(), |c| c.title.as_str()),
            "description": column.map_or("", |c| c.description.as_str()),
            "url": spec.home_url,
        },
        "feeds": feed_links(config, spec),
        "articles": articles,
        // The collection statement the PDPO expects before an address is
        // given: the service's sign-up page carries it in full.
        "subscribe": config.server.public_url.as_ref().map(|u| json!({
            "action": format!("{u}/subscribe"),
            "privacy": format!("{u}/#privacy"),
        })),
        "links": { "index": format!("{}/", config.feeds.url) },
    });
    Ok(templates.render(0, &data)?)
}

/// The list of columns.
pub(super) fn index(
    config: &Config,
    templates: &PageTemplates,
    index: &Index,
    specs: &[FeedSpec],
) -> Result<Vec<u8>, FeedError> {
    let columns: Vec<Value> = config
        .columns
        .iter()
        .enumerate()
        .filter_map(|(at, c)| {
            specs
                .iter()
                .find(|s| s.dir == c.slug.as_str())
                .map(|s| (c, s, index.column_positions(at).len()))
        })
        .map(|(c, spec, articles)| {
            json!({
                "slug": c.slug.as_str(),
                "title": c.title,
                "description": c.description,
                "page": format!("{}/{}/", config.feeds.url, c.slug),
                "articles": articles,
                // Counted in the site's language, with its plural.
                "count": Lang::of(&config.site.language).article_total(articles),
                "feeds": feed_links(config, spec),
            })
        })
        .collect();
    let all = specs.iter().find(|s| s.dir == ALL);
    let data = json!({
        "site": site(config),
        "columns": columns,
        "feeds": all.map(|s| feed_links(config, s)).unwrap_or(Value::Null),
        "opml": format!("{}/{}", config.feeds.url, super::opml::COLUMNS),
        "authors_opml": specs
            .iter()
            .any(|s| s.dir.starts_with(&format!("{}/", super::AUTHORS)))
            .then(|| format!("{}/{}", config.feeds.url, super::opml::AUTHOR_LIST)),
        "subscribe": config.server.public_url.as_ref().map(|u| format!("{u}/")),
    });
    Ok(templates.render(1, &data)?)
}

/// Compiles the page templates and renders each, so `check` finds a
/// broken override before `build` does.
pub fn check(config: &Config, catalog: &Catalog) -> Result<(), FeedError> {
    let templates = PageTemplates::load(config)?;
    let specs = super::plan(config, catalog.index());
    for spec in specs.iter().filter(|s| config.column(&s.dir).is_some()) {
        column(config, &templates, spec, &[])?;
    }
    index(config, &templates, catalog.index(), &specs)?;
    Ok(())
}
