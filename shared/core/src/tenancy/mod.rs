//! Tenants, their credentials and who may do what.

pub mod audit;
pub mod auth;
pub mod keys;
pub mod secrets;
pub mod sessions;
pub mod tenants;

use serde::{Deserialize, Serialize};

/// What a key may do. Ordered: each role may do everything the ones below it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Reads, and works anomalies, inbox items and approvals.
    Operator,
    /// Everything, including keys, channels, rules and settings.
    Admin,
}

impl Role {
    pub fn at_least(self, needed: Role) -> bool {
        self >= needed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(crate::Error::invalid(
                "invalid_role",
                format!("role must be admin, operator or viewer, not {other:?}"),
            )),
        }
    }
}

/// Who is calling: an authenticated API key of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    pub key_id: String,
    pub role: Role,
}

impl Principal {
    /// Ok when the caller's role is at least `needed`.
    pub fn require(&self, needed: Role) -> crate::Result<()> {
        if self.role.at_least(needed) {
            Ok(())
        } else {
            Err(crate::Error::Forbidden(format!(
                "this needs the {} role; the key has {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }
}

/// Checks a tenant id or name used in a path before it reaches a key.
pub fn validate_tenant_id(text: &str) -> crate::Result<()> {
    if crate::ids::looks_like("tnt", text) {
        Ok(())
    } else {
        Err(crate::Error::NotFound("tenant".into()))
    }
}

/// One tenant's part of a scheduled job that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantFailure {
    pub tenant: String,
    pub error: String,
}
