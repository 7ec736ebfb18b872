//! Claude Code sessions for handoff.
//!
//! - [`paths`]: where Claude Code keeps a working directory's sessions
//!   (`$CLAUDE_CONFIG_DIR` or `~/.claude`, `projects/<folder>/<id>.jsonl`),
//!   with the exact folder-name rule, long and non-ASCII paths included.
//! - [`transcript`]: the native JSONL to and from the handoff conversation
//!   model; import then export gives the same JSON values line for line
//!   (and the same bytes for lines written as `JSON.stringify` writes them).
//! - [`session`]: find a session by id or the latest for a directory, and
//!   install a conversation where `claude --resume <id>` looks.
//!
//! - [`ClaudeCodeHarness`]: runs turns with the real `claude` CLI resuming
//!   the installed session, and reads back what it recorded — the shared
//!   [`NativeHarness`](handoff_harness::NativeHarness) over this crate's
//!   [`ClaudeCode`] format and its CLI's data, [`CLI`].
//!
//! # Example
//!
//! ```
//! use handoff_claude_code::{paths, session, transcript};
//! use handoff_conversation::{Conversation, Message, Mode, Role};
//!
//! let config = tempfile::tempdir()?;
//! let mut conversation = Conversation::new("from elsewhere", "codex");
//! conversation.push(Message::text(Role::User, "continue the refactor"));
//! let file = session::install(&conversation, config.path(), "/work/app", "6f1c1d0e-6c3e-4d7c-9a3f-0c1c2d3e4f50")?;
//! assert_eq!(file, paths::session_file(config.path(), "/work/app", "6f1c1d0e-6c3e-4d7c-9a3f-0c1c2d3e4f50"));
//! let (back, _) = session::read_file(&file, Mode::Strict)?;
//! assert_eq!(back.messages[0].plain_text(), "continue the refactor");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod harness;
pub mod paths;
pub mod session;
pub mod transcript;

use std::path::PathBuf;

pub use harness::{CLI, ClaudeCode, ClaudeCodeHarness, KIND};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A transcript line is not a JSON object.
    #[error("{file}: line {line}: {reason}")]
    Line {
        /// The file.
        file: String,
        /// The 1-based line.
        line: u64,
        /// What was wrong.
        reason: String,
    },
    /// No such session.
    #[error("no {what} in {}", dir.display())]
    NoSession {
        /// What was looked for.
        what: String,
        /// Where.
        dir: PathBuf,
    },
    /// A file operation failed.
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
}
