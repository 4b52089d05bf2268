//! Sending email: the verification codes of public links.
//!
//! [`Mailer`] is the port. On AWS, [`SesMailer`] sends through Amazon SES v2 from the
//! sender the deployment configures (`AGENTGATE_MAIL_FROM`; the SDK's standard endpoint
//! settings apply, so `AWS_ENDPOINT_URL_SESV2` points it at a local server). On a laptop,
//! [`OutboxMailer`] writes each message as a JSON file in the data folder's `outbox/`, so
//! a developer reads the code there. A deployment with no sender has [`NoMailer`], and
//! links that require email cannot be switched on.

use std::path::PathBuf;

use async_trait::async_trait;

/// One plain-text message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no email sender is configured (set AGENTGATE_MAIL_FROM)")]
    NotConfigured,
    #[error("the email could not be sent: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;

    /// Whether this mailer can send at all.
    fn configured(&self) -> bool {
        true
    }
}

/// The mailer of a deployment without a sender.
#[derive(Debug, Default)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _: &Email) -> Result<(), MailError> {
        Err(MailError::NotConfigured)
    }

    fn configured(&self) -> bool {
        false
    }
}

/// Writes each message to `<dir>/<time>-<id>.json` as `{"to", "subject", "text"}`.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let failed = |e: std::io::Error| MailError::Failed(e.to_string());
        tokio::fs::create_dir_all(&self.dir).await.map_err(failed)?;
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        // Names sort in sending order, also within one millisecond.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(format!(
            "{millis:015}-{seq:06}-{}.json",
            uuid::Uuid::new_v4().simple()
        ));
        let body =
            serde_json::to_vec_pretty(email).map_err(|e| MailError::Failed(e.to_string()))?;
        tokio::fs::write(&path, body).await.map_err(failed)?;
        tracing::info!(path = %path.display(), "email written to the local outbox");
        Ok(())
    }
}

/// Amazon SES v2 `SendEmail` with a simple text body.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    pub fn new(config: &aws_config::SdkConfig, from: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_sesv2::Client::new(config),
            from: from.into(),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        use aws_sdk_sesv2::error::ProvideErrorMetadata;
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| MailError::Failed(e.to_string()))
        };
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                let message = e.message().unwrap_or_default().to_owned();
                // The recipient is not logged: an address is personal data.
                tracing::error!(code, message, "SES refused to send an email");
                Err(MailError::Failed(format!("{code}: {message}")))
            }
        }
    }
}
