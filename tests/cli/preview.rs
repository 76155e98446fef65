//! `preview`: the binary serving a publication on 127.0.0.1, rebuilt when
//! a file changes, with drafts under `--drafts`, a build error on the page,
//! and the real output and state never touched.

use crate::util::*;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long anything the preview does may take before the test calls it
/// hung: its start, a rebuild, its stop.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `broadsheet preview`, stopped with SIGTERM when dropped.
struct Preview {
    child: Child,
    base: String,
    agent: ureq::Agent,
    stderr: std::path::PathBuf,
    _log: tempfile::TempDir,
}

/// An answer: status and body.
struct Page {
    status: u16,
    body: String,
}

impl Preview {
    /// Starts the preview of `p` on a port the system picks, with `args`
    /// after `preview --bind 127.0.0.1:0`, and waits for its address.
    fn start(p: &Publication, args: &[&str]) -> Preview {
        let log = tempfile::tempdir().unwrap();
        let stderr = log.path().join("stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_broadsheet"));
        cmd.current_dir(p.path(""))
            .arg("--config")
            .arg(p.path("config.toml"))
            .args(["--now", NOW, "preview", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BROADSHEET")) {
            cmd.env_remove(k);
        }
        let mut child = cmd.spawn().expect("the binary runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "preview said nothing within {PATIENCE:?}\nstderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        let base = line
            .strip_prefix("preview: ")
            .and_then(|rest| rest.split('/').nth(2))
            .map(|host| format!("http://{host}"))
            .unwrap_or_else(|| {
                panic!(
                    "expected `preview: http://…`, found {line:?}\nstderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(PATIENCE))
            .build()
            .new_agent();
        Preview {
            child,
            base,
            agent,
            stderr,
            _log: log,
        }
    }

    fn get(&self, path: &str) -> Page {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Page {
            status: r.status().as_u16(),
            body: r.body_mut().read_to_string().unwrap(),
        }
    }

    /// GETs `path` until `ready` holds for the answer, for at most
    /// [`PATIENCE`]: a rebuild comes when the watcher next looks.
    #[track_caller]
    fn wait_for(&self, path: &str, what: &str, ready: impl Fn(&Page) -> bool) -> Page {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let page = self.get(path);
            if ready(&page) {
                return page;
            }
            if Instant::now() > deadline {
                panic!(
                    "{path} did not show {what} within {PATIENCE:?}: {} {}\nstderr:\n{}",
                    page.status,
                    page.body,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then the exit code; fails the test if it does not stop.
    fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("preview did not stop within {PATIENCE:?} of SIGTERM");
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tram(title: &str, extra: &str) -> String {
    article(
        &format!(
            "title = \"{title}\"\npublished = 2026-11-02T08:30:00+08:00\nauthors = [{{ name = \"鄺嘉欣\", role = \"城市規劃師\" }}]\n{extra}"
        ),
        "車廂上層的窗戶敞開。\n\n## 不只是交通工具\n\n電車行走港島北岸超過一個世紀。",
    )
}

#[test]
fn preview_shows_an_edit_without_touching_the_output_or_the_state() {
    let p = Publication::new();
    p.write("content/city/tram.md", tram("電車叮叮聲", ""));
    let preview = Preview::start(&p, &[]);
    let column = preview.get("/feeds/city/");
    assert_eq!(column.status, 200, "{}", column.body);
    assert!(column.body.contains("電車叮叮聲"), "{}", column.body);
    // Its links stay in the preview.
    let link = format!("href=\"{}/city/tram/\"", preview.base);
    assert!(column.body.contains(&link), "{link} in {}", column.body);
    // The page reloads itself when a build replaces it.
    assert!(
        column.body.contains("/__preview/generation"),
        "{}",
        column.body
    );

    p.write("content/city/tram.md", tram("慢活提案", ""));
    let column = preview.wait_for("/feeds/city/", "the new title", |page| {
        page.body.contains("慢活提案")
    });
    assert!(!column.body.contains("電車叮叮聲"), "{}", column.body);
    // The feeds beside it are rebuilt too.
    assert!(preview
        .get("/feeds/city/atom.xml")
        .body
        .contains("慢活提案"));

    let (code, log) = preview.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!p.path("feeds").exists(), "output_dir was written");
    assert!(!p.path("broadsheet.db").exists(), "the state was opened");
}

#[test]
fn an_article_page_shows_the_body_the_byline_and_the_correction() {
    let p = Publication::new();
    p.write(
        "content/city/tram.md",
        tram(
            "電車叮叮聲",
            "updated = 2026-11-05T10:00:00+08:00\ncorrection = \"原文誤將 <年份> 寫錯。\"",
        ),
    );
    let preview = Preview::start(&p, &[]);
    let page = preview.get("/city/tram/");
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<h1>電車叮叮聲</h1>"), "{body}");
    assert!(body.contains("鄺嘉欣（城市規劃師）"), "{body}");
    assert!(body.contains("<h2>不只是交通工具</h2>"), "{body}");
    assert!(body.contains("原文誤將 &lt;年份&gt; 寫錯。"), "{body}");
    let correction = body.find("class=\"correction\"").expect("a correction");
    assert!(
        correction < body.find("<p>車廂上層").unwrap(),
        "it comes first"
    );
    assert!(!body.contains("<年份>"), "{body}");
    preview.stop();
}

#[test]
fn drafts_show_only_with_drafts() {
    let p = Publication::new();
    p.write("content/city/tram.md", tram("電車叮叮聲", "draft = true"));
    let preview = Preview::start(&p, &[]);
    assert!(!preview.get("/feeds/city/").body.contains("電車叮叮聲"));
    assert_eq!(preview.get("/city/tram/").status, 404);
    preview.stop();

    let preview = Preview::start(&p, &["--drafts"]);
    assert!(preview.get("/feeds/city/").body.contains("電車叮叮聲"));
    let page = preview.get("/city/tram/");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("草稿：未發表 Draft: not published"),
        "{}",
        page.body
    );
    preview.stop();
}

#[test]
fn a_build_error_shows_on_the_page_until_it_is_fixed() {
    let p = Publication::new();
    p.write("content/city/tram.md", tram("電車叮叮聲", ""));
    let preview = Preview::start(&p, &[]);
    assert_eq!(preview.get("/feeds/city/").status, 200);
    p.write(
        "content/city/tram.md",
        tram("電車叮叮聲", "").replace("published", "publised"),
    );
    let page = preview.wait_for("/feeds/city/", "the error", |page| page.status == 500);
    assert!(
        page.body.contains(
            "content/city/tram.md:3: publised: unknown field `publised`; did you mean `published`?"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("/__preview/generation"), "{}", page.body);
    p.write("content/city/tram.md", tram("修好了", ""));
    preview.wait_for("/feeds/city/", "the fixed page", |page| {
        page.status == 200 && page.body.contains("修好了")
    });
    let (code, log) = preview.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("ERROR content/city/tram.md:3: publised: unknown field"),
        "the error is on stderr too: {log}"
    );
}

#[test]
fn preview_answers_only_at_its_own_address() {
    let p = Publication::new();
    p.write("content/city/tram.md", tram("電車叮叮聲", "draft = true"));
    let preview = Preview::start(&p, &["--drafts"]);
    let host = preview.base.trim_start_matches("http://").to_owned();
    let port = host.rsplit(':').next().unwrap().to_owned();
    let ask = |with: &str| {
        let request = ureq::http::Request::get(format!("{}/city/tram/", preview.base))
            .header("Host", with)
            .body(())
            .unwrap();
        let mut r = preview.agent.run(request).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    // A page elsewhere whose name was made to point at 127.0.0.1 reads
    // no draft.
    let (status, body) = ask(&format!("rebound.example:{port}"));
    assert_eq!(status, 421, "{body}");
    assert!(!body.contains("電車叮叮聲"), "{body}");
    for own in [host.clone(), format!("localhost:{port}")] {
        let (status, body) = ask(&own);
        assert_eq!(status, 200, "{own}: {body}");
        assert!(body.contains("電車叮叮聲"), "{body}");
    }
    preview.stop();
}

#[test]
fn a_request_left_half_sent_does_not_keep_the_preview_from_stopping() {
    use std::io::Write;
    let p = Publication::new();
    let preview = Preview::start(&p, &[]);
    let mut idle =
        std::net::TcpStream::connect(preview.base.trim_start_matches("http://")).unwrap();
    idle.write_all(b"GET /feeds/ HTTP/1.1\r\nHost: ").unwrap();
    assert_eq!(preview.get("/feeds/").status, 200);
    let (code, log) = preview.stop();
    assert_eq!(code, Some(0), "{log}");
    drop(idle);
}

#[test]
fn preview_on_an_address_in_use_exits_1_saying_to_use_bind() {
    let p = Publication::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = p
        .run_within(PATIENCE, NOW, &["preview", "--bind", &addr])
        .expect_code(1);
    assert!(
        r.stderr
            .contains(&format!("error: cannot listen on {addr}: "))
            && r.stderr.contains("choose another address with --bind"),
        "{}",
        r.stderr
    );
    let r = p
        .run_within(PATIENCE, NOW, &["preview", "--bind", "0.0.0.0:0"])
        .expect_code(2);
    assert!(
        r.stderr
            .contains("error: --bind: 0.0.0.0:0 is not a loopback address"),
        "{}",
        r.stderr
    );
    drop(taken);
}
