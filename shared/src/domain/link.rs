//! Public links: an owner shares an assistant by URL, and whoever opens it chats without
//! an account, anonymously or after proving an email address.
//!
//! The rules live here so the owner routes, the public routes and both stores agree on
//! them: what a link holds and which edits are valid, when a link stops serving, what a
//! session is and whose conversations it may touch, and the shape of the secrets handed
//! out (link tokens, session tokens, email codes). Link and session tokens are shown once
//! and stored only as SHA-256 digests; email codes are stored only as an HMAC.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::Invalid;
use super::ids::{AssistantId, ThreadId, UserId};
use super::memory::MemoryKey;
use super::thread::ThreadKey;
use super::time::{parse_rfc3339_ms, rfc3339_ms};
use super::token::TokenDigest;

/// Messages per hour per session (or per verified email) when the owner sets no limit.
pub const DEFAULT_RATE_PER_HOUR: u32 = 30;
/// The highest per-hour limit an owner may set.
pub const MAX_RATE_PER_HOUR: u32 = 10_000;
/// Longest welcome message.
pub const MAX_WELCOME_CHARS: usize = 2_000;
/// Most links one assistant may have.
pub const MAX_LINKS_PER_ASSISTANT: usize = 50;
/// A session lives this long after its last use.
pub const SESSION_IDLE_SECS: i64 = 30 * 86_400;
/// How many conversations a session (or verified email) keeps readable.
pub const MAX_CONVERSATIONS: usize = 50;
/// A subject's list of conversations lives this long after its last new conversation
/// (each conversation's messages expire on their own, with the thread TTL).
pub const CONVERSATIONS_TTL_SECS: i64 = 365 * 86_400;
/// An email code is valid this long.
pub const CODE_TTL_SECS: i64 = 600;
/// Wrong tries one code allows; the next try is refused even with the right code.
pub const MAX_CODE_TRIES: u32 = 5;
/// Wrong codes one email may enter on one link per day, across resends.
pub const DAILY_CODE_FAILURES: u64 = 20;
/// Codes sent to one email for one link per hour.
pub const SENDS_PER_EMAIL_PER_HOUR: u64 = 5;
/// Codes requested from one source address per hour.
pub const SENDS_PER_IP_PER_HOUR: u64 = 20;
/// Sessions created from one source address per hour.
pub const SESSIONS_PER_IP_PER_HOUR: u64 = 30;
/// Longest chat message.
pub const MAX_MESSAGE_CHARS: usize = 8_000;

super::ids::uuid_id!(
    /// A public link's id.
    LinkId,
    "link id"
);

/// The settings an owner chooses for a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    pub enabled: bool,
    pub require_email: bool,
    pub welcome_message: Option<String>,
    pub rate_limit_per_hour: u32,
    /// Epoch milliseconds after which the link stops serving.
    pub expires_at: Option<i64>,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            require_email: false,
            welcome_message: None,
            rate_limit_per_hour: DEFAULT_RATE_PER_HOUR,
            expires_at: None,
        }
    }
}

impl LinkSettings {
    /// These settings with the fields present in `body` changed; unknown fields are
    /// ignored, a field of the wrong type is refused.
    pub fn patched(&self, body: &Map<String, Value>) -> Result<Self, Invalid> {
        let mut next = self.clone();
        if let Some(v) = body.get("enabled") {
            next.enabled = v
                .as_bool()
                .ok_or_else(|| Invalid::new("enabled must be true or false"))?;
        }
        if let Some(v) = body.get("require_email") {
            next.require_email = v
                .as_bool()
                .ok_or_else(|| Invalid::new("require_email must be true or false"))?;
        }
        if let Some(v) = body.get("welcome_message") {
            next.welcome_message = match v {
                Value::Null => None,
                Value::String(s) if s.chars().count() <= MAX_WELCOME_CHARS => {
                    let s = s.trim();
                    (!s.is_empty()).then(|| s.to_owned())
                }
                _ => {
                    return Err(Invalid::new(format!(
                        "welcome_message must be a string of at most {MAX_WELCOME_CHARS} characters, or null"
                    )));
                }
            };
        }
        if let Some(v) = body.get("rate_limit_per_hour") {
            next.rate_limit_per_hour = v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=MAX_RATE_PER_HOUR).contains(n))
                .ok_or_else(|| {
                    Invalid::new(format!(
                        "rate_limit_per_hour must be a whole number from 1 to {MAX_RATE_PER_HOUR}"
                    ))
                })?;
        }
        if let Some(v) = body.get("expires_at") {
            next.expires_at = match v {
                Value::Null => None,
                Value::String(s) => Some(parse_rfc3339_ms(s).ok_or_else(|| {
                    Invalid::new(
                        "expires_at must be an RFC 3339 time (2026-12-31T23:59:59Z) or null",
                    )
                })?),
                _ => {
                    return Err(Invalid::new(
                        "expires_at must be an RFC 3339 time (2026-12-31T23:59:59Z) or null",
                    ));
                }
            };
        }
        Ok(next)
    }
}

/// A shared link to one assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicLink {
    pub id: LinkId,
    pub assistant: AssistantId,
    pub owner: UserId,
    /// SHA-256 of the link token (the token itself is shown once, at creation).
    pub token_digest: TokenDigest,
    pub settings: LinkSettings,
    pub created_at: i64,
    pub updated_at: i64,
    /// Changes on every update; updates are conditional on the version read.
    pub version: i64,
}

/// Why a link that exists does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    Disabled,
    Expired,
}

impl PublicLink {
    pub fn new(
        assistant: &AssistantId,
        owner: &UserId,
        token_digest: TokenDigest,
        settings: LinkSettings,
        now_ms: i64,
    ) -> Self {
        Self {
            id: LinkId::mint(),
            assistant: assistant.clone(),
            owner: owner.clone(),
            token_digest,
            settings,
            created_at: now_ms,
            updated_at: now_ms,
            version: now_ms,
        }
    }

    /// The link with new settings, one version on.
    #[must_use]
    pub fn with_settings(&self, settings: LinkSettings, now_ms: i64) -> Self {
        Self {
            settings,
            updated_at: now_ms,
            version: (self.version + 1).max(now_ms),
            ..self.clone()
        }
    }

    /// Whether the link serves now; a disabled link says so before an expired one.
    pub fn serving(&self, now_ms: i64) -> Result<(), Unavailable> {
        if !self.settings.enabled {
            return Err(Unavailable::Disabled);
        }
        match self.settings.expires_at {
            Some(at) if at <= now_ms => Err(Unavailable::Expired),
            _ => Ok(()),
        }
    }

    /// The owner's view (the token is never part of it).
    pub fn to_json(&self) -> Value {
        let s = &self.settings;
        serde_json::json!({
            "id": self.id.as_str(),
            "assistant_id": self.assistant.as_str(),
            "enabled": s.enabled,
            "require_email": s.require_email,
            "welcome_message": s.welcome_message,
            "rate_limit_per_hour": s.rate_limit_per_hour,
            "expires_at": s.expires_at.map(rfc3339_ms),
            "created_at": rfc3339_ms(self.created_at),
            "updated_at": rfc3339_ms(self.updated_at),
        })
    }
}

/// Who a session speaks for: itself alone, or a verified email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An anonymous session, named by a random id of its own (not its token).
    Anonymous(String),
    /// A verified, lower-cased email address.
    Email(String),
}

impl Subject {
    /// How stores name the subject within a link.
    pub fn as_key(&self) -> String {
        match self {
            Self::Anonymous(id) => format!("anon:{id}"),
            Self::Email(email) => format!("email:{email}"),
        }
    }

    pub fn parse_key(raw: &str) -> Option<Self> {
        if let Some(id) = raw.strip_prefix("anon:") {
            return Some(Self::Anonymous(id.to_owned()));
        }
        raw.strip_prefix("email:")
            .map(|e| Self::Email(e.to_owned()))
    }

    pub fn email(&self) -> Option<&str> {
        match self {
            Self::Email(e) => Some(e),
            Self::Anonymous(_) => None,
        }
    }
}

/// Where one link's conversations of one subject are listed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VisitorKey(String);

impl VisitorKey {
    pub fn new(link: &LinkId, subject: &Subject) -> Self {
        Self(format!("{link}/{}", subject.as_key()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subject's conversation list with `id` added: newest last, an id already listed not
/// repeated, only the newest [`MAX_CONVERSATIONS`] kept.
pub fn with_conversation(mut list: Vec<String>, id: String) -> Vec<String> {
    if !list.contains(&id) {
        list.push(id);
    }
    let excess = list.len().saturating_sub(MAX_CONVERSATIONS);
    list.drain(..excess);
    list
}

/// A session of a link, as stored (under its token's digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub digest: TokenDigest,
    pub link: LinkId,
    pub assistant: AssistantId,
    pub subject: Subject,
    /// Epoch seconds; renewed on use.
    pub expires_at: i64,
}

impl Session {
    pub fn visitor(&self) -> VisitorKey {
        VisitorKey::new(&self.link, &self.subject)
    }

    /// The thread of one of this session's conversations; a verified email's threads feed
    /// its memory.
    pub fn thread(&self, conversation: &ThreadId, memory: Option<MemoryKey>) -> ThreadKey {
        ThreadKey::link(self.link.as_str(), &self.subject.as_key(), conversation)
            .with_memory(memory)
    }

    /// The memory of a verified email, shared by every link of the assistant.
    pub fn memory_key(&self) -> Option<MemoryKey> {
        self.subject
            .email()
            .map(|e| MemoryKey::verified_email(&self.assistant, e))
    }
}

/// A session token as handed out: `ags_` and 48 hex characters (192 random bits).
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(****)")
    }
}

impl SessionToken {
    const PREFIX: &'static str = "ags_";

    pub fn mint() -> Self {
        Self(format!(
            "{}{}",
            Self::PREFIX,
            crate::random::hex_string::<24>()
        ))
    }

    /// Checks the shape of a presented token (no store read for garbage).
    pub fn parse(raw: &str) -> Option<Self> {
        let hex = raw.trim().strip_prefix(Self::PREFIX)?;
        (hex.len() == 48 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(raw.trim().to_owned()))
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Checks and normalises an email address: trimmed, lower-cased, one `@` between a
/// non-empty local part and a dotted domain, at most 254 characters, no spaces.
pub fn parse_email(raw: &str) -> Result<String, Invalid> {
    let email = raw.trim().to_lowercase();
    let bad = || Invalid::new("email must be a valid email address");
    if email.len() < 3 || email.len() > 254 {
        return Err(bad());
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
    {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.contains('@')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63);
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(bad());
    }
    Ok(email)
}

/// A fresh six-digit code from the OS RNG, every value equally likely.
pub fn mint_code() -> String {
    loop {
        let [a, b, c, d] = crate::random::bytes::<4>();
        let n = u32::from_be_bytes([a, b, c, d]);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Whether `raw` looks like a code at all (six digits after trimming).
pub fn parse_code(raw: &str) -> Option<&str> {
    let code = raw.trim();
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The key email codes are stored under: an HMAC-SHA-256 key derived from the
/// deployment's secret, so a leaked table reveals no code.
#[derive(Clone)]
pub struct CodeKey([u8; 32]);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(****)")
    }
}

impl CodeKey {
    /// Derives the key from the deployment secret (domain-separated from its other uses).
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = hmac_with(secret);
        mac.update(b"agentgate email codes v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// The stored form of `code` for `email` on `link`.
    pub fn mac(&self, link: &LinkId, email: &str, code: &str) -> String {
        let mut mac = hmac_with(&self.0);
        for part in [link.as_str(), email, code] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// HMAC-SHA-256 keyed with `key`. HMAC takes keys of any length (a long one is hashed
/// first), so `new_from_slice` never refuses one; the fallback only satisfies the types.
fn hmac_with(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
}

/// An email code as stored: its HMAC, when it stops being valid, and the wrong tries so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCode {
    pub mac: String,
    /// Epoch seconds.
    pub expires_at: i64,
    pub tries: u32,
}

impl EmailCode {
    /// Whether `mac` is this code's HMAC, compared in constant time.
    pub fn matches(&self, mac: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.mac.len() == mac.len() && bool::from(self.mac.as_bytes().ct_eq(mac.as_bytes()))
    }
}

/// Where the current code of one email on one link is stored.
pub fn code_key(link: &LinkId, email: &str) -> String {
    format!("{link}/{email}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn settings_are_patched_field_by_field_and_checked() {
        let s = LinkSettings::default()
            .patched(&obj(
                json!({"require_email": true, "welcome_message": "  Hi!  ",
                "rate_limit_per_hour": 5, "expires_at": "2030-01-01T00:00:00Z"}),
            ))
            .unwrap();
        assert!(s.require_email && s.enabled);
        assert_eq!(s.welcome_message.as_deref(), Some("Hi!"));
        assert_eq!(s.rate_limit_per_hour, 5);
        assert_eq!(s.expires_at, Some(1_893_456_000_000));
        for (body, needle) in [
            (json!({"enabled": "yes"}), "enabled"),
            (json!({"rate_limit_per_hour": 0}), "rate_limit_per_hour"),
            (json!({"rate_limit_per_hour": 1.5}), "rate_limit_per_hour"),
            (json!({"expires_at": "tomorrow"}), "expires_at"),
            (
                json!({"welcome_message": "x".repeat(2001)}),
                "welcome_message",
            ),
        ] {
            let err = LinkSettings::default().patched(&obj(body)).unwrap_err();
            assert!(err.0.contains(needle), "{err}");
        }
    }

    #[test]
    fn a_link_stops_serving_when_disabled_or_expired() {
        let digest = TokenDigest::of("x");
        let owner = UserId::parse("o").unwrap();
        let mut link = PublicLink::new(
            &AssistantId::mint(),
            &owner,
            digest,
            LinkSettings::default(),
            0,
        );
        assert_eq!(link.serving(10), Ok(()));
        link.settings.expires_at = Some(10);
        assert_eq!(link.serving(10), Err(Unavailable::Expired));
        link.settings.enabled = false;
        assert_eq!(link.serving(0), Err(Unavailable::Disabled));
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            parse_email(" Carol@Example.COM ").ok().as_deref(),
            Some("carol@example.com")
        );
        for bad in [
            "",
            "carol",
            "carol@",
            "@example.com",
            "carol@example",
            "a b@example.com",
            "carol@@example.com",
            "carol@example..com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_macs_bind_link_email_and_code() {
        for _ in 0..100 {
            let c = mint_code();
            assert!(parse_code(&c).is_some(), "{c}");
        }
        assert!(parse_code("12345").is_none() && parse_code("12345a").is_none());
        let key = CodeKey::derive(b"secret");
        let link = LinkId::mint();
        let m = key.mac(&link, "a@b.co", "123456");
        assert_eq!(m.len(), 64);
        assert_eq!(m, key.mac(&link, "a@b.co", "123456"));
        assert_ne!(m, key.mac(&link, "a@b.co", "123457"));
        assert_ne!(m, key.mac(&LinkId::mint(), "a@b.co", "123456"));
        assert_ne!(m, CodeKey::derive(b"other").mac(&link, "a@b.co", "123456"));
    }

    #[test]
    fn session_tokens_carry_192_bits_and_are_shape_checked() {
        let t = SessionToken::mint();
        assert_eq!(t.expose().len(), 52);
        assert!(SessionToken::parse(t.expose()).is_some());
        assert!(SessionToken::parse("ags_123").is_none());
        assert!(SessionToken::parse(&t.expose().replace("ags_", "agp_")).is_none());
        assert_ne!(t.digest(), SessionToken::mint().digest());
    }
}
