//! Console sessions. Signing in with an API key opens a session: the browser keeps a random token
//! in a cookie, the store keeps the token's digest with the key it was opened by, a CSRF token for
//! the session's forms, and when it ends for want of use. A session ends on sign-out, after
//! [`IDLE`] without a request, or as soon as its key is revoked.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::keys::KeyService;
use super::secrets;
use super::{Principal, Role};
use crate::json::to_json;
use crate::ports::{DeleteCondition, Item, ItemStore, PutCondition, StoreError};
use crate::secret::Secret;
use crate::{Clock, Error, Result, table_keys};

/// How long a session lasts without a request.
pub const IDLE: Duration = Duration::minutes(30);

/// What a session is, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub tenant_id: String,
    pub key_id: String,
    pub role: Role,
    /// Sent back with every form of the session; a request without it changes nothing.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Never prints the CSRF token.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("tenant_id", &self.tenant_id)
            .field("key_id", &self.key_id)
            .field("role", &self.role)
            .field("csrf_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Session {
    pub fn principal(&self) -> Principal {
        Principal {
            tenant_id: self.tenant_id.clone(),
            key_id: self.key_id.clone(),
            role: self.role,
        }
    }

    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        sent.as_bytes().ct_eq(self.csrf_token.as_bytes()).into()
    }
}

pub struct SessionService {
    store: Arc<dyn ItemStore>,
    keys: Arc<KeyService>,
    clock: Arc<dyn Clock>,
}

impl SessionService {
    pub fn new(store: Arc<dyn ItemStore>, keys: Arc<KeyService>, clock: Arc<dyn Clock>) -> Self {
        Self { store, keys, clock }
    }

    /// Opens a session for the holder of `api_key`: its token (for the cookie) and the session.
    pub async fn sign_in(&self, api_key: &str) -> Result<(Secret, Session)> {
        let principal = self.keys.authenticate(api_key).await?;
        let token = secrets::new_session_token();
        let session = Session {
            tenant_id: principal.tenant_id,
            key_id: principal.key_id,
            role: principal.role,
            csrf_token: secrets::new_csrf_token(),
            expires_at: self.clock.now() + IDLE,
        };
        self.store
            .put(to_item(&token, &session)?, PutCondition::Absent)
            .await?;
        Ok((Secret::new(token), session))
    }

    /// The live session of `token`, its idle time restarted; none when there is no such session,
    /// it has run out, or its key was revoked.
    pub async fn resume(&self, token: &str) -> Result<Option<Session>> {
        if !is_session_token(token) {
            return Ok(None);
        }
        let Some(stored) = self
            .store
            .get(&table_keys::session(&secrets::digest(token)))
            .await?
        else {
            return Ok(None);
        };
        let mut session: Session = stored.parse()?;
        let now = self.clock.now();
        if now >= session.expires_at || !self.key_is_live(&session).await? {
            return Ok(None);
        }
        // Written again only once half the idle time is used, not on every page.
        if session.expires_at - now < IDLE / 2 {
            session.expires_at = now + IDLE;
            match self
                .store
                .put(
                    to_item(token, &session)?,
                    PutCondition::VersionEquals(stored.version),
                )
                .await
            {
                Ok(_) | Err(StoreError::VersionConflict) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(Some(session))
    }

    /// Ends the session of `token` (nothing to do when there is none).
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        if !is_session_token(token) {
            return Ok(());
        }
        let key = table_keys::session(&secrets::digest(token));
        self.store
            .delete(&key, DeleteCondition::None)
            .await
            .map_err(Error::from)
    }

    async fn key_is_live(&self, session: &Session) -> Result<bool> {
        let key = table_keys::api_key(&session.tenant_id, &session.key_id);
        Ok(self.store.get(&key).await?.is_some())
    }
}

/// Whether `token` has a session token's shape: anything else names no session, unread.
fn is_session_token(token: &str) -> bool {
    token.starts_with(secrets::SESSION_TOKEN_PREFIX) && token.len() <= 200
}

fn to_item(token: &str, session: &Session) -> Result<Item> {
    Ok(Item::new(
        table_keys::session(&secrets::digest(token)),
        to_json(session)?,
    )
    .with_expiry(session.expires_at.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_prints_without_its_csrf_token_and_checks_it_exactly() {
        let session = Session {
            tenant_id: "tnt_1".into(),
            key_id: "key_1".into(),
            role: Role::Viewer,
            csrf_token: "s3cret-token".into(),
            expires_at: Utc::now(),
        };
        let printed = format!("{session:?}");
        assert!(!printed.contains("s3cret-token") && printed.contains("[redacted]"));
        assert!(session.csrf_matches("s3cret-token"));
        assert!(!session.csrf_matches("s3cret-toke") && !session.csrf_matches(""));
    }
}
