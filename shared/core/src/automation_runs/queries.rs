//! Reading runs, scenarios and scans: one by id, a filtered page newest first, or every run of a
//! span.

use chrono::{DateTime, Utc};

use super::scans::{Scan, scan_sort};
use super::{Run, RunService, RunStatus, Scenario, input, time_sort};
use crate::ports::{Cursor, Index, Item, Query, SortKey, query_filtered};
use crate::severity::Severity;
use crate::{Error, Result, table_keys};

/// Filters of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub scenario: Option<String>,
    pub status: Option<RunStatus>,
    pub severity: Option<Severity>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl RunFilter {
    /// A window that ends before it starts: each bound is valid alone, but no run is in it.
    pub fn is_empty_window(&self) -> bool {
        self.since.zip(self.until).is_some_and(|(s, u)| s > u)
    }
}

impl RunService {
    pub async fn get(&self, tenant: &str, run_id: &str) -> Result<Run> {
        if !input::valid_id(run_id) {
            return Err(Error::NotFound("run".into()));
        }
        let item = self
            .store
            .get(&table_keys::run(tenant, run_id))
            .await?
            .ok_or_else(|| Error::NotFound("run".into()))?;
        Ok(item.parse()?)
    }

    /// Runs newest first, narrowed by `filter`.
    pub async fn list(
        &self,
        tenant: &str,
        filter: &RunFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Run>, Option<Cursor>)> {
        if filter.is_empty_window() {
            return Ok((Vec::new(), None));
        }
        let partition = match &filter.scenario {
            Some(scenario) => table_keys::scenario_run_list(tenant, scenario, "").pk,
            None => table_keys::run_list(tenant, "").pk,
        };
        let index = if filter.scenario.is_some() {
            Index::Gsi2
        } else {
            Index::Gsi1
        };
        let query = Query::partition(index, partition)
            .sort(time_range(filter.since, filter.until))
            .descending();
        let (found, cursor) =
            query_filtered(self.store.as_ref(), query, limit, cursor, |run: &Run| {
                filter.status.is_none_or(|s| run.report.status == s)
                    && filter
                        .severity
                        .is_none_or(|s| run.classification.severity == s)
            })
            .await?;
        Ok((found, cursor))
    }

    /// Every run of a scenario from `since` on, oldest first.
    pub async fn scenario_runs_since(
        &self,
        tenant: &str,
        scenario: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Run>> {
        let query = Query::partition(
            Index::Gsi2,
            table_keys::scenario_run_list(tenant, scenario, "").pk,
        )
        .sort(time_range(Some(since), None))
        .limit(crate::ports::store::MAX_PAGE);
        self.collect_runs(query).await
    }

    /// Every page of `query`, parsed.
    async fn collect_runs(&self, query: Query) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.query(query.clone().after(cursor)).await?;
            for item in &page.items {
                runs.push(item.parse()?);
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(runs);
            }
        }
    }

    /// Every run of the tenant timed in `[start, end)`, oldest first.
    pub async fn runs_between(
        &self,
        tenant: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Run>> {
        let query = Query::partition(Index::Gsi1, table_keys::run_list(tenant, "").pk)
            .sort(SortKey::Between(time_sort(start), time_sort(end)))
            .limit(crate::ports::store::MAX_PAGE);
        self.collect_runs(query).await
    }

    pub async fn scenario(&self, tenant: &str, id: &str) -> Result<Option<Scenario>> {
        if !input::valid_id(id) {
            return Ok(None);
        }
        Ok(
            match self.store.get(&table_keys::scenario(tenant, id)).await? {
                Some(item) => Some(item.parse()?),
                None => None,
            },
        )
    }

    pub async fn get_scenario(&self, tenant: &str, id: &str) -> Result<(Scenario, u64)> {
        if !input::valid_id(id) {
            return Err(Error::NotFound("scenario".into()));
        }
        let item = self
            .store
            .get(&table_keys::scenario(tenant, id))
            .await?
            .ok_or_else(|| Error::NotFound("scenario".into()))?;
        Ok((item.parse()?, item.version))
    }

    pub async fn list_scenarios(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Scenario>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::scenarios_partition(tenant))
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let scenarios = page
            .items
            .iter()
            .map(Item::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((scenarios, page.next_cursor))
    }
}

impl RunService {
    /// One scan, by its id and the time it was scheduled for (scans are kept in time order).
    pub async fn get_scan(
        &self,
        tenant: &str,
        id: &str,
        scheduled_for: DateTime<Utc>,
    ) -> Result<Scan> {
        let missing = || Error::NotFound("scan".into());
        if !input::valid_id(id) {
            return Err(missing());
        }
        let item = self
            .store
            .get(&table_keys::scan(tenant, &scan_sort(scheduled_for, id)))
            .await?
            .ok_or_else(missing)?;
        Ok(item.parse()?)
    }
}

/// The sort-key range of runs between two times (run sort keys start with their time).
fn time_range(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> SortKey {
    // '~' sorts after '#' and every id character, so `until` includes its own millisecond.
    match (since, until) {
        (None, None) => SortKey::All,
        (Some(s), None) => SortKey::GreaterOrEqual(time_sort(s)),
        (None, Some(u)) => SortKey::LessOrEqual(format!("{}~", time_sort(u))),
        (Some(s), Some(u)) => SortKey::Between(time_sort(s), format!("{}~", time_sort(u))),
    }
}
