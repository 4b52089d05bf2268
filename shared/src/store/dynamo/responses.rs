//! Stored Responses API responses: one item each under the response id, with the scope it
//! belongs to as an attribute (a read from another scope finds nothing) and a `ttl`.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::classify;
use super::items::{self, Item, TTL, corrupt, get_n, get_s, n, s};
use crate::domain::response::{ResponseId, StoredResponse};
use crate::domain::thread::ThreadKey;
use crate::ports::{ResponseStore, StoreError};

fn response_from(id: &ResponseId, item: &Item) -> Result<StoredResponse, StoreError> {
    Ok(StoredResponse {
        id: id.clone(),
        scope: get_s(item, "scope")?.to_owned(),
        context: serde_json::from_str(get_s(item, "context")?).map_err(|_| corrupt("context"))?,
        body: serde_json::from_str(get_s(item, "body")?).map_err(|_| corrupt("body"))?,
        expires_at: get_n(item, TTL)?,
    })
}

#[async_trait]
impl ResponseStore for DynamoStore {
    async fn put_response(&self, r: &StoredResponse) -> Result<(), StoreError> {
        let mut item = items::response_key(&r.id);
        item.insert("scope".into(), s(&r.scope));
        let context = serde_json::to_string(&r.context).map_err(|_| corrupt("context"))?;
        item.insert("context".into(), s(context));
        item.insert("body".into(), s(r.body.to_string()));
        item.insert(TTL.into(), n(r.expires_at));
        self.put_item()
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(())
    }

    async fn response(
        &self,
        scope: &ThreadKey,
        id: &ResponseId,
    ) -> Result<Option<StoredResponse>, StoreError> {
        // Strongly consistent: a continuation sent right after a turn must find it.
        let found = self
            .read(items::response_key(id), true, |i| response_from(id, i))
            .await?;
        Ok(found.filter(|r| r.scope == scope.as_str()))
    }
}
