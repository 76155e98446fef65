//! Front matter: the TOML between the `+++` lines, as written
//! ([`FrontMatter`]), then checked and turned into an [`Article`].

mod events;

use super::source::{Head, SourceFile};
use super::{Article, Author, ContentError};
use crate::config::{Config, PermalinkParts};
use crate::text::{one_line, URL_PATH_SEGMENT as PATH_SEGMENT};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;
use toml::Spanned;

/// The fields the README documents, as written. Unknown fields are refused so a
/// typo (`publised`) is caught rather than silently ignored; `extra` holds
/// whatever a newsroom wants to keep beside them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Spanned<String>,
    column: Option<Spanned<String>>,
    published: Spanned<toml::Value>,
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
}

/// Reads one file's front matter into an [`Article`], collecting every
/// problem found in it. The article takes over the file's path and names.
pub(super) fn parse_article(
    mut file: SourceFile,
    head: &Head,
    config: &Config,
) -> Result<Article, Vec<ContentError>> {
    let text = &head.front_matter;
    let line_of =
        |offset: usize| head.first_line + text[..offset.min(text.len())].matches('\n').count();
    let err = |m: String| ContentError::new(&file.display, m);

    let fm = match events::read(text) {
        Some(fm) => fm,
        None => toml_front_matter(text, &line_of, &err)?,
    };

    let mut errors = Vec::new();
    let tz = config.site.timezone;

    let title = one_line(fm.title.get_ref());
    if title.is_empty() {
        errors.push(
            err("expected a title, found an empty string".into())
                .at(line_of(fm.title.span().start))
                .field("title"),
        );
    }

    let column_name = match (&fm.column, &file.column_dir) {
        (Some(c), _) => Some((c.get_ref().clone(), Some(line_of(c.span().start)))),
        (None, Some(dir)) => Some((dir.clone(), None)),
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

    let published = match date_value(fm.published.get_ref(), tz) {
        Ok(d) => Some(d),
        Err(found) => {
            errors.push(date_error(
                &file.display,
                "published",
                &found,
                line_of(fm.published.span().start),
            ));
            None
        }
    };
    let updated = match &fm.updated {
        None => None,
        Some(v) => match date_value(v.get_ref(), tz) {
            Ok(d) => Some(d),
            Err(found) => {
                errors.push(date_error(
                    &file.display,
                    "updated",
                    &found,
                    line_of(v.span().start),
                ));
                None
            }
        },
    };
    if let (Some(p), Some(u), Some(span)) =
        (published, updated, fm.updated.as_ref().map(|u| u.span()))
    {
        if u < p {
            errors.push(
                err(format!(
                    "expected a date on or after published ({}), found {}",
                    p.to_rfc3339(),
                    u.to_rfc3339()
                ))
                .at(line_of(span.start))
                .field("updated"),
            );
        }
    }

    let authors = match &fm.authors {
        None => Vec::new(),
        Some(v) => match authors(v.get_ref(), config) {
            Ok(a) => a,
            Err(m) => {
                errors.push(err(m).at(line_of(v.span().start)).field("authors"));
                Vec::new()
            }
        },
    };

    let (slug, slug_line) = match &fm.slug {
        Some(s) => (s.get_ref().clone(), Some(line_of(s.span().start))),
        None => (std::mem::take(&mut file.default_slug), None),
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
            } else if fm.updated.is_none() {
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
    let mut tags: Vec<String> = Vec::new();
    for t in fm.tags.iter().map(|t| one_line(t)) {
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    Ok(Article {
        source: file.display,
        path: file.path,
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
        summary: fm.summary.map(|s| one_line(&s)).filter(|s| !s.is_empty()),
        correction,
        tags,
        id,
        url,
        draft: fm.draft,
    })
}

/// The front matter by way of `toml`'s whole document model: what
/// [`events::read`] leaves aside, and every error message.
fn toml_front_matter(
    text: &str,
    line_of: &dyn Fn(usize) -> usize,
    err: &dyn Fn(String) -> ContentError,
) -> Result<FrontMatter, Vec<ContentError>> {
    toml::from_str(text).map_err(|e| {
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
    })
}

/// serde's "unknown field `publised`, expected one of `title`, …" with
/// the field one or two edits away named first: "did you mean `published`?".
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest.strip_prefix(", expected one of ")?;
    let closest = expected
        .split(", ")
        .map(|f| f.trim_matches('`'))
        .map(|f| (strsim::levenshtein(unknown, f), f))
        .filter(|(d, _)| *d <= 2)
        .min()?;
    Some(format!(
        "unknown field `{unknown}`; did you mean `{}`? (expected one of {expected})",
        closest.1
    ))
}

/// The column one or two edits from `name`, as [`did_you_mean`] finds a
/// field; never one the edits would rewrite whole (`zz` is not `ai`).
fn closest_column<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .columns
        .iter()
        .map(|c| (strsim::levenshtein(name, c.slug.as_str()), c.slug.as_str()))
        .filter(|(d, c)| *d <= 2 && *d < c.chars().count())
        .min()
        .map(|(_, c)| c)
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
    parse_date(&text, tz).ok_or_else(|| format!("{text:?}"))
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
