//! Assistants and the token index: an assistant row holds the whole assistant as JSON; the
//! token table maps each live token digest to its assistant, claimed in the same
//! transaction as the assistant write.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, Tx, corrupt, exec, row, unavailable};
use crate::domain::assistant::Assistant;
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::token::TokenDigest;
use crate::ports::{AssistantStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS assistants (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assistants_by_owner ON assistants (owner, created_at);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    assistant_id TEXT NOT NULL,
    expires_at INTEGER,
    owner TEXT
);
";

/// Adds the `owner` column to a token table created before it existed (a no-op after).
pub(super) fn migrate(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    let has_owner = conn.prepare("SELECT owner FROM tokens LIMIT 0").is_ok();
    if !has_owner {
        conn.execute_batch("ALTER TABLE tokens ADD COLUMN owner TEXT")
            .map_err(unavailable)?;
    }
    Ok(())
}

/// The tokens whose index rows an assistant owns at `now` (an expired overlap token's row
/// may already belong to another assistant).
fn live_tokens(a: &Assistant, now: i64) -> Vec<(String, Option<i64>)> {
    [a.token.as_ref(), a.previous_token.as_ref()]
        .into_iter()
        .flatten()
        .filter(|t| t.expires_at.is_none_or(|e| e > now))
        .map(|t| (t.digest.to_hex(), t.expires_at))
        .collect()
}

/// Who holds a token digest's index row: the assistant, its owner, and until when the
/// token opens it. Rows stay after a token is released (their time passed), so a token
/// once used never opens another owner's assistant.
struct Holder {
    assistant: String,
    owner: Option<String>,
    until: Option<i64>,
}

fn token_holder(tx: &Tx, digest: &str) -> Result<Option<Holder>, StoreError> {
    row(
        tx,
        "SELECT assistant_id, owner, expires_at FROM tokens WHERE digest = ?1",
        params![digest],
        |r| {
            Ok(Holder {
                assistant: r.get(0)?,
                owner: r.get(1)?,
                until: r.get(2)?,
            })
        },
    )
}

/// Claims a token for assistant `a`: refused while another assistant's token is live, and
/// for ever when a released token was another owner's.
fn claim_token(
    tx: &Tx,
    digest: &str,
    a: &Assistant,
    until: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(h) = token_holder(tx, digest)? {
        let live = h.until.is_none_or(|e| e > now);
        let same_owner = h.owner.as_deref() == Some(a.owner.as_str());
        if h.assistant != a.id.as_str() && (live || !same_owner) {
            return Err(StoreError::TokenTaken);
        }
    }
    exec(
        tx,
        "INSERT INTO tokens (digest, assistant_id, owner, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(digest) DO UPDATE SET assistant_id = excluded.assistant_id,
           owner = excluded.owner, expires_at = excluded.expires_at",
        params![digest, a.id.as_str(), a.owner.as_str(), until],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn decode_assistant(body: &str) -> Result<Assistant, StoreError> {
    serde_json::from_str(body).map_err(corrupt)
}

#[async_trait]
impl AssistantStore for SqliteStore {
    async fn create_assistant(&self, assistant: &Assistant) -> Result<(), StoreError> {
        let a = assistant.clone();
        let body = serde_json::to_string(&a).map_err(corrupt)?;
        self.tx(move |tx, now| {
            let inserted = exec(
                tx,
                    "INSERT INTO assistants (id, owner, created_at, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(id) DO NOTHING",
                    params![a.id.as_str(), a.owner.as_str(), a.created_at, a.version as i64, body],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            for (digest, exp) in live_tokens(&a, now) {
                claim_token(tx, &digest, &a, exp, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_assistant(&self, id: &AssistantId) -> Result<Option<Assistant>, StoreError> {
        let id = id.as_str().to_owned();
        self.read(move |tx, _| {
            row(
                tx,
                "SELECT body FROM assistants WHERE id = ?1",
                params![id],
                |r| r.get::<_, String>(0),
            )?
            .map(|b| decode_assistant(&b))
            .transpose()
        })
        .await
    }

    async fn list_assistants(&self, owner: &UserId) -> Result<Vec<Assistant>, StoreError> {
        let owner = owner.as_str().to_owned();
        self.read(move |tx, _| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT body FROM assistants WHERE owner = ?1 ORDER BY created_at, id",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![owner], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(|b| decode_assistant(&b)))
                .collect()
        })
        .await
    }

    async fn update_assistant(&self, prev: &Assistant, next: &Assistant) -> Result<(), StoreError> {
        let (prev, next) = (prev.clone(), next.clone());
        let body = serde_json::to_string(&next).map_err(corrupt)?;
        self.tx(move |tx, now| {
            let changed = exec(
                tx,
                "UPDATE assistants SET body = ?1, version = ?2 WHERE id = ?3 AND version = ?4",
                params![
                    body,
                    next.version as i64,
                    next.id.as_str(),
                    prev.version as i64
                ],
            )
            .map_err(unavailable)?;
            if changed == 0 {
                return Err(StoreError::Conflict);
            }
            let keep = live_tokens(&next, now);
            for (digest, _) in live_tokens(&prev, now) {
                if !keep.iter().any(|(d, _)| *d == digest) {
                    // Released: it opens nothing from now on, and stays its owner's.
                    exec(
                        tx,
                        "UPDATE tokens SET expires_at = ?3 WHERE digest = ?1 AND assistant_id = ?2",
                        params![digest, next.id.as_str(), now],
                    )
                    .map_err(unavailable)?;
                }
            }
            for (digest, exp) in keep {
                claim_token(tx, &digest, &next, exp, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn find_assistant_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<AssistantId>, StoreError> {
        let digest = digest.to_hex();
        self.read(move |tx, now| {
            let row = token_holder(tx, &digest)?;
            row.filter(|h| h.until.is_none_or(|e| e > now))
                .map(|h| AssistantId::parse(&h.assistant).map_err(corrupt))
                .transpose()
        })
        .await
    }
}
