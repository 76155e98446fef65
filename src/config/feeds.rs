//! `[feeds]` and `[authors]`: what the feeds carry, where they are served,
//! the authority in their ids, the WebSub hub, and the authors' feeds with
//! the slugs chosen for them.

use super::issues::Issues;
use super::raw::RawFeeds;
use std::collections::BTreeMap;
use url::Url;

/// What feed item bodies carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedContent {
    /// The whole article as HTML.
    Full,
    /// Only the summary.
    Summary,
}

/// `[feeds]`.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// Newest N articles per feed.
    pub max_items: usize,
    /// What item bodies carry.
    pub content: FeedContent,
    /// Where `output_dir` is served, without a trailing slash.
    pub url: String,
    /// The length of a summary taken from the body, in characters.
    pub summary_chars: usize,
    /// The authority in article ids (`tag:<authority>,<date>:<column>/<slug>`).
    pub id_authority: String,
    /// A WebSub hub told when a feed changes.
    pub websub_hub: Option<String>,
    /// Whether every author gets feeds of their own.
    pub author_feeds: bool,
    /// What their items carry.
    pub author_content: FeedContent,
    /// Articles in each author's feeds.
    pub author_max_items: usize,
    /// Published articles an author needs before they get feeds: a guest
    /// who wrote once on an op-ed page gets none until they write again.
    pub author_min_articles: usize,
}

/// `[feeds]`, with `{base_url}` filled into `feeds.url`.
pub(super) fn validate(raw: RawFeeds, base_url: &str, issues: &mut Issues) -> Feeds {
    let max_items = issues.whole("feeds.max_items", raw.max_items, 50) as usize;
    let summary_chars = issues.whole("feeds.summary_chars", raw.summary_chars, 150) as usize;
    let content = feed_content(issues, "feeds.content", &raw.content, FeedContent::Full);
    let author_content = feed_content(
        issues,
        "feeds.author_content",
        &raw.author_content,
        FeedContent::Summary,
    );
    let url = raw
        .url
        .replace("{base_url}", base_url)
        .trim_end_matches('/')
        .to_owned();
    if Url::parse(&url).is_err() {
        issues.add(
            "feeds.url",
            format!(
                "expected an absolute URL (\"{{base_url}}\" may be used), found {:?}",
                raw.url
            ),
        );
    }
    let id_authority = raw.id_authority.unwrap_or_else(|| "broadsheet".into());
    if !is_tag_authority(&id_authority) {
        issues.add(
            "feeds.id_authority",
            format!("expected a domain name or an email address such as \"news.example.com\", found {id_authority:?}"),
        );
    }
    let author_max_items =
        issues.whole("feeds.author_max_items", raw.author_max_items, 10) as usize;
    let author_min_articles =
        issues.whole("feeds.author_min_articles", raw.author_min_articles, 2) as usize;
    Feeds {
        max_items,
        content,
        url,
        summary_chars,
        id_authority,
        websub_hub: websub_hub(&raw.websub_hub, issues),
        author_feeds: raw.author_feeds,
        author_content,
        author_max_items,
        author_min_articles,
    }
}

/// `full` or `summary`.
fn feed_content(issues: &mut Issues, key: &str, value: &str, fallback: FeedContent) -> FeedContent {
    match value {
        "full" => FeedContent::Full,
        "summary" => FeedContent::Summary,
        other => {
            issues.add(
                key,
                format!("expected \"full\" or \"summary\", found {other:?}"),
            );
            fallback
        }
    }
}

/// `feeds.websub_hub`: empty for none, else an http(s) URL (plain http
/// works, with a warning).
fn websub_hub(hub: &str, issues: &mut Issues) -> Option<String> {
    match hub.trim() {
        "" => None,
        hub => match Url::parse(hub) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if u.scheme() != "https" {
                    issues.warnings.push(format!(
                        "feeds.websub_hub: {hub:?} is not https; public hubs expect https, and a notification over http can be read and forged on the way"
                    ));
                }
                Some(hub.to_owned())
            }
            _ => {
                issues.add(
                    "feeds.websub_hub",
                    format!("expected the http(s) URL of a WebSub hub, such as \"https://pubsubhubbub.appspot.com/\", found {hub:?}"),
                );
                None
            }
        },
    }
}

/// `[authors]`: a URL slug chosen for an author's name, keyed by the name
/// made single-line.
pub(super) fn author_slugs(
    raw: &BTreeMap<String, String>,
    issues: &mut Issues,
) -> BTreeMap<String, String> {
    for (name, slug) in raw {
        if !crate::names::is_author_slug(slug) {
            issues.add(
                format!("authors.{name:?}"),
                format!("expected a slug of letters, digits, '-' or '_', such as \"chan-tai-man\", found {slug:?}"),
            );
        }
    }
    raw.iter()
        .map(|(k, v)| (crate::text::one_line(k), v.clone()))
        .collect()
}

/// A tag URI authority (RFC 4151): a DNS name or an email address.
fn is_tag_authority(s: &str) -> bool {
    let domain = s
        .rsplit_once('@')
        .map_or(s, |(local, d)| if local.is_empty() { "" } else { d });
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
