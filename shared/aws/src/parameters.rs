//! `Parameters` with SSM Parameter Store: SecureStrings read decrypted.

use async_trait::async_trait;
use vigil_core::ports::{ParameterError, Parameters};

use crate::SdkConfig;
use crate::error::describe;

pub struct SsmParameters {
    client: aws_sdk_ssm::Client,
}

impl SsmParameters {
    /// Builds the client; makes no network call.
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: aws_sdk_ssm::Client::new(sdk),
        }
    }
}

#[async_trait]
impl Parameters for SsmParameters {
    async fn secret(&self, name: &str) -> Result<String, ParameterError> {
        let failed = |reason: String| ParameterError {
            name: name.to_owned(),
            reason,
        };
        let answer = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| failed(describe(&e)))?;
        answer
            .parameter
            .and_then(|p| p.value)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| failed("it has no value".into()))
    }
}
