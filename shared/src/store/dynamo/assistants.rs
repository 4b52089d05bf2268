//! Assistants and the token index: the assistant item (its free-form configuration kept as
//! one JSON document) and one index item per live token digest, written together in a
//! transaction conditional on the version read, so the index never drifts from the
//! assistants.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::DynamoStore;
use super::errors::{build_err, cancelled_at, classify, condition_failed};
use super::items::{
    self, GSI1_PK, GSI1_SK, Item, assistant_key, corrupt, get_n, get_s, n, opt_n, owner_gsi_pk, s,
    token_key,
};
use crate::domain::assistant::{Assistant, TokenRecord};
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::token::TokenDigest;
use crate::ports::{AssistantStore, StoreError};

impl DynamoStore {
    /// A put of a token index item for assistant `a`, until `until`. It fails while
    /// another assistant's token is live, and for ever when a released token was another
    /// owner's: index items outlive their token (no `ttl`), so a token once used never
    /// opens another owner's assistant.
    fn claim_token(
        &self,
        digest: &TokenDigest,
        a: &Assistant,
        until: Option<i64>,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&*self.table)
            .set_item(Some(token_item(digest, a, until)))
            .condition_expression(
                "attribute_not_exists(pk) OR assistant_id = :id OR (#owner = :owner AND live_until <= :now)",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":id", s(a.id.as_str()))
            .expression_attribute_values(":owner", s(a.owner.as_str()))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs an assistant transaction whose first operation writes the assistant and whose
    /// others claim or release token index entries: a failed condition on the first is
    /// `first_failed`, on any other a token held by another assistant.
    async fn transact(
        &self,
        ops: Vec<TransactWriteItem>,
        first_failed: StoreError,
    ) -> Result<(), StoreError> {
        match self.transact_all(ops).await {
            Ok(()) => Ok(()),
            Err(e) => Err(match cancelled_at(&e) {
                Some(0) => first_failed,
                Some(_) => StoreError::TokenTaken,
                None => classify("TransactWriteItems", e),
            }),
        }
    }
}

/// The tokens whose index entries an assistant owns at `now`. An expired overlap token is
/// left to TTL: its entry is already invisible and may have been claimed by another
/// assistant since.
fn token_digests(a: &Assistant, now: i64) -> Vec<(&TokenDigest, Option<i64>)> {
    [a.token.as_ref(), a.previous_token.as_ref()]
        .into_iter()
        .flatten()
        .filter(|t| t.expires_at.is_none_or(|e| e > now))
        .map(|t| (&t.digest, t.expires_at))
        .collect()
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
pub fn token_item(digest: &TokenDigest, a: &Assistant, until: Option<i64>) -> Item {
    let mut item = token_key(digest);
    item.insert("assistant_id".into(), s(a.id.as_str()));
    item.insert("owner".into(), s(a.owner.as_str()));
    if let Some(e) = until {
        item.insert("live_until".into(), n(e));
    }
    item
}

#[async_trait]
impl AssistantStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(assistant_id = %assistant.id))]
    async fn create_assistant(&self, assistant: &Assistant) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let mut ops = vec![
            TransactWriteItem::builder()
                .put(self.put(Item::from(assistant), "attribute_not_exists(pk)")?)
                .build(),
        ];
        for (digest, exp) in token_digests(assistant, now) {
            ops.push(self.claim_token(digest, assistant, exp, now)?);
        }
        self.transact(ops, StoreError::AlreadyExists).await
    }

    #[tracing::instrument(skip_all, fields(assistant_id = %id))]
    async fn get_assistant(&self, id: &AssistantId) -> Result<Option<Assistant>, StoreError> {
        self.read(items::assistant_key(id), true, |i| Assistant::try_from(i))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn list_assistants(&self, owner: &UserId) -> Result<Vec<Assistant>, StoreError> {
        let query = self
            .query()
            .index_name(items::GSI1)
            .key_condition_expression("gsi1pk = :o")
            .expression_attribute_values(":o", s(items::owner_gsi_pk(owner)));
        let found = self.query_all(query, None).await?;
        found.iter().map(Assistant::try_from).collect()
    }

    #[tracing::instrument(skip_all, fields(assistant_id = %next.id))]
    async fn update_assistant(&self, prev: &Assistant, next: &Assistant) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let condition = |put: aws_sdk_dynamodb::types::builders::PutBuilder| {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(prev.version))
        };
        let old = token_digests(prev, now);
        let new = token_digests(next, now);
        if old == new {
            // No token change: one conditional put, half the cost of a transaction.
            let put = self
                .put_item()
                .set_item(Some(Item::from(next)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(prev.version));
            return match put.send().await {
                Ok(_) => Ok(()),
                Err(e) if condition_failed(&e) => Err(StoreError::Conflict),
                Err(e) => Err(classify("PutItem", e)),
            };
        }
        let assistant_put = condition(
            Put::builder()
                .table_name(&*self.table)
                .set_item(Some(Item::from(next))),
        )
        .build()
        .map_err(build_err)?;
        let mut ops = vec![TransactWriteItem::builder().put(assistant_put).build()];
        for (digest, _) in &old {
            if !new.iter().any(|(d, _)| d == digest) {
                // Released: it opens nothing from now on, and stays its owner's.
                ops.push(self.claim_token(digest, next, Some(now), now)?);
            }
        }
        for (digest, exp) in new {
            ops.push(self.claim_token(digest, next, exp, now)?);
        }
        self.transact(ops, StoreError::Conflict).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_assistant_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<AssistantId>, StoreError> {
        let now = self.clock.now_secs();
        self.get_live(items::token_key(digest), false)
            .await?
            .filter(|i| items::opt_n(i, "live_until").is_none_or(|t| t > now))
            .map(|i| {
                AssistantId::parse(items::get_s(&i, "assistant_id")?)
                    .map_err(|_| StoreError::Corrupt("token index assistant_id".into()))
            })
            .transpose()
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
}
