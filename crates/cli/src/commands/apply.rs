//! `handoff apply`: apply a snapshot best-effort and report per entry; a
//! folder's snapshot, per repository.

use std::io::Write as _;

use handoff_engine::folder::{Snapshots, apply_folder, load};
use handoff_workspace::{ApplyOptions, ApplyReport, apply_manifest};
use serde::Serialize;

use crate::args::ApplyArgs;

/// One repository of a folder's apply, in `--json`.
#[derive(Serialize)]
struct RepoOutput<'a> {
    repo: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a ApplyReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct FolderOutput<'a> {
    repositories: Vec<RepoOutput<'a>>,
}

/// Runs the command.
pub async fn run(store: Option<&str>, args: ApplyArgs) -> anyhow::Result<u8> {
    let id = super::parse_id(&args.snapshot)?;
    let store = super::open_store(store)?;
    let mut limits = handoff_workspace::Limits::default();
    if let Some(n) = args.max_file_bytes {
        limits.max_file_bytes = n;
    }
    let options = ApplyOptions {
        dry_run: args.dry_run,
        limits,
        progress: crate::progress::for_output(args.json),
        clone_repository: handoff_engine::environment::GitClone::shared(),
        ..ApplyOptions::default()
    };
    let folder = match load(&*store, &id, &options.limits).await? {
        Snapshots::One(manifest) => {
            let report = apply_manifest(&args.repo, &*store, &manifest, &options).await?;
            if args.json {
                super::print_json(&report)?;
            } else {
                print_human(&report, args.dry_run)?;
            }
            return Ok(exit_code(report.is_complete()));
        }
        Snapshots::Folder(folder) => folder,
    };
    let applied = apply_folder(&args.repo, &*store, &folder, &options).await;
    let complete = applied
        .iter()
        .all(|a| a.outcome.as_ref().is_ok_and(ApplyReport::is_complete));
    if args.json {
        super::print_json(&FolderOutput {
            repositories: applied
                .iter()
                .map(|a| RepoOutput {
                    repo: &a.repo,
                    report: a.outcome.as_ref().ok(),
                    error: a.outcome.as_ref().err().map(ToString::to_string),
                })
                .collect(),
        })?;
    } else {
        for a in &applied {
            writeln!(super::stdout(), "repository {}:", a.repo)?;
            match &a.outcome {
                Ok(report) => print_human(report, args.dry_run)?,
                Err(e) => writeln!(super::stdout(), "  FAILED  {e}")?,
            }
        }
    }
    Ok(exit_code(complete))
}

fn exit_code(complete: bool) -> u8 {
    if complete {
        super::EXIT_OK
    } else {
        super::EXIT_PARTIAL
    }
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
