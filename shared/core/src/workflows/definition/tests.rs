use serde_json::json;

use super::*;
use crate::egress::EgressPolicy;
use crate::workflows::condition::MAX_CONDITION_DEPTH;

fn at_risk_follow_up() -> Value {
    json!({"name": "At-risk follow-up", "enabled": true,
     "triggers": [{"type": "stage_changed", "to": "at_risk"},
                  {"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}],
     "steps": [
       {"type": "create_task", "title": "Call {{client.name}}", "assignee": "{{client.assignee}}"},
       {"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1000}]},
        "then": [{"type": "approval", "timeout_minutes": 1440},
                 {"type": "http_request", "url": "https://hooks.example.com/at-risk", "body": {"client": "{{client.id}}"}}],
        "else": [{"type": "delay", "minutes": 60}, {"type": "create_ticket", "title": "Check on {{client.name}}"}]}]})
}

#[test]
fn the_issue_example_reads_and_round_trips() {
    let checked = parse_workflow(&at_risk_follow_up()).unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(checked.spec.triggers.len(), 2);
    assert_eq!(count_steps(&checked.spec.steps), 6);
    assert!(checked.warnings.is_empty());
    let again = serde_json::to_value(&checked.spec).unwrap_or_default();
    let reread = parse_workflow(&again).unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(reread.spec, checked.spec);
}

#[test]
fn every_problem_is_reported_at_its_path() {
    let body = json!({"name": "", "triggers": [{"type": "stage_changed"}, {"type": "inactivity", "days": 0}, {"type": "nope"}],
      "steps": [{"type": "create_task"},
                {"type": "if", "condition": {"all": []},
                 "then": [{"type": "delay", "minutes": 1441}, {"type": "http_request", "url": "ftp://x"}]},
                {"type": "approval", "timeout_minutes": 0}, {"titel": "x"}],
      "colour": "red"});
    let problems = parse_workflow(&body).err().unwrap_or_default();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "$.colour",
        "$.name",
        "$.triggers",
        "$.triggers[0]",
        "$.triggers[1].days",
        "$.triggers[2]",
        "$.steps[0]",
        "$.steps[1].then[0].minutes",
        "$.steps[1].then[1].url",
        "$.steps[2].timeout_minutes",
        "$.steps[3].type",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {problems:#?}"
        );
    }
    let create_task = problems.iter().find(|p| p.path == "$.steps[0]");
    assert!(
        create_task.is_some_and(|p| p.message.contains("title")),
        "{problems:#?}"
    );
}

#[test]
fn what_the_schema_cannot_say_is_unprocessable_and_the_rest_is_invalid() {
    let workflow = |trigger: Value, steps: Value| json!({"name": "Nightly", "triggers": [trigger], "steps": steps});
    let task = json!([{"type": "create_task", "title": "Look"}]);
    let empty_if = json!([{"type": "if", "condition": {"all": []}, "then": [], "else": null}]);
    let bad_cron = json!({"type": "schedule", "cron": "61 * * * *", "timezone": "Mars/Base"});
    let bad_address = json!([{"type": "http_request", "url": "https://[1.2]/"}]);
    for (what, body) in [
        (
            "a cron expression and a timezone",
            workflow(bad_cron.clone(), task.clone()),
        ),
        (
            "an if step without steps",
            workflow(json!({"type": "ticket_created"}), empty_if),
        ),
        (
            "a bracketed host",
            workflow(json!({"type": "ticket_created"}), bad_address),
        ),
    ] {
        let refusal = parse_workflow(&body).err().unwrap_or_default();
        assert!(!refusal.is_empty(), "{what}");
        assert!(
            matches!(
                refusal.into_error("invalid_workflow"),
                crate::Error::UnprocessableFields { .. }
            ),
            "{what}"
        );
    }
    // One problem the schema states makes the whole answer a 400, every problem listed.
    let mixed = workflow(bad_cron, json!([{"type": "create_task"}]));
    let refusal = parse_workflow(&mixed).err().unwrap_or_default();
    assert_eq!(refusal.len(), 3, "{refusal:?}");
    assert!(matches!(
        refusal.into_error("invalid_workflow"),
        crate::Error::InvalidFields { .. }
    ));
    // Conditions take only their own fields, as the schema says.
    let both = json!([{"type": "if", "condition": {"all": [], "any": []}, "then": task}]);
    let refusal = parse_workflow(&workflow(json!({"type": "ticket_created"}), both))
        .err()
        .unwrap_or_default();
    assert_eq!(refusal[0].path, "$.steps[0].condition", "{refusal:?}");
}

#[test]
fn steps_and_conditions_nest_as_deep_as_the_document_says() {
    let nested_ifs = |levels: usize| {
        let mut steps = json!([{"type": "create_task", "title": "t"}]);
        for _ in 0..levels {
            steps = json!([{"type": "if", "condition": {"field": "client.mrr", "operator": "exists"}, "then": steps}]);
        }
        json!({"name": "Deep", "triggers": [{"type": "ticket_created"}], "steps": steps})
    };
    assert!(parse_workflow(&nested_ifs(MAX_STEP_DEPTH - 1)).is_ok());
    let refusal = parse_workflow(&nested_ifs(MAX_STEP_DEPTH))
        .err()
        .unwrap_or_default();
    assert_eq!(refusal.len(), 1, "{refusal:?}");
    assert!(refusal[0].path.ends_with(".then[0]"), "{refusal:?}");

    let nested_conditions = |levels: usize| {
        let mut condition = json!({"field": "client.mrr", "operator": "exists"});
        for _ in 1..levels {
            condition = json!({"any": [condition]});
        }
        json!({"name": "Deep", "triggers": [{"type": "ticket_created"}],
               "steps": [{"type": "if", "condition": condition, "then": [{"type": "delay", "minutes": 1}]}]})
    };
    assert!(parse_workflow(&nested_conditions(MAX_CONDITION_DEPTH)).is_ok());
    let refusal = parse_workflow(&nested_conditions(MAX_CONDITION_DEPTH + 1))
        .err()
        .unwrap_or_default();
    assert_eq!(refusal[0].path, "$.steps[0].condition", "{refusal:?}");
}

#[test]
fn http_request_targets_are_fixed_and_guarded() {
    let with_url = |url: &str| {
        json!({"name": "Hook", "triggers": [{"type": "ticket_created"}],
               "steps": [{"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1}]},
                          "then": [{"type": "http_request", "url": url}]}]})
    };
    for url in [
        "https://{{trigger.data.host}}/",
        "{{trigger.data.scheme}}://hooks.example.com/",
        "https://hooks.example.com:{{trigger.data.port}}/",
        "https://{{trigger.data.user}}@hooks.example.com/",
        "https://hooks.example.com{{trigger.data.rest}}",
        "https://hooks.{{client.id}}.example.com/x",
    ] {
        let problems = parse_workflow(&with_url(url)).err().unwrap_or_default();
        assert_eq!(
            problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
            ["$.steps[0].then[0].url"],
            "{url}"
        );
    }
    let templated_path =
        with_url("https://hooks.example.com/c/{{client.id}}?stage={{trigger.to}}#{{x}}");
    let checked = parse_workflow(&templated_path).unwrap_or_else(|p| panic!("{p:?}"));
    assert!(egress_problems(&checked.spec, &EgressPolicy::default()).is_empty());

    let local = parse_workflow(&with_url("http://169.254.169.254/latest/{{client.id}}"))
        .unwrap_or_else(|p| panic!("{p:?}"));
    let problems = egress_problems(&local.spec, &EgressPolicy::default());
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "$.steps[0].then[0].url");
    let allowed = EgressPolicy::parse("169.254.0.0/16").unwrap_or_default();
    assert!(egress_problems(&local.spec, &allowed).is_empty());
}

#[test]
fn long_chains_are_accepted_with_a_warning() {
    let steps: Vec<Value> = (0..51)
        .map(|i| json!({"type": "create_task", "title": format!("t{i}")}))
        .collect();
    let body = json!({"name": "Long", "triggers": [{"type": "ticket_created"}], "steps": steps});
    let checked = parse_workflow(&body).unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(checked.warnings.len(), 1);
}

#[test]
fn schedule_triggers_need_a_valid_cron_and_zone() {
    let body = json!({"name": "Weekly", "triggers": [{"type": "schedule", "cron": "every day", "timezone": "Mars/Base"}],
                      "steps": [{"type": "create_task", "title": "t"}]});
    let problems = parse_workflow(&body).err().unwrap_or_default();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["$.triggers[0].cron", "$.triggers[0].timezone"]);
}
