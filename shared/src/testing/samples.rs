//! The sample events in `events/` and the data they refer to: the sample assistant, its
//! owner, an end user's memory, and one replay helper that turns every event of a function
//! into the request Lambda would deliver.

use axum::body::Body;
use serde_json::json;

use super::jwt;
use crate::domain::ids::UserId;
use crate::state::AppState;

/// The assistant id the sample events in `events/` name.
pub const SAMPLE_ASSISTANT_ID: &str = "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47";
/// The public token the sample events present.
pub const SAMPLE_TOKEN: &str = "pubkey_mybot_abc123";
/// The owner of the sample assistant, whose JWT replaces `{{USER_JWT}}`.
pub const SAMPLE_OWNER: &str = "alice";

/// Stores the assistant the sample events refer to (public_token, echo model, memory on).
pub async fn seed_sample_assistant(state: &AppState) {
    use crate::domain::assistant::{Assistant, AssistantPatch};
    let patch = AssistantPatch {
        name: Some("sample".into()),
        configurable: json!({
            "type==agent/access_mode": "public_token",
            "type==agent/public_token": SAMPLE_TOKEN,
            "type==agent/memory": true,
            "type==agent/memory_end_users": true,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    };
    let owner = UserId::parse(SAMPLE_OWNER).expect("owner");
    let mut a = Assistant::create(owner, &patch, state.clock.now_ms()).expect("sample assistant");
    a.id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    state
        .store
        .create_assistant(&a)
        .await
        .expect("store sample assistant");
}

/// The end user the OpenAI sample events name.
pub const SAMPLE_END_USER: &str = "typebot-session-42";

/// Gives the sample assistant a saved memory of [`SAMPLE_END_USER`], as the memory routes
/// of the owner API read and erase it.
pub async fn seed_sample_memory(state: &AppState) {
    let id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let key = crate::domain::memory::MemoryKey::end_user(&id, SAMPLE_END_USER);
    let read = state.store.add_pending(&key, 5).await.expect("count");
    state
        .store
        .save_summary(
            &key,
            &read,
            "Uses Typebot to book demos; prefers short answers.",
        )
        .await
        .expect("save the sample memory");
}

/// Stores what the sample events of `function` refer to: the sample assistant (once), the
/// end user's memory the owner API reads, and for the widget the assistant opened to
/// everyone.
pub async fn prepare_samples(state: &AppState, function: &str) {
    let id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let stored = state.store.get_assistant(&id).await.expect("read sample");
    if stored.is_none() {
        seed_sample_assistant(state).await;
    }
    match function {
        "assistants" => seed_sample_memory(state).await,
        "widget" => open_sample_assistant(state).await,
        "links" => seed_sample_link(state).await,
        _ => {}
    }
}

/// The token of the sample assistant's public link the `links` events open.
pub const SAMPLE_LINK_TOKEN: &str = "link_sample_token_0123456789";
/// The session of that link the `links` events present.
pub const SAMPLE_SESSION_TOKEN: &str = "ags_0123456789abcdef0123456789abcdef0123456789abcdef";

/// Stores the sample link (no email required) and a live anonymous session of it.
pub async fn seed_sample_link(state: &AppState) {
    use crate::domain::ids::AssistantId;
    use crate::domain::link::{LinkSettings, PublicLink, SESSION_IDLE_SECS, Session, Subject};
    use crate::domain::token::TokenDigest;
    let id = AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let owner = UserId::parse(SAMPLE_OWNER).expect("owner");
    let settings = LinkSettings {
        welcome_message: Some("Hi! I answer questions about our shop.".into()),
        ..LinkSettings::default()
    };
    let digest = TokenDigest::of(SAMPLE_LINK_TOKEN);
    let link = PublicLink::new(&id, &owner, digest, settings, state.clock.now_ms());
    state
        .store
        .create_link(&link)
        .await
        .expect("store sample link");
    let session = Session {
        digest: TokenDigest::of(SAMPLE_SESSION_TOKEN),
        link: link.id,
        assistant: id,
        subject: Subject::Anonymous("sample-visitor".into()),
        expires_at: state.clock.now_secs() + SESSION_IDLE_SECS,
    };
    state
        .store
        .create_session(&session)
        .await
        .expect("store sample session");
}

/// Opens the sample assistant to everyone (`public_no_auth`), as the widget events need.
pub async fn open_sample_assistant(state: &AppState) {
    use crate::domain::assistant::AssistantPatch;
    let id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let current = state
        .store
        .get_assistant(&id)
        .await
        .expect("read sample assistant")
        .expect("sample assistant stored");
    let patch = AssistantPatch {
        name: None,
        configurable: json!({"type==agent/access_mode": "public_no_auth"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let open = current
        .patched(&patch, state.clock.now_ms())
        .expect("valid patch");
    state
        .store
        .update_assistant(&current, &open)
        .await
        .expect("store the patch");
}

/// The owner thread whose new messages `events/memory/owner-turn.json` carries.
pub fn sample_memory_thread() -> crate::domain::thread::ThreadKey {
    use crate::domain::ids::{AssistantId, ThreadId};
    use crate::domain::memory::MemoryKey;
    let id = AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let owner = UserId::parse(SAMPLE_OWNER).expect("owner");
    crate::domain::thread::ThreadKey::owner(
        &id,
        &owner,
        &ThreadId::parse("owner-session").expect("thread id"),
    )
    .with_memory(Some(MemoryKey::owner(&id, &owner)))
}

/// What the store holds when the stream delivers `events/memory/owner-turn.json`: the
/// thread's earlier turn and the turn in the event, with three earlier messages of the
/// user already counted, so the event's two messages make a summary due.
pub async fn seed_sample_conversation(state: &AppState) -> crate::domain::thread::ThreadKey {
    use crate::domain::ids::RunId;
    use crate::domain::message::{Message, Role};
    use crate::domain::thread::StoredMessage;
    let thread = sample_memory_thread();
    let messages: Vec<StoredMessage> = [
        (Role::Human, "Hi"),
        (Role::Ai, "Hello! How can I help?"),
        (
            Role::Human,
            "I'm planning a trip to Lisbon in May and I don't eat meat.",
        ),
        (
            Role::Ai,
            "Lisbon in May is lovely. I'll keep vegetarian places in mind for you.",
        ),
    ]
    .into_iter()
    .map(|(role, text)| StoredMessage {
        message: Message::new(role, text),
        run_id: RunId::mint(),
        created_at: state.clock.now_ms(),
    })
    .collect();
    state
        .store
        .append_messages(&thread, &messages, 3600)
        .await
        .expect("store the sample conversation");
    if let Some(key) = thread.memory() {
        state
            .store
            .add_pending(key, 3)
            .await
            .expect("count earlier messages");
    }
    thread
}

/// Every sample event file of one function, as `(file name, JSON)`, with `{{USER_JWT}}`
/// replaced by `jwt`.
pub fn sample_event_files(function: &str, jwt: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(function);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let raw = std::fs::read_to_string(&path).expect("read event");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, raw.replace("{{USER_JWT}}", jwt))
        })
        .collect()
}

/// Every sample event of one function, as `(file name, request)`, parsed the way the
/// Lambda runtime parses them (`lambda_http::request::from_str`).
pub fn sample_events(state: &AppState, function: &str) -> Vec<(String, http::Request<Body>)> {
    sample_event_files(function, &jwt(state, SAMPLE_OWNER))
        .into_iter()
        .map(|(name, raw)| {
            let req = lambda_http::request::from_str(&raw)
                .unwrap_or_else(|e| panic!("{name} is not a valid Lambda event: {e}"));
            let (parts, body) = req.into_parts();
            (
                name,
                http::Request::from_parts(parts, Body::from(body.to_vec())),
            )
        })
        .collect()
}
