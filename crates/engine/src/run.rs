//! Cloud run records, stored as versioned JSON documents with optimistic
//! concurrency.
//!
//! A [`RunRecord`] says which conversation a cloud run continues, with which
//! harness, in which environment (repositories at base commits), its state,
//! and its sessions — each with its prompt, its agent options (permission
//! level and model), times, the workspace snapshots at its start and end,
//! and the report of applying the start snapshot.
//!
//! Every change goes through [`RunStore::update`] with the version that was
//! read: if someone else wrote first, the update fails with
//! [`Error::Conflict`] and nothing is overwritten. So of two racing
//! follow-ups to one ended run exactly one is recorded, and the other caller
//! knows its session was not.
//!
//! # The queue
//!
//! Workers find work without reading every record: for each session that
//! waits for a worker or runs, the store holds a small document
//! `queue/<run>/<session>`. [`RunStore::create`] and [`RunStore::update`]
//! keep it: the entry is written *before* the record that queues the
//! session (so a queued session is always in the queue; a write that then
//! loses its race removes the entry it made), and removed after the record
//! that ends it. An entry whose session is done, or that no record names,
//! is only a hint: [`RunStore::pending`] lists entries, a worker reads the
//! runs they name, and clears the ones that are done. A poll therefore
//! costs one listing plus one read per queued or running run, however many
//! runs the store holds.
//!
//! # Compaction
//!
//! Versions pile up (a worker renews its lease every few minutes). Readers
//! only ever need the newest, but old versions make the listing that finds
//! it longer. [`RunStore::compact`] removes versions that changed no state
//! (neither the run's nor any session's), keeping the newest few and every
//! state change, and only versions whose successor is older than the
//! policy's `min_age`: a writer that read a version and writes within that
//! time can never have its write land on a removed version number.

use std::fmt;
use std::str::FromStr;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use handoff_conversation::ConversationId;
use handoff_harness::AgentOptions;
use handoff_store::{Digest, DocKey, DocumentStore, DocumentStoreExt, Version};
use handoff_workspace::{ApplyReport, Limit, Limits};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

macro_rules! run_uuid {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self> {
                uuid::Uuid::parse_str(text).map(Self).map_err(|e| Error::InvalidId {
                    what: $what,
                    input: text.chars().take(64).collect(),
                    reason: e.to_string(),
                })
            }
        }
    };
}

run_uuid!(
    /// A cloud run's id.
    RunId,
    "run id"
);
run_uuid!(
    /// A session's id within a run.
    SessionId,
    "session id"
);

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// A session waits for a worker.
    Queued,
    /// A worker runs a session.
    Running,
    /// The last session ended; a follow-up may start another.
    Ended,
    /// The last session failed (see the session's `failure`).
    Failed,
    /// The last session was cancelled (see the session's `cancelled`);
    /// a follow-up may start another from where it stopped.
    Cancelled,
}

impl RunState {
    /// Every state, in the order a run passes through them.
    pub const ALL: [RunState; 5] = [
        RunState::Queued,
        RunState::Running,
        RunState::Ended,
        RunState::Failed,
        RunState::Cancelled,
    ];

    /// The name records, the command line and the Runs page use.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Ended => "ended",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// Whether a session (or run) in this state is over: ended, failed or
    /// cancelled.
    pub fn is_over(self) -> bool {
        matches!(
            self,
            RunState::Ended | RunState::Failed | RunState::Cancelled
        )
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A run state name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {input:?} (expected queued, running, ended, failed or cancelled)")]
pub struct UnknownState {
    /// What was given (at most 64 characters of it).
    pub input: String,
}

impl std::str::FromStr for RunState {
    type Err = UnknownState;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|state| state.name() == text)
            .ok_or_else(|| UnknownState {
                input: text.chars().take(64).collect(),
            })
    }
}

/// A repository the run works in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Its place in the run's workspace, relative (`.` for a single repo).
    pub path: String,
    /// Where to clone it from: the remote URL, or a local path.
    pub source: Option<String>,
    /// The base commit sessions start from.
    pub commit: Option<String>,
    /// The branch it was on.
    pub branch: Option<String>,
}

/// Where a repository can be cloned from: a URL of an allowed scheme
/// (`https`, `http`, `ssh`, `git`, `file`), scp-like `[user@]host:path`, or
/// an absolute local path. Never anything git could read as an option
/// (a leading `-`) or a transport helper (`ext::…`), never control
/// characters, and never with credentials (a URL's are removed, as
/// [`handoff_workspace::remote`] removes them before storing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(String);

impl Source {
    /// The schemes a source URL may have.
    pub const SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"];

    /// Validates `text`; the reason says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let shown = || text.chars().take(80).collect::<String>();
        if text.is_empty() || text.len() > 4096 {
            return Err("a source must be 1 to 4096 bytes".to_owned());
        }
        if text.chars().any(char::is_control) {
            return Err(format!("source {:?} contains control characters", shown()));
        }
        if text.starts_with('-') {
            return Err(format!("source {:?} starts with '-'", shown()));
        }
        if text.contains("::") {
            return Err(format!(
                "source {:?} names a git transport helper, which is not allowed",
                shown()
            ));
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            if !Self::SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
                return Err(format!(
                    "source {:?} has scheme {scheme:?}; allowed: {}",
                    shown(),
                    Self::SCHEMES.join(", ")
                ));
            }
            if rest.is_empty() || rest.starts_with('-') {
                return Err(format!("source {:?} has no host or path", shown()));
            }
            // A worker clones with its own credentials (its credential
            // helpers), never with any a record carries: records written
            // before remotes were stored without them still may.
            return Ok(Self(handoff_workspace::remote::without_credentials(text)));
        }
        if text.starts_with('/') {
            return Ok(Self(text.to_owned()));
        }
        // scp-like `[user@]host:path`: a colon before any slash.
        if let Some((host, path)) = text.split_once(':')
            && !host.is_empty()
            && !host.contains('/')
            && !path.is_empty()
        {
            return Ok(Self(text.to_owned()));
        }
        Err(format!(
            "source {:?} is neither a URL, host:path, nor an absolute path",
            shown()
        ))
    }

    /// The source as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A snapshot of one of the run's repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSnapshot {
    /// The repository's `path`.
    pub repo: String,
    /// The snapshot id: the repository's state relative to its `HEAD`, with
    /// the history it carries.
    pub snapshot: Digest,
    /// For an end state: the same working tree relative to the run's base
    /// commit — everything the session changed, committed or not — which
    /// `handoff diff RUN` prints and `continue-locally --apply` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_base: Option<Digest>,
}

impl RepoSnapshot {
    /// A snapshot of `repo` with no since-base form.
    pub fn new(repo: impl Into<String>, snapshot: Digest) -> Self {
        Self {
            repo: repo.into(),
            snapshot,
            since_base: None,
        }
    }

    /// What to show as this repository's change since the run began: the
    /// since-base snapshot, else the snapshot itself.
    pub fn review(&self) -> Digest {
        self.since_base.unwrap_or(self.snapshot)
    }
}

/// The report of applying a snapshot to one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoReport {
    /// The repository's `path`.
    pub repo: String,
    /// What was and was not applied.
    pub report: ApplyReport,
}

/// One agent session of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The prompt that starts it (`None`: continue without a new prompt).
    pub prompt: Option<String>,
    /// Where it is (queued, running, ended, failed).
    pub state: RunState,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended or failed.
    pub ended_at: Option<DateTime<Utc>>,
    /// The workspace to restore before the agent answers.
    pub start: Vec<RepoSnapshot>,
    /// The workspace when it ended.
    pub end: Vec<RepoSnapshot>,
    /// What applying `start` did.
    pub apply: Vec<RepoReport>,
    /// Attachments available to the session, by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Digest>,
    /// The conversation as it stood when the session ended (a JSONL blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_at_end: Option<Digest>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The worker that claimed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Until when the worker's claim holds without a heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// How the agent runs: its permission level and model (records
    /// written before these existed read as the defaults).
    #[serde(flatten)]
    pub agent: AgentOptions,
    /// The inbox entries delivered to the agent as later turns of this
    /// session, in order ([`crate::live`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<uuid::Uuid>,
    /// Messages sent to the session that it never took (it was cancelled
    /// first), kept so that nothing asked is lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<crate::live::Entry>,
    /// Who cancelled the session, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Cancelled>,
    /// When `end` is a checkpoint rather than the session's own end: its
    /// worker stopped, and `end` is the workspace as last checkpointed at
    /// this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_checkpoint: Option<DateTime<Utc>>,
}

/// Who cancelled a session, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancelled {
    /// When the cancel was asked.
    pub at: DateTime<Utc>,
    /// The machine that asked.
    pub by: String,
}

impl Session {
    /// Whether the session recorded an end a follow-up, a diff or a local
    /// continuation can start from: it ended, it was cancelled (its end is
    /// where it stopped), or it failed after a checkpoint (its end is that
    /// checkpoint).
    pub fn has_end(&self) -> bool {
        match self.state {
            RunState::Ended => true,
            RunState::Cancelled => !self.end.is_empty(),
            RunState::Failed => self.end_checkpoint.is_some(),
            _ => false,
        }
    }

    /// A queued session.
    pub fn queued(prompt: Option<String>, start: Vec<RepoSnapshot>) -> Self {
        Self {
            id: SessionId::new(),
            prompt,
            state: RunState::Queued,
            started_at: None,
            ended_at: None,
            start,
            end: Vec::new(),
            apply: Vec::new(),
            attachments: Vec::new(),
            conversation_at_end: None,
            failure: None,
            worker: None,
            lease_until: None,
            agent: AgentOptions::default(),
            delivered: Vec::new(),
            undelivered: Vec::new(),
            cancelled: None,
            end_checkpoint: None,
        }
    }
}

/// A cloud run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always `handoff.run/v1`.
    pub format: String,
    /// Its id.
    pub id: RunId,
    /// The conversation it continues.
    pub conversation: ConversationId,
    /// The harness that runs its turns.
    pub harness: String,
    /// The repositories it works in.
    pub repositories: Vec<Repository>,
    /// Where it is.
    pub state: RunState,
    /// Its sessions, oldest first.
    pub sessions: Vec<Session>,
    /// The conversation as it stands (a JSONL blob), after the last ended
    /// session or as pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_head: Option<Digest>,
    /// The history limits the push was given, which every later step of
    /// the run (its sessions' checkouts and end snapshots, continuing
    /// locally) applies; `None`, as in records written before limits
    /// travelled, means the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_limits: Option<HistoryLimits>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The format tag of run records.
pub const RUN_FORMAT_V1: &str = "handoff.run/v1";

impl RunRecord {
    /// A new queued run with one queued session.
    pub fn new(
        conversation: ConversationId,
        harness: impl Into<String>,
        repositories: Vec<Repository>,
        first: Session,
    ) -> Self {
        let now = Utc::now();
        Self {
            format: RUN_FORMAT_V1.to_owned(),
            id: RunId::new(),
            conversation,
            harness: harness.into(),
            repositories,
            state: RunState::Queued,
            sessions: vec![first],
            conversation_head: None,
            history_limits: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The newest session.
    pub fn last_session(&self) -> Option<&Session> {
        self.sessions.last()
    }

    /// The newest session, mutably.
    pub fn last_session_mut(&mut self) -> Option<&mut Session> {
        self.sessions.last_mut()
    }

    /// Decodes the stored record of run `id`: at most [`MAX_RECORD_BYTES`],
    /// JSON of the record's shape, format `handoff.run/v1`, naming `id`.
    /// (Its fields are checked by [`RunRecord::validate`] where they are
    /// used.)
    pub fn decode(id: RunId, data: &[u8]) -> Result<Self> {
        if data.len() > MAX_RECORD_BYTES {
            return Err(Error::InvalidRecord {
                run: id,
                field: "(whole record)",
                reason: format!(
                    "{} bytes is more than the {MAX_RECORD_BYTES} a run record may have",
                    data.len()
                ),
            });
        }
        let record: RunRecord =
            serde_json::from_slice(data).map_err(|source| Error::RunRecord { run: id, source })?;
        if record.format != RUN_FORMAT_V1 || record.id != id {
            return Err(Error::RunRecordMismatch { run: id });
        }
        Ok(record)
    }

    /// Checks every field that reaches the filesystem or `git`: each
    /// repository's path (a [`RepoPath`](handoff_workspace::RepoPath) or
    /// `.`, no two alike), commit (an object id) and source (a [`Source`]),
    /// and that every session names only the run's repositories. Records
    /// are untrusted: anyone with write access to the store can write one.
    pub fn validate(&self) -> Result<()> {
        let mut places = std::collections::HashSet::new();
        for repo in &self.repositories {
            let place = repo.place(self.id)?;
            repo.base_commit(self.id)?;
            repo.clone_source(self.id)?;
            if !places.insert(place.map(|p| p.as_str().to_owned())) {
                return Err(Error::InvalidRecord {
                    run: self.id,
                    field: "repositories[].path",
                    reason: format!("{:?} is listed twice", repo.path),
                });
            }
        }
        for session in &self.sessions {
            for snapshot in session.start.iter().chain(&session.end) {
                if !self.repositories.iter().any(|r| r.path == snapshot.repo) {
                    return Err(Error::InvalidRecord {
                        run: self.id,
                        field: "sessions[].start/end[].repo",
                        reason: format!(
                            "names no repository of the run: {:?}",
                            snapshot.repo.chars().take(80).collect::<String>()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The history limits the run's steps apply (the record's, else the
    /// defaults), refused when they ask for more than `ceiling`, what this
    /// host allows any run: a record is untrusted, and must not make a
    /// worker read unbounded history.
    pub fn history_limits_within(&self, ceiling: &HistoryLimits) -> Result<HistoryLimits> {
        let asked = self.history_limits.unwrap_or_default();
        for (limit, asked, max) in [
            (
                Limit::HistoryCommits,
                asked.max_commits,
                ceiling.max_commits,
            ),
            (Limit::HistoryBytes, asked.max_bytes, ceiling.max_bytes),
        ] {
            if asked > max {
                return Err(Error::LimitAboveCeiling {
                    run: self.id,
                    limit,
                    asked,
                    max,
                });
            }
        }
        Ok(asked)
    }

    /// The end snapshots of the newest session that has an end: one that
    /// ended, was cancelled (its end is where it stopped), or failed after
    /// a checkpoint (its end is that checkpoint).
    pub fn last_good_end(&self) -> Option<&[RepoSnapshot]> {
        self.sessions
            .iter()
            .rev()
            .find(|s| s.has_end())
            .map(|s| s.end.as_slice())
    }
}

/// The limits on the git history that travels with a run's snapshots (see
/// [`handoff_workspace::limits`]), as a push records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLimits {
    /// The most commits a snapshot carries.
    pub max_commits: u64,
    /// The largest total size of the git objects a snapshot carries.
    pub max_bytes: u64,
}

impl HistoryLimits {
    /// What a worker allows a run to ask for unless told otherwise: ten
    /// times the default limits — room for a push that raised them, not
    /// for a record asking for unbounded history.
    pub const CEILING: Self = Self {
        max_commits: 50_000,
        max_bytes: 10 << 30,
    };

    /// The history limits of `limits`.
    pub fn of(limits: &Limits) -> Self {
        Self {
            max_commits: limits.max_history_commits,
            max_bytes: limits.max_history_bytes,
        }
    }

    /// `limits` with these history limits.
    pub fn apply(self, limits: Limits) -> Limits {
        Limits {
            max_history_commits: self.max_commits,
            max_history_bytes: self.max_bytes,
            ..limits
        }
    }
}

/// The default snapshot limits' history limits.
impl Default for HistoryLimits {
    fn default() -> Self {
        Self::of(&Limits::default())
    }
}

/// A run record with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The record.
    pub record: RunRecord,
    /// Its version, to pass back to [`RunStore::update`].
    pub version: Version,
}

/// The largest run record accepted (a hostile store could hold a huge one).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Run records in a [`DocumentStore`], under `runs/<id>`, with their queue
/// under `queue/<run>/<session>`.
#[derive(Debug, Clone, Copy)]
pub struct RunStore<'a> {
    docs: &'a dyn DocumentStore,
}

/// A session the queue lists: waiting for a worker, or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pending {
    /// Its run.
    pub run: RunId,
    /// The session.
    pub session: SessionId,
}

/// The document saying that the queue lists every queued or running
/// session ([`RunStore::ensure_queue`]).
const QUEUE_MARKER: &str = "meta/queue";

/// Which versions of a record [`RunStore::compact`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// The newest versions kept whatever they changed.
    pub keep_last: usize,
    /// A version is removed only when the version after it is at least
    /// this old (a writer that read it and is still about to write gets
    /// its conflict, never a write under a removed number).
    pub min_age: Duration,
}

impl Default for Compaction {
    fn default() -> Self {
        Self {
            keep_last: 4,
            min_age: Duration::from_secs(60 * 60),
        }
    }
}

/// What a record's versions differ in when they change a state: the run's
/// state and every session's.
fn states(record: &RunRecord) -> (RunState, Vec<(SessionId, RunState)>) {
    (
        record.state,
        record.sessions.iter().map(|s| (s.id, s.state)).collect(),
    )
}

impl<'a> RunStore<'a> {
    /// Run records in `docs`.
    pub fn new(docs: &'a dyn DocumentStore) -> Self {
        Self { docs }
    }

    fn key(id: RunId) -> Result<DocKey> {
        Ok(DocKey::new(format!("runs/{id}"))?)
    }

    fn queue_key(run: RunId, session: SessionId) -> Result<DocKey> {
        Ok(DocKey::new(format!("queue/{run}/{session}"))?)
    }

    fn encode(record: &RunRecord) -> Result<Bytes> {
        serde_json::to_vec_pretty(record)
            .map(Bytes::from)
            .map_err(|source| Error::RunRecord {
                run: record.id,
                source,
            })
    }

    /// Adds `session` of `run` to the queue; `true` when this call did (an
    /// entry that is there already is fine).
    pub async fn enqueue(&self, run: RunId, session: SessionId) -> Result<bool> {
        let key = Self::queue_key(run, session)?;
        match self.docs.create(&key, Bytes::new()).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(Error::from_store(e, run)),
        }
    }

    /// Removes `session` of `run` from the queue (a missing entry is fine).
    pub async fn dequeue(&self, run: RunId, session: SessionId) -> Result<()> {
        let key = Self::queue_key(run, session)?;
        self.docs
            .delete_version(&key, Version(1))
            .await
            .map_err(|e| Error::from_store(e, run))
    }

    /// The queued session of `record` (its last, when it waits for a worker).
    fn queued_session(record: &RunRecord) -> Option<SessionId> {
        record
            .last_session()
            .filter(|s| s.state == RunState::Queued)
            .map(|s| s.id)
    }

    /// Stores a new run record (version 1), its queued session in the queue
    /// first.
    pub async fn create(&self, record: &RunRecord) -> Result<Version> {
        let (version, ()) = self.create_after(record, async { Ok(()) }).await?;
        Ok(version)
    }

    /// [`RunStore::create`], with `before` — something the record points
    /// at, such as its conversation's name — written at the same time as
    /// the queue entry: both are done before the record is created, in the
    /// time of one round trip. If either fails, no record is created and
    /// the queue entry is taken out again.
    pub async fn create_after<T>(
        &self,
        record: &RunRecord,
        before: impl Future<Output = Result<T>>,
    ) -> Result<(Version, T)> {
        let data = Self::encode(record)?;
        let key = Self::key(record.id)?;
        let enqueue = async {
            match Self::queued_session(record) {
                Some(session) => Ok(self.enqueue(record.id, session).await?.then_some(session)),
                None => Ok(None),
            }
        };
        let (queued, before) = tokio::join!(enqueue, before);
        let created = match (queued, before) {
            (Ok(queued), Ok(before)) => self
                .docs
                .create(&key, data)
                .await
                .map(|version| (version, before))
                .map_err(|e| (Error::from_store(e, record.id), queued)),
            (Ok(queued), Err(e)) => Err((e, queued)),
            (Err(e), _) => Err((e, None)),
        };
        match created {
            Ok(done) => Ok(done),
            Err((e, queued)) => {
                if let Some(session) = queued {
                    let _ = self.dequeue(record.id, session).await;
                }
                Err(e)
            }
        }
    }

    /// Reads a run record and the version it was read at.
    pub async fn get(&self, id: RunId) -> Result<Loaded> {
        let found = self
            .docs
            .get_latest(&Self::key(id)?)
            .await
            .map_err(|e| Error::from_store(e, id))?
            .ok_or(Error::UnknownRun { run: id })?;
        let record = RunRecord::decode(id, &found.data)?;
        Ok(Loaded {
            record,
            version: found.version,
        })
    }

    /// Writes `record` as the next version after `read`. Fails with
    /// [`Error::Conflict`] if the record changed since it was read.
    ///
    /// A record that queues its last session puts it in the queue first; a
    /// record whose run is over takes its last session out after.
    pub async fn update(&self, read: Version, record: &mut RunRecord) -> Result<Version> {
        record.updated_at = Utc::now().max(record.updated_at);
        let data = Self::encode(record)?;
        let queued = match Self::queued_session(record) {
            Some(session) => self.enqueue(record.id, session).await?.then_some(session),
            None => None,
        };
        let written = self
            .docs
            .update(&Self::key(record.id)?, read, data)
            .await
            .map_err(|e| Error::from_store(e, record.id));
        match (&written, queued) {
            (Err(_), Some(session)) => {
                let _ = self.dequeue(record.id, session).await;
            }
            (Ok(_), _) if record.state.is_over() => {
                if let Some(last) = record.last_session() {
                    // A hint only: a poll clears what is left.
                    let _ = self.dequeue(record.id, last.id).await;
                }
            }
            _ => {}
        }
        written
    }

    /// Every run id, oldest first (ids are time-ordered). Reads nothing
    /// but the listing; a worker looks at [`RunStore::pending`] instead.
    pub async fn list(&self) -> Result<Vec<RunId>> {
        let keys = self.docs.list("runs").await?;
        let mut ids: Vec<RunId> = keys
            .iter()
            .filter_map(|k| k.as_str().strip_prefix("runs/"))
            .filter_map(|id| id.parse().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The sessions the queue lists (waiting or running), oldest run first:
    /// one listing, however many runs the store holds.
    pub async fn pending(&self) -> Result<Vec<Pending>> {
        let mut out: Vec<Pending> = self
            .docs
            .list("queue")
            .await?
            .iter()
            .filter_map(|k| {
                let (run, session) = k.as_str().strip_prefix("queue/")?.split_once('/')?;
                Some(Pending {
                    run: run.parse().ok()?,
                    session: session.parse().ok()?,
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Puts every queued or running session of every run in the queue: for
    /// stores written before the queue existed, and after damage. Reads
    /// every record; returns how many entries it added.
    pub async fn requeue_all(&self) -> Result<usize> {
        let mut added = 0;
        for id in self.list().await? {
            let Ok(loaded) = self.get(id).await else {
                continue;
            };
            for session in &loaded.record.sessions {
                if matches!(session.state, RunState::Queued | RunState::Running)
                    && self.enqueue(id, session.id).await?
                {
                    added += 1;
                }
            }
        }
        Ok(added)
    }

    /// Makes sure the queue lists every queued or running session, once
    /// per store: a store written before the queue existed is scanned (every
    /// record read) and then marked, so later calls cost one read.
    pub async fn ensure_queue(&self) -> Result<usize> {
        let marker = DocKey::new(QUEUE_MARKER)?;
        if self.docs.get_latest(&marker).await?.is_some() {
            return Ok(0);
        }
        let added = self.requeue_all().await?;
        match self
            .docs
            .create(&marker, Bytes::from_static(b"handoff.queue/v1"))
            .await
        {
            Ok(_) => Ok(added),
            Err(e) if e.is_conflict() => Ok(added),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the versions `versions` of run `id`'s record, which the
    /// caller knows changed no state and are not among the newest (a
    /// worker's own lease renewals). See [`Compaction`] for the rule the
    /// caller must follow.
    pub async fn forget(&self, id: RunId, versions: &[Version]) -> Result<()> {
        let key = Self::key(id)?;
        for version in versions {
            self.docs
                .delete_version(&key, *version)
                .await
                .map_err(|e| Error::from_store(e, id))?;
        }
        Ok(())
    }

    /// Removes the versions of run `id`'s record that changed no state,
    /// keeping the newest `policy.keep_last`, the first, and every state
    /// change, and only those whose successor is older than
    /// `policy.min_age` at `now`. Reads the versions it may remove (and
    /// the one before each); returns how many it removed.
    pub async fn compact(&self, id: RunId, policy: &Compaction, now: SystemTime) -> Result<usize> {
        let key = Self::key(id)?;
        let versions = self
            .docs
            .versions(&key)
            .await
            .map_err(|e| Error::from_store(e, id))?;
        if versions.len() <= policy.keep_last.max(1) + 1 {
            return Ok(0);
        }
        let candidates = versions.len() - policy.keep_last.max(1);
        let mut signatures = BTreeMap::new();
        for info in &versions[..candidates] {
            let Some(data) = self
                .docs
                .get_version(&key, info.version)
                .await
                .map_err(|e| Error::from_store(e, id))?
            else {
                continue;
            };
            // An unreadable version is fsck's business; it is kept.
            if let Ok(record) = RunRecord::decode(id, &data) {
                signatures.insert(info.version, states(&record));
            }
        }
        let mut removed = 0;
        let mut previous = None;
        for (i, info) in versions[..candidates].iter().enumerate() {
            let signature = signatures.get(&info.version);
            let old_enough = versions
                .get(i + 1)
                .and_then(|next| next.modified)
                .is_some_and(|t| now.duration_since(t).is_ok_and(|age| age >= policy.min_age));
            let unchanged = i > 0 && signature.is_some() && signature == previous;
            if unchanged && old_enough {
                self.docs
                    .delete_version(&key, info.version)
                    .await
                    .map_err(|e| Error::from_store(e, id))?;
                removed += 1;
            } else {
                previous = signature;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_store::{FsStore, MemoryStore};

    #[test]
    fn states_name_themselves_as_records_spell_them() {
        for state in RunState::ALL {
            assert_eq!(state.name().parse::<RunState>(), Ok(state));
            assert_eq!(state.to_string(), state.name());
            assert_eq!(serde_json::to_value(state).unwrap(), state.name());
        }
        assert_eq!(
            "done".parse::<RunState>().unwrap_err().to_string(),
            "unknown state \"done\" (expected queued, running, ended, failed or cancelled)"
        );
    }

    #[test]
    fn a_record_without_history_limits_means_the_defaults_and_one_above_the_ceiling_is_refused() {
        let mut record = RunRecord::new(
            ConversationId::new(),
            "warp",
            vec![],
            Session::queued(None, vec![]),
        );
        // As written before limits travelled: no field at all.
        let mut old = serde_json::to_value(&record).unwrap();
        assert!(old.get("history_limits").is_none());
        old.as_object_mut().unwrap().remove("history_limits");
        let decoded = RunRecord::decode(record.id, &serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(decoded, record);
        let tight = HistoryLimits {
            max_commits: 10,
            max_bytes: 10,
        };
        assert_eq!(
            decoded
                .history_limits_within(&HistoryLimits::CEILING)
                .unwrap(),
            HistoryLimits::of(&Limits::default())
        );

        record.history_limits = Some(HistoryLimits {
            max_commits: 10,
            max_bytes: 11,
        });
        let err = record.history_limits_within(&tight).unwrap_err();
        let Error::LimitAboveCeiling {
            run,
            limit,
            asked,
            max,
        } = err
        else {
            panic!("expected the ceiling's refusal, got {err}");
        };
        assert_eq!(
            (run, limit, asked, max),
            (record.id, Limit::HistoryBytes, 11, 10)
        );
        record.history_limits = Some(tight);
        assert_eq!(record.history_limits_within(&tight).unwrap(), tight);
    }

    #[test]
    fn sources_are_validated() {
        for good in [
            "https://example.com/repo.git",
            "ssh://git@example.com/repo.git",
            "git@github.com:owner/repo.git",
            "/srv/git/repo.git",
            "file:///srv/git/repo.git",
        ] {
            assert_eq!(Source::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(
            Source::parse("https://x-access-token:ghp_abc@example.com/o/r.git")
                .unwrap()
                .as_str(),
            "https://example.com/o/r.git",
            "a record's credentials are never used"
        );
        for bad in [
            "",
            "--upload-pack=touch /tmp/pwned",
            "-uhost:x",
            "ext::sh -c touch% /tmp/pwned",
            "fd::3",
            "relative/path",
            "../escape",
            "gopher://example.com/x",
            "https://",
            "https://host/x\nmore",
            "/path/with\0nul",
        ] {
            assert!(Source::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn ended_run() -> RunRecord {
        let mut record = RunRecord::new(
            ConversationId::new(),
            "warp",
            vec![Repository {
                path: ".".into(),
                source: Some("https://example.invalid/repo.git".into()),
                commit: Some("3b18e512dba79e4c8300dd08aeb37f8e728b8dad".into()),
                branch: Some("main".into()),
            }],
            Session::queued(Some("first".into()), Vec::new()),
        );
        record.state = RunState::Ended;
        if let Some(s) = record.last_session_mut() {
            s.state = RunState::Ended;
            s.end = vec![RepoSnapshot::new(".", Digest::of(b"end"))];
        }
        record
    }

    async fn racing_follow_ups(docs: &dyn DocumentStore) {
        let runs = RunStore::new(docs);
        let record = ended_run();
        let v1 = runs.create(&record).await.unwrap();
        assert!(matches!(
            runs.create(&record).await,
            Err(Error::Conflict { .. })
        ));
        // Two clients read the same ended run and each queue a follow-up.
        let follow_up = |prompt: &'static str| {
            let mut mine = record.clone();
            async move {
                let start = mine.last_good_end().unwrap_or_default().to_vec();
                mine.sessions
                    .push(Session::queued(Some(prompt.into()), start));
                mine.state = RunState::Queued;
                runs.update(v1, &mut mine).await
            }
        };
        let (a, b) = tokio::join!(follow_up("a"), follow_up("b"));
        let results = [a, b];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(loser, Error::Conflict { run, .. } if *run == record.id),
            "{loser}"
        );
        assert!(loser.to_string().contains(&record.id.to_string()));
        let now = runs.get(record.id).await.unwrap();
        assert_eq!(now.version, Version(2));
        assert_eq!(
            now.record.sessions.len(),
            2,
            "exactly the winner's session was added"
        );
        assert_eq!(now.record.sessions[1].start, record.sessions[0].end);
        assert_eq!(runs.list().await.unwrap(), vec![record.id]);
    }

    #[tokio::test]
    async fn racing_follow_ups_on_memory() {
        racing_follow_ups(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn racing_follow_ups_on_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        racing_follow_ups(&FsStore::new(dir.path()).with_sync(false)).await;
    }

    #[tokio::test]
    async fn unknown_and_invalid_records_are_clear_errors() {
        let store = MemoryStore::new();
        let runs = RunStore::new(&store);
        let id = RunId::new();
        assert!(matches!(runs.get(id).await, Err(Error::UnknownRun { run }) if run == id));
        store
            .create(
                &DocKey::new(format!("runs/{id}")).unwrap(),
                Bytes::from_static(b"{not json"),
            )
            .await
            .unwrap();
        let err = runs.get(id).await.unwrap_err();
        assert!(matches!(err, Error::RunRecord { .. }), "{err}");
        assert!(err.to_string().contains(&id.to_string()), "{err}");
    }
}
