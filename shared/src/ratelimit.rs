//! Applies rate-limit caps with exact conditional counters (see
//! [`crate::domain::ratelimit`] for the policy and why caps are checked narrowest first).

use crate::config::Settings;
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::ratelimit::Cap;
use crate::ports::{Admission, CounterStore, StoreError};

/// Which cap refused a request, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub scope: String,
    pub retry_after_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("rate limited by {}", .0.scope)]
    Limited(Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The caps of a public request: per caller per minute (the caller being an end user, an
/// IP address or a visitor, when one is known), then per assistant per day across every
/// public endpoint, sharded so a flood cannot pin one partition.
pub fn public_caps(
    settings: &Settings,
    assistant: &AssistantId,
    caller: Option<String>,
) -> Vec<Cap> {
    let mut caps = Vec::with_capacity(2);
    if let Some(c) = caller {
        caps.push(Cap::new(
            format!("{c}:{assistant}"),
            settings.rate_per_minute,
            60,
        ));
    }
    caps.push(
        Cap::new(
            format!("assistant:{assistant}"),
            settings.daily_limit,
            86_400,
        )
        .sharded(settings.daily_shards),
    );
    caps
}

/// Per source address per minute on one assistant: what every public family counts, so
/// no caller escapes a limit by changing whatever else names it (`AGENTGATE_IP_PER_MINUTE`).
pub fn ip_cap(
    settings: &Settings,
    family: &str,
    assistant: &AssistantId,
    ip: Option<std::net::IpAddr>,
) -> Option<Cap> {
    ip.map(|ip| {
        Cap::new(
            format!("{family}-ip:{assistant}:{ip}"),
            settings.ip_per_minute,
            60,
        )
    })
}

/// The caps of an OpenAI-compatible request: per named end user per minute, or, when the
/// request names none, per token per minute (`AGENTGATE_ANONYMOUS_PER_MINUTE`); then per
/// source address, then the assistant's daily cap.
pub fn openai_caps(
    settings: &Settings,
    assistant: &AssistantId,
    end_user: Option<&str>,
    ip: Option<std::net::IpAddr>,
) -> Vec<Cap> {
    let caller = match end_user {
        Some(u) => Cap::new(
            format!("openai-user:{u}:{assistant}"),
            settings.rate_per_minute,
            60,
        ),
        None => Cap::new(
            format!("openai-anonymous:{assistant}"),
            settings.anonymous_per_minute,
            60,
        ),
    };
    let mut caps = vec![caller];
    caps.extend(ip_cap(settings, "openai", assistant, ip));
    caps.extend(public_caps(settings, assistant, None));
    caps
}

/// The four caps of a widget message, narrowest first: per visitor per hour, per source IP
/// per hour (catches visitors that rotate their id), per assistant per day (shared with
/// the other public endpoints) and per owner per day across all their assistants.
pub fn widget_caps(
    settings: &Settings,
    assistant: &AssistantId,
    owner: &UserId,
    visitor: &str,
    ip: Option<std::net::IpAddr>,
) -> Vec<Cap> {
    let mut caps = vec![Cap::new(
        format!("widget-visitor:{assistant}:{visitor}"),
        settings.widget_visitor_per_hour,
        3_600,
    )];
    if let Some(ip) = ip {
        caps.push(Cap::new(
            format!("widget-ip:{assistant}:{ip}"),
            settings.widget_ip_per_hour,
            3_600,
        ));
    }
    caps.extend(public_caps(settings, assistant, None));
    caps.push(
        Cap::new(format!("owner:{owner}"), settings.owner_daily_limit, 86_400)
            .sharded(settings.daily_shards),
    );
    caps
}

/// The window in which failed credential attempts from one address are counted.
pub const GUESS_WINDOW_SECS: i64 = 600;

/// Throttles guessing: wrong public tokens, link tokens and session tokens from one source
/// address. Checked before a credential is looked up, counted when it turns out wrong;
/// past the limit the address gets `429` until the window ends, right credentials included.
#[derive(Clone)]
pub struct Guesses {
    cap: Option<Cap>,
    now: i64,
}

impl Guesses {
    /// Refuses an address that already failed too often in this window.
    pub async fn check(
        store: &dyn CounterStore,
        settings: &Settings,
        ip: Option<std::net::IpAddr>,
        now: i64,
    ) -> Result<Self, RateLimitError> {
        let cap = ip.map(|ip| {
            Cap::new(
                format!("guess:{ip}"),
                settings.guesses_per_window,
                GUESS_WINDOW_SECS,
            )
        });
        if let Some(cap) = &cap {
            let (counter, limit) = (cap.shard_key(now, 0), cap.shard_limit(0));
            if store.counter_value(&counter).await? >= limit {
                return Err(RateLimitError::Limited(Limited {
                    scope: cap.scope.clone(),
                    retry_after_secs: cap.retry_after(now),
                }));
            }
        }
        Ok(Self { cap, now })
    }

    /// [`Self::check`] while `lookup` reads the presented credential, both at once (one
    /// round trip): a refused address learns nothing from the lookup either way.
    pub async fn check_while<T, E: From<RateLimitError>>(
        store: &dyn CounterStore,
        settings: &Settings,
        ip: Option<std::net::IpAddr>,
        now: i64,
        lookup: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<(Self, T), E> {
        let (guesses, found) = tokio::join!(Self::check(store, settings, ip, now), lookup);
        Ok((guesses?, found?))
    }

    /// Counts one wrong credential.
    pub async fn failed(&self, store: &dyn CounterStore) -> Result<(), StoreError> {
        if let Some(cap) = &self.cap {
            admit_one(store, cap, self.now).await?;
        }
        Ok(())
    }
}

/// Whether an owner's plan still has messages this month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Within,
    /// The monthly ceiling is reached (until the month ends).
    Reached,
}

/// Counts one message against the owner's monthly ceiling (`AGENTGATE_OWNER_MONTHLY_MESSAGES`,
/// 0 for none), exactly under concurrency like the other caps.
pub async fn plan(
    store: &dyn CounterStore,
    settings: &Settings,
    owner: &UserId,
    now_secs: i64,
) -> Result<Plan, StoreError> {
    Ok(match count_plan(store, settings, owner, now_secs).await? {
        PlanCount::Reached => Plan::Reached,
        PlanCount::NoCeiling | PlanCount::Counted(_) => Plan::Within,
    })
}

/// What counting a message against the monthly ceiling did.
enum PlanCount {
    NoCeiling,
    /// Counted on this counter key.
    Counted(String),
    Reached,
}

async fn count_plan(
    store: &dyn CounterStore,
    settings: &Settings,
    owner: &UserId,
    now_secs: i64,
) -> Result<PlanCount, StoreError> {
    let limit = settings.owner_monthly_messages;
    if limit == 0 {
        return Ok(PlanCount::NoCeiling);
    }
    let (month, ends) = crate::domain::time::month_of(now_secs);
    let key = plan_key(owner, &month);
    Ok(
        match store.increment_below(&key, limit, ends + 86_400).await? {
            Admission::Admitted(_) => PlanCount::Counted(key),
            Admission::Rejected => PlanCount::Reached,
        },
    )
}

/// The caps and the owner's monthly ceiling at once (one round trip to the store): a
/// message refused by either is counted by neither, so the plan counts only messages the
/// caps admitted and a message past the ceiling uses up no cap.
pub async fn admit_within_plan(
    store: &dyn CounterStore,
    settings: &Settings,
    caps: &[Cap],
    owner: &UserId,
    now_secs: i64,
) -> Result<Plan, RateLimitError> {
    let (caps_counted, plan) = tokio::join!(
        admit_counting(store, caps, now_secs),
        count_plan(store, settings, owner, now_secs)
    );
    match (caps_counted, plan) {
        (Err(e), plan) => {
            if let Ok(PlanCount::Counted(key)) = plan {
                release_all(store, &[key]).await;
            }
            Err(e)
        }
        (Ok(counted), Err(e)) => {
            release_all(store, &counted).await;
            Err(e.into())
        }
        (Ok(counted), Ok(PlanCount::Reached)) => {
            release_all(store, &counted).await;
            Ok(Plan::Reached)
        }
        (Ok(_), Ok(PlanCount::NoCeiling | PlanCount::Counted(_))) => Ok(Plan::Within),
    }
}

/// The messages an owner's plan counted this month.
pub async fn plan_used(
    store: &dyn CounterStore,
    owner: &UserId,
    now_secs: i64,
) -> Result<u64, StoreError> {
    let (month, _) = crate::domain::time::month_of(now_secs);
    store.counter_value(&plan_key(owner, &month)).await
}

fn plan_key(owner: &UserId, month: &str) -> String {
    format!("plan:{owner}:{month}")
}

/// Counts the request against every cap at once (one round trip to the store, however
/// many caps). A request refused by any cap is counted by none: the counts it took on the
/// others are given back, so a refusal never uses up a wider (or narrower) cap. The
/// refusal reported is the narrowest cap's (caps are listed narrowest first).
///
/// No cap ever admits more than its limit. Under contention at two full caps at once, a
/// count taken back a moment later can refuse a request that would have fit: the error is
/// always on the safe side.
pub async fn admit(
    store: &dyn CounterStore,
    caps: &[Cap],
    now_secs: i64,
) -> Result<(), RateLimitError> {
    admit_counting(store, caps, now_secs).await.map(|_| ())
}

/// [`admit`], returning the counter keys it counted on.
async fn admit_counting(
    store: &dyn CounterStore,
    caps: &[Cap],
    now_secs: i64,
) -> Result<Vec<String>, RateLimitError> {
    let outcomes = count_each(store, caps, now_secs).await;
    let mut counted = Vec::with_capacity(caps.len());
    let mut refusal: Option<RateLimitError> = None;
    for (cap, outcome) in caps.iter().zip(outcomes) {
        match outcome {
            Ok(Some(key)) => counted.push(key),
            Ok(None) => {
                if refusal.is_none() {
                    refusal = Some(RateLimitError::Limited(Limited {
                        scope: cap.scope.clone(),
                        retry_after_secs: cap.retry_after(now_secs),
                    }));
                }
            }
            // A store failure wins over a refusal: the request was not decided.
            Err(e) => {
                if !matches!(refusal, Some(RateLimitError::Store(_))) {
                    refusal = Some(RateLimitError::Store(e));
                }
            }
        }
    }
    match refusal {
        None => Ok(counted),
        Some(e) => {
            release_all(store, &counted).await;
            Err(e)
        }
    }
}

/// Gives back one count on each of `keys`, at once. A failure leaves a count that ends with
/// its window: it is logged, never surfaced over the refusal being answered.
async fn release_all(store: &dyn CounterStore, keys: &[String]) {
    let released = futures::future::join_all(keys.iter().map(|k| store.release(k))).await;
    for e in released.into_iter().filter_map(Result::err) {
        tracing::warn!(error = %e, "a refused request's count was not given back");
    }
}

/// One count on each cap, in one call to the store: each cap's first try is a random
/// shard, so the writes of a flood spread across shards; a sharded cap whose shard is full
/// then probes the others, so the cap is exact once all are full. The counter each cap
/// counted on, or `None` when it is full. Only the keys tried are built.
async fn count_each(
    store: &dyn CounterStore,
    caps: &[Cap],
    now_secs: i64,
) -> Vec<Result<Option<String>, StoreError>> {
    // A random shard among those with a share of the cap, from one read of the OS's
    // random source for the whole request (a read per cap was a system call each).
    let random = crate::random::bytes::<16>();
    let starts: Vec<u32> = caps
        .iter()
        .enumerate()
        .map(|(i, c)| u32::from(random[i % random.len()]) % c.open_shards())
        .collect();
    let first: Vec<(String, u64, i64)> = caps
        .iter()
        .zip(&starts)
        .map(|(cap, &i)| {
            let key = cap.shard_key(now_secs, i);
            (key, cap.shard_limit(i), cap.expires_at(now_secs))
        })
        .collect();
    let outcomes = store.increment_each(&first).await;
    let mut out = Vec::with_capacity(caps.len());
    for ((outcome, (key, _, _)), (cap, &start)) in outcomes
        .into_iter()
        .zip(first)
        .zip(caps.iter().zip(&starts))
    {
        out.push(match outcome {
            Err(e) => Err(e),
            Ok(Admission::Admitted(_)) => Ok(Some(key)),
            Ok(Admission::Rejected) => probe_others(store, cap, start, now_secs).await,
        });
    }
    out
}

/// The shards of `cap` after `tried`, in turn, until one admits.
async fn probe_others(
    store: &dyn CounterStore,
    cap: &Cap,
    tried: u32,
    now_secs: i64,
) -> Result<Option<String>, StoreError> {
    for step in 1..cap.shards {
        let i = (tried + step) % cap.shards;
        let limit = cap.shard_limit(i);
        if limit == 0 {
            continue;
        }
        let key = cap.shard_key(now_secs, i);
        let expires_at = cap.expires_at(now_secs);
        if let Admission::Admitted(_) = store.increment_below(&key, limit, expires_at).await? {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// One cap on its own (a wrong credential's count).
async fn admit_one(
    store: &dyn CounterStore,
    cap: &Cap,
    now_secs: i64,
) -> Result<Option<String>, StoreError> {
    count_each(store, std::slice::from_ref(cap), now_secs)
        .await
        .pop()
        .unwrap_or(Ok(None))
}
