//! Public links: one row per link with its settings as columns; the token digest is a
//! unique column, so the index from token to link cannot drift from the link itself.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Row, params};

use super::{SqliteStore, Tx, corrupt, row, unavailable};
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::link::{LinkId, LinkSettings, PublicLink};
use crate::domain::token::TokenDigest;
use crate::ports::{LinkStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS links (
    id TEXT PRIMARY KEY,
    assistant TEXT NOT NULL,
    owner TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL,
    require_email INTEGER NOT NULL,
    welcome_message TEXT,
    rate_limit_per_hour INTEGER NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS links_by_assistant ON links (assistant, created_at);
";

const COLUMNS: &str = "id, assistant, owner, token_digest, enabled, require_email, welcome_message, \
     rate_limit_per_hour, expires_at, created_at, updated_at, version";

fn read_row(r: &Row<'_>) -> rusqlite::Result<Result<PublicLink, StoreError>> {
    let id: String = r.get(0)?;
    let assistant: String = r.get(1)?;
    let owner: String = r.get(2)?;
    let digest: String = r.get(3)?;
    let rate: i64 = r.get(7)?;
    let settings = LinkSettings {
        enabled: r.get(4)?,
        require_email: r.get(5)?,
        welcome_message: r.get(6)?,
        rate_limit_per_hour: u32::try_from(rate).unwrap_or(u32::MAX),
        expires_at: r.get(8)?,
    };
    let (created_at, updated_at, version) = (r.get(9)?, r.get(10)?, r.get(11)?);
    Ok((|| {
        Ok(PublicLink {
            id: LinkId::parse(&id).map_err(corrupt)?,
            assistant: AssistantId::parse(&assistant).map_err(corrupt)?,
            owner: UserId::parse(&owner).map_err(corrupt)?,
            token_digest: TokenDigest::try_from(digest).map_err(corrupt)?,
            settings,
            created_at,
            updated_at,
            version,
        })
    })())
}

/// A link's columns, in [`COLUMNS`] order.
fn values(l: &PublicLink) -> Vec<Value> {
    let s = &l.settings;
    vec![
        Value::Text(l.id.as_str().to_owned()),
        Value::Text(l.assistant.as_str().to_owned()),
        Value::Text(l.owner.as_str().to_owned()),
        Value::Text(l.token_digest.to_hex()),
        Value::Integer(i64::from(s.enabled)),
        Value::Integer(i64::from(s.require_email)),
        s.welcome_message.clone().map_or(Value::Null, Value::Text),
        Value::Integer(i64::from(s.rate_limit_per_hour)),
        s.expires_at.map_or(Value::Null, Value::Integer),
        Value::Integer(l.created_at),
        Value::Integer(l.updated_at),
        Value::Integer(l.version),
    ]
}

fn query_links(tx: &Tx, filter: &str, arg: &str) -> Result<Vec<PublicLink>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM links WHERE {filter} ORDER BY created_at, id");
    let mut stmt = tx.prepare_cached(&sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(params![arg], read_row)
        .map_err(unavailable)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(unavailable)?;
    rows.into_iter().collect()
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn create_link(&self, link: &PublicLink) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT OR IGNORE INTO links ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        );
        match self.run(sql, values(link)).await? {
            0 => Err(StoreError::AlreadyExists),
            _ => Ok(()),
        }
    }

    async fn get_link(
        &self,
        assistant: &AssistantId,
        id: &LinkId,
    ) -> Result<Option<PublicLink>, StoreError> {
        let (assistant, id) = (assistant.as_str().to_owned(), id.as_str().to_owned());
        self.read(move |tx, _| {
            let found = query_links(tx, "id = ?1", &id)?;
            Ok(found
                .into_iter()
                .find(|l| l.assistant.as_str() == assistant))
        })
        .await
    }

    async fn list_links(&self, assistant: &AssistantId) -> Result<Vec<PublicLink>, StoreError> {
        let assistant = assistant.as_str().to_owned();
        self.read(move |tx, _| query_links(tx, "assistant = ?1", &assistant))
            .await
    }

    async fn update_link(&self, prev: &PublicLink, next: &PublicLink) -> Result<(), StoreError> {
        // The same values as a create (the id, owner and token never change), and the
        // version read as the condition.
        let sql = "UPDATE links SET enabled = ?5, require_email = ?6, welcome_message = ?7,
               rate_limit_per_hour = ?8, expires_at = ?9, updated_at = ?11, version = ?12
             WHERE id = ?1 AND version = ?13";
        let mut values = values(next);
        values.push(Value::Integer(prev.version));
        match self.run(sql.to_owned(), values).await? {
            0 => Err(StoreError::Conflict),
            _ => Ok(()),
        }
    }

    async fn delete_link(&self, link: &PublicLink) -> Result<(), StoreError> {
        let id = Value::Text(link.id.as_str().to_owned());
        self.run("DELETE FROM links WHERE id = ?1".to_owned(), vec![id])
            .await?;
        Ok(())
    }

    async fn find_link_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<PublicLink>, StoreError> {
        let digest = digest.to_hex();
        self.read(move |tx, _| {
            row(
                tx,
                &format!("SELECT {COLUMNS} FROM links WHERE token_digest = ?1"),
                params![digest],
                read_row,
            )?
            .transpose()
        })
        .await
    }
}
