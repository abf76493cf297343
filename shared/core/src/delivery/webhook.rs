//! Generic webhooks: the JSON Vigil posts and its Standard Webhooks signature headers.

use serde_json::{Value, json};

use super::notification::Notification;
use crate::standard_webhooks::{self, SignatureError};

pub fn webhook_body(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "type": n.kind,
        "severity": n.severity,
        "title": n.title,
        "summary": n.summary,
        "link_ref": n.link_ref,
        "tenant_id": n.tenant_id,
        "created_at": n.created_at,
        "payload": n.payload,
    })
}

/// `webhook-id`, `webhook-timestamp` and `webhook-signature` with one `v1,…` per secret, so
/// receivers verify with either while a secret is rotated.
pub fn signed_headers(
    secrets: &[impl AsRef<str>],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, SignatureError> {
    let signatures = secrets
        .iter()
        .map(|secret| standard_webhooks::sign(secret.as_ref(), message_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![
        ("webhook-id".into(), message_id.to_owned()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signatures.join(" ")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standard_webhooks::SignedHeaders;
    use crate::tenancy::secrets::new_webhook_secret;

    #[test]
    fn every_active_secret_signs() {
        let (old, new) = (new_webhook_secret(), new_webhook_secret());
        let now = chrono::Utc::now();
        let body = br#"{"id":"ntf_1"}"#;
        let headers =
            signed_headers(&[new.clone(), old.clone()], "ntf_1", now.timestamp(), body).unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let signed = SignedHeaders {
            id: get("webhook-id"),
            timestamp: get("webhook-timestamp"),
            signature: get("webhook-signature"),
        };
        for secret in [&old, &new] {
            standard_webhooks::verify(std::slice::from_ref(secret), signed, body, now).unwrap();
        }
        assert!(standard_webhooks::verify(&[new_webhook_secret()], signed, body, now).is_err());
    }
}
