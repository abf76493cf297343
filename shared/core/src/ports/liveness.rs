//! Which process instances are alive. Claims and leases name the instance that holds them, so a
//! process that knows the holder is gone takes the work over at once instead of waiting out the
//! claim.

use async_trait::async_trait;

#[async_trait]
pub trait Liveness: Send + Sync {
    /// This process instance's id; the claims it makes carry it.
    fn instance_id(&self) -> &str;

    /// Whether `instance` is known to have stopped. `false` when that cannot be known: its claims
    /// then run out on their own.
    async fn is_gone(&self, instance: &str) -> bool;
}

/// Liveness where a stopped instance cannot be seen (Lambda execution environments): every claim
/// runs its course.
pub struct UnknownLiveness {
    instance_id: String,
}

impl UnknownLiveness {
    /// A fresh instance id for this process.
    pub fn new() -> Self {
        Self {
            instance_id: crate::ids::new_id("ins"),
        }
    }
}

impl Default for UnknownLiveness {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Liveness for UnknownLiveness {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    async fn is_gone(&self, _instance: &str) -> bool {
        false
    }
}
