//! Repository states real checkouts are in, each found wrong by the
//! differential test (`tests/oracle.rs`) and kept here as a focused
//! regression test: what handoff does with them, compared with what git
//! does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::GitRepo;
use handoff_store::MemoryStore;
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};

/// An origin with files inside and outside `dir/`, and a clone of it.
fn origin_and_clone() -> (GitRepo, GitRepo) {
    let origin = GitRepo::init();
    origin
        .write("top.txt", "top\n")
        .write("dir/in.txt", "in\n")
        .write("out/away.txt", "away\n")
        .write("out/deeper/more.txt", "more\n");
    origin.commit_all("base");
    let source = GitRepo::clone_from(&origin);
    (origin, source)
}

#[tokio::test]
async fn a_sparse_index_is_expanded_and_what_it_leaves_out_is_unchanged() {
    let (origin, source) = origin_and_clone();
    source.git(&["sparse-checkout", "set", "--cone", "--sparse-index", "dir"]);
    assert!(!source.path().join("out").exists());
    source.write("dir/in.txt", "in, edited\n");
    source.write("dir/new.txt", "new\n");

    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .expect("a sparse index is read");
    let paths: Vec<&str> = snap
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    // What the sparse checkout leaves out is not deleted.
    assert_eq!(paths, ["dir/in.txt", "dir/new.txt"]);
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);

    let target = GitRepo::clone_from(&origin);
    let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, ["dir/in.txt", "dir/new.txt"]);
    assert_eq!(target.read("out/deeper/more.txt"), "more\n");
    assert_eq!(target.status(), [" M dir/in.txt", "?? dir/new.txt"]);
}

/// A local commit adding a file whose name is not UTF-8, then an ordinary
/// file: the carried commit cannot be checked out by a snapshot (no entry
/// can name the file), so HEAD stays where it was and the file is named —
/// it used to be dropped while HEAD moved onto the commit.
#[tokio::test]
async fn a_carried_commit_with_a_non_utf8_name_is_named_not_dropped() {
    use std::os::unix::ffi::OsStrExt as _;

    let (origin, source) = origin_and_clone();
    let name = std::ffi::OsStr::from_bytes(b"latin1-\xe9.txt");
    std::fs::write(source.path().join(name), b"odd\n").unwrap();
    source.write("plain.txt", "plain\n");
    source.commit_all("local work");

    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(snap.manifest.history.is_some(), "the local commit travels");

    let target = GitRepo::clone_from(&origin);
    let before = target.head();
    let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        target.head(),
        before,
        "HEAD is not moved past a dropped file"
    );
    assert_eq!(report.missing_commits.len(), 1, "{report:?}");
    let failed: Vec<(&str, &str)> = report
        .failed
        .iter()
        .map(|f| (f.path.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(
        failed,
        [(
            "latin1-\u{fffd}.txt",
            "in the way of the carried commits (HEAD was not moved to \
             {base}): the carried commits change it, and its name is not valid UTF-8"
                .replace("{base}", &source.head())
                .as_str()
        )]
    );
    assert!(
        !target.path().join("plain.txt").exists(),
        "nothing half-moved"
    );
}

/// `git mv` keeps an entry's skip-worktree flag: git commits the index's
/// content at the new path, not the file's (found by the oracle).
#[tokio::test]
async fn a_renamed_skip_worktree_entry_carries_what_git_would_commit() {
    let (origin, source) = origin_and_clone();
    source.git(&["update-index", "--skip-worktree", "top.txt"]);
    source.write("top.txt", "ignored by git\n");
    source.git(&["mv", "top.txt", "TOP.txt"]);

    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let target = GitRepo::clone_from(&origin);
    apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(target.read("TOP.txt"), "top\n");
    assert!(!target.path().join("top.txt").exists());
}

/// In a sparse checkout git treats a file written outside the patterns as
/// an ordinary file again (it clears skip-worktree): its change travels
/// (found by the oracle; it used to be left out).
#[tokio::test]
async fn a_file_written_outside_a_sparse_checkout_travels_as_git_sees_it() {
    for sparse_index in [false, true] {
        let (origin, source) = origin_and_clone();
        let mut args = vec!["sparse-checkout", "set", "--cone"];
        if sparse_index {
            args.push("--sparse-index");
        }
        args.push("dir");
        source.git(&args);
        source.write("out/away.txt", "written anyway\n");

        let store = MemoryStore::new();
        let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
            .await
            .unwrap();
        let paths: Vec<&str> = snap
            .manifest
            .entries
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(paths, ["out/away.txt"], "sparse index: {sparse_index}");
        let target = GitRepo::clone_from(&origin);
        apply(target.path(), &store, &snap.id, &ApplyOptions::default())
            .await
            .unwrap();
        assert_eq!(target.read("out/away.txt"), "written anyway\n");
        assert_eq!(target.read("out/deeper/more.txt"), "more\n");
    }
}
