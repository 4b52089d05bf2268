//! Each function's release binary as Lambda runs it, under a local Runtime API on DynamoDB
//! Local: process start to the first event poll (cold start), and for each event the time
//! from handing it out to the first body byte and to the end of the response. For the
//! response-streaming functions the same events also run through the stock
//! `lambda_runtime` loop (`AGENTGATE_LAMBDA_RUNTIME=stock`), interleaved round by round, as
//! the baseline: its connection to the Runtime API lacks `TCP_NODELAY`.
//!
//! Run: `scripts/bench.sh lambda` (builds the release binaries, starts DynamoDB Local and
//! moto, then runs this). Prints a table and writes `target/bench/lambda.json`.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly by design

mod stats;

use std::path::PathBuf;
use std::time::Instant;

use agentgate_shared::testing::Deployment;
use agentgate_shared::testing::runtime::FakeRuntime;
use agentgate_shared::testing::samples::{prepare_samples, sample_event_files};
use serde_json::{Value, json};
use stats::{ms, pct};

const ROUNDS: usize = 15;
/// (function, responds with streaming)
const FUNCTIONS: [(&str, bool); 6] = [
    ("runs", true),
    ("openai", true),
    ("widget", true),
    ("links", true),
    ("assistants", false),
    ("memory", false),
];

fn bin_dir() -> PathBuf {
    std::env::var("AGENTGATE_BENCH_BIN_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release"),
        PathBuf::from,
    )
}

/// The first sample event of `function` sent to a path no route serves: the quickest
/// possible answer, so what it measures is the runtime's own overhead.
fn not_found(events: &[(String, String)]) -> Option<String> {
    let mut event: Value = serde_json::from_str(&events.first()?.1).ok()?;
    event.get("rawPath")?;
    event["rawPath"] = json!("/no/such/route");
    event["requestContext"]["http"]["path"] = json!("/no/such/route");
    Some(event.to_string())
}

/// Whether `function` answers HTTP requests (the memory function reads stream records).
fn samples_are_http(function: &str) -> bool {
    function != "memory"
}

#[derive(Default)]
struct Samples {
    cold_ms: Vec<f64>,
    not_found_first_ms: Vec<f64>,
    not_found_end_ms: Vec<f64>,
    event_first_ms: Vec<f64>,
    event_end_ms: Vec<f64>,
}

/// One cold process answering every event once.
async fn round(
    d: &Deployment,
    function: &str,
    stock: bool,
    events: &[(String, String)],
    out: &mut Samples,
) {
    let binary = bin_dir().join(function);
    assert!(
        binary.exists(),
        "{} is missing: run scripts/bench.sh lambda",
        binary.display()
    );
    let rt = FakeRuntime::start(events.to_vec()).await;
    let mut extra = vec![("RUST_LOG", "error")];
    if stock {
        extra.push(("AGENTGATE_LAMBDA_RUNTIME", "stock"));
    }
    let started = Instant::now();
    let mut child = d.spawn(&binary.to_string_lossy(), function, &rt, &extra);
    let replies = rt.wait_for(events.len(), 60).await;
    let _ = child.kill().await;
    assert_eq!(
        replies.len(),
        events.len(),
        "{function}: not every event was answered"
    );
    if let Some(first_poll) = rt.first_poll() {
        out.cold_ms.push(ms(first_poll - started));
    }
    for reply in replies {
        assert!(!reply.error, "{function}: {:?}", reply.body);
        let first = ms(reply.first_byte.unwrap_or(reply.done));
        if reply.request_id == "not-found" {
            out.not_found_first_ms.push(first);
            out.not_found_end_ms.push(ms(reply.done));
        } else {
            out.event_first_ms.push(first);
            out.event_end_ms.push(ms(reply.done));
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let d = Deployment::create().await;
    let mut plan = Vec::new();
    for (function, streamed) in FUNCTIONS {
        prepare_samples(&d.state, function).await;
        let samples = sample_event_files(function, &d.owner_jwt);
        let mut events: Vec<(String, String)> = not_found(&samples)
            .map(|e| ("not-found".to_owned(), e))
            .into_iter()
            .collect();
        events.extend(
            samples
                .into_iter()
                .enumerate()
                .map(|(i, (_, raw))| (format!("event-{i}"), raw)),
        );
        let modes: &[bool] = if streamed { &[true, false] } else { &[false] };
        for &stock in modes {
            plan.push((
                function,
                streamed,
                stock,
                events.clone(),
                Samples::default(),
            ));
        }
    }
    // Interleaved: every configuration once per round, so drift hits them alike.
    for _ in 0..ROUNDS {
        for (function, _, stock, events, out) in &mut plan {
            round(&d, function, *stock, events, out).await;
        }
    }

    println!(
        "\nLambda functions under a local Runtime API ({ROUNDS} cold processes each; times in ms, p50 / p99)\n"
    );
    println!(
        "| function | runtime | binary | cold start | 404: first byte | 404: end | events: first byte | events: end |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (function, streamed, stock, _, s) in &plan {
        let size = std::fs::metadata(bin_dir().join(function))
            .map(|m| m.len())
            .unwrap_or(0);
        let runtime = match (streamed, stock) {
            (false, _) if samples_are_http(function) => "lambda_http (buffered)",
            (false, _) => "lambda_runtime (events)",
            (true, true) => "stock lambda_runtime",
            (true, false) => "agentgate (TCP_NODELAY)",
        };
        let cell = |v: &[f64]| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.1} / {:.1}", pct(v, 0.5), pct(v, 0.99))
            }
        };
        println!(
            "| {function} | {runtime} | {:.1} MiB | {} | {} | {} | {} | {} |",
            size as f64 / 1_048_576.0,
            cell(&s.cold_ms),
            cell(&s.not_found_first_ms),
            cell(&s.not_found_end_ms),
            cell(&s.event_first_ms),
            cell(&s.event_end_ms),
        );
        rows.push(json!({
            "function": function, "runtime": runtime, "binary_bytes": size,
            "cold_start_ms": {"p50": pct(&s.cold_ms, 0.5), "p99": pct(&s.cold_ms, 0.99)},
            "not_found_first_byte_ms": {"p50": pct(&s.not_found_first_ms, 0.5), "p99": pct(&s.not_found_first_ms, 0.99)},
            "not_found_end_ms": {"p50": pct(&s.not_found_end_ms, 0.5), "p99": pct(&s.not_found_end_ms, 0.99)},
            "event_first_byte_ms": {"p50": pct(&s.event_first_ms, 0.5), "p99": pct(&s.event_first_ms, 0.99)},
            "event_end_ms": {"p50": pct(&s.event_end_ms, 0.5), "p99": pct(&s.event_end_ms, 0.99)},
        }));
    }
    println!();
    for (function, streamed, stock, _, s) in &plan {
        if *streamed && !*stock {
            let baseline = plan
                .iter()
                .find(|(f, _, st, _, _)| f == function && *st)
                .map(|(_, _, _, _, b)| b)
                .unwrap();
            println!(
                "{function}: 404 first byte {:.2}x faster, events' first byte {:.2}x faster than the stock runtime (p50)",
                pct(&baseline.not_found_first_ms, 0.5) / pct(&s.not_found_first_ms, 0.5),
                pct(&baseline.event_first_ms, 0.5) / pct(&s.event_first_ms, 0.5),
            );
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lambda.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json!({"rounds": ROUNDS, "rows": rows})).unwrap(),
    )
    .unwrap();
    println!("\nwrote {}", path.display());
}
