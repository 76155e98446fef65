//! Where the configured paths lie against one another: `output_dir` is
//! served to anyone, so it may hold nothing broadsheet keeps for itself.

use super::issues::Issues;
use super::raw::RawConfig;
use std::path::{Path, PathBuf};

/// `output_dir` is the web root: `serve` hands out what is in it, and
/// anyone who can write it may be a stranger. It must hold none of what
/// broadsheet keeps for itself (the configuration with its secret, the
/// state with every address, the outbox with signed links, the content
/// and templates), nor lie inside the content or the outbox.
pub(super) fn check_output_dir(
    issues: &mut Issues,
    config_file: &Path,
    root: &Path,
    raw: &RawConfig,
) {
    let output = resolved(&root.join(&raw.site.output_dir));
    let mut held: Vec<(&str, PathBuf)> = vec![
        (
            "the configuration file",
            resolved(&root.join(config_file.file_name().unwrap_or_default())),
        ),
        (
            "site.content_dir",
            resolved(&root.join(&raw.site.content_dir)),
        ),
        (
            "site.templates_dir",
            resolved(&root.join(&raw.site.templates_dir)),
        ),
        (
            "site.state_path",
            resolved(&root.join(&raw.site.state_path)),
        ),
        (
            "smtp.outbox_dir",
            resolved(&root.join(&raw.smtp.outbox_dir)),
        ),
    ];
    if let Some(key) = &raw.digest.dkim_key_file {
        held.push(("digest.dkim_key_file", resolved(&root.join(key))));
    }
    if let Some(ca) = &raw.smtp.ca_file {
        held.push(("smtp.ca_file", resolved(&root.join(ca))));
    }
    for (what, path) in &held {
        let inside = |a: &Path, b: &Path| a.starts_with(b);
        let problem = if inside(path, &output) {
            Some("would be inside it")
        } else if matches!(*what, "site.content_dir" | "smtp.outbox_dir") && inside(&output, path) {
            Some("would hold it")
        } else {
            None
        };
        if let Some(problem) = problem {
            issues.add(
                "site.output_dir",
                format!(
                    "{:?} is served to anyone, and {what} ({}) {problem}; expected a folder of its own, such as \"feeds\"",
                    raw.site.output_dir,
                    path.display()
                ),
            );
        }
    }
}

/// `p` made absolute with every symbolic link resolved as far as it exists
/// (the rest, not made yet, is taken as written), so that two spellings of
/// one folder compare equal.
fn resolved(p: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let mut lexical = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(mut real) = existing.canonicalize() {
            real.extend(rest.iter().rev());
            return real;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return lexical,
        }
    }
}
