use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn healthy(now: DateTime<Utc>) -> HealthFacts {
    HealthFacts {
        last_day: (24, 0),
        day_before: (24, 0),
        credits_last_day: 2400.0,
        runs_lookback: 168,
        last_run_by: Some(now),
        expected_credits: Some(100.0),
        first_seen_at: Some(now - Duration::days(30)),
    }
}

#[test]
fn a_healthy_scenario_scores_100() {
    let now = at("2026-05-01T12:00:00Z");
    assert_eq!(
        score(&healthy(now), &VarianceThresholds::default(), now),
        (100, vec![])
    );
}

#[test]
fn failures_rising_failures_and_costly_runs_cost_points() {
    let now = at("2026-05-01T12:00:00Z");
    let facts = HealthFacts {
        last_day: (10, 5),
        day_before: (10, 0),
        credits_last_day: 3000.0,
        ..healthy(now)
    };
    let (points, findings) = score(&facts, &VarianceThresholds::default(), now);
    let kinds: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FindingKind::FailureRate,
            FindingKind::FailureTrend,
            FindingKind::CreditVariance
        ]
    );
    // 50% failed (−30), rising (−10), 3× baseline (SEV2, −20).
    assert_eq!(points, 40);
}

#[test]
fn silence_longer_than_usual_is_a_finding() {
    let now = at("2026-05-01T12:00:00Z");
    // 14 runs a week: every 12 h as a rule; silent for 40 h.
    let facts = HealthFacts {
        last_day: (0, 0),
        day_before: (1, 0),
        runs_lookback: 14,
        last_run_by: Some(now - Duration::hours(40)),
        ..healthy(now)
    };
    let (points, findings) = score(&facts, &VarianceThresholds::default(), now);
    assert_eq!(points, 60);
    assert_eq!(findings[0].kind, FindingKind::Stale);
    // Silent 30 h: within three usual intervals.
    let recent = HealthFacts {
        last_run_by: Some(now - Duration::hours(30)),
        ..facts
    };
    assert_eq!(score(&recent, &VarianceThresholds::default(), now).0, 100);
}

#[test]
fn a_scenario_silent_all_week_is_stale_unless_it_is_new() {
    let now = at("2026-05-01T12:00:00Z");
    let silent = HealthFacts {
        first_seen_at: Some(now - Duration::days(20)),
        ..Default::default()
    };
    assert_eq!(score(&silent, &VarianceThresholds::default(), now).0, 50);
    let new = HealthFacts {
        first_seen_at: Some(now - Duration::days(2)),
        ..silent
    };
    assert_eq!(score(&new, &VarianceThresholds::default(), now).0, 100);
}
