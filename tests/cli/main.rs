//! Integration tests: the `broadsheet` binary run on fixture publications,
//! its output read back with independent parsers.

mod authors; // author feeds: folders, slugs, limits, summaries, authors.opml, gofeed-safe bylines
mod bad_input; // content and config the build refuses, each error named by file, line and field
mod bounces; // bounce and complaint mail through `bounces ingest` and `bounces scan`
mod build; // the feeds a build writes, and what a second build leaves alone
mod conveniences; // shell completions, the manual page, JSON logs
mod corrections; // corrections in the feeds and, once, in the next digest
mod digest; // the weekly digest: who gets what, retries, resuming, preview, DKIM
mod digest_readers; // the digest's words per language, its sender, web copy and archive
mod exit_codes; // the exit code follows what failed: 1 for a failed write, 2 for a bad input
mod formats; // Hugo, Zola and Jekyll content as it is: YAML, their keys, dated names, sections
mod hostile; // markup, scripts and odd characters in articles never reach a feed as such
#[cfg(unix)]
mod imap; // `bounces poll` and `run`'s poll against a throwaway Dovecot, a silent server and a cut connection
mod incremental; // builds after edits equal cold builds; a damaged cache changes nothing; output not held whole
mod init; // `init` and `templates export`
mod keep_going; // run and build --keep-going publish past an invalid article
mod new; // `new COLUMN TITLE`: the article file, its slug, files never replaced
mod output; // (shared) reading back trees, JSON, self links, HTML tags, build counts
mod pages; // the HTML pages beside the feeds: column pages and the index
mod postgres; // the state in PostgreSQL: several senders, a killed sender, copy and migrate, bad URLs
#[cfg(unix)]
mod preview; // `preview`: rebuilt on change, drafts, errors on the page, output and state untouched
mod relay; // SMTP relays that are slow, silent or dead, and the run lock
#[cfg(unix)]
mod serve; // the subscriber web service: sign-up, confirmation, unsubscribe, feeds over HTTP
mod smtp; // (shared) the SMTP servers on 127.0.0.1 the digest tests send to
mod status; // `status` and `status --json`: counts, health, exit 1
mod subscribers; // `subscribers add/list/import/export/remove`
mod terminal; // colour, tables and progress on a terminal; plain lines when piped
mod util; // (shared) a publication in a temporary folder, and the binary run on it
mod websub; // WebSub announcements to a hub on 127.0.0.1
