//! What a hostile or careless client sends: oversized and undecodable
//! forms, header injection, forms from other sites, floods of sign-ups,
//! addresses that route elsewhere; and that every refusal is a page.

use super::*;

#[test]
fn health_check_and_an_unknown_path() {
    let site = Site::new();
    let service = site.serve();
    let r = service.get("/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    assert_page(&service.get("/no/such/page"), 404, "Page not found");
}

#[test]
fn every_refusal_is_a_page_not_an_error_dump() {
    let site = Site::new();
    let service = site.serve();
    let origin = site.url();
    let oversized = format!("email=a%40example.com&name={}", "a".repeat(100 * 1024));
    let answers = [
        (
            "a link with the token twice",
            service.get("/confirm?token=a&token=b"),
            400,
        ),
        (
            "the sign-up address opened as a page",
            service.get("/subscribe"),
            405,
        ),
        (
            "an oversized form",
            service.request(
                "POST",
                "/subscribe",
                &[("Content-Type", FORM), ("Origin", &origin)],
                oversized.as_bytes(),
            ),
            413,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, r, status) in &answers {
        let is_page = r
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
            && r.body.starts_with(b"<!DOCTYPE html>");
        if r.status != *status || !is_page {
            wrong.push(format!(
                "{what}: {} {:?} {:?}",
                r.status,
                r.header("content-type"),
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    assert!(wrong.is_empty(), "not a page:\n{}", wrong.join("\n"));
}

#[test]
fn an_oversized_body_is_refused_with_413() {
    let site = Site::new();
    let service = site.serve();
    let origin = site.url();
    let body = format!("email=a%40example.com&name={}", "a".repeat(100 * 1024));
    let r = service.request(
        "POST",
        "/subscribe",
        &[("Content-Type", FORM), ("Origin", &origin)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 413);
    // The same without a length up front.
    let status = service.post_streamed(
        "/subscribe",
        &[("Content-Type", FORM), ("Origin", &origin)],
        body.as_bytes(),
    );
    assert_eq!(status, 413);
    assert!(site.subscribers().is_empty());
}

#[test]
fn a_name_that_is_not_utf8_is_refused_and_nothing_is_stored() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post("/subscribe", "email=a%40example.com&name=%FF");
    assert_page(&r, 400, "The form could not be read");
    let origin = site.url();
    let r = service.request(
        "POST",
        "/subscribe",
        &[("Content-Type", FORM), ("Origin", &origin)],
        b"email=a%40example.com&name=\xff\xfe",
    );
    assert_page(&r, 400, "The form could not be read");
    assert!(site.subscribers().is_empty());
    service.stop();
    assert!(site.emails().is_empty());
}

#[test]
fn a_line_break_in_the_name_cannot_add_a_header() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("a@example.com", "Eve\r\nBcc: victim@example.com", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("a@example.com");
    let confirm = mail.token(&site.url(), "confirm");
    press_confirm(&service, &confirm);
    assert_eq!(
        site.subscriber("a@example.com").unwrap().name,
        "Eve Bcc: victim@example.com"
    );
    assert!(
        !mail.header_names.iter().any(|h| h == "bcc" || h == "cc"),
        "{:?}",
        mail.header_names
    );
    assert_eq!(mail.recipients, 1);
    assert!(!mail.raw.contains("victim"), "{}", mail.raw);
}

#[test]
fn a_line_break_in_the_address_is_refused() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("a@example.com\r\nBcc: victim@example.com", "", &[]),
    );
    assert_page(&r, 400, "Please enter a valid email address");
    assert!(site.subscribers().is_empty());
    service.stop();
    assert!(site.emails().is_empty());
}

#[test]
fn what_was_typed_is_shown_back_escaped() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("\"><script>alert(1)</script>", "", &["ai"]),
    );
    assert_page(&r, 400, "Please enter a valid email address");
    let body = r.text();
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("&quot;&gt;&lt;script&gt;"), "{body}");
    assert!(site.subscribers().is_empty());
}

#[test]
fn a_filled_honeypot_gets_the_usual_answer_and_nothing_happens() {
    let site = Site::new();
    let service = site.serve();
    let robot = service.post(
        "/subscribe",
        &form(&[
            ("email", "robot@example.com"),
            ("name", "Cheap pills"),
            ("website", "https://spam.example"),
        ]),
    );
    let person = service.post("/subscribe", &sign_up_form("person@example.com", "", &[]));
    assert_page(&robot, 200, "Check your inbox");
    assert_eq!(robot.text(), person.text());
    assert_eq!(site.subscriber("robot@example.com"), None);
    site.wait_for_email_to("person@example.com");
    service.stop();
    let emails = site.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
}

#[test]
fn a_form_posted_from_another_site_is_refused() {
    let site = Site::new();
    let service = site.serve();
    let confirm = sign_up(&site, &service, "pending@example.com");
    let pending = site.subscriber("pending@example.com").unwrap();
    let active = site.add("active@example.com", "甲", "city");
    let preferences = token(
        active.id,
        "active@example.com",
        Purpose::Preferences,
        TOMORROW,
    );
    let look_alike = format!("{}.evil.example", site.url());
    let hostile: [&[(&str, &str)]; 5] = [
        &[("Origin", "https://evil.example")],
        &[("Origin", "null")],
        &[("Origin", look_alike.as_str())],
        &[("Origin", "http://127.0.0.1")],
        &[("Sec-Fetch-Site", "cross-site")],
    ];
    let forms = [
        ("/subscribe", sign_up_form("victim@example.com", "", &[])),
        ("/manage", form(&[("email", "active@example.com")])),
        ("/confirm", form(&[("token", &confirm)])),
        (
            "/preferences",
            form(&[
                ("token", &preferences),
                ("name", "Mallory"),
                ("columns", "ai"),
            ]),
        ),
    ];
    for headers in hostile {
        for (path, body) in &forms {
            let mut all = vec![("Content-Type", FORM)];
            all.extend_from_slice(headers);
            let r = service.request("POST", path, &all, body.as_bytes());
            assert_eq!(r.status, 403, "{path} with {headers:?}: {}", r.text());
            assert_page(&r, 403, "This form was not accepted");
        }
    }
    assert_eq!(site.subscriber("victim@example.com"), None);
    assert_eq!(site.subscriber("pending@example.com").unwrap(), pending);
    assert_eq!(site.subscriber("active@example.com").unwrap(), active);
    service.stop();
    let emails = site.emails();
    assert_eq!(emails.len(), 1, "only the sign-up's own email: {emails:?}");
}

#[test]
fn an_origin_that_only_matches_the_host_header_is_refused() {
    // DNS rebinding: a page on a name the attacker points at this machine
    // sends `Host` and `Origin` both naming it.
    let site = Site::new();
    let service = site.serve();
    let body = sign_up_form("a@example.com", "", &[]);
    let port = service.addr.port();
    let host = format!("rebound.example:{port}");
    let origin = format!("http://{host}");
    let r = service.request(
        "POST",
        "/subscribe",
        &[("Host", &host), ("Origin", &origin), ("Content-Type", FORM)],
        body.as_bytes(),
    );
    assert_page(&r, 403, "This form was not accepted");
    assert!(site.subscriber("a@example.com").is_none());
}

#[test]
fn one_address_gets_at_most_the_daily_number_of_emails() {
    let site =
        Site::with_server("emails_per_address_per_day = 2\nemails_per_client_per_hour = 100");
    let service = site.serve();
    let mut statuses = Vec::new();
    for email in [
        "a@example.com",
        "a@example.com",
        "a@EXAMPLE.com",
        "a@example.com",
    ] {
        let r = service.post("/subscribe", &sign_up_form(email, "", &[]));
        if r.status == 429 {
            assert_page(&r, 429, "Too many requests");
            assert_eq!(r.header("retry-after"), Some("3600"));
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let r = service.post("/manage", &form(&[("email", "a@example.com")]));
    assert_eq!(r.status, 429);
    // Another address is not held back.
    let r = service.post("/subscribe", &sign_up_form("b@example.com", "", &[]));
    assert_eq!(r.status, 200);
    service.stop();
    let to_a = site
        .emails()
        .iter()
        .filter(|m| m.to == "a@example.com")
        .count();
    assert_eq!(to_a, 2);
}

#[test]
fn sub_addresses_and_spellings_share_one_mailboxs_daily_limit() {
    let site = Site::new();
    let service = site.serve();
    for address in [
        "victim+1@example.com",
        "Victim+2@EXAMPLE.com",
        "victim@example.com",
    ] {
        let r = service.post("/subscribe", &sign_up_form(address, "", &[]));
        assert_page(&r, 200, "Check your inbox");
    }
    let r = service.post("/subscribe", &sign_up_form("victim+4@example.com", "", &[]));
    assert_page(&r, 429, "Too many requests");
    assert!(site.subscriber("victim+4@example.com").is_none());
}

#[test]
fn one_client_gets_at_most_the_hourly_number_of_emails() {
    let site = Site::with_server("emails_per_client_per_hour = 2");
    let service = site.serve();
    let origin = site.url();
    let post = |email: &str, forwarded: Option<&str>| {
        let mut headers = vec![("Content-Type", FORM), ("Origin", origin.as_str())];
        if let Some(f) = forwarded {
            headers.push(("X-Forwarded-For", f));
        }
        service
            .request(
                "POST",
                "/subscribe",
                &headers,
                sign_up_form(email, "", &[]).as_bytes(),
            )
            .status
    };
    assert_eq!(post("a@example.com", None), 200);
    assert_eq!(post("b@example.com", None), 200);
    assert_eq!(post("c@example.com", None), 429);
    // X-Forwarded-For is not believed unless the operator says so.
    assert_eq!(post("d@example.com", Some("203.0.113.9")), 429);
    assert_eq!(site.subscriber("c@example.com"), None);
    assert_eq!(site.subscriber("d@example.com"), None);
    service.stop();
    assert_eq!(site.emails().len(), 2);
}

#[test]
fn behind_a_trusted_proxy_each_client_is_counted_apart() {
    let site = Site::with_server("emails_per_client_per_hour = 1\ntrust_forwarded_for = true");
    let service = site.serve();
    let origin = site.url();
    let post = |email: &str, forwarded: &str| {
        service
            .request(
                "POST",
                "/subscribe",
                &[
                    ("Content-Type", FORM),
                    ("Origin", &origin),
                    ("X-Forwarded-For", forwarded),
                ],
                sign_up_form(email, "", &[]).as_bytes(),
            )
            .status
    };
    assert_eq!(post("a@example.com", "203.0.113.1"), 200);
    assert_eq!(post("b@example.com", "203.0.113.1"), 429);
    assert_eq!(post("b@example.com", "203.0.113.2"), 200);
    // Only the entry the proxy added counts: a client cannot prepend one.
    assert_eq!(post("c@example.com", "198.51.100.7, 203.0.113.1"), 429);
}

#[test]
fn the_form_refuses_addresses_that_route_elsewhere_or_hide_characters() {
    let site = Site::new();
    let service = site.serve();
    for (address, said) in [
        ("victim%example.org@example.com", "may not contain % or !"),
        ("example.org!victim@example.com", "may not contain % or !"),
        ("a@[127.0.0.1]", "not an [IP address]"),
        ("a@127.0.0.1", "not an IP address"),
        ("a@ex%61mple.com", "letters, digits, hyphens and dots only"),
        (
            "moc.elpmaxe\u{202e}@example.com",
            "Please enter a valid email address",
        ),
        ("讀者@example.com", "Before the @ only Latin letters"),
    ] {
        let r = service.post("/subscribe", &sign_up_form(address, "", &[]));
        assert_page(&r, 400, said);
        let r = service.post("/manage", &form(&[("email", address)]));
        assert_page(&r, 400, said);
    }
    assert!(site.subscribers().is_empty());

    // A domain in any script is sent in its ASCII form.
    let r = service.post(
        "/subscribe",
        &sign_up_form("reader@Bücher.example", "", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("reader@xn--bcher-kva.example");
    let to = mail
        .raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap();
    assert!(to.is_ascii(), "{to}");
    assert_eq!(site.subscribers().len(), 1);
    // Its other spelling is the same subscriber.
    let r = service.post(
        "/subscribe",
        &sign_up_form("reader@xn--bcher-kva.example", "", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    assert_eq!(site.subscribers().len(), 1);
}

#[test]
fn bidi_and_format_characters_never_reach_a_stored_name() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form(
            "a@example.com",
            "Send your password to \u{202e}elpmaxe.live\u{202c}\u{200b}",
            &[],
        ),
    );
    assert_page(&r, 200, "Check your inbox");
    let confirm = site
        .wait_for_email_to("a@example.com")
        .token(&site.url(), "confirm");
    press_confirm(&service, &confirm);
    assert_eq!(
        site.subscriber("a@example.com").unwrap().name,
        "Send your password to elpmaxe.live"
    );
}
