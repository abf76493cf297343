//! The builder's form as the template shows it: the draft flattened into fields (each with its
//! label, its value as typed and the problem the save found there), branches as indented runs
//! of steps, and the next times of a schedule trigger.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use vigil_core::error::FieldProblem;
use vigil_core::workflows::condition::Operator;

use super::catalogue::{Catalogue, FieldSpec, Input};
use super::draft::{
    Arm, Branching, ConditionDraft, Draft, MAX_TRIGGERS, Part, StepAt, StepDraft, chain_text,
};
use super::json::field_of_problem;

/// One form control.
pub struct FieldView {
    pub name: String,
    pub id: String,
    pub label: String,
    pub value: String,
    /// `text`, `number`, `select`, `textarea` or `checkbox`.
    pub control: &'static str,
    pub choices: Vec<(String, bool)>,
    pub required: bool,
    pub help: String,
    pub problem: Option<String>,
}

impl FieldView {
    /// The ids of the texts that describe the control (its help and its problem).
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.help.is_empty() {
            ids.push(format!("{}-help", self.id));
        }
        if self.problem.is_some() {
            ids.push(format!("{}-problem", self.id));
        }
        ids.join(" ")
    }

    pub fn is_checked(&self) -> bool {
        self.value == "true"
    }
}

pub struct TriggerView {
    pub index: usize,
    pub id: String,
    pub kind: FieldView,
    pub fields: Vec<FieldView>,
    pub problem: Option<String>,
    /// For a schedule: its next five times, or why there are none.
    pub next_times: Vec<String>,
    pub schedule_problem: Option<String>,
}

pub struct RowView {
    pub index: usize,
    pub field: FieldView,
    pub operator: FieldView,
    pub value: FieldView,
}

pub struct ConditionView {
    pub id: String,
    pub matching: FieldView,
    pub rows: Vec<RowView>,
    pub raw: Option<FieldView>,
    pub problem: Option<String>,
}

/// A step, or the heading of an `if`'s branch (with the buttons that add to it).
pub struct EntryView {
    pub depth: usize,
    pub heading: Option<String>,
    /// The chain a heading adds to (`2.then`).
    pub chain: String,
    pub title: String,
    pub path: String,
    pub id: String,
    pub prefix: String,
    pub kind: Option<FieldView>,
    pub fields: Vec<FieldView>,
    pub continue_on_failure: Option<FieldView>,
    pub condition: Option<ConditionView>,
    pub problem: Option<String>,
    pub can_up: bool,
    pub can_down: bool,
    /// Whether steps may be added inside (an `if` may hold an `if` one level down only).
    pub can_branch: bool,
}

pub struct BuilderView {
    pub name: FieldView,
    pub description: FieldView,
    pub dedupe_minutes: FieldView,
    pub enabled: FieldView,
    pub requires_approval: FieldView,
    pub triggers: Vec<TriggerView>,
    pub can_add_trigger: bool,
    pub entries: Vec<EntryView>,
    /// Every problem of the last save, with the id of the field it is shown at.
    pub problems: Vec<(String, String)>,
}

/// Problems by the form field they are about, taken as each field is shown.
struct Problems(BTreeMap<String, Vec<String>>);

impl Problems {
    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).map(|messages| messages.join("; "))
    }
}

fn id_of(name: &str) -> String {
    name.replace('.', "-")
}

/// `due_in_days` → `Due in days`.
fn label_of(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn plain(
    name: &str,
    label: &str,
    value: &str,
    control: &'static str,
    problems: &mut Problems,
) -> FieldView {
    FieldView {
        name: name.to_owned(),
        id: id_of(name),
        label: label.to_owned(),
        value: value.to_owned(),
        control,
        choices: Vec::new(),
        required: false,
        help: String::new(),
        problem: problems.take(name),
    }
}

fn select(
    name: &str,
    label: &str,
    words: &[String],
    chosen: &str,
    problems: &mut Problems,
) -> FieldView {
    let mut choices: Vec<(String, bool)> = words.iter().map(|w| (w.clone(), w == chosen)).collect();
    // A value the list does not have (from an older form) stays visible, for the save to name.
    if !chosen.is_empty() && !words.iter().any(|w| w == chosen) {
        choices.insert(0, (chosen.to_owned(), true));
    }
    FieldView {
        choices,
        ..plain(name, label, chosen, "select", problems)
    }
}

fn flag(name: &str, label: &str, on: bool, problems: &mut Problems) -> FieldView {
    plain(
        name,
        label,
        if on { "true" } else { "false" },
        "checkbox",
        problems,
    )
}

/// The fields of a part as its kind's schema lists them.
fn part_fields(
    prefix: &str,
    part: &Part,
    specs: &[FieldSpec],
    problems: &mut Problems,
) -> Vec<FieldView> {
    specs
        .iter()
        .map(|spec| {
            let name = format!("{prefix}.f.{}", spec.name);
            let value = part
                .fields
                .get(&spec.name)
                .map(String::as_str)
                .unwrap_or_default();
            let label = match spec.required {
                true => label_of(&spec.name),
                false => format!("{} (optional)", label_of(&spec.name)),
            };
            let field = match &spec.input {
                Input::Choice(words) => {
                    let mut words = words.clone();
                    if !spec.required {
                        words.insert(0, String::new());
                    }
                    select(&name, &label, &words, value, problems)
                }
                Input::Integer | Input::Number => plain(&name, &label, value, "number", problems),
                Input::Json => plain(&name, &label, value, "textarea", problems),
                Input::Text => plain(&name, &label, value, "text", problems),
            };
            FieldView {
                required: spec.required,
                help: spec.help.clone(),
                ..field
            }
        })
        .collect()
}

/// The next five times of a schedule, in words, in its timezone.
fn next_times(part: &Part, now: DateTime<Utc>) -> Result<Vec<String>, String> {
    let field = |name: &str| part.fields.get(name).map(|v| v.trim()).unwrap_or_default();
    let slots = vigil_core::workflows::starts::next_slots(field("cron"), field("timezone"), now, 5)
        .ok_or("Fill in a valid cron expression and IANA timezone to see the next times.")?;
    Ok(slots
        .iter()
        .map(|at| at.format("%A %-d %B %Y at %H:%M (%Z)").to_string())
        .collect())
}

impl BuilderView {
    pub fn of(
        draft: &Draft,
        catalogue: &Catalogue,
        problems: &[FieldProblem],
        now: DateTime<Utc>,
    ) -> Self {
        let summary = problems
            .iter()
            .map(|p| {
                (
                    id_of(&field_of_problem(&p.path, &p.message)),
                    format!("{}: {}", p.path, p.message),
                )
            })
            .collect();
        let mut placed = Problems(BTreeMap::new());
        for p in problems {
            placed
                .0
                .entry(field_of_problem(&p.path, &p.message))
                .or_default()
                .push(p.message.clone());
        }
        let problems = &mut placed;
        let trigger_kinds: Vec<String> =
            catalogue.triggers.iter().map(|k| k.kind.clone()).collect();
        let triggers = draft
            .triggers
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let prefix = format!("t.{i}");
                let specs = catalogue
                    .trigger(&part.kind)
                    .map(|k| k.fields.as_slice())
                    .unwrap_or_default();
                let schedule = (part.kind == "schedule").then(|| next_times(part, now));
                TriggerView {
                    index: i,
                    id: id_of(&prefix),
                    kind: select(
                        &format!("{prefix}.kind"),
                        &format!("Type of trigger {}", i + 1),
                        &trigger_kinds,
                        &part.kind,
                        problems,
                    ),
                    fields: part_fields(&prefix, part, specs, problems),
                    problem: problems.take(&prefix),
                    next_times: schedule.clone().and_then(Result::ok).unwrap_or_default(),
                    schedule_problem: schedule.and_then(Result::err),
                }
            })
            .collect();
        let mut entries = Vec::new();
        flatten(&draft.steps, &[], 0, catalogue, problems, &mut entries);
        BuilderView {
            name: FieldView { required: true, ..plain("name", "Name", &draft.name, "text", problems) },
            description: plain("description", "Description (optional)", &draft.description, "textarea", problems),
            dedupe_minutes: FieldView {
                help: "Triggers for the same client within this many minutes start one run (default 10).".into(),
                ..plain("dedupe_minutes", "Minutes to hold back repeats (optional)", &draft.dedupe_minutes, "number", problems)
            },
            enabled: flag("enabled", "Enabled", draft.enabled, problems),
            requires_approval: flag("requires_approval", "Every run waits for an approval first", draft.requires_approval, problems),
            triggers,
            can_add_trigger: draft.triggers.len() < MAX_TRIGGERS,
            entries,
            problems: summary,
        }
    }
}

fn title_of(at: &StepAt) -> String {
    let mut words: Vec<String> = at
        .chain
        .iter()
        .map(|(i, arm)| format!("step {} · {}", i + 1, arm.word()))
        .collect();
    words.push(format!("step {}", at.index + 1));
    label_of(&words.join(" · "))
}

impl EntryView {
    /// An entry with nothing in it yet.
    fn new(depth: usize, title: String, path: &str, prefix: &str) -> Self {
        EntryView {
            depth,
            heading: None,
            chain: String::new(),
            title,
            path: path.to_owned(),
            id: id_of(prefix),
            prefix: prefix.to_owned(),
            kind: None,
            fields: Vec::new(),
            continue_on_failure: None,
            condition: None,
            problem: None,
            can_up: false,
            can_down: false,
            can_branch: false,
        }
    }
}

fn flatten(
    steps: &[StepDraft],
    chain: &[(usize, Arm)],
    depth: usize,
    catalogue: &Catalogue,
    problems: &mut Problems,
    out: &mut Vec<EntryView>,
) {
    let step_kinds: Vec<String> = catalogue.steps.iter().map(|k| k.kind.clone()).collect();
    for (index, step) in steps.iter().enumerate() {
        let at = StepAt {
            chain: chain.to_vec(),
            index,
        };
        let path = at.text();
        let prefix = format!("s.{path}");
        let mut entry = EntryView {
            can_up: index > 0,
            can_down: index + 1 < steps.len(),
            ..EntryView::new(depth, title_of(&at), &path, &prefix)
        };
        match step {
            StepDraft::Do {
                part,
                continue_on_failure,
            } => {
                let spec = catalogue.step(&part.kind);
                let label = format!("What {} does", entry.title.to_lowercase());
                entry.kind = Some(select(
                    &format!("{prefix}.kind"),
                    &label,
                    &step_kinds,
                    &part.kind,
                    problems,
                ));
                entry.fields = part_fields(
                    &prefix,
                    part,
                    spec.map(|k| k.fields.as_slice()).unwrap_or_default(),
                    problems,
                );
                if !["delay", "approval"].contains(&part.kind.as_str()) {
                    entry.continue_on_failure = Some(flag(
                        &format!("{prefix}.continue"),
                        "Go on if this step fails",
                        *continue_on_failure,
                        problems,
                    ));
                }
                entry.problem = problems.take(&prefix);
                out.push(entry);
            }
            StepDraft::If(Branching {
                condition,
                then,
                otherwise,
            }) => {
                entry.condition = Some(condition_view(&prefix, condition, problems));
                entry.problem = problems.take(&prefix);
                // The definition nests `if`s two deep: the last level holds none.
                let nested_if_allowed =
                    chain.len() + 2 < vigil_core::workflows::definition::MAX_STEP_DEPTH;
                let if_title = entry.title.to_lowercase();
                out.push(entry);
                for (arm, branch, words) in [
                    (Arm::Then, then, "Then: when the condition holds"),
                    (Arm::Else, otherwise, "Else: when it does not"),
                ] {
                    let mut inner = chain.to_vec();
                    inner.push((index, arm));
                    let title = format!("the {} branch of {if_title}", arm.word());
                    let arm_name = format!("{prefix}.{}", arm.word());
                    out.push(EntryView {
                        heading: Some(words.to_owned()),
                        chain: chain_text(&inner),
                        id: id_of(&arm_name),
                        problem: problems.take(&arm_name),
                        can_branch: nested_if_allowed,
                        ..EntryView::new(depth + 1, title, &path, &prefix)
                    });
                    flatten(branch, &inner, depth + 1, catalogue, problems, out);
                }
            }
        }
    }
}

fn condition_view(
    prefix: &str,
    condition: &ConditionDraft,
    problems: &mut Problems,
) -> ConditionView {
    let operators: Vec<String> = OPERATORS.iter().map(|o| operator_word(*o)).collect();
    let matching_words = vec!["all".to_owned(), "any".to_owned()];
    let id = id_of(&format!("{prefix}.cond"));
    let problem = problems.take(&format!("{prefix}.cond"));
    match condition {
        ConditionDraft::Raw(raw) => ConditionView {
            id,
            matching: select(
                &format!("{prefix}.match"),
                "Holds when",
                &matching_words,
                "all",
                problems,
            ),
            rows: Vec::new(),
            raw: Some(plain(
                &format!("{prefix}.raw"),
                "Condition (JSON)",
                raw,
                "textarea",
                problems,
            )),
            problem,
        },
        ConditionDraft::Rows { any, rows } => ConditionView {
            id,
            matching: select(
                &format!("{prefix}.match"),
                "Holds when",
                &matching_words,
                if *any { "any" } else { "all" },
                problems,
            ),
            rows: rows
                .iter()
                .enumerate()
                .map(|(j, row)| {
                    let cell = format!("{prefix}.c.{j}");
                    RowView {
                        index: j,
                        field: FieldView {
                            help: "A dotted path under client., trigger., metrics. or time.".into(),
                            ..plain(
                                &format!("{cell}.field"),
                                &format!("Field {}", j + 1),
                                &row.field,
                                "text",
                                problems,
                            )
                        },
                        operator: select(
                            &format!("{cell}.operator"),
                            &format!("Comparison {}", j + 1),
                            &operators,
                            &row.operator,
                            problems,
                        ),
                        value: plain(
                            &format!("{cell}.value"),
                            &format!("Value {}", j + 1),
                            &row.value,
                            "text",
                            problems,
                        ),
                    }
                })
                .collect(),
            raw: None,
            problem,
        },
    }
}

const OPERATORS: [Operator; 7] = [
    Operator::Equals,
    Operator::NotEquals,
    Operator::GreaterThan,
    Operator::LessThan,
    Operator::Contains,
    Operator::StartsWith,
    Operator::Exists,
];

/// An operator as the definition language spells it.
fn operator_word(operator: Operator) -> String {
    serde_json::to_value(operator)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
