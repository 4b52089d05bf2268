//! Rate-limit policy: fixed windows, counter keys, and how several caps combine.
//!
//! Each cap counts requests in a fixed window whose start is part of the counter key, so
//! a new window is a new key and nothing depends on TTL deleting the old one. Caps are
//! checked from the narrowest scope to the widest (visitor, IP, bot, account) and each
//! check is an exact conditional increment. A request refused by a cap therefore leaves
//! a count on the narrower caps that admitted it and none on the wider ones: one noisy
//! visitor exhausts only their own allowance, never the bot's or the account's. (An
//! all-or-nothing transaction would avoid that residue at twice the write cost; the
//! residue only ever errs towards refusing the caller who is already over a limit.)
//!
//! Wide caps (per bot, per account) are split over shards so that a flood spreads over
//! several partitions instead of one hot key; the shard limits add up exactly to the cap.

/// One limit: at most `limit` requests per `window_secs` for `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// Names the thing limited, e.g. `widget:visitor:<bot>:<visitor>`.
    pub scope: String,
    pub limit: u64,
    pub window_secs: i64,
    /// How many counters share the limit (1 = unsharded).
    pub shards: u32,
}

impl Cap {
    pub fn new(scope: impl Into<String>, limit: u64, window_secs: i64) -> Self {
        Self {
            scope: scope.into(),
            limit,
            window_secs: window_secs.max(1),
            shards: 1,
        }
    }

    pub fn sharded(mut self, shards: u32) -> Self {
        self.shards = shards.clamp(1, 64);
        self
    }

    /// Start of the window containing `now_secs`.
    pub fn window_start(&self, now_secs: i64) -> i64 {
        now_secs - now_secs.rem_euclid(self.window_secs)
    }

    /// Seconds until the current window ends: the `Retry-After` of a refusal.
    pub fn retry_after(&self, now_secs: i64) -> u64 {
        u64::try_from(self.window_start(now_secs) + self.window_secs - now_secs)
            .unwrap_or(1)
            .max(1)
    }

    /// When the counters of the current window may be forgotten (one window of slack).
    pub fn expires_at(&self, now_secs: i64) -> i64 {
        self.window_start(now_secs) + 2 * self.window_secs
    }

    /// Every shard's counter key and limit for the window containing `now_secs`.
    /// Limits differ by at most one and sum to `limit`.
    pub fn shard_counters(&self, now_secs: i64) -> Vec<(String, u64)> {
        (0..self.shards)
            .map(|i| (self.shard_key(now_secs, i), self.shard_limit(i)))
            .collect()
    }

    /// Shard `i`'s share of `limit`: the first `limit % shards` shards take one more.
    pub fn shard_limit(&self, i: u32) -> u64 {
        let n = u64::from(self.shards);
        self.limit / n + u64::from(u64::from(i) < self.limit % n)
    }

    /// How many shards have a share above zero: the first ones (a cap smaller than its
    /// shard count leaves the last ones at zero), at least one.
    pub fn open_shards(&self) -> u32 {
        u32::try_from(self.limit.min(u64::from(self.shards))).map_or(self.shards, |n| n.max(1))
    }

    /// Shard `i`'s counter key for the window containing `now_secs`.
    pub fn shard_key(&self, now_secs: i64, i: u32) -> String {
        let start = self.window_start(now_secs);
        if self.shards == 1 {
            format!("rl:{}:{start}", self.scope)
        } else {
            format!("rl:{}:{start}:s{i}", self.scope)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_keys_change_with_them() {
        let cap = Cap::new("v", 30, 3600);
        assert_eq!(cap.window_start(7_200 + 59), 7_200);
        assert_eq!(cap.retry_after(7_200 + 59), 3_541);
        let a = cap.shard_counters(7_200);
        let b = cap.shard_counters(7_200 + 3_600);
        assert_ne!(a[0].0, b[0].0);
        assert_eq!(a[0].1, 30);
    }

    #[test]
    fn the_open_shards_are_those_with_a_share() {
        for (limit, shards) in [(10_000, 8), (7, 3), (2, 4), (0, 4), (1, 1), (0, 1)] {
            let cap = Cap::new("bot", limit, 60).sharded(shards);
            let open = cap.open_shards();
            let with_share = (0..shards).filter(|&i| cap.shard_limit(i) > 0).count();
            assert_eq!(open as usize, with_share.max(1), "{limit}/{shards}");
            assert!((0..open).all(|i| cap.shard_limit(i) > 0) || limit == 0);
        }
    }

    #[test]
    fn shard_limits_sum_to_the_cap() {
        for (limit, shards) in [(10_000, 8), (7, 3), (2, 4), (50_000, 16)] {
            let cap = Cap::new("bot", limit, 86_400).sharded(shards);
            let counters = cap.shard_counters(0);
            assert_eq!(counters.len(), shards as usize);
            assert_eq!(counters.iter().map(|c| c.1).sum::<u64>(), limit);
            let max = counters.iter().map(|c| c.1).max().unwrap();
            let min = counters.iter().map(|c| c.1).min().unwrap();
            assert!(max - min <= 1);
        }
    }
}
