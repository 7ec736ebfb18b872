//! The one error type of this crate.

use std::path::PathBuf;

use crate::{Digest, DocKey, Version};

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
    /// A blob's bytes in a pack do not hash to its digest (the pack was
    /// damaged, or an index lies about where the blob is).
    #[error(
        "blob {digest} in {store} is corrupted: the {len} bytes at offset {offset} of pack {pack} do not hash to it"
    )]
    PackEntryCorrupted {
        /// The digest that was asked for.
        digest: Digest,
        /// The pack an index says holds it.
        pack: Digest,
        /// Where the index says it starts.
        offset: u64,
        /// How many bytes were read there.
        len: u64,
        /// The store's description.
        store: String,
    },
    /// A pack or an index is damaged or malformed.
    #[error("{object} in {store} is invalid: {reason}")]
    InvalidPack {
        /// `pack sha256:…` or `index sha256:…`.
        object: String,
        /// What is wrong with it.
        reason: String,
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
    /// An optimistic-concurrency write lost: someone else wrote first.
    #[error("document {key} in {store} changed: expected to replace {}, but {} already exists", expected.map_or_else(|| "nothing".to_owned(), |v| v.to_string()), attempted)]
    Conflict {
        /// The document.
        key: DocKey,
        /// The version the writer had read (`None`: it expected no document).
        expected: Option<Version>,
        /// The version it tried to create.
        attempted: Version,
        /// The store's description.
        store: String,
    },
    /// No document under the key.
    #[error("document {key} not found in {store}")]
    DocumentNotFound {
        /// The key.
        key: DocKey,
        /// The store's description.
        store: String,
    },
    /// A document key is malformed.
    #[error("invalid document key {key:?}: {reason}")]
    InvalidKey {
        /// The key, cut to 80 characters.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A remote backend failed.
    #[error("{store} could not {action} {object}")]
    Backend {
        /// What was being done.
        action: &'static str,
        /// The object's name.
        object: String,
        /// The store's description.
        store: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The backend cannot do this.
    #[error("{store} cannot {operation}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The store's description.
        store: String,
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
        matches!(
            self,
            Error::NotFound { .. } | Error::DocumentNotFound { .. }
        )
    }

    /// Whether this error means stored bytes do not match their digest.
    pub fn is_corrupted(&self) -> bool {
        matches!(
            self,
            Error::Corrupted { .. } | Error::PackEntryCorrupted { .. }
        )
    }

    /// A copy of this error, for a second caller waiting on the same
    /// result (causes are kept as text).
    pub fn duplicate(&self) -> Error {
        match self {
            Error::NotFound { digest, store } => Error::NotFound {
                digest: *digest,
                store: store.clone(),
            },
            Error::Corrupted {
                digest,
                actual,
                len,
                store,
            } => Error::Corrupted {
                digest: *digest,
                actual: *actual,
                len: *len,
                store: store.clone(),
            },
            Error::PackEntryCorrupted {
                digest,
                pack,
                offset,
                len,
                store,
            } => Error::PackEntryCorrupted {
                digest: *digest,
                pack: *pack,
                offset: *offset,
                len: *len,
                store: store.clone(),
            },
            Error::InvalidPack {
                object,
                reason,
                store,
            } => Error::InvalidPack {
                object: object.clone(),
                reason: reason.clone(),
                store: store.clone(),
            },
            other => Error::Backend {
                action: "read",
                object: "a blob asked for twice".to_owned(),
                store: "the store".to_owned(),
                source: other.to_string().into(),
            },
        }
    }

    /// Whether this error is a lost optimistic-concurrency race.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
}
