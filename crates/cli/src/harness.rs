//! Turns `--harness NAME [--agent-cmd CMD] [--agent-env NAME]` into a
//! harness.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use handoff_harness::{CommandHarness, DynHarness, ScriptedHarness};

use crate::args::AgentCmdArgs;

/// The harness a name denotes (`command` runs `--agent-cmd`, which gets
/// the `--agent-env` variables).
pub fn resolve(name: &str, command: &AgentCmdArgs) -> anyhow::Result<Arc<DynHarness>> {
    Ok(match name {
        "warp" => Arc::new(handoff_warp::WarpHarness::locate()),
        "command" => {
            let line = command
                .agent_cmd
                .as_deref()
                .context("--harness command needs --agent-cmd CMD")?;
            Arc::new(
                CommandHarness::from_command_line(line)
                    .context("--agent-cmd is empty")?
                    .with_env_vars(command.agent_env.iter().cloned()),
            )
        }
        "scripted" => Arc::new(ScriptedHarness::new("scripted", |turn| {
            let restored = turn.handoff.applied;
            let not = turn.handoff.not_applied.len();
            Ok(format!(
                "(scripted agent) received {:?} with {} earlier messages; {restored} change(s) restored, {not} not applied",
                turn.prompt,
                turn.conversation.messages.len()
            ))
        })),
        "claude-code" => Arc::new(handoff_claude_code::ClaudeCodeHarness::new()),
        "codex" => Arc::new(handoff_codex::CodexHarness::new()),
        other => bail!(
            "unknown harness {other:?} (expected warp, claude-code, codex, command or scripted)"
        ),
    })
}

/// The harness a session is queued for: [`resolve`], except that a
/// `command` run needs no `--agent-cmd` to be queued (the worker that runs
/// it names the command); what it supports is checked all the same.
pub fn for_queueing(name: &str, command: &AgentCmdArgs) -> anyhow::Result<Arc<DynHarness>> {
    if name == "command" && command.agent_cmd.is_none() {
        return Ok(Arc::new(QueueOnly));
    }
    resolve(name, command)
}

/// The `command` harness without its command: enough to say what it
/// supports (what any command harness supports); it runs no turn.
#[derive(Debug)]
struct QueueOnly;

#[async_trait::async_trait]
impl handoff_harness::Harness for QueueOnly {
    fn kind(&self) -> handoff_harness::HarnessKind {
        handoff_harness::HarnessKind::Other("command".to_owned())
    }

    fn directions(&self) -> Vec<handoff_harness::Direction> {
        handoff_harness::Direction::ALL.to_vec()
    }

    async fn run_turn(
        &self,
        _turn: handoff_harness::Turn<'_>,
    ) -> handoff_harness::Result<Vec<handoff_conversation::Message>> {
        Err(handoff_harness::Error::TurnFailed {
            harness: self.kind(),
            reason: "no agent command was given (--agent-cmd CMD)".to_owned(),
        })
    }
}
