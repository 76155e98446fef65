//! Where an input is wrong, and what is wrong with it: one shape for
//! articles (file, line, front-matter field), the configuration (its file,
//! the key as the field), templates (file or built-in name, line) and CSV
//! imports (file, row). Every such message reads `path:line: field: message`.

use std::fmt;

/// A place in an input: a file (as shown to the user), optionally a
/// 1-based line and a field or key.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Location {
    /// The file as the user knows it (relative to the configuration's
    /// folder), or a name such as `built-in digest.html.hbs`.
    pub path: String,
    /// The 1-based line, when one can be named.
    pub line: Option<usize>,
    /// The field, key or column, when one can be named.
    pub field: Option<String>,
}

impl Location {
    /// The whole of `path`.
    pub fn file(path: impl Into<String>) -> Location {
        Location {
            path: path.into(),
            line: None,
            field: None,
        }
    }

    /// The same place, narrowed to `line`.
    pub fn at(mut self, line: usize) -> Location {
        self.line = Some(line);
        self
    }

    /// The same place, narrowed to `field`.
    pub fn field(mut self, field: impl Into<String>) -> Location {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        Ok(())
    }
}

/// What is wrong at a place: what was expected and what was found.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    thiserror::Error,
    serde::Serialize,
    serde::Deserialize,
)]
#[error("{location}: {message}")]
pub struct Diagnostic {
    /// Where.
    pub location: Location,
    /// What was expected and what was found.
    pub message: String,
}

impl Diagnostic {
    /// A problem with the whole of `path`.
    pub fn new(path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location: Location::file(path),
            message: message.into(),
        }
    }

    /// A problem at `location`.
    pub fn located(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location,
            message: message.into(),
        }
    }

    /// The same problem, narrowed to `line`.
    pub fn at(mut self, line: usize) -> Diagnostic {
        self.location.line = Some(line);
        self
    }

    /// The same problem, narrowed to `line` when there is one.
    pub fn at_line(mut self, line: Option<usize>) -> Diagnostic {
        if line.is_some() {
            self.location.line = line;
        }
        self
    }

    /// The same problem, narrowed to `field`.
    pub fn field(mut self, field: impl Into<String>) -> Diagnostic {
        self.location.field = Some(field.into());
        self
    }
}

/// Several diagnostics, one a line, sorted by file and line, then a count
/// ("3 content errors"), so a run reports every problem at once.
pub(crate) fn write_all(f: &mut fmt::Formatter<'_>, all: &[Diagnostic], what: &str) -> fmt::Result {
    for d in all {
        writeln!(f, "{d}")?;
    }
    let n = all.len();
    write!(f, "{n} {what} error{}", if n == 1 { "" } else { "s" })
}

/// Sorts by file and line and drops repeats.
pub(crate) fn sorted(mut all: Vec<Diagnostic>) -> Vec<Diagnostic> {
    all.sort_by(|a, b| {
        (&a.location.path, a.location.line).cmp(&(&b.location.path, b.location.line))
    });
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_reads_path_line_field_message() {
        let d = Diagnostic::new("content/ai/x.md", "expected a date")
            .at(3)
            .field("published");
        assert_eq!(
            d.to_string(),
            "content/ai/x.md:3: published: expected a date"
        );
        let d = Diagnostic::located(Location::file("config.toml").field("smtp.port"), "too big");
        assert_eq!(d.to_string(), "config.toml: smtp.port: too big");
        assert_eq!(
            Diagnostic::new("a.csv", "empty").to_string(),
            "a.csv: empty"
        );
    }
}
