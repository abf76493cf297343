//! `EmailSender` with SES v2.

use async_trait::async_trait;
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use vigil_core::ports::{Email, EmailError, EmailSender};

use crate::SdkConfig;

pub struct SesEmailSender {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesEmailSender {
    /// Builds the client; makes no network call.
    pub fn new(sdk: &SdkConfig, from: &str) -> Self {
        Self {
            client: aws_sdk_sesv2::Client::new(sdk),
            from: from.to_owned(),
        }
    }
}

fn content(text: &str) -> Result<Content, EmailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| EmailError::Rejected(e.to_string()))
}

#[async_trait]
impl EmailSender for SesEmailSender {
    async fn send(&self, email: &Email) -> Result<(), EmailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => Err(match e.err() {
                SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::BadRequestException(_)
                | SendEmailError::AccountSuspendedException(_)
                | SendEmailError::NotFoundException(_) => {
                    EmailError::Rejected(format!("{:?}", e.err()))
                }
                other => EmailError::Unavailable(format!("{other:?}")),
            }),
            Err(other) => Err(EmailError::Unavailable(other.to_string())),
        }
    }
}
