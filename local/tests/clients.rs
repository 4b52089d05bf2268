//! Real client libraries against the running server: the official `openai` Python SDK
//! (chat completions and the Responses API); the official `openai` Node SDK, the OpenAI
//! Agents SDK and the Vercel AI SDK's default provider on the Responses API; the Vercel AI
//! SDK's OpenAI provider on chat completions; the Vercel AI SDK's own chat transport and UI
//! message stream reader on the widget endpoint (text, action proposals and citations);
//! and a real Chromium on the public-link chat page (with the AI SDK reading its stream)
//! and on a site embedding the widget launcher from another origin. This test serves the API on a free port
//! in front of mock upstreams (OpenAI and Anthropic wire formats), then runs each client
//! suite (`tests/clients/`) against it. `scripts/setup.sh` installs the pinned client
//! libraries; `scripts/test.sh` runs it first.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::PathBuf;
use std::process::Command;

use agentgate_shared::domain::assistant::{Assistant, AssistantPatch};
use agentgate_shared::domain::ids::UserId;
use agentgate_shared::state::AppState;
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use serde_json::json;

const TOKEN: &str = "pubkey_client_oracle_01";
const BROKEN_TOKEN: &str = "pubkey_client_broken_01";
const RATE_PER_MINUTE: u64 = 5;
const PIECES: [&str; 5] = ["Hello", " from", " the", " mock", "!"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Running {
    base: String,
    model_id: String,
    widget_url: String,
    widget_bot: String,
    broken_widget_bot: String,
    _openai: MockUpstream,
    _anthropic: MockUpstream,
    _dir: tempfile::TempDir,
}

async fn add(state: &AppState, token: Option<&str>, model: &str) -> Assistant {
    let configurable = match token {
        Some(t) => {
            json!({"type==agent/access_mode": "public_token", "type==agent/public_token": t, "type==agent/model": model})
        }
        None => json!({"type==agent/access_mode": "public_no_auth", "type==agent/model": model}),
    };
    let patch = AssistantPatch {
        name: Some("oracle".into()),
        configurable: configurable.as_object().cloned().unwrap(),
    };
    let a = Assistant::create(UserId::parse("owner").unwrap(), &patch, 0).unwrap();
    state.store.create_assistant(&a).await.unwrap();
    a
}

async fn serve() -> Running {
    let openai = MockUpstream::openai(Behavior::Reply(PIECES.map(String::from).to_vec())).await;
    let anthropic = MockUpstream::anthropic(Behavior::BreakAfter(vec!["Half".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state_tuned(
        dir.path(),
        testing::mock_providers(Some(&openai), Some(&anthropic)),
        |settings| {
            settings.rate_per_minute = RATE_PER_MINUTE;
        },
    );
    let a = add(&state, Some(TOKEN), "openai:gpt-4o-mini").await;
    add(&state, Some(BROKEN_TOKEN), "anthropic:claude-sonnet-4-5").await;
    let widget = add(&state, None, "openai:gpt-4o-mini").await;
    let broken_widget = add(&state, None, "anthropic:claude-sonnet-4-5").await;
    let (addr, _) = common::serve(state).await;
    Running {
        base: format!("http://{addr}/public/openai/v1"),
        model_id: a.id.to_string(),
        widget_url: format!("http://{addr}/v1/public/chat"),
        widget_bot: widget.id.to_string(),
        broken_widget_bot: broken_widget.id.to_string(),
        _openai: openai,
        _anthropic: anthropic,
        _dir: dir,
    }
}

fn envs(r: &Running) -> Vec<(&'static str, String)> {
    vec![
        ("AGENTGATE_OPENAI_BASE_URL", r.base.clone()),
        ("AGENTGATE_TOKEN", TOKEN.into()),
        ("AGENTGATE_BROKEN_TOKEN", BROKEN_TOKEN.into()),
        ("AGENTGATE_EXPECTED_TEXT", PIECES.concat()),
        ("AGENTGATE_MODEL_ID", r.model_id.clone()),
        ("AGENTGATE_RATE_PER_MINUTE", RATE_PER_MINUTE.to_string()),
        ("AGENTGATE_WIDGET_URL", r.widget_url.clone()),
        ("AGENTGATE_WIDGET_BOT", r.widget_bot.clone()),
        ("AGENTGATE_BROKEN_WIDGET_BOT", r.broken_widget_bot.clone()),
    ]
}

/// Runs a client suite off the async runtime so the server keeps serving meanwhile.
async fn run_suite(mut cmd: Command, what: &str) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "{what} could not start ({e}); install the client libraries with scripts/setup.sh"
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    println!("{what}:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_accepts_the_api() {
    let python = std::env::var("AGENTGATE_CLIENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/clients-venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let r = serve().await;
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/clients/test_openai_sdk.py",
    ])
    .current_dir(root())
    .envs(envs(&r));
    run_suite(cmd, "openai Python SDK suite").await;
}

/// Runs the Node suite `file` of `tests/clients` (which needs `module` installed) with
/// `envs`.
async fn node_suite(file: &str, module: &str, envs: Vec<(&'static str, String)>, what: &str) {
    let dir = root().join("tests/clients");
    assert!(
        dir.join("node_modules").join(module).exists(),
        "tests/clients/node_modules is missing: run scripts/setup.sh"
    );
    let mut cmd = Command::new("node");
    cmd.args(["--test", file]).current_dir(dir).envs(envs);
    run_suite(cmd, what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vercel_ai_sdk_openai_provider_accepts_the_api() {
    let r = serve().await;
    node_suite(
        "vercel-openai.test.mjs",
        "@ai-sdk/openai",
        envs(&r),
        "Vercel AI SDK suite",
    )
    .await;
}

const FIRST_TURN: &str = "What are your opening hours?";
const SECOND_TURN: &str = "And on Sundays?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_responses_api_serves_the_node_sdk_the_ai_sdk_and_the_agents_sdk() {
    let r = serve().await;
    let mut envs = envs(&r);
    envs.push(("AGENTGATE_FIRST_TURN", FIRST_TURN.into()));
    envs.push(("AGENTGATE_SECOND_TURN", SECOND_TURN.into()));
    let what = "Responses API suite (openai Node SDK, AI SDK, Agents SDK)";
    node_suite("responses.test.mjs", "@openai/agents", envs, what).await;
    // The AI SDK's second turn referred to the first reply by id; the model must still
    // have received that reply as history.
    let conversation = [
        ("user", FIRST_TURN.to_owned()),
        ("assistant", PIECES.concat()),
        ("user", SECOND_TURN.to_owned()),
    ];
    let conversation = conversation.map(|(role, text)| (role.to_owned(), text));
    let received = r._openai.seen().iter().any(|seen| {
        let mut messages = seen.messages();
        messages.retain(|(role, _)| role != "system");
        messages == conversation
    });
    assert!(
        received,
        "the upstream never received the first reply as history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vercel_ai_sdk_chat_transport_reads_the_widget_stream() {
    let r = serve().await;
    let what = "Vercel AI SDK widget suite";
    node_suite("widget-ui-stream.test.mjs", "ai", envs(&r), what).await;
}

const LINK_TOKEN: &str = "link_oracle_token_0123456789";
const EMAIL_LINK_TOKEN: &str = "link_oracle_email_0123456789";
const WELCOME: &str = "Hi! I am the shop's assistant.";

/// Stores a public link with a known token on `a`.
async fn add_link(state: &AppState, a: &Assistant, token: &str, require_email: bool) {
    use agentgate_shared::domain::link::{LinkSettings, PublicLink};
    use agentgate_shared::domain::token::TokenDigest;
    let settings = LinkSettings {
        require_email,
        welcome_message: Some(WELCOME.into()),
        ..LinkSettings::default()
    };
    let link = PublicLink::new(&a.id, &a.owner, TokenDigest::of(token), settings, 0);
    state.store.create_link(&link).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_chats_through_a_public_link() {
    let openai = MockUpstream::openai(Behavior::Reply(PIECES.map(String::from).to_vec())).await;
    openai.set_delay(std::time::Duration::from_millis(40));
    let data = testing::tempdir();
    let state = testing::state(data.path(), testing::mock_providers(Some(&openai), None));
    let a = add(&state, None, "openai:gpt-4o-mini").await;
    add_link(&state, &a, LINK_TOKEN, false).await;
    add_link(&state, &a, EMAIL_LINK_TOKEN, true).await;
    let (addr, _) = common::serve(state).await;
    let shots = root().join("target/test-output");
    let envs = vec![
        ("AGENTGATE_BASE_URL", format!("http://{addr}")),
        ("AGENTGATE_LINK_TOKEN", LINK_TOKEN.into()),
        ("AGENTGATE_EMAIL_LINK_TOKEN", EMAIL_LINK_TOKEN.into()),
        (
            "AGENTGATE_OUTBOX",
            data.path().join("outbox").display().to_string(),
        ),
        ("AGENTGATE_EXPECTED_TEXT", PIECES.concat()),
        ("AGENTGATE_WELCOME", WELCOME.into()),
        ("AGENTGATE_SCREENSHOTS", shots.display().to_string()),
    ];
    let what = "public link page in Chromium";
    node_suite("links-page.test.mjs", "playwright-core", envs, what).await;
    assert!(shots.join("public-link-chat.png").exists());
}

const HELP: &str = "# Returns\n\nRefunds are issued within 14 days of receiving the returned parcel.\n\n\
    # Shipping\n\nParcels leave the Lyon warehouse every weekday.";
const LAUNCHER_PIECES: [&str; 3] = ["Refunds are issued ", "within 14 days ", "[1]."];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_uses_the_launcher_from_another_site() {
    use agentgate_shared::knowledge::Document;
    use agentgate_shared::testing::ToolReply;
    let openai = MockUpstream::openai(Behavior::Reply(vec!["unused".into()])).await;
    openai.set_tool_reply(Some(ToolReply {
        pieces: LAUNCHER_PIECES.map(String::from).to_vec(),
        name: "book_demo".into(),
        arguments: r#"{"day":"tue"}"#.into(),
    }));
    openai.set_delay(std::time::Duration::from_millis(30));
    let data = testing::tempdir();
    let state = testing::state(data.path(), testing::mock_providers(Some(&openai), None));
    let patch = AssistantPatch {
        name: Some("Shop helper".into()),
        configurable: json!({
            "type==agent/access_mode": "public_no_auth",
            "type==agent/model": "openai:gpt-4o-mini",
            "type==agent/welcome_message": WELCOME,
            "type==agent/widget_color": "#0a7d5a",
            "type==agent/actions": [{
                "name": "book_demo", "label": "Book a demo", "description": "Books a demo call",
                "kind": "form", "executionMode": "confirm",
                "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}
            }],
        })
        .as_object()
        .cloned()
        .unwrap(),
    };
    let a = Assistant::create(UserId::parse("owner").unwrap(), &patch, 0).unwrap();
    state.store.create_assistant(&a).await.unwrap();
    let doc = Document::create(
        a.id.clone(),
        "Help centre",
        Some("https://shop.example.com/help"),
        HELP,
        0,
    )
    .unwrap();
    state.store.put_document(&doc).await.unwrap();
    let with_docs = a.with_knowledge(1, 1);
    state.store.update_assistant(&a, &with_docs).await.unwrap();
    let (addr, _) = common::serve(state).await;
    let shots = root().join("target/test-output");
    let envs = vec![
        (
            "AGENTGATE_BASE_URL",
            format!("http://127.0.0.1:{}", addr.port()),
        ),
        ("AGENTGATE_LAUNCHER_BOT", a.id.to_string()),
        ("AGENTGATE_EXPECTED_TEXT", LAUNCHER_PIECES.concat()),
        ("AGENTGATE_WELCOME", WELCOME.into()),
        ("AGENTGATE_SCREENSHOTS", shots.display().to_string()),
    ];
    let what = "widget launcher in Chromium";
    node_suite("widget-launcher.test.mjs", "playwright-core", envs, what).await;
    assert!(shots.join("widget-launcher.png").exists());
    // The browser's second turn continued the first conversation: its model saw the first
    // question, the reply and the confirmed action's outcome.
    let last = openai.seen().last().unwrap().messages();
    let texts: Vec<&str> = last.iter().map(|(_, t)| t.as_str()).collect();
    assert!(texts.contains(&"How long do refunds take?"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[action result]") && t.contains("success")),
        "{texts:?}"
    );
    assert_eq!(texts.last(), Some(&"Thanks, and after that?"));
}
