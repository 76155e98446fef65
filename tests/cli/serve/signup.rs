//! The sign-up form and what posting it does; asking for a preferences
//! link by address.

use super::*;

#[test]
fn the_sign_up_page_offers_every_column_and_a_honeypot() {
    let site = Site::new();
    let service = site.serve();
    let r = service.get("/");
    assert_page(
        &r,
        200,
        r#"<form id="subscribe" method="post" action="subscribe">"#,
    );
    let body = r.text();
    for slug in ["ai", "city"] {
        assert!(
            body.contains(&format!(
                r#"<input type="checkbox" name="columns" value="{slug}">"#
            )),
            "{body}"
        );
    }
    assert!(body.contains("鑰匙與未來") && body.contains("城市筆記"));
    assert!(body.contains(r#"<input type="text" id="website" name="website" value="""#));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("frame-ancestors 'none'")));
}

#[test]
fn column_titles_are_escaped_on_the_sign_up_page() {
    let site = Site::custom(&CONFIG.replace("鑰匙與未來", "<b>&"), "");
    let service = site.serve();
    let r = service.get("/");
    assert_page(&r, 200, "&lt;b&gt;&amp;");
    assert!(!r.text().contains("<b>&"), "{}", r.text());
}

#[test]
fn a_sign_up_is_stored_as_pending_and_mailed_one_confirmation_link() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("Reader@Example.COM", "陳讀者", &["ai"]),
    );
    assert_page(&r, 200, "Check your inbox");
    let s = site.subscriber("Reader@example.com").unwrap();
    assert_eq!(s.email, "Reader@Example.COM");
    assert_eq!(s.status, SubscriberStatus::Pending);
    // What the form chose waits with the request, not on the record.
    assert_eq!(s.name, "");
    assert!(s.columns.is_empty());

    let mail = site.wait_for_email_to("Reader@Example.COM");
    let token = mail.token(&site.url(), "confirm");
    let claims = Signer::new(SECRET)
        .verify(
            &token,
            "Reader@example.com",
            Purpose::Confirm,
            chrono::DateTime::parse_from_rfc3339(CLOCK).unwrap(),
        )
        .expect("a confirmation token for this address");
    assert!(!claims.legacy);
    press_confirm(&service, &token);
    assert_standing(
        &site,
        "Reader@example.com",
        SubscriberStatus::Active,
        "陳讀者",
        &["ai".to_owned()],
    );
    service.stop();
    // The confirmation, then the welcome.
    let subjects: Vec<String> = site.emails().into_iter().map(|m| m.subject).collect();
    assert_eq!(
        subjects,
        [
            "請確認訂閱 Confirm your subscription · 論壇",
            "歡迎訂閱 Welcome · 論壇"
        ]
    );
}

#[test]
fn the_confirmation_email_goes_to_the_bare_address_and_never_carries_the_name() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("reader@example.com", "Win a prize at spam.example", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    assert_eq!(site.subscriber("reader@example.com").unwrap().name, "");
    let mail = site.wait_for_email_to("reader@example.com");
    assert_eq!(mail.to_name, None, "{}", mail.raw);
    assert_eq!(mail.recipients, 1);
    for (part, text) in [
        ("raw", &mail.raw),
        ("text", &mail.text),
        ("html", &mail.html),
    ] {
        assert!(
            !text.contains("spam.example") && !text.contains("prize"),
            "the name is in the {part}:\n{text}"
        );
    }
    assert!(mail.subject_raw.is_ascii(), "{}", mail.subject_raw);
    assert!(
        mail.subject_raw.to_ascii_lowercase().contains("=?utf-8?"),
        "{}",
        mail.subject_raw
    );
    assert_eq!(mail.subject, "請確認訂閱 Confirm your subscription · 論壇");
    assert!(mail.text.contains("Please confirm your subscription"));
}

#[test]
fn an_active_address_gets_the_same_answer_and_a_preferences_link_instead() {
    let site = Site::new();
    let service = site.serve();
    let known = site.add("known@example.com", "甲", "city");
    let to_known = service.post(
        "/subscribe",
        &sign_up_form("known@example.com", "乙", &["ai"]),
    );
    let to_new = service.post(
        "/subscribe",
        &sign_up_form("new@example.com", "乙", &["ai"]),
    );
    assert_page(&to_known, 200, "Check your inbox");
    assert_eq!(to_known.status, to_new.status);
    assert_eq!(to_known.text(), to_new.text());
    assert_eq!(site.subscriber("known@example.com").unwrap(), known);
    assert_eq!(
        site.subscriber("new@example.com").unwrap().status,
        SubscriberStatus::Pending
    );

    let mail = site.wait_for_email_to("known@example.com");
    assert_eq!(mail.subject, "你的訂閱設定 Your subscription · 論壇");
    assert!(!mail.text.contains("/confirm?token="), "{}", mail.text);
    let token = mail.token(&site.url(), "preferences");
    let page = service.get(&format!("/preferences?token={token}"));
    assert_page(&page, 200, r#"<form id="preferences""#);
    assert!(page.text().contains(r#"value="甲""#));
    site.wait_for_email_to("new@example.com")
        .token(&site.url(), "confirm");
}

#[test]
fn ticking_every_column_is_stored_as_following_all_of_them() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("a@example.com", "", &["ai", "city", "ai"]),
    );
    assert_page(&r, 200, "Check your inbox");
    assert!(site.subscriber("a@example.com").unwrap().columns.is_empty());
}

#[test]
fn a_sign_up_never_undoes_an_unsubscribe_until_the_owner_confirms() {
    let site = Site::new();
    let service = site.serve();
    let s = site.add("gone@example.com", "原名", "ai");
    let unsubscribe = token(
        s.id,
        "gone@example.com",
        Purpose::Unsubscribe,
        "2027-01-01T00:00:00+08:00",
    );
    let r = service.post(
        &format!("/unsubscribe?token={unsubscribe}"),
        "List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    let before = site.subscriber("gone@example.com").unwrap();
    assert_eq!(before.status, SubscriberStatus::Unsubscribed);

    // A stranger fills the form in with the address, another name and
    // other columns: the record does not move, and only its owner is
    // asked to confirm.
    let confirm = {
        let r = service.post(
            "/subscribe",
            &sign_up_form("gone@example.com", "Win a prize", &["city"]),
        );
        assert_page(&r, 200, "Check your inbox");
        site.wait_for_email_to("gone@example.com")
            .token(&site.url(), "confirm")
    };
    assert_eq!(site.subscriber("gone@example.com").unwrap(), before);
    // Its link shows what confirming it would apply.
    assert_page(
        &service.get(&format!("/confirm?token={confirm}")),
        200,
        "Name: Win a prize",
    );
    assert_eq!(site.subscriber("gone@example.com").unwrap(), before);
}

#[test]
fn a_strangers_sign_up_cannot_choose_the_name_and_columns_the_owner_confirms() {
    let site = Site::new();
    let service = site.serve();
    let victim = "victim@example.com";
    let r = service.post(
        "/subscribe",
        &sign_up_form(victim, "Send your password to evil.example", &["city"]),
    );
    assert_page(&r, 200, "Check your inbox");
    let r = service.post("/subscribe", &sign_up_form(victim, "陳讀者", &["ai"]));
    assert_page(&r, 200, "Check your inbox");
    // The owner follows the link of their own sign-up, which shows their
    // choices; the stranger's link shows the stranger's.
    let mut own = None;
    for mail in site.wait_for_emails_to(victim, 2) {
        let token = mail.token(&site.url(), "confirm");
        let page = service.get(&format!("/confirm?token={token}")).text();
        if page.contains("Name: 陳讀者") {
            assert!(page.contains("Columns: 鑰匙與未來"), "{page}");
            own = Some(token);
        } else {
            assert!(page.contains("Name: Send your password"), "{page}");
        }
    }
    let own = own.expect("a confirmation link for the owner's own sign-up");
    press_confirm(&service, &own);
    assert_standing(
        &site,
        victim,
        SubscriberStatus::Active,
        "陳讀者",
        &["ai".to_owned()],
    );
}

#[test]
fn asking_for_a_link_mails_a_known_address_and_answers_a_stranger_the_same() {
    let site = Site::new();
    let service = site.serve();
    let known = site.add("known@example.com", "甲", "");
    let to_known = service.post("/manage", &form(&[("email", "known@example.com")]));
    let to_stranger = service.post("/manage", &form(&[("email", "stranger@example.com")]));
    assert_page(&to_known, 200, "Check your inbox");
    assert_eq!(to_known.status, to_stranger.status);
    assert_eq!(to_known.text(), to_stranger.text());

    let mail = site.wait_for_email_to("known@example.com");
    assert_eq!(mail.subject, "你的訂閱設定 Your subscription · 論壇");
    let token = mail.token(&site.url(), "preferences");
    assert_page(
        &service.get(&format!("/preferences?token={token}")),
        200,
        r#"<form id="preferences""#,
    );
    service.stop();
    let emails = site.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(site.subscribers(), [known]);
}

/// Reads a service email back with mail-parser and checks what every one
/// must carry, and what none may: from the digest's sender to the bare
/// address, dated by the service's clock, a Message-ID of its kind, and
/// none of a list's headers (it is about one reader's own subscription,
/// and belongs to no list).
#[track_caller]
fn assert_service_email(bytes: &[u8], kind: &str, to: &str, subject: &str) {
    let raw = String::from_utf8_lossy(bytes);
    let m = MessageParser::default()
        .parse(bytes)
        .expect("mail-parser reads the message");
    assert_eq!(m.subject(), Some(subject));
    let subject_raw = m.header_raw("Subject").unwrap().trim();
    assert!(subject_raw.starts_with("=?utf-8?b?"), "{subject_raw}");
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("論壇"), Some("digest@news.example.com"))
    );
    let recipient = m.to().unwrap().first().unwrap();
    assert_eq!((recipient.name(), recipient.address()), (None, Some(to)));
    assert_eq!(m.to().unwrap().iter().count(), 1);
    assert_eq!(
        m.date().map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-06-15T08:00:00+08:00")
    );
    let seconds = chrono::DateTime::parse_from_rfc3339(CLOCK)
        .unwrap()
        .timestamp();
    let id = m.message_id().unwrap();
    let (local, domain) = id.split_once('@').unwrap();
    let digest = local
        .strip_prefix(&format!("broadsheet.{kind}.{seconds}."))
        .unwrap_or_else(|| panic!("{id}"));
    assert!(
        domain == "news.example.com"
            && digest.len() == 24
            && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    for absent in [
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Precedence",
        "Bcc",
        "Cc",
    ] {
        assert!(m.header_raw(absent).is_none(), "{absent} in\n{raw}");
    }
}

/// Golden file: a confirmation email, whole, as the service queues it at a
/// fixed time for the first sign-up of a fresh state. A name that tries to
/// add a header reaches no header (nor the email).
#[test]
fn a_confirmation_email_is_the_same_to_the_byte_for_the_same_inputs() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form(
            "reader@example.com",
            "陳讀者\r\nBcc: evil@example.com",
            &["ai"],
        ),
    );
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("reader@example.com");
    service.stop();
    insta::assert_snapshot!("confirmation_email", golden_text(mail.raw.as_bytes()));
    assert_service_email(
        mail.raw.as_bytes(),
        "confirm",
        "reader@example.com",
        "請確認訂閱 Confirm your subscription · 論壇",
    );
    assert!(!mail.raw.contains("evil"), "{}", mail.raw);
    assert!(mail.text.contains("Please confirm your subscription"));
}

/// Golden file: a preferences email, whole, as the service queues it at a
/// fixed time for a known address that asked for one.
#[test]
fn a_preferences_email_is_the_same_to_the_byte_for_the_same_inputs() {
    let site = Site::new();
    let service = site.serve();
    site.add("known@example.com", "甲", "");
    let r = service.post("/manage", &form(&[("email", "known@example.com")]));
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("known@example.com");
    service.stop();
    insta::assert_snapshot!("manage_email", golden_text(mail.raw.as_bytes()));
    assert_service_email(
        mail.raw.as_bytes(),
        "manage",
        "known@example.com",
        "你的訂閱設定 Your subscription · 論壇",
    );
    mail.token(&site.url(), "preferences");
}

/// A service email follows from what it is: the same sign-up on two fresh
/// states at the same time is the same message to the byte, while the
/// same address signing up again later gets another Message-ID.
#[test]
fn two_confirmation_emails_differ_only_when_they_are_different_emails() {
    let first = Site::new();
    let second = Site::new();
    for site in [&first, &second] {
        let service = site.serve();
        sign_up(site, &service, "reader@example.com");
        service.stop();
    }
    let (a, b) = (first.emails(), second.emails());
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].raw, b[0].raw);

    let later = first.serve_with(SECRET, TOMORROW);
    let r = later.post("/subscribe", &sign_up_form("reader@example.com", "", &[]));
    assert_page(&r, 200, "Check your inbox");
    let mails = first.wait_for_emails_to("reader@example.com", 2);
    later.stop();
    let ids: Vec<String> = mails
        .iter()
        .map(|m| {
            let parsed = MessageParser::default().parse(m.raw.as_bytes()).unwrap();
            parsed.message_id().unwrap().to_owned()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn a_service_email_is_dated_in_the_sites_zone_whatever_the_servers_clock_says() {
    let site = Site::new();
    // A server's clock in UTC, as most are.
    let service = site.serve_with(SECRET, "2026-06-15T00:30:00Z");
    let r = service.post("/subscribe", &sign_up_form("reader@example.com", "", &[]));
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("reader@example.com");
    let date = mail
        .raw
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .expect("a Date header");
    assert!(date.ends_with(" 08:30:00 +0800"), "{date}");
}
