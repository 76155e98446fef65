//! `[site]`: the publication's name and address, its language and time
//! zone, how article URLs are made, and where everything lives.

use super::issues::Issues;
use super::permalink::{Permalink, PermalinkParts};
use super::raw::RawSite;
use chrono_tz::Tz;
use std::path::{Path, PathBuf};
use url::Url;

/// `[site]`.
#[derive(Debug, Clone)]
pub struct Site {
    /// The publication's name.
    pub title: String,
    /// Where the site lives, without a trailing slash.
    pub base_url: String,
    /// A BCP 47 language tag, e.g. `zh-Hant-HK`.
    pub language: String,
    /// The zone dates without an offset are read in, and output is shown in.
    pub timezone: Tz,
    /// How an article's URL is made.
    pub permalink: Permalink,
    /// Where articles are read from.
    pub content_dir: PathBuf,
    /// Where feeds are written.
    pub output_dir: PathBuf,
    /// Where template overrides live.
    pub templates_dir: PathBuf,
    /// The SQLite state file.
    pub state_path: PathBuf,
    /// Whether a symlink under `content_dir` may lead outside it.
    pub follow_external_symlinks: bool,
}

/// `[site]`, its paths resolved against `root`. A bad value is reported
/// and replaced by a stand-in, so the other sections are still checked.
pub(super) fn validate(raw: RawSite, root: &Path, issues: &mut Issues) -> Site {
    if raw.title.trim().is_empty() {
        issues.add(
            "site.title",
            "expected the publication's name, found nothing",
        );
    }
    let base_url = match Url::parse(&raw.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            raw.base_url.trim_end_matches('/').to_owned()
        }
        _ => {
            issues.add(
                "site.base_url",
                format!(
                    "expected an absolute http(s) URL such as \"https://news.example.com\", found {:?}",
                    raw.base_url
                ),
            );
            String::from("https://invalid.example")
        }
    };
    if !is_language_tag(&raw.language) {
        issues.add(
            "site.language",
            format!(
                "expected a BCP 47 language tag such as \"zh-Hant-HK\", found {:?}",
                raw.language
            ),
        );
    }
    let timezone = raw.timezone.parse::<Tz>().unwrap_or_else(|_| {
        issues.add(
            "site.timezone",
            format!(
                "expected an IANA time zone such as \"Asia/Hong_Kong\", found {:?}",
                raw.timezone
            ),
        );
        Tz::Asia__Hong_Kong
    });
    let permalink = permalink(&raw.permalink, &base_url, issues);
    let at_root = |p: &str| root.join(p);
    Site {
        title: crate::text::one_line(&raw.title),
        base_url,
        language: raw.language,
        timezone,
        permalink,
        content_dir: at_root(&raw.content_dir),
        output_dir: at_root(&raw.output_dir),
        templates_dir: at_root(&raw.templates_dir),
        state_path: at_root(&raw.state_path),
        follow_external_symlinks: raw.follow_external_symlinks,
    }
}

/// `site.permalink`, which must parse and give an absolute URL.
fn permalink(pattern: &str, base_url: &str, issues: &mut Issues) -> Permalink {
    let permalink = Permalink::parse(pattern).unwrap_or_else(|m| {
        issues.add("site.permalink", m);
        Permalink::parse("{base_url}/{column}/{slug}/").expect("the default is valid")
    });
    let sample = permalink.render(&PermalinkParts {
        base_url,
        column: "column",
        slug: "slug",
        date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date"),
    });
    if Url::parse(&sample).is_err() {
        issues.add(
            "site.permalink",
            format!("expected a pattern that gives an absolute URL, but it gives {sample:?}"),
        );
    }
    permalink
}

/// A loose BCP 47 check: a 2–3 letter language, then subtags of 1–8
/// letters or digits.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}
