//! User JWTs for owner endpoints (HS256).
//!
//! The signing secret comes from the environment locally and from Secrets Manager on
//! Lambda; it is loaded once per cold start. Tokens carry `sub` (the owner) and `exp`.

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
    iat: i64,
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
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        })
    }

    /// Signs a token for `sub` valid for `ttl_secs` from `now_secs`.
    pub fn issue(&self, sub: &UserId, now_secs: i64, ttl_secs: i64) -> Result<String, AuthError> {
        let claims = Claims {
            sub: sub.as_str().to_owned(),
            iat: now_secs,
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
