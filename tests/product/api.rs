//! The admin API: health, keys and roles, tenant isolation, audit, errors, OpenAPI.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::{Kind, TestApp};

both!(
    health_reports_the_store,
    keys_roles_and_revocation,
    another_tenants_resources_are_not_found,
    mutations_are_audited,
    bad_input_is_refused_with_a_json_error,
    lists_page_with_opaque_cursors,
);

async fn health_reports_the_store(kind: Kind) {
    // GIVEN a running Vigil
    let vigil = TestApp::start(kind).await;
    // WHEN the health route is called without a key
    let (status, body) = vigil
        .call("GET", "/api/v1/health", &[], Body::empty())
        .await;
    // THEN it answers ok with the version and the store in use
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let expected = match kind {
        Kind::Embedded => "sqlite",
        Kind::Aws => "dynamodb",
    };
    assert_eq!(body["store"], expected);
}

async fn keys_roles_and_revocation(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;

    // GIVEN no key or a wrong key, THEN 401 with a JSON error
    let (status, body) = vigil.call("GET", "/api/v1/keys", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, _) = vigil.get("/api/v1/keys", "vgl_ak_not-a-real-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // WHEN the admin creates a viewer key, THEN the secret is shown once and works
    let (status, created) = vigil
        .send_json(
            "POST",
            "/api/v1/keys",
            &tenant.api_key,
            &json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["role"], "viewer");
    let viewer_key = created["api_key"].as_str().unwrap().to_string();
    let viewer_id = created["id"].as_str().unwrap().to_string();
    let (status, me) = vigil.get("/api/v1/tenant", &viewer_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], tenant.tenant_id.as_str());

    // AND a viewer may not manage keys
    let (status, body) = vigil.get("/api/v1/keys", &viewer_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");

    // AND the list never shows secrets
    let (status, list) = vigil.get("/api/v1/keys", &tenant.api_key).await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(!list.to_string().contains(&viewer_key));
    assert!(
        items
            .iter()
            .all(|k| k.get("api_key").is_none() && k.get("digest").is_none())
    );

    // WHEN the admin revokes the viewer key, THEN it stops working at once
    let (status, _) = vigil
        .call(
            "DELETE",
            &format!("/api/v1/keys/{viewer_id}"),
            &[(
                "authorization",
                &format!("Bearer {}", tenant.api_key.expose()),
            )],
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = vigil.get("/api/v1/tenant", &viewer_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // AND revoking it again is a 404
    let (status, _) = vigil
        .call(
            "DELETE",
            &format!("/api/v1/keys/{viewer_id}"),
            &[(
                "authorization",
                &format!("Bearer {}", tenant.api_key.expose()),
            )],
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn another_tenants_resources_are_not_found(kind: Kind) {
    // GIVEN two tenants
    let vigil = TestApp::start(kind).await;
    let acme = vigil.tenant("Acme").await;
    let globex = vigil.tenant("Globex").await;
    let (_, created) = vigil
        .send_json(
            "POST",
            "/api/v1/keys",
            &acme.api_key,
            &json!({"role": "operator"}),
        )
        .await;
    let acme_key_id = created["id"].as_str().unwrap();
    // WHEN Globex's admin tries to revoke Acme's key
    let (status, body) = vigil
        .call(
            "DELETE",
            &format!("/api/v1/keys/{acme_key_id}"),
            &[(
                "authorization",
                &format!("Bearer {}", globex.api_key.expose()),
            )],
            Body::empty(),
        )
        .await;
    // THEN it is not found, and the key still works
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, list) = vigil.get("/api/v1/keys", &acme.api_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // AND Globex sees only its own keys
    let (_, list) = vigil.get("/api/v1/keys", &globex.api_key).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn mutations_are_audited(kind: Kind) {
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    // WHEN a key is created and revoked over the API
    let (_, created) = vigil
        .send_json(
            "POST",
            "/api/v1/keys",
            &tenant.api_key,
            &json!({"role": "viewer"}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    vigil
        .call(
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            &[(
                "authorization",
                &format!("Bearer {}", tenant.api_key.expose()),
            )],
            Body::empty(),
        )
        .await;
    // THEN the audit log lists both, newest first, with the acting key
    let (status, audit) = vigil.get("/api/v1/audit", &tenant.api_key).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.revoke", "key.create", "tenant.create"]);
    assert_eq!(audit["items"][0]["target"], id);
    assert_eq!(audit["items"][0]["actor"]["kind"], "api_key");
    assert!(audit["items"][0]["at"].as_str().unwrap().ends_with('Z'));
}

async fn bad_input_is_refused_with_a_json_error(kind: Kind) {
    let vigil = TestApp::start_with(kind, &[("VIGIL_MAX_BODY_BYTES", "2048")]).await;
    let tenant = vigil.tenant("Acme").await;
    let auth = format!("Bearer {}", tenant.api_key.expose());
    let json_headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            "{\"role\":".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "wrong type",
            "{\"role\": 3}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "unknown enum value",
            "{\"role\": \"owner\"}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "unknown field",
            "{\"role\": \"viewer\", \"x\": 1}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "oversized body",
            format!(
                "{{\"role\": \"viewer\", \"pad\": \"{}\"}}",
                "x".repeat(4096)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        // WHEN a bad body is posted
        let (got, answer) = vigil
            .call("POST", "/api/v1/keys", &json_headers, body)
            .await;
        // THEN it is refused with a JSON error naming the problem
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // AND nothing was written: still only the first key
    let (_, list) = vigil.get("/api/v1/keys", &tenant.api_key).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // AND unknown routes, bad cursors and zero limits are JSON errors too
    let (status, body) = vigil.get("/api/v1/nope", &tenant.api_key).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = vigil.get("/api/v1/keys?cursor=@@@", &tenant.api_key).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );
    let (status, body) = vigil.get("/api/v1/keys?limit=0", &tenant.api_key).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (status, body) = vigil.get("/api/v1/keys?limit=many", &tenant.api_key).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
}

async fn lists_page_with_opaque_cursors(kind: Kind) {
    // GIVEN a tenant with 5 keys
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    for _ in 0..4 {
        vigil
            .send_json(
                "POST",
                "/api/v1/keys",
                &tenant.api_key,
                &json!({"role": "viewer"}),
            )
            .await;
    }
    // WHEN they are listed two at a time
    let mut seen = Vec::new();
    let mut path = "/api/v1/keys?limit=2".to_string();
    loop {
        let (status, page) = vigil.get(&path, &tenant.api_key).await;
        assert_eq!(status, StatusCode::OK);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|k| k["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/keys?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // THEN every key appears exactly once
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    // GIVEN the document served by the API
    let vigil = TestApp::start(Kind::Embedded).await;
    let (status, doc) = vigil
        .call("GET", "/api/v1/openapi.json", &[], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // THEN it names every route of the ingest and admin API functions
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/hooks/{tenant}/events", "post"),
        ("/api/v1/health", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/api/v1/tenant", "get"),
        ("/api/v1/tenant/credentials/rotate", "post"),
        ("/api/v1/keys", "get"),
        ("/api/v1/keys", "post"),
        ("/api/v1/keys/{id}", "delete"),
        ("/api/v1/audit", "get"),
        ("/api/v1/domain-events", "get"),
        ("/api/v1/domain-events/{id}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    // AND every operation has its own id
    let mut ids: Vec<&str> = paths
        .values()
        .filter_map(|p| p.as_object())
        .flat_map(|methods| methods.values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let operations = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), operations, "operation ids repeat");
    // AND every documented path is served (none is a stale entry)
    for path in paths.keys() {
        let concrete = path.replace("{tenant}", "tnt_x").replace("{id}", "x");
        let (status, body) = vigil.call("OPTIONS", &concrete, &[], Body::empty()).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{path} is not routed"
        );
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}
