//! The turn service: one model turn, the same for every family.
//!
//! Whatever the wire format, a turn is the same sequence: read the thread's history and
//! the user's memory (while the family counts its caps), start the model, save the reply
//! before its final frame, and after the last byte add the turn's usage and hand the new
//! messages to the memory they feed (a turn that ends early saves nothing but still
//! counts, since the provider was paid). Families only parse their
//! request, pick their caps and choose an encoder; this module decides the rest once, so a
//! new post-turn effect lands here and nowhere else. The transport (keep-alives, client
//! gone, error frames) is the engine's, in [`crate::run`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;

use crate::clock::Clock;
use crate::config::{Pacing, Settings};
use crate::domain::assistant::Assistant;
use crate::domain::ids::{AssistantId, RunId};
use crate::domain::message::{Message, Role};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::memory::Memories;
use crate::ports::{Store, StoreError};
use crate::provider::{EventStream, ProviderError, Providers};
use crate::run::{self, AfterReply, OnAbandon, OnComplete, TurnError, TurnHooks, TurnOptions};
use crate::stream::{Completion, Encoder};

/// Where the earlier messages of a turn come from.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    /// The thread's latest messages, up to the configured history limit.
    Stored,
    /// Already read by the family (for example to tell whether a conversation exists).
    Given(Vec<Message>),
    /// The client sends the whole conversation itself (OpenAI-style APIs).
    Sent,
}

/// What a family asks of the service: whose turn, in which thread, with what input.
pub struct Turn<'a> {
    assistant: &'a Assistant,
    thread: ThreadKey,
    history: History,
    input: Vec<Message>,
    saved: Option<Vec<Message>>,
    options: TurnOptions,
    public: bool,
    recorder: Option<OnComplete>,
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("assistant", &self.assistant.id)
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl<'a> Turn<'a> {
    /// A turn of `assistant` in `thread` sending `input` after the stored history; `input`
    /// is what is saved with the reply.
    pub fn new(assistant: &'a Assistant, thread: ThreadKey, input: Vec<Message>) -> Self {
        Self {
            assistant,
            thread,
            history: History::Stored,
            input,
            saved: None,
            options: TurnOptions::default(),
            public: false,
            recorder: None,
        }
    }

    /// Runs `record` with the complete reply once the turn is saved, before the reply's
    /// final frame or the non-streamed answer: what a family keeps besides the transcript
    /// (a Responses API response, for instance) exists by the time the client learns the
    /// turn ended. An `Err` fails the turn like a failed save.
    #[must_use]
    pub fn recorded_by(mut self, record: OnComplete) -> Self {
        self.recorder = Some(record);
        self
    }

    #[must_use]
    pub fn history(mut self, history: History) -> Self {
        self.history = history;
        self
    }

    /// A public caller's turn: refused once the assistant's daily token budget is spent.
    #[must_use]
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    #[must_use]
    pub fn options(mut self, options: TurnOptions) -> Self {
        self.options = options;
        self
    }

    /// Saves `messages` with the reply instead of the whole input (a client that resends
    /// the conversation adds only its new turn to the transcript).
    #[must_use]
    pub fn saving(mut self, messages: Vec<Message>) -> Self {
        self.saved = Some(messages);
        self
    }
}

/// A turn whose model call has started: stream it with a family's encoder, or collect it.
pub struct Started {
    /// The id of this turn's reply (saved with its messages).
    pub run_id: RunId,
    events: EventStream,
    hooks: TurnHooks,
    pacing: Pacing,
}

impl Started {
    /// The response body: the reply in `encoder`'s wire format, saved before its last frame.
    pub fn stream<E: Encoder>(self, encoder: E) -> Body {
        run::stream_body(self.events, encoder, self.pacing, self.hooks)
    }

    /// The whole reply, saved, for APIs that do not stream.
    pub async fn complete(self) -> Result<Completion, TurnError> {
        run::complete(self.events, self.hooks, self.pacing).await
    }
}

/// A turn whose reads are done: what [`Prepared::start`] sends to the model.
pub struct Prepared<'a> {
    turns: Turns,
    assistant: &'a Assistant,
    thread: ThreadKey,
    history: Vec<Message>,
    input: Vec<Message>,
    saved: Option<Vec<Message>>,
    options: TurnOptions,
    recorder: Option<OnComplete>,
    started: Instant,
}

impl std::fmt::Debug for Prepared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("assistant", &self.assistant.id)
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl Prepared<'_> {
    /// Whether the turn continues a conversation (earlier messages go to the model).
    pub fn continues(&self) -> bool {
        !self.history.is_empty()
    }

    /// The same turn with reference material (retrieved while the reads ran) after the
    /// system prompt.
    #[must_use]
    pub fn with_context(mut self, context: Option<String>) -> Self {
        self.options.context = context;
        self
    }

    /// Starts the model and prepares the save.
    pub async fn start(self) -> Result<Started, TurnError> {
        let Self {
            turns,
            assistant,
            thread,
            history,
            input,
            saved,
            options,
            recorder,
            started,
        } = self;
        // An upstream that never answers the request is cut like one that never starts
        // its reply: at the first-token limit (the deadline, for a reply taken whole).
        let pacing = options.pacing(turns.settings.pacing);
        let starting = run::start_turn(&turns.providers, assistant, history, &input, &options);
        let events = tokio::time::timeout(pacing.first_token, starting)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let run_id = RunId::mint();
        let saved = saved.unwrap_or(input);
        let hooks = turns.hooks(
            &assistant.id,
            thread,
            run_id.clone(),
            saved,
            started,
            recorder,
        );
        Ok(Started {
            run_id,
            events,
            hooks,
            pacing,
        })
    }
}

/// The newest messages of `history` whose text fits in `budget` characters, oldest first:
/// what a long conversation costs per turn stays bounded.
pub fn newest_within(mut history: Vec<Message>, budget: usize) -> Vec<Message> {
    let mut used = 0usize;
    let keep = history
        .iter()
        .rev()
        .take_while(|m| {
            used = used.saturating_add(m.content.chars().count());
            used <= budget
        })
        .count();
    history.drain(..history.len() - keep);
    history
}

/// The service. Cheap to clone; built once by the composition root.
#[derive(Clone)]
pub struct Turns {
    store: Arc<dyn Store>,
    providers: Providers,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    memories: Memories,
}

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turns").finish_non_exhaustive()
    }
}

impl Turns {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
        memories: Memories,
    ) -> Self {
        Self {
            store,
            providers,
            clock,
            settings,
            memories,
        }
    }

    /// The history of `thread` if it holds any message: a conversation to continue. At
    /// least one message is read, so a conversation is recognised even when the history
    /// limit sends none to the model.
    pub async fn existing(&self, thread: &ThreadKey) -> Result<Option<Vec<Message>>, StoreError> {
        let limit = self.settings.history_limit;
        let found = self.store.recent_messages(thread, limit.max(1)).await?;
        if found.is_empty() {
            return Ok(None);
        }
        let skip = found.len().saturating_sub(limit);
        Ok(Some(
            found.into_iter().skip(skip).map(|m| m.message).collect(),
        ))
    }

    /// How many characters of earlier messages a turn of `assistant` sends to the model
    /// (its own `type==agent/history_chars`, or the deployment's).
    pub fn history_budget(&self, assistant: &Assistant) -> usize {
        assistant
            .history_chars()
            .unwrap_or(self.settings.history_chars)
    }

    /// Refuses a public turn once today's usage reached the assistant's token budget (its
    /// own `type==agent/daily_token_budget`, or the deployment's).
    async fn within_budget(&self, assistant: &Assistant) -> Result<(), TurnError> {
        let now = self.clock.now_secs();
        let today = now.div_euclid(86_400);
        let budget = assistant
            .daily_token_budget()
            .unwrap_or(self.settings.daily_token_budget);
        let spent: u64 = self
            .store
            .usage(&assistant.id, today, today)
            .await?
            .iter()
            .map(|d| d.totals.input_tokens.saturating_add(d.totals.output_tokens))
            .sum();
        if spent >= budget {
            let retry_after_secs = u64::try_from((today + 1) * 86_400 - now)
                .unwrap_or(1)
                .max(1);
            return Err(TurnError::OverBudget { retry_after_secs });
        }
        Ok(())
    }

    /// Reads what the turn needs, starts the model and prepares the save. Errors here
    /// happen before any response byte, so families answer them with a status.
    pub async fn start(&self, turn: Turn<'_>) -> Result<Started, TurnError> {
        self.prepare(turn).await?.start().await
    }

    /// Prepares `turn` while `admission` counts the request against the family's caps, both
    /// at once, and starts the model only if both succeed: a public turn waits for one
    /// round trip to the store before its model call, not two.
    pub async fn start_admitted<E: From<TurnError>>(
        &self,
        turn: Turn<'_>,
        admission: impl std::future::Future<Output = Result<(), E>>,
    ) -> Result<Started, E> {
        let reads = async { self.prepare(turn).await.map_err(E::from) };
        let (prepared, ()) = tokio::try_join!(reads, admission)?;
        Ok(prepared.start().await?)
    }

    /// Reads what the turn needs (the budget check, the history and the memory, at once:
    /// one round trip to the store, not three) without starting the model. A family joins
    /// this with its own admission (its caps), so the reads and the counts share one
    /// round trip, and starts the model only if both succeed.
    pub async fn prepare<'a>(&self, turn: Turn<'a>) -> Result<Prepared<'a>, TurnError> {
        let started = Instant::now();
        let Turn {
            assistant,
            thread,
            history,
            input,
            saved,
            mut options,
            public,
            recorder,
        } = turn;
        let budget = async {
            if public {
                self.within_budget(assistant).await
            } else {
                Ok(())
            }
        };
        let earlier = async {
            Ok::<_, TurnError>(match history {
                History::Stored => self
                    .store
                    .recent_messages(&thread, self.settings.history_limit)
                    .await?
                    .into_iter()
                    .map(|m| m.message)
                    .collect(),
                History::Given(messages) => messages,
                History::Sent => Vec::new(),
            })
        };
        let memory = async { Ok(self.memories.recall(thread.memory()).await) };
        let ((), history, memory) = tokio::try_join!(budget, earlier, memory)?;
        options.memory = memory;
        let history = newest_within(history, self.history_budget(assistant));
        Ok(Prepared {
            turns: self.clone(),
            assistant,
            thread,
            history,
            saved,
            input,
            options,
            recorder,
            started,
        })
    }

    /// Once the reply is complete: store `input` and the reply in `thread` under `run_id`
    /// (before the final frame, so a follow-up finds it); after the last byte, add the turn
    /// to the assistant's usage and hand the new messages to the memory the thread feeds.
    /// A turn that ends early stores nothing but still counts in usage.
    fn hooks(
        &self,
        assistant: &AssistantId,
        thread: ThreadKey,
        run_id: RunId,
        input: Vec<Message>,
        started: Instant,
        recorder: Option<OnComplete>,
    ) -> TurnHooks {
        let on_abandon: OnAbandon = {
            let (this, assistant) = (self.clone(), assistant.clone());
            Box::new(move |partial: Completion| {
                Box::pin(async move {
                    let delta = crate::usage::of_turn(&partial, 0, started);
                    crate::usage::record(
                        this.store.as_ref(),
                        this.clock.as_ref(),
                        &assistant,
                        delta,
                    )
                    .await;
                })
            })
        };
        let (after, after_assistant, after_thread) =
            (self.clone(), assistant.clone(), thread.clone());
        let saved_count = input.len();
        let this = self.clone();
        let on_complete: OnComplete = Box::new(move |completion: Completion| {
            Box::pin(async move {
                let now = this.clock.now_ms();
                let stored = |message: Message| StoredMessage {
                    message,
                    run_id: run_id.clone(),
                    created_at: now,
                };
                // The reply is copied only when a recorder needs the completion too.
                let record = recorder.map(|r| (r, completion.clone()));
                let mut messages: Vec<StoredMessage> = input.into_iter().map(stored).collect();
                messages.push(stored(Message::new(Role::Ai, completion.transcript_text())));
                this.store
                    .append_messages(&thread, &messages, this.settings.thread_idle_ttl_secs)
                    .await?;
                if let Some((record, completion)) = record {
                    record(completion).await?;
                }
                Ok(())
            })
        });
        // Usage and the memory's turn come after the last byte: the reply needs neither.
        let after_reply: AfterReply = Box::new(move |completion: &Completion| {
            let delta = crate::usage::of_turn(completion, saved_count + 1, started);
            Box::pin(async move {
                crate::usage::record(
                    after.store.as_ref(),
                    after.clock.as_ref(),
                    &after_assistant,
                    delta,
                )
                .await;
                after.memories.after_save(&after_thread, saved_count + 1);
            })
        });
        TurnHooks {
            on_complete,
            on_abandon,
            after_reply: Some(after_reply),
        }
    }
}
