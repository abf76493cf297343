//! Retries as data: the backoff schedule, the attempt budget, and which answers are worth
//! another attempt.

use std::time::Duration;

use crate::ports::{EmailError, HttpAnswer, TransportError};

/// Longest wait between two attempts, whatever a `Retry-After` asks for.
pub const MAX_WAIT: Duration = Duration::from_secs(12 * 60 * 60);
const MAX_STEPS: usize = 20;
const MAX_ERROR_CHARS: usize = 300;
/// Most characters of a target's answer shown back (in `last_error`, a channel test).
pub const EXCERPT_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryConfigError {
    #[error("the retry schedule is empty")]
    Empty,
    #[error("the retry schedule has more than {MAX_STEPS} steps")]
    TooLong,
    #[error("{0:?} is not a duration such as 500ms, 10s, 2m or 1h")]
    BadStep(String),
    #[error("at least one attempt is needed")]
    NoAttempts,
}

/// How often and how long to keep trying a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first, second, … failed attempt; the last step repeats.
    pub schedule: Vec<Duration>,
    /// Attempts in all, the first included; after the last one the delivery is dead-lettered.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            schedule: [10, 30, 120, 600, 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    pub fn new(schedule: Vec<Duration>, max_attempts: u32) -> Result<Self, RetryConfigError> {
        if schedule.is_empty() {
            return Err(RetryConfigError::Empty);
        }
        if schedule.len() > MAX_STEPS {
            return Err(RetryConfigError::TooLong);
        }
        if max_attempts == 0 {
            return Err(RetryConfigError::NoAttempts);
        }
        Ok(RetryPolicy {
            schedule,
            max_attempts,
        })
    }

    /// The wait after failed attempt number `attempt` (1-based), scaled into [0.8, 1.2) of its
    /// step by `jitter` in [0, 1) so that retries of many deliveries spread out.
    pub fn delay_before_attempt(&self, attempt: u32, jitter: f64) -> Duration {
        let index = (attempt.max(1) as usize - 1).min(self.schedule.len() - 1);
        let step = self.schedule[index];
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 0.999_999);
        step.mul_f64(factor)
    }

    /// Whether `attempts_made` used up the budget.
    pub fn is_exhausted(&self, attempts_made: u32) -> bool {
        attempts_made >= self.max_attempts
    }
}

/// `VIGIL_RETRY_SCHEDULE`: comma-separated durations, e.g. `10s, 30s, 2m, 10m, 1h`.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, RetryConfigError> {
    let steps = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_step)
        .collect::<Result<Vec<_>, _>>()?;
    if steps.is_empty() {
        return Err(RetryConfigError::Empty);
    }
    if steps.len() > MAX_STEPS {
        return Err(RetryConfigError::TooLong);
    }
    Ok(steps)
}

fn parse_step(step: &str) -> Result<Duration, RetryConfigError> {
    let bad = || RetryConfigError::BadStep(step.to_owned());
    let split = step.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = step.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad()),
    };
    if duration.is_zero() || duration > MAX_WAIT {
        return Err(bad());
    }
    Ok(duration)
}

/// How one send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted by the channel (HTTP status when there was one).
    Delivered { status: Option<u16> },
    /// Worth another attempt; `after` is a wait the channel asked for (`Retry-After`).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Will not succeed however often it is tried.
    Permanent { error: String },
}

fn truncated(text: String) -> String {
    if text.chars().count() <= MAX_ERROR_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_ERROR_CHARS).collect();
    cut.push('…');
    cut
}

/// A target's answer as Vigil shows it back: control characters dropped, runs of whitespace
/// made one space, at most [`EXCERPT_CHARS`] characters (an ellipsis marks a cut).
pub fn excerpt(text: &str) -> String {
    let words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty());
    let mut out = String::new();
    for word in words {
        let word: String = word.chars().filter(|c| !is_invisible(*c)).collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
        if out.chars().count() > EXCERPT_CHARS {
            break;
        }
    }
    if out.chars().count() <= EXCERPT_CHARS {
        return out;
    }
    let mut cut: String = out.chars().take(EXCERPT_CHARS).collect();
    cut.push('…');
    cut
}

/// Format characters that change how text reads without being seen (bidi overrides,
/// zero-width characters).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// 2xx delivered; 408, 429 and 5xx retry (429 with its `Retry-After`); other 4xx, 1xx and 3xx
/// (redirects are not followed) are permanent; no answer at all retries unless the URL itself
/// is unusable or the egress guard refused the target (`egress_denied`). Only the status and a
/// short sanitized [`excerpt`] of the answer are kept.
pub fn classify_http(result: &Result<HttpAnswer, TransportError>) -> SendOutcome {
    let answer = match result {
        Ok(answer) => answer,
        Err(TransportError::InvalidUrl(reason)) => {
            return SendOutcome::Permanent {
                error: truncated(format!("invalid URL: {reason}")),
            };
        }
        Err(denied @ TransportError::EgressDenied(_)) => {
            return SendOutcome::Permanent {
                error: truncated(denied.to_string()),
            };
        }
        Err(other) => {
            return SendOutcome::Retry {
                error: truncated(other.to_string()),
                after: None,
            };
        }
    };
    let status = answer.status;
    let error = || {
        let snippet = excerpt(&answer.body_snippet);
        truncated(if snippet.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {snippet}")
        })
    };
    match status {
        200..=299 => SendOutcome::Delivered {
            status: Some(status),
        },
        429 => SendOutcome::Retry {
            error: error(),
            after: answer.retry_after,
        },
        408 | 500..=599 => SendOutcome::Retry {
            error: error(),
            after: None,
        },
        _ => SendOutcome::Permanent { error: error() },
    }
}

pub fn classify_email(result: &Result<(), EmailError>) -> SendOutcome {
    match result {
        Ok(()) => SendOutcome::Delivered { status: None },
        Err(EmailError::Unavailable(_)) => SendOutcome::Retry {
            error: truncated(result_error(result)),
            after: None,
        },
        Err(EmailError::Rejected(_) | EmailError::NotConfigured) => SendOutcome::Permanent {
            error: truncated(result_error(result)),
        },
    }
}

fn result_error(result: &Result<(), EmailError>) -> String {
    result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The wait before the next attempt: the policy's, or a longer `Retry-After`; at most [`MAX_WAIT`].
pub fn next_wait(retry_after: Option<Duration>, policy_delay: Duration) -> Duration {
    retry_after
        .map_or(policy_delay, |asked| asked.max(policy_delay))
        .min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Result<HttpAnswer, TransportError> {
        Ok(HttpAnswer {
            status,
            retry_after: None,
            body_snippet: String::new(),
        })
    }

    #[test]
    fn status_classes_decide_retry_or_not() {
        let retry = |r: &SendOutcome| matches!(r, SendOutcome::Retry { .. });
        let permanent = |r: &SendOutcome| matches!(r, SendOutcome::Permanent { .. });
        assert_eq!(
            classify_http(&answer(204)),
            SendOutcome::Delivered { status: Some(204) }
        );
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(retry(&classify_http(&answer(status))), "{status}");
        }
        for status in [101, 301, 302, 400, 401, 403, 404, 410, 422] {
            assert!(permanent(&classify_http(&answer(status))), "{status}");
        }
        let timeout = Err(TransportError::Timeout(Duration::from_secs(10)));
        assert!(retry(&classify_http(&timeout)));
        assert!(retry(&classify_http(&Err(TransportError::Connect(
            "refused".into()
        )))));
        assert!(permanent(&classify_http(&Err(TransportError::InvalidUrl(
            "ftp".into()
        )))));
    }

    #[test]
    fn a_429_carries_its_retry_after_and_it_wins_when_longer() {
        let busy = Ok(HttpAnswer {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
            body_snippet: "slow down".into(),
        });
        let SendOutcome::Retry { error, after } = classify_http(&busy) else {
            panic!("429 retries");
        };
        assert_eq!(error, "HTTP 429: slow down");
        assert_eq!(after, Some(Duration::from_secs(7)));
        assert_eq!(
            next_wait(after, Duration::from_secs(1)),
            Duration::from_secs(7)
        );
        assert_eq!(
            next_wait(after, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_wait(Some(Duration::from_secs(999_999)), Duration::ZERO),
            MAX_WAIT
        );
    }

    #[test]
    fn refused_targets_fail_for_good_with_their_code() {
        let denied = Err(TransportError::EgressDenied(
            "127.0.0.1 is a loopback address".into(),
        ));
        let SendOutcome::Permanent { error } = classify_http(&denied) else {
            panic!("a refused target is not retried");
        };
        assert!(error.starts_with("egress_denied: "), "{error}");
    }

    #[test]
    fn answers_are_shown_as_short_clean_excerpts() {
        assert_eq!(
            excerpt("  bad\r\n\tgateway\u{0}\u{1b}[31m  "),
            "bad gateway [31m"
        );
        assert_eq!(excerpt("a\u{202e}b\u{200b}c"), "abc");
        let long = excerpt(&"word ".repeat(200));
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
        let answer = Ok(HttpAnswer {
            status: 403,
            retry_after: None,
            body_snippet: format!("<html>\n  <body>{}</body>", "secret ".repeat(100)),
        });
        let SendOutcome::Permanent { error } = classify_http(&answer) else {
            panic!("403 is permanent");
        };
        assert!(
            error.starts_with("HTTP 403: <html> <body>secret"),
            "{error}"
        );
        assert!(error.chars().count() <= "HTTP 403: ".len() + EXCERPT_CHARS + 1);
    }

    #[test]
    fn long_errors_are_cut() {
        let long = Ok(HttpAnswer {
            status: 500,
            retry_after: None,
            body_snippet: "x".repeat(1000),
        });
        let SendOutcome::Retry { error, .. } = classify_http(&long) else {
            panic!("500 retries");
        };
        assert!(error.chars().count() <= MAX_ERROR_CHARS + 1);
    }

    #[test]
    fn email_errors_split_into_retry_and_permanent() {
        assert!(matches!(
            classify_email(&Err(EmailError::Unavailable("421".into()))),
            SendOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_email(&Err(EmailError::Rejected("550".into()))),
            SendOutcome::Permanent { .. }
        ));
        assert!(matches!(
            classify_email(&Err(EmailError::NotConfigured)),
            SendOutcome::Permanent { .. }
        ));
    }

    #[test]
    fn schedules_parse_and_repeat_their_last_step_with_jitter() {
        assert_eq!(
            parse_schedule("1s,2s,5s").unwrap(),
            vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(5)
            ]
        );
        assert_eq!(
            parse_schedule(" 500ms, 2m ,1h").unwrap(),
            vec![
                Duration::from_millis(500),
                Duration::from_secs(120),
                Duration::from_secs(3600)
            ]
        );
        for bad in ["", "soon", "1s,x", "0s", "5d", "-1s", "13h"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_before_attempt(1, 0.5), Duration::from_secs(10));
        assert_eq!(
            policy.delay_before_attempt(9, 0.5),
            Duration::from_secs(3600)
        );
        assert_eq!(policy.delay_before_attempt(1, 0.0), Duration::from_secs(8));
        assert!(policy.delay_before_attempt(1, 0.999_999) < Duration::from_secs(12));
        assert!(!policy.is_exhausted(9) && policy.is_exhausted(10));
        assert!(RetryPolicy::new(vec![], 3).is_err());
        assert!(RetryPolicy::new(vec![Duration::from_secs(1)], 0).is_err());
    }
}
