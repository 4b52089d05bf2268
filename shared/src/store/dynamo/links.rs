//! Public links: the link item lives in its assistant's partition (one `Query` lists an
//! assistant's links) and one index item maps the token digest to it; both are written and
//! deleted together in a transaction, so the index never names a missing link.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::{cancelled_at, classify, or_conflict};
use super::items::{self, Item, corrupt, get_n, get_s, n, opt_n, s};
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::link::{LinkId, LinkSettings, PublicLink};
use crate::domain::token::TokenDigest;
use crate::ports::{LinkStore, StoreError};

impl From<&PublicLink> for Item {
    fn from(l: &PublicLink) -> Self {
        let st = &l.settings;
        let mut item = items::link_key(&l.assistant, &l.id);
        item.insert("id".into(), s(l.id.as_str()));
        item.insert("assistant_id".into(), s(l.assistant.as_str()));
        item.insert("owner".into(), s(l.owner.as_str()));
        item.insert("token_digest".into(), s(l.token_digest.to_hex()));
        item.insert("enabled".into(), n(u8::from(st.enabled)));
        item.insert("require_email".into(), n(u8::from(st.require_email)));
        if let Some(w) = &st.welcome_message {
            item.insert("welcome_message".into(), s(w.clone()));
        }
        item.insert("rate_limit_per_hour".into(), n(st.rate_limit_per_hour));
        if let Some(e) = st.expires_at {
            item.insert("expires_at".into(), n(e));
        }
        item.insert("created_at".into(), n(l.created_at));
        item.insert("updated_at".into(), n(l.updated_at));
        item.insert("version".into(), n(l.version));
        item
    }
}

fn link_from(item: &Item) -> Result<PublicLink, StoreError> {
    let settings = LinkSettings {
        enabled: get_n(item, "enabled")? != 0,
        require_email: get_n(item, "require_email")? != 0,
        welcome_message: item
            .get("welcome_message")
            .and_then(|v| v.as_s().ok())
            .cloned(),
        rate_limit_per_hour: u32::try_from(get_n(item, "rate_limit_per_hour")?)
            .map_err(|_| corrupt("rate_limit_per_hour"))?,
        expires_at: opt_n(item, "expires_at"),
    };
    Ok(PublicLink {
        id: LinkId::parse(get_s(item, "id")?).map_err(|_| corrupt("id"))?,
        assistant: AssistantId::parse(get_s(item, "assistant_id")?)
            .map_err(|_| corrupt("assistant_id"))?,
        owner: UserId::parse(get_s(item, "owner")?).map_err(|_| corrupt("owner"))?,
        token_digest: TokenDigest::try_from(get_s(item, "token_digest")?.to_owned())
            .map_err(|_| corrupt("token_digest"))?,
        settings,
        created_at: get_n(item, "created_at")?,
        updated_at: get_n(item, "updated_at")?,
        version: get_n(item, "version")?,
    })
}

fn index_item(l: &PublicLink) -> Item {
    let mut item = items::link_token_key(&l.token_digest);
    item.insert("assistant_id".into(), s(l.assistant.as_str()));
    item.insert("link_id".into(), s(l.id.as_str()));
    item
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn create_link(&self, link: &PublicLink) -> Result<(), StoreError> {
        let absent = Some("attribute_not_exists(pk)");
        let ops = vec![
            self.put_action(Item::from(link), absent)?,
            self.put_action(index_item(link), absent)?,
        ];
        match self.transact_all(ops).await {
            Ok(_) => Ok(()),
            Err(e) if cancelled_at(&e).is_some() => Err(StoreError::AlreadyExists),
            Err(e) => Err(classify("TransactWriteItems", e)),
        }
    }

    async fn get_link(
        &self,
        assistant: &AssistantId,
        id: &LinkId,
    ) -> Result<Option<PublicLink>, StoreError> {
        self.read(items::link_key(assistant, id), true, link_from)
            .await
    }

    async fn list_links(&self, assistant: &AssistantId) -> Result<Vec<PublicLink>, StoreError> {
        let query = self
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :l)")
            .expression_attribute_values(":pk", s(items::link_pk(assistant)))
            .expression_attribute_values(":l", s(items::LINK_SK_PREFIX))
            .consistent_read(true);
        let mut links = self
            .query_all(query, None)
            .await?
            .iter()
            .map(link_from)
            .collect::<Result<Vec<_>, _>>()?;
        links.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(links)
    }

    async fn update_link(&self, prev: &PublicLink, next: &PublicLink) -> Result<(), StoreError> {
        let put = self
            .put_item()
            .set_item(Some(Item::from(next)))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(prev.version))
            .send()
            .await;
        or_conflict("PutItem", put)
    }

    async fn delete_link(&self, link: &PublicLink) -> Result<(), StoreError> {
        let ops = vec![
            self.delete_action(items::link_key(&link.assistant, &link.id))?,
            self.delete_action(items::link_token_key(&link.token_digest))?,
        ];
        self.transact_all(ops)
            .await
            .map_err(|e| classify("TransactWriteItems", e))
    }

    async fn find_link_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<PublicLink>, StoreError> {
        let Some(index) = self.get_live(items::link_token_key(digest), false).await? else {
            return Ok(None);
        };
        let assistant = AssistantId::parse(get_s(&index, "assistant_id")?)
            .map_err(|_| corrupt("assistant_id"))?;
        let id = LinkId::parse(get_s(&index, "link_id")?).map_err(|_| corrupt("link_id"))?;
        let link = self.get_link(&assistant, &id).await?;
        // The digest is compared again so a stale index item can never open another link.
        Ok(link.filter(|l| l.token_digest.matches(digest)))
    }
}
