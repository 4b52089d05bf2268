//! Every mapping between domain values and DynamoDB items: the only place that knows
//! attribute names, key prefixes and `AttributeValue`.
//!
//! One table holds every entity (see `infra/TABLE.md`):
//!
//! | entity        | pk               | sk                         | extra                     |
//! |---------------|------------------|----------------------------|---------------------------|
//! | assistant     | `A#<id>`         | `A`                        | gsi1 = owner, created     |
//! | token index   | `T#<sha256 hex>` | `T`                        | `assistant_id`, `ttl`     |
//! | thread meta   | `TH#<thread key>`| `META`                     | `generation`, `next_seq`  |
//! | message       | `TH#<thread key>`| `M#<generation>#<seq>`     | `role`, `content`, `ttl`  |
//! | counter       | `C#<key>`        | `C`                        | `count`, `ttl`            |
//! | daily usage   | `U#<assistant>`  | `D#<days since epoch>`     | sums, `ttl`               |
//! | memory        | `MEM#<memory key>`| `MEM`                     | `summary`, `pending`, `ttl`|

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::assistant::{Assistant, TokenRecord};
use crate::domain::ids::{AssistantId, RunId, UserId};
use crate::domain::memory::{Memory, MemoryKey};
use crate::domain::message::{Message, Role};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::domain::token::TokenDigest;
use crate::ports::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// The TTL attribute (epoch seconds) DynamoDB's TTL process watches.
pub const TTL: &str = "ttl";

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub fn assistant_key(id: &AssistantId) -> Item {
    key(format!("A#{id}"), "A")
}

pub fn token_key(digest: &TokenDigest) -> Item {
    key(format!("T#{}", digest.to_hex()), "T")
}

pub fn thread_pk(k: &ThreadKey) -> String {
    format!("TH#{}", k.as_str())
}

pub fn thread_meta_key(k: &ThreadKey) -> Item {
    key(thread_pk(k), "META")
}

/// Sort-key prefix of one generation's messages; zero-padded so lexical order is numeric.
pub fn message_prefix(generation: i64) -> String {
    format!("M#{generation:015}#")
}

pub fn counter_key(name: &str) -> Item {
    key(format!("C#{name}"), "C")
}

pub fn usage_pk(assistant: &AssistantId) -> String {
    format!("U#{assistant}")
}

pub fn usage_sk(day: i64) -> String {
    format!("D#{day:08}")
}

pub fn memory_key(key: &MemoryKey) -> Item {
    self::key(format!("MEM#{key}"), "MEM")
}

/// The attribute of a message item naming the memory it feeds (absent when none).
pub const MESSAGE_MEMORY: &str = "mem";

pub fn owner_gsi_pk(owner: &UserId) -> String {
    format!("O#{owner}")
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("missing or malformed attribute {what}"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(name))
}

pub fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(name))
}

pub fn opt_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Whether an item with a `ttl` is still alive at `now` (items without one never expire).
pub fn live(item: &Item, now_secs: i64) -> bool {
    opt_n(item, TTL).is_none_or(|t| t > now_secs)
}

fn token_attrs(item: &mut Item, prefix: &str, t: &TokenRecord) {
    item.insert(format!("{prefix}_digest"), s(t.digest.to_hex()));
    item.insert(format!("{prefix}_hint"), s(t.hint.clone()));
    if let Some(e) = t.expires_at {
        item.insert(format!("{prefix}_expires_at"), n(e));
    }
}

fn token_from(item: &Item, prefix: &str) -> Result<Option<TokenRecord>, StoreError> {
    let Some(digest) = item
        .get(&format!("{prefix}_digest"))
        .and_then(|v| v.as_s().ok())
    else {
        return Ok(None);
    };
    Ok(Some(TokenRecord {
        digest: TokenDigest::try_from(digest.clone()).map_err(|_| corrupt("token digest"))?,
        hint: get_s(item, &format!("{prefix}_hint"))?.to_owned(),
        expires_at: opt_n(item, &format!("{prefix}_expires_at")),
    }))
}

impl From<&Assistant> for Item {
    fn from(a: &Assistant) -> Self {
        let mut item = assistant_key(&a.id);
        item.insert("id".into(), s(a.id.as_str()));
        item.insert("owner".into(), s(a.owner.as_str()));
        item.insert("name".into(), s(a.name.clone()));
        // Free-form owner configuration stays one JSON document: its keys are the owner's.
        item.insert(
            "configurable".into(),
            s(serde_json::Value::Object(a.configurable.clone()).to_string()),
        );
        if let Some(t) = &a.token {
            token_attrs(&mut item, "token", t);
        }
        if let Some(t) = &a.previous_token {
            token_attrs(&mut item, "prev_token", t);
        }
        item.insert("created_at".into(), n(a.created_at));
        item.insert("updated_at".into(), n(a.updated_at));
        item.insert("version".into(), n(a.version));
        item.insert(GSI1_PK.into(), s(owner_gsi_pk(&a.owner)));
        item.insert(
            GSI1_SK.into(),
            s(format!("A#{:015}#{}", a.created_at, a.id)),
        );
        item
    }
}

impl TryFrom<&Item> for Assistant {
    type Error = StoreError;
    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let configurable = match serde_json::from_str(get_s(item, "configurable")?) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(corrupt("configurable")),
        };
        Ok(Self {
            id: AssistantId::parse(get_s(item, "id")?).map_err(|_| corrupt("id"))?,
            owner: UserId::parse(get_s(item, "owner")?).map_err(|_| corrupt("owner"))?,
            name: get_s(item, "name")?.to_owned(),
            configurable,
            token: token_from(item, "token")?,
            previous_token: token_from(item, "prev_token")?,
            created_at: get_n(item, "created_at")?,
            updated_at: get_n(item, "updated_at")?,
            version: u64::try_from(get_n(item, "version")?).map_err(|_| corrupt("version"))?,
        })
    }
}

/// The index item that lets a token find its assistant.
pub fn token_item(digest: &TokenDigest, id: &AssistantId, expires_at: Option<i64>) -> Item {
    let mut item = token_key(digest);
    item.insert("assistant_id".into(), s(id.as_str()));
    if let Some(e) = expires_at {
        item.insert(TTL.into(), n(e));
    }
    item
}

fn role_str(r: Role) -> &'static str {
    match r {
        Role::Human => "human",
        Role::Ai => "ai",
        Role::System => "system",
    }
}

pub fn message_item(
    key: &ThreadKey,
    generation: i64,
    seq: i64,
    m: &StoredMessage,
    ttl: i64,
) -> Item {
    let mut item = self::key(
        thread_pk(key),
        &format!("{}{seq:010}", message_prefix(generation)),
    );
    item.insert("role".into(), s(role_str(m.message.role)));
    item.insert("content".into(), s(m.message.content.clone()));
    item.insert("run_id".into(), s(m.run_id.as_str()));
    item.insert("created_at".into(), n(m.created_at));
    item.insert(TTL.into(), n(ttl));
    if let Some(memory) = key.memory() {
        item.insert(MESSAGE_MEMORY.into(), s(memory.as_str()));
    }
    item
}

/// The thread a message item belongs to, with the memory it feeds, from its attributes.
pub fn message_thread(item: &Item) -> Result<ThreadKey, StoreError> {
    let address = get_s(item, PK)?
        .strip_prefix("TH#")
        .ok_or_else(|| corrupt("pk of a message"))?;
    let memory = match item.get(MESSAGE_MEMORY) {
        None => None,
        Some(v) => Some(
            v.as_s()
                .ok()
                .and_then(|m| MemoryKey::parse(m).ok())
                .ok_or_else(|| corrupt(MESSAGE_MEMORY))?,
        ),
    };
    Ok(ThreadKey::stored(address, memory))
}

/// Whether an item is a stored message (by its sort key).
pub fn is_message(item: &Item) -> bool {
    get_s(item, SK).is_ok_and(|sk| sk.starts_with("M#"))
}

impl TryFrom<&Item> for Memory {
    type Error = StoreError;
    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            summary: item
                .get("summary")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            version: get_n(item, "version")?,
            pending: u64::try_from(opt_n(item, "pending").unwrap_or(0)).unwrap_or(0),
            updated_at: opt_n(item, "updated_at").unwrap_or(0),
        })
    }
}

/// The generation a message item belongs to, read from its sort key.
pub fn message_generation(item: &Item) -> Option<i64> {
    get_s(item, SK)
        .ok()?
        .strip_prefix("M#")?
        .split('#')
        .next()?
        .parse()
        .ok()
}

impl TryFrom<&Item> for StoredMessage {
    type Error = StoreError;
    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let role = Role::parse(get_s(item, "role")?).ok_or_else(|| corrupt("role"))?;
        Ok(Self {
            message: Message::new(role, get_s(item, "content")?),
            run_id: serde_json::from_value::<RunId>(serde_json::Value::String(
                get_s(item, "run_id")?.to_owned(),
            ))
            .map_err(|_| corrupt("run_id"))?,
            created_at: get_n(item, "created_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assistant::AssistantPatch;

    #[test]
    fn assistants_round_trip_through_items() {
        let patch = AssistantPatch {
            name: Some("bot".into()),
            configurable: serde_json::json!({
                "type==agent/access_mode": "public_token",
                "type==agent/public_token": "pubkey_mybot_abc123",
                "nested": {"a": [1, 2]}
            })
            .as_object()
            .cloned()
            .unwrap(),
        };
        let a = Assistant::create(UserId::parse("u").unwrap(), &patch, 42).unwrap();
        let (rotated, _) = a.rotated(60, 1000).unwrap();
        for x in [a, rotated] {
            let item = Item::from(&x);
            assert!(!format!("{item:?}").contains("pubkey_mybot_abc123"));
            assert_eq!(Assistant::try_from(&item).unwrap(), x);
        }
    }

    #[test]
    fn message_sort_keys_order_by_generation_then_seq() {
        let k = ThreadKey::public(
            &AssistantId::mint(),
            &crate::domain::ids::ThreadId::parse("t").unwrap(),
        );
        let m = StoredMessage {
            message: Message::new(Role::Ai, "x"),
            run_id: RunId::mint(),
            created_at: 1,
        };
        let a = message_item(&k, 5, 9, &m, 0);
        assert!(!a.contains_key(MESSAGE_MEMORY));
        assert_eq!(message_thread(&a).unwrap(), k);
        let b = message_item(&k, 5, 10, &m, 0);
        let c = message_item(&k, 60, 0, &m, 0);
        let sk = |i: &Item| get_s(i, SK).unwrap().to_owned();
        assert!(sk(&a) < sk(&b) && sk(&b) < sk(&c));
        assert_eq!(message_generation(&c), Some(60));
        assert_eq!(StoredMessage::try_from(&a).unwrap(), m);
        assert!(is_message(&a));
    }

    #[test]
    fn message_items_name_the_memory_they_feed() {
        let id = AssistantId::mint();
        let user = UserId::parse("alice").unwrap();
        let memory = MemoryKey::owner(&id, &user);
        let k = ThreadKey::owner(
            &id,
            &user,
            &crate::domain::ids::ThreadId::parse("t").unwrap(),
        )
        .with_memory(Some(memory.clone()));
        let m = StoredMessage {
            message: Message::new(Role::Human, "hi"),
            run_id: RunId::mint(),
            created_at: 1,
        };
        let item = message_item(&k, 1, 0, &m, 0);
        assert_eq!(get_s(&item, MESSAGE_MEMORY).unwrap(), memory.as_str());
        let back = message_thread(&item).unwrap();
        assert_eq!(back, k);
        assert_eq!(back.memory(), Some(&memory));
        let mut bad = item.clone();
        bad.insert(MESSAGE_MEMORY.into(), s("not-a-key"));
        assert!(message_thread(&bad).is_err());
    }
}
