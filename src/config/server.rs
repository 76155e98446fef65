//! `[server]`: where `serve` listens and is reached, the key links are
//! signed with, and its limits. Whether `public_url` and `secret` must be
//! set depends on the command: [`Config::service`] is the one place that
//! says so for those that mail links (`serve`, `digest send`).

use super::issues::Issues;
use super::raw::RawServer;
use super::{Config, ConfigError, Secret};
use std::net::SocketAddr;
use url::Url;

/// The fewest characters `server.secret` may have: a short secret can be
/// guessed, and every link signed with it forged.
const SECRET_MIN_CHARS: usize = 16;

/// The longest `server.privacy_notice`, in characters: a statement a
/// reader can take in beside a form, not a whole policy (link that with
/// `server.privacy_url`).
const PRIVACY_NOTICE_MAX_CHARS: usize = 2_000;

/// `[server]`.
#[derive(Debug, Clone)]
pub struct Server {
    /// The address `serve` listens on.
    pub bind: SocketAddr,
    /// Where the service is reached from outside: an absolute http(s)
    /// URL, without a trailing slash.
    pub public_url: Option<String>,
    /// The HMAC key for tokens: empty, or at least 16 characters.
    pub secret: Secret,
    /// Confirmation and preferences emails one address may be sent a day.
    pub emails_per_address_per_day: u32,
    /// Such emails one client (IP address) may ask for in an hour.
    pub emails_per_client_per_hour: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry:
    /// set it only behind a reverse proxy that writes that header.
    pub trust_forwarded_for: bool,
    /// How long, at shutdown, queued emails get to leave; what is left
    /// stays queued in the state for the next start.
    pub shutdown_email_seconds: u64,
    /// The personal information collection statement shown on the
    /// sign-up form; `None`: the built-in one ([`Config::privacy_notice`]).
    pub privacy_notice: Option<String>,
    /// The full privacy policy the statement links to: an absolute
    /// http(s) URL.
    pub privacy_url: Option<String>,
    /// Send a welcome email once a sign-up is confirmed.
    pub welcome_email: bool,
}

/// `[server]`.
pub(super) fn validate(raw: RawServer, issues: &mut Issues) -> Server {
    let bind = raw.bind.parse::<SocketAddr>().unwrap_or_else(|_| {
        issues.add(
            "server.bind",
            format!(
                "expected an address and port such as \"127.0.0.1:8080\", found {:?}",
                raw.bind
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let emails_per_address_per_day = issues.whole(
        "server.emails_per_address_per_day",
        raw.emails_per_address_per_day,
        3,
    ) as u32;
    let emails_per_client_per_hour = issues.whole(
        "server.emails_per_client_per_hour",
        raw.emails_per_client_per_hour,
        20,
    ) as u32;
    let shutdown_email_seconds = issues.whole(
        "server.shutdown_email_seconds",
        raw.shutdown_email_seconds,
        30,
    ) as u64;
    if let Some(u) = &raw.public_url {
        if !matches!(Url::parse(u), Ok(p) if matches!(p.scheme(), "http" | "https")) {
            issues.add(
                "server.public_url",
                format!("expected an absolute http(s) URL, found {u:?}"),
            );
        }
    }
    let notice = raw.privacy_notice.trim();
    let notice_chars = notice.chars().count();
    if notice_chars > PRIVACY_NOTICE_MAX_CHARS {
        issues.add(
            "server.privacy_notice",
            format!(
                "expected at most {PRIVACY_NOTICE_MAX_CHARS} characters, found {notice_chars}: \
                 keep the statement short and link the whole policy with server.privacy_url"
            ),
        );
    }
    let privacy_url = raw.privacy_url.trim();
    if !privacy_url.is_empty()
        && !matches!(Url::parse(privacy_url), Ok(p) if matches!(p.scheme(), "http" | "https"))
    {
        issues.add(
            "server.privacy_url",
            format!("expected an absolute http(s) URL, found {privacy_url:?}"),
        );
    }
    // Unset is fine here (a build signs nothing); set, it must be usable.
    if !raw.secret.is_empty() && raw.secret.chars().count() < SECRET_MIN_CHARS {
        issues.add(
            "server.secret",
            "expected at least 16 characters: a short secret can be guessed",
        );
    }
    Server {
        bind,
        public_url: raw.public_url.map(|u| u.trim_end_matches('/').to_owned()),
        secret: Secret(raw.secret),
        emails_per_address_per_day,
        emails_per_client_per_hour,
        trust_forwarded_for: raw.trust_forwarded_for,
        shutdown_email_seconds,
        privacy_notice: (!notice.is_empty()).then(|| notice.to_owned()),
        privacy_url: (!privacy_url.is_empty()).then(|| privacy_url.to_owned()),
        welcome_email: raw.welcome_email,
    }
}

impl Config {
    /// The statement the sign-up form shows before anyone gives an
    /// address, as Hong Kong's Personal Data (Privacy) Ordinance expects
    /// (data protection principle 1(3)): `server.privacy_notice`, or a
    /// built-in one in Chinese and English saying what is collected and
    /// why, that nothing is passed on for marketing, how to leave, the
    /// right to see and correct one's data, and whom to write to (the
    /// digest's Reply-To, else its From). Paragraphs are separated by a
    /// blank line.
    pub fn privacy_notice(&self) -> String {
        if let Some(text) = &self.server.privacy_notice {
            return text.clone();
        }
        let title = &self.site.title;
        let contact = self
            .digest
            .reply_to
            .as_ref()
            .or(self.digest.from.as_ref())
            .map(|m| m.email.to_string());
        let (zh_contact, en_contact) = match &contact {
            Some(a) => (format!("請電郵至 {a}"), format!("email {a}")),
            None => (
                "請回覆我們任何一封電郵".to_owned(),
                "reply to any of our emails".to_owned(),
            ),
        };
        format!(
            "我們收集你的電郵地址，以及你選擇提供的稱呼和欄目，只用於寄送{title}的每週精選及管理你的訂閱。\
             電郵地址必須提供，否則無法寄送；稱呼可不填。\
             我們不會出售你的資料，也不會交給他人作直接促銷，只有代我們寄出電郵的服務商會經手。\
             每封電郵都附有取消訂閱的連結，你亦可隨時在「管理訂閱」更改設定或取消訂閱。\
             根據《個人資料（私隱）條例》，你有權查閱及改正你的資料；如有查詢，{zh_contact}。\n\n\
             We collect your email address, and the name and columns you choose to give, only to send you \
             the weekly digest of {title} and to manage your subscription. \
             The address is needed to send it; the name is optional. \
             We do not sell your data or pass it to anyone for direct marketing; only the service that \
             delivers our email handles it on our behalf. \
             Every email carries a link to unsubscribe, and under “Manage your subscription” you can change \
             your settings or leave at any time. \
             Under Hong Kong’s Personal Data (Privacy) Ordinance you may see and correct your data; \
             for that or any question, {en_contact}."
        )
    }
}

/// What a command that mails readers signed links needs of `[server]`.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Where the subscriber service is reached; every emailed link starts
    /// with it.
    pub public_url: String,
    /// The key links are signed with: at least 16 characters.
    pub secret: Secret,
}

/// Which command asks for [`ServiceSettings`]: each says in its own words
/// what a missing setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceUse {
    /// `serve`: the service itself.
    Serve,
    /// `digest send`, and `run`'s digest step.
    DigestSend,
}

impl Config {
    /// `digest.from`, `server.public_url` and `server.secret`, which `serve`
    /// and `digest send` need and a build does not; every one missing is
    /// reported at once, naming its key. (Set ones were checked at load.)
    pub fn service(&self, needed_by: ServiceUse) -> Result<ServiceSettings, ConfigError> {
        let secret = (
            "server.secret",
            self.server.secret.is_empty(),
            match needed_by {
                ServiceUse::Serve => "expected a secret to sign links with (at least 16 characters); set BROADSHEET_SERVER__SECRET",
                ServiceUse::DigestSend => "expected a secret to sign unsubscribe links with; set BROADSHEET_SERVER__SECRET",
            },
        );
        let public_url = (
            "server.public_url",
            self.server.public_url.is_none(),
            match needed_by {
                ServiceUse::Serve => "expected the address readers reach this service at (links in emails point there), found nothing",
                ServiceUse::DigestSend => "expected the address of the subscriber service (unsubscribe links point there), found nothing",
            },
        );
        // Every email carries a From: a digest and the service's emails.
        let from = (
            "digest.from",
            self.digest.from.is_none(),
            "expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set",
        );
        let order = match needed_by {
            ServiceUse::Serve => [from, secret, public_url],
            ServiceUse::DigestSend => [from, public_url, secret],
        };
        let mut issues = Issues::new(&self.path);
        for (key, missing, message) in order {
            if missing {
                issues.add(key, message);
            }
        }
        issues.finish()?;
        Ok(ServiceSettings {
            public_url: self.server.public_url.clone().unwrap_or_default(),
            secret: self.server.secret.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[site]\ntitle = \"論壇\"\nbase_url = \"https://news.example.com\"\n\n\
                 [[columns]]\nslug = \"ai\"\ntitle = \"AI\"\n\n{extra}"
            ),
        )
        .unwrap();
        Config::load_with_env(&path, &Default::default()).unwrap()
    }

    #[test]
    fn the_built_in_privacy_notice_names_the_publication_and_whom_to_write_to() {
        let c = load("[digest]\nfrom = \"論壇 <digest@news.example.com>\"\nreply_to = \"editor@news.example.com\"\n");
        assert!(c.server.welcome_email);
        assert_eq!(c.server.privacy_url, None);
        let text = c.privacy_notice();
        assert!(text.contains("只用於寄送論壇的每週精選"), "{text}");
        // The Reply-To is where answers go, so it is named, not the From.
        assert!(text.contains("請電郵至 editor@news.example.com"), "{text}");
        assert!(text.contains("email editor@news.example.com."), "{text}");
        assert!(!text.contains("digest@"), "{text}");
        assert_eq!(text.matches("\n\n").count(), 1, "{text}");

        let c = load("");
        assert!(c.privacy_notice().contains("請回覆我們任何一封電郵"));
    }

    #[test]
    fn a_privacy_notice_of_ones_own_replaces_the_built_in_one() {
        let c = load(
            "[server]\nprivacy_notice = \"  本報只用你的地址寄摘要。  \"\n\
             privacy_url = \"https://news.example.com/privacy\"\nwelcome_email = false\n",
        );
        assert_eq!(c.privacy_notice(), "本報只用你的地址寄摘要。");
        assert_eq!(
            c.server.privacy_url.as_deref(),
            Some("https://news.example.com/privacy")
        );
        assert!(!c.server.welcome_email);
    }
}
