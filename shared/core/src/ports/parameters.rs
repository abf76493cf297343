//! Parameters port: secrets a deployment keeps outside Vigil's store, read by name (SSM
//! Parameter Store SecureStrings on AWS), and the cache their readers share.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

/// Why a parameter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {name} could not be read: {reason}")]
pub struct ParameterError {
    pub name: String,
    pub reason: String,
}

#[async_trait]
pub trait Parameters: Send + Sync {
    /// The decrypted value of the parameter `name` (kept out of every `Debug` by its holder).
    async fn secret(&self, name: &str) -> Result<String, ParameterError>;
}

/// One secret parameter, read on first use and kept; read again once `forget` is called (the
/// service it unlocks refused it: it may have been rotated) or after a failed read.
pub struct CachedParameter {
    parameters: Arc<dyn Parameters>,
    name: String,
    cached: Mutex<Option<String>>,
}

impl CachedParameter {
    pub fn new(parameters: Arc<dyn Parameters>, name: impl Into<String>) -> Self {
        Self {
            parameters,
            name: name.into(),
            cached: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value: the kept one, else read now (one read at a time).
    pub async fn get(&self) -> Result<String, ParameterError> {
        let mut cached = self.cached.lock().await;
        if let Some(secret) = cached.as_ref() {
            return Ok(secret.clone());
        }
        let fresh = self.parameters.secret(&self.name).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the kept value, so the next `get` reads it again.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

impl std::fmt::Debug for CachedParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedParameter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers `value-N` on the N-th read, failing the reads listed in `failing`.
    struct Counting {
        reads: AtomicUsize,
        failing: Vec<usize>,
    }

    #[async_trait]
    impl Parameters for Counting {
        async fn secret(&self, name: &str) -> Result<String, ParameterError> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
            if self.failing.contains(&n) {
                return Err(ParameterError {
                    name: name.into(),
                    reason: "unreachable".into(),
                });
            }
            Ok(format!("value-{n}"))
        }
    }

    #[tokio::test]
    async fn a_parameter_is_read_once_then_again_after_forget_or_a_failed_read() {
        let source = Arc::new(Counting {
            reads: AtomicUsize::new(0),
            failing: vec![1],
        });
        let key = CachedParameter::new(source.clone(), "/vigil/ai-key");
        let failed = key.get().await;
        assert_eq!(
            failed.err().map(|e| e.to_string()),
            Some("parameter /vigil/ai-key could not be read: unreachable".into())
        );
        assert_eq!(key.get().await, Ok("value-2".into()));
        assert_eq!(key.get().await, Ok("value-2".into()));
        assert_eq!(source.reads.load(Ordering::SeqCst), 2);
        key.forget().await;
        assert_eq!(key.get().await, Ok("value-3".into()));
        assert!(!format!("{key:?}").contains("value"));
    }
}
