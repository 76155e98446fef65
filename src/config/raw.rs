//! The configuration as written: a serde shape with the defaults the README
//! states. Nothing outside `config` sees these types.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawConfig {
    pub site: RawSite,
    pub columns: Vec<RawColumn>,
    pub feeds: RawFeeds,
    pub digest: RawDigest,
    pub smtp: RawSmtp,
    pub server: RawServer,
    pub state: RawState,
    pub bounces: RawBounces,
    pub webhooks: RawWebhooks,
    pub authors: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawSite {
    pub title: String,
    pub base_url: String,
    pub language: String,
    pub timezone: String,
    pub permalink: String,
    pub content_dir: String,
    pub output_dir: String,
    pub templates_dir: String,
    pub state_path: String,
    pub follow_external_symlinks: bool,
}

impl Default for RawSite {
    fn default() -> Self {
        RawSite {
            title: String::new(),
            base_url: String::new(),
            language: "zh-Hant-HK".into(),
            timezone: "Asia/Hong_Kong".into(),
            permalink: "{base_url}/{column}/{slug}/".into(),
            content_dir: "content".into(),
            output_dir: "feeds".into(),
            templates_dir: "templates".into(),
            state_path: "broadsheet.db".into(),
            follow_external_symlinks: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawColumn {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawFeeds {
    pub max_items: i64,
    pub content: String,
    pub url: String,
    pub summary_chars: i64,
    pub id_authority: Option<String>,
    pub websub_hub: String,
    pub author_feeds: bool,
    pub author_content: String,
    pub author_max_items: i64,
    pub author_min_articles: i64,
}

impl Default for RawFeeds {
    fn default() -> Self {
        RawFeeds {
            max_items: 50,
            content: "full".into(),
            url: "{base_url}/feeds".into(),
            summary_chars: 150,
            id_authority: None,
            websub_hub: String::new(),
            author_feeds: true,
            author_content: "summary".into(),
            author_max_items: 10,
            author_min_articles: 2,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawDigest {
    pub from: String,
    pub reply_to: Option<String>,
    pub schedule: String,
    pub max_age_days: i64,
    pub subject: Option<String>,
    pub sender_address: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_domain: Option<String>,
    pub dkim_key_file: Option<String>,
    pub dkim_algorithm: String,
    pub max_send_minutes: i64,
    pub bounce_domain: String,
    pub provider_headers: String,
}

impl Default for RawDigest {
    fn default() -> Self {
        RawDigest {
            from: String::new(),
            reply_to: None,
            schedule: "Mon 08:00".into(),
            max_age_days: 14,
            subject: None,
            sender_address: None,
            dkim_selector: None,
            dkim_domain: None,
            dkim_key_file: None,
            dkim_algorithm: "rsa".into(),
            max_send_minutes: 60,
            bounce_domain: String::new(),
            provider_headers: "none".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawSmtp {
    pub outbox_dir: String,
    pub host: Option<String>,
    pub port: i64,
    pub security: String,
    pub username: String,
    pub password: String,
    pub max_connections: i64,
    pub rate_limit_per_second: f64,
    pub max_messages_per_connection: i64,
    pub timeout_seconds: i64,
    pub final_reply_timeout_seconds: i64,
    pub retries: i64,
    pub retry_backoff_ms: i64,
    pub ca_file: Option<String>,
}

impl Default for RawSmtp {
    fn default() -> Self {
        RawSmtp {
            outbox_dir: "outbox".into(),
            host: None,
            port: 25,
            security: "none".into(),
            username: String::new(),
            password: String::new(),
            max_connections: 4,
            rate_limit_per_second: 0.0,
            max_messages_per_connection: 0,
            timeout_seconds: 30,
            final_reply_timeout_seconds: 600,
            retries: 3,
            retry_backoff_ms: 1000,
            ca_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawServer {
    pub bind: String,
    pub public_url: Option<String>,
    pub secret: String,
    pub emails_per_address_per_day: i64,
    pub emails_per_client_per_hour: i64,
    pub trust_forwarded_for: bool,
    pub shutdown_email_seconds: i64,
    pub privacy_notice: String,
    pub privacy_url: String,
    pub welcome_email: bool,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            secret: String::new(),
            emails_per_address_per_day: 3,
            emails_per_client_per_hour: 20,
            trust_forwarded_for: false,
            shutdown_email_seconds: 30,
            privacy_notice: String::new(),
            privacy_url: String::new(),
            welcome_email: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawState {
    pub busy_timeout_seconds: i64,
    pub url: String,
    pub statement_timeout_seconds: i64,
    pub lease_seconds: i64,
    pub pool_size: i64,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            busy_timeout_seconds: 30,
            url: String::new(),
            statement_timeout_seconds: 60,
            lease_seconds: 300,
            pool_size: 4,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct RawBounces {
    pub soft_limit: i64,
    pub soft_days: i64,
    pub imap_url: String,
    pub imap_password: String,
    pub imap_ca_file: Option<String>,
    pub imap_timeout_seconds: i64,
    pub max_bounce_rate: f64,
    pub max_complaint_rate: f64,
}

impl Default for RawBounces {
    fn default() -> Self {
        RawBounces {
            soft_limit: 3,
            soft_days: 7,
            imap_url: String::new(),
            imap_password: String::new(),
            imap_ca_file: None,
            imap_timeout_seconds: 30,
            max_bounce_rate: 0.02,
            max_complaint_rate: 0.003,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWebhooks {
    pub sendgrid_public_key: String,
    pub mailgun_signing_key: String,
    pub postmark_user: String,
    pub postmark_password: String,
    pub ses_certificate: String,
    pub ses_certificate_url: String,
    pub ses_topic_arns: Vec<String>,
}
