//! The one error type of this crate.

use std::path::PathBuf;

use crate::Digest;

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No blob is stored under the digest.
    #[error("blob {digest} not found in {store}")]
    NotFound {
        /// The digest that was asked for.
        digest: Digest,
        /// The store's description.
        store: String,
    },
    /// The stored bytes no longer hash to their name.
    #[error("blob {digest} in {store} is corrupted: its {len} bytes hash to {actual}")]
    Corrupted {
        /// The digest that was asked for.
        digest: Digest,
        /// What the stored bytes hash to.
        actual: Digest,
        /// How many bytes were read.
        len: u64,
        /// The store's description.
        store: String,
    },
    /// A digest in text form could not be parsed.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The text, cut to 80 characters.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The store location could not be determined or is unusable.
    #[error("invalid store location {location:?}: {reason}")]
    InvalidLocation {
        /// What was given or derived.
        location: String,
        /// Why it was refused.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done ("read blob", "create directory", …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task running a store operation did not complete.
    #[error("store task for {what} did not complete")]
    Task {
        /// What the task was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// Whether this error means the blob is absent (as opposed to broken or
    /// unreachable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}
