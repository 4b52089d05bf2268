//! Property tests of every shared parser that sees untrusted bytes: request bodies, the
//! upstream SSE decoder and event mappers, tokens, ids, emails, codes and times. Each gets
//! [`CASES`] generated inputs (seeded, so a failure reproduces): none may panic, and the
//! decoder's memory stays bounded.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::ids::{AssistantId, ThreadId, UserId};
use agentgate_shared::domain::link::{LinkId, LinkSettings, SessionToken, parse_code, parse_email};
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::message::parse_input;
use agentgate_shared::domain::time::parse_rfc3339_ms;
use agentgate_shared::domain::token::PublicToken;
use agentgate_shared::http::json_object;
use agentgate_shared::provider::sse::{MAX_EVENT_BYTES, SseDecoder, SseEvent};
use agentgate_shared::provider::{anthropic, openai};
use agentgate_shared::testing::fuzz::{CASES, Gen, for_all};
use bytes::Bytes;
use serde_json::Value;

#[test]
fn request_bodies_parse_or_refuse_without_panicking() {
    for_all(
        1,
        |g| {
            if g.chance(2) {
                g.bytes(200)
            } else {
                serde_json::to_vec(&g.value(&["input", "messages", "role", "content"], 3)).unwrap()
            }
        },
        |raw| {
            let _ = json_object(Ok(Bytes::from(raw)));
        },
    );
    println!("json bodies: {CASES} inputs");
}

#[test]
fn message_lists_parse_or_refuse_without_panicking() {
    const KEYS: &[&str] = &["messages", "role", "type", "content", "text", "human", "ai"];
    for_all(
        2,
        |g| g.value(KEYS, 4),
        |v| {
            if let Ok(messages) = parse_input(Some(&v)) {
                assert!(!messages.is_empty());
            }
        },
    );
}

#[test]
fn link_settings_patch_or_refuse_without_panicking() {
    const KEYS: &[&str] = &[
        "enabled",
        "require_email",
        "welcome_message",
        "rate_limit_per_hour",
        "expires_at",
    ];
    for_all(
        3,
        |g| g.object(KEYS, 2),
        |body| {
            if let Ok(s) = LinkSettings::default().patched(&body) {
                assert!((1..=10_000).contains(&s.rate_limit_per_hour));
            }
        },
    );
}

#[test]
fn tokens_ids_emails_codes_and_times_parse_or_refuse_without_panicking() {
    for_all(4, Gen::string, |s| {
        let _ = PublicToken::parse_presented(&s);
        let _ = PublicToken::parse_owner_chosen(&s);
        if let Some(t) = SessionToken::parse(&s) {
            assert_eq!(t.expose().len(), 52);
        }
        let _ = AssistantId::parse(&s);
        let _ = LinkId::parse(&s);
        let _ = ThreadId::parse(&s);
        let _ = UserId::parse(&s);
        let _ = MemoryKey::parse(&s);
        if let Ok(e) = parse_email(&s) {
            assert!(e.len() <= 254 && e.contains('@'));
        }
        if let Some(c) = parse_code(&s) {
            assert_eq!(c.len(), 6);
        }
        let _ = parse_rfc3339_ms(&s);
    });
}

#[test]
fn the_sse_decoder_survives_any_bytes_in_bounded_memory() {
    for_all(
        5,
        |g| (0..g.below(12)).map(|_| g.bytes(96)).collect::<Vec<_>>(),
        |chunks| {
            let mut dec = SseDecoder::new();
            for chunk in chunks {
                match dec.push(&chunk) {
                    Ok(events) => {
                        assert!(events.iter().all(|e| e.data.len() <= MAX_EVENT_BYTES));
                    }
                    Err(_) => return,
                }
            }
        },
    );
}

#[test]
fn upstream_events_map_or_fail_without_panicking() {
    const KEYS: &[&str] = &[
        "choices",
        "delta",
        "content",
        "finish_reason",
        "usage",
        "prompt_tokens",
        "completion_tokens",
        "error",
        "message",
        "type",
        "index",
        "input_tokens",
        "output_tokens",
        "stop_reason",
        "text",
    ];
    for_all(
        6,
        |g| {
            let data = if g.chance(4) {
                g.string()
            } else {
                g.value(KEYS, 4).to_string()
            };
            let event = g.chance(2).then(|| {
                g.pick(&[
                    "message_start",
                    "content_block_delta",
                    "message_delta",
                    "message_stop",
                    "error",
                    "ping",
                ])
                .to_string()
            });
            SseEvent { event, data }
        },
        |ev: SseEvent| {
            let _ = openai::map_event(&ev);
            let _ = anthropic::map_event(&ev);
        },
    );
}

#[test]
fn generated_inputs_are_varied() {
    // A guard on the generator itself: a broken one would make the tests above vacuous.
    let mut g = Gen::new(7);
    let values: Vec<Value> = (0..1_000).map(|_| g.value(&["a"], 3)).collect();
    let kinds = |f: fn(&Value) -> bool| values.iter().filter(|v| f(v)).count();
    for (what, n) in [
        ("objects", kinds(Value::is_object)),
        ("arrays", kinds(Value::is_array)),
        ("strings", kinds(Value::is_string)),
        ("numbers", kinds(Value::is_number)),
        ("nulls", kinds(Value::is_null)),
    ] {
        assert!(n > 50, "{what}: {n}");
    }
}
