//! What the digest says to its readers, in the site's language: the
//! default subject, dates as people write them, counts with the right
//! plural, and the sentences of the built-in templates. Traditional
//! Chinese (`zh-Hant`, and `zh` tags that are not Simplified) and English
//! are written out; every other language gets English, so a reader is
//! never shown an ISO week or "1 new articles".

use crate::calendar::{en_month, en_weekday, zh_weekday};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

/// U+2060 WORD JOINER: no line break here, and nothing shown. Between the
/// parts of a Chinese date, where line-breaking rules would otherwise
/// allow a break between a digit and 年, 月 or 日.
const JOIN: char = '\u{2060}';
/// U+00A0 NO-BREAK SPACE, between the parts of an English date.
const NBSP: char = '\u{a0}';

/// The languages the digest's copy is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Traditional Chinese, with full-width punctuation.
    ZhHant,
    /// English, also for every language not written out here.
    En,
}

impl Lang {
    /// The copy for the BCP 47 tag `tag`: Traditional Chinese for `zh`
    /// tags other than Simplified ones (`zh-Hans`, `zh-CN`, `zh-SG`,
    /// `zh-MY`), English for the rest.
    pub fn of(tag: &str) -> Lang {
        let lower = tag.to_ascii_lowercase();
        let mut parts = lower.split(['-', '_']);
        if parts.next() != Some("zh") {
            return Lang::En;
        }
        if parts.any(|p| matches!(p, "hans" | "cn" | "sg" | "my")) {
            Lang::En
        } else {
            Lang::ZhHant
        }
    }

    /// Its tag, for templates that choose on it.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhHant => "zh-Hant",
            Lang::En => "en",
        }
    }

    /// The digest's name, one everywhere (subject, footer, List-Id,
    /// service pages): `論壇每週精選`, `論壇 weekly digest`.
    pub fn digest_name(self, site_title: &str) -> String {
        match self {
            Lang::ZhHant => format!("{site_title}每週精選"),
            Lang::En => format!("{site_title} weekly digest"),
        }
    }

    /// The built-in subject template, used when `digest.subject` is not set.
    pub fn default_subject(self) -> &'static str {
        match self {
            Lang::ZhHant => "{{site.title}}每週精選｜{{issue.day}}",
            Lang::En => "{{site.title}} weekly digest | {{issue.day}}",
        }
    }

    /// A day without its year, for the subject: `6月15日（星期一）`,
    /// `Monday 15 June`.
    pub fn day(self, d: NaiveDate) -> String {
        match self {
            Lang::ZhHant => format!(
                "{}月{}日（{}）",
                d.month(),
                d.day(),
                zh_weekday(d.weekday())
            ),
            Lang::En => format!(
                "{} {} {}",
                en_weekday(d.weekday()),
                d.day(),
                en_month(d.month0())
            ),
        }
    }

    /// A day with its year: `2026年6月15日（星期一）`, `Monday 15 June 2026`.
    pub fn full_day(self, d: NaiveDate) -> String {
        match self {
            Lang::ZhHant => format!("{}年{}", d.year(), self.day(d)),
            Lang::En => format!("{} {}", self.day(d), d.year()),
        }
    }

    /// A date that no line is broken inside, for bylines:
    /// `2026⁠年⁠6⁠月⁠12⁠日` (word joiners between), `12 June 2026` (no-break
    /// spaces).
    pub fn unbroken_date(self, d: NaiveDate) -> String {
        match self {
            Lang::ZhHant => format!(
                "{y}{JOIN}年{JOIN}{m}{JOIN}月{JOIN}{d}{JOIN}日",
                y = d.year(),
                m = d.month(),
                d = d.day()
            ),
            Lang::En => format!(
                "{}{NBSP}{}{NBSP}{}",
                d.day(),
                en_month(d.month0()),
                d.year()
            ),
        }
    }

    /// `3 篇新文章`; `1 new article`, `2 new articles`.
    pub fn articles(self, n: usize) -> String {
        match (self, n) {
            (Lang::ZhHant, n) => format!("{n} 篇新文章"),
            (Lang::En, 1) => "1 new article".to_owned(),
            (Lang::En, n) => format!("{n} new articles"),
        }
    }

    /// Names joined as the language lists them: `陳大文、李小明`;
    /// `Jane Doe, John Roe`.
    pub fn join_names(self, names: &[String]) -> String {
        names.join(match self {
            Lang::ZhHant => "、",
            Lang::En => ", ",
        })
    }

    /// How many articles a column has: `3 篇文章`; `1 article`,
    /// `3 articles`.
    pub fn article_total(self, n: usize) -> String {
        match (self, n) {
            (Lang::ZhHant, n) => format!("{n} 篇文章"),
            (Lang::En, 1) => "1 article".to_owned(),
            (Lang::En, n) => format!("{n} articles"),
        }
    }

    /// `1 項更正`; `1 correction`, `2 corrections`.
    pub fn corrections(self, n: usize) -> String {
        match (self, n) {
            (Lang::ZhHant, n) => format!("{n} 項更正"),
            (Lang::En, 1) => "1 correction".to_owned(),
            (Lang::En, n) => format!("{n} corrections"),
        }
    }
}

/// The sentences of the built-in templates, as `words` (a template in
/// `templates/` may use them or write its own).
#[derive(Debug, Clone, Serialize)]
pub struct Words {
    /// `zh-Hant` or `en`: the language these are in.
    pub lang: &'static str,
    /// Whether that is Chinese, for a template's full-width brackets.
    pub zh: bool,
    /// A colon in it: `：` or `:`.
    pub colon: &'static str,
    /// The greeting before the reader's name…
    pub hello: &'static str,
    /// …and after it: `陳讀者，你好：`, `Hello 陳讀者,`.
    pub hello_end: &'static str,
    /// The opening sentence: what this issue holds, for this reader (or,
    /// in the web copy, for everyone).
    pub intro: String,
    /// The hidden preview line mail clients show beside the subject.
    pub preheader: String,
    /// The link to the web copy.
    pub view_in_browser: &'static str,
    /// The link under each article.
    pub read_more: &'static str,
    /// The heading of the corrections.
    pub corrections: &'static str,
    /// The heading of the articles listed by title only.
    pub more: &'static str,
    /// The link to the whole issue online, under them.
    pub read_online: &'static str,
    /// The footer's line on why this email came, with the reader's address.
    pub why: String,
    /// The web copy's footer line.
    pub web_copy_note: String,
    /// The sign-up call in the web copy and the archive.
    pub join: &'static str,
    /// What the sign-up link says.
    pub subscribe: &'static str,
    /// The link to the preferences page.
    pub preferences: &'static str,
    /// The link to the unsubscribe page.
    pub unsubscribe: &'static str,
    /// The link to the archive of past issues, and its heading.
    pub archive: &'static str,
    /// The archive page's opening line.
    pub archive_intro: String,
    /// The archive page when no issue has a web copy yet.
    pub archive_empty: &'static str,
}

/// What the counts of an issue say, for [`Words::new`].
pub struct Counts {
    /// New articles in this email (or web copy).
    pub articles: usize,
    /// Corrections listed.
    pub corrections: usize,
}

impl Words {
    /// The sentences for `site_title`'s digest in `lang`; `email` is the
    /// reader's address as it appears in the footer, `public` whether this
    /// is the web copy, which speaks to everyone.
    pub fn new(lang: Lang, site_title: &str, email: &str, counts: &Counts, public: bool) -> Words {
        let news = lang.articles(counts.articles);
        let fixes = lang.corrections(counts.corrections);
        match lang {
            Lang::ZhHant => Words {
                lang: lang.tag(),
                zh: true,
                colon: "：",
                hello: "",
                hello_end: "，你好：",
                intro: match (public, counts.articles) {
                    (true, 0) => format!("本週各欄目有 {fixes}。"),
                    (true, _) => format!("本週各欄目共有 {news}。"),
                    (false, 0) => format!("本週你關注的欄目有 {fixes}。"),
                    (false, _) => format!("本週你關注的欄目有 {news}。"),
                },
                preheader: match counts.articles {
                    0 => format!("{site_title}：{fixes}"),
                    _ => format!("{site_title}：{news}"),
                },
                view_in_browser: "在瀏覽器開啟",
                read_more: "閱讀全文 →",
                corrections: "自上期以來的更正",
                more: "本週還有",
                read_online: "在網上閱讀整期 →",
                why: format!("你收到這封電郵，是因為你以 {email} 訂閱了《{site_title}》每週精選。"),
                web_copy_note: format!("這是《{site_title}》每週精選的網上版本。"),
                join: "每週一封電郵，送上各欄目的新文章，隨時可以取消。",
                subscribe: "免費訂閱每週精選",
                preferences: "管理訂閱",
                unsubscribe: "取消訂閱",
                archive: "往期精選",
                archive_intro: format!("《{site_title}》每週精選的往期，最新的在前。"),
                archive_empty: "暫時未有往期。",
            },
            Lang::En => Words {
                lang: lang.tag(),
                zh: false,
                colon: ":",
                hello: "Hello ",
                hello_end: ",",
                intro: match (public, counts.articles) {
                    (true, 0) => format!("This week in the columns: {fixes}."),
                    (true, _) => format!("This week in the columns: {news}."),
                    (false, 0) => format!("This week in the columns you follow: {fixes}."),
                    (false, _) => format!("This week in the columns you follow: {news}."),
                },
                preheader: match counts.articles {
                    0 => format!("{site_title}: {fixes}"),
                    _ => format!("{site_title}: {news}"),
                },
                view_in_browser: "View in browser",
                read_more: "Read more →",
                corrections: "Corrections since the last issue",
                more: "More this week",
                read_online: "Read the whole issue online →",
                why: format!(
                    "You receive this because {email} subscribed to the weekly digest of {site_title}."
                ),
                web_copy_note: format!("This is the web copy of the weekly digest of {site_title}."),
                join: "One email a week with the new articles of every column; leave whenever you like.",
                subscribe: "Subscribe to the weekly digest",
                preferences: "Preferences",
                unsubscribe: "Unsubscribe",
                archive: "Past issues",
                archive_intro: format!("Past issues of the weekly digest of {site_title}, newest first."),
                archive_empty: "No issues yet.",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn june_15() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()
    }

    #[test]
    fn chinese_tags_other_than_simplified_get_traditional_chinese() {
        for tag in [
            "zh-Hant-HK",
            "zh-HK",
            "zh-TW",
            "zh",
            "zh-Hant",
            "ZH-hant-mo",
        ] {
            assert_eq!(Lang::of(tag), Lang::ZhHant, "{tag}");
        }
        for tag in ["en", "en-GB", "zh-Hans", "zh-CN", "zh-Hans-SG", "fr", "ja"] {
            assert_eq!(Lang::of(tag), Lang::En, "{tag}");
        }
    }

    #[test]
    fn days_read_as_people_write_them() {
        assert_eq!(Lang::ZhHant.day(june_15()), "6月15日（星期一）");
        assert_eq!(Lang::En.day(june_15()), "Monday 15 June");
        assert_eq!(Lang::ZhHant.full_day(june_15()), "2026年6月15日（星期一）");
        assert_eq!(Lang::En.full_day(june_15()), "Monday 15 June 2026");
    }

    #[test]
    fn english_counts_have_their_plurals() {
        assert_eq!(Lang::En.articles(1), "1 new article");
        assert_eq!(Lang::En.articles(2), "2 new articles");
        assert_eq!(Lang::En.articles(0), "0 new articles");
        assert_eq!(Lang::En.corrections(1), "1 correction");
        assert_eq!(Lang::ZhHant.articles(3), "3 篇新文章");
        assert_eq!(Lang::ZhHant.corrections(1), "1 項更正");
    }

    #[test]
    fn the_opening_line_says_what_the_issue_holds_and_for_whom() {
        let intro = |lang, articles, corrections, public| {
            let counts = Counts {
                articles,
                corrections,
            };
            Words::new(lang, "論壇", "", &counts, public).intro
        };
        assert_eq!(
            intro(Lang::ZhHant, 3, 0, false),
            "本週你關注的欄目有 3 篇新文章。"
        );
        assert_eq!(
            intro(Lang::ZhHant, 0, 1, false),
            "本週你關注的欄目有 1 項更正。"
        );
        assert_eq!(
            intro(Lang::ZhHant, 2, 0, true),
            "本週各欄目共有 2 篇新文章。"
        );
        assert_eq!(
            intro(Lang::En, 1, 0, false),
            "This week in the columns you follow: 1 new article."
        );
        assert_eq!(
            intro(Lang::En, 0, 2, true),
            "This week in the columns: 2 corrections."
        );
    }

    #[test]
    fn a_byline_date_is_never_broken_across_lines() {
        for lang in [Lang::ZhHant, Lang::En] {
            let date = lang.unbroken_date(june_15());
            // A byline long enough that the date falls at the edge of a
            // line, wherever it starts.
            for pad in 0..40 {
                let line = format!("{}陳大文（研究院院長） · {date}", "字".repeat(pad));
                let wrapped = super::super::render::wrap_text(&line);
                assert!(wrapped.contains(&date), "{lang:?}, {pad}: {wrapped}");
            }
        }
    }
}
