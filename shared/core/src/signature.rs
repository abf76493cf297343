//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): HMAC-SHA256 over
//! `"{id}.{timestamp}.{body}"`, sent as `webhook-signature: v1,<base64>` (several, space
//! separated, while secrets rotate). Used to verify inbound hooks and to sign outbound ones.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::tenancy::secrets::WEBHOOK_SECRET_PREFIX;

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

/// Verifies a message against any of `secrets` (several during rotation). Returns the message id.
pub fn verify<'a>(
    secrets: &[String],
    headers: SignedHeaders<'a>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<&'a str, SignatureError> {
    let id = headers
        .id
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let timestamp_text = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signatures = headers
        .signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let timestamp: i64 = timestamp_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now.timestamp() - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::StaleTimestamp);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .collect();
    for secret in secrets {
        let key = secret_bytes(secret)?;
        for candidate in &candidates {
            // verify_slice compares in constant time.
            if mac(&key, id, timestamp, body)?
                .verify_slice(candidate)
                .is_ok()
            {
                return Ok(id);
            }
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
            &[SPEC_SECRET.into()],
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
}
