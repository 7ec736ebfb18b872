//! `handoff diff`: a snapshot as a patch `git apply` accepts.

use std::io::Write as _;

use handoff_workspace::diff::export_diff;
use handoff_workspace::load_manifest;

use crate::args::DiffArgs;

/// Runs the command.
pub async fn run(store: Option<&str>, args: DiffArgs) -> anyhow::Result<u8> {
    let id = super::parse_id(&args.snapshot)?;
    let store = super::open_store(store)?;
    let manifest = load_manifest(&*store, &id).await?;
    let mut patch = Vec::new();
    let outcome = export_diff(&manifest, &*store, &mut patch).await?;
    std::io::stdout().lock().write_all(&patch)?;
    let mut err = std::io::stderr().lock();
    for left_out in &outcome.unrepresentable {
        writeln!(
            err,
            "handoff: not in the diff: {}: {}",
            left_out.path, left_out.reason
        )?;
    }
    Ok(super::EXIT_OK)
}
