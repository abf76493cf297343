use super::*;

fn tenant(now: DateTime<Utc>) -> Tenant {
    Tenant {
        id: "tnt_1".into(),
        name: "Acme".into(),
        created_at: now,
        ingest_token_digest: secrets::digest("vgl_it_current"),
        retiring_ingest_tokens: vec![Retiring {
            value: secrets::digest("vgl_it_old"),
            until: now + chrono::Duration::minutes(5),
        }],
        webhook_secrets: vec![Secret::new("whsec_current_secret")],
        retiring_webhook_secrets: vec![Retiring {
            value: Secret::new("whsec_retiring_secret"),
            until: now + chrono::Duration::minutes(5),
        }],
        stripe_secrets: vec![Secret::new("whsec_stripe_secret")],
        outbound_secret: Some(Secret::new("whsec_outbound_secret")),
    }
}

#[test]
fn debug_output_holds_no_secret() {
    let now = Utc::now();
    let created = CreatedTenant {
        tenant_id: "tnt_1".into(),
        name: "Acme".into(),
        api_key: Secret::new("vgl_ak_shown_once"),
        ingest_token: Secret::new("vgl_it_shown_once"),
        webhook_secret: Secret::new("whsec_shown_once"),
        outbound_secret: Secret::new("whsec_out_shown_once"),
    };
    let rotated = RotatedCredentials {
        ingest_token: Some(Secret::new("vgl_it_rotated")),
        webhook_secret: Some(Secret::new("whsec_rotated")),
        overlap_minutes: 5,
        previous_valid_until: now,
    };
    let printed = format!("{:?} {created:?} {rotated:?}", tenant(now));
    for secret in [
        "whsec_current_secret",
        "whsec_retiring_secret",
        "whsec_stripe_secret",
        "whsec_outbound_secret",
        "shown_once",
        "rotated",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    // AND what is shown once still serialises as it did
    let json = serde_json::to_value(&created).unwrap_or_default();
    assert_eq!(json["api_key"], "vgl_ak_shown_once");
}

#[test]
fn replaced_credentials_hold_until_their_end_and_stay_few() {
    let now = Utc::now();
    let t = tenant(now);
    let later = now + chrono::Duration::minutes(5);
    assert!(t.accepts_ingest_token("vgl_it_current", later));
    assert!(t.accepts_ingest_token("vgl_it_old", now));
    assert!(!t.accepts_ingest_token("vgl_it_old", later));
    assert_eq!(t.webhook_secrets_at(now).len(), 2);
    assert_eq!(t.webhook_secrets_at(later).len(), 1);

    let mut retiring = Vec::new();
    for minute in 0..10 {
        let at = now + chrono::Duration::minutes(minute);
        retire(
            &mut retiring,
            vec![minute],
            at + chrono::Duration::hours(1),
            at,
        );
    }
    let kept: Vec<i64> = retiring.iter().map(|r| r.value).collect();
    assert_eq!(kept, [9, 8, 7], "newest first, at most {MAX_RETIRING}");
    retire(
        &mut retiring,
        vec![10],
        later,
        later + chrono::Duration::hours(2),
    );
    assert!(
        retiring.is_empty(),
        "expired ones go; no overlap keeps none"
    );
}
