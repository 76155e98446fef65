//! `broadsheet subscribers …`: add, import, list, export, remove.

use crate::address::Email;
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::error::{ImportError, UsageError};
use crate::fsio::{FsAction, FsError};
use crate::store::{
    BounceKind, ImportReport, MarkedBy, NewSubscriber, Store, Subscriber, SubscriberStatus,
    SubscriberUpdate, UpsertOutcome,
};
use crate::Error;
use chrono::{DateTime, FixedOffset};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
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
/// go in one transaction, the bad ones are listed with their line. The
/// file is read while the rows are written, so its size costs no memory
/// beyond 24 bytes or so a row for telling repeated addresses.
pub fn import(
    config: &Config,
    now: DateTime<FixedOffset>,
    file: &Path,
    resubscribe: bool,
) -> Result<ImportSummary, Error> {
    let shown = file.display().to_string();
    let row = |line: u64, message: String| Diagnostic::new(&shown, message).at(line as usize);
    let read_error = |e: std::io::Error| ImportError::Read(FsError::new(file, FsAction::Read, e));
    let mut input = BufReader::new(File::open(file).map_err(read_error)?);
    // A byte-order mark, as spreadsheets write, is not part of the header.
    const BOM: &[u8] = "\u{feff}".as_bytes();
    if input.fill_buf().map_err(read_error)?.starts_with(BOM) {
        input.consume(BOM.len());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineEnds::new(input));
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ImportError::Shape(Diagnostic::new(
                &shown,
                "the file is empty; expected a header line email,name,columns",
            ))
            .into())
        }
        Err(e) if e.is_io_error() => return Err(read_error(into_io(e)).into()),
        Err(e) => return Err(ImportError::Shape(row(1, e.to_string())).into()),
    }
    let names: Vec<String> = record
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

    let mut store = Store::connect(&config.state_location())?;
    let mut refused = Vec::new();
    // The first line of each address, by a 128-bit digest of it rather
    // than the address itself: 24 bytes an address, and two of them
    // taking the same digest is as likely as guessing a random 128-bit key.
    let mut seen: FxHashMap<u128, u64> = FxHashMap::default();
    let mut next = |into: &mut Vec<NewSubscriber>, n: usize| -> Result<(), ImportError> {
        while into.len() < n {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) if e.is_io_error() => return Err(read_error(into_io(e))),
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(0, |p| reader.get_mut().line_at(p.byte()));
                    refused.push(row(line, e.to_string()));
                    continue;
                }
            }
            let line = record
                .position()
                .map_or(0, |p| reader.get_mut().line_at(p.byte()));
            if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let subscriber = match checked_row(config, &record) {
                Ok(s) => s,
                Err((field, message)) => {
                    let refusal = row(line, message);
                    refused.push(match field {
                        Some(f) => refusal.field(f),
                        None => refusal,
                    });
                    continue;
                }
            };
            let digest = Sha256::digest(subscriber.email.key().as_bytes());
            let key = u128::from_le_bytes(digest[..16].try_into().expect("16 of 32 bytes"));
            if let Entry::Occupied(first) = seen.entry(key) {
                let first = *first.get();
                refused.push(
                    row(
                        line,
                        format!("{} is already on line {first}", subscriber.email.as_str()),
                    )
                    .field("email"),
                );
                continue;
            }
            seen.insert(key, line);
            into.push(subscriber);
        }
        Ok(())
    };
    let report = store.import_subscribers(&mut next, now, resubscribe)??;
    Ok(ImportSummary { report, refused })
}

/// The subscriber a data row names, or the field at fault (if one is)
/// and what was expected of it.
fn checked_row(
    config: &Config,
    record: &csv::ByteRecord,
) -> Result<NewSubscriber, (Option<&'static str>, String)> {
    let fields: Result<Vec<&str>, _> = record.iter().map(std::str::from_utf8).collect();
    let Ok(fields) = fields else {
        return Err((None, "invalid UTF-8; expected UTF-8 text".into()));
    };
    if fields.len() != 3 {
        return Err((
            None,
            format!(
                "expected 3 fields (email,name,columns), found {}",
                fields.len()
            ),
        ));
    }
    let email = Email::parse(fields[0]).map_err(|m| (Some("email"), m))?;
    let columns = parse_columns(config, fields[2]).map_err(|m| (Some("columns"), m))?;
    Ok(NewSubscriber {
        email,
        name: crate::text::one_line(fields[1]),
        columns,
    })
}

/// The I/O error a CSV reader met.
fn into_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Notes where each line end passes as the CSV reader pulls bytes
/// through, so that a row's byte offset (all the csv crate gives that is
/// exact) can be told as a line number after its bytes are gone. Not the
/// csv crate's own line count: the recorded start of a row after a CRLF
/// sits on the line end of the row before, so its line would be one short.
struct LineEnds<R> {
    inner: R,
    /// Bytes read so far.
    read: u64,
    /// Where each `\r` and `\n` read and not yet passed by [`LineEnds::line_at`]
    /// is, and whether it is a `\n`: no more than a row and the CSV
    /// reader's buffer hold.
    ends: VecDeque<(u64, bool)>,
    /// The line [`LineEnds::line_at`] last told.
    line: u64,
}

impl<R> LineEnds<R> {
    fn new(inner: R) -> LineEnds<R> {
        LineEnds {
            inner,
            read: 0,
            ends: VecDeque::new(),
            line: 1,
        }
    }

    /// The line of the row recorded as starting at byte `offset`; the
    /// offsets asked for only grow.
    fn line_at(&mut self, offset: u64) -> u64 {
        // A row's recorded start can sit on the line end of the row
        // before: line ends from `offset` on count as before it.
        let mut start = offset;
        while let Some(&(at, newline)) = self.ends.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1;
            }
            self.line += u64::from(newline);
            self.ends.pop_front();
        }
        self.line
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = self.read;
        self.ends.extend(
            memchr::memchr2_iter(b'\r', b'\n', &buf[..n])
                .map(|i| (read + i as u64, buf[i] == b'\n')),
        );
        self.read += n as u64;
        Ok(n)
    }
}

/// Why a subscriber is `bounced` or `complained`, as `subscribers list
/// --status bounced|complained` shows it: the report that decided it, or
/// the relay's last refusal while sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `hard`, `soft` or `complaint`.
    pub kind: &'static str,
    /// The status code (`5.1.1`, a provider's); may be empty.
    pub status_code: String,
    /// Where it came from: `mail`, `maildir`, `imap`, a sending service
    /// (`ses`, `sendgrid`, `postmark`, `mailgun`), or `smtp` for the
    /// relay's refusal while sending.
    pub source: String,
    /// When it happened, in `site.timezone`.
    pub at: DateTime<FixedOffset>,
    /// The report's id, for `bounces show ID`; none for a refusal.
    pub event_id: Option<i64>,
    /// The remote server's words, on one line; may be empty.
    pub diagnostic: String,
}

impl Reason {
    fn new(why: MarkedBy, tz: chrono_tz::Tz) -> Reason {
        let local = |t: DateTime<FixedOffset>| t.with_timezone(&tz).fixed_offset();
        match why {
            MarkedBy::Report(e) => Reason {
                kind: e.kind.as_str(),
                status_code: e.status_code,
                source: e.source,
                at: local(e.reported_at),
                event_id: Some(e.id),
                diagnostic: e.diagnostic,
            },
            MarkedBy::Refused { reply, at, .. } => Reason {
                kind: BounceKind::Hard.as_str(),
                status_code: reply_code(&reply).to_owned(),
                source: "smtp".to_owned(),
                at: local(at),
                event_id: None,
                diagnostic: crate::bounces::diagnostic(&reply),
            },
        }
    }
}

/// The code of an SMTP reply: its enhanced status code (`5.1.1`) when it
/// has one, else its three digits.
fn reply_code(reply: &str) -> &str {
    let mut words = reply.split([' ', '-']).filter(|w| !w.is_empty());
    let basic = words
        .next()
        .filter(|w| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("");
    let enhanced = words.next().filter(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match enhanced {
        Some(e) if !basic.is_empty() => e,
        _ => basic,
    }
}

/// What `subscribers list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The subscribers, by address.
    pub subscribers: Vec<Subscriber>,
    /// With `--status bounced` or `complained`: why each is, in the same
    /// order (`None` where nothing recorded says).
    pub reasons: Option<Vec<Option<Reason>>>,
}

/// `subscribers list`: subscribers, optionally of one status, with why
/// each bounced or complained one is.
pub fn listed(config: &Config, status: Option<&str>) -> Result<Listed, Error> {
    let status = parse_status(status)?;
    // Listing makes no state: with none yet, there is no one.
    if !config.state_location().exists() {
        return Ok(Listed {
            subscribers: Vec::new(),
            reasons: None,
        });
    }
    let store = Store::connect_snapshot(&config.state_location())?;
    let subscribers = store.subscribers(status)?;
    let reasons = match status {
        Some(s @ (SubscriberStatus::Bounced | SubscriberStatus::Complained)) => {
            let mut why = store.marked_by(s)?;
            Some(
                subscribers
                    .iter()
                    .map(|sub| {
                        why.remove(&sub.id)
                            .map(|w| Reason::new(w, config.site.timezone))
                    })
                    .collect(),
            )
        }
        _ => None,
    };
    Ok(Listed {
        subscribers,
        reasons,
    })
}

fn parse_status(status: Option<&str>) -> Result<Option<SubscriberStatus>, Error> {
    Ok(match status {
        None => None,
        Some(s) => Some(SubscriberStatus::parse(s).ok_or_else(|| {
            UsageError::argument("--status")(format!(
                "expected active, pending, unsubscribed, bounced or complained, found {s:?}"
            ))
        })?),
    })
}

/// Subscribers, optionally of one status.
pub fn list(config: &Config, status: Option<&str>) -> Result<Vec<Subscriber>, Error> {
    let status = parse_status(status)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines told from the whole file at once, as the import did when it
    /// held the file in memory: the reference for [`LineEnds`].
    fn line_from_whole(bytes: &[u8], offset: u64) -> u64 {
        let mut end = (offset as usize).min(bytes.len());
        while end < bytes.len() && matches!(bytes[end], b'\r' | b'\n') {
            end += 1;
        }
        1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
    }

    /// Gives one byte a read, so that every row crosses reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    fn lines_told(bytes: &[u8]) -> Vec<(u64, u64)> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineEnds::new(Trickle(bytes)));
        let mut record = csv::ByteRecord::new();
        let mut told = Vec::new();
        loop {
            let position = match reader.read_byte_record(&mut record) {
                Ok(false) => return told,
                Ok(true) => record.position().cloned(),
                Err(e) => e.position().cloned(),
            };
            let offset = position.expect("a reader's rows have positions").byte();
            told.push((offset, reader.get_mut().line_at(offset)));
        }
    }

    #[test]
    fn a_rows_line_is_told_as_from_the_whole_file_though_its_bytes_are_gone() {
        // Every string of up to seven of these: LF, CRLF and CR ends,
        // blank lines, quoted fields holding line ends.
        let alphabet = [b'a', b',', b'"', b'\r', b'\n'];
        let mut cases = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..7 {
            last = last
                .iter()
                .flat_map(|s: &Vec<u8>| {
                    alphabet.iter().map(move |&b| {
                        let mut s = s.clone();
                        s.push(b);
                        s
                    })
                })
                .collect();
            cases.extend(last.iter().cloned());
        }
        cases.push(b"email,name,columns\r\na@x.example,\"\xe7\x94\xb2\r\n\xe4\xb9\x99\",ai\r\n\r\nb@x.example,,\n".to_vec());
        for bytes in &cases {
            for (offset, line) in lines_told(bytes) {
                assert_eq!(
                    line,
                    line_from_whole(bytes, offset),
                    "{:?} at byte {offset}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }
}
