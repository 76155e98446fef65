//! `broadsheet subscribers …`: add, import, list, export, remove.

use crate::address::Email;
use crate::config::Config;
use crate::store::{
    ImportReport, NewSubscriber, Store, Subscriber, SubscriberStatus, UpsertOutcome,
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
            return Err(format!(
                "unknown column {c:?}; expected one of {}",
                known.join(", ")
            ));
        }
        if !out.iter().any(|o| o == c) {
            out.push(c.to_owned());
        }
    }
    Ok(out)
}

/// Adds (or updates) one active subscriber.
pub fn add(
    config: &Config,
    now: DateTime<FixedOffset>,
    email: &str,
    name: Option<&str>,
    columns: Option<&str>,
    resubscribe: bool,
) -> Result<UpsertOutcome, Error> {
    let email = Email::parse(email).map_err(|m| Error::Usage(format!("EMAIL: {m}")))?;
    let columns = match columns {
        Some(list) => {
            parse_columns(config, list).map_err(|m| Error::Usage(format!("--columns: {m}")))?
        }
        None => Vec::new(),
    };
    let subscriber = NewSubscriber {
        email,
        name: crate::text::one_line(name.unwrap_or("")),
        columns,
    };
    let mut store = Store::open(&config.site.state_path)?;
    Ok(store.add_subscriber(&subscriber, now, resubscribe)?)
}

/// What an import did, and the rows it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Counts of what changed.
    pub report: ImportReport,
    /// `file:line: message` for every row refused.
    pub refused: Vec<String>,
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
    let bytes =
        std::fs::read(file).map_err(|e| Error::Usage(format!("{shown}: cannot read: {e}")))?;
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(Error::Usage(format!("{shown}:1: {e}"))),
        None => {
            return Err(Error::Usage(format!(
                "{shown}: the file is empty; expected a header line email,name,columns"
            )))
        }
    };
    let names: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_lowercase())
        .collect();
    if names != ["email", "name", "columns"] {
        return Err(Error::Usage(format!(
            "{shown}:1: expected the header email,name,columns, found {}",
            names.join(",")
        )));
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
                refused.push(format!("{shown}:{line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let fields: Result<Vec<&str>, _> = record.iter().map(std::str::from_utf8).collect();
        let Ok(fields) = fields else {
            refused.push(format!(
                "{shown}:{line}: invalid UTF-8; expected UTF-8 text"
            ));
            continue;
        };
        if fields.len() != 3 {
            refused.push(format!(
                "{shown}:{line}: expected 3 fields (email,name,columns), found {}",
                fields.len()
            ));
            continue;
        }
        let email = match Email::parse(fields[0]) {
            Ok(e) => e,
            Err(m) => {
                refused.push(format!("{shown}:{line}: email: {m}"));
                continue;
            }
        };
        let columns = match parse_columns(config, fields[2]) {
            Ok(c) => c,
            Err(m) => {
                refused.push(format!("{shown}:{line}: columns: {m}"));
                continue;
            }
        };
        if let Some(first) = seen.insert(email.key().to_owned(), line) {
            refused.push(format!(
                "{shown}:{line}: email: {} is already on line {first}",
                email.as_str()
            ));
            continue;
        }
        rows.push(NewSubscriber {
            email,
            name: crate::text::one_line(fields[1]),
            columns,
        });
    }
    let mut store = Store::open(&config.site.state_path)?;
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
            Error::Usage(format!(
                "--status: expected active, pending, unsubscribed or bounced, found {s:?}"
            ))
        })?),
    };
    let store = Store::open(&config.site.state_path)?;
    Ok(store.subscribers(status)?)
}

/// Active subscribers as CSV in the import format.
pub fn export(config: &Config) -> Result<Vec<u8>, Error> {
    let store = Store::open(&config.site.state_path)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::Usage(format!("cannot write CSV: {e}"));
    w.write_record(["email", "name", "columns"]).map_err(io)?;
    for s in store.subscribers(Some(SubscriberStatus::Active))? {
        w.write_record([s.email.as_str(), s.name.as_str(), s.columns_text().as_str()])
            .map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| Error::Usage(format!("cannot write CSV: {e}")))
}

/// Removes a subscriber and their history. Returns whether there was one.
pub fn remove(config: &Config, email: &str) -> Result<bool, Error> {
    let email = Email::parse(email).map_err(|m| Error::Usage(format!("EMAIL: {m}")))?;
    let mut store = Store::open(&config.site.state_path)?;
    Ok(store.remove_subscriber(&email)?)
}
