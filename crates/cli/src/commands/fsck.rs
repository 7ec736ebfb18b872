//! `handoff fsck`.

use std::io::Write as _;

use crate::args::FsckArgs;

/// `handoff fsck`.
pub async fn fsck_cmd(store_flag: Option<&str>, args: FsckArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store_flag)?;
    let report = handoff_engine::fsck::fsck(&*store, args.repair).await?;
    if args.json {
        super::print_json(&report)?;
    } else {
        let mut out = super::stdout();
        writeln!(
            out,
            "checked {} blob(s), {} run record(s), {} snapshot(s) and {} conversation(s): {} problem(s)",
            report.blobs,
            report.runs,
            report.snapshots,
            report.conversations,
            report.problems.len()
        )?;
        for problem in &report.problems {
            writeln!(out, "  {}: {}", problem.object, problem.problem)?;
        }
        for repaired in &report.repaired {
            writeln!(out, "  repaired: {repaired}")?;
        }
    }
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}
