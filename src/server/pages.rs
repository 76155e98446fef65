//! The service's pages and emails: Handlebars templates, built in and
//! overridable from `templates/` like the digest's, rendered in strict mode
//! with HTML escaping.

use crate::config::Config;
use crate::digest::render::TemplateError;
use handlebars::Handlebars;
use serde_json::{json, Value};

/// Built-in templates, by the file name that overrides each.
const HTML: &[(&str, &str)] = &[
    (
        "page-layout.html.hbs",
        include_str!("templates/page-layout.html.hbs"),
    ),
    (
        "page-subscribe.html.hbs",
        include_str!("templates/page-subscribe.html.hbs"),
    ),
    (
        "page-notice.html.hbs",
        include_str!("templates/page-notice.html.hbs"),
    ),
    (
        "page-manage.html.hbs",
        include_str!("templates/page-manage.html.hbs"),
    ),
    (
        "page-preferences.html.hbs",
        include_str!("templates/page-preferences.html.hbs"),
    ),
    (
        "email-confirm.html.hbs",
        include_str!("templates/email-confirm.html.hbs"),
    ),
    (
        "email-manage.html.hbs",
        include_str!("templates/email-manage.html.hbs"),
    ),
];
const TEXT: &[(&str, &str)] = &[
    (
        "email-confirm.txt.hbs",
        include_str!("templates/email-confirm.txt.hbs"),
    ),
    (
        "email-manage.txt.hbs",
        include_str!("templates/email-manage.txt.hbs"),
    ),
];

/// The built-in templates, by the file name that overrides each.
pub fn builtin() -> Vec<(&'static str, &'static str)> {
    HTML.iter().chain(TEXT.iter()).copied().collect()
}

/// Every template the service uses, compiled.
pub struct Pages {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// Where each template came from, for messages.
    sources: std::collections::HashMap<&'static str, String>,
}

/// A text in the site's language with its English beside it.
#[derive(Debug, Clone)]
pub struct Bilingual {
    /// Traditional Chinese.
    pub zh: std::borrow::Cow<'static, str>,
    /// English.
    pub en: std::borrow::Cow<'static, str>,
}

impl Bilingual {
    /// For a template.
    pub fn json(&self) -> Value {
        json!({ "zh": self.zh, "en": self.en })
    }

    /// A text made at run time (it names what a reader chose); escaped
    /// like every other value when the page is rendered.
    pub fn owned(zh: String, en: String) -> Bilingual {
        Bilingual {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// Shorthand for a [`Bilingual`].
pub const fn bi(zh: &'static str, en: &'static str) -> Bilingual {
    Bilingual {
        zh: std::borrow::Cow::Borrowed(zh),
        en: std::borrow::Cow::Borrowed(en),
    }
}

/// A form on a notice page: one button and hidden fields.
pub struct Action<'a> {
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
pub struct Notice<'a> {
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
    pub fn load(config: &Config) -> Result<Pages, TemplateError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut sources = std::collections::HashMap::new();
        for (reg, list) in [(&mut html, HTML), (&mut text, TEXT)] {
            for (name, builtin) in list {
                let (source, from) = crate::digest::render::template_source(
                    &config.site.templates_dir,
                    name,
                    builtin,
                    &|p| config.display_path(p).into_owned(),
                )?;
                let key = name.trim_end_matches(".hbs");
                let key = key
                    .strip_suffix(".html")
                    .or_else(|| key.strip_suffix(".txt"))
                    .unwrap_or(key);
                crate::digest::render::compile(reg, key, &source, &from)?;
                sources.insert(*name, from);
            }
        }
        Ok(Pages {
            html,
            text,
            sources,
        })
    }

    /// Renders an HTML template; `data` gains `site` and `links`.
    pub fn html(&self, name: &str, site: &Value, mut data: Value) -> Result<String, TemplateError> {
        if let Value::Object(map) = &mut data {
            map.insert("site".into(), site.clone());
            map.insert("links".into(), json!({ "home": "./", "manage": "manage" }));
        }
        self.html
            .render(name, &data)
            .map_err(|e| TemplateError::rendering(&self.source(name, "html"), &e))
    }

    /// Renders a text template.
    pub fn text(&self, name: &str, site: &Value, mut data: Value) -> Result<String, TemplateError> {
        if let Value::Object(map) = &mut data {
            map.insert("site".into(), site.clone());
        }
        self.text
            .render(name, &data)
            .map_err(|e| TemplateError::rendering(&self.source(name, "txt"), &e))
    }

    fn source(&self, name: &str, kind: &str) -> String {
        let file = format!("{name}.{kind}.hbs");
        self.sources.get(file.as_str()).cloned().unwrap_or(file)
    }

    /// Renders a notice page.
    pub fn notice(&self, site: &Value, n: &Notice<'_>) -> Result<String, TemplateError> {
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
pub fn site_data(config: &Config) -> Value {
    json!({
        "title": config.site.title,
        "language": config.site.language,
        "base_url": config.site.base_url,
    })
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
        json!({ "title": "t", "error": error, "form": { "email": "", "name": "" }, "columns": columns }),
    )?;
    pages.html(
        "page-manage",
        &site,
        json!({ "title": "t", "error": error, "form": { "email": "" } }),
    )?;
    pages.html(
        "page-preferences",
        &site,
        json!({ "title": "t", "saved": true, "error": error, "unsubscribed": false, "token": "t", "form": { "name": "" }, "columns": columns }),
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
    for name in ["email-confirm", "email-manage"] {
        pages.html(name, &site, json!({ "link": "https://example.com/" }))?;
        pages.text(name, &site, json!({ "link": "https://example.com/" }))?;
    }
    Ok(())
}
