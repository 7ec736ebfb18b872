//! `handoff follow-up`, and the follow-up the Runs page queues.

use std::io::Write as _;

use handoff_engine::{FollowUpOptions, Isolation, RunId, RunStore, Session, follow_up_with};
use handoff_store::Store;
use serde_json::json;

use crate::args::{AgentArgs, AgentCmdArgs, FollowUpArgs};

use super::cloud::{
    agent_options, envs_dir, exit_for, isolation_here, parse_run, summary, wait_if_asked,
};

/// `handoff follow-up`.
pub async fn follow_up_cmd(store_flag: Option<&str>, args: FollowUpArgs) -> anyhow::Result<u8> {
    let run = parse_run(&args.run)?;
    let store = super::open_store(store_flag)?;
    let session = queue_follow_up(
        &*store,
        run,
        args.prompt.clone(),
        &args.agent,
        &args.command,
        args.allow_secrets,
    )
    .await
    .map_err(|e| {
        super::stopped_by_secrets(
            "follow-up",
            "take them out of the prompt or pass --allow-secrets",
            e,
        )
    })?;
    if !args.json {
        writeln!(super::stdout(), "{}", session.id)?;
    }
    let isolation = if args.wait {
        isolation_here(store_flag, &envs_dir(None)).await?
    } else {
        Isolation::default()
    };
    let after = wait_if_asked(&*store, run, args.wait, &args.command, &isolation).await?;
    if args.json {
        super::print_json(
            &json!({"run": run.to_string(), "session": session.id.to_string(), "record": summary(&after)}),
        )?;
    }
    Ok(exit_for(&after))
}

/// Queues a follow-up session on `run`: what `handoff follow-up` does
/// without `--wait`, and what the Runs page's form does. The agent options
/// not given are the previous session's. A prompt with likely secrets is
/// refused unless `allow_secrets`.
pub async fn queue_follow_up(
    store: &dyn Store,
    run: RunId,
    prompt: String,
    agent: &AgentArgs,
    command: &AgentCmdArgs,
    allow_secrets: bool,
) -> anyhow::Result<Session> {
    let record = RunStore::new(store).get(run).await?.record;
    let harness = crate::harness::for_queueing(&record.harness, command)?;
    let previous = record
        .last_session()
        .map(|s| s.agent.clone())
        .unwrap_or_default();
    let agent = agent_options(agent, previous)?;
    let options = FollowUpOptions {
        agent: Some(agent),
        allow_secrets,
    };
    Ok(follow_up_with(store, run, &*harness, prompt, &options).await?)
}
