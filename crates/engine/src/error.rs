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
