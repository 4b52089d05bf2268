//! Coalescing of snapshot-style frames.
//!
//! The native dialect sends the whole message so far in every `messages/partial`, so one
//! frame per token makes the bytes on the wire grow with the square of the reply length
//! (a 4,096-token reply would re-send ~42 MB). Snapshots are therefore spaced by an
//! interval that grows with the message: at least the configured minimum (50 ms by
//! default, as live as a reader can see), then about 16 KB of snapshot per second, and
//! never more than a second apart. The last snapshot always carries the complete text.
//! The decision is pure (times in ms) so the run engine and the benchmark share it.

use std::time::Duration;

/// Snapshot bytes per second once messages are long.
const BYTES_PER_SEC: u64 = 16 * 1024;
/// Longest spacing between snapshots while text keeps coming.
const MAX_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Clone)]
pub struct Coalescer {
    min_interval_ms: u64,
    last_emit_ms: Option<u64>,
    pending: bool,
}

impl Coalescer {
    /// `min_interval` zero disables coalescing: every text goes out at once.
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval_ms: u64::try_from(min_interval.as_millis()).unwrap_or(u64::MAX),
            last_emit_ms: None,
            pending: false,
        }
    }

    /// The spacing for a message of `len` bytes.
    pub fn interval_ms(&self, len: usize) -> u64 {
        if self.min_interval_ms == 0 {
            return 0;
        }
        let by_size = (len as u64).saturating_mul(1000) / BYTES_PER_SEC;
        by_size.clamp(
            self.min_interval_ms,
            MAX_INTERVAL_MS.max(self.min_interval_ms),
        )
    }

    /// The message reached `len` bytes at `now_ms`: `None` means emit a snapshot now;
    /// `Some(t)` means hold it and emit at `t` unless more text comes first.
    pub fn on_text(&mut self, now_ms: u64, len: usize) -> Option<u64> {
        let interval = self.interval_ms(len);
        match self.last_emit_ms {
            Some(last) if now_ms.saturating_sub(last) < interval => {
                self.pending = true;
                Some(last + interval)
            }
            _ => {
                self.emitted(now_ms);
                None
            }
        }
    }

    /// A held snapshot was emitted at `now_ms`.
    pub fn emitted(&mut self, now_ms: u64) {
        self.last_emit_ms = Some(now_ms);
        self.pending = false;
    }

    /// Whether text arrived that no emitted snapshot carries yet.
    pub fn pending(&self) -> bool {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_text_goes_out_at_once_then_at_most_one_per_interval() {
        let mut c = Coalescer::new(Duration::from_millis(50));
        assert_eq!(c.on_text(0, 5), None);
        assert_eq!(c.on_text(10, 10), Some(50));
        assert_eq!(c.on_text(30, 15), Some(50));
        assert!(c.pending());
        c.emitted(50);
        assert!(!c.pending());
        assert_eq!(
            c.on_text(120, 20),
            None,
            "after a quiet interval text goes out at once"
        );
    }

    #[test]
    fn spacing_grows_with_the_message_up_to_a_second() {
        let c = Coalescer::new(Duration::from_millis(50));
        assert_eq!(c.interval_ms(100), 50);
        assert_eq!(c.interval_ms(8 * 1024), 500);
        assert_eq!(c.interval_ms(1 << 20), 1_000);
    }

    #[test]
    fn a_zero_interval_emits_everything() {
        let mut c = Coalescer::new(Duration::ZERO);
        assert!((0..5).all(|t| c.on_text(t, 1 << 20).is_none()));
        assert!(!c.pending());
    }
}
