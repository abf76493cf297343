//! `POST /hooks/{tenant}/runs`: one run (a JSON object) or a batch of up to 100 (an array).
//! Authenticated like domain events. In a batch, valid runs are stored and each rejected item
//! is listed with its reason; a single invalid run is a 400.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::IngestService;
use crate::automation_runs::{MAX_BATCH, RunInput, RunOutcome, RunService};
use crate::tenancy::auth::HookCredentials;
use crate::{Error, Result};

/// Why one item of a batch was not stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejectedRun {
    /// Position in the posted array, from 0.
    pub index: usize,
    pub run_id: Option<String>,
    pub code: String,
    pub message: String,
}

/// The answer to a posted batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunBatchOutcome {
    /// New runs stored.
    pub accepted: usize,
    pub duplicates: usize,
    pub runs: Vec<RunOutcome>,
    pub rejected: Vec<RejectedRun>,
}

/// What a runs hook answers: one outcome, or a batch's.
#[derive(Debug, Clone, PartialEq)]
pub enum RunsAccepted {
    One(RunOutcome),
    Batch(RunBatchOutcome),
}

impl IngestService {
    pub async fn accept_runs(
        &self,
        runs: &RunService,
        tenant_id: &str,
        credentials: HookCredentials<'_>,
        body: &[u8],
        source_ip: Option<&str>,
    ) -> Result<RunsAccepted> {
        let now = self.clock.now();
        self.authenticate(tenant_id, credentials, body, source_ip, "runs", now)
            .await?;
        let posted: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid("invalid_json", format!("request body: {e}")))?;
        match posted {
            Value::Array(items) => {
                if items.is_empty() || items.len() > MAX_BATCH {
                    return Err(Error::invalid(
                        "invalid_batch",
                        format!(
                            "a batch holds 1 to {MAX_BATCH} runs; this one has {}",
                            items.len()
                        ),
                    ));
                }
                let mut valid = Vec::new();
                let mut rejected = Vec::new();
                for (index, item) in items.into_iter().enumerate() {
                    let run_id = item.get("run_id").and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                    match RunInput::from_json(item, now) {
                        Ok(input) => valid.push(input),
                        Err(e) => rejected.push(RejectedRun {
                            index,
                            run_id,
                            code: e.code().to_owned(),
                            message: e.to_string(),
                        }),
                    }
                }
                let outcomes = runs.record(tenant_id, valid).await?;
                let duplicates = outcomes.iter().filter(|o| o.duplicate).count();
                Ok(RunsAccepted::Batch(RunBatchOutcome {
                    accepted: outcomes.len() - duplicates,
                    duplicates,
                    runs: outcomes,
                    rejected,
                }))
            }
            one => {
                let input = RunInput::from_json(one, now)?;
                let outcome = runs
                    .record(tenant_id, vec![input])
                    .await?
                    .pop()
                    .ok_or_else(|| Error::Internal("a recorded run has no outcome".into()))?;
                Ok(RunsAccepted::One(outcome))
            }
        }
    }
}
