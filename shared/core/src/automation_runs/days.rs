//! The tenant's runs per UTC day over the last few days: runs, failures and credits, summed from
//! its scenarios' hour counters. One query per scenario (a few days of hours each), so the cost
//! follows the number of scenarios, never the number of runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::StreamExt as _;

use super::{RunService, hour_of, milli_to_credits};
use crate::ports::store::{MAX_PAGE, all_pages};
use crate::ports::{Index, Query, SortKey};
use crate::{Error, Result, table_keys};

/// Most days the daily figures reach back.
pub const MAX_DAYS: u32 = 30;
/// Scenarios whose hour counters are read at once.
const CONCURRENT_READS: usize = 8;

/// One UTC day of the tenant's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDay {
    pub date: NaiveDate,
    pub runs: u64,
    pub failed: u64,
    /// Credits the day's runs used.
    pub credits: f64,
}

impl RunDay {
    /// Failed runs ÷ runs; none on a day without runs.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.failed as f64 / self.runs as f64)
    }
}

/// Counters of one day, summed exactly (credits in thousandths).
#[derive(Default, Clone, Copy)]
struct DayTally {
    runs: i64,
    failed: i64,
    credits_milli: i64,
}

/// The `days` days ending with `last` (oldest first), each with the hour counters that fall on
/// it; counters of hours outside those days are left out.
pub fn run_days<'a>(
    last: NaiveDate,
    days: u32,
    hours: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, i64>)>,
) -> Vec<RunDay> {
    let first = last - Duration::days(i64::from(days.max(1)) - 1);
    let mut tallies: BTreeMap<NaiveDate, DayTally> = first
        .iter_days()
        .take_while(|day| *day <= last)
        .map(|day| (day, DayTally::default()))
        .collect();
    for (hour, counters) in hours {
        // An hour's sort key is `2026-01-23T10`: its day is what comes before the `T`.
        let Some(day) = hour
            .split_once('T')
            .and_then(|(day, _)| day.parse::<NaiveDate>().ok())
        else {
            continue;
        };
        let Some(tally) = tallies.get_mut(&day) else {
            continue;
        };
        let counter = |name: &str| counters.get(name).copied().unwrap_or(0).max(0);
        tally.runs += counter("runs");
        tally.failed += counter("failed");
        tally.credits_milli += counter("credits_milli");
    }
    tallies
        .into_iter()
        .map(|(date, tally)| RunDay {
            date,
            runs: tally.runs.unsigned_abs(),
            failed: tally.failed.unsigned_abs(),
            credits: milli_to_credits(tally.credits_milli),
        })
        .collect()
}

impl RunService {
    /// The tenant's runs per day over the last `days` days (today, so far, included; 1–30),
    /// oldest first.
    pub async fn daily(&self, tenant: &str, days: u32) -> Result<Vec<RunDay>> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(Error::invalid(
                "invalid_days",
                format!("days must be between 1 and {MAX_DAYS}"),
            ));
        }
        let now = self.clock.now();
        let today = now.date_naive();
        let first_hour = format!("{}T00", today - Duration::days(i64::from(days) - 1));
        let scenarios =
            all_pages(|limit, cursor| self.list_scenarios(tenant, limit, cursor)).await?;
        // Made first, so the stream holds the reads themselves (a lazy map over borrowed
        // scenarios would keep the page's future from being `Send`).
        let reads: Vec<_> = scenarios
            .iter()
            .map(|scenario| self.hour_counters(tenant, &scenario.id, first_hour.clone(), now))
            .collect();
        let mut reads = futures_util::stream::iter(reads).buffer_unordered(CONCURRENT_READS);
        let mut hours = Vec::new();
        while let Some(read) = reads.next().await {
            hours.extend(read?);
        }
        Ok(run_days(
            today,
            days,
            hours
                .iter()
                .map(|(hour, counters)| (hour.as_str(), counters)),
        ))
    }

    /// A scenario's hour counters from `first_hour` to `now`'s hour (a month of hours fits in
    /// one page).
    async fn hour_counters(
        &self,
        tenant: &str,
        scenario: &str,
        first_hour: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, BTreeMap<String, i64>)>> {
        let query = Query::partition(
            Index::Primary,
            table_keys::scenario_hour(tenant, scenario, "").pk,
        )
        .sort(SortKey::Between(first_hour, hour_of(now)))
        .limit(MAX_PAGE);
        let page = self.store.query(query).await?;
        Ok(page
            .items
            .into_iter()
            .map(|item| (item.key.sk, item.counters))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(runs: i64, failed: i64, credits_milli: i64) -> BTreeMap<String, i64> {
        BTreeMap::from([
            ("runs".to_owned(), runs),
            ("failed".to_owned(), failed),
            ("credits_milli".to_owned(), credits_milli),
        ])
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn hours_are_summed_into_their_day_and_every_day_is_there() {
        // GIVEN hours on two of three days, and one hour before them
        let (a, b, c, before) = (
            counters(3, 1, 1_500),
            counters(2, 0, 500),
            counters(5, 5, 10_250),
            counters(9, 9, 9_000),
        );
        let hours = [
            ("2026-05-01T08", &a),
            ("2026-05-01T23", &b),
            ("2026-05-03T00", &c),
            ("2026-04-30T23", &before),
        ];
        // WHEN the three days ending 3 May are summed
        let days = run_days(day("2026-05-03"), 3, hours);
        // THEN each day has its hours, the quiet day is there with nothing, the earlier hour is not
        let figures: Vec<(String, u64, u64, f64)> = days
            .iter()
            .map(|d| (d.date.to_string(), d.runs, d.failed, d.credits))
            .collect();
        assert_eq!(
            figures,
            [
                ("2026-05-01".to_owned(), 5, 1, 2.0),
                ("2026-05-02".to_owned(), 0, 0, 0.0),
                ("2026-05-03".to_owned(), 5, 5, 10.25),
            ]
        );
        assert_eq!(days[0].failure_rate(), Some(0.2));
        assert_eq!(days[1].failure_rate(), None);
        assert_eq!(days[2].failure_rate(), Some(1.0));
    }

    #[test]
    fn an_hour_that_is_no_hour_is_left_out() {
        let some = counters(1, 0, 0);
        let days = run_days(day("2026-05-03"), 1, [("not-an-hour", &some)]);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].runs, 0);
    }
}
