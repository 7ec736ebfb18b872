//! [`CodexHarness`]: runs a turn with the real `codex` CLI.
//!
//! The conversation is installed as a rollout for the run's working
//! directory, then `codex exec --json resume <id> <prompt>` runs there with
//! `CODEX_HOME` set; the lines it appends to the rollout become the turn.
//! A missing binary, a non-zero exit or a timeout is a failed turn; a
//! partial last line is cut so the rollout stays valid.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use handoff_conversation::{Message, Mode};
use handoff_harness::{Error, Harness, HarnessKind, Result, Turn};

use crate::rollout;

/// The Codex harness.
#[derive(Debug, Clone)]
pub struct CodexHarness {
    program: Option<PathBuf>,
    home: Option<PathBuf>,
    timeout: Duration,
}

impl Default for CodexHarness {
    fn default() -> Self {
        Self {
            program: None,
            home: None,
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

impl CodexHarness {
    /// Uses `codex` from `PATH` and the usual `CODEX_HOME`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses the CLI at `program`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Uses `home` instead of `$CODEX_HOME` / `~/.codex`.
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// How long a turn may take (default 30 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

fn failed(reason: String) -> Error {
    Error::TurnFailed {
        harness: HarnessKind::Codex,
        reason,
    }
}

fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        action,
        harness: HarnessKind::Codex,
        source,
    }
}

const INSTALL_HINT: &str = "install Codex with `npm install -g @openai/codex`";

#[async_trait]
impl Harness for CodexHarness {
    fn kind(&self) -> HarnessKind {
        HarnessKind::Codex
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let program = self
            .program
            .clone()
            .or_else(|| handoff_harness::session_file::find_on_path(&["codex"]))
            .ok_or_else(|| Error::NotInstalled {
                program: "codex".to_owned(),
                hint: INSTALL_HINT.to_owned(),
            })?;
        let home = rollout::codex_home(self.home.as_deref())
            .ok_or_else(|| failed("no Codex home (set CODEX_HOME or HOME)".to_owned()))?;
        let cwd =
            std::fs::canonicalize(turn.workdir).map_err(io("resolve the working directory"))?;
        let cwd = cwd.to_string_lossy().into_owned();
        let id = turn.conversation.id.to_string();
        let file = rollout::install(turn.conversation, &home, &cwd, &id)
            .map_err(|e| failed(e.to_string()))?;
        let before = std::fs::read_to_string(&file)
            .map_err(io("read the rollout"))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();

        let mut prompt = turn.handoff.note();
        if !prompt.is_empty() {
            prompt.push('\n');
        }
        prompt.push_str(turn.prompt);
        let args: Vec<std::ffi::OsString> = ["exec", "--json", "resume", &id]
            .into_iter()
            .map(Into::into)
            .chain([prompt.into()])
            .collect();
        let kind = HarnessKind::Codex;
        let run = handoff_harness::session_file::AgentRun {
            kind: &kind,
            program: &program,
            args: &args,
            cwd: turn.workdir,
            env: &[("CODEX_HOME", home.as_os_str())],
            stdin: None,
            timeout: self.timeout,
            install_hint: INSTALL_HINT,
        };
        if let Err(e) = handoff_harness::session_file::run_agent(run).await {
            repair(&file)?;
            return Err(e);
        }
        let (after, _) =
            rollout::read_file(&file, Mode::Lenient).map_err(|e| failed(e.to_string()))?;
        let added: Vec<Message> = after.messages.into_iter().skip(before).collect();
        if added.is_empty() {
            return Err(failed("codex exited without recording a turn".to_owned()));
        }
        Ok(added)
    }
}

fn repair(file: &std::path::Path) -> Result<()> {
    handoff_harness::session_file::cut_torn_lines(file).map_err(io("repair the session file"))
}
