//! Threads: a meta item per thread (generation, next sequence number) and one item per
//! message, sorted by generation then sequence. Sequence numbers are reserved with an
//! atomic `ADD`; a thread whose newest message is past its `ttl` restarts with a new
//! generation, so expired messages never come back.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoStore;
use super::errors::{classify, condition_failed};
use super::items::{
    self, Item, MESSAGE_MEMORY, PK, SK, TTL, corrupt, get_n, get_s, message_prefix, n, s, thread_pk,
};
use crate::domain::ids::RunId;
use crate::domain::memory::MemoryKey;
use crate::domain::message::{Message, Role};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::ports::{StoreError, ThreadStore};

/// TransactWriteItems takes at most 100 actions: a turn (at most
/// [`MAX_INPUT_MESSAGES`](crate::domain::message::MAX_INPUT_MESSAGES) messages and the
/// reply) is one transaction, so it is stored whole or not at all.
const MAX_TURN_ITEMS: usize = 100;

impl DynamoStore {
    async fn write_messages(&self, puts: Vec<Item>) -> Result<(), StoreError> {
        if puts.len() > MAX_TURN_ITEMS {
            return Err(StoreError::Corrupt(format!(
                "a turn of {} messages is more than one transaction holds",
                puts.len()
            )));
        }
        let ops = puts
            .into_iter()
            .map(|item| self.put_action(item, None))
            .collect::<Result<Vec<_>, _>>()?;
        self.transact_all(ops)
            .await
            .map_err(|e| classify("TransactWriteItems", e))
    }
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
    let mut item = items::key(
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

#[async_trait]
impl ThreadStore for DynamoStore {
    /// One Query, newest first: the newest message's `ttl` is the thread's last activity
    /// plus the idle TTL, so an expired newest message means an expired thread, and a
    /// change of generation marks where an earlier (expired) life of the thread ends.
    #[tracing::instrument(skip_all)]
    async fn recent_messages(
        &self,
        key: &ThreadKey,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Newest first, following pages until `limit` messages are read.
        let query = self
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
            .expression_attribute_values(":pk", s(items::thread_pk(key)))
            .expression_attribute_values(":m", s("M#"))
            .scan_index_forward(false);
        let rows = self.query_all(query, Some(limit)).await?;
        let now = self.clock.now_secs();
        let Some(newest) = rows.first() else {
            return Ok(Vec::new());
        };
        if !items::live(newest, now) {
            return Ok(Vec::new());
        }
        let generation = message_generation(newest);
        let mut messages = rows
            .iter()
            .take_while(|i| message_generation(i) == generation)
            .filter(|i| items::live(i, now))
            .map(StoredMessage::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    #[tracing::instrument(skip_all, fields(count = messages.len()))]
    async fn append_messages(
        &self,
        key: &ThreadKey,
        messages: &[StoredMessage],
        idle_ttl_secs: i64,
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_secs();
        let ttl = now + idle_ttl_secs;
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        // Reserve `count` sequence numbers in the live generation; if the thread is new or
        // expired, start a new generation. Two racing starters: one wins, the other retries
        // the reservation on the winner's generation.
        let mut reserved = None;
        for _ in 0..3 {
            let update = self
                .update(
                    items::thread_meta_key(key),
                    "SET #ttl = :ttl ADD next_seq :n",
                    "attribute_exists(pk) AND #ttl > :now",
                )
                .expression_attribute_values(":ttl", n(ttl))
                .expression_attribute_values(":n", n(count))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match update {
                Ok(out) => {
                    let attrs = out.attributes().cloned().unwrap_or_default();
                    let generation = items::get_n(&attrs, "generation")?;
                    let next = items::get_n(&attrs, "next_seq")?;
                    reserved = Some((generation, next - count));
                    break;
                }
                Err(e) if !condition_failed(&e) => return Err(classify("UpdateItem", e)),
                Err(_) => {}
            }
            let generation = self.clock.now_ms();
            let mut meta = items::thread_meta_key(key);
            meta.insert("generation".into(), n(generation));
            meta.insert("next_seq".into(), n(count));
            meta.insert(TTL.into(), n(ttl));
            if self.put_unless_live(meta, now).await? {
                reserved = Some((generation, 0));
                break;
            }
        }
        let (generation, first) = reserved.ok_or(StoreError::Conflict)?;
        let puts = messages
            .iter()
            .enumerate()
            .map(|(i, m)| message_item(key, generation, first + i as i64, m, ttl))
            .collect();
        self.write_messages(puts).await
    }

    /// Every item of the thread's partition (its meta and messages), newest messages first,
    /// deleted 100 at a time: an erase that fails part-way leaves only older messages, and
    /// running it again finishes it.
    async fn delete_thread(&self, key: &ThreadKey) -> Result<(), StoreError> {
        let query = self
            .query()
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(items::thread_pk(key)))
            .projection_expression("pk, sk")
            .scan_index_forward(false);
        let keys = self.query_all(query, None).await?;
        for chunk in keys.chunks(100) {
            let ops = chunk
                .iter()
                .map(|k| self.delete_action(k.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            self.transact_all(ops)
                .await
                .map_err(|e| classify("TransactWriteItems", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AssistantId, UserId};

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
