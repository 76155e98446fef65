//! `init`: the publication it writes builds, checks and runs at once, its
//! config shows every key; and `templates export`.

use crate::output::{assert_same_tree, instant};
use crate::util::*;

/// The built-in template text of `name`.
fn builtin(name: &str) -> &'static str {
    broadsheet::templates::builtin(name)
}

/// Whether a line (after `# `) is a `key = value` line of the config.
fn is_key_line(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

/// The config `init` writes with every commented-out `key = value` line
/// (the optional keys shown as examples) and `[section]` line made live.
fn uncommented(config: &str) -> String {
    config
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_key_line(rest) || (rest.starts_with('[') && rest.ends_with(']')) => {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn init_writes_a_publication_that_builds_and_checks_at_once_without_a_warning() {
    let p = Publication::empty();
    // No DIR: the folder it runs in, which is empty.
    let run = p.run(&["init"]).expect_code(0);
    let expected = vec![
        ".gitignore".to_owned(),
        "config.toml".to_owned(),
        "content/opinion/welcome.md".to_owned(),
    ];
    let written: Vec<String> = p.tree("").into_keys().collect();
    assert_eq!(written, expected);
    for f in &expected {
        assert!(
            run.stdout.lines().any(|l| l.ends_with(f.as_str())),
            "{f} is listed:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("broadsheet build"), "{}", run.stdout);
    let gitignore = p.read(".gitignore");
    for ignored in ["/feeds/", "/outbox/", "/broadsheet.db*"] {
        assert!(gitignore.lines().any(|l| l == ignored), "{gitignore}");
    }

    // Builds and checks at once: no unknown key, no warning of any kind.
    let build = p.build();
    assert_eq!(build.stderr, "", "build warned");
    assert!(
        build
            .stdout
            .starts_with("built 1 column, 1 article (0 drafts, 0 scheduled)"),
        "{}",
        build.stdout
    );
    let check = p.run(&["check"]).expect_code(0);
    assert_eq!(check.stderr, "", "check warned");
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(p.read(&format!("feeds/opinion/{format}")).as_bytes());
        assert_eq!(feed.entries.len(), 1, "{format}");
        let e = &feed.entries[0];
        assert_eq!(e.title.as_ref().unwrap().content, "歡迎來到評論版");
        // Dated the moment of `init`, so the first build publishes it.
        assert_eq!(e.published, Some(instant(NOW)), "{format}");
    }
    assert!(p.path("feeds/opinion/index.html").is_file());
}

#[test]
fn init_writes_no_template_so_fixes_to_the_built_in_ones_reach_the_publication() {
    let p = Publication::empty();
    let run = p.run(&["init"]).expect_code(0);
    // A copy in templates/ would replace the built-in template for good.
    assert!(
        !p.path("templates").exists(),
        "{:?}",
        p.tree("").keys().collect::<Vec<_>>()
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("`broadsheet templates export` copies them into templates/")),
        "{}",
        run.stdout
    );
    let build = p.build();
    assert_eq!(build.stderr, "", "build warned");
    p.run(&["check"]).expect_code(0);

    // Copying them out is one command away, and the build uses the copies.
    let export = p.run(&["templates", "export"]).expect_code(0);
    for (name, text) in broadsheet::templates::BUILTIN {
        let path = format!("templates/{name}");
        assert_eq!(p.read(&path), *text, "{path} is the built-in template");
        assert!(
            export.stdout.lines().any(|l| l == path),
            "{path} listed:\n{}",
            export.stdout
        );
    }
    p.build();
    p.run(&["check"]).expect_code(0);
}

#[test]
fn the_cron_line_works_on_a_fresh_publication_with_no_one_subscribed() {
    let p = Publication::empty();
    p.run(&["init"]).expect_code(0);
    // No server.secret: a publication that only publishes feeds needs none.
    let quiet = p.run(&["--quiet", "run"]).expect_code(0);
    assert_eq!(quiet.stdout, "");
    assert_eq!(quiet.stderr, "");
    assert!(p.path("feeds/opinion/atom.xml").is_file());
    assert!(
        !p.path("broadsheet.db").exists(),
        "no state made for no one"
    );
    let run = p.run(&["run"]).expect_code(0);
    assert!(
        run.stdout.contains("no one is subscribed yet"),
        "{}",
        run.stdout
    );

    // Someone to send to, and still no secret: that is an error to fix.
    p.run(&["subscribers", "add", "reader@example.com"])
        .expect_code(0);
    let run = p.run(&["--quiet", "run"]).expect_code(2);
    assert!(run.stderr.contains("server.secret"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_dir_makes_the_folder_and_the_publication_works_from_there() {
    let p = Publication::empty();
    p.run(&["init", "papers/opinion"]).expect_code(0);
    assert!(p.path("papers/opinion/config.toml").is_file());
    assert!(p
        .path("papers/opinion/content/opinion/welcome.md")
        .is_file());
    let build = p.run_in("papers/opinion", &["build"]).expect_code(0);
    assert_eq!(build.stderr, "");
    assert!(p.path("papers/opinion/feeds/opinion/rss.xml").is_file());
    p.run_in("papers/opinion", &["check"]).expect_code(0);
}

#[test]
fn every_key_in_the_generated_config_is_known_the_commented_examples_too() {
    let p = Publication::empty();
    p.run(&["init"]).expect_code(0);
    let generated = p.read("config.toml");
    let live = uncommented(&generated);
    assert_ne!(live, generated, "some example keys are commented out");
    // The files the examples name are read at load: they must be there,
    // and the key one broadsheet can sign with.
    let live = live.replace("dkim_algorithm = \"rsa\"", "dkim_algorithm = \"ed25519\"");
    use base64::Engine;
    p.write(
        "dkim.pem",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    );
    p.write("relay-ca.pem", "");
    p.write("config.toml", &live);
    let check = p.run(&["check"]).expect_code(0);
    assert!(!check.stderr.contains("unknown key"), "{}", check.stderr);
    assert_eq!(check.stderr, "");

    // The absence means something: a key broadsheet does not know is named.
    p.write(
        "config.toml",
        live.replace(
            "trust_forwarded_for = false",
            "trust_forwarded_for = false\nemails_per_adress_per_day = 3",
        ),
    );
    let check = p.run(&["check"]).expect_code(0);
    assert!(
        check
            .stderr
            .contains("unknown key server.emails_per_adress_per_day"),
        "{}",
        check.stderr
    );
}

#[test]
fn the_generated_config_shows_every_key_as_its_first_line_promises() {
    let p = Publication::empty();
    p.run(&["init"]).expect_code(0);
    let generated = p.read("config.toml");
    assert!(
        generated.starts_with("# broadsheet: one publication. Every key is shown"),
        "{generated}"
    );
    let table: toml::Table = toml::from_str(&uncommented(&generated)).unwrap();
    // Every key broadsheet reads (src/config/raw.rs).
    let known: &[(&str, &[&str])] = &[
        (
            "site",
            &[
                "title",
                "base_url",
                "language",
                "timezone",
                "permalink",
                "content_dir",
                "output_dir",
                "templates_dir",
                "state_path",
                "follow_external_symlinks",
            ],
        ),
        ("columns", &["slug", "title", "description", "url"]),
        (
            "feeds",
            &[
                "max_items",
                "content",
                "url",
                "summary_chars",
                "id_authority",
                "websub_hub",
                "author_feeds",
                "author_content",
                "author_max_items",
                "author_min_articles",
            ],
        ),
        (
            "digest",
            &[
                "from",
                "reply_to",
                "schedule",
                "max_age_days",
                "subject",
                "sender_address",
                "dkim_selector",
                "dkim_domain",
                "dkim_key_file",
                "dkim_algorithm",
                "max_send_minutes",
                "provider_headers",
            ],
        ),
        (
            "smtp",
            &[
                "outbox_dir",
                "host",
                "port",
                "security",
                "username",
                "password",
                "max_connections",
                "rate_limit_per_second",
                "max_messages_per_connection",
                "timeout_seconds",
                "final_reply_timeout_seconds",
                "retries",
                "retry_backoff_ms",
                "ca_file",
            ],
        ),
        (
            "server",
            &[
                "bind",
                "public_url",
                "secret",
                "emails_per_address_per_day",
                "emails_per_client_per_hour",
                "trust_forwarded_for",
                "shutdown_email_seconds",
                "privacy_notice",
                "privacy_url",
                "welcome_email",
            ],
        ),
        ("state", &["busy_timeout_seconds"]),
    ];
    let mut missing = Vec::new();
    for (section, keys) in known {
        let found = match table.get(*section) {
            Some(toml::Value::Array(a)) => a.first().and_then(|v| v.as_table()),
            Some(v) => v.as_table(),
            None => None,
        };
        for key in *keys {
            if found.is_none_or(|t| !t.contains_key(*key)) {
                missing.push(format!("{section}.{key}"));
            }
        }
    }
    if !table.contains_key("authors") {
        missing.push("[authors]".to_owned());
    }
    assert!(missing.is_empty(), "not shown: {missing:?}");
}

#[test]
fn init_into_a_folder_that_is_not_empty_exits_2_and_changes_nothing() {
    let p = Publication::new();
    p.write("paper/notes.txt", "mine");
    let before = p.tree("");
    let run = p.run(&["init", "paper"]).expect_code(2);
    assert!(run.stderr.contains("paper"), "{}", run.stderr);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree(""));
    assert!(!p.path("paper/templates").exists());
    assert!(!p.path("paper/content").exists());

    // Nor the folder it runs in, which holds a publication already.
    let run = p.run(&["init"]).expect_code(2);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree(""));
    assert!(!p.path("templates").exists());
}

#[test]
fn templates_export_keeps_an_edited_template_unless_forced() {
    const EDITED: &str = "<!DOCTYPE html>\n<title>{{column.title}}</title>\n<p>our own page</p>\n";
    let p = Publication::new();
    p.write("templates/column.html.hbs", EDITED);
    let run = p.run(&["templates", "export"]).expect_code(0);
    let all = broadsheet::templates::BUILTIN.to_vec();
    for (name, text) in &all {
        let path = format!("templates/{name}");
        if *name == "column.html.hbs" {
            assert_eq!(p.read(&path), EDITED);
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l
                        == "templates/column.html.hbs: already there, kept (--force replaces it)"),
                "{}",
                run.stdout
            );
        } else {
            assert_eq!(p.read(&path), *text, "{path}");
            assert!(
                run.stdout.lines().any(|l| l == path),
                "{path} listed:\n{}",
                run.stdout
            );
        }
    }
    // The edited page is the one the build uses.
    p.build();
    assert!(p.read("feeds/ai/index.html").contains("our own page"));

    // Again: every file is kept, and said so.
    let before = p.tree("templates");
    let again = p.run(&["templates", "export"]).expect_code(0);
    let kept = again
        .stdout
        .lines()
        .filter(|l| l.ends_with(": already there, kept (--force replaces it)"))
        .count();
    assert_eq!(kept, all.len(), "{}", again.stdout);
    assert_same_tree(&before, &p.tree("templates"));

    let forced = p.run(&["templates", "export", "--force"]).expect_code(0);
    assert_eq!(
        p.read("templates/column.html.hbs"),
        builtin("column.html.hbs")
    );
    assert!(
        forced
            .stdout
            .lines()
            .any(|l| l == "templates/column.html.hbs"),
        "{}",
        forced.stdout
    );
    assert!(!forced.stdout.contains("kept"), "{}", forced.stdout);
    p.build();
    assert!(!p.read("feeds/ai/index.html").contains("our own page"));
}
