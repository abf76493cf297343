//! Secrets: credential rotation with an overlap, secrets sealed at rest (older plain records
//! still read), workflow URLs masked for readers below admin.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use vigil_core::ports::{Item, PutCondition};

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};

both!(
    replaced_credentials_work_during_the_overlap_and_are_refused_after_it,
    rotation_is_for_admins_and_checks_its_body,
    stored_secrets_are_sealed_and_older_plain_records_still_read,
    readers_below_admin_see_workflow_urls_masked,
);

fn event(id: &str) -> String {
    json!({"id": id, "type": "client.stage_changed", "occurred_at": "2026-11-18T10:00:00Z",
           "subject": {"client_id": "c_1"}, "data": {"to": "at_risk"}})
    .to_string()
}

/// Posts an event with `Authorization: Bearer token`; returns the status.
async fn post_with_token(vigil: &TestApp, tenant: &str, token: &str, id: &str) -> StatusCode {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let path = format!("/hooks/{tenant}/events");
    vigil.call("POST", &path, &headers, event(id)).await.0
}

/// Posts an event signed with `secret` at the app's now; returns the status.
async fn post_signed(vigil: &TestApp, tenant: &str, secret: &str, id: &str) -> StatusCode {
    let body = event(id);
    let ts = vigil.now().timestamp();
    let signature = vigil_core::standard_webhooks::sign(secret, id, ts, body.as_bytes()).unwrap();
    let ts = ts.to_string();
    let headers = [
        ("webhook-id", id),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", signature.as_str()),
        ("content-type", "application/json"),
    ];
    let path = format!("/hooks/{tenant}/events");
    vigil.call("POST", &path, &headers, body).await.0
}

async fn replaced_credentials_work_during_the_overlap_and_are_refused_after_it(kind: Kind) {
    // GIVEN a tenant, its hooks checked on a clock the test moves (credentials cached meanwhile)
    let clock = pinned_clock();
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let t = vigil.tenant("Acme").await;
    assert_eq!(
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, "evt_0").await,
        StatusCode::ACCEPTED
    );

    // WHEN an admin rotates both credentials with a 30-minute overlap
    let (status, rotated) = vigil
        .send_json(
            "POST",
            "/api/v1/tenant/credentials/rotate",
            &t.api_key,
            &json!({"credentials": ["ingest_token", "webhook_secret"], "overlap_minutes": 30}),
        )
        .await;

    // THEN the new values are shown once, with the end of the overlap
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_token = rotated["ingest_token"].as_str().unwrap().to_owned();
    let new_secret = rotated["webhook_secret"].as_str().unwrap().to_owned();
    assert!(new_token.starts_with("vgl_it_") && new_token != *t.ingest_token);
    assert!(new_secret.starts_with("whsec_") && new_secret != *t.webhook_secret);
    let until: DateTime<Utc> = rotated["previous_valid_until"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(until, vigil.now() + chrono::Duration::minutes(30));
    assert_eq!(rotated["overlap_minutes"], 30);

    // AND during the overlap the old and the new credentials both work
    let tenant = t.tenant_id.as_str();
    assert_eq!(
        post_with_token(&vigil, tenant, &t.ingest_token, "evt_1").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_with_token(&vigil, tenant, &new_token, "evt_2").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_signed(&vigil, tenant, &t.webhook_secret, "evt_3").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_signed(&vigil, tenant, &new_secret, "evt_4").await,
        StatusCode::ACCEPTED
    );
    clock.advance(chrono::Duration::minutes(29));
    assert_eq!(
        post_with_token(&vigil, tenant, &t.ingest_token, "evt_5").await,
        StatusCode::ACCEPTED
    );

    // AND once it is over, the old ones are refused although the credentials are still cached,
    // and the new ones work
    clock.advance(chrono::Duration::minutes(1));
    assert_eq!(
        post_with_token(&vigil, tenant, &t.ingest_token, "evt_6").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_signed(&vigil, tenant, &t.webhook_secret, "evt_7").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_with_token(&vigil, tenant, &new_token, "evt_8").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_signed(&vigil, tenant, &new_secret, "evt_9").await,
        StatusCode::ACCEPTED
    );

    // AND a rotation without overlap stops the replaced token at once
    let (status, again) = vigil
        .send_json(
            "POST",
            "/api/v1/tenant/credentials/rotate",
            &t.api_key,
            &json!({"credentials": ["ingest_token"], "overlap_minutes": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(again.get("webhook_secret").is_none(), "{again}");
    assert_eq!(
        post_with_token(&vigil, tenant, &new_token, "evt_10").await,
        StatusCode::UNAUTHORIZED
    );
    let newest = again["ingest_token"].as_str().unwrap();
    assert_eq!(
        post_with_token(&vigil, tenant, newest, "evt_11").await,
        StatusCode::ACCEPTED
    );

    // AND each rotation is in the audit log with the acting key and what it replaced
    let (_, audit) = vigil.get("/api/v1/audit", &t.api_key).await;
    let rotations: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "credentials.rotate")
        .collect();
    assert_eq!(rotations.len(), 2, "{audit}");
    assert_eq!(rotations[0]["target"], "ingest_token");
    assert_eq!(rotations[1]["target"], "ingest_token,webhook_secret");
    assert_eq!(rotations[1]["actor"]["kind"], "api_key");
}

async fn rotation_is_for_admins_and_checks_its_body(kind: Kind) {
    // GIVEN a tenant with a viewer key
    let vigil = TestApp::start(kind).await;
    let t = vigil.tenant("Acme").await;
    let viewer = vigil.viewer_key(&t.tenant_id).await;
    let path = "/api/v1/tenant/credentials/rotate";
    let valid = json!({"credentials": ["ingest_token"]});

    // WHEN a viewer asks for a rotation THEN it is refused and the token still works
    let (status, answer) = vigil.send_json("POST", path, &viewer, &valid).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "forbidden");
    assert_eq!(
        post_with_token(&vigil, &t.tenant_id, &t.ingest_token, "evt_1").await,
        StatusCode::ACCEPTED
    );

    // WHEN an admin sends bodies that name nothing, something unknown, too many, an overlap out
    // of bounds or an unknown field THEN each is a 400 with a JSON error
    for body in [
        json!({}),
        json!({"credentials": []}),
        json!({"credentials": ["password"]}),
        json!({"credentials": ["ingest_token", "webhook_secret", "ingest_token"]}),
        json!({"credentials": ["webhook_secret"], "overlap_minutes": 10_081}),
        json!({"credentials": ["webhook_secret"], "overlap_minutes": -1}),
        json!({"credentials": ["webhook_secret"], "rotate_everything": true}),
    ] {
        let (status, answer) = vigil.send_json("POST", path, &t.api_key, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }

    // AND the default overlap is an hour
    let (status, rotated) = vigil.send_json("POST", path, &t.api_key, &valid).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["overlap_minutes"], 60);
}

/// The raw stored body of `key`, as the backend holds it.
async fn raw(vigil: &TestApp, key: &vigil_core::ports::Key) -> Item {
    vigil
        .app
        .ports
        .store
        .get(key)
        .await
        .unwrap()
        .expect("stored item")
}

async fn stored_secrets_are_sealed_and_older_plain_records_still_read(kind: Kind) {
    // GIVEN a tenant with a Stripe secret, a webhook channel and a Slack channel
    let vigil = TestApp::start(kind).await;
    let stripe = "whsec_stripe_endpoint_secret";
    let t = vigil.tenant_with_stripe(stripe).await;
    let hook_url = "https://hooks.example.com/in/t0ken-in-path?sig=abc123";
    let hook_secret = vigil_core::tenancy::secrets::new_webhook_secret();
    let slack_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
    let mut channel_ids = Vec::new();
    for body in [
        json!({"name": "hook", "kind": "webhook", "url": hook_url, "secret": hook_secret}),
        json!({"name": "slack", "kind": "slack", "url": slack_url}),
    ] {
        let (status, channel) = vigil
            .send_json("POST", "/api/v1/channels", &t.api_key, &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        channel_ids.push(channel["id"].as_str().unwrap().to_owned());
    }

    // WHEN the stored items are read as the backend holds them
    let tenant_key = vigil_core::table_keys::tenant(&t.tenant_id);
    let mut bodies = vec![raw(&vigil, &tenant_key).await.body];
    for id in &channel_ids {
        bodies.push(
            raw(&vigil, &vigil_core::table_keys::channel(&t.tenant_id, id))
                .await
                .body,
        );
    }

    // THEN no secret is in them in the clear, only sealed values
    let plain: [&str; 6] = [
        &t.webhook_secret,
        &t.outbound_secret,
        stripe,
        hook_url,
        &hook_secret,
        slack_url,
    ];
    for body in &bodies {
        for secret in plain {
            assert!(
                !body.contains(secret),
                "{secret} stored in the clear: {body}"
            );
        }
        assert!(body.contains("enc:v1:"), "{body}");
    }
    // AND the sealed channel still reads back through the API as before
    let (status, channel) = vigil
        .get(&format!("/api/v1/channels/{}", channel_ids[0]), &t.api_key)
        .await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    assert_eq!(channel["url_hint"], "https://hooks.example.com/…");

    // GIVEN the tenant record as it was written before sealing (secrets in the clear)
    let legacy =
        vigil_core::secret::Secret::new(vigil_core::tenancy::secrets::new_webhook_secret());
    let item = raw(&vigil, &tenant_key).await;
    let mut body: Value = serde_json::from_str(&item.body).unwrap();
    body["webhook_secrets"] = json!([legacy.expose()]);
    body["stripe_secrets"] = json!([stripe]);
    let mut old = item.clone();
    old.body = body.to_string();
    vigil
        .app
        .ports
        .store
        .put(old, PutCondition::VersionEquals(item.version))
        .await
        .unwrap();

    // WHEN a hook signed with that secret arrives THEN it is accepted
    assert_eq!(
        post_signed(&vigil, &t.tenant_id, legacy.expose(), "evt_legacy").await,
        StatusCode::ACCEPTED
    );

    // WHEN the tenant is next written THEN its secrets are sealed again
    let (status, _) = vigil
        .send_json(
            "PUT",
            "/api/v1/sources/stripe",
            &t.api_key,
            &json!({"secrets": [stripe]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let resealed = raw(&vigil, &tenant_key).await.body;
    assert!(!resealed.contains(legacy.expose()), "{resealed}");
    assert!(!resealed.contains(stripe), "{resealed}");
    assert_eq!(
        post_signed(&vigil, &t.tenant_id, legacy.expose(), "evt_after").await,
        StatusCode::ACCEPTED
    );
}

async fn readers_below_admin_see_workflow_urls_masked(kind: Kind) {
    // GIVEN a workflow whose http_request URL carries a token in its path and query
    let vigil = TestApp::start(kind).await;
    let t = vigil.tenant("Acme").await;
    let url = "https://hooks.example.com/c/t0ken-in-path?key=s3cret";
    let workflow = json!({"name": "Hook", "triggers": [{"type": "stage_changed", "to": "at_risk"}],
        "steps": [{"type": "if", "condition": {"field": "client.stage", "operator": "equals", "value": "at_risk"},
                   "then": [{"type": "http_request", "url": url}]}]});
    let (status, created) = vigil
        .send_json("POST", "/api/v1/workflows", &t.api_key, &workflow)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let one = format!("/api/v1/workflows/{}", created["id"].as_str().unwrap());
    let viewer = vigil.viewer_key(&t.tenant_id).await;
    let operator = vigil
        .key_with_role(&t.tenant_id, vigil_core::tenancy::Role::Operator)
        .await;

    // WHEN a viewer or an operator reads it, alone or in the list
    for key in [&viewer, &operator] {
        let (status, got) = vigil.get(&one, key).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        let (_, list) = vigil.get("/api/v1/workflows", key).await;
        // THEN the URL keeps only its scheme and host, as channel URLs are shown
        for step in [
            &got["steps"][0]["then"][0],
            &list["items"][0]["steps"][0]["then"][0],
        ] {
            assert_eq!(step["url"], "https://hooks.example.com/…", "{step}");
        }
        assert!(!got.to_string().contains("s3cret"), "{got}");
    }

    // WHEN an admin reads it THEN the URL is whole
    let (_, got) = vigil.get(&one, &t.api_key).await;
    assert_eq!(got["steps"][0]["then"][0]["url"], url);
    let (_, list) = vigil.get("/api/v1/workflows", &t.api_key).await;
    assert_eq!(list["items"][0]["steps"][0]["then"][0]["url"], url);
}
