//! `Wording` through an OpenAI-compatible chat completions endpoint.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use vigil_core::ports::CachedParameter;
use vigil_core::ports::wording::{AI_TIMEOUT, AiError, Wording};

/// Longest answer kept (characters).
const MAX_ANSWER: usize = 4000;

pub struct OpenAiWording {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: AiKey,
}

/// The key the model is asked with.
pub enum AiKey {
    /// None (a local model).
    None,
    /// Given in the configuration.
    Fixed(String),
    /// Read from a secret parameter, and read again when the model refuses it (rotated).
    Parameter(CachedParameter),
    /// Named, but not readable here (why).
    Unreadable(String),
}

impl OpenAiWording {
    /// `base_url` such as `https://api.openai.com/v1`; requests go to `{base_url}/chat/completions`.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: AiKey,
        timeout: Option<Duration>,
    ) -> Result<Self, AiError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout.unwrap_or(AI_TIMEOUT))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AiError::Unreachable(e.to_string()))?;
        Ok(Self {
            client,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key,
        })
    }
}

impl OpenAiWording {
    /// The key to send, if any.
    async fn key(&self) -> Result<Option<String>, AiError> {
        match &self.api_key {
            AiKey::None => Ok(None),
            AiKey::Fixed(key) => Ok(Some(key.clone())),
            AiKey::Unreadable(why) => Err(AiError::KeyUnavailable(why.clone())),
            AiKey::Parameter(key) => match key.get().await {
                Ok(key) => Ok(Some(key)),
                Err(error) => {
                    tracing::error!(%error, "the AI model's API key could not be read");
                    Err(AiError::KeyUnavailable(error.to_string()))
                }
            },
        }
    }

    /// One request to the model.
    async fn ask(&self, body: &Value) -> Result<reqwest::Response, AiError> {
        let mut request = self.client.post(&self.url).json(body);
        if let Some(key) = self.key().await? {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                AiError::Timeout
            } else {
                AiError::Unreachable(e.to_string())
            }
        })?;
        Ok(response)
    }
}

#[async_trait]
impl Wording for OpenAiWording {
    async fn rephrase(&self, instructions: &str, text: &str) -> Result<String, AiError> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2,
            "max_tokens": 800,
            "messages": [
                {"role": "system", "content": instructions},
                {"role": "user", "content": text},
            ],
        });
        let mut response = self.ask(&body).await?;
        if let AiKey::Parameter(key) = &self.api_key
            && matches!(response.status().as_u16(), 401 | 403)
        {
            // The kept key may have been rotated since it was read: read it once more.
            tracing::warn!(status = %response.status(), "the AI model refused its key; reading it again");
            key.forget().await;
            response = self.ask(&body).await?;
        }
        let status = response.status();
        if !status.is_success() {
            return Err(AiError::Http(status.as_u16()));
        }
        let answer: Value = response.json().await.map_err(|e| {
            if e.is_timeout() {
                AiError::Timeout
            } else {
                AiError::Malformed(e.to_string())
            }
        })?;
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AiError::Malformed("no choices[0].message.content".into()))?;
        if content.chars().count() > MAX_ANSWER {
            return Err(AiError::Malformed(format!(
                "the answer is longer than {MAX_ANSWER} characters"
            )));
        }
        Ok(content.to_owned())
    }
}
