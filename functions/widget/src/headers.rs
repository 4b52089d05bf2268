//! What the widget reads from request headers before the body: which dialect the widget
//! speaks, and which page (origin) it runs on.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::request::Parts;

/// The header that selects the UI message stream.
pub const VERSION_HEADER: &str = "x-widget-version";

/// Whether the caller asked for the UI message stream (widget version 2 or later) rather
/// than the legacy dialect.
pub struct UiStream(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for UiStream {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let version = parts
            .headers
            .get(VERSION_HEADER)
            .and_then(|v| v.to_str().ok());
        let number = version.and_then(|v| v.trim().parse::<u32>().ok());
        Ok(Self(number.is_some_and(|v| v >= 2)))
    }
}

/// The `Origin` of the page that made the request, when a browser sent one.
pub struct PageOrigin(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PageOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let origin = parts.headers.get(http::header::ORIGIN);
        Ok(Self(
            origin.and_then(|v| v.to_str().ok()).map(str::to_owned),
        ))
    }
}
