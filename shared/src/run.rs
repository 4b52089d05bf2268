//! The run engine: drives one model reply from the provider to the client.
//!
//! It is the transport layer every streaming family shares, and knows nothing of stores,
//! users or memories. The engine owns the loop that families would otherwise each get
//! subtly wrong: accumulating text, sending keep-alive comments while the model is silent
//! (function URLs and proxies drop idle streams), noticing that the client went away and
//! dropping the upstream request with it, calling the completion hook (which saves the
//! turn) before the final frame, and turning a mid-stream failure into the format's own
//! error frame. What a turn means to the application (what is saved, what is counted)
//! arrives as [`TurnHooks`] from the turn service ([`crate::turn`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use crate::config::Pacing;
use crate::domain::assistant::{Assistant, ModelRef};
use crate::domain::message::{Message, Role};
use crate::domain::tool::{MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS};
use crate::ports::StoreError;
use crate::provider::{
    ChatRequest, DEFAULT_MAX_TOKENS, EventStream, FinishReason, MAX_TOKENS_CEILING, ProviderError,
    ProviderEvent, Providers, ToolCall, ToolSpec, Usage,
};
use crate::stream::coalesce::Coalescer;
use crate::stream::{Completion, Encoder};

/// Per-call options a caller may set within bounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnOptions {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub stop: Vec<String>,
    /// Owner-only: another model for this call.
    pub model: Option<ModelRef>,
    /// Owner-only: another system prompt for this call.
    pub system: Option<String>,
    /// What the assistant remembers about this user, added to the system prompt.
    pub memory: Option<String>,
    /// The caller's instructions for this call (the Responses API's `instructions`): a
    /// system message right after the assistant's own system prompt, before the history.
    pub instructions: Option<String>,
    /// Tools the model may call (the widget's actions).
    pub tools: Vec<ToolSpec>,
    /// Reference material for this turn (knowledge-base passages), after the system prompt.
    pub context: Option<String>,
    /// The caller takes the reply whole (a non-streamed API); see [`ChatRequest::whole`].
    pub whole: bool,
}

impl TurnOptions {
    /// The limits this call runs under: `base`, or for a reply taken whole (whose first
    /// text arrives with its last) the turn deadline alone.
    pub fn pacing(&self, base: Pacing) -> Pacing {
        if self.whole { base.whole() } else { base }
    }
}

/// Builds the model request for one turn (system prompt, history, then the new input) and
/// starts the provider. Errors here happen before any response byte is sent.
pub async fn start_turn(
    providers: &Providers,
    assistant: &Assistant,
    history: Vec<Message>,
    input: &[Message],
    opts: &TurnOptions,
) -> Result<EventStream, ProviderError> {
    let model = opts.model.clone().unwrap_or_else(|| assistant.model());
    let provider = providers.for_model(&model)?;
    let mut messages = Vec::with_capacity(history.len() + input.len() + 1);
    if let Some(instructions) = &opts.instructions {
        messages.push(Message::new(Role::System, instructions.clone()));
    }
    messages.extend(history);
    messages.extend_from_slice(input);
    let system = opts
        .system
        .as_deref()
        .or_else(|| assistant.system_message());
    let mut system = match opts.memory.as_deref() {
        Some(summary) => Some(crate::domain::memory::system_with_memory(system, summary)),
        None => system.map(str::to_owned),
    };
    if let Some(context) = &opts.context {
        system = Some(match system {
            Some(s) => format!("{s}\n\n{context}"),
            None => context.clone(),
        });
    }
    let request = ChatRequest {
        model: model.model_name().to_owned(),
        system,
        messages,
        max_tokens: opts
            .max_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .clamp(1, MAX_TOKENS_CEILING),
        temperature: opts.temperature,
        stop: opts.stop.clone(),
        tools: opts.tools.clone(),
        whole: opts.whole,
    };
    provider.stream(request).await
}

/// Bound on one reply's text, so a runaway upstream cannot grow a stored item without end.
pub const MAX_REPLY_BYTES: usize = 128 * 1024;

/// Called once the reply is complete, before the final frame; an `Err` becomes an error
/// frame so the client learns the turn was not saved.
pub type OnComplete =
    Box<dyn FnOnce(Completion) -> BoxFuture<'static, Result<(), StoreError>> + Send>;

/// Called instead when the turn ends early (the client hung up, or the upstream failed
/// mid-stream) with what was produced so far; nothing is stored, but the upstream was paid.
pub type OnAbandon = Box<dyn FnOnce(Completion) -> BoxFuture<'static, ()> + Send>;

/// Called after the final frame of a saved reply has been handed to the client, before the
/// body ends (so before a Lambda invocation returns): writes the reply does not depend on,
/// such as usage, cost the caller no time to the last byte.
pub type AfterReply = Box<dyn FnOnce(&Completion) -> BoxFuture<'static, ()> + Send>;

/// What the engine does when a turn ends.
pub struct TurnHooks {
    pub on_complete: OnComplete,
    pub on_abandon: OnAbandon,
    pub after_reply: Option<AfterReply>,
}

impl TurnHooks {
    /// Hooks that only act on completion.
    pub fn completing(on_complete: OnComplete) -> Self {
        Self {
            on_complete,
            on_abandon: Box::new(|_| Box::pin(async {})),
            after_reply: None,
        }
    }
}

/// Runs `events` through `encoder` on a background task and returns the response body.
pub fn stream_body<E: Encoder>(
    events: EventStream,
    encoder: E,
    pacing: Pacing,
    hooks: TurnHooks,
) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(drive(events, encoder, pacing, hooks, tx).instrument(tracing::Span::current()));
    Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, Infallible>))
}

/// Collects a whole reply without streaming, within `pacing`'s limits.
pub async fn collect(events: EventStream, pacing: Pacing) -> Result<Completion, ProviderError> {
    match accumulate(events, pacing).await {
        (acc, None) => Ok(acc.finish()),
        (_, Some(err)) => Err(err),
    }
}

/// Why a turn failed before its reply was delivered: the model could not be reached or
/// broke off, or the store could not read the history or save the reply.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The assistant's public callers spent today's token budget.
    #[error("this assistant's daily budget is spent; try again after midnight UTC")]
    OverBudget { retry_after_secs: u64 },
}

/// Collects a whole reply and ends the turn with `hooks`, as [`stream_body`] does for
/// streamed replies (for non-streaming APIs): a complete reply is saved, a reply the
/// upstream broke off still counts in usage with what it produced.
pub async fn complete(
    events: EventStream,
    hooks: TurnHooks,
    pacing: Pacing,
) -> Result<Completion, TurnError> {
    match accumulate(events, pacing).await {
        (acc, None) => {
            let completion = acc.finish();
            (hooks.on_complete)(completion.clone()).await?;
            // Nothing is sent before the whole answer here: the writes after the reply
            // run before it is returned.
            if let Some(after) = hooks.after_reply {
                after(&completion).await;
            }
            Ok(completion)
        }
        (acc, Some(err)) => {
            (hooks.on_abandon)(acc.partial()).await;
            Err(err.into())
        }
    }
}

/// Reads the reply until it ends, fails, grows past the bound or runs out of time (the
/// first-token limit, then the turn deadline, as for streamed replies).
async fn accumulate(
    mut events: EventStream,
    pacing: Pacing,
) -> (Accumulator, Option<ProviderError>) {
    let origin = tokio::time::Instant::now();
    let first_by = origin + pacing.first_token.min(pacing.deadline);
    let deadline = origin + pacing.deadline;
    let mut acc = Accumulator::default();
    loop {
        let limit = if acc.text.is_empty() {
            first_by
        } else {
            deadline
        };
        let Ok(next) = tokio::time::timeout_at(limit, events.next()).await else {
            return (acc, Some(ProviderError::Timeout));
        };
        let Some(item) = next else { break };
        match item {
            Ok(ev) => {
                acc.apply(ev);
            }
            Err(e) => return (acc, Some(e)),
        }
        if acc.text.len() > MAX_REPLY_BYTES {
            break;
        }
    }
    (acc, None)
}

#[derive(Default)]
struct Accumulator {
    text: String,
    usage: Usage,
    finish: Option<FinishReason>,
    deltas: u32,
    /// Tool calls being assembled, by the provider's index.
    calls: Vec<(u32, ToolCall)>,
}

impl Accumulator {
    /// Applies one event; returns the delta when it carried text.
    fn apply(&mut self, ev: ProviderEvent) -> Option<String> {
        match ev {
            ProviderEvent::Delta(d) => {
                self.text.push_str(&d);
                self.deltas = self.deltas.saturating_add(1);
                Some(d)
            }
            // Providers report input and output tokens in separate events (Anthropic) or
            // together once (OpenAI); the largest value seen for each is the total.
            ProviderEvent::Usage(u) => {
                self.usage.input_tokens = self.usage.input_tokens.max(u.input_tokens);
                self.usage.output_tokens = self.usage.output_tokens.max(u.output_tokens);
                None
            }
            ProviderEvent::Finish(r) => {
                self.finish = Some(r);
                None
            }
            ProviderEvent::ToolCallPart {
                index,
                id,
                name,
                arguments,
            } => {
                let at = match self.calls.iter().position(|(i, _)| *i == index) {
                    Some(at) => at,
                    None if self.calls.len() < MAX_TOOL_CALLS => {
                        let call = ToolCall {
                            id: String::new(),
                            name: String::new(),
                            arguments: String::new(),
                        };
                        self.calls.push((index, call));
                        self.calls.len() - 1
                    }
                    None => return None,
                };
                let call = &mut self.calls[at].1;
                if let Some(id) = id {
                    call.id = id;
                }
                if let Some(name) = name {
                    call.name = name;
                }
                if call.arguments.len() + arguments.len() <= MAX_TOOL_ARGUMENT_BYTES {
                    call.arguments.push_str(&arguments);
                }
                None
            }
        }
    }

    /// The tool calls that were complete enough to name a tool.
    fn tool_calls(calls: Vec<(u32, ToolCall)>) -> Vec<ToolCall> {
        calls
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| !c.name.is_empty())
            .collect()
    }

    /// What an interrupted turn produced. Providers report output tokens only at the end,
    /// so the deltas received (about one token each) stand in when nothing was reported.
    fn partial(self) -> Completion {
        let mut usage = self.usage;
        usage.output_tokens = usage.output_tokens.max(self.deltas);
        Completion {
            text: self.text,
            finish: FinishReason::Length,
            usage,
            tool_calls: Vec::new(),
        }
    }

    fn finish(mut self) -> Completion {
        let truncated = self.text.len() > MAX_REPLY_BYTES;
        if truncated {
            // The last piece may have carried the text far past the bound (a reply taken
            // whole is one piece): what is kept and stored ends at the bound.
            let mut cut = MAX_REPLY_BYTES;
            while !self.text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.truncate(cut);
        }
        Completion {
            text: self.text,
            finish: if truncated {
                FinishReason::Length
            } else {
                self.finish.unwrap_or(FinishReason::Stop)
            },
            usage: self.usage,
            tool_calls: Self::tool_calls(self.calls),
        }
    }
}

async fn send_all(tx: &mpsc::Sender<Bytes>, frames: Vec<Bytes>) -> bool {
    for f in frames {
        if tx.send(f).await.is_err() {
            return false;
        }
    }
    true
}

/// How the frames of a turn ended.
enum Ending {
    /// The upstream finished; the final frames are still to be sent.
    Complete,
    /// The client went away; the upstream stream is dropped.
    ClientGone,
    /// The upstream failed mid-stream; the error frames were sent.
    Failed,
}

async fn drive<E: Encoder>(
    mut events: EventStream,
    mut enc: E,
    pacing: Pacing,
    hooks: TurnHooks,
    tx: mpsc::Sender<Bytes>,
) {
    let mut acc = Accumulator::default();
    let ending = pump(&mut events, &mut enc, pacing, &mut acc, &tx).await;
    // Dropping the upstream stream closes its connection before anything else runs.
    drop(events);
    match ending {
        Ending::ClientGone | Ending::Failed => (hooks.on_abandon)(acc.partial()).await,
        Ending::Complete => {
            let completion = acc.finish();
            match (hooks.on_complete)(completion.clone()).await {
                Ok(()) => {
                    tracing::info!(
                        outcome = "ok",
                        input_tokens = completion.usage.input_tokens,
                        output_tokens = completion.usage.output_tokens,
                        "run completed"
                    );
                    send_all(&tx, enc.finish(&completion)).await;
                    if let Some(after) = hooks.after_reply {
                        after(&completion).await;
                    }
                }
                Err(err) => {
                    tracing::error!(outcome = "persist_failed", error = %err, "run completed but was not saved");
                    send_all(&tx, enc.error("the reply could not be saved; please retry")).await;
                }
            }
        }
    }
}

/// Moves text from the upstream to the client until the reply ends, the client goes away
/// or the upstream fails: accumulating, spacing snapshots, and keeping idle streams alive.
async fn pump<E: Encoder>(
    events: &mut EventStream,
    enc: &mut E,
    pacing: Pacing,
    acc: &mut Accumulator,
    tx: &mpsc::Sender<Bytes>,
) -> Ending {
    let gone = |why: &str| {
        tracing::info!(
            outcome = "client_gone",
            "client disconnected ({why}); upstream dropped"
        );
        Ending::ClientGone
    };
    if !send_all(tx, enc.start()).await {
        return gone("before the first frame");
    }
    let origin = tokio::time::Instant::now();
    let elapsed_ms = || u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    let interval = if enc.snapshots() {
        pacing.snapshot_interval
    } else {
        Duration::ZERO
    };
    let mut coalescer = Coalescer::new(interval);
    let mut flush_at: Option<tokio::time::Instant> = None;
    let keepalive = pacing.keepalive;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    let deadline = origin + pacing.deadline;
    let first_by = origin + pacing.first_token.min(pacing.deadline);
    loop {
        // Until the first text, the first-token limit; then the whole-turn deadline.
        let limit = if acc.text.is_empty() {
            first_by
        } else {
            deadline
        };
        tokio::select! {
            () = tokio::time::sleep_until(limit) => {
                let err = ProviderError::Timeout;
                tracing::warn!(outcome = "upstream_timeout", first_text = !acc.text.is_empty(), "run cut at its deadline");
                let mut frames = pending_snapshot(enc, &coalescer, &acc.text);
                frames.extend(enc.error(&err.reported("deadline")));
                send_all(tx, frames).await;
                return Ending::Failed;
            }
            item = events.next() => match item {
                Some(Ok(ev)) => {
                    if let Some(delta) = acc.apply(ev) {
                        match coalescer.on_text(elapsed_ms(), acc.text.len()) {
                            None => {
                                flush_at = None;
                                if !send_all(tx, enc.delta(&delta, &acc.text)).await {
                                    return gone("while streaming");
                                }
                            }
                            Some(at) => {
                                flush_at.get_or_insert(origin + Duration::from_millis(at));
                            }
                        }
                        ticker.reset();
                        if acc.text.len() > MAX_REPLY_BYTES {
                            break;
                        }
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(outcome = "upstream_error", "run failed mid-stream");
                    let mut frames = pending_snapshot(enc, &coalescer, &acc.text);
                    frames.extend(enc.error(&err.reported("mid-stream")));
                    send_all(tx, frames).await;
                    return Ending::Failed;
                }
                None => break,
            },
            () = sleep_until_some(flush_at) => {
                flush_at = None;
                coalescer.emitted(elapsed_ms());
                if !send_all(tx, enc.delta("", &acc.text)).await {
                    return gone("while streaming");
                }
            }
            _ = ticker.tick() => {
                if tx.send(enc.keepalive()).await.is_err() {
                    return gone("during a pause");
                }
            }
            () = tx.closed() => return gone("while waiting for the model"),
        }
    }
    if !send_all(tx, pending_snapshot(enc, &coalescer, &acc.text)).await {
        return gone("before the last snapshot");
    }
    Ending::Complete
}

/// The held snapshot, if text arrived since the last one went out.
fn pending_snapshot<E: Encoder>(enc: &mut E, coalescer: &Coalescer, text: &str) -> Vec<Bytes> {
    if coalescer.pending() {
        enc.delta("", text)
    } else {
        Vec::new()
    }
}

/// Sleeps until `at`, or forever when there is nothing to flush.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KEEPALIVE;
    use crate::stream::native::NativeEncoder;
    use http_body_util::BodyExt;

    fn events(items: Vec<Result<ProviderEvent, ProviderError>>) -> EventStream {
        Box::pin(futures::stream::iter(items))
    }

    async fn body_text(body: Body) -> String {
        String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn completes_then_persists_then_ends() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let body = stream_body(
            events(vec![
                Ok(ProviderEvent::Delta("Hel".into())),
                Ok(ProviderEvent::Delta("lo".into())),
                Ok(ProviderEvent::Finish(FinishReason::Stop)),
            ]),
            NativeEncoder::new("r", "t"),
            every_token(),
            TurnHooks::completing(Box::new(move |c| {
                Box::pin(async move {
                    let _ = done_tx.send(c.text);
                    Ok(())
                })
            })),
        );
        let text = body_text(body).await;
        assert!(text.contains("\"content\":\"Hel\""));
        assert!(text.contains("\"content\":\"Hello\""));
        assert!(text.ends_with("event: end\ndata: {}\n\n"));
        assert_eq!(done_rx.await.unwrap(), "Hello");
    }

    #[tokio::test]
    async fn mid_stream_failure_is_an_error_event_and_nothing_is_saved() {
        let text = native_text(
            events(vec![
                Ok(ProviderEvent::Delta("Hel".into())),
                Err(ProviderError::Timeout),
            ]),
            failing_save("must not be called"),
        )
        .await;
        assert!(text.contains("event: error\n"));
        assert!(!text.contains("must not be called"));
        assert!(text.ends_with("event: end\ndata: {}\n\n"));
    }

    #[tokio::test]
    async fn silence_is_filled_with_keepalives() {
        let slow: EventStream = Box::pin(futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(120)).await;
            Ok(ProviderEvent::Delta("x".into()))
        }));
        let body = stream_body(
            slow,
            NativeEncoder::new("r", "t"),
            Pacing {
                keepalive: Duration::from_millis(25),
                ..every_token()
            },
            TurnHooks::completing(Box::new(|_| Box::pin(async { Ok(()) }))),
        );
        let text = body_text(body).await;
        assert!(text.matches(": keep-alive\n\n").count() >= 2, "{text}");
    }

    /// A stream that sends `first` and then nothing, ever.
    fn stalls_after(first: Vec<Result<ProviderEvent, ProviderError>>) -> EventStream {
        Box::pin(futures::stream::iter(first).chain(futures::stream::pending()))
    }

    /// The native stream of an upstream that sends `first` then stalls, and how long it
    /// took to end.
    async fn stalled(
        first: Vec<Result<ProviderEvent, ProviderError>>,
        pacing: Pacing,
    ) -> (String, Duration) {
        let started = tokio::time::Instant::now();
        let hooks = failing_save("must not be called");
        let body = stream_body(
            stalls_after(first),
            NativeEncoder::new("r", "t"),
            pacing,
            hooks,
        );
        let text = body_text(body).await;
        assert!(text.contains("did not answer in time"), "{text}");
        assert!(text.ends_with("event: end\ndata: {}\n\n"));
        assert!(!text.contains("must not be called"), "nothing is saved");
        (text, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_that_never_starts_is_cut_at_the_first_token_limit() {
        let first_token = Duration::from_secs(60);
        let (_, waited) = stalled(
            vec![],
            Pacing {
                first_token,
                ..every_token()
            },
        )
        .await;
        assert!((first_token..first_token + Duration::from_secs(1)).contains(&waited));
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_that_stalls_mid_reply_is_cut_at_the_turn_deadline() {
        let deadline = Duration::from_secs(240);
        let hel = vec![Ok(ProviderEvent::Delta("Hel".into()))];
        let (text, waited) = stalled(
            hel,
            Pacing {
                deadline,
                ..every_token()
            },
        )
        .await;
        assert!(
            text.contains("\"content\":\"Hel\""),
            "what came is kept: {text}"
        );
        assert!(waited >= deadline);
    }

    #[tokio::test]
    async fn a_turn_that_fails_mid_stream_is_reported_as_abandoned_with_what_it_produced() {
        let (tx_done, rx_done) = tokio::sync::oneshot::channel();
        let hooks = TurnHooks {
            on_complete: Box::new(|_| {
                Box::pin(async { Err(StoreError::Unavailable("must not be called".into())) })
            }),
            after_reply: None,
            on_abandon: Box::new(move |partial| {
                Box::pin(async move {
                    let _ = tx_done.send(partial);
                })
            }),
        };
        let body = stream_body(
            events(vec![
                Ok(ProviderEvent::Usage(Usage {
                    input_tokens: 7,
                    output_tokens: 0,
                })),
                Ok(ProviderEvent::Delta("Hel".into())),
                Ok(ProviderEvent::Delta("lo".into())),
                Err(ProviderError::Timeout),
            ]),
            NativeEncoder::new("r", "t"),
            every_token(),
            hooks,
        );
        body_text(body).await;
        let partial = rx_done.await.unwrap();
        assert_eq!(partial.text, "Hello");
        assert_eq!(
            partial.usage,
            Usage {
                input_tokens: 7,
                output_tokens: 2
            }
        );
    }

    /// `n` one-character deltas, one every `gap`.
    fn paced(n: usize, gap: Duration) -> EventStream {
        Box::pin(futures::stream::iter(0..n).then(move |i| async move {
            tokio::time::sleep(gap).await;
            Ok(ProviderEvent::Delta(
                char::from(b'a' + (i % 26) as u8).to_string(),
            ))
        }))
    }

    /// One snapshot per token.
    fn every_token() -> Pacing {
        Pacing {
            keepalive: KEEPALIVE,
            snapshot_interval: Duration::ZERO,
            ..Pacing::default()
        }
    }

    /// The native stream of `events`, one snapshot per token, completed by `hooks`.
    async fn native_text(events: EventStream, hooks: TurnHooks) -> String {
        body_text(stream_body(
            events,
            NativeEncoder::new("r", "t"),
            every_token(),
            hooks,
        ))
        .await
    }

    /// A completion hook whose save fails with `message`.
    fn failing_save(message: &'static str) -> TurnHooks {
        TurnHooks::completing(Box::new(move |_| {
            Box::pin(async move { Err(StoreError::Unavailable(message.into())) })
        }))
    }

    fn snapshot_pacing() -> Pacing {
        Pacing {
            keepalive: KEEPALIVE,
            snapshot_interval: Duration::from_millis(50),
            ..Pacing::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_are_coalesced_and_the_last_one_is_complete() {
        // 200 tokens at 5 ms each: one snapshot per token would be 200 frames.
        let body = stream_body(
            paced(200, Duration::from_millis(5)),
            NativeEncoder::new("r", "t"),
            snapshot_pacing(),
            TurnHooks::completing(Box::new(|_| Box::pin(async { Ok(()) }))),
        );
        let text = body_text(body).await;
        let partials: Vec<String> = text
            .split("\n\n")
            .filter_map(|f| f.strip_prefix("event: messages/partial\ndata: "))
            .map(|d| {
                serde_json::from_str::<serde_json::Value>(d).unwrap()[0]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert!(
            partials.len() <= 22,
            "{} snapshots for 1 s of tokens",
            partials.len()
        );
        assert!(
            partials.len() >= 10,
            "the stream stays live: {}",
            partials.len()
        );
        assert!(
            partials
                .windows(2)
                .all(|w| w[1].starts_with(&w[0]) && w[1].len() > w[0].len())
        );
        assert_eq!(partials.last().unwrap().len(), 200);
        assert!(text.ends_with("event: end\ndata: {}\n\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_snapshot_goes_out_before_an_error() {
        let events: EventStream = Box::pin(
            paced(3, Duration::from_millis(1))
                .chain(futures::stream::iter([Err(ProviderError::Timeout)])),
        );
        let body = stream_body(
            events,
            NativeEncoder::new("r", "t"),
            snapshot_pacing(),
            TurnHooks::completing(Box::new(|_| Box::pin(async { Ok(()) }))),
        );
        let text = body_text(body).await;
        assert!(text.contains("\"content\":\"abc\""), "{text}");
        assert!(text.find("\"abc\"").unwrap() < text.find("event: error").unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn increments_are_never_coalesced() {
        let meta = crate::stream::openai::ResponseMeta::new("m", 0);
        let body = stream_body(
            paced(30, Duration::from_millis(1)),
            crate::stream::openai::ChunkEncoder::new(meta, false),
            snapshot_pacing(),
            TurnHooks::completing(Box::new(|_| Box::pin(async { Ok(()) }))),
        );
        let text = body_text(body).await;
        // The role chunk carries an empty content; every one of the 30 deltas follows it.
        assert_eq!(text.matches("\"delta\":{\"content\"").count(), 1 + 30);
        assert_eq!(text.matches("\"role\":\"assistant\"").count(), 1);
    }

    #[tokio::test]
    async fn a_failed_save_is_reported_to_the_client() {
        let text = native_text(
            events(vec![Ok(ProviderEvent::Delta("x".into()))]),
            failing_save("disk full"),
        )
        .await;
        assert!(text.contains("could not be saved"));
        assert!(!text.contains("disk full"));
    }
}
