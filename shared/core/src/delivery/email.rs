//! Email notifications: one plain-text message.

use chrono::SecondsFormat;

use super::notification::Notification;
use crate::ports::Email;

const MAX_SUBJECT: usize = 200;

pub fn email_message(n: &Notification, to: &[String], link_url: Option<&str>) -> Email {
    let one_line: String = format!("[{}] {}", n.severity, n.title)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let subject = if one_line.chars().count() > MAX_SUBJECT {
        let mut cut: String = one_line.chars().take(MAX_SUBJECT - 1).collect();
        cut.push('…');
        cut
    } else {
        one_line
    };
    let mut text = format!("{}\n\n", n.title);
    if !n.summary.trim().is_empty() {
        text.push_str(&format!("{}\n\n", n.summary));
    }
    text.push_str(&format!(
        "Type: {}\nSeverity: {}\nTime: {}\n",
        n.kind.as_str(),
        n.severity,
        n.created_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    ));
    if let Some(link_ref) = &n.link_ref {
        text.push_str(&format!("About: {link_ref}\n"));
    }
    if let Some(url) = link_url {
        text.push_str(&format!("Open: {url}\n"));
    }
    text.push_str(&format!("\nVigil notification {}\n", n.id));
    Email {
        to: to.to_vec(),
        subject,
        text,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::delivery::{NotificationStatus, NotificationType};
    use crate::severity::Severity;

    #[test]
    fn subjects_are_one_short_line() {
        let n = Notification {
            id: "ntf_1".into(),
            tenant_id: "tnt_1".into(),
            kind: NotificationType::SummaryReady,
            severity: Severity::Sev4,
            title: "Daily\r\nsummary".into(),
            summary: "All quiet".into(),
            link_ref: None,
            dedupe_key: "k".into(),
            payload: serde_json::json!({}),
            status: NotificationStatus::Pending,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let email = email_message(&n, &["ops@example.com".into()], Some("https://v.example/x"));
        assert_eq!(email.subject, "[SEV4] Daily  summary");
        assert!(email.text.contains("All quiet") && email.text.contains("https://v.example/x"));
        let long = Notification {
            title: "x".repeat(500),
            ..n
        };
        assert_eq!(
            email_message(&long, &[], None).subject.chars().count(),
            MAX_SUBJECT
        );
    }
}
