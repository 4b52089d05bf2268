//! Assistants, their access modes and the `config.configurable` keys that drive them.
//!
//! Configuration follows the public-assistants API: free-form `configurable` keys, of which four are
//! understood here (`type==agent/access_mode`, `type==agent/public_token`,
//! `type==agent/system_message`, `type==agent/model`). Understood keys are validated when
//! written, so reading an assistant never fails; the public token is pulled out of the map
//! and kept only as a digest.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::str::FromStr;

use super::Invalid;
use super::ids::{AssistantId, UserId};
use super::token::{PublicToken, TokenDigest};

pub const KEY_ACCESS_MODE: &str = "type==agent/access_mode";
pub const KEY_PUBLIC_TOKEN: &str = "type==agent/public_token";
pub const KEY_SYSTEM_MESSAGE: &str = "type==agent/system_message";
pub const KEY_MODEL: &str = "type==agent/model";
/// Whether the assistant keeps a per-user memory (`true`/`false`, default off).
pub const KEY_MEMORY: &str = "type==agent/memory";
/// Whether end users named by OpenAI-compatible callers (`user`, `X-End-User`) get a
/// memory (`true`/`false`, default off): those names are the caller's word, not verified.
pub const KEY_MEMORY_END_USERS: &str = "type==agent/memory_end_users";
/// How many characters of earlier messages a turn sends the model (newest first).
pub const KEY_HISTORY_CHARS: &str = "type==agent/history_chars";
/// How many tokens (input and output) public callers may spend per UTC day.
pub const KEY_DAILY_TOKEN_BUDGET: &str = "type==agent/daily_token_budget";
/// The web origins (`https://shop.example.com`) whose pages may embed the widget; absent,
/// every origin may.
pub const KEY_ALLOWED_ORIGINS: &str = "type==agent/allowed_origins";
/// Actions the widget may propose (a list, see [`crate::domain::action::Action`]).
pub const KEY_ACTIONS: &str = "type==agent/actions";
/// The knowledge base's current version and size; kept by the documents API, never patched.
pub const KEY_KNOWLEDGE: &str = "type==agent/knowledge";
/// The first line the widget shows (up to 500 characters).
pub const KEY_WELCOME_MESSAGE: &str = "type==agent/welcome_message";
/// The widget's accent colour, `#rrggbb`.
pub const KEY_WIDGET_COLOR: &str = "type==agent/widget_color";
/// Most allowed origins per assistant.
pub const MAX_ALLOWED_ORIGINS: usize = 20;
/// The highest history budget an owner may set, in characters.
pub const MAX_HISTORY_CHARS: u64 = 400_000;

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_SYSTEM_MESSAGE_LEN: usize = 32_000;
/// Bound on the serialized `configurable` map, far below DynamoDB's 400 KB item limit.
pub const MAX_CONFIGURABLE_BYTES: usize = 64 * 1024;
/// How long a rotated-out token keeps working unless the owner says otherwise.
pub const DEFAULT_ROTATION_OVERLAP_SECS: i64 = 24 * 3600;
pub const MAX_ROTATION_OVERLAP_SECS: i64 = 30 * 24 * 3600;

/// The message public endpoints answer for an `authenticated` assistant, word for word
/// what clients of the public-assistants API expect.
pub const NOT_PUBLIC_DETAIL: &str = "This assistant is not configured for public access. Please use the authenticated /runs endpoints instead, or set type==agent/access_mode to 'public_token' or 'public_no_auth'.";

/// Who may call an assistant through the public endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    #[default]
    Authenticated,
    PublicToken,
    PublicNoAuth,
}

impl FromStr for AccessMode {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "authenticated" => Ok(Self::Authenticated),
            "public_token" => Ok(Self::PublicToken),
            "public_no_auth" => Ok(Self::PublicNoAuth),
            other => Err(Invalid::new(format!(
                "{KEY_ACCESS_MODE} must be one of authenticated, public_token, public_no_auth (got {other:?})"
            ))),
        }
    }
}

/// The model an assistant talks to, as `provider:model` (or the offline `echo` model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    Echo,
    OpenAi(String),
    Anthropic(String),
    /// A Bedrock model id, inference-profile id or ARN.
    Bedrock(String),
}

impl ModelRef {
    pub fn provider_name(&self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::OpenAi(_) => "openai",
            Self::Anthropic(_) => "anthropic",
            Self::Bedrock(_) => "bedrock",
        }
    }

    /// The provider's own model name.
    pub fn model_name(&self) -> &str {
        match self {
            Self::Echo => "echo",
            Self::OpenAi(m) | Self::Anthropic(m) | Self::Bedrock(m) => m,
        }
    }
}

impl FromStr for ModelRef {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "echo" || s == "echo:echo" {
            return Ok(Self::Echo);
        }
        let bad = || {
            Invalid::new(format!(
                "{KEY_MODEL} must be 'echo' or 'provider:model' with provider openai, anthropic or bedrock (got {s:?})"
            ))
        };
        let (provider, model) = s.split_once(':').ok_or_else(bad)?;
        if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
            return Err(bad());
        }
        match provider {
            "openai" => Ok(Self::OpenAi(model.to_owned())),
            "anthropic" => Ok(Self::Anthropic(model.to_owned())),
            // Model ids, inference-profile ids and ARNs: letters, digits and `.-_:/`.
            "bedrock"
                if model
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_:/".contains(c)) =>
            {
                Ok(Self::Bedrock(model.to_owned()))
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Echo => f.write_str("echo"),
            other => write!(f, "{}:{}", other.provider_name(), other.model_name()),
        }
    }
}

/// A stored public token: its digest, a masked hint, and (for a rotated-out token) when it
/// stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub digest: TokenDigest,
    pub hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl TokenRecord {
    pub fn of(token: &PublicToken) -> Self {
        Self {
            digest: token.digest(),
            hint: token.masked(),
            expires_at: None,
        }
    }

    fn live_at(&self, now_secs: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now_secs)
    }
}

/// An assistant as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assistant {
    pub id: AssistantId,
    pub owner: UserId,
    pub name: String,
    /// `config.configurable` without the public token.
    pub configurable: Map<String, Value>,
    pub token: Option<TokenRecord>,
    /// The token replaced by the last rotation, valid until its `expires_at`.
    #[serde(default)]
    pub previous_token: Option<TokenRecord>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Incremented by every write; updates are conditional on it.
    pub version: u64,
}

impl Assistant {
    pub fn access_mode(&self) -> AccessMode {
        self.configurable
            .get(KEY_ACCESS_MODE)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    }

    pub fn model(&self) -> ModelRef {
        self.configurable
            .get(KEY_MODEL)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(ModelRef::Echo)
    }

    /// Whether a page of `origin` may use the assistant's widget (every origin may unless
    /// the owner listed some).
    pub fn allows_origin(&self, origin: &str) -> bool {
        match self
            .configurable
            .get(KEY_ALLOWED_ORIGINS)
            .and_then(Value::as_array)
        {
            None => true,
            Some(list) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/'))),
        }
    }

    /// Whether the owner restricted the widget to listed origins.
    pub fn restricts_origins(&self) -> bool {
        self.configurable.contains_key(KEY_ALLOWED_ORIGINS)
    }

    /// The actions the widget may propose (none when unset).
    pub fn actions(&self) -> Vec<crate::domain::action::Action> {
        self.configurable
            .get(KEY_ACTIONS)
            .map(crate::domain::action::Action::stored_list)
            .unwrap_or_default()
    }

    /// The knowledge base's version, when the assistant has documents.
    pub fn knowledge_version(&self) -> Option<&str> {
        let k = self.configurable.get(KEY_KNOWLEDGE)?;
        let documents = k.get("documents").and_then(Value::as_u64).unwrap_or(0);
        k.get("version")
            .and_then(Value::as_str)
            .filter(|_| documents > 0)
    }

    /// The assistant after its knowledge base changed: `documents` documents, a new
    /// version (so every warm instance rebuilds its index).
    pub fn with_knowledge(&self, documents: usize, now_ms: i64) -> Self {
        let mut next = self.clone();
        next.configurable.insert(
            KEY_KNOWLEDGE.to_owned(),
            serde_json::json!({"version": crate::random::hex_string::<8>(), "documents": documents}),
        );
        next.updated_at = now_ms;
        next.version = self.version + 1;
        next
    }

    pub fn welcome_message(&self) -> Option<&str> {
        self.configurable
            .get(KEY_WELCOME_MESSAGE)
            .and_then(Value::as_str)
    }

    pub fn widget_color(&self) -> Option<&str> {
        self.configurable
            .get(KEY_WIDGET_COLOR)
            .and_then(Value::as_str)
    }

    /// The owner's history budget in characters, if set.
    pub fn history_chars(&self) -> Option<usize> {
        let n = self.configurable.get(KEY_HISTORY_CHARS)?.as_u64()?;
        usize::try_from(n).ok()
    }

    /// The owner's daily token budget for public callers, if set.
    pub fn daily_token_budget(&self) -> Option<u64> {
        self.configurable.get(KEY_DAILY_TOKEN_BUDGET)?.as_u64()
    }

    /// Whether the end users an OpenAI-compatible caller names have a memory: only when
    /// memory is on and the owner trusts the names the integration sends.
    pub fn end_user_memory(&self) -> bool {
        self.memory_enabled()
            && self
                .configurable
                .get(KEY_MEMORY_END_USERS)
                .and_then(Value::as_bool)
                .unwrap_or(false)
    }

    pub fn memory_enabled(&self) -> bool {
        self.configurable
            .get(KEY_MEMORY)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn system_message(&self) -> Option<&str> {
        self.configurable
            .get(KEY_SYSTEM_MESSAGE)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// Whether `presented` is one of this assistant's live tokens (constant-time per digest).
    pub fn accepts(&self, presented: &PublicToken, now_secs: i64) -> bool {
        self.accepts_digest(&presented.digest(), now_secs)
    }

    /// [`Self::accepts`] for a token whose digest the caller already has (a lookup by
    /// digest just used it): the hash is computed once per request. The live digests are
    /// the current token's and, during a rotation's overlap, the previous one's; each is
    /// compared, in constant time, whatever the first gave.
    pub fn accepts_digest(&self, digest: &TokenDigest, now_secs: i64) -> bool {
        [self.token.as_ref(), self.previous_token.as_ref()]
            .into_iter()
            .flatten()
            .filter(|t| t.live_at(now_secs))
            .fold(false, |hit, t| t.digest.matches(digest) | hit)
    }

    /// `configurable` as shown to the owner: the token appears only masked.
    pub fn public_configurable(&self) -> Map<String, Value> {
        let mut map = self.configurable.clone();
        if let Some(t) = &self.token {
            map.insert(KEY_PUBLIC_TOKEN.to_owned(), Value::String(t.hint.clone()));
        }
        map
    }

    /// Applies an owner's patch, validating every key this product understands.
    /// Returns the updated assistant with its version bumped; `self` is left unchanged,
    /// so a rejected patch changes nothing.
    pub fn patched(&self, patch: &AssistantPatch, now_ms: i64) -> Result<Self, Invalid> {
        let mut next = self.clone();
        if let Some(name) = &patch.name {
            next.name = validate_name(name)?;
        }
        for (key, value) in &patch.configurable {
            match key.as_str() {
                KEY_PUBLIC_TOKEN => {
                    next.token = match value {
                        Value::Null => None,
                        Value::String(s) => {
                            Some(TokenRecord::of(&PublicToken::parse_owner_chosen(s)?))
                        }
                        _ => {
                            return Err(Invalid::new(format!(
                                "{KEY_PUBLIC_TOKEN} must be a string"
                            )));
                        }
                    };
                    // An owner setting a token by hand ends any rotation overlap.
                    next.previous_token = None;
                    continue;
                }
                KEY_ACCESS_MODE if !value.is_null() => {
                    value
                        .as_str()
                        .ok_or_else(|| Invalid::new(format!("{KEY_ACCESS_MODE} must be a string")))?
                        .parse::<AccessMode>()?;
                }
                KEY_MODEL if !value.is_null() => {
                    value
                        .as_str()
                        .ok_or_else(|| Invalid::new(format!("{KEY_MODEL} must be a string")))?
                        .parse::<ModelRef>()?;
                }
                KEY_MEMORY | KEY_MEMORY_END_USERS if !value.is_null() && !value.is_boolean() => {
                    return Err(Invalid::new(format!("{key} must be true or false")));
                }
                KEY_HISTORY_CHARS
                    if !value.is_null() && value.as_u64().is_none_or(|n| n > MAX_HISTORY_CHARS) =>
                {
                    return Err(Invalid::new(format!(
                        "{KEY_HISTORY_CHARS} must be a whole number from 0 to {MAX_HISTORY_CHARS}"
                    )));
                }
                KEY_ALLOWED_ORIGINS if !value.is_null() => {
                    let list = value.as_array().filter(|l| l.len() <= MAX_ALLOWED_ORIGINS);
                    let valid =
                        list.is_some_and(|l| l.iter().all(|o| o.as_str().is_some_and(is_origin)));
                    if !valid {
                        return Err(Invalid::new(format!(
                            "{KEY_ALLOWED_ORIGINS} must be a list of at most {MAX_ALLOWED_ORIGINS} origins like https://shop.example.com"
                        )));
                    }
                }
                KEY_KNOWLEDGE => {
                    return Err(Invalid::new(format!(
                        "{KEY_KNOWLEDGE} is kept by the documents API (POST /assistants/{{id}}/documents)"
                    )));
                }
                KEY_ACTIONS if !value.is_null() => {
                    crate::domain::action::Action::parse_list(KEY_ACTIONS, value)?;
                }
                KEY_WELCOME_MESSAGE
                    if !value.is_null()
                        && value.as_str().is_none_or(|s| s.chars().count() > 500) =>
                {
                    return Err(Invalid::new(format!(
                        "{KEY_WELCOME_MESSAGE} must be a string of at most 500 characters"
                    )));
                }
                KEY_WIDGET_COLOR
                    if !value.is_null() && value.as_str().is_none_or(|s| !is_hex_color(s)) =>
                {
                    return Err(Invalid::new(format!(
                        "{KEY_WIDGET_COLOR} must be a colour like #1a73e8"
                    )));
                }
                KEY_DAILY_TOKEN_BUDGET if !value.is_null() && value.as_u64().is_none() => {
                    return Err(Invalid::new(format!(
                        "{KEY_DAILY_TOKEN_BUDGET} must be a whole number of tokens"
                    )));
                }
                KEY_SYSTEM_MESSAGE => match value {
                    Value::Null => {}
                    Value::String(s) if s.chars().count() <= MAX_SYSTEM_MESSAGE_LEN => {}
                    Value::String(_) => {
                        return Err(Invalid::new(format!(
                            "{KEY_SYSTEM_MESSAGE} is longer than {MAX_SYSTEM_MESSAGE_LEN} characters"
                        )));
                    }
                    _ => {
                        return Err(Invalid::new(format!(
                            "{KEY_SYSTEM_MESSAGE} must be a string"
                        )));
                    }
                },
                _ => {}
            }
            if value.is_null() {
                next.configurable.remove(key);
            } else {
                next.configurable.insert(key.clone(), value.clone());
            }
        }
        let size = serde_json::to_vec(&next.configurable)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_CONFIGURABLE_BYTES {
            return Err(Invalid::new(format!(
                "config.configurable is larger than {MAX_CONFIGURABLE_BYTES} bytes"
            )));
        }
        if next.access_mode() == AccessMode::PublicToken && next.token.is_none() {
            return Err(Invalid::new(format!(
                "{KEY_ACCESS_MODE} 'public_token' needs {KEY_PUBLIC_TOKEN} (or rotate one with POST /assistants/{{id}}/public-token)"
            )));
        }
        next.updated_at = now_ms;
        next.version = self.version + 1;
        Ok(next)
    }

    /// Builds a new assistant from a create request.
    pub fn create(owner: UserId, patch: &AssistantPatch, now_ms: i64) -> Result<Self, Invalid> {
        let name = patch
            .name
            .as_deref()
            .ok_or_else(|| Invalid::new("name is required"))?;
        let blank = Self {
            id: AssistantId::mint(),
            owner,
            name: validate_name(name)?,
            configurable: Map::new(),
            token: None,
            previous_token: None,
            created_at: now_ms,
            updated_at: now_ms,
            version: 0,
        };
        let mut created = blank.patched(patch, now_ms)?;
        created.version = 1;
        Ok(created)
    }

    /// Replaces the token with a freshly minted one; the old token stays valid for
    /// `overlap_secs` (0 revokes it at once). Returns the new token, shown once.
    pub fn rotated(&self, overlap_secs: i64, now_ms: i64) -> Result<(Self, PublicToken), Invalid> {
        if !(0..=MAX_ROTATION_OVERLAP_SECS).contains(&overlap_secs) {
            return Err(Invalid::new(format!(
                "overlap_seconds must be between 0 and {MAX_ROTATION_OVERLAP_SECS}"
            )));
        }
        let token = PublicToken::mint();
        let mut next = self.clone();
        next.previous_token = match (&self.token, overlap_secs) {
            (Some(old), secs) if secs > 0 => Some(TokenRecord {
                expires_at: Some(now_ms.div_euclid(1000) + secs),
                ..old.clone()
            }),
            _ => None,
        };
        next.token = Some(TokenRecord::of(&token));
        next.updated_at = now_ms;
        next.version = self.version + 1;
        Ok((next, token))
    }
}

/// `scheme://host[:port]` with an `http` or `https` scheme and nothing after.
/// `#` and six hex digits.
fn is_hex_color(raw: &str) -> bool {
    raw.strip_prefix('#')
        .is_some_and(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_origin(raw: &str) -> bool {
    let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 253
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

fn validate_name(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(Invalid::new(format!(
            "name must be 1-{MAX_NAME_LEN} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Why a public caller was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error("{NOT_PUBLIC_DETAIL}")]
    NotPublic,
    #[error(
        "this assistant needs a public token: send Authorization: Bearer <token>, X-Public-Bot-Token, or the body's token field"
    )]
    MissingToken,
    #[error("the public token is not valid for this assistant")]
    InvalidToken,
}

impl Assistant {
    /// Decides whether a public caller presenting `token` may use this assistant.
    pub fn admit_public(&self, token: Option<&str>, now_secs: i64) -> Result<(), AccessDenied> {
        match self.access_mode() {
            AccessMode::Authenticated => Err(AccessDenied::NotPublic),
            AccessMode::PublicNoAuth => Ok(()),
            AccessMode::PublicToken => {
                let raw = token.ok_or(AccessDenied::MissingToken)?;
                let presented =
                    PublicToken::parse_presented(raw).map_err(|_| AccessDenied::InvalidToken)?;
                if self.accepts(&presented, now_secs) {
                    Ok(())
                } else {
                    Err(AccessDenied::InvalidToken)
                }
            }
        }
    }
}

/// What an owner sends to create or change an assistant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssistantPatch {
    pub name: Option<String>,
    pub configurable: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> AssistantPatch {
        AssistantPatch {
            name: Some("bot".into()),
            configurable: v.as_object().cloned().unwrap_or_default(),
        }
    }

    fn owner() -> UserId {
        UserId::parse("alice").unwrap()
    }

    #[test]
    fn defaults_are_authenticated_and_echo() {
        let a = Assistant::create(owner(), &patch(json!({})), 1).unwrap();
        assert_eq!(a.access_mode(), AccessMode::Authenticated);
        assert_eq!(a.model(), ModelRef::Echo);
        assert!(!a.memory_enabled());
        assert_eq!(a.version, 1);
        let b = a.patched(&patch(json!({KEY_MEMORY: true})), 2).unwrap();
        assert!(b.memory_enabled());
        let c = b.patched(&patch(json!({KEY_MEMORY: null})), 3).unwrap();
        assert!(!c.memory_enabled());
    }

    /// A `public_token` assistant with the owner-chosen token `pubkey_mybot_abc123`.
    fn tokened(now: i64) -> Assistant {
        let conf =
            json!({KEY_ACCESS_MODE: "public_token", KEY_PUBLIC_TOKEN: "pubkey_mybot_abc123"});
        Assistant::create(owner(), &patch(conf), now).unwrap()
    }

    #[test]
    fn token_is_stored_as_digest_and_shown_masked() {
        let a = tokened(1);
        assert!(
            !serde_json::to_string(&a)
                .unwrap()
                .contains("pubkey_mybot_abc123")
        );
        assert_eq!(a.public_configurable()[KEY_PUBLIC_TOKEN], "****c123");
        let good = PublicToken::parse_presented("pubkey_mybot_abc123").unwrap();
        let bad = PublicToken::parse_presented("pubkey_mybot_abc124").unwrap();
        assert!(a.accepts(&good, 0));
        assert!(!a.accepts(&bad, 0));
    }

    #[test]
    fn invalid_values_are_rejected_without_change() {
        let a = Assistant::create(owner(), &patch(json!({})), 1).unwrap();
        for bad in [
            json!({KEY_ACCESS_MODE: "everyone"}),
            json!({KEY_MODEL: "mystery:model"}),
            json!({KEY_MODEL: 5}),
            json!({KEY_ACCESS_MODE: "public_token"}),
            json!({KEY_PUBLIC_TOKEN: "tiny"}),
            json!({KEY_SYSTEM_MESSAGE: ["x"]}),
            json!({KEY_MEMORY: "yes"}),
        ] {
            assert!(a.patched(&patch(bad.clone()), 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn patch_merges_and_null_removes() {
        let a = Assistant::create(
            owner(),
            &patch(json!({"custom": 1, KEY_SYSTEM_MESSAGE: "hi"})),
            1,
        )
        .unwrap();
        let b = a
            .patched(
                &AssistantPatch {
                    name: None,
                    configurable: json!({"custom": null, KEY_MODEL: "openai:gpt-4o-mini"})
                        .as_object()
                        .cloned()
                        .unwrap(),
                },
                5,
            )
            .unwrap();
        assert_eq!(b.system_message(), Some("hi"));
        assert!(!b.configurable.contains_key("custom"));
        assert_eq!(b.model(), ModelRef::OpenAi("gpt-4o-mini".into()));
        assert_eq!((b.version, b.updated_at), (2, 5));
    }

    #[test]
    fn rotation_keeps_old_token_for_the_overlap() {
        let a = tokened(0);
        let old = PublicToken::parse_presented("pubkey_mybot_abc123").unwrap();
        let (b, new) = a.rotated(60, 1_000_000).unwrap();
        assert!(b.accepts(&new, 1_000) && b.accepts(&old, 1_000));
        assert!(!b.accepts(&old, 1_000 + 60));
        let (c, _) = b.rotated(0, 2_000_000).unwrap();
        assert!(!c.accepts(&new, 2_000));
        assert!(a.rotated(-1, 0).is_err());
    }

    #[test]
    fn public_admission_follows_the_access_mode() {
        let mut a = Assistant::create(owner(), &patch(json!({})), 0).unwrap();
        assert_eq!(
            a.admit_public(Some("anything-at-all-long"), 0),
            Err(AccessDenied::NotPublic)
        );
        a = a
            .patched(&patch(json!({KEY_ACCESS_MODE: "public_no_auth"})), 1)
            .unwrap();
        assert_eq!(a.admit_public(None, 0), Ok(()));
        a = a
            .patched(&patch(json!({KEY_ACCESS_MODE: "public_token", KEY_PUBLIC_TOKEN: "pubkey_mybot_abc123"})), 2)
            .unwrap();
        assert_eq!(a.admit_public(None, 0), Err(AccessDenied::MissingToken));
        assert_eq!(
            a.admit_public(Some("pubkey_mybot_abc124"), 0),
            Err(AccessDenied::InvalidToken)
        );
        assert_eq!(
            a.admit_public(Some("agp_garbage"), 0),
            Err(AccessDenied::InvalidToken)
        );
        assert_eq!(a.admit_public(Some("pubkey_mybot_abc123"), 0), Ok(()));
    }

    #[test]
    fn model_refs_parse() {
        assert_eq!(
            "anthropic:claude-sonnet-4-5"
                .parse::<ModelRef>()
                .unwrap()
                .to_string(),
            "anthropic:claude-sonnet-4-5"
        );
        assert!("openai:".parse::<ModelRef>().is_err());
        assert!("gpt-4o".parse::<ModelRef>().is_err());
    }
}
