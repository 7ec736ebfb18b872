//! The Warp Agent adapter.
//!
//! - [`WarpHarness`] runs turns with Warp's agent CLI (`oz agent run
//!   --prompt … -C <workspace> --output-format json`), reads its event
//!   stream into conversation messages ([`events`]) and continues Warp's
//!   server conversation on the next turn (`--conversation`); what that
//!   conversation lacks reaches the agent as a rendered history document.
//! - [`database`] reads the user's local Warp conversations from Warp's
//!   `warp.sqlite` ([`paths`]), read-only, decoding each stored task's
//!   protocol buffers ([`task`], [`wire`]) into the neutral conversation,
//!   with every field it does not model kept as bytes.
//! - [`server_conversation`] and [`open_url`] say which Warp conversation a
//!   conversation continues and how to open it in Warp; nothing is ever
//!   written into Warp's database.
//!
//! # Example
//!
//! ```
//! use handoff_conversation::{Conversation, Message, Role};
//! use handoff_harness::{Direction, Harness, HistoryLoading};
//! use handoff_warp::{WarpHarness, server_conversation};
//!
//! let warp = WarpHarness::at(None);
//! assert_eq!(warp.kind(), handoff_warp::KIND);
//! assert_eq!(warp.history(), HistoryLoading::ResumeOrDocument);
//! assert!(handoff_harness::coverage::check(&warp, Direction::LocalToCloud).is_ok());
//!
//! // A conversation from elsewhere has no Warp conversation to continue:
//! // its whole history goes to `oz` as a document.
//! let mut c = Conversation::new("from Claude Code", "claude-code");
//! c.push(Message::text(Role::User, "add a test"));
//! assert!(server_conversation(&c).is_none());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod adapter;
pub mod database;
pub mod events;
mod harness;
pub mod paths;
pub mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wire;

use std::path::PathBuf;

use handoff_conversation::Conversation;
use serde_json::Value;

pub use adapter::{WarpAdapter, WarpSessions};
pub use database::{Database, Imported, OpenOptions, TaskProblem, Which, import};
pub use events::NATIVE;
pub use harness::{ENVIRONMENT, PROGRAMS, WarpHarness};

/// Warp's name, in records and on the command line.
pub const KIND: handoff_harness::HarnessKind = handoff_harness::HarnessKind::from_static("warp");

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong reading Warp's conversations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No Warp database was found.
    #[error("no Warp database (warp.sqlite) found in {}; name Warp's state directory instead", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoDatabase {
        /// Where.
        looked: Vec<PathBuf>,
    },
    /// The database could not be opened.
    #[error("could not open the Warp database {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process held the database locked past the busy timeout.
    #[error("the Warp database {} is locked by another process; try again", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// Reading failed.
    #[error("could not {what} in the Warp database {}", path.display())]
    Query {
        /// The file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a Warp database.
    #[error("{} is not a Warp database: {reason}", path.display())]
    NotWarp {
        /// The file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// No conversation matched.
    #[error("no Warp {what} in {}", databases.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoConversation {
        /// What was looked for.
        what: String,
        /// The databases searched.
        databases: Vec<PathBuf>,
    },
}

/// Why an `oz agent run` turn failed, by its exit status (carried in
/// [`handoff_harness::Error::AgentFailed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnError {
    /// Exit 1: the conversation ended in error, was cancelled or blocked.
    #[error("oz ended the conversation in error, cancelled or blocked (exit 1): {detail}")]
    Ended {
        /// The last tool error and what it printed on standard error.
        detail: String,
    },
    /// Exit 2: the CLI rejected its arguments.
    #[error("oz rejected its arguments (exit 2): {detail}")]
    Usage {
        /// What it printed on standard error.
        detail: String,
    },
    /// Any other exit status (or a signal).
    #[error("oz exited with {status}: {detail}")]
    Exited {
        /// The status.
        status: String,
        /// What it printed on standard error.
        detail: String,
    },
    /// Exit 0 without the agent saying or doing anything.
    #[error("oz exited successfully but the agent produced nothing ({events} event(s))")]
    NoAnswer {
        /// How many events it printed.
        events: usize,
    },
}

/// The Warp server conversation a conversation continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConversation<'a> {
    /// Its token: what `oz agent run --conversation` takes.
    pub token: &'a str,
    /// How many of the conversation's messages (from the start) it holds;
    /// the rest were added since, by other agents.
    pub known: usize,
}

/// The Warp server conversation `conversation` continues: the newest
/// message that came from Warp and names one (an `oz` turn, or an imported
/// local Warp conversation), or `None`.
pub fn server_conversation(conversation: &Conversation) -> Option<ServerConversation<'_>> {
    conversation
        .messages
        .iter()
        .enumerate()
        .rev()
        .find_map(|(index, message)| {
            let token = message.extra.get(NATIVE)?.get("conversation")?;
            Some(ServerConversation {
                token: token.as_str().filter(|t| !t.is_empty())?,
                known: index + 1,
            })
        })
}

/// The link that opens Warp's conversation `token` in the Warp app.
pub fn open_url(token: &str) -> String {
    format!("warp://conversation/{token}")
}

/// The server token of an imported Warp conversation's own record, when
/// it has one (also recorded on its messages).
pub fn imported_token(conversation: &Conversation) -> Option<&str> {
    conversation
        .extra
        .get(NATIVE)?
        .get("conversation_data")?
        .get("server_conversation_token")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_conversation::{Message, Role};
    use serde_json::json;

    #[test]
    fn the_newest_warp_message_names_the_conversation_to_continue() {
        let mut c = Conversation::new("t", "warp");
        c.push(Message::text(Role::User, "a"));
        assert_eq!(server_conversation(&c), None);
        let mut from_warp = Message::text(Role::Assistant, "b");
        from_warp
            .extra
            .insert(NATIVE.into(), json!({"conversation": "tok-1"}));
        c.push(from_warp);
        c.push(Message::text(Role::User, "from claude"));
        assert_eq!(
            server_conversation(&c),
            Some(ServerConversation {
                token: "tok-1",
                known: 2
            })
        );
        assert_eq!(open_url("tok-1"), "warp://conversation/tok-1");
    }

    #[test]
    fn errors_say_what_and_where() {
        let err = Error::Locked {
            path: "/s/warp.sqlite".into(),
        };
        assert_eq!(
            err.to_string(),
            "the Warp database /s/warp.sqlite is locked by another process; try again"
        );
        let turn = TurnError::Ended {
            detail: "blocked".into(),
        };
        assert!(turn.to_string().contains("exit 1"));
    }
}
