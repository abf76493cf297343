use super::*;

fn rules() -> AlertRules {
    RunSettings::default().rules_for("any")
}

#[test]
fn the_failure_count_crosses_at_the_threshold() {
    let two = WindowCounts {
        runs: 10,
        failed: 2,
    };
    let three = WindowCounts {
        runs: 10,
        failed: 3,
    };
    assert_eq!(crossing(&rules(), Severity::Sev4, two, &[]), None);
    assert_eq!(
        crossing(&rules(), Severity::Sev4, three, &[]),
        Some(Crossing::FailureCount {
            failed: 3,
            threshold: 3,
            hours: 24
        })
    );
}

#[test]
fn a_critical_run_alerts_at_once_unless_turned_off() {
    let one = WindowCounts { runs: 1, failed: 1 };
    assert_eq!(
        crossing(&rules(), Severity::Sev0, one, &[]),
        Some(Crossing::Critical)
    );
    let quiet = AlertRules {
        alert_on_critical: false,
        ..rules()
    };
    assert_eq!(crossing(&quiet, Severity::Sev0, one, &[]), None);
}

#[test]
fn consecutive_failures_count_from_the_newest_run() {
    let r = AlertRules {
        consecutive_failures: Some(2),
        failure_threshold: 99,
        ..rules()
    };
    let counts = WindowCounts { runs: 5, failed: 2 };
    let broken = [RunStatus::Failed, RunStatus::Success, RunStatus::Failed];
    assert_eq!(crossing(&r, Severity::Sev4, counts, &broken), None);
    let in_a_row = [RunStatus::Failed, RunStatus::Failed, RunStatus::Success];
    assert_eq!(
        crossing(&r, Severity::Sev4, counts, &in_a_row),
        Some(Crossing::Consecutive { failures: 2 })
    );
}

#[test]
fn the_failure_rate_needs_its_minimum_runs() {
    let r = AlertRules {
        failure_threshold: 99,
        failure_rate: Some(FailureRate {
            rate: 0.5,
            min_runs: 4,
        }),
        ..rules()
    };
    let few = WindowCounts { runs: 2, failed: 2 };
    assert_eq!(crossing(&r, Severity::Sev4, few, &[]), None);
    let enough = WindowCounts { runs: 4, failed: 2 };
    assert!(matches!(
        crossing(&r, Severity::Sev4, enough, &[]),
        Some(Crossing::FailureRate { .. })
    ));
}

#[test]
fn disabled_rules_never_cross_and_overrides_win() {
    let mut settings = RunSettings::default();
    settings.scenarios.insert(
        "noisy".into(),
        AlertOverride {
            enabled: Some(false),
            ..Default::default()
        },
    );
    settings.scenarios.insert(
        "strict".into(),
        AlertOverride {
            failure_threshold: Some(1),
            ..Default::default()
        },
    );
    let one = WindowCounts { runs: 1, failed: 1 };
    assert_eq!(
        crossing(&settings.rules_for("noisy"), Severity::Sev0, one, &[]),
        None
    );
    assert!(crossing(&settings.rules_for("strict"), Severity::Sev4, one, &[]).is_some());
    assert_eq!(
        crossing(&settings.rules_for("other"), Severity::Sev4, one, &[]),
        None
    );
}

#[test]
fn windows_are_aligned_so_one_alert_covers_each() {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
    };
    let (start, end) = alert_window(at("2026-03-10T17:30:00Z").unwrap_or_default(), 24);
    assert_eq!(Some(start), at("2026-03-10T00:00:00Z"));
    assert_eq!(Some(end), at("2026-03-11T00:00:00Z"));
    let (start, _) = alert_window(at("2026-03-10T17:30:00Z").unwrap_or_default(), 6);
    assert_eq!(Some(start), at("2026-03-10T12:00:00Z"));
}

#[test]
fn bad_settings_are_refused_with_the_field() {
    let mut s = RunSettings {
        failure_threshold: 0,
        ..Default::default()
    };
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("failure_threshold")
    );
    s.failure_threshold = 3;
    s.scenarios.insert(
        "x".into(),
        AlertOverride {
            failure_rate: Some(FailureRate {
                rate: 1.5,
                min_runs: 1,
            }),
            ..Default::default()
        },
    );
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("scenarios.x.failure_rate.rate")
    );
}
