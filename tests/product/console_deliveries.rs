//! The console's deliveries over HTTP: a failed delivery shown with its last error and sent
//! again by "Retry", and a dead letter listed and queued again from its page.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use vigil_contract::sinks::{HttpSink, SinkResponse};
use vigil_core::tenancy::tenants::CreatedTenant;

use crate::both;
use crate::console_settings::Visitor;
use crate::harness::{Kind, TestApp};

both!(
    a_failed_delivery_shows_its_last_error_and_retry_sends_it_again,
    a_dead_letter_is_listed_and_queued_again_from_its_page
);

/// A Vigil retrying after a second, a tenant, and its `default` webhook channel whose receiver
/// refuses the first message for good (400, "no such hook") and takes the next.
async fn refused_once(kind: Kind) -> (TestApp, CreatedTenant, HttpSink) {
    let vigil = TestApp::start_with(kind, &[("VIGIL_RETRY_SCHEDULE", "1s")]).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    sink.script(
        "/hook",
        vec![SinkResponse::status(400).with_body("no such hook")],
    );
    let body = json!({"name": "default", "kind": "webhook", "url": sink.url("/hook"),
        "secret": vigil_core::tenancy::secrets::new_webhook_secret()});
    let (status, _) = vigil
        .send_json("POST", "/api/v1/channels", &tenant.api_key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (vigil, tenant, sink)
}

async fn a_failed_delivery_shows_its_last_error_and_retry_sends_it_again(kind: Kind) {
    // GIVEN a default webhook channel whose receiver refuses the first message for good (400)
    let (vigil, tenant, sink) = refused_once(kind).await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;

    // WHEN an alert is sent from the alert settings' test button and the dispatcher runs
    let (status, headers, _) = admin
        .post("/settings/alerts", "/settings/alerts/test", &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let at = headers["location"].to_str().unwrap().to_owned();
    assert!(at.starts_with("/deliveries/ntf"), "{at}");
    vigil
        .dispatch_until_settled(&tenant.tenant_id, Duration::from_secs(30))
        .await;

    // THEN the deliveries list it as failed, and its page shows the channel's last error
    let (status, list) = admin.get("/deliveries?status=failed").await;
    assert_eq!(status, StatusCode::OK);
    let id = at.trim_start_matches("/deliveries/");
    assert!(list.contains(&format!(r#"<tr data-id="{id}">"#)), "{list}");
    let (_, page) = admin.get(&at).await;
    assert!(page.contains(r#"<tr data-channel="default">"#), "{page}");
    assert!(page.contains("400"), "{page}");
    assert!(page.contains("Retry failed channels"), "{page}");
    // AND a filter the API does not know is a 400 page
    let (status, _) = admin.get("/deliveries?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // WHEN "Retry" is pressed and the dispatcher runs again
    let (status, headers, _) = admin.post(&at, &format!("{at}/retry"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], at.as_str());
    vigil
        .dispatch_until_settled(&tenant.tenant_id, Duration::from_secs(30))
        .await;

    // THEN the receiver got it a second time and the notification is sent
    assert_eq!(sink.requests("/hook").len(), 2);
    let (_, page) = admin.get(&at).await;
    assert!(page.contains(r#"<dd class="status">sent</dd>"#), "{page}");
    assert!(!page.contains("Retry failed channels"));
}

async fn a_dead_letter_is_listed_and_queued_again_from_its_page(kind: Kind) {
    // GIVEN a notification whose only channel refused it for good (400)
    let (vigil, tenant, sink) = refused_once(kind).await;
    let alert = json!({"severity": "SEV3", "title": "Queue depth"});
    let (_, notification) = vigil
        .send_json("POST", "/api/v1/events/test", &tenant.api_key, &alert)
        .await;
    let id = notification["id"].as_str().unwrap();
    vigil
        .dispatch_until_settled(&tenant.tenant_id, Duration::from_secs(30))
        .await;

    // WHEN an admin opens the dead letters THEN it is there with the channel that gave up
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let letters = "/deliveries/dead-letters";
    let (status, page) = admin.get(letters).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!(r#"<tr data-id="{id}">"#)), "{page}");
    assert!(
        page.contains(r#"data-label="Channels">default</td>"#),
        "{page}"
    );

    // WHEN it is queued again and the dispatcher runs
    let (status, _, _) = admin
        .post(letters, "/deliveries/dead-letters/requeue", &[("id", id)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    vigil
        .dispatch_until_settled(&tenant.tenant_id, Duration::from_secs(30))
        .await;

    // THEN the receiver got it, and no dead letter is left
    assert_eq!(sink.requests("/hook").len(), 2);
    let (_, page) = admin.get(letters).await;
    assert!(page.contains(r#"<p class="empty">"#), "{page}");
}
