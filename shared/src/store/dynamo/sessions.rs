//! Sessions of public links, the conversations each subject may read, and email codes:
//! one small item each, all with a `ttl`. A code is consumed by a delete conditional on
//! its HMAC, expiry and tries, so of any number of racing confirmations exactly one wins.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::DynamoStore;
use super::errors::{classify, condition_failed, conditional};
use super::items::{self, Item, TTL, corrupt, get_n, get_s, n, s};
use crate::domain::ids::{AssistantId, ThreadId};
use crate::domain::link::{
    CONVERSATIONS_TTL_SECS, EmailCode, LinkId, MAX_CODE_TRIES, Session, Subject, VisitorKey,
    with_conversation,
};
use crate::domain::token::TokenDigest;
use crate::ports::{SessionStore, StoreError};

fn session_from(digest: &TokenDigest, item: &Item) -> Result<Session, StoreError> {
    Ok(Session {
        digest: digest.clone(),
        link: LinkId::parse(get_s(item, "link_id")?).map_err(|_| corrupt("link_id"))?,
        assistant: AssistantId::parse(get_s(item, "assistant_id")?)
            .map_err(|_| corrupt("assistant_id"))?,
        subject: Subject::parse_key(get_s(item, "subject")?).ok_or_else(|| corrupt("subject"))?,
        expires_at: get_n(item, TTL)?,
    })
}

fn conversations_from(item: &Item) -> Result<Vec<String>, StoreError> {
    let list = item
        .get("conversations")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| corrupt("conversations"))?;
    list.iter()
        .map(|v| v.as_s().cloned().map_err(|_| corrupt("conversations")))
        .collect()
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut item = items::session_key(&session.digest);
        item.insert("link_id".into(), s(session.link.as_str()));
        item.insert("assistant_id".into(), s(session.assistant.as_str()));
        item.insert("subject".into(), s(session.subject.as_key()));
        item.insert(TTL.into(), n(session.expires_at));
        let now = self.clock.now_secs();
        if self.put_unless_live(item, now).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    async fn session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        let key = items::session_key(digest);
        self.read(key, false, |i| session_from(digest, i)).await
    }

    async fn renew_session(&self, digest: &TokenDigest, expires_at: i64) -> Result<(), StoreError> {
        let out = self
            .update(
                items::session_key(digest),
                "SET #ttl = :exp",
                "attribute_exists(pk) AND #ttl > :now",
            )
            .expression_attribute_values(":exp", n(expires_at))
            .send()
            .await;
        // A session that expired meanwhile stays expired.
        conditional("UpdateItem", out)?;
        Ok(())
    }

    async fn conversations(&self, visitor: &VisitorKey) -> Result<Vec<ThreadId>, StoreError> {
        let item = self.get_live(items::visitor_key(visitor), true).await?;
        let raw = item.as_ref().map(conversations_from).transpose()?;
        raw.unwrap_or_default()
            .iter()
            .map(|c| ThreadId::parse(c).map_err(|_| corrupt("conversations")))
            .collect()
    }

    /// Read, change, and write back conditional on the version read: two tabs adding
    /// conversations at once both land (the loser retries on the winner's list).
    async fn add_conversation(&self, who: &VisitorKey, id: &ThreadId) -> Result<(), StoreError> {
        let expires_at = self.clock.now_secs() + CONVERSATIONS_TTL_SECS;
        for _ in 0..5 {
            let current = self.get_live(items::visitor_key(who), true).await?;
            let (list, version) = match &current {
                Some(item) => (conversations_from(item)?, items::opt_n(item, "version")),
                None => (Vec::new(), None),
            };
            let list = with_conversation(list, id.as_str().to_owned());
            let next_version = version.unwrap_or(0) + 1;
            let mut item = items::visitor_key(who);
            item.insert(
                "conversations".into(),
                AttributeValue::L(list.into_iter().map(AttributeValue::S).collect()),
            );
            item.insert("version".into(), n(next_version));
            item.insert(TTL.into(), n(expires_at));
            let put = self.put_item().set_item(Some(item));
            let put = match version {
                // Absent, or present but expired (TTL deletes late): start afresh.
                None => put
                    .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                    .expression_attribute_names("#ttl", TTL)
                    .expression_attribute_values(":now", n(self.clock.now_secs())),
                Some(v) => put
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(v)),
            };
            match put.send().await {
                Ok(_) => return Ok(()),
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(classify("PutItem", e)),
            }
        }
        Err(StoreError::Conflict)
    }

    async fn put_code(&self, key: &str, code: &EmailCode) -> Result<(), StoreError> {
        let mut item = items::code_key(key);
        item.insert("mac".into(), s(code.mac.clone()));
        item.insert("tries".into(), n(code.tries));
        item.insert(TTL.into(), n(code.expires_at));
        self.put_item()
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(())
    }

    async fn code(&self, key: &str) -> Result<Option<EmailCode>, StoreError> {
        self.read(items::code_key(key), true, |i| {
            Ok(EmailCode {
                mac: get_s(i, "mac")?.to_owned(),
                expires_at: get_n(i, TTL)?,
                tries: u32::try_from(get_n(i, "tries")?).map_err(|_| corrupt("tries"))?,
            })
        })
        .await
    }

    async fn count_wrong_try(&self, key: &str, mac: &str) -> Result<Option<u32>, StoreError> {
        let out = self
            .update(
                items::code_key(key),
                "ADD tries :one",
                "mac = :mac AND #ttl > :now",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":mac", s(mac))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let attrs = out.attributes().cloned().unwrap_or_default();
                let tries = get_n(&attrs, "tries")?;
                Ok(Some(u32::try_from(tries).map_err(|_| corrupt("tries"))?))
            }
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(classify("UpdateItem", e)),
        }
    }

    async fn consume_code(&self, key: &str, mac: &str) -> Result<bool, StoreError> {
        let out = self
            .delete_item()
            .set_key(Some(items::code_key(key)))
            .condition_expression("mac = :mac AND #ttl > :now AND tries < :max")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":mac", s(mac))
            .expression_attribute_values(":now", n(self.clock.now_secs()))
            .expression_attribute_values(":max", n(MAX_CODE_TRIES))
            .send()
            .await;
        Ok(conditional("DeleteItem", out)?.is_some())
    }
}
