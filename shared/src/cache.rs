//! Assistants, public-token lookups and public links kept for a few seconds per warm
//! instance.
//!
//! Every public turn starts by finding its assistant (and, on the OpenAI-compatible
//! family, the assistant its token opens; on the links family, the link its token opens). On DynamoDB each lookup is a network round trip
//! added to the time to first token, and the answer almost never changes between two
//! turns, so a warm instance keeps what it read for `AGENTGATE_ASSISTANT_CACHE_SECS`
//! (5 by default, 0 to read every time).
//!
//! What that means for an owner: a change made through this process (the local server,
//! where every family shares one cache) is seen at once, because the write forgets the
//! entry. On Lambda the owner API runs in another function, so another function's warm
//! instance may serve the previous configuration, or accept a rotated-out token, for at
//! most that many seconds after the change (a link disabled or deleted through the owner API
//! likewise). Sessions are never cached: ending one takes effect at once. Absent
//! assistants, links and unknown tokens are never cached: a new assistant answers at once, and guessing cannot fill the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::assistant::Assistant;
use crate::domain::ids::AssistantId;
use crate::domain::link::PublicLink;
use crate::domain::token::TokenDigest;
use crate::ports::{Store, StoreError};

/// At most this many entries of each kind; a full map drops its expired entries, then
/// everything (a flood of distinct ids cannot grow the instance's memory).
const MAX_ENTRIES: usize = 1024;

struct Entry<T> {
    value: T,
    until: Instant,
}

struct Map<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Map<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|e| e.until > Instant::now())
            .map(|e| e.value.clone())
    }

    fn put(&self, key: K, value: V, ttl: Duration) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                until: now + ttl,
            },
        );
    }

    fn forget_where(&self, drop: impl Fn(&K, &V) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|k, e| !drop(k, &e.value));
        }
    }
}

/// The cache; cheap to clone (clones share it).
#[derive(Clone)]
pub struct Assistants {
    store: Arc<dyn Store>,
    ttl: Duration,
    by_id: Arc<Map<AssistantId, Assistant>>,
    by_token: Arc<Map<TokenDigest, AssistantId>>,
    links: Arc<Map<TokenDigest, PublicLink>>,
}

impl std::fmt::Debug for Assistants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assistants")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Assistants {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            by_id: Arc::new(Map::new()),
            by_token: Arc::new(Map::new()),
            links: Arc::new(Map::new()),
        }
    }

    /// The public link a token digest opens, from the cache while its entry is fresh.
    pub async fn link_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<PublicLink>, StoreError> {
        self.through(&self.links, digest, self.store.find_link_by_token(digest))
            .await
    }

    /// Drops what is cached of `assistant`'s links (after its owner changed one here).
    pub fn forget_links(&self, assistant: &AssistantId) {
        self.links.forget_where(|_, l| &l.assistant == assistant);
    }

    /// The assistant `id`, from the cache while its entry is fresh.
    pub async fn get(&self, id: &AssistantId) -> Result<Option<Assistant>, StoreError> {
        self.through(&self.by_id, id, self.store.get_assistant(id))
            .await
    }

    /// The assistant a live token digest opens, from the cache while its entry is fresh.
    /// The caller still checks the token against the assistant it gets.
    pub async fn by_token(&self, digest: &TokenDigest) -> Result<Option<AssistantId>, StoreError> {
        self.through(
            &self.by_token,
            digest,
            self.store.find_assistant_by_token(digest),
        )
        .await
    }

    /// `key`'s fresh entry in `map`, else what `load` reads (kept when found).
    async fn through<K, V>(
        &self,
        map: &Map<K, V>,
        key: &K,
        load: impl std::future::Future<Output = Result<Option<V>, StoreError>>,
    ) -> Result<Option<V>, StoreError>
    where
        K: std::hash::Hash + Eq + Clone,
        V: Clone,
    {
        let cached = !self.ttl.is_zero();
        if let Some(found) = map.get(key).filter(|_| cached) {
            return Ok(Some(found));
        }
        let found = load.await?;
        if let Some(v) = found.as_ref().filter(|_| cached) {
            map.put(key.clone(), v.clone(), self.ttl);
        }
        Ok(found)
    }

    /// Drops what is cached of `id` (after its owner changed it here).
    pub fn forget(&self, id: &AssistantId) {
        self.by_id.forget_where(|k, _| k == id);
        self.by_token.forget_where(|_, v| v == id);
        self.forget_links(id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::domain::assistant::AssistantPatch;
    use crate::domain::ids::UserId;
    use crate::domain::token::PublicToken;
    use crate::store::SqliteStore;

    const TOKEN: &str = "pubkey_cache_0123456789";

    fn assistant(name: &str) -> Assistant {
        let conf = serde_json::json!({"type==agent/access_mode": "public_token",
                                      "type==agent/public_token": TOKEN});
        let patch = AssistantPatch {
            name: Some(name.into()),
            configurable: conf.as_object().cloned().unwrap(),
        };
        Assistant::create(
            UserId::parse("owner").unwrap(),
            &patch,
            SystemClock.now_ms(),
        )
        .unwrap()
    }

    fn renamed(a: &Assistant, name: &str) -> Assistant {
        let patch = AssistantPatch {
            name: Some(name.into()),
            configurable: serde_json::Map::new(),
        };
        a.patched(&patch, SystemClock.now_ms()).unwrap()
    }

    #[tokio::test]
    async fn fresh_entries_are_served_forgotten_ones_and_expired_ones_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path(), Arc::new(SystemClock)).unwrap());
        let cache = Assistants::new(store.clone(), Duration::from_millis(300));
        let a = assistant("first");
        // Unknown ids and tokens are not remembered: the new assistant answers at once.
        assert!(cache.get(&a.id).await.unwrap().is_none());
        let digest = PublicToken::parse_presented(TOKEN).unwrap().digest();
        assert!(cache.by_token(&digest).await.unwrap().is_none());
        store.create_assistant(&a).await.unwrap();
        assert_eq!(cache.get(&a.id).await.unwrap().unwrap().name, "first");
        assert_eq!(cache.by_token(&digest).await.unwrap(), Some(a.id.clone()));

        // Changed behind the cache's back (another instance): the cached copy is served.
        let b = renamed(&a, "second");
        store.update_assistant(&a, &b).await.unwrap();
        assert_eq!(cache.get(&a.id).await.unwrap().unwrap().name, "first");
        // Changed through this process: forgotten at once.
        cache.forget(&a.id);
        assert_eq!(cache.get(&a.id).await.unwrap().unwrap().name, "second");

        // And within the window otherwise.
        let c = renamed(&b, "third");
        store.update_assistant(&b, &c).await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(cache.get(&a.id).await.unwrap().unwrap().name, "third");

        // A zero window reads every time.
        let uncached = Assistants::new(store.clone(), Duration::ZERO);
        let d = renamed(&c, "fourth");
        store.update_assistant(&c, &d).await.unwrap();
        assert_eq!(uncached.get(&a.id).await.unwrap().unwrap().name, "fourth");
    }

    #[tokio::test]
    async fn links_are_kept_until_their_owner_changes_one_here() {
        use crate::domain::link::{LinkSettings, PublicLink};
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path(), Arc::new(SystemClock)).unwrap());
        let cache = Assistants::new(store.clone(), Duration::from_secs(60));
        let a = assistant("linked");
        let digest = TokenDigest::of("link_cache_token_0123456789");
        assert!(
            cache.link_by_token(&digest).await.unwrap().is_none(),
            "unknown"
        );
        let link = PublicLink::new(&a.id, &a.owner, digest.clone(), LinkSettings::default(), 0);
        store.create_link(&link).await.unwrap();
        assert_eq!(
            cache.link_by_token(&digest).await.unwrap(),
            Some(link.clone())
        );
        store.delete_link(&link).await.unwrap();
        // Another instance's deletion is seen once the entry expires; this one's at once.
        assert!(cache.link_by_token(&digest).await.unwrap().is_some());
        cache.forget_links(&a.id);
        assert!(cache.link_by_token(&digest).await.unwrap().is_none());
    }

    #[test]
    fn a_full_map_drops_entries_instead_of_growing() {
        let map: Map<u32, u32> = Map::new();
        for i in 0..(MAX_ENTRIES as u32 * 3) {
            map.put(i, i, Duration::from_secs(60));
        }
        assert!(map.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
