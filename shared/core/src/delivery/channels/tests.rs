use super::*;

fn new(kind: ChannelKind) -> NewChannel {
    NewChannel {
        name: "default".into(),
        kind,
        url: None,
        secret: None,
        to: None,
        enabled: true,
    }
}

#[test]
fn each_kind_needs_its_own_fields_and_refuses_the_others() {
    let slack = NewChannel {
        url: Some("https://hooks.slack.com/services/T/B/X".into()),
        ..new(ChannelKind::Slack)
    };
    assert!(slack.clone().destination().is_ok());
    assert!(
        NewChannel {
            to: Some(vec!["a@b.co".into()]),
            ..slack
        }
        .destination()
        .is_err()
    );
    assert!(new(ChannelKind::Webhook).destination().is_err());
    let email = NewChannel {
        to: Some(vec!["ops@example.com".into()]),
        ..new(ChannelKind::Email)
    };
    assert!(email.destination().is_ok());
    let bad_email = NewChannel {
        to: Some(vec!["not an address".into()]),
        ..new(ChannelKind::Email)
    };
    assert!(bad_email.destination().is_err());
}

#[test]
fn rotation_keeps_two_secrets_until_the_previous_is_retired() {
    let first = crate::tenancy::secrets::new_webhook_secret();
    let second = crate::tenancy::secrets::new_webhook_secret();
    let mut destination = Destination::Webhook {
        url: "https://example.com/hook".into(),
        secrets: vec![Secret::new(first.clone())],
    };
    ChannelPatch {
        secret: Some(second.clone()),
        ..ChannelPatch::default()
    }
    .apply(&mut destination)
    .unwrap();
    assert_eq!(
        destination,
        Destination::Webhook {
            url: "https://example.com/hook".into(),
            secrets: vec![Secret::new(second.clone()), Secret::new(first)]
        }
    );
    ChannelPatch {
        retire_previous_secret: true,
        ..ChannelPatch::default()
    }
    .apply(&mut destination)
    .unwrap();
    assert!(
        matches!(destination, Destination::Webhook { secrets, .. } if secrets == vec![Secret::new(second)])
    );
}

#[test]
fn views_hide_urls_and_secrets() {
    let channel = Channel {
        id: "chn_1".into(),
        name: "sev0".into(),
        enabled: true,
        destination: Destination::Webhook {
            url: "https://user:pw@hooks.example.com/secret/path?token=x".into(),
            secrets: vec!["whsec_abc".into()],
        },
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let debug = format!("{channel:?}");
    assert!(
        !debug.contains("secret/path") && !debug.contains("whsec_"),
        "{debug}"
    );
    let view = serde_json::to_string(&ChannelView::from(&channel)).unwrap();
    assert!(!view.contains("secret/path"), "{view}");
    assert!(!view.contains("whsec_"), "{view}");
    assert!(!view.contains("pw"), "{view}");
    assert!(view.contains("https://hooks.example.com/…"), "{view}");
}

#[test]
fn refused_addresses_are_refused_naming_the_url() {
    let webhook = |url: &str| Destination::Webhook {
        url: url.into(),
        secrets: Vec::new(),
    };
    let strict = EgressPolicy::default();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:7f00:1]/",
        "http://localhost:8080/",
    ] {
        let err = check_egress(&webhook(url), &strict).err();
        assert!(
            matches!(&err, Some(Error::UnprocessableFields { problems, .. }) if problems[0].path == "$.url"),
            "{url}: {err:?}"
        );
    }
    assert!(check_egress(&webhook("https://hooks.example.com/x"), &strict).is_ok());
    let loopback = EgressPolicy::parse("127.0.0.0/8").unwrap_or_default();
    assert!(check_egress(&webhook("http://127.0.0.1:9/"), &loopback).is_ok());
}

#[test]
fn names_are_slugs_and_inbox_is_reserved() {
    assert!(check_name("sev0").is_ok());
    assert!(check_name("On Call").is_err());
    assert!(check_name(INBOX).is_err());
    assert!(check_name("").is_err());
}
