//! Amazon Bedrock end to end: the real SDK client (ConverseStream) against the test kit's
//! mock Bedrock runtime, which speaks the service's event-stream wire format, through the
//! native SSE, OpenAI-compatible and widget families; what the mock received; throttling,
//! missing model access and a mid-stream exception in each family's error shape; and the
//! `agentgate` binary picking Bedrock up from the standard AWS environment; a widget
//! action offered as a Converse tool and its `toolUse` call proposed.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use agentgate_shared::testing::bedrock::{BedrockBehavior, MockBedrock};
use agentgate_shared::testing::{self, CapturedLogs};
use serde_json::{Value, json};

const MODEL: &str = "bedrock:anthropic.claude-3-5-haiku-20241022-v1:0";
const TOKEN: &str = "pubkey_bedrock_0123456789";

struct Setup {
    base: String,
    mock: MockBedrock,
    token_assistant: String,
    widget_assistant: String,
    /// The owner's JWT.
    jwt: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let mock = MockBedrock::start(BedrockBehavior::Reply(vec![
        "Hello".into(),
        " from".into(),
        " Bedrock".into(),
    ]))
    .await;
    let dir = testing::tempdir();
    let state = mock.state(dir.path()).await;
    let jwt = testing::jwt(&state, "owner");
    let base = format!("http://{}", common::serve(state).await.0);
    let conf = |mode: &str| {
        let mut c = json!({"type==agent/model": MODEL, "type==agent/system_message": "You are terse.",
                           "type==agent/access_mode": mode});
        if mode == "public_token" {
            c["type==agent/public_token"] = json!(TOKEN);
        }
        c
    };
    let token_assistant = common::create_assistant(&base, &jwt, "b", conf("public_token")).await;
    let widget_assistant = common::create_assistant(&base, &jwt, "w", conf("public_no_auth")).await;
    Setup {
        base,
        mock,
        token_assistant,
        widget_assistant,
        jwt,
        _dir: dir,
    }
}

fn runs(s: &Setup, thread: &str, text: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/public/runs/stream", s.base))
        .header("x-public-bot-token", TOKEN)
        .json(
            &json!({"assistant_id": s.token_assistant, "thread_id": thread,
                      "input": [{"role": "human", "content": text}]}),
        )
}

fn openai(s: &Setup, body: Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/public/openai/v1/chat/completions", s.base))
        .bearer_auth(TOKEN)
        .json(&body)
}

/// A non-streamed chat completion saying "hi".
fn hello(s: &Setup) -> Value {
    json!({"model": s.token_assistant, "messages": [{"role": "user", "content": "hi"}]})
}

fn widget(s: &Setup) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/v1/public/chat", s.base))
        .header("x-widget-version", "2")
        .json(
            &json!({"botPublicId": s.widget_assistant, "visitorId": "visitor-b",
                      "conversationId": null, "message": "hi"}),
        )
}

#[tokio::test]
async fn a_converse_tool_use_becomes_a_widget_action_proposal() {
    let s = setup().await;
    let resp = reqwest::Client::new()
            .patch(format!("{}/assistants/{}", s.base, s.widget_assistant))
            .bearer_auth(&s.jwt)
            .json(&json!({"config": {"configurable": {"type==agent/actions": [{
                "name": "open_pricing", "label": "Open pricing", "description": "Opens the pricing page",
                "kind": "open_url", "executionMode": "confirm",
                "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
            }]}}}))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    s.mock.set_behavior(BedrockBehavior::ToolCall {
        pieces: vec!["Here it is.".into()],
        name: "open_pricing".into(),
        arguments: r#"{"url":"https://shop.example.com/pricing"}"#.into(),
    });
    let text = widget(&s).send().await.unwrap().text().await.unwrap();
    let chunks = testing::app::parse_sse(&text);
    let proposal = chunks
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| e.json())
        .find(|c| c["type"] == "data-action-proposal")
        .unwrap_or_else(|| panic!("no proposal in {text}"));
    assert_eq!(proposal["data"]["actionId"], "open_pricing");
    assert_eq!(
        proposal["data"]["params"]["url"],
        "https://shop.example.com/pricing"
    );
    // Converse received the action as a tool with its JSON schema.
    let seen = s.mock.seen();
    let tool = &seen.last().unwrap().body["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(tool["name"], "open_pricing");
    assert_eq!(tool["inputSchema"]["json"]["required"][0], "url");
}

fn texts(content: &Value) -> Vec<String> {
    content
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_bedrock_model_streams_through_every_family_with_its_prompt_history_and_limits() {
    let (logs, _guard) = CapturedLogs::start();
    let s = setup().await;

    // Native SSE: accumulated partials, then a second turn carrying the first as history.
    let sse = runs(&s, "bedrock-thread", "First question")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let sse = sse.text().await.unwrap();
    assert!(
        sse.contains("\"content\":\"Hello from Bedrock\""),
        "{sse} {}",
        logs.text()
    );
    assert!(sse.ends_with("event: end\ndata: {}\n\n"), "{sse}");
    runs(&s, "bedrock-thread", "Second question")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seen = s.mock.seen();
    assert_eq!(seen[1].model, "anthropic.claude-3-5-haiku-20241022-v1:0");
    assert!(seen[1].signed, "requests are SigV4-signed");
    assert_eq!(texts(&seen[1].body["system"]), vec!["You are terse."]);
    let messages = seen[1].body["messages"].as_array().unwrap();
    let turns: Vec<(String, Vec<String>)> = messages
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_owned(), texts(&m["content"])))
        .collect();
    assert_eq!(
        turns,
        vec![
            ("user".into(), vec!["First question".into()]),
            ("assistant".into(), vec!["Hello from Bedrock".into()]),
            ("user".into(), vec!["Second question".into()]),
        ]
    );

    // OpenAI-compatible, streamed, with the caller's limits mapped onto inferenceConfig.
    let body = json!({"model": s.token_assistant, "stream": true, "max_tokens": 77,
                      "temperature": 0.25, "stop": ["END"],
                      "messages": [{"role": "user", "content": "hi"}]});
    let chunks = openai(&s, body).send().await.unwrap().text().await.unwrap();
    let said: String = chunks
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(said, "Hello from Bedrock");
    assert!(chunks.ends_with("data: [DONE]\n\n"));
    let config = &s.mock.seen()[2].body["inferenceConfig"];
    assert_eq!(config["maxTokens"], 77);
    assert_eq!(config["temperature"], 0.25);
    assert_eq!(config["stopSequences"], json!(["END"]));

    // Not streamed: usage comes from the stream's metadata event.
    let done = common::answer(openai(&s, hello(&s))).await;
    assert_eq!(
        done["choices"][0]["message"]["content"],
        "Hello from Bedrock"
    );
    assert_eq!(done["usage"]["prompt_tokens"], 21);
    assert_eq!(done["usage"]["completion_tokens"], 3);

    // The widget's UI message stream.
    let ui = widget(&s).send().await.unwrap().text().await.unwrap();
    let deltas: String = ui
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "text-delta")
        .map(|v| v["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, "Hello from Bedrock");
    assert!(ui.contains("\"type\":\"data-done\""), "{ui}");
}

#[tokio::test]
async fn throttling_and_missing_model_access_are_503s_that_name_nothing_internal() {
    let (logs, _guard) = CapturedLogs::start();
    let s = setup().await;
    s.mock.set_behavior(BedrockBehavior::Refuse(
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ));
    let r = runs(&s, "t", "hi").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let o = openai(&s, hello(&s)).send().await.unwrap();
    assert_eq!(o.status(), 503);
    assert!(o.headers().contains_key("retry-after"));
    let w = widget(&s).send().await.unwrap();
    assert_eq!(w.status(), 503);
    let w: Value = w.json().await.unwrap();
    assert_eq!(w["error"]["code"], "UNAVAILABLE");

    s.mock.set_behavior(BedrockBehavior::Refuse(
        403,
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ));
    let o = openai(&s, hello(&s)).send().await.unwrap();
    assert_eq!(o.status(), 503);
    let text = o.text().await.unwrap();
    assert!(!text.contains("access to the model"), "{text}");
    assert!(text.contains("not available"), "{text}");
    // The owner's logs say what to enable.
    let logged = logs.text();
    assert!(logged.contains("Model access"), "{logged}");
    assert!(logged.contains("anthropic.claude-3-5-haiku-20241022-v1:0"));

    // A validation error is the model provider's failure: 502.
    s.mock
        .set_behavior(BedrockBehavior::Refuse(400, "ValidationException", "bad"));
    let r = runs(&s, "v", "hi").send().await.unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn a_mid_stream_exception_ends_each_family_in_its_error_shape_and_saves_nothing() {
    let s = setup().await;
    s.mock.set_behavior(BedrockBehavior::BreakAfter(
        vec!["Partial".into()],
        "modelStreamErrorException",
    ));
    let sse = runs(&s, "broken", "hi")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sse.contains("event: error"), "{sse}");
    assert!(sse.ends_with("event: end\ndata: {}\n\n"), "{sse}");
    let mut streamed = hello(&s);
    streamed["stream"] = json!(true);
    let chunks = openai(&s, streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chunks.contains("\"error\""), "{chunks}");
    let ui = widget(&s).send().await.unwrap().text().await.unwrap();
    assert!(ui.contains("\"type\":\"error\""), "{ui}");
    // The thread holds nothing of the broken turn: the next turn sends only its question.
    s.mock
        .set_behavior(BedrockBehavior::Reply(vec!["ok".into()]));
    runs(&s, "broken", "again")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = s.mock.seen().pop().unwrap();
    assert_eq!(last.body["messages"].as_array().unwrap().len(), 1);
}

/// `agentgate serve` with `env`; its first two lines (address, Bedrock), or its exit.
fn serve_with(
    env: &[(&str, &str)],
    data: &std::path::Path,
) -> Result<(std::process::Child, String, String), String> {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentgate"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env("AGENTGATE_DATA_DIR", data)
        .env("AGENTGATE_ECHO_DELAY_MS", "0")
        .env_remove("AGENTGATE_STORE")
        .env_remove("AGENTGATE_JWT_SECRET")
        // Nothing from the machine's own AWS setup.
        .env("AWS_CONFIG_FILE", empty.path())
        .env("AWS_SHARED_CREDENTIALS_FILE", empty.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Log lines may come first; the banner is the address line and the Bedrock line.
    let mut first = String::new();
    while !first.starts_with("agentgate listening") {
        first.clear();
        if out.read_line(&mut first).unwrap() == 0 {
            let status = child.wait().unwrap();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return Err(format!("{status}: {err}"));
        }
    }
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Ok((child, first, second))
}

#[tokio::test]
async fn the_binary_uses_bedrock_from_the_standard_aws_environment_and_refuses_to_start_without_it()
{
    let mock = MockBedrock::start(BedrockBehavior::Reply(vec!["From".into(), " env".into()])).await;
    let dir = tempfile::tempdir().unwrap();

    // Required but no region: a clear message at start, not at the first turn.
    let err = serve_with(&[("AGENTGATE_BEDROCK", "on")], dir.path()).unwrap_err();
    assert!(err.contains("needs an AWS region"), "{err}");
    // A region but no credentials.
    let err = serve_with(
        &[("AGENTGATE_BEDROCK", "on"), ("AWS_REGION", "us-east-1")],
        dir.path(),
    )
    .unwrap_err();
    assert!(err.contains("needs AWS credentials"), "{err}");
    // Without any AWS setting it is simply off, and says so.
    let (mut child, _, second) = serve_with(&[], dir.path()).unwrap();
    assert!(second.starts_with("Amazon Bedrock: off"), "{second}");
    let _ = child.kill();
    let _ = child.wait();

    // With a region and credentials it is on, and AWS_ENDPOINT_URL_BEDROCK_RUNTIME is honoured.
    let env = [
        ("AWS_REGION", "eu-west-3"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", mock.url.as_str()),
    ];
    let (mut child, first, second) = serve_with(&env, dir.path()).unwrap();
    assert_eq!(second.trim(), "Amazon Bedrock: on (region eu-west-3)");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let jwt = common::dev_token(dir.path(), "owner");
    let id = common::create_assistant(
        &base,
        &jwt,
        "env",
        json!({"type==agent/model": "bedrock:us.amazon.nova-lite-v1:0",
               "type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    let run = json!({"assistant_id": id, "input": [{"role": "human", "content": "hi"}]});
    let text = common::run_text(&base, None, &run).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("\"content\":\"From env\""), "{text}");
    assert_eq!(mock.seen()[0].model, "us.amazon.nova-lite-v1:0");
    assert!(mock.seen()[0].signed);
}
