//! Redaction: personal data and secrets are masked in notifications before they are stored or
//! sent. The detectors are on by default; a tenant may turn some off and add its own patterns.

use std::sync::LazyLock;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};

pub const MAX_EXTRA_PATTERNS: usize = 20;
pub const MAX_PATTERN_LEN: usize = 200;
/// Largest compiled form of one extra pattern, in bytes. A short pattern can still compile to
/// something huge (`(?:a{1000}){1000}`), and matching costs time in proportion to its size.
pub const MAX_COMPILED_PATTERN_BYTES: usize = 64 * 1024;
/// Longest text redacted in one piece, in bytes; the rest is cut (never sent unredacted).
pub const MAX_REDACTED_TEXT_BYTES: usize = 64 * 1024;
/// Most text redacted in one payload, in bytes; strings past it are replaced whole.
pub const MAX_REDACTED_PAYLOAD_BYTES: usize = 256 * 1024;
/// What stands for text cut by those limits.
const CUT: &str = "[truncated]";

/// A tenant's redaction rules (`GET/PUT /api/v1/redaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactionRules {
    #[serde(default = "on")]
    pub email: bool,
    #[serde(default = "on")]
    pub phone: bool,
    /// Card-like numbers that pass the Luhn check.
    #[serde(default = "on")]
    pub card: bool,
    /// One-time codes next to words such as code, OTP, PIN.
    #[serde(default = "on")]
    pub otp: bool,
    /// Bearer tokens, `whsec_`/`sk_`/`rk_` keys, and values of secret-named JSON keys.
    #[serde(default = "on")]
    pub secret: bool,
    /// Extra regular expressions; each match becomes `[redacted]`.
    #[serde(default)]
    pub extra_patterns: Vec<String>,
}

fn on() -> bool {
    true
}

impl Default for RedactionRules {
    fn default() -> Self {
        RedactionRules {
            email: true,
            phone: true,
            card: true,
            otp: true,
            secret: true,
            extra_patterns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactionError {
    #[error("at most {MAX_EXTRA_PATTERNS} extra patterns")]
    TooManyPatterns,
    #[error("extra_patterns[{index}] is longer than {MAX_PATTERN_LEN} characters")]
    PatternTooLong { index: usize },
    #[error("extra_patterns[{index}] is not a valid regular expression: {reason}")]
    BadPattern { index: usize, reason: String },
}

impl RedactionRules {
    pub fn validate(&self) -> Result<(), RedactionError> {
        self.compile_extra().map(drop)
    }

    fn compile_extra(&self) -> Result<Vec<Regex>, RedactionError> {
        if self.extra_patterns.len() > MAX_EXTRA_PATTERNS {
            return Err(RedactionError::TooManyPatterns);
        }
        self.extra_patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                if pattern.chars().count() > MAX_PATTERN_LEN {
                    return Err(RedactionError::PatternTooLong { index });
                }
                regex_lite::RegexBuilder::new(pattern)
                    .size_limit(MAX_COMPILED_PATTERN_BYTES)
                    .build()
                    .map_err(|e| RedactionError::BadPattern {
                        index,
                        reason: e.to_string(),
                    })
            })
            .collect()
    }
}

fn regex(pattern: &str) -> Regex {
    // The built-in patterns are constants covered by the tests below.
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in redaction pattern {pattern}: {e}"))
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"));
static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}|\b(?:whsec|sk_live|sk_test|rk_live|rk_test|vgl_[a-z]{2})_[a-z0-9+/=_-]{8,}",
    )
});
/// Runs of 13–19 digits, possibly grouped by spaces or dashes.
static CARD: LazyLock<Regex> = LazyLock::new(|| regex(r"\b\d(?:[ -]?\d){12,18}\b"));
static OTP: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(code|otp|pin|passcode|verification code|one-time code)(\s*(?:is|:|=)?\s*)(\d{4,8})\b",
    )
});
/// International numbers (`+` and 8–15 digits) and national ones grouped like `(415) 555-0132`.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\+\d[\d ().-]{7,18}\d|\(\d{2,4}\)\s?\d{3,4}[ .-]?\d{3,4}\b|\b\d{3}[ .-]\d{3}[ .-]\d{4}\b",
    )
});

/// JSON keys whose values are secrets whatever they look like.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
    ]
    .iter()
    .any(|word| key.contains(word))
}

fn luhn(digits: &str) -> bool {
    let digits: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Rules compiled once per use.
pub struct Redactor {
    rules: RedactionRules,
    extra: Vec<Regex>,
}

impl Redactor {
    pub fn new(rules: &RedactionRules) -> Result<Self, RedactionError> {
        Ok(Redactor {
            extra: rules.compile_extra()?,
            rules: rules.clone(),
        })
    }

    /// Masks what the rules find in `text`; text past [`MAX_REDACTED_TEXT_BYTES`] is cut.
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = if text.len() > MAX_REDACTED_TEXT_BYTES {
            let mut end = MAX_REDACTED_TEXT_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{CUT}", &text[..end])
        } else {
            text.to_owned()
        };
        let r = &self.rules;
        // Secrets first: a token may contain digit runs the other detectors would half-match.
        if r.secret {
            out = SECRET.replace_all(&out, "[redacted:secret]").into_owned();
        }
        if r.email {
            out = EMAIL.replace_all(&out, "[redacted:email]").into_owned();
        }
        if r.card {
            out = CARD
                .replace_all(&out, |caps: &regex_lite::Captures<'_>| {
                    let number = &caps[0];
                    if luhn(number) {
                        "[redacted:card]".to_owned()
                    } else {
                        number.to_owned()
                    }
                })
                .into_owned();
        }
        if r.otp {
            out = OTP.replace_all(&out, "$1$2[redacted:otp]").into_owned();
        }
        if r.phone {
            out = PHONE.replace_all(&out, "[redacted:phone]").into_owned();
        }
        for pattern in &self.extra {
            out = pattern.replace_all(&out, "[redacted]").into_owned();
        }
        out
    }

    /// Redacts every string in `value`; values of secret-named keys are replaced whole, and
    /// strings past [`MAX_REDACTED_PAYLOAD_BYTES`] of text in all are replaced by a marker.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        let mut budget = MAX_REDACTED_PAYLOAD_BYTES;
        self.redact_json_within(value, &mut budget);
    }

    fn redact_json_within(&self, value: &mut serde_json::Value, budget: &mut usize) {
        use serde_json::Value;
        match value {
            Value::String(text) if *budget == 0 => *text = CUT.to_owned(),
            Value::String(text) => {
                *budget = budget.saturating_sub(text.len().min(MAX_REDACTED_TEXT_BYTES));
                *text = self.redact_text(text);
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.redact_json_within(v, budget)),
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if self.rules.secret && is_secret_key(key) && !v.is_null() {
                        *v = Value::String("[redacted:secret]".into());
                    } else {
                        self.redact_json_within(v, budget);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redact(text: &str) -> String {
        Redactor::new(&RedactionRules::default())
            .unwrap()
            .redact_text(text)
    }

    #[test]
    fn the_table_of_cases() {
        let cases = [
            // personal data
            (
                "mail jane.doe+x@example.co.uk now",
                "mail [redacted:email] now",
            ),
            ("call +44 20 7946 0958 today", "call [redacted:phone] today"),
            ("call (415) 555-0132", "call [redacted:phone]"),
            ("call 415-555-0132", "call [redacted:phone]"),
            ("card 4242 4242 4242 4242 ok", "card [redacted:card] ok"),
            ("card 4111-1111-1111-1111", "card [redacted:card]"),
            ("card 4242424242424242", "card [redacted:card]"),
            ("your code is 483920", "your code is [redacted:otp]"),
            ("OTP: 1234", "OTP: [redacted:otp]"),
            ("PIN=987654", "PIN=[redacted:otp]"),
            // secrets
            (
                "Authorization: Bearer abcdef123456789",
                "Authorization: [redacted:secret]",
            ),
            (
                "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "secret [redacted:secret]",
            ),
            ("key sk_live_51HxYzAbCdEf", "key [redacted:secret]"),
            (
                "key sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                "key [redacted:secret]",
            ),
            ("key rk_live_abcdefghijkl", "key [redacted:secret]"),
            // left alone
            ("at 2026-11-22T10:00:00Z", "at 2026-11-22T10:00:00Z"),
            ("total 1234.56 USD", "total 1234.56 USD"),
            ("run 42 took 1500 ms", "run 42 took 1500 ms"),
            (
                "id tnt_01jd3x4y5z6a7b8c9d0e1f2g3h",
                "id tnt_01jd3x4y5z6a7b8c9d0e1f2g3h",
            ),
            ("order 1234567890123", "order 1234567890123"),
            ("invoice in_1234", "invoice in_1234"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn json_strings_and_secret_keys_are_redacted() {
        let redactor = Redactor::new(&RedactionRules::default()).unwrap();
        let mut payload = json!({
            "customer": {"email": "a@b.io", "api_key": "anything at all", "count": 3},
            "notes": ["call +1 415 555 0132"],
            "password": null
        });
        redactor.redact_json(&mut payload);
        assert_eq!(
            payload,
            json!({
                "customer": {"email": "[redacted:email]", "api_key": "[redacted:secret]", "count": 3},
                "notes": ["call [redacted:phone]"],
                "password": null
            })
        );
    }

    #[test]
    fn tenants_turn_detectors_off_and_add_patterns() {
        let rules = RedactionRules {
            email: false,
            extra_patterns: vec![r"ACME-\d+".into()],
            ..RedactionRules::default()
        };
        let redactor = Redactor::new(&rules).unwrap();
        assert_eq!(redactor.redact_text("a@b.io ACME-991"), "a@b.io [redacted]");
        let bad = RedactionRules {
            extra_patterns: vec!["(".into()],
            ..RedactionRules::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(RedactionError::BadPattern { index: 0, .. })
        ));
        let parsed: Result<RedactionRules, _> = serde_json::from_value(json!({"emails": true}));
        assert!(parsed.is_err(), "unknown fields are refused");
    }

    #[test]
    fn patterns_that_compile_too_large_are_refused() {
        // GIVEN a pattern of 17 characters that compiles to a million states
        let rules = RedactionRules {
            extra_patterns: vec![r"ACME-\d+".into(), "(?:a{1000}){1000}".into()],
            ..RedactionRules::default()
        };
        // THEN it is refused, by index
        assert!(matches!(
            rules.validate(),
            Err(RedactionError::BadPattern { index: 1, .. })
        ));
    }

    #[test]
    fn the_text_redacted_is_capped_and_never_sent_unredacted() {
        let redactor = Redactor::new(&RedactionRules::default()).unwrap();
        // GIVEN a long text with an address past the cap
        let long = format!("{}a@b.io", "é".repeat(MAX_REDACTED_TEXT_BYTES / 2));
        let out = redactor.redact_text(&long);
        // THEN it is cut at the cap, on a character boundary, and the address is gone
        assert_eq!(out.len(), MAX_REDACTED_TEXT_BYTES + "[truncated]".len());
        assert!(out.ends_with("é[truncated]"));
        assert!(!out.contains('@'));
        // AND a payload's strings past the payload cap are replaced whole
        let chunk = "x".repeat(MAX_REDACTED_TEXT_BYTES);
        let count = MAX_REDACTED_PAYLOAD_BYTES / MAX_REDACTED_TEXT_BYTES;
        let mut parts = vec![json!(chunk); count];
        parts.push(json!("a@b.io"));
        let mut payload = json!(parts);
        redactor.redact_json(&mut payload);
        assert_eq!(payload[count], "[truncated]");
        assert_eq!(payload[count - 1], chunk.as_str());
    }
}
