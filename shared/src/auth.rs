//! User JWTs for owner endpoints (HS256).
//!
//! The signing secret comes from the environment locally and from Secrets Manager on
//! Lambda; it is loaded once per cold start. Tokens need `sub` (the owner) and `exp`;
//! `iat` is optional, `nbf` is honoured when present, and a deployment may require an
//! issuer (`AGENTGATE_JWT_ISSUER`) and an audience (`AGENTGATE_JWT_AUDIENCE`). An `aud`
//! claim is otherwise ignored, so tokens from a login system that sets one still work.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;
use crate::secret::SecretString;

/// Shortest signing secret accepted: 32 bytes, HS256's own key size.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
    #[error("the JWT secret must be at least {MIN_SECRET_LEN} characters")]
    WeakSecret,
}

/// Verifies (and, for local use, issues) user JWTs.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Result<Self, AuthError> {
        if secret.expose().len() < MIN_SECRET_LEN {
            return Err(AuthError::WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        })
    }

    /// Also requires `iss` to be `issuer` and `aud` to include `audience`, when given.
    #[must_use]
    pub fn requiring(mut self, issuer: Option<&str>, audience: Option<&str>) -> Self {
        if let Some(iss) = issuer {
            self.validation.set_issuer(&[iss]);
            self.validation
                .set_required_spec_claims(&["exp", "sub", "iss"]);
        }
        if let Some(aud) = audience {
            self.validation.set_audience(&[aud]);
            self.validation.validate_aud = true;
        }
        self
    }

    /// Signs a token for `sub` valid for `ttl_secs` from `now_secs`.
    pub fn issue(&self, sub: &UserId, now_secs: i64, ttl_secs: i64) -> Result<String, AuthError> {
        let claims = Claims {
            sub: sub.as_str().to_owned(),
            iat: Some(now_secs),
            exp: now_secs + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| AuthError::Invalid)
    }

    /// The owner named by a valid token.
    pub fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::Invalid)?;
        UserId::parse(&data.claims.sub).map_err(|_| AuthError::Invalid)
    }

    /// The owner named by an `Authorization: Bearer <jwt>` header.
    pub fn verify_headers(&self, headers: &http::HeaderMap) -> Result<UserId, AuthError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::domain::token::bearer_value)
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> JwtKeys {
        JwtKeys::new(&SecretString::new(s)).unwrap()
    }

    fn signed(secret: &str, claims: serde_json::Value) -> String {
        let key = EncodingKey::from_secret(secret.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    }

    #[test]
    fn iat_is_optional_nbf_is_honoured_and_iss_aud_can_be_required() {
        let secret = "s".repeat(40);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let k = keys(&secret);
        let no_iat = signed(
            &secret,
            serde_json::json!({"sub": "alice", "exp": now + 60}),
        );
        assert_eq!(k.verify(&no_iat).unwrap().as_str(), "alice");
        let later = signed(
            &secret,
            serde_json::json!({"sub": "alice", "exp": now + 600, "nbf": now + 300}),
        );
        assert_eq!(k.verify(&later), Err(AuthError::Invalid), "not before nbf");
        let with_aud = signed(
            &secret,
            serde_json::json!({"sub": "a", "exp": now + 60, "aud": "app", "iss": "login"}),
        );
        assert!(
            k.verify(&with_aud).is_ok(),
            "aud is ignored unless required"
        );
        let strict = keys(&secret).requiring(Some("login"), Some("agentgate"));
        assert_eq!(
            strict.verify(&with_aud),
            Err(AuthError::Invalid),
            "wrong audience"
        );
        let right = signed(
            &secret,
            serde_json::json!({"sub": "a", "exp": now + 60, "aud": "agentgate", "iss": "login"}),
        );
        assert!(strict.verify(&right).is_ok());
        let no_iss = signed(
            &secret,
            serde_json::json!({"sub": "a", "exp": now + 60, "aud": "agentgate"}),
        );
        assert_eq!(
            strict.verify(&no_iss),
            Err(AuthError::Invalid),
            "issuer required"
        );
    }

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let k = keys(&"k".repeat(32));
        let now = crate::clock::Clock::now_secs(&crate::clock::SystemClock);
        let alice = UserId::parse("alice").unwrap();
        let t = k.issue(&alice, now, 60).unwrap();
        assert_eq!(k.verify(&t).unwrap(), alice);
        assert_eq!(keys(&"j".repeat(32)).verify(&t), Err(AuthError::Invalid));
        let expired = k.issue(&alice, now - 3600, 60).unwrap();
        assert_eq!(k.verify(&expired), Err(AuthError::Invalid));
        assert_eq!(k.verify("not-a-jwt"), Err(AuthError::Invalid));
        assert!(JwtKeys::new(&SecretString::new("short")).is_err());
    }
}
