//! The error type of this crate.

use std::path::PathBuf;

use crate::model::{ConversationId, MessageId};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line (or document) is not valid JSON of the expected shape.
    #[error("{}{source}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Json {
        /// The 1-based line, for JSONL.
        line: Option<u64>,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// A JSONL header is missing or unusable.
    #[error("invalid conversation header: {reason}")]
    Header {
        /// Why.
        reason: String,
    },
    /// A format tag this version does not read.
    #[error(
        "conversation format {found:?} is not supported (expected \"handoff.conversation/v1\")"
    )]
    Format {
        /// The tag found.
        found: String,
    },
    /// A line is longer than the configured limit.
    #[error("line {line}: longer than the limit of {max} bytes")]
    LineTooLong {
        /// The 1-based line.
        line: u64,
        /// The limit.
        max: usize,
    },
    /// A fork point that is not in the conversation.
    #[error("message {message} is not in conversation {conversation}")]
    UnknownMessage {
        /// The conversation.
        conversation: ConversationId,
        /// The message asked for.
        message: MessageId,
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
    /// An attachment is larger than the limit.
    #[error("attachment {name} is {size} bytes, more than the limit of {max} bytes")]
    AttachmentTooLarge {
        /// The file's name or path.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reading or writing a stream or file failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path, or `<stream>`.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The blob store failed.
    #[error(transparent)]
    Store(#[from] handoff_store::Error),
}

impl Error {
    pub(crate) fn read(source: std::io::Error) -> Self {
        Error::Io {
            action: "read",
            path: PathBuf::from("<stream>"),
            source,
        }
    }

    pub(crate) fn write(source: std::io::Error) -> Self {
        Error::Io {
            action: "write",
            path: PathBuf::from("<stream>"),
            source,
        }
    }
}
