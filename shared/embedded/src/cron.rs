//! EventBridge cron expressions evaluated locally, for `vigil serve`'s in-process clock.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The first occurrence of `expression` (EventBridge's six cron fields, read in `timezone`)
/// strictly after `after`; None when it never occurs again.
pub fn next_fire(
    expression: &str,
    timezone: &str,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    let cron = crate::scheduler::parse_cron(expression).map_err(|e| e.to_string())?;
    let tz = Tz::from_str(timezone).map_err(|_| format!("unknown timezone {timezone:?}"))?;
    Ok(cron
        .find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|next| next.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_five_minutes_fires_on_the_next_multiple_of_five() {
        let after = DateTime::parse_from_rfc3339("2026-11-22T10:02:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = next_fire("0/5 * * * ? *", "UTC", after).unwrap().unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-22T10:05:00+00:00");
    }

    #[test]
    fn weekly_on_monday_at_nine() {
        // 2026-11-22 is a Sunday.
        let after = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = next_fire("0 9 ? * MON *", "UTC", after).unwrap().unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-23T09:00:00+00:00");
    }
}
