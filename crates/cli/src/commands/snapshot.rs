//! `handoff snapshot`: capture a working tree, or a folder of several,
//! into the store.

use std::io::Write as _;

use handoff_engine::folder::snapshot_folder;
use handoff_workspace::{Snapshot, SnapshotOptions, Status};
use serde::Serialize;

use crate::args::SnapshotArgs;

#[derive(Serialize)]
struct File<'a> {
    path: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
}

#[derive(Serialize)]
struct Output<'a> {
    id: String,
    base: &'a handoff_workspace::Base,
    files: Vec<File<'a>>,
    bytes: u64,
    new_bytes: u64,
    skipped: &'a [handoff_workspace::Skipped],
    excluded: &'a [String],
    history: Option<History>,
}

/// A folder's snapshot: its id, and each repository's as one
/// repository's snapshot prints it.
#[derive(Serialize)]
struct FolderOutput<'a> {
    id: String,
    new_bytes: u64,
    repositories: Vec<RepoOutput<'a>>,
}

#[derive(Serialize)]
struct RepoOutput<'a> {
    repo: &'a str,
    #[serde(flatten)]
    snapshot: Output<'a>,
}

/// The commits that travel with the snapshot.
#[derive(Serialize)]
struct History {
    commits: usize,
    objects: usize,
    bytes: u64,
    boundary: Vec<String>,
}

fn output(snap: &Snapshot) -> Output<'_> {
    let files = snap
        .manifest
        .entries
        .iter()
        .map(|e| File {
            path: &e.path,
            status: e.status,
            from: e.from.as_deref(),
        })
        .collect();
    Output {
        id: snap.id.to_string(),
        base: &snap.manifest.base,
        files,
        bytes: snap.manifest.result_bytes(),
        new_bytes: snap.new_bytes,
        skipped: &snap.skipped,
        excluded: &snap.excluded,
        history: snap.manifest.history.as_ref().map(|h| History {
            commits: h.commits(),
            objects: h.objects.len(),
            bytes: h.bytes(),
            boundary: h.boundary.iter().map(ToString::to_string).collect(),
        }),
    }
}

/// Runs the command.
pub async fn run(store: Option<&str>, args: SnapshotArgs) -> anyhow::Result<u8> {
    let store = super::open_store(store)?;
    let mut limits = args.history.limits();
    if let Some(n) = args.max_file_bytes {
        limits.max_file_bytes = n;
    }
    let options = SnapshotOptions {
        exclude: args.exclude,
        limits,
        progress: crate::progress::for_output(args.json),
        // A snapshot leaves this machine (the store may be anywhere).
        scan_secrets: !args.allow_secrets,
        ..SnapshotOptions::default()
    };
    let folder = snapshot_folder(&args.repo, &*store, &options)
        .await
        .map_err(|e| {
            super::stopped_by_secrets(
                "snapshot",
                "exclude them (--exclude GLOB or .handoffignore) or pass --allow-secrets",
                e.into(),
            )
        })?;
    if args.json {
        if folder.is_single() {
            super::print_json(&output(&folder.repositories[0].1))?;
        } else {
            let new_bytes = folder.new_bytes
                + folder
                    .repositories
                    .iter()
                    .map(|(_, s)| s.new_bytes)
                    .sum::<u64>();
            super::print_json(&FolderOutput {
                id: folder.id.to_string(),
                new_bytes,
                repositories: folder
                    .repositories
                    .iter()
                    .map(|(repo, snap)| RepoOutput {
                        repo,
                        snapshot: output(snap),
                    })
                    .collect(),
            })?;
        }
    } else {
        let mut err = std::io::stderr().lock();
        let single = folder.is_single();
        for (repo, snap) in &folder.repositories {
            let prefix = if single {
                String::new()
            } else {
                format!("{repo}: ")
            };
            for skipped in &snap.skipped {
                writeln!(
                    err,
                    "handoff: warning: not captured: {prefix}{}: {}",
                    skipped.path, skipped.reason
                )?;
            }
            if !single {
                writeln!(
                    err,
                    "handoff: repository {repo}: {} ({} files)",
                    snap.id,
                    snap.manifest.entries.len()
                )?;
            }
        }
        writeln!(super::stdout(), "{}", folder.id)?;
    }
    Ok(super::EXIT_OK)
}
