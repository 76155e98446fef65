//! What the forms say about columns and addresses: "every column" as a
//! choice of its own rather than "nothing ticked", the boxes shown as they
//! are stored, the address each page manages, and fewer columns offered
//! where a reader is about to leave.

use super::*;

/// Signs `email` up with these form fields besides the address, confirms
/// it, and returns the columns it then follows.
#[track_caller]
fn confirmed_columns(
    site: &Site,
    service: &Http,
    email: &str,
    fields: &[(&str, &str)],
) -> Vec<String> {
    let mut all = vec![("email", email)];
    all.extend_from_slice(fields);
    assert_page(
        &service.post("/subscribe", &form(&all)),
        200,
        "Check your inbox",
    );
    let token = site.wait_for_email_to(email).token(&site.url(), "confirm");
    press_confirm(service, &token);
    site.subscriber(email).unwrap().columns
}

#[test]
fn the_sign_up_form_offers_every_column_as_a_choice_of_its_own() {
    let site = Site::new();
    let service = site.serve();
    let body = service.get("/").text();
    assert!(
        body.contains(r#"<input type="radio" name="scope" value="all" checked>"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<input type="radio" name="scope" value="some">"#),
        "{body}"
    );
    assert!(
        body.contains("全部欄目") && body.contains("Every column"),
        "{body}"
    );

    // "Every column" follows all of them, whatever boxes are ticked with it.
    assert!(confirmed_columns(&site, &service, "all@example.com", &[("scope", "all")]).is_empty());
    assert!(confirmed_columns(
        &site,
        &service,
        "all-ticked@example.com",
        &[("scope", "all"), ("columns", "ai")]
    )
    .is_empty());
    // "Only these" follows the boxes ticked.
    assert_eq!(
        confirmed_columns(
            &site,
            &service,
            "some@example.com",
            &[("scope", "some"), ("columns", "city")]
        ),
        ["city"]
    );
}

#[test]
fn only_these_with_no_box_ticked_is_refused_and_the_form_shown_again_as_sent() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &form(&[("email", "none@example.com"), ("scope", "some")]),
    );
    assert_page(&r, 400, "Tick at least one column, or choose every column.");
    let body = r.text();
    assert!(body.contains("請至少選一個欄目"), "{body}");
    assert!(
        body.contains(r#"<input type="radio" name="scope" value="some" checked>"#),
        "{body}"
    );
    assert!(body.contains(r#"value="none@example.com""#), "{body}");
    assert!(site.subscriber("none@example.com").is_none());
    service.stop();
    assert!(site.emails().is_empty());
}

#[test]
fn a_form_without_the_choice_keeps_the_first_rule_for_column_pages() {
    // A column page's form names its column in a hidden field and has no
    // "every column" choice.
    let site = Site::new();
    let service = site.serve();
    assert_eq!(
        confirmed_columns(&site, &service, "column@example.com", &[("columns", "ai")]),
        ["ai"]
    );
    assert!(confirmed_columns(&site, &service, "bare@example.com", &[]).is_empty());
}

#[test]
fn a_reader_of_every_column_sees_every_column_chosen_on_their_preferences() {
    let site = Site::new();
    let service = site.serve();
    let s = site.add("reader@example.com", "甲", "");
    assert!(s.columns.is_empty());
    let t = token(s.id, "reader@example.com", Purpose::Preferences, TOMORROW);
    let r = service.get(&format!("/preferences?token={t}"));
    assert_page(&r, 200, r#"<form id="preferences""#);
    let body = r.text();
    assert!(
        body.contains(r#"<input type="radio" name="scope" value="all" checked>"#),
        "{body}"
    );
    assert!(
        body.contains(r#"<input type="radio" name="scope" value="some">"#),
        "{body}"
    );
    for slug in ["ai", "city"] {
        assert!(
            body.contains(&format!(
                r#"<input type="checkbox" name="columns" value="{slug}" checked>"#
            )),
            "{body}"
        );
    }

    // Fewer columns: "only these", one box.
    let r = service.post(
        "/preferences",
        &form(&[
            ("token", &t),
            ("name", "甲"),
            ("scope", "some"),
            ("columns", "ai"),
            ("action", "save"),
        ]),
    );
    assert_page(&r, 200, "Saved.");
    let body = r.text();
    assert!(
        body.contains(r#"<input type="radio" name="scope" value="some" checked>"#),
        "{body}"
    );
    assert!(body.contains(r#"<input type="checkbox" name="columns" value="ai" checked>"#));
    assert!(body.contains(r#"<input type="checkbox" name="columns" value="city">"#));
    assert_eq!(
        site.subscriber("reader@example.com").unwrap().columns,
        ["ai"]
    );

    // And back to every column, the box left as it was.
    let r = service.post(
        "/preferences",
        &form(&[
            ("token", &t),
            ("name", "甲"),
            ("scope", "all"),
            ("columns", "ai"),
            ("action", "save"),
        ]),
    );
    assert_page(&r, 200, "Saved.");
    assert!(r
        .text()
        .contains(r#"<input type="radio" name="scope" value="all" checked>"#));
    assert!(site
        .subscriber("reader@example.com")
        .unwrap()
        .columns
        .is_empty());
}

#[test]
fn the_preferences_page_names_the_address_it_manages_escaped() {
    let site = Site::new();
    let service = site.serve();
    let s = site.add("o'neil&co@example.com", "", "ai");
    let t = token(
        s.id,
        "o'neil&co@example.com",
        Purpose::Preferences,
        TOMORROW,
    );
    let r = service.get(&format!("/preferences?token={t}"));
    assert_page(&r, 200, "These are the settings of");
    let body = r.text();
    assert!(body.contains("o&#x27;neil&amp;co@example.com"), "{body}");
    assert!(!body.contains("o'neil&co@"), "{body}");
    assert!(body.contains("的訂閱設定"), "{body}");
}

#[test]
fn the_unsubscribe_page_names_the_address_and_offers_fewer_columns_instead() {
    let site = Site::new();
    let service = site.serve();
    let (s, t) = unsubscribable(&site);
    let r = service.get(&format!("/unsubscribe?token={t}"));
    assert_page(&r, 200, r#"<form id="unsubscribe""#);
    let body = r.text();
    assert!(
        body.contains("按下按鈕，reader@example.com 即不會再收到每週精選。"),
        "{body}"
    );
    assert!(
        body.contains(
            "Press the button and reader@example.com will receive no more weekly digests."
        ),
        "{body}"
    );
    // Its "fewer columns" link opens their preferences, signed for that.
    let at = body
        .find(r#"<a href="preferences?token&#x3D;"#)
        .unwrap_or_else(|| panic!("no preferences link in\n{body}"));
    let href = &body[at + r#"<a href=""#.len()..];
    let href = href[..href.find('"').unwrap()].replace("&#x3D;", "=");
    assert!(body.contains("Rather get fewer columns instead?"), "{body}");
    let prefs = service.get(&format!("/{href}"));
    assert_page(&prefs, 200, r#"<form id="preferences""#);
    assert!(prefs.text().contains("reader@example.com"));
    assert_eq!(site.subscriber("reader@example.com").unwrap(), s);

    // The page after leaving names the address too.
    let r = service.post(
        &format!("/unsubscribe?token={t}"),
        "List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "reader@example.com will receive no more digests.");
}
