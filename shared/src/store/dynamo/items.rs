//! The table's layout: key shapes of every entity and the attribute helpers each port's
//! item mapping (beside its port, in this folder) is written with. Only this adapter
//! knows attribute names, key prefixes and `AttributeValue`.
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
//! | public link   | `A#<assistant>`  | `L#<link id>`              | settings, `version`       |
//! | link token    | `LT#<sha256 hex>`| `LT`                       | `assistant_id`, `link_id` |
//! | link session  | `LS#<sha256 hex>`| `LS`                       | link, subject, `ttl`      |
//! | conversations | `LV#<link>/<subject>`| `LV`                   | `conversations`, `ttl`    |
//! | email code    | `EC#<link>/<email>`| `EC`                     | `mac`, `tries`, `ttl`     |
//! | response      | `R#<resp_ id>`   | `R`                        | `scope`, `context`, `body`, `ttl` |
//! | document      | `A#<assistant>`  | `K#<doc id>`               | `doc` (JSON), `created_at` |
//! | execution     | `X#<exe_ id>`    | `X`                        | `body`, `visitor`, `expires_at`, `outcome`, `ttl` |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::ids::{AssistantId, UserId};
use crate::domain::link::{LinkId, VisitorKey};
use crate::domain::memory::MemoryKey;
use crate::domain::response::ResponseId;
use crate::domain::thread::ThreadKey;
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

/// Sort-key prefix of an assistant's links (in the assistant's partition).
pub const LINK_SK_PREFIX: &str = "L#";

pub fn link_pk(assistant: &AssistantId) -> String {
    format!("A#{assistant}")
}

pub fn link_key(assistant: &AssistantId, id: &LinkId) -> Item {
    key(link_pk(assistant), &format!("{LINK_SK_PREFIX}{id}"))
}

pub fn link_token_key(digest: &TokenDigest) -> Item {
    key(format!("LT#{}", digest.to_hex()), "LT")
}

pub fn session_key(digest: &TokenDigest) -> Item {
    key(format!("LS#{}", digest.to_hex()), "LS")
}

pub fn visitor_key(visitor: &VisitorKey) -> Item {
    key(format!("LV#{}", visitor.as_str()), "LV")
}

pub fn code_key(code: &str) -> Item {
    key(format!("EC#{code}"), "EC")
}

pub fn response_key(id: &ResponseId) -> Item {
    key(format!("R#{id}"), "R")
}

pub fn owner_gsi_pk(owner: &UserId) -> String {
    format!("O#{owner}")
}

pub(super) fn corrupt(what: &str) -> StoreError {
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
