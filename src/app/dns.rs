//! `broadsheet dns`: the DNS records a publication publishes so its digest
//! is delivered — the DKIM public key, SPF for the Return-Path domain,
//! DMARC for the From domain, and an MX for the bounce domain — made from
//! the configuration alone; and the warning `check` gives when the From,
//! DKIM and Return-Path domains do not align for DMARC. Nothing is looked
//! up in the DNS: comparing with what is published already is the
//! operator's part, and the same configuration always gives the same bytes.

use crate::address::{dns_name, is_dns_label};
use crate::config::{Config, ConfigError, Dkim};
use base64::Engine as _;
use lettre::message::dkim::DkimSigningAlgorithm;
use std::net::IpAddr;

/// The TTL every record is written with: an hour, short enough to correct
/// a mistake the same day, long enough not to matter to resolvers.
const TTL: u32 = 3600;

/// The most bytes one character-string of a TXT record holds (RFC 1035
/// §3.3); a longer value is several strings in one record, which
/// receivers join (RFC 6376 §3.6.2.2 for DKIM, RFC 7208 §3.3 for SPF).
const TXT_STRING_BYTES: usize = 255;

/// What the other commands say when `digest.from` is not set.
const FROM_UNSET: &str =
    "expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set";

/// Two-label public suffixes under which each registrant owns the third
/// label: `news.example.co.uk` belongs to `example.co.uk`, not `co.uk`.
/// A small hard-coded list, not the Public Suffix List: it covers the
/// registries a Hong Kong, Taiwan, mainland, British or Commonwealth
/// newsroom is likely to use, and any suffix missing from it makes two
/// unrelated domains under it look aligned (never the other way round).
const TWO_LABEL_SUFFIXES: &[&str] = &[
    "ac.uk", "co.uk", "gov.uk", "ltd.uk", "me.uk", "net.uk", "org.uk", "plc.uk", //
    "com.hk", "edu.hk", "gov.hk", "idv.hk", "net.hk", "org.hk", //
    "com.mo", "edu.mo", "gov.mo", "net.mo", "org.mo", //
    "com.tw", "edu.tw", "gov.tw", "idv.tw", "net.tw", "org.tw", //
    "com.cn", "edu.cn", "gov.cn", "net.cn", "org.cn", //
    "com.sg", "edu.sg", "gov.sg", "net.sg", "org.sg", //
    "com.my", "edu.my", "gov.my", "net.my", "org.my", //
    "com.au", "edu.au", "gov.au", "net.au", "org.au", //
    "co.nz", "govt.nz", "net.nz", "org.nz", //
    "ac.jp", "co.jp", "go.jp", "ne.jp", "or.jp", //
    "co.kr", "go.kr", "or.kr", //
    "co.in", "gov.in", "net.in", "org.in", //
    "co.za", "gov.za", "org.za", //
    "com.br", "gov.br", "org.br",
];

/// One DNS record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// The owner name, fully qualified, with its trailing dot.
    pub name: String,
    /// `TXT` or `MX`.
    pub kind: &'static str,
    /// The data as it goes in a zone file: a TXT value quoted, in strings
    /// of at most 255 bytes each; an MX as preference and host.
    pub value: String,
    /// What the record is for, in one line a newsroom operator follows.
    pub why: String,
}

/// What `broadsheet dns` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSummary {
    /// The records, in a fixed order: DKIM, SPF, DMARC, then the bounce
    /// domain's MX.
    pub records: Vec<DnsRecord>,
    /// What the records cannot say: placeholders to replace, settings
    /// missing, domains that do not align; one line each.
    pub notes: Vec<String>,
}

impl DnsSummary {
    /// The records as a BIND zone-file fragment: for each, a `; why`
    /// comment line, then `name 3600 IN KIND value`. The notes are not in
    /// it: they are for the operator to read, not for the zone.
    pub fn zone_text(&self) -> String {
        let mut out = String::new();
        for r in &self.records {
            out.push_str(&format!("; {}\n", r.why));
            out.push_str(&format!("{} {TTL} IN {} {}\n", r.name, r.kind, r.value));
        }
        out
    }
}

/// The records the configuration needs published, with what to know about
/// them. `digest.from` must be set: the DMARC record, and without a bounce
/// domain the SPF record, are for its domain.
pub fn dns(config: &Config) -> Result<DnsSummary, crate::Error> {
    let d = &config.digest;
    let Some(from) = &d.from else {
        return Err(invalid(config, "digest.from", FROM_UNSET));
    };
    let from_domain = dns_name(from.email.domain()).ok_or_else(|| {
        invalid(
            config,
            "digest.from",
            format!(
                "expected an address at a domain name DNS records can be published for, found {:?}",
                from.email.domain()
            ),
        )
    })?;
    let mut records = Vec::new();
    let mut notes = Vec::new();

    let dkim_domain = match &d.dkim {
        Some(dkim) => {
            let (record, note, domain) = dkim_record(config, dkim)?;
            records.push(record);
            notes.extend(note);
            Some(domain)
        }
        None => {
            notes.push(
                "no DKIM key configured: set digest.dkim_selector, dkim_domain and dkim_key_file \
                 (an RSA key: `openssl genrsa -traditional -out dkim.pem 2048`); unsigned, a digest \
                 passes DMARC on SPF alone, which forwarding breaks"
                    .to_owned(),
            );
            None
        }
    };

    // The envelope sender's domain: the VERP domain, or the From's own.
    let return_path = match d.bounce_domain.as_deref() {
        // Checked, in ASCII and lower case, when the config was read.
        Some(bounce) => bounce.to_owned(),
        None => from_domain.clone(),
    };
    let (mechanism, spf_note) = spf_mechanism(config.smtp.host.as_deref());
    records.push(DnsRecord {
        name: format!("{return_path}."),
        kind: "TXT",
        value: txt(&format!("v=spf1 {mechanism} ~all")),
        why: format!(
            "SPF for {return_path}, the digests' Return-Path domain: a suggestion to merge into any SPF record {return_path} already has (a name may have only one, or SPF fails)"
        ),
    });
    notes.push(spf_note);

    records.push(DnsRecord {
        name: format!("_dmarc.{from_domain}."),
        kind: "TXT",
        value: txt(&format!(
            "v=DMARC1; p=none; rua=mailto:dmarc-reports@{from_domain}; adkim=r; aspf=r"
        )),
        why: format!(
            "DMARC for {from_domain}, the From domain: p=none only asks receivers for daily reports, sent to dmarc-reports@{from_domain} (a mailbox to create); move to p=quarantine once they look clean"
        ),
    });
    let org = organizational_domain(&from_domain);
    if org != from_domain {
        // A subdomain without a DMARC record of its own takes its
        // organization's policy (`sp=`, else `p=`); publishing one here
        // replaces that policy for it, which must not loosen a stricter one.
        notes.push(format!(
            "{from_domain} takes {org}'s DMARC policy while it has none of its own: if _dmarc.{org} exists, compare before publishing this record, which replaces that policy for {from_domain}"
        ));
    }

    if d.bounce_domain.is_some() {
        let bounce = &return_path;
        // No key names the host that takes bounces in: a placeholder, said
        // to be one, is better than a guess that looks like a setting.
        records.push(DnsRecord {
            name: format!("{bounce}."),
            kind: "MX",
            value: format!("10 mail.{bounce}."),
            why: format!(
                "where bounces to bounces+TOKEN@{bounce} are delivered; mail.{bounce} is a placeholder for your inbound mail host"
            ),
        });
        notes.push(format!(
            "MX for {bounce}: replace the placeholder mail.{bounce} with the host that runs `broadsheet bounces ingest`, or whose mailbox `broadsheet bounces scan` reads; that host needs an A record of its own. {bounce} needs no DMARC record: DMARC judges the From domain, {from_domain}"
        ));
    }

    notes.extend(misalignments(
        &from_domain,
        dkim_domain.as_deref(),
        &return_path,
    ));
    Ok(DnsSummary { records, notes })
}

/// DMARC alignment: one warning a line, each naming its config keys, when
/// the DKIM signing domain (`digest.dkim_domain`) or the Return-Path domain
/// (`digest.bounce_domain`, or the From's own domain when unset) does not
/// share the From's organizational domain (relaxed alignment), and one
/// more when neither does, for then DMARC fails. Nothing when
/// `digest.from` is not set: there is no From to align with.
pub fn alignment_warnings(config: &Config) -> Vec<String> {
    let d = &config.digest;
    let Some(from) = &d.from else {
        return Vec::new();
    };
    let Some(from_domain) = dns_name(from.email.domain()) else {
        return vec![format!(
            "digest.from: {:?} is not a domain name, so SPF, DKIM and DMARC cannot be published for it: DMARC will fail, and Gmail and Yahoo refuse bulk mail that fails DMARC (since 2024)",
            from.email.domain()
        )];
    };
    // A name that is no domain name aligns with nothing: compared as
    // written, it is told apart and warned of.
    let as_written = |s: &str| dns_name(s).unwrap_or_else(|| s.trim().to_ascii_lowercase());
    let dkim_domain = d.dkim.as_ref().map(|k| as_written(&k.domain));
    let return_path = match d.bounce_domain.as_deref() {
        Some(bounce) => bounce.to_owned(),
        None => from_domain.clone(),
    };
    misalignments(&from_domain, dkim_domain.as_deref(), &return_path)
}

/// The warnings for these domains, each in the form DNS compares them.
/// DMARC passes when either SPF or DKIM passes for a domain aligned with
/// the From's; each one that cannot is named, and so is losing both.
fn misalignments(from: &str, dkim: Option<&str>, return_path: &str) -> Vec<String> {
    let org_from = organizational_domain(from);
    let mut warnings = Vec::new();
    let dkim_aligned = match dkim {
        Some(signer) => {
            let org = organizational_domain(signer);
            let aligned = org == org_from;
            if !aligned {
                warnings.push(format!(
                    "digest.dkim_domain: digests are signed for {signer}, which does not align with the From domain {from} (digest.from): relaxed alignment wants one organizational domain, and {org} is not {org_from}, so the signature cannot count for DMARC; sign for {from} or another name under {org_from}"
                ));
            }
            aligned
        }
        None => false,
    };
    let org = organizational_domain(return_path);
    let spf_aligned = org == org_from;
    if !spf_aligned {
        // The Return-Path is the From's own address unless a bounce
        // domain is set, so only that key can be to blame.
        let still = if dkim_aligned {
            " (DKIM still can)"
        } else {
            ""
        };
        warnings.push(format!(
            "digest.bounce_domain: the Return-Path domain {return_path} does not align with the From domain {from} (digest.from): relaxed alignment wants one organizational domain, and {org} is not {org_from}, so SPF cannot count for DMARC{still}; use a bounce domain under {org_from}, such as bounces.{from}"
        ));
    }
    if !dkim_aligned && !spf_aligned {
        let neither = match dkim {
            Some(_) => format!(
                "neither the DKIM domain (digest.dkim_domain) nor the Return-Path domain (digest.bounce_domain) aligns with the From domain {from}"
            ),
            None => format!(
                "no DKIM key is configured (digest.dkim_selector, dkim_domain, dkim_key_file) and the Return-Path domain (digest.bounce_domain) does not align with the From domain {from}"
            ),
        };
        warnings.push(format!(
            "digest.from: {neither}: DMARC will fail for every digest, and Gmail and Yahoo refuse bulk mail that fails DMARC (since 2024)"
        ));
    }
    warnings
}

/// The organizational domain of `domain` (lower-case ASCII, no final
/// dot): its last two labels, or three under a suffix in
/// [`TWO_LABEL_SUFFIXES`]. An approximation: DMARC (RFC 7489 §3.2) uses
/// the Public Suffix List, which is not built in; this is right for the
/// domains a newsroom mails from, and the list says where it stops.
fn organizational_domain(domain: &str) -> &str {
    let two = last_labels(domain, 2);
    if TWO_LABEL_SUFFIXES.contains(&two) {
        last_labels(domain, 3)
    } else {
        two
    }
}

/// The last `n` labels of `domain`, or all of it when it has fewer.
fn last_labels(domain: &str, n: usize) -> &str {
    let mut start = domain.len();
    for _ in 0..n {
        match domain[..start].rfind('.') {
            Some(dot) => start = dot,
            None => return domain,
        }
    }
    &domain[start + 1..]
}

/// The DKIM key record, a note on the key when there is one to make, and
/// the signing domain as the DNS names it.
fn dkim_record(
    config: &Config,
    dkim: &Dkim,
) -> Result<(DnsRecord, Option<String>, String), crate::Error> {
    let domain = dns_name(&dkim.domain).ok_or_else(|| {
        invalid(
            config,
            "digest.dkim_domain",
            format!("expected a domain name, found {:?}", dkim.domain),
        )
    })?;
    let selector = dkim.selector.trim();
    if !selector.split('.').all(is_dns_label) {
        return Err(invalid(
            config,
            "digest.dkim_selector",
            format!(
                "expected a selector of letters, digits and hyphens, such as \"bs2026\", found {:?}",
                dkim.selector
            ),
        ));
    }
    let text = dkim.key.private_text();
    let (tags, note) = match dkim.key.algorithm() {
        DkimSigningAlgorithm::Rsa => {
            let (public, bits) = rsa_public(text).map_err(|why| {
                invalid(
                    config,
                    "digest.dkim_key_file",
                    format!("cannot derive the public key: {why}"),
                )
            })?;
            let note = (bits < 2048).then(|| {
                format!(
                    "the DKIM key has {bits} bits: RFC 8301 asks for at least 1024 and receivers increasingly expect 2048 (`openssl genrsa -traditional -out dkim.pem 2048`)"
                )
            });
            (format!("k=rsa; p={public}"), note)
        }
        DkimSigningAlgorithm::Ed25519 => {
            let public = ed25519_public(text).map_err(|why| {
                invalid(
                    config,
                    "digest.dkim_key_file",
                    format!("cannot derive the public key: {why}"),
                )
            })?;
            let note = "digest.dkim_algorithm is ed25519: not every receiver verifies Ed25519 signatures yet (RFC 8463); to one that does not, a digest is unsigned and passes DMARC on SPF alone"
                .to_owned();
            (format!("k=ed25519; p={public}"), Some(note))
        }
    };
    let record = DnsRecord {
        name: format!("{selector}._domainkey.{domain}."),
        kind: "TXT",
        value: txt(&format!("v=DKIM1; {tags}")),
        why: format!(
            "DKIM public key for selector {selector}: receivers check each digest's signature (d={domain}) against it"
        ),
    };
    Ok((record, note, domain))
}

/// The base64 of the SubjectPublicKeyInfo DER of the RSA key in `pem`
/// (PKCS#1, which is what lettre signs with, or PKCS#8), and its size in
/// bits. The errors never quote the key.
fn rsa_public(pem: &str) -> Result<(String, usize), String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    use rsa::traits::PublicKeyParts;
    let private = match rsa::RsaPrivateKey::from_pkcs1_pem(pem) {
        Ok(key) => key,
        Err(e) => rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|_| format!("not an RSA private key in PKCS#1 or PKCS#8 PEM ({e})"))?,
    };
    let public = private.to_public_key();
    let der = public
        .to_public_key_der()
        .map_err(|e| format!("cannot encode the RSA public key: {e}"))?;
    let bits = public.size() * 8;
    Ok((
        base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
        bits,
    ))
}

/// The base64 of the raw 32-byte Ed25519 public key (RFC 8463 §4.2) of the
/// base64 seed in `text`, decoded as lettre decodes it.
fn ed25519_public(text: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "not base64".to_owned())?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "expected a 32-byte Ed25519 seed, found {} bytes",
            bytes.len()
        )
    })?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    Ok(base64::engine::general_purpose::STANDARD.encode(public))
}

/// The SPF mechanism that names the relay's sending addresses, and what the
/// operator should know about it. Only a public name or address can be
/// named; for a relay on this machine or a private network, the one that
/// reaches the Internet is not known here, and `mx` stands in.
fn spf_mechanism(host: Option<&str>) -> (String, String) {
    const NAME_THEM: &str =
        "name the public addresses your mail leaves from in place of `mx`, e.g. `ip4:203.0.113.25`";
    let Some(host) = host.map(str::trim) else {
        return (
            "mx".to_owned(),
            format!("smtp.host is not set, so digests go to smtp.outbox_dir: the SPF record says `mx` until you {NAME_THEM}"),
        );
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) if is_public_v4(v4) => (
                format!("ip4:{v4}"),
                format!("SPF names smtp.host, {v4}: add any other address the relay sends from"),
            ),
            IpAddr::V6(v6) if is_public_v6(v6) => (
                format!("ip6:{v6}"),
                format!("SPF names smtp.host, {v6}: add any other address the relay sends from"),
            ),
            _ => (
                "mx".to_owned(),
                format!("smtp.host is {host}, an address on this machine or a private network: {NAME_THEM}"),
            ),
        };
    }
    match dns_name(host) {
        // A name without a dot, or under `localhost`, is known to this
        // machine or network alone: no receiver can look it up.
        Some(name) if name.contains('.') && name != "localhost" && !name.ends_with(".localhost") => (
            format!("a:{name}"),
            format!(
                "SPF names the addresses of smtp.host (`a:{name}`): right when the relay sends from the address broadsheet connects to; a sending service (SendGrid, Mailgun, Amazon SES, Postmark) gives an `include:` to use instead"
            ),
        ),
        _ => (
            "mx".to_owned(),
            format!("smtp.host is {host}, a relay on this machine or network: {NAME_THEM}"),
        ),
    }
}

/// Whether `ip` can be a public sender: not loopback, private, link-local,
/// shared (RFC 6598), documentation or unspecified.
fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b)))
}

/// Whether `ip` can be a public sender: not loopback, unspecified,
/// unique-local (fc00::/7) or link-local (fe80::/10).
fn is_public_v6(ip: std::net::Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// `value` as TXT data: quoted strings of at most [`TXT_STRING_BYTES`]
/// bytes each, split between characters, `"` and `\` escaped.
fn txt(value: &str) -> String {
    let mut strings: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut bytes = 0;
    for c in value.chars() {
        if bytes + c.len_utf8() > TXT_STRING_BYTES {
            strings.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += c.len_utf8();
        if matches!(c, '"' | '\\') {
            current.push('\\');
        }
        current.push(c);
    }
    strings.push(current);
    strings
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A problem with `key`, as every configuration error is told.
fn invalid(config: &Config, key: &str, message: impl Into<String>) -> crate::Error {
    ConfigError::invalid(&config.path, key, message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit RSA key made for these tests alone (`openssl genrsa
    /// -traditional 2048`); it signs nothing anywhere.
    const RSA_PEM: &str = r#"-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA5yeYBU8ncsW8mxiHWnOB8xHCZ1qspXoCDmXGH8wX9vRFJNTu
OC5ARQs85oatRzeZvA0XM0mv6e1M/ROJv6KRuH9rKZxoG8iKWblLBn4ej6EgNouQ
drfJqPTfGYdDKaaSlbkfBpbtS23Tfdneb+I++/QIwTTF9MpppFO0vs7D/TCfDc4r
oyqLLOkmwa318PWAaHu8S4dg1fvMzpjqMLGyZnW+PWpX6pf2KF8Es4w9nSaMJrfG
wVyvGy4tzOCuIeu5v9HE579bHs1GHTkNceLn2F1oycfZd7fs08u0NJRscRdkyl1A
A4mFaYP+BfPtd/7XFWxxzl8V/V2WXm/JPId2lwIDAQABAoIBABhysBnzprz1W/7d
Z8dxyw891B1hUjxIPLpwGjXXvLsiV8PO/4kSnzqONzk8ikwrfceNbORASWpI7mkf
7WRG2fm1BE0I3Vv+6F8YAW7k3O+c/461USi1RI9posUM8NYRZ5SNWVI1mVBug71e
Uy/rMnUseNaScdNzqxu1vLqnnMQE8nAiWOI1GXQ4Qynwdeet4x8eR9ZeP6e5st8m
N/kB8VYDAJZfpg2gxCsNgJgypEwb7ZjqhM1cNuTE+C0+MiEgJh8gQLqElGkkQCdw
ro2v+rCbUSvamOY1XNbBfe6MnjM0mw8w3HhqZWuaGHXN3/FiA745LCH2MPvijrKS
7/nUr3ECgYEA/7Hd4F2CVIJ2mn8FjOyALtBM3ePkgfTct4faxMOoGxWuXw/beoae
294qls2g3ffD2H+XE/eAPX4xjuRY3UJct98+I6/G+6APGtNTkcJLy9VY5HNn99Mu
DOhkvJ90KunA8uNFGzD2gfdejJAdoLp6F1v2xER6MiP8eYpmLZTZ3bECgYEA5246
dFudQcoN0V9sh4TOvZFDBGv0RQ4XsWWm92F7CTyQZMJoPFplSVlXSdgifv4lM3I8
UOvDzNs9/m1h9ub4ytZQYWOArSNiLUthOhRcPjVbWrB2WH/yaU4quQRKwae8JfB6
aoqiT0mcpEPfgWDpOFacry1diH4wzSjGY27swscCgYB8IJWsoNhvPDJlh/pi0kDb
+QUHxuUcbYlkk1ARq0YFd/4BagpLLeUaqXyVXteUSf5KMI5gBAu+Tm+yhYnaR6gJ
HxfkbSW065vJkwODxAXVuwl/RcMYHO3DGGIm62WSm42um8Plklxo9XRx2lh3uW8h
veRKnU+Q3cVoH1bBE/y70QKBgQDJPO0xXrR4j5TCWcKKeK444oYu4xxNq7podCbi
d25AEtzP8MgoqsXmKPyg5oLggGeiu5O9HbVtfbsDcOO9iQwPfJn6hUZPxzPIhQJv
OWMYaNceHdFalS8Z6HF33kaO7CbLqrcXy6LlZPIDWE2SN820QoQOQ1lQpcITs4AG
2F6h4wKBgQDbgaGvkOfbkn8MGLSiz0uXikJpGCRmSt4zLFQEENqOCOLQSz8gWXxo
1HxFTi41Xdj18LCqVshUqhZ74d8/hDhvr1HPpq065iQ8Lq2lUpuBEF+TCzZ5MqPE
Tii0QrAuJF8V4cZTaAM5bE3Xjk7UCueldW7mjOM4SOgZkQALqp7lMA==
-----END RSA PRIVATE KEY-----
"#;

    /// Its public key as `openssl rsa -pubout -outform DER | base64 -w0`
    /// gives it: the SubjectPublicKeyInfo DKIM's p= carries.
    const RSA_PUBLIC: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5yeYBU8ncsW8mxiHWnOB8xHCZ1qspXoCDmXGH8wX9vRFJNTuOC5ARQs85oatRzeZvA0XM0mv6e1M/ROJv6KRuH9rKZxoG8iKWblLBn4ej6EgNouQdrfJqPTfGYdDKaaSlbkfBpbtS23Tfdneb+I++/QIwTTF9MpppFO0vs7D/TCfDc4royqLLOkmwa318PWAaHu8S4dg1fvMzpjqMLGyZnW+PWpX6pf2KF8Es4w9nSaMJrfGwVyvGy4tzOCuIeu5v9HE579bHs1GHTkNceLn2F1oycfZd7fs08u0NJRscRdkyl1AA4mFaYP+BfPtd/7XFWxxzl8V/V2WXm/JPId2lwIDAQAB";

    /// The Ed25519 seed 1, 2, …, 32, in base64.
    const ED25519_SEED: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    /// Its raw public key, as Python's `cryptography` and OpenSSL both give it.
    const ED25519_PUBLIC: &str = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=";

    /// A publication whose `[digest]` and `[smtp]` hold these lines, with
    /// `files` written beside its config.
    fn load(digest: &str, smtp: &str, files: &[(&str, &str)]) -> Config {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "[site]\ntitle = \"論壇\"\nbase_url = \"https://news.example.com\"\n\n\
                 [[columns]]\nslug = \"ai\"\ntitle = \"AI\"\n\n\
                 [server]\nsecret = \"a-test-secret-of-some-length\"\n\n\
                 [digest]\n{digest}\n\n[smtp]\n{smtp}\n"
            ),
        )
        .unwrap();
        Config::load_with_env(&path, &Default::default()).unwrap()
    }

    /// From `from`, signed with the Ed25519 test key for `dkim_domain`,
    /// and whatever else `extra` sets in `[digest]`.
    fn signed(from: &str, dkim_domain: &str, extra: &str) -> Config {
        load(
            &format!(
                "from = \"論壇 <{from}>\"\ndkim_selector = \"bs\"\ndkim_domain = \"{dkim_domain}\"\n\
                 dkim_key_file = \"dkim.key\"\ndkim_algorithm = \"ed25519\"\n{extra}"
            ),
            "",
            &[("dkim.key", ED25519_SEED)],
        )
    }

    /// The character-strings of a TXT value as a zone file holds it.
    fn txt_strings(value: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            match c {
                ' ' => {}
                '"' => {
                    let mut s = String::new();
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => s.extend(chars.next()),
                            Some(c) => s.push(c),
                            None => panic!("an unterminated string in {value}"),
                        }
                    }
                    out.push(s);
                }
                other => panic!("{other:?} outside a string in {value}"),
            }
        }
        out
    }

    fn record<'a>(s: &'a DnsSummary, name: &str) -> &'a DnsRecord {
        s.records
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no record for {name} in {:#?}", s.records))
    }

    #[test]
    fn the_dkim_record_carries_the_rsa_public_key_in_strings_of_at_most_255_bytes() {
        let c = load(
            "from = \"論壇 <digest@news.example.com>\"\ndkim_selector = \"bs2026\"\n\
             dkim_domain = \"News.Example.com\"\ndkim_key_file = \"dkim.pem\"\n",
            "host = \"smtp.example.net\"",
            &[("dkim.pem", RSA_PEM)],
        );
        let s = dns(&c).unwrap();
        let dkim = record(&s, "bs2026._domainkey.news.example.com.");
        assert_eq!(dkim.kind, "TXT");
        let strings = txt_strings(&dkim.value);
        assert!(strings.len() > 1, "{}", dkim.value);
        assert!(strings.iter().all(|s| s.len() <= 255), "{}", dkim.value);
        assert_eq!(strings.concat(), format!("v=DKIM1; k=rsa; p={RSA_PUBLIC}"));
        // A 2048-bit key is what receivers expect: nothing to say of it.
        assert!(!s.notes.iter().any(|n| n.contains("bits")), "{:?}", s.notes);
    }

    #[test]
    fn the_dkim_record_carries_the_raw_ed25519_public_key() {
        let s = dns(&signed("digest@news.example.com", "news.example.com", "")).unwrap();
        let dkim = record(&s, "bs._domainkey.news.example.com.");
        assert_eq!(
            dkim.value,
            format!("\"v=DKIM1; k=ed25519; p={ED25519_PUBLIC}\"")
        );
        assert!(
            s.notes.iter().any(|n| n.contains("RFC 8463")),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn spf_is_for_the_return_path_domain_and_only_a_bounce_domain_gets_an_mx() {
        let s = dns(&signed("digest@news.example.com", "news.example.com", "")).unwrap();
        let spf = record(&s, "news.example.com.");
        assert_eq!(spf.value, "\"v=spf1 mx ~all\"");
        assert!(s.records.iter().all(|r| r.kind != "MX"), "{:#?}", s.records);
        assert!(s.notes.iter().any(|n| n.contains("ip4:")), "{:?}", s.notes);

        let s = dns(&signed(
            "digest@news.example.com",
            "news.example.com",
            "bounce_domain = \"bounces.news.example.com\"",
        ))
        .unwrap();
        let spf = record(&s, "bounces.news.example.com.");
        assert!(
            txt_strings(&spf.value)[0].starts_with("v=spf1 "),
            "{}",
            spf.value
        );
        assert!(
            s.records.iter().all(|r| r.name != "news.example.com."),
            "{:#?}",
            s.records
        );
        let mx: Vec<_> = s.records.iter().filter(|r| r.kind == "MX").collect();
        assert_eq!(mx.len(), 1, "{:#?}", s.records);
        assert_eq!(mx[0].name, "bounces.news.example.com.");
        assert_eq!(mx[0].value, "10 mail.bounces.news.example.com.");
        assert!(mx[0].why.contains("placeholder"), "{}", mx[0].why);
    }

    #[test]
    fn spf_names_a_public_relay_and_falls_back_to_mx_for_a_local_one() {
        assert_eq!(
            spf_mechanism(Some("smtp.example.net")).0,
            "a:smtp.example.net"
        );
        assert_eq!(spf_mechanism(Some("203.0.114.9")).0, "ip4:203.0.114.9");
        for local in [
            "localhost",
            "mail.localhost",
            "127.0.0.1",
            "[::1]",
            "10.0.0.5",
            "relay",
        ] {
            let (mechanism, note) = spf_mechanism(Some(local));
            assert_eq!(mechanism, "mx", "{local}");
            assert!(note.contains("ip4:"), "{local}: {note}");
        }
        assert_eq!(spf_mechanism(None).0, "mx");
    }

    #[test]
    fn dmarc_is_published_for_the_from_domain_with_reports_to_it() {
        let s = dns(&signed("digest@news.example.com", "news.example.com", "")).unwrap();
        let dmarc = record(&s, "_dmarc.news.example.com.");
        assert_eq!(
            dmarc.value,
            "\"v=DMARC1; p=none; rua=mailto:dmarc-reports@news.example.com; adkim=r; aspf=r\""
        );
        assert!(dmarc.why.contains("p=quarantine"), "{}", dmarc.why);
    }

    #[test]
    fn the_zone_text_is_a_comment_and_a_record_line_each_and_the_same_every_time() {
        let c = signed(
            "digest@news.example.com",
            "news.example.com",
            "bounce_domain = \"bounces.news.example.com\"",
        );
        let s = dns(&c).unwrap();
        let text = s.zone_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 * s.records.len(), "{text}");
        for (pair, r) in lines.chunks(2).zip(&s.records) {
            assert_eq!(pair[0], format!("; {}", r.why));
            assert_eq!(
                pair[1],
                format!("{} 3600 IN {} {}", r.name, r.kind, r.value)
            );
        }
        assert_eq!(dns(&c).unwrap().zone_text(), text);
    }

    #[test]
    fn dns_without_a_from_names_digest_from() {
        let c = load("", "", &[]);
        let err = dns(&c).expect_err("no From, no records").to_string();
        assert!(
            err.contains("digest.from: expected the mailbox emails come from"),
            "{err}"
        );
    }

    #[test]
    fn no_dkim_key_is_a_note_not_an_error() {
        let c = load("from = \"digest@news.example.com\"", "", &[]);
        let s = dns(&c).unwrap();
        assert!(
            s.notes
                .iter()
                .any(|n| n.starts_with("no DKIM key configured")),
            "{:?}",
            s.notes
        );
        assert!(s.records.iter().all(|r| !r.name.contains("_domainkey")));
    }

    #[test]
    fn aligned_domains_give_no_warning() {
        let c = signed("digest@news.example.com", "news.example.com", "");
        assert_eq!(alignment_warnings(&c), Vec::<String>::new());
        // Relaxed alignment: a subdomain of the same organization aligns.
        let c = signed(
            "digest@news.example.com",
            "news.example.com",
            "bounce_domain = \"bounces.news.example.com\"",
        );
        assert_eq!(alignment_warnings(&c), Vec::<String>::new());
        let c = signed("digest@news.example.com", "example.com", "");
        assert_eq!(alignment_warnings(&c), Vec::<String>::new());
    }

    #[test]
    fn a_dkim_domain_of_another_organization_is_warned_of_while_spf_still_aligns() {
        let c = signed("x@example.org", "example.com", "");
        let warnings = alignment_warnings(&c);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("digest.dkim_domain: "),
            "{}",
            warnings[0]
        );
        assert!(!warnings[0].contains("DMARC will fail"), "{}", warnings[0]);
    }

    #[test]
    fn a_two_label_public_suffix_is_not_an_organization() {
        assert_eq!(organizational_domain("news.example.co.uk"), "example.co.uk");
        assert_eq!(
            organizational_domain("news.example.com.hk"),
            "example.com.hk"
        );
        assert_eq!(organizational_domain("news.example.com"), "example.com");
        assert_eq!(organizational_domain("localhost"), "localhost");
        let c = signed("a@news.example.co.uk", "other.co.uk", "");
        let warnings = alignment_warnings(&c);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("other.co.uk is not example.co.uk"),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn when_neither_aligns_dmarc_is_said_to_fail() {
        let c = signed(
            "x@example.org",
            "example.com",
            "bounce_domain = \"bounces.example.net\"",
        );
        let warnings = alignment_warnings(&c);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("digest.dkim_domain: "));
        assert!(warnings[1].starts_with("digest.bounce_domain: "));
        assert!(warnings[2].starts_with("digest.from: "));
        assert!(warnings[2].contains("DMARC will fail"), "{}", warnings[2]);
        assert!(warnings.iter().all(|w| !w.contains('\n')));
    }

    #[test]
    fn a_long_txt_value_is_split_between_characters() {
        let value = "a".repeat(300) + "\"";
        let strings = txt_strings(&txt(&value));
        assert_eq!(
            strings.iter().map(String::len).collect::<Vec<_>>(),
            [255, 46]
        );
        assert_eq!(strings.concat(), value);
    }
}
