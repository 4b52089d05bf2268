//! Knowledge-base documents (one row each, passages included) and action executions (one
//! row each; settling is one conditional update, so exactly one caller wins).

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, corrupt, exec, row};
use crate::domain::action::{EXECUTION_RETENTION_SECS, Execution, Outcome};
use crate::domain::ids::AssistantId;
use crate::domain::knowledge::Document;
use crate::ports::{ActionStore, KnowledgeStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS knowledge_documents (
    assistant TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (assistant, id)
);
CREATE TABLE IF NOT EXISTS action_executions (
    id TEXT PRIMARY KEY,
    visitor TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    keep_until INTEGER NOT NULL,
    body TEXT NOT NULL,
    outcome TEXT,
    output TEXT
);
";

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn put_document(&self, d: &Document) -> Result<(), StoreError> {
        let body = serde_json::to_string(d).map_err(corrupt)?;
        self.execute(
            "INSERT INTO knowledge_documents (assistant, id, created_at, body)
             VALUES (?1, ?2, ?3, ?4)",
            params![d.assistant.as_str(), d.id, d.created_at, body],
        )?;
        Ok(())
    }

    async fn documents(&self, assistant: &AssistantId) -> Result<Vec<Document>, StoreError> {
        let key = assistant.to_string();
        let bodies: Vec<String> = self
            .read(move |tx, _| {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT body FROM knowledge_documents WHERE assistant = ?1
                         ORDER BY created_at, id",
                    )
                    .map_err(super::unavailable)?;
                let rows = stmt
                    .query_map(params![key], |r| r.get::<_, String>(0))
                    .map_err(super::unavailable)?;
                rows.collect::<Result<_, _>>().map_err(super::unavailable)
            })
            .await?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .collect()
    }

    async fn delete_document(&self, assistant: &AssistantId, id: &str) -> Result<bool, StoreError> {
        let n = self.execute(
            "DELETE FROM knowledge_documents WHERE assistant = ?1 AND id = ?2",
            params![assistant.as_str(), id],
        )?;
        Ok(n > 0)
    }
}

#[async_trait]
impl ActionStore for SqliteStore {
    async fn put_executions(&self, executions: &[Execution]) -> Result<(), StoreError> {
        let rows = executions
            .iter()
            .map(|e| {
                let body = serde_json::to_string(e).map_err(corrupt)?;
                Ok((e.id.clone(), e.visitor.clone(), e.expires_at, body))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.tx(move |tx, _| {
            for (id, visitor, expires_at, body) in &rows {
                exec(
                    tx,
                    "INSERT INTO action_executions (id, visitor, expires_at, keep_until, body)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        id,
                        visitor,
                        expires_at,
                        expires_at + EXECUTION_RETENTION_SECS,
                        body
                    ],
                )
                .map_err(super::unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        let id = id.to_owned();
        let found = self
            .read(move |tx, now| {
                row(
                    tx,
                    "SELECT body, outcome, output FROM action_executions
                     WHERE id = ?1 AND keep_until > ?2",
                    params![id, now],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
            })
            .await?;
        found
            .map(|(body, outcome, output)| {
                let mut e: Execution = serde_json::from_str(&body).map_err(corrupt)?;
                e.outcome = outcome.as_deref().and_then(Outcome::parse);
                e.output = output
                    .map(|o| serde_json::from_str(&o).map_err(corrupt))
                    .transpose()?;
                Ok(e)
            })
            .transpose()
    }

    async fn settle_execution(
        &self,
        id: &str,
        visitor: &str,
        outcome: Outcome,
        output: Option<&serde_json::Value>,
        now_secs: i64,
    ) -> Result<bool, StoreError> {
        let (id, visitor) = (id.to_owned(), visitor.to_owned());
        let output = output.map(ToString::to_string);
        self.tx(move |tx, _| {
            let n = exec(
                tx,
                "UPDATE action_executions SET outcome = ?1, output = ?2
                 WHERE id = ?3 AND visitor = ?4 AND outcome IS NULL AND expires_at > ?5",
                params![outcome.as_str(), output, id, visitor, now_secs],
            )
            .map_err(super::unavailable)?;
            Ok(n == 1)
        })
        .await
    }
}
