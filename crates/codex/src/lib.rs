//! Codex sessions for handoff.
//!
//! Codex writes each session as a *rollout*: JSON lines of
//! `{"timestamp", "type", "payload"}` starting with a `session_meta` line
//! (`payload.id` is the session id, `payload.cwd` the working directory,
//! `payload.forked_from_id` the session a fork came from), followed by
//! `response_item` lines (messages, function calls and outputs, reasoning),
//! `event_msg`, `turn_context` and other records. The file lives at
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl`
//! (`CODEX_HOME` defaults to `~/.codex`).
//!
//! - [`read()`] / [`write()`]: rollout to and from the conversation model; every
//!   line is kept whole in its message's `extra`, so import then export
//!   gives the same JSON values (and bytes) line for line.
//! - [`install`], [`find_by_id`], [`find_latest`]: where the CLI looks.
//! - [`CodexHarness`]: runs `codex exec --json … resume <id> <prompt>` — the
//!   shared [`NativeHarness`](handoff_harness::NativeHarness) over this
//!   crate's [`Codex`] format and its CLI's data, [`CLI`].
//!
//! Relied on: the rollout layout and field names as published by Codex's
//! own source and observed in 0.139–0.16x rollouts by public tooling.
//! Codex 0.16x also keeps SQLite databases in `CODEX_HOME` (`state_5.sqlite`
//! and others); this adapter does not write them, and does not need to:
//! with Codex 0.169.0, `codex archive <id>` finds a rollout this crate
//! installed by its id alone (the opt-in test `tests/real_cli.rs` checks
//! exactly that against the real CLI, offline).
//!
//! # Example
//!
//! ```
//! use handoff_codex::{find_by_id, install, read_file};
//! use handoff_conversation::{Conversation, Message, Mode, Role};
//!
//! let home = tempfile::tempdir()?;
//! let mut conversation = Conversation::new("from elsewhere", "claude-code");
//! conversation.push(Message::text(Role::User, "continue the refactor"));
//! let id = conversation.id.to_string();
//! let file = install(&conversation, home.path(), "/work/app", &id)?;
//! assert_eq!(find_by_id(home.path(), &id)?, file);
//! let (back, _) = read_file(&file, Mode::Strict)?;
//! assert_eq!(back.id, conversation.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod harness;
mod rollout;

pub use harness::{CLI, Codex, CodexHarness, KIND};
pub use rollout::{
    NATIVE, codex_home, find_by_id, find_latest, install, read, read_file, rollout_path, write,
};

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rollout line is not a JSON object.
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
    /// Codex's `workspace-write` sandbox (the `edits` level) gives the agent
    /// a private `/tmp`, so a Codex whose binary or bundled sandbox tools
    /// live under `/tmp` cannot start its sandbox helper
    /// (`codex-linux-sandbox`) there and every command of the turn fails.
    #[error(
        "codex cannot run with permissions edits: {} is under /tmp, which its workspace-write sandbox replaces with a private one, so its sandbox helper would not start; install Codex outside /tmp, or use read-only or full",
        path.display()
    )]
    SandboxUnderTmp {
        /// The binary or the bundled tools' directory under `/tmp`.
        path: PathBuf,
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
