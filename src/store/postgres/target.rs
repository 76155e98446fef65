//! `[state] url`: which PostgreSQL database, how to reach it, and what
//! it is called wherever broadsheet names it (never with its password).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// How the connection is protected (`sslmode` in the URL, named as
/// libpq names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tls {
    /// `sslmode=disable`: plain TCP or a Unix socket. The default only
    /// for a server on this machine (a socket, `localhost`, a loopback
    /// address), where there is no network to protect.
    Disable,
    /// `sslmode=require`, `verify-ca` or `verify-full`: TLS through
    /// rustls, the server's certificate verified against the Mozilla
    /// roots or `sslrootcert`, and its name checked. Unlike libpq,
    /// `require` verifies too: a connection that accepts any certificate
    /// protects a subscriber list from no one. The default for any other
    /// host.
    Verify {
        /// `sslrootcert`: a PEM file of the certificate authorities to
        /// trust instead of the public ones (a private CA).
        roots: Option<PathBuf>,
    },
}

/// A PostgreSQL database to keep the state in.
#[derive(Clone)]
pub struct Target {
    pub(crate) config: postgres::Config,
    pub(super) tls: Tls,
    /// `postgres://user@host:port/database`, for messages.
    shown: String,
}

impl std::fmt::Debug for Target {
    /// The password stays out of debug output too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("shown", &self.shown)
            .field("tls", &self.tls)
            .finish()
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        self.shown == other.shown && self.tls == other.tls
    }
}

/// Where the password comes from when the URL has none: `PGPASSWORD`, or
/// the `.pgpass` file libpq reads (`PGPASSFILE`, else `~/.pgpass`).
#[derive(Debug, Clone, Default)]
pub struct PasswordSources {
    /// `PGPASSWORD`.
    pub password: Option<String>,
    /// The `.pgpass` file.
    pub pgpass: Option<PathBuf>,
}

impl PasswordSources {
    /// From the process's environment.
    pub fn from_env() -> PasswordSources {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        PasswordSources {
            password: var("PGPASSWORD"),
            pgpass: var("PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".pgpass"))),
        }
    }
}

/// Whether `host` is this machine: a socket folder, `localhost` or a
/// loopback address.
fn is_local(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Target {
    /// Reads a `postgres://` (or `postgresql://`) URL. The message of an
    /// error never repeats the URL, which may hold a password.
    pub fn parse(url: &str, passwords: &PasswordSources) -> Result<Target, String> {
        let mut parsed = url::Url::parse(url).map_err(|e| {
            format!(
                "expected a URL such as postgres://broadsheet@db.internal:5432/broadsheet ({e})"
            )
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "expected a postgres:// URL, found a {}: URL (leave state.url out for SQLite at site.state_path)",
                parsed.scheme()
            ));
        }
        // `sslmode` and `sslrootcert` are broadsheet's to read: the
        // driver knows neither `verify-full` nor root files.
        let mut tls_mode: Option<String> = None;
        let mut roots: Option<PathBuf> = None;
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(k, v)| match &*k {
                "sslmode" => {
                    tls_mode = Some(v.into_owned());
                    None
                }
                "sslrootcert" => {
                    roots = Some(PathBuf::from(v.into_owned()));
                    None
                }
                _ => Some((k.into_owned(), v.into_owned())),
            })
            .collect();
        // Written back with `%20` for a space: the driver reads a `+`
        // as itself, where form encoding would mean a space.
        let enc = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let query: Vec<String> = kept
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        parsed.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
        let mut config = postgres::Config::from_str(parsed.as_str())
            .map_err(|e| format!("not a PostgreSQL URL the driver reads: {e}"))?;
        let user = config
            .get_user()
            .map(str::to_owned)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".into());
        config.user(&user);
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => {
                return Err(
                    "expected a host, e.g. postgres://broadsheet@db.internal/broadsheet".into(),
                )
            }
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config.get_dbname().unwrap_or(&user).to_owned();
        config.dbname(&database);
        let local = config.get_hosts().iter().all(|h| match h {
            postgres::config::Host::Tcp(h) => is_local(h),
            #[cfg(unix)]
            postgres::config::Host::Unix(_) => true,
        });
        let tls = match tls_mode.as_deref() {
            Some("disable") => Tls::Disable,
            None if local => Tls::Disable,
            Some("require" | "verify-ca" | "verify-full") | None => Tls::Verify { roots },
            Some(other) => {
                return Err(format!(
                    "sslmode={other}: expected disable, require, verify-ca or verify-full"
                ))
            }
        };
        if config.get_password().is_none() {
            if let Some(p) = &passwords.password {
                config.password(p.as_bytes());
            } else if let Some(p) = passwords
                .pgpass
                .as_deref()
                .and_then(|f| pgpass_password(f, &host, port, &database, &user))
            {
                config.password(p.as_bytes());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("broadsheet");
        }
        // Two or more hosts: a primary and its replicas. Only a primary
        // takes writes, and after a failover the promoted one is found.
        if config.get_hosts().len() > 1 {
            config.target_session_attrs(postgres::config::TargetSessionAttrs::ReadWrite);
        }
        let shown_host = if host.contains(':') && !host.starts_with('/') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(Target {
            config,
            tls,
            shown: format!("postgres://{user}@{shown_host}:{port}/{database}"),
        })
    }

    /// The URL without its password: `postgres://user@host:port/db`.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// The password `.pgpass` gives for this connection: the first line
/// whose five `:`-separated fields (`*` matches anything, `\` escapes)
/// match host, port, database and user. Hand-written because no
/// maintained crate reads the format, and it is ten lines.
fn pgpass_password(file: &Path, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    // libpq calls a socket connection `localhost` here.
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => field.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        if fields.len() != 5 {
            continue;
        }
        let matches = |f: &str, v: &str| f == "*" || f == v;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            return fields.pop();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, String> {
        Target::parse(url, &PasswordSources::default())
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        let t = parse("postgres://news:s3cret@db.internal:5433/broadsheet").unwrap();
        assert_eq!(t.shown(), "postgres://news@db.internal:5433/broadsheet");
        assert_eq!(t.config.get_password(), Some(&b"s3cret"[..]));
        assert!(!format!("{t:?}").contains("s3cret"));
        assert_eq!(
            t.tls,
            Tls::Verify { roots: None },
            "TLS verified off this machine"
        );
    }

    #[test]
    fn options_with_spaces_reach_the_driver_as_given() {
        let t =
            parse("postgres://news@db/bs?sslmode=disable&options=-c%20search_path%3Dx").unwrap();
        assert_eq!(t.config.get_options(), Some("-c search_path=x"));
    }

    #[test]
    fn a_local_server_needs_no_tls_unless_asked_and_sslmode_is_read() {
        let t = parse("postgres://news@127.0.0.1/bs").unwrap();
        assert_eq!(t.tls, Tls::Disable);
        let t = parse("postgresql://news@localhost/bs?sslmode=verify-full&sslrootcert=/etc/ca.pem")
            .unwrap();
        assert_eq!(
            t.tls,
            Tls::Verify {
                roots: Some("/etc/ca.pem".into())
            }
        );
        let err = parse("postgres://news@db/bs?sslmode=allow").unwrap_err();
        assert!(err.contains("sslmode=allow: expected disable"), "{err}");
    }

    #[test]
    fn a_url_that_is_not_postgres_is_refused_without_repeating_it() {
        let err = parse("mysql://news:s3cret@db/bs").unwrap_err();
        assert!(err.contains("expected a postgres:// URL"), "{err}");
        assert!(!err.contains("s3cret"));
        let err = parse("not a url at all s3cret").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn the_password_comes_from_the_environment_or_pgpass_when_the_url_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let pgpass = dir.path().join("pgpass");
        std::fs::write(
            &pgpass,
            "# comment\nother:*:*:*:nope\ndb.internal:5432:bs:news:pa\\:ss\n*:*:*:*:any\n",
        )
        .unwrap();
        let sources = PasswordSources {
            password: None,
            pgpass: Some(pgpass.clone()),
        };
        let t = Target::parse("postgres://news@db.internal/bs", &sources).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"pa:ss"[..]));
        let t = Target::parse("postgres://news@elsewhere/bs", &sources).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"any"[..]));
        let sources = PasswordSources {
            password: Some("env".into()),
            pgpass: Some(pgpass),
        };
        let t = Target::parse("postgres://news@db.internal/bs", &sources).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"env"[..]));
        let t = Target::parse("postgres://news:url@db.internal/bs", &sources).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"url"[..]));
    }
}
