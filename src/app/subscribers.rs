//! `broadsheet subscribers …`: add, import, list, export, remove.

use crate::address::Email;
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::error::{ImportError, UsageError};
use crate::fsio::{FsAction, FsError};
use crate::store::{
    ImportReport, NewSubscriber, Store, Subscriber, SubscriberStatus, SubscriberUpdate,
    UpsertOutcome,
};
use crate::Error;
use chrono::{DateTime, FixedOffset};
use std::collections::HashMap;
use std::path::Path;

/// Checks a list of column slugs against the config.
pub fn parse_columns(config: &Config, list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for c in list
        .split([',', ';'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if config.column(c).is_none() {
            let known: Vec<&str> = config.columns.iter().map(|c| c.slug.as_str()).collect();
            // The column one or two edits away, as content errors name it.
            return Err(match crate::text::closest(c, known.iter().copied()) {
                Some(k) => format!(
                    "unknown column {c:?}; did you mean `{k}`? (expected one of {})",
                    known.join(", ")
                ),
                None => format!("unknown column {c:?}; expected one of {}", known.join(", ")),
            });
        }
        if !out.iter().any(|o| o == c) {
            out.push(c.to_owned());
        }
    }
    Ok(out)
}

/// Adds one active subscriber, or changes only what is given of the one
/// with this address: `--columns` alone keeps their name, `--name` alone
/// keeps their columns, and neither changes nothing.
pub fn add(
    config: &Config,
    now: DateTime<FixedOffset>,
    email: &str,
    name: Option<&str>,
    columns: Option<&str>,
    resubscribe: bool,
) -> Result<UpsertOutcome, Error> {
    let email = Email::parse(email).map_err(UsageError::argument("EMAIL"))?;
    let columns = match columns {
        Some(list) => Some(parse_columns(config, list).map_err(UsageError::argument("--columns"))?),
        None => None,
    };
    let subscriber = SubscriberUpdate {
        email,
        name: name.map(crate::text::one_line),
        columns,
    };
    let mut store = Store::connect(&config.state_location())?;
    Ok(store.add_or_update_subscriber(&subscriber, now, resubscribe)?)
}

/// What an import did, and the rows it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Counts of what changed.
    pub report: ImportReport,
    /// Every row refused: file, line, field and why.
    pub refused: Vec<Diagnostic>,
}

/// Imports `email,name,columns` rows: every row is checked, the good ones
/// go in one transaction, the bad ones are listed with their line.
pub fn import(
    config: &Config,
    now: DateTime<FixedOffset>,
    file: &Path,
    resubscribe: bool,
) -> Result<ImportSummary, Error> {
    let shown = file.display().to_string();
    let row = |line: u64, message: String| Diagnostic::new(&shown, message).at(line as usize);
    let bytes = std::fs::read(file)
        .map_err(|e| ImportError::Read(FsError::new(file, FsAction::Read, e)))?;
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(ImportError::Shape(row(1, e.to_string())).into()),
        None => {
            return Err(ImportError::Shape(Diagnostic::new(
                &shown,
                "the file is empty; expected a header line email,name,columns",
            ))
            .into())
        }
    };
    let names: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_lowercase())
        .collect();
    if names != ["email", "name", "columns"] {
        return Err(ImportError::Shape(row(
            1,
            format!(
                "expected the header email,name,columns, found {}",
                names.join(",")
            ),
        ))
        .into());
    }
    let mut rows = Vec::new();
    let mut refused = Vec::new();
    let mut lines = Lines {
        bytes,
        offset: 0,
        line: 1,
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                refused.push(row(line, e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let fields: Result<Vec<&str>, _> = record.iter().map(std::str::from_utf8).collect();
        let Ok(fields) = fields else {
            refused.push(row(line, "invalid UTF-8; expected UTF-8 text".into()));
            continue;
        };
        if fields.len() != 3 {
            refused.push(row(
                line,
                format!(
                    "expected 3 fields (email,name,columns), found {}",
                    fields.len()
                ),
            ));
            continue;
        }
        let email = match Email::parse(fields[0]) {
            Ok(e) => e,
            Err(m) => {
                refused.push(row(line, m).field("email"));
                continue;
            }
        };
        let columns = match parse_columns(config, fields[2]) {
            Ok(c) => c,
            Err(m) => {
                refused.push(row(line, m).field("columns"));
                continue;
            }
        };
        if let Some(first) = seen.insert(email.key().to_owned(), line) {
            refused.push(
                row(
                    line,
                    format!("{} is already on line {first}", email.as_str()),
                )
                .field("email"),
            );
            continue;
        }
        rows.push(NewSubscriber {
            email,
            name: crate::text::one_line(fields[1]),
            columns,
        });
    }
    let mut store = Store::connect(&config.state_location())?;
    let report = store.import_subscribers(&rows, now, resubscribe)?;
    Ok(ImportSummary { report, refused })
}

/// Line numbers of byte offsets, counted here since what a CSV reader
/// calls a line depends on how rows end. Offsets come in increasing order,
/// so each byte is looked at once.
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl Lines<'_> {
    fn at(&mut self, offset: u64) -> u64 {
        let mut end = (offset as usize).min(self.bytes.len());
        // A row's recorded start can sit on the line end of the row before.
        while end < self.bytes.len() && matches!(self.bytes[end], b'\r' | b'\n') {
            end += 1;
        }
        if end >= self.offset {
            self.line += self.bytes[self.offset..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = end;
        }
        self.line
    }
}

/// Subscribers, optionally of one status.
pub fn list(config: &Config, status: Option<&str>) -> Result<Vec<Subscriber>, Error> {
    let status = match status {
        None => None,
        Some(s) => Some(SubscriberStatus::parse(s).ok_or_else(|| {
            UsageError::argument("--status")(format!(
                "expected active, pending, unsubscribed or bounced, found {s:?}"
            ))
        })?),
    };
    // Listing makes no state: with none yet, there is no one.
    if !config.state_location().exists() {
        return Ok(Vec::new());
    }
    let store = Store::connect_snapshot(&config.state_location())?;
    Ok(store.subscribers(status)?)
}

/// Active subscribers as CSV in the import format.
pub fn export(config: &Config) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Into memory: nothing here can fail but a bug.
    const IN_MEMORY: &str = "a CSV record of strings is written into memory";
    w.write_record(["email", "name", "columns"])
        .expect(IN_MEMORY);
    for s in list(config, Some("active"))? {
        w.write_record([s.email.as_str(), s.name.as_str(), s.columns_text().as_str()])
            .expect(IN_MEMORY);
    }
    Ok(w.into_inner().expect(IN_MEMORY))
}

/// Removes a subscriber and their history. Returns whether there was one.
pub fn remove(config: &Config, email: &str) -> Result<bool, Error> {
    let email = Email::parse(email).map_err(UsageError::argument("EMAIL"))?;
    let mut store = Store::connect(&config.state_location())?;
    Ok(store.remove_subscriber(&email)?)
}
