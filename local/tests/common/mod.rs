//! What the local server's tests share: the whole API on port 0, and an owner's first
//! steps over HTTP. Each test file uses the parts it needs.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use agentgate_shared::state::AppState;
use serde_json::{Value, json};

/// Serves every family on 127.0.0.1:0 in the background.
pub async fn serve(state: AppState) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = agentgate_local::app(state);
    let task = tokio::spawn(agentgate_local::serve(
        listener,
        app,
        std::future::pending(),
    ));
    (addr, task)
}

/// `POST {base}/assistants` as the owner of `jwt`; the new assistant's id.
pub async fn create_assistant(base: &str, jwt: &str, name: &str, configurable: Value) -> String {
    let created: Value = reqwest::Client::new()
        .post(format!("{base}/assistants"))
        .bearer_auth(jwt)
        .json(&json!({"name": name, "config": {"configurable": configurable}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["assistant_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no assistant_id in {created}"))
        .to_owned()
}

/// `GET {url}` with the owner's JWT, as JSON.
pub async fn get_json(url: &str, jwt: &str) -> Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST {base}/public/runs/stream` with `body` (and a public token, if any); the whole
/// SSE text.
pub async fn run_text(base: &str, token: Option<&str>, body: &Value) -> String {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/public/runs/stream"))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().text().await.unwrap()
}

/// A user JWT for `sub` from `agentgate dev-token` on the data folder `data`.
pub fn dev_token(data: &std::path::Path, sub: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentgate"))
        .args(["dev-token", "--sub", sub])
        .env("AGENTGATE_DATA_DIR", data)
        .env_remove("AGENTGATE_JWT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "dev-token failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// Sends `req` and reads its JSON answer.
pub async fn answer(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}
