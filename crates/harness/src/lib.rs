//! The small async [`Harness`] trait that agent adapters implement,
//! [`HarnessKind`] (a harness's name), [`coverage`] (whether a harness
//! supports a direction of handoff, as it declares), and two built-in harnesses for people without a hosted agent:
//! [`CommandHarness`] runs any agent CLI, [`ScriptedHarness`] is a
//! deterministic stand-in for examples and tests. [`history`] renders the
//! conversation so far as a document for agents that cannot load it
//! natively.
//!
//! A harness runs one turn: given the conversation so far, the prompt, the
//! working directory (where the workspace has already been restored), the
//! attachments as files, the [`Handoff`] report of what was and was not
//! applied, and the session's [`AgentOptions`] (its [`Permissions`] level
//! and model), it returns the messages the turn added — and may change
//! files in the working directory.
//!
//! [`NativeHarness`] is what every adapter whose agent is a CLI with native
//! session files shares (install, resume, read back what was appended);
//! an adapter adds its format and its CLI's data ([`native::CliSpec`]).
//! Transcript conversion and locating sessions on disk live in each adapter
//! crate.
//!
//! # Example
//!
//! ```
//! use handoff_conversation::{Conversation, Message, Role};
//! use handoff_harness::{
//!     AgentOptions, Confinement, Direction, Handoff, Harness, ScriptedHarness, Turn, coverage,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let harness = ScriptedHarness::echo("scripted");
//! coverage::check(&harness, Direction::CloudToCloud)?;
//! let dir = tempfile::tempdir().unwrap();
//! let mut conversation = Conversation::new("demo", "scripted");
//! conversation.push(Message::text(Role::User, "hello"));
//! let turn = Turn {
//!     conversation: &conversation,
//!     prompt: "continue",
//!     workdir: dir.path(),
//!     attachments: &[],
//!     handoff: &Handoff::default(),
//!     agent: &AgentOptions::default(),
//!     confinement: &Confinement::default(),
//!     live: &Default::default(),
//! };
//! let added = harness.run_turn(turn).await?;
//! assert_eq!(added[0].role, Role::User);
//! assert_eq!(added[1].plain_text(), "echo: continue");
//! # Ok::<(), handoff_harness::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod agent;
mod command;
pub mod confine;
pub mod coverage;
mod error;
pub mod history;
mod kind;
pub mod live;
pub mod native;
pub mod registry;
mod scripted;
pub mod session_file;
pub mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use handoff_conversation::{AttachmentRef, Conversation, Message};
use serde::{Deserialize, Serialize};

pub use agent::{AgentOptions, Grant, Grants, Honour, Permissions, UnknownPermissions};
pub use command::CommandHarness;
pub use confine::{Confinement, Network, Sandbox};
pub use coverage::{Direction, HistoryLoading};
pub use error::{Error, Result};
pub use kind::HarnessKind;
pub use live::{Live, LiveControl, Stop};
pub use native::{NativeFormat, NativeHarness};
pub use registry::{Adapter, AdapterConfig, NativeAdapter, Registry};
pub use scripted::{ScriptedHarness, TurnFn};
pub use sessions::Sessions;

/// An attachment materialised as a file for the turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    /// Where the file is.
    pub path: PathBuf,
    /// What it is.
    pub reference: AttachmentRef,
}

/// A change that was not applied when the workspace was restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplied {
    /// The repository (its path in the workspace) and file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// What restoring the workspace did, as the agent should hear it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// How many changes were applied (including already applied and merged).
    pub applied: usize,
    /// Changes left untouched, with the reason.
    pub not_applied: Vec<NotApplied>,
    /// Other things the agent should know (such as a different base commit).
    pub warnings: Vec<String>,
}

impl Handoff {
    /// Whether everything applied.
    pub fn is_complete(&self) -> bool {
        self.not_applied.is_empty()
    }

    /// A note for the agent's prompt: the session continues elsewhere, what
    /// of the workspace was restored, and what was not and why.
    pub fn note(&self) -> String {
        let mut note = format!(
            "Note from handoff: this session continues in a new environment; \
             the workspace was restored best-effort: {} change(s) applied, {} not applied.\n",
            self.applied,
            self.not_applied.len()
        );
        for item in &self.not_applied {
            note.push_str(&format!("- not applied: {}: {}\n", item.path, item.reason));
        }
        for warning in &self.warnings {
            note.push_str(&format!("- warning: {warning}\n"));
        }
        note
    }
}

/// Everything a harness gets to run one turn.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// The conversation so far.
    pub conversation: &'a Conversation,
    /// The new prompt.
    pub prompt: &'a str,
    /// The working directory, already restored.
    pub workdir: &'a Path,
    /// The conversation's attachments as files.
    pub attachments: &'a [AttachmentFile],
    /// What was and was not applied when the workspace was restored.
    pub handoff: &'a Handoff,
    /// What the agent may do, and with which model.
    pub agent: &'a AgentOptions,
    /// How the agent's process is confined (its environment, its sandbox);
    /// [`Confinement::default`] confines nothing.
    pub confinement: &'a Confinement,
    /// The turn while it runs: where the agent's messages go as they come,
    /// and whether the host asks it to stop ([`live`]); [`Live::default`]
    /// hears nothing and never stops.
    pub live: &'a Live,
}

impl Turn<'_> {
    /// The prompt as the agent should get it: the handoff note, then the
    /// prompt.
    pub fn prompt_with_note(&self) -> String {
        format!("{}\n{}", self.handoff.note(), self.prompt)
    }
}

/// An agent harness.
#[async_trait]
pub trait Harness: Send + Sync + Debug {
    /// Which agent this drives.
    fn kind(&self) -> HarnessKind;

    /// The directions of handoff it supports, as its adapter declares them
    /// ([`coverage::check`] asks this).
    fn directions(&self) -> Vec<Direction>;

    /// The names of the environment variables its agent reads from the
    /// worker's environment (API keys, endpoints, its home); a worker that
    /// gives agents a clean environment passes these and nothing else. By
    /// default none.
    fn env_vars(&self) -> Vec<String> {
        Vec::new()
    }

    /// How its agent gets the conversation so far; by default a rendered
    /// document its prompt points to ([`HistoryLoading::Document`]), which
    /// any agent can read.
    fn history(&self) -> HistoryLoading {
        HistoryLoading::Document
    }

    /// Who keeps its agent to `level`. By default the agent's CLI is
    /// trusted with `edits` and `full`, and only a sandbox (which mounts
    /// the workspace read-only) keeps it to `read-only` — right for an
    /// agent that knows nothing of levels, such as an arbitrary command.
    fn honours(&self, level: Permissions) -> Honour {
        match level {
            Permissions::ReadOnly => Honour::SandboxOnly,
            Permissions::Edits | Permissions::Full => Honour::Agent(confine::Nesting::None),
        }
    }

    /// Runs one turn and returns the messages it added: the user's prompt
    /// (after any records the agent keeps of its own) and what the agent
    /// did. It may change files in `turn.workdir`.
    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>>;
}

/// A type-erased harness.
pub type DynHarness = dyn Harness;

macro_rules! forward_harness {
    ($($ptr:ty),*) => {$(
        #[async_trait]
        impl<T: Harness + ?Sized> Harness for $ptr {
            fn kind(&self) -> HarnessKind {
                (**self).kind()
            }
            fn directions(&self) -> Vec<Direction> {
                (**self).directions()
            }
            fn env_vars(&self) -> Vec<String> {
                (**self).env_vars()
            }
            fn history(&self) -> HistoryLoading {
                (**self).history()
            }
            fn honours(&self, level: Permissions) -> Honour {
                (**self).honours(level)
            }
            async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
                (**self).run_turn(turn).await
            }
        }
    )*};
}

forward_harness!(&T, Box<T>, Arc<T>);
