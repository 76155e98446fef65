//! What every message needs from the configuration, made once per
//! command: the [`Sender`] (From, Reply-To, List-Id, DKIM), which the
//! digest and the subscriber service's emails share, and the
//! [`Transport`] (the relay, or the outbox). The values were checked when
//! the configuration was loaded; what is left to decide here is whether a
//! command that sends has what sending needs.

use super::message::{self, Sender};
use super::{SmtpSettings, SmtpTransport, Transport};
use crate::config::{Config, ConfigError};
use lettre::message::dkim::{DkimCanonicalization, DkimCanonicalizationType, DkimConfig};
use std::sync::Arc;

impl Sender {
    /// From, Reply-To, List-Id and DKIM from `[digest]`; `digest.from`
    /// must be set.
    pub fn from_config(config: &Config) -> Result<Sender, ConfigError> {
        let d = &config.digest;
        let Some(from) = d.from.clone() else {
            return Err(ConfigError::invalid(
                &config.path,
                "digest.from",
                "expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set",
            ));
        };
        let dkim = d.dkim.as_ref().map(|k| {
            Arc::new(DkimConfig::new(
                k.selector.clone(),
                k.domain.clone(),
                k.key.signing_key(),
                message::dkim_headers(),
                DkimCanonicalization {
                    header: DkimCanonicalizationType::Relaxed,
                    body: DkimCanonicalizationType::Relaxed,
                },
            ))
        });
        Ok(Sender {
            list_id: message::list_id(
                &crate::digest::words::Lang::of(&config.site.language)
                    .digest_name(&config.site.title),
                from.email.domain(),
            ),
            from,
            reply_to: d.reply_to.clone(),
            dkim,
            bounce_domain: d.bounce_domain.clone(),
            provider_headers: d.provider_headers,
        })
    }
}

impl Transport {
    /// The relay `[smtp]` names, or the outbox folder when it names none.
    /// The TLS setup is tried now, so a certificate that cannot be used
    /// fails before anything is sent.
    pub fn from_config(config: &Config) -> Result<Transport, ConfigError> {
        let s = &config.smtp;
        let Some(host) = &s.host else {
            return Ok(Transport::Outbox(s.outbox_dir.clone()));
        };
        let credentials =
            (!s.username.is_empty()).then(|| (s.username.clone(), s.password.expose().to_owned()));
        let settings = SmtpSettings {
            host: host.clone(),
            port: s.port,
            security: s.security,
            credentials,
            connections: s.max_connections as usize,
            timeout: std::time::Duration::from_secs(s.timeout_seconds),
            final_reply_timeout: std::time::Duration::from_secs(s.final_reply_timeout_seconds),
            max_messages_per_connection: s.max_messages_per_connection,
            extra_root_pem: s.ca_file.as_ref().map(|f| f.pem.clone()),
        };
        SmtpTransport::new(settings)
            .map(Transport::Smtp)
            .map_err(|m| ConfigError::invalid(&config.path, "smtp.host", m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(digest: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[site]\ntitle = \"論壇\"\nbase_url = \"https://news.example.com\"\n\n[[columns]]\nslug = \"ai\"\ntitle = \"AI\"\n\n[digest]\n{digest}\n"
            ),
        )
        .unwrap();
        Config::load_with_env(&path, &Default::default()).unwrap()
    }

    #[test]
    fn a_sender_needs_digest_from_and_says_so_by_its_key() {
        let c = config("");
        let err = Sender::from_config(&c).unwrap_err().to_string();
        assert!(
            err.ends_with(": digest.from: expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_sender_carries_the_checked_addresses_and_the_list_id() {
        let c = config(
            "from = \"論壇 <digest@news.example.com>\"\nreply_to = \"editor@news.example.com\"",
        );
        let s = Sender::from_config(&c).unwrap();
        assert_eq!(s.from.email.to_string(), "digest@news.example.com");
        assert_eq!(
            s.reply_to.map(|r| r.email.to_string()).as_deref(),
            Some("editor@news.example.com")
        );
        assert!(
            s.list_id.ends_with(" <digest.news.example.com>"),
            "{}",
            s.list_id
        );
        assert!(s.dkim.is_none());
    }

    #[test]
    fn no_relay_means_the_outbox() {
        let c = config("");
        let t = Transport::from_config(&c).unwrap();
        assert!(matches!(t, Transport::Outbox(dir) if dir.ends_with("outbox")));
    }
}
