//! Sessions of public links, the conversations each subject may read, and email codes.
//! Every row carries its expiry; reads ignore expired rows as DynamoDB's TTL filter does.

use async_trait::async_trait;
use rusqlite::params;
use rusqlite::types::Value;

use super::{SqliteStore, Tx, corrupt, exec, one, row, unavailable};
use crate::domain::ids::{AssistantId, ThreadId};
use crate::domain::link::{
    CONVERSATIONS_TTL_SECS, EmailCode, LinkId, MAX_CODE_TRIES, Session, Subject, VisitorKey,
    with_conversation,
};
use crate::domain::token::TokenDigest;
use crate::ports::{SessionStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS link_sessions (
    digest TEXT PRIMARY KEY,
    link TEXT NOT NULL,
    assistant TEXT NOT NULL,
    subject TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS link_conversations (
    visitor TEXT PRIMARY KEY,
    conversations TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS email_codes (
    key TEXT PRIMARY KEY,
    mac TEXT NOT NULL,
    tries INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
";

fn code_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<EmailCode> {
    let (mac, tries, expires_at) = (r.get(0)?, r.get(1)?, r.get(2)?);
    Ok(EmailCode {
        mac,
        tries,
        expires_at,
    })
}

fn read_conversations(tx: &Tx, visitor: &str, now: i64) -> Result<Vec<String>, StoreError> {
    let raw: Option<String> = one(
        tx,
        "SELECT conversations FROM link_conversations WHERE visitor = ?1 AND expires_at > ?2",
        params![visitor, now],
    )?;
    raw.map_or(Ok(Vec::new()), |r| {
        serde_json::from_str(&r).map_err(corrupt)
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = session.clone();
        self.tx(move |tx, now| {
            let inserted = exec(
                tx,
                "INSERT INTO link_sessions (digest, link, assistant, subject, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(digest) DO UPDATE SET link = excluded.link,
                       assistant = excluded.assistant, subject = excluded.subject,
                       expires_at = excluded.expires_at
                     WHERE link_sessions.expires_at <= ?6",
                params![
                    s.digest.to_hex(),
                    s.link.as_str(),
                    s.assistant.as_str(),
                    s.subject.as_key(),
                    s.expires_at,
                    now
                ],
            )
            .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            Ok(())
        })
        .await
    }

    async fn session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        let digest = digest.clone();
        self.read(move |tx, now| {
            let row: Option<(String, String, String, i64)> = row(
                tx,
                "SELECT link, assistant, subject, expires_at FROM link_sessions
                     WHERE digest = ?1 AND expires_at > ?2",
                params![digest.to_hex(), now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            row.map(|(link, assistant, subject, expires_at)| {
                Ok(Session {
                    digest: digest.clone(),
                    link: LinkId::parse(&link).map_err(corrupt)?,
                    assistant: AssistantId::parse(&assistant).map_err(corrupt)?,
                    subject: Subject::parse_key(&subject)
                        .ok_or_else(|| corrupt("unknown session subject"))?,
                    expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn renew_session(&self, digest: &TokenDigest, expires_at: i64) -> Result<(), StoreError> {
        let sql = "UPDATE link_sessions SET expires_at = ?2 WHERE digest = ?1 AND expires_at > ?3";
        let now = self.clock.now_secs();
        let values = vec![
            Value::Text(digest.to_hex()),
            Value::Integer(expires_at),
            Value::Integer(now),
        ];
        self.run(sql.to_owned(), values).await?;
        Ok(())
    }

    async fn conversations(&self, visitor: &VisitorKey) -> Result<Vec<ThreadId>, StoreError> {
        let visitor = visitor.as_str().to_owned();
        self.read(move |tx, now| {
            read_conversations(tx, &visitor, now)?
                .iter()
                .map(|c| ThreadId::parse(c).map_err(corrupt))
                .collect()
        })
        .await
    }

    async fn add_conversation(&self, who: &VisitorKey, id: &ThreadId) -> Result<(), StoreError> {
        let (who, id) = (who.as_str().to_owned(), id.as_str().to_owned());
        self.tx(move |tx, now| {
            let list = with_conversation(read_conversations(tx, &who, now)?, id);
            let json = serde_json::to_string(&list).map_err(corrupt)?;
            exec(tx,
                "INSERT INTO link_conversations (visitor, conversations, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(visitor) DO UPDATE SET conversations = excluded.conversations,
                   expires_at = excluded.expires_at",
                params![who, json, now + CONVERSATIONS_TTL_SECS],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn put_code(&self, key: &str, code: &EmailCode) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO email_codes (key, mac, tries, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(key) DO UPDATE SET mac = excluded.mac, tries = excluded.tries,
               expires_at = excluded.expires_at",
            params![key, code.mac, code.tries, code.expires_at],
        )?;
        Ok(())
    }

    async fn code(&self, key: &str) -> Result<Option<EmailCode>, StoreError> {
        let key = key.to_owned();
        self.read(move |tx, now| {
            row(
                tx,
                "SELECT mac, tries, expires_at FROM email_codes WHERE key = ?1 AND expires_at > ?2",
                params![key, now],
                code_from,
            )
        })
        .await
    }

    async fn count_wrong_try(&self, key: &str, mac: &str) -> Result<Option<u32>, StoreError> {
        let (key, mac) = (key.to_owned(), mac.to_owned());
        self.tx(move |tx, now| {
            one(
                tx,
                "UPDATE email_codes SET tries = tries + 1
                 WHERE key = ?1 AND mac = ?2 AND expires_at > ?3 RETURNING tries",
                params![key, mac, now],
            )
        })
        .await
    }

    async fn consume_code(&self, key: &str, mac: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM email_codes WHERE key = ?1 AND mac = ?2 AND expires_at > ?3 AND tries < ?4";
        let values = vec![
            Value::Text(key.to_owned()),
            Value::Text(mac.to_owned()),
            Value::Integer(self.clock.now_secs()),
            Value::Integer(i64::from(MAX_CODE_TRIES)),
        ];
        Ok(self.run(sql.to_owned(), values).await? == 1)
    }
}
