//! `POST /webhooks/…` on the service in this process: a verified event
//! changes its subscriber once, with the payload kept; a request that
//! fails verification changes nothing.

use super::*;

fn fixture(provider: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/webhooks/{provider}/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn site() -> Site {
    let base = format!(
        "{CONFIG}\n[webhooks]\npostmark_user = \"broadsheet\"\npostmark_password = \"correct-horse-battery-staple\"\nmailgun_signing_key = \"key-0123456789abcdef0123456789abcdef-broadsheet-test\"\n"
    );
    let site = Site::custom(&base, "");
    for who in [
        "reader.gone@example.com",
        "reader.annoyed@example.com",
        "reader.stays@example.com",
    ] {
        site.run(&["subscribers", "add", who]).expect_code(0);
    }
    site
}

fn status(site: &Site, email: &str) -> SubscriberStatus {
    site.subscriber(email).unwrap().status
}

const POSTMARK_AUTH: &str = "Basic YnJvYWRzaGVldDpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl";

#[test]
fn a_postmark_hard_bounce_marks_its_reader_once_and_a_wrong_password_nothing() {
    let site = site();
    let service = site.serve();
    let body = fixture("postmark", "bounce-hard.json");
    let wrong = service.request(
        "POST",
        "/webhooks/postmark",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Basic YnJvYWRzaGVldDp3cm9uZw=="),
        ],
        &body,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        status(&site, "reader.gone@example.com"),
        SubscriberStatus::Active
    );
    for _ in 0..2 {
        let ok = service.request(
            "POST",
            "/webhooks/postmark",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", POSTMARK_AUTH),
            ],
            &body,
        );
        assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    }
    assert_eq!(
        status(&site, "reader.gone@example.com"),
        SubscriberStatus::Bounced
    );
    assert_eq!(
        status(&site, "reader.stays@example.com"),
        SubscriberStatus::Active
    );
    let store = Store::open(&site.path("broadsheet.db")).unwrap();
    let id = site.subscriber("reader.gone@example.com").unwrap().id;
    let events = store.bounce_events(id).unwrap();
    assert_eq!(
        events.len(),
        1,
        "the same event twice is recorded once: {events:?}"
    );
    assert_eq!(events[0].source, "postmark");
    assert_eq!(
        store.bounce_evidence(events[0].id).unwrap().unwrap(),
        body,
        "the payload is the evidence"
    );
}

#[test]
fn a_mailgun_complaint_marks_its_reader_complained_and_a_tampered_one_nothing() {
    let site = site();
    // The fixtures were signed in March 2026; the service's clock says so.
    let service = site.serve_with(SECRET, "2026-03-03T00:10:00Z");
    let bad = service.request(
        "POST",
        "/webhooks/mailgun",
        &[("Content-Type", "application/json")],
        &fixture("mailgun", "failed-permanent-bad-signature.json"),
    );
    assert_eq!(bad.status, 401);
    assert_eq!(
        status(&site, "reader.gone@example.com"),
        SubscriberStatus::Active
    );
    let ok = service.request(
        "POST",
        "/webhooks/mailgun",
        &[("Content-Type", "application/json")],
        &fixture("mailgun", "complained.json"),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        status(&site, "reader.annoyed@example.com"),
        SubscriberStatus::Complained
    );
    // A provider with no key set is not taken at all.
    let none = service.request(
        "POST",
        "/webhooks/sendgrid",
        &[("Content-Type", "application/json")],
        &fixture("sendgrid", "events.json"),
    );
    assert_eq!(none.status, 404);
    assert_eq!(
        status(&site, "reader.stays@example.com"),
        SubscriberStatus::Active
    );
}
