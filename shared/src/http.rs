//! HTTP plumbing shared by every family: the extractors every handler starts with (the
//! owner's JWT, a bounded JSON body, the platform's source IP), SSE responses and the
//! per-request span. Extractors reject with the family's own error type, so a bad body or a
//! missing JWT is answered in the family's documented shape.

use std::marker::PhantomData;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::auth::AuthError;
use crate::domain::ids::UserId;
use crate::state::AppState;

/// Largest request body any family accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why a request body could not be read as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is empty; send a JSON object")]
    Empty,
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the request body must be a JSON object")]
    NotObject,
    #[error("the request body could not be read")]
    Unreadable,
}

impl BodyError {
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::TooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// Parses a (possibly rejected) body into a JSON object.
pub fn json_object(
    body: Result<Bytes, BytesRejection>,
) -> Result<serde_json::Map<String, Value>, BodyError> {
    let bytes = body.map_err(|rej| match rej {
        BytesRejection::FailedToBufferBody(inner)
            if inner.status() == http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            BodyError::TooLarge
        }
        _ => BodyError::Unreadable,
    })?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::NotObject),
        Err(e) => Err(BodyError::NotJson(e.to_string())),
    }
}

/// The owner a valid user JWT (`Authorization: Bearer <jwt>`) names; rejects with the
/// family's error `E`.
pub struct Owner<E>(pub UserId, pub PhantomData<fn() -> E>);

impl<E> FromRequestParts<AppState> for Owner<E>
where
    E: From<AuthError> + IntoResponse,
{
    type Rejection = E;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(state.jwt.verify_headers(&parts.headers)?, PhantomData))
    }
}

/// A request body that must be one JSON object of at most [`MAX_BODY_BYTES`]; rejects
/// with the family's error `E`.
pub struct JsonObject<E>(pub Map<String, Value>, pub PhantomData<fn() -> E>);

impl<S: Send + Sync, E: From<BodyError> + IntoResponse> FromRequest<S> for JsonObject<E> {
    type Rejection = E;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match OptionalJsonObject::<E>::from_request(req, state).await?.0 {
            Some(map) => Ok(Self(map, PhantomData)),
            None => Err(BodyError::Empty.into()),
        }
    }
}

/// Like [`JsonObject`], but an empty body is allowed (and reads as `None`).
pub struct OptionalJsonObject<E>(pub Option<Map<String, Value>>, pub PhantomData<fn() -> E>);

impl<S: Send + Sync, E: From<BodyError> + IntoResponse> FromRequest<S> for OptionalJsonObject<E> {
    type Rejection = E;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state).await;
        if body.as_ref().is_ok_and(|b| b.is_empty()) {
            return Ok(Self(None, PhantomData));
        }
        Ok(Self(Some(json_object(body)?), PhantomData))
    }
}

/// Reads an optional string field, naming it when the type is wrong.
pub fn opt_str<'a>(
    map: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, String> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

/// An SSE response that proxies and function URLs pass through unbuffered.
pub fn sse_response(body: axum::body::Body) -> Response {
    use http::{HeaderValue, header};
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// The caller's address as the platform saw it: the function URL / API Gateway request
/// context on Lambda, the socket peer locally. A client-supplied `X-Forwarded-For` is
/// never consulted, so it cannot be used to dodge per-IP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(pub Option<std::net::IpAddr>);

impl SourceIp {
    pub fn from_extensions(ext: &http::Extensions) -> Self {
        use lambda_http::request::RequestContext;
        if let Some(ctx) = ext.get::<RequestContext>() {
            let raw = match ctx {
                RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
                RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
                _ => None,
            };
            return Self(raw.and_then(|ip| ip.parse().ok()));
        }
        Self(
            ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_extensions(&parts.extensions))
    }
}

/// The Lambda request id when running on Lambda, none locally.
fn lambda_request_id(req: &Request) -> Option<String> {
    use lambda_http::RequestExt;
    req.lambda_context_ref().map(|c| c.request_id.clone())
}

/// Which browsers may call a family from other origins: every origin, with these request
/// headers, reading these response headers. Credentials travel in headers (bearer tokens),
/// never cookies, so `*` is safe.
#[derive(Debug, Clone, Copy)]
pub struct Cors {
    pub allow_headers: &'static str,
    pub expose_headers: &'static str,
}

impl Cors {
    /// Answers preflights (`OPTIONS` on any of `routes`' paths) and lets every answer,
    /// errors included, be read by any page.
    pub fn apply(self, routes: axum::Router<AppState>) -> axum::Router<AppState> {
        routes.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| async move {
                let mut resp = if req.method() == http::Method::OPTIONS {
                    let mut resp = http::StatusCode::NO_CONTENT.into_response();
                    set_headers(
                        &mut resp,
                        [
                            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"),
                            (header::ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers),
                            (header::ACCESS_CONTROL_MAX_AGE, "600"),
                        ],
                    );
                    resp
                } else {
                    next.run(req).await
                };
                set_headers(
                    &mut resp,
                    [
                        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                        (header::ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers),
                    ],
                );
                resp
            },
        ))
    }
}

/// Sets the headers a handler has not set itself (a handler may answer one origin by name).
fn set_headers<const N: usize>(
    resp: &mut Response,
    headers: [(header::HeaderName, &'static str); N],
) {
    for (name, value) in headers {
        resp.headers_mut()
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

/// A family's routes served with what every family has: the [`MAX_BODY_BYTES`] body limit
/// and one [`request_span`] per request named after the family; `state` applied.
pub fn serve_family(
    routes: axum::Router<AppState>,
    family: &'static str,
    state: AppState,
) -> axum::Router {
    routes
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(move |req, next| {
            request_span(family, req, next)
        }))
        .with_state(state)
}

/// Middleware that opens one span per request with the family, the Lambda request id, the
/// route (its template, never the raw path: link and session tokens travel in paths) and
/// the outcome. Handlers add `assistant_id` to it; nothing secret or user-written goes in.
pub async fn request_span(family: &'static str, req: Request, next: Next) -> Response {
    let request_id = lambda_request_id(&req).unwrap_or_default();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", axum::extract::MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        family,
        request_id = %request_id,
        method = %req.method(),
        route = %route,
        assistant_id = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    async move {
        let resp = next.run(req).await;
        let span = tracing::Span::current();
        span.record("status", resp.status().as_u16());
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        tracing::info!("response started");
        resp
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ip_comes_from_the_platform_not_from_headers() {
        let event = r#"{"version":"2.0","routeKey":"$default","rawPath":"/","rawQueryString":"",
            "headers":{"x-forwarded-for":"6.6.6.6"},
            "requestContext":{"accountId":"anonymous","apiId":"x","domainName":"x","domainPrefix":"x",
              "http":{"method":"POST","path":"/","protocol":"HTTP/1.1","sourceIp":"203.0.113.10","userAgent":"t"},
              "requestId":"r","routeKey":"$default","stage":"$default","time":"t","timeEpoch":0},
            "isBase64Encoded":false}"#;
        let req = lambda_http::request::from_str(event).unwrap();
        assert_eq!(
            SourceIp::from_extensions(req.extensions()).0,
            "203.0.113.10".parse().ok()
        );
        let mut ext = http::Extensions::new();
        ext.insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 9],
            1,
        ))));
        assert_eq!(SourceIp::from_extensions(&ext).0, "127.0.0.9".parse().ok());
        assert_eq!(SourceIp::from_extensions(&http::Extensions::new()).0, None);
    }

    #[test]
    fn body_errors_are_specific() {
        assert_eq!(
            json_object(Ok(Bytes::from_static(b" "))),
            Err(BodyError::Empty)
        );
        assert_eq!(
            json_object(Ok(Bytes::from_static(b"[1]"))),
            Err(BodyError::NotObject)
        );
        assert!(matches!(
            json_object(Ok(Bytes::from_static(b"{oops"))),
            Err(BodyError::NotJson(_))
        ));
        assert!(json_object(Ok(Bytes::from_static(b"{\"a\":1}"))).is_ok());
        let big = Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]);
        assert_eq!(json_object(Ok(big)), Err(BodyError::TooLarge));
    }
}
