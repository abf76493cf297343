//! The check an AI rewording of the daily summary must pass before it ships: every number it
//! states is a figure the summary computed (compared as a value, in the summary's rounding, and
//! as the same kind of figure), and every date it names is the summary's own date. Digits are
//! never matched loosely: the 12 of "2026-12-12" allows a date, not "12%".

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{Datelike as _, NaiveDate};
use regex_lite::{Captures, Regex};

use super::daily::{DailyFacts, money, percent};
use crate::ports::wording::AiError;

/// What a figure measures, as the summary renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Count,
    /// Major currency units with two decimals (the summary prints no currency sign).
    Money,
    /// Percent with one decimal.
    Percent,
}

/// A value in hundredths, so that 12, 12.0 and 12.00 are one value. Every figure the summary
/// renders has at most two decimals.
type Hundredths = i128;

/// The figures and the date an AI rewording may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedFigures {
    values: BTreeSet<(Unit, Hundredths)>,
    date: NaiveDate,
}

impl AllowedFigures {
    /// The figures of the daily summary of `date`: the facts' counts and amounts, and what the
    /// summary derives from them (attempts, open anomalies, failure rate), each as rendered.
    pub fn of_daily(facts: &DailyFacts, date: NaiveDate) -> AllowedFigures {
        let counts = [
            facts.payments_succeeded,
            facts.payments_failed,
            facts.refunds,
            facts.subscriptions_created,
            facts.subscriptions_cancelled,
            facts.invoices_failed,
            facts.attempts(),
            facts.open_anomalies(),
        ]
        .into_iter()
        .chain(facts.anomalies_by_status.values().copied())
        .chain(facts.anomalies_by_severity.values().copied())
        .chain(facts.top_rules.iter().map(|(_, n)| *n));
        let mut values: BTreeSet<(Unit, Hundredths)> = counts
            .map(|n| (Unit::Count, Hundredths::from(n.unsigned_abs()) * 100))
            .collect();
        // Amounts and the rate go through the very formatting the summary prints them with.
        for minor in [facts.charge_volume, facts.refund_volume] {
            values.extend(hundredths(&money(minor)).map(|v| (Unit::Money, v)));
        }
        values.extend(hundredths(&percent(facts.failure_rate())).map(|v| (Unit::Percent, v)));
        AllowedFigures { values, date }
    }

    /// Accepts `answer` only if every number and date in it is allowed; otherwise names what
    /// was not, as written.
    pub fn check(&self, answer: String) -> Result<String, AiError> {
        let mut invented = Vec::new();
        let without_dates = DATES.replace_all(&answer, |date: &Captures<'_>| {
            if !self.is_the_date(date) {
                invented.push(date[0].to_owned());
            }
            // Keep a separator so the digits around a date never join up.
            " "
        });
        for number in numbers(&without_dates) {
            if !self.allows(&number) {
                invented.push(number.written);
            }
        }
        if invented.is_empty() {
            Ok(answer)
        } else {
            Err(AiError::InventedNumbers(invented.join(", ")))
        }
    }

    fn allows(&self, number: &Number) -> bool {
        let Some(value) = number.value else {
            return false;
        };
        match number.unit {
            Some(unit) => self.values.contains(&(unit, value)),
            None => [Unit::Count, Unit::Money, Unit::Percent]
                .into_iter()
                .any(|unit| self.values.contains(&(unit, value))),
        }
    }

    /// Whether a date the answer wrote is the summary's date (a written date without a year
    /// means the summary's year; "December 2026" means its month).
    fn is_the_date(&self, date: &Captures<'_>) -> bool {
        let number = |name: &str| date.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
        let year = ["year", "iso_year", "year_after", "month_year"]
            .iter()
            .find_map(|name| date.name(name))
            .and_then(|m| m.as_str().parse::<i32>().ok())
            .unwrap_or(self.date.year());
        let month = number("iso_month").or_else(|| {
            ["month", "month_after"]
                .iter()
                .find_map(|name| date.name(name))
                .and_then(|m| month_number(m.as_str()))
        });
        let day = ["iso_day", "day", "day_before"]
            .iter()
            .find_map(|name| number(name));
        match (month, day) {
            (Some(month), Some(day)) => {
                NaiveDate::from_ymd_opt(year, month, day) == Some(self.date)
            }
            (Some(month), None) => year == self.date.year() && month == self.date.month(),
            _ => false,
        }
    }
}

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|\
november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec";

/// ISO dates, "December 6[th][, 2026]", "6[th] [of] December[ 2026]" and "December 2026".
static DATES: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = format!(
        r"(?i)\b(?:(?P<iso_year>\d{{4}})-(?P<iso_month>\d{{1,2}})-(?P<iso_day>\d{{1,2}})\b|(?P<month>{MONTHS})\.?\s+(?:(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{{4}})\b)?|(?P<month_year>\d{{4}})\b)|(?P<day_before>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month_after>{MONTHS})\b\.?(?:,?\s+(?P<year_after>\d{{4}})\b)?)"
    );
    // The pattern is a constant: it compiles, as the unit tests prove.
    Regex::new(&pattern).expect("date pattern compiles")
});

/// A number with an optional currency sign before it and an optional percent after it; digits
/// may be grouped by thousands.
static NUMBERS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?P<currency>[$€£]\s?)?(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<percent>\s?%|\s+percent\b)?",
    )
    .expect("number pattern compiles")
});

fn month_number(name: &str) -> Option<u32> {
    let name = name.to_ascii_lowercase();
    let prefix = name.get(..3)?;
    [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| *m == prefix)
    .and_then(|i| u32::try_from(i + 1).ok())
}

/// A number as the answer wrote it.
#[derive(Debug)]
struct Number {
    written: String,
    /// Which kind of figure its sign says it is; `None` when bare.
    unit: Option<Unit>,
    /// `None` when it has more precision than any rendered figure (so it matches none).
    value: Option<Hundredths>,
}

/// The numbers of `text`, leaving out digits that are part of a word (`SEV1`, `rule_v2`).
fn numbers(text: &str) -> Vec<Number> {
    NUMBERS
        .captures_iter(text)
        .filter_map(|found| {
            let whole = found.get(0)?;
            let digits = found.name("digits")?;
            let in_a_word = text[..digits.start()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
                && found.name("currency").is_none();
            if in_a_word {
                return None;
            }
            let unit = if found.name("percent").is_some() {
                Some(Unit::Percent)
            } else if found.name("currency").is_some() {
                Some(Unit::Money)
            } else {
                None
            };
            Some(Number {
                written: whole.as_str().trim().to_owned(),
                unit,
                value: hundredths(digits.as_str()),
            })
        })
        .collect()
}

/// "1,234.5" → 123450; `None` for a value finer than hundredths or too large to matter.
fn hundredths(written: &str) -> Option<Hundredths> {
    let written = written.trim_start_matches('-').replace(',', "");
    let (whole, fraction) = written.split_once('.').unwrap_or((&written, ""));
    if fraction.len() > 2 && fraction[2..].chars().any(|c| c != '0') {
        return None;
    }
    let cents: String = fraction.chars().chain("00".chars()).take(2).collect();
    let whole: Hundredths = whole.parse().ok()?;
    let cents: Hundredths = cents.parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// 10 succeeded and 5 failed payments (15 attempts, 33.3% failing), 1,234.56 charged, one
    /// refund of 12.50, two open SEV1 anomalies of one rule.
    fn facts() -> DailyFacts {
        DailyFacts {
            payments_succeeded: 10,
            payments_failed: 5,
            charge_volume: 123_456,
            refunds: 1,
            refund_volume: 1_250,
            anomalies_by_status: BTreeMap::from([("open".into(), 2)]),
            anomalies_by_severity: BTreeMap::from([("SEV1".into(), 2)]),
            top_rules: vec![("payment_failure_spike".into(), 2)],
            ..DailyFacts::default()
        }
    }

    fn check(on: NaiveDate, answer: &str) -> Result<String, String> {
        AllowedFigures::of_daily(&facts(), on)
            .check(answer.to_owned())
            .map_err(|e| match e {
                AiError::InventedNumbers(what) => what,
                other => panic!("{other:?}"),
            })
    }

    #[test]
    fn the_summary_itself_passes_on_any_day() {
        // The deterministic text is the most faithful rewording there is.
        for on in [date(2026, 12, 12), date(2026, 1, 1), date(2027, 2, 28)] {
            let text = super::super::daily::as_text(&super::super::daily::render(&facts(), on));
            assert_eq!(check(on, &text), Ok(text.clone()), "{text}");
        }
    }

    #[test]
    fn a_days_digits_never_allow_a_figure() {
        // On 12 December, 12 is the day and the month, not a figure of the facts.
        let december_12 = date(2026, 12, 12);
        assert_eq!(
            check(december_12, "Revenue grew 12% today."),
            Err("12%".into())
        );
        assert_eq!(check(december_12, "12 refunds."), Err("12".into()));
        // On the first of a month, 1 stays a figure only where the facts have it (1 refund).
        let first = date(2026, 12, 1);
        assert!(check(first, "1 refund on 2026-12-01.").is_ok());
        assert_eq!(check(first, "Up 1% on 2026-12-01."), Err("1%".into()));
        // A day whose number equals a figure: 5 failed payments on the 5th.
        let fifth = date(2026, 12, 5);
        assert!(check(fifth, "On December 5th, 5 payments failed.").is_ok());
        assert_eq!(
            check(fifth, "On December 5th, 2026 was 5% worse."),
            Err("5%".into())
        );
        // And the year is a date's, not a count.
        assert_eq!(check(fifth, "2026 payments failed."), Err("2026".into()));
    }

    #[test]
    fn dates_are_checked_as_dates() {
        let on = date(2026, 12, 12);
        for faithful in [
            "On 2026-12-12, 15 attempts.",
            "On December 12, 15 attempts.",
            "On Dec 12th, 2026, 15 attempts.",
            "On 12 December 2026, 15 attempts.",
            "On the 12th of December, 15 attempts.",
            "December 2026: 15 attempts.",
        ] {
            assert!(check(on, faithful).is_ok(), "{faithful}");
        }
        assert_eq!(
            check(on, "On 2026-12-11, 15 attempts."),
            Err("2026-12-11".into())
        );
        assert_eq!(
            check(on, "Since November 30, 15 attempts."),
            Err("November 30".into())
        );
        assert_eq!(check(on, "On 2026-02-30."), Err("2026-02-30".into()));
    }

    #[test]
    fn values_compare_in_the_summarys_rounding_and_kind() {
        let on = date(2026, 12, 12);
        for faithful in [
            "33.3% of 15 attempts failed.",
            "33.30 % failed; $1,234.56 charged.",
            "Charges came to 1234.56 and refunds to $12.50 (1 refund).",
            "2 SEV1 anomalies, both from payment_failure_spike.",
            "15 attempts, 5 failing, 10 succeeding, 2 open.",
        ] {
            assert!(check(on, faithful).is_ok(), "{faithful}");
        }
        // Rounded differently, computed, or of another kind: refused.
        assert_eq!(check(on, "33% failed."), Err("33%".into()));
        assert_eq!(check(on, "33.33% failed."), Err("33.33%".into()));
        assert_eq!(
            check(on, "A third (5 of 15) failed, 66.7% did not."),
            Err("66.7%".into())
        );
        assert_eq!(check(on, "$15 came in."), Err("$15".into()));
        assert_eq!(
            check(on, "Failures rose 15 percent."),
            Err("15 percent".into())
        );
        assert_eq!(check(on, "Charges: 1,234.57."), Err("1,234.57".into()));
    }
}
