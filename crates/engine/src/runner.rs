//! The cloud runner: runs a run's queued session.
//!
//! For a session it claims the session (a conditional write, so a session
//! never runs twice even with many workers on one store), prepares an
//! environment — a scratch checkout of every repository at its base commit —
//! applies the session's start snapshots **before** the agent answers,
//! passes what did not apply to the harness, runs the turn, captures the
//! end-of-session snapshots and records the session as ended. Any failure
//! marks the session and run failed with the reason.
//!
//! [`Environment`] lets hosts provide their own
//! sandboxes; [`LocalEnvironment`](crate::LocalEnvironment) (scratch
//! directories on this machine) is the default.
//!
//! A session's end is its commits plus its uncommitted changes: the end
//! snapshot records `HEAD` as the agent left it (new, amended or rebased
//! commits, a reset, a branch switch) with the history it needs beyond
//! what the repository's remote has, and the uncommitted changes relative
//! to that `HEAD`; a second, since-base snapshot describes the same tree
//! relative to the run's base commit, for review.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use handoff_harness::{AttachmentFile, Confinement, Handoff, Harness, NotApplied, Sandbox, Turn};
use handoff_store::{BlobStore, Store};
use handoff_workspace::{ApplyOptions, Since, SnapshotOptions};

use crate::environment::{Environment, Prepared};
use crate::live::{Ask, Checkpoint, Entry, LiveOptions, LiveStore, Segment};
use crate::run::{
    Compaction, HistoryLimits, Loaded, Pending, RepoReport, RepoSnapshot, RunRecord, RunState,
    RunStore, SessionId,
};
use crate::{Error, Result, RunId, conversations};

/// How a worker runs sessions.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The worker's name, recorded in the sessions it claims.
    pub name: String,
    /// How long a claim holds without a heartbeat. The heartbeat also
    /// removes its own older renewals again (they change no state): all but
    /// the newest four, once a later renewal is a lease old.
    pub lease: Duration,
    /// How agents are confined.
    pub isolation: Isolation,
    /// The most carried history a run may ask for (its record's
    /// [`history_limits`](RunRecord::history_limits)); a run asking for
    /// more fails with [`Error::LimitAboveCeiling`].
    pub max_history: HistoryLimits,
    /// How often the session's progress and workspace reach the store
    /// while it runs ([`crate::live`]).
    pub live: LiveOptions,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", std::process::id()),
            lease: Duration::from_secs(15 * 60),
            isolation: Isolation::default(),
            max_history: HistoryLimits::CEILING,
            live: LiveOptions::default(),
        }
    }
}

/// How a worker confines the agents it runs (see
/// [`handoff_harness::confine`]). Each session gets a `HOME` and `TMPDIR`
/// of its own in its environment's scratch directory.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// Start agents from a clean environment: only what their harness
    /// declares (default `true`).
    pub clean_env: bool,
    /// Run agents inside bubblewrap (`None`: no sandbox; the `full`
    /// permission level is then refused).
    pub bwrap: Option<std::path::PathBuf>,
    /// What a sandboxed agent must not see: the store's directory, the
    /// worker's home, the directory holding every session's environment
    /// (its own session's directories stay visible).
    pub hidden: Vec<std::path::PathBuf>,
}

impl Default for Isolation {
    fn default() -> Self {
        Self {
            clean_env: true,
            bwrap: None,
            hidden: Vec::new(),
        }
    }
}

impl Isolation {
    /// The confinement of a session prepared in `prepared`, whose agent
    /// options are `agent`, run by `harness`; creates its `HOME` and
    /// `TMPDIR`. The permission level is kept by the agent and, where
    /// there is a sandbox, by the sandbox too: at `read-only` the
    /// workspace is mounted read-only. A level only the sandbox can keep,
    /// and `full`, are refused without one; a sandbox this host cannot
    /// build is refused, never weakened.
    async fn confine(
        &self,
        run: RunId,
        prepared: &Prepared,
        agent: &handoff_harness::AgentOptions,
        harness: &dyn Harness,
    ) -> Result<Confinement> {
        use handoff_harness::{Honour, Permissions};
        let level = agent.permissions;
        check_level(harness, level)?;
        let nesting = match harness.honours(level) {
            Honour::Agent(nesting) => nesting,
            // Only the sandbox keeps the agent to the level; whatever else
            // an adapter may answer one day is taken the same way, so an
            // unknown answer fails closed.
            _ if self.bwrap.is_none() => {
                return Err(Error::LevelNeedsSandbox {
                    run,
                    level,
                    harness: harness.kind(),
                });
            }
            _ => handoff_harness::confine::Nesting::None,
        };
        if level == Permissions::Full && self.bwrap.is_none() {
            return Err(Error::FullNeedsSandbox { run });
        }
        if let Some(bwrap) = &self.bwrap {
            handoff_harness::confine::sandbox::verify(bwrap)
                .await
                .map_err(|source| Error::Sandbox { run, source })?;
        }
        let home = prepared.scratch.join("home");
        let tmp = prepared.scratch.join("tmp");
        for dir in [&home, &tmp] {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                action: "create the agent's directory",
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Confinement {
            clean_env: self.clean_env,
            home: Some(home),
            tmp: Some(tmp),
            sandbox: self.bwrap.as_ref().map(|bwrap| {
                let mut sandbox = Sandbox::new(bwrap);
                sandbox.writable = vec![prepared.scratch.clone()];
                if level == Permissions::ReadOnly {
                    sandbox.read_only = vec![prepared.root.clone()];
                } else {
                    sandbox.writable.push(prepared.root.clone());
                }
                sandbox.hidden = self.hidden.clone();
                sandbox.network = agent.network;
                sandbox.nesting = nesting;
                sandbox
            }),
        })
    }
}

/// Refuses, at push time, a permission level `harness` cannot keep its
/// agent to at all ([`Honour::Refused`](handoff_harness::Honour::Refused)).
pub(crate) fn check_level(
    harness: &dyn Harness,
    level: handoff_harness::Permissions,
) -> Result<()> {
    match harness.honours(level) {
        handoff_harness::Honour::Refused { reason } => Err(Error::LevelRefused {
            harness: harness.kind(),
            level,
            reason,
        }),
        _ => Ok(()),
    }
}

/// What running a session did.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The record after the session.
    pub record: RunRecord,
    /// Where the environment is (kept for inspection).
    pub environment: Prepared,
}

/// Claims and runs the queued session of `run`. Returns `Ok(None)` when the
/// run has no queued session or another worker claimed it first.
pub async fn run_session(
    store: &dyn Store,
    run: RunId,
    harness: &dyn Harness,
    environment: &dyn Environment,
    options: &WorkerOptions,
) -> Result<Option<Ran>> {
    let runs = RunStore::new(store);
    let loaded = runs.get(run).await?;
    let mut record = loaded.record;
    if record.state != RunState::Queued
        || record
            .last_session()
            .is_none_or(|s| s.state != RunState::Queued)
    {
        return Ok(None);
    }
    let now = Utc::now();
    record.state = RunState::Running;
    let Some(session) = record.last_session_mut() else {
        return Ok(None);
    };
    session.state = RunState::Running;
    session.started_at = Some(now);
    session.worker = Some(options.name.clone());
    session.lease_until = chrono::Duration::from_std(options.lease)
        .ok()
        .map(|d| now + d);
    // Everything this worker records from now on goes to this session, by
    // id: the run may have a newer session by the time it is done.
    let claimed = session.id;
    let mut version = match runs.update(loaded.version, &mut record).await {
        Ok(version) => version,
        Err(Error::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };

    // While the session runs, renew the lease so other workers can tell a
    // live session from one whose worker died.
    let outcome = tokio::select! {
        outcome = execute(store, &record, harness, environment, options) => outcome,
        never = heartbeat(store, run, claimed, options) => match never {},
    };
    // The heartbeat may have written versions meanwhile.
    if let Ok(fresh) = runs.get(run).await {
        record = fresh.record;
        version = fresh.version;
    }
    let ours = |now: &mut RunRecord| -> Option<usize> {
        let index = now.sessions.iter().position(|s| s.id == claimed)?;
        let session = &now.sessions[index];
        (session.state == RunState::Running
            && session.worker.as_deref() == Some(options.name.as_str()))
        .then_some(index)
    };
    match outcome {
        Ok((outcome, prepared)) => {
            let record = record_end(
                &runs,
                (run, claimed),
                (record, version),
                usize::MAX,
                |now| {
                    let index = ours(now)?;
                    let last = index + 1 == now.sessions.len();
                    let session = &mut now.sessions[index];
                    let state = if outcome.cancelled.is_some() {
                        RunState::Cancelled
                    } else {
                        RunState::Ended
                    };
                    session.state = state;
                    session.ended_at = Some(Utc::now());
                    session.end = outcome.end.clone();
                    session.apply = outcome.apply.clone();
                    session.conversation_at_end = Some(outcome.conversation);
                    session.lease_until = None;
                    session.delivered = outcome.delivered.clone();
                    session.undelivered = outcome.undelivered.clone();
                    session.cancelled =
                        outcome
                            .cancelled
                            .as_ref()
                            .map(|entry| crate::run::Cancelled {
                                at: entry.at,
                                by: entry.from.clone(),
                            });
                    if last {
                        now.state = state;
                        now.conversation_head = Some(outcome.conversation);
                    }
                    Some(())
                },
            )
            .await
            .map_err(|e| lease_lost(e, run, claimed, options))?;
            Ok(Some(Ran {
                record,
                environment: prepared,
            }))
        }
        Err(failure) => {
            let reason = failure.to_string();
            // Recording the failure is best effort (the caller gets the
            // cause either way), but a concurrent write is no reason to give
            // up: it is retried on top, a bounded number of times.
            let recorded = record_end(
                &runs,
                (run, claimed),
                (record, version),
                FAILURE_RECORD_ATTEMPTS,
                |now| {
                    let index = ours(now)?;
                    let last = index + 1 == now.sessions.len();
                    let session = &mut now.sessions[index];
                    session.state = RunState::Failed;
                    session.ended_at = Some(Utc::now());
                    session.failure = Some(reason.clone());
                    session.lease_until = None;
                    if last {
                        now.state = RunState::Failed;
                    }
                    Some(())
                },
            )
            .await;
            if let Err(e) = recorded {
                let _ = lease_lost(e, run, claimed, options);
            }
            Err(failure)
        }
    }
}

/// Logs a session's outcome that could not be recorded because the session
/// is no longer this worker's (its lease expired and it was reaped, or it
/// was claimed anew), and passes the error on.
fn lease_lost(error: Error, run: RunId, session: SessionId, options: &WorkerOptions) -> Error {
    if matches!(error, Error::LeaseLost { .. }) {
        tracing::warn!(%run, %session, worker = %options.name, "the session is no longer this worker's; its outcome was discarded");
    }
    error
}

/// Writes how the session ended: `finish` applied to the record read as
/// `(record, version)`. When someone touched the record meanwhile (a
/// heartbeat, a reader) the session may still be ours: re-read it and
/// write again, up to `attempts` writes. `finish` returns `None` when the
/// session is no longer this worker's; nothing is written then, and the
/// result is [`Error::LeaseLost`]. Returns the record as written.
async fn record_end(
    runs: &RunStore<'_>,
    (run, session): (RunId, SessionId),
    (mut record, mut version): (RunRecord, handoff_store::Version),
    attempts: usize,
    finish: impl Fn(&mut RunRecord) -> Option<()>,
) -> Result<RunRecord> {
    let mut attempt = 1;
    loop {
        let mut now = record.clone();
        let Some(()) = finish(&mut now) else {
            return Err(Error::LeaseLost { run, session });
        };
        match runs.update(version, &mut now).await {
            Ok(_) => return Ok(now),
            Err(Error::Conflict { .. }) if attempt < attempts => {
                attempt += 1;
                let fresh = runs.get(run).await?;
                record = fresh.record;
                version = fresh.version;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How many times a worker tries to record a failed session when other
/// writers keep changing the run record under it.
const FAILURE_RECORD_ATTEMPTS: usize = 8;

/// Renews the running session's lease every third of its length, forever
/// (the caller drops it when the session is done), and removes its own
/// older renewals as `options.compaction` allows, so that a long session
/// does not leave a long chain of versions behind.
async fn heartbeat(
    store: &dyn Store,
    run: RunId,
    claimed: SessionId,
    options: &WorkerOptions,
) -> std::convert::Infallible {
    let runs = RunStore::new(store);
    let every = (options.lease / 3).max(Duration::from_millis(10));
    // No writer of a running session's record takes anywhere near a lease
    // between reading it and writing it.
    let policy = Compaction {
        keep_last: RENEWALS_KEPT,
        min_age: options.lease,
    };
    let mut renewals = VecDeque::new();
    loop {
        tokio::time::sleep(every).await;
        let Ok(mut loaded) = runs.get(run).await else {
            continue;
        };
        let Some(session) = loaded.record.sessions.iter_mut().find(|s| s.id == claimed) else {
            continue;
        };
        if session.state != RunState::Running
            || session.worker.as_deref() != Some(options.name.as_str())
        {
            continue;
        }
        session.lease_until = chrono::Duration::from_std(options.lease)
            .ok()
            .map(|d| Utc::now() + d);
        // A lost race only delays the renewal to the next beat.
        if let Ok(written) = runs.update(loaded.version, &mut loaded.record).await {
            renewals.push_back((written, Instant::now()));
            let old = renewals_to_forget(&mut renewals, written, &policy);
            // Removing is tidying up: a failure leaves versions for gc.
            let _ = runs.forget(run, &old).await;
        }
    }
}

/// How many of the newest versions a heartbeat never removes.
pub const RENEWALS_KEPT: usize = 4;

/// Of a heartbeat's own renewals (oldest first, with when each was
/// written), the ones to remove now that it wrote `latest`: those with at
/// least `keep_last` newer versions after them and a later renewal at
/// least `min_age` old (so the version after each is that old too). They
/// are taken out of `renewals`.
pub fn renewals_to_forget(
    renewals: &mut VecDeque<(handoff_store::Version, Instant)>,
    latest: handoff_store::Version,
    policy: &Compaction,
) -> Vec<handoff_store::Version> {
    let mut out = Vec::new();
    while renewals.len() >= 2 {
        let (Some(&(oldest, _)), Some(&(_, next_written))) = (renewals.front(), renewals.get(1))
        else {
            break;
        };
        let newer = latest.0.saturating_sub(oldest.0);
        if newer < policy.keep_last.max(1) as u64 || next_written.elapsed() < policy.min_age {
            break;
        }
        out.push(oldest);
        renewals.pop_front();
    }
    out
}

/// What a [`work_pass`] did with one run, told as it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkEvent {
    /// A queued session ran to its end.
    Ran(Box<Ran>),
    /// A queued session failed; the run records the reason.
    Failed {
        /// The run.
        run: RunId,
        /// Why.
        error: Error,
    },
    /// No harness was found for the run (the resolver's reason); it stays
    /// queued for a worker that has one.
    NoHarness {
        /// The run.
        run: RunId,
        /// The resolver's reason.
        reason: String,
    },
    /// A running session whose worker stopped (its lease expired) was
    /// marked failed.
    Reaped(RunId),
}

/// Picks the harness that runs a run's session (by its `harness` name), or
/// says why there is none.
pub type HarnessFor<'a> =
    dyn Fn(&RunRecord) -> std::result::Result<Arc<dyn Harness>, String> + Send + Sync + 'a;

/// How many run records a worker pass reads at once (each is a round trip
/// on a remote store).
pub const RECORDS_IN_FLIGHT: usize = 8;

/// A run the queue lists, as a poll read it.
#[derive(Debug)]
pub struct Polled {
    /// The run.
    pub run: RunId,
    /// Its sessions the queue lists.
    pub sessions: Vec<SessionId>,
    /// Its record (an entry written just before its record, or left
    /// behind, may name a run there is no record of).
    pub loaded: Result<Loaded>,
}

/// What a worker looks at: the runs the queue lists (sessions waiting or
/// running), each record read once — one listing plus one read per such
/// run, however many runs the store holds.
pub async fn poll(store: &dyn Store) -> Result<Vec<Polled>> {
    use futures_util::stream::{self, StreamExt};
    let runs = RunStore::new(store);
    let mut by_run: Vec<(RunId, Vec<SessionId>)> = Vec::new();
    for Pending { run, session } in runs.pending().await? {
        match by_run.last_mut() {
            Some((last, sessions)) if *last == run => sessions.push(session),
            _ => by_run.push((run, vec![session])),
        }
    }
    let runs = &runs;
    Ok(stream::iter(by_run)
        .map(|(run, sessions)| async move {
            Polled {
                run,
                sessions,
                loaded: runs.get(run).await,
            }
        })
        .buffered(RECORDS_IN_FLIGHT)
        .collect()
        .await)
}

/// One pass of a worker over the queue ([`poll`]): each queued session is
/// claimed and run with the harness `harness_for` picks ([`run_session`];
/// a session another worker claims first is skipped), each running
/// session whose lease expired is marked failed, and queue entries of
/// sessions that are done are cleared. `on_event` hears about every run
/// handled, as it happens. Returns how many sessions ran (ended or failed);
/// a host loops, pausing when that is 0.
pub async fn work_pass(
    store: &dyn Store,
    harness_for: &HarnessFor<'_>,
    environment: &dyn Environment,
    options: &WorkerOptions,
    on_event: &mut (dyn FnMut(WorkEvent) + Send),
) -> Result<usize> {
    let runs = RunStore::new(store);
    // A record that is stale by the time its turn comes only costs a
    // failed claim.
    let polled = poll(store).await?;
    let mut ran = 0;
    for Polled {
        run,
        sessions,
        loaded,
    } in polled
    {
        // Unreadable records are fsck's business, not the worker's; an
        // entry without a record is gc's.
        let Ok(loaded) = loaded else { continue };
        for session in &sessions {
            let done = loaded
                .record
                .sessions
                .iter()
                .any(|s| s.id == *session && s.state.is_over());
            if done {
                runs.dequeue(run, *session).await?;
            }
        }
        match loaded.record.state {
            RunState::Running if reap_loaded(store, &loaded).await? => {
                on_event(WorkEvent::Reaped(run));
            }
            RunState::Queued => {
                let harness = match harness_for(&loaded.record) {
                    Ok(harness) => harness,
                    Err(reason) => {
                        on_event(WorkEvent::NoHarness { run, reason });
                        continue;
                    }
                };
                match run_session(store, run, &*harness, environment, options).await {
                    Ok(Some(done)) => {
                        ran += 1;
                        on_event(WorkEvent::Ran(Box::new(done)));
                    }
                    Ok(None) => {}
                    Err(error) => {
                        ran += 1;
                        on_event(WorkEvent::Failed { run, error });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ran)
}

/// Marks `run` failed when its running session's lease expired: the worker
/// stopped (killed, crashed, lost its machine). Returns whether it did.
pub async fn reap_if_stale(store: &dyn Store, run: RunId) -> Result<bool> {
    let loaded = RunStore::new(store).get(run).await?;
    reap_loaded(store, &loaded).await
}

/// [`reap_if_stale`] on a record already read.
async fn reap_loaded(store: &dyn Store, loaded: &Loaded) -> Result<bool> {
    let runs = RunStore::new(store);
    let mut record = loaded.record.clone();
    let now = Utc::now();
    let Some(session) = record.last_session_mut() else {
        return Ok(false);
    };
    let expired =
        session.state == RunState::Running && session.lease_until.is_some_and(|until| until < now);
    if !expired {
        return Ok(false);
    }
    let mut failure = format!(
        "worker {} stopped responding: its lease expired at {}",
        session.worker.as_deref().unwrap_or("?"),
        session
            .lease_until
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    );
    // What it did until then is in its segments and its last checkpoint:
    // that is its end, and its conversation goes on from what was heard.
    let (id, session_id) = (loaded.record.id, session.id);
    let live = LiveStore::new(store);
    let segments = live.segments(id, session_id).await.unwrap_or_default();
    if let Some(checkpoint) = segments
        .iter()
        .rev()
        .find_map(|(_, s)| s.checkpoint.clone())
    {
        failure.push_str(&format!(
            "; its end is its last checkpoint, taken at {}",
            checkpoint.at.to_rfc3339()
        ));
        session.end = checkpoint.end;
        session.end_checkpoint = Some(checkpoint.at);
    }
    let heard: Vec<handoff_conversation::Message> =
        segments.into_iter().flat_map(|(_, s)| s.messages).collect();
    session.state = RunState::Failed;
    session.ended_at = Some(now);
    session.failure = Some(failure);
    if !heard.is_empty()
        && let Some(head) = record.conversation_head
        && let Ok(mut conversation) = conversations::load(store, &head).await
    {
        conversation.extend(heard);
        let saved = conversations::save_named(store, &conversation).await?;
        if let Some(session) = record.last_session_mut() {
            session.conversation_at_end = Some(saved);
        }
        record.conversation_head = Some(saved);
    }
    record.state = RunState::Failed;
    match runs.update(loaded.version, &mut record).await {
        Ok(_) => Ok(true),
        // Someone else reaped it or the worker came back: re-judge later.
        Err(Error::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

struct Outcome {
    end: Vec<RepoSnapshot>,
    apply: Vec<RepoReport>,
    conversation: handoff_store::Digest,
    /// The inbox entries delivered as later turns.
    delivered: Vec<uuid::Uuid>,
    /// Steers the session never took (cancelled first).
    undelivered: Vec<Entry>,
    /// The cancel that stopped the session.
    cancelled: Option<Entry>,
}

async fn execute(
    store: &dyn Store,
    record: &RunRecord,
    harness: &dyn Harness,
    environment: &dyn Environment,
    options: &WorkerOptions,
) -> Result<(Outcome, Prepared)> {
    let blobs: &dyn BlobStore = store;
    record.validate()?;
    // Every step reads and writes the history the push allowed, checked
    // against what this worker allows any run.
    let limits = record
        .history_limits_within(&options.max_history)?
        .apply(handoff_workspace::Limits::default());
    let session = record
        .last_session()
        .ok_or(Error::UnknownRun { run: record.id })?
        .clone();
    let prepared = environment.prepare(record, blobs).await?;
    // The run's base must be in each repository for the since-base
    // snapshot at the end; a later session's history may not reach it (the
    // agent reset or rebased past it), so the first session's carried
    // history comes along too (objects already there are skipped).
    if let Some(first) = record.sessions.first().filter(|s| s.id != session.id) {
        for start in &first.start {
            let Some((_, dir)) = prepared.repositories.iter().find(|(n, _)| *n == start.repo)
            else {
                continue;
            };
            let manifest =
                handoff_workspace::load_manifest_within(blobs, &start.snapshot, &limits).await?;
            if let Some(history) = &manifest.history {
                handoff_workspace::import_history(dir, blobs, history, &limits).await?;
            }
        }
    }

    // Restore the workspace before the agent answers.
    let mut reports = Vec::new();
    let mut handoff = Handoff::default();
    for start in &session.start {
        let Some((_, dir)) = prepared
            .repositories
            .iter()
            .find(|(name, _)| *name == start.repo)
        else {
            return Err(Error::Environment {
                run: record.id,
                reason: format!("the environment has no repository {}", start.repo),
            });
        };
        // The environment is already checked out on the start's base, its
        // history imported (`Environment::prepare`).
        let apply_options = ApplyOptions {
            limits,
            carried_commits: false,
            // Submodules the snapshot carries are cloned where they are not.
            clone_repository: crate::environment::GitClone::shared(),
            ..ApplyOptions::default()
        };
        let report = handoff_workspace::apply(dir, blobs, &start.snapshot, &apply_options).await?;
        let prefix = if start.repo == "." {
            String::new()
        } else {
            format!("{}/", start.repo)
        };
        handoff.applied +=
            report.applied.len() + report.already_applied.len() + report.merged.len();
        handoff
            .not_applied
            .extend(
                report
                    .failed
                    .iter()
                    .chain(&report.skipped)
                    .map(|f| NotApplied {
                        path: format!("{prefix}{}", f.path),
                        reason: f.reason.clone(),
                    }),
            );
        handoff
            .warnings
            .extend(report.warnings.iter().map(|w| format!("{prefix}{w}")));
        reports.push(RepoReport {
            repo: start.repo.clone(),
            report,
        });
    }

    // Attachments as files, outside the repositories.
    let mut conversation = match record.conversation_head {
        Some(head) => conversations::load(blobs, &head).await?,
        None => return Err(Error::UnknownRun { run: record.id }),
    };
    let attachment_dir = prepared.scratch.join("attachments");
    tokio::fs::create_dir_all(&attachment_dir)
        .await
        .map_err(|source| Error::Io {
            action: "create the attachment directory",
            path: attachment_dir.clone(),
            source,
        })?;
    let mut attachments = Vec::new();
    for (index, reference) in conversation
        .attachments()
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .enumerate()
    {
        let path = attachment_dir.join(format!("{index:03}-{}", reference.safe_name()));
        blobs.get_to_file(&reference.digest, &path).await?;
        attachments.push(AttachmentFile { path, reference });
    }

    let confinement = options
        .isolation
        .confine(record.id, &prepared, &session.agent, harness)
        .await?;
    let live = LiveStore::new(store);
    let mut recorder = Recorder::new(live, record.id, session.id);
    let mut prompt = session.prompt.clone().unwrap_or_default();
    let mut delivered: Vec<uuid::Uuid> = Vec::new();
    let mut cancelled: Option<Entry> = None;
    let mut end = Vec::new();
    let idle = Handoff::default();
    for turn_number in 1.. {
        let (turn_live, control) = recorder.start_turn(turn_number, &prompt);
        let outcome = {
            let turn = Turn {
                conversation: &conversation,
                prompt: &prompt,
                workdir: &prepared.root,
                attachments: &attachments,
                // Later turns run in the same workspace: nothing was restored.
                handoff: if turn_number == 1 { &handoff } else { &idle },
                agent: &session.agent,
                confinement: &confinement,
                live: &turn_live,
            };
            let running = harness.run_turn(turn);
            tokio::pin!(running);
            let mut segments = tokio::time::interval(options.live.segment_every);
            let mut inbox = tokio::time::interval(options.live.inbox_every);
            let mut checkpoints = tokio::time::interval(options.live.checkpoint_every);
            // The first tick of each is at once.
            segments.tick().await;
            inbox.tick().await;
            checkpoints.tick().await;
            loop {
                tokio::select! {
                    outcome = &mut running => break outcome,
                    _ = segments.tick() => recorder.flush().await,
                    _ = inbox.tick() => {
                        if let Some(stop) = recorder.asked(&delivered).await {
                            control.stop(stop);
                        }
                    }
                    _ = checkpoints.tick() => {
                        match capture_end(record, &prepared, blobs, limits).await {
                            Ok(now) => recorder.checkpoint(now).await,
                            Err(e) => tracing::warn!(run = %record.id, error = %e, "a checkpoint failed; the session goes on"),
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(added) => conversation.extend(added),
            // What a stopped turn said is what was heard of it.
            Err(handoff_harness::Error::Stopped { stop, .. }) => {
                conversation.extend(recorder.heard_this_turn());
                if stop == handoff_harness::Stop::Cancel {
                    let (_, inbox) = live.inbox(record.id, session.id).await?;
                    cancelled = inbox.cancel().cloned();
                }
            }
            Err(e) => return Err(e.into()),
        }
        // Every turn boundary is a checkpoint; the last one is the end.
        end = capture_end(record, &prepared, blobs, limits).await?;
        recorder.checkpoint(end.clone()).await;
        if cancelled.is_some() {
            break;
        }
        match live
            .close_or_next(record.id, session.id, &delivered)
            .await?
        {
            None => break,
            Some(entry) => match &entry.ask {
                Ask::Steer { prompt: next, .. } => {
                    delivered.push(entry.id);
                    prompt = next.clone();
                }
                _ => {
                    cancelled = Some(entry);
                    break;
                }
            },
        }
    }
    recorder.flush().await;
    let undelivered = match &cancelled {
        Some(_) => {
            let (_, inbox) = live.inbox(record.id, session.id).await?;
            inbox
                .entries
                .into_iter()
                .filter(|e| !delivered.contains(&e.id) && matches!(e.ask, Ask::Steer { .. }))
                .collect()
        }
        None => Vec::new(),
    };
    let head = conversations::save_named(store, &conversation).await?;
    Ok((
        Outcome {
            end,
            apply: reports,
            conversation: head,
            delivered,
            undelivered,
            cancelled,
        },
        prepared,
    ))
}

/// Each repository's end as it stands: its `HEAD` with the history it
/// needs and its uncommitted work, plus the since-base snapshot for review.
async fn capture_end(
    record: &RunRecord,
    prepared: &Prepared,
    blobs: &dyn BlobStore,
    limits: handoff_workspace::Limits,
) -> Result<Vec<RepoSnapshot>> {
    let mut end = Vec::new();
    for (name, dir) in &prepared.repositories {
        let at_head = SnapshotOptions {
            limits,
            ..SnapshotOptions::default()
        };
        let snap = handoff_workspace::snapshot(dir, blobs, &at_head).await?;
        let base = record
            .repositories
            .iter()
            .find(|r| r.path == *name)
            .map(|r| r.base_commit(record.id))
            .transpose()?
            .flatten();
        let since = SnapshotOptions {
            since: Some(base.map_or(Since::Nothing, Since::Commit)),
            carry_history: false,
            limits,
            ..SnapshotOptions::default()
        };
        let review = handoff_workspace::snapshot(dir, blobs, &since).await?;
        end.push(RepoSnapshot {
            repo: name.clone(),
            snapshot: snap.id,
            since_base: Some(review.id),
        });
    }
    Ok(end)
}

type Heard = std::sync::Arc<std::sync::Mutex<Vec<handoff_conversation::Message>>>;

fn lock(heard: &Heard) -> std::sync::MutexGuard<'_, Vec<handoff_conversation::Message>> {
    heard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes a running session's progress: the messages heard, in segments,
/// and its checkpoints. Progress is best effort: a write that fails is
/// logged and retried with the next, and never fails the session.
struct Recorder<'a> {
    live: LiveStore<'a>,
    run: RunId,
    session: SessionId,
    /// Heard and not yet written.
    pending: Heard,
    /// Heard in the current turn (what a stopped turn said).
    this_turn: Heard,
    turn: u32,
    written: Option<handoff_store::Version>,
    checkpoint: Option<Checkpoint>,
}

impl<'a> Recorder<'a> {
    fn new(live: LiveStore<'a>, run: RunId, session: SessionId) -> Self {
        Self {
            live,
            run,
            session,
            pending: Heard::default(),
            this_turn: Heard::default(),
            turn: 0,
            written: None,
            checkpoint: None,
        }
    }

    /// A new turn, answering `prompt`: its [`Live`](handoff_harness::Live)
    /// and control.
    fn start_turn(
        &mut self,
        turn: u32,
        prompt: &str,
    ) -> (handoff_harness::Live, handoff_harness::LiveControl) {
        use handoff_conversation::{Message, Role};
        self.turn = turn;
        lock(&self.this_turn).clear();
        let asked = Message::text(Role::User, prompt);
        lock(&self.pending).push(asked.clone());
        lock(&self.this_turn).push(asked);
        let (pending, this_turn) = (self.pending.clone(), self.this_turn.clone());
        handoff_harness::Live::new(move |message| {
            lock(&this_turn).push(message.clone());
            lock(&pending).push(message);
        })
    }

    fn heard_this_turn(&self) -> Vec<handoff_conversation::Message> {
        lock(&self.this_turn).clone()
    }

    /// Writes what was heard since the last segment, if anything.
    async fn flush(&mut self) {
        let messages = std::mem::take(&mut *lock(&self.pending));
        if messages.is_empty() {
            return;
        }
        self.write(messages).await;
    }

    async fn write(&mut self, messages: Vec<handoff_conversation::Message>) {
        let segment = Segment {
            format: crate::live::SEGMENT_FORMAT.to_owned(),
            session: self.session,
            at: Utc::now(),
            turn: self.turn,
            messages,
            checkpoint: self.checkpoint.clone(),
        };
        match self.live.append(self.run, self.written, &segment).await {
            Ok(version) => self.written = Some(version),
            Err(e) => {
                tracing::warn!(run = %self.run, error = %e, "progress could not be written; it goes with the next segment");
                // Keep the messages for the next write.
                {
                    let mut pending = lock(&self.pending);
                    let later = std::mem::take(&mut *pending);
                    *pending = segment.messages;
                    pending.extend(later);
                }
                // Someone wrote a version (a worker that claimed the session
                // before?): go on after the newest.
                if let Ok(Some((version, _))) = self.live.latest(self.run, self.session).await {
                    self.written = Some(version);
                }
            }
        }
    }

    /// Records `end` as the newest checkpoint, unless the workspace is
    /// as the last one found it.
    async fn checkpoint(&mut self, end: Vec<RepoSnapshot>) {
        if self.checkpoint.as_ref().is_some_and(|c| c.end == end) {
            self.flush().await;
            return;
        }
        self.checkpoint = Some(Checkpoint {
            at: Utc::now(),
            end,
        });
        let messages = std::mem::take(&mut *lock(&self.pending));
        self.write(messages).await;
    }

    /// What the inbox asks of the current turn: stop it for a cancel, or
    /// for a steer that interrupts.
    async fn asked(&self, delivered: &[uuid::Uuid]) -> Option<handoff_harness::Stop> {
        let (_, inbox) = match self.live.inbox(self.run, self.session).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(run = %self.run, error = %e, "the session's inbox could not be read");
                return None;
            }
        };
        let waiting = inbox.entries.iter().filter(|e| !delivered.contains(&e.id));
        let mut stop = None;
        for entry in waiting {
            match entry.ask {
                Ask::Cancel => return Some(handoff_harness::Stop::Cancel),
                Ask::Steer {
                    interrupt: true, ..
                } => stop = Some(handoff_harness::Stop::Interrupt),
                _ => {}
            }
        }
        stop
    }
}
