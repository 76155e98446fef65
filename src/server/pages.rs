//! The service's pages and emails: Handlebars templates, built in and
//! overridable from `templates/` like the digest's, rendered in strict mode
//! with HTML escaping.

use crate::config::Config;
use crate::templates::{Escape, TemplateError, TemplateSet};
use serde_json::{json, Value};

/// The service's templates, by the file name that overrides each.
const HTML: &[&str] = &[
    "page-layout.html.hbs",
    "page-subscribe.html.hbs",
    "page-notice.html.hbs",
    "page-manage.html.hbs",
    "page-preferences.html.hbs",
    "email-confirm.html.hbs",
    "email-manage.html.hbs",
    "email-welcome.html.hbs",
];
const TEXT: &[&str] = &[
    "email-confirm.txt.hbs",
    "email-manage.txt.hbs",
    "email-welcome.txt.hbs",
];

/// The key a template is rendered by: its file name without `.html.hbs`
/// or `.txt.hbs`.
fn key(file_name: &str) -> &str {
    let key = file_name.trim_end_matches(".hbs");
    key.strip_suffix(".html")
        .or_else(|| key.strip_suffix(".txt"))
        .unwrap_or(key)
}

/// Every template the service uses, compiled.
pub(super) struct Pages {
    html: TemplateSet,
    text: TemplateSet,
}

/// A text in the site's language with its English beside it.
#[derive(Debug, Clone)]
pub(super) struct Bilingual {
    /// Traditional Chinese.
    pub zh: std::borrow::Cow<'static, str>,
    /// English.
    pub en: std::borrow::Cow<'static, str>,
}

impl Bilingual {
    /// For a template.
    pub(super) fn json(&self) -> Value {
        json!({ "zh": self.zh, "en": self.en })
    }

    /// A text made at run time (it names what a reader chose); escaped
    /// like every other value when the page is rendered.
    pub(super) fn owned(zh: String, en: String) -> Bilingual {
        Bilingual {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// Shorthand for a [`Bilingual`].
pub(super) const fn bi(zh: &'static str, en: &'static str) -> Bilingual {
    Bilingual {
        zh: std::borrow::Cow::Borrowed(zh),
        en: std::borrow::Cow::Borrowed(en),
    }
}

/// A form on a notice page: one button and hidden fields.
pub(super) struct Action<'a> {
    /// The form's id.
    pub id: &'a str,
    /// Where it posts (relative to the page).
    pub url: &'a str,
    /// Hidden fields.
    pub fields: &'a [(&'a str, &'a str)],
    /// The button's label.
    pub button: Bilingual,
}

/// A simple page: a heading, paragraphs, maybe a form and a link.
pub(super) struct Notice<'a> {
    /// The heading, also the title.
    pub heading: Bilingual,
    /// The paragraphs.
    pub paragraphs: &'a [Bilingual],
    /// A form with one button.
    pub action: Option<Action<'a>>,
    /// A link below it: relative URL and label.
    pub link: Option<(&'a str, Bilingual)>,
}

impl Pages {
    /// Compiles the templates; a file of the same name in `templates_dir`
    /// replaces a built-in one.
    pub(super) fn load(config: &Config) -> Result<Pages, TemplateError> {
        let display = |p: &std::path::Path| config.display_path(p).into_owned();
        let dir = &config.site.templates_dir;
        let mut html = TemplateSet::new(Escape::Html);
        for name in HTML {
            html.add(key(name), dir, name, &display)?;
        }
        let mut text = TemplateSet::new(Escape::Text);
        for name in TEXT {
            text.add(key(name), dir, name, &display)?;
        }
        Ok(Pages { html, text })
    }

    /// Renders an HTML template; `data` gains `site` and `links`.
    pub(super) fn html(
        &self,
        name: &str,
        site: &Value,
        mut data: Value,
    ) -> Result<String, TemplateError> {
        if let Value::Object(map) = &mut data {
            map.insert("site".into(), site.clone());
            map.insert("links".into(), json!({ "home": "./", "manage": "manage" }));
        }
        self.html.render(name, &data)
    }

    /// Renders a text template.
    pub(super) fn text(
        &self,
        name: &str,
        site: &Value,
        mut data: Value,
    ) -> Result<String, TemplateError> {
        if let Value::Object(map) = &mut data {
            map.insert("site".into(), site.clone());
        }
        self.text.render(name, &data)
    }

    /// Renders a notice page.
    pub(super) fn notice(&self, site: &Value, n: &Notice<'_>) -> Result<String, TemplateError> {
        let action = n.action.as_ref().map(|a| {
            json!({
                "id": a.id,
                "url": a.url,
                "fields": a.fields.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect::<Vec<_>>(),
                "button": a.button.json(),
            })
        });
        let link = n
            .link
            .as_ref()
            .map(|(url, label)| json!({ "url": url, "zh": label.zh, "en": label.en }));
        self.html(
            "page-notice",
            site,
            json!({
                "title": n.heading.zh,
                "heading": n.heading.json(),
                "paragraphs": n.paragraphs.iter().map(|p| p.json()).collect::<Vec<_>>(),
                "action": action,
                "link": link,
            }),
        )
    }
}

/// What every template is given about the site.
pub(super) fn site_data(config: &Config) -> Value {
    json!({
        "title": config.site.title,
        "language": config.site.language,
        "base_url": config.site.base_url,
    })
}

/// The sign-up form's privacy notice: `paragraphs` of
/// [`Config::privacy_notice`] (split at blank lines) and the `url` of the
/// whole policy, or null.
pub(super) fn privacy_data(config: &Config) -> Value {
    json!({
        "paragraphs": paragraphs(&config.privacy_notice()),
        "url": config.server.privacy_url,
    })
}

/// The paragraphs of a plain text: runs of lines that are not blank (with
/// `\n` or `\r\n` endings), each trimmed.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(current.join("\n"));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current.join("\n"));
    }
    out
}

/// Compiles the templates and renders each against data of the shape the
/// service gives it, so `check` finds a broken override (strict mode makes
/// a misspelt field an error) before a reader does.
pub fn check(config: &Config) -> Result<(), TemplateError> {
    let pages = Pages::load(config)?;
    let site = site_data(config);
    let columns: Vec<Value> = config
        .columns
        .iter()
        .map(|c| json!({ "slug": c.slug.as_str(), "title": c.title, "description": c.description, "checked": false }))
        .collect();
    let error = Some(bi("錯誤", "Error").json());
    pages.html(
        "page-subscribe",
        &site,
        json!({ "title": "t", "error": error, "form": { "email": "", "name": "" }, "every_column": true, "columns": columns, "privacy": privacy_data(config) }),
    )?;
    pages.html(
        "page-manage",
        &site,
        json!({ "title": "t", "error": error, "form": { "email": "" } }),
    )?;
    pages.html(
        "page-preferences",
        &site,
        json!({ "title": "t", "saved": true, "error": error, "unsubscribed": false, "token": "t", "email": "reader@example.com", "form": { "name": "" }, "every_column": true, "columns": columns }),
    )?;
    pages.notice(
        &site,
        &Notice {
            heading: bi("標題", "Heading"),
            paragraphs: &[bi("段落", "Paragraph")],
            action: Some(Action {
                id: "a",
                url: "a",
                fields: &[("token", "t")],
                button: bi("按鈕", "Button"),
            }),
            link: Some(("a", bi("連結", "Link"))),
        },
    )?;
    // Every email is given the sender's lines (see `server::emails`).
    let sender = json!(["s"]);
    for name in ["email-confirm", "email-manage"] {
        let data = json!({ "link": "https://example.com/", "sender": sender });
        pages.html(name, &site, data.clone())?;
        pages.text(name, &site, data)?;
    }
    let when = bi("日期", "Date").json();
    let welcome = json!({
        "every_column": false,
        "columns": ["t"],
        "schedule": when,
        "first_issue": when,
        "preferences": "https://example.com/",
        "unsubscribe": "https://example.com/",
        "sender": sender,
    });
    pages.html("email-welcome", &site, welcome.clone())?;
    pages.text("email-welcome", &site, welcome)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_cut_into_paragraphs_at_blank_lines_whatever_the_line_ends() {
        assert_eq!(
            paragraphs("  一段\r\n同一段\r\n\r\n \r\nSecond\n\n\nthird  \n"),
            ["一段\n同一段", "Second", "third"]
        );
        assert!(paragraphs("\n \n").is_empty());
    }
}
