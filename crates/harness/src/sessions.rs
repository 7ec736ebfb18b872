//! [`Sessions`]: the other side of an adapter, beside its [`Harness`]
//! turn — the agent's own sessions on this machine: read one (by id or
//! the latest of a working directory, or a file), install a conversation
//! where the agent's own resume finds it, and say how to open one the
//! agent's service keeps.
//!
//! Every adapter with native sessions implements it ([`NativeHarness`]
//! once for every CLI with session files; an agent whose service keeps
//! its conversations for its own store and links); the CLI's `import`, `export`, `push --session` and
//! `continue-locally` call it and never ask which adapter it is.
//!
//! [`Harness`]: crate::Harness
//! [`NativeHarness`]: crate::NativeHarness

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use handoff_conversation::Conversation;

use crate::Result;

/// Which session of a working directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'a> {
    /// The session with this id (an adapter may accept other names for it,
    /// such as a server token).
    Id(&'a str),
    /// The most recent one.
    Latest,
}

impl<'a> Which<'a> {
    /// `latest` is [`Which::Latest`], anything else an id.
    pub fn parse(text: &'a str) -> Self {
        if text == "latest" {
            Which::Latest
        } else {
            Which::Id(text)
        }
    }
}

/// A session read from the agent's own files.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its conversation.
    pub conversation: Conversation,
    /// The file it was read from.
    pub file: PathBuf,
    /// What could not be read and was skipped, one sentence each naming
    /// where (the rest was read).
    pub warnings: Vec<String>,
}

/// A conversation installed as a native session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The session's id: the conversation's, or a fork's new one when a
    /// session with the conversation's id was already there.
    pub session: String,
    /// The session file.
    pub file: PathBuf,
    /// The command that resumes it in the agent's own CLI.
    pub resume: String,
}

/// How to open a conversation in the app of an agent whose service keeps
/// its conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLink {
    /// The app's name, as people know it.
    pub app: String,
    /// The link that opens the conversation in it.
    pub url: String,
    /// How many of the conversation's messages came after what the
    /// service holds (they reach the agent as the history document).
    pub messages_since: usize,
}

/// An agent's own sessions on this machine.
pub trait Sessions: Send + Sync + Debug {
    /// Reads session `which` of the working directory `cwd` from the
    /// agent's home: `home` when given, else its usual one.
    fn read(&self, which: Which<'_>, cwd: &Path, home: Option<&Path>) -> Result<Found>;

    /// Reads the session file `file`, strictly (a line that is not the
    /// format's is an error).
    fn read_file(&self, file: &Path) -> Result<Found>;

    /// Installs `conversation` as a session for the working directory
    /// `cwd` under `home` (else the usual one), never over a session
    /// already there: a fork with a new id is installed then.
    /// [`Error::NotInstallable`](crate::Error::NotInstallable) when this
    /// agent's sessions are not installed by handoff at all.
    fn install(
        &self,
        conversation: &Conversation,
        cwd: &Path,
        home: Option<&Path>,
    ) -> Result<Installed>;

    /// How to open `conversation` in the agent's app, when its service
    /// keeps it; none by default.
    fn open_link(&self, conversation: &Conversation) -> Option<OpenLink> {
        let _ = conversation;
        None
    }
}
