//! The error type of this crate.

use std::path::PathBuf;

use handoff_store::Digest;

use crate::manifest::DecodeError;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from gix, whose error types vary by operation.
pub type GitError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong while snapshotting, applying or exporting.
///
/// Per-entry problems during apply are not errors: they are reported in the
/// [`ApplyReport`](crate::ApplyReport). These are the failures that stop the
/// whole operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory is not inside a git working tree.
    #[error("{} is not a git repository with a working tree", path.display())]
    NotARepository {
        /// The directory given.
        path: PathBuf,
        /// What gix said.
        #[source]
        source: Option<GitError>,
    },
    /// The repository has no working tree.
    #[error("{} is a bare repository; handoff works on a working tree (clone it, or add one with git worktree add)", path.display())]
    BareRepository {
        /// The repository's git directory.
        path: PathBuf,
    },
    /// A git operation failed.
    #[error("git could not {action} in {}", repo.display())]
    Git {
        /// What was being done.
        action: &'static str,
        /// The repository's working tree.
        repo: PathBuf,
        /// The underlying error.
        #[source]
        source: GitError,
    },
    /// A filesystem operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the index lock.
    #[error("{} exists: another git process is using the index; once none is running, remove it and apply again", lock.display())]
    IndexLocked {
        /// The lock file.
        lock: PathBuf,
    },
    /// The blob store failed.
    #[error(transparent)]
    Store(#[from] handoff_store::Error),
    /// No snapshot with this id is in the store.
    #[error("snapshot {id} not found in {store}")]
    UnknownSnapshot {
        /// The id asked for.
        id: Digest,
        /// The store's description.
        store: String,
    },
    /// A stored manifest could not be decoded.
    #[error("snapshot {id} has an invalid manifest")]
    Manifest {
        /// The snapshot id.
        id: Digest,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// A path in the working tree cannot be represented in a manifest.
    #[error("path {path:?} cannot be captured: {reason}")]
    UnrepresentablePath {
        /// The path, lossily converted.
        path: String,
        /// Why.
        reason: String,
    },
    /// A snapshot or manifest exceeds a configured limit.
    #[error("{what} exceeds the {limit}: {actual} > {max}")]
    LimitExceeded {
        /// What was measured: a path, or "snapshot", or a snapshot id.
        what: String,
        /// Which limit.
        limit: crate::limits::Limit,
        /// The measured value.
        actual: u64,
        /// The limit's value.
        max: u64,
    },
    /// More unpushed history than the limits allow would have to travel.
    #[error(
        "{} has more history not on any remote than the {limit} allows ({actual} > {max}); push it to the remote the other side clones from (git push), or raise the limit (--max-history-commits / --max-history-bytes)",
        repo.display()
    )]
    HistoryTooLarge {
        /// The repository's working tree.
        repo: PathBuf,
        /// Which limit.
        limit: crate::limits::Limit,
        /// The measured value (so far: capture stops at the limit).
        actual: u64,
        /// The limit's value.
        max: u64,
    },
    /// A commit the carried history builds on is not in the repository.
    #[error(
        "commit {commit}, on which the carried history builds, is not in {}; push it to the repository's remote (git push) or fetch it",
        repo.display()
    )]
    BoundaryMissing {
        /// The missing commit.
        commit: crate::Oid,
        /// The repository.
        repo: PathBuf,
    },
    /// A carried git object could not be imported.
    #[error("git object {oid} of the carried history cannot be imported: {reason}")]
    HistoryObject {
        /// The object.
        oid: crate::Oid,
        /// Why (missing from the store, corrupted, not matching its id).
        reason: String,
    },
    /// The snapshot's base commit is not in the repository.
    #[error("base commit {commit} is not in {}; fetch it first", repo.display())]
    BaseMissing {
        /// The missing commit.
        commit: crate::Oid,
        /// The repository.
        repo: PathBuf,
    },
    /// A branch exists with other content.
    #[error("branch {branch} already exists in {} with other content", repo.display())]
    BranchExists {
        /// The branch's short name.
        branch: String,
        /// The repository.
        repo: PathBuf,
    },
    /// The branch to write is the one checked out.
    #[error("branch {branch} is checked out in {}; handoff writes review branches without touching the current one — name another branch", repo.display())]
    BranchCheckedOut {
        /// The branch's short name.
        branch: String,
        /// The repository.
        repo: PathBuf,
    },
    /// A branch name git would refuse.
    #[error("invalid branch name {branch:?}: {reason}")]
    InvalidBranch {
        /// The name.
        branch: String,
        /// git's reason.
        reason: String,
    },
    /// A large file changed between being captured and being stored: the
    /// snapshot would name content the store does not hold.
    #[error(
        "{} changed while it was being snapshotted (captured as {expected}, stored as {actual}); snapshot again",
        path.display()
    )]
    FileChanged {
        /// The file.
        path: std::path::PathBuf,
        /// The digest the capture computed.
        expected: handoff_store::Digest,
        /// The digest of what was stored.
        actual: handoff_store::Digest,
    },
    /// A background task did not complete.
    #[error("{what} did not complete")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The secret scan found likely secrets in a capture that was to be
    /// stored ([`SnapshotOptions::scan_secrets`](crate::SnapshotOptions)); nothing was stored.
    #[error("{} likely secret(s) found in {}; nothing was stored", findings.len(), workdir.display())]
    SecretsFound {
        /// The working tree.
        workdir: PathBuf,
        /// Where and which rule (never the secret).
        findings: Vec<crate::Finding>,
    },
    /// Something that cannot happen did (a bug, not bad input).
    #[error("internal error: {what}")]
    Internal {
        /// What went wrong.
        what: &'static str,
    },
}

impl Error {
    pub(crate) fn git(
        action: &'static str,
        repo: impl Into<PathBuf>,
        source: impl Into<GitError>,
    ) -> Self {
        Error::Git {
            action,
            repo: repo.into(),
            source: source.into(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
