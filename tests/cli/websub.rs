//! WebSub: every feed names the hub, and a build tells a hub on 127.0.0.1
//! of each changed feed once; a hub that fails costs a warning, never the
//! build.

use crate::output::{assert_same_tree, build_line, json_of, self_link, Tree};
use crate::util::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the hub received it.
#[derive(Debug, Clone)]
struct HubRequest {
    method: String,
    path: String,
    content_type: String,
    body: String,
}

#[derive(Default)]
struct HubState {
    requests: Vec<HubRequest>,
    replies: VecDeque<u16>,
}

/// A WebSub hub on 127.0.0.1: records every request, then answers with
/// the scripted statuses in turn, and 204 once they are used up.
struct Hub {
    url: String,
    state: Arc<Mutex<HubState>>,
}

impl Hub {
    fn start(replies: &[u16]) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(HubState {
            requests: Vec::new(),
            replies: replies.iter().copied().collect(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || serve_hub_connection(stream, &state));
            }
        });
        Hub {
            url: format!("http://127.0.0.1:{port}/"),
            state,
        }
    }

    fn requests(&self) -> Vec<HubRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The `hub.url` of every request, in order.
    fn announced(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                url::form_urlencoded::parse(r.body.as_bytes())
                    .find(|(k, _)| k == "hub.url")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no hub.url in {r:?}"))
            })
            .collect()
    }
}

/// Reads requests off one (keep-alive) connection until it closes.
fn serve_hub_connection(stream: TcpStream, state: &Mutex<HubState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = {
            let mut s = state.lock().unwrap();
            s.requests.push(HubRequest {
                method,
                path,
                content_type: headers.get("content-type").cloned().unwrap_or_default(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            s.replies.pop_front().unwrap_or(204)
        };
        let reply = match status {
            204 => "HTTP/1.1 204 No Content\r\n\r\n".to_owned(),
            code => format!("HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\n\r\n"),
        };
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Articles in both columns, by two authors: five feeds (ai, city, all and
/// one per author), fifteen feed files.
fn with_hub(hub: &str) -> Publication {
    let p = Publication::with_config(&format!("{CONFIG}websub_hub = \"{hub}\"\n"));
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-20T07:00:00+08:00\nauthors = [\"陳大文\"]",
            "算力是新時代的基建。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-02T08:30:00+08:00\nauthors = [\"Daniel Whitcombe\"]",
            "電車是城市的節奏。",
        ),
    );
    p
}

/// Whether a path under feeds/ is a feed file.
fn is_feed_file(path: &str) -> bool {
    path.ends_with("/rss.xml") || path.ends_with("/atom.xml") || path.ends_with("/feed.json")
}

/// The self links of the feed files under feeds/ that differ between two
/// trees (changed or new).
fn changed_feeds(p: &Publication, before: &Tree, after: &Tree) -> BTreeSet<String> {
    after
        .iter()
        .filter(|(k, v)| is_feed_file(k) && before.get(*k) != Some(*v))
        .map(|(k, _)| self_link(p, k))
        .collect()
}

#[test]
fn every_feed_names_the_hub() {
    let hub = Hub::start(&[]);
    let p = with_hub(&hub.url);
    p.build();
    let feeds: Vec<String> = p
        .tree("feeds")
        .into_keys()
        .filter(|k| is_feed_file(k))
        .collect();
    assert_eq!(feeds.len(), 15, "{feeds:?}");
    for path in &feeds {
        let text = p.read(&format!("feeds/{path}"));
        if path.ends_with(".json") {
            assert_eq!(
                json_of(&text)["hubs"],
                json!([{ "type": "WebSub", "url": hub.url }]),
                "{path}"
            );
        } else {
            let feed = parse_feed(text.as_bytes());
            let hubs: Vec<&str> = feed
                .links
                .iter()
                .filter(|l| l.rel.as_deref() == Some("hub"))
                .map(|l| l.href.as_str())
                .collect();
            assert_eq!(hubs, [hub.url.as_str()], "{path}");
        }
    }
    let rss = p.read("feeds/ai/rss.xml");
    assert!(
        rss.contains(&format!("<atom:link href=\"{}\" rel=\"hub\"/>", hub.url)),
        "{rss}"
    );

    // Without a hub, no feed names one.
    let p = Publication::new();
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-20", "內文。"),
    );
    p.build();
    assert!(!p.read("feeds/ai/rss.xml").contains("rel=\"hub\""));
    assert!(!p.read("feeds/ai/atom.xml").contains("rel=\"hub\""));
    assert!(json_of(&p.read("feeds/ai/feed.json")).get("hubs").is_none());
}

#[test]
fn a_build_announces_each_changed_feed_once_and_an_unchanged_build_nothing() {
    let hub = Hub::start(&[]);
    let p = with_hub(&hub.url);
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 15 changed feeds in"),
        "{}",
        run.stdout
    );
    let first = p.tree("feeds");
    let requests = hub.requests();
    for r in &requests {
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.path, "/", "{r:?}");
        assert_eq!(r.content_type, "application/x-www-form-urlencoded", "{r:?}");
        let url = url::form_urlencoded::parse(r.body.as_bytes())
            .find(|(k, _)| k == "hub.url")
            .unwrap()
            .1
            .into_owned();
        let expected: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", "publish")
            .append_pair("hub.url", &url)
            .finish();
        assert_eq!(r.body, expected);
    }
    let announced = hub.announced();
    let unique: BTreeSet<String> = announced.iter().cloned().collect();
    assert_eq!(unique.len(), announced.len(), "once each: {announced:?}");
    assert_eq!(unique, changed_feeds(&p, &Tree::new(), &first));
    // An author's feed is announced by the URL its self link gives.
    assert!(
        unique.contains(
            "https://news.example.com/feeds/authors/%E9%99%B3%E5%A4%A7%E6%96%87/atom.xml"
        ),
        "{unique:?}"
    );

    // Nothing changed: nothing sent.
    let run = p.build();
    assert!(!run.stdout.contains("hub"), "{}", run.stdout);
    assert_eq!(hub.requests().len(), 15);

    // One article edited: its column's, the whole publication's and its
    // author's feeds, and no others.
    let text = p
        .read("content/city/tram.md")
        .replace("電車慢活", "電車慢活（修訂）");
    p.write("content/city/tram.md", text);
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 9 changed feeds in"),
        "{}",
        run.stdout
    );
    let second: BTreeSet<String> = hub.announced()[15..].iter().cloned().collect();
    assert_eq!(hub.requests().len(), 24, "once each");
    assert_eq!(second, changed_feeds(&p, &first, &p.tree("feeds")));
    let expected: BTreeSet<String> = ["city", "all", "authors/daniel-whitcombe"]
        .iter()
        .flat_map(|dir| {
            ["rss.xml", "atom.xml", "feed.json"]
                .map(|f| format!("https://news.example.com/feeds/{dir}/{f}"))
        })
        .collect();
    assert_eq!(second, expected);

    // Only the pages beside the feeds change: the hub is told nothing.
    let before = p.tree("feeds");
    p.write(
        "config.toml",
        format!(
            "{CONFIG}websub_hub = \"{}\"\n\n[server]\npublic_url = \"https://news.example.com/newsletter\"\n",
            hub.url
        ),
    );
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 0 changed feeds in"),
        "{}",
        run.stdout
    );
    assert_ne!(before["ai/index.html"], p.tree("feeds")["ai/index.html"]);
    assert!(changed_feeds(&p, &before, &p.tree("feeds")).is_empty());
    assert_eq!(hub.requests().len(), 24);
}

#[test]
fn a_hub_that_answers_503_is_asked_again() {
    let hub = Hub::start(&[503]);
    let p = with_hub(&hub.url);
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 15 changed feeds in"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("WebSub hub"), "{}", run.stderr);
    let requests = hub.requests();
    assert_eq!(requests.len(), 16);
    assert_eq!(requests[0].body, requests[1].body, "the same feed again");
    let unique: BTreeSet<String> = hub.announced().into_iter().collect();
    assert_eq!(unique.len(), 15);
}

#[test]
fn a_hub_that_refuses_one_feed_is_still_told_of_the_others() {
    let hub = Hub::start(&[400]);
    let p = with_hub(&hub.url);
    let run = p.build();
    assert!(
        run.stdout
            .contains("; hub told of 14 changed feeds, 1 not in"),
        "{}",
        run.stdout
    );
    // A 400 is an answer, not an outage: not asked again.
    assert_eq!(hub.requests().len(), 15);
    let refused = &hub.announced()[0];
    assert!(
        run.stderr.contains("WebSub hub not told of a changed feed")
            && run.stderr.contains(refused.as_str()),
        "{}",
        run.stderr
    );
}

#[test]
fn a_hub_that_is_down_costs_a_warning_never_the_build() {
    let p = with_hub(&format!("http://127.0.0.1:{}/", closed_port()));
    let run = p.build();
    assert!(
        run.stderr.contains("WebSub hub unreachable"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("15 changed feeds not announced"),
        "{}",
        run.stderr
    );
    assert!(
        build_line(&run.stdout).ends_with(", 0 removed; hub told of 0 changed feeds, 15 not"),
        "{}",
        run.stdout
    );
    let feed = parse_feed(p.read("feeds/ai/atom.xml").as_bytes());
    assert_eq!(feed.entries.len(), 1);
}

#[test]
fn a_hub_that_is_not_a_url_is_refused_and_the_feeds_are_left_alone() {
    let hub = Hub::start(&[]);
    let p = with_hub(&hub.url);
    p.build();
    let before = p.tree("feeds");
    for bad in ["not a url", "ftp://hub.example.net/", "https://"] {
        p.write("config.toml", format!("{CONFIG}websub_hub = \"{bad}\"\n"));
        let run = p.run(&["build"]).expect_code(2);
        assert!(
            run.stderr.contains("feeds.websub_hub"),
            "{bad}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(bad), "{bad}: {}", run.stderr);
        assert_same_tree(&before, &p.tree("feeds"));
        p.run(&["check"]).expect_code(2);
    }
    assert_eq!(hub.requests().len(), 15, "only the first build's");
}

#[test]
fn a_hub_over_http_is_a_warning_naming_the_key() {
    let p = Publication::with_config(&format!(
        "{CONFIG}websub_hub = \"http://hub.example.net/\"\n"
    ));
    let run = p.run(&["check"]).expect_code(0);
    assert!(
        run.stderr.contains("feeds.websub_hub") && run.stderr.contains("not https"),
        "{}",
        run.stderr
    );
    p.write(
        "config.toml",
        format!("{CONFIG}websub_hub = \"https://hub.example.net/\"\n"),
    );
    let run = p.run(&["check"]).expect_code(0);
    assert_eq!(run.stderr, "");
}
