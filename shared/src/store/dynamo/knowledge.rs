//! Knowledge-base documents (one item each in the assistant's partition, `K#<doc id>`,
//! passages included) and action executions (one item each, `X#<id>`, settled by one
//! conditional update, kept by `ttl` for the retention after their expiry).

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::{classify, conditional};
use super::items::{self, Item, TTL, corrupt, get_s, n, s};
use crate::domain::action::{EXECUTION_RETENTION_SECS, Execution, Outcome};
use crate::domain::ids::AssistantId;
use crate::domain::knowledge::Document;
use crate::ports::{ActionStore, KnowledgeStore, StoreError};

/// Sort-key prefix of an assistant's documents (in the assistant's partition).
const DOCUMENT_SK_PREFIX: &str = "K#";

fn document_key(assistant: &AssistantId, id: &str) -> Item {
    items::key(
        items::link_pk(assistant),
        &format!("{DOCUMENT_SK_PREFIX}{id}"),
    )
}

fn execution_key(id: &str) -> Item {
    items::key(format!("X#{id}"), "X")
}

fn document_from(item: &Item) -> Result<Document, StoreError> {
    serde_json::from_str(get_s(item, "doc")?).map_err(|_| corrupt("doc"))
}

fn execution_from(item: &Item) -> Result<Execution, StoreError> {
    let mut e: Execution =
        serde_json::from_str(get_s(item, "body")?).map_err(|_| corrupt("body"))?;
    e.outcome = item
        .get("outcome")
        .and_then(|v| v.as_s().ok())
        .and_then(|o| Outcome::parse(o));
    e.output = item
        .get("output")
        .and_then(|v| v.as_s().ok())
        .map(|o| serde_json::from_str(o).map_err(|_| corrupt("output")))
        .transpose()?;
    Ok(e)
}

#[async_trait]
impl KnowledgeStore for DynamoStore {
    async fn put_document(&self, d: &Document) -> Result<(), StoreError> {
        let mut item = document_key(&d.assistant, &d.id);
        let body = serde_json::to_string(d).map_err(|_| corrupt("doc"))?;
        item.insert("doc".into(), s(body));
        item.insert("created_at".into(), n(d.created_at));
        self.put_item()
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(())
    }

    async fn documents(&self, assistant: &AssistantId) -> Result<Vec<Document>, StoreError> {
        let query = self
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :k)")
            .expression_attribute_values(":pk", s(items::link_pk(assistant)))
            .expression_attribute_values(":k", s(DOCUMENT_SK_PREFIX))
            .consistent_read(true);
        let mut docs = self
            .query_all(query, None)
            .await?
            .iter()
            .map(document_from)
            .collect::<Result<Vec<_>, _>>()?;
        docs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(docs)
    }

    async fn delete_document(&self, assistant: &AssistantId, id: &str) -> Result<bool, StoreError> {
        let out = self
            .delete_item()
            .set_key(Some(document_key(assistant, id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("DeleteItem", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait]
impl ActionStore for DynamoStore {
    async fn put_executions(&self, executions: &[Execution]) -> Result<(), StoreError> {
        let puts = executions.iter().map(|e| async move {
            let mut item = execution_key(&e.id);
            let body = serde_json::to_string(e).map_err(|_| corrupt("body"))?;
            item.insert("body".into(), s(body));
            item.insert("visitor".into(), s(&e.visitor));
            item.insert("expires_at".into(), n(e.expires_at));
            item.insert(TTL.into(), n(e.expires_at + EXECUTION_RETENTION_SECS));
            self.put_item()
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| classify("PutItem", e))?;
            Ok::<_, StoreError>(())
        });
        futures::future::try_join_all(puts).await?;
        Ok(())
    }

    async fn execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        self.read(execution_key(id), true, execution_from).await
    }

    async fn settle_execution(
        &self,
        id: &str,
        visitor: &str,
        outcome: Outcome,
        output: Option<&serde_json::Value>,
        now_secs: i64,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .update_item()
            .set_key(Some(execution_key(id)))
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(outcome) AND visitor = :v AND expires_at > :now",
            )
            .expression_attribute_values(":v", s(visitor))
            .expression_attribute_values(":now", n(now_secs))
            .expression_attribute_values(":o", s(outcome.as_str()));
        update = match output {
            Some(o) => update
                .update_expression("SET outcome = :o, #out = :out")
                .expression_attribute_names("#out", "output")
                .expression_attribute_values(":out", s(o.to_string())),
            None => update.update_expression("SET outcome = :o"),
        };
        let done = conditional("UpdateItem", update.send().await)?;
        Ok(done.is_some())
    }
}
