//! Signed links: HMAC-SHA256 over (subscriber, address, purpose, expiry)
//! with `server.secret`, compared in constant time.
//!
//! A token reads `<payload>.<mac>`, both base64url: the payload is
//! `s<opaque id>.<purpose>.<expiry>`, and the MAC also covers the
//! subscriber's address, which the token never shows. The opaque id is the
//! subscriber's (or, for a confirmation, the sign-up request's) number
//! encrypted with a key drawn from the secret, so a link tells no one how
//! large the list is. Tokens of the first format, `<id>.<purpose>.<expiry>`
//! with the number in clear, are still read until they expire. A token
//! for one address or purpose is worthless for another, and rotating the
//! secret voids every token at once.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, FixedOffset};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Unsubscribe (List-Unsubscribe and the footer link).
    Unsubscribe,
    /// Change followed columns and name.
    Preferences,
    /// Confirm a new subscription.
    Confirm,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Unsubscribe => "u",
            Purpose::Preferences => "p",
            Purpose::Confirm => "c",
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not of the token's shape (truncated, mangled).
    #[error("the link is incomplete or damaged")]
    Malformed,
    /// Made for another purpose.
    #[error("the link is for something else")]
    WrongPurpose,
    /// Past its expiry.
    #[error("the link has expired")]
    Expired,
    /// Forged, for another address, or signed with an old secret.
    #[error("the link is not valid")]
    BadSignature,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// The subscriber it was made for; for a confirmation of the current
    /// format, the sign-up request.
    pub subscriber_id: i64,
    /// When it stops working (Unix seconds).
    pub expires: i64,
    /// Of the first format, with the number in clear (mailed before ids
    /// were made opaque).
    pub legacy: bool,
}

/// Marks a payload of the current format; the first format starts with a
/// digit.
const OPAQUE: char = 's';

impl Signer {
    /// A signer with `secret`, which must not be empty.
    pub fn new(secret: &str) -> Signer {
        Signer {
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// An HMAC keyed by the secret under `label`, so each use of the
    /// secret has a key of its own.
    fn keyed(&self, label: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(label);
        mac
    }

    /// The id hidden: an 8-byte nonce drawn from everything the token says
    /// (so the same link signed twice is the same link, and golden files
    /// stay stable), then the id XORed with a mask drawn from the nonce.
    /// Like SIV, it is deterministic; the token's MAC keeps it whole.
    fn hide(&self, id: i64, purpose: Purpose, expires: i64) -> String {
        let mut n = self.keyed(b"broadsheet token nonce\n");
        n.update(&id.to_be_bytes());
        n.update(purpose.as_str().as_bytes());
        n.update(&expires.to_be_bytes());
        let nonce: [u8; 8] = n.finalize().into_bytes()[..8].try_into().expect("8 bytes");
        let mask = self.mask(&nonce);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&nonce);
        for (i, b) in id.to_be_bytes().iter().enumerate() {
            out[8 + i] = b ^ mask[i];
        }
        URL_SAFE_NO_PAD.encode(out)
    }

    /// A stable name for subscriber `id` that does not show the number:
    /// for a digest's Message-ID, which every reader sees, and which must
    /// not tell how large the list is.
    pub fn opaque_id(&self, id: i64) -> String {
        let mut m = self.keyed(b"broadsheet message id\n");
        m.update(&id.to_be_bytes());
        crate::names::hex(&m.finalize().into_bytes()[..12])
    }

    fn mask(&self, nonce: &[u8]) -> [u8; 8] {
        let mut m = self.keyed(b"broadsheet token mask\n");
        m.update(nonce);
        m.finalize().into_bytes()[..8].try_into().expect("8 bytes")
    }

    fn reveal(&self, opaque: &str) -> Option<i64> {
        let bytes = URL_SAFE_NO_PAD.decode(opaque).ok()?;
        let bytes: [u8; 16] = bytes.try_into().ok()?;
        let mask = self.mask(&bytes[..8]);
        let mut id = [0u8; 8];
        for i in 0..8 {
            id[i] = bytes[8 + i] ^ mask[i];
        }
        Some(i64::from_be_bytes(id))
    }

    fn mac(&self, payload: &str, email_key: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac.update(b"\n");
        mac.update(email_key.as_bytes());
        mac
    }

    /// A token for `subscriber_id` (whose address compares as
    /// `email_key`) to do `purpose` until `expires`.
    pub fn sign(
        &self,
        subscriber_id: i64,
        email_key: &str,
        purpose: Purpose,
        expires: DateTime<FixedOffset>,
    ) -> String {
        let expires = expires.timestamp();
        let payload = format!(
            "{OPAQUE}{}.{}.{expires}",
            self.hide(subscriber_id, purpose, expires),
            purpose.as_str(),
        );
        let tag = self.mac(&payload, email_key).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Reads a token's claims without trusting them: the caller looks the
    /// subscriber up, then calls [`Signer::verify`] with their address.
    pub fn peek(&self, token: &str) -> Result<(Claims, Purpose), TokenError> {
        let (payload, _) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut parts = payload.split('.');
        let first = parts.next().unwrap_or("");
        let (id, legacy) = match first.strip_prefix(OPAQUE) {
            Some(opaque) => (self.reveal(opaque), false),
            None => (first.parse().ok(), true),
        };
        let id = id.ok_or(TokenError::Malformed)?;
        let purpose = match parts.next() {
            Some("u") => Purpose::Unsubscribe,
            Some("p") => Purpose::Preferences,
            Some("c") => Purpose::Confirm,
            _ => return Err(TokenError::Malformed),
        };
        let expires = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(TokenError::Malformed)?;
        if parts.next().is_some() {
            return Err(TokenError::Malformed);
        }
        Ok((
            Claims {
                subscriber_id: id,
                expires,
                legacy,
            },
            purpose,
        ))
    }

    /// Checks `token` was signed by this secret for `email_key` and
    /// `purpose`, and has not expired at `now`.
    pub fn verify(
        &self,
        token: &str,
        email_key: &str,
        purpose: Purpose,
        now: DateTime<FixedOffset>,
    ) -> Result<Claims, TokenError> {
        let (claims, found) = self.peek(token)?;
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TokenError::Malformed)?;
        let payload = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(payload_b64)
                .map_err(|_| TokenError::Malformed)?,
        )
        .map_err(|_| TokenError::Malformed)?;
        // verify_slice compares in constant time.
        self.mac(&payload, email_key)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        if found != purpose {
            return Err(TokenError::WrongPurpose);
        }
        if now.timestamp() >= claims.expires {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// What a VERP token says: the delivery a bounce is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerpClaims {
    /// The issue mailed; 0 for a service email (a confirmation).
    pub issue_id: i64,
    /// The subscriber it went to (for a service email, the sign-up
    /// request's or subscriber's id, as the mail was addressed).
    pub subscriber_id: i64,
}

/// Bytes of the issue id in a VERP token: four billion issues.
const VERP_ISSUE_BYTES: usize = 4;
/// Bytes of the subscriber id: a trillion subscribers.
const VERP_SUBSCRIBER_BYTES: usize = 5;
/// Bytes of the tag: 64 bits, against forgery by guessing.
const VERP_TAG_BYTES: usize = 8;
const VERP_BYTES: usize = VERP_TAG_BYTES + VERP_ISSUE_BYTES + VERP_SUBSCRIBER_BYTES;

/// RFC 4648 base32 in lower case, without padding: a mail server may fold
/// an address's local part to one case, and base64's two cases would not
/// survive it. 17 bytes make 28 characters, so `bounces+<token>` stays far
/// below the 64 octets a local part may hold.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base32(bytes: &[u8]) -> String {
    // Hand-written: 20 lines, against a dependency for one fixed-size use.
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&x| x == c.to_ascii_lowercase())? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // Leftover bits must be the zero padding of the last character.
    (acc & ((1 << bits) - 1) == 0).then_some(out)
}

impl Signer {
    /// The VERP token for a delivery of issue `issue_id` (0: a service
    /// email) to subscriber `subscriber_id`: a 64-bit tag over both ids,
    /// then the ids XORed with a mask drawn from the tag (SIV: the same
    /// delivery always has the same token, and the token shows neither
    /// number). It carries no expiry: a bounce may come back days later.
    pub fn verp_token(&self, issue_id: i64, subscriber_id: i64) -> Option<String> {
        let issue = u32::try_from(issue_id).ok()?;
        let subscriber = u64::try_from(subscriber_id)
            .ok()
            .filter(|s| *s < 1 << (8 * VERP_SUBSCRIBER_BYTES))?;
        let mut plain = [0u8; VERP_ISSUE_BYTES + VERP_SUBSCRIBER_BYTES];
        plain[..VERP_ISSUE_BYTES].copy_from_slice(&issue.to_be_bytes());
        plain[VERP_ISSUE_BYTES..]
            .copy_from_slice(&subscriber.to_be_bytes()[8 - VERP_SUBSCRIBER_BYTES..]);
        let tag = self.verp_tag(&plain);
        let mask = self.verp_mask(&tag);
        let mut out = [0u8; VERP_BYTES];
        out[..VERP_TAG_BYTES].copy_from_slice(&tag);
        for (i, b) in plain.iter().enumerate() {
            out[VERP_TAG_BYTES + i] = b ^ mask[i];
        }
        Some(base32(&out))
    }

    /// Reads a VERP token; `None` unless this secret made it (the tag is
    /// compared in constant time).
    pub fn verify_verp(&self, token: &str) -> Option<VerpClaims> {
        let bytes: [u8; VERP_BYTES] = unbase32(token)?.try_into().ok()?;
        let (tag, hidden) = bytes.split_at(VERP_TAG_BYTES);
        let mask = self.verp_mask(tag);
        let mut plain = [0u8; VERP_ISSUE_BYTES + VERP_SUBSCRIBER_BYTES];
        for (i, b) in hidden.iter().enumerate() {
            plain[i] = b ^ mask[i];
        }
        let mut mac = self.keyed(b"broadsheet verp tag\n");
        mac.update(&plain);
        mac.verify_truncated_left(tag).ok()?;
        let issue = u32::from_be_bytes(plain[..VERP_ISSUE_BYTES].try_into().ok()?);
        let mut subscriber = [0u8; 8];
        subscriber[8 - VERP_SUBSCRIBER_BYTES..].copy_from_slice(&plain[VERP_ISSUE_BYTES..]);
        Some(VerpClaims {
            issue_id: i64::from(issue),
            subscriber_id: i64::from_be_bytes(subscriber),
        })
    }

    fn verp_tag(&self, plain: &[u8]) -> [u8; VERP_TAG_BYTES] {
        let mut mac = self.keyed(b"broadsheet verp tag\n");
        mac.update(plain);
        mac.finalize().into_bytes()[..VERP_TAG_BYTES]
            .try_into()
            .expect("8 bytes")
    }

    fn verp_mask(&self, tag: &[u8]) -> [u8; VERP_ISSUE_BYTES + VERP_SUBSCRIBER_BYTES] {
        let mut m = self.keyed(b"broadsheet verp mask\n");
        m.update(tag);
        m.finalize().into_bytes()[..VERP_ISSUE_BYTES + VERP_SUBSCRIBER_BYTES]
            .try_into()
            .expect("9 bytes")
    }
}

/// The local part's prefix before a VERP token: `bounces+<token>@domain`.
pub const VERP_PREFIX: &str = "bounces+";

/// The VERP envelope sender for `token` at `domain`.
pub fn verp_address(token: &str, domain: &str) -> String {
    format!("{VERP_PREFIX}{token}@{domain}")
}

/// The custom field a sending service is given a message's VERP token in
/// (SendGrid's unique arguments, Mailgun's variables, Postmark's
/// metadata), and hands back in its webhooks.
pub const PROVIDER_TOKEN_FIELD: &str = "broadsheet_token";

/// The SES message tag the token goes in (tag names take letters,
/// digits, `_` and `-`), back in an SES event's `mail.tags`.
pub const SES_TOKEN_TAG: &str = "broadsheet-token";

/// The longest text taken as a VERP token: ours are 28 characters; a
/// provider's field is the sender's to fill, and more is not passed on.
pub const VERP_TOKEN_MAX_LEN: usize = 64;

/// Whether `token` can be a VERP token: not empty, at most
/// [`VERP_TOKEN_MAX_LEN`] bytes, only letters, digits, `-` and `_` (ours
/// are base32; the rest is refused only when its tag is checked).
pub fn is_verp_token_shaped(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= VERP_TOKEN_MAX_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The token in a VERP address (`bounces+TOKEN@domain`, the prefix in any
/// case, in angle brackets or not), case kept, when `text` is one.
pub fn verp_token_in(text: &str) -> Option<&str> {
    let text = text.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _domain) = text.rsplit_once('@')?;
    let token = local
        .get(..VERP_PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(VERP_PREFIX))
        .map(|_| &local[VERP_PREFIX.len()..])?;
    is_verp_token_shaped(token).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn a_token_works_for_its_address_and_purpose_only() {
        let s = Signer::new("secret");
        let exp = t("2027-01-01T00:00:00Z");
        let now = t("2026-12-01T00:00:00Z");
        let tok = s.sign(7, "a@example.com", Purpose::Unsubscribe, exp);
        assert_eq!(
            s.verify(&tok, "a@example.com", Purpose::Unsubscribe, now)
                .unwrap()
                .subscriber_id,
            7
        );
        assert_eq!(
            s.verify(&tok, "b@example.com", Purpose::Unsubscribe, now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify(&tok, "a@example.com", Purpose::Preferences, now),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            s.verify(&tok, "a@example.com", Purpose::Unsubscribe, exp),
            Err(TokenError::Expired)
        );
        assert_eq!(
            Signer::new("rotated").verify(&tok, "a@example.com", Purpose::Unsubscribe, now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify(
                &tok[..tok.len() - 3],
                "a@example.com",
                Purpose::Unsubscribe,
                now
            ),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify("garbage", "a@example.com", Purpose::Unsubscribe, now),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn a_token_never_shows_the_id_and_the_first_format_still_works() {
        let s = Signer::new("secret");
        let exp = t("2027-01-01T00:00:00Z");
        let now = t("2026-12-01T00:00:00Z");
        let tok = s.sign(1, "a@example.com", Purpose::Unsubscribe, exp);
        let payload = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(tok.split_once('.').unwrap().0)
                .unwrap(),
        )
        .unwrap();
        assert!(!payload.starts_with("1."), "{payload}");
        assert!(payload.starts_with('s'), "{payload}");
        let claims = s
            .verify(&tok, "a@example.com", Purpose::Unsubscribe, now)
            .unwrap();
        assert_eq!((claims.subscriber_id, claims.legacy), (1, false));
        // Two subscribers' links do not differ by one in any visible way.
        let other = s.sign(2, "a@example.com", Purpose::Unsubscribe, exp);
        assert_ne!(
            tok.split_once('.').unwrap().0,
            other.split_once('.').unwrap().0
        );
        assert_eq!(s.sign(1, "a@example.com", Purpose::Unsubscribe, exp), tok);

        // A link mailed in the first format, signed as it was then.
        let old_payload = "7.u.1798761600";
        let mut mac = HmacSha256::new_from_slice(b"secret").unwrap();
        mac.update(old_payload.as_bytes());
        mac.update(b"\n");
        mac.update(b"a@example.com");
        let old = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(old_payload),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        let claims = s
            .verify(&old, "a@example.com", Purpose::Unsubscribe, now)
            .unwrap();
        assert_eq!((claims.subscriber_id, claims.legacy), (7, true));
        assert_eq!(
            s.verify(&old, "a@example.com", Purpose::Unsubscribe, exp),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn an_opaque_id_is_stable_distinct_and_keyed() {
        let s = Signer::new("secret");
        assert_eq!(s.opaque_id(1), s.opaque_id(1));
        assert_ne!(s.opaque_id(1), s.opaque_id(2));
        assert_ne!(s.opaque_id(1), Signer::new("other").opaque_id(1));
        assert_eq!(s.opaque_id(1).len(), 24);
    }

    #[test]
    fn a_forged_payload_fails() {
        let s = Signer::new("secret");
        let tok = s.sign(
            7,
            "a@example.com",
            Purpose::Unsubscribe,
            t("2027-01-01T00:00:00Z"),
        );
        let (_, tag) = tok.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("8.u.1893456000"));
        assert_eq!(
            s.verify(
                &forged,
                "a@example.com",
                Purpose::Unsubscribe,
                t("2026-12-01T00:00:00Z")
            ),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_verp_token_names_its_delivery_survives_case_folding_and_cannot_be_forged() {
        let s = Signer::new("secret");
        let tok = s.verp_token(12, 345_678).unwrap();
        assert_eq!(tok.len(), 28, "{tok}");
        assert!(tok
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let claims = VerpClaims {
            issue_id: 12,
            subscriber_id: 345_678,
        };
        assert_eq!(s.verify_verp(&tok), Some(claims));
        assert_eq!(s.verify_verp(&tok.to_ascii_uppercase()), Some(claims));
        assert_eq!(s.verp_token(12, 345_678).unwrap(), tok, "deterministic");
        assert_ne!(s.verp_token(12, 345_679).unwrap(), tok);
        assert_eq!(Signer::new("other").verify_verp(&tok), None);
        // Every one-character change is refused.
        for i in 0..tok.len() {
            let mut bad = tok.clone().into_bytes();
            bad[i] = if bad[i] == b'a' { b'b' } else { b'a' };
            assert_eq!(
                s.verify_verp(std::str::from_utf8(&bad).unwrap()),
                None,
                "{i}"
            );
        }
        assert_eq!(s.verify_verp(&tok[..27]), None);
        assert_eq!(s.verify_verp(""), None);
        assert_eq!(s.verify_verp("!!!"), None);
        assert_eq!(s.verp_token(-1, 1), None);
        assert_eq!(s.verp_token(1, 1 << 40), None);
        assert!(s.verp_token(i64::from(u32::MAX), (1 << 40) - 1).is_some());
    }

    #[test]
    fn a_verp_address_carries_its_token_in_any_case_and_brackets() {
        let a = verp_address("abc234", "bounces.example.com");
        assert_eq!(a, "bounces+abc234@bounces.example.com");
        assert_eq!(verp_token_in(&a), Some("abc234"));
        assert_eq!(
            verp_token_in("<BOUNCES+ABC234@Bounces.Example.com>"),
            Some("ABC234")
        );
        assert_eq!(verp_token_in("bounces+@x.example"), None);
        assert_eq!(verp_token_in("digest@news.example.com"), None);
        assert_eq!(verp_token_in("bounces+a.b@x.example"), None);
        assert_eq!(verp_token_in("no-at-sign"), None);
    }
}
