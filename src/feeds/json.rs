//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>), with serde:
//! the format is small enough that its types are clearer written out than
//! taken from a crate.

use super::FeedError;
use super::{Entry, FeedSpec};
use crate::config::Config;
use serde::Serialize;

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    description: &'a str,
    language: &'a str,
    authors: Vec<JsonAuthor>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<JsonHub<'a>>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonHub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct JsonAuthor {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<String>,
    summary: String,
    date_published: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_modified: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

pub(super) fn write(
    config: &Config,
    spec: &FeedSpec,
    entries: &[Entry<'_>],
) -> Result<Vec<u8>, FeedError> {
    let full = spec.full;
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &spec.title,
        home_page_url: &spec.home_url,
        feed_url: spec.file_url(config, "feed.json"),
        description: &spec.description,
        language: &config.site.language,
        authors: vec![JsonAuthor {
            name: config.site.title.clone(),
            url: Some(format!("{}/", config.site.base_url)),
        }],
        hubs: config
            .feeds
            .websub_hub
            .iter()
            .map(|url| JsonHub {
                kind: "WebSub",
                url,
            })
            .collect(),
        items: entries
            .iter()
            .map(|e| {
                let a = e.article;
                let summary = e.summary().into_owned();
                JsonItem {
                    id: &a.id,
                    url: &a.url,
                    title: &a.title,
                    content_html: full.then_some(e.body.html.as_str()),
                    content_text: (!full).then(|| summary.clone()),
                    summary,
                    date_published: a.published.to_rfc3339(),
                    date_modified: a.updated.map(|u| u.to_rfc3339()),
                    authors: a
                        .authors
                        .iter()
                        .map(|au| JsonAuthor {
                            name: au.feed_byline(),
                            url: None,
                        })
                        .collect(),
                    tags: &a.tags,
                }
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&feed).map_err(|e| FeedError::Serialize {
        format: "json",
        feed: spec.dir.clone(),
        message: e.to_string(),
    })?;
    out.push(b'\n');
    Ok(out)
}
