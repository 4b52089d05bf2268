//! The store contract, written once and run against the embedded store and DynamoDB Local.
//!
//! DynamoDB Local is started by `scripts/test.sh` (through `infra/dynamodb-local.sh`),
//! which sets `AWS_ENDPOINT_URL_DYNAMODB`; each test gets its own fresh table created from
//! the template's definition.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;

use agentgate_shared::clock::{Clock, ManualClock};
use agentgate_shared::domain::action::{
    Action, EXECUTION_RETENTION_SECS, Outcome, PROPOSAL_TTL_SECS, Proposer,
};
use agentgate_shared::domain::assistant::{Assistant, AssistantPatch};
use agentgate_shared::domain::ids::{AssistantId, RunId, ThreadId, UserId};
use agentgate_shared::domain::link::{
    CONVERSATIONS_TTL_SECS, EmailCode, LinkId, LinkSettings, MAX_CONVERSATIONS, PublicLink,
    Session, Subject, VisitorKey,
};
use agentgate_shared::domain::memory::{MEMORY_RETENTION_SECS, MemoryKey};
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::ratelimit::Cap;
use agentgate_shared::domain::response::{ResponseId, StoredResponse};
use agentgate_shared::domain::thread::{StoredMessage, ThreadKey};
use agentgate_shared::domain::token::{PublicToken, TokenDigest};
use agentgate_shared::knowledge::Document;
use agentgate_shared::ports::{Admission, Store, StoreError, UsageDelta};
use agentgate_shared::provider::ToolCall;
use agentgate_shared::ratelimit::{self, RateLimitError};
use agentgate_shared::store::{DynamoStore, SqliteStore, dynamo::schema};
use serde_json::json;

/// 2026-11-22T00:00:00Z
const T0_MS: i64 = 1_795_305_600_000;

struct Backend {
    store: Arc<dyn Store>,
    clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

/// The embedded store as the local server opens it: the process's alone, writes grouped.
async fn embedded() -> Backend {
    embedded_opened_by(SqliteStore::open_exclusive)
}

/// The embedded store as functions sharing a data folder open it: one commit per operation.
async fn embedded_shared() -> Backend {
    embedded_opened_by(SqliteStore::open)
}

fn embedded_opened_by(
    open: fn(&std::path::Path, Arc<dyn Clock>) -> Result<SqliteStore, StoreError>,
) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = open(dir.path(), Arc::new(clock.clone())).unwrap();
    Backend {
        store: Arc::new(store),
        clock,
        _dir: Some(dir),
    }
}

async fn dynamodb() -> Backend {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "the DynamoDB contract tests need DynamoDB Local: run scripts/test.sh, or \
         infra/dynamodb-local.sh run -- cargo test"
    );
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("contract-{}", uuid::Uuid::new_v4());
    schema::create_table(&client, &table).await.unwrap();
    let clock = ManualClock::new(T0_MS);
    let store = DynamoStore::new(client, table, Arc::new(clock.clone()));
    Backend {
        store: Arc::new(store),
        clock,
        _dir: None,
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded_store {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name(super::embedded().await).await } )*
        }
        mod embedded_shared_store {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name(super::embedded_shared().await).await } )*
        }
        mod dynamodb_local {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
               async fn $name() { super::$name(super::dynamodb().await).await } )*
        }
    };
}

contract!(
    assistants_are_created_once_and_updated_conditionally,
    assistants_are_listed_per_owner,
    the_token_index_follows_every_change,
    thread_messages_come_back_in_order_and_bounded,
    expired_threads_are_invisible_and_restart_empty,
    counters_stop_at_the_limit_and_expire,
    concurrent_increments_admit_exactly_the_limit,
    a_refusal_leaves_no_count_on_wider_caps,
    released_counts_never_go_below_zero_nor_revive_an_expired_counter,
    the_plan_and_the_caps_count_a_message_together_or_not_at_all,
    sharded_caps_are_exact_under_a_flood,
    usage_adds_up_under_concurrency_and_reads_by_day,
    memories_count_messages_and_save_summaries_conditionally,
    concurrent_counts_on_a_memory_are_all_kept,
    expired_memories_restart_empty,
    links_are_kept_with_their_token_index,
    link_updates_are_conditional_and_deletes_remove_the_token,
    sessions_expire_unless_renewed,
    conversations_are_listed_per_visitor_newest_last_and_bounded,
    concurrent_conversations_are_all_kept,
    codes_count_wrong_tries_and_are_consumed_once,
    racing_confirmations_consume_a_code_exactly_once,
    a_large_turn_is_stored_whole_and_read_back_across_pages,
    a_deleted_thread_is_gone_and_starts_afresh,
    memories_note_the_threads_that_fed_them,
    responses_are_read_back_only_in_their_scope_until_they_expire,
    documents_are_kept_per_assistant_with_their_passages,
    executions_are_settled_once_by_their_visitor_before_expiry,
);

async fn documents_are_kept_per_assistant_with_their_passages(b: Backend) {
    let (a, other) = (AssistantId::mint(), AssistantId::mint());
    // A document of about 110 KB is stored and read back whole, passages included.
    let text = "Refunds take fourteen days. ".repeat(4_000);
    let first = Document::create(
        a.clone(),
        "Returns",
        Some("https://x.example/r"),
        &text,
        T0_MS,
    )
    .unwrap();
    let second = Document::create(
        a.clone(),
        "Shipping",
        None,
        "Parcels leave Lyon daily.",
        T0_MS + 1,
    )
    .unwrap();
    b.store.put_document(&second).await.unwrap();
    b.store.put_document(&first).await.unwrap();
    let docs = b.store.documents(&a).await.unwrap();
    assert_eq!(
        docs,
        vec![first.clone(), second.clone()],
        "oldest first, whole"
    );
    assert!(b.store.documents(&other).await.unwrap().is_empty());
    assert!(!b.store.delete_document(&other, &first.id).await.unwrap());
    assert!(b.store.delete_document(&a, &first.id).await.unwrap());
    assert!(!b.store.delete_document(&a, &first.id).await.unwrap());
    assert_eq!(b.store.documents(&a).await.unwrap(), vec![second]);
}

async fn executions_are_settled_once_by_their_visitor_before_expiry(b: Backend) {
    let now = b.clock.now_secs();
    let proposer = Proposer::new(AssistantId::mint(), "v1".into(), ThreadId::mint(), now);
    let actions = Action::parse_list(
        "actions",
        &json!([{"name": "open_docs", "label": "Open docs", "description": "Opens the docs",
                 "kind": "open_url", "executionMode": "confirm",
                 "parameters": {"type": "object", "properties": {"page": {"type": "string"}}}}]),
    )
    .unwrap();
    let calls = [
        ToolCall {
            id: "1".into(),
            name: "open_docs".into(),
            arguments: r#"{"page":"a"}"#.into(),
        },
        ToolCall {
            id: "2".into(),
            name: "open_docs".into(),
            arguments: r#"{"page":"b"}"#.into(),
        },
    ];
    let (executions, _) = proposer.plan(&actions, &calls);
    b.store.put_executions(&executions).await.unwrap();
    let (first, second) = (&executions[0], &executions[1]);
    assert_eq!(
        b.store.execution(&first.id).await.unwrap().as_ref(),
        Some(first)
    );
    assert_eq!(
        b.store
            .execution("exe_00000000000000000000000000000000")
            .await
            .unwrap(),
        None
    );
    // Another visitor cannot settle it; racing settles by its visitor win once.
    assert!(
        !b.store
            .settle_execution(&first.id, "v2", Outcome::Success, None, now)
            .await
            .unwrap()
    );
    let output = json!({"opened": "a"});
    let racing = (0..8).map(|_| {
        b.store
            .settle_execution(&first.id, "v1", Outcome::Success, Some(&output), now)
    });
    let wins = futures::future::join_all(racing)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
    let settled = b.store.execution(&first.id).await.unwrap().unwrap();
    assert_eq!(settled.outcome, Some(Outcome::Success));
    assert_eq!(settled.output, Some(output));
    // Past its expiry a proposal cannot be settled, but is still readable for a while.
    let later = now + PROPOSAL_TTL_SECS;
    b.clock.advance_secs(PROPOSAL_TTL_SECS);
    assert!(
        !b.store
            .settle_execution(&second.id, "v1", Outcome::Cancelled, None, later)
            .await
            .unwrap()
    );
    assert_eq!(
        b.store
            .execution(&second.id)
            .await
            .unwrap()
            .unwrap()
            .outcome,
        None
    );
    b.clock.advance_secs(EXECUTION_RETENTION_SECS);
    assert_eq!(
        b.store.execution(&second.id).await.unwrap(),
        None,
        "gone after retention"
    );
}

async fn memories_note_the_threads_that_fed_them(b: Backend) {
    let k = MemoryKey::owner(&AssistantId::mint(), &UserId::parse("alice").unwrap());
    let (t1, t2, t3) = (key("one"), key("two"), key("three"));
    b.store.add_pending_from(&k, &t1, 2).await.unwrap();
    b.store.add_pending_from(&k, &t2, 2).await.unwrap();
    let read = b.store.add_pending_from(&k, &t1, 1).await.unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let want = sorted(vec![t1.as_str().to_owned(), t2.as_str().to_owned()]);
    assert_eq!(sorted(read.threads.clone()), want);
    assert_eq!(read.pending, 5);
    // Counted while the summary was being written: stays for the next one.
    b.store.add_pending_from(&k, &t3, 2).await.unwrap();
    b.store.save_summary(&k, &read, "sum").await.unwrap();
    let after = b.store.memory(&k).await.unwrap().unwrap();
    assert_eq!(after.threads, vec![t3.as_str().to_owned()]);
    assert_eq!(after.pending, 2);
}

async fn a_deleted_thread_is_gone_and_starts_afresh(b: Backend) {
    let k = key("erase");
    let other = key("keep");
    for i in 0..3 {
        let turn = [msg(Role::Human, &format!("q{i}"), i), msg(Role::Ai, "a", i)];
        b.store.append_messages(&k, &turn, 3600).await.unwrap();
    }
    b.store
        .append_messages(&other, &[msg(Role::Human, "kept", 0)], 3600)
        .await
        .unwrap();
    b.store.delete_thread(&k).await.unwrap();
    b.store.delete_thread(&k).await.unwrap();
    assert!(b.store.recent_messages(&k, 10).await.unwrap().is_empty());
    assert_eq!(b.store.recent_messages(&other, 10).await.unwrap().len(), 1);
    let new = [msg(Role::Human, "new", 9)];
    b.store.append_messages(&k, &new, 3600).await.unwrap();
    let fresh = b.store.recent_messages(&k, 10).await.unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].message.content, "new");
}

/// More messages than one batch write holds, and more bytes than one 1 MB query page:
/// the turn is stored whole and the history read follows the pages.
async fn a_large_turn_is_stored_whole_and_read_back_across_pages(b: Backend) {
    let k = key("large");
    let big = "y".repeat(20_000);
    let turn: Vec<StoredMessage> = (0..99)
        .map(|i| msg(Role::Human, &format!("{i:02}{big}"), i))
        .chain([msg(Role::Ai, "done", 99)])
        .collect();
    b.store.append_messages(&k, &turn, 3600).await.unwrap();
    let back = b.store.recent_messages(&k, 100).await.unwrap();
    assert_eq!(back.len(), 100, "every message of the turn, across pages");
    assert!(back[0].message.content.starts_with("00"));
    assert_eq!(back[99].message.content, "done");
}

async fn by_token(b: &Backend, token: &str) -> Option<PublicLink> {
    let digest = TokenDigest::of(token);
    b.store.find_link_by_token(&digest).await.unwrap()
}

fn new_link(assistant: &AssistantId, token: &str, now_ms: i64) -> PublicLink {
    PublicLink::new(
        assistant,
        &UserId::parse("alice").unwrap(),
        TokenDigest::of(token),
        LinkSettings::default(),
        now_ms,
    )
}

async fn links_are_kept_with_their_token_index(b: Backend) {
    let (a1, a2) = (AssistantId::mint(), AssistantId::mint());
    let one = new_link(&a1, "tok-one", T0_MS);
    let two = new_link(&a1, "tok-two", T0_MS + 1);
    let other = new_link(&a2, "tok-three", T0_MS);
    for l in [&one, &two, &other] {
        b.store.create_link(l).await.unwrap();
    }
    assert!(matches!(
        b.store.create_link(&one).await,
        Err(StoreError::AlreadyExists)
    ));
    let mut same_token = new_link(&a2, "tok-one", T0_MS);
    same_token.settings.require_email = true;
    assert!(matches!(
        b.store.create_link(&same_token).await,
        Err(StoreError::AlreadyExists)
    ));
    let listed = b.store.list_links(&a1).await.unwrap();
    assert_eq!(listed, vec![one.clone(), two.clone()]);
    assert_eq!(
        b.store.get_link(&a1, &one.id).await.unwrap(),
        Some(one.clone())
    );
    assert_eq!(
        b.store.get_link(&a2, &one.id).await.unwrap(),
        None,
        "scoped to its assistant"
    );
    let found = by_token(&b, "tok-two").await;
    assert_eq!(found, Some(two));
    assert_eq!(by_token(&b, "nope").await, None);
}

async fn link_updates_are_conditional_and_deletes_remove_the_token(b: Backend) {
    let a = AssistantId::mint();
    let link = new_link(&a, "tok", T0_MS);
    b.store.create_link(&link).await.unwrap();
    let mut settings = link.settings.clone();
    settings.enabled = false;
    settings.welcome_message = Some("Hello".into());
    settings.expires_at = Some(T0_MS + 1000);
    let next = link.with_settings(settings, T0_MS + 5);
    b.store.update_link(&link, &next).await.unwrap();
    assert!(matches!(
        b.store.update_link(&link, &next).await,
        Err(StoreError::Conflict)
    ));
    let stored = by_token(&b, "tok").await;
    assert_eq!(stored, Some(next.clone()));
    b.store.delete_link(&next).await.unwrap();
    b.store.delete_link(&next).await.unwrap();
    assert_eq!(by_token(&b, "tok").await, None);
    assert!(b.store.list_links(&a).await.unwrap().is_empty());
    assert!(matches!(
        b.store
            .update_link(
                &next,
                &next.with_settings(LinkSettings::default(), T0_MS + 9)
            )
            .await,
        Err(StoreError::Conflict)
    ));
}

fn new_session(token: &str, subject: Subject, expires_at: i64) -> Session {
    Session {
        digest: TokenDigest::of(token),
        link: LinkId::mint(),
        assistant: AssistantId::mint(),
        subject,
        expires_at,
    }
}

async fn sessions_expire_unless_renewed(b: Backend) {
    let now = T0_MS / 1000;
    let anon = new_session("s1", Subject::Anonymous("abc".into()), now + 100);
    let email = new_session("s2", Subject::Email("carol@example.com".into()), now + 100);
    b.store.create_session(&anon).await.unwrap();
    b.store.create_session(&email).await.unwrap();
    assert!(matches!(
        b.store.create_session(&anon).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        b.store.session(&anon.digest).await.unwrap(),
        Some(anon.clone())
    );
    assert_eq!(
        b.store.session(&email.digest).await.unwrap(),
        Some(email.clone())
    );
    b.store
        .renew_session(&anon.digest, now + 300)
        .await
        .unwrap();
    b.clock.advance_secs(200);
    assert_eq!(
        b.store.session(&email.digest).await.unwrap(),
        None,
        "expired"
    );
    let renewed = b.store.session(&anon.digest).await.unwrap().unwrap();
    assert_eq!(renewed.expires_at, now + 300);
    // An expired session is not brought back by a renewal.
    b.store
        .renew_session(&email.digest, now + 900)
        .await
        .unwrap();
    assert_eq!(b.store.session(&email.digest).await.unwrap(), None);
    assert_eq!(
        b.store.session(&TokenDigest::of("never")).await.unwrap(),
        None
    );
}

async fn conversations_are_listed_per_visitor_newest_last_and_bounded(b: Backend) {
    let link = LinkId::mint();
    let carol = VisitorKey::new(&link, &Subject::Email("carol@example.com".into()));
    let anon = VisitorKey::new(&link, &Subject::Anonymous("x".into()));
    let ids: Vec<ThreadId> = (0..MAX_CONVERSATIONS + 2)
        .map(|_| ThreadId::mint())
        .collect();
    for id in &ids {
        b.store.add_conversation(&carol, id).await.unwrap();
    }
    b.store.add_conversation(&carol, &ids[5]).await.unwrap();
    let kept = b.store.conversations(&carol).await.unwrap();
    assert_eq!(kept, ids[2..].to_vec(), "bounded, no repeats");
    assert!(b.store.conversations(&anon).await.unwrap().is_empty());
    b.clock.advance_secs(CONVERSATIONS_TTL_SECS + 1);
    let expired = b.store.conversations(&carol).await.unwrap();
    assert!(expired.is_empty(), "expired");
    b.store.add_conversation(&carol, &ids[0]).await.unwrap();
    let fresh = b.store.conversations(&carol).await.unwrap();
    assert_eq!(fresh, vec![ids[0].clone()]);
}

async fn concurrent_conversations_are_all_kept(b: Backend) {
    let visitor = VisitorKey::new(&LinkId::mint(), &Subject::Anonymous("tabs".into()));
    let ids: Vec<ThreadId> = (0..4).map(|_| ThreadId::mint()).collect();
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, visitor, id) = (b.store.clone(), visitor.clone(), id.clone());
            tokio::spawn(async move { store.add_conversation(&visitor, &id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut kept = b.store.conversations(&visitor).await.unwrap();
    kept.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut want = ids;
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(kept, want);
}

async fn codes_count_wrong_tries_and_are_consumed_once(b: Backend) {
    let now = T0_MS / 1000;
    let code = EmailCode {
        mac: "m1".into(),
        expires_at: now + 600,
        tries: 0,
    };
    b.store.put_code("k", &code).await.unwrap();
    assert_eq!(b.store.code("k").await.unwrap(), Some(code.clone()));
    assert_eq!(b.store.count_wrong_try("k", "m1").await.unwrap(), Some(1));
    assert_eq!(b.store.count_wrong_try("k", "other").await.unwrap(), None);
    assert!(!b.store.consume_code("k", "other").await.unwrap());
    assert!(b.store.consume_code("k", "m1").await.unwrap());
    assert!(
        !b.store.consume_code("k", "m1").await.unwrap(),
        "single use"
    );
    assert_eq!(b.store.code("k").await.unwrap(), None);

    // Too many wrong tries: even the right code is refused.
    b.store
        .put_code(
            "k",
            &EmailCode {
                mac: "m2".into(),
                ..code.clone()
            },
        )
        .await
        .unwrap();
    for want in 1..=5 {
        assert_eq!(
            b.store.count_wrong_try("k", "m2").await.unwrap(),
            Some(want)
        );
    }
    assert!(!b.store.consume_code("k", "m2").await.unwrap());
    // A resend replaces the code and its tries.
    b.store
        .put_code(
            "k",
            &EmailCode {
                mac: "m3".into(),
                ..code.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.store.code("k").await.unwrap().unwrap().tries, 0);
    // An expired code is gone.
    b.clock.advance_secs(601);
    assert_eq!(b.store.code("k").await.unwrap(), None);
    assert!(!b.store.consume_code("k", "m3").await.unwrap());
    assert_eq!(b.store.count_wrong_try("k", "m3").await.unwrap(), None);
}

async fn racing_confirmations_consume_a_code_exactly_once(b: Backend) {
    let code = EmailCode {
        mac: "race".into(),
        expires_at: T0_MS / 1000 + 600,
        tries: 0,
    };
    b.store.put_code("r", &code).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = b.store.clone();
            tokio::spawn(async move { store.consume_code("r", "race").await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

fn new_assistant(owner: &str, token: Option<&str>, now: i64) -> Assistant {
    let mut conf = json!({"type==agent/system_message": "hi"});
    if let Some(t) = token {
        conf["type==agent/access_mode"] = json!("public_token");
        conf["type==agent/public_token"] = json!(t);
    }
    let patch = AssistantPatch {
        name: Some("bot".into()),
        configurable: conf.as_object().cloned().unwrap(),
    };
    Assistant::create(UserId::parse(owner).unwrap(), &patch, now).unwrap()
}

fn rename(a: &Assistant, name: &str, now: i64) -> Assistant {
    a.patched(
        &AssistantPatch {
            name: Some(name.into()),
            configurable: Default::default(),
        },
        now,
    )
    .unwrap()
}

async fn assistants_are_created_once_and_updated_conditionally(b: Backend) {
    let now = b.clock.now_ms();
    let a = new_assistant("alice", None, now);
    b.store.create_assistant(&a).await.unwrap();
    assert!(matches!(
        b.store.create_assistant(&a).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(b.store.get_assistant(&a.id).await.unwrap().unwrap(), a);

    let v2 = rename(&a, "two", now + 1);
    b.store.update_assistant(&a, &v2).await.unwrap();
    // A writer that read version 1 loses, and changes nothing.
    let stale = rename(&a, "stale", now + 2);
    assert!(matches!(
        b.store.update_assistant(&a, &stale).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        b.store.get_assistant(&a.id).await.unwrap().unwrap().name,
        "two"
    );
    assert!(
        b.store
            .get_assistant(&agentgate_shared::domain::ids::AssistantId::mint())
            .await
            .unwrap()
            .is_none()
    );
}

async fn assistants_are_listed_per_owner(b: Backend) {
    let mut mine = Vec::new();
    for i in 0..3 {
        let a = new_assistant("alice", None, b.clock.now_ms() + i);
        b.store.create_assistant(&a).await.unwrap();
        mine.push(a);
    }
    b.store
        .create_assistant(&new_assistant("bob", None, b.clock.now_ms()))
        .await
        .unwrap();
    let listed = b
        .store
        .list_assistants(&UserId::parse("alice").unwrap())
        .await
        .unwrap();
    assert_eq!(listed, mine, "the owner's assistants, oldest first");
    assert!(
        b.store
            .list_assistants(&UserId::parse("carol").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_token_index_follows_every_change(b: Backend) {
    let now = b.clock.now_ms();
    let t1 = PublicToken::parse_presented("pubkey_first_token_01").unwrap();
    let a = new_assistant("alice", Some(t1.expose()), now);
    b.store.create_assistant(&a).await.unwrap();
    assert_eq!(
        b.store.find_assistant_by_token(&t1.digest()).await.unwrap(),
        Some(a.id.clone())
    );

    // Another assistant cannot take the same token, and its create leaves nothing behind.
    let thief = new_assistant("mallory", Some(t1.expose()), now);
    assert!(matches!(
        b.store.create_assistant(&thief).await,
        Err(StoreError::TokenTaken)
    ));
    assert!(b.store.get_assistant(&thief.id).await.unwrap().is_none());

    // Rotation with overlap: both tokens find the assistant until the overlap ends.
    let (rotated, t2) = a.rotated(60, now + 1).unwrap();
    b.store.update_assistant(&a, &rotated).await.unwrap();
    assert_eq!(
        b.store.find_assistant_by_token(&t2.digest()).await.unwrap(),
        Some(a.id.clone())
    );
    assert_eq!(
        b.store.find_assistant_by_token(&t1.digest()).await.unwrap(),
        Some(a.id.clone())
    );
    b.clock.advance_secs(61);
    assert_eq!(
        b.store.find_assistant_by_token(&t1.digest()).await.unwrap(),
        None,
        "expired overlap"
    );
    // Once released, the old token stays its owner's: another owner can never take it
    // (integrations may still send it), its owner may use it again.
    let thief = new_assistant("bob", Some(t1.expose()), b.clock.now_ms());
    assert!(matches!(
        b.store.create_assistant(&thief).await,
        Err(StoreError::TokenTaken)
    ));
    assert_eq!(
        b.store.find_assistant_by_token(&t1.digest()).await.unwrap(),
        None
    );
    let reuse = new_assistant("alice", Some(t1.expose()), b.clock.now_ms());
    b.store.create_assistant(&reuse).await.unwrap();
    assert_eq!(
        b.store.find_assistant_by_token(&t1.digest()).await.unwrap(),
        Some(reuse.id.clone())
    );

    // Removing the token releases it: it opens nothing any more.
    let cleared = rotated
        .patched(
            &AssistantPatch {
                name: None,
                configurable: json!({"type==agent/access_mode": "public_no_auth", "type==agent/public_token": null})
                    .as_object()
                    .cloned()
                    .unwrap(),
            },
            b.clock.now_ms(),
        )
        .unwrap();
    b.store.update_assistant(&rotated, &cleared).await.unwrap();
    assert_eq!(
        b.store.find_assistant_by_token(&t2.digest()).await.unwrap(),
        None
    );
    let taker = new_assistant("carol", Some(t2.expose()), b.clock.now_ms());
    assert!(matches!(
        b.store.create_assistant(&taker).await,
        Err(StoreError::TokenTaken)
    ));
}

fn msg(role: Role, text: &str, at: i64) -> StoredMessage {
    StoredMessage {
        message: Message::new(role, text),
        run_id: RunId::mint(),
        created_at: at,
    }
}

fn key(name: &str) -> ThreadKey {
    ThreadKey::public(
        &agentgate_shared::domain::ids::AssistantId::mint(),
        &ThreadId::parse(name).unwrap(),
    )
}

async fn thread_messages_come_back_in_order_and_bounded(b: Backend) {
    let k = key("t");
    let other = key("t");
    for turn in 0..30 {
        let batch = [
            msg(Role::Human, &format!("q{turn}"), turn),
            msg(Role::Ai, &format!("a{turn}"), turn),
        ];
        b.store.append_messages(&k, &batch, 3600).await.unwrap();
    }
    b.store
        .append_messages(&other, &[msg(Role::Human, "elsewhere", 0)], 3600)
        .await
        .unwrap();
    let all = b.store.recent_messages(&k, 100).await.unwrap();
    assert_eq!(all.len(), 60);
    assert_eq!(all[0].message.content, "q0");
    assert_eq!(all[59].message.content, "a29");
    let recent = b.store.recent_messages(&k, 5).await.unwrap();
    let texts: Vec<_> = recent.iter().map(|m| m.message.content.as_str()).collect();
    assert_eq!(texts, ["a27", "q28", "a28", "q29", "a29"]);
    assert_eq!(b.store.recent_messages(&other, 10).await.unwrap().len(), 1);
    assert!(
        b.store
            .recent_messages(&key("nobody"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A long message stays far below any item limit and comes back whole.
    let long = "x".repeat(32_000);
    b.store
        .append_messages(&k, &[msg(Role::Human, &long, 0)], 3600)
        .await
        .unwrap();
    assert_eq!(
        b.store.recent_messages(&k, 1).await.unwrap()[0]
            .message
            .content,
        long
    );
}

async fn expired_threads_are_invisible_and_restart_empty(b: Backend) {
    // Retention is a rolling window: each message lives for the idle TTL after it was
    // written, and the thread lives as long as its newest message.
    let k = key("idle");
    b.store
        .append_messages(
            &k,
            &[msg(Role::Human, "old", 0), msg(Role::Ai, "old reply", 0)],
            100,
        )
        .await
        .unwrap();
    b.clock.advance_secs(50);
    b.store
        .append_messages(&k, &[msg(Role::Human, "still alive", 0)], 100)
        .await
        .unwrap();
    b.clock.advance_secs(40);
    assert_eq!(b.store.recent_messages(&k, 10).await.unwrap().len(), 3);
    b.clock.advance_secs(50);
    let texts: Vec<_> = b
        .store
        .recent_messages(&k, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message.content)
        .collect();
    assert_eq!(
        texts,
        ["still alive"],
        "messages past their TTL are invisible in a live thread"
    );
    b.clock.advance_secs(11);
    assert!(
        b.store.recent_messages(&k, 10).await.unwrap().is_empty(),
        "expired but not deleted: invisible"
    );
    b.store
        .append_messages(&k, &[msg(Role::Human, "fresh start", 0)], 100)
        .await
        .unwrap();
    let now = b.store.recent_messages(&k, 10).await.unwrap();
    let texts: Vec<_> = now.iter().map(|m| m.message.content.as_str()).collect();
    assert_eq!(texts, ["fresh start"], "old messages never reappear");
}

async fn counters_stop_at_the_limit_and_expire(b: Backend) {
    let exp = b.clock.now_secs() + 60;
    for i in 1..=3 {
        assert_eq!(
            b.store.increment_below("c", 3, exp).await.unwrap(),
            Admission::Admitted(i)
        );
    }
    assert_eq!(
        b.store.increment_below("c", 3, exp).await.unwrap(),
        Admission::Rejected
    );
    assert_eq!(
        b.store.counter_value("c").await.unwrap(),
        3,
        "a refusal counts nothing"
    );
    assert_eq!(b.store.counter_value("absent").await.unwrap(), 0);
    b.clock.advance_secs(61);
    assert_eq!(
        b.store.counter_value("c").await.unwrap(),
        0,
        "expired counters read as zero"
    );
    let exp2 = b.clock.now_secs() + 60;
    assert_eq!(
        b.store.increment_below("c", 3, exp2).await.unwrap(),
        Admission::Admitted(1)
    );
    assert_eq!(
        b.store.increment_below("zero", 0, exp2).await.unwrap(),
        Admission::Rejected
    );
}

async fn concurrent_increments_admit_exactly_the_limit(b: Backend) {
    for limit in [30u64, 60] {
        for round in 0..3 {
            let name = format!("flood-{limit}-{round}");
            let exp = b.clock.now_secs() + 3600;
            let tasks: Vec<_> = (0..2 * limit)
                .map(|_| {
                    let store = b.store.clone();
                    let name = name.clone();
                    tokio::spawn(async move { store.increment_below(&name, limit, exp).await })
                })
                .collect();
            let mut admitted = 0;
            for t in tasks {
                if let Admission::Admitted(_) = t.await.unwrap().unwrap() {
                    admitted += 1;
                }
            }
            assert_eq!(admitted, limit, "limit {limit}, round {round}");
            assert_eq!(b.store.counter_value(&name).await.unwrap(), limit);
        }
    }
}

async fn a_refusal_leaves_no_count_on_wider_caps(b: Backend) {
    let now = b.clock.now_secs();
    let caps = [
        Cap::new("visitor:v1", 2, 3600),
        Cap::new("ip:1.2.3.4", 3, 3600),
        Cap::new("bot:b", 100, 86_400),
    ];
    for _ in 0..2 {
        ratelimit::admit(b.store.as_ref(), &caps, now)
            .await
            .unwrap();
    }
    let refused = ratelimit::admit(b.store.as_ref(), &caps, now).await;
    let Err(RateLimitError::Limited(l)) = refused else {
        panic!("expected a refusal")
    };
    assert_eq!(l.scope, "visitor:v1");
    assert!(l.retry_after_secs > 0 && l.retry_after_secs <= 3600);
    let count = |cap: &Cap| {
        let key = cap.shard_counters(now)[0].0.clone();
        let store = b.store.clone();
        async move { store.counter_value(&key).await.unwrap() }
    };
    assert_eq!(
        (
            count(&caps[0]).await,
            count(&caps[1]).await,
            count(&caps[2]).await
        ),
        (2, 2, 2)
    );
    // A second visitor on the same IP: refused by the IP cap, leaving no count anywhere
    // (the count its own visitor cap took is given back).
    let caps2 = [
        Cap::new("visitor:v2", 2, 3600),
        caps[1].clone(),
        caps[2].clone(),
    ];
    ratelimit::admit(b.store.as_ref(), &caps2, now)
        .await
        .unwrap();
    let Err(RateLimitError::Limited(l)) = ratelimit::admit(b.store.as_ref(), &caps2, now).await
    else {
        panic!("expected the IP cap to refuse")
    };
    assert_eq!(l.scope, "ip:1.2.3.4");
    assert_eq!(
        (
            count(&caps2[0]).await,
            count(&caps[1]).await,
            count(&caps[2]).await
        ),
        (1, 3, 3)
    );
}

async fn released_counts_never_go_below_zero_nor_revive_an_expired_counter(b: Backend) {
    let now = b.clock.now_secs();
    let key = "release:k";
    b.store.increment_below(key, 5, now + 60).await.unwrap();
    b.store.increment_below(key, 5, now + 60).await.unwrap();
    b.store.release(key).await.unwrap();
    assert_eq!(b.store.counter_value(key).await.unwrap(), 1);
    b.store.release(key).await.unwrap();
    b.store.release(key).await.unwrap();
    assert_eq!(b.store.counter_value(key).await.unwrap(), 0);
    // Absent and expired counters are left alone.
    b.store.release("release:absent").await.unwrap();
    assert_eq!(b.store.counter_value("release:absent").await.unwrap(), 0);
    b.store.increment_below(key, 5, now + 60).await.unwrap();
    b.clock.advance_secs(61);
    b.store.release(key).await.unwrap();
    assert_eq!(b.store.counter_value(key).await.unwrap(), 0);
    let fresh = b.clock.now_secs();
    assert_eq!(
        b.store.increment_below(key, 5, fresh + 60).await.unwrap(),
        Admission::Admitted(1)
    );
}

async fn the_plan_and_the_caps_count_a_message_together_or_not_at_all(b: Backend) {
    let now = b.clock.now_secs();
    let owner = UserId::parse("plan-owner").unwrap();
    let settings = agentgate_shared::config::Settings {
        owner_monthly_messages: 2,
        ..Default::default()
    };
    let wide = Cap::new("bot:plan", 100, 86_400);
    let visitor = |v: &str| Cap::new(format!("visitor:{v}"), 1, 3600);
    let count = |cap: &Cap| {
        let key = cap.shard_counters(now)[0].0.clone();
        let store = b.store.clone();
        async move { store.counter_value(&key).await.unwrap() }
    };
    let admit = |caps: Vec<Cap>| {
        let (store, settings, owner) = (b.store.clone(), settings.clone(), owner.clone());
        async move { ratelimit::admit_within_plan(store.as_ref(), &settings, &caps, &owner, now).await }
    };
    assert_eq!(
        admit(vec![visitor("a"), wide.clone()]).await.unwrap(),
        ratelimit::Plan::Within
    );
    // The visitor's cap refuses: the plan does not count the message.
    assert!(matches!(
        admit(vec![visitor("a"), wide.clone()]).await,
        Err(RateLimitError::Limited(_))
    ));
    assert_eq!(
        ratelimit::plan_used(b.store.as_ref(), &owner, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(count(&wide).await, 1);
    assert_eq!(
        admit(vec![visitor("b"), wide.clone()]).await.unwrap(),
        ratelimit::Plan::Within
    );
    // The ceiling is reached: no cap keeps a count for the refused message.
    assert_eq!(
        admit(vec![visitor("c"), wide.clone()]).await.unwrap(),
        ratelimit::Plan::Reached
    );
    assert_eq!(count(&visitor("c")).await, 0);
    assert_eq!(count(&wide).await, 2);
    assert_eq!(
        ratelimit::plan_used(b.store.as_ref(), &owner, now)
            .await
            .unwrap(),
        2
    );
}

async fn sharded_caps_are_exact_under_a_flood(b: Backend) {
    let now = b.clock.now_secs();
    let cap = Cap::new("bot:flood", 45, 86_400).sharded(4);
    let tasks: Vec<_> = (0..90)
        .map(|_| {
            let store = b.store.clone();
            let cap = cap.clone();
            tokio::spawn(async move { ratelimit::admit(store.as_ref(), &[cap], now).await.is_ok() })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, 45);
    let mut total = 0;
    for (key, limit) in cap.shard_counters(now) {
        let v = b.store.counter_value(&key).await.unwrap();
        assert_eq!(v, limit, "every shard filled to its share");
        total += v;
    }
    assert_eq!(total, 45);
}

async fn usage_adds_up_under_concurrency_and_reads_by_day(b: Backend) {
    let a = agentgate_shared::domain::ids::AssistantId::mint();
    let today = b.clock.now_secs().div_euclid(86_400);
    let one = UsageDelta {
        requests: 1,
        messages: 2,
        input_tokens: 10,
        output_tokens: 20,
        latency_ms: 300,
    };
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = b.store.clone();
            let a = a.clone();
            tokio::spawn(async move { store.record_usage(&a, today, &one).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    b.store.record_usage(&a, today - 3, &one).await.unwrap();
    b.store.record_usage(&a, today - 40, &one).await.unwrap();
    let rows = b.store.usage(&a, today - 6, today).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.day).collect::<Vec<_>>(),
        [today - 3, today]
    );
    assert_eq!(
        rows[1].totals,
        UsageDelta {
            requests: 40,
            messages: 80,
            input_tokens: 400,
            output_tokens: 800,
            latency_ms: 12_000
        }
    );
    let other = agentgate_shared::domain::ids::AssistantId::mint();
    assert!(
        b.store
            .usage(&other, today - 6, today)
            .await
            .unwrap()
            .is_empty()
    );
}

fn memory_key(user: &str) -> MemoryKey {
    MemoryKey::owner(
        &AssistantId::parse("3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47").unwrap(),
        &UserId::parse(user).unwrap(),
    )
}

async fn memories_count_messages_and_save_summaries_conditionally(b: Backend) {
    let k = memory_key("alice");
    assert_eq!(b.store.memory(&k).await.unwrap(), None);
    let first = b.store.add_pending(&k, 2).await.unwrap();
    assert_eq!((first.pending, first.summary.as_str()), (2, ""));
    let read = b.store.add_pending(&k, 3).await.unwrap();
    assert_eq!(read.pending, 5);
    assert_eq!(read.version, first.version, "counting is not a new version");
    assert!(read.due());

    // Two messages arrive while the summary is being written: they stay pending.
    b.store.add_pending(&k, 2).await.unwrap();
    b.store
        .save_summary(&k, &read, "Alice is vegetarian.")
        .await
        .unwrap();
    let saved = b.store.memory(&k).await.unwrap().unwrap();
    assert_eq!(saved.summary, "Alice is vegetarian.");
    assert_eq!(saved.pending, 2);
    assert_ne!(saved.version, read.version);
    assert!(saved.updated_at > 0);

    // A second summariser that read the same version loses and changes nothing.
    assert!(matches!(
        b.store.save_summary(&k, &read, "stale").await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        b.store.memory(&k).await.unwrap().unwrap().summary,
        "Alice is vegetarian."
    );
    // Other users' memories are separate; forgetting removes only the one.
    let other = memory_key("bob");
    b.store.add_pending(&other, 1).await.unwrap();
    b.store.forget(&k).await.unwrap();
    assert_eq!(b.store.memory(&k).await.unwrap(), None);
    assert_eq!(b.store.memory(&other).await.unwrap().unwrap().pending, 1);
    b.store.forget(&k).await.unwrap();
}

async fn concurrent_counts_on_a_memory_are_all_kept(b: Backend) {
    let k = memory_key("carol");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, k) = (b.store.clone(), k.clone());
            tokio::spawn(async move { store.add_pending(&k, 2).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().pending);
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(b.store.memory(&k).await.unwrap().unwrap().pending, 40);
}

async fn expired_memories_restart_empty(b: Backend) {
    let k = memory_key("dave");
    let read = b.store.add_pending(&k, 5).await.unwrap();
    b.store
        .save_summary(&k, &read, "Dave likes chess.")
        .await
        .unwrap();
    b.clock.advance_secs(MEMORY_RETENTION_SECS - 10);
    assert!(
        b.store.memory(&k).await.unwrap().is_some(),
        "still within retention"
    );
    b.clock.advance_secs(20);
    assert_eq!(
        b.store.memory(&k).await.unwrap(),
        None,
        "expired: invisible"
    );
    let fresh = b.store.add_pending(&k, 1).await.unwrap();
    assert_eq!((fresh.pending, fresh.summary.as_str()), (1, ""));
    // A summary read before the expiry cannot land on the restarted memory.
    assert!(matches!(
        b.store.save_summary(&k, &read, "stale").await,
        Err(StoreError::Conflict)
    ));
}

async fn responses_are_read_back_only_in_their_scope_until_they_expire(b: Backend) {
    let a = AssistantId::mint();
    let alice = ThreadKey::openai(&a, "alice");
    let now = T0_MS / 1000;
    let r = StoredResponse {
        id: ResponseId::mint(),
        scope: alice.as_str().to_owned(),
        context: vec![
            Message::new(Role::Human, "Hi \u{1F600}"),
            Message::new(Role::Ai, "Hello"),
        ],
        body: json!({"id": "x", "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hello"}]}]}),
        expires_at: now + 100,
    };
    b.store.put_response(&r).await.unwrap();
    assert_eq!(
        b.store.response(&alice, &r.id).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        b.store
            .response(&alice, &r.id)
            .await
            .unwrap()
            .unwrap()
            .reply_text(),
        "Hello"
    );
    // Another end user, the anonymous transcript or another assistant find nothing.
    for other in [
        ThreadKey::openai(&a, "bob"),
        ThreadKey::openai_anonymous(&a),
        ThreadKey::openai(&AssistantId::mint(), "alice"),
    ] {
        assert_eq!(b.store.response(&other, &r.id).await.unwrap(), None);
    }
    assert_eq!(
        b.store.response(&alice, &ResponseId::mint()).await.unwrap(),
        None
    );
    b.clock.advance_secs(100);
    assert_eq!(
        b.store.response(&alice, &r.id).await.unwrap(),
        None,
        "expired"
    );
}
