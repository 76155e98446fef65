//! `broadsheet serve` as a process, for what only one shows: its exit
//! codes, SIGTERM, its log, a limit on open files, a restart.

use super::*;

/// Runs `serve`, expected to stop at once: its exit code and log.
fn serve_refused(site: &Site, secret: Option<&str>) -> (Option<i32>, String) {
    let (mut child, log) = site.spawn(secret, CLOCK);
    let Some(status) = exit_status_within_patience(&mut child) else {
        terminate(&mut child);
        panic!("serve started when it should have refused to");
    };
    (status.code(), std::fs::read_to_string(log.path()).unwrap())
}

#[test]
fn serve_without_a_usable_secret_or_public_url_exits_2_naming_the_key() {
    let site = Site::new();
    let (code, log) = serve_refused(&site, None);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("server.secret"), "{log}");
    let (code, log) = serve_refused(&site, Some("short"));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("server.secret") && log.contains("at least 16"),
        "{log}"
    );
    assert!(!log.contains("short\""), "the secret is never shown: {log}");
    site.write(
        "config.toml",
        service_config(CONFIG, "").replace(&format!("public_url = \"{PUBLIC_URL}\""), ""),
    );
    let (code, log) = serve_refused(&site, Some(SECRET));
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("server.public_url"), "{log}");
}

#[test]
fn serve_on_an_address_in_use_exits_1_naming_the_address() {
    let site = Site::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    site.write(
        "config.toml",
        service_config(CONFIG, "").replace("127.0.0.1:0", &addr.to_string()),
    );
    let (code, log) = serve_refused(&site, Some(SECRET));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("error: server.bind: cannot listen on {addr}: ")),
        "{log}"
    );
    drop(taken);
}

#[test]
fn serve_on_a_state_file_that_is_not_a_database_exits_2_naming_it() {
    let site = Site::new();
    site.write(
        "broadsheet.db",
        "a page of notes, not a database\n".repeat(200),
    );
    let (code, log) = serve_refused(&site, Some(SECRET));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("broadsheet.db: not a usable broadsheet database"),
        "{log}"
    );
    assert_eq!(
        site.read("broadsheet.db"),
        "a page of notes, not a database\n".repeat(200)
    );
}

#[test]
fn sigterm_stops_the_service_cleanly_after_sending_what_is_queued() {
    let site = Site::new();
    let service = site.start();
    let r = service.post("/subscribe", &sign_up_form("a@example.com", "", &[]));
    assert_page(&r, 200, "Check your inbox");
    let stopped = service.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.log);
    assert!(stopped.log.contains("stopped"), "{}", stopped.log);
    assert_eq!(site.emails().len(), 1);
}

#[test]
fn sigterm_does_not_wait_forever_for_a_client_that_never_finishes_its_request() {
    let site = Site::new();
    let service = site.start();
    let mut stalled = TcpStream::connect(service.addr).unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    assert_eq!(service.get("/healthz").status, 200);
    let stopped = service.stop();
    assert_eq!(
        stopped.code,
        Some(0),
        "still running {PATIENCE:?} after SIGTERM, held by a half-sent request head:\n{}",
        stopped.log
    );
    drop(stalled);
}

#[test]
fn the_access_log_never_shows_a_token_or_an_address() {
    let site = Site::new();
    let service = site.start();
    let email = "log.reader@example.org";
    let r = service.post("/subscribe", &sign_up_form(email, "Log Reader", &["ai"]));
    assert_page(&r, 200, "Check your inbox");
    let confirm = site.wait_for_email_to(email).token(&site.url(), "confirm");
    assert_page(
        &service.get(&format!("/confirm?token={confirm}")),
        200,
        "Confirm",
    );
    press_confirm(&service, &confirm);
    let s = site.subscriber(email).unwrap();
    let unsubscribe = token(s.id, email, Purpose::Unsubscribe, TOMORROW);
    assert_page(
        &service.get(&format!("/unsubscribe?token={unsubscribe}")),
        200,
        "Unsubscribe",
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(
        site.subscriber(email).unwrap().status,
        SubscriberStatus::Unsubscribed
    );

    let log = service.stop().log;
    for seen in ["path=/subscribe", "path=/confirm", "path=/unsubscribe"] {
        assert!(log.contains(seen), "no {seen} in the log:\n{log}");
    }
    for secret in [
        email,
        "log.reader",
        "example.org",
        "Log Reader",
        "token=",
        confirm.as_str(),
        confirm.split('.').next().unwrap(),
        unsubscribe.as_str(),
        unsubscribe.split('.').next().unwrap(),
        SECRET,
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

#[test]
fn a_flood_of_silent_connections_neither_stops_one_click_nor_stays_open() {
    let site = Site::new();
    // systemd's default soft limit, which 1,100 silent sockets exceed.
    site.open_files.set(Some(1024));
    let service = site.start();
    let (_, unsubscribe) = unsubscribable(&site);
    let silent: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(service.addr).unwrap())
        .collect();
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    // The newest of them is still open; having sent nothing, it is closed
    // once the header timeout passes.
    let mut last = silent.last().unwrap();
    last.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 64];
    match last.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{n} bytes to a connection that sent nothing"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("a silent connection still open after {PATIENCE:?}: {e}"),
    }
    drop(silent);
    assert_eq!(service.get("/healthz").status, 200);
}

/// How long the service waits on a reply its client takes nothing of.
const WRITE_BOUND: Duration = Duration::from_secs(15);

/// A connection whose receive buffer is as small as the system allows, as
/// a client that means to hold the service's replies up would open.
fn small_buffered(addr: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        socket.connect(addr).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
}

#[test]
fn clients_that_never_read_their_replies_neither_stop_one_click_nor_stay_open() {
    let site = Site::new();
    site.open_files.set(Some(1024));
    site.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-06-14T07:00:00+08:00",
            &"算力是新時代的基建。".repeat(3000),
        ),
    );
    site.build();
    let service = site.start();
    let (_, unsubscribe) = unsubscribable(&site);
    let feed = std::fs::metadata(site.path("feeds/all/atom.xml"))
        .unwrap()
        .len() as usize;
    assert!(feed > 64 * 1024, "a feed of {feed} bytes");
    let asks = 200;
    let every_reply = asks * feed;
    let pipelined = "GET /feeds/all/atom.xml HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(asks);
    let started = Instant::now();
    let unread: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = small_buffered(service.addr);
            s.write_all(pipelined.as_bytes()).unwrap();
            s
        })
        .collect();
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(service.get("/healthz").status, 200);
    // Once the bound has passed, each was closed: reading now gets what
    // was on its way and the end, not every reply asked for.
    std::thread::sleep(
        (started + WRITE_BOUND + Duration::from_secs(5)).saturating_duration_since(Instant::now()),
    );
    for (i, mut s) in unread.into_iter().enumerate() {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = 0;
        let mut buf = [0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("connection {i} still open after {got} bytes: {e}"),
            }
            assert!(
                got < every_reply,
                "connection {i} was sent all {asks} replies: it was never closed"
            );
        }
    }
    assert_eq!(service.get("/healthz").status, 200);
}

#[test]
fn emails_a_slow_relay_had_not_taken_at_sigterm_are_sent_after_a_restart() {
    let relay = crate::smtp::SmtpServer::start();
    relay.set(|b| b.delay = Duration::from_secs(3));
    let site = Site::with_server("emails_per_client_per_hour = 100");
    site.env.borrow_mut().extend([
        ("BROADSHEET_SMTP__HOST".to_owned(), "127.0.0.1".to_owned()),
        ("BROADSHEET_SMTP__PORT".to_owned(), relay.port.to_string()),
        (
            "BROADSHEET_SERVER__SHUTDOWN_EMAIL_SECONDS".to_owned(),
            "1".to_owned(),
        ),
    ]);
    let service = site.start();
    let readers: Vec<String> = (0..12).map(|i| format!("reader{i}@example.com")).collect();
    for r in &readers {
        let page = service.post("/subscribe", &sign_up_form(r, "", &[]));
        assert_page(&page, 200, "Check your inbox");
    }
    let stopped = service.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.log);
    assert!(stopped.log.contains("stay queued"), "{}", stopped.log);

    // Started again (mail now to the outbox): what was left goes out.
    site.env.borrow_mut().clear();
    let service = site.start();
    let relayed = relay.copies();
    let left: Vec<&String> = readers
        .iter()
        .filter(|r| !relayed.contains_key(r.as_str()))
        .collect();
    assert!(!left.is_empty(), "the relay took every email: {relayed:?}");
    for r in left {
        site.wait_for_email_to(r);
    }
    let stopped = service.stop();
    assert!(!stopped.log.contains("stay queued"), "{}", stopped.log);
}
