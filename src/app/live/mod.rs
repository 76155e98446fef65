//! `broadsheet preview [--bind ADDR] [--drafts]`: the publication as its
//! readers will see it, on this machine, rebuilt whenever a file it is made
//! from changes, with every open page reloading itself after the rebuild.
//!
//! A preview builds into memory and serves from there: it never writes
//! `output_dir`, never opens the state and never tells a WebSub hub, so it
//! can run beside cron on the real publication. [`site`] makes the pages,
//! [`http`] serves them, and the loop here watches the files.
//!
//! Changes are found by asking every watched file's size and mtime a few
//! times a second, rather than through the system's change notices (a
//! crate of its own): that also sees files on network and container
//! mounts, where notices do not come, and a publication's few thousand
//! files take milliseconds to ask. The interval grows with the time one
//! look takes, so a very large publication costs a bounded share of a core.

mod http;
mod site;

use crate::Error;
use chrono::{DateTime, FixedOffset, Utc};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The address a preview listens on unless `--bind` says otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:1111";

/// The shortest wait between two looks at the files.
const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// The longest, however large the publication.
const MAX_INTERVAL: Duration = Duration::from_secs(3);
/// A change is built once the files have stayed the same this long
/// (an editor writing a file in parts, `git checkout` of many)...
const SETTLE: Duration = Duration::from_millis(150);
/// ...or after this long, if they keep changing.
const MAX_SETTLE: Duration = Duration::from_secs(2);
/// How long requests in flight get to finish after SIGINT or SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Files looked at in one look, at most: a watched folder that holds far
/// more than a publication (a home folder by mistake) is not walked for
/// ever.
const MAX_FILES: usize = 500_000;

/// How a preview runs.
#[derive(Debug, Clone)]
pub struct PreviewOptions {
    /// Where it listens: a loopback address.
    pub bind: SocketAddr,
    /// Show drafts and articles scheduled for later as if published.
    pub drafts: bool,
    /// The clock of every build, when fixed (`--now`); else the system's.
    pub now: Option<DateTime<FixedOffset>>,
}

/// Why a preview could not start.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// `--bind` names an address other machines could reach.
    #[error("--bind: {addr} is not a loopback address; a preview shows drafts and unpublished work, so it listens on this machine only (such as 127.0.0.1:1111)")]
    NotLoopback {
        /// The address given.
        addr: SocketAddr,
    },
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}; choose another address with --bind, such as --bind 127.0.0.1:1112")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The threads, or the wait for a signal, could not be set up.
    #[error("{what}: {source}")]
    Runtime {
        /// What could not be done.
        what: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
}

/// What the latest build left for the pages.
struct Live {
    /// Counts builds, to tell a page it is out of date.
    generation: u64,
    /// The latest pages that built.
    pages: Arc<site::Pages>,
    /// Why the latest build failed, when it did.
    error: Option<Arc<str>>,
}

/// What the server and the watcher share.
pub(crate) struct Shared {
    /// Tells this run's pages from an earlier run's on the same port.
    run: u128,
    /// The address listened on: the only `Host` answered.
    addr: SocketAddr,
    live: RwLock<Live>,
}

impl Shared {
    /// Whether a request's `Host` names this preview: `127.0.0.1:PORT`
    /// (or `localhost:PORT`). Any other is a page elsewhere reaching in
    /// through a name it points at 127.0.0.1 (DNS rebinding), to read
    /// drafts.
    fn is_own_host(&self, host: Option<&str>) -> bool {
        let port = self.addr.port();
        host.is_some_and(|h| {
            h == self.addr.to_string() || h.eq_ignore_ascii_case(&format!("localhost:{port}"))
        })
    }

    /// The generation as the pages' script compares it.
    fn generation_tag(&self) -> String {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        format!("{}-{}", self.run, live.generation)
    }

    /// The generation, the pages and the error, taken together.
    fn snapshot(&self) -> (String, Arc<site::Pages>, Option<Arc<str>>) {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        (
            format!("{}-{}", self.run, live.generation),
            live.pages.clone(),
            live.error.clone(),
        )
    }
}

/// What one build did, for the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    /// It built: articles shown, pages made, and how long it took.
    Built {
        /// Articles with a page.
        articles: usize,
        /// Pages and feeds served.
        pages: usize,
        /// How long the build took.
        elapsed: Duration,
    },
    /// It failed; the pages show why until a build works.
    Failed(String),
}

/// Runs the preview of the publication configured at `config_path` until
/// SIGINT or SIGTERM. `on_ready` is given the address once it listens and
/// the first build is served; `on_build` each build's outcome.
pub fn preview(
    config_path: &Path,
    options: PreviewOptions,
    on_ready: impl FnOnce(SocketAddr, &Rebuilt),
    on_build: impl Fn(&Rebuilt) + Send + 'static,
) -> Result<(), Error> {
    let addr = options.bind;
    if !addr.ip().is_loopback() {
        return Err(PreviewError::NotLoopback { addr }.into());
    }
    // The first read of the config decides whether there is a
    // publication here at all: a missing file is the wrong folder, not
    // an error to show on a page.
    if let Err(e @ crate::config::ConfigError::Read { .. }) =
        site::load_config(config_path, "http://127.0.0.1")
    {
        return Err(e.into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| PreviewError::Runtime {
            what: "cannot start the preview's threads",
            source,
        })?;
    runtime.block_on(async move {
        let signal = crate::server::shutdown_signal().map_err(|source| PreviewError::Runtime {
            what: "cannot listen for SIGTERM",
            source,
        })?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| PreviewError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| PreviewError::Bind { addr, source })?;
        let origin = format!("http://{addr}");
        let shared = Arc::new(Shared {
            addr,
            run: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            live: RwLock::new(Live {
                generation: 0,
                pages: Arc::default(),
                error: None,
            }),
        });
        let builder = Builder {
            config_path: config_path.to_owned(),
            origin,
            options: options.clone(),
            shared: shared.clone(),
        };
        // The first build before the first page, so no one sees an empty
        // site.
        let (first, watched) = {
            let b = builder.clone();
            tokio::task::spawn_blocking(move || b.build())
                .await
                .unwrap_or_else(|e| {
                    (
                        Rebuilt::Failed(format!("the build stopped: {e}")),
                        Vec::new(),
                    )
                })
        };
        on_ready(addr, &first);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("preview-watch".into())
                .spawn(move || watch(builder, watched, &stop, on_build))
                .map_err(|source| PreviewError::Runtime {
                    what: "cannot start the preview's watcher",
                    source,
                })?
        };
        // Requests in flight finish after the signal, for a moment: a
        // connection a browser opened and never used does not hold the
        // preview open.
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, http::router(shared)).with_graceful_shutdown(async {
            signal.await;
            let _ = stopping.send(());
        });
        let served = tokio::select! {
            served = std::future::IntoFuture::into_future(server) => served,
            () = async {
                let _ = stopped.await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => Ok(()),
        };
        stop.store(true, Ordering::Relaxed);
        // The watcher sees `stop` within one interval, unless a build is
        // running; the process does not wait for that build.
        let deadline = Instant::now() + MAX_INTERVAL + Duration::from_millis(500);
        while !watcher.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        served.map_err(|source| PreviewError::Runtime {
            what: "the preview stopped",
            source,
        })?;
        Ok::<(), Error>(())
    })
}

/// Everything a build needs, for the watcher's thread.
#[derive(Clone)]
struct Builder {
    config_path: PathBuf,
    origin: String,
    options: PreviewOptions,
    shared: Arc<Shared>,
}

impl Builder {
    /// Builds, puts the result before the pages, and says what to watch
    /// next (the config may have moved `content_dir`).
    fn build(&self) -> (Rebuilt, Vec<PathBuf>) {
        let started = Instant::now();
        let now = self
            .options
            .now
            .unwrap_or_else(|| Utc::now().fixed_offset());
        let config = site::load_config(&self.config_path, &self.origin);
        let watched = site::watched(&self.config_path, config.as_ref().ok());
        let result = config
            .map_err(Error::from)
            .and_then(|c| site::build(&c, &self.origin, now, self.options.drafts));
        let mut live = self.shared.live.write().unwrap_or_else(|p| p.into_inner());
        live.generation += 1;
        let outcome = match result {
            Ok(pages) => {
                let outcome = Rebuilt::Built {
                    articles: pages.articles,
                    pages: pages.files.len(),
                    elapsed: started.elapsed(),
                };
                live.pages = Arc::new(pages);
                live.error = None;
                outcome
            }
            Err(e) => {
                let text = e.to_string();
                live.error = Some(text.as_str().into());
                Rebuilt::Failed(text)
            }
        };
        (outcome, watched)
    }
}

/// Looks at the watched files until `stop`, building after each change.
fn watch(
    builder: Builder,
    mut watched: Vec<PathBuf>,
    stop: &AtomicBool,
    on_build: impl Fn(&Rebuilt),
) {
    let (mut last, mut interval) = look(&watched);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(interval);
        let (now, took) = look(&watched);
        interval = took;
        if now == last {
            continue;
        }
        // Let a burst of writes end before building.
        let settling = Instant::now();
        let mut seen = now;
        while settling.elapsed() < MAX_SETTLE && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(SETTLE);
            let (again, _) = look(&watched);
            if again == seen {
                break;
            }
            seen = again;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (outcome, next) = builder.build();
        on_build(&outcome);
        watched = next;
        (last, interval) = look(&watched);
    }
}

/// A digest of the watched files' paths, sizes and mtimes, and the wait
/// until the next look: four times this look's time, within the bounds.
fn look(paths: &[PathBuf]) -> (u64, Duration) {
    use std::hash::{Hash, Hasher};
    let started = Instant::now();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    let mut seen = 0usize;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > MAX_FILES {
            break;
        }
        p.hash(&mut h);
        let Ok(meta) = std::fs::metadata(&p) else {
            0u8.hash(&mut h);
            continue;
        };
        // A folder's own mtime moves when a scratch file comes and goes;
        // its listing, hashed entry by entry, says what matters.
        if !meta.is_dir() {
            meta.len().hash(&mut h);
            meta.modified().ok().hash(&mut h);
        } else {
            let Ok(entries) = std::fs::read_dir(&p) else {
                continue;
            };
            let mut children: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|e| !is_scratch(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            // The same files in any order of listing make the same digest.
            children.sort();
            stack.extend(children.into_iter().rev());
        }
    }
    let wait = (started.elapsed() * 4).clamp(MIN_INTERVAL, MAX_INTERVAL);
    (h.finish(), wait)
}

/// An editor's scratch file, which a build never reads: hidden files
/// (vim's `.x.swp`, emacs's `.#x`), backups (`x~`) and autosaves (`#x#`).
fn is_scratch(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('#') || name.ends_with('~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_changes_the_look_and_a_scratch_file_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.md");
        std::fs::write(&file, "one").unwrap();
        let paths = vec![dir.path().to_owned()];
        let (before, wait) = look(&paths);
        assert!((MIN_INTERVAL..=MAX_INTERVAL).contains(&wait));
        std::fs::write(dir.path().join(".a.md.swp"), "scratch").unwrap();
        std::fs::write(dir.path().join("a.md~"), "backup").unwrap();
        assert_eq!(look(&paths).0, before);
        std::fs::write(&file, "three").unwrap();
        assert_ne!(look(&paths).0, before);
    }

    #[test]
    fn a_preview_refuses_an_address_other_machines_reach() {
        let options = PreviewOptions {
            bind: "0.0.0.0:1111".parse().unwrap(),
            drafts: false,
            now: None,
        };
        let e = preview(Path::new("config.toml"), options, |_, _| {}, |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--bind: 0.0.0.0:1111 is not a loopback address"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
