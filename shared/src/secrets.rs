//! Secrets: the JWT signing secret and provider keys, read once per cold start.
//!
//! On Lambda they live in one Secrets Manager secret (a JSON document, created by the
//! template) named by `AGENTGATE_SECRET_ARN`. Values travel as [`SecretString`] so they
//! never reach a log line, and nothing here is ever written to the store.

use async_trait::async_trait;

use crate::secret::SecretString;

pub const KEY_JWT: &str = "AGENTGATE_JWT_SECRET";
pub const KEY_OPENAI: &str = "OPENAI_API_KEY";
pub const KEY_ANTHROPIC: &str = "ANTHROPIC_API_KEY";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {id} could not be read: {code}: {message}")]
    Unreadable {
        id: String,
        code: String,
        message: String,
    },
    #[error("secret {0} has no string value")]
    NotAString(String),
    #[error("secret {0} is not a JSON object of strings")]
    Malformed(String),
    #[error("secret {id} has no non-empty {key}")]
    MissingKey { id: String, key: &'static str },
}

/// Where secret values come from.
#[async_trait]
pub trait Secrets: Send + Sync {
    async fn fetch(&self, id: &str) -> Result<SecretString, SecretsError>;
}

/// AWS Secrets Manager (endpoint from the SDK's standard configuration, so
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` points it at a local server in tests).
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn fetch(&self, id: &str) -> Result<SecretString, SecretsError> {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretsError::Unreadable {
                id: id.to_owned(),
                code: e.code().unwrap_or("unreachable").to_owned(),
                message: e.message().map_or_else(
                    || aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                    str::to_owned,
                ),
            })?;
        out.secret_string()
            .map(SecretString::new)
            .ok_or_else(|| SecretsError::NotAString(id.to_owned()))
    }
}

/// The deployment's secrets, parsed from the secret's JSON document. Empty provider keys
/// mean "provider not configured".
#[derive(Debug, Clone)]
pub struct AppSecrets {
    pub jwt: SecretString,
    pub openai_api_key: Option<SecretString>,
    pub anthropic_api_key: Option<SecretString>,
}

impl AppSecrets {
    pub fn from_document(id: &str, doc: &SecretString) -> Result<Self, SecretsError> {
        let map: std::collections::HashMap<String, String> = serde_json::from_str(doc.expose())
            .map_err(|_| SecretsError::Malformed(id.to_owned()))?;
        let get = |k: &str| {
            map.get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(SecretString::new)
        };
        Ok(Self {
            jwt: get(KEY_JWT).ok_or_else(|| SecretsError::MissingKey {
                id: id.to_owned(),
                key: KEY_JWT,
            })?,
            openai_api_key: get(KEY_OPENAI),
            anthropic_api_key: get(KEY_ANTHROPIC),
        })
    }

    pub async fn load(source: &dyn Secrets, id: &str) -> Result<Self, SecretsError> {
        Self::from_document(id, &source.fetch(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse_and_never_print_values() {
        let doc = SecretString::new(
            r#"{"AGENTGATE_JWT_SECRET":"s3cr3t-value","OPENAI_API_KEY":"","ANTHROPIC_API_KEY":"sk-ant-x"}"#,
        );
        let s = AppSecrets::from_document("arn", &doc).unwrap();
        assert_eq!(s.jwt.expose(), "s3cr3t-value");
        assert!(s.openai_api_key.is_none());
        assert!(!format!("{s:?}").contains("s3cr3t") && !format!("{s:?}").contains("sk-ant"));
        assert!(matches!(
            AppSecrets::from_document("arn", &SecretString::new("{}")),
            Err(SecretsError::MissingKey { .. })
        ));
        assert!(matches!(
            AppSecrets::from_document("arn", &SecretString::new("not json")),
            Err(SecretsError::Malformed(_))
        ));
    }
}
