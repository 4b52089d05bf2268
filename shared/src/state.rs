//! The composition root: what every handler shares, built once per cold start (or once per
//! local server).
//!
//! It is the one place that reads the configuration ([`crate::config`]), opens the
//! adapters (the embedded store or DynamoDB, Secrets Manager, the providers' HTTP client)
//! and builds the services on them ([`Turns`], [`Memories`]). `AppState` is cheap to clone
//! (everything is behind `Arc`), so each family's router takes it by value. On Lambda a
//! missing setting fails the cold start with a clear message instead of failing requests
//! later.

use std::path::Path;
use std::sync::Arc;

use crate::auth::{AuthError, JwtKeys};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigError, Settings, StoreKind, Trigger};
use crate::domain::link::CodeKey;
use crate::mail::{Mailer, NoMailer, OutboxMailer, SesMailer};
use crate::memory::Memories;
use crate::ports::{Store, StoreError};
use crate::provider::bedrock::{BedrockProvider, BedrockSetupError};
use crate::provider::{ProviderError, ProviderSettings, Providers};
use crate::secret::SecretString;
use crate::store::{DynamoStore, SqliteStore};
use crate::turn::Turns;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub providers: Providers,
    pub jwt: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// One model turn, for every streaming family.
    pub turns: Turns,
    /// Assistants and token lookups, kept briefly for public turns.
    pub assistants: crate::cache::Assistants,
    /// Knowledge-base indexes, built once per knowledge version on a warm instance.
    pub knowledge: crate::knowledge::Indexes,
    /// Per-user memories: recall and background summaries.
    pub memories: Memories,
    /// Sends the verification codes of public links.
    pub mailer: Arc<dyn Mailer>,
    /// The key email codes are stored under (derived from the deployment secret).
    pub codes: CodeKey,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("providers", &self.providers)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why a process could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the store could not be opened: {0}")]
    Store(#[from] StoreError),
    #[error("the providers could not be set up: {0}")]
    Provider(#[from] ProviderError),
    #[error("the JWT secret is unusable: {0}")]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Bedrock(#[from] BedrockSetupError),
    #[error("AGENTGATE_BEDROCK must be on, off or unset (got {0:?})")]
    BedrockMode(String),
}

/// Amazon Bedrock for this process, as `AGENTGATE_BEDROCK` says: `on` requires it (a
/// missing region or credentials stop the start with a message saying which), `off` never
/// uses it, and unset uses it when the AWS configuration in the environment
/// (`AWS_REGION`, `AWS_DEFAULT_REGION` or `AWS_PROFILE`) comes with credentials.
pub async fn bedrock_from_env(
    config: Option<&aws_config::SdkConfig>,
) -> Result<Option<BedrockProvider>, BootError> {
    let required = match config::env("AGENTGATE_BEDROCK").as_deref() {
        Some("on") => true,
        Some("off") => return Ok(None),
        None => false,
        Some(other) => return Err(BootError::BedrockMode(other.to_owned())),
    };
    let hinted = ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"]
        .iter()
        .any(|v| config::env(v).is_some());
    if !required && !hinted {
        return Ok(None);
    }
    let loaded;
    let config = match config {
        Some(c) => c,
        None => {
            loaded = aws_config::load_from_env().await;
            &loaded
        }
    };
    match BedrockProvider::from_config(config).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if required => Err(e.into()),
        Err(e) => {
            tracing::info!(reason = %e, "Amazon Bedrock is off");
            Ok(None)
        }
    }
}

/// What calls the models, around `providers`: the memory summariser, and the turns (which
/// note new messages to it).
fn model_callers(
    store: &Arc<dyn Store>,
    providers: &Providers,
    clock: &Arc<dyn Clock>,
    settings: &Arc<Settings>,
) -> (Memories, Turns) {
    let memories = Memories::new(
        store.clone(),
        providers.clone(),
        clock.clone(),
        settings.memory_trigger,
    );
    let turns = Turns::new(
        store.clone(),
        providers.clone(),
        clock.clone(),
        settings.clone(),
        memories.clone(),
    );
    (memories, turns)
}

impl AppState {
    /// Assembles a state from its parts (tests use this with their own store and clock).
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        jwt: JwtKeys,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        let settings = Arc::new(settings);
        let (memories, turns) = model_callers(&store, &providers, &clock, &settings);
        let assistants = crate::cache::Assistants::new(store.clone(), settings.assistant_cache);
        Self {
            assistants,
            knowledge: crate::knowledge::Indexes::new(store.clone()),
            store,
            providers,
            jwt: Arc::new(jwt),
            clock,
            settings,
            turns,
            memories,
            mailer: Arc::new(NoMailer),
            // Replaced by `with_mail` wherever codes must survive the process.
            codes: CodeKey::derive(&crate::random::bytes::<32>()),
        }
    }

    /// This state calling the models through `providers` (a serving thread's own connection
    /// pools); the store, the caches and the settings stay shared.
    #[must_use]
    pub fn with_providers(self, providers: Providers) -> Self {
        let (memories, turns) = model_callers(&self.store, &providers, &self.clock, &self.settings);
        Self {
            providers,
            memories,
            turns,
            ..self
        }
    }

    /// This state sending mail with `mailer` and storing codes under `codes`.
    #[must_use]
    pub fn with_mail(self, mailer: Arc<dyn Mailer>, codes: CodeKey) -> Self {
        Self {
            mailer,
            codes,
            ..self
        }
    }

    /// The rest of every environment-built state: providers around one HTTP client, the
    /// JWT keys, and the settings from the environment.
    fn assemble(
        store: Arc<dyn Store>,
        providers: &ProviderSettings,
        bedrock: Option<BedrockProvider>,
        jwt_secret: &SecretString,
        clock: Arc<dyn Clock>,
        memory_trigger: Trigger,
        mailer: Arc<dyn Mailer>,
    ) -> Result<Self, BootError> {
        let codes = CodeKey::derive(jwt_secret.expose().as_bytes());
        Ok(Self::new(
            store,
            match bedrock {
                Some(b) => Providers::new(providers)?.with_bedrock(b),
                None => Providers::new(providers)?,
            },
            JwtKeys::new(jwt_secret)?.requiring(
                config::env("AGENTGATE_JWT_ISSUER").as_deref(),
                config::env("AGENTGATE_JWT_AUDIENCE").as_deref(),
            ),
            clock,
            Settings {
                memory_trigger,
                ..Settings::from_env()?
            },
        )
        .with_mail(mailer, codes))
    }

    /// The local server's state: the embedded store in `data_dir`, providers and settings
    /// from the environment, the JWT secret from the environment or the data folder.
    pub async fn local(data_dir: &Path) -> Result<Self, BootError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = SqliteStore::open_exclusive(data_dir, clock.clone())?;
        Self::assemble(
            Arc::new(store),
            &config::provider_settings_from_env()?,
            bedrock_from_env(None).await?,
            &config::local_jwt_secret(data_dir)?,
            clock,
            Trigger::InProcess,
            Arc::new(OutboxMailer::new(data_dir.join("outbox"))),
        )
    }

    /// The local server on DynamoDB (`AGENTGATE_STORE=dynamodb`): the table from
    /// `AGENTGATE_TABLE`, the JWT secret kept in the data folder as usual.
    pub async fn local_on_dynamodb(data_dir: &Path) -> Result<Self, BootError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let config = aws_config::load_from_env().await;
        let store = dynamo(&config, clock.clone())?;
        Self::assemble(
            store,
            &config::provider_settings_from_env()?,
            bedrock_from_env(Some(&config)).await?,
            &config::local_jwt_secret(data_dir)?,
            clock,
            Trigger::InProcess,
            Arc::new(OutboxMailer::new(data_dir.join("outbox"))),
        )
    }

    /// A Lambda's state: nothing is generated, every missing setting fails the cold start.
    /// Secrets come from the Secrets Manager secret `AGENTGATE_SECRET_ARN` (provider keys
    /// there take precedence over the environment); without it, from the environment
    /// (`AGENTGATE_JWT_SECRET`, as under `cargo lambda watch`).
    pub async fn lambda() -> Result<Self, BootError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let config = aws_config::load_from_env().await;
        let kind = StoreKind::from_env(StoreKind::DynamoDb)?;
        let store: Arc<dyn Store> = match kind {
            StoreKind::Sqlite => {
                let dir = config::env("AGENTGATE_DATA_DIR")
                    .ok_or(ConfigError::Missing("AGENTGATE_DATA_DIR"))?;
                Arc::new(SqliteStore::open(Path::new(&dir), clock.clone())?)
            }
            StoreKind::DynamoDb => dynamo(&config, clock.clone())?,
        };
        let mut providers = config::provider_settings_from_env()?;
        let jwt_secret = match config::env("AGENTGATE_SECRET_ARN") {
            Some(arn) => {
                let secrets = crate::secrets::AppSecrets::load(
                    &crate::secrets::SecretsManager::new(&config),
                    &arn,
                )
                .await?;
                providers.openai_api_key = secrets.openai_api_key.or(providers.openai_api_key);
                providers.anthropic_api_key =
                    secrets.anthropic_api_key.or(providers.anthropic_api_key);
                secrets.jwt
            }
            None => config::env("AGENTGATE_JWT_SECRET")
                .map(SecretString::new)
                .ok_or(ConfigError::Missing(
                    "AGENTGATE_SECRET_ARN (or AGENTGATE_JWT_SECRET)",
                ))?,
        };
        // On DynamoDB the table's stream drives the `memory` function; a Lambda on the
        // embedded store (as under `cargo lambda watch`) summarises in process.
        let trigger = match kind {
            StoreKind::DynamoDb => Trigger::Stream,
            StoreKind::Sqlite => Trigger::InProcess,
        };
        let mailer: Arc<dyn Mailer> = match config::env("AGENTGATE_MAIL_FROM") {
            Some(from) => Arc::new(SesMailer::new(&config, from)),
            None => Arc::new(NoMailer),
        };
        let bedrock = bedrock_from_env(Some(&config)).await?;
        Self::assemble(
            store,
            &providers,
            bedrock,
            &jwt_secret,
            clock,
            trigger,
            mailer,
        )
    }
}

/// The DynamoDB store named by `AGENTGATE_TABLE`, over an SDK config loaded once per
/// process (region, credentials, and `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` for
/// DynamoDB Local).
fn dynamo(
    config: &aws_config::SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, BootError> {
    let table = config::table_from_env()?;
    let client = aws_sdk_dynamodb::Client::new(config);
    Ok(Arc::new(DynamoStore::new(client, table, clock)))
}
