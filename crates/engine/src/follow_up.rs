//! cloud → cloud: a follow-up to a run whose session has ended continues the
//! same conversation in a new session, whose workspace is restored from the
//! previous session's end snapshot.

use handoff_harness::{AgentOptions, Direction, Harness, coverage};
use handoff_store::Store;

use crate::outgoing::Outgoing;
use crate::run::{RunState, RunStore, Session};
use crate::{Error, Result, RunId};

/// How to queue a follow-up.
#[derive(Debug, Clone, Default)]
pub struct FollowUpOptions {
    /// The agent options of the new session (`None`: as the previous
    /// session's).
    pub agent: Option<AgentOptions>,
    /// Queue the prompt even if the secret scan finds likely secrets in it.
    pub allow_secrets: bool,
}

/// Queues a follow-up session on `run` with `prompt`, run as the previous
/// session was (the same permission level and model).
///
/// The prompt leaves this machine: one with likely secrets is refused with
/// [`Error::SecretsFound`] before anything is read or written. A run that is
/// queued or running is refused with [`Error::RunBusy`]; of two racing
/// follow-ups exactly one is queued and the other gets [`Error::Conflict`].
pub async fn follow_up(
    store: &dyn Store,
    run: RunId,
    harness: &dyn Harness,
    prompt: String,
) -> Result<Session> {
    follow_up_with(store, run, harness, prompt, &FollowUpOptions::default()).await
}

/// [`follow_up()`], with `options`.
pub async fn follow_up_with(
    store: &dyn Store,
    run: RunId,
    harness: &dyn Harness,
    prompt: String,
    options: &FollowUpOptions,
) -> Result<Session> {
    coverage::check(harness, Direction::CloudToCloud)?;
    if !options.allow_secrets {
        Outgoing::new()?.text("prompt", &prompt).check()?;
    }
    let runs = RunStore::new(store);
    // A session whose worker died does not block the run forever.
    crate::runner::reap_if_stale(store, run).await?;
    let loaded = runs.get(run).await?;
    let mut record = loaded.record;
    if matches!(record.state, RunState::Queued | RunState::Running) {
        return Err(Error::RunBusy {
            run,
            state: record.state,
        });
    }
    // Restore the last good end state; a run whose sessions all failed
    // starts again from what it was first given.
    let start = match record.last_good_end() {
        Some(end) => end.to_vec(),
        None => record
            .sessions
            .first()
            .map(|s| s.start.clone())
            .unwrap_or_default(),
    };
    let mut session = Session::queued(Some(prompt), start);
    session.agent = match options.agent.clone() {
        Some(agent) => agent,
        None => record
            .last_session()
            .map(|s| s.agent.clone())
            .unwrap_or_default(),
    };
    crate::runner::check_level(harness, session.agent.permissions)?;
    record.sessions.push(session.clone());
    record.state = RunState::Queued;
    runs.update(loaded.version, &mut record).await?;
    Ok(session)
}
