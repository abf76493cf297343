//! `EmailSender` over SMTP with lettre: `smtp://` (plain, local sinks), `smtp://…?tls=required`
//! (STARTTLS) or `smtps://` (TLS), with optional `user:pass@`.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use vigil_core::ports::{Email, EmailError, EmailSender};

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EmailConfigError {
    #[error("the SMTP URL is not valid: {0}")]
    Url(String),
    #[error("the sender address {0:?} is not valid")]
    From(String),
}

pub struct SmtpEmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpEmailSender {
    /// Makes no connection; the first send does.
    pub fn new(url: &str, from: &str) -> Result<Self, EmailConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| EmailConfigError::Url(e.to_string()))?
            .timeout(Some(TIMEOUT))
            .build();
        let from = from
            .parse()
            .map_err(|_| EmailConfigError::From(from.to_owned()))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl EmailSender for SmtpEmailSender {
    async fn send(&self, email: &Email) -> Result<(), EmailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        for to in &email.to {
            let address: Mailbox = to
                .parse()
                .map_err(|_| EmailError::Rejected(format!("{to:?} is not an email address")))?;
            builder = builder.to(address);
        }
        let message = builder
            .body(email.text.clone())
            .map_err(|e| EmailError::Rejected(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(EmailError::Rejected(e.to_string())),
            Err(e) => Err(EmailError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_senders_are_checked_up_front() {
        assert!(SmtpEmailSender::new("smtp://127.0.0.1:2525", "vigil@example.com").is_ok());
        assert!(
            SmtpEmailSender::new("smtps://user:pw@mail.example.com", "vigil@example.com").is_ok()
        );
        assert!(SmtpEmailSender::new("http://x", "vigil@example.com").is_err());
        assert!(SmtpEmailSender::new("smtp://127.0.0.1:2525", "not an address").is_err());
    }
}
