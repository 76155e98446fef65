//! Front matter: the TOML between the `+++` lines or the YAML between the
//! `---` lines, as written ([`FrontMatter`]), then checked and turned into
//! an [`Article`]. The names Hugo, Zola and Jekyll give our fields (`date`,
//! `lastmod`, `description`, `categories`, …) are read as ours; keys no
//! field takes are left out and counted in [`UnusedKeys`].

mod events;
mod yaml;

use super::source::{Format, Head, SourceFile};
use super::{Article, Author, ContentError};
use crate::config::{Config, PermalinkParts};
use crate::text::{one_line, URL_PATH_SEGMENT as PATH_SEGMENT};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;
use toml::Spanned;

/// The fields the README documents, as written, under our names and the
/// other tools'. A key none of them takes is left out, and refused when it
/// is one or two edits from one of them, so a typo (`publised`) is caught
/// rather than silently ignored; `extra` holds whatever a newsroom wants to
/// keep beside them.
#[derive(Debug, Deserialize)]
struct FrontMatter {
    title: Spanned<String>,
    column: Option<Spanned<String>>,
    published: Option<Spanned<toml::Value>>,
    updated: Option<Spanned<toml::Value>>,
    authors: Option<Spanned<toml::Value>>,
    summary: Option<String>,
    correction: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
    slug: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    #[serde(default)]
    draft: bool,
    #[serde(default, rename = "extra")]
    _extra: Option<toml::Table>,
    // The other tools' names (see the README's table).
    date: Option<Spanned<toml::Value>>,
    #[serde(rename = "publishDate", alias = "publishdate")]
    publish_date: Option<Spanned<toml::Value>>,
    lastmod: Option<Spanned<toml::Value>>,
    #[serde(rename = "expiryDate", alias = "expirydate")]
    expiry_date: Option<Spanned<toml::Value>>,
    description: Option<String>,
    author: Option<Spanned<toml::Value>>,
    categories: Option<Spanned<toml::Value>>,
    category: Option<Spanned<String>>,
    taxonomies: Option<Spanned<toml::Table>>,
}

impl FrontMatter {
    /// Nothing given yet: filled in key by key.
    fn blank() -> FrontMatter {
        FrontMatter {
            title: Spanned::new(0..0, String::new()),
            column: None,
            published: None,
            updated: None,
            authors: None,
            summary: None,
            correction: None,
            tags: Vec::new(),
            slug: None,
            id: None,
            url: None,
            draft: false,
            _extra: None,
            date: None,
            publish_date: None,
            lastmod: None,
            expiry_date: None,
            description: None,
            author: None,
            categories: None,
            category: None,
            taxonomies: None,
        }
    }
}

/// Front matter as read, with the keys no field took and their lines.
type Read = (FrontMatter, Vec<(String, usize)>);

/// Every key a field takes, in the order of [`FrontMatter`] and as serde
/// names them there: what an unknown key is compared with. The aliases
/// (`publishdate`) differ from their field's name only in case, which the
/// comparison ignores anyway, so they are left out.
static KNOWN_KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut keys: Vec<&'static str> = Vec::new();
    for &k in crate::config::struct_fields::<FrontMatter>() {
        if !keys.iter().any(|known| known.eq_ignore_ascii_case(k)) {
            keys.push(k);
        }
    }
    keys
});

/// Keys Hugo, Zola, Jekyll or their themes give meanings of their own that
/// lie one or two edits from one of ours (`path` and `date`, `math` and
/// `date`, `img` and `id`): they are not typos, only keys we do not use.
const OTHER_TOOLS_KEYS: [&str; 7] = ["path", "math", "name", "type", "image", "lang", "img"];

/// Front-matter keys no field takes, counted across a build and reported
/// once each, as a warning: a site moved from another tool carries many
/// (`weight`, `layout`, `aliases`), and none of them belongs in a feed.
#[derive(Debug, Default)]
pub(super) struct UnusedKeys(std::sync::Mutex<std::collections::BTreeMap<String, usize>>);

/// The most unused keys named one by one; the rest are counted in one
/// line, so a hostile archive of a million made-up keys prints a page.
const MAX_UNUSED_KEYS_NAMED: usize = 50;

impl UnusedKeys {
    pub(super) fn add(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            match map.get_mut(k) {
                Some(files) => *files += 1,
                None => {
                    map.insert(k.clone(), 1);
                }
            }
        }
    }

    /// Warns once per key, with the number of files that have it.
    pub(super) fn warn(self) {
        let map = self.0.into_inner().unwrap_or_else(|e| e.into_inner());
        for (key, files) in map.iter().take(MAX_UNUSED_KEYS_NAMED) {
            let files_word = if *files == 1 { "file" } else { "files" };
            tracing::warn!(
                "front-matter key `{key}` is not used and is left out of the feeds ({files} {files_word})"
            );
        }
        if map.len() > MAX_UNUSED_KEYS_NAMED {
            tracing::warn!(
                "{} more front-matter keys are not used and are left out of the feeds",
                map.len() - MAX_UNUSED_KEYS_NAMED
            );
        }
    }
}

/// Reads one file's front matter into an [`Article`], collecting every
/// problem found in it, and putting in `unused` the keys it does not use
/// (also when it has problems). The article takes over the file's path and
/// names.
pub(super) fn parse_article(
    file: SourceFile,
    head: &Head,
    config: &Config,
    unused: &mut Vec<String>,
) -> Result<Article, Vec<ContentError>> {
    let text = &head.front_matter;
    let line_of =
        |offset: usize| head.first_line + text[..offset.min(text.len())].matches('\n').count();
    let err = |m: String| ContentError::new(&file.display, m);

    let (fm, unused_here) = match head.format {
        Format::Yaml => yaml_front_matter(text, head.first_line, &err)?,
        Format::Toml => match events::read(text) {
            Some(fm) => (fm, Vec::new()),
            None => toml_front_matter(text, &line_of, &err)?,
        },
    };
    let mut errors = Vec::new();
    let unused_keys = unused;
    for (key, line) in unused_here {
        match typo_of(&key) {
            Some(message) => errors.push(err(message).at(line).field(key)),
            None => unused_keys.push(key),
        }
    }
    let tz = config.site.timezone;

    let title = one_line(fm.title.get_ref());
    if title.is_empty() {
        errors.push(
            err("expected a title, found an empty string".into())
                .at(line_of(fm.title.span().start))
                .field("title"),
        );
    }

    let column_name = match (&fm.column, file.column_dir()) {
        (Some(c), _) => Some((c.get_ref().clone(), Some(line_of(c.span().start)))),
        (None, Some(dir)) => Some((dir.to_owned(), None)),
        (None, None) => None,
    };
    let column = match column_name {
        None => {
            errors.push(
                // No line: there is no `column` key to point at.
                err(format!(
                "expected a column: the file must sit in a column folder content/<column>/ or have `column = \"…\"` (one of {})",
                column_list(config)
            ))
                .field("column"),
            );
            None
        }
        Some((name, line)) => match config.column(&name) {
            Some(c) => Some(c.slug.clone()),
            None => {
                let mut e = err(match closest_column(config, &name) {
                    Some(c) => format!(
                        "unknown column {name:?}; did you mean `{c}`? (expected one of {})",
                        column_list(config)
                    ),
                    None => format!(
                        "unknown column {name:?}; expected one of {}",
                        column_list(config)
                    ),
                })
                .field("column");
                if let Some(line) = line {
                    e = e.at(line);
                }
                errors.push(e);
                None
            }
        },
    };

    // One date under two names cannot be told apart: which is meant?
    let mut both =
        |ours: (&str, bool), theirs: (&str, &Option<Spanned<toml::Value>>), what: &str| {
            if let (true, Some(v)) = (ours.1, theirs.1) {
                errors.push(
                    err(format!(
                        "both `{}` and `{}` give {what}; expected one of them",
                        ours.0, theirs.0
                    ))
                    .at(line_of(v.span().start))
                    .field(theirs.0),
                );
            }
        };
    let publication = "the publication date";
    both(
        ("published", fm.published.is_some()),
        ("date", &fm.date),
        publication,
    );
    both(
        ("published", fm.published.is_some()),
        ("publishDate", &fm.publish_date),
        publication,
    );
    both(
        ("updated", fm.updated.is_some()),
        ("lastmod", &fm.lastmod),
        "the date of the last change",
    );
    // Hugo's `publishDate` is when an article goes out, its `date` the
    // date it bears: the first decides, as in Hugo.
    // A date key, read in the site's zone; a bad one is an error at its line.
    let read_date = |key: &str, v: &Spanned<toml::Value>, errors: &mut Vec<ContentError>| {
        date_value(v.get_ref(), tz)
            .map_err(|found| {
                errors.push(date_error(
                    &file.display,
                    key,
                    &found,
                    line_of(v.span().start),
                ))
            })
            .ok()
    };
    let published_key = [
        ("published", &fm.published),
        ("publishDate", &fm.publish_date),
        ("date", &fm.date),
    ]
    .into_iter()
    .find_map(|(k, v)| v.as_ref().map(|v| (k, v)));
    let mut dated_by_name = false;
    let published = match (published_key, file.name_date()) {
        (Some((key, v)), _) => read_date(key, v, &mut errors),
        // Jekyll's and Zola's date in the file name, at midnight in the
        // site's zone, as they read it.
        (None, Some((date, _))) => {
            dated_by_name = true;
            let midnight = date
                .and_hms_opt(0, 0, 0)
                .and_then(|n| tz.from_local_datetime(&n).earliest())
                .map(|d| d.fixed_offset());
            if midnight.is_none() {
                // Midnight skipped by a daylight-saving change.
                errors.push(
                    err(format!(
                        "the date in the file name, {date}, has no midnight in {tz}; expected a `published` date-time in the front matter"
                    ))
                    .at(head.first_line)
                    .field("published"),
                );
            }
            midnight
        }
        (None, None) => {
            errors.push(
                err("expected a published in the front matter, found none".into())
                    .at(head.first_line)
                    .field("published"),
            );
            None
        }
    };
    let updated_key = [("updated", &fm.updated), ("lastmod", &fm.lastmod)]
        .into_iter()
        .find_map(|(k, v)| v.as_ref().map(|v| (k, v)));
    let updated = updated_key.and_then(|(key, v)| read_date(key, v, &mut errors));
    let expires = fm
        .expiry_date
        .as_ref()
        .and_then(|v| read_date("expiryDate", v, &mut errors));
    if let (Some(p), Some(u), Some((updated_key, span))) =
        (published, updated, updated_key.map(|(k, u)| (k, u.span())))
    {
        if u < p {
            errors.push(
                err(format!(
                    "expected a date on or after published ({}), found {}",
                    p.to_rfc3339(),
                    u.to_rfc3339()
                ))
                .at(line_of(span.start))
                .field(updated_key),
            );
        }
    }

    if let (Some(_), Some(a)) = (&fm.authors, &fm.author) {
        errors.push(
            err("both `authors` and `author` name the authors; expected one of them".into())
                .at(line_of(a.span().start))
                .field("author"),
        );
    }
    let authors = match (&fm.authors, &fm.author) {
        (Some(v), _) => match authors(v.get_ref(), config) {
            Ok(a) => a,
            Err(m) => {
                errors.push(err(m).at(line_of(v.span().start)).field("authors"));
                Vec::new()
            }
        },
        // Jekyll's and Hugo's `author`: one name, or a list as `authors`.
        (None, Some(v)) => {
            let list = match v.get_ref() {
                toml::Value::Array(_) => v.get_ref().clone(),
                other => toml::Value::Array(vec![other.clone()]),
            };
            match authors(&list, config) {
                Ok(a) => a,
                Err(m) => {
                    errors.push(err(m).at(line_of(v.span().start)).field("author"));
                    Vec::new()
                }
            }
        }
        (None, None) => Vec::new(),
    };

    // A date in the file name is not part of the slug when it gives the
    // date, or when the file is YAML (Jekyll's posts, never broadsheet's
    // own): TOML files named so before keep the slugs they were published
    // under.
    let name_slug = match file.name_date() {
        Some((_, rest)) if dated_by_name || head.format == Format::Yaml => Some(rest),
        _ => None,
    };
    let (slug, slug_line) = match (&fm.slug, name_slug) {
        (Some(s), _) => (s.get_ref().clone(), Some(line_of(s.span().start))),
        (None, Some(rest)) => (rest.to_owned(), None),
        (None, None) => (file.default_slug().to_owned(), None),
    };
    if let Err(m) = check_slug(&slug) {
        let mut e = err(m).field("slug");
        if let Some(l) = slug_line {
            e = e.at(l);
        }
        errors.push(e);
    }

    let url = match &fm.url {
        // The URL goes into feeds as written, so what the parser forgives
        // (spaces, control characters) is refused: a feed cannot carry it.
        Some(u) => match url::Url::parse(u.get_ref()) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https")
                    && !has_space_or_control(u.get_ref()) =>
            {
                Some(u.get_ref().clone())
            }
            _ => {
                errors.push(
                    err(format!(
                        "expected an absolute http(s) URL, found {:?}",
                        u.get_ref()
                    ))
                    .at(line_of(u.span().start))
                    .field("url"),
                );
                None
            }
        },
        None => None,
    };

    // A correction says when it was made: `updated` carries that date into
    // every feed, and the digest lists the correction once after it.
    let correction = match &fm.correction {
        None => None,
        Some(c) => {
            let text = one_line(c.get_ref());
            if text.is_empty() {
                errors.push(
                    err("expected the text of the correction, found an empty string".into())
                        .at(line_of(c.span().start))
                        .field("correction"),
                );
            } else if updated_key.is_none() {
                errors.push(
                    err(
                        "a correction needs `updated`: the date it was corrected, found none"
                            .into(),
                    )
                    .at(line_of(c.span().start))
                    .field("updated"),
                );
            }
            Some(text)
        }
    };

    let id = match &fm.id {
        Some(i) => {
            let value = i.get_ref().trim();
            match url::Url::parse(value) {
                Ok(_) if !has_space_or_control(value) => Some(value.to_owned()),
                _ => {
                    errors.push(err(format!(
                        "expected a URI that names this article for ever, such as \"urn:uuid:…\" or \"tag:…\", found {value:?}"
                    )).at(line_of(i.span().start)).field("id"));
                    None
                }
            }
        }
        None => None,
    };

    let mut tags: Vec<String> = Vec::new();
    let mut add_tag = |t: &str| {
        let t = one_line(t);
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    };
    for t in &fm.tags {
        add_tag(t);
    }
    if let Some(c) = &fm.categories {
        if let Err(m) = each_name(c.get_ref(), &mut add_tag) {
            errors.push(err(m).at(line_of(c.span().start)).field("categories"));
        }
    }
    if let Some(c) = &fm.category {
        add_tag(c.get_ref());
    }
    // Zola's `[taxonomies]`: tags and categories are tags; other
    // taxonomies are keys we do not use.
    if let Some(t) = &fm.taxonomies {
        // Tags first, then categories, as the other fields go.
        for name in ["tags", "categories"] {
            if let Some(v) = t.get_ref().get(name) {
                if let Err(m) = each_name(v, &mut add_tag) {
                    errors.push(
                        err(m)
                            .at(line_of(t.span().start))
                            .field(format!("taxonomies.{name}")),
                    );
                }
            }
        }
        for name in t.get_ref().keys() {
            if !matches!(name.as_str(), "tags" | "categories") {
                unused_keys.push(format!("taxonomies.{name}"));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let column = column.expect("no error means a column");
    let published = published.expect("no error means a date");
    let local_date = published.with_timezone(&tz).date_naive();
    let encoded_slug = utf8_percent_encode(&slug, PATH_SEGMENT).to_string();
    let url = url.unwrap_or_else(|| {
        config.site.permalink.render(&PermalinkParts {
            base_url: &config.site.base_url,
            column: column.as_str(),
            slug: &encoded_slug,
            date: local_date,
        })
    });
    let id = id.unwrap_or_else(|| {
        // Written field by field: chrono's `format` interprets its pattern
        // on every call, and this runs once per article.
        use chrono::Datelike;
        format!(
            "tag:{},{:04}-{:02}-{:02}:{}/{}",
            config.feeds.id_authority,
            local_date.year(),
            local_date.month(),
            local_date.day(),
            column,
            encoded_slug
        )
    });
    Ok(Article {
        path: file.path(),
        source: file.display,
        body_offset: head.body_offset,
        body_line: head.body_line,
        stat: head.stat,
        column,
        slug,
        key_lines: super::article::KeyLines {
            slug: slug_line,
            id: fm.id.as_ref().map(|i| line_of(i.span().start)),
        },
        title,
        published,
        updated,
        authors,
        summary: fm
            .summary
            .or(fm.description)
            .map(|s| one_line(&s))
            .filter(|s| !s.is_empty()),
        correction,
        tags,
        id,
        url,
        draft: fm.draft,
        expires,
    })
}

/// The `title` and `description` of a Hugo or Zola section file
/// (`content/<column>/_index.md`), for a column whose config gives none.
/// `None` when there is no such file, it is a symlink, or it cannot be
/// read: the config's own check then says what is missing.
pub(crate) fn section_text(path: &std::path::Path) -> Option<(Option<String>, Option<String>)> {
    let file = SourceFile::alone(path);
    // Not through a symlink, which could lead outside the content folder.
    if std::fs::symlink_metadata(path)
        .ok()?
        .file_type()
        .is_symlink()
    {
        return None;
    }
    let head = super::source::read_head(&file).ok()?;
    let text = &head.front_matter;
    let (title, description) = match head.format {
        Format::Toml => {
            let table: toml::Table = toml::from_str(text).ok()?;
            let get = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            (get("title"), get("description"))
        }
        Format::Yaml => {
            let entries = yaml::read(text, head.first_line).ok()?;
            let get = |k: &str| {
                entries.iter().find_map(|(key, _, node)| match node {
                    yaml::Node::Scalar { text, .. } if key.eq_ignore_ascii_case(k) => {
                        Some(text.clone())
                    }
                    _ => None,
                })
            };
            (get("title"), get("description"))
        }
    };
    let clean = |s: Option<String>| s.map(|s| one_line(&s)).filter(|s| !s.is_empty());
    Some((clean(title), clean(description)))
}

/// Names as a list of strings, or Jekyll's one string of names separated
/// by spaces; each given to `add`.
fn each_name(v: &toml::Value, add: &mut dyn FnMut(&str)) -> Result<(), String> {
    match v {
        toml::Value::String(s) => s.split_whitespace().for_each(add),
        toml::Value::Array(items) => {
            for item in items {
                match item {
                    toml::Value::String(s) => add(s),
                    other => {
                        return Err(format!(
                            "expected a list of names, found a {} in it",
                            other.type_str()
                        ))
                    }
                }
            }
        }
        other => {
            return Err(format!(
                "expected a list of names, found a {}",
                other.type_str()
            ))
        }
    }
    Ok(())
}

/// The "did you mean" error for an unknown key one or two edits from one
/// of ours; `None` for a key that is only unused.
fn typo_of(key: &str) -> Option<String> {
    // Most unknown keys are far from all of ours: the message is only
    // written for the few that are not.
    let near = KNOWN_KEYS.iter().any(|k| strsim::levenshtein(key, k) <= 2);
    if !near || OTHER_TOOLS_KEYS.contains(&key) {
        return None;
    }
    let expected = KNOWN_KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    did_you_mean(&format!(
        "unknown field `{key}`, expected one of {expected}"
    ))
}

/// YAML front matter as a [`FrontMatter`], with the keys no field takes
/// and their lines. Each value's span is the start of its key's line, all
/// that messages need of it.
fn yaml_front_matter(
    text: &str,
    first_line: usize,
    err: &dyn Fn(String) -> ContentError,
) -> Result<Read, Vec<ContentError>> {
    let file_line = |l: usize| first_line + l - 1;
    let entries = yaml::read(text, first_line).map_err(|e| {
        let mut error = err(e.message).at(file_line(e.line));
        if let Some(f) = e.field {
            error = error.field(f);
        }
        vec![error]
    })?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut fm = FrontMatter::blank();
    let mut has_title = false;
    let mut unpublished = false;
    let mut errors = Vec::new();
    let mut unused = Vec::new();
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (written, line, node) in entries {
        if node.is_null() {
            continue;
        }
        // Hugo reads keys in any case (`Title`, `PublishDate`, as some
        // editors write them): ours are matched so too, in YAML.
        let key = match KNOWN_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&written)) {
            Some(k) => {
                if let Some((_, first)) = seen.iter().find(|(s, _)| s == k) {
                    errors.push(
                        err(format!(
                            "`{written}` is `{k}` again, first on line {first}; expected each key once"
                        ))
                        .at(file_line(line))
                        .field(written.as_str()),
                    );
                    continue;
                }
                seen.push((k, file_line(line)));
                (*k).to_owned()
            }
            None => written,
        };
        let at = line_starts.get(line - 1).copied().unwrap_or(text.len());
        // Given, if perhaps of the wrong type: not also "found none".
        has_title |= key == "title";
        let mut wrong = |expected: &str| {
            errors.push(
                err(format!("expected {expected}, found {}", node.kind()))
                    .at(file_line(line))
                    .field(key.as_str()),
            )
        };
        let text_of = |n: &yaml::Node| match n {
            yaml::Node::Scalar { text, .. } => Some(text.clone()),
            _ => None,
        };
        match key.as_str() {
            "title" | "column" | "correction" | "slug" | "id" | "url" | "category" | "summary"
            | "description" => {
                let Some(s) = text_of(&node) else {
                    wrong("a string");
                    continue;
                };
                match key.as_str() {
                    "title" => fm.title = Spanned::new(at..at, s),
                    "column" => fm.column = Some(Spanned::new(at..at, s)),
                    "correction" => fm.correction = Some(Spanned::new(at..at, s)),
                    "slug" => fm.slug = Some(Spanned::new(at..at, s)),
                    "id" => fm.id = Some(Spanned::new(at..at, s)),
                    "url" => fm.url = Some(Spanned::new(at..at, s)),
                    "category" => fm.category = Some(Spanned::new(at..at, s)),
                    "summary" => fm.summary = Some(s),
                    _ => fm.description = Some(s),
                }
            }
            // Jekyll's `published: false` keeps a post unpublished.
            "published" if node.as_bool().is_some() => {
                unpublished |= node.as_bool() == Some(false);
            }
            "published" | "date" | "publishDate" | "updated" | "lastmod" | "expiryDate" => {
                if !matches!(node, yaml::Node::Scalar { .. }) {
                    wrong("a date");
                    continue;
                }
                let v = Some(Spanned::new(at..at, node.to_toml()));
                match key.as_str() {
                    "published" => fm.published = v,
                    "date" => fm.date = v,
                    "publishDate" => fm.publish_date = v,
                    "updated" => fm.updated = v,
                    "lastmod" => fm.lastmod = v,
                    _ => fm.expiry_date = v,
                }
            }
            "authors" => fm.authors = Some(Spanned::new(at..at, node.to_toml())),
            "author" => fm.author = Some(Spanned::new(at..at, node.to_toml())),
            "categories" => fm.categories = Some(Spanned::new(at..at, node.to_toml())),
            "tags" => {
                let mut tags = Vec::new();
                match each_name(&node.to_toml(), &mut |t| tags.push(t.to_owned())) {
                    Ok(()) => fm.tags = tags,
                    Err(m) => errors.push(err(m).at(file_line(line)).field("tags")),
                }
            }
            "draft" => match node.as_bool() {
                Some(b) => fm.draft = b,
                None => wrong("true or false"),
            },
            "taxonomies" => match node.to_toml() {
                toml::Value::Table(t) => fm.taxonomies = Some(Spanned::new(at..at, t)),
                _ => wrong("a mapping of taxonomy names to lists"),
            },
            "extra" => {}
            _ => unused.push((key, file_line(line))),
        }
    }
    if !has_title {
        errors.push(
            err("expected a title in the front matter, found none".into())
                .at(first_line)
                .field("title"),
        );
    }
    fm.draft |= unpublished;
    if errors.is_empty() {
        Ok((fm, unused))
    } else {
        Err(errors)
    }
}

/// The front matter by way of `toml`'s whole document model: what
/// [`events::read`] leaves aside, and every error message.
fn toml_front_matter(
    text: &str,
    line_of: &dyn Fn(usize) -> usize,
    err: &dyn Fn(String) -> ContentError,
) -> Result<Read, Vec<ContentError>> {
    let mut ignored = Vec::new();
    let parsed: Result<FrontMatter, toml::de::Error> = toml::Deserializer::parse(text)
        .and_then(|d| serde_ignored::deserialize(d, |path| ignored.push(path.to_string())));
    let fm = parsed.map_err(|e| {
        let message = e.message().trim().to_owned();
        let mut error = err(message);
        if let Some(span) = e.span() {
            error = error.at(line_of(span.start));
            if let Some(key) = key_on_line(text, span.start) {
                error = error.field(key);
            }
        } else {
            error = error.at(line_of(0));
        }
        if let Some(hint) = did_you_mean(&error.message) {
            error.message = hint;
        }
        if let Some(missing) = error.message.strip_prefix("missing field `") {
            let field = missing.trim_end_matches('`').to_owned();
            error.message = format!("expected a {field} in the front matter, found none");
            error.location.field = Some(field);
        }
        vec![error]
    })?;
    let unused = ignored
        .into_iter()
        .map(|key| {
            let line = toml_key_line(text, &key).map_or(line_of(0), line_of);
            (key, line)
        })
        .collect();
    Ok((fm, unused))
}

/// The offset of the line that sets the top-level `key` (before any table
/// header), for a message about a key that was ignored.
fn toml_key_line(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            return None;
        }
        if key_on_line(text, offset).as_deref() == Some(key) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// serde's "unknown field `publised`, expected one of `title`, …" with
/// the field one or two edits away named first: "did you mean `published`?".
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest.strip_prefix(", expected one of ")?;
    let closest = crate::text::closest(unknown, expected.split(", ").map(|f| f.trim_matches('`')))?;
    Some(format!(
        "unknown field `{unknown}`; did you mean `{closest}`? (expected one of {expected})"
    ))
}

/// The column one or two edits from `name`, as [`did_you_mean`] finds a
/// field.
fn closest_column<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    crate::text::closest(name, config.columns.iter().map(|c| c.slug.as_str()))
}

fn column_list(config: &Config) -> String {
    config
        .columns
        .iter()
        .map(|c| c.slug.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `s` holds whitespace or a control character, which an id or a
/// URL written into a feed must not: XML cannot carry most controls, and
/// the URL parser would silently drop or encode them.
fn has_space_or_control(s: &str) -> bool {
    s.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// The key assigned on the line holding `offset`, for messages about values
/// whose type was wrong (or whose bytes are not UTF-8).
pub(super) fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |p| p + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid.then(|| key.to_owned())
}

fn date_error(path: &str, field: &str, found: &str, line: usize) -> ContentError {
    ContentError::new(
        path,
        format!(
            "expected an RFC 3339 date such as 2026-06-12T07:00:00+08:00, a local date-time or a date, found {found}"
        ),
    )
    .at(line)
    .field(field)
}

/// A date in any of the forms front matter allows. Forms without an offset
/// are read in `tz`. Errors carry the value as found, for the message.
fn date_value(v: &toml::Value, tz: Tz) -> Result<DateTime<FixedOffset>, String> {
    let text = match v {
        toml::Value::Datetime(d) => {
            if let Some(date) = from_toml_datetime(d, tz) {
                return Ok(date);
            }
            d.to_string()
        }
        toml::Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("{} {other}", other.type_str())),
    };
    parse_date(&text, tz)
        .or_else(|| jekyll_date(&text, tz))
        .ok_or_else(|| format!("{text:?}"))
}

/// Jekyll's date-times: a space before the offset, written without a
/// colon (`2013-05-06 02:12:52 +0200`), as Jekyll's own files have them.
fn jekyll_date(s: &str, tz: Tz) -> Option<DateTime<FixedOffset>> {
    [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%d %H:%M:%S%z",
    ]
    .into_iter()
    .find_map(|form| DateTime::parse_from_str(s, form).ok())
    .map(|d| d.with_timezone(&tz).fixed_offset())
}

/// A TOML date-time without a trip through text: this runs once per
/// article. `None` for forms that need the text parser's checks.
fn from_toml_datetime(d: &toml::value::Datetime, tz: Tz) -> Option<DateTime<FixedOffset>> {
    let date = d.date?;
    let date = NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )?;
    let time = match d.time {
        Some(t) => chrono::NaiveTime::from_hms_nano_opt(
            u32::from(t.hour),
            u32::from(t.minute),
            u32::from(t.second),
            t.nanosecond,
        )?,
        None => chrono::NaiveTime::MIN,
    };
    let naive = date.and_time(time);
    match d.offset {
        None => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|x| x.fixed_offset()),
        Some(toml::value::Offset::Z) => Some(naive.and_utc().with_timezone(&tz).fixed_offset()),
        Some(toml::value::Offset::Custom { minutes }) => {
            let offset = FixedOffset::east_opt(i32::from(minutes) * 60)?;
            let at = offset.from_local_datetime(&naive).single()?;
            Some(at.with_timezone(&tz).fixed_offset())
        }
    }
}

/// Parses a date: RFC 3339 with an offset, a local date-time, or a date
/// (midnight). Times that do not exist in `tz` (a DST gap) are refused.
pub(crate) fn parse_date(s: &str, tz: Tz) -> Option<DateTime<FixedOffset>> {
    let local = |naive: NaiveDateTime| {
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|d| d.fixed_offset())
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&tz).fixed_offset());
    }
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%:z") {
        return Some(d.with_timezone(&tz).fixed_offset());
    }
    for form in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, form) {
            return local(n);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| local(d.and_hms_opt(0, 0, 0)?))
}

/// The most authors one article may name. Each author gets feeds whose
/// item lists every author of the article, so without a bound one article
/// of N authors makes output of N² bylines (20,000 names, a 170 KB file,
/// would need tens of gigabytes). A joint letter of a hundred signatories
/// still fits.
pub(super) const MAX_AUTHORS: usize = 100;

/// `authors`: a list of names, or of `{ name, role }` tables.
fn authors(v: &toml::Value, config: &Config) -> Result<Vec<Author>, String> {
    const EXPECTED: &str =
        "expected a list of names or of { name = \"…\", role = \"…\", slug = \"…\" } tables";
    let toml::Value::Array(items) = v else {
        return Err(format!("{EXPECTED}, found a {}", v.type_str()));
    };
    if items.len() > MAX_AUTHORS {
        return Err(format!(
            "expected at most {MAX_AUTHORS} authors, found {}; name the others in the body",
            items.len()
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (name, role, slug) = match item {
            toml::Value::String(name) => (name.as_str(), None, None),
            toml::Value::Table(t) => {
                if let Some(unknown) = t
                    .keys()
                    .find(|k| !matches!(k.as_str(), "name" | "role" | "slug"))
                {
                    return Err(format!(
                        "author {}: unknown key {unknown:?}; {EXPECTED}",
                        i + 1
                    ));
                }
                let name = match t.get("name") {
                    Some(toml::Value::String(n)) => n.as_str(),
                    _ => return Err(format!("author {}: expected a name string", i + 1)),
                };
                let role = match t.get("role") {
                    None => None,
                    Some(toml::Value::String(r)) => Some(r.as_str()),
                    Some(other) => {
                        return Err(format!(
                            "author {}: expected role to be a string, found a {}",
                            i + 1,
                            other.type_str()
                        ))
                    }
                };
                let slug = match t.get("slug") {
                    None => None,
                    Some(toml::Value::String(s)) if crate::names::is_author_slug(s) => {
                        Some(s.clone())
                    }
                    Some(other) => {
                        return Err(format!(
                            "author {}: expected a slug of letters, digits, '-' or '_', such as \"chan-tai-man\", found {other}",
                            i + 1
                        ))
                    }
                };
                (name, role, slug)
            }
            other => {
                return Err(format!(
                    "author {}: {EXPECTED}, found a {}",
                    i + 1,
                    other.type_str()
                ))
            }
        };
        let name = one_line(name);
        if name.is_empty() {
            return Err(format!(
                "author {}: expected a name, found an empty string",
                i + 1
            ));
        }
        let role = role.map(one_line).filter(|r| !r.is_empty());
        // Lower-cased whichever way it came: "Chan" and "chan" would be
        // one folder on a case-insensitive file system.
        let slug = slug
            .or_else(|| config.author_slugs.get(&name).cloned())
            .map(|s| s.to_lowercase())
            .unwrap_or_else(|| crate::names::author_slug(&name));
        out.push(Author { name, role, slug });
    }
    Ok(out)
}

/// A slug becomes a path segment: any letters or digits (Chinese ones too),
/// `-`, `_` and `.`, but no separators, spaces or URL syntax.
fn check_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug != "."
        && slug != ".."
        && slug
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected a slug of letters, digits, '-', '_' or '.', such as \"compute-expansion\", found {slug:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_field_one_edit_away_is_suggested_and_a_stranger_is_not() {
        let m = "unknown field `publised`, expected one of `title`, `published`, `updated`";
        assert_eq!(
            did_you_mean(m).as_deref(),
            Some("unknown field `publised`; did you mean `published`? (expected one of `title`, `published`, `updated`)")
        );
        assert_eq!(
            did_you_mean("unknown field `zzzzzz`, expected one of `title`, `tags`"),
            None
        );
    }

    use super::*;

    #[test]
    fn the_known_keys_are_the_front_matters_fields_as_serde_names_them() {
        assert_eq!(
            *KNOWN_KEYS,
            [
                "title",
                "column",
                "published",
                "updated",
                "authors",
                "summary",
                "correction",
                "tags",
                "slug",
                "id",
                "url",
                "draft",
                "extra",
                "date",
                "publishDate",
                "lastmod",
                "expiryDate",
                "description",
                "author",
                "categories",
                "category",
                "taxonomies",
            ]
        );
    }

    #[test]
    fn every_date_form_is_read_in_the_site_zone() {
        let hk = Tz::Asia__Hong_Kong;
        let want = "2026-06-12T07:00:00+08:00";
        for s in [
            want,
            "2026-06-11T23:00:00Z",
            "2026-06-12T07:00:00",
            "2026-06-12 07:00",
            "2026-06-12 07:00:00+08:00",
        ] {
            assert_eq!(parse_date(s, hk).unwrap().to_rfc3339(), want, "{s}");
        }
        assert_eq!(
            parse_date("2026-06-12", hk).unwrap().to_rfc3339(),
            "2026-06-12T00:00:00+08:00"
        );
        assert!(parse_date("next tuesday", hk).is_none());
    }

    #[test]
    fn a_time_in_a_dst_gap_is_refused() {
        let ny: Tz = "America/New_York".parse().unwrap();
        assert!(parse_date("2026-03-08T02:30:00", ny).is_none());
    }

    #[test]
    fn the_key_of_a_line_is_found() {
        assert_eq!(key_on_line("a = 1\ntitle = 5\n", 14), Some("title".into()));
    }
}
