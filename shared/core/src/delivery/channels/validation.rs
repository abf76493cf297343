//! What a channel may hold: names, URLs, secrets and recipients checked, and a posted channel
//! or patch turned into its destination.

use super::{
    ChannelKind, ChannelPatch, Destination, INBOX, MAX_NAME, MAX_RECIPIENTS, MAX_URL, NewChannel,
};
use crate::egress::EgressPolicy;
use crate::error::FieldProblem;
use crate::secret::Secret;
use crate::target_url::{TargetUrlProblem, check_target_url};
use crate::tenancy::secrets::WEBHOOK_SECRET_PREFIX;
use crate::{Error, Result};

/// An email address as channels take it: at most 254 characters, no blanks or control
/// characters, a local part, `@`, and a domain with a dot (documents `to`).
pub struct EmailAddress;

impl utoipa::PartialSchema for EmailAddress {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(254))
            .pattern(Some(
                "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s\\u0000-\\u001f\\u007f-\\u009f]*$",
            ))
            .into()
    }
}

impl utoipa::ToSchema for EmailAddress {}

pub(super) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(Error::invalid(
            "invalid_channel",
            format!("name must be 1–{MAX_NAME} characters of a-z, 0-9, - and _"),
        ));
    }
    if name == INBOX {
        return Err(Error::invalid(
            "invalid_channel",
            "the name \"inbox\" is reserved for the admin inbox",
        ));
    }
    Ok(())
}

fn check_url(url: &str) -> Result<()> {
    match check_target_url(url) {
        Ok(()) if url.chars().count() <= MAX_URL => Ok(()),
        Err(TargetUrlProblem::NotAnAddress) => Err(Error::unprocessable(
            "invalid_channel",
            format!("url: {}", TargetUrlProblem::NotAnAddress),
        )),
        _ => Err(Error::invalid(
            "invalid_channel",
            format!(
                "url {}, at most {MAX_URL} characters",
                TargetUrlProblem::Shape
            ),
        )),
    }
}

/// The egress guard on a saved URL: an address (in any spelling) or `localhost` that outbound
/// calls may not reach is refused now, naming the field; other names are checked when sent.
pub(super) fn check_egress(destination: &Destination, egress: &EgressPolicy) -> Result<()> {
    let url = match destination {
        Destination::Slack { url } | Destination::Webhook { url, .. } => url,
        Destination::Email { .. } => return Ok(()),
    };
    // 422: whether an address may be reached is the deployment's rule (`VIGIL_EGRESS_ALLOW`),
    // not something the API document can state.
    egress.check_url(url.expose()).map_err(|denied| Error::UnprocessableFields {
        code: "invalid_channel",
        problems: vec![FieldProblem {
            path: "$.url".into(),
            message: format!(
                "{denied}: channels may not send to local or private addresses (VIGIL_EGRESS_ALLOW)"
            ),
        }],
    })
}

fn check_secret(secret: &str) -> Result<()> {
    use base64::Engine as _;
    let key = secret.strip_prefix(WEBHOOK_SECRET_PREFIX).ok_or_else(|| {
        Error::invalid(
            "invalid_channel",
            format!("secret must start with {WEBHOOK_SECRET_PREFIX}"),
        )
    })?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if (24..=64).contains(&bytes.len()) => Ok(()),
        _ => Err(Error::invalid(
            "invalid_channel",
            "secret must be whsec_ followed by a base64 key of 24 to 64 bytes",
        )),
    }
}

fn check_recipients(to: &[String]) -> Result<()> {
    let plausible = |address: &String| {
        address.chars().count() <= 254
            && !address.chars().any(|c| c.is_whitespace() || c.is_control())
            && address
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
    };
    if to.is_empty() || to.len() > MAX_RECIPIENTS || !to.iter().all(plausible) {
        return Err(Error::invalid(
            "invalid_channel",
            format!("to must list 1–{MAX_RECIPIENTS} email addresses"),
        ));
    }
    Ok(())
}

fn required<T>(value: Option<T>, field: &str, kind: &str) -> Result<T> {
    value.ok_or_else(|| {
        Error::unprocessable(
            "invalid_channel",
            format!("a {kind} channel needs \"{field}\""),
        )
    })
}

fn refuse(field: &str, kind: &str) -> Error {
    Error::unprocessable(
        "invalid_channel",
        format!("a {kind} channel has no \"{field}\""),
    )
}

impl NewChannel {
    pub(super) fn destination(self) -> Result<Destination> {
        match self.kind {
            ChannelKind::Slack => {
                if self.secret.is_some() {
                    return Err(refuse("secret", "slack"));
                }
                if self.to.is_some() {
                    return Err(refuse("to", "slack"));
                }
                let url = required(self.url, "url", "slack")?;
                check_url(&url)?;
                Ok(Destination::Slack { url: url.into() })
            }
            ChannelKind::Webhook => {
                if self.to.is_some() {
                    return Err(refuse("to", "webhook"));
                }
                let url = required(self.url, "url", "webhook")?;
                check_url(&url)?;
                let secret = required(self.secret, "secret", "webhook")?;
                check_secret(&secret)?;
                Ok(Destination::Webhook {
                    url: url.into(),
                    secrets: vec![secret.into()],
                })
            }
            ChannelKind::Email => {
                if self.url.is_some() {
                    return Err(refuse("url", "email"));
                }
                if self.secret.is_some() {
                    return Err(refuse("secret", "email"));
                }
                let to = required(self.to, "to", "email")?;
                check_recipients(&to)?;
                Ok(Destination::Email { to })
            }
        }
    }
}

impl ChannelPatch {
    pub(super) fn apply(self, destination: &mut Destination) -> Result<()> {
        let kind = match destination.kind() {
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Email => "email",
        };
        match destination {
            Destination::Slack { url } => {
                if self.secret.is_some() || self.retire_previous_secret {
                    return Err(refuse("secret", kind));
                }
                if self.to.is_some() {
                    return Err(refuse("to", kind));
                }
                if let Some(new) = self.url {
                    check_url(&new)?;
                    *url = new.into();
                }
            }
            Destination::Webhook { url, secrets } => {
                if self.to.is_some() {
                    return Err(refuse("to", kind));
                }
                if let Some(new) = self.url {
                    check_url(&new)?;
                    *url = new.into();
                }
                if let Some(new) = self.secret {
                    check_secret(&new)?;
                    let new = Secret::from(new);
                    secrets.retain(|s| *s != new);
                    secrets.insert(0, new);
                }
                // At most two sign at once: the newest and the one it replaces.
                let keep = if self.retire_previous_secret { 1 } else { 2 };
                secrets.truncate(keep);
            }
            Destination::Email { to } => {
                if self.url.is_some() {
                    return Err(refuse("url", kind));
                }
                if self.secret.is_some() || self.retire_previous_secret {
                    return Err(refuse("secret", kind));
                }
                if let Some(new) = self.to {
                    check_recipients(&new)?;
                    *to = new;
                }
            }
        }
        Ok(())
    }
}
