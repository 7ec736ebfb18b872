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
