//! `handoff apply`: apply a snapshot best-effort and report per entry.

use std::io::Write as _;

use handoff_workspace::{ApplyOptions, ApplyReport, apply};

use crate::args::ApplyArgs;

/// Runs the command.
pub async fn run(store: Option<&str>, args: ApplyArgs) -> anyhow::Result<u8> {
    let id = super::parse_id(&args.snapshot)?;
    let store = super::open_store(store)?;
    let options = ApplyOptions {
        dry_run: args.dry_run,
        progress: crate::progress::for_output(args.json),
        ..ApplyOptions::default()
    };
    let report = apply(&args.repo, &*store, &id, &options).await?;
    if args.json {
        super::print_json(&report)?;
    } else {
        print_human(&report, args.dry_run)?;
    }
    Ok(if report.is_complete() {
        super::EXIT_OK
    } else {
        super::EXIT_PARTIAL
    })
}

fn print_human(report: &ApplyReport, dry_run: bool) -> std::io::Result<()> {
    let mut out = super::stdout();
    let verb = if dry_run { "would apply" } else { "applied" };
    writeln!(
        out,
        "{verb} {}, already applied {}, merged {}, skipped {}, failed {}",
        report.applied.len(),
        report.already_applied.len(),
        report.merged.len(),
        report.skipped.len(),
        report.failed.len()
    )?;
    if !report.commits.is_empty() {
        let verb = if dry_run { "would move" } else { "moved" };
        writeln!(
            out,
            "{verb} HEAD onto {} carried commit(s):",
            report.commits.len()
        )?;
        for commit in &report.commits {
            writeln!(out, "  commit  {commit}")?;
        }
    }
    for path in &report.merged {
        writeln!(out, "  merged  {path}")?;
    }
    for skipped in &report.skipped {
        writeln!(out, "  skipped {}: {}", skipped.path, skipped.reason)?;
    }
    for failure in &report.failed {
        writeln!(out, "  FAILED  {}: {}", failure.path, failure.reason)?;
    }
    for commit in &report.missing_commits {
        writeln!(
            out,
            "  MISSING commit {commit}: carried by the snapshot, not in this checkout's history (HEAD has diverged from the snapshot's base, or is in the way); its changes are not here"
        )?;
    }
    for warning in &report.warnings {
        writeln!(out, "  warning: {warning}")?;
    }
    Ok(())
}
