//! The error type of this crate.

use crate::{Direction, HarnessKind};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The harness does not support this direction of handoff.
    #[error("{harness} does not support {direction} handoff")]
    Unsupported {
        /// The harness.
        harness: HarnessKind,
        /// The direction asked for.
        direction: Direction,
    },
    /// The agent's program is not installed.
    #[error("{program} was not found on PATH; {hint}")]
    NotInstalled {
        /// The program's name.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// The turn failed: the agent exited non-zero, timed out or was killed.
    #[error("{harness} turn failed: {reason}")]
    TurnFailed {
        /// The harness.
        harness: HarnessKind,
        /// What happened.
        reason: String,
    },
    /// The agent's CLI ran and reported a failure its adapter understood;
    /// `error` is the adapter's own typed error (downcast it to act on the
    /// cause).
    #[error("{harness} turn failed: {error}")]
    AgentFailed {
        /// The harness.
        harness: HarnessKind,
        /// The adapter's error.
        error: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The adapter refused the turn before running the agent: the agent
    /// cannot honour what was asked where it is installed; `error` is the
    /// adapter's own typed reason (downcast it to act on the cause).
    #[error("{harness} refused the turn: {error}")]
    Refused {
        /// The harness.
        harness: HarnessKind,
        /// The adapter's error.
        error: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The host stopped the turn ([`crate::live`]): interrupted to take a
    /// new message, or cancelled.
    #[error("{harness} turn {}", stop.name())]
    Stopped {
        /// The harness.
        harness: HarnessKind,
        /// What the host asked.
        stop: crate::Stop,
    },
    /// Preparing or reading the turn's files failed.
    #[error("could not {action} for the {harness} turn")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The harness.
        harness: HarnessKind,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Installing or reading the agent's native session file failed.
    #[error("could not {action} the {harness} session at {}", path.display())]
    Session {
        /// What was being done (`install`, `read`).
        action: &'static str,
        /// The harness.
        harness: HarnessKind,
        /// The session file, or the home it was to go in.
        path: std::path::PathBuf,
        /// The adapter's error.
        #[source]
        source: crate::native::FormatError,
    },
    /// The agent's sandbox could not be set up.
    #[error("could not sandbox the {harness} agent")]
    Sandbox {
        /// The harness.
        harness: HarnessKind,
        /// Why.
        #[source]
        source: crate::confine::SandboxError,
    },
    /// No adapter of that name is registered.
    #[error(
        "unknown harness {name:?} (expected {})",
        crate::registry::listing(known)
    )]
    UnknownHarness {
        /// The name asked for.
        name: String,
        /// The names registered.
        known: Vec<HarnessKind>,
    },
    /// The harness runs an agent command the caller names, and none was
    /// named.
    #[error("the {harness} harness needs an agent command")]
    NeedsAgentCommand {
        /// The harness.
        harness: HarnessKind,
    },
    /// The agent has no home directory to keep its sessions in.
    #[error("no home directory for {harness}: name one, or set {var} or HOME")]
    NoHome {
        /// The harness.
        harness: HarnessKind,
        /// The variable that names the agent's home.
        var: &'static str,
    },
    /// The harness keeps no native sessions on this machine.
    #[error("{harness} keeps no native sessions to read or install")]
    NoSessions {
        /// The harness.
        harness: HarnessKind,
    },
    /// The harness's sessions are not installed by handoff at all.
    #[error("{harness} sessions are not installed by handoff: {reason}")]
    NotInstallable {
        /// The harness.
        harness: HarnessKind,
        /// Why, and what to do instead.
        reason: String,
    },
    /// Converting the conversation failed.
    #[error(transparent)]
    Conversation(#[from] handoff_conversation::Error),
}
