//! Turns `--harness NAME [--agent-cmd CMD]` into a harness.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use handoff_harness::{CommandHarness, DynHarness, HarnessKind, ScriptedHarness};

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
        // The Codex adapter is not part of this build yet: the name still
        // gets the coverage matrix's answer, and running a turn says why not.
        "codex" => Arc::new(Unavailable(HarnessKind::from_name(name))),
        other => bail!(
            "unknown harness {other:?} (expected warp, claude-code, codex, command or scripted)"
        ),
    })
}

/// A named harness whose adapter is not in this build.
#[derive(Debug)]
struct Unavailable(HarnessKind);

#[async_trait::async_trait]
impl handoff_harness::Harness for Unavailable {
    fn kind(&self) -> HarnessKind {
        self.0.clone()
    }

    async fn run_turn(
        &self,
        _turn: handoff_harness::Turn<'_>,
    ) -> handoff_harness::Result<Vec<handoff_conversation::Message>> {
        Err(handoff_harness::Error::NotInstalled {
            program: format!("the {} adapter", self.0),
            hint: "this build of handoff does not include it yet".to_owned(),
        })
    }
}
