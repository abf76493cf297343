//! A workflow's steps compiled into a flat program, and the pure walk a run takes through it.
//!
//! Nested `if` branches become conditional jumps, so a run's position is one number (the
//! program counter) and each step's result is keyed by it: a step is executed at most once, and
//! a retry resumes at the failed step's counter.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::condition::Condition;
use super::definition::{
    ActionStep, Control, DEFAULT_APPROVAL_TIMEOUT_MINUTES, Step, WorkflowSpec,
};
use crate::tenancy::Role;

/// One instruction; `path` is the step's JSON path in the workflow (`$.steps[1].then[0]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    Act {
        step: ActionStep,
        path: String,
    },
    /// Goes on at `otherwise` unless the condition holds.
    Branch {
        condition: Condition,
        otherwise: usize,
        path: String,
    },
    Jump {
        to: usize,
    },
    Delay {
        minutes: u32,
        path: String,
    },
    Approval {
        approvers: Role,
        timeout_minutes: u32,
        path: String,
    },
}

/// The compiled steps of one workflow version.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub instructions: Vec<Instruction>,
}

impl Program {
    pub fn compile(steps: &[Step]) -> Program {
        let mut instructions = Vec::new();
        emit(steps, "$.steps", &mut instructions);
        Program { instructions }
    }

    /// A workflow's program: its steps, behind an approval when every run requires one.
    pub fn of(spec: &WorkflowSpec) -> Program {
        let mut instructions = Vec::new();
        if spec.requires_approval {
            instructions.push(Instruction::Approval {
                approvers: Role::Operator,
                timeout_minutes: DEFAULT_APPROVAL_TIMEOUT_MINUTES,
                path: "$.requires_approval".into(),
            });
        }
        emit(&spec.steps, "$.steps", &mut instructions);
        Program { instructions }
    }
}

fn emit(steps: &[Step], path: &str, out: &mut Vec<Instruction>) {
    for (i, step) in steps.iter().enumerate() {
        let path = format!("{path}[{i}]");
        match step {
            Step::Action(step) => out.push(Instruction::Act {
                step: step.clone(),
                path,
            }),
            Step::Control(Control::Delay { minutes }) => out.push(Instruction::Delay {
                minutes: *minutes,
                path,
            }),
            Step::Control(Control::Approval {
                approvers,
                timeout_minutes,
            }) => out.push(Instruction::Approval {
                approvers: *approvers,
                timeout_minutes: *timeout_minutes,
                path,
            }),
            Step::Control(Control::If {
                condition,
                then,
                otherwise,
            }) => {
                let branch_at = out.len();
                out.push(Instruction::Branch {
                    condition: condition.clone(),
                    otherwise: 0,
                    path: path.clone(),
                });
                emit(then, &format!("{path}.then"), out);
                let jump_at = (!otherwise.is_empty()).then(|| {
                    out.push(Instruction::Jump { to: 0 });
                    out.len() - 1
                });
                let else_start = out.len();
                emit(otherwise, &format!("{path}.else"), out);
                let end = out.len();
                if let Some(Instruction::Branch { otherwise, .. }) = out.get_mut(branch_at) {
                    *otherwise = else_start;
                }
                if let Some(Instruction::Jump { to }) = jump_at.and_then(|at| out.get_mut(at)) {
                    *to = end;
                }
            }
        }
    }
}

/// A branch taken on the way to the next step, for the run's timeline and the test-mode trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BranchTaken {
    pub path: String,
    pub condition_held: bool,
}

/// Where a run goes from a program counter.
#[derive(Debug, Clone, PartialEq)]
pub enum Next<'p> {
    Act {
        pc: usize,
        step: &'p ActionStep,
        path: &'p str,
    },
    Delay {
        pc: usize,
        minutes: u32,
        path: &'p str,
    },
    Approval {
        pc: usize,
        approvers: Role,
        timeout_minutes: u32,
        path: &'p str,
    },
    Finished,
}

impl Program {
    /// From `pc`, evaluates branches and jumps against the run's snapshot until a step that does
    /// something (or the end). Pure: the same snapshot always takes the same way.
    pub fn next(&self, mut pc: usize, snapshot: &Value) -> (Vec<BranchTaken>, Next<'_>) {
        let mut branches = Vec::new();
        // Jumps only go forward, so this ends within one pass.
        while let Some(instruction) = self.instructions.get(pc) {
            match instruction {
                Instruction::Branch {
                    condition,
                    otherwise,
                    path,
                } => {
                    let held = condition.holds(snapshot);
                    branches.push(BranchTaken {
                        path: path.clone(),
                        condition_held: held,
                    });
                    pc = if held { pc + 1 } else { *otherwise };
                }
                Instruction::Jump { to } => pc = *to,
                Instruction::Act { step, path } => return (branches, Next::Act { pc, step, path }),
                Instruction::Delay { minutes, path } => {
                    return (
                        branches,
                        Next::Delay {
                            pc,
                            minutes: *minutes,
                            path,
                        },
                    );
                }
                Instruction::Approval {
                    approvers,
                    timeout_minutes,
                    path,
                } => {
                    return (
                        branches,
                        Next::Approval {
                            pc,
                            approvers: *approvers,
                            timeout_minutes: *timeout_minutes,
                            path,
                        },
                    );
                }
            }
        }
        (branches, Next::Finished)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workflows::definition::{Action, parse_workflow};

    fn program() -> Program {
        let body = json!({"name": "At-risk follow-up",
         "triggers": [{"type": "stage_changed", "to": "at_risk"}],
         "steps": [
           {"type": "create_task", "title": "Call {{client.name}}"},
           {"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1000}]},
            "then": [{"type": "approval"},
                     {"type": "http_request", "url": "https://hooks.example.com/at-risk"}],
            "else": [{"type": "delay", "minutes": 60}, {"type": "create_ticket", "title": "Check"}]},
           {"type": "send_notification", "title": "Done"}]});
        let checked = parse_workflow(&body).unwrap_or_else(|p| panic!("{p:?}"));
        Program::compile(&checked.spec.steps)
    }

    /// Walks the program as a run would (every step succeeding); returns the step paths.
    fn walk(program: &Program, snapshot: &Value) -> Vec<String> {
        let mut pc = 0;
        let mut visited = Vec::new();
        loop {
            match program.next(pc, snapshot).1 {
                Next::Act { pc: at, path, .. }
                | Next::Delay { pc: at, path, .. }
                | Next::Approval { pc: at, path, .. } => {
                    visited.push(path.to_owned());
                    pc = at + 1;
                }
                Next::Finished => return visited,
            }
        }
    }

    #[test]
    fn branches_compile_to_jumps_and_take_one_side() {
        let p = program();
        assert_eq!(p.instructions.len(), 8);
        let rich = json!({"client": {"mrr": 5000}});
        assert_eq!(
            walk(&p, &rich),
            [
                "$.steps[0]",
                "$.steps[1].then[0]",
                "$.steps[1].then[1]",
                "$.steps[2]"
            ]
        );
        let small = json!({"client": {"mrr": 100}});
        assert_eq!(
            walk(&p, &small),
            [
                "$.steps[0]",
                "$.steps[1].else[0]",
                "$.steps[1].else[1]",
                "$.steps[2]"
            ]
        );
    }

    #[test]
    fn the_branch_taken_is_reported_and_a_retry_resumes_at_its_step() {
        let p = program();
        let (branches, next) = p.next(1, &json!({"client": {"mrr": 100}}));
        assert_eq!(
            branches,
            [BranchTaken {
                path: "$.steps[1]".into(),
                condition_held: false
            }]
        );
        assert!(matches!(next, Next::Delay { minutes: 60, .. }));
        // Resuming at the failed ticket step goes straight to it, with no branch re-evaluated.
        let (branches, next) = p.next(6, &json!({}));
        assert!(branches.is_empty());
        assert!(matches!(
            next,
            Next::Act {
                step: ActionStep {
                    action: Action::CreateTicket { .. },
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn an_if_without_else_falls_through() {
        let body = json!({"name": "n", "triggers": [{"type": "ticket_created"}],
          "steps": [{"type": "if", "condition": {"field": "trigger.category", "operator": "equals", "value": "billing"},
                     "then": [{"type": "create_task", "title": "t"}]},
                    {"type": "create_ticket", "title": "x"}]});
        let checked = parse_workflow(&body).unwrap_or_else(|p| panic!("{p:?}"));
        let p = Program::compile(&checked.spec.steps);
        assert_eq!(
            walk(&p, &json!({"trigger": {"category": "billing"}})),
            ["$.steps[0].then[0]", "$.steps[1]"]
        );
        assert_eq!(
            walk(&p, &json!({"trigger": {"category": "tech"}})),
            ["$.steps[1]"]
        );
    }
}
