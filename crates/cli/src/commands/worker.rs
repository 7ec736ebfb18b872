//! `handoff worker`.

use std::io::Write as _;
use std::time::Duration;

use handoff_engine::{
    GitOptions, HistoryLimits, LocalEnvironment, RunRecord, RunStore, WorkEvent, WorkerOptions,
    work_pass,
};
use handoff_store::BlobStore;

use crate::args::WorkerArgs;

use super::cloud::{discard_environment, envs_dir, isolation_for_worker, parse_permissions};

/// `handoff worker`.
pub async fn worker(store_flag: Option<&str>, args: WorkerArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let envs = envs_dir(args.envs.as_deref());
    let max_history = HistoryLimits {
        max_commits: args.history_ceiling_commits,
        max_bytes: args.history_ceiling_bytes,
    };
    let options = WorkerOptions {
        lease: Duration::from_secs(args.lease.max(1)),
        isolation: isolation_for_worker(store_flag, &envs, args.no_sandbox).await?,
        max_history,
        live: handoff_engine::LiveOptions::default()
            .with_checkpoint_every(Duration::from_secs(args.checkpoint_every.max(1))),
        ..WorkerOptions::default()
    };
    let env = LocalEnvironment::new(&envs).with_git(GitOptions {
        max_history,
        ..GitOptions::default()
    });
    let command = &args.command;
    let most = parse_permissions(&args.permissions)?;
    let harness_for = |record: &RunRecord| {
        let asked = record
            .last_session()
            .map(|s| s.agent.permissions)
            .unwrap_or_default();
        if asked > most {
            return Err(format!(
                "it asks for {asked} permissions and this worker allows at most {most} (--permissions)"
            ));
        }
        crate::harness::resolve(&record.harness, command).map_err(|e| format!("{e:#}"))
    };
    let mut on_event = |event: WorkEvent| {
        let mut err = std::io::stderr().lock();
        // Progress lines are best effort: a closed stderr must not stop
        // the worker.
        let _ = match event {
            WorkEvent::Ran(done) => {
                discard_environment(&done.environment);
                writeln!(
                    err,
                    "handoff: run {}: session {:?}",
                    done.record.id, done.record.state
                )
            }
            WorkEvent::Failed { run, error } => {
                let error = anyhow::Error::new(error);
                writeln!(err, "handoff: run {run}: session failed: {error:#}")
            }
            WorkEvent::NoHarness { run, reason } => {
                writeln!(err, "handoff: run {run}: not run here: {reason}")
            }
            WorkEvent::Reaped(run) => writeln!(
                err,
                "handoff: run {run}: its worker stopped; session marked failed"
            ),
            _ => Ok(()),
        };
    };
    // Runs queued by a version of handoff without the queue are found once.
    let requeued = RunStore::new(&*store).ensure_queue().await?;
    if requeued > 0 {
        writeln!(
            std::io::stderr().lock(),
            "handoff: found {requeued} queued or running session(s) the queue did not list"
        )?;
    }
    // What a killed writer left in the store goes first (old enough that no
    // writer still at work can own it).
    for removed in store
        .remove_stale_temporaries(handoff_engine::fsck::STALE_AFTER)
        .await?
    {
        writeln!(
            std::io::stderr().lock(),
            "handoff: removed stale temporary file {removed}"
        )?;
    }
    loop {
        let ran = work_pass(&*store, &harness_for, &env, &options, &mut on_event).await?;
        if args.once {
            return Ok(0);
        }
        if ran == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
