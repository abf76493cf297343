//! Reading runs: one by id, a workflow's runs newest first, and what a run would still do.

use chrono::{DateTime, Utc};

use super::WorkflowEngine;
use crate::ports::{Cursor, Index, Query, SortKey};
use crate::workflows::program::Program;
use crate::workflows::run::WorkflowRun;
use crate::workflows::run_status::RunStatus;
use crate::workflows::simulate::{Trace, simulate_from};
use crate::{Error, Result, ids, table_keys};

impl WorkflowEngine {
    pub(super) async fn read_run(
        &self,
        tenant: &str,
        run_id: &str,
    ) -> Result<Option<(WorkflowRun, u64)>> {
        if !ids::looks_like("wfr", run_id) {
            return Ok(None);
        }
        Ok(
            match self
                .parts
                .store
                .get(&table_keys::workflow_run(tenant, run_id))
                .await?
            {
                Some(item) => Some((item.parse()?, item.version)),
                None => None,
            },
        )
    }

    pub async fn get_run(&self, tenant: &str, run_id: &str) -> Result<WorkflowRun> {
        self.read_run(tenant, run_id)
            .await?
            .map(|(run, _)| run)
            .ok_or_else(|| Error::NotFound("workflow run".into()))
    }

    /// One workflow's runs, newest first.
    pub async fn list_runs(
        &self,
        tenant: &str,
        workflow_id: &str,
        status: Option<RunStatus>,
        since: Option<DateTime<Utc>>,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<WorkflowRun>, Option<Cursor>)> {
        let partition = table_keys::workflow_run_list(tenant, workflow_id, "").pk;
        let sort = match since {
            Some(t) => SortKey::GreaterOrEqual(t.timestamp_millis().to_string()),
            None => SortKey::All,
        };
        let query = Query::partition(Index::Gsi1, partition)
            .sort(sort)
            .descending();
        let (items, next) = crate::ports::query_filtered(
            self.parts.store.as_ref(),
            query,
            limit,
            cursor,
            |run: &WorkflowRun| status.is_none_or(|s| s == run.status),
        )
        .await?;
        Ok((items, next))
    }

    /// What a run would do after the step it stands at (for a run awaiting approval: what
    /// approving it leads to), walked on the workflow version and snapshot it started with,
    /// writing nothing.
    pub async fn steps_after(&self, tenant: &str, run_id: &str) -> Result<StepsAfter> {
        let run = self.get_run(tenant, run_id).await?;
        let workflow = self
            .workflows()
            .version(tenant, &run.workflow_id, run.version)
            .await?;
        let program = Program::of(&workflow.spec);
        let trace = simulate_from(
            &program,
            run.cursor + 1,
            run.snapshot,
            self.parts.clock.now(),
        );
        Ok(StepsAfter {
            workflow_name: workflow.spec.name,
            trace,
        })
    }
}

/// What a run would still do, and the name of the workflow it runs.
#[derive(Debug)]
pub struct StepsAfter {
    pub workflow_name: String,
    pub trace: Trace,
}
