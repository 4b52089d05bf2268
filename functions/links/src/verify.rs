//! Email verification by code (NIST SP 800-63B-4 out-of-band, OWASP ASVS 5): a six-digit
//! code from the OS RNG, valid ten minutes, stored only as an HMAC under the deployment
//! secret, compared in constant time, single use (a conditional delete), at most five
//! wrong tries per code and a daily cap of failures per link and email that a resend does
//! not reset. Sends are throttled per email and per source address.
//!
//! The send answers the same way whether or not a code went out, so it tells nobody which
//! addresses are in use.

use agentgate_shared::domain::link::mint_code;
use agentgate_shared::domain::link::{
    CODE_TTL_SECS, DAILY_CODE_FAILURES, EmailCode, MAX_CODE_TRIES, PublicLink,
    SENDS_PER_EMAIL_PER_HOUR, SENDS_PER_IP_PER_HOUR, Subject, code_key, parse_code, parse_email,
};
use agentgate_shared::domain::ratelimit::Cap;
use agentgate_shared::http::JsonObject;
use agentgate_shared::mail::Email;
use agentgate_shared::ratelimit::{self, RateLimitError};
use agentgate_shared::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::LinksError;
use crate::access::LinkPath;
use crate::public::open_session;

/// What every code request answers.
const SENT: &str =
    "If this address can receive email, a code is on its way. It is valid for 10 minutes.";

fn email_of(body: &Map<String, Value>) -> Result<String, LinksError> {
    let raw = body
        .get("email")
        .and_then(Value::as_str)
        .ok_or_else(|| LinksError::Invalid("email is required".into()))?;
    parse_email(raw).map_err(|e| LinksError::Invalid(e.0))
}

async fn email_link(state: &AppState, path: &LinkPath) -> Result<PublicLink, LinksError> {
    let (link, _) = path.open(state).await?;
    if !link.settings.require_email {
        return Err(LinksError::EmailNotUsed);
    }
    Ok(link)
}

/// The daily failure cap of one email on one link.
fn failures_cap(link: &PublicLink, email: &str) -> Cap {
    Cap::new(
        format!("code-failures:{}:{email}", link.id),
        DAILY_CODE_FAILURES,
        86_400,
    )
}

/// `POST /api/public/verify/{token}` `{"email"}`: sends a code; always 202 alike.
#[tracing::instrument(name = "send_code", skip_all)]
pub async fn send_code(
    State(state): State<AppState>,
    path: LinkPath,
    JsonObject(body, ..): JsonObject<LinksError>,
) -> Result<Response, LinksError> {
    let link = email_link(&state, &path).await?;
    let email = email_of(&body)?;
    if !state.mailer.configured() {
        return Err(LinksError::MailUnavailable);
    }
    let now = state.clock.now_secs();
    // The address cap is visible (it says nothing about the email); the email's is not.
    if let Some(ip) = path.ip {
        let cap = Cap::new(format!("code-sends-ip:{ip}"), SENDS_PER_IP_PER_HOUR, 3_600);
        ratelimit::admit(state.store.as_ref(), &[cap], now).await?;
    }
    let per_email = Cap::new(
        format!("code-sends:{}:{email}", link.id),
        SENDS_PER_EMAIL_PER_HOUR,
        3_600,
    );
    match ratelimit::admit(state.store.as_ref(), &[per_email], now).await {
        Ok(()) => send(&state, &link, &email, now).await?,
        Err(RateLimitError::Limited(_)) => {
            tracing::info!("code not sent: this email asked too often");
        }
        Err(RateLimitError::Store(e)) => return Err(e.into()),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "pending", "message": SENT})),
    )
        .into_response())
}

async fn send(
    state: &AppState,
    link: &PublicLink,
    email: &str,
    now: i64,
) -> Result<(), LinksError> {
    let code = mint_code();
    let stored = EmailCode {
        mac: state.codes.mac(&link.id, email, &code),
        expires_at: now + CODE_TTL_SECS,
        tries: 0,
    };
    state
        .store
        .put_code(&code_key(&link.id, email), &stored)
        .await?;
    let message = Email {
        to: email.to_owned(),
        subject: format!("Your verification code: {code}"),
        text: format!(
            "Your verification code is {code}.\n\nIt is valid for 10 minutes. If you did not ask for it, ignore this email."
        ),
    };
    if let Err(e) = state.mailer.send(&message).await {
        // Said to nobody but the logs: the answer must not depend on the address.
        tracing::error!(error = %e, "verification email not sent");
    }
    Ok(())
}

/// `POST /api/public/verify/{token}/confirm` `{"email", "code"}`: the email's session.
#[tracing::instrument(name = "confirm_code", skip_all)]
pub async fn confirm(
    State(state): State<AppState>,
    path: LinkPath,
    JsonObject(body, ..): JsonObject<LinksError>,
) -> Result<Json<Value>, LinksError> {
    let link = email_link(&state, &path).await?;
    let email = email_of(&body)?;
    let presented = body
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| LinksError::Invalid("code is required".into()))?;
    let now = state.clock.now_secs();
    let cap = failures_cap(&link, &email);
    let counter = cap.shard_key(now, 0);
    if state.store.counter_value(&counter).await? >= cap.limit {
        // The day's failures are spent: no code is checked until the window ends.
        return Err(LinksError::TooManyAttempts {
            retry_after_secs: Some(cap.retry_after(now)),
        });
    }
    let key = code_key(&link.id, &email);
    let current = state.store.code(&key).await?;
    let wrong = || async {
        match ratelimit::admit(state.store.as_ref(), std::slice::from_ref(&cap), now).await {
            Ok(()) | Err(RateLimitError::Limited(_)) => Ok(()),
            Err(RateLimitError::Store(e)) => Err(LinksError::from(e)),
        }
    };
    let Some(current) = current else {
        wrong().await?;
        return Err(LinksError::CodeInvalid);
    };
    if current.tries >= MAX_CODE_TRIES {
        return Err(LinksError::TooManyAttempts {
            retry_after_secs: None,
        });
    }
    let mac = parse_code(presented).map(|c| state.codes.mac(&link.id, &email, c));
    let matches = mac.as_deref().is_some_and(|m| current.matches(m));
    if !matches {
        wrong().await?;
        let tries = state.store.count_wrong_try(&key, &current.mac).await?;
        if tries.is_some_and(|t| t >= MAX_CODE_TRIES) {
            return Err(LinksError::TooManyAttempts {
                retry_after_secs: None,
            });
        }
        return Err(LinksError::CodeInvalid);
    }
    // Exactly one of any racing confirmations gets past this.
    if !state.store.consume_code(&key, &current.mac).await? {
        return Err(LinksError::CodeInvalid);
    }
    let subject = Subject::Email(email);
    let (token, conversation) = open_session(&state, &link.id, &link.assistant, subject).await?;
    Ok(Json(
        json!({"session_token": token.expose(), "conversation_id": conversation.as_str()}),
    ))
}
