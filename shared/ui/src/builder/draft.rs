//! A workflow as the builder holds it while a person edits it: every value as typed, so a draft
//! may be wrong (the save reports where), and read back from the posted form field by field.
//!
//! Form names: `name`, `description`, `enabled`, `requires_approval`, `dedupe_minutes`;
//! `t.{i}.kind` and `t.{i}.f.{field}` for trigger `i`; for the step at path `P` (`2`, or
//! `2.then.0` inside an `if`): `s.P.kind`, `s.P.f.{field}`, `s.P.continue`, and for an `if`
//! `s.P.match` (`all`/`any`), `s.P.c.{j}.field|operator|value`, or `s.P.raw` (a condition the
//! rows cannot show, as JSON).

use std::collections::BTreeMap;

/// A trigger or a step that is not an `if`: its kind and its fields as typed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Part {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
}

impl Part {
    pub fn new(kind: &str, fields: &[(&str, &str)]) -> Self {
        Self {
            kind: kind.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepDraft {
    Do {
        part: Part,
        continue_on_failure: bool,
    },
    If(Branching),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Branching {
    pub condition: ConditionDraft,
    pub then: Vec<StepDraft>,
    pub otherwise: Vec<StepDraft>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    pub field: String,
    pub operator: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConditionDraft {
    /// Comparisons that must all hold (or any one of them).
    Rows { any: bool, rows: Vec<Comparison> },
    /// A condition nested deeper than rows show, kept as its JSON.
    Raw(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub requires_approval: bool,
    pub dedupe_minutes: String,
    pub triggers: Vec<Part>,
    pub steps: Vec<StepDraft>,
}

/// Triggers a workflow may have (all must hold).
pub const MAX_TRIGGERS: usize = 2;

impl Default for Draft {
    /// A new workflow: one trigger and one task to start from.
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            enabled: true,
            requires_approval: false,
            dedupe_minutes: String::new(),
            triggers: vec![Part::new("stage_changed", &[])],
            steps: vec![new_step(NewStep::Action)],
        }
    }
}

/// The kinds of step the builder adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewStep {
    Action,
    Branch,
    Delay,
    Approval,
}

fn new_step(kind: NewStep) -> StepDraft {
    let simple = |part| StepDraft::Do {
        part,
        continue_on_failure: false,
    };
    match kind {
        NewStep::Action => simple(Part::new("create_task", &[])),
        NewStep::Delay => simple(Part::new("delay", &[("minutes", "60")])),
        NewStep::Approval => simple(Part::new(
            "approval",
            &[("approvers", "operator"), ("timeout_minutes", "1440")],
        )),
        NewStep::Branch => StepDraft::If(Branching {
            condition: ConditionDraft::Rows {
                any: false,
                rows: vec![Comparison {
                    operator: "equals".into(),
                    ..Comparison::default()
                }],
            },
            then: vec![new_step(NewStep::Action)],
            otherwise: Vec::new(),
        }),
    }
}

/// Which branch of an `if`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Then,
    Else,
}

impl Arm {
    pub fn word(self) -> &'static str {
        match self {
            Arm::Then => "then",
            Arm::Else => "else",
        }
    }
}

/// A chain of steps: the workflow's own (empty), or a branch of an `if` inside it.
pub type Chain = Vec<(usize, Arm)>;

/// A step: its chain and its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepAt {
    pub chain: Chain,
    pub index: usize,
}

/// A chain as text: `` or `2.then` or `2.then.0.else`.
pub fn chain_text(chain: &[(usize, Arm)]) -> String {
    chain
        .iter()
        .map(|(i, arm)| format!("{i}.{}", arm.word()))
        .collect::<Vec<_>>()
        .join(".")
}

impl StepAt {
    /// As the form names it: `2`, `2.then.0`.
    pub fn text(&self) -> String {
        match chain_text(&self.chain) {
            chain if chain.is_empty() => self.index.to_string(),
            chain => format!("{chain}.{}", self.index),
        }
    }

    pub fn parse(text: &str) -> Option<StepAt> {
        let mut words = text.split('.');
        let mut chain = Vec::new();
        let mut index: usize = words.next()?.parse().ok()?;
        while let Some(arm) = words.next() {
            let arm = match arm {
                "then" => Arm::Then,
                "else" => Arm::Else,
                _ => return None,
            };
            chain.push((index, arm));
            index = words.next()?.parse().ok()?;
        }
        Some(StepAt { chain, index })
    }
}

fn parse_chain(text: &str) -> Option<Chain> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    // `2.then` is the chain of a step `2.then.0`.
    StepAt::parse(&format!("{text}.0")).map(|at| at.chain)
}

/// What a button of the builder asks for (`name="op"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Re-render (after a kind was changed).
    Refresh,
    Save,
    AddTrigger,
    RemoveTrigger(usize),
    Add(NewStep, Chain),
    Remove(StepAt),
    Up(StepAt),
    Down(StepAt),
    AddComparison(StepAt),
    RemoveComparison(StepAt, usize),
}

impl Op {
    /// `save`, `add_trigger`, `remove_trigger:1`, `add_action`, `add_delay:2.then`, `remove:3`,
    /// `up:2.then.0`, `add_comparison:2`, `remove_comparison:2/1`, `refresh`.
    pub fn parse(text: &str) -> Option<Op> {
        let (verb, target) = text.split_once(':').unwrap_or((text, ""));
        let step = || StepAt::parse(target);
        let add = |kind| parse_chain(target).map(|chain| Op::Add(kind, chain));
        match verb {
            "refresh" => Some(Op::Refresh),
            "save" => Some(Op::Save),
            "add_trigger" => Some(Op::AddTrigger),
            "remove_trigger" => target.parse().ok().map(Op::RemoveTrigger),
            "add_action" => add(NewStep::Action),
            "add_branch" => add(NewStep::Branch),
            "add_delay" => add(NewStep::Delay),
            "add_approval" => add(NewStep::Approval),
            "remove" => step().map(Op::Remove),
            "up" => step().map(Op::Up),
            "down" => step().map(Op::Down),
            "add_comparison" => step().map(Op::AddComparison),
            "remove_comparison" => {
                let (at, row) = target.split_once('/')?;
                Some(Op::RemoveComparison(StepAt::parse(at)?, row.parse().ok()?))
            }
            _ => None,
        }
    }
}

fn chain_mut<'a>(
    steps: &'a mut Vec<StepDraft>,
    chain: &[(usize, Arm)],
) -> Option<&'a mut Vec<StepDraft>> {
    match chain.split_first() {
        None => Some(steps),
        Some(((index, arm), rest)) => match steps.get_mut(*index)? {
            StepDraft::If(branching) => {
                let steps = match arm {
                    Arm::Then => &mut branching.then,
                    Arm::Else => &mut branching.otherwise,
                };
                chain_mut(steps, rest)
            }
            StepDraft::Do { .. } => None,
        },
    }
}

impl Draft {
    /// Changes the draft as the button asks; a button for a step that is no longer there (a
    /// stale form) changes nothing.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Refresh | Op::Save => {}
            Op::AddTrigger => {
                if self.triggers.len() < MAX_TRIGGERS {
                    self.triggers.push(Part::new("stage_changed", &[]));
                }
            }
            Op::RemoveTrigger(index) => {
                if *index < self.triggers.len() {
                    self.triggers.remove(*index);
                }
            }
            Op::Add(kind, chain) => {
                if let Some(steps) = chain_mut(&mut self.steps, chain) {
                    steps.push(new_step(*kind));
                }
            }
            Op::Remove(at) => {
                if let Some(steps) = chain_mut(&mut self.steps, &at.chain)
                    && at.index < steps.len()
                {
                    steps.remove(at.index);
                }
            }
            Op::Up(at) => {
                if let Some(steps) = chain_mut(&mut self.steps, &at.chain)
                    && at.index > 0
                    && at.index < steps.len()
                {
                    steps.swap(at.index - 1, at.index);
                }
            }
            Op::Down(at) => {
                if let Some(steps) = chain_mut(&mut self.steps, &at.chain)
                    && at.index + 1 < steps.len()
                {
                    steps.swap(at.index, at.index + 1);
                }
            }
            Op::AddComparison(at) => {
                if let Some(rows) = self.rows_mut(at) {
                    rows.push(Comparison {
                        operator: "equals".into(),
                        ..Comparison::default()
                    });
                }
            }
            Op::RemoveComparison(at, row) => {
                if let Some(rows) = self.rows_mut(at)
                    && *row < rows.len()
                {
                    rows.remove(*row);
                }
            }
        }
    }

    fn rows_mut(&mut self, at: &StepAt) -> Option<&mut Vec<Comparison>> {
        match chain_mut(&mut self.steps, &at.chain)?.get_mut(at.index)? {
            StepDraft::If(Branching {
                condition: ConditionDraft::Rows { rows, .. },
                ..
            }) => Some(rows),
            _ => None,
        }
    }

    /// The draft the posted form holds (the `op` and `csrf` fields aside).
    pub fn from_form(pairs: &[(String, String)]) -> Draft {
        let form: BTreeMap<&str, &str> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let text = |name: &str| form.get(name).map(|v| (*v).to_owned()).unwrap_or_default();
        let triggers = indices(&form, "t")
            .into_iter()
            .map(|i| part_of(&form, &format!("t.{i}")))
            .collect();
        Draft {
            name: text("name"),
            description: text("description"),
            enabled: form.contains_key("enabled"),
            requires_approval: form.contains_key("requires_approval"),
            dedupe_minutes: text("dedupe_minutes"),
            triggers,
            steps: chain_of(&form, "s"),
        }
    }
}

/// The numbers `i` with a `{prefix}.{i}.kind` field, in order.
fn indices(form: &BTreeMap<&str, &str>, prefix: &str) -> Vec<usize> {
    let mut found: Vec<usize> = form
        .keys()
        .filter_map(|key| key.strip_prefix(prefix)?.strip_prefix('.'))
        .filter_map(|rest| rest.strip_suffix(".kind")?.parse().ok())
        .collect();
    found.sort_unstable();
    found
}

fn part_of(form: &BTreeMap<&str, &str>, prefix: &str) -> Part {
    let fields_prefix = format!("{prefix}.f.");
    Part {
        kind: form
            .get(format!("{prefix}.kind").as_str())
            .map(|k| (*k).to_owned())
            .unwrap_or_default(),
        // A field left empty is one not given.
        fields: form
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .filter_map(|(k, v)| {
                Some((k.strip_prefix(&fields_prefix)?.to_owned(), (*v).to_owned()))
            })
            .collect(),
    }
}

fn chain_of(form: &BTreeMap<&str, &str>, prefix: &str) -> Vec<StepDraft> {
    indices(form, prefix)
        .into_iter()
        .map(|i| step_of(form, &format!("{prefix}.{i}")))
        .collect()
}

fn step_of(form: &BTreeMap<&str, &str>, prefix: &str) -> StepDraft {
    let part = part_of(form, prefix);
    if part.kind != "if" {
        return StepDraft::Do {
            part,
            continue_on_failure: form.contains_key(format!("{prefix}.continue").as_str()),
        };
    }
    let get = |name: String| form.get(name.as_str()).map(|v| (*v).to_owned());
    let condition = match get(format!("{prefix}.raw")) {
        Some(raw) => ConditionDraft::Raw(raw),
        None => ConditionDraft::Rows {
            any: get(format!("{prefix}.match")).as_deref() == Some("any"),
            rows: {
                let mut rows: Vec<usize> = form
                    .keys()
                    .filter_map(|k| {
                        k.strip_prefix(&format!("{prefix}.c."))?
                            .strip_suffix(".field")?
                            .parse()
                            .ok()
                    })
                    .collect();
                rows.sort_unstable();
                rows.into_iter()
                    .map(|j| {
                        let cell =
                            |name: &str| get(format!("{prefix}.c.{j}.{name}")).unwrap_or_default();
                        Comparison {
                            field: cell("field"),
                            operator: cell("operator"),
                            value: cell("value"),
                        }
                    })
                    .collect()
            },
        },
    };
    StepDraft::If(Branching {
        condition,
        then: chain_of(form, &format!("{prefix}.then")),
        otherwise: chain_of(form, &format!("{prefix}.else")),
    })
}
