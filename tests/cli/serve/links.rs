//! Signed links: confirming, one-click unsubscribe, preferences; what a
//! damaged, expired, misused or rotated link gets.

use super::*;

#[test]
fn opening_the_confirmation_link_shows_a_button_and_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let token = sign_up(&site, &service, "a@example.com");
    let before = site.subscriber("a@example.com").unwrap();
    for _ in 0..2 {
        let r = service.get(&format!("/confirm?token={token}"));
        assert_page(
            &r,
            200,
            r#"<form id="confirm" method="post" action="confirm">"#,
        );
        assert!(r
            .text()
            .contains(&format!(r#"name="token" value="{token}""#)));
    }
    assert_eq!(site.subscriber("a@example.com").unwrap(), before);
    assert_eq!(before.status, SubscriberStatus::Pending);
}

#[test]
fn pressing_confirm_activates_and_pressing_it_again_is_harmless() {
    let site = Site::new();
    let service = site.serve();
    let token = sign_up(&site, &service, "a@example.com");
    let r = service.post("/confirm", &form(&[("token", &token)]));
    assert_page(&r, 200, "You are subscribed");
    let active = site.subscriber("a@example.com").unwrap();
    assert_eq!(active.status, SubscriberStatus::Active);
    let again = service.post("/confirm", &form(&[("token", &token)]));
    assert_page(&again, 200, "You are subscribed");
    assert_eq!(site.subscriber("a@example.com").unwrap(), active);
    assert_page(
        &service.get(&format!("/confirm?token={token}")),
        200,
        "Already confirmed",
    );
}

#[test]
fn a_confirmation_link_works_for_48_hours_then_gets_a_friendly_410() {
    let site = Site::new();
    let token = {
        let service = site.serve();
        sign_up(&site, &service, "a@example.com")
    };
    let before = site.subscriber("a@example.com").unwrap();
    {
        let service = site.serve_with(SECRET, "2026-06-17T07:59:59+08:00");
        assert_page(
            &service.get(&format!("/confirm?token={token}")),
            200,
            "Confirm",
        );
    }
    let service = site.serve_with(SECRET, "2026-06-17T08:00:00+08:00");
    assert_page(
        &service.get(&format!("/confirm?token={token}")),
        410,
        "This link has expired",
    );
    assert_page(
        &service.post("/confirm", &form(&[("token", &token)])),
        410,
        "This link has expired",
    );
    assert_eq!(site.subscriber("a@example.com").unwrap(), before);
}

#[test]
fn an_expired_link_of_any_kind_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let s = site.add("a@example.com", "甲", "ai");
    let gone = "2026-06-15T07:59:59+08:00";
    let unsubscribe = token(s.id, "a@example.com", Purpose::Unsubscribe, gone);
    let preferences = token(s.id, "a@example.com", Purpose::Preferences, gone);
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 410, "This link has expired");
    let r = service.post(
        "/preferences",
        &form(&[("token", &preferences), ("name", "乙")]),
    );
    assert_page(&r, 410, "This link has expired");
    assert_eq!(site.subscriber("a@example.com").unwrap(), s);
}

/// `token` with the character at `at` replaced by another base64url one.
fn flip(token: &str, at: usize) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn a_damaged_or_doctored_link_is_refused_and_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let token = sign_up(&site, &service, "a@example.com");
    let before = site.subscriber("a@example.com").unwrap();
    let (payload, mac) = token.split_once('.').unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (id, rest) = claims.split_once('.').unwrap();
    let expires: i64 = rest.split_once('.').unwrap().1.parse().unwrap();
    let with_payload = |p: String| format!("{}.{mac}", URL_SAFE_NO_PAD.encode(p));
    let cases = [
        (
            "a flipped MAC",
            flip(&token, payload.len() + 1 + mac.len() / 2),
            403,
        ),
        ("a MAC cut short", token[..token.len() - 3].to_owned(), 403),
        ("no MAC", payload.to_owned(), 400),
        ("half a payload", token[..payload.len() / 2].to_owned(), 400),
        ("garbage", "garbage".to_owned(), 400),
        ("nothing", String::new(), 400),
        ("bytes that are not UTF-8", "%FF%FE".to_owned(), 400),
        (
            "a later expiry",
            with_payload(format!("{id}.c.{}", expires + 86_400 * 365)),
            403,
        ),
        (
            "another purpose",
            with_payload(format!("{id}.p.{expires}")),
            403,
        ),
    ];
    for (what, bad, status) in &cases {
        let r = service.get(&format!("/confirm?token={bad}"));
        assert_eq!(r.status, *status, "GET with {what}: {}", r.text());
        assert_page(&r, *status, "</h1>");
        let r = service.post("/confirm", &format!("token={bad}"));
        assert_eq!(r.status, *status, "POST with {what}: {}", r.text());
        assert_page(&r, *status, "</h1>");
    }
    assert_eq!(site.subscriber("a@example.com").unwrap(), before);
    // The real one still works: the refusals were about the links.
    press_confirm(&service, &token);
}

#[test]
fn a_link_made_for_one_purpose_does_nothing_for_another() {
    let site = Site::new();
    let service = site.serve();
    let confirm = sign_up(&site, &service, "pending@example.com");
    let pending = site.subscriber("pending@example.com").unwrap();
    let active = site.add("active@example.com", "甲", "ai");

    let unsubscribe = token(
        pending.id,
        "pending@example.com",
        Purpose::Unsubscribe,
        TOMORROW,
    );
    assert_page(
        &service.get(&format!("/confirm?token={unsubscribe}")),
        403,
        "This link does not work",
    );
    assert_page(
        &service.post("/confirm", &form(&[("token", &unsubscribe)])),
        403,
        "This link does not work",
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={confirm}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 403, "This link does not work");
    assert_eq!(site.subscriber("pending@example.com").unwrap(), pending);

    let preferences = token(
        active.id,
        "active@example.com",
        Purpose::Preferences,
        TOMORROW,
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={preferences}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 403, "This link does not work");
    let unsubscribe = token(
        active.id,
        "active@example.com",
        Purpose::Unsubscribe,
        TOMORROW,
    );
    let r = service.post(
        "/preferences",
        &form(&[("token", &unsubscribe), ("name", "乙"), ("columns", "city")]),
    );
    assert_page(&r, 403, "This link does not work");
    assert_eq!(site.subscriber("active@example.com").unwrap(), active);
}

#[test]
fn a_link_for_one_subscriber_does_nothing_for_another() {
    let site = Site::new();
    let service = site.serve();
    let a = site.add("a@example.com", "甲", "");
    let b = site.add("b@example.com", "乙", "");
    let one_click = |t: &str| {
        service.request(
            "POST",
            &format!("/unsubscribe?token={t}"),
            &[("Content-Type", FORM)],
            b"List-Unsubscribe=One-Click",
        )
    };
    // Signed for A's id but B's address.
    let mixed = token(a.id, "b@example.com", Purpose::Unsubscribe, TOMORROW);
    assert_page(&one_click(&mixed), 403, "This link does not work");
    // B's own link with A's id written into it.
    let b_token = token(b.id, "b@example.com", Purpose::Unsubscribe, TOMORROW);
    let (payload, mac) = b_token.split_once('.').unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (_, rest) = claims.split_once('.').unwrap();
    let replayed = format!(
        "{}.{mac}",
        URL_SAFE_NO_PAD.encode(format!("{}.{rest}", a.id))
    );
    assert_page(&one_click(&replayed), 403, "This link does not work");
    assert_eq!(site.subscriber("a@example.com").unwrap(), a);
    assert_eq!(site.subscriber("b@example.com").unwrap(), b);
    // B's link unsubscribes B, and only B.
    assert_page(&one_click(&b_token), 200, "You are unsubscribed");
    assert_eq!(
        site.subscriber("b@example.com").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    assert_eq!(site.subscriber("a@example.com").unwrap(), a);
}

#[test]
fn rotating_the_secret_voids_every_link_with_a_friendly_page() {
    let site = Site::new();
    let confirm = {
        let service = site.serve();
        sign_up(&site, &service, "pending@example.com")
    };
    let active = site.add("active@example.com", "", "");
    let unsubscribe = token(
        active.id,
        "active@example.com",
        Purpose::Unsubscribe,
        TOMORROW,
    );
    let pending = site.subscriber("pending@example.com").unwrap();

    let service = site.serve_with("a-new-secret-after-a-leak", CLOCK);
    assert_page(
        &service.get(&format!("/confirm?token={confirm}")),
        403,
        "This link does not work",
    );
    assert_page(
        &service.post("/confirm", &form(&[("token", &confirm)])),
        403,
        "This link does not work",
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 403, "Get a new link");
    assert_eq!(site.subscriber("pending@example.com").unwrap(), pending);
    assert_eq!(site.subscriber("active@example.com").unwrap(), active);
}

/// A link of the first token format, with the subscriber's number in
/// clear, as digests mailed before ids were hidden carry.
fn first_format_token(id: i64, email: &str, purpose: &str, expires: &str) -> String {
    use hmac::{Hmac, Mac};
    let expires = chrono::DateTime::parse_from_rfc3339(expires)
        .unwrap()
        .timestamp();
    let payload = format!("{id}.{purpose}.{expires}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    mac.update(b"\n");
    mac.update(Email::parse(email).unwrap().key().as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn links_never_show_the_subscribers_number_and_old_links_still_work() {
    let site = Site::new();
    let service = site.serve();
    let first = site.add("first@example.com", "", "");
    let confirm = sign_up(&site, &service, "second@example.com");
    let second = site.subscriber("second@example.com").unwrap();
    let shown = |token: &str| {
        String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(token.split_once('.').unwrap().0)
                .unwrap(),
        )
        .unwrap()
    };
    for token in [
        confirm.clone(),
        token(
            first.id,
            "first@example.com",
            Purpose::Unsubscribe,
            TOMORROW,
        ),
    ] {
        let payload = shown(&token);
        let id = payload.split('.').next().unwrap();
        assert!(
            id.parse::<i64>().is_err() && id.len() > 10,
            "a number in {payload}"
        );
    }
    assert_ne!(second.id.to_string(), shown(&confirm));

    // A digest mailed before keeps its one-click link until it expires.
    let old = first_format_token(first.id, "first@example.com", "u", TOMORROW);
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={old}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(
        site.subscriber("first@example.com").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    // And a confirmation mailed before confirms its subscriber.
    let old = first_format_token(second.id, "second@example.com", "c", TOMORROW);
    press_confirm(&service, &old);
    assert_eq!(
        site.subscriber("second@example.com").unwrap().status,
        SubscriberStatus::Active
    );
}

#[test]
fn one_click_unsubscribe_works_exactly_as_a_mailbox_provider_sends_it() {
    let site = Site::new();
    let service = site.serve();
    let (_, token) = unsubscribable(&site);
    // RFC 8058 §3.1: multipart/form-data, no cookies, no Origin.
    let boundary = "---FormBoundaryjWmhtjORrn";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={token}"),
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )],
        body.as_bytes(),
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(
        site.subscriber("reader@example.com").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
}

#[test]
fn one_click_unsubscribe_takes_a_urlencoded_body_and_a_repeat_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = unsubscribable(&site);
    let one_click = || {
        service.request(
            "POST",
            &format!("/unsubscribe?token={token}"),
            &[("Content-Type", FORM)],
            b"List-Unsubscribe=One-Click",
        )
    };
    assert_page(&one_click(), 200, "You are unsubscribed");
    let after = site.subscriber("reader@example.com").unwrap();
    assert_eq!(after.status, SubscriberStatus::Unsubscribed);
    assert_eq!((&after.name, &after.columns), (&s.name, &s.columns));
    assert_page(&one_click(), 200, "You are unsubscribed");
    assert_eq!(site.subscriber("reader@example.com").unwrap(), after);
}

#[test]
fn opening_the_unsubscribe_link_only_shows_a_button() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = unsubscribable(&site);
    for _ in 0..2 {
        let r = service.get(&format!("/unsubscribe?token={token}"));
        assert_page(&r, 200, r#"<form id="unsubscribe" method="post""#);
        assert!(r
            .text()
            .contains(r#"name="List-Unsubscribe" value="One-Click""#));
    }
    assert_eq!(site.subscriber("reader@example.com").unwrap(), s);
}

/// An active subscriber following `city`, and a preferences token.
fn with_preferences(site: &Site) -> (Subscriber, String) {
    let s = site.add("reader@example.com", "甲", "city");
    let t = token(s.id, "reader@example.com", Purpose::Preferences, TOMORROW);
    (s, t)
}

#[test]
fn the_preferences_page_shows_the_columns_followed() {
    let site = Site::new();
    let service = site.serve();
    let (_, token) = with_preferences(&site);
    let r = service.get(&format!("/preferences?token={token}"));
    assert_page(&r, 200, r#"<form id="preferences""#);
    let body = r.text();
    assert!(body.contains(r#"<input type="checkbox" name="columns" value="city" checked>"#));
    assert!(body.contains(r#"<input type="checkbox" name="columns" value="ai">"#));
    assert!(body.contains(r#"name="name" value="甲""#));
}

#[test]
fn saving_preferences_stores_the_name_and_columns() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = with_preferences(&site);
    let r = service.post(
        "/preferences",
        &form(&[
            ("token", &token),
            ("name", "乙"),
            ("columns", "ai"),
            ("action", "save"),
        ]),
    );
    assert_page(&r, 200, "Saved.");
    assert!(r
        .text()
        .contains(r#"<input type="checkbox" name="columns" value="ai" checked>"#));
    let after = site.subscriber("reader@example.com").unwrap();
    assert_eq!(after.id, s.id);
    assert_eq!(after.name, "乙");
    assert_eq!(after.columns, ["ai"]);
    assert_eq!(after.status, SubscriberStatus::Active);
}

#[test]
fn a_preferences_link_never_brings_back_a_reader_who_left_without_a_fresh_confirmation() {
    let site = Site::new();
    let service = site.serve();
    let (_, token) = with_preferences(&site);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("action", "unsubscribe")]),
    );
    assert_page(&r, 200, "You are unsubscribed");
    let left = site.subscriber("reader@example.com").unwrap();
    assert_eq!(left.status, SubscriberStatus::Unsubscribed);

    // Whoever holds the link (a forwarded digest) offers no save, and a
    // save posted anyway changes nothing but asks the address to confirm.
    let page = service.get(&format!("/preferences?token={token}"));
    assert_page(&page, 200, "Email me a confirmation");
    assert!(!page.text().contains(r#"value="save""#), "{}", page.text());
    for action in ["save", "resubscribe"] {
        let r = service.post(
            "/preferences",
            &form(&[
                ("token", &token),
                ("action", action),
                ("name", "甲"),
                ("columns", "city"),
            ]),
        );
        assert_page(&r, 200, "Check your inbox");
        assert_eq!(site.subscriber("reader@example.com").unwrap(), left);
    }

    // The owner confirms from the email: back, with what they chose.
    let mails = site.wait_for_emails_to("reader@example.com", 2);
    let confirm = mails[0].token(&site.url(), "confirm");
    let page = service.get(&format!("/confirm?token={confirm}"));
    assert_page(&page, 200, "Columns: 城市筆記");
    press_confirm(&service, &confirm);
    assert_standing(
        &site,
        "reader@example.com",
        SubscriberStatus::Active,
        "甲",
        &["city".to_owned()],
    );
}

#[test]
fn an_unknown_column_or_a_long_name_is_refused_and_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = with_preferences(&site);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("name", "乙"), ("columns", "sport")]),
    );
    assert_page(&r, 400, "There is no such column");
    let long = "字".repeat(101);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("name", &long), ("columns", "ai")]),
    );
    assert_page(&r, 400, "The name is too long");
    assert_eq!(site.subscriber("reader@example.com").unwrap(), s);
    // A hundred characters is not too long.
    let hundred = "字".repeat(100);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("name", &hundred)]),
    );
    assert_page(&r, 200, "Saved.");
    assert_eq!(site.subscriber("reader@example.com").unwrap().name, hundred);
}
