//! The last good version of every published article, for a build that
//! keeps going past a bad one (`run`, `build --keep-going`).
//!
//! A writer's typo in an article that is already out must not take it off
//! every feed until someone fixes it: the build publishes the version it
//! published before. That version has to be kept somewhere, since the
//! file on disk is now the broken one; it is kept beside the state, never
//! in `output_dir`, which is served and often synced to a web server
//! whole. Every build that writes keeps the articles some output carries
//! (one no output carries is not missed when it is left out), after the
//! feeds were written, and only those whose size or times differ from the
//! version kept: a build where nothing changed keeps nothing.
//!
//! The versions go into one append-only pack (`<state_path>.last-good.pack`)
//! listed by an index (`<state_path>.last-good.index`). A first build of a
//! large archive keeps tens of thousands of articles (43,000 at 100,000
//! articles, 400,000 at a million), and a copy of each as a file of its own
//! cost more than the build's feeds: appended to one file they are a
//! sequential write. A version is taken out of the pack only when it is
//! needed, which is rare (an article that is invalid now), into
//! `<state_path>.last-good/` mirroring `content_dir`, where releases before
//! this one kept a copy of every article; a copy there is still read when
//! the pack has none.
//!
//! The pack and its index are a store, not a log that must survive every
//! crash: nothing is synced, and each version carries a checksum, so that
//! one a crash cut short reads as missing (the article is then left out
//! while invalid, as one never published is) rather than as other bytes.

use crate::config::Config;
use crate::content::{FileStat, SourceFile};
use crate::fsio::{FsAction, FsError};
use rayon::prelude::*;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

/// Where copies are taken out of the pack (and where earlier releases kept
/// every copy).
pub(super) fn dir(config: &Config) -> PathBuf {
    crate::fsio::beside(&config.site.state_path, ".last-good")
}

fn pack_path(config: &Config) -> PathBuf {
    crate::fsio::beside(&config.site.state_path, ".last-good.pack")
}

fn index_path(config: &Config) -> PathBuf {
    crate::fsio::beside(&config.site.state_path, ".last-good.index")
}

/// What the index file starts with, and its layout's version.
const INDEX_MAGIC: &[u8; 8] = b"bslgidx1";
/// What each version in the pack starts with.
const ENTRY_MAGIC: &[u8; 4] = b"bslg";
/// A version's header but its path: the magic, the path's length (4
/// bytes) and the version's length (8).
const HEADER_BYTES: usize = ENTRY_MAGIC.len() + 4 + 8;

/// The path of `path` (a file under `content_dir`) under it, as the pack
/// and the mirror name it; `None` when it lies elsewhere.
fn relative(config: &Config, path: &Path) -> Option<PathBuf> {
    path.strip_prefix(&config.site.content_dir)
        .ok()
        .map(Path::to_owned)
}

/// A relative path as the index finds it: a hash of its bytes. Two paths
/// sharing one are told apart by the path each version carries in the
/// pack, and by their sizes and times.
fn path_hash(relative: &Path) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(relative.as_os_str().as_encoded_bytes());
    h.write_u8(0xff);
    h.finish()
}

/// Which version of a file one is: its size and mtime when it was kept,
/// as a copy beside the state was told apart before the pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    mtime_ns: u64,
}

impl From<FileStat> for Version {
    fn from(stat: FileStat) -> Version {
        Version {
            len: stat.len,
            mtime_ns: stat.mtime_ns,
        }
    }
}

/// One version in the pack, as the index lists it: 40 bytes, with no
/// allocation, so that a million articles' index (430,000 versions) is a
/// flat list of 17 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    path: u64,
    version: Version,
    /// Where its header starts in the pack.
    offset: u64,
    /// The CRC-32 of its bytes.
    crc: u32,
}

const ENTRY_BYTES: usize = 8 + 16 + 8 + 4;

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.path.to_le_bytes());
        out.extend_from_slice(&self.version.len.to_le_bytes());
        out.extend_from_slice(&self.version.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Entry {
        let u64_at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&b[32..36]);
        Entry {
            path: u64_at(0),
            version: Version {
                len: u64_at(8),
                mtime_ns: u64_at(16),
            },
            offset: u64_at(24),
            crc: u32::from_le_bytes(crc),
        }
    }

    /// The bytes it takes in the pack, header included.
    fn packed_len(&self, relative_len: usize) -> u64 {
        (HEADER_BYTES + relative_len) as u64 + self.version.len
    }
}

/// The index: every version kept, sorted by path hash (one per path, the
/// newest), and the pack it lists, by the id the pack starts with.
#[derive(Debug, Default)]
struct Index {
    pack_id: u64,
    entries: Vec<Entry>,
}

impl Index {
    /// The index at `path`, if it is whole; `None` for one missing or
    /// damaged (then every article is kept again, into a new pack).
    fn read(path: &Path) -> Option<Index> {
        let bytes = std::fs::read(path).ok()?;
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body).to_le_bytes() != crc {
            tracing::warn!(
                "{}: damaged; every article a feed carries is kept again",
                path.display()
            );
            return None;
        }
        let rest = body.strip_prefix(INDEX_MAGIC)?;
        let (id, rest) = rest.split_at_checked(8)?;
        let pack_id = u64::from_le_bytes(id.try_into().ok()?);
        if rest.len() % ENTRY_BYTES != 0 {
            return None;
        }
        let entries = rest.chunks_exact(ENTRY_BYTES).map(Entry::decode).collect();
        Some(Index { pack_id, entries })
    }

    /// Written a piece at a time: at a million articles the index is 22 MB,
    /// and a build's memory is near its peak when it is written.
    fn write(&self, path: &Path) -> Result<(), FsError> {
        let tmp = crate::fsio::stage_beside_with(
            path,
            &mut crate::fsio::buffered(&mut |out| {
                let mut crc = crc32fast::Hasher::new();
                let mut put = |bytes: &[u8]| {
                    crc.update(bytes);
                    out.write_all(bytes)
                };
                put(INDEX_MAGIC)?;
                put(&self.pack_id.to_le_bytes())?;
                let mut entry = Vec::with_capacity(ENTRY_BYTES);
                for e in &self.entries {
                    entry.clear();
                    e.encode(&mut entry);
                    put(&entry)?;
                }
                out.write_all(&crc.finalize().to_le_bytes())
            }),
        )?;
        crate::fsio::persist(tmp, path)
    }

    /// The index of the pack at `pack`, read from `path`: trusted only
    /// beside the pack whose id it names.
    fn trusted(path: &Path, pack: &Path) -> Option<Index> {
        let index = Index::read(path)?;
        let mut f = std::fs::File::open(pack).ok()?;
        (pack_id_of(&mut f)? == index.pack_id).then_some(index)
    }

    /// The versions kept of the path hashed to `path`.
    fn find(&self, path: u64) -> &[Entry] {
        let start = self.entries.partition_point(|e| e.path < path);
        let end = start + self.entries[start..].partition_point(|e| e.path == path);
        &self.entries[start..end]
    }
}

/// The id a new pack starts with: its index names it, so that an index
/// read beside another pack (one made since, or put back from a backup)
/// is not trusted.
fn new_pack_id() -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    h.finish()
}

/// The pack's id, read from its start.
fn pack_id_of(file: &mut std::fs::File) -> Option<u64> {
    let mut id = [0u8; 8];
    file.read_exact(&mut id).ok()?;
    Some(u64::from_le_bytes(id))
}

/// The version of `relative` that `entry` lists, read from the pack (the
/// one its index was trusted beside) and checked: `None` when the pack
/// does not hold it whole.
fn unpack(pack: &Path, relative: &Path, entry: &Entry) -> Option<Vec<u8>> {
    let mut f = std::fs::File::open(pack).ok()?;
    let mut packed = read_packed(&mut f, entry)?;
    // Two paths may share a hash: the version names its own.
    let name = relative.as_os_str().as_encoded_bytes();
    let header = HEADER_BYTES + name.len();
    let named = packed.len() >= header && &packed[8..8 + name.len()] == name;
    let name_len = u32::from_le_bytes(packed[4..8].try_into().ok()?) as usize;
    (named && name_len == name.len()).then(|| packed.split_off(header))
}

/// The versions kept, for a build that needs some of them: the index,
/// read once however many invalid articles ask.
pub(super) struct Kept<'c> {
    config: &'c Config,
    index: Option<Index>,
}

impl Kept<'_> {
    pub(super) fn open(config: &Config) -> Kept<'_> {
        Kept {
            config,
            index: Index::trusted(&index_path(config), &pack_path(config)),
        }
    }

    /// The last good version of `file`, as a file to read in its place:
    /// the same name, slug and column, read from a copy taken out of the
    /// pack (or kept by an earlier release). None when no build published
    /// it.
    pub(super) fn version_of(&self, file: &SourceFile) -> Option<SourceFile> {
        let relative = relative(self.config, &file.path())?;
        let copy = dir(self.config).join(&relative);
        let from_pack = self.index.as_ref().and_then(|index| {
            let pack = pack_path(self.config);
            index
                .find(path_hash(&relative))
                .iter()
                .find_map(|e| Some((unpack(&pack, &relative, e)?, e.version)))
        });
        match from_pack {
            Some((bytes, version)) => match take_out(&copy, &bytes, version) {
                Ok(()) => Some(file.read_from(copy)),
                Err(e) => {
                    tracing::warn!("{e}; the version published before cannot be read");
                    None
                }
            },
            // Kept by a release before the pack.
            None => copy.is_file().then(|| file.read_from(copy)),
        }
    }
}

/// Writes `bytes` at `copy`, with the mtime of the version they are,
/// unless a copy of that size and mtime is there already.
fn take_out(copy: &Path, bytes: &[u8], version: Version) -> Result<(), FsError> {
    let mtime = UNIX_EPOCH + Duration::from_nanos(version.mtime_ns);
    if let Ok(meta) = std::fs::metadata(copy) {
        if meta.len() == version.len && meta.modified().ok() == Some(mtime) {
            return Ok(());
        }
    }
    if let Some(parent) = copy.parent() {
        crate::fsio::create_dir(parent)?;
    }
    let tmp = crate::fsio::stage_beside(copy, bytes)?;
    let set = std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(mtime));
    set.map_err(FsError::at(copy, FsAction::Write))?;
    crate::fsio::persist(tmp, copy)
}

/// What is appended to the pack while articles are kept, from every
/// thread.
struct Appending {
    out: std::io::BufWriter<std::fs::File>,
    /// The id the pack starts with.
    id: u64,
    /// The pack's length when this build began appending, and now.
    start: u64,
    len: u64,
    added: Vec<Entry>,
}

impl Appending {
    fn new(file: std::fs::File, id: u64, len: u64) -> Appending {
        Appending {
            out: std::io::BufWriter::with_capacity(256 * 1024, file),
            id,
            start: len,
            len,
            added: Vec::new(),
        }
    }

    /// Appends `bytes`, the version `version` of the file at `relative`.
    fn append(&mut self, relative: &Path, version: Version, bytes: &[u8]) -> std::io::Result<()> {
        let name = relative.as_os_str().as_encoded_bytes();
        let name_len = u32::try_from(name.len()).map_err(std::io::Error::other)?;
        let entry = Entry {
            path: path_hash(relative),
            version,
            offset: self.len,
            crc: crc32fast::hash(bytes),
        };
        self.out.write_all(ENTRY_MAGIC)?;
        self.out.write_all(&name_len.to_le_bytes())?;
        self.out.write_all(name)?;
        self.out.write_all(&version.len.to_le_bytes())?;
        self.out.write_all(bytes)?;
        self.len += entry.packed_len(name.len());
        self.added.push(entry);
        Ok(())
    }
}

/// Keeps each of `articles` read from its own file (not from a copy)
/// whose version kept is missing or differs in size or mtime. Returns how
/// many were kept. `expected` is how many articles there are at most: the
/// list of versions kept is made that size at once, where growing it to
/// 430,000 a doubling at a time held it twice over at a build's peak.
/// The articles come as an iterator of their paths and stats, made as
/// they are kept: at a million articles the feeds carry 400,000, and a
/// list of their paths was 50 MB more when a build's memory peaks.
pub(super) fn keep(
    config: &Config,
    articles: impl ParallelIterator<Item = (PathBuf, FileStat)>,
    expected: usize,
) -> Result<usize, FsError> {
    let base = dir(config);
    let (pack, index_at) = (pack_path(config), index_path(config));
    let old = Index::trusted(&index_at, &pack);
    let kept = |relative: &Path, stat: &FileStat| {
        old.as_ref().is_some_and(|i| {
            let version = Version::from(*stat);
            i.find(path_hash(relative))
                .iter()
                .any(|e| e.version == version)
        })
    };
    let todo = articles
        .filter(|(path, _)| !path.starts_with(&base))
        .filter_map(|(path, stat)| relative(config, &path).map(|r| (path, r, stat)))
        .filter(|(_, relative, stat)| !kept(relative, stat));
    // The pack is opened only once a version needs it: most builds keep
    // nothing, and a build that keeps nothing writes nothing.
    let appending: Mutex<Option<Appending>> = Mutex::new(None);
    let open = |old: &Option<Index>| -> Result<Appending, FsError> {
        let mut a = open_pack(&pack, old.as_ref().map(|i| i.pack_id))?;
        a.added.reserve_exact(expected);
        Ok(a)
    };
    let write_fail = |e: std::io::Error| FsError::new(&pack, FsAction::Write, e);
    let count = todo
        .map(|(path, relative, stat)| -> Result<usize, FsError> {
            let Some(bytes) = read_as_validated(&path, stat)? else {
                return Ok(0);
            };
            let mut guard = appending.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                *guard = Some(open(&old)?);
            }
            let a = guard.as_mut().expect("opened above");
            a.append(&relative, stat.into(), &bytes)
                .map_err(write_fail)?;
            Ok(1)
        })
        .try_reduce(|| 0, |a, b| Ok(a + b))?;
    let Some(mut appended) = appending.into_inner().unwrap_or_else(|e| e.into_inner()) else {
        return Ok(count);
    };
    appended.out.flush().map_err(write_fail)?;
    let pack_id = appended.id;
    // The new version of a path replaces the old in the index; the old
    // one's bytes stay in the pack until it is compacted.
    let mut entries = match old {
        Some(i) if i.pack_id == pack_id => i.entries,
        _ => Vec::new(),
    };
    let mut added = std::mem::take(&mut appended.added);
    added.sort_unstable_by_key(|e| e.path);
    if entries.is_empty() {
        // A first build: the list made is the index, with no copy of it.
        entries = added;
    } else {
        entries.retain(|e| added.binary_search_by_key(&e.path, |a| a.path).is_err());
        entries.append(&mut added);
        entries.sort_by_key(|e| e.path);
    }
    let index = Index { pack_id, entries };
    drop(appended.out);
    tracing::debug!(
        kept = count,
        bytes = appended.len - appended.start,
        pack = appended.len,
        "last good versions appended"
    );
    if is_worth_compacting(&index, appended.len) {
        compact(&pack, &index_at, index)?;
    } else {
        index.write(&index_at)?;
    }
    Ok(count)
}

/// Whether the pack holds more bytes no longer listed (versions replaced
/// by newer ones) than listed ones, and enough to matter.
fn is_worth_compacting(index: &Index, pack_len: u64) -> bool {
    const MIN_PACK: u64 = 64 * 1024 * 1024;
    // Headers are a path and a few numbers: about 64 bytes.
    let live: u64 = index.entries.iter().map(|e| e.version.len + 64).sum();
    pack_len > MIN_PACK && pack_len > live.saturating_mul(2)
}

/// Writes the versions `index` lists into a new pack, in the order they
/// lie in the old one, and the index of it; a version that does not read
/// back whole is dropped (the next build keeps its article again).
fn compact(pack: &Path, index_at: &Path, index: Index) -> Result<(), FsError> {
    let fail = |e: std::io::Error| FsError::new(pack, FsAction::Write, e);
    let mut old = std::fs::File::open(pack).map_err(FsError::at(pack, FsAction::Read))?;
    let mut old = std::io::BufReader::with_capacity(256 * 1024, &mut old);
    let mut new = tempfile::Builder::new()
        .prefix(".broadsheet-")
        .suffix(".tmp")
        .tempfile_in(
            pack.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .map_err(&fail)?;
    let id = new_pack_id();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, new.as_file_mut());
    out.write_all(&id.to_le_bytes()).map_err(&fail)?;
    let mut len = 8u64;
    let mut by_offset = index.entries;
    by_offset.sort_unstable_by_key(|e| e.offset);
    let mut entries = Vec::with_capacity(by_offset.len());
    for e in by_offset {
        let Some(packed) = read_packed(&mut old, &e) else {
            continue;
        };
        out.write_all(&packed).map_err(&fail)?;
        entries.push(Entry { offset: len, ..e });
        len += packed.len() as u64;
    }
    out.flush().map_err(&fail)?;
    drop(out);
    entries.sort_by_key(|e| e.path);
    new.persist(pack)
        .map_err(|e| FsError::new(pack, FsAction::Write, e.error))?;
    tracing::info!(
        "{}: compacted to {} versions, {} bytes",
        pack.display(),
        entries.len(),
        len
    );
    Index {
        pack_id: id,
        entries,
    }
    .write(index_at)
}

/// The whole of one version as it lies in the pack, header and bytes, if
/// it reads back as `e` lists it.
fn read_packed(old: &mut (impl Read + Seek), e: &Entry) -> Option<Vec<u8>> {
    old.seek(std::io::SeekFrom::Start(e.offset)).ok()?;
    let mut head = [0u8; 8];
    old.read_exact(&mut head).ok()?;
    if &head[..4] != ENTRY_MAGIC {
        return None;
    }
    let name_len = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
    let rest_len = name_len + 8 + usize::try_from(e.version.len).ok()?;
    let mut packed = Vec::with_capacity(8 + rest_len);
    packed.extend_from_slice(&head);
    packed.resize(8 + rest_len, 0);
    old.read_exact(&mut packed[8..]).ok()?;
    let len_at = 8 + name_len;
    let len = u64::from_le_bytes(packed[len_at..len_at + 8].try_into().ok()?);
    let bytes = &packed[len_at + 8..];
    (len == e.version.len && crc32fast::hash(bytes) == e.crc).then_some(packed)
}

/// The pack to append to: the one with the id `trusted` (its index was
/// trusted beside it), or a new one (with a new id) when there is no index
/// to trust.
fn open_pack(pack: &Path, trusted: Option<u64>) -> Result<Appending, FsError> {
    let fail = |e: std::io::Error| FsError::new(pack, FsAction::Write, e);
    if let Some(id) = trusted {
        if let Ok(mut f) = std::fs::File::options().append(true).open(pack) {
            let len = f.seek(std::io::SeekFrom::End(0)).map_err(&fail)?;
            return Ok(Appending::new(f, id, len));
        }
    }
    if let Some(parent) = pack.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::fsio::create_dir(parent)?;
    }
    // Nothing lists what an old pack holds: it is started again.
    let mut f = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(pack)
        .map_err(&fail)?;
    let id = new_pack_id();
    f.write_all(&id.to_le_bytes()).map_err(&fail)?;
    Ok(Appending::new(f, id, 8))
}

/// The bytes of `source`, if it is still the version the build validated
/// (`stat`, asked of the open file once read): one changed since is not
/// kept.
fn read_as_validated(source: &Path, stat: FileStat) -> Result<Option<Vec<u8>>, FsError> {
    let Ok(mut f) = std::fs::File::open(source) else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(usize::try_from(stat.len).unwrap_or(0));
    (&mut f)
        .take(stat.len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FsError::at(source, FsAction::Read))?;
    let now = f.metadata().map(|m| FileStat::of(&m));
    Ok((now.ok() == Some(stat) && bytes.len() as u64 == stat.len).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A publication in a folder of its own: its config, and where its
    /// content goes.
    fn publication() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[site]\ntitle = \"論壇\"\nbase_url = \"https://news.example.com\"\n\n[[columns]]\nslug = \"ai\"\ntitle = \"AI\"\n",
        )
        .unwrap();
        let config = Config::load_with_env(&path, &Default::default()).unwrap();
        std::fs::create_dir_all(config.site.content_dir.join("ai")).unwrap();
        (dir, config)
    }

    fn write(config: &Config, name: &str, text: &str) -> (PathBuf, FileStat) {
        let path = config.site.content_dir.join("ai").join(name);
        std::fs::write(&path, text).unwrap();
        let stat = FileStat::of(&std::fs::metadata(&path).unwrap());
        (path, stat)
    }

    fn keep_these(config: &Config, articles: &[(PathBuf, FileStat)]) -> usize {
        keep(config, articles.to_vec().into_par_iter(), articles.len()).unwrap()
    }

    /// The text of the version kept of `path`, as a build would read it.
    fn version(config: &Config, path: &Path) -> Option<String> {
        let mut file = SourceFile::alone(path);
        file.display = path.display().to_string();
        let kept = Kept::open(config).version_of(&file)?;
        Some(std::fs::read_to_string(kept.path()).unwrap())
    }

    #[test]
    fn versions_kept_in_the_pack_come_back_as_they_were_and_are_kept_once() {
        let (_dir, config) = publication();
        let one = write(&config, "one.md", "+++\ntitle = \"一\"\n+++\n第一版。\n");
        let two = write(&config, "two.md", "+++\ntitle = \"二\"\n+++\n二。\n");
        assert_eq!(keep_these(&config, &[one.clone(), two.clone()]), 2);
        let pack_len = std::fs::metadata(pack_path(&config)).unwrap().len();
        assert_eq!(
            keep_these(&config, &[one.clone(), two.clone()]),
            0,
            "kept already"
        );
        assert_eq!(
            std::fs::metadata(pack_path(&config)).unwrap().len(),
            pack_len
        );
        // No copy of each file: the pack and its index, nothing else.
        assert!(!dir(&config).exists());

        // The writer breaks one: the version kept is what it was.
        std::fs::write(&one.0, "+++\ntitle = \n").unwrap();
        assert_eq!(
            version(&config, &one.0).as_deref(),
            Some("+++\ntitle = \"一\"\n+++\n第一版。\n")
        );
        let copy = dir(&config).join("ai/one.md");
        let mtime = std::fs::metadata(&copy).unwrap().modified().unwrap();
        assert_eq!(mtime, UNIX_EPOCH + Duration::from_nanos(one.1.mtime_ns));

        // Fixed and published again: the new version replaces the old.
        let fixed = write(&config, "one.md", "+++\ntitle = \"一\"\n+++\n第二版。\n");
        assert_eq!(keep_these(&config, &[fixed, two.clone()]), 1);
        assert_eq!(
            version(&config, &one.0).as_deref(),
            Some("+++\ntitle = \"一\"\n+++\n第二版。\n")
        );
        assert_eq!(
            version(&config, &two.0).as_deref(),
            Some("+++\ntitle = \"二\"\n+++\n二。\n")
        );
        let never = config.site.content_dir.join("ai/never.md");
        assert_eq!(version(&config, &never), None);
    }

    #[test]
    fn a_file_changed_since_it_was_validated_is_not_kept() {
        let (_dir, config) = publication();
        let (path, stat) = write(&config, "one.md", "+++\ntitle = \"一\"\n+++\n一。\n");
        std::fs::write(&path, "+++\ntitle = \"改\"\n+++\n改過的。\n").unwrap();
        assert_eq!(keep_these(&config, &[(path.clone(), stat)]), 0);
        assert_eq!(version(&config, &path), None);
    }

    #[test]
    fn a_damaged_version_reads_as_none_and_a_damaged_index_keeps_everything_again() {
        let (_dir, config) = publication();
        let text = "+++\ntitle = \"一\"\n+++\n一段正文。\n";
        let one = write(&config, "one.md", text);
        assert_eq!(keep_these(&config, std::slice::from_ref(&one)), 1);
        // A byte of the version changed in the pack, as a crash could.
        let mut pack = std::fs::read(pack_path(&config)).unwrap();
        let at = pack.len() - 3;
        pack[at] ^= 0x20;
        std::fs::write(pack_path(&config), &pack).unwrap();
        assert_eq!(version(&config, &one.0), None);

        // An index cut short is not trusted: the version is kept again,
        // into a new pack.
        let index = std::fs::read(index_path(&config)).unwrap();
        std::fs::write(index_path(&config), &index[..index.len() - 1]).unwrap();
        assert_eq!(keep_these(&config, std::slice::from_ref(&one)), 1);
        assert_eq!(version(&config, &one.0).as_deref(), Some(text));
        // And one beside another pack than its own.
        std::fs::write(pack_path(&config), [0u8; 8]).unwrap();
        assert_eq!(
            version(&config, &one.0).as_deref(),
            Some(text),
            "the copy taken out before"
        );
        std::fs::remove_dir_all(dir(&config)).unwrap();
        assert_eq!(version(&config, &one.0), None);
        assert_eq!(keep_these(&config, std::slice::from_ref(&one)), 1);
        assert_eq!(version(&config, &one.0).as_deref(), Some(text));
    }

    #[test]
    fn a_pack_mostly_of_replaced_versions_is_compacted_and_reads_the_same() {
        let (_dir, config) = publication();
        // Two articles of about 5 MB, each published again 20 times:
        // 190 MB appended, 10 MB of it current. The pack is compacted
        // once it passes 64 MiB.
        let body = |n: usize| {
            format!(
                "+++\ntitle = \"長\"\n+++\n{}",
                format!("第{n}版。").repeat(400_000)
            )
        };
        let mut last = Vec::new();
        for n in 0..20 {
            let a = write(&config, "a.md", &body(n));
            let b = write(&config, "b.md", &body(n + 100));
            assert_eq!(keep_these(&config, &[a.clone(), b.clone()]), 2);
            last = vec![a, b];
        }
        let pack_len = std::fs::metadata(pack_path(&config)).unwrap().len();
        assert!(
            pack_len < 64 * 1024 * 1024 + 2 * body(0).len() as u64,
            "compacted: {pack_len} bytes"
        );
        assert_eq!(version(&config, &last[0].0), Some(body(19)));
        assert_eq!(version(&config, &last[1].0), Some(body(119)));
        assert_eq!(keep_these(&config, &last), 0);
    }

    #[test]
    fn a_copy_kept_by_an_earlier_release_is_still_read() {
        let (_dir, config) = publication();
        let path = config.site.content_dir.join("ai/old.md");
        let copy = dir(&config).join("ai/old.md");
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, "+++\ntitle = \"舊\"\n+++\n").unwrap();
        assert_eq!(
            version(&config, &path).as_deref(),
            Some("+++\ntitle = \"舊\"\n+++\n")
        );
    }
}
