//! `handoff cancel`.

use std::io::Write;
use std::time::Duration;

use handoff_engine::live::{CancelOutcome, this_machine, wait_until_over};
use serde_json::json;

use crate::args::CancelArgs;

/// How long `handoff cancel` waits for the worker to record the session
/// cancelled (it notices within seconds; stopping the agent takes its
/// grace period, then the final checkpoint).
const WAIT: Duration = Duration::from_secs(120);

/// `handoff cancel RUN`.
pub async fn run(store_flag: Option<&str>, args: CancelArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let run = args.run;
    let outcome = handoff_engine::cancel(&*store, run, &this_machine()).await?;
    let (said, state) = match &outcome {
        CancelOutcome::Dequeued { session } => (
            format!("session {session} taken out of the queue; run {run} cancelled"),
            Some(handoff_engine::RunState::Cancelled),
        ),
        CancelOutcome::Asked { session } if args.no_wait => (
            format!("session {session} asked to stop; its worker records it cancelled"),
            None,
        ),
        CancelOutcome::Asked { session } => {
            let state = wait_until_over(&*store, run, *session, WAIT).await?;
            (format!("session {session} stopped: {state}"), Some(state))
        }
        CancelOutcome::AlreadyOver { state } => (
            format!("run {run} was already over ({state}); nothing to cancel"),
            Some(*state),
        ),
        other => (format!("{other:?}"), None),
    };
    if args.json {
        super::print_json(&json!({
            "run": run.to_string(),
            "outcome": match outcome {
                CancelOutcome::Dequeued { .. } => "dequeued",
                CancelOutcome::Asked { .. } => "asked",
                CancelOutcome::AlreadyOver { .. } => "already_over",
                _ => "other",
            },
            "state": state.map(|s| s.name()),
        }))?;
    } else {
        writeln!(super::stdout(), "{said}")?;
    }
    Ok(0)
}
