//! A publication in a temporary folder, and the binary run against it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The clock every test runs at unless it says otherwise.
pub(crate) const NOW: &str = "2026-11-27T12:00:00+08:00";

/// A config with two columns, `ai` and `city`.
pub(crate) const CONFIG: &str = r#"
[site]
title = "論壇"
base_url = "https://news.example.com"

[[columns]]
slug = "ai"
title = "鑰匙與未來"
description = "編者按：人工智能與創科的路向。"

[[columns]]
slug = "city"
title = "城市筆記"
description = "編者按：城市生活。"

[feeds]
id_authority = "news.example.com"
# A page of regular columnists: each author's first article gives them feeds.
author_min_articles = 1
"#;

/// A publication on disk: `config.toml`, `content/`, and `feeds/` once built.
pub(crate) struct Publication {
    dir: tempfile::TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the output unless the run exited with `code`.
    #[track_caller]
    pub(crate) fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Publication {
    /// A publication with [`CONFIG`] and no articles.
    pub(crate) fn new() -> Publication {
        Publication::with_config(CONFIG)
    }

    /// A publication with this configuration.
    pub(crate) fn with_config(config: &str) -> Publication {
        let p = Publication {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        p.write("config.toml", config);
        std::fs::create_dir_all(p.path("content")).unwrap();
        p
    }

    /// An empty temporary folder, for `init` to write a publication into.
    pub(crate) fn empty() -> Publication {
        Publication {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// A copy of the sample publication at the root of the repository.
    pub(crate) fn sample() -> Publication {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let p =
            Publication::with_config(&std::fs::read_to_string(root.join("config.toml")).unwrap());
        copy_dir(&root.join("content"), &p.path("content"));
        p
    }

    /// A path inside the publication.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (folders made as needed).
    pub(crate) fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Publication {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Reads a file as text.
    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs `broadsheet --config … --now NOW <args>`.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_at(NOW, args)
    }

    /// Runs the binary with the clock set to `now`.
    pub(crate) fn run_at(&self, now: &str, args: &[&str]) -> Run {
        self.run_with_env(now, args, &[])
    }

    /// Runs the binary with the clock set to `now` and extra environment.
    pub(crate) fn run_with_env(&self, now: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_in_with_env("", now, args, env)
    }

    /// Runs `broadsheet --config <rel>/config.toml --now NOW <args>` from
    /// the folder `rel` inside the publication (a publication in a
    /// publication, as `init DIR` makes one).
    pub(crate) fn run_in(&self, rel: &str, args: &[&str]) -> Run {
        self.run_in_with_env(rel, NOW, args, &[])
    }

    /// Runs the binary like [`Publication::run_at`], but fails the test if
    /// it has not exited within `limit`: for runs that once hung.
    #[track_caller]
    pub(crate) fn run_within(&self, limit: std::time::Duration, now: &str, args: &[&str]) -> Run {
        let mut cmd = self.command("", now, args, &[]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().expect("the binary runs");
        let pid = child.id();
        // Read the output on another thread, so a chatty child never
        // blocks on a full pipe while this one waits.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(limit) {
            Ok(out) => out.expect("the child can be waited for"),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                let out = rx.recv().unwrap().unwrap();
                panic!(
                    "broadsheet {args:?} did not exit within {limit:?}: it hangs\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the binary with standard output going to `stdout` (such as
    /// `/dev/full`, to see how a failed write ends).
    pub(crate) fn run_with_stdout(&self, stdout: std::fs::File, args: &[&str]) -> Run {
        let out = self
            .command("", NOW, args, &[])
            .stdout(stdout)
            .output()
            .expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub(crate) fn command(
        &self,
        rel: &str,
        now: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Command {
        let dir = self.path(rel);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_broadsheet"));
        // As from cron: `cd` to the publication, then run.
        cmd.current_dir(&dir);
        cmd.arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--now")
            .arg(now)
            .args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BROADSHEET")) {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        cmd
    }

    fn run_in_with_env(&self, rel: &str, now: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self
            .command(rel, now, args, env)
            .output()
            .expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the binary on a terminal (a pseudo-terminal from util-linux's
    /// `script`), as a person at a shell does; stdout and stderr come back
    /// as the one screen they share.
    pub(crate) fn run_on_terminal(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
        let mut line = quote(env!("CARGO_BIN_EXE_broadsheet"));
        for a in [
            "--config",
            &self.path("config.toml").to_string_lossy(),
            "--now",
            NOW,
        ]
        .into_iter()
        .chain(args.iter().copied())
        {
            line.push(' ');
            line.push_str(&quote(a));
        }
        let mut cmd = Command::new("script");
        cmd.args(["--quiet", "--return", "--command", &line, "/dev/null"])
            .current_dir(self.path(""))
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BROADSHEET")) {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().expect("util-linux's `script` runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `build`, expected to succeed.
    #[track_caller]
    pub(crate) fn build(&self) -> Run {
        self.run(&["build"]).expect_code(0)
    }

    /// Every file under `rel` with its bytes and mtime.
    pub(crate) fn tree(&self, rel: &str) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
        let root = self.path(rel);
        let mut out = BTreeMap::new();
        if !root.exists() {
            return out;
        }
        for e in walkdir(&root) {
            let meta = std::fs::metadata(&e).unwrap();
            let key = e
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(key, (std::fs::read(&e).unwrap(), meta.modified().unwrap()));
        }
        out
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for f in walkdir(from) {
        let dest = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, dest).unwrap();
    }
}

/// An article file: front matter lines, then a body.
pub(crate) fn article(front_matter: &str, body: &str) -> String {
    format!("+++\n{}\n+++\n\n{}\n", front_matter.trim(), body)
}

/// Parses a feed with an independent parser.
pub(crate) fn parse_feed(bytes: &[u8]) -> feed_rs::model::Feed {
    feed_rs::parser::parse(bytes).unwrap_or_else(|e| {
        panic!(
            "feed-rs cannot parse the feed: {e}\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// [`CONFIG`] with a digest, the `[smtp]` lines given, quick retries and
/// a server secret.
pub(crate) fn digest_config(smtp: &str) -> String {
    format!(
        r#"{CONFIG}
[digest]
from = "論壇 <digest@news.example.com>"
schedule = "Mon 08:00"

[smtp]
{smtp}
retries = 1
retry_backoff_ms = 10
timeout_seconds = 5
max_connections = 2

[server]
public_url = "https://news.example.com/newsletter"
secret = "test-secret-for-links"
"#
    )
}

/// The whole of an email as text with `\n` line ends, for a golden file;
/// first checked to be ASCII (every header and body encoded) and to end
/// every line with CRLF, as SMTP wants.
pub(crate) fn golden_text(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("a message is ASCII");
    assert!(text.is_ascii(), "every header and body is encoded:\n{text}");
    assert!(
        !text.replace("\r\n", "").contains(['\r', '\n']),
        "a line ends without CRLF:\n{text}"
    );
    text.replace("\r\n", "\n")
}
