//! `Stripe-Signature` verification, as Stripe specifies it: `t=<unix seconds>` and one or more
//! `v1=<hex HMAC-SHA256>` of `"{t}.{raw body}"`, keyed with the whole endpoint secret
//! (`whsec_…`). Verified over the raw bytes, before any parsing.
//!
//! Bounded like Standard Webhooks: a header over 2 KiB is refused before any MAC, at most 8
//! `v1` entries are read, and the MAC is computed once per endpoint secret.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Stripe's default tolerance, either way of now.
pub const TOLERANCE_SECONDS: i64 = 300;
/// Longest `Stripe-Signature` header looked at.
pub const MAX_HEADER_BYTES: usize = crate::standard_webhooks::MAX_SIGNATURE_HEADER_BYTES;
/// `v1` signatures of one header compared at most (the first ones).
pub const MAX_SIGNATURES: usize = crate::standard_webhooks::MAX_SIGNATURES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StripeSignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header has no t= timestamp or no v1= signature")]
    Malformed,
    #[error("the Stripe-Signature timestamp is more than 5 minutes from now")]
    Stale,
    #[error("no v1 signature matches an active endpoint secret")]
    NoMatch,
    #[error("no Stripe endpoint secret is configured for this tenant")]
    NotConfigured,
    #[error("the Stripe-Signature header is longer than {MAX_HEADER_BYTES} bytes")]
    TooLarge,
}

impl StripeSignatureError {
    /// The word integrity records and error codes use.
    pub fn reason(self) -> &'static str {
        match self {
            StripeSignatureError::Missing => "missing_signature",
            StripeSignatureError::Malformed => "malformed_signature",
            StripeSignatureError::Stale => "stale_timestamp",
            StripeSignatureError::NoMatch => "invalid_signature",
            StripeSignatureError::NotConfigured => "stripe_not_configured",
            StripeSignatureError::TooLarge => "oversized_signature",
        }
    }
}

fn tag(secret: &str, timestamp: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac.finalize().into_bytes().to_vec())
}

/// The header value Stripe would send for `body` at `timestamp` (tests and local tools).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let signature = tag(secret, &t, body).map(hex::encode).unwrap_or_default();
    format!("t={t},v1={signature}")
}

/// Checks `header` against every active secret; returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[impl AsRef<str>],
    now: DateTime<Utc>,
) -> Result<i64, StripeSignatureError> {
    verify_with(header, secrets, now, |secret, t| tag(secret, t, body))
}

/// [`verify`] with the MAC passed in: called at most once per secret, never for a refused header.
fn verify_with(
    header: Option<&str>,
    secrets: &[impl AsRef<str>],
    now: DateTime<Utc>,
    mut tag_of: impl FnMut(&str, &str) -> Option<Vec<u8>>,
) -> Result<i64, StripeSignatureError> {
    if secrets.is_empty() {
        return Err(StripeSignatureError::NotConfigured);
    }
    let header = header.ok_or(StripeSignatureError::Missing)?;
    if header.len() > MAX_HEADER_BYTES {
        return Err(StripeSignatureError::TooLarge);
    }
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) if candidates.len() < MAX_SIGNATURES => candidates.push(value),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, candidates.is_empty()) else {
        return Err(StripeSignatureError::Malformed);
    };
    let seconds: i64 = t.parse().map_err(|_| StripeSignatureError::Malformed)?;
    if (now.timestamp() - seconds).abs() > TOLERANCE_SECONDS {
        return Err(StripeSignatureError::Stale);
    }
    let decoded: Vec<Vec<u8>> = candidates
        .iter()
        .filter_map(|c| hex::decode(c).ok())
        .collect();
    for secret in secrets {
        let Some(expected) = tag_of(secret.as_ref(), t) else {
            continue;
        };
        let found = decoded
            .iter()
            .fold(subtle::Choice::from(0), |found, candidate| {
                found | candidate.as_slice().ct_eq(&expected)
            });
        if bool::from(found) {
            return Ok(seconds);
        }
    }
    Err(StripeSignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret_one";
    const OTHER: &str = "whsec_test_secret_two";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"charge.failed","created":1795000000}"#;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    /// Name, header, body, active secrets, expected outcome.
    type Case<'a> = (
        &'a str,
        Option<String>,
        &'a [u8],
        &'a Vec<String>,
        Result<i64, StripeSignatureError>,
    );

    #[test]
    fn the_vectors() {
        let t = now().timestamp();
        let good = sign(SECRET, t, BODY);
        let secrets = vec![SECRET.to_owned()];
        let rotated = vec![OTHER.to_owned(), SECRET.to_owned()];
        let none: Vec<String> = Vec::new();
        let mut altered = BODY.to_vec();
        altered[10] ^= 1;
        let other_sig = sign(OTHER, t, BODY);
        let other_v1 = other_sig.split_once(",v1=").unwrap().1;
        let two_entries = format!("{good},v1={other_v1},v0=deadbeef");
        let cases: Vec<Case<'_>> = vec![
            ("valid", Some(good.clone()), BODY, &secrets, Ok(t)),
            (
                "wrong secret",
                Some(other_sig.clone()),
                BODY,
                &secrets,
                Err(StripeSignatureError::NoMatch),
            ),
            (
                "stale",
                Some(sign(SECRET, t - 301, BODY)),
                BODY,
                &secrets,
                Err(StripeSignatureError::Stale),
            ),
            (
                "within tolerance",
                Some(sign(SECRET, t - 299, BODY)),
                BODY,
                &secrets,
                Ok(t - 299),
            ),
            (
                "future",
                Some(sign(SECRET, t + 301, BODY)),
                BODY,
                &secrets,
                Err(StripeSignatureError::Stale),
            ),
            (
                "several v1 entries",
                Some(two_entries),
                BODY,
                &secrets,
                Ok(t),
            ),
            ("rotated secrets", Some(good.clone()), BODY, &rotated, Ok(t)),
            (
                "body altered by one byte",
                Some(good.clone()),
                &altered,
                &secrets,
                Err(StripeSignatureError::NoMatch),
            ),
            (
                "missing header",
                None,
                BODY,
                &secrets,
                Err(StripeSignatureError::Missing),
            ),
            (
                "no timestamp",
                Some("v1=abcd".into()),
                BODY,
                &secrets,
                Err(StripeSignatureError::Malformed),
            ),
            (
                "no v1",
                Some(format!("t={t},v0=abcd")),
                BODY,
                &secrets,
                Err(StripeSignatureError::Malformed),
            ),
            (
                "not configured",
                Some(good),
                BODY,
                &none,
                Err(StripeSignatureError::NotConfigured),
            ),
        ];
        for (name, header, body, secrets, expected) in cases {
            assert_eq!(
                verify(header.as_deref(), body, secrets, now()),
                expected,
                "{name}"
            );
        }
    }

    /// Verifies with a MAC that counts its calls.
    fn counted(header: &str, secrets: &[String]) -> (Result<i64, StripeSignatureError>, usize) {
        let mut macs = 0;
        let result = verify_with(Some(header), secrets, now(), |secret, t| {
            macs += 1;
            tag(secret, t, BODY)
        });
        (result, macs)
    }

    #[test]
    fn one_mac_per_secret_at_most_eight_entries_and_no_mac_over_two_kib() {
        let t = now().timestamp();
        let good = sign(SECRET, t, BODY);
        let good_v1 = good.split_once(",v1=").unwrap().1.to_owned();
        let wrong = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("v1={}", hex::encode([i as u8; 32])))
                .collect()
        };
        let secrets = vec![OTHER.to_owned(), SECRET.to_owned()];
        // GIVEN the right signature after 7 wrong ones: found, one MAC per secret at most
        let mut seven = wrong(7);
        seven.push(format!("v1={good_v1}"));
        let header = format!("t={t},{}", seven.join(","));
        assert_eq!(counted(&header, &secrets), (Ok(t), 2));
        // GIVEN it as the ninth: not considered
        let mut eight = wrong(8);
        eight.push(format!("v1={good_v1}"));
        let header = format!("t={t},{}", eight.join(","));
        assert!(header.len() <= MAX_HEADER_BYTES);
        assert_eq!(
            counted(&header, &secrets),
            (Err(StripeSignatureError::NoMatch), 2)
        );
        // GIVEN 1,500 entries, the right one first: refused before any MAC
        let mut many = vec![format!("v1={good_v1}")];
        many.extend(wrong(1_499));
        let header = format!("t={t},{}", many.join(","));
        assert_eq!(
            counted(&header, &secrets),
            (Err(StripeSignatureError::TooLarge), 0)
        );
    }
}
