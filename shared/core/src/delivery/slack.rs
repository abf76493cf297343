//! Slack incoming-webhook messages in Block Kit, kept within Slack's limits.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::notification::Notification;

const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_HEADER_TEXT: usize = 150;
const MAX_FIELDS: usize = 10;
const MAX_FIELD_TEXT: usize = 2000;
const MAX_URL: usize = 3000;
/// Blocks other than summary sections: header, fields, actions, context.
const FIXED_BLOCKS: usize = 4;

/// `text` cut to `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Splits escaped text into section-sized pieces on character boundaries.
fn chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", escape(value)), MAX_FIELD_TEXT)})
}

/// The message for `n`; a button opens `link_url` when it is an http(s) URL.
pub fn slack_message(n: &Notification, link_url: Option<&str>) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&format!("{} · {}", n.severity, n.title), MAX_HEADER_TEXT), "emoji": true}
    })];
    if !n.summary.trim().is_empty() {
        let room = MAX_BLOCKS - FIXED_BLOCKS;
        let mut pieces = chunks(&escape(&n.summary), MAX_SECTION_TEXT);
        if pieces.len() > room {
            pieces.truncate(room);
            if let Some(last) = pieces.last_mut() {
                *last = cut(last, MAX_SECTION_TEXT - 1) + "…";
            }
        }
        blocks.extend(
            pieces
                .into_iter()
                .map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})),
        );
    }
    let mut fields = vec![
        field("Type", n.kind.as_str()),
        field("Severity", n.severity.as_str()),
        field("Tenant", &n.tenant_id),
        field(
            "Time",
            &n.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
    ];
    if let Some(link_ref) = &n.link_ref {
        fields.push(field("About", link_ref));
    }
    fields.truncate(MAX_FIELDS);
    blocks.push(json!({"type": "section", "fields": fields}));
    if let Some(url) = link_url
        .filter(|u| (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= MAX_URL)
    {
        blocks.push(json!({
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open in Vigil"}, "url": url}]
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("Vigil notification `{}`", n.id)}]
    }));
    let fallback = if n.summary.trim().is_empty() {
        format!("[{}] {}", n.severity, n.title)
    } else {
        format!("[{}] {} — {}", n.severity, n.title, n.summary)
    };
    json!({"text": cut(&fallback, MAX_SECTION_TEXT), "blocks": blocks})
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

/// Checks a message against the Block Kit limits Vigil relies on.
pub fn check_block_kit_limits(message: &Value) -> Result<(), String> {
    if chars(&message["text"]) == 0 {
        return Err("no text fallback".into());
    }
    let blocks = message["blocks"]
        .as_array()
        .ok_or("blocks is not an array")?;
    if blocks.len() > MAX_BLOCKS {
        return Err(format!("{} blocks (at most {MAX_BLOCKS})", blocks.len()));
    }
    for (i, block) in blocks.iter().enumerate() {
        match block["type"].as_str() {
            Some("header") if chars(&block["text"]["text"]) > MAX_HEADER_TEXT => {
                return Err(format!("block {i}: header longer than {MAX_HEADER_TEXT}"));
            }
            Some("section") => {
                if chars(&block["text"]["text"]) > MAX_SECTION_TEXT {
                    return Err(format!(
                        "block {i}: section text longer than {MAX_SECTION_TEXT}"
                    ));
                }
                if let Some(fields) = block["fields"].as_array() {
                    if fields.len() > MAX_FIELDS {
                        return Err(format!("block {i}: more than {MAX_FIELDS} fields"));
                    }
                    if fields.iter().any(|f| chars(&f["text"]) > MAX_FIELD_TEXT) {
                        return Err(format!("block {i}: a field longer than {MAX_FIELD_TEXT}"));
                    }
                }
            }
            Some("actions") => {
                let too_long = block["elements"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|b| chars(&b["url"]) > MAX_URL));
                if too_long {
                    return Err(format!("block {i}: button url longer than {MAX_URL}"));
                }
            }
            Some(_) => {}
            None => return Err(format!("block {i} has no type")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::delivery::{NotificationStatus, NotificationType};
    use crate::severity::Severity;

    fn notification(title: &str, summary: &str) -> Notification {
        Notification {
            id: "ntf_1".into(),
            tenant_id: "tnt_1".into(),
            kind: NotificationType::AnomalyOpened,
            severity: Severity::Sev1,
            title: title.into(),
            summary: summary.into(),
            link_ref: Some("anomaly:anm_1".into()),
            dedupe_key: "k".into(),
            payload: json!({}),
            status: NotificationStatus::Pending,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_normal_message_has_header_fields_button_and_fallback() {
        let message = slack_message(
            &notification("Spike", "3 failures"),
            Some("https://vigil.example.com/x"),
        );
        check_block_kit_limits(&message).unwrap();
        assert_eq!(message["text"], "[SEV1] Spike — 3 failures");
        assert_eq!(message["blocks"][0]["text"]["text"], "SEV1 · Spike");
        let actions = message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap();
        assert_eq!(actions["elements"][0]["url"], "https://vigil.example.com/x");
    }

    #[test]
    fn huge_titles_and_summaries_stay_within_limits() {
        let message = slack_message(
            &notification(&"t".repeat(500), &"s".repeat(200_000)),
            Some("javascript:alert(1)"),
        );
        check_block_kit_limits(&message).unwrap();
        assert!(!message.to_string().contains("javascript:"));
        assert_eq!(message["blocks"].as_array().unwrap().len(), MAX_BLOCKS - 1);
    }

    #[test]
    fn mrkdwn_is_escaped() {
        let message = slack_message(&notification("a", "<@channel> & <http://x|y>"), None);
        assert_eq!(
            message["blocks"][1]["text"]["text"],
            "&lt;@channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}
