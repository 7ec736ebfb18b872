//! A snapshot recorded as a commit on a branch: the branch holds exactly the
//! source's working-tree state on top of the base, and the local working
//! tree, index and HEAD are untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::{GitRepo, assert_same_tree};
use handoff_store::MemoryStore;
use handoff_workspace::{BranchOptions, Error, SnapshotOptions, snapshot, write_branch};

fn message(text: &str) -> BranchOptions {
    BranchOptions {
        message: text.to_owned(),
        ..BranchOptions::default()
    }
}

#[tokio::test]
async fn branch_holds_the_snapshot_and_nothing_local_changes() {
    let source = GitRepo::init();
    source
        .write("keep.txt", "keep\n")
        .write("edit.txt", "old\n")
        .write("gone.txt", "bye\n")
        .write("dir/deep.txt", "deep\n");
    source.commit_all("base");
    let local = GitRepo::clone_from(&source);
    local.write("local-only.txt", "my uncommitted work\n");
    local.write("edit.txt", "local edit\n");

    source.write("edit.txt", "new\n").remove("gone.txt");
    source.write("added/file.rs", "fn main() {}\n");
    source.write("run.sh", "#!/bin/sh\n").chmod("run.sh", true);
    source.symlink("link", "keep.txt");
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();

    let before = (
        local.tree_state(),
        local.git(&["status", "--porcelain=v1"]),
        local.head(),
    );
    let index_before = std::fs::read(local.path().join(".git/index")).unwrap();
    let made = write_branch(
        local.path(),
        &store,
        &snap.manifest,
        "handoff/run-1",
        &message("handoff: run 1"),
    )
    .await
    .unwrap();
    assert_eq!(made.reference, "refs/heads/handoff/run-1");
    assert!(!made.existed && made.skipped.is_empty());
    assert_eq!(
        (
            local.tree_state(),
            local.git(&["status", "--porcelain=v1"]),
            local.head()
        ),
        before
    );
    assert_eq!(
        std::fs::read(local.path().join(".git/index")).unwrap(),
        index_before
    );
    assert_eq!(
        local.git(&["rev-parse", "handoff/run-1^"]).trim(),
        source.head()
    );

    // Checking the branch out elsewhere gives exactly the source's tree.
    let check = GitRepo::clone_from(&local);
    check.git(&["fetch", "-q", "origin", "handoff/run-1"]);
    check.git(&["checkout", "-q", "FETCH_HEAD"]);
    assert_same_tree(&check.tree_state(), &source.tree_state());

    // Again with the same state: nothing new; with other content: refused.
    let again = write_branch(
        local.path(),
        &store,
        &snap.manifest,
        "handoff/run-1",
        &message("again"),
    )
    .await
    .unwrap();
    assert!(again.existed);
    assert_eq!(again.commit, made.commit);
    source.write("edit.txt", "newer\n");
    let other = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let err = write_branch(
        local.path(),
        &store,
        &other.manifest,
        "handoff/run-1",
        &message("x"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::BranchExists { .. }), "{err}");
}

#[tokio::test]
async fn missing_base_commit_is_a_clear_error() {
    let source = GitRepo::init();
    source.write("a.txt", "a\n");
    source.commit_all("base");
    source.write("a.txt", "b\n");
    let store = MemoryStore::new();
    // Without the history (which would carry the base along).
    let options = SnapshotOptions {
        carry_history: false,
        ..SnapshotOptions::default()
    };
    let snap = snapshot(source.path(), &store, &options).await.unwrap();
    let unrelated = GitRepo::init();
    unrelated.write("x", "x\n");
    unrelated.commit_all("other history");
    let err = write_branch(
        unrelated.path(),
        &store,
        &snap.manifest,
        "handoff/r",
        &message("m"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::BaseMissing { .. }), "{err}");
    assert!(err.to_string().contains(&source.head()), "{err}");
    let bad = write_branch(
        source.path(),
        &store,
        &snap.manifest,
        "bad..name",
        &message("m"),
    )
    .await
    .unwrap_err();
    assert!(matches!(bad, Error::InvalidBranch { .. }), "{bad}");
}
