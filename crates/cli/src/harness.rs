//! Turns `--harness NAME [--agent-cmd CMD] [--agent-env NAME]` into an
//! adapter, once: the names come from `handoff_core::registry`, and no
//! code after this module asks which adapter it holds.

use std::sync::Arc;

use handoff_harness::{Adapter, AdapterConfig, DynHarness};

use crate::args::AgentCmdArgs;

/// The adapter `name` denotes.
pub fn adapter(name: &str) -> anyhow::Result<Arc<dyn Adapter>> {
    Ok(handoff_core::registry().get(name)?)
}

fn config(command: &AgentCmdArgs) -> AdapterConfig {
    let mut config = AdapterConfig::new().with_agent_env(command.agent_env.iter().cloned());
    if let Some(line) = &command.agent_cmd {
        config = config.with_agent_cmd(line.clone());
    }
    config
}

/// A harness error as the command line says it: a harness that needs an
/// agent command names the flag that gives one.
fn flagged(error: handoff_harness::Error) -> anyhow::Error {
    match error {
        handoff_harness::Error::NeedsAgentCommand { harness } => {
            anyhow::anyhow!("--harness {harness} needs --agent-cmd CMD")
        }
        other => other.into(),
    }
}

/// The harness that runs `adapter`'s turns here (the command harness runs
/// `--agent-cmd`, which gets the `--agent-env` variables).
pub fn harness_of(
    adapter: &dyn Adapter,
    command: &AgentCmdArgs,
) -> anyhow::Result<Arc<DynHarness>> {
    adapter.harness(&config(command)).map_err(flagged)
}

/// The harness a session of `adapter` is queued for: [`harness_of`],
/// except that a harness the worker configures (`command`) needs no
/// `--agent-cmd` to be queued; what it supports is checked all the same.
pub fn queued_of(adapter: &dyn Adapter, command: &AgentCmdArgs) -> anyhow::Result<Arc<DynHarness>> {
    adapter.for_queueing(&config(command)).map_err(flagged)
}

/// [`harness_of`] the adapter `name` denotes.
pub fn resolve(name: &str, command: &AgentCmdArgs) -> anyhow::Result<Arc<DynHarness>> {
    harness_of(&*adapter(name)?, command)
}

/// [`queued_of`] the adapter `name` denotes.
pub fn for_queueing(name: &str, command: &AgentCmdArgs) -> anyhow::Result<Arc<DynHarness>> {
    queued_of(&*adapter(name)?, command)
}
