//! What every handler shares, built once per cold start (or once per local server).
//!
//! `AppState` is cheap to clone (everything is behind `Arc`), so each family's router
//! takes it by value. Building it reads the environment once; on Lambda a missing setting
//! fails the cold start with a clear message instead of failing requests later.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{AuthError, JwtKeys};
use crate::clock::{Clock, SystemClock};
use crate::memory::Trigger;
use crate::ports::{Store, StoreError};
use crate::provider::{ProviderError, ProviderSettings, Providers};
use crate::secret::SecretString;
use crate::store::SqliteStore;

/// Tunables with product defaults, overridable by environment variables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A thread unused for this long expires (`AGENTGATE_THREAD_TTL_DAYS`, default 30).
    pub thread_idle_ttl_secs: i64,
    /// How many earlier messages are sent to the model (`AGENTGATE_HISTORY_LIMIT`, 40).
    pub history_limit: usize,
    /// Keep-alive and snapshot spacing of streams (`AGENTGATE_SNAPSHOT_INTERVAL_MS`,
    /// default 50; 0 sends one `messages/partial` per token).
    pub pacing: crate::run::Pacing,
    /// Public requests per minute per end user of one assistant
    /// (`AGENTGATE_RATE_PER_MINUTE`, default 30).
    pub rate_per_minute: u64,
    /// Public requests per day per assistant (`AGENTGATE_DAILY_LIMIT`, default 10,000),
    /// counted over `daily_shards` counters.
    pub daily_limit: u64,
    pub daily_shards: u32,
    /// Widget messages per hour per visitor of one assistant
    /// (`AGENTGATE_WIDGET_VISITOR_PER_HOUR`, default 30).
    pub widget_visitor_per_hour: u64,
    /// Widget messages per hour per source IP of one assistant
    /// (`AGENTGATE_WIDGET_IP_PER_HOUR`, default 60).
    pub widget_ip_per_hour: u64,
    /// Widget messages per day across all of one owner's assistants
    /// (`AGENTGATE_OWNER_DAILY_LIMIT`, default 50,000).
    pub owner_daily_limit: u64,
    /// Who summarises per-user memories: this process (local) or the table's stream.
    pub memory_trigger: crate::memory::Trigger,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            thread_idle_ttl_secs: 30 * 86_400,
            history_limit: 40,
            pacing: crate::run::Pacing::default(),
            rate_per_minute: 30,
            daily_limit: 10_000,
            daily_shards: 8,
            widget_visitor_per_hour: 30,
            widget_ip_per_hour: 60,
            owner_daily_limit: 50_000,
            memory_trigger: crate::memory::Trigger::InProcess,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub providers: Providers,
    pub jwt: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("providers", &self.providers)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("the store could not be opened: {0}")]
    Store(#[from] StoreError),
    #[error("the providers could not be set up: {0}")]
    Provider(#[from] ProviderError),
    #[error("the JWT secret is unusable: {0}")]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("{0}")]
    Io(String),
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn env_num<T: std::str::FromStr>(var: &'static str, default: T) -> Result<T, BootError> {
    match env(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| BootError::Invalid {
            var,
            reason: format!("expected a number, got {v:?}"),
        }),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, BootError> {
        let days: i64 = env_num("AGENTGATE_THREAD_TTL_DAYS", 30)?;
        let history_limit: usize = env_num("AGENTGATE_HISTORY_LIMIT", 40)?;
        if !(1..=3650).contains(&days) || !(0..=500).contains(&history_limit) {
            return Err(BootError::Invalid {
                var: "AGENTGATE_THREAD_TTL_DAYS/AGENTGATE_HISTORY_LIMIT",
                reason: "TTL must be 1-3650 days and the history limit 0-500".into(),
            });
        }
        Ok(Self {
            thread_idle_ttl_secs: days * 86_400,
            history_limit,
            rate_per_minute: env_num("AGENTGATE_RATE_PER_MINUTE", 30)?,
            daily_limit: env_num("AGENTGATE_DAILY_LIMIT", 10_000)?,
            widget_visitor_per_hour: env_num("AGENTGATE_WIDGET_VISITOR_PER_HOUR", 30)?,
            widget_ip_per_hour: env_num("AGENTGATE_WIDGET_IP_PER_HOUR", 60)?,
            owner_daily_limit: env_num("AGENTGATE_OWNER_DAILY_LIMIT", 50_000)?,
            pacing: crate::run::Pacing {
                snapshot_interval: Duration::from_millis(env_num(
                    "AGENTGATE_SNAPSHOT_INTERVAL_MS",
                    50,
                )?),
                ..crate::run::Pacing::default()
            },
            ..Self::default()
        })
    }
}

/// Provider endpoints and keys from the standard variables (`OPENAI_BASE_URL`,
/// `OPENAI_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`).
pub fn provider_settings_from_env() -> Result<ProviderSettings, BootError> {
    let delay_ms: u64 = env_num("AGENTGATE_ECHO_DELAY_MS", 30)?;
    Ok(ProviderSettings {
        openai_base_url: env("OPENAI_BASE_URL"),
        openai_api_key: env("OPENAI_API_KEY").map(SecretString::new),
        anthropic_base_url: env("ANTHROPIC_BASE_URL"),
        anthropic_api_key: env("ANTHROPIC_API_KEY").map(SecretString::new),
        echo_delay: Duration::from_millis(delay_ms),
    })
}

/// The JWT secret for local runs: `AGENTGATE_JWT_SECRET`, or one generated on first use and
/// kept in the data folder so `dev-token` output stays valid across restarts.
pub fn local_jwt_secret(data_dir: &Path) -> Result<SecretString, BootError> {
    if let Some(s) = env("AGENTGATE_JWT_SECRET") {
        return Ok(SecretString::new(s));
    }
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(SecretString::new(s.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(BootError::Io(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| BootError::Io(format!("cannot create {}: {e}", data_dir.display())))?;
    let secret = crate::random::hex_string::<32>();
    write_private(&path, &secret)
        .map_err(|e| BootError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(SecretString::new(secret))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(contents.as_bytes())
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
        Self {
            store,
            providers,
            jwt: Arc::new(jwt),
            clock,
            settings: Arc::new(settings),
        }
    }

    /// The rest of every environment-built state: providers around one HTTP client, the
    /// JWT keys, and the settings from the environment.
    fn assemble(
        store: Arc<dyn Store>,
        providers: &ProviderSettings,
        jwt_secret: &SecretString,
        clock: Arc<dyn Clock>,
        memory_trigger: Trigger,
    ) -> Result<Self, BootError> {
        Ok(Self::new(
            store,
            Providers::new(providers)?,
            JwtKeys::new(jwt_secret)?,
            clock,
            Settings {
                memory_trigger,
                ..Settings::from_env()?
            },
        ))
    }

    /// The local server's state: the embedded store in `data_dir`, providers and settings
    /// from the environment, the JWT secret from the environment or the data folder.
    pub fn local(data_dir: &Path) -> Result<Self, BootError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = SqliteStore::open(data_dir, clock.clone())?;
        Self::assemble(
            Arc::new(store),
            &provider_settings_from_env()?,
            &local_jwt_secret(data_dir)?,
            clock,
            Trigger::InProcess,
        )
    }
}

/// Which store backs a deployment (`AGENTGATE_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    DynamoDb,
}

impl StoreKind {
    pub fn from_env(default: Self) -> Result<Self, BootError> {
        match env("AGENTGATE_STORE").as_deref() {
            None => Ok(default),
            Some("sqlite" | "embedded") => Ok(Self::Sqlite),
            Some("dynamodb") => Ok(Self::DynamoDb),
            Some(other) => Err(BootError::Invalid {
                var: "AGENTGATE_STORE",
                reason: format!("expected 'embedded' or 'dynamodb', got {other:?}"),
            }),
        }
    }
}

impl AppState {
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
                let dir =
                    env("AGENTGATE_DATA_DIR").ok_or(BootError::Missing("AGENTGATE_DATA_DIR"))?;
                Arc::new(SqliteStore::open(Path::new(&dir), clock.clone())?)
            }
            StoreKind::DynamoDb => crate::store::dynamo_with_config(&config, clock.clone())?,
        };
        let mut providers = provider_settings_from_env()?;
        let jwt_secret = match env("AGENTGATE_SECRET_ARN") {
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
            None => {
                env("AGENTGATE_JWT_SECRET")
                    .map(SecretString::new)
                    .ok_or(BootError::Missing(
                        "AGENTGATE_SECRET_ARN (or AGENTGATE_JWT_SECRET)",
                    ))?
            }
        };
        // On DynamoDB the table's stream drives the `memory` function; a Lambda on the
        // embedded store (as under `cargo lambda watch`) summarises in process.
        let trigger = match kind {
            StoreKind::DynamoDb => Trigger::Stream,
            StoreKind::Sqlite => Trigger::InProcess,
        };
        Self::assemble(store, &providers, &jwt_secret, clock, trigger)
    }
}

impl AppState {
    /// The local server on DynamoDB (`AGENTGATE_STORE=dynamodb`): the table from
    /// `AGENTGATE_TABLE`, the JWT secret kept in the data folder as usual.
    pub async fn local_on_dynamodb(data_dir: &Path) -> Result<Self, BootError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let config = aws_config::load_from_env().await;
        let store = crate::store::dynamo_with_config(&config, clock.clone())?;
        Self::assemble(
            store,
            &provider_settings_from_env()?,
            &local_jwt_secret(data_dir)?,
            clock,
            Trigger::InProcess,
        )
    }
}
