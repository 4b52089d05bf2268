//! Stored Responses API responses: one row each, read only within their scope and until
//! they expire.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, corrupt, row};
use crate::domain::response::{ResponseId, StoredResponse};
use crate::domain::thread::ThreadKey;
use crate::ports::{ResponseStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    context TEXT NOT NULL,
    body TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
";

#[async_trait]
impl ResponseStore for SqliteStore {
    async fn put_response(&self, r: &StoredResponse) -> Result<(), StoreError> {
        let context = serde_json::to_string(&r.context).map_err(corrupt)?;
        let body = r.body.to_string();
        self.execute(
            "INSERT OR REPLACE INTO responses (id, scope, context, body, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.id.to_string(), r.scope, context, body, r.expires_at],
        )?;
        Ok(())
    }

    async fn response(
        &self,
        scope: &ThreadKey,
        id: &ResponseId,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let (key, wanted) = (id.to_string(), scope.as_str().to_owned());
        let found = self
            .read(move |tx, now| {
                row(
                    tx,
                    "SELECT context, body, expires_at FROM responses
                     WHERE id = ?1 AND scope = ?2 AND expires_at > ?3",
                    params![key, wanted, now],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)),
                )
            })
            .await?;
        found
            .map(|(context, body, expires_at)| {
                Ok(StoredResponse {
                    id: id.clone(),
                    scope: scope.as_str().to_owned(),
                    context: serde_json::from_str(&context).map_err(corrupt)?,
                    body: serde_json::from_str(&body).map_err(corrupt)?,
                    expires_at,
                })
            })
            .transpose()
    }
}
