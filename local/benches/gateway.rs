//! What agentgate adds between a caller and the model: the release `agentgate serve`
//! binary on its embedded store in front of a fast mock upstream (OpenAI chat completions,
//! streamed or not, with a configurable latency before the answer and pacing between
//! tokens; the non-streamed answer waits for the same pacing), against the same mock called directly, in one run with interleaved rounds.
//!
//! Figures, each as `added` = through the gateway minus direct:
//! - non-streaming latency p50/p99 on a keep-alive connection (c=1);
//! - time to the first token on keep-alive connections, per family (runs native SSE,
//!   OpenAI stream, widget v2), and the inter-token gap p99 with the tokens lost;
//! - throughput at c=16 and c=64 with a 60 ms upstream answering at once after it (the
//!   ideal is c / 60 ms);
//! - the gateway process's CPU per request (the sum of its threads' run time from
//!   `/proc/<pid>/task/*/schedstat`, in nanoseconds; a current-thread server has no threads
//!   that come and go), its peak RSS (`VmHWM`) and the first request after a restart.
//!
//! Run: `scripts/bench.sh gateway` (builds the release binary first). Prints a table and
//! writes `target/bench/gateway.json`. Ratios are against `direct` from the same run;
//! nothing here asserts an absolute threshold.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly by design

#[path = "../tests/common/mod.rs"]
mod common;
mod stats;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use stats::{ms, pct};

/// Interleaved rounds; each runs every target once.
const ROUNDS: usize = 30;
/// Non-streaming requests per target and round.
const REQUESTS_PER_ROUND: usize = 20;
/// Tokens per streamed reply, and the upstream's pause between them.
const TOKENS: usize = 16;
const PACING: Duration = Duration::from_millis(2);
/// Upstream latency in the throughput phase, and how long each level runs.
const SLOW_UPSTREAM: Duration = Duration::from_millis(60);
const THROUGHPUT_FOR: Duration = Duration::from_secs(3);
/// Restarts measured for the first request after start.
const RESTARTS: usize = 5;
const TOKEN: &str = "pubkey_bench_7Hq2Lx9Vw4Rz";

fn binary() -> PathBuf {
    std::env::var("AGENTGATE_BENCH_BIN_DIR")
        .map_or_else(
            |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release"),
            PathBuf::from,
        )
        .join("agentgate")
}

// ---------------------------------------------------------------- the mock upstream

/// The mock's settings, changed between phases.
#[derive(Clone, Default)]
struct Upstream {
    latency_ms: Arc<AtomicU64>,
    /// Pause between tokens in µs; a non-streamed answer waits for all of them, as a model
    /// generating the whole reply first would.
    pacing_us: Arc<AtomicU64>,
}

impl Upstream {
    fn set(&self, latency: Duration, pacing: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
        self.pacing_us
            .store(pacing.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The `n`th token of a reply: unique, so a reader can find each one in any framing.
fn token(n: usize) -> String {
    format!("w{n:03} ")
}

fn chunk(delta: &Value, finish: &Value) -> Bytes {
    Bytes::from(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
               "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    ))
}

async fn completions(State(up): State<Upstream>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let latency = Duration::from_millis(up.latency_ms.load(Ordering::Relaxed));
    let pacing = Duration::from_micros(up.pacing_us.load(Ordering::Relaxed));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if request["stream"] != true {
        for _ in 0..TOKENS {
            pause(pacing).await;
        }
        let text: String = (0..TOKENS).map(token).collect();
        let body = json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1,
            "model": "bench", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": TOKENS, "total_tokens": 9 + TOKENS}});
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
    }
    let stream = futures::stream::unfold(0usize, move |n| async move {
        let frame = match n {
            0 => chunk(&json!({"role": "assistant", "content": ""}), &Value::Null),
            n if n <= TOKENS => {
                pause(pacing).await;
                chunk(&json!({"content": token(n - 1)}), &Value::Null)
            }
            n if n == TOKENS + 1 => {
                let mut out = chunk(&json!({}), &json!("stop")).to_vec();
                out.extend_from_slice(
                    format!(
                        "data: {}\n\ndata: [DONE]\n\n",
                        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                               "created": 1, "model": "bench", "choices": [],
                               "usage": {"prompt_tokens": 9, "completion_tokens": TOKENS}})
                    )
                    .as_bytes(),
                );
                Bytes::from(out)
            }
            _ => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(frame), n + 1))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Serves the mock on its own runtime thread, so the bench's client load does not slow it.
fn start_upstream(up: Upstream) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new()
                .route("/v1/chat/completions", post(completions))
                .with_state(up);
            agentgate_local::serve(listener, app, std::future::pending()).await;
        });
    });
    rx.recv().unwrap()
}

// ---------------------------------------------------------------- the gateway process

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every cap far above what the bench sends, so nothing it measures is a refusal.
const UNCAPPED: [&str; 9] = [
    "AGENTGATE_RATE_PER_MINUTE",
    "AGENTGATE_DAILY_LIMIT",
    "AGENTGATE_WIDGET_VISITOR_PER_HOUR",
    "AGENTGATE_WIDGET_IP_PER_HOUR",
    "AGENTGATE_OWNER_DAILY_LIMIT",
    "AGENTGATE_IP_PER_MINUTE",
    "AGENTGATE_ANONYMOUS_PER_MINUTE",
    "AGENTGATE_DAILY_TOKEN_BUDGET",
    "AGENTGATE_OWNER_MONTHLY_MESSAGES",
];

/// `agentgate serve` on a free port; returns once it prints its address.
fn start_gateway(data: &Path, upstream: SocketAddr) -> (Gateway, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env("AGENTGATE_DATA_DIR", data)
        .env("AGENTGATE_STORE", "sqlite")
        .env("OPENAI_BASE_URL", format!("http://{upstream}/v1"))
        .env("OPENAI_API_KEY", "sk-bench")
        .env_remove("AGENTGATE_JWT_SECRET")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for var in UNCAPPED {
        cmd.env(var, "1000000000");
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/bench.sh gateway)", binary().display()));
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // The log lines keep coming on stdout, as they would to a terminal; drain them.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (Gateway { child, base }, started.elapsed())
}

fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The process's CPU time so far, in ms: the sum of its threads' run time in nanoseconds
/// (`/proc/<pid>/task/*/schedstat`), or user + system clock ticks where that is missing.
fn cpu_ms(pid: u32, ticks: f64) -> f64 {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("schedstat")));
    let mut ns = 0u64;
    let mut all = true;
    for stat in threads {
        match stat
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        {
            Some(v) => ns += v,
            None => all = false,
        }
    }
    if all && ns > 0 {
        return ns as f64 / 1e6;
    }
    ticks_ms(pid, ticks)
}

/// User + system CPU time from `/proc/<pid>/stat`, in ms (10 ms resolution).
fn ticks_ms(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let (utime, stime): (f64, f64) = (f[11].parse().unwrap(), f[12].parse().unwrap());
    (utime + stime) * 1000.0 / ticks
}

/// The process's peak resident set, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    kb / 1024.0
}

/// An assistant of the bench's owner in access `mode`.
async fn create_assistant(base: &str, jwt: &str, mode: &str) -> String {
    let mut configurable = json!({
        "type==agent/model": "openai:gpt-4o-mini",
        "type==agent/system_message": "You are terse.",
        "type==agent/access_mode": mode,
    });
    if mode == "public_token" {
        configurable["type==agent/public_token"] = json!(TOKEN);
    }
    common::create_assistant(base, jwt, "bench", configurable).await
}

// ---------------------------------------------------------------- the requests

/// One way to ask for a reply: directly or through a family.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Direct,
    OpenAi,
    DirectStream,
    Runs,
    OpenAiStream,
    Widget,
}

impl Target {
    const ALL: [Target; 6] = [
        Target::Direct,
        Target::OpenAi,
        Target::DirectStream,
        Target::Runs,
        Target::OpenAiStream,
        Target::Widget,
    ];

    fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct (non-stream)",
            Target::OpenAi => "openai chat completions (non-stream)",
            Target::DirectStream => "direct (stream)",
            Target::Runs => "runs native SSE",
            Target::OpenAiStream => "openai chat completions (stream)",
            Target::Widget => "widget v2",
        }
    }

    fn streamed(self) -> bool {
        !matches!(self, Target::Direct | Target::OpenAi)
    }

    /// The direct request this target is compared with.
    fn baseline(self) -> Target {
        if self.streamed() {
            Target::DirectStream
        } else {
            Target::Direct
        }
    }
}

struct Ctx {
    upstream: String,
    gateway: String,
    token_assistant: String,
    widget_assistant: String,
}

/// The request `target` sends as caller `who` (each concurrent caller is its own end user).
fn request(
    http: &reqwest::Client,
    ctx: &Ctx,
    target: Target,
    who: usize,
) -> reqwest::RequestBuilder {
    let hi = json!([{"role": "user", "content": "hi"}]);
    match target {
        Target::Direct | Target::DirectStream => http
            .post(format!("{}/v1/chat/completions", ctx.upstream))
            .bearer_auth("sk-bench")
            .json(&json!({"model": "gpt-4o-mini", "messages": hi,
                          "stream": target == Target::DirectStream})),
        Target::OpenAi | Target::OpenAiStream => http
            .post(format!("{}/public/openai/v1/chat/completions", ctx.gateway))
            .bearer_auth(TOKEN)
            .json(&json!({"model": ctx.token_assistant, "messages": hi,
                          "stream": target == Target::OpenAiStream, "user": format!("bench-{who}")})),
        Target::Runs => http
            .post(format!("{}/public/runs/stream", ctx.gateway))
            .header("x-public-bot-token", TOKEN)
            .json(&json!({"assistant_id": ctx.token_assistant, "thread_id": format!("bench-thread-{who}"),
                          "input": [{"role": "human", "content": "hi"}]})),
        Target::Widget => http
            .post(format!("{}/v1/public/chat", ctx.gateway))
            .header("x-widget-version", "2")
            .json(&json!({"botPublicId": ctx.widget_assistant, "visitorId": format!("visitor-{who}"),
                          "conversationId": null, "message": "hi"})),
    }
}

/// One streamed reply as the caller saw it: when each token arrived (from the send).
struct Streamed {
    arrivals: Vec<Duration>,
}

async fn stream_once(http: &reqwest::Client, ctx: &Ctx, target: Target) -> Streamed {
    let sent = Instant::now();
    let mut resp = request(http, ctx, target, 0).send().await.unwrap();
    assert!(resp.status().is_success(), "{target:?}: {}", resp.status());
    let (mut buf, mut from, mut arrivals) = (Vec::<u8>::new(), 0usize, Vec::new());
    while let Some(bytes) = resp.chunk().await.unwrap() {
        let at = sent.elapsed();
        buf.extend_from_slice(&bytes);
        while arrivals.len() < TOKENS {
            let marker = token(arrivals.len());
            let Some(pos) = find(&buf[from..], marker.trim_end().as_bytes()) else {
                break;
            };
            from += pos;
            arrivals.push(at);
        }
    }
    Streamed { arrivals }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn once(http: &reqwest::Client, ctx: &Ctx, target: Target, who: usize) -> Result<(), String> {
    let resp = request(http, ctx, target, who)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(())
}

// ---------------------------------------------------------------- figures

#[derive(Default)]
struct Figures {
    /// Non-streaming: whole request; streaming: time to the first token.
    latency_ms: Vec<f64>,
    gaps_ms: Vec<f64>,
    lost: usize,
    streams: usize,
    requests: usize,
    cpu_ms: f64,
    throughput: Vec<(usize, f64, usize)>,
}

/// `c` callers sending `target` back to back for [`THROUGHPUT_FOR`]: requests per second
/// and failures.
async fn throughput(ctx: &Arc<Ctx>, target: Target, c: usize) -> (f64, usize, usize) {
    let until = Instant::now() + THROUGHPUT_FOR;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for who in 0..c {
        let ctx = Arc::clone(ctx);
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut ok, mut failed) = (0usize, 0usize);
            while Instant::now() < until {
                match once(&http, &ctx, target, who).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        if failed == 0 {
                            eprintln!("{target:?} c={c}: {e}");
                        }
                        failed += 1;
                    }
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    (ok as f64 / started.elapsed().as_secs_f64(), ok, failed)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let up = Upstream::default();
    let upstream_addr = start_upstream(up.clone());
    let data = tempfile::tempdir().unwrap();
    let jwt = common::dev_token(data.path(), "bench-owner");
    let (gateway, _) = start_gateway(data.path(), upstream_addr);
    let pid = gateway.child.id();
    let ticks = clock_ticks_per_sec();
    let http = reqwest::Client::new();
    let ctx = Arc::new(Ctx {
        upstream: format!("http://{upstream_addr}"),
        token_assistant: create_assistant(&gateway.base, &jwt, "public_token").await,
        widget_assistant: create_assistant(&gateway.base, &jwt, "public_no_auth").await,
        gateway: gateway.base.clone(),
    });
    // Warm both paths (connections, caches, the first thread of each caller).
    for target in Target::ALL {
        if target.streamed() {
            stream_once(&http, &ctx, target).await;
        } else {
            once(&http, &ctx, target, 0).await.unwrap();
        }
    }

    let mut figures: Vec<(Target, Figures)> = Target::ALL
        .iter()
        .map(|t| (*t, Figures::default()))
        .collect();
    for round in 0..ROUNDS {
        // Rotate the order so no target always follows the same one.
        for k in 0..Target::ALL.len() {
            let (target, f) = &mut figures[(round + k) % Target::ALL.len()];
            let target = *target;
            // Tokens are paced only where their timing is measured.
            up.set(
                Duration::ZERO,
                if target.streamed() {
                    PACING
                } else {
                    Duration::ZERO
                },
            );
            let cpu_before = cpu_ms(pid, ticks);
            if target.streamed() {
                let s = stream_once(&http, &ctx, target).await;
                f.streams += 1;
                f.requests += 1;
                f.lost += TOKENS - s.arrivals.len();
                if let Some(first) = s.arrivals.first() {
                    f.latency_ms.push(ms(*first));
                }
                f.gaps_ms
                    .extend(s.arrivals.windows(2).map(|w| ms(w[1] - w[0])));
            } else {
                for _ in 0..REQUESTS_PER_ROUND {
                    let sent = Instant::now();
                    once(&http, &ctx, target, 0).await.unwrap();
                    f.latency_ms.push(ms(sent.elapsed()));
                    f.requests += 1;
                }
            }
            f.cpu_ms += cpu_ms(pid, ticks) - cpu_before;
        }
    }

    up.set(SLOW_UPSTREAM, Duration::ZERO);
    for c in [16usize, 64] {
        for (target, f) in &mut figures {
            let cpu_before = cpu_ms(pid, ticks);
            let (rps, ok, failed) = throughput(&ctx, *target, c).await;
            if *target != Target::Direct && *target != Target::DirectStream {
                f.cpu_ms += cpu_ms(pid, ticks) - cpu_before;
                f.requests += ok;
            }
            f.throughput.push((c, rps, failed));
        }
    }
    up.set(Duration::ZERO, Duration::ZERO);
    let peak_rss = peak_rss_mib(pid);
    drop(gateway);

    // The first request after a restart, against the first request to the mock on a new
    // connection.
    let (mut first_gateway, mut first_direct, mut startup) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RESTARTS {
        let fresh = reqwest::Client::new();
        let sent = Instant::now();
        once(&fresh, &ctx, Target::Direct, 0).await.unwrap();
        first_direct.push(ms(sent.elapsed()));
        let (gateway, ready) = start_gateway(data.path(), upstream_addr);
        startup.push(ms(ready));
        let restarted = Ctx {
            gateway: gateway.base.clone(),
            upstream: ctx.upstream.clone(),
            token_assistant: ctx.token_assistant.clone(),
            widget_assistant: ctx.widget_assistant.clone(),
        };
        let fresh = reqwest::Client::new();
        let sent = Instant::now();
        once(&fresh, &restarted, Target::OpenAi, 0).await.unwrap();
        first_gateway.push(ms(sent.elapsed()));
    }

    report(&figures, peak_rss, &first_direct, &first_gateway, &startup);
}

fn report(
    figures: &[(Target, Figures)],
    peak_rss: f64,
    first_direct: &[f64],
    first_gateway: &[f64],
    startup: &[f64],
) {
    let get = |t: Target| &figures.iter().find(|(x, _)| *x == t).unwrap().1;
    println!(
        "\nGateway overhead: release `agentgate serve` (embedded store, default logging) vs the mock upstream called directly"
    );
    println!(
        "{ROUNDS} interleaved rounds; c=1 keep-alive; {TOKENS} tokens {} ms apart when streamed; times in ms\n",
        PACING.as_millis()
    );
    println!(
        "| request | p50 / p99 | added p50 / p99 | gap p99 (added) | lost | req/s c=16 | req/s c=64 | CPU / request |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (target, f) in figures {
        let base = get(target.baseline());
        let direct = *target == target.baseline();
        let (p50, p99) = (pct(&f.latency_ms, 0.5), pct(&f.latency_ms, 0.99));
        let added = (
            p50 - pct(&base.latency_ms, 0.5),
            p99 - pct(&base.latency_ms, 0.99),
        );
        let gap99 = pct(&f.gaps_ms, 0.99);
        let gap_added = gap99 - pct(&base.gaps_ms, 0.99);
        let rps = |c: usize| {
            f.throughput
                .iter()
                .find(|(x, _, _)| *x == c)
                .map(|(_, r, e)| (*r, *e))
        };
        let rps_cell = |c: usize| match rps(c) {
            Some((r, 0)) => format!("{r:.0}"),
            Some((r, e)) => format!("{r:.0} ({e} failed)"),
            None => "-".to_owned(),
        };
        let cpu = if direct || f.requests == 0 {
            f64::NAN
        } else {
            f.cpu_ms / f.requests as f64
        };
        println!(
            "| {} | {p50:.2} / {p99:.2} | {} | {} | {} | {} | {} | {} |",
            target.name(),
            if direct {
                "-".to_owned()
            } else {
                format!("{:+.2} / {:+.2}", added.0, added.1)
            },
            if target.streamed() {
                format!("{gap99:.2} ({gap_added:+.2})")
            } else {
                "-".to_owned()
            },
            if target.streamed() {
                format!("{} of {}", f.lost, f.streams * TOKENS)
            } else {
                "-".to_owned()
            },
            rps_cell(16),
            rps_cell(64),
            if cpu.is_nan() {
                "-".to_owned()
            } else {
                format!("{cpu:.3} ms")
            },
        );
        rows.push(json!({
            "request": target.name(), "streamed": target.streamed(), "direct": direct,
            "latency_ms": {"p50": p50, "p99": p99, "what": if target.streamed() { "time to first token" } else { "whole request" }},
            "added_ms": if direct { Value::Null } else { json!({"p50": added.0, "p99": added.1}) },
            "gap_p99_ms": if target.streamed() { json!(gap99) } else { Value::Null },
            "gap_p99_added_ms": if target.streamed() && !direct { json!(gap_added) } else { Value::Null },
            "tokens_lost": f.lost, "streams": f.streams,
            "throughput": f.throughput.iter().map(|(c, r, e)| json!({"concurrency": c, "rps": r, "failed": e})).collect::<Vec<_>>(),
            "cpu_ms_per_request": if cpu.is_nan() { Value::Null } else { json!(cpu) },
        }));
    }
    println!(
        "\nthe runs family sends the accumulated message at most every AGENTGATE_SNAPSHOT_INTERVAL_MS (50 ms by default), so its gaps are that interval by design"
    );
    let ideal = |c: usize| c as f64 / SLOW_UPSTREAM.as_secs_f64();
    println!(
        "\nthroughput with a {} ms upstream: ideal {:.0} req/s at c=16, {:.0} at c=64",
        SLOW_UPSTREAM.as_millis(),
        ideal(16),
        ideal(64)
    );
    let (d, g) = (get(Target::Direct), get(Target::OpenAi));
    let at64 = |f: &Figures| {
        f.throughput
            .iter()
            .find(|(c, _, _)| *c == 64)
            .map_or(f64::NAN, |t| t.1)
    };
    println!(
        "openai non-stream vs direct: p50 {:.2}x, throughput at c=64 {:.2}x",
        pct(&g.latency_ms, 0.5) / pct(&d.latency_ms, 0.5),
        at64(g) / at64(d)
    );
    println!("gateway peak RSS: {peak_rss:.1} MiB");
    println!(
        "first request after start ({RESTARTS} restarts; p50 / max): direct {:.2} / {:.2}, through the gateway {:.2} / {:.2} (process start to listening {:.1} / {:.1})",
        pct(first_direct, 0.5),
        pct(first_direct, 1.0),
        pct(first_gateway, 0.5),
        pct(first_gateway, 1.0),
        pct(startup, 0.5),
        pct(startup, 1.0),
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.json");
    let out = json!({
        "rounds": ROUNDS, "tokens": TOKENS, "pacing_ms": PACING.as_millis() as u64,
        "slow_upstream_ms": SLOW_UPSTREAM.as_millis() as u64,
        "rows": rows, "peak_rss_mib": peak_rss,
        "first_request_ms": {"direct": first_direct, "gateway": first_gateway, "start_to_listening": startup},
    });
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("\nwrote {}", path.display());
}
