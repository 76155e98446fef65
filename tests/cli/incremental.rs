//! Incremental builds, from the outside: after any sequence of added,
//! edited, deleted, renamed and touched articles, a build into the kept
//! output folder gives the same files, byte for byte, as a cold build into
//! a fresh one; a cache that is garbage, cut short or empty, or that names
//! files since deleted, changes nothing of that; a build of 10,000
//! author feeds does not hold its output whole; and `check`, `status` and
//! a digest do not hold the archive whole.

use crate::util::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A small deterministic generator (xorshift64*), seeded per case, so a
/// failing sequence is replayed from the seed the failure prints.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Never zero, which xorshift would keep for ever.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Bylines as TOML writes them, and as YAML does: Chinese names with
/// titles of office among plain names.
const AUTHORS: [(&str, Option<&str>); 6] = [
    ("陳大文", Some("某大學人工智能研究院院長")),
    ("李小明", Some("某大學副校長(研究)")),
    ("鄺嘉欣", None),
    ("黃美玲", Some("立法會議員")),
    ("Daniel Whitcombe", None),
    ("何志強", Some("資深傳媒人")),
];

const COLUMNS: [&str; 3] = ["ai", "city", "law"];

/// Characters of bodies and titles, each three bytes in UTF-8, so that
/// swapping one for another keeps a file's size.
const HANZI: [char; 16] = [
    '城', '市', '算', '力', '電', '車', '法', '治', '創', '科', '人', '才', '未', '來', '節', '奏',
];

/// One article as the model holds it, rendered to a file on demand.
#[derive(Debug, Clone)]
struct Piece {
    /// The folder of `content/` it sits in (an index into [`COLUMNS`]).
    folder: usize,
    /// The file name inside that folder.
    name: String,
    title: String,
    body: Vec<char>,
    /// The day in November 2026 (or, scheduled, in December).
    day: u32,
    hour: u32,
    authors: Vec<usize>,
    draft: bool,
    scheduled: bool,
    /// YAML front matter in a `.markdown` file, else TOML in `.md`.
    yaml: bool,
    /// A `column =` that names another column than the folder.
    column: Option<usize>,
    slug: Option<String>,
}

impl Piece {
    fn rel(&self) -> String {
        format!("content/{}/{}", COLUMNS[self.folder], self.name)
    }

    fn published(&self) -> String {
        let month = if self.scheduled { 12 } else { 11 };
        format!(
            "2026-{month:02}-{:02}T{:02}:00:00+08:00",
            self.day, self.hour
        )
    }

    fn text(&self) -> String {
        let body: String = self.body.iter().collect();
        if self.yaml {
            let mut fm = format!(
                "---\ntitle: \"{}\"\ndate: {}\n",
                self.title,
                self.published()
            );
            if !self.authors.is_empty() {
                fm.push_str("authors:\n");
                for &a in &self.authors {
                    match AUTHORS[a] {
                        (name, Some(role)) => {
                            fm.push_str(&format!("  - name: \"{name}\"\n    role: \"{role}\"\n"))
                        }
                        (name, None) => fm.push_str(&format!("  - \"{name}\"\n")),
                    }
                }
            }
            if let Some(c) = self.column {
                fm.push_str(&format!("column: {}\n", COLUMNS[c]));
            }
            if let Some(s) = &self.slug {
                fm.push_str(&format!("slug: {s}\n"));
            }
            if self.draft {
                fm.push_str("draft: true\n");
            }
            format!("{fm}---\n\n{body}\n")
        } else {
            let mut fm = format!(
                "title = \"{}\"\npublished = {}\n",
                self.title,
                self.published()
            );
            if !self.authors.is_empty() {
                let list: Vec<String> = self
                    .authors
                    .iter()
                    .map(|&a| match AUTHORS[a] {
                        (name, Some(role)) => format!("{{ name = \"{name}\", role = \"{role}\" }}"),
                        (name, None) => format!("\"{name}\""),
                    })
                    .collect();
                fm.push_str(&format!("authors = [{}]\n", list.join(", ")));
            }
            if let Some(c) = self.column {
                fm.push_str(&format!("column = \"{}\"\n", COLUMNS[c]));
            }
            if let Some(s) = &self.slug {
                fm.push_str(&format!("slug = \"{s}\"\n"));
            }
            if self.draft {
                fm.push_str("draft = true\n");
            }
            article(&fm, &body)
        }
    }
}

/// The random edits of the model, as a log line each, so a failure shows
/// how the publication came to be.
struct Model {
    rng: Rng,
    columns: usize,
    pieces: Vec<Piece>,
    /// Numbers file names and slugs, so no two articles ever share one
    /// (a shared slug is an error, not an incremental build).
    serial: usize,
    log: Vec<String>,
}

impl Model {
    fn fresh_name(&mut self, yaml: bool) -> String {
        self.serial += 1;
        let ext = if yaml { "markdown" } else { "md" };
        format!("p{}.{ext}", self.serial)
    }

    fn random_title(&mut self) -> String {
        let len = 2 + self.rng.below(6);
        (0..len)
            .map(|_| HANZI[self.rng.below(HANZI.len())])
            .collect()
    }

    fn random_body(&mut self) -> Vec<char> {
        let len = 10 + self.rng.below(50);
        (0..len)
            .map(|_| HANZI[self.rng.below(HANZI.len())])
            .collect()
    }

    fn random_authors(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        for _ in 0..self.rng.below(3) {
            let a = self.rng.below(AUTHORS.len());
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    fn add(&mut self, p: &Publication) {
        let yaml = self.rng.chance(30);
        let name = self.fresh_name(yaml);
        let slug = self.rng.chance(20).then(|| format!("s{}", self.serial));
        let piece = Piece {
            folder: self.rng.below(self.columns),
            name,
            title: self.random_title(),
            body: self.random_body(),
            day: 1 + self.rng.below(26) as u32,
            hour: self.rng.below(24) as u32,
            authors: self.random_authors(),
            draft: self.rng.chance(10),
            scheduled: self.rng.chance(10),
            yaml,
            column: None,
            slug,
        };
        p.write(&piece.rel(), piece.text());
        self.log.push(format!("add {}", piece.rel()));
        self.pieces.push(piece);
    }

    fn step(&mut self, p: &Publication) {
        if self.pieces.len() < 2 {
            return self.add(p);
        }
        let i = self.rng.below(self.pieces.len());
        match self.rng.below(7) {
            0 | 1 => self.add(p),
            2 => self.edit(p, i),
            3 => {
                let gone = self.pieces.remove(i);
                std::fs::remove_file(p.path(&gone.rel())).unwrap();
                self.log.push(format!("delete {}", gone.rel()));
            }
            4 => {
                // Same content, a new name: its slug changes unless set.
                let old = self.pieces[i].rel();
                let name = self.fresh_name(self.pieces[i].yaml);
                self.pieces[i].name = name;
                std::fs::rename(p.path(&old), p.path(&self.pieces[i].rel())).unwrap();
                self.log
                    .push(format!("rename {old} to {}", self.pieces[i].rel()));
            }
            5 => {
                // The mtime alone moves, as `touch` does.
                let rel = self.pieces[i].rel();
                let path = p.path(&rel);
                let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
                set_mtime(
                    &path,
                    mtime + Duration::from_secs(1 + self.rng.below(100) as u64),
                );
                self.log.push(format!("touch {rel}"));
            }
            _ => {
                // One character of the body swapped for another of the
                // same size, the mtime put back (`cp -p`, `touch -r`):
                // only the ctime and the bytes say it changed.
                let rel = self.pieces[i].rel();
                let path = p.path(&rel);
                let before = std::fs::metadata(&path).unwrap();
                let at = self.rng.below(self.pieces[i].body.len());
                let was = self.pieces[i].body[at];
                let mut now = HANZI[self.rng.below(HANZI.len())];
                if now == was {
                    now = HANZI[(HANZI.iter().position(|&c| c == was).unwrap() + 1) % HANZI.len()];
                }
                self.pieces[i].body[at] = now;
                let text = self.pieces[i].text();
                assert_eq!(text.len() as u64, before.len(), "the edit keeps the size");
                std::fs::write(&path, text).unwrap();
                set_mtime(&path, before.modified().unwrap());
                self.log
                    .push(format!("edit {rel} keeping its size and mtime"));
            }
        }
    }

    fn edit(&mut self, p: &Publication, i: usize) {
        let what = match self.rng.below(6) {
            0 => {
                self.pieces[i].title = self.random_title();
                "title"
            }
            1 => {
                self.pieces[i].body = self.random_body();
                "body"
            }
            2 => {
                self.pieces[i].day = 1 + self.rng.below(26) as u32;
                self.pieces[i].hour = self.rng.below(24) as u32;
                "date"
            }
            3 => {
                self.pieces[i].authors = self.random_authors();
                "authors"
            }
            4 => {
                self.pieces[i].column = Some(self.rng.below(self.columns));
                "column"
            }
            _ => {
                // A draft published, a scheduled article brought forward,
                // or the other way round.
                if self.rng.chance(50) {
                    self.pieces[i].draft = !self.pieces[i].draft;
                } else {
                    self.pieces[i].scheduled = !self.pieces[i].scheduled;
                }
                "draft or schedule"
            }
        };
        p.write(&self.pieces[i].rel(), self.pieces[i].text());
        self.log
            .push(format!("edit the {what} of {}", self.pieces[i].rel()));
    }
}

fn set_mtime(path: &Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().modified().unwrap(), mtime);
}

/// Every file under `root` but broadsheet's own hidden ones (a name that
/// starts with `.`, at any depth), with its bytes.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// Builds the publication again from nothing, into a fresh output folder
/// with a fresh state beside it, and returns that build's files.
fn cold_build(p: &Publication) -> BTreeMap<String, Vec<u8>> {
    let fresh = tempfile::tempdir().unwrap();
    let output: PathBuf = fresh.path().join("feeds");
    let state = fresh.path().join("broadsheet.db");
    let run = p.run_with_env(
        NOW,
        &["build"],
        &[
            ("BROADSHEET_SITE__OUTPUT_DIR", output.to_str().unwrap()),
            ("BROADSHEET_SITE__STATE_PATH", state.to_str().unwrap()),
        ],
    );
    assert_eq!(
        run.code, 0,
        "the cold build fails\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    files_under(&output)
}

/// Names the first file in which the kept folder and a cold build differ,
/// or that only one of them has.
fn first_difference(
    kept: &BTreeMap<String, Vec<u8>>,
    cold: &BTreeMap<String, Vec<u8>>,
) -> Option<String> {
    let only_kept = kept.keys().find(|k| !cold.contains_key(*k));
    let only_cold = cold.keys().find(|k| !kept.contains_key(*k));
    if let Some(k) = only_kept {
        return Some(format!("{k} is in the kept folder only"));
    }
    if let Some(k) = only_cold {
        return Some(format!("{k} is in the cold build only"));
    }
    kept.iter().find(|(k, v)| cold[*k] != **v).map(|(k, v)| {
        format!(
            "{k} differs\n--- kept:\n{}\n--- cold:\n{}",
            String::from_utf8_lossy(v),
            String::from_utf8_lossy(&cold[k])
        )
    })
}

/// Builds into the kept folder, then cold, and asserts the same files with
/// the same bytes; `what` says where in a sequence this is.
#[track_caller]
fn assert_build_equals_cold(p: &Publication, what: &str) {
    let run = p.run(&["build"]);
    assert!(
        run.code == 0 && !run.stderr.contains("panicked"),
        "{what}: the build into the kept folder exits {}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    let kept = files_under(&p.path("feeds"));
    let cold = cold_build(p);
    if let Some(diff) = first_difference(&kept, &cold) {
        panic!("{what}: {diff}");
    }
}

fn config_with(columns: usize, author_min_articles: u32) -> String {
    let mut config = CONFIG.replace(
        "author_min_articles = 1",
        &format!("author_min_articles = {author_min_articles}"),
    );
    if columns == 3 {
        config.push_str("\n[[columns]]\nslug = \"law\"\ntitle = \"法治\"\n");
    }
    config
}

#[test]
fn any_sequence_of_edits_builds_the_same_bytes_as_a_cold_build() {
    const SEEDS: u64 = 16;
    const STEPS: usize = 16;
    for seed in 1..=SEEDS {
        // Two or three columns; author feeds for every author, or only
        // from a second article, so that feeds appear and go.
        let columns = 2 + (seed % 2) as usize;
        let min = if seed % 4 < 2 { 1 } else { 2 };
        let p = Publication::with_config(&config_with(columns, min));
        let mut model = Model {
            rng: Rng::new(seed),
            columns,
            pieces: Vec::new(),
            serial: 0,
            log: Vec::new(),
        };
        for _ in 0..3 {
            model.add(&p);
        }
        assert_build_equals_cold(&p, &format!("seed {seed}, first build"));
        for step in 1..=STEPS {
            model.step(&p);
            assert_build_equals_cold(
                &p,
                &format!(
                    "seed {seed} ({columns} columns, author_min_articles = {min}), step {step}, after:\n  {}\n",
                    model.log.join("\n  ")
                ),
            );
        }
    }
}

/// A publication of four articles, built once, for the cache tests.
fn built_four() -> Publication {
    let p = Publication::with_config(&config_with(2, 1));
    let mut model = Model {
        rng: Rng::new(99),
        columns: 2,
        pieces: Vec::new(),
        serial: 0,
        log: Vec::new(),
    };
    for _ in 0..4 {
        model.add(&p);
    }
    p.write(
        "content/ai/edited.md",
        article(
            "title = \"會改的文章\"\npublished = 2026-11-25T08:00:00+08:00\nauthors = [\"陳大文\"]",
            "初稿。",
        ),
    );
    p.build();
    p
}

#[test]
fn a_cache_that_is_garbage_cut_short_or_empty_is_ignored() {
    type Damage = fn(Vec<u8>) -> Vec<u8>;
    let damaged: [(&str, Damage); 4] = [
        ("garbage", |_| {
            b"\x00\xffnot a cache at all\x89PNG\r\n".repeat(50)
        }),
        ("cut short", |mut bytes| {
            // Half of what the build wrote, or, with no cache yet, half
            // of something that looks like one.
            if bytes.is_empty() {
                bytes = br#"{"version":"0.0.0","files":{"ai/edited.md":{"size":1"#.to_vec();
            }
            bytes.truncate(bytes.len() / 2);
            bytes
        }),
        ("empty", |_| Vec::new()),
        ("from another version", |_| {
            br#"{"version":"0.0.1-another","config":"0","files":{}}"#.to_vec()
        }),
    ];
    for (what, damage) in damaged {
        let p = built_four();
        let cache = p.path("broadsheet.db.build-cache");
        let bytes = std::fs::read(&cache).unwrap_or_default();
        std::fs::write(&cache, damage(bytes)).unwrap();
        // One article changed, so the build has something to do.
        p.write(
            "content/ai/edited.md",
            p.read("content/ai/edited.md").replace("初稿", "定稿，修訂"),
        );
        assert_build_equals_cold(&p, &format!("a cache {what}"));
        assert!(
            p.read("feeds/ai/rss.xml").contains("定稿，修訂"),
            "a cache {what}: the edit is in the feed"
        );
        // And once more with nothing changed.
        assert_build_equals_cold(&p, &format!("a cache {what}, built again"));
    }
}

#[test]
fn files_deleted_since_the_last_build_drop_out_of_every_feed() {
    let p = built_four();
    assert!(p.read("feeds/all/rss.xml").contains("會改的文章"));
    assert!(p.path("feeds/authors/陳大文/rss.xml").exists());
    // What the last build read (and a cache would name) is gone: one
    // file, and a whole column's folder.
    std::fs::remove_file(p.path("content/ai/edited.md")).unwrap();
    std::fs::remove_dir_all(p.path("content/city")).unwrap();
    assert_build_equals_cold(&p, "files deleted");
    let all = p.read("feeds/all/rss.xml");
    assert!(!all.contains("會改的文章"), "{all}");
    assert!(
        !all.contains("/city/"),
        "no article of the emptied column is left:\n{all}"
    );
    assert_eq!(
        parse_feed(p.read("feeds/city/atom.xml").as_bytes())
            .entries
            .len(),
        0
    );
}

/// The peak resident memory (VmHWM, in kB) of a child, polled from
/// /proc while it runs (nothing to install; the last reading before it
/// exits is its peak), with its exit code; killed after `limit`.
fn peak_memory_kb(mut cmd: std::process::Command, limit: Duration) -> (u64, i32, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let status_path = format!("/proc/{}/status", child.id());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let started = std::time::Instant::now();
    let mut peak = 0;
    let code = loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!("the build did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (peak, code, reader.join().unwrap())
}

/// Builds `p` cold, returning the build's peak memory in kB, its exit
/// code and its stderr.
fn build_peak_kb(p: &Publication) -> (u64, i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"));
    cmd.current_dir(p.path(""))
        .arg("--config")
        .arg(p.path("config.toml"))
        .arg("--now")
        .arg(NOW)
        .arg("build");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BROADSHEET")) {
        cmd.env_remove(k);
    }
    peak_memory_kb(cmd, Duration::from_secs(300))
}

/// 10,000 author feeds, 30,000 files. The same 10,000 articles are built
/// twice, cold: with column feeds only (13 files), then with the author
/// feeds. What the second costs over the first is what the author feeds
/// cost. Every output file held in memory at once costs at least the sum
/// of their sizes (47 MB here) on top of that, so the bound is that sum: a
/// build that holds its output whole cannot stay under it, whatever its
/// bookkeeping. A build that streams its files holds a few at a time, and
/// per author feed keeps its plan, its digest and its files' manifest
/// entries.
///
/// Measured in a debug build on a 2-core machine: column feeds 27–29 MB;
/// with the author feeds, when the build held its output whole, 101 MB
/// (74 MB more: over the bound); streaming, 57 MB (28.5 MB more).
#[test]
fn ten_thousand_author_feeds_are_not_held_in_memory_whole() {
    const ARTICLES: usize = 10_000;
    let config = config_with(2, 2);
    let p = Publication::with_config(&config.replace(
        "author_min_articles = 2",
        "author_min_articles = 2\nauthor_feeds = false",
    ));
    // Written directly: 10,000 runs of `new` would take minutes. Article i
    // is by authors i and i + 1, so each of the 10,000 authors writes
    // twice and, at `author_min_articles = 2`, has feeds.
    for i in 0..ARTICLES {
        let folder = COLUMNS[i % 2];
        let text = article(
            &format!(
                "title = \"第{i}篇\"\npublished = 2026-{:02}-{:02}T{:02}:{:02}:00+08:00\nauthors = [\"作者{i:05}\", \"作者{:05}\"]",
                1 + i % 10,
                1 + (i / 10) % 28,
                (i / 280) % 24,
                i % 60,
                (i + 1) % ARTICLES
            ),
            "城市的節奏，算力的未來。",
        );
        let dir = p.path(&format!("content/{folder}"));
        if i < 2 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("a{i}.md")), text).unwrap();
    }
    let (columns_kb, code, stderr) = build_peak_kb(&p);
    assert_eq!(code, 0, "{stderr}");
    let columns_output = files_under(&p.path("feeds"));
    std::fs::remove_dir_all(p.path("feeds")).unwrap();
    p.write("config.toml", &config);
    let (peak_kb, code, stderr) = build_peak_kb(&p);
    assert_eq!(code, 0, "{stderr}");
    eprintln!(
        "column feeds only: {} files, peak {columns_kb} kB",
        columns_output.len()
    );
    let output = files_under(&p.path("feeds"));
    let authors = output
        .keys()
        .filter(|k| k.starts_with("authors/") && k.ends_with("/rss.xml"))
        .count();
    assert_eq!(authors, ARTICLES, "every author has feeds");
    let output_kb = output.values().map(|v| v.len() as u64).sum::<u64>() / 1024;
    let author_feeds_kb = peak_kb.saturating_sub(columns_kb);
    eprintln!(
        "{} files, {output_kb} kB of output; the build peaked at {peak_kb} kB, \
         {author_feeds_kb} kB over the column feeds alone",
        output.len()
    );
    assert!(
        author_feeds_kb < output_kb,
        "the author feeds cost {author_feeds_kb} kB of memory (peak {peak_kb} kB, \
         {columns_kb} kB with column feeds only), not under their {output_kb} kB \
         of output: the output is held whole"
    );
}

/// One article added to one column: the build reads that one file (the
/// others as the last build read them) and makes again only the feeds
/// that carry it, its column's, `all` and its author's, keeping every other
/// feed without reading its articles; the files of those it keeps are the
/// files it wrote before, to the nanosecond.
#[test]
fn an_added_article_makes_again_only_the_feeds_that_carry_it() {
    let p = Publication::with_config(&config_with(2, 1));
    let byline = |name: &str| format!("[[authors]]\nname = \"{name}\"");
    let write = |file: &str, title: &str, day: u32, name: &str| {
        p.write(
            file,
            article(
                &format!(
                    "title = \"{title}\"\npublished = 2026-11-{day:02}T08:00:00+08:00\n{}",
                    byline(name)
                ),
                "正文。",
            ),
        );
    };
    write("content/ai/one.md", "一", 1, "陳大文");
    write("content/ai/two.md", "二", 2, "李小明");
    write("content/city/three.md", "三", 3, "鄺嘉欣");
    p.run(&["build"]).expect_code(0);
    let before = p.tree("feeds");
    write("content/ai/four.md", "四", 4, "陳大文");
    let run = p.run(&["-v", "build"]).expect_code(0);
    for phase in [
        "; 1 read again, 3 as the last build read them) for 6 feeds (",
        "made 3 feeds, kept 3 (",
    ] {
        assert!(run.stderr.contains(phase), "{phase:?} in:\n{}", run.stderr);
    }
    let after = p.tree("feeds");
    for (path, (bytes, mtime)) in &before {
        let carried = path.starts_with("ai/")
            || path.starts_with("all/")
            || path.starts_with("authors/陳大文/")
            || !path.contains('/')
            || path.starts_with('.');
        if !carried {
            assert_eq!(after.get(path), Some(&(bytes.clone(), *mtime)), "{path}");
        }
    }
    assert_build_equals_cold(&p, "one article added");
}

/// An archive of 2,000 old articles, each with a 32 KB summary (64 MB in
/// all), and two new ones: `status` and the digest step read the old ones'
/// front matter to index them, but hold whole only what the next issue
/// can carry, and `check` drops each article once its body is checked.
/// One that held every article would hold every summary, more than their
/// 64 MB; one that holds the index and the two new articles stays far
/// under it.
///
/// Measured in a debug build on a 2-core machine: holding every article,
/// `check` and `status` peaked at 87 MB and `digest send` at 89 MB;
/// selecting them, at 22, 21 and 24 MB.
#[test]
fn check_status_and_a_digest_hold_whole_only_the_articles_an_issue_can_carry() {
    const OLD: usize = 2_000;
    const SUMMARY: usize = 32 * 1024;
    // The two articles of issue 2026-W49 (and a later one, a draft and a
    // scheduled one), and the old ones.
    let p = crate::status::with_a_week_of_articles(&crate::status::outbox_config());
    let summary = "舊".repeat(SUMMARY / "舊".len());
    for (i, folder) in (0..OLD).zip(["ai", "city"].iter().cycle()) {
        let text = article(
            &format!(
                "title = \"舊文{i}\"\npublished = 2024-{:02}-{:02}T07:{:02}:00+08:00\nsummary = \"{summary}\"",
                1 + i % 12,
                1 + (i / 12) % 28,
                (i / 336) % 60
            ),
            "舊文的正文。",
        );
        let dir = p.path(&format!("content/{folder}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("old-{i}.md")), text).unwrap();
    }
    crate::status::subscribe(&p, "reader@example.com", &[]);
    let summaries_kb = (OLD * SUMMARY / 1024) as u64;
    let peak = |args: &[&str]| {
        let mut cmd = p.command("", crate::status::AFTER_SLOT, args, &[]);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BROADSHEET")) {
            cmd.env_remove(k);
        }
        let (kb, code, stderr) = peak_memory_kb(cmd, Duration::from_secs(300));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        eprintln!("{args:?}: peak {kb} kB");
        kb
    };
    let check_kb = peak(&["check"]);
    let status_kb = peak(&["status", "--json"]);
    let send_kb = peak(&["digest", "send"]);
    for (what, kb) in [
        ("check", check_kb),
        ("status", status_kb),
        ("digest send", send_kb),
    ] {
        assert!(
            kb < summaries_kb,
            "{what} peaked at {kb} kB, over the {summaries_kb} kB of the old articles' \
             summaries: it held every article whole"
        );
    }
    // And the issue carries the new articles, not the old.
    let sent: Vec<_> = std::fs::read_dir(p.path("outbox")).unwrap().collect();
    assert_eq!(sent.len(), 1, "one digest to the one reader");
    let mail = std::fs::read(sent[0].as_ref().unwrap().path()).unwrap();
    let message = mail_parser::MessageParser::default().parse(&mail).unwrap();
    let text = message.body_text(0).unwrap();
    assert!(
        text.contains("算力擴容") && text.contains("電車慢活"),
        "{text}"
    );
    assert!(!text.contains("舊文"), "{text}");
}
