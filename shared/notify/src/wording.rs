//! `Wording` through an OpenAI-compatible chat completions endpoint.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use vigil_core::ports::wording::{AI_TIMEOUT, AiError, Wording};

/// Longest answer kept (characters).
const MAX_ANSWER: usize = 4000;

pub struct OpenAiWording {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
}

impl OpenAiWording {
    /// `base_url` such as `https://api.openai.com/v1`; requests go to `{base_url}/chat/completions`.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
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
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                AiError::Timeout
            } else {
                AiError::Unreachable(e.to_string())
            }
        })?;
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
