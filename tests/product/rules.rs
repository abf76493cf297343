//! Revenue rules over Stripe events, anomalies with a lifecycle and the daily summary, on a
//! clock the tests move.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde_json::{Value, json};
use vigil_core::ManualClock;
use vigil_core::stripe::signature::sign;

use crate::both;
use crate::harness::{Kind, TestApp};

both!(
    failed_payments_open_one_anomaly_per_window_and_announce_it,
    missed_runs_and_late_events_are_caught_up,
    anomalies_move_through_their_lifecycle,
    rules_are_data_that_admins_change,
    rejected_webhooks_raise_an_integrity_anomaly,
    the_daily_summary_comes_from_aggregates_and_is_sent_once,
    one_outsized_charge_raises_an_amount_spike,
    ai_wording_is_used_when_it_behaves_and_never_blocks_the_summary,
    one_tenants_broken_data_does_not_stop_the_others_rules,
);

const SECRET: &str = "whsec_rules_endpoint_secret";

/// A pinned time aligned on the hour (windows are aligned to their length). 12 December: a
/// December day whose day and month are 12, a number a rewording may not invent.
fn hour() -> DateTime<Utc> {
    "2026-12-12T10:00:00Z".parse().unwrap()
}

struct Setup {
    vigil: TestApp,
    clock: Arc<ManualClock>,
    tenant: vigil_core::tenancy::tenants::CreatedTenant,
}

async fn setup(kind: Kind, at: DateTime<Utc>) -> Setup {
    let clock = Arc::new(ManualClock::new(at));
    let vigil = TestApp::start_with_clock(kind, &[], clock.clone()).await;
    let tenant = vigil
        .app
        .tenants()
        .create(
            "Acme",
            Some(SECRET),
            &vigil_core::tenancy::audit::Actor::Cli,
        )
        .await
        .unwrap();
    Setup {
        vigil,
        clock,
        tenant,
    }
}

impl Setup {
    /// Delivers a signed Stripe event created at `created`, as Stripe would at the clock's now.
    async fn stripe(&self, id: &str, kind: &str, created: DateTime<Utc>) {
        self.deliver(id, kind, created, 1000).await;
    }

    async fn stripe_amount(&self, id: &str, created: DateTime<Utc>, amount: i64) {
        self.deliver(id, "charge.succeeded", created, amount).await;
    }

    async fn deliver(&self, id: &str, kind: &str, created: DateTime<Utc>, amount: i64) {
        let body = json!({"id": id, "type": kind, "created": created.timestamp(),
                          "data": {"object": {"amount": amount}}})
        .to_string();
        let now = self.clock.now_for_tests();
        let signature = sign(SECRET, now.timestamp(), body.as_bytes());
        let (status, answer) = self
            .vigil
            .call(
                "POST",
                &format!("/hooks/{}/stripe", self.tenant.tenant_id),
                &[
                    ("stripe-signature", &signature),
                    ("content-type", "application/json"),
                ],
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    async fn run(&self) -> vigil_core::rules::EvaluationReport {
        let (report, failed) = vigil_rules::evaluate_all(
            &vigil_rules::Services::new(&self.vigil.app),
            self.clock.now_for_tests(),
        )
        .await
        .unwrap();
        assert_eq!(failed, [], "no tenant's rules failed");
        report
    }

    async fn anomalies(&self, query: &str) -> Vec<Value> {
        let (status, page) = self
            .vigil
            .get(&format!("/api/v1/anomalies{query}"), &self.tenant.api_key)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

trait NowForTests {
    fn now_for_tests(&self) -> DateTime<Utc>;
}

impl NowForTests for ManualClock {
    fn now_for_tests(&self) -> DateTime<Utc> {
        vigil_core::Clock::now(self)
    }
}

async fn failed_payments_open_one_anomaly_per_window_and_announce_it(kind: Kind) {
    // GIVEN three failed payments in one 30-minute window, in different 5-minute buckets
    let t = hour();
    let s = setup(kind, t + Duration::minutes(25)).await;
    for (i, minute) in [1, 11, 21].into_iter().enumerate() {
        s.stripe(
            &format!("evt_f{i}"),
            "charge.failed",
            t + Duration::minutes(minute),
        )
        .await;
    }

    // WHEN the rules run before the window is due, then after, then again
    let early = s.run().await;
    s.clock.set(t + Duration::minutes(36));
    let due = s.run().await;
    let again = s.run().await;

    // THEN one payment_failure_spike anomaly is opened, once, with its evidence
    assert_eq!(early.anomalies_opened, 0, "{early:?}");
    assert_eq!(due.anomalies_opened, 1, "{due:?}");
    assert_eq!(again.anomalies_opened, 0);
    let found = s.anomalies("?rule=payment_failure_spike").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let anomaly = &found[0];
    assert_eq!(anomaly["severity"], "SEV1");
    assert_eq!(anomaly["status"], "open");
    assert_eq!(anomaly["evidence"]["failed_payments"], 3);
    assert_eq!(
        anomaly["window_start"].as_str().unwrap(),
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    // (no two failures shared a 5-minute bucket, so rapid_payment_failures stayed quiet)
    assert!(s.anomalies("?rule=rapid_payment_failures").await.is_empty());

    // AND the opening was announced once through the outbox
    let (_, events) = s
        .vigil
        .get("/api/v1/events?type=anomaly.opened", &s.tenant.api_key)
        .await;
    let events = events["items"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["link_ref"],
        format!("anomaly:{}", anomaly["id"].as_str().unwrap())
    );

    // AND a run costs reads of buckets, not of events
    assert!(due.store_reads < 40, "{due:?}");
}

async fn missed_runs_and_late_events_are_caught_up(kind: Kind) {
    let t = hour();
    let s = setup(kind, t).await;
    s.run().await;
    // GIVEN two failures in the 5-minute bucket at t+60, delivered a little late (t+67),
    // and the runner down from t until t+3h
    s.clock.set(t + Duration::minutes(67));
    s.stripe(
        "evt_l1",
        "payment_intent.payment_failed",
        t + Duration::minutes(61),
    )
    .await;
    s.stripe("evt_l2", "charge.failed", t + Duration::minutes(63))
        .await;

    // WHEN the runner comes back
    s.clock.set(t + Duration::hours(3));
    let report = s.run().await;

    // THEN the missed windows were evaluated and the late events counted
    assert!(report.windows_evaluated >= 36, "{report:?}");
    let rapid = s.anomalies("?rule=rapid_payment_failures").await;
    assert_eq!(rapid.len(), 1, "{rapid:?}");
    assert_eq!(
        rapid[0]["window_start"].as_str().unwrap(),
        (t + Duration::minutes(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
}

async fn anomalies_move_through_their_lifecycle(kind: Kind) {
    let t = hour();
    let s = setup(kind, t).await;
    for i in 0..3 {
        s.stripe(
            &format!("evt_{i}"),
            "charge.failed",
            t + Duration::minutes(2),
        )
        .await;
    }
    s.clock.set(t + Duration::minutes(40));
    s.run().await;
    let id = s.anomalies("?rule=payment_failure_spike").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/anomalies/{id}");
    let patch = |status: &str| json!({"status": status, "note": format!("to {status}")});
    let key = s.tenant.api_key.clone();

    // WHEN it is acknowledged, resolved and reopened
    for next in ["acknowledged", "resolved", "open"] {
        let (status, body) = s.vigil.send_json("PATCH", &path, &key, &patch(next)).await;
        assert_eq!(status, StatusCode::OK, "{next}: {body}");
        assert_eq!(body["status"], next);
    }

    // THEN the history has each step with its actor, and each state its time
    let (_, anomaly) = s.vigil.get(&path, &key).await;
    let history = anomaly["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["from"], "open");
    assert_eq!(history[0]["to"], "acknowledged");
    assert_eq!(history[0]["actor"]["kind"], "api_key");
    assert_eq!(history[2]["note"], "to open");
    for field in ["acknowledged_at", "resolved_at", "reopened_at"] {
        assert!(anomaly[field].is_string(), "{field}: {anomaly}");
    }

    // AND no-op and illegal moves are 409 naming both states
    let (status, body) = s
        .vigil
        .send_json("PATCH", &path, &key, &patch("open"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("open to open"), "{message}");
    s.vigil
        .send_json("PATCH", &path, &key, &patch("resolved"))
        .await;
    let (status, body) = s
        .vigil
        .send_json("PATCH", &path, &key, &patch("acknowledged"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resolved to acknowledged")
    );

    // AND viewers cannot move it, bad input is 400, unknown ids 404
    let viewer = s.vigil.viewer_key(&s.tenant.tenant_id).await;
    let (status, _) = s
        .vigil
        .send_json("PATCH", &path, &viewer, &patch("open"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .vigil
        .send_json("PATCH", &path, &key, &json!({"status": "closed"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .vigil
        .get("/api/v1/anomalies/anm_00000000000000000000000000", &key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // AND resolving announced anomaly.resolved (twice resolved: two notices)
    let (_, events) = s
        .vigil
        .get("/api/v1/events?type=anomaly.resolved", &key)
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
    let sorted = s.anomalies("?sort=severity_desc&status=resolved").await;
    assert_eq!(sorted.len(), 1);
}

async fn rules_are_data_that_admins_change(kind: Kind) {
    let t = hour();
    let s = setup(kind, t).await;
    let key = s.tenant.api_key.clone();

    // GIVEN the default rules
    let (status, rules) = s.vigil.get("/api/v1/rules", &key).await;
    assert_eq!(status, StatusCode::OK);
    let rules = rules["items"].as_array().unwrap();
    assert_eq!(rules.len(), 6);
    let spike = rules
        .iter()
        .find(|r| r["id"] == "payment_failure_spike")
        .unwrap();
    assert_eq!(
        (
            spike["threshold"].as_f64(),
            spike["window_minutes"].as_u64()
        ),
        (Some(3.0), Some(30))
    );

    // WHEN an admin raises its threshold to 5 and turns the rapid rule off
    let (status, body) = s
        .vigil
        .send_json(
            "PATCH",
            "/api/v1/rules/payment_failure_spike",
            &key,
            &json!({"threshold": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.vigil
        .send_json(
            "PATCH",
            "/api/v1/rules/rapid_payment_failures",
            &key,
            &json!({"enabled": false}),
        )
        .await;

    // THEN three failures in one bucket open nothing
    for i in 0..3 {
        s.stripe(
            &format!("evt_{i}"),
            "charge.failed",
            t + Duration::minutes(2),
        )
        .await;
    }
    s.clock.set(t + Duration::minutes(40));
    assert_eq!(s.run().await.anomalies_opened, 0);

    // AND the change was audited; bad patches, unknown rules and viewers are refused
    let (_, audit) = s.vigil.get("/api/v1/audit", &key).await;
    assert!(audit.to_string().contains("rule.update"));
    let (status, _) = s
        .vigil
        .send_json(
            "PATCH",
            "/api/v1/rules/payment_failure_spike",
            &key,
            &json!({"threshold": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .vigil
        .send_json(
            "PATCH",
            "/api/v1/rules/no_such_rule",
            &key,
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let viewer = s.vigil.viewer_key(&s.tenant.tenant_id).await;
    let (status, _) = s.vigil.get("/api/v1/rules", &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn rejected_webhooks_raise_an_integrity_anomaly(kind: Kind) {
    let t = hour();
    let s = setup(kind, t + Duration::minutes(3)).await;
    // GIVEN one Stripe delivery with a bad signature
    let (status, _) = s
        .vigil
        .call(
            "POST",
            &format!("/hooks/{}/stripe", s.tenant.tenant_id),
            &[("stripe-signature", "t=1,v1=00")],
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // WHEN its window is due and the rules run
    s.clock.set(t + Duration::minutes(36));
    s.run().await;

    // THEN a SEV3 webhook_integrity anomaly is open
    let found = s.anomalies("?rule=webhook_integrity").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["severity"], "SEV3");
    assert_eq!(found[0]["evidence"]["rejected"], 1);
}

async fn the_daily_summary_comes_from_aggregates_and_is_sent_once(kind: Kind) {
    // GIVEN a day with two successful charges, three failures (an anomaly) and a refund
    let day = hour().duration_trunc(Duration::days(1)).unwrap();
    let s = setup(kind, day + Duration::hours(2)).await;
    for (id, kind, minute) in [
        ("evt_s1", "charge.succeeded", 10),
        ("evt_s2", "charge.succeeded", 20),
        ("evt_f1", "charge.failed", 61),
        ("evt_f2", "charge.failed", 71),
        ("evt_f3", "charge.failed", 81),
        ("evt_r1", "charge.refunded", 90),
    ] {
        s.stripe(id, kind, day + Duration::minutes(minute)).await;
    }
    s.clock.set(day + Duration::hours(3));
    s.run().await;
    let tick = || async {
        vigil_summary::run_flow(
            &vigil_summary::Services::new(&s.vigil.app),
            vigil_runtime::deployment::FlowInvocation {
                flow: vigil_runtime::deployment::Flow::SummaryTick,
            },
        )
        .await
        .unwrap()
        .detail["daily_summaries_sent"]
            .as_u64()
            .unwrap()
    };

    // WHEN the summary tick runs the next day before the hour, at the hour, and again
    s.clock.set(day + Duration::days(1) + Duration::hours(7));
    let before_hour = tick().await;
    s.clock
        .set(day + Duration::days(1) + Duration::hours(8) + Duration::minutes(5));
    let at_hour = tick().await;
    let again = tick().await;

    // THEN it was built once, from the day's aggregates and its anomaly
    assert_eq!((before_hour, at_hour, again), (0, 1, 0));
    let (_, reports) = s
        .vigil
        .get("/api/v1/reports?kind=daily_summary", &s.tenant.api_key)
        .await;
    let reports = reports["items"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let facts = &reports[0]["facts"];
    assert_eq!(facts["payments_succeeded"], 2);
    assert_eq!(facts["payments_failed"], 3);
    assert_eq!(facts["charge_volume"], 2000);
    assert_eq!(facts["refunds"], 1);
    assert_eq!(facts["anomalies_by_severity"]["SEV1"], 1, "{facts}");
    assert_eq!(reports[0]["used_ai"], false);
    assert!(
        reports[0]["rendered"]["overall"]
            .as_str()
            .unwrap()
            .contains("60.0% failing")
    );
    let id = reports[0]["id"].as_str().unwrap();
    let (status, one) = s
        .vigil
        .get(&format!("/api/v1/reports/{id}"), &s.tenant.api_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["date"], (day).format("%Y-%m-%d").to_string());

    // AND it was announced as summary.ready once
    let (_, events) = s
        .vigil
        .get("/api/v1/events?type=summary.ready", &s.tenant.api_key)
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}

async fn one_outsized_charge_raises_an_amount_spike(kind: Kind) {
    // GIVEN ten charges of 10.00 two days ago (the 30-day average)
    let day = hour().duration_trunc(Duration::days(1)).unwrap();
    let s = setup(kind, day + Duration::hours(1)).await;
    for i in 0..10 {
        s.stripe_amount(
            &format!("evt_b{i}"),
            day - Duration::days(2) + Duration::minutes(i),
            1000,
        )
        .await;
    }
    // WHEN a charge of 60.00 and one of 40.00 arrive in two buckets today, and the rules run
    s.stripe_amount("evt_big", day + Duration::minutes(12), 6000)
        .await;
    s.stripe_amount("evt_mid", day + Duration::minutes(22), 4000)
        .await;
    s.clock.set(day + Duration::minutes(40));
    s.run().await;

    // THEN only the 60.00 charge (≥ 5× the average) opened an amount_spike, for its bucket
    let found = s.anomalies("?rule=amount_spike").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["evidence"]["amount"], 6000);
    assert_eq!(found[0]["severity"], "SEV2");
    assert_eq!(
        found[0]["window_start"].as_str().unwrap(),
        (day + Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
}

async fn ai_wording_is_used_when_it_behaves_and_never_blocks_the_summary(kind: Kind) {
    // GIVEN an OpenAI-compatible stub answering, in turn: a good rewording, 500, too slowly,
    // malformed JSON, and a rewording with a number of its own
    let sink = vigil_contract::sinks::HttpSink::start().await;
    let answer = |content: &str| {
        vigil_contract::sinks::SinkResponse::status(200).with_body(
            &json!({"choices": [{"message": {"role": "assistant", "content": content}}]})
                .to_string(),
        )
    };
    let day = hour().duration_trunc(Duration::days(1)).unwrap();
    sink.script(
        "/v1/chat/completions",
        vec![
            answer("A calm day on 12 December 2026: 0 payment attempts and nothing open."),
            vigil_contract::sinks::SinkResponse::status(500),
            answer("late").with_delay(std::time::Duration::from_secs(60)),
            vigil_contract::sinks::SinkResponse::status(200).with_body("{not json"),
            answer("Revenue grew 12% today."),
        ],
    );
    let base = sink.url("/v1");
    let clock = Arc::new(ManualClock::new(
        day + Duration::days(1) + Duration::hours(9),
    ));
    let vigil = TestApp::start_with_clock(
        kind,
        &[
            ("VIGIL_AI_BASE_URL", &base),
            // Generous for a loaded machine; the late answer comes far after it.
            ("VIGIL_AI_TIMEOUT_MS", "5000"),
        ],
        clock,
    )
    .await;

    // WHEN five tenants' summaries are built in turn
    let mut outcomes = Vec::new();
    for i in 0..5 {
        let tenant = vigil.tenant(&format!("T{i}")).await;
        let (report, created) = vigil
            .app
            .reports()
            .daily_summary(&tenant.tenant_id, day.date_naive())
            .await
            .unwrap();
        assert!(created);
        outcomes.push((
            report.used_ai,
            report.ai_error.clone(),
            report.ai_text.clone(),
        ));
    }

    // THEN the good answer is used, every failure is classified, and each summary was stored
    assert!(outcomes[0].0, "{outcomes:?}");
    assert!(outcomes[0].2.as_deref().unwrap().contains("A calm day"));
    let errors: Vec<Option<String>> = outcomes.iter().map(|o| o.1.clone()).collect();
    assert_eq!(
        errors,
        vec![
            None,
            Some("http_500".into()),
            Some("timeout".into()),
            Some("malformed_answer".into()),
            Some("invented_numbers".into())
        ]
    );
    assert!(outcomes[1..].iter().all(|o| !o.0 && o.2.is_none()));

    // AND the model was told to reword, with the facts in the request
    let requests = sink.requests("/v1/chat/completions");
    let first: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("do not")
    );
    assert!(
        first["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Overall:")
    );
}

/// The header `name` of a request the stub received.
fn header<'a>(request: &'a vigil_contract::sinks::RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Vigil on the emulator, its AI key read from the SSM parameter `parameter`.
async fn ai_keyed_app(base: &str, parameter: &str, clock: Arc<ManualClock>) -> TestApp {
    let vars = [
        ("VIGIL_AI_BASE_URL", base),
        ("VIGIL_AI_API_KEY_SSM", parameter),
        ("VIGIL_AI_TIMEOUT_MS", "5000"),
    ];
    TestApp::start_with_clock(Kind::Aws, &vars, clock).await
}

/// On AWS the template hands the functions the name of an SSM SecureString, not the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ai_key_is_read_from_its_ssm_parameter_and_read_again_once_rotated() {
    // GIVEN the AI key in an SSM SecureString on the emulator, and a model that answers, then
    // refuses the key it is given (rotated), then answers again
    let sdk = vigil_aws::testing::sdk_config().await;
    let parameter = format!("/vigil/test/{}/ai-key", ulid::Ulid::new());
    vigil_aws::testing::put_secure_parameter(&sdk, &parameter, "sk-first").await;
    let sink = vigil_contract::sinks::HttpSink::start().await;
    let answer = || {
        vigil_contract::sinks::SinkResponse::status(200).with_body(
            &json!({"choices": [{"message": {"role": "assistant", "content": "A calm day: nothing open."}}]})
                .to_string(),
        )
    };
    sink.script(
        "/v1/chat/completions",
        vec![
            answer(),
            vigil_contract::sinks::SinkResponse::status(401),
            answer(),
        ],
    );
    let base = sink.url("/v1");
    let day = hour().duration_trunc(Duration::days(1)).unwrap();
    let clock = Arc::new(ManualClock::new(
        day + Duration::days(1) + Duration::hours(9),
    ));
    let vigil = ai_keyed_app(&base, &parameter, clock.clone()).await;
    let summary = async |vigil: &TestApp, name: &str| {
        let tenant = vigil.tenant(name).await;
        let (report, _) = vigil
            .app
            .reports()
            .daily_summary(&tenant.tenant_id, day.date_naive())
            .await
            .unwrap();
        report
    };

    // WHEN a summary is worded THEN the model was asked with the parameter's key
    let first = summary(&vigil, "First").await;
    assert!(first.used_ai, "{:?}", first.ai_error);
    // WHEN the key is rotated and the model refuses the one read before
    vigil_aws::testing::put_secure_parameter(&sdk, &parameter, "sk-second").await;
    let second = summary(&vigil, "Second").await;
    // THEN the key is read again and the summary still worded
    assert!(second.used_ai, "{:?}", second.ai_error);
    let keys: Vec<Option<String>> = sink
        .requests("/v1/chat/completions")
        .iter()
        .map(|r| header(r, "authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        keys,
        ["Bearer sk-first", "Bearer sk-first", "Bearer sk-second"].map(|k| Some(k.to_owned()))
    );

    // WHEN the parameter does not exist THEN the summary is made without AI, saying why, and
    // the model is never asked
    let missing = ai_keyed_app(&base, &format!("{parameter}-missing"), clock).await;
    let third = summary(&missing, "Third").await;
    assert!(!third.used_ai);
    assert_eq!(third.ai_error.as_deref(), Some("api_key_unavailable"));
    assert_eq!(sink.requests("/v1/chat/completions").len(), 3);
}

async fn one_tenants_broken_data_does_not_stop_the_others_rules(kind: Kind) {
    // GIVEN a healthy tenant with three failed payments in a window that is due, and another
    // tenant whose rule progress record is unreadable
    let t = hour();
    let s = setup(kind, t + Duration::minutes(25)).await;
    let broken = s
        .vigil
        .app
        .tenants()
        .create("Broken", None, &vigil_core::tenancy::audit::Actor::Cli)
        .await
        .unwrap();
    s.vigil
        .app
        .ports
        .store
        .put(
            vigil_core::ports::Item::new(
                vigil_core::table_keys::rule_progress(&broken.tenant_id),
                "not a progress record",
            ),
            vigil_core::ports::PutCondition::None,
        )
        .await
        .unwrap();
    for (i, minute) in [1, 11, 21].into_iter().enumerate() {
        s.stripe(
            &format!("evt_f{i}"),
            "charge.failed",
            t + Duration::minutes(minute),
        )
        .await;
    }
    s.clock.set(t + Duration::minutes(36));

    // WHEN the scheduled rules flow runs
    let report = vigil_rules::run_flow(
        &vigil_rules::Services::new(&s.vigil.app),
        vigil_runtime::deployment::FlowInvocation {
            flow: vigil_runtime::deployment::Flow::RulesTick,
        },
    )
    .await
    .unwrap();

    // THEN the broken tenant's failure is recorded, and the healthy tenant's anomaly opened
    assert_eq!(report.failed_tenants.len(), 1, "{report:?}");
    assert_eq!(report.failed_tenants[0].tenant, broken.tenant_id);
    assert_eq!(report.detail["anomalies_opened"], 1, "{report:?}");
    assert_eq!(s.anomalies("?rule=payment_failure_spike").await.len(), 1);
}
