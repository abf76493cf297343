//! Reading a posted run: required fields, types checked field by field (a wrong type names the
//! field), enums read leniently where platforms differ (`Success` is `success`), and every field
//! Vigil does not know kept in `extra`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use serde::{Deserialize, Serialize};

use super::{Platform, RunFacts, RunStatus};
use crate::{Error, Result};

/// A run as posted, before classification.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInput {
    pub run_id: String,
    /// When the run happened; the time it arrived when the sender gave none.
    pub timestamp: Option<DateTime<Utc>>,
    pub scenario_id: String,
    pub report: RunReport,
}

/// What the platform reported about a run, besides its identity and time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunReport {
    pub scenario_name: Option<String>,
    pub platform: Platform,
    pub job_type: Option<String>,
    pub status: RunStatus,
    pub credits_total: Option<f64>,
    pub credits_in: Option<f64>,
    pub credits_out: Option<f64>,
    pub model: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub execution_time_ms: Option<u64>,
    pub failed_action_id: Option<String>,
    pub failed_action_name: Option<String>,
    pub error_message: Option<String>,
    pub retry_count: u32,
    pub has_idempotency_key: Option<bool>,
    pub artifacts_link: Option<String>,
    /// Fields Vigil does not read, kept as sent.
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

impl RunReport {
    /// The facts classification reads.
    pub fn facts(&self) -> RunFacts<'_> {
        RunFacts {
            credits_total: self.credits_total,
            status: self.status,
            retry_count: self.retry_count,
            has_idempotency_key: self.has_idempotency_key,
            job_type: self.job_type.as_deref(),
            execution_time_ms: self.execution_time_ms,
            failed_action_name: self.failed_action_name.as_deref(),
        }
    }
}

/// Longest id (run, scenario) accepted; ids become parts of store keys.
pub const MAX_ID_LEN: usize = 200;
const MAX_TEXT_LEN: usize = 2_000;
/// Largest count (tokens, milliseconds) accepted: 2^53 - 1, the largest integer every JSON
/// reader holds exactly.
pub const MAX_COUNT: u64 = (1 << 53) - 1;
const MAX_ERROR_MESSAGE_LEN: usize = 10_000;
/// How far in the future a run's timestamp may be (clock skew), before it is refused.
const MAX_FUTURE_SKEW_HOURS: i64 = 24;

fn invalid_field(field: &str, message: impl std::fmt::Display) -> Error {
    Error::invalid("invalid_field", format!("{field}: {message}"))
}

/// Whether `id` can name a run or a scenario: printable, no `#` (the store's key separator).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_LEN
        && !id.contains('#')
        && !id.chars().any(char::is_control)
}

/// Takes fields out of the posted object one by one; what is left is `extra`.
struct Fields(Map<String, Value>);

impl Fields {
    fn take(&mut self, field: &str) -> Option<Value> {
        self.0.remove(field).filter(|v| !v.is_null())
    }

    fn text(&mut self, field: &str, max_len: usize) -> Result<Option<String>> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max_len => Ok(Some(s)),
            Some(Value::String(_)) => Err(invalid_field(
                field,
                format!("must be at most {max_len} characters"),
            )),
            Some(_) => Err(invalid_field(field, "must be a string")),
        }
    }

    fn id(&mut self, field: &str) -> Result<String> {
        // Numbers are accepted as ids: some platforms number their runs and scenarios.
        let id = match self.take(field) {
            None => {
                return Err(Error::invalid(
                    "missing_field",
                    format!("{field} is required"),
                ));
            }
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(invalid_field(field, "must be a string")),
        };
        if valid_id(&id) {
            Ok(id)
        } else {
            Err(invalid_field(
                field,
                format!("must be 1 to {MAX_ID_LEN} characters, without '#' or control characters"),
            ))
        }
    }

    fn amount(&mut self, field: &str) -> Result<Option<f64>> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v >= 0.0 => Ok(Some(v)),
                _ => Err(invalid_field(field, "must not be negative")),
            },
            Some(_) => Err(invalid_field(field, "must be a number")),
        }
    }

    fn count(&mut self, field: &str) -> Result<Option<u64>> {
        match self.take(field) {
            None => Ok(None),
            // JSON does not tell 3 from 3.0: a whole number written with a fraction is one.
            Some(Value::Number(n)) => match n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v <= MAX_COUNT as f64)
                    .map(|v| v as u64)
            }) {
                Some(count) if count <= MAX_COUNT => Ok(Some(count)),
                Some(_) => Err(invalid_field(
                    field,
                    format!("must be at most {MAX_COUNT} (2^53 - 1)"),
                )),
                None => Err(invalid_field(field, "must be a whole number, not negative")),
            },
            Some(_) => Err(invalid_field(field, "must be a whole number")),
        }
    }

    fn flag(&mut self, field: &str) -> Result<Option<bool>> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(invalid_field(field, "must be true or false")),
        }
    }

    fn timestamp(&mut self, field: &str) -> Result<Option<DateTime<Utc>>> {
        match self.text(field, 64)? {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(&text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid_field(field, "must be an RFC 3339 time")),
        }
    }
}

impl RunInput {
    /// Reads one posted run. `now` bounds how far in the future its timestamp may be.
    pub fn from_json(value: Value, now: DateTime<Utc>) -> Result<RunInput> {
        let Value::Object(map) = value else {
            return Err(Error::invalid("invalid_run", "a run must be a JSON object"));
        };
        let mut f = Fields(map);
        let run_id = f.id("run_id")?;
        let scenario_id = f.id("scenario_id")?;
        let timestamp = f.timestamp("timestamp")?;
        if timestamp.is_some_and(|t| t > now + Duration::hours(MAX_FUTURE_SKEW_HOURS)) {
            return Err(Error::unprocessable(
                "invalid_field",
                "timestamp: is more than a day in the future",
            ));
        }
        let platform = match f.text("platform", 32)? {
            None => Platform::Other,
            Some(text) => Platform::parse(&text).ok_or_else(|| {
                invalid_field("platform", "must be one of make, n8n, zapier, ghl, other")
            })?,
        };
        let status = match f.text("status", 32)? {
            None => RunStatus::Success,
            Some(text) => RunStatus::parse(&text).ok_or_else(|| {
                invalid_field("status", "must be one of success, failed, partial")
            })?,
        };
        let retry_count = match f.count("retry_count")? {
            None => 0,
            Some(n) => {
                u32::try_from(n).map_err(|_| invalid_field("retry_count", "is too large"))?
            }
        };
        let report = RunReport {
            scenario_name: f.text("scenario_name", MAX_TEXT_LEN)?,
            platform,
            job_type: f.text("job_type", MAX_TEXT_LEN)?,
            status,
            credits_total: f.amount("credits_total")?,
            credits_in: f.amount("credits_in")?,
            credits_out: f.amount("credits_out")?,
            model: f.text("model", MAX_TEXT_LEN)?,
            input_tokens: f.count("input_tokens")?,
            output_tokens: f.count("output_tokens")?,
            execution_time_ms: f.count("execution_time_ms")?,
            failed_action_id: f.text("failed_action_id", MAX_TEXT_LEN)?,
            failed_action_name: f.text("failed_action_name", MAX_TEXT_LEN)?,
            error_message: f.text("error_message", MAX_ERROR_MESSAGE_LEN)?,
            retry_count,
            has_idempotency_key: f.flag("has_idempotency_key")?,
            artifacts_link: f.text("artifacts_link", MAX_TEXT_LEN)?,
            extra: f.0,
        };
        Ok(RunInput {
            run_id,
            timestamp,
            scenario_id,
            report,
        })
    }
}

/// The body of `POST /hooks/{tenant}/runs` as documented: one run (an object) or a batch of
/// 1 to 100 (an array) whose items are each judged on their own (a bad one is listed under
/// `rejected`, the others are stored).
pub struct PostedRuns;

fn case_insensitive(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|word| {
            word.chars()
                .map(|c| match (c.to_ascii_lowercase(), c.to_ascii_uppercase()) {
                    (lower, upper) if lower != upper => format!("[{lower}{upper}]"),
                    _ => c.to_string(),
                })
                .collect()
        })
        .collect();
    format!("^[ \\t\\n\\r]*(?:{})[ \\t\\n\\r]*$", alternatives.join("|"))
}

/// The JSON Schema of a scenario id as a string (what [`valid_id`] accepts).
pub fn scenario_id_schema() -> Value {
    serde_json::json!({
        "type": "string", "minLength": 1, "maxLength": MAX_ID_LEN,
        "pattern": "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
    })
}

/// The JSON Schema of one posted run (every field but the two ids may be `null`).
pub fn posted_run_schema() -> Value {
    let id = serde_json::json!({
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN,
             "pattern": "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"},
            {"type": "number"}
        ],
        "description": "1-200 characters without '#' or control characters; a number is read as its text"
    });
    let text = |max: usize| serde_json::json!({"type": ["string", "null"], "maxLength": max});
    let amount = serde_json::json!({"type": ["number", "null"], "minimum": 0});
    let count =
        serde_json::json!({"type": ["integer", "null"], "minimum": 0, "maximum": MAX_COUNT});
    serde_json::json!({
        "type": "object",
        "required": ["run_id", "scenario_id"],
        "properties": {
            "run_id": id,
            "scenario_id": id,
            "timestamp": {"type": ["string", "null"], "format": "date-time", "maxLength": 64,
                          "description": "RFC 3339; more than a day in the future is 422"},
            "scenario_name": text(MAX_TEXT_LEN),
            "platform": {"type": ["string", "null"],
                         "pattern": case_insensitive(&["make", "n8n", "zapier", "ghl", "other"])},
            "job_type": text(MAX_TEXT_LEN),
            "status": {"type": ["string", "null"],
                       "pattern": case_insensitive(&["success", "failed", "partial"])},
            "credits_total": amount,
            "credits_in": amount,
            "credits_out": amount,
            "model": text(MAX_TEXT_LEN),
            "input_tokens": count,
            "output_tokens": count,
            "execution_time_ms": count,
            "failed_action_id": text(MAX_TEXT_LEN),
            "failed_action_name": text(MAX_TEXT_LEN),
            "error_message": text(MAX_ERROR_MESSAGE_LEN),
            "retry_count": {"type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX},
            "has_idempotency_key": {"type": ["boolean", "null"]},
            "artifacts_link": text(MAX_TEXT_LEN)
        },
        "additionalProperties": {"description": "kept as sent, in `extra`"}
    })
}

impl PostedRuns {
    /// The schema as JSON: utoipa's model has no multi-type (`["string", "null"]`) keywords,
    /// so the served document puts this in place of the placeholder below.
    pub fn json_schema() -> Value {
        serde_json::json!({
            "oneOf": [
                posted_run_schema(),
                {"type": "array", "minItems": 1, "maxItems": super::MAX_BATCH,
                 "description": "A batch: each item is read as a run on its own; one that is not is listed under `rejected`"}
            ]
        })
    }
}

impl utoipa::PartialSchema for PostedRuns {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some("One run or a batch (see `PostedRuns::json_schema`)"))
            .into()
    }
}

impl utoipa::ToSchema for PostedRuns {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-23T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid time")
    }

    fn code_and_message(result: Result<RunInput>) -> (String, String) {
        match result {
            Err(e) => (e.code().to_owned(), e.to_string()),
            Ok(run) => panic!("accepted {run:?}"),
        }
    }

    #[test]
    fn reads_the_documented_payload() {
        let run = RunInput::from_json(
            json!({
                "run_id": "RUN-20260123-001", "timestamp": "2026-01-23T10:30:00Z",
                "scenario_id": "BINDER_EXPORT_v2", "scenario_name": "Binder Export Quarterly",
                "job_type": "BINDER_EXPORT", "status": "Success", "credits_total": 2480,
                "credits_in": 1800, "credits_out": 680, "model": "gpt-4",
                "input_tokens": 220000, "output_tokens": 52000,
                "artifacts_link": "https://drive.example/x", "retry_count": 0,
                "has_idempotency_key": true, "workspace": "ops"
            }),
            now(),
        )
        .expect("valid run");
        assert_eq!(run.report.status, RunStatus::Success);
        assert_eq!(run.report.platform, Platform::Other);
        assert_eq!(run.report.credits_total, Some(2480.0));
        assert_eq!(run.report.input_tokens, Some(220_000));
        assert_eq!(
            run.report.extra,
            json!({"workspace": "ops"})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
    }

    #[test]
    fn counts_above_two_to_the_53_minus_one_are_refused_by_name() {
        let run = |tokens: u64| {
            RunInput::from_json(
                json!({"run_id": "r", "scenario_id": "s", "output_tokens": tokens}),
                now(),
            )
        };
        assert_eq!(
            run(MAX_COUNT)
                .expect("2^53 - 1 is read")
                .report
                .output_tokens,
            Some(MAX_COUNT)
        );
        for too_big in [MAX_COUNT + 1, u64::MAX] {
            let (code, message) = code_and_message(run(too_big));
            assert_eq!(code, "invalid_field");
            assert!(message.contains("output_tokens"), "{message}");
        }
    }

    #[test]
    fn required_fields_and_wrong_types_name_the_field() {
        let (code, message) =
            code_and_message(RunInput::from_json(json!({"scenario_id": "s"}), now()));
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("missing_field", "run_id is required")
        );
        let cases = [
            (
                json!({"run_id": "r", "scenario_id": "s", "credits_total": "12"}),
                "credits_total",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "retry_count": 1.5}),
                "retry_count",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "has_idempotency_key": "yes"}),
                "has_idempotency_key",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "status": "exploded"}),
                "status",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "platform": "ifttt"}),
                "platform",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "timestamp": "yesterday"}),
                "timestamp",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "timestamp": "2026-01-26T12:00:00Z"}),
                "timestamp",
            ),
            (
                json!({"run_id": "r", "scenario_id": "s", "credits_total": -1}),
                "credits_total",
            ),
            (json!({"run_id": "a#b", "scenario_id": "s"}), "run_id"),
            (json!({"run_id": "r", "scenario_id": ["s"]}), "scenario_id"),
        ];
        for (body, field) in cases {
            let (code, message) = code_and_message(RunInput::from_json(body, now()));
            assert_eq!(code, "invalid_field");
            assert!(message.starts_with(field), "{message} should name {field}");
        }
        let (code, _) = code_and_message(RunInput::from_json(json!([1]), now()));
        assert_eq!(code, "invalid_run");
    }

    #[test]
    fn enums_are_case_insensitive_and_ids_may_be_numbers() {
        let run = RunInput::from_json(
            json!({"run_id": 42, "scenario_id": "s", "status": "FAILED", "platform": "N8N"}),
            now(),
        )
        .expect("valid run");
        assert_eq!(run.run_id, "42");
        assert_eq!(run.report.status, RunStatus::Failed);
        assert_eq!(run.report.platform, Platform::N8n);
    }
}
