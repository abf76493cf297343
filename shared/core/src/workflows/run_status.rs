//! The states of a workflow run and the moves between them; anything else is refused.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = WorkflowRunStatus)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// In a delay step.
    Waiting,
    AwaitingApproval,
    Completed,
    /// Halted at a failed step; a retry resumes there.
    Failed,
    /// Its subject was gone when it started (or resumed).
    Skipped,
    /// Its workflow was disabled or deleted while it waited.
    Cancelled,
    /// An approver said no, or nobody answered in time.
    Rejected,
}

impl RunStatus {
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (
                Running,
                Waiting | AwaitingApproval | Completed | Failed | Skipped | Cancelled
            ) | (Waiting, Running | Cancelled | Skipped)
                | (AwaitingApproval, Running | Rejected | Cancelled | Skipped)
                | (Failed, Running | Cancelled)
        )
    }

    /// Whether the run will never move again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Skipped | RunStatus::Cancelled | RunStatus::Rejected
        )
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::{self, *};

    const ALL: [RunStatus; 8] = [
        Running,
        Waiting,
        AwaitingApproval,
        Completed,
        Failed,
        Skipped,
        Cancelled,
        Rejected,
    ];

    #[test]
    fn every_move_is_legal_or_refused_as_the_table_says() {
        let legal = [
            (Running, Waiting),
            (Running, AwaitingApproval),
            (Running, Completed),
            (Running, Failed),
            (Running, Skipped),
            (Running, Cancelled),
            (Waiting, Running),
            (Waiting, Cancelled),
            (Waiting, Skipped),
            (AwaitingApproval, Running),
            (AwaitingApproval, Rejected),
            (AwaitingApproval, Cancelled),
            (AwaitingApproval, Skipped),
            (Failed, Running),
            (Failed, Cancelled),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
        }
        for status in ALL {
            let stuck = ALL.iter().all(|to| !status.can_become(*to));
            assert_eq!(status.is_final(), stuck, "{status:?}");
        }
    }
}
