//! Configuration: the tunables of a deployment and how they are read from the environment.
//!
//! These are plain values. The composition root ([`crate::state`]) reads them once per cold
//! start and hands each service the part it needs, so no behaviour module and no adapter
//! ever reads an environment variable itself. Anything missing or malformed is a
//! [`ConfigError`] that names the variable, and the cold start fails with it.

use std::path::Path;
use std::time::Duration;

use crate::provider::ProviderSettings;
use crate::secret::SecretString;

/// Why the environment does not describe a usable deployment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("{0}")]
    Io(String),
}

/// Keep-alive period: below the ~30 s idle cut of common proxies, per the 15 s guidance.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Default spacing of snapshot frames (see [`crate::stream::coalesce`]).
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(50);

/// How long a model may take to send its first text.
pub const FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a whole reply may stream: below the streaming functions' 300 s Lambda timeout,
/// so a stalled or endless upstream ends in the format's own error, never in a cut.
pub const TURN_DEADLINE: Duration = Duration::from_secs(240);

/// The timing of a stream's frames, and the limits that end a stalled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Silence after which a keep-alive comment is sent.
    pub keepalive: Duration,
    /// Least spacing of snapshot frames; zero sends one per token.
    pub snapshot_interval: Duration,
    /// Time from the start of the stream to the first text (`AGENTGATE_FIRST_TOKEN_SECS`).
    pub first_token: Duration,
    /// Time from the start of the stream to its end (`AGENTGATE_TURN_DEADLINE_SECS`).
    pub deadline: Duration,
}

impl Pacing {
    /// The limits of a reply taken whole: its first text arrives with its last, so the
    /// turn deadline is the only one.
    #[must_use]
    pub fn whole(self) -> Self {
        Self {
            first_token: self.deadline,
            ..self
        }
    }
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            keepalive: KEEPALIVE,
            snapshot_interval: SNAPSHOT_INTERVAL,
            first_token: FIRST_TOKEN_TIMEOUT,
            deadline: TURN_DEADLINE,
        }
    }
}

/// Who brings new messages to the memory summariser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A background task of the process that saved the turn (the local server).
    InProcess,
    /// The table's stream and the `memory` function (Lambda).
    Stream,
}

/// Tunables with product defaults, overridable by environment variables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A thread unused for this long expires (`AGENTGATE_THREAD_TTL_DAYS`, default 30).
    pub thread_idle_ttl_secs: i64,
    /// How many earlier messages are sent to the model (`AGENTGATE_HISTORY_LIMIT`, 40).
    pub history_limit: usize,
    /// Keep-alive and snapshot spacing of streams (`AGENTGATE_SNAPSHOT_INTERVAL_MS`,
    /// default 50; 0 sends one `messages/partial` per token).
    pub pacing: Pacing,
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
    /// Wrong credentials (public, link or session tokens) one source address may present
    /// per 10 minutes before it is refused (`AGENTGATE_GUESSES_PER_10_MIN`).
    pub guesses_per_window: u64,
    /// Requests per minute from one source address to one assistant, on every public
    /// family (`AGENTGATE_IP_PER_MINUTE`).
    pub ip_per_minute: u64,
    /// OpenAI-compatible requests per minute per token that name no end user
    /// (`AGENTGATE_ANONYMOUS_PER_MINUTE`).
    pub anonymous_per_minute: u64,
    /// Characters of earlier messages a turn sends the model, newest first
    /// (`AGENTGATE_HISTORY_CHARS`; an assistant's `type==agent/history_chars` overrides it).
    pub history_chars: usize,
    /// Tokens (input and output) public callers may spend per assistant per UTC day
    /// (`AGENTGATE_DAILY_TOKEN_BUDGET`; `type==agent/daily_token_budget` overrides it).
    pub daily_token_budget: u64,
    /// Widget messages per owner per UTC month, across their bots; 0 for no ceiling
    /// (`AGENTGATE_OWNER_MONTHLY_MESSAGES`).
    pub owner_monthly_messages: u64,
    /// How long a warm instance keeps an assistant and a token lookup it read
    /// (`AGENTGATE_ASSISTANT_CACHE_SECS`, 0 to read every time; see [`crate::cache`]).
    pub assistant_cache: Duration,
    /// Who summarises per-user memories: this process (local) or the table's stream.
    pub memory_trigger: Trigger,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            thread_idle_ttl_secs: 30 * 86_400,
            history_limit: 40,
            pacing: Pacing::default(),
            rate_per_minute: 30,
            daily_limit: 10_000,
            daily_shards: 8,
            widget_visitor_per_hour: 30,
            widget_ip_per_hour: 60,
            owner_daily_limit: 50_000,
            guesses_per_window: 30,
            ip_per_minute: 60,
            anonymous_per_minute: 120,
            history_chars: 12_000,
            daily_token_budget: 2_000_000,
            owner_monthly_messages: 1_000_000,
            assistant_cache: Duration::from_secs(5),
            memory_trigger: Trigger::InProcess,
        }
    }
}

/// A non-blank environment variable.
pub fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn env_num<T: std::str::FromStr>(var: &'static str, default: T) -> Result<T, ConfigError> {
    match env(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            var,
            reason: format!("expected a number, got {v:?}"),
        }),
    }
}

impl Settings {
    /// The settings from the environment; `memory_trigger` is the caller's to set.
    pub fn from_env() -> Result<Self, ConfigError> {
        let days: i64 = env_num("AGENTGATE_THREAD_TTL_DAYS", 30)?;
        let history_limit: usize = env_num("AGENTGATE_HISTORY_LIMIT", 40)?;
        if !(1..=3650).contains(&days) || !(0..=500).contains(&history_limit) {
            return Err(ConfigError::Invalid {
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
            guesses_per_window: env_num("AGENTGATE_GUESSES_PER_10_MIN", 30)?,
            ip_per_minute: env_num("AGENTGATE_IP_PER_MINUTE", 60)?,
            anonymous_per_minute: env_num("AGENTGATE_ANONYMOUS_PER_MINUTE", 120)?,
            history_chars: env_num("AGENTGATE_HISTORY_CHARS", 12_000)?,
            daily_token_budget: env_num("AGENTGATE_DAILY_TOKEN_BUDGET", 2_000_000)?,
            owner_monthly_messages: env_num("AGENTGATE_OWNER_MONTHLY_MESSAGES", 1_000_000)?,
            assistant_cache: Duration::from_secs(env_num("AGENTGATE_ASSISTANT_CACHE_SECS", 5)?),
            pacing: Pacing {
                snapshot_interval: Duration::from_millis(env_num(
                    "AGENTGATE_SNAPSHOT_INTERVAL_MS",
                    50,
                )?),
                first_token: Duration::from_secs(env_num("AGENTGATE_FIRST_TOKEN_SECS", 60)?),
                deadline: turn_deadline_from_env()?,
                ..Pacing::default()
            },
            ..Self::default()
        })
    }
}

/// Provider endpoints and keys from the standard variables (`OPENAI_BASE_URL`,
/// `OPENAI_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`); a read waits at most the
/// turn deadline.
pub fn provider_settings_from_env() -> Result<ProviderSettings, ConfigError> {
    let delay_ms: u64 = env_num("AGENTGATE_ECHO_DELAY_MS", 30)?;
    let deadline = turn_deadline_from_env()?;
    Ok(ProviderSettings {
        openai_base_url: env("OPENAI_BASE_URL"),
        openai_api_key: env("OPENAI_API_KEY").map(SecretString::new),
        anthropic_base_url: env("ANTHROPIC_BASE_URL"),
        anthropic_api_key: env("ANTHROPIC_API_KEY").map(SecretString::new),
        echo_delay: Duration::from_millis(delay_ms),
        read_timeout: deadline,
    })
}

/// The turn deadline (`AGENTGATE_TURN_DEADLINE_SECS`).
fn turn_deadline_from_env() -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(env_num(
        "AGENTGATE_TURN_DEADLINE_SECS",
        TURN_DEADLINE.as_secs(),
    )?))
}

/// Which store backs a deployment (`AGENTGATE_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    DynamoDb,
}

impl StoreKind {
    pub fn from_env(default: Self) -> Result<Self, ConfigError> {
        match env("AGENTGATE_STORE").as_deref() {
            None => Ok(default),
            Some("sqlite" | "embedded") => Ok(Self::Sqlite),
            Some("dynamodb") => Ok(Self::DynamoDb),
            Some(other) => Err(ConfigError::Invalid {
                var: "AGENTGATE_STORE",
                reason: format!("expected 'embedded' or 'dynamodb', got {other:?}"),
            }),
        }
    }
}

/// The DynamoDB table (`AGENTGATE_TABLE`).
pub fn table_from_env() -> Result<String, ConfigError> {
    env("AGENTGATE_TABLE").ok_or(ConfigError::Missing("AGENTGATE_TABLE"))
}

/// The JWT secret for local runs: `AGENTGATE_JWT_SECRET`, or one generated on first use and
/// kept in the data folder so `dev-token` output stays valid across restarts.
pub fn local_jwt_secret(data_dir: &Path) -> Result<SecretString, ConfigError> {
    if let Some(s) = env("AGENTGATE_JWT_SECRET") {
        return Ok(SecretString::new(s));
    }
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(SecretString::new(s.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ConfigError::Io(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| ConfigError::Io(format!("cannot create {}: {e}", data_dir.display())))?;
    let secret = crate::random::hex_string::<32>();
    write_private(&path, &secret)
        .map_err(|e| ConfigError::Io(format!("cannot write {}: {e}", path.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_providers_default_read_timeout_is_the_default_turn_deadline() {
        assert_eq!(crate::provider::DEFAULT_READ_TIMEOUT, TURN_DEADLINE);
    }
}
