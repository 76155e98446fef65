//! The build's cache of what it read from each content file, so that a
//! build after one edit reads one file rather than a million.
//!
//! A [`FileCache`] maps a content file's path, as the build names it, to
//! the [`FileStat`] the file had when it was read and a record of what was
//! read from it. A record is used only while the file's stat is the same,
//! and the whole cache only while its [`CacheStamp`] (broadsheet's version
//! and the configuration's digest) is. It is a cache and nothing more: a
//! missing, damaged or outdated one is empty, the build reads every file
//! again, and the output is the same.
//!
//! The file, integers little-endian:
//!
//! | bytes | what |
//! | --- | --- |
//! | 8 | [`MAGIC`] |
//! | 4 | the format version, [`FORMAT`] |
//! | 8 | the body's length in bytes |
//! | 8 | the number of entries |
//! | 32 | the digest: SHA-256 of the 28 bytes above and the SHA-256 of the body |
//! | the rest | the body, in postcard: the stamp (version, configuration digest), then each entry as (path, stat, record), sorted by path |
//!
//! The digest, checked before anything in the body is decoded, is what
//! turns a truncated or bit-flipped file into a refusal rather than wrong
//! records. At 1,000,000 entries (about 100 MB) it costs well under a tenth
//! of a second where the processor hashes SHA-256 itself (the `sha2` crate
//! uses those instructions when it finds them), and a few tenths where it
//! does not; a cheaper length and count check would leave a flipped bit in
//! a number or a name undetected.

use std::io::{Read, Seek, Write};
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::content::FileStat;
use crate::fsio::{self, FsAction, FsError};

/// What a build's cache is called beside the state: `<state_path>` and this.
pub const CACHE_SUFFIX: &str = ".build-cache";

/// How a cache file begins: not text, so that no other file broadsheet
/// writes is taken for one.
pub const MAGIC: [u8; 8] = *b"\x89BSCACH\n";

/// The layout of the file. Raised whenever the header or the encoding of
/// the stamp changes; a change in a record's shape is the caller's, and
/// goes into [`CacheStamp::version`].
pub const FORMAT: u32 = 1;

/// A cache larger than this is refused unread: about 25 times the cache
/// of a 1,000,000-article archive, and a bound on the memory a file found
/// in `output_dir` can make a build take.
pub const MAX_CACHE_BYTES: u64 = 3 << 30;

/// Magic, format, body length, entry count, digest.
const HEADER_BYTES: usize = 8 + 4 + 8 + 8 + 32;

/// The fewest bytes an entry takes: an empty path (its length, 1 byte),
/// the stat's four numbers (1 byte each at least) and an empty record
/// (its length).
/// No honest file announces more entries than its body can hold at this
/// size.
const MIN_ENTRY_BYTES: usize = 6;

/// How many entries a load makes room for before it has read them: a
/// million-article archive fits, and a forged count cannot make a build
/// reserve memory for entries the file does not hold.
const MAX_RESERVED: usize = 1 << 20;

/// What decides whether a cache may be trusted at all: one written by
/// another version of broadsheet, or for another configuration, is ignored
/// whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStamp {
    /// The version of broadsheet that wrote the cache
    /// (`env!("CARGO_PKG_VERSION")`, with whatever the caller adds to tell
    /// a change in its record's shape).
    pub version: String,
    /// A digest of every setting that changes what a record would hold.
    pub config_digest: String,
}

impl CacheStamp {
    /// The stamp of this version of broadsheet with `config_digest`.
    pub fn new(config_digest: impl Into<String>) -> CacheStamp {
        CacheStamp {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_digest: config_digest.into(),
        }
    }
}

/// The records of a previous build, by the path of the file each was
/// read from.
///
/// The file is kept as it was read, with an index from each path's hash to
/// where its entry begins; a record is decoded when it is asked for. So a
/// load costs one pass over the paths, the memory is about the file's size
/// (a decoded million-entry map took three times as much, and as long
/// again to fill), and records are decoded by whichever threads ask.
///
/// Records are stored with postcard, which, unlike JSON, does not name
/// fields: a record type must serialise every field every time (no
/// `skip_serializing_if`), and any change to its shape must change the
/// stamp's version. A record that does not decode as `T` is a miss.
pub struct FileCache<T> {
    /// The whole file.
    bytes: Vec<u8>,
    /// Where each entry begins in `bytes`, by the hash of its path
    /// ([`AMBIGUOUS`] when two paths share a hash).
    index: FxHashMap<u64, u32>,
    /// How many entries the file holds.
    count: usize,
    /// When the cache file was last written, in nanoseconds since the
    /// epoch; see [`FileCache::get`].
    written_ns: u64,
    record: std::marker::PhantomData<fn() -> T>,
}

/// The index's mark for a hash two paths share: neither is found, so each
/// is read again, which is always correct.
const AMBIGUOUS: u32 = u32::MAX;

// Offsets into the file fit the index's u32, the last kept for AMBIGUOUS.
const _: () = assert!(MAX_CACHE_BYTES < u32::MAX as u64);

impl<T> Default for FileCache<T> {
    fn default() -> FileCache<T> {
        FileCache {
            bytes: Vec::new(),
            index: FxHashMap::default(),
            count: 0,
            written_ns: 0,
            record: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for FileCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("bytes", &self.bytes.len())
            .field("count", &self.count)
            .finish()
    }
}

/// Why a cache file was not used.
#[derive(Debug, PartialEq, Eq)]
enum Rejected {
    /// There is none: the first build, or after someone deleted it.
    Missing,
    /// Written by another version or for another configuration: intact,
    /// and expected after an upgrade or an edit to the configuration.
    Outdated(String),
    /// Not readable, not a cache, or damaged.
    Damaged(String),
}

/// What a load that did not use the cache at `path` logs, and at which
/// level: nothing for a missing one.
fn log_line(path: &Path, rejected: &Rejected) -> Option<(tracing::Level, String)> {
    let (level, why) = match rejected {
        Rejected::Missing => return None,
        // An upgrade or a configuration edit outdates the cache as it
        // should, and nothing is wrong: a warning on every such build
        // would teach people to skip warnings. `-v` shows it.
        Rejected::Outdated(why) => (tracing::Level::INFO, why),
        Rejected::Damaged(why) => (tracing::Level::WARN, why),
    };
    let line = format!(
        "{}: {why}; it is ignored and every content file is read again",
        path.display()
    );
    Some((level, line))
}

/// One entry as it is stored: the path, the stat, and the record encoded
/// on its own, so that a load can step over it without decoding it.
type Stored<'a> = (&'a str, FileStat, &'a [u8]);

/// A record's bytes, written as postcard writes a byte string (its length,
/// then the bytes), which `&[u8]` reads back without a copy.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

fn hash_of(display: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(display)
}

impl<T> FileCache<T> {
    /// Reads the cache at `path`. A missing one is empty, silently; one
    /// that cannot be read, is not a cache, is truncated or damaged, or was
    /// written by another version of broadsheet or for another
    /// configuration is empty too, with one log line naming the file, why,
    /// and that it is ignored.
    pub fn load(path: &Path, stamp: &CacheStamp) -> FileCache<T> {
        read(path, stamp).unwrap_or_else(|rejected| {
            match log_line(path, &rejected) {
                Some((tracing::Level::WARN, line)) => tracing::warn!("{line}"),
                Some((_, line)) => tracing::info!("{line}"),
                None => {}
            }
            FileCache::default()
        })
    }

    /// The record for `display` (a content file's path as the build names
    /// it), if the file's stat is still `stat`. Takes `&self`, so the
    /// threads that read content files can ask at once.
    ///
    /// Also a miss: a file changed no earlier than the cache was written.
    /// A file's times come from a clock that ticks in steps of a few
    /// milliseconds, so a file edited again within the step in which it
    /// was read keeps its stat, and only a read after the cache was
    /// written tells. Such a file is read again until a later cache was
    /// written after the step it changed in.
    pub fn get(&self, display: &str, stat: &FileStat) -> Option<T>
    where
        T: DeserializeOwned,
    {
        self.get_as(display, stat)
    }

    /// [`FileCache::get`] as `R`: `T` with its text borrowed from the
    /// cache, which then lives no longer than the cache.
    pub fn get_as<'de, R>(&'de self, display: &str, stat: &FileStat) -> Option<R>
    where
        R: Deserialize<'de>,
    {
        let at = *self.index.get(&hash_of(display))?;
        let entry = self.bytes.get(usize::try_from(at).ok()?..)?;
        let ((path, cached, record), _) = postcard::take_from_bytes::<Stored>(entry).ok()?;
        if path != display || !self.trusted(&cached, stat) {
            return None;
        }
        match postcard::take_from_bytes::<R>(record) {
            Ok((record, [])) => Some(record),
            _ => None,
        }
    }

    fn trusted(&self, cached: &FileStat, stat: &FileStat) -> bool {
        cached == stat && stat.mtime_ns.max(stat.ctime_ns) < self.written_ns
    }

    /// How many entries the cache holds (trusted or not).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Reads and checks the cache at `path`.
fn read<T>(path: &Path, stamp: &CacheStamp) -> Result<FileCache<T>, Rejected> {
    let cannot = |e: std::io::Error| Rejected::Damaged(format!("cannot read the cache: {e}"));
    // Looked at before it is opened: opening a named pipe would wait for
    // a writer, and a device would give bytes without end.
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rejected::Missing),
        Err(e) => return Err(cannot(e)),
        Ok(meta) if !meta.is_file() => {
            return Err(Rejected::Damaged("not a regular file".to_owned()))
        }
        Ok(_) => {}
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    let too_large = |len: u64| {
        Rejected::Damaged(format!(
            "the cache is {len} bytes, more than the {MAX_CACHE_BYTES} a cache may be"
        ))
    };
    if meta.len() > MAX_CACHE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_CACHE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_CACHE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let (index, count) = parse(&bytes, stamp)?;
    Ok(FileCache {
        bytes,
        index,
        count,
        written_ns: FileStat::of(&meta).mtime_ns,
        record: std::marker::PhantomData,
    })
}

/// Checks the header, the digest and the stamp of a cache file's bytes,
/// and indexes its entries.
fn parse(bytes: &[u8], stamp: &CacheStamp) -> Result<(FxHashMap<u64, u32>, usize), Rejected> {
    let damaged = |why: String| Rejected::Damaged(why);
    if bytes.is_empty() {
        return Err(damaged("the cache is an empty file".to_owned()));
    }
    if !bytes.starts_with(&MAGIC) {
        return Err(if MAGIC.starts_with(bytes) {
            damaged(format!(
                "the cache is truncated: it ends after {} bytes, inside its header",
                bytes.len()
            ))
        } else {
            damaged("not a broadsheet cache: the file does not begin as one does".to_owned())
        });
    }
    if bytes.len() < HEADER_BYTES {
        return Err(damaged(format!(
            "the cache is truncated: it ends after {} bytes, inside its {HEADER_BYTES}-byte header",
            bytes.len()
        )));
    }
    let (header, body) = bytes.split_at(HEADER_BYTES);
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
    let format = u32_at(8);
    if format != FORMAT {
        return Err(Rejected::Outdated(format!(
            "the cache is in format {format}, and this version of broadsheet reads format {FORMAT}"
        )));
    }
    let body_len = u64_at(12);
    let count = u64_at(20);
    if body_len != body.len() as u64 {
        return Err(damaged(if body_len > body.len() as u64 {
            format!(
                "the cache is truncated: its header announces {body_len} bytes of entries, and {} follow",
                body.len()
            )
        } else {
            format!(
                "the cache is damaged: its header announces {body_len} bytes of entries, and {} follow",
                body.len()
            )
        }));
    }
    // The digest and the index are made side by side, on two threads:
    // indexing bytes not yet checked is safe (postcard checks every length
    // it reads against the bytes left, so a forged one is an error, never
    // an allocation), and its result is used only once the digest matched.
    let (sum, index) = rayon::join(
        || checksum(header, Sha256::digest(body).into()),
        || index(body, count, stamp),
    );
    if sum[..] != header[28..HEADER_BYTES] {
        return Err(damaged(
            "the cache is damaged: its checksum does not match its contents".to_owned(),
        ));
    }
    index
}

/// Reads the stamp at the start of `body` and finds where each of the
/// `count` entries after it begins.
fn index(
    body: &[u8],
    count: u64,
    stamp: &CacheStamp,
) -> Result<(FxHashMap<u64, u32>, usize), Rejected> {
    let damaged = |why: String| Rejected::Damaged(why);
    let ((version, config_digest), mut rest) = postcard::take_from_bytes::<(&str, &str)>(body)
        .map_err(|e| damaged(format!("the cache's stamp does not read: {e}")))?;
    if version != stamp.version {
        return Err(Rejected::Outdated(format!(
            "the cache was written by broadsheet {version}, and this is {}",
            stamp.version
        )));
    }
    if config_digest != stamp.config_digest {
        return Err(Rejected::Outdated(
            "the cache was written for another configuration".to_owned(),
        ));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|&n| n <= rest.len() / MIN_ENTRY_BYTES)
        .ok_or_else(|| {
            damaged(format!(
                "the cache's header announces {count} entries, more than its {} bytes can hold",
                rest.len()
            ))
        })?;
    let mut index: FxHashMap<u64, u32> =
        FxHashMap::with_capacity_and_hasher(count.min(MAX_RESERVED), Default::default());
    for n in 1..=count {
        // Offsets count from the start of the file, as `get` reads it.
        let at = (HEADER_BYTES + body.len() - rest.len()) as u32;
        let ((display, _, _), next) = postcard::take_from_bytes::<Stored>(rest)
            .map_err(|e| damaged(format!("entry {n} of the cache does not read: {e}")))?;
        index
            .entry(hash_of(display))
            .and_modify(|old| *old = AMBIGUOUS)
            .or_insert(at);
        rest = next;
    }
    if !rest.is_empty() {
        return Err(damaged(format!(
            "the cache is damaged: {} bytes follow its last entry",
            rest.len()
        )));
    }
    Ok((index, count))
}

/// Writes a new cache at `path` through a temporary file and a rename,
/// with exactly `entries` (given in any order; of two with the same path,
/// the later). A file that already holds these entries, written after
/// every one of them last changed, is left as it is; but a build that
/// found every file in the cache (each `get` a hit, and as many files as
/// [`FileCache::len`]) has nothing to save and need not call this, which
/// costs about as much as a load.
///
/// The file is readable by its owner alone: it names every content file,
/// drafts and articles not yet published among them, and it sits in the
/// web root.
///
/// A cache is a cache: a failure here is worth a warning, not a failed
/// build.
#[cfg(test)]
pub fn save<'a, T: Serialize + 'a>(
    path: &Path,
    stamp: &CacheStamp,
    entries: impl Iterator<Item = (&'a str, FileStat, &'a T)>,
) -> Result<(), FsError> {
    let mut entries: Vec<(&'a str, FileStat, &'a T)> = entries.collect();
    // Sorted, so that the same entries make the same bytes whatever order
    // the walk found them in.
    if !entries.is_sorted_by(|a, b| a.0 < b.0) {
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
    }
    write_entries(path, stamp, entries.into_iter())
}

/// [`save`] for entries that come in path order, each path once, as a
/// walk lists files: written as they come, never held all at once (a
/// million records would be a hundred megabytes). An entry out of order
/// is a bug of the caller's, and writes nothing.
pub fn save_in_order<'a, T: Serialize>(
    path: &Path,
    stamp: &CacheStamp,
    entries: impl Iterator<Item = (&'a str, FileStat, T)>,
) -> Result<(), FsError> {
    write_entries(path, stamp, entries)
}

fn write_entries<'a, T: Serialize>(
    path: &Path,
    stamp: &CacheStamp,
    entries: impl Iterator<Item = (&'a str, FileStat, T)>,
) -> Result<(), FsError> {
    let err = |e: std::io::Error| FsError::new(path, FsAction::Write, e);
    let dir = path.parent().unwrap_or(Path::new("."));
    fsio::create_dir(dir)?;
    // As fsio::stage does, but streamed rather than held whole (100 MB at
    // 1,000,000 entries); tempfile creates it 0600 and removes it if it is
    // dropped.
    let tmp = tempfile::Builder::new()
        .prefix(".broadsheet-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp);
    out.write_all(&[0u8; HEADER_BYTES]).map_err(err)?;
    // Hashed on the way, so that the digest can tell whether the file on
    // disk already holds these entries; the header goes in last.
    let mut body_digest = Sha256::new();
    let mut body_len = 0u64;
    let written = encode(stamp, entries, |bytes| {
        body_digest.update(bytes);
        body_len += bytes.len() as u64;
        if body_len > MAX_CACHE_BYTES - HEADER_BYTES as u64 {
            return Err(std::io::Error::other(format!(
                "the cache would be more than the {MAX_CACHE_BYTES} bytes a cache may be"
            )));
        }
        out.write_all(bytes)
    })
    .map_err(err)?;
    let mut header = [0u8; HEADER_BYTES];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    header[12..20].copy_from_slice(&body_len.to_le_bytes());
    header[20..28].copy_from_slice(&written.count.to_le_bytes());
    let sum = checksum(&header, body_digest.finalize().into());
    header[28..].copy_from_slice(&sum);
    if is_current(path, &header, body_len, written.newest_ns) {
        return Ok(());
    }
    let mut tmp = out.into_inner().map_err(|e| err(e.into_error()))?;
    tmp.seek(std::io::SeekFrom::Start(0)).map_err(err)?;
    tmp.write_all(&header).map_err(err)?;
    fsio::persist(tmp.into_temp_path(), path)
}

/// The digest a header ends with: over the header before it, so that a
/// changed entry count is caught too, and the body's own digest.
fn checksum(header: &[u8], body_digest: [u8; 32]) -> [u8; 32] {
    let mut outer = Sha256::new();
    outer.update(&header[..28]);
    outer.update(body_digest);
    outer.finalize().into()
}

/// Whether the file at `path` already holds what `header` describes (the
/// digest in it stands for the body) and is newer than every entry: see
/// [`FileCache::get`] for why the time matters.
fn is_current(path: &Path, header: &[u8; HEADER_BYTES], body_len: u64, newest_ns: u64) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != HEADER_BYTES as u64 + body_len {
        return false;
    }
    let written_ns = FileStat::of(&meta).mtime_ns;
    if newest_ns >= written_ns {
        return false;
    }
    let mut old = [0u8; HEADER_BYTES];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut old))
        .is_ok_and(|()| old == *header)
}

/// postcard's output onto the end of a `Vec`, in place: its own
/// `to_extend` takes the `Vec` by value and pushes byte by byte, which
/// made encoding a million entries take twice as long.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Feeds the body of a cache, piece by piece, to `sink`.
/// How many entries [`encode`] wrote, and the newest of their times.
struct Written {
    count: u64,
    newest_ns: u64,
}

fn encode<'a, T: Serialize>(
    stamp: &CacheStamp,
    entries: impl Iterator<Item = (&'a str, FileStat, T)>,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<Written> {
    let cannot =
        |e: postcard::Error| std::io::Error::other(format!("cannot encode the cache: {e}"));
    let mut buf = Vec::with_capacity(1 << 16);
    let stamp = (stamp.version.as_str(), stamp.config_digest.as_str());
    postcard::serialize_with_flavor(&stamp, Append(&mut buf)).map_err(cannot)?;
    let mut record = Vec::with_capacity(256);
    let mut written = Written {
        count: 0,
        newest_ns: 0,
    };
    let mut last: Option<&str> = None;
    for (display, stat, value) in entries {
        if last.is_some_and(|l| l >= display) {
            return Err(std::io::Error::other(format!(
                "cache entries out of path order at {display:?}"
            )));
        }
        last = Some(display);
        written.count += 1;
        written.newest_ns = written.newest_ns.max(stat.mtime_ns.max(stat.ctime_ns));
        record.clear();
        postcard::serialize_with_flavor(&value, Append(&mut record)).map_err(cannot)?;
        postcard::serialize_with_flavor(&(display, stat, Bytes(&record)), Append(&mut buf))
            .map_err(cannot)?;
        if buf.len() >= 1 << 15 {
            sink(&buf)?;
            buf.clear();
        }
    }
    sink(&buf)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CACHE_FILE: &str = "broadsheet.db.build-cache";

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Record {
        published: i64,
        nanos: u32,
        expires: Option<i64>,
        draft: bool,
        column: u16,
        slug_hash: u64,
        id_hash: u64,
        authors: Vec<String>,
    }

    fn record(n: u64) -> Record {
        Record {
            published: 1_550_000_000 + n as i64 * 3_600,
            nanos: (n % 1000) as u32,
            expires: n.is_multiple_of(3).then_some(1_900_000_000),
            draft: n.is_multiple_of(7),
            column: (n % 50) as u16,
            slug_hash: n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            id_hash: n.wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
            authors: if n.is_multiple_of(4) {
                vec!["王小明".to_owned(), "林怡君".to_owned()]
            } else {
                vec!["陳志強".to_owned()]
            },
        }
    }

    /// Times well in the past, so no entry is newer than the cache.
    fn stat(n: u64) -> FileStat {
        FileStat {
            len: 1_000 + n,
            mtime_ns: 1_600_000_000_000_000_000 + n,
            ctime_ns: 1_600_000_000_000_000_000 + n,
            ino: 10_000 + n,
        }
    }

    fn display(n: u64) -> String {
        format!("content/col-{:02}/2019-03-04-some-slug-{n:06}.md", n % 50)
    }

    fn stamp() -> CacheStamp {
        CacheStamp::new("config-digest-1")
    }

    fn sample(count: u64) -> Vec<(String, FileStat, Record)> {
        (0..count)
            .map(|n| (display(n), stat(n), record(n)))
            .collect()
    }

    fn save_all(path: &Path, stamp: &CacheStamp, entries: &[(String, FileStat, Record)]) {
        save(
            path,
            stamp,
            entries.iter().map(|(d, s, r)| (d.as_str(), *s, r)),
        )
        .unwrap();
    }

    fn saved(count: u64) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        save_all(&path, &stamp(), &sample(count));
        (dir, path)
    }

    fn reason(path: &Path, stamp: &CacheStamp) -> Rejected {
        read::<Record>(path, stamp).map(|_| ()).unwrap_err()
    }

    fn damaged(path: &Path) -> String {
        match reason(path, &stamp()) {
            Rejected::Damaged(why) => why,
            other => panic!("expected a damaged cache, got {other:?}"),
        }
    }

    /// A file with a correct header (length, count, digest) over `body`.
    fn forged(count: u64, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(FORMAT.to_le_bytes());
        out.extend((body.len() as u64).to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(checksum(&out, Sha256::digest(body).into()));
        out.extend(body);
        out
    }

    fn stamp_bytes() -> Vec<u8> {
        let s = stamp();
        postcard::to_allocvec(&(s.version.as_str(), s.config_digest.as_str())).unwrap()
    }

    #[test]
    fn a_saved_cache_reads_back_every_record() {
        let (_dir, path) = saved(100);
        let cache = FileCache::<Record>::load(&path, &stamp());
        assert_eq!(cache.len(), 100);
        for n in 0..100 {
            assert_eq!(
                cache.get(&display(n), &stat(n)),
                Some(record(n)),
                "entry {n}"
            );
        }
    }

    /// An entry as `save` writes it.
    fn entry_bytes(n: u64) -> Vec<u8> {
        let record = postcard::to_allocvec(&record(n)).unwrap();
        postcard::to_allocvec(&(display(n), stat(n), Bytes(&record))).unwrap()
    }

    #[test]
    fn a_path_stored_twice_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        let mut body = stamp_bytes();
        for n in [1, 2, 1] {
            body.extend(entry_bytes(n));
        }
        std::fs::write(&path, forged(3, &body)).unwrap();
        let cache = FileCache::<Record>::load(&path, &stamp());
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&display(1), &stat(1)), None);
        assert_eq!(cache.get(&display(2), &stat(2)), Some(record(2)));
    }

    #[test]
    fn a_record_of_another_shape_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        let (short, long) = (7u8, String::from("不是紀錄"));
        let entries = [("a.md", stat(0), &short)];
        save(&path, &stamp(), entries.into_iter()).unwrap();
        assert_eq!(
            FileCache::<Record>::load(&path, &stamp()).get("a.md", &stat(0)),
            None
        );
        let entries = [("a.md", stat(0), &long)];
        save(&path, &stamp(), entries.into_iter()).unwrap();
        assert_eq!(
            FileCache::<u8>::load(&path, &stamp()).get("a.md", &stat(0)),
            None
        );
        let cache = FileCache::<String>::load(&path, &stamp());
        assert_eq!(cache.get("a.md", &stat(0)), Some(long));
    }

    #[test]
    fn any_change_in_the_stat_is_a_miss() {
        let (_dir, path) = saved(3);
        let cache = FileCache::<Record>::load(&path, &stamp());
        let s = stat(1);
        let changed = [
            FileStat {
                len: s.len + 1,
                ..s
            },
            FileStat {
                mtime_ns: s.mtime_ns + 1,
                ..s
            },
            FileStat {
                ctime_ns: s.ctime_ns + 1,
                ..s
            },
            FileStat {
                ino: s.ino + 1,
                ..s
            },
        ];
        assert!(cache.get(&display(1), &s).is_some());
        for c in changed {
            assert_eq!(cache.get(&display(1), &c), None, "{c:?}");
        }
    }

    #[test]
    fn a_path_the_cache_does_not_hold_is_a_miss() {
        let (_dir, path) = saved(3);
        let cache = FileCache::<Record>::load(&path, &stamp());
        assert_eq!(cache.get(&display(3), &stat(3)), None);
        assert_eq!(cache.get("content/gone.md", &stat(0)), None);
    }

    #[test]
    fn a_file_changed_no_earlier_than_the_cache_was_written_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        let far = 4_000_000_000_000_000_000; // 2096
        let late = FileStat {
            mtime_ns: far,
            ..stat(0)
        };
        let changed_late = FileStat {
            ctime_ns: far,
            ..stat(1)
        };
        let r = record(0);
        let entries = [
            ("a.md", late, &r),
            ("b.md", changed_late, &r),
            ("c.md", stat(2), &r),
        ];
        save(&path, &stamp(), entries.into_iter()).unwrap();
        let cache = FileCache::<Record>::load(&path, &stamp());
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("a.md", &late), None);
        assert_eq!(cache.get("b.md", &changed_late), None);
        assert_eq!(cache.get("c.md", &stat(2)), Some(r));
    }

    #[test]
    fn a_save_keeps_only_the_entries_it_is_given() {
        let (_dir, path) = saved(3);
        let kept: Vec<_> = sample(3)
            .into_iter()
            .filter(|(d, ..)| *d != display(1))
            .collect();
        save_all(&path, &stamp(), &kept);
        let cache = FileCache::<Record>::load(&path, &stamp());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&display(1), &stat(1)), None);
        assert_eq!(cache.get(&display(2), &stat(2)), Some(record(2)));
    }

    #[test]
    fn the_order_entries_come_in_does_not_change_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut entries = sample(20);
        save_all(&a, &stamp(), &entries);
        entries.reverse();
        // A second entry for one path: the later one given is kept.
        entries.insert(0, (display(5), stat(6), record(6)));
        entries.push((display(5), stat(5), record(5)));
        save_all(&b, &stamp(), &entries);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn saving_the_same_entries_again_leaves_the_file_alone() {
        use std::os::unix::fs::MetadataExt;
        let (_dir, path) = saved(10);
        let before = std::fs::metadata(&path).unwrap().ino();
        save_all(&path, &stamp(), &sample(10));
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), before);
        // Nor is the new one left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CACHE_FILE]);
        save_all(&path, &stamp(), &sample(11));
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), before);
    }

    #[test]
    fn the_cache_is_readable_by_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, path) = saved(1);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_cache_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        assert_eq!(reason(&path, &stamp()), Rejected::Missing);
        assert!(FileCache::<Record>::load(&path, &stamp()).is_empty());
    }

    #[test]
    fn a_cache_cut_short_anywhere_is_ignored() {
        let (_dir, path) = saved(50);
        let bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        let cuts = [1, 4, 8, 11, 12, 27, 28, 59, 60, 61, 70, len / 2, len - 1];
        for cut in cuts {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let why = damaged(&path);
            assert!(
                why.starts_with("the cache is truncated"),
                "cut at {cut}: {why}"
            );
            assert!(FileCache::<Record>::load(&path, &stamp()).is_empty());
        }
        std::fs::write(&path, &bytes[..0]).unwrap();
        assert_eq!(damaged(&path), "the cache is an empty file");
    }

    #[test]
    fn a_cache_with_any_byte_changed_is_ignored() {
        let (_dir, path) = saved(5);
        let bytes = std::fs::read(&path).unwrap();
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let why = match reason(&path, &stamp()) {
                Rejected::Damaged(why) | Rejected::Outdated(why) => why,
                Rejected::Missing => unreachable!(),
            };
            let expected = match at {
                0..8 => "not a broadsheet cache",
                8..12 => "the cache is in format",
                12..20 => "the cache is",
                _ => "the cache is damaged: its checksum",
            };
            assert!(why.starts_with(expected), "byte {at}: {why}");
            assert!(FileCache::<Record>::load(&path, &stamp()).is_empty());
        }
    }

    #[test]
    fn a_cache_of_another_version_or_configuration_is_ignored() {
        let (_dir, path) = saved(3);
        let older = CacheStamp {
            version: "0.0.1".to_owned(),
            ..stamp()
        };
        assert_eq!(
            reason(&path, &older),
            Rejected::Outdated(format!(
                "the cache was written by broadsheet {}, and this is 0.0.1",
                env!("CARGO_PKG_VERSION")
            ))
        );
        let edited = CacheStamp::new("config-digest-2");
        assert_eq!(
            reason(&path, &edited),
            Rejected::Outdated("the cache was written for another configuration".to_owned())
        );
        assert!(FileCache::<Record>::load(&path, &edited).is_empty());
        assert_eq!(FileCache::<Record>::load(&path, &stamp()).len(), 3);
    }

    #[test]
    fn a_file_that_is_no_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        // Reproducible noise (xorshift).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for bytes in [&noise[..], b"{\"files\":{}}\n", b"\x89BSC"] {
            std::fs::write(&path, bytes).unwrap();
            let why = damaged(&path);
            assert!(
                why.starts_with("not a broadsheet cache")
                    || why.starts_with("the cache is truncated"),
                "{why}"
            );
            assert!(FileCache::<Record>::load(&path, &stamp()).is_empty());
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(damaged(&path), "not a regular file");
    }

    #[test]
    fn a_forged_cache_with_a_true_checksum_is_refused_without_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        let mut body = stamp_bytes();
        // A path whose length says it is far longer than the file.
        body.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        body.extend([0u8; 40]);
        std::fs::write(&path, forged(1, &body)).unwrap();
        let why = damaged(&path);
        assert!(
            why.starts_with("entry 1 of the cache does not read"),
            "{why}"
        );

        // More entries than the bytes could hold.
        std::fs::write(&path, forged(u64::MAX, &body)).unwrap();
        let why = damaged(&path);
        assert!(
            why.contains("announces 18446744073709551615 entries"),
            "{why}"
        );

        // A true entry, then bytes no entry accounts for.
        let mut body = stamp_bytes();
        body.extend(entry_bytes(0));
        let whole = forged(1, &body);
        std::fs::write(&path, &whole).unwrap();
        assert_eq!(FileCache::<Record>::load(&path, &stamp()).len(), 1);
        body.push(0);
        std::fs::write(&path, forged(1, &body)).unwrap();
        assert_eq!(
            damaged(&path),
            "the cache is damaged: 1 bytes follow its last entry"
        );
    }

    #[test]
    fn a_damaged_cache_is_one_warning_naming_the_file() {
        let (_dir, path) = saved(5);
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let rejected = reason(&path, &stamp());
        assert_eq!(
            log_line(&path, &rejected),
            Some((
                tracing::Level::WARN,
                format!(
                    "{}: the cache is damaged: its checksum does not match its contents; \
                     it is ignored and every content file is read again",
                    path.display()
                )
            ))
        );
    }

    #[test]
    fn an_outdated_cache_is_an_info_line_and_a_missing_one_is_silent() {
        let (dir, path) = saved(5);
        let rejected = reason(&path, &CacheStamp::new("another"));
        assert_eq!(
            log_line(&path, &rejected),
            Some((
                tracing::Level::INFO,
                format!(
                    "{}: the cache was written for another configuration; \
                     it is ignored and every content file is read again",
                    path.display()
                )
            ))
        );
        let none = dir.path().join("none");
        assert_eq!(log_line(&none, &reason(&none, &stamp())), None);
    }
}
