//! [`ClaudeCodeHarness`]: runs a turn with the real `claude` CLI.
//!
//! The shared [`NativeHarness`] does the work; this module is what is
//! particular to Claude Code: the data of its CLI ([`CLI`]) and its format
//! ([`ClaudeCode`]). The conversation is installed as a session (see
//! [`session::install`]) for the run's working directory, then resumed
//! non-interactively:
//! `claude -p --resume <id> --output-format stream-json --verbose
//! --permission-mode <mode> [--model M] <note and prompt>` with
//! `CLAUDE_CONFIG_DIR` pointing at the configuration directory. The lines
//! it appends to the session file are the turn; the `result` line of its
//! stream says whether the turn succeeded.
//!
//! Permission levels: `read-only` is plan mode (Claude Code refuses every
//! edit), `edits` is `acceptEdits` (file edits without asking; other shell
//! commands follow the allow rules of the configuration directory), `full`
//! is `bypassPermissions` with `IS_SANDBOX=1` (Claude Code refuses to
//! bypass permissions as root unless told it runs in a sandbox, which
//! `full` promises).

use std::path::{Path, PathBuf};

use handoff_conversation::{Conversation, Message, Mode, Skipped};
use handoff_harness::confine::Nesting;
use handoff_harness::native::{Arg, CliSpec, FormatError};
use handoff_harness::sessions::Which;
use handoff_harness::{Direction, Grant, Grants, HarnessKind, NativeFormat, NativeHarness};
use serde_json::Value;

use crate::{session, transcript};

/// The Claude Code harness.
pub type ClaudeCodeHarness = NativeHarness<ClaudeCode>;

/// Claude Code's name.
pub const KIND: HarnessKind = HarnessKind::from_static("claude-code");

/// Claude Code's CLI, as data: every direction (its adapter carries the
/// native transcript both ways).
pub static CLI: CliSpec = CliSpec {
    kind: KIND,
    directions: &Direction::ALL,
    programs: &["claude"],
    install_hint: "install Claude Code with `npm install -g @anthropic-ai/claude-code`",
    home_var: "CLAUDE_CONFIG_DIR",
    home_default: ".claude",
    home_seed: &["settings.json", ".credentials.json", ".claude.json"],
    resume: &[
        Arg::Lit("-p"),
        Arg::Lit("--resume"),
        Arg::Session,
        Arg::Lit("--output-format"),
        Arg::Lit("stream-json"),
        Arg::Lit("--verbose"),
        Arg::Permissions,
        Arg::Model,
        Arg::Prompt,
    ],
    resume_local: &[Arg::Lit("claude"), Arg::Lit("--resume"), Arg::Session],
    grants: Grants {
        read_only: Grant {
            args: &["--permission-mode", "plan"],
            env: &[],
            nesting: Nesting::None,
        },
        edits: Grant {
            args: &["--permission-mode", "acceptEdits"],
            env: &[],
            nesting: Nesting::None,
        },
        full: Grant {
            args: &["--permission-mode", "bypassPermissions"],
            env: &[("IS_SANDBOX", "1")],
            nesting: Nesting::None,
        },
    },
    model_flag: "--model",
    outside_repository: &[],
    env: &[
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    ],
};

/// Claude Code's session format, for [`NativeHarness`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeCode;

impl NativeFormat for ClaudeCode {
    fn spec(&self) -> &'static CliSpec {
        &CLI
    }

    fn install(
        &self,
        conversation: &Conversation,
        home: &Path,
        cwd: &str,
        id: &str,
    ) -> Result<PathBuf, FormatError> {
        Ok(session::install(conversation, home, cwd, id)?)
    }

    fn read_appended(&self, lines: &[u8], label: &str) -> Result<Vec<Message>, FormatError> {
        Ok(transcript::read(lines, Mode::Lenient, label)?.0.messages)
    }

    fn find(&self, home: &Path, which: Which<'_>, cwd: &str) -> Result<PathBuf, FormatError> {
        Ok(match which {
            Which::Id(id) => session::find_by_id(home, id, Some(cwd))?,
            Which::Latest => session::find_latest(home, cwd)?,
        })
    }

    fn read_file(
        &self,
        file: &Path,
        mode: Mode,
    ) -> Result<(Conversation, Vec<Skipped>), FormatError> {
        Ok(session::read_file(file, mode)?)
    }

    /// The last `result` line of the stream says how the turn ended.
    fn reported_error(&self, stdout: &str) -> Option<String> {
        let result = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .rfind(|v| v["type"] == "result")?;
        (result["is_error"] == Value::Bool(true)).then(|| {
            result["result"]
                .as_str()
                .or_else(|| result["subtype"].as_str())
                .unwrap_or("an error result")
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_decides() {
        let ok = r#"{"type":"system"}
{"type":"result","subtype":"success","is_error":false,"result":"done"}"#;
        assert_eq!(ClaudeCode.reported_error(ok), None);
        let failed = r#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 400 bad model"}"#;
        assert_eq!(
            ClaudeCode.reported_error(failed).as_deref(),
            Some("API Error: 400 bad model")
        );
        assert_eq!(ClaudeCode.reported_error("{\"type\":\"system\"}\n"), None);
    }
}
