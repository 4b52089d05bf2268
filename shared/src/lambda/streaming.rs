//! The Runtime API loop of the response-streaming functions.
//!
//! A streamed response leaves the function as one chunked `POST` to the Runtime API:
//! the head, the metadata prelude (status, headers, cookies as JSON) and eight NUL bytes,
//! then the body's pieces as the reply produces them. These are small writes on one TCP
//! connection, and the stock runtime (`lambda_runtime` 1.5) opens that connection without
//! `TCP_NODELAY`: Nagle's algorithm holds each small write until the previous one is
//! acknowledged, and the Runtime API acknowledges late (delayed ACK), so even an immediate
//! 404 reached the client ~40 ms after its prelude, and tokens were batched behind ACKs.
//! The stock runtime builds its client internally and offers no way to set the option.
//!
//! This loop speaks the same protocol (`/invocation/next`, the streamed `/response` with
//! error trailers, `/error`) over a client whose connector sets `TCP_NODELAY`, and hands
//! each event to the family's router exactly as `lambda_http` does (same request
//! conversion, same Lambda context in the request's extensions). Invocations run one at a
//! time, as response streaming requires. `AGENTGATE_LAMBDA_RUNTIME=stock` switches back to
//! the stock runtime.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use bytes::{Bytes, BytesMut};
use futures::{FutureExt, StreamExt};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_http::RequestExt;
use lambda_http::lambda_runtime::{Config, Context, MetadataPrelude};
use tower::ServiceExt;
use tracing::Instrument;

use super::Error;

type ApiBody = UnsyncBoxBody<Bytes, Infallible>;

const API_VERSION: &str = "2018-06-01";
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
const ERROR_BODY: &str = "lambda-runtime-function-error-body";
/// What separates the metadata prelude from the body in a streamed response.
const PRELUDE_END: [u8; 8] = [0; 8];

/// A client of the Runtime API.
struct RuntimeApi {
    base: String,
    client: Client<HttpConnector, ApiBody>,
    config: Arc<Config>,
}

fn empty() -> ApiBody {
    Empty::new().boxed_unsync()
}

fn full(bytes: impl Into<Bytes>) -> ApiBody {
    Full::new(bytes.into()).boxed_unsync()
}

impl RuntimeApi {
    fn from_env() -> Result<Self, Error> {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
            .map_err(|_| Error::from("AWS_LAMBDA_RUNTIME_API is not set: not running on Lambda"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        Ok(Self {
            base: format!("http://{api}/{API_VERSION}/runtime"),
            client,
            config: Arc::new(Config::from_env()),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: ApiBody,
    ) -> Result<Response<Incoming>, Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(body)?;
        req.headers_mut().extend(headers);
        Ok(self.client.request(req).await?)
    }

    /// Waits for the next event: its request id, the Lambda context and the event JSON.
    async fn next(&self) -> Result<(String, Context, Bytes), Error> {
        let resp = self
            .call(Method::GET, "/invocation/next", HeaderMap::new(), empty())
            .await?;
        let (parts, body) = resp.into_parts();
        let event = body.collect().await?.to_bytes();
        let id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::from("the Runtime API sent an event without a request id"))?
            .to_owned();
        let context = Context::new(&id, Arc::clone(&self.config), &parts.headers)?;
        Ok((id, context, event))
    }

    /// Reports that invocation `id` failed before any response.
    async fn fail(&self, id: &str, kind: &str, message: &str) -> Result<(), Error> {
        let body = serde_json::json!({"errorType": kind, "errorMessage": message});
        let mut headers = HeaderMap::new();
        headers.insert(ERROR_TYPE, HeaderValue::from_str(kind)?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let path = format!("/invocation/{id}/error");
        self.call(Method::POST, &path, headers, full(body.to_string()))
            .await?;
        Ok(())
    }

    /// Streams `response` as invocation `id`'s result, returning once the body is sent.
    async fn respond(&self, id: &str, response: Response<axum::body::Body>) -> Result<(), Error> {
        let (parts, body) = response.into_parts();
        let mut headers = parts.headers;
        let cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        headers.remove(SET_COOKIE);
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/octet-stream"));
        let prelude = MetadataPrelude {
            status_code: parts.status,
            headers,
            cookies,
        };
        let mut head = BytesMut::from(serde_json::to_vec(&prelude)?.as_slice());
        head.extend_from_slice(&PRELUDE_END);

        let first = futures::stream::iter([Ok(Frame::data(head.freeze()))]);
        let rest = BodyStream::new(body).map(|frame| match frame {
            Ok(frame) => Ok(frame),
            // Lambda reads a failure mid-body from the error trailers.
            Err(err) => Ok(Frame::trailers(error_trailers(&err.to_string()))),
        });
        let body = BodyExt::boxed_unsync(StreamBody::new(first.chain(rest)));

        let mut api_headers = HeaderMap::new();
        api_headers.insert(
            "lambda-runtime-function-response-mode",
            HeaderValue::from_static("streaming"),
        );
        api_headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.awslambda.http-integration-response"),
        );
        api_headers.append("trailer", HeaderValue::from_static(ERROR_TYPE));
        api_headers.append("trailer", HeaderValue::from_static(ERROR_BODY));
        let path = format!("/invocation/{id}/response");
        let resp = self.call(Method::POST, &path, api_headers, body).await?;
        if !resp.status().is_success() {
            tracing::warn!(status = %resp.status(), "the Runtime API refused the response");
        }
        Ok(())
    }
}

fn error_trailers(message: &str) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert(ERROR_TYPE, HeaderValue::from_static("Runtime.StreamError"));
    let body = serde_json::json!({"errorType": "Runtime.StreamError", "errorMessage": message});
    if let Ok(v) = HeaderValue::from_str(&body.to_string()) {
        trailers.insert(ERROR_BODY, v);
    }
    trailers
}

/// Serves `router` to the Runtime API's events until the process is stopped.
pub async fn run(router: Router) -> Result<(), Error> {
    let api = RuntimeApi::from_env()?;
    loop {
        let (id, context, event) = api.next().await?;
        let span = tracing::info_span!("invocation", request_id = %id);
        invoke(&api, &router, &id, context, &event)
            .instrument(span)
            .await?;
    }
}

/// Answers one event; an `Err` means the Runtime API itself could not be reached.
async fn invoke(
    api: &RuntimeApi,
    router: &Router,
    id: &str,
    context: Context,
    event: &[u8],
) -> Result<(), Error> {
    let parsed = std::str::from_utf8(event)
        .map_err(|e| e.to_string())
        .and_then(|s| lambda_http::request::from_str(s).map_err(|e| e.to_string()));
    let request = match parsed {
        Ok(request) => request.with_lambda_context(context),
        Err(err) => {
            tracing::error!(error = %err, "the event is not an HTTP request");
            return api.fail(id, "Runtime.UnmarshalError", &err).await;
        }
    };
    let answer = std::panic::AssertUnwindSafe(router.clone().oneshot(request))
        .catch_unwind()
        .await;
    match answer {
        Ok(Ok(response)) => api.respond(id, response).await,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::error!("the handler panicked");
            api.fail(id, "Runtime.Panic", "the handler panicked").await
        }
    }
}
