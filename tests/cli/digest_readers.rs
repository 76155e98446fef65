//! The digest as its readers meet it: words in the site's language (dates
//! as people write them, plurals, no ISO week), the Date header in the
//! site's zone, the sender's postal address in every footer, the public
//! web copy with its sign-up call, and the archive of past issues. Every
//! email is read back with mail-parser.

use crate::util::digest_config as config;
use crate::util::*;
use mail_parser::MessageParser;

/// An hour after the Monday 08:00 slot in Hong Kong (2026-11-30, W49).
const AFTER_SLOT: &str = "2026-11-30T09:00:00+08:00";
/// The Monday after, issue W50.
const NEXT_WEEK: &str = "2026-12-07T09:00:00+08:00";
/// U+2060 WORD JOINER.
const WJ: char = '\u{2060}';

/// Two articles in `ai`, one in `city`, before issue W49; with `language`
/// as `site.language` and `digest` added to `[digest]`.
fn publication(language: &str, digest: &str) -> Publication {
    let cfg = config("outbox_dir = \"outbox\"")
        .replace(
            "base_url = \"https://news.example.com\"",
            &format!("base_url = \"https://news.example.com\"\nlanguage = \"{language}\""),
        )
        .replace(
            "schedule = \"Mon 08:00\"",
            &format!("schedule = \"Mon 08:00\"\n{digest}"),
        );
    let p = Publication::with_config(&cfg);
    // A byline long enough that its date meets the end of a 72-column line.
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-27T07:00:00+08:00\nauthors = [{ name = \"陳大文\", role = \"某大學人工智能研究院院長兼數據科學系講座教授及主任\" }]",
            "算力是新時代的基建。",
        ),
    );
    p.write(
        "content/ai/talent.md",
        article(
            "title = \"人才從何而來\"\npublished = 2026-11-25T07:00:00+08:00",
            "人才最重要。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-26T07:00:00+08:00",
            "電車是城市的節奏。",
        ),
    );
    p
}

/// Every email in the outbox, as (raw bytes, To address).
fn outbox(p: &Publication) -> Vec<(Vec<u8>, String)> {
    let mut out: Vec<(Vec<u8>, String)> = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .map(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let to = MessageParser::default()
                .parse(&bytes)
                .unwrap()
                .to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_owned();
            (bytes, to)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// The email to `to`, whole.
fn email_to(p: &Publication, to: &str) -> Vec<u8> {
    outbox(p)
        .into_iter()
        .find(|(_, t)| t == to)
        .unwrap_or_else(|| panic!("no email to {to}"))
        .0
}

/// `text` without its links, where the ISO week may stay.
fn without_links(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .filter(|w| !w.contains("https://"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_chinese_digest_speaks_to_readers_in_chinese_with_no_iso_week() {
    let p = publication("zh-Hant-HK", "");
    p.run(&["subscribers", "add", "chan@example.com", "--name", "陳讀者"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let bytes = email_to(&p, "chan@example.com");
    let m = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(m.subject(), Some("論壇每週精選｜11月30日（星期一）"));
    // The list is named as the subject names the digest.
    let list = format!("{:?}", m.list_id());
    assert!(list.contains("\"論壇每週精選\""), "{list}");
    assert!(list.contains("digest.news.example.com"), "{list}");
    let text = m.body_text(0).unwrap();
    let html = m.body_html(0).unwrap();
    for part in [&text, &html] {
        assert!(part.contains("本週你關注的欄目有 3 篇新文章。"), "{part}");
        assert!(part.contains("陳讀者，你好："), "{part}");
        assert!(part.contains("2026年11月30日（星期一）"), "{part}");
        let read = without_links(part);
        assert!(!read.contains("W49"), "the ISO week outside a link: {read}");
        assert!(!read.contains("new articles"), "{read}");
    }
    // The links keep the week.
    assert!(text.contains("https://news.example.com/feeds/digests/2026-W49/"));
    // The Date header in the site's zone, as its readers keep time.
    let raw = String::from_utf8_lossy(&bytes);
    assert!(
        raw.contains("\r\nDate: Mon, 30 Nov 2026 09:00:00 +0800\r\n"),
        "{raw}"
    );
}

#[test]
fn a_byline_date_never_breaks_across_lines() {
    let p = publication("zh-Hant-HK", "");
    p.run(&["subscribers", "add", "chan@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let bytes = email_to(&p, "chan@example.com");
    let m = MessageParser::default().parse(&bytes).unwrap();
    let date = format!("2026{WJ}年{WJ}11{WJ}月{WJ}27{WJ}日");
    let text = m.body_text(0).unwrap().replace("\r\n", "\n");
    // The byline is wrapped, the date in it is not.
    let byline = text
        .lines()
        .position(|l| l.starts_with("陳大文（"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.lines().nth(byline + 1).unwrap().contains(&date)
            || text.lines().nth(byline).unwrap().contains(&date),
        "{text}"
    );
    let html = m.body_html(0).unwrap();
    assert!(
        html.contains(&format!(
            "<time datetime=\"2026-11-27\" style=\"white-space:nowrap;\">{date}</time>"
        )),
        "{html}"
    );
}

#[test]
fn an_english_digest_counts_with_plurals_and_names_the_day() {
    let p = publication("en-GB", "");
    p.run(&["subscribers", "add", "all@example.com", "--name", "Jane"])
        .expect_code(0);
    p.run(&[
        "subscribers",
        "add",
        "city@example.com",
        "--columns",
        "city",
    ])
    .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let all = email_to(&p, "all@example.com");
    let m = MessageParser::default().parse(&all).unwrap();
    assert_eq!(m.subject(), Some("論壇 weekly digest | Monday 30 November"));
    let list = format!("{:?}", m.list_id());
    assert!(list.contains("\"論壇 weekly digest\""), "{list}");
    for part in [m.body_text(0).unwrap(), m.body_html(0).unwrap()] {
        assert!(
            part.contains("This week in the columns you follow: 3 new articles."),
            "{part}"
        );
        assert!(part.contains("Hello Jane,"), "{part}");
        assert!(part.contains("Monday 30 November 2026"), "{part}");
        assert!(part.contains("27\u{a0}November\u{a0}2026"), "{part}");
        assert!(!part.contains("篇新文章"), "{part}");
        assert!(!without_links(&part).contains("W49"), "{part}");
    }
    let city = email_to(&p, "city@example.com");
    let m = MessageParser::default().parse(&city).unwrap();
    for part in [m.body_text(0).unwrap(), m.body_html(0).unwrap()] {
        assert!(
            part.contains("This week in the columns you follow: 1 new article."),
            "{part}"
        );
        assert!(!part.contains("1 new articles"), "{part}");
    }
}

#[test]
fn a_language_without_its_own_words_gets_english() {
    let p = publication("fr", "");
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let m_bytes = email_to(&p, "a@example.com");
    let m = MessageParser::default().parse(&m_bytes).unwrap();
    assert_eq!(m.subject(), Some("論壇 weekly digest | Monday 30 November"));
}

#[test]
fn a_subject_in_the_config_still_replaces_the_default() {
    let p = publication(
        "zh-Hant-HK",
        "subject = \"{{site.title}} {{issue.label}} · {{issue.day}} · {{issue.count}}\"",
    );
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["check"]).expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let bytes = email_to(&p, "a@example.com");
    let m = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(
        m.subject(),
        Some("論壇 2026-W49 · 11月30日（星期一） · 3 篇新文章")
    );
    // A field the subject names that does not exist names the key.
    let q = publication("zh-Hant-HK", "subject = \"{{issue.weeek}}\"");
    let check = q.run_at(AFTER_SLOT, &["check"]).expect_code(2);
    assert!(
        check
            .stderr
            .contains("digest.subject: no field `issue.weeek`"),
        "{}",
        check.stderr
    );
}

#[test]
fn the_sender_address_is_in_the_footer_of_both_parts_and_the_web_copy() {
    let p = publication(
        "zh-Hant-HK",
        "sender_address = \"\"\"\n論壇出版有限公司\n香港中環示例街 1 號 10 樓\n\"\"\"",
    );
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let bytes = email_to(&p, "a@example.com");
    let m = MessageParser::default().parse(&bytes).unwrap();
    let text = m.body_text(0).unwrap().replace("\r\n", "\n");
    let footer = &text[text.rfind("\n--\n").unwrap_or_else(|| panic!("{text}"))..];
    assert!(
        footer.contains("\n論壇出版有限公司\n香港中環示例街 1 號 10 樓\n"),
        "{footer}"
    );
    let html = m.body_html(0).unwrap();
    assert!(
        html.contains("論壇出版有限公司<br>香港中環示例街 1 號 10 樓"),
        "{html}"
    );
    let web = p.read("feeds/digests/2026-W49/index.html");
    assert!(
        web.contains("論壇出版有限公司<br>香港中環示例街 1 號 10 樓"),
        "{web}"
    );
}

#[test]
fn without_a_sender_address_the_footer_names_the_site_and_check_warns_when_mail_goes_out() {
    // Into the outbox only: nobody is mailed, nothing to warn of.
    let p = publication("zh-Hant-HK", "");
    let check = p.run_at(AFTER_SLOT, &["check"]).expect_code(0);
    assert!(!check.stderr.contains("sender_address"), "{}", check.stderr);
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let bytes = email_to(&p, "a@example.com");
    let m = MessageParser::default().parse(&bytes).unwrap();
    let text = m.body_text(0).unwrap();
    assert!(text.trim_end().ends_with("\n論壇"), "{text}");

    // Through a relay, it reaches people.
    let relayed = Publication::with_config(&config("host = \"127.0.0.1\"\nport = 2525"));
    let check = relayed.run_at(AFTER_SLOT, &["check"]).expect_code(0);
    assert!(
        check.stderr.contains("digest.sender_address is not set")
            && check.stderr.contains("postal address"),
        "{}",
        check.stderr
    );
}

#[test]
fn a_sender_address_longer_than_its_bound_is_refused_naming_the_key() {
    let long = "香港".repeat(251);
    let p = publication("zh-Hant-HK", &format!("sender_address = \"{long}\""));
    let check = p.run_at(AFTER_SLOT, &["check"]).expect_code(2);
    assert!(
        check.stderr.contains(
            "digest.sender_address: expected at most 500 characters in at most 8 lines, found 502 characters in 1 lines"
        ),
        "{}",
        check.stderr
    );
    let lines = (1..=9).map(|i| format!("第{i}行")).collect::<Vec<_>>();
    let p = publication(
        "zh-Hant-HK",
        &format!("sender_address = \"{}\"", lines.join("\\n")),
    );
    let check = p.run_at(AFTER_SLOT, &["check"]).expect_code(2);
    assert!(
        check.stderr.contains("found 35 characters in 9 lines"),
        "{}",
        check.stderr
    );
}

#[test]
fn the_web_copy_speaks_to_the_public_and_asks_them_to_sign_up() {
    let p = publication("zh-Hant-HK", "");
    p.run(&["subscribers", "add", "a@example.com", "--columns", "city"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let web = p.read("feeds/digests/2026-W49/index.html");
    assert!(web.contains("本週各欄目共有 3 篇新文章。"), "{web}");
    assert!(!web.contains("你關注"), "{web}");
    assert!(!web.contains("a@example.com"), "{web}");
    assert!(
        web.contains("<a href=\"https://news.example.com/newsletter/\" style=\"font-weight:700;\">免費訂閱每週精選 →</a>"),
        "{web}"
    );
    assert!(
        web.contains("href=\"https://news.example.com/feeds/digests/\""),
        "links the archive: {web}"
    );

    let en = publication("en", "");
    en.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    en.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let web = en.read("feeds/digests/2026-W49/index.html");
    assert!(
        web.contains("This week in the columns: 3 new articles."),
        "{web}"
    );
    assert!(!web.contains("you follow"), "{web}");
    assert!(
        web.contains(">Subscribe to the weekly digest →</a>"),
        "{web}"
    );
}

#[test]
fn the_archive_lists_past_issues_newest_first_with_their_dates_and_counts() {
    let p = publication("zh-Hant-HK", "");
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let first = p.read("feeds/digests/index.html");
    assert!(first.contains("2026年11月30日（星期一）"), "{first}");
    p.write(
        "content/city/ferry.md",
        article(
            "title = \"渡輪的黃昏\"\npublished = 2026-12-02T07:00:00+08:00",
            "渡輪。",
        ),
    );
    p.run_at(NEXT_WEEK, &["digest", "send"]).expect_code(0);
    let archive = p.read("feeds/digests/index.html");
    let w50 = archive
        .find("<li><a href=\"https://news.example.com/feeds/digests/2026-W50/\"><time datetime=\"2026-12-07\">2026年12月7日（星期一）</time></a> <span class=\"soft count\">· 1 篇新文章</span></li>")
        .unwrap_or_else(|| panic!("{archive}"));
    let w49 = archive
        .find("<li><a href=\"https://news.example.com/feeds/digests/2026-W49/\"><time datetime=\"2026-11-30\">2026年11月30日（星期一）</time></a> <span class=\"soft count\">· 3 篇新文章</span></li>")
        .unwrap_or_else(|| panic!("{archive}"));
    assert!(w50 < w49, "newest first: {archive}");
    assert!(archive.contains("<h1>往期精選</h1>"), "{archive}");
    assert!(
        archive.contains("href=\"https://news.example.com/newsletter/\""),
        "a sign-up call: {archive}"
    );
    assert!(!without_links(&archive).contains("W49"), "{archive}");
    // The same issues give the same bytes: a run with nothing due leaves it.
    let before = std::fs::metadata(p.path("feeds/digests/index.html"))
        .unwrap()
        .modified()
        .unwrap();
    p.run_at(NEXT_WEEK, &["digest", "send"]).expect_code(0);
    assert_eq!(p.read("feeds/digests/index.html"), archive);
    let after = std::fs::metadata(p.path("feeds/digests/index.html"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn an_english_archive_counts_in_english() {
    let p = publication("en", "");
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let archive = p.read("feeds/digests/index.html");
    assert!(
        archive.contains("<time datetime=\"2026-11-30\">Monday 30 November 2026</time></a> <span class=\"soft count\">· 3 new articles</span>"),
        "{archive}"
    );
    assert!(archive.contains("<h1>Past issues</h1>"), "{archive}");
}

#[test]
fn a_column_pages_sign_up_form_comes_right_after_its_note_before_the_articles() {
    let cfg = format!("{CONFIG}\n[server]\npublic_url = \"https://news.example.com/newsletter\"\n");
    let p = Publication::with_config(&cfg);
    for i in 0..20 {
        p.write(
            &format!("content/city/a{i:02}.md"),
            article(
                &format!(
                    "title = \"第{i}篇\"\npublished = 2026-11-{:02}T07:00:00+08:00",
                    i + 1
                ),
                &"城市的節奏。".repeat(30),
            ),
        );
    }
    p.build();
    let page = p.read("feeds/city/index.html");
    let note = page.find("<p>編者按：城市生活。</p>").unwrap();
    let form = page.find("<form id=\"subscribe\"").unwrap();
    let articles = page.find("<section id=\"articles\">").unwrap();
    assert!(note < form && form < articles, "{page}");
    // Between the note and the form, only the form's own heading and line.
    let between = &page[note..form];
    assert!(!between.contains("<article"), "{between}");
    assert!(between.chars().count() < 400, "{between}");
    // The collection statement is named before the button, as on the
    // service's own sign-up page.
    let button = page[form..].find("<button").unwrap() + form;
    assert!(
        page[form..button]
            .contains("href=\"https://news.example.com/newsletter/#privacy\">個人資料收集聲明</a>"),
        "{}",
        &page[form..button]
    );
}

#[test]
fn a_second_issue_in_the_same_week_gets_its_own_web_copy_and_the_archive_lists_both() {
    let p = publication("zh-Hant-HK", "");
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let first = p.read("feeds/digests/2026-W49/index.html");
    p.write(
        "content/city/ferry.md",
        article(
            "title = \"渡輪的黃昏\"\npublished = 2026-12-01T07:00:00+08:00",
            "渡輪。",
        ),
    );
    // The Tuesday of the same ISO week.
    let run = p
        .run_at("2026-12-01T10:00:00+08:00", &["digest", "send", "--force"])
        .expect_code(0);
    assert!(
        run.stdout.contains("digest 2026-W49-2: 1 sent"),
        "{}",
        run.stdout
    );
    assert_eq!(
        p.read("feeds/digests/2026-W49/index.html"),
        first,
        "an earlier web copy never changes"
    );
    let second = p.read("feeds/digests/2026-W49-2/index.html");
    assert!(second.contains("渡輪的黃昏"), "{second}");
    assert!(!second.contains("電車慢活"), "{second}");
    let archive = p.read("feeds/digests/index.html");
    let w49_2 = archive
        .find("href=\"https://news.example.com/feeds/digests/2026-W49-2/\"")
        .unwrap_or_else(|| panic!("{archive}"));
    let w49 = archive
        .find("href=\"https://news.example.com/feeds/digests/2026-W49/\"")
        .unwrap_or_else(|| panic!("{archive}"));
    assert!(w49_2 < w49, "newest first: {archive}");
    // The second email links its own web copy.
    let emails = outbox(&p);
    assert_eq!(emails.len(), 2);
    let newest = emails
        .iter()
        .map(|(b, _)| {
            let m = MessageParser::default().parse(b).unwrap();
            m.body_text(0).unwrap().into_owned()
        })
        .find(|e| e.contains("2026-W49-2"))
        .unwrap_or_else(|| panic!("no email links the second web copy"));
    assert!(!newest.contains("feeds/digests/2026-W49/"), "{newest}");
}

#[test]
fn bylines_of_several_authors_are_joined_as_the_sites_language_joins_names() {
    for (language, joined) in [
        ("en", "Jane Doe, 李小明"),
        ("zh-Hant-HK", "Jane Doe、李小明"),
    ] {
        let p = publication(language, "");
        p.write(
            "content/city/pair.md",
            article(
                "title = \"二人合寫\"\npublished = 2026-11-28T07:00:00+08:00\nauthors = [{ name = \"Jane Doe\" }, { name = \"李小明\" }]",
                "合寫。",
            ),
        );
        p.run(&["subscribers", "add", "a@example.com"])
            .expect_code(0);
        p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
        let bytes = email_to(&p, "a@example.com");
        let m = MessageParser::default().parse(&bytes).unwrap();
        for part in [m.body_text(0).unwrap(), m.body_html(0).unwrap()] {
            assert!(part.contains(joined), "{language}: {part}");
        }
    }
}
