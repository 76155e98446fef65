//! The conveniences: shell completions, the manual page, JSON logs.

use crate::util::*;
use serde_json::Value;

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let p = Publication::empty();
    for shell in ["bash", "zsh", "fish"] {
        let run = p.run(&["completions", shell]).expect_code(0);
        assert!(!run.stdout.trim().is_empty(), "{shell}");
        for word in ["broadsheet", "serve", "status", "build", "subscribers"] {
            assert!(run.stdout.contains(word), "{shell}: {word}");
        }
        assert_eq!(run.stderr, "", "{shell}");
    }
    p.run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn man_prints_a_roff_page() {
    let p = Publication::empty();
    let run = p.run(&["man"]).expect_code(0);
    assert!(
        run.stdout.starts_with(".TH") || run.stdout.starts_with(".ie"),
        "{}",
        &run.stdout[..run.stdout.len().min(200)]
    );
    assert!(run.stdout.contains(".TH broadsheet 1"), "{}", run.stdout);
    for word in [
        "build",
        "status",
        "serve",
        "\\-\\-config",
        "\\-\\-log\\-format",
    ] {
        assert!(run.stdout.contains(word), "{word}");
    }
}

/// Every line of stderr, parsed as a JSON object.
#[track_caller]
fn json_lines(stderr: &str) -> Vec<serde_json::Map<String, Value>> {
    stderr
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(o)) => o,
            _ => panic!("not a JSON object: {l:?}\n{stderr}"),
        })
        .collect()
}

#[test]
fn json_logs_are_one_object_a_line() {
    let p = Publication::with_config(&format!("{CONFIG}max_itmes = 3\n"));
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-20", "內文。"),
    );
    p.run(&["--log-format", "json", "-v", "build"])
        .expect_code(0);
    // A second build has nothing to do, and says so at -v.
    let run = p
        .run(&["--log-format", "json", "-v", "build"])
        .expect_code(0);
    let lines = json_lines(&run.stderr);
    assert!(lines.len() >= 2, "{}", run.stderr);
    for l in &lines {
        assert!(
            l.contains_key("level") && l.contains_key("timestamp"),
            "{l:?}"
        );
    }
    let message = |m: &str| {
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|s| s.contains(m)))
    };
    assert!(message("unknown key feeds.max_itmes"), "{}", run.stderr);
    assert!(
        message("nothing changed since the last build"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with("built 2 columns"), "{}", run.stdout);
}

#[test]
fn json_logs_stay_json_when_a_command_fails() {
    let p = Publication::new();
    p.write("content/ai/x.md", article("title = \"X\"", "內文。"));
    let run = p.run(&["--log-format", "json", "build"]).expect_code(2);
    let lines = json_lines(&run.stderr);
    assert!(
        lines.iter().any(|l| l
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.contains("content/ai/x.md")))),
        "{}",
        run.stderr
    );
}

#[test]
fn serve_bind_listens_on_the_address_given_instead_of_server_bind() {
    let p = Publication::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let env = [
        ("BROADSHEET_SERVER__SECRET", "a secret of at least sixteen"),
        (
            "BROADSHEET_SERVER__PUBLIC_URL",
            "https://news.example.com/newsletter",
        ),
        ("BROADSHEET_DIGEST__FROM", "論壇 <digest@news.example.com>"),
    ];
    // server.bind is the default, 127.0.0.1:8080; the address given wins,
    // and since it is taken the service stops at once naming it.
    let run = p
        .run_with_env(NOW, &["serve", "--bind", &addr], &env)
        .expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("error: server.bind: cannot listen on {addr}: ")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(the address given with --bind)"),
        "where the address came from: {}",
        run.stderr
    );
    // localhost is the loopback address, never looked up.
    let port = addr.rsplit_once(':').unwrap().1;
    let run = p
        .run_with_env(
            NOW,
            &["serve", "--bind", &format!("localhost:{port}")],
            &env,
        )
        .expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}: ")),
        "{}",
        run.stderr
    );
    drop(taken);

    // An address that is not one is refused before anything starts.
    let run = p
        .run_with_env(NOW, &["serve", "--bind", "localhost"], &env)
        .expect_code(2);
    assert!(run.stderr.contains("--bind"), "{}", run.stderr);
    let run = p.run(&["preview", "--bind", "localhost:x"]).expect_code(2);
    assert!(
        run.stderr.contains("expected a port after localhost:"),
        "{}",
        run.stderr
    );
}
