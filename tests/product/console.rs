//! The console over HTTP, as a browser uses it (the browser suite drives the same pages in
//! Chromium): sign-in with an API key into a session cookie, the inbox worked with form posts
//! that carry the session's CSRF token, a viewer refused, sign-out ending the session.

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;
use vigil_core::tenancy::Role;

use crate::both;
use crate::harness::{Kind, TestApp, pinned_clock};

both!(
    a_person_signs_in_works_the_inbox_and_signs_out,
    a_viewer_sees_no_controls_and_forged_posts_change_nothing,
    a_session_ends_when_left_idle_or_when_its_key_is_revoked,
    an_operator_acknowledges_an_anomaly_with_a_note,
    open_in_vigil_leads_to_the_console_page_of_the_item,
    an_approval_is_decided_from_the_queue,
    another_tenants_items_are_not_found_and_bad_filters_are_refused
);

pub(crate) const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A tenant's inbox item, made by a test alert the dispatcher delivered.
pub(crate) async fn inbox_item(vigil: &TestApp, tenant_id: &str, api_key: &str) -> String {
    let body = json!({"severity": "SEV2", "title": "Disk almost full"});
    let (status, _) = vigil
        .send_json("POST", "/api/v1/events/test", api_key, &body)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    vigil
        .dispatch_until_settled(tenant_id, Duration::from_secs(30))
        .await;
    let (_, inbox) = vigil.get("/api/v1/inbox", api_key).await;
    inbox["items"][0]["id"]
        .as_str()
        .expect("an inbox item")
        .to_owned()
}

async fn item_status(vigil: &TestApp, api_key: &str, id: &str) -> String {
    let (_, item) = vigil.get(&format!("/api/v1/inbox/{id}"), api_key).await;
    item["status"].as_str().unwrap_or_default().to_owned()
}

/// Signs in with `api_key`; the `Cookie` header value of the session.
pub(crate) async fn sign_in(vigil: &TestApp, api_key: &str) -> String {
    let (status, headers, _) = vigil
        .page(
            "POST",
            "/sign-in",
            &[FORM],
            format!("api_key={api_key}&next=%2Finbox"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/inbox");
    let set = headers["set-cookie"].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

/// The CSRF token a page carries for its forms.
pub(crate) fn csrf_of(page: &str) -> String {
    let marker = r#"<meta name="csrf-token" content=""#;
    let start = page.find(marker).expect("a csrf meta tag") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

async fn a_person_signs_in_works_the_inbox_and_signs_out(kind: Kind) {
    // GIVEN a tenant with one open inbox item
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let item = inbox_item(&vigil, &tenant.tenant_id, &tenant.api_key).await;

    // WHEN someone signed out opens the console THEN they are sent to sign in, and back after
    let (status, headers, _) = vigil
        .page("GET", "/inbox?status=open", &[], Body::empty())
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers["location"],
        "/sign-in?next=%2Finbox%3Fstatus%3Dopen"
    );
    let (status, headers, page) = vigil.page("GET", "/sign-in", &[], Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<label for="api_key">API key</label>"#),
        "{page}"
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"));

    // AND a wrong key is refused on the sign-in page, and no other site is a place to go next
    let (status, _, page) = vigil
        .page("POST", "/sign-in", &[FORM], "api_key=vgl_ak_wrong&next=%2F")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains(r#"role="alert""#), "{page}");
    let body = format!(
        "api_key={}&next=%2F%2Fevil.example%2F",
        tenant.api_key.expose()
    );
    let (_, headers, _) = vigil.page("POST", "/sign-in", &[FORM], body).await;
    assert_eq!(headers["location"], "/");

    // WHEN the admin signs in THEN the inbox shows the item with its actions
    let cookie = sign_in(&vigil, &tenant.api_key).await;
    let (status, _, page) = vigil
        .page("GET", "/inbox", &[("cookie", &cookie)], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!(r#"<tr data-id="{item}">"#)),
        "{page}"
    );
    assert!(page.contains("Disk almost full") && page.contains(">Resolve</button>"));
    let csrf = csrf_of(&page);

    // AND a post without the page's token changes nothing
    let path = format!("/inbox/{item}/resolve");
    let (status, _, _) = vigil
        .page("POST", &path, &[FORM, ("cookie", &cookie)], "csrf=forged")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(item_status(&vigil, &tenant.api_key, &item).await, "open");

    // WHEN "Resolve" is pressed THEN the item is resolved and the page says so
    let (status, headers, _) = vigil
        .page(
            "POST",
            &path,
            &[FORM, ("cookie", &cookie)],
            format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/inbox");
    assert_eq!(
        item_status(&vigil, &tenant.api_key, &item).await,
        "resolved"
    );
    let (_, _, page) = vigil
        .page("GET", "/inbox", &[("cookie", &cookie)], Body::empty())
        .await;
    assert!(
        page.contains(r#"<td class="status">resolved</td>"#),
        "{page}"
    );
    assert!(!page.contains(">Resolve</button>"));
    let (status, _, page) = vigil
        .page("GET", "/", &[("cookie", &cookie)], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Overview</h1>"));

    // WHEN they sign out THEN the session is gone, whatever the browser still holds
    let (status, headers, _) = vigil
        .page(
            "POST",
            "/sign-out",
            &[FORM, ("cookie", &cookie)],
            format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, headers, _) = vigil
        .page("GET", "/inbox", &[("cookie", &cookie)], Body::empty())
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
}

async fn a_viewer_sees_no_controls_and_forged_posts_change_nothing(kind: Kind) {
    // GIVEN a tenant with an open inbox item, and a viewer signed in to the console
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let item = inbox_item(&vigil, &tenant.tenant_id, &tenant.api_key).await;
    let viewer = vigil.key_with_role(&tenant.tenant_id, Role::Viewer).await;
    let cookie = sign_in(&vigil, &viewer).await;

    // WHEN the viewer opens the inbox THEN they see the item and nothing that would change it
    let (_, _, page) = vigil
        .page("GET", "/inbox", &[("cookie", &cookie)], Body::empty())
        .await;
    assert!(page.contains("Disk almost full"), "{page}");
    for control in [
        ">Acknowledge</button>",
        ">Resolve</button>",
        ">Dismiss</button>",
    ] {
        assert!(!page.contains(control), "{control} shown to a viewer");
    }

    // AND a post made by hand, with the session's own token, is refused and changes nothing
    let path = format!("/inbox/{item}/resolve");
    let body = format!("csrf={}", csrf_of(&page));
    let (status, _, _) = vigil
        .page("POST", &path, &[FORM, ("cookie", &cookie)], body)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(item_status(&vigil, &tenant.api_key, &item).await, "open");
}

async fn a_session_ends_when_left_idle_or_when_its_key_is_revoked(kind: Kind) {
    // GIVEN a signed-in admin on a clock the test moves
    let clock = pinned_clock();
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil.tenant("Acme").await;
    let inbox = |cookie: String| {
        let vigil = &vigil;
        async move {
            let (status, _, _) = vigil
                .page("GET", "/inbox", &[("cookie", &cookie)], Body::empty())
                .await;
            status
        }
    };
    let cookie = sign_in(&vigil, &tenant.api_key).await;

    // WHEN it is used every 20 minutes THEN it stays open (each use restarts the idle time)
    for _ in 0..4 {
        clock.advance(chrono::Duration::minutes(20));
        assert_eq!(inbox(cookie.clone()).await, StatusCode::OK);
    }
    // WHEN it is left alone past 30 minutes THEN it has ended
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(inbox(cookie).await, StatusCode::SEE_OTHER);

    // WHEN the key of a live session is revoked THEN the session ends with it
    let (_, created) = vigil
        .send_json(
            "POST",
            "/api/v1/keys",
            &tenant.api_key,
            &json!({"role": "operator"}),
        )
        .await;
    let operator = created["api_key"].as_str().unwrap().to_owned();
    let cookie = sign_in(&vigil, &operator).await;
    assert_eq!(inbox(cookie.clone()).await, StatusCode::OK);
    let path = format!("/api/v1/keys/{}", created["id"].as_str().unwrap());
    let auth = format!("Bearer {}", tenant.api_key.expose());
    let (status, _) = vigil
        .call("DELETE", &path, &[("authorization", &auth)], Body::empty())
        .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(inbox(cookie).await, StatusCode::SEE_OTHER);
}

async fn an_operator_acknowledges_an_anomaly_with_a_note(kind: Kind) {
    // GIVEN a tenant with a demo anomaly, and an operator signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let now = vigil.now();
    let finding = vigil_core::anomaly::Finding {
        rule: "payment_failures".into(),
        severity: vigil_core::severity::Severity::Sev2,
        title: "Payment failures above 5 in an hour".into(),
        subject: "account".into(),
        occurrence: None,
        window_start: now - chrono::Duration::hours(1),
        window_end: now,
        evidence: json!({"failures": 7}),
        demo: true,
    };
    let (anomaly, _) = vigil
        .app
        .anomalies()
        .open(&tenant.tenant_id, finding)
        .await
        .unwrap();
    let operator = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let cookie = sign_in(&vigil, &operator).await;

    // WHEN the operator lists demo anomalies THEN it is there, linked to its page
    let (status, _, page) = vigil
        .page(
            "GET",
            "/anomalies?demo_only=true",
            &[("cookie", &cookie)],
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!(r#"<a href="/anomalies/{}">"#, anomaly.id)),
        "{page}"
    );
    // AND filtered by its rule it is there, by another rule it is not
    for (rule, listed) in [("payment_failures", true), ("refund_spike", false)] {
        let (_, _, page) = vigil
            .page(
                "GET",
                &format!("/anomalies?rule={rule}"),
                &[("cookie", &cookie)],
                Body::empty(),
            )
            .await;
        assert_eq!(page.contains(&anomaly.id), listed, "rule {rule}: {page}");
        assert!(page.contains(&format!(
            r#"name="rule" type="text" maxlength="200" value="{rule}""#
        )));
    }

    // AND its page shows the evidence and the moves an operator may make
    let path = format!("/anomalies/{}", anomaly.id);
    let (_, _, page) = vigil
        .page("GET", &path, &[("cookie", &cookie)], Body::empty())
        .await;
    // (the evidence is shown as JSON, escaped as HTML)
    assert!(page.contains("&#34;failures&#34;: 7"), "{page}");
    assert!(
        page.contains(r#"value="acknowledged">Acknowledge</button>"#),
        "{page}"
    );

    // WHEN they acknowledge it with a note THEN the anomaly and its history say so
    let body = format!(
        "csrf={}&status=acknowledged&note=Looking+into+it",
        csrf_of(&page)
    );
    let (status, headers, _) = vigil
        .page("POST", &path, &[FORM, ("cookie", &cookie)], body)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], path.as_str());
    let (_, stored) = vigil
        .get(
            &format!("/api/v1/anomalies/{}", anomaly.id),
            &tenant.api_key,
        )
        .await;
    assert_eq!(stored["status"], "acknowledged");
    assert_eq!(stored["history"][0]["note"], "Looking into it");
    let (_, _, page) = vigil
        .page("GET", &path, &[("cookie", &cookie)], Body::empty())
        .await;
    assert!(page.contains("Looking into it") && page.contains(">Resolve</button>"));
}

async fn open_in_vigil_leads_to_the_console_page_of_the_item(kind: Kind) {
    // GIVEN Vigil served at a public https address, and a tenant alerting to Slack
    let public = "https://vigil.example.com";
    let vigil = TestApp::start_with(kind, &[("VIGIL_PUBLIC_URL", public)]).await;
    let tenant = vigil.tenant("Acme").await;
    let sink = vigil_contract::sinks::HttpSink::start().await;
    let body = json!({"name": "default", "kind": "slack", "url": sink.url("/slack")});
    let (status, channel) = vigil
        .send_json("POST", "/api/v1/channels", &tenant.api_key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");

    // WHEN an alert goes out
    let item = inbox_item(&vigil, &tenant.tenant_id, &tenant.api_key).await;

    // THEN its "Open in Vigil" button leads to the item's console page
    let slack = sink.requests("/slack");
    let message: serde_json::Value = serde_json::from_slice(&slack[0].body).unwrap();
    let page = format!("/inbox/{item}");
    let button = message.to_string();
    assert!(button.contains(&format!("\"{public}{page}\"")), "{button}");

    // AND a signed-out visitor of it signs in and lands there, with a cookie only sent over https
    let (status, headers, _) = vigil.page("GET", &page, &[], Body::empty()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let sign_in_page = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(sign_in_page, format!("/sign-in?next=%2Finbox%2F{item}"));
    let next = sign_in_page.split("next=").nth(1).unwrap();
    let body = format!("api_key={}&next={next}", tenant.api_key.expose());
    let (status, headers, _) = vigil.page("POST", "/sign-in", &[FORM], body).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], page.as_str());
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap();
    let (status, _, html) = vigil
        .page("GET", &page, &[("cookie", cookie)], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Disk almost full") && html.contains(">Resolve</button>"),
        "{html}"
    );
}

async fn an_approval_is_decided_from_the_queue(kind: Kind) {
    // GIVEN two runs of a workflow waiting for approval, and an operator and a viewer signed in
    let vigil = TestApp::start(kind).await;
    let tenant = vigil.tenant("Acme").await;
    let body = json!({"name": "Gated", "triggers": [{"type": "message_received"}],
        "steps": [{"type": "approval", "timeout_minutes": 60},
                  {"type": "create_task", "title": "Call {{client.id}}"}]});
    let (status, flow) = vigil
        .send_json("POST", "/api/v1/workflows", &tenant.api_key, &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");
    for (id, client) in [("m1", "c1"), ("m2", "c2")] {
        let event = json!({"id": id, "type": "message.received",
            "occurred_at": vigil.now().to_rfc3339(), "subject": {"client_id": client},
            "data": {"text": "hello"}});
        crate::workflows::post_event(&vigil, &tenant, event).await;
    }
    crate::workflows::drain_workflow_queue(&vigil).await;
    let (_, pending) = vigil.get("/api/v1/approvals", &tenant.api_key).await;
    let runs: Vec<String> = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["run_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(runs.len(), 2, "{pending}");
    let operator = vigil.key_with_role(&tenant.tenant_id, Role::Operator).await;
    let cookie = sign_in(&vigil, &operator).await;
    let viewer = vigil.key_with_role(&tenant.tenant_id, Role::Viewer).await;
    let viewer_cookie = sign_in(&vigil, &viewer).await;

    // WHEN the operator opens the queue THEN both wait there, each with its decisions
    let (status, _, page) = vigil
        .page("GET", "/approvals", &[("cookie", &cookie)], Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    for run in &runs {
        assert!(page.contains(&format!(r#"data-run="{run}""#)), "{page}");
    }
    assert!(page.contains(">Approve</button>") && page.contains(">Reject</button>"));
    // (each card names its workflow, linked to the workflow's page)
    let workflow_id = flow["id"].as_str().unwrap_or_default();
    assert!(
        page.contains(&format!(r#"<a href="/workflows/{workflow_id}">Gated</a>"#)),
        "{page}"
    );
    let csrf = csrf_of(&page);
    let (_, _, viewer_page) = vigil
        .page(
            "GET",
            "/approvals",
            &[("cookie", &viewer_cookie)],
            Body::empty(),
        )
        .await;
    assert!(!viewer_page.contains(">Approve</button>"), "{viewer_page}");

    // WHEN one is approved and the other rejected without a reason, then with one
    let post = |path: String, body: String| {
        let (vigil, cookie) = (&vigil, cookie.clone());
        async move {
            let (status, _, _) = vigil
                .page("POST", &path, &[FORM, ("cookie", &cookie)], body)
                .await;
            status
        }
    };
    let approve = format!("/approvals/{}/approve", runs[0]);
    assert_eq!(
        post(approve, format!("csrf={csrf}")).await,
        StatusCode::SEE_OTHER
    );
    let reject = format!("/approvals/{}/reject", runs[1]);
    let refused = post(reject.clone(), format!("csrf={csrf}&reason=")).await;
    assert_eq!(refused, StatusCode::BAD_REQUEST);
    let rejected = post(reject, format!("csrf={csrf}&reason=Not+this+client")).await;
    assert_eq!(rejected, StatusCode::SEE_OTHER);

    // THEN the first run goes on to its task, the second ends rejected, and the queue is empty
    crate::workflows::drain_workflow_queue(&vigil).await;
    let (_, run) = vigil
        .get(
            &format!("/api/v1/workflows/runs/{}", runs[0]),
            &tenant.api_key,
        )
        .await;
    assert_eq!(run["status"], "completed", "{run}");
    let (_, run) = vigil
        .get(
            &format!("/api/v1/workflows/runs/{}", runs[1]),
            &tenant.api_key,
        )
        .await;
    assert_eq!(run["status"], "rejected", "{run}");
    let (_, _, page) = vigil
        .page("GET", "/approvals", &[("cookie", &cookie)], Body::empty())
        .await;
    assert!(page.contains("Nothing waits for a decision"), "{page}");
}

async fn another_tenants_items_are_not_found_and_bad_filters_are_refused(kind: Kind) {
    // GIVEN two tenants, one with an inbox item, and the other's admin signed in
    let vigil = TestApp::start(kind).await;
    let owner = vigil.tenant("Acme").await;
    let item = inbox_item(&vigil, &owner.tenant_id, &owner.api_key).await;
    let other = vigil.tenant("Other").await;
    let cookie = sign_in(&vigil, &other.api_key).await;

    // WHEN they open or act on the first tenant's item THEN it is not found and nothing changes
    let (status, _, _) = vigil
        .page(
            "GET",
            &format!("/inbox/{item}"),
            &[("cookie", &cookie)],
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, own_inbox) = vigil
        .page("GET", "/inbox", &[("cookie", &cookie)], Body::empty())
        .await;
    assert!(
        own_inbox.contains("<h1>Inbox</h1>") && !own_inbox.contains("Disk almost full"),
        "{own_inbox}"
    );
    let body = format!("csrf={}", csrf_of(&own_inbox));
    let (status, _, _) = vigil
        .page(
            "POST",
            &format!("/inbox/{item}/resolve"),
            &[FORM, ("cookie", &cookie)],
            body,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(item_status(&vigil, &owner.api_key, &item).await, "open");

    // AND the owner's inbox filtered by type holds the test alert under its type only
    let owner_cookie = sign_in(&vigil, &owner.api_key).await;
    for (kind, listed) in [("test.alert", true), ("anomaly.opened", false)] {
        let (status, _, page) = vigil
            .page(
                "GET",
                &format!("/inbox?type={kind}"),
                &[("cookie", &owner_cookie)],
                Body::empty(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page.contains(&item), listed, "type {kind}: {page}");
        assert!(page.contains(&format!(r#"<option value="{kind}" selected>"#)));
    }

    // AND a filter or page mark the lists do not know is a clear 400, not an empty list
    for path in [
        "/inbox?status=closed",
        "/inbox?type=anomaly.closed",
        "/anomalies?severity=SEV9",
        "/inbox?cursor=not-a-cursor",
    ] {
        let (status, _, page) = vigil
            .page("GET", path, &[("cookie", &cookie)], Body::empty())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.contains(r#"role="alert""#), "{path}: {page}");
    }
}
