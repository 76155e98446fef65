//! What a newsroom needs before launch: the personal information
//! collection statement on the sign-up form, the welcome email after
//! confirming, and a confirmation page that says when the first issue
//! comes.

use super::*;

#[test]
fn the_sign_up_form_carries_a_bilingual_privacy_notice_by_default() {
    let site = Site::new();
    let service = site.serve();
    let r = service.get("/");
    assert_page(&r, 200, r#"<section class="privacy" id="privacy""#);
    let body = r.text();
    for words in [
        "個人資料收集聲明",
        "Personal Information Collection Statement",
        "只用於寄送論壇的每週精選",
        "only to send you the weekly digest of 論壇",
        "《個人資料（私隱）條例》",
        "Personal Data (Privacy) Ordinance",
        "取消訂閱",
        "link to unsubscribe",
        // Whom to write to: the digest's sender.
        "請電郵至 digest@news.example.com",
        "email digest@news.example.com",
    ] {
        assert!(body.contains(words), "{words:?} is not in\n{body}");
    }
    // The statement comes before the button that sends the address.
    assert!(
        body.find(r##"href="#privacy""##).unwrap()
            < body.find(r#"<button type="submit">"#).unwrap(),
        "{body}"
    );
    assert!(!body.contains("Our full privacy policy"), "{body}");
}

#[test]
fn a_privacy_notice_and_url_from_the_config_are_shown_escaped() {
    let site = Site::with_server(
        "privacy_notice = \"\"\"<b>本報</b>收集你的電郵地址。\n\nWe & only we keep it.\"\"\"\n\
         privacy_url = \"https://news.example.com/privacy?lang=zh&v=2\"",
    );
    let service = site.serve();
    let body = service.get("/").text();
    assert!(
        body.contains("<p>&lt;b&gt;本報&lt;/b&gt;收集你的電郵地址。</p>"),
        "{body}"
    );
    assert!(body.contains("<p>We &amp; only we keep it.</p>"), "{body}");
    assert!(
        body.contains(r#"<a href="https://news.example.com/privacy?lang&#x3D;zh&amp;v&#x3D;2">私隱政策全文 Our full privacy policy</a>"#),
        "{body}"
    );
    assert!(
        !body.contains("Personal Data (Privacy) Ordinance"),
        "{body}"
    );
}

#[test]
fn a_privacy_url_that_is_no_url_and_an_overlong_notice_are_refused_naming_the_key() {
    let long = "字".repeat(2001);
    let site = Site::with_server(&format!(
        "privacy_notice = \"{long}\"\nprivacy_url = \"privacy.html\""
    ));
    let run = site.run(&["check"]).expect_code(2);
    assert!(
        run.stderr.contains(
            "server.privacy_url: expected an absolute http(s) URL, found \"privacy.html\""
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("server.privacy_notice: expected at most 2000 characters, found 2001"),
        "{}",
        run.stderr
    );
    // 2,000 characters is within the bound.
    let site = Site::with_server(&format!("privacy_notice = \"{}\"", "字".repeat(2000)));
    site.run(&["check"]).expect_code(0);
}

#[test]
fn the_confirmation_button_page_links_the_privacy_notice() {
    // A column page's short form carries no statement of its own.
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &form(&[("email", "reader@example.com"), ("columns", "ai")]),
    );
    assert_page(&r, 200, "Check your inbox");
    let token = site
        .wait_for_email_to("reader@example.com")
        .token(&site.url(), "confirm");
    let page = service.get(&format!("/confirm?token={token}"));
    assert_page(
        &page,
        200,
        r##"<a href="./#privacy">個人資料收集聲明：我們如何使用你的資料 Personal Information Collection Statement: how we use your data</a>"##,
    );
    // Where it leads: the statement on the sign-up page.
    assert_page(&service.get("/"), 200, r#"id="privacy""#);
}

/// Signs `email` up for `columns` and presses the confirmation button;
/// returns the page it answers.
fn sign_up_and_confirm(site: &Site, service: &Http, email: &str, columns: &[&str]) -> Response {
    let r = service.post("/subscribe", &sign_up_form(email, "", columns));
    assert_page(&r, 200, "Check your inbox");
    let token = site.wait_for_email_to(email).token(&site.url(), "confirm");
    let r = service.post("/confirm", &form(&[("token", &token)]));
    assert_page(&r, 200, "You are subscribed");
    r
}

#[test]
fn the_confirmation_page_says_when_the_first_issue_comes() {
    // The service's clock is Monday 15 June 2026, 08:00 in Hong Kong, the
    // very minute of an issue: that one has chosen its readers, so the
    // first is a week later.
    let site = Site::new();
    let service = site.serve();
    let body = sign_up_and_confirm(&site, &service, "reader@example.com", &["ai"]).text();
    assert!(
        body.contains("第一期預計在6月22日（星期一）上午8:00寄出"),
        "{body}"
    );
    assert!(
        body.contains("The first issue is due on Monday 22 June, 8:00 am"),
        "{body}"
    );
    assert!(
        !body.contains("W26") && !body.contains("2026-06-22"),
        "{body}"
    );
}

#[test]
fn the_first_issue_follows_the_schedule_in_the_site_zone() {
    let site = Site::new();
    // Friday 17:30 in London: on Monday 15 June, that Friday 19 June (BST).
    site.write(
        "config.toml",
        site.read("config.toml")
            .replace(
                "from = \"論壇 <digest@news.example.com>\"",
                "from = \"論壇 <digest@news.example.com>\"\nschedule = \"Fri 17:30\"",
            )
            .replace("[site]", "[site]\ntimezone = \"Europe/London\""),
    );
    let service = site.serve();
    let body = sign_up_and_confirm(&site, &service, "reader@example.com", &[]).text();
    assert!(
        body.contains("第一期預計在6月19日（星期五）下午5:30寄出"),
        "{body}"
    );
    assert!(body.contains("Friday 19 June, 5:30 pm"), "{body}");
}

#[test]
fn confirming_sends_one_welcome_email_saying_what_comes_when_with_working_links() {
    let site = Site::new();
    let service = site.serve();
    let body = sign_up_and_confirm(&site, &service, "reader@example.com", &["ai"]).text();
    assert!(body.contains("welcome email"), "{body}");
    let mails = site.wait_for_emails_to("reader@example.com", 2);
    let welcome = mails
        .iter()
        .find(|m| m.subject == "歡迎訂閱 Welcome · 論壇")
        .unwrap_or_else(|| panic!("no welcome email among {mails:#?}"));
    assert_eq!(welcome.to_name, None);
    for part in [&welcome.text, &welcome.html] {
        for words in [
            "鑰匙與未來",
            "每星期一上午8:00",
            "every Monday at 8:00 am",
            "6月22日（星期一）上午8:00",
            "Monday 22 June, 8:00 am",
        ] {
            assert!(part.contains(words), "{words:?} is not in\n{part}");
        }
        assert!(!part.contains("城市筆記"), "{part}");
    }
    // It belongs to no list: a message about one's own subscription.
    assert!(
        !welcome.header_names.iter().any(|h| h == "list-unsubscribe"),
        "{}",
        welcome.raw
    );
    let preferences = welcome.token(&site.url(), "preferences");
    let unsubscribe = welcome.token(&site.url(), "unsubscribe");
    assert_page(
        &service.get(&format!("/preferences?token={preferences}")),
        200,
        r#"<form id="preferences""#,
    );
    assert_page(
        &service.get(&format!("/unsubscribe?token={unsubscribe}")),
        200,
        r#"<form id="unsubscribe""#,
    );
    // Its preferences link works for 30 days, like a digest's.
    let signer = Signer::new(SECRET);
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert!(signer
        .verify(
            &preferences,
            "reader@example.com",
            Purpose::Preferences,
            at("2026-07-14T08:00:00+08:00")
        )
        .is_ok());
    assert!(signer
        .verify(
            &unsubscribe,
            "reader@example.com",
            Purpose::Unsubscribe,
            at("2027-06-14T08:00:00+08:00")
        )
        .is_ok());

    // Pressing the button again sends no second welcome.
    let confirm = mails
        .iter()
        .find(|m| m.subject.starts_with("請確認訂閱"))
        .unwrap()
        .token(&site.url(), "confirm");
    press_confirm(&service, &confirm);
    service.stop();
    assert_eq!(site.emails().len(), 2);
}

#[test]
fn a_welcome_for_every_column_says_so() {
    let site = Site::new();
    let service = site.serve();
    sign_up_and_confirm(&site, &service, "reader@example.com", &[]);
    let mails = site.wait_for_emails_to("reader@example.com", 2);
    let welcome = mails
        .iter()
        .find(|m| m.subject.starts_with("歡迎"))
        .unwrap();
    assert!(
        welcome.text.contains("全部欄目的新文章")
            && welcome.text.contains("New articles from every column"),
        "{}",
        welcome.text
    );
}

#[test]
fn with_welcome_email_off_confirming_sends_nothing_more() {
    let site = Site::with_server("welcome_email = false");
    let service = site.serve();
    let body = sign_up_and_confirm(&site, &service, "reader@example.com", &["ai"]).text();
    assert!(!body.contains("welcome email"), "{body}");
    assert!(body.contains("The first issue is due on"), "{body}");
    service.stop();
    let mails = site.emails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(mails[0].subject.starts_with("請確認訂閱"));
}

#[test]
fn the_welcome_and_confirmation_emails_end_with_the_sender_address_in_both_parts() {
    let site = Site::new();
    site.write(
        "config.toml",
        site.read("config.toml").replace(
            "from = \"論壇 <digest@news.example.com>\"",
            "from = \"論壇 <digest@news.example.com>\"\nsender_address = \"\"\"\n論壇出版有限公司\n香港<灣仔>告士打道 1 號\"\"\"",
        ),
    );
    let service = site.serve();
    sign_up_and_confirm(&site, &service, "reader@example.com", &["ai"]);
    let mails = site.wait_for_emails_to("reader@example.com", 2);
    service.stop();
    for prefix in ["歡迎", "請確認訂閱"] {
        let m = mails
            .iter()
            .find(|m| m.subject.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} email among {mails:#?}"));
        assert!(
            m.text
                .replace("\r\n", "\n")
                .ends_with("\n\n論壇出版有限公司\n香港<灣仔>告士打道 1 號\n"),
            "{}",
            m.text
        );
        assert!(
            m.html
                .contains("論壇出版有限公司<br>香港&lt;灣仔&gt;告士打道 1 號"),
            "{}",
            m.html
        );
    }
}
