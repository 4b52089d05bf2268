//! Public assistant tokens: minting, shape checks, digests and where callers put them.
//!
//! Minted tokens look like `agp_<22 base62 chars><6 base62 checksum chars>`: the prefix
//! makes a leaked token recognisable, the 22 random characters carry ~131 bits, and the
//! CRC-32 checksum lets garbage be rejected without a database read. Owners may still set
//! their own token through `PATCH` (e.g. `pubkey_...`); those are accepted when
//! long enough and are not checksum-checked. Either way only a SHA-256 digest is stored and
//! comparisons are constant-time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Invalid;

/// Prefix of every token this product mints.
pub const PREFIX: &str = "agp_";
const BODY_LEN: usize = 22;
const CHECKSUM_LEN: usize = 6;
/// Shortest owner-chosen token accepted (`pubkey_` + 16 hex characters is 23).
pub const MIN_OWNER_TOKEN_LEN: usize = 16;
pub const MAX_TOKEN_LEN: usize = 256;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A token as presented by a caller or chosen by an owner, shape-checked.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicToken(String);

impl std::fmt::Debug for PublicToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicToken({})", mask(&self.0))
    }
}

impl PublicToken {
    /// Mints a new token with the product prefix and checksum.
    pub fn mint() -> Self {
        let mut body = String::with_capacity(BODY_LEN);
        while body.len() < BODY_LEN {
            for b in crate::random::bytes::<32>() {
                // 248 = 4 * 62: rejecting the top values keeps every character equally likely.
                if b < 248 && body.len() < BODY_LEN {
                    body.push(BASE62[usize::from(b % 62)] as char);
                }
            }
        }
        let checksum = checksum(&body);
        Self(format!("{PREFIX}{body}{checksum}"))
    }

    /// Checks a presented token's shape. Tokens with the product prefix must carry a valid
    /// checksum; any other token only has to be of a plausible length.
    pub fn parse_presented(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_TOKEN_LEN || raw.chars().any(char::is_control) {
            return Err(Invalid::new("malformed public token"));
        }
        if let Some(rest) = raw.strip_prefix(PREFIX)
            && !valid_minted_body(rest)
        {
            return Err(Invalid::new("malformed public token"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Validates a token an owner sets through the configuration.
    pub fn parse_owner_chosen(raw: &str) -> Result<Self, Invalid> {
        let token = Self::parse_presented(raw).map_err(|_| {
            Invalid::new(
                "type==agent/public_token must be printable; tokens starting with agp_ must be minted by the server",
            )
        })?;
        if token.0.len() < MIN_OWNER_TOKEN_LEN || token.0.chars().any(char::is_whitespace) {
            return Err(Invalid::new(format!(
                "type==agent/public_token must be at least {MIN_OWNER_TOKEN_LEN} characters without spaces"
            )));
        }
        if !varied(&token.0) {
            return Err(Invalid::new(format!(
                "type==agent/public_token is too easy to guess: use at least {MIN_DISTINCT_CHARS} different characters and more length (or rotate to have one minted)"
            )));
        }
        Ok(token)
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The token itself: shown to its owner exactly once, never logged.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn valid_minted_body(rest: &str) -> bool {
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| BASE62.contains(&b)) {
        return false;
    }
    let (body, sum) = rest.split_at(BODY_LEN);
    checksum(body).as_bytes().ct_eq(sum.as_bytes()).into()
}

fn checksum(body: &str) -> String {
    let mut n = crc32(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Shows enough of a token to recognise it and no more: its last 4 characters (after the
/// public `agp_` prefix of minted tokens). Short strings show nothing.
pub fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 12 {
        return "****".to_owned();
    }
    let prefix = if token.starts_with(PREFIX) {
        PREFIX
    } else {
        ""
    };
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}****{tail}")
}

/// Fewest distinct characters an owner-chosen token may use.
pub const MIN_DISTINCT_CHARS: usize = 8;
/// Least entropy an owner-chosen token must carry, estimated as its length times the bits
/// of one character drawn from the characters it uses.
pub const MIN_TOKEN_BITS: f64 = 64.0;

/// Whether an owner-chosen token has real variety (not `aaaaaaaaaaaaaaaa` or a repeated
/// short pattern).
fn varied(token: &str) -> bool {
    let distinct = token
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    let bits = token.chars().count() as f64 * (distinct as f64).log2();
    distinct >= MIN_DISTINCT_CHARS && bits >= MIN_TOKEN_BITS
}

/// SHA-256 of a token: the only form in which tokens are stored.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenDigest({}..)", &self.to_hex()[..8])
    }
}

impl TokenDigest {
    /// The SHA-256 of any secret handed out as text (public, link and session tokens).
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time equality, so timing does not reveal how much of a digest matched.
    pub fn matches(&self, other: &TokenDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl From<TokenDigest> for String {
    fn from(d: TokenDigest) -> Self {
        d.to_hex()
    }
}

impl TryFrom<String> for TokenDigest {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bytes = hex::decode(&s).map_err(|_| Invalid::new("bad token digest"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Invalid::new("bad token digest length"))?;
        Ok(Self(arr))
    }
}

/// Where a caller may put a public token, in the order they are consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    AuthorizationBearer,
    XPublicBotToken,
    BodyField,
}

pub const PUBLIC_TOKEN_HEADER: &str = "x-public-bot-token";

/// Picks the public token exactly in the documented order: `Authorization: Bearer`, then
/// `X-Public-Bot-Token`, then the body's `token` field. The first present source wins even
/// when its value is malformed, so a caller is never silently authenticated by a fallback.
pub fn extract<'a>(
    headers: &'a http::HeaderMap,
    body_token: Option<&'a str>,
) -> Option<(TokenSource, &'a str)> {
    if let Some(bearer) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_value)
    {
        return Some((TokenSource::AuthorizationBearer, bearer));
    }
    if let Some(v) = headers
        .get(PUBLIC_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        return Some((TokenSource::XPublicBotToken, v));
    }
    body_token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| (TokenSource::BodyField, t))
}

/// The credential of an `Authorization: Bearer <x>` header value.
pub fn bearer_value(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_pass_their_own_checksum() {
        for _ in 0..50 {
            let t = PublicToken::mint();
            assert!(t.expose().starts_with(PREFIX));
            assert_eq!(t.expose().len(), PREFIX.len() + BODY_LEN + CHECKSUM_LEN);
            assert!(PublicToken::parse_presented(t.expose()).is_ok());
        }
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let t = PublicToken::mint();
        let mut s = t.expose().to_owned();
        let i = PREFIX.len() + 3;
        let c = s.as_bytes()[i];
        let replacement = if c == b'a' { "b" } else { "a" };
        s.replace_range(i..=i, replacement);
        assert!(PublicToken::parse_presented(&s).is_err());
        assert!(PublicToken::parse_presented("agp_short").is_err());
    }

    #[test]
    fn owner_tokens_need_a_minimum_length() {
        assert!(PublicToken::parse_owner_chosen("pubkey_mybot_abc123").is_ok());
        assert!(PublicToken::parse_owner_chosen("short").is_err());
        assert!(PublicToken::parse_owner_chosen("has spaces in the token").is_err());
    }

    #[test]
    fn digests_compare_by_value() {
        let a = PublicToken::parse_presented("pubkey_mybot_abc123").unwrap();
        let b = PublicToken::parse_presented("pubkey_mybot_abc124").unwrap();
        assert!(a.digest().matches(&a.digest()));
        assert!(!a.digest().matches(&b.digest()));
        let round: TokenDigest =
            serde_json::from_value(serde_json::to_value(a.digest()).unwrap()).unwrap();
        assert!(round.matches(&a.digest()));
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask("pubkey_mybot_abc123"), "****c123");
        assert_eq!(mask("agp_0123456789abcdefghijklmnopq"), "agp_****nopq");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn owner_chosen_tokens_need_variety() {
        for weak in [
            "aaaaaaaaaaaaaaaa",
            "abababababababababab",
            "abcdefgabcdefgab",
            "1234567812345678",
        ] {
            let err = PublicToken::parse_owner_chosen(weak).unwrap_err();
            assert!(err.0.contains("too easy to guess"), "{weak}: {err}");
        }
        for fine in [
            "pubkey_mybot_abc123",
            "pubkey_widget_test_0001",
            "Kx8#pQ2m!Lr5&vZ9",
        ] {
            assert!(PublicToken::parse_owner_chosen(fine).is_ok(), "{fine}");
        }
        let t = PublicToken::mint();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn extraction_order_is_bearer_then_header_then_body() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            extract(&h, Some("body")),
            Some((TokenSource::BodyField, "body"))
        );
        h.insert(PUBLIC_TOKEN_HEADER, "hdr".parse().unwrap());
        assert_eq!(
            extract(&h, Some("body")),
            Some((TokenSource::XPublicBotToken, "hdr"))
        );
        h.insert(http::header::AUTHORIZATION, "Bearer bear".parse().unwrap());
        assert_eq!(
            extract(&h, Some("body")),
            Some((TokenSource::AuthorizationBearer, "bear"))
        );
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(
            extract(&h, None),
            Some((TokenSource::XPublicBotToken, "hdr"))
        );
        assert_eq!(extract(&http::HeaderMap::new(), Some("  ")), None);
    }
}
