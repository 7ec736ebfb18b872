//! Snapshot a temporary repository with real uncommitted changes, apply the
//! snapshot to a fresh clone (with one deliberately conflicting local edit),
//! and print what carried over.
//!
//! Run with `cargo run --example snapshot_apply`. Needs `git` on `PATH`; uses
//! a throw-away filesystem store in a temporary directory.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::GitRepo;
use handoff_store::FsStore;
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The "local" repository: a committed base, then uncommitted work of
    // every kind.
    let local = GitRepo::init();
    local
        .write("README.md", "# demo\n\nSome text.\n")
        .write("src/lib.rs", "pub fn answer() -> u32 {\n    41\n}\n")
        .write("old.txt", "to be renamed\n")
        .write("gone.txt", "to be deleted\n")
        .write(".gitignore", "target/\n");
    local.commit_all("base");
    let cloud = GitRepo::clone_from(&local);

    local.write("src/lib.rs", "pub fn answer() -> u32 {\n    42\n}\n");
    local.write("README.md", "# demo\n\nSome text, edited locally.\n");
    local.git(&["mv", "old.txt", "renamed.txt"]);
    local.remove("gone.txt");
    local.write("notes/plan.md", "1. snapshot\n2. apply\n");
    local
        .write("run.sh", "#!/bin/sh\necho run\n")
        .chmod("run.sh", true);
    local.write("target/build.log", "ignored, never carried\n");

    // The receiving side edited the README's same line meanwhile.
    cloud.write("README.md", "# demo\n\nSome text, edited in the cloud.\n");

    let store_dir = tempfile::tempdir()?;
    let store = FsStore::new(store_dir.path());
    let snap = snapshot(local.path(), &store, &SnapshotOptions::default()).await?;
    println!("snapshot {} ({} new bytes stored)", snap.id, snap.new_bytes);
    for entry in &snap.manifest.entries {
        let from = entry
            .from
            .as_deref()
            .map(|f| format!(" (from {f})"))
            .unwrap_or_default();
        println!(
            "  {:<12} {}{from}",
            format!("{:?}", entry.status).to_lowercase(),
            entry.path
        );
    }

    let report = apply(cloud.path(), &store, &snap.id, &ApplyOptions::default()).await?;
    println!("\napplied to a fresh clone:");
    println!("  applied:         {}", report.applied.join(", "));
    println!("  already applied: {}", report.already_applied.join(", "));
    println!("  merged:          {}", report.merged.join(", "));
    for failure in &report.failed {
        println!("  FAILED {}: {}", failure.path, failure.reason);
    }
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
    println!(
        "\ngit status in the clone:\n{}",
        cloud.git(&["status", "--short"])
    );
    Ok(())
}
