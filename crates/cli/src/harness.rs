//! Turns `--harness NAME [--agent-cmd CMD]` into a harness.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use handoff_harness::{CommandHarness, DynHarness, ScriptedHarness};

/// The harness a name denotes.
pub fn resolve(name: &str, agent_cmd: Option<&str>) -> anyhow::Result<Arc<DynHarness>> {
    Ok(match name {
        "warp" => Arc::new(handoff_warp::WarpHarness::locate()),
        "command" => {
            let line = agent_cmd.context("--harness command needs --agent-cmd CMD")?;
            Arc::new(CommandHarness::from_command_line(line).context("--agent-cmd is empty")?)
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
