//! Every Handlebars template broadsheet uses, in one registry: the
//! built-in ones (compiled into the binary), the files in `templates/`
//! that replace them by name, strict compilation (a field the data lacks
//! is an error at `check`, not in the middle of a send), and the one error
//! type that names the template's file and line.
//!
//! The digest, the feeds' pages and the subscriber service each keep a
//! [`TemplateSet`] of the templates they render.

use crate::diagnostic::{Diagnostic, Location};
use handlebars::Handlebars;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every built-in template, by the file name in `templates/` that
/// replaces it, in the order `templates export` lists them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("digest.html.hbs", include_str!("builtin/digest.html.hbs")),
    ("digest.txt.hbs", include_str!("builtin/digest.txt.hbs")),
    (
        "digest-archive.html.hbs",
        include_str!("builtin/digest-archive.html.hbs"),
    ),
    ("column.html.hbs", include_str!("builtin/column.html.hbs")),
    ("index.html.hbs", include_str!("builtin/index.html.hbs")),
    ("article.html.hbs", include_str!("builtin/article.html.hbs")),
    (
        "page-layout.html.hbs",
        include_str!("builtin/page-layout.html.hbs"),
    ),
    (
        "page-subscribe.html.hbs",
        include_str!("builtin/page-subscribe.html.hbs"),
    ),
    (
        "page-notice.html.hbs",
        include_str!("builtin/page-notice.html.hbs"),
    ),
    (
        "page-manage.html.hbs",
        include_str!("builtin/page-manage.html.hbs"),
    ),
    (
        "page-preferences.html.hbs",
        include_str!("builtin/page-preferences.html.hbs"),
    ),
    (
        "email-confirm.html.hbs",
        include_str!("builtin/email-confirm.html.hbs"),
    ),
    (
        "email-manage.html.hbs",
        include_str!("builtin/email-manage.html.hbs"),
    ),
    (
        "email-confirm.txt.hbs",
        include_str!("builtin/email-confirm.txt.hbs"),
    ),
    (
        "email-manage.txt.hbs",
        include_str!("builtin/email-manage.txt.hbs"),
    ),
    (
        "email-welcome.html.hbs",
        include_str!("builtin/email-welcome.html.hbs"),
    ),
    (
        "email-welcome.txt.hbs",
        include_str!("builtin/email-welcome.txt.hbs"),
    ),
];

/// The built-in text of `file_name`.
///
/// # Panics
/// When there is no such built-in: the names are constants of this crate.
pub fn builtin(file_name: &str) -> &'static str {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == file_name)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("no built-in template {file_name}"))
}

/// The file in `templates_dir` that replaces the built-in `file_name`,
/// when there is one: its size and times, for a build's fingerprint.
pub fn override_metadata(templates_dir: &Path, file_name: &str) -> Option<std::fs::Metadata> {
    std::fs::metadata(templates_dir.join(file_name)).ok()
}

/// A template that failed to be read, compiled or rendered: where (the
/// file, or `built-in NAME`, or a config key; the line when Handlebars
/// names one) and what Handlebars said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct TemplateError(pub Diagnostic);

impl TemplateError {
    /// A template from `from` that does not compile.
    pub fn compiling(from: &Location, e: &handlebars::TemplateError) -> TemplateError {
        TemplateError::at(from, e.pos().map(|(line, _)| line), e.reason().to_string())
    }

    /// A template from `from` that failed to render (in strict mode,
    /// usually a field the data lacks).
    pub fn rendering(from: &Location, e: &handlebars::RenderError) -> TemplateError {
        // Handlebars words a missing field with Rust's debug form
        // (`Some("nosuch")`); a template's author should read its name.
        let message = match e.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(field)) => {
                format!("no field `{field}` in what this template is given (a misspelt name?)")
            }
            reason => reason.to_string(),
        };
        TemplateError::at(from, e.line_no, message)
    }

    /// The line Handlebars names is a line of the template: of a file, it
    /// is that file's line; of a config value (`from` has a field, such
    /// as `digest.subject`), it is not the config file's, so it is left out.
    fn at(from: &Location, line: Option<usize>, message: String) -> TemplateError {
        let mut location = from.clone();
        if location.field.is_none() {
            location.line = line;
        }
        TemplateError(Diagnostic::located(location, message))
    }

    fn unreadable(source_name: String, e: &std::io::Error) -> TemplateError {
        TemplateError(Diagnostic::new(&source_name, format!("cannot read: {e}")))
    }
}

/// How a set's output is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// HTML: `{{x}}` escapes `<`, `&`, quotes.
    Html,
    /// Plain text (email text parts, subjects): nothing escaped.
    Text,
}

/// Templates compiled together, each under a key, each remembering where
/// its text came from for messages.
pub struct TemplateSet {
    reg: Handlebars<'static>,
    sources: HashMap<String, Location>,
    /// Keys compiled from a built-in template, not a file in `templates/`.
    builtin: std::collections::HashSet<String>,
}

impl TemplateSet {
    /// An empty strict set.
    pub fn new(escape: Escape) -> TemplateSet {
        let mut reg = Handlebars::new();
        reg.set_strict_mode(true);
        if escape == Escape::Text {
            reg.register_escape_fn(handlebars::no_escape);
        }
        TemplateSet {
            reg,
            sources: HashMap::new(),
            builtin: std::collections::HashSet::new(),
        }
    }

    /// Compiles the template `file_name` under `key`: the file of that
    /// name in `templates_dir` when there is one, else the built-in.
    /// `display` shows a path as the user knows it.
    pub fn add(
        &mut self,
        key: &str,
        templates_dir: &Path,
        file_name: &str,
        display: &dyn Fn(&Path) -> String,
    ) -> Result<(), TemplateError> {
        let path: PathBuf = templates_dir.join(file_name);
        let (text, from, is_builtin) = match std::fs::read_to_string(&path) {
            Ok(text) => (text, display(&path), false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                builtin(file_name).to_owned(),
                format!("built-in {file_name}"),
                true,
            ),
            Err(e) => return Err(TemplateError::unreadable(display(&path), &e)),
        };
        self.add_text(key, &text, Location::file(from))?;
        if is_builtin {
            self.builtin.insert(key.to_owned());
        }
        Ok(())
    }

    /// Whether `key` was compiled from the built-in template rather than
    /// a file in `templates/`.
    pub fn is_builtin(&self, key: &str) -> bool {
        self.builtin.contains(key)
    }

    /// Compiles `text` under `key`; `from` says where it came from (the
    /// config file with the key as its field, for `digest.subject`).
    pub fn add_text(&mut self, key: &str, text: &str, from: Location) -> Result<(), TemplateError> {
        self.builtin.remove(key);
        self.reg
            .register_template_string(key, text)
            .map_err(|e| TemplateError::compiling(&from, &e))?;
        self.sources.insert(key.to_owned(), from);
        Ok(())
    }

    /// Renders `key` against `data`.
    pub fn render<T: Serialize>(&self, key: &str, data: &T) -> Result<String, TemplateError> {
        self.reg
            .render(key, data)
            .map_err(|e| match self.sources.get(key) {
                Some(from) => TemplateError::rendering(from, &e),
                None => TemplateError::rendering(&Location::file(key), &e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_templates_replaces_the_built_in_and_is_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html.hbs"), "{{nosuch}}").unwrap();
        let mut set = TemplateSet::new(Escape::Html);
        let display = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        set.add("index", dir.path(), "index.html.hbs", &display)
            .unwrap();
        let e = set.render("index", &serde_json::json!({})).unwrap_err();
        assert!(e.to_string().starts_with("index.html.hbs:1: "), "{e}");
    }

    #[test]
    fn a_missing_field_is_named_as_written_in_the_template() {
        let mut set = TemplateSet::new(Escape::Html);
        set.add_text(
            "page",
            "<p>{{site.titel}}</p>",
            Location::file("page.html.hbs"),
        )
        .unwrap();
        let e = set
            .render("page", &serde_json::json!({ "site": { "title": "論壇" } }))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "page.html.hbs:1: no field `site.titel` in what this template is given (a misspelt name?)"
        );
    }

    #[test]
    fn a_template_that_does_not_compile_names_its_source_and_line() {
        let mut set = TemplateSet::new(Escape::Text);
        let from = Location::file("paper.toml").field("digest.subject");
        let e = set.add_text("subject", "{{#if x}}", from).unwrap_err();
        assert!(
            e.to_string().starts_with("paper.toml: digest.subject: "),
            "{e}"
        );
    }

    #[test]
    fn every_built_in_compiles() {
        for (name, text) in BUILTIN {
            let mut set = TemplateSet::new(Escape::Html);
            set.add_text(name, text, Location::file(*name)).unwrap();
        }
    }
}
