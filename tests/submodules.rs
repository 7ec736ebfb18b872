//! Submodules: a snapshot of the outer repository records a submodule
//! whose `HEAD` moved as a changed gitlink, and names every submodule that
//! holds work of its own (a new commit, an edit, an untracked file) in
//! `skipped`, with what it holds — never drops it silently. A clean
//! submodule is neither.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::GitRepo;
use handoff_store::MemoryStore;
use handoff_workspace::{SnapshotOptions, Status, snapshot};

/// A repository with the submodule `sub` (from a repository of its own),
/// committed.
fn with_submodule() -> (GitRepo, GitRepo) {
    let inner = GitRepo::init();
    inner.write("lib.txt", "lib\n");
    inner.commit_all("inner base");
    let outer = GitRepo::init();
    outer.write("a.txt", "a\n");
    outer.commit_all("outer base");
    outer.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        inner.path().to_str().unwrap(),
        "sub",
    ]);
    outer.commit_all("add the submodule");
    (outer, inner)
}

#[tokio::test]
async fn a_submodules_own_work_is_named_and_its_moved_head_recorded() {
    let (outer, _inner) = with_submodule();
    let store = MemoryStore::new();
    let clean = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(clean.manifest.entries.is_empty(), "{:?}", clean.manifest);
    assert!(clean.skipped.is_empty(), "{:?}", clean.skipped);

    // Work inside the submodule: a commit, an edit, an untracked file.
    let sub = outer.path().join("sub");
    let git = |args: &[&str]| {
        let ok = handoff_dev::git_command(&sub)
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    std::fs::write(sub.join("lib.txt"), "lib, changed and committed\n").unwrap();
    git(&["commit", "-qam", "inner work"]);
    let moved = String::from_utf8(
        handoff_dev::git_command(&sub)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(sub.join("lib.txt"), "lib, edited again\n").unwrap();
    std::fs::write(sub.join("new.txt"), "untracked\n").unwrap();
    outer.write("a.txt", "a, edited\n");

    let snap = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let entries: Vec<(&str, Status)> = snap
        .manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.status))
        .collect();
    assert_eq!(
        entries,
        [
            ("a.txt", Status::Modified),
            ("sub", Status::NestedRepository)
        ]
    );
    let gitlink = snap.manifest.entries[1].result.as_ref().unwrap();
    assert_eq!(gitlink.oid.to_string(), moved.trim());
    assert_eq!(snap.skipped.len(), 1, "{:?}", snap.skipped);
    let named = &snap.skipped[0];
    assert_eq!(named.path, "sub");
    for needle in [
        "submodule with work of its own, not carried",
        "HEAD moved from",
        "2 uncommitted or untracked file(s)",
    ] {
        assert!(named.reason.contains(needle), "{needle:?} in {named:?}");
    }
}
