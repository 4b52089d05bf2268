//! Native-stream snapshots: bytes, frames and encoding time of one reply, sending one
//! `messages/partial` per token (the baseline) versus coalescing snapshots to one per
//! 50 ms or more as the message grows (the engine's rule), measured in the same run. Tokens arrive on a simulated clock at 50 tokens/s,
//! a typical model pace; the coalescing decision is the engine's own `Coalescer`.
//!
//! Run: `cargo bench -p agentgate-shared --bench snapshots` (or `scripts/bench.sh`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use agentgate_shared::stream::Encoder;
use agentgate_shared::stream::coalesce::Coalescer;
use agentgate_shared::stream::native::NativeEncoder;

const TOKEN: &str = "word ";
const GAP_MS: u64 = 20;
const REPEATS: usize = 15;

struct Outcome {
    frames: usize,
    bytes: usize,
}

/// Encodes a reply of `n` tokens the way the run engine would with `interval`.
fn encode(n: usize, interval: Duration) -> Outcome {
    let mut enc = NativeEncoder::new("run", "thread");
    let mut coalescer = Coalescer::new(interval);
    let mut text = String::new();
    let (mut frames, mut bytes) = (0, 0);
    let mut flush_at: Option<u64> = None;
    let mut emit = |enc: &mut NativeEncoder, text: &str| {
        for f in enc.delta("", text) {
            frames += 1;
            bytes += black_box(f).len();
        }
    };
    for i in 0..n as u64 {
        let now = i * GAP_MS;
        if let Some(at) = flush_at.filter(|at| *at <= now) {
            coalescer.emitted(at);
            flush_at = None;
            emit(&mut enc, &text);
        }
        text.push_str(TOKEN);
        match coalescer.on_text(now, text.len()) {
            None => {
                flush_at = None;
                emit(&mut enc, &text);
            }
            Some(at) => {
                flush_at.get_or_insert(at);
            }
        }
    }
    if coalescer.pending() {
        emit(&mut enc, &text);
    }
    Outcome { frames, bytes }
}

/// Median wall time of `REPEATS` runs.
fn time(n: usize, interval: Duration) -> (Outcome, Duration) {
    let mut times: Vec<Duration> = (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            black_box(encode(n, interval));
            t.elapsed()
        })
        .collect();
    times.sort();
    (encode(n, interval), times[REPEATS / 2])
}

fn main() {
    println!(
        "tokens | per-token: frames, bytes, time | coalesced: frames, bytes, time | ratios (coalesced / per-token): bytes, time"
    );
    for n in [256, 1024, 4096] {
        let (base, base_t) = time(n, Duration::ZERO);
        let (co, co_t) = time(n, Duration::from_millis(50));
        println!(
            "{n:>6} | {:>5}, {:>10}, {:>9.2?} | {:>5}, {:>10}, {:>9.2?} | {:.3}, {:.3}",
            base.frames,
            base.bytes,
            base_t,
            co.frames,
            co.bytes,
            co_t,
            co.bytes as f64 / base.bytes as f64,
            co_t.as_secs_f64() / base_t.as_secs_f64(),
        );
    }
}
