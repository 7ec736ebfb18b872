//! `handoff steer`.

use std::io::Write;

use handoff_engine::live::{Steered, this_machine};
use handoff_engine::{FollowUpOptions, RunStore};
use serde_json::json;

use crate::args::SteerArgs;

/// `handoff steer RUN --prompt TEXT`.
pub async fn run(store_flag: Option<&str>, args: SteerArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let run = args.run;
    let record = RunStore::new(&*store).get(run).await?.record;
    // Used only when the run is over and the message follows it up.
    let harness = crate::harness::for_queueing(&record.harness, &args.command)?;
    let options = FollowUpOptions {
        agent: record.last_session().map(|s| s.agent.clone()),
        allow_secrets: args.allow_secrets,
    };
    let steered = handoff_engine::steer(
        &*store,
        run,
        &args.prompt,
        args.interrupt,
        &this_machine(),
        &*harness,
        &options,
    )
    .await
    .map_err(|e| {
        super::stopped_by_secrets(
            "steer",
            "take them out of the message or pass --allow-secrets",
            e.into(),
        )
    })?;
    let (json, said) = match &steered {
        Steered::Queued { session, position } => (
            json!({"run": run.to_string(), "session": session.to_string(), "queued": position}),
            format!(
                "sent to session {session} (message {} of its inbox){}",
                position + 1,
                if args.interrupt {
                    "; its current turn is being interrupted"
                } else {
                    "; the agent gets it when its current turn ends"
                }
            ),
        ),
        Steered::FollowedUp(session) => (
            json!({"run": run.to_string(), "session": session.id.to_string(), "followed_up": true}),
            format!(
                "run {run} was over: follow-up session {} queued",
                session.id
            ),
        ),
        other => (json!({"run": run.to_string()}), format!("{other:?}")),
    };
    if args.json {
        super::print_json(&json)?;
    } else {
        writeln!(super::stdout(), "{said}")?;
    }
    Ok(0)
}
