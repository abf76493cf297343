//! The console's settings and deliveries over HTTP, as a browser posts them: a webhook channel
//! added, tested against a real sink and deleted, its secret never on a page; an API key created
//! (its secret shown once, working against the API) and revoked; viewers and operators refused
//! every admin change (deliveries: `console_deliveries.rs`; routing, redaction and revenue rules:
//! `console_rules.rs`).

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;
use vigil_contract::sinks::HttpSink;
use vigil_core::tenancy::Role;

use crate::both;
use crate::console::{FORM, csrf_of, sign_in};
use crate::harness::{Kind, TestApp};

both!(
    an_admin_adds_tests_and_deletes_a_webhook_channel_whose_secrets_never_show,
    a_key_created_in_the_console_is_shown_once_works_and_stops_when_revoked,
    viewers_and_operators_are_refused_every_settings_change,
    alert_settings_are_saved_and_a_bad_number_is_shown_at_its_field,
    ingest_urls_follow_the_public_url_and_stripes_secret_is_write_only,
    a_webhook_added_without_a_secret_gets_one_shown_once,
    a_channel_is_turned_off_and_on_again
);

/// A form body, each value encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The secret a page shows once, in its read-only input `id`.
fn shown_once(page: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}" type="text" value=""#);
    let start = page.find(&marker).expect("the secret on the page") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// A signed-in visitor of the console.
pub(crate) struct Visitor<'a> {
    vigil: &'a TestApp,
    cookie: String,
}

impl<'a> Visitor<'a> {
    pub(crate) async fn sign_in(vigil: &'a TestApp, api_key: &str) -> Self {
        let cookie = sign_in(vigil, api_key).await;
        Self { vigil, cookie }
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
        let (status, _, page) = self
            .vigil
            .page("GET", path, &[("cookie", &self.cookie)], Body::empty())
            .await;
        (status, page)
    }

    /// Posts `pairs` with the CSRF token of the page at `from`.
    pub(crate) async fn post(
        &self,
        from: &str,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let (_, page) = self.get(from).await;
        let csrf = csrf_of(&page);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.vigil
            .page("POST", path, &[FORM, ("cookie", &self.cookie)], form(&all))
            .await
    }
}

async fn an_admin_adds_tests_and_deletes_a_webhook_channel_whose_secrets_never_show(kind: Kind) {
    // GIVEN an admin signed in, and a receiver on loopback (allowed by the tests' egress list)
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let sink = HttpSink::start().await;
    let url = sink.url("/console-hook");
    let secret = vigil_core::tenancy::secrets::new_webhook_secret();

    // WHEN a webhook channel is added with a secret that is too short
    let mut channel = vec![
        ("kind", "webhook"),
        ("name", "ops"),
        ("url", url.as_str()),
        ("enabled", "on"),
        ("secret", "whsec_short"),
    ];
    let channels_page = "/settings/channels";
    let (status, _, page) = admin.post(channels_page, channels_page, &channel).await;
    // THEN the form comes back with the problem at the secret, the other values kept
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains(r#"id="secret-error""#), "{page}");
    assert!(
        !page.contains("whsec_short"),
        "a secret is never shown back"
    );
    assert!(page.contains(r#"aria-invalid="true""#), "{page}");
    assert!(page.contains(r#"value="ops""#), "{page}");

    // WHEN it is added with its secret
    channel.pop();
    channel.push(("secret", &secret));
    let (status, headers, _) = admin.post(channels_page, channels_page, &channel).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/settings/channels");
    // THEN it is listed with its host and "set" for its secret, never the secret or the URL
    let (_, list) = admin.get("/settings/channels").await;
    let (_, channels) = vigil.get("/api/v1/channels", &tenant.api_key).await;
    let id = channels["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(list.contains(&format!(r#"<tr data-id="{id}">"#)), "{list}");
    assert!(
        list.contains(r#"data-label="Signing secret">set</td>"#),
        "{list}"
    );

    // WHEN "Send test" is pressed THEN the sink receives the test alert and the page says so
    let (status, _, result) = admin
        .post(
            "/settings/channels",
            &format!("/settings/channels/{id}/test"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert!(result.contains("Delivered"), "{result}");
    let received = sink.requests("/console-hook");
    assert_eq!(received.len(), 1);
    assert!(String::from_utf8_lossy(&received[0].body).contains("Test alert for channel ops"));

    // AND no page shows the secret or the channel's full URL
    let key = secret.trim_start_matches("whsec_");
    for page in [&list, &result] {
        assert!(!page.contains(key) && !page.contains("/console-hook"));
    }
    for path in [
        "/settings",
        "/settings/alerts",
        "/settings/ingest",
        "/deliveries",
    ] {
        let (status, page) = admin.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            !page.contains(key) && !page.contains("/console-hook"),
            "{path}"
        );
    }

    // WHEN it is deleted, through its confirmation page
    let confirm_path = format!("/settings/channels/{id}/delete");
    let (status, confirm) = admin.get(&confirm_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Delete the channel ops?"), "{confirm}");
    let (status, _, _) = admin.post(&confirm_path, &confirm_path, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // THEN it is gone
    let (_, channels) = vigil.get("/api/v1/channels", &tenant.api_key).await;
    assert_eq!(channels["items"], json!([]));
}

async fn a_key_created_in_the_console_is_shown_once_works_and_stops_when_revoked(kind: Kind) {
    // GIVEN an admin signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;

    // WHEN an operator key is created
    let (status, headers, page) = admin
        .post("/settings/keys", "/settings/keys", &[("role", "operator")])
        .await;
    // THEN its secret is on the answer, which no cache keeps
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert_eq!(headers["cache-control"], "no-store");
    let secret = shown_once(&page, "new-key");
    assert!(secret.starts_with("vgl_ak_"), "{secret}");
    // AND it works against the API with its role
    let (status, _) = vigil.get("/api/v1/inbox", &secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = vigil.get("/api/v1/keys", &secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator lists no keys");
    // AND the key list shows it without its secret
    let (_, keys) = vigil.get("/api/v1/keys", &tenant.api_key).await;
    let id = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "operator")
        .expect("the new key")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, list) = admin.get("/settings/keys").await;
    assert!(list.contains(&format!(r#"<tr data-id="{id}">"#)), "{list}");
    assert!(!list.contains(&secret));

    // WHEN it is revoked through its confirmation page
    let revoke = format!("/settings/keys/{id}/revoke");
    let (status, confirm) = admin.get(&revoke).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Revoke key"), "{confirm}");
    let (status, _, _) = admin.post(&revoke, &revoke, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // THEN it no longer works
    let (status, _) = vigil.get("/api/v1/inbox", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn viewers_and_operators_are_refused_every_settings_change(kind: Kind) {
    // GIVEN a tenant with a channel, and a viewer and an operator signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = HttpSink::start().await;
    let body = json!({"name": "ops", "kind": "slack", "url": sink.url("/slack")});
    let (status, channel) = vigil
        .send_json("POST", "/api/v1/channels", &tenant.api_key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let id = channel["id"].as_str().unwrap();
    for role in [Role::Viewer, Role::Operator] {
        let key = vigil.key_with_role(&tenant.tenant_id, role).await;
        let visitor = Visitor::sign_in(&vigil, &key).await;

        // WHEN they open the channels and alert settings THEN they read them without controls
        let (status, page) = visitor.get("/settings/channels").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<strong>ops</strong>"), "{page}");
        for control in ["Add channel", "Send test", "Delete", "Disable"] {
            assert!(!page.contains(control), "{control} shown to {role:?}");
        }
        let (_, page) = visitor.get("/settings/alerts").await;
        assert!(!page.contains("Save alert settings") && !page.contains("Send test alert"));
        // AND the keys and revenue rules, as in the API, are not theirs to see
        for path in ["/settings/keys", "/settings/rules"] {
            let (status, _) = visitor.get(path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }

        // WHEN they forge each admin post, with their own session's valid token
        let (test, delete) = (
            format!("/settings/channels/{id}/test"),
            format!("/settings/channels/{id}/delete"),
        );
        let switch = format!("/settings/channels/{id}/enabled");
        let posts: [(&str, &[(&str, &str)]); 13] = [
            (
                "/settings/channels",
                &[
                    ("kind", "slack"),
                    ("name", "x"),
                    ("url", "https://example.com/x"),
                ],
            ),
            (&test, &[]),
            (&delete, &[]),
            (&switch, &[("enabled", "false")]),
            ("/settings/keys", &[("role", "admin")]),
            (
                "/settings/alerts",
                &[("failure_threshold", "9"), ("time_window_hours", "9")],
            ),
            ("/settings/alerts/test", &[]),
            (
                "/settings/routing",
                &[("min_severity", "SEV4"), ("channels", "inbox")],
            ),
            ("/settings/redaction", &[]),
            ("/settings/stripe", &[("stripe_secret", "whsec_forged1")]),
            ("/deliveries/ntf_any/retry", &[]),
            ("/deliveries/dead-letters/requeue", &[("all", "yes")]),
            (
                "/settings/rules/payment_failure_spike",
                &[
                    ("severity", "SEV4"),
                    ("window_minutes", "60"),
                    ("threshold", "9"),
                ],
            ),
        ];
        for (path, pairs) in posts {
            let (status, _, _) = visitor.post("/settings/channels", path, pairs).await;
            // THEN each is refused
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} by {role:?}");
        }
    }
    // AND nothing changed: one channel, untested; two keys of the tenant plus the admin's
    let (_, channels) = vigil.get("/api/v1/channels", &tenant.api_key).await;
    assert_eq!(channels["items"].as_array().unwrap().len(), 1);
    assert_eq!(channels["items"][0]["enabled"], true);
    assert!(sink.requests("/slack").is_empty());
    let (_, keys) = vigil.get("/api/v1/keys", &tenant.api_key).await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 3);
    let (_, settings) = vigil.get("/api/v1/alert-settings", &tenant.api_key).await;
    assert_eq!(settings["failure_threshold"], 3);
}

async fn alert_settings_are_saved_and_a_bad_number_is_shown_at_its_field(kind: Kind) {
    // GIVEN an admin signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;

    // WHEN a window the domain refuses is saved
    let (status, _, page) = admin
        .post(
            "/settings/alerts",
            "/settings/alerts",
            &[
                ("enabled", "on"),
                ("failure_threshold", "5"),
                ("time_window_hours", "9999"),
            ],
        )
        .await;
    // THEN the page comes back with the problem at that field and the values kept
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains(r#"id="time_window_hours-error""#), "{page}");
    assert!(page.contains(r#"value="9999""#) && page.contains(r#"value="5""#));

    // WHEN good values are saved THEN the API reads them back
    let (status, _, _) = admin
        .post(
            "/settings/alerts",
            "/settings/alerts",
            &[
                ("enabled", "on"),
                ("failure_threshold", "5"),
                ("time_window_hours", "12"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, settings) = vigil.get("/api/v1/alert-settings", &tenant.api_key).await;
    assert_eq!(settings["failure_threshold"], 5);
    assert_eq!(settings["time_window_hours"], 12);
    assert_eq!(settings["alert_on_critical"], false);
}

async fn ingest_urls_follow_the_public_url_and_stripes_secret_is_write_only(kind: Kind) {
    // GIVEN a Vigil reached at a public URL, and its admin on the ingest page
    let public = [("VIGIL_PUBLIC_URL", "https://vigil.example.com")];
    let vigil = TestApp::start_with(kind, &public).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let ingest = "/settings/ingest";
    let (_, page) = admin.get(ingest).await;
    // THEN each hook is under the public URL, and Stripe's secret is not set
    for hook in ["events", "runs", "stripe"] {
        let url = format!(
            "https://vigil.example.com/hooks/{}/{hook}",
            tenant.tenant_id
        );
        assert!(
            page.contains(&format!(r#"value="{url}""#)),
            "{hook}: {page}"
        );
    }
    assert!(
        page.contains(r#"<strong class="status">not set</strong>"#),
        "{page}"
    );

    // WHEN a secret that is not Stripe's is saved THEN the page says why
    let (status, _, page) = admin
        .post(
            ingest,
            "/settings/stripe",
            &[("stripe_secret", "sk_live_oops")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains(r#"role="alert""#) && !page.contains("sk_live_oops"));

    // WHEN Stripe's secret is saved THEN it is set, never shown, and the API agrees
    let secret = "whsec_console_secret_1";
    let (status, _, _) = admin
        .post(ingest, "/settings/stripe", &[("stripe_secret", secret)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = admin.get(ingest).await;
    assert!(
        page.contains(r#"<strong class="status">set</strong>"#),
        "{page}"
    );
    assert!(!page.contains(secret));
    let (_, view) = vigil.get("/api/v1/tenant", &tenant.api_key).await;
    assert_eq!(view["stripe_configured"], true);
}

async fn a_webhook_added_without_a_secret_gets_one_shown_once(kind: Kind) {
    // GIVEN an admin and a receiver
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let sink = HttpSink::start().await;
    let url = sink.url("/made");

    // WHEN a webhook channel is added with no secret
    let channels = "/settings/channels";
    let form = [
        ("kind", "webhook"),
        ("name", "made"),
        ("url", url.as_str()),
        ("enabled", "on"),
    ];
    let (status, headers, page) = admin.post(channels, channels, &form).await;

    // THEN the answer shows the secret Vigil made, once, and no cache keeps it
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert_eq!(headers["cache-control"], "no-store");
    let secret = shown_once(&page, "new-secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    // AND the channel signs with it: a test send verifies with that secret
    let (_, list) = vigil.get("/api/v1/channels", &tenant.api_key).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, _, result) = admin
        .post(channels, &format!("{channels}/{id}/test"), &[])
        .await;
    assert!(result.contains("Delivered"), "{result}");
    let received = sink.requests("/made");
    vigil_contract::sinks::verify_with_standardwebhooks(
        &secret,
        &received[0].headers,
        &received[0].body,
    )
    .expect("signed with the secret shown");
    // AND the channels page never shows it again
    let (_, page) = admin.get(channels).await;
    assert!(!page.contains(&secret[6..]));
}

async fn a_channel_is_turned_off_and_on_again(kind: Kind) {
    // GIVEN an admin and an enabled Slack channel
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let body =
        json!({"name": "ops", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/x"});
    let (_, channel) = vigil
        .send_json("POST", "/api/v1/channels", &tenant.api_key, &body)
        .await;
    let id = channel["id"].as_str().unwrap();
    let admin = Visitor::sign_in(&vigil, &tenant.api_key).await;
    let channels = "/settings/channels";
    for (sent, shown) in [("false", "disabled"), ("true", "enabled")] {
        // WHEN "Disable" (then "Enable") is pressed
        let (status, _, _) = admin
            .post(
                channels,
                &format!("{channels}/{id}/enabled"),
                &[("enabled", sent)],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        // THEN the API and the page agree
        let (_, saved) = vigil
            .get(&format!("/api/v1/channels/{id}"), &tenant.api_key)
            .await;
        assert_eq!(saved["enabled"], sent == "true", "{saved}");
        let (_, page) = admin.get(channels).await;
        assert!(
            page.contains(&format!(r#"data-label="State">{shown}</td>"#)),
            "{page}"
        );
    }
}
