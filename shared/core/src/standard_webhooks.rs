//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): HMAC-SHA256 over
//! `"{id}.{timestamp}.{body}"`, sent as `webhook-signature: v1,<base64>` (several, space
//! separated, while secrets rotate). Used to verify inbound hooks and to sign outbound ones.
//!
//! Verification costs one MAC over the body per configured secret, however many signatures the
//! header lists: a header over 2 KiB is refused before any MAC, only its first 8 entries are
//! read, and each MAC is compared with every one of them.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// How a Standard Webhooks secret starts; the base64 key follows it.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// How far a signed timestamp may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes away from now")]
    StaleTimestamp,
    #[error("no webhook-signature matches")]
    NoMatch,
    #[error("signing secret is malformed")]
    BadSecret,
    #[error("webhook-signature is longer than {MAX_SIGNATURE_HEADER_BYTES} bytes")]
    HeaderTooLarge,
}

/// The three headers of a signed message.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

fn secret_bytes(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.strip_prefix(WEBHOOK_SECRET_PREFIX).unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| SignatureError::BadSecret)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, SignatureError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SignatureError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The MAC of a message as a [`Tag`].
fn tag(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<Tag, SignatureError> {
    Tag::try_from(
        mac(key, id, timestamp, body)?
            .finalize()
            .into_bytes()
            .as_slice(),
    )
    .map_err(|_| SignatureError::BadSecret)
}

/// The `webhook-signature` value for one secret: `v1,<base64>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    let tag = mac(&secret_bytes(secret)?, id, timestamp, body)?
        .finalize()
        .into_bytes();
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    ))
}

/// Longest `webhook-signature` header looked at; a longer one is refused before any MAC.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 2 * 1024;
/// Signatures of one header compared at most (the first ones; rotation needs two or three).
pub const MAX_SIGNATURES: usize = 8;

/// An HMAC-SHA256 tag.
pub type Tag = [u8; 32];

/// The `v1` signatures of a header, at most [`MAX_SIGNATURES`] of them, decoded. Entries of
/// other versions, or that are not base64 of 32 bytes, can never match and are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures(Vec<Tag>);

impl Signatures {
    /// Reads a `webhook-signature` value; refuses one over [`MAX_SIGNATURE_HEADER_BYTES`].
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > MAX_SIGNATURE_HEADER_BYTES {
            return Err(SignatureError::HeaderTooLarge);
        }
        let tags = header
            .split_whitespace()
            .take(MAX_SIGNATURES)
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .filter_map(|bytes| Tag::try_from(bytes.as_slice()).ok())
            .collect();
        Ok(Signatures(tags))
    }

    /// Whether any signature equals `expected`; every comparison takes constant time.
    pub fn contains(&self, expected: &Tag) -> bool {
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |found, tag| {
                found | tag.as_slice().ct_eq(expected.as_slice())
            })
            .into()
    }
}

/// Verifies a message against any of `secrets` (several during rotation). Returns the message id.
pub fn verify<'a>(
    secrets: &[impl AsRef<str>],
    headers: SignedHeaders<'a>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<&'a str, SignatureError> {
    verify_with(secrets, headers, now, |key, id, timestamp| {
        tag(key, id, timestamp, body)
    })
}

/// [`verify`] with the MAC computation passed in: it is called once per secret, whatever the
/// signature header holds, and never when the header is refused.
pub(crate) fn verify_with<'a>(
    secrets: &[impl AsRef<str>],
    headers: SignedHeaders<'a>,
    now: DateTime<Utc>,
    mut tag_of: impl FnMut(&[u8], &str, i64) -> Result<Tag, SignatureError>,
) -> Result<&'a str, SignatureError> {
    let id = headers
        .id
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let timestamp_text = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signatures = Signatures::parse(
        headers
            .signature
            .ok_or(SignatureError::MissingHeader("webhook-signature"))?,
    )?;
    let timestamp: i64 = timestamp_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now.timestamp() - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::StaleTimestamp);
    }
    for secret in secrets {
        if signatures.contains(&tag_of(&secret_bytes(secret.as_ref())?, id, timestamp)?) {
            return Ok(id);
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    // The example from the Standard Webhooks specification's reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(ts: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(ts, 0).single().unwrap()
    }

    fn headers<'a>(sig: &'a str, ts: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(SPEC_ID),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn signing_reproduces_the_specification_vector() {
        assert_eq!(
            sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY).unwrap(),
            SPEC_SIG
        );
    }

    #[test]
    fn verification_accepts_any_matching_signature_among_several() {
        let list = format!("v1,bm90IGl0 {SPEC_SIG} v2,ignored");
        let ts = SPEC_TS.to_string();
        let result = verify(
            &[SPEC_SECRET],
            headers(&list, &ts),
            SPEC_BODY,
            at(SPEC_TS + 10),
        );
        assert_eq!(result, Ok(SPEC_ID));
    }

    #[test]
    fn verification_accepts_the_old_secret_during_rotation() {
        let ts = SPEC_TS.to_string();
        let secrets = vec![
            super::super::tenancy::secrets::new_webhook_secret(),
            SPEC_SECRET.into(),
        ];
        assert!(verify(&secrets, headers(SPEC_SIG, &ts), SPEC_BODY, at(SPEC_TS)).is_ok());
    }

    #[test]
    fn verification_rejects_altered_body_stale_and_future_timestamps_and_missing_headers() {
        let ts = SPEC_TS.to_string();
        let secrets = [SPEC_SECRET.to_string()];
        assert_eq!(
            verify(
                &secrets,
                headers(SPEC_SIG, &ts),
                br#"{"test": 2432232315}"#,
                at(SPEC_TS)
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(
                &secrets,
                headers(SPEC_SIG, &ts),
                SPEC_BODY,
                at(SPEC_TS + 301)
            ),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(
            verify(
                &secrets,
                headers(SPEC_SIG, &ts),
                SPEC_BODY,
                at(SPEC_TS - 301)
            ),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(
            verify(&secrets, headers(SPEC_SIG, "soon"), SPEC_BODY, at(SPEC_TS)),
            Err(SignatureError::BadTimestamp)
        );
        let missing = SignedHeaders {
            id: None,
            timestamp: Some(&ts),
            signature: Some(SPEC_SIG),
        };
        assert_eq!(
            verify(&secrets, missing, SPEC_BODY, at(SPEC_TS)),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
    }

    /// Verifies with a MAC that counts its calls; returns the outcome and the count.
    fn counted(secrets: &[String], signature: &str) -> (Result<String, SignatureError>, usize) {
        let ts = SPEC_TS.to_string();
        let mut macs = 0;
        let result = verify_with(
            secrets,
            headers(signature, &ts),
            at(SPEC_TS),
            |key, id, timestamp| {
                macs += 1;
                tag(key, id, timestamp, SPEC_BODY)
            },
        )
        .map(str::to_owned);
        (result, macs)
    }

    fn wrong_entries(count: usize) -> Vec<String> {
        (0..count)
            .map(|i| sign(SPEC_SECRET, SPEC_ID, SPEC_TS + 1 + i as i64, SPEC_BODY).unwrap())
            .collect()
    }

    #[test]
    fn one_mac_per_configured_secret_whatever_the_header_holds() {
        let two_secrets = vec![
            super::super::tenancy::secrets::new_webhook_secret(),
            SPEC_SECRET.to_owned(),
        ];
        // GIVEN headers of 1, 8 and 40 wrong entries (40 still under 2 KiB)
        for count in [1, 8, 40] {
            let header = wrong_entries(count).join(" ");
            assert!(header.len() <= MAX_SIGNATURE_HEADER_BYTES, "{count}");
            // WHEN verified against one and two secrets
            // THEN one MAC per secret, and no match
            assert_eq!(
                counted(&two_secrets[1..], &header),
                (Err(SignatureError::NoMatch), 1),
                "{count} entries, one secret"
            );
            assert_eq!(
                counted(&two_secrets, &header),
                (Err(SignatureError::NoMatch), 2),
                "{count} entries, two secrets"
            );
        }
        // AND a right signature among the first eight is found with the same single MAC
        let mut entries = wrong_entries(7);
        entries.push(SPEC_SIG.to_owned());
        assert_eq!(
            counted(&two_secrets[1..], &entries.join(" ")),
            (Ok(SPEC_ID.to_owned()), 1)
        );
    }

    #[test]
    fn only_the_first_eight_entries_are_considered() {
        // GIVEN the right signature as the ninth entry
        let mut entries = wrong_entries(MAX_SIGNATURES);
        entries.push(SPEC_SIG.to_owned());
        // THEN it is not looked at
        assert_eq!(
            counted(&[SPEC_SECRET.to_owned()], &entries.join(" ")),
            (Err(SignatureError::NoMatch), 1)
        );
        assert_eq!(
            Signatures::parse(&entries.join(" ")).map(|s| s.0.len()),
            Ok(MAX_SIGNATURES)
        );
    }

    #[test]
    fn a_header_over_two_kib_is_refused_before_any_mac() {
        // GIVEN 1,500 entries, the right one first
        let mut entries = vec![SPEC_SIG.to_owned()];
        entries.extend(std::iter::repeat_n("v1,bm90IGl0".to_owned(), 1_499));
        // THEN refused, with no MAC computed
        assert_eq!(
            counted(&[SPEC_SECRET.to_owned()], &entries.join(" ")),
            (Err(SignatureError::HeaderTooLarge), 0)
        );
        // AND exactly 2 KiB is still read
        let padded = format!(
            "{SPEC_SIG}{}",
            " ".repeat(MAX_SIGNATURE_HEADER_BYTES - SPEC_SIG.len())
        );
        assert_eq!(
            counted(&[SPEC_SECRET.to_owned()], &padded),
            (Ok(SPEC_ID.to_owned()), 1)
        );
    }
}
