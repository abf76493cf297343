use serde_json::json;
use vigil_core::error::FieldProblem;
use vigil_core::workflows::definition::parse_workflow;

use super::draft::{Arm, NewStep, StepDraft};
use super::json::field_of_problem;
use super::*;

/// A control as a browser posts it: a checkbox only when checked.
fn push(pairs: &mut Vec<(String, String)>, f: &view::FieldView) {
    if f.control != "checkbox" || f.is_checked() {
        pairs.push((f.name.clone(), f.value.clone()));
    }
}

/// The form a browser would post for the view of `draft` (every control with its value).
fn form_of(draft: &Draft) -> Vec<(String, String)> {
    let view = BuilderView::of(draft, catalogue(), &[], chrono::Utc::now());
    let mut pairs = Vec::new();
    for f in [
        &view.name,
        &view.description,
        &view.dedupe_minutes,
        &view.enabled,
        &view.requires_approval,
    ] {
        push(&mut pairs, f);
    }
    for t in &view.triggers {
        push(&mut pairs, &t.kind);
        t.fields.iter().for_each(|f| push(&mut pairs, f));
    }
    for e in view.entries.iter().filter(|e| e.heading.is_none()) {
        match &e.kind {
            Some(kind) => push(&mut pairs, kind),
            None => pairs.push((format!("{}.kind", e.prefix), "if".into())),
        }
        e.fields.iter().for_each(|f| push(&mut pairs, f));
        e.continue_on_failure
            .iter()
            .for_each(|f| push(&mut pairs, f));
        if let Some(c) = &e.condition {
            push(&mut pairs, &c.matching);
            c.raw.iter().for_each(|f| push(&mut pairs, f));
            for row in &c.rows {
                push(&mut pairs, &row.field);
                push(&mut pairs, &row.operator);
                push(&mut pairs, &row.value);
            }
        }
    }
    pairs
}

fn template_body() -> serde_json::Value {
    json!({"name": "At-risk", "description": "", "enabled": true, "requires_approval": false,
        "dedupe_minutes": 10,
        "triggers": [{"type": "stage_changed", "to": "at_risk"},
                     {"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}],
        "steps": [{"type": "create_task", "title": "Call {{client.name}}", "due_in_days": 2},
                  {"type": "if", "condition": {"field": "client.mrr", "operator": "greater_than", "value": 1000},
                   "then": [{"type": "approval", "approvers": "admin", "timeout_minutes": 60},
                            {"type": "http_request", "url": "https://hooks.example.com/x", "body": {"a": 1},
                             "continue_on_failure": true}],
                   "else": [{"type": "delay", "minutes": 30}]}]})
}

#[test]
fn a_workflow_goes_through_the_form_and_back_unchanged() {
    // GIVEN a valid workflow with two triggers, an if/else, an approval and a delay
    let body = template_body();
    // WHEN it is shown in the builder and the form is posted back
    let draft = Draft::from_body(&body);
    let posted = Draft::from_form(&form_of(&draft));
    // THEN the draft and the body it makes are the same, and the body is valid
    assert_eq!(posted, draft);
    let again = posted.to_body(catalogue());
    assert_eq!(again, body);
    assert!(parse_workflow(&again).is_ok());
}

#[test]
fn buttons_add_remove_and_reorder_steps_and_triggers() {
    let mut draft = Draft::from_body(&template_body());
    let kinds = |steps: &[StepDraft]| -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                StepDraft::Do { part, .. } => part.kind.clone(),
                StepDraft::If(_) => "if".into(),
            })
            .collect()
    };
    let op = |text: &str| Op::parse(text).unwrap_or_else(|| panic!("{text}"));

    // a third trigger is not added: at most two
    draft.apply(&op("add_trigger"));
    assert_eq!(draft.triggers.len(), 2);
    draft.apply(&op("remove_trigger:0"));
    assert_eq!(draft.triggers[0].kind, "kpi_threshold");

    draft.apply(&op("add_delay"));
    draft.apply(&op("up:2"));
    assert_eq!(kinds(&draft.steps), ["create_task", "delay", "if"]);
    draft.apply(&op("down:0"));
    assert_eq!(kinds(&draft.steps), ["delay", "create_task", "if"]);
    draft.apply(&op("add_action:2.else"));
    draft.apply(&op("up:2.else.1"));
    let StepDraft::If(branching) = &draft.steps[2] else {
        panic!()
    };
    assert_eq!(kinds(&branching.otherwise), ["create_task", "delay"]);
    draft.apply(&op("remove:2.then.0"));
    draft.apply(&op("add_comparison:2"));
    let StepDraft::If(branching) = &draft.steps[2] else {
        panic!()
    };
    assert_eq!(kinds(&branching.then), ["http_request"]);
    draft.apply(&op("remove:0"));
    assert_eq!(kinds(&draft.steps), ["create_task", "if"]);
    // a button for a step no longer there changes nothing
    let before = draft.clone();
    draft.apply(&op("remove:7.then.3"));
    assert_eq!(draft, before);
    // and the changed draft survives the form too
    assert_eq!(Draft::from_form(&form_of(&draft)), draft);

    assert_eq!(
        Op::parse("add_branch:1.then"),
        Some(Op::Add(NewStep::Branch, vec![(1, Arm::Then)]))
    );
    assert_eq!(Op::parse("launch"), None);
    assert_eq!(Op::parse("up:x"), None);
}

#[test]
fn problems_are_placed_at_their_fields() {
    assert_eq!(field_of_problem("$.name", "is required"), "name");
    assert_eq!(field_of_problem("$.triggers[1].cron", "bad"), "t.1.f.cron");
    assert_eq!(field_of_problem("$.triggers", "one or two"), "t");
    assert_eq!(
        field_of_problem("$.steps[2].then[0].minutes", "x"),
        "s.2.then.0.f.minutes"
    );
    assert_eq!(field_of_problem("$.steps[2].condition", "x"), "s.2.cond");
    assert_eq!(
        field_of_problem("$.steps[0]", "missing field `title`"),
        "s.0.f.title"
    );
    assert_eq!(field_of_problem("$.steps[0]", "unknown variant `x`"), "s.0");

    // GIVEN a draft with no name and a schedule with a wrong cron expression
    let mut draft = Draft::default();
    draft.triggers[0].kind = "schedule".into();
    draft.triggers[0]
        .fields
        .insert("cron".into(), "not cron".into());
    let problems = vec![
        FieldProblem {
            path: "$.name".into(),
            message: "is required".into(),
        },
        FieldProblem {
            path: "$.triggers[0].cron".into(),
            message: "is not a valid cron expression".into(),
        },
    ];
    // WHEN it is shown with the save's problems
    let view = BuilderView::of(&draft, catalogue(), &problems, chrono::Utc::now());
    // THEN each is at its field, and the entered value is kept
    assert_eq!(view.name.problem.as_deref(), Some("is required"));
    let cron = view.triggers[0]
        .fields
        .iter()
        .find(|f| f.name == "t.0.f.cron")
        .unwrap_or_else(|| panic!());
    assert_eq!(
        cron.problem.as_deref(),
        Some("is not a valid cron expression")
    );
    assert_eq!(cron.value, "not cron");
    assert_eq!(cron.described_by(), "t-0-f-cron-problem");
    assert_eq!(view.problems.len(), 2);
}

#[test]
fn a_schedule_shows_its_next_five_times_in_its_timezone() {
    let mut draft = Draft::default();
    draft.triggers[0].kind = "schedule".into();
    draft.triggers[0]
        .fields
        .insert("cron".into(), "30 8 * * 1-5".into());
    draft.triggers[0]
        .fields
        .insert("timezone".into(), "Europe/Paris".into());
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    let view = BuilderView::of(&draft, catalogue(), &[], now);
    assert_eq!(
        view.triggers[0].next_times,
        [
            "Monday 7 December 2026 at 08:30 (CET)",
            "Tuesday 8 December 2026 at 08:30 (CET)",
            "Wednesday 9 December 2026 at 08:30 (CET)",
            "Thursday 10 December 2026 at 08:30 (CET)",
            "Friday 11 December 2026 at 08:30 (CET)",
        ]
    );
    draft.triggers[0]
        .fields
        .insert("timezone".into(), "Paris".into());
    let view = BuilderView::of(&draft, catalogue(), &[], now);
    assert!(view.triggers[0].next_times.is_empty() && view.triggers[0].schedule_problem.is_some());
}
