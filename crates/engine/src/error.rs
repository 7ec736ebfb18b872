//! The error type of this crate.

use crate::run::RunId;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Someone else changed the run since it was read.
    #[error("run {run} changed while this change was being made; read it again and retry")]
    Conflict {
        /// The run.
        run: RunId,
        /// The store's conflict.
        #[source]
        source: handoff_store::Error,
    },
    /// The worker no longer holds the session it ran: its lease expired and
    /// the session was marked failed, so its outcome was discarded rather
    /// than written onto someone else's session.
    #[error(
        "run {run}: session {session} is no longer this worker's (its lease expired and it was marked failed); its outcome was discarded"
    )]
    LeaseLost {
        /// The run.
        run: RunId,
        /// The session the worker ran.
        session: crate::SessionId,
    },
    /// The session asks for the `full` permission level, which this worker
    /// grants only inside a sandbox, and it has none.
    #[error(
        "run {run} asks for the full permission level, which is allowed only inside the sandbox (install bubblewrap, or ask for edits)"
    )]
    FullNeedsSandbox {
        /// The run.
        run: RunId,
    },
    /// A run record asks for more carried history than this host allows
    /// any run (its ceiling).
    #[error(
        "run {run} asks for a {limit} of {asked}, above the {max} this host allows (raise its ceiling to run it)"
    )]
    LimitAboveCeiling {
        /// The run.
        run: RunId,
        /// Which limit.
        limit: handoff_workspace::Limit,
        /// What the record asks for.
        asked: u64,
        /// The ceiling.
        max: u64,
    },
    /// The session asks for a permission level that only the sandbox can
    /// keep its agent to (the agent itself does not know levels), and this
    /// worker has no sandbox.
    #[error(
        "run {run} asks for the {level} permission level, which {harness} keeps only inside the sandbox (install bubblewrap, or ask for another level)"
    )]
    LevelNeedsSandbox {
        /// The run.
        run: RunId,
        /// The level.
        level: handoff_harness::Permissions,
        /// The harness.
        harness: handoff_harness::HarnessKind,
    },
    /// A session's live document (its progress segments or its inbox) is
    /// damaged or not what it should be.
    #[error("run {run}: the live document {key} is damaged: {reason}")]
    LiveDocument {
        /// The run.
        run: RunId,
        /// The document.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Others kept writing something of the run at the same moment; the
    /// change was retried and did not get through.
    #[error("run {run}: {what} kept changing under this change; try again")]
    Busy {
        /// The run.
        run: RunId,
        /// What kept changing.
        what: &'static str,
    },
    /// The run is not running, so there is nothing to stop or steer.
    #[error("run {run} is {state}: nothing runs to {action}")]
    NotRunning {
        /// The run.
        run: RunId,
        /// Its state.
        state: crate::RunState,
        /// What was asked (`cancel`, `steer`).
        action: &'static str,
    },
    /// The running session is being cancelled; it takes no more messages.
    #[error("run {run} is being cancelled (asked from {by}); follow it up once it stops")]
    Cancelling {
        /// The run.
        run: RunId,
        /// The machine that asked for the cancel.
        by: String,
    },
    /// The harness cannot keep its agent to this permission level at all.
    #[error("{harness} cannot run an agent at the {level} permission level: {reason}")]
    LevelRefused {
        /// The harness.
        harness: handoff_harness::HarnessKind,
        /// The level.
        level: handoff_harness::Permissions,
        /// Why.
        reason: String,
    },
    /// The sandbox cannot be set up on this host; the session is refused
    /// rather than run in a weaker one.
    #[error(
        "run {run}: the agent's sandbox cannot be set up (run the worker with --no-sandbox to run agents without it)"
    )]
    Sandbox {
        /// The run.
        run: RunId,
        /// Why.
        #[source]
        source: handoff_harness::confine::SandboxError,
    },
    /// No such run.
    #[error("run {run} not found")]
    UnknownRun {
        /// The id asked for.
        run: RunId,
    },
    /// A stored run record is not valid JSON of the expected shape.
    #[error("run record {run} is invalid")]
    RunRecord {
        /// The run.
        run: RunId,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// A stored run record has another format or names another run.
    #[error("run record {run} has an unexpected format or id")]
    RunRecordMismatch {
        /// The run.
        run: RunId,
    },
    /// A field of a stored run record is not acceptable (records are
    /// untrusted: they may have been written by anyone with store access).
    #[error("run record {run} is invalid: {field}: {reason}")]
    InvalidRecord {
        /// The run.
        run: RunId,
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An id in text form could not be parsed.
    #[error("invalid {what} {input:?}: {reason}")]
    InvalidId {
        /// Which kind of id.
        what: &'static str,
        /// The text.
        input: String,
        /// Why.
        reason: String,
    },
    /// The run is queued or running; a follow-up must wait for it.
    #[error("run {run} is {state:?}; wait for its session to end before following up")]
    RunBusy {
        /// The run.
        run: RunId,
        /// Its state.
        state: crate::RunState,
    },
    /// The run is queued or running, so it is not deleted: a worker may be
    /// about to read what it names.
    #[error("run {run} is {state:?}; a queued or running run is not deleted (wait for it to end)")]
    LiveRun {
        /// The run.
        run: RunId,
        /// Its state.
        state: crate::RunState,
    },
    /// A writer (a follow-up) wrote a new version of the run's record while
    /// it was being deleted: the run is still there, with what it names.
    #[error(
        "run {run} changed while it was being deleted; it is still there (delete it again once it has ended)"
    )]
    ChangedWhileDeleting {
        /// The run.
        run: RunId,
    },
    /// The run has no ended session to continue from.
    #[error("run {run} has no ended session to continue from")]
    NothingToContinue {
        /// The run.
        run: RunId,
    },
    /// No conversation with this id is in the store.
    #[error(
        "conversation {conversation} is not in the store (neither imported nor the conversation of a run)"
    )]
    UnknownConversation {
        /// The id asked for.
        conversation: handoff_conversation::ConversationId,
    },
    /// A stored conversation name does not point at a conversation.
    #[error("conversation {conversation} has an invalid pointer in the store")]
    InvalidConversationPointer {
        /// The conversation.
        conversation: handoff_conversation::ConversationId,
    },
    /// The run's conversation has no attachment with this digest.
    #[error("run {run} has no attachment {digest}")]
    UnknownAttachment {
        /// The run.
        run: RunId,
        /// The digest asked for.
        digest: handoff_store::Digest,
    },
    /// No git repository in the workspace.
    #[error("no git repository in {}", workspace.display())]
    NoRepository {
        /// The workspace root.
        workspace: std::path::PathBuf,
    },
    /// Likely secrets in what would leave the machine.
    #[error("{} likely secret(s) found in what would leave this machine; nothing was written (remove or exclude them, or allow secrets explicitly)", findings.len())]
    SecretsFound {
        /// Where and which rule (never the secret).
        findings: Vec<handoff_workspace::Finding>,
    },
    /// The environment for a session could not be prepared.
    #[error("could not prepare the environment for run {run}: {reason}")]
    Environment {
        /// The run.
        run: RunId,
        /// Why.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A background task did not complete.
    #[error("{what} did not complete")]
    Task {
        /// What.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A bug in handoff.
    #[error("internal error: {what}")]
    Internal {
        /// What.
        what: String,
    },
    /// The harness failed or refused.
    #[error(transparent)]
    Harness(#[from] handoff_harness::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] handoff_store::Error),
    /// Snapshot or apply failed.
    #[error(transparent)]
    Workspace(#[from] handoff_workspace::Error),
    /// The conversation could not be read or written.
    #[error(transparent)]
    Conversation(#[from] handoff_conversation::Error),
}

impl Error {
    pub(crate) fn from_store(error: handoff_store::Error, run: RunId) -> Self {
        if error.is_conflict() {
            Error::Conflict { run, source: error }
        } else {
            Error::Store(error)
        }
    }
}
