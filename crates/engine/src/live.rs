//! Live runs: what a running session has said so far, its checkpoints, and
//! the messages other devices send it.
//!
//! Two documents per session, beside its run record:
//!
//! - `live/<run>/<session>`: the session's progress. Each version is one
//!   [`Segment`]: the messages the agent produced since the version
//!   before, and the newest [`Checkpoint`] of the workspace. The worker
//!   writes a version at a message boundary, at most one every
//!   [`LiveOptions::segment_every`], and one for each checkpoint that
//!   changed something. Readers merge the segments after the run's
//!   conversation head; when the session ends, the conversation the run
//!   records is the one the harness returned, as without segments.
//! - `inbox/<run>/<session>`: what was asked of the running session — each
//!   [`Entry`] a steer (a message for the agent's next turn, optionally
//!   interrupting the current one) or a cancel — in the order the store
//!   accepted them (each ask is a conditional write of the next version).
//!   The worker delivers entries in that order and, when there is nothing
//!   left, closes the inbox with a conditional write of its own: an ask
//!   that lands first makes the close fail, so the worker sees it; an ask
//!   after the close finds it closed. Either way, nothing is lost and
//!   nothing is delivered twice.
//!
//! Everything here is read back as untrusted: sizes are bounded, formats
//! checked, and a damaged document is an error naming it.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use handoff_conversation::Message;
use handoff_store::{DocKey, DocumentStore, Store, Version};
use serde::{Deserialize, Serialize};

use crate::run::{Cancelled, RepoSnapshot, RunId, RunState, RunStore, Session, SessionId};
use crate::{Error, Result};

/// The format of a [`Segment`].
pub const SEGMENT_FORMAT: &str = "handoff.live/v1";
/// The format of an [`Inbox`].
pub const INBOX_FORMAT: &str = "handoff.inbox/v1";
/// The largest live document read back.
pub const MAX_LIVE_BYTES: usize = 8 << 20;

/// How often a worker reports on a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveOptions {
    /// At most one segment of new messages this often (default 5 s).
    pub segment_every: Duration,
    /// How often the worker reads the session's inbox while a turn runs
    /// (default 5 s): how soon a cancel or an interrupt is noticed.
    pub inbox_every: Duration,
    /// How often the workspace is checkpointed while a turn runs (default
    /// 60 s); it is also checkpointed at every turn boundary.
    pub checkpoint_every: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            segment_every: Duration::from_secs(5),
            inbox_every: Duration::from_secs(5),
            checkpoint_every: Duration::from_secs(60),
        }
    }
}

impl LiveOptions {
    /// These options, checkpointing every `every`.
    pub fn with_checkpoint_every(mut self, every: Duration) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// These options, with segments and inbox reads every `every`.
    pub fn with_segment_every(mut self, every: Duration) -> Self {
        self.segment_every = every;
        self.inbox_every = every;
        self
    }
}

/// The workspace of a running session at a moment: what its end would be
/// if it ended then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Each repository's snapshot (its commits and uncommitted work), as
    /// a session's end records them.
    pub end: Vec<RepoSnapshot>,
}

/// One version of a session's live document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// [`SEGMENT_FORMAT`].
    pub format: String,
    /// The session.
    pub session: SessionId,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The turn of the session these messages belong to (the first is 1).
    pub turn: u32,
    /// The messages produced since the segment before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    /// The newest checkpoint so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// What was asked of a running session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ask {
    /// A message for the agent's next turn.
    Steer {
        /// The message.
        prompt: String,
        /// Stop the current turn first.
        #[serde(default)]
        interrupt: bool,
    },
    /// Stop the session.
    Cancel,
}

/// One entry of an [`Inbox`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id.
    pub id: uuid::Uuid,
    /// When it was asked.
    pub at: DateTime<Utc>,
    /// Which machine asked.
    pub from: String,
    /// What.
    #[serde(flatten)]
    pub ask: Ask,
}

impl Entry {
    /// A new entry, asked now from `from`.
    pub fn new(ask: Ask, from: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::now_v7(),
            at: Utc::now(),
            from: from.into(),
            ask,
        }
    }
}

/// A session's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// [`INBOX_FORMAT`].
    pub format: String,
    /// What was asked, in the order the store accepted it.
    pub entries: Vec<Entry>,
    /// When the worker closed it: the session takes nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<DateTime<Utc>>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self {
            format: INBOX_FORMAT.to_owned(),
            entries: Vec::new(),
            closed: None,
        }
    }
}

impl Inbox {
    /// Whether a cancel was asked.
    pub fn cancel(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.ask == Ask::Cancel)
    }
}

/// What [`LiveStore::ask`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Asked {
    /// The entry is in the inbox, at this position (0 is the first).
    Queued {
        /// Its position.
        position: usize,
    },
    /// The session closed its inbox: it ended (or is ending) without it.
    Closed,
    /// A cancel was asked before; a steer is not taken after one.
    Cancelling {
        /// Who asked for the cancel.
        by: String,
    },
}

/// How many times an ask or a close is retried when others write the
/// inbox at the same moment.
const INBOX_ATTEMPTS: usize = 32;

/// Sessions' live documents in a [`DocumentStore`].
#[derive(Debug, Clone, Copy)]
pub struct LiveStore<'a> {
    docs: &'a dyn DocumentStore,
}

impl<'a> LiveStore<'a> {
    /// Live documents in `docs`.
    pub fn new(docs: &'a dyn DocumentStore) -> Self {
        Self { docs }
    }

    fn live_key(run: RunId, session: SessionId) -> Result<DocKey> {
        Ok(DocKey::new(format!("live/{run}/{session}"))?)
    }

    fn inbox_key(run: RunId, session: SessionId) -> Result<DocKey> {
        Ok(DocKey::new(format!("inbox/{run}/{session}"))?)
    }

    fn damaged(run: RunId, key: &DocKey, reason: impl std::fmt::Display) -> Error {
        Error::LiveDocument {
            run,
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    fn decode_segment(
        run: RunId,
        session: SessionId,
        key: &DocKey,
        data: &[u8],
    ) -> Result<Segment> {
        if data.len() > MAX_LIVE_BYTES {
            return Err(Self::damaged(
                run,
                key,
                format!(
                    "{} bytes, more than the {MAX_LIVE_BYTES} a segment may hold",
                    data.len()
                ),
            ));
        }
        let segment: Segment =
            serde_json::from_slice(data).map_err(|e| Self::damaged(run, key, e))?;
        if segment.format != SEGMENT_FORMAT {
            return Err(Self::damaged(
                run,
                key,
                format!("format {:?}, expected {SEGMENT_FORMAT}", segment.format),
            ));
        }
        if segment.session != session {
            return Err(Self::damaged(
                run,
                key,
                format!("it names session {}", segment.session),
            ));
        }
        Ok(segment)
    }

    /// The newest segment of `session` and its version, if any.
    pub async fn latest(
        &self,
        run: RunId,
        session: SessionId,
    ) -> Result<Option<(Version, Segment)>> {
        let key = Self::live_key(run, session)?;
        let Some(found) = self.docs.get_latest(&key).await? else {
            return Ok(None);
        };
        let segment = Self::decode_segment(run, session, &key, &found.data)?;
        Ok(Some((found.version, segment)))
    }

    /// Segment `version` of `session` (`None`: not there, or removed).
    pub async fn segment(
        &self,
        run: RunId,
        session: SessionId,
        version: Version,
    ) -> Result<Option<Segment>> {
        let key = Self::live_key(run, session)?;
        match self.docs.get_version(&key, version).await? {
            Some(data) => Ok(Some(Self::decode_segment(run, session, &key, &data)?)),
            None => Ok(None),
        }
    }

    /// Every segment of `session`, oldest first.
    pub async fn segments(
        &self,
        run: RunId,
        session: SessionId,
    ) -> Result<Vec<(Version, Segment)>> {
        let key = Self::live_key(run, session)?;
        let mut out = Vec::new();
        for info in self.docs.versions(&key).await? {
            if let Some(segment) = self.segment(run, session, info.version).await? {
                out.push((info.version, segment));
            }
        }
        Ok(out)
    }

    /// Writes `segment` as the version after `after` (`None`: the first).
    pub async fn append(
        &self,
        run: RunId,
        after: Option<Version>,
        segment: &Segment,
    ) -> Result<Version> {
        let key = Self::live_key(run, segment.session)?;
        let data = serde_json::to_vec(segment).map_err(|e| Self::damaged(run, &key, e))?;
        self.docs
            .put_version(&key, after, Bytes::from(data))
            .await
            .map_err(|e| Error::from_store(e, run))
    }

    /// The inbox of `session` and its version (an empty one at no version
    /// when nothing was asked yet).
    pub async fn inbox(&self, run: RunId, session: SessionId) -> Result<(Option<Version>, Inbox)> {
        let key = Self::inbox_key(run, session)?;
        let Some(found) = self.docs.get_latest(&key).await? else {
            return Ok((None, Inbox::default()));
        };
        if found.data.len() > MAX_LIVE_BYTES {
            return Err(Self::damaged(run, &key, "larger than an inbox may be"));
        }
        let inbox: Inbox =
            serde_json::from_slice(&found.data).map_err(|e| Self::damaged(run, &key, e))?;
        if inbox.format != INBOX_FORMAT {
            return Err(Self::damaged(
                run,
                &key,
                format!("format {:?}, expected {INBOX_FORMAT}", inbox.format),
            ));
        }
        Ok((Some(found.version), inbox))
    }

    async fn write_inbox(
        &self,
        run: RunId,
        session: SessionId,
        read: Option<Version>,
        inbox: &Inbox,
    ) -> Result<std::result::Result<Version, ()>> {
        let key = Self::inbox_key(run, session)?;
        let data = serde_json::to_vec(inbox).map_err(|e| Self::damaged(run, &key, e))?;
        match self.docs.put_version(&key, read, Bytes::from(data)).await {
            Ok(version) => Ok(Ok(version)),
            Err(e) if e.is_conflict() => Ok(Err(())),
            Err(e) => Err(Error::from_store(e, run)),
        }
    }

    /// Adds `entry` to the inbox of `session`, after everything asked
    /// before it; refused when the inbox is closed, and for a steer after a
    /// cancel.
    pub async fn ask(&self, run: RunId, session: SessionId, entry: Entry) -> Result<Asked> {
        for _ in 0..INBOX_ATTEMPTS {
            let (read, mut inbox) = self.inbox(run, session).await?;
            if inbox.closed.is_some() {
                return Ok(Asked::Closed);
            }
            if let Some(cancel) = inbox.cancel() {
                return Ok(Asked::Cancelling {
                    by: cancel.from.clone(),
                });
            }
            inbox.entries.push(entry.clone());
            if self.write_inbox(run, session, read, &inbox).await?.is_ok() {
                return Ok(Asked::Queued {
                    position: inbox.entries.len() - 1,
                });
            }
        }
        Err(Error::Busy {
            run,
            what: "the session's inbox",
        })
    }

    /// Closes the inbox of `session` if nothing but `delivered` was ever
    /// asked: `Ok(None)` when it closed it; otherwise the first entry not
    /// delivered yet, which the worker must handle first.
    pub async fn close_or_next(
        &self,
        run: RunId,
        session: SessionId,
        delivered: &[uuid::Uuid],
    ) -> Result<Option<Entry>> {
        for _ in 0..INBOX_ATTEMPTS {
            let (read, mut inbox) = self.inbox(run, session).await?;
            if let Some(next) = inbox.entries.iter().find(|e| !delivered.contains(&e.id)) {
                return Ok(Some(next.clone()));
            }
            if inbox.closed.is_some() {
                return Ok(None);
            }
            inbox.closed = Some(Utc::now());
            if self.write_inbox(run, session, read, &inbox).await?.is_ok() {
                return Ok(None);
            }
        }
        Err(Error::Busy {
            run,
            what: "the session's inbox",
        })
    }

    /// Removes every live document of `session` (a deleted run's).
    pub async fn remove(&self, run: RunId, session: SessionId) -> Result<()> {
        for key in [
            Self::live_key(run, session)?,
            Self::inbox_key(run, session)?,
        ] {
            for info in self.docs.versions(&key).await? {
                self.docs.delete_version(&key, info.version).await?;
            }
        }
        Ok(())
    }
}

/// This machine's name as steers and cancels record it: `user@host`
/// (`HANDOFF_MACHINE` overrides it).
pub fn this_machine() -> String {
    if let Some(name) = std::env::var_os("HANDOFF_MACHINE").filter(|n| !n.is_empty()) {
        return name.to_string_lossy().into_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        Ok(user) if !user.is_empty() => format!("{user}@{host}"),
        _ => host,
    }
}

/// What [`cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The session was waiting for a worker: it is out of the queue and
    /// recorded cancelled.
    Dequeued {
        /// The session.
        session: SessionId,
    },
    /// The session is running: its worker stops it within a few seconds
    /// ([`LiveOptions::inbox_every`]), checkpoints it, and records it
    /// cancelled ([`wait_until_over`] waits for that).
    Asked {
        /// The session.
        session: SessionId,
    },
    /// The run was over already (the session ended before the cancel
    /// reached it).
    AlreadyOver {
        /// How it ended.
        state: RunState,
    },
}

/// How many times [`cancel`] and [`steer`] re-read a run whose record or
/// inbox others change at the same moment.
const CONTROL_ATTEMPTS: usize = 32;

/// How long [`cancel`] and [`steer`] wait for a session that closed its
/// inbox to record its end.
const CLOSING_WAIT: Duration = Duration::from_secs(120);

/// Cancels the run's current session, from the machine `from`: a queued
/// one is taken out of the queue, a running one is asked to stop (see
/// [`CancelOutcome`]).
pub async fn cancel(store: &dyn Store, run: RunId, from: &str) -> Result<CancelOutcome> {
    let runs = RunStore::new(store);
    let live = LiveStore::new(store);
    crate::runner::reap_if_stale(store, run).await?;
    for _ in 0..CONTROL_ATTEMPTS {
        let loaded = runs.get(run).await?;
        let mut record = loaded.record;
        let Some(session) = record.last_session_mut() else {
            return Ok(CancelOutcome::AlreadyOver {
                state: record.state,
            });
        };
        let id = session.id;
        match session.state {
            RunState::Queued => {
                let now = Utc::now();
                session.state = RunState::Cancelled;
                session.ended_at = Some(now);
                session.cancelled = Some(Cancelled {
                    at: now,
                    by: from.to_owned(),
                });
                record.state = RunState::Cancelled;
                match runs.update(loaded.version, &mut record).await {
                    Ok(_) => {
                        runs.dequeue(run, id).await?;
                        return Ok(CancelOutcome::Dequeued { session: id });
                    }
                    // A worker claimed it meanwhile: ask the running one.
                    Err(Error::Conflict { .. }) => continue,
                    Err(e) => return Err(e),
                }
            }
            RunState::Running => match live.ask(run, id, Entry::new(Ask::Cancel, from)).await? {
                Asked::Queued { .. } | Asked::Cancelling { .. } => {
                    return Ok(CancelOutcome::Asked { session: id });
                }
                // It is ending: its end is what it is.
                Asked::Closed => {
                    let state = wait_until_over(store, run, id, CLOSING_WAIT).await?;
                    return Ok(CancelOutcome::AlreadyOver { state });
                }
            },
            state => return Ok(CancelOutcome::AlreadyOver { state }),
        }
    }
    Err(Error::Busy {
        run,
        what: "the run record",
    })
}

/// What [`steer`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Steered {
    /// The message waits in the running (or queued) session's inbox; the
    /// agent gets it at its next turn boundary (at once, with `interrupt`).
    Queued {
        /// The session.
        session: SessionId,
        /// Its place among everything sent to the session (0 is the first).
        position: usize,
    },
    /// The run was over: the message started a follow-up session, as
    /// [`follow_up_with`](crate::follow_up_with) does.
    FollowedUp(Box<Session>),
}

/// A message for a running session from the machine `from`: delivered at
/// the agent's next turn boundary, or at once with `interrupt` (the
/// current turn is stopped first). On a run that is over it starts a
/// follow-up with `harness` and `options` instead.
pub async fn steer(
    store: &dyn Store,
    run: RunId,
    prompt: &str,
    interrupt: bool,
    from: &str,
    harness: &dyn handoff_harness::Harness,
    options: &crate::FollowUpOptions,
) -> Result<Steered> {
    if !options.allow_secrets {
        crate::Outgoing::new()?.text("prompt", prompt).check()?;
    }
    let runs = RunStore::new(store);
    let live = LiveStore::new(store);
    crate::runner::reap_if_stale(store, run).await?;
    for _ in 0..CONTROL_ATTEMPTS {
        let record = runs.get(run).await?.record;
        let Some(session) = record.last_session() else {
            return Err(Error::UnknownRun { run });
        };
        if session.state.is_over() {
            let session =
                crate::follow_up_with(store, run, harness, prompt.to_owned(), options).await?;
            return Ok(Steered::FollowedUp(Box::new(session)));
        }
        let ask = Ask::Steer {
            prompt: prompt.to_owned(),
            interrupt,
        };
        match live.ask(run, session.id, Entry::new(ask, from)).await? {
            Asked::Queued { position } => {
                return Ok(Steered::Queued {
                    session: session.id,
                    position,
                });
            }
            Asked::Cancelling { by } => return Err(Error::Cancelling { run, by }),
            // The session is ending without it: once it is over, the
            // message follows it up.
            Asked::Closed => {
                wait_until_over(store, run, session.id, CLOSING_WAIT).await?;
            }
        }
    }
    Err(Error::Busy {
        run,
        what: "the run record",
    })
}

/// Waits until `session` of `run` is over (ended, failed or cancelled),
/// reading its record every half second, at most `limit`; returns its
/// state.
pub async fn wait_until_over(
    store: &dyn Store,
    run: RunId,
    session: SessionId,
    limit: Duration,
) -> Result<RunState> {
    let runs = RunStore::new(store);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let record = runs.get(run).await?.record;
        let state = record
            .sessions
            .iter()
            .find(|s| s.id == session)
            .map(|s| s.state)
            .ok_or(Error::UnknownRun { run })?;
        if state.is_over() {
            return Ok(state);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Busy {
                run,
                what: "the session (still running)",
            });
        }
        if crate::runner::reap_if_stale(store, run).await? {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What a watcher sees of a run ([`Watch`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WatchEvent {
    /// The conversation as it stood when the current session started.
    Conversation {
        /// Its messages.
        messages: Vec<Message>,
    },
    /// A session is in a new state.
    State {
        /// The session.
        session: SessionId,
        /// Its state.
        state: RunState,
    },
    /// A message the running session produced.
    Message {
        /// The session.
        session: SessionId,
        /// The turn of the session (the first is 1).
        turn: u32,
        /// The message.
        message: Message,
    },
    /// A new checkpoint of the running session's workspace.
    Checkpoint {
        /// The session.
        session: SessionId,
        /// It.
        checkpoint: Checkpoint,
    },
    /// The session is over; the watch ends.
    Over {
        /// The session.
        session: SessionId,
        /// How it ended.
        state: RunState,
        /// Why it failed, or who cancelled it.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// How a [`Watch`] reads the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// How often the running session's progress is read (default 1.5 s).
    pub every: Duration,
    /// The run record is read every this many reads of the progress
    /// (default 4): with the defaults, under one request a second.
    pub record_every: u32,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            every: Duration::from_millis(1500),
            record_every: 4,
        }
    }
}

impl WatchOptions {
    /// These options, reading progress every `every`.
    pub fn with_every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }
}

/// A watcher of one run, from any machine sharing the store: the
/// conversation so far, then each message, state change and checkpoint of
/// its current session as they reach the store, until that session is
/// over. [`Watch::next`] gives the next event; [`Watch::into_stream`]
/// makes a stream of them.
#[derive(Debug)]
pub struct Watch<'a> {
    store: &'a dyn Store,
    run: RunId,
    options: WatchOptions,
    queue: std::collections::VecDeque<WatchEvent>,
    started: bool,
    done: bool,
    session: Option<SessionId>,
    state: Option<RunState>,
    seen: Option<Version>,
    checkpoint: Option<DateTime<Utc>>,
    polls: u32,
}

impl<'a> Watch<'a> {
    /// Watches `run`.
    pub fn new(store: &'a dyn Store, run: RunId, options: WatchOptions) -> Self {
        Self {
            store,
            run,
            options,
            queue: Default::default(),
            started: false,
            done: false,
            session: None,
            state: None,
            seen: None,
            checkpoint: None,
            polls: 0,
        }
    }

    /// The next event; `None` once the session is over and everything
    /// about it was told.
    pub async fn next(&mut self) -> Result<Option<WatchEvent>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            if self.done {
                return Ok(None);
            }
            if self.started {
                tokio::time::sleep(self.options.every).await;
            }
            self.poll().await?;
        }
    }

    /// The events as a stream (it ends after [`WatchEvent::Over`], or at
    /// the first error).
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<WatchEvent>> + 'a {
        futures_util::stream::unfold(Some(self), |watch| async move {
            let mut watch = watch?;
            match watch.next().await {
                Ok(Some(event)) => Some((Ok(event), Some(watch))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    async fn poll(&mut self) -> Result<()> {
        let read_record = !self.started
            || self.state != Some(RunState::Running)
            || self.polls.is_multiple_of(self.options.record_every.max(1));
        self.polls += 1;
        if self.state == Some(RunState::Running) {
            self.progress().await?;
        }
        if read_record {
            self.record().await?;
        }
        Ok(())
    }

    async fn record(&mut self) -> Result<()> {
        let runs = RunStore::new(self.store);
        let record = runs.get(self.run).await?.record;
        let Some(session) = record.last_session() else {
            self.done = true;
            return Ok(());
        };
        if !self.started {
            self.started = true;
            self.session = Some(session.id);
            let messages = match (&session.state, record.conversation_head) {
                // Over: the conversation as it ended.
                (_, Some(head)) => {
                    crate::conversations::load(self.store, &head)
                        .await?
                        .messages
                }
                (_, None) => Vec::new(),
            };
            self.queue.push_back(WatchEvent::Conversation { messages });
        }
        let Some(ours) = self.session else {
            return Ok(());
        };
        let Some(session) = record.sessions.iter().find(|s| s.id == ours) else {
            self.done = true;
            return Ok(());
        };
        if self.state != Some(session.state) {
            let first = self.state.is_none();
            self.state = Some(session.state);
            self.queue.push_back(WatchEvent::State {
                session: ours,
                state: session.state,
            });
            // Everything it said so far (a watch started mid-session).
            if session.state == RunState::Running || (!first && session.state.is_over()) {
                self.progress().await?;
            }
        }
        if session.state.is_over() {
            let reason = session.failure.clone().or_else(|| {
                session
                    .cancelled
                    .as_ref()
                    .map(|c| format!("cancelled from {} at {}", c.by, c.at.to_rfc3339()))
            });
            self.queue.push_back(WatchEvent::Over {
                session: ours,
                state: session.state,
                reason,
            });
            self.done = true;
        }
        Ok(())
    }

    /// Reads the segments written since the last read.
    async fn progress(&mut self) -> Result<()> {
        let Some(session) = self.session else {
            return Ok(());
        };
        let live = LiveStore::new(self.store);
        let Some((latest, newest)) = live.latest(self.run, session).await? else {
            return Ok(());
        };
        if self.seen.is_some_and(|seen| seen >= latest) {
            return Ok(());
        }
        let first = self.seen.map_or(1, |seen| seen.0 + 1);
        let mut segments = Vec::new();
        for version in first..latest.0 {
            if let Some(segment) = live.segment(self.run, session, Version(version)).await? {
                segments.push(segment);
            }
        }
        segments.push(newest);
        self.seen = Some(latest);
        for segment in segments {
            for message in segment.messages {
                self.queue.push_back(WatchEvent::Message {
                    session,
                    turn: segment.turn,
                    message,
                });
            }
            if let Some(checkpoint) = segment.checkpoint
                && self.checkpoint != Some(checkpoint.at)
            {
                self.checkpoint = Some(checkpoint.at);
                self.queue.push_back(WatchEvent::Checkpoint {
                    session,
                    checkpoint,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_store::MemoryStore;

    #[tokio::test]
    async fn asks_are_kept_in_order_and_a_close_loses_to_an_ask() {
        let store = MemoryStore::new();
        let live = LiveStore::new(&store);
        let (run, session) = (RunId::new(), SessionId::new());
        let steer = |p: &str| {
            Entry::new(
                Ask::Steer {
                    prompt: p.into(),
                    interrupt: false,
                },
                "laptop",
            )
        };
        let first = steer("one");
        assert_eq!(
            live.ask(run, session, first.clone()).await.unwrap(),
            Asked::Queued { position: 0 }
        );
        assert_eq!(
            live.ask(run, session, steer("two")).await.unwrap(),
            Asked::Queued { position: 1 }
        );
        // The worker has delivered "one" only: the close gives "two".
        let next = live.close_or_next(run, session, &[first.id]).await.unwrap();
        assert!(
            matches!(next, Some(Entry { ask: Ask::Steer { ref prompt, .. }, .. }) if prompt == "two")
        );
        let (_, inbox) = live.inbox(run, session).await.unwrap();
        let ids: Vec<_> = inbox.entries.iter().map(|e| e.id).collect();
        assert_eq!(live.close_or_next(run, session, &ids).await.unwrap(), None);
        assert_eq!(
            live.ask(run, session, steer("late")).await.unwrap(),
            Asked::Closed
        );
    }

    #[tokio::test]
    async fn a_steer_after_a_cancel_is_refused() {
        let store = MemoryStore::new();
        let live = LiveStore::new(&store);
        let (run, session) = (RunId::new(), SessionId::new());
        live.ask(run, session, Entry::new(Ask::Cancel, "phone"))
            .await
            .unwrap();
        let steer = Entry::new(
            Ask::Steer {
                prompt: "more".into(),
                interrupt: true,
            },
            "laptop",
        );
        assert_eq!(
            live.ask(run, session, steer).await.unwrap(),
            Asked::Cancelling { by: "phone".into() }
        );
    }

    #[tokio::test]
    async fn many_devices_asking_at_once_lose_nothing() {
        let store = MemoryStore::new();
        let live = LiveStore::new(&store);
        let (run, session) = (RunId::new(), SessionId::new());
        let asks = (0..12).map(|i| {
            live.ask(
                run,
                session,
                Entry::new(
                    Ask::Steer {
                        prompt: format!("m{i}"),
                        interrupt: false,
                    },
                    format!("device-{i}"),
                ),
            )
        });
        let results = futures_util::future::join_all(asks).await;
        let mut positions: Vec<usize> = results
            .into_iter()
            .map(|r| match r.unwrap() {
                Asked::Queued { position } => position,
                other => panic!("{other:?}"),
            })
            .collect();
        positions.sort();
        assert_eq!(positions, (0..12).collect::<Vec<_>>());
        assert_eq!(live.inbox(run, session).await.unwrap().1.entries.len(), 12);
    }

    #[tokio::test]
    async fn damaged_documents_are_named() {
        let store = MemoryStore::new();
        let live = LiveStore::new(&store);
        let (run, session) = (RunId::new(), SessionId::new());
        let key = DocKey::new(format!("live/{run}/{session}")).unwrap();
        store
            .put_version(&key, None, Bytes::from_static(b"{\"format\":\"other\"}"))
            .await
            .unwrap();
        let err = live.latest(run, session).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("live/{run}/{session}")),
            "{err}"
        );
        let other = SessionId::new();
        let segment = Segment {
            format: SEGMENT_FORMAT.into(),
            session: other,
            at: Utc::now(),
            turn: 1,
            messages: vec![],
            checkpoint: None,
        };
        let key = DocKey::new(format!("live/{run}/{session}")).unwrap();
        store
            .put_version(
                &key,
                Some(Version(1)),
                Bytes::from(serde_json::to_vec(&segment).unwrap()),
            )
            .await
            .unwrap();
        let err = live.latest(run, session).await.unwrap_err();
        assert!(err.to_string().contains("names session"), "{err}");
    }
}
