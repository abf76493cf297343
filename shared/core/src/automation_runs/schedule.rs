//! A tenant's health-scan schedule and the pure computation of its next scan time, in the
//! tenant's timezone, right across daylight-saving changes.

use chrono::{
    DateTime, Datelike as _, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone as _, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::input;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ScanFrequency {
    /// Once a day at the preferred time.
    #[default]
    #[serde(rename = "daily")]
    Daily,
    /// At the preferred time and twelve hours later.
    #[serde(rename = "12h")]
    TwelveHours,
    /// At the preferred time and every six hours from it.
    #[serde(rename = "6h")]
    SixHours,
    /// Mondays at the preferred time.
    #[serde(rename = "weekly")]
    Weekly,
}

impl ScanFrequency {
    pub const ALL: [ScanFrequency; 4] = [
        ScanFrequency::Daily,
        ScanFrequency::TwelveHours,
        ScanFrequency::SixHours,
        ScanFrequency::Weekly,
    ];

    /// The word the API writes and reads (`12h`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScanFrequency::Daily => "daily",
            ScanFrequency::TwelveHours => "12h",
            ScanFrequency::SixHours => "6h",
            ScanFrequency::Weekly => "weekly",
        }
    }

    /// When it scans, in words (after "at the preferred time").
    pub fn describe(self) -> &'static str {
        match self {
            ScanFrequency::Daily => "every day",
            ScanFrequency::TwelveHours => "every 12 hours",
            ScanFrequency::SixHours => "every 6 hours",
            ScanFrequency::Weekly => "every Monday",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanScope {
    /// Every scenario Vigil has seen.
    #[default]
    All,
    /// Scenarios with a run in the last seven days.
    Active,
    /// The scenarios in `scenario_ids`.
    Selected,
}

impl ScanScope {
    pub const ALL: [ScanScope; 3] = [ScanScope::All, ScanScope::Active, ScanScope::Selected];

    pub fn as_str(self) -> &'static str {
        match self {
            ScanScope::All => "all",
            ScanScope::Active => "active",
            ScanScope::Selected => "selected",
        }
    }
}

/// The timezone of a schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "America/Chicago";
/// Scenarios a `selected` schedule may name.
pub const MAX_SELECTED: usize = 1000;

/// `PUT /api/v1/scan-schedule`: fields left out take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScanScheduleInput {
    pub enabled: bool,
    pub frequency: ScanFrequency,
    /// Local time of day, `HH:MM` (24-hour).
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub preferred_time: String,
    /// IANA timezone name (another name is 422).
    #[schema(min_length = 1, max_length = 64)]
    pub timezone: String,
    pub scope: ScanScope,
    /// The scenarios a `selected` scope scans (it needs at least one: 422 otherwise).
    #[schema(max_items = 1000, inline, value_type = Vec<ScenarioId>)]
    pub scenario_ids: Vec<String>,
}

impl Default for ScanScheduleInput {
    fn default() -> Self {
        Self {
            enabled: true,
            frequency: ScanFrequency::Daily,
            preferred_time: "09:00".into(),
            timezone: DEFAULT_TIMEZONE.into(),
            scope: ScanScope::All,
            scenario_ids: Vec::new(),
        }
    }
}

/// A schedule as stored and answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanSchedule {
    pub tenant_id: String,
    #[serde(flatten)]
    pub settings: ScanScheduleInput,
    /// When the next scan is due; none while disabled.
    pub next_scan_at: Option<DateTime<Utc>>,
    pub last_scan_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ScanSchedule {
    /// When the next scan is due, on the clock of the schedule's timezone.
    pub fn next_scan_local(&self) -> Option<DateTime<Tz>> {
        let zone: Tz = self.settings.timezone.parse().ok()?;
        self.next_scan_at.map(|next| next.with_timezone(&zone))
    }
}

/// A checked schedule: its time and zone parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    pub frequency: ScanFrequency,
    pub at: NaiveTime,
    pub zone: Tz,
}

/// A scenario id: 1–200 characters without `#` or control characters (documents lists of them).
pub struct ScenarioId;

impl utoipa::PartialSchema for ScenarioId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(input::MAX_ID_LEN))
            .pattern(Some("^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"))
            .into()
    }
}

impl utoipa::ToSchema for ScenarioId {}

impl ScanScheduleInput {
    pub fn validate(&self) -> Result<Cadence> {
        let at = NaiveTime::parse_from_str(&self.preferred_time, "%H:%M").map_err(|_| {
            Error::invalid(
                "invalid_field",
                "preferred_time must be HH:MM (24-hour), e.g. 09:00",
            )
        })?;
        let zone: Tz = self.timezone.parse().map_err(|_| {
            Error::unprocessable(
                "invalid_field",
                format!("timezone: {:?} is not an IANA timezone name", self.timezone),
            )
        })?;
        if self.scope == ScanScope::Selected && self.scenario_ids.is_empty() {
            return Err(Error::unprocessable(
                "invalid_field",
                "scenario_ids must name at least one scenario when scope is selected",
            ));
        }
        if self.scenario_ids.len() > MAX_SELECTED {
            return Err(Error::invalid(
                "invalid_field",
                format!("scenario_ids holds at most {MAX_SELECTED} scenarios"),
            ));
        }
        if let Some(bad) = self.scenario_ids.iter().find(|id| !input::valid_id(id)) {
            return Err(Error::invalid(
                "invalid_field",
                format!("scenario_ids: {bad:?} is not a valid scenario id"),
            ));
        }
        Ok(Cadence {
            frequency: self.frequency,
            at,
            zone,
        })
    }
}

impl Cadence {
    /// Local times of day a scan runs.
    fn slots(&self) -> Vec<NaiveTime> {
        let every = match self.frequency {
            ScanFrequency::Daily | ScanFrequency::Weekly => 24,
            ScanFrequency::TwelveHours => 12,
            ScanFrequency::SixHours => 6,
        };
        (0..24 / every)
            .map(|i| self.at + Duration::hours(i64::from(i * every)))
            .collect()
    }

    /// The first scan time strictly after `after`. Slots are local wall-clock times: a daily
    /// 09:00 scan runs at 09:00 local on both sides of a DST change. A slot inside the spring
    /// gap runs at the first minute after it; a slot repeated in autumn runs once, the first
    /// time.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let local_day = after.with_timezone(&self.zone).date_naive();
        let slots = self.slots();
        (-1..=8)
            .filter_map(|offset| local_day.checked_add_signed(Duration::days(offset)))
            .filter(|day| self.frequency != ScanFrequency::Weekly || day.weekday() == Weekday::Mon)
            .flat_map(|day| {
                slots
                    .iter()
                    .filter_map(move |slot| self.resolve(day, *slot))
            })
            .filter(|at| *at > after)
            .min()
            // Unreachable: some slot in the next eight days always resolves.
            .unwrap_or(after + Duration::days(1))
    }

    fn resolve(&self, day: NaiveDate, slot: NaiveTime) -> Option<DateTime<Utc>> {
        let wall = day.and_time(slot);
        // Gaps are at most a few hours; step to the first minute that exists.
        (0..=240).find_map(|minutes| {
            match self
                .zone
                .from_local_datetime(&(wall + Duration::minutes(minutes)))
            {
                LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
                LocalResult::None => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn cadence(frequency: ScanFrequency, time: &str, zone: &str) -> Cadence {
        let input = ScanScheduleInput {
            frequency,
            preferred_time: time.into(),
            timezone: zone.into(),
            ..Default::default()
        };
        input.validate().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_daily_chicago_scan_keeps_its_local_time_across_both_dst_changes() {
        let daily = cadence(ScanFrequency::Daily, "09:00", "America/Chicago");
        // CST (UTC-6) before 8 March 2026, CDT (UTC-5) after.
        assert_eq!(
            daily.next_after(at("2026-03-07T15:00:00Z")),
            at("2026-03-08T14:00:00Z")
        );
        assert_eq!(
            daily.next_after(at("2026-03-06T16:00:00Z")),
            at("2026-03-07T15:00:00Z")
        );
        // Back to CST on 1 November 2026.
        assert_eq!(
            daily.next_after(at("2026-10-31T14:00:00Z")),
            at("2026-11-01T15:00:00Z")
        );
    }

    #[test]
    fn a_daily_berlin_scan_keeps_its_local_time_across_both_dst_changes() {
        let daily = cadence(ScanFrequency::Daily, "09:00", "Europe/Berlin");
        // CET (UTC+1) until 29 March 2026, CEST (UTC+2) after, CET again from 25 October.
        assert_eq!(
            daily.next_after(at("2026-03-28T08:00:00Z")),
            at("2026-03-29T07:00:00Z")
        );
        assert_eq!(
            daily.next_after(at("2026-10-24T07:00:00Z")),
            at("2026-10-25T08:00:00Z")
        );
    }

    #[test]
    fn a_slot_in_the_spring_gap_runs_just_after_it_and_an_autumn_repeat_runs_once() {
        let early = cadence(ScanFrequency::Daily, "02:30", "America/Chicago");
        // 02:30 does not exist on 8 March 2026 in Chicago: 03:00 CDT is 08:00Z.
        assert_eq!(
            early.next_after(at("2026-03-07T09:00:00Z")),
            at("2026-03-08T08:00:00Z")
        );
        let repeated = cadence(ScanFrequency::Daily, "01:30", "America/Chicago");
        // 01:30 happens twice on 1 November 2026; the scan runs at the first (CDT, 06:30Z) and
        // next on 2 November (CST, 07:30Z).
        let first = repeated.next_after(at("2026-11-01T00:00:00Z"));
        assert_eq!(first, at("2026-11-01T06:30:00Z"));
        assert_eq!(repeated.next_after(first), at("2026-11-02T07:30:00Z"));
    }

    #[test]
    fn shorter_frequencies_run_from_the_preferred_time() {
        let six = cadence(ScanFrequency::SixHours, "03:00", "UTC");
        assert_eq!(
            six.next_after(at("2026-05-01T10:00:00Z")),
            at("2026-05-01T15:00:00Z")
        );
        let twelve = cadence(ScanFrequency::TwelveHours, "08:15", "UTC");
        assert_eq!(
            twelve.next_after(at("2026-05-01T09:00:00Z")),
            at("2026-05-01T20:15:00Z")
        );
        assert_eq!(
            twelve.next_after(at("2026-05-01T21:00:00Z")),
            at("2026-05-02T08:15:00Z")
        );
    }

    #[test]
    fn a_weekly_scan_runs_on_mondays() {
        let weekly = cadence(ScanFrequency::Weekly, "09:00", "Europe/Berlin");
        // Wednesday 6 May 2026 → Monday 11 May, 09:00 CEST.
        assert_eq!(
            weekly.next_after(at("2026-05-06T12:00:00Z")),
            at("2026-05-11T07:00:00Z")
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let bad_time = ScanScheduleInput {
            preferred_time: "9am".into(),
            ..Default::default()
        };
        assert!(
            bad_time
                .validate()
                .is_err_and(|e| e.to_string().contains("preferred_time"))
        );
        let bad_zone = ScanScheduleInput {
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert!(
            bad_zone
                .validate()
                .is_err_and(|e| e.to_string().contains("timezone"))
        );
        let empty = ScanScheduleInput {
            scope: ScanScope::Selected,
            ..Default::default()
        };
        assert!(
            empty
                .validate()
                .is_err_and(|e| e.to_string().contains("scenario_ids"))
        );
    }
}
