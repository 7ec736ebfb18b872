//! `handoff diff`: a snapshot as a patch `git apply` accepts.

use std::io::Write as _;

use handoff_workspace::diff::export_diff;
use handoff_workspace::load_manifest;

use crate::args::DiffArgs;

/// Runs the command.
pub async fn run(store: Option<&str>, args: DiffArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store)?;
    // A run id means everything its latest good end changed since the run's
    // base (the agent's commits and what it left uncommitted), one diff per
    // repository.
    let snapshots: Vec<(String, handoff_store::Digest)> = if args.snapshot.starts_with("sha256:") {
        vec![(".".to_owned(), super::parse_id(&args.snapshot)?)]
    } else {
        let run: handoff_engine::RunId = args.snapshot.parse().map_err(|_| {
            anyhow::anyhow!(
                "{:?} is neither a snapshot id (sha256:…) nor a run id",
                args.snapshot
            )
        })?;
        let record = handoff_engine::RunStore::new(&*store)
            .get(run)
            .await?
            .record;
        let end = record
            .last_good_end()
            .ok_or_else(|| anyhow::anyhow!("run {run} has no ended session yet"))?;
        end.iter().map(|s| (s.repo.clone(), s.review())).collect()
    };
    for (repo, id) in snapshots {
        let manifest = load_manifest(&*store, &id).await?;
        if repo != "." {
            writeln!(
                std::io::stderr().lock(),
                "handoff: diff of repository {repo}"
            )?;
        }
        // Streamed: the patch is never held whole.
        let mut out = super::stdout_buffered();
        let outcome = export_diff(&manifest, &*store, &mut out).await?;
        out.flush()?;
        let mut err = std::io::stderr().lock();
        for left_out in &outcome.unrepresentable {
            writeln!(
                err,
                "handoff: not in the diff: {}: {}",
                left_out.path, left_out.reason
            )?;
        }
    }
    Ok(super::EXIT_OK)
}
