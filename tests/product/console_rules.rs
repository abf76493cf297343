//! The console's routing, redaction and revenue rules over HTTP: routing rules added from
//! checkboxes and removed, redaction saved (a bad pattern shown at its field), and a revenue rule
//! changed (a window it cannot use refused at the rule).

use axum::http::StatusCode;
use serde_json::json;

use crate::both;
use crate::console_settings::Visitor;
use crate::harness::{Kind, TestApp};

both!(
    routing_rules_are_added_and_removed_and_redaction_is_saved,
    a_revenue_rule_is_changed_and_a_window_it_cannot_use_is_refused_at_the_rule
);

async fn routing_rules_are_added_and_removed_and_redaction_is_saved(kind: Kind) {
    // GIVEN an admin signed in, and a Slack channel named ops
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let body =
        json!({"name": "ops", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/x"});
    let (status, _) = vigil
        .send_json("POST", "/api/v1/channels", &tenant.api_key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let routing = "/settings/routing";
    let (_, page) = admin.get(routing).await;
    assert!(page.contains("The default routing applies"), "{page}");

    // WHEN a rule with no channel ticked is added THEN the page says so and nothing is saved
    let (status, _, page) = admin
        .post(routing, routing, &[("min_severity", "SEV1")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("tick at least one channel"), "{page}");
    let (_, saved) = vigil.get("/api/v1/routing", &tenant.api_key).await;
    assert_eq!(saved["source"], "default");

    // WHEN SEV1 and above alerts go to ops and the inbox
    let rule = [
        ("min_severity", "SEV1"),
        ("types", "test.alert"),
        ("channels", "inbox"),
        ("channels", "ops"),
    ];
    let (status, _, _) = admin.post(routing, routing, &rule).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // THEN the API routes by it, and the page lists it
    let (_, saved) = vigil.get("/api/v1/routing", &tenant.api_key).await;
    assert_eq!(
        saved["rules"],
        json!([{"types": ["test.alert"], "min_severity": "SEV1", "channels": ["inbox", "ops"]}])
    );
    let (_, page) = admin.get(routing).await;
    assert!(page.contains("<td>inbox, ops</td>"), "{page}");

    // WHEN it is removed THEN the tenant has no rule left
    let (status, _, _) = admin
        .post(routing, "/settings/routing/remove", &[("index", "0")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, saved) = vigil.get("/api/v1/routing", &tenant.api_key).await;
    assert_eq!(saved["rules"], json!([]));

    // WHEN a redaction pattern that is no regular expression is saved
    let (status, _, page) = admin
        .post(
            routing,
            "/settings/redaction",
            &[("email", "on"), ("extra_patterns", "ACME-\\d+\n(unclosed")],
        )
        .await;
    // THEN the problem is at the patterns, which are kept
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains(r#"id="extra_patterns-error""#), "{page}");
    assert!(page.contains("(unclosed"), "{page}");
    // AND a good one is saved as the API reads it
    let good = [("email", "on"), ("extra_patterns", "ACME-\\d+")];
    let (status, _, _) = admin.post(routing, "/settings/redaction", &good).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, rules) = vigil.get("/api/v1/redaction", &tenant.api_key).await;
    assert_eq!(rules["email"], true);
    assert_eq!(rules["phone"], false);
    assert_eq!(rules["extra_patterns"], json!(["ACME-\\d+"]));
}

async fn a_revenue_rule_is_changed_and_a_window_it_cannot_use_is_refused_at_the_rule(kind: Kind) {
    // GIVEN an admin on the revenue rules
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let (status, page) = admin.get("/settings/rules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"data-id="payment_failure_spike""#),
        "{page}"
    );
    let rule = "/settings/rules/payment_failure_spike";

    // WHEN a window that does not divide a day is sent
    let bad = [
        ("enabled", "on"),
        ("severity", "SEV2"),
        ("window_minutes", "7"),
        ("threshold", "4.5"),
    ];
    let (status, _, page) = admin.post("/settings/rules", rule, &bad).await;
    // THEN the rule's form says why, keeping the threshold sent, and nothing changed
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains(r#"id="problem-payment_failure_spike""#),
        "{page}"
    );
    assert!(page.contains("window_minutes must be"), "{page}");
    assert!(page.contains(r#"value="4.5""#), "{page}");

    // WHEN it is disabled at SEV2 over an hour, from 5 failures
    let good = [
        ("severity", "SEV2"),
        ("window_minutes", "60"),
        ("threshold", "5"),
    ];
    let (status, _, _) = admin.post("/settings/rules", rule, &good).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // THEN the API reads the rule so
    let (_, rules) = vigil.get("/api/v1/rules", &tenant.api_key).await;
    let saved = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "payment_failure_spike")
        .unwrap()
        .clone();
    assert_eq!(saved["enabled"], false);
    assert_eq!(saved["severity"], "SEV2");
    assert_eq!(saved["window_minutes"], 60);
    assert_eq!(saved["threshold"], 5.0);
}
