//! [`ClaudeCodeHarness`]: runs a turn with the real `claude` CLI.
//!
//! The conversation is installed as a Claude Code session (see
//! [`session::install`]) for the run's working directory, then the CLI
//! resumes it non-interactively:
//! `claude -p --resume <id> --output-format stream-json --verbose <prompt>`
//! with `CLAUDE_CONFIG_DIR` pointing at the configuration directory. When it
//! exits, the session file is read back and the lines it added become the
//! turn's messages, so the conversation holds exactly what the agent
//! recorded. A missing binary, a non-zero exit or a timeout is a failed turn
//! with the reason; a partial last line left by a killed CLI is cut, so the
//! session file stays valid.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use handoff_conversation::{Message, Mode};
use handoff_harness::{Error, Harness, HarnessKind, Result, Turn};
use serde_json::Value;

use crate::{paths, session};

const INSTALL_HINT: &str = "install Claude Code with `npm install -g @anthropic-ai/claude-code`";

/// The Claude Code harness.
#[derive(Debug, Clone)]
pub struct ClaudeCodeHarness {
    program: Option<PathBuf>,
    config: Option<PathBuf>,
    timeout: Duration,
}

impl Default for ClaudeCodeHarness {
    fn default() -> Self {
        Self {
            program: None,
            config: None,
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

impl ClaudeCodeHarness {
    /// Uses `claude` from `PATH` and the usual configuration directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses the CLI at `program`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Uses `config` instead of `$CLAUDE_CONFIG_DIR` / `~/.claude`.
    pub fn with_config_dir(mut self, config: impl Into<PathBuf>) -> Self {
        self.config = Some(config.into());
        self
    }

    /// How long a turn may take (default 30 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn failed(reason: String) -> Error {
        Error::TurnFailed {
            harness: HarnessKind::ClaudeCode,
            reason,
        }
    }

    fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io {
            action,
            harness: HarnessKind::ClaudeCode,
            source,
        }
    }
}

#[async_trait]
impl Harness for ClaudeCodeHarness {
    fn kind(&self) -> HarnessKind {
        HarnessKind::ClaudeCode
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let program = self
            .program
            .clone()
            .or_else(|| handoff_harness::session_file::find_on_path(&["claude"]))
            .ok_or_else(|| Error::NotInstalled {
                program: "claude".to_owned(),
                hint: "install Claude Code with `npm install -g @anthropic-ai/claude-code`"
                    .to_owned(),
            })?;
        let config = paths::config_dir(self.config.as_deref()).ok_or_else(|| {
            Self::failed(
                "no Claude Code configuration directory (set CLAUDE_CONFIG_DIR or HOME)".to_owned(),
            )
        })?;
        let cwd = std::fs::canonicalize(turn.workdir)
            .map_err(Self::io("resolve the working directory"))?;
        let cwd = cwd.to_string_lossy().into_owned();
        let id = turn.conversation.id.to_string();
        let file = session::install(turn.conversation, &config, &cwd, &id)
            .map_err(|e| Self::failed(e.to_string()))?;
        let before = line_count(&file)?;

        let mut prompt = turn.handoff.note();
        if !prompt.is_empty() {
            prompt.push('\n');
        }
        prompt.push_str(turn.prompt);
        let args: Vec<std::ffi::OsString> = [
            "-p",
            "--resume",
            &id,
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        .into_iter()
        .map(Into::into)
        .chain([prompt.into()])
        .collect();
        let kind = HarnessKind::ClaudeCode;
        let run = handoff_harness::session_file::AgentRun {
            kind: &kind,
            program: &program,
            args: &args,
            cwd: turn.workdir,
            env: &[("CLAUDE_CONFIG_DIR", config.as_os_str())],
            stdin: None,
            timeout: self.timeout,
            install_hint: INSTALL_HINT,
        };
        let output = match handoff_harness::session_file::run_agent(run).await {
            Ok(output) => output,
            Err(e) => {
                repair(&file)?;
                return Err(e);
            }
        };
        // The session file is the record; the stream only says it finished.
        let finished = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v.get("type").and_then(Value::as_str) == Some("result"));
        let (after, _) =
            session::read_file(&file, Mode::Lenient).map_err(|e| Self::failed(e.to_string()))?;
        // The CLI appends to the session: what follows the installed lines
        // is this turn.
        let added: Vec<Message> = after.messages.into_iter().skip(before).collect();
        if added.is_empty() || !finished {
            return Err(Self::failed(
                "claude exited without recording a turn".to_owned(),
            ));
        }
        Ok(added)
    }
}

fn line_count(file: &std::path::Path) -> Result<usize> {
    let text =
        std::fs::read_to_string(file).map_err(ClaudeCodeHarness::io("read the session file"))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).count())
}

/// Cuts lines that are not JSON objects (a CLI killed mid-write), so the
/// session file stays valid for the next resume.
fn repair(file: &std::path::Path) -> Result<()> {
    handoff_harness::session_file::cut_torn_lines(file)
        .map_err(ClaudeCodeHarness::io("repair the session file"))
}
