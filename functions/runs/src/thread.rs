//! Which thread a run goes to. An integration holding a `public_token` names its own
//! threads; on an assistant open to everyone, only ids this server minted continue a
//! conversation, so nobody reads another caller's history by guessing its id.

use agentgate_shared::domain::assistant::{AccessMode, Assistant};
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::state::AppState;
use agentgate_shared::turn::History;

use crate::RunsError;

/// The thread a public run continues. A `public_token` integration owns its thread ids.
/// Open to everyone (`public_no_auth`), a thread continues only under an id this server
/// minted (a UUID v4: 122 random bits) and that holds a live conversation; any other id
/// starts a new thread, and the metadata says so.
pub async fn public_thread(
    state: &AppState,
    assistant: &Assistant,
    asked: Option<ThreadId>,
) -> Result<RunThread, RunsError> {
    let key = |id: &ThreadId| ThreadKey::public(&assistant.id, id);
    let Some(asked) = asked else {
        return Ok(RunThread::new(ThreadId::mint(), key, History::Stored));
    };
    if assistant.access_mode() != AccessMode::PublicNoAuth {
        return Ok(RunThread::new(asked, key, History::Stored));
    }
    let minted = uuid::Uuid::parse_str(asked.as_str()).is_ok_and(|u| u.get_version_num() == 4);
    let history = match minted {
        true => state.turns.existing(&key(&asked)).await?,
        false => None,
    };
    Ok(match history {
        Some(h) => RunThread::new(asked, key, History::Given(h)),
        None => RunThread {
            ignored: Some(asked),
            ..RunThread::new(ThreadId::mint(), key, History::Stored)
        },
    })
}

/// Where a run's turn goes: the thread, its history, and the id a caller asked for in vain.
pub struct RunThread {
    pub id: ThreadId,
    pub key: ThreadKey,
    pub history: History,
    pub ignored: Option<ThreadId>,
}

impl RunThread {
    pub fn new(id: ThreadId, key: impl Fn(&ThreadId) -> ThreadKey, history: History) -> Self {
        Self {
            key: key(&id),
            id,
            history,
            ignored: None,
        }
    }
}
