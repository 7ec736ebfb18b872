//! Submodules travel: a submodule's moved `HEAD`, the commits its remote
//! lacks, its uncommitted and untracked work are carried as a nested
//! snapshot, recursively, and applied to a checkout where it is not even
//! initialised (cloned from `.gitmodules`' URL, the recorded commit checked
//! out, then its own snapshot applied); what cannot travel is named, with
//! the reason, and the rest applies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use handoff_dev::GitRepo;
use handoff_engine::environment::GitClone;
use handoff_store::MemoryStore;
use handoff_workspace::{ApplyOptions, FailureKind, SnapshotOptions, Status, apply, snapshot};

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = handoff_dev::git_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git submodule add` of `inner` at `path` in `outer`, committed.
fn add_submodule(outer: &Path, inner: &Path, path: &str) {
    git_in(
        outer,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            inner.to_str().unwrap(),
            path,
        ],
    );
    git_in(
        outer,
        &["commit", "-qm", &format!("add the submodule {path}")],
    );
}

/// A repository with the submodule `sub` (from a repository of its own),
/// committed.
fn with_submodule() -> (GitRepo, GitRepo) {
    let inner = GitRepo::init();
    inner.write("lib.txt", "lib\n");
    inner.commit_all("inner base");
    let outer = GitRepo::init();
    outer.write("a.txt", "a\n");
    outer.commit_all("outer base");
    add_submodule(outer.path(), inner.path(), "sub");
    (outer, inner)
}

/// Work inside the submodule at `sub`: a commit its remote lacks, then an
/// edit and an untracked file on top.
fn work_in(sub: &Path) {
    std::fs::write(sub.join("lib.txt"), "lib, changed and committed\n").unwrap();
    git_in(sub, &["commit", "-qam", "inner work"]);
    std::fs::write(sub.join("lib.txt"), "lib, edited again\n").unwrap();
    std::fs::write(sub.join("new.txt"), "untracked\n").unwrap();
}

/// `git submodule update --init` in `dir`.
fn init_submodules(dir: &Path) {
    git_in(
        dir,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "-q",
            "--init",
        ],
    );
}

fn status(dir: &Path) -> String {
    git_in(dir, &["status", "--porcelain=v1", "--untracked-files=all"])
}

fn with_clone() -> ApplyOptions {
    ApplyOptions {
        clone_repository: GitClone::shared(),
        ..ApplyOptions::default()
    }
}

#[tokio::test]
async fn a_submodules_commit_edit_and_untracked_file_travel_to_a_clone_without_it() {
    let (outer, _inner) = with_submodule();
    let store = MemoryStore::new();
    let clean = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(clean.manifest.entries.is_empty(), "{:?}", clean.manifest);
    assert!(clean.manifest.submodules.is_empty());
    assert!(clean.skipped.is_empty(), "{:?}", clean.skipped);

    let sub = outer.path().join("sub");
    work_in(&sub);
    outer.write("a.txt", "a, edited\n");
    let snap = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    assert_eq!(snap.manifest.format, "handoff.snapshot/v3");
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
    let nested = &snap.manifest.submodules[0];
    assert_eq!(nested.path, "sub");
    let nested_entries: Vec<&str> = nested
        .snapshot
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(nested_entries, ["lib.txt", "new.txt"]);
    assert_eq!(nested.snapshot.history.as_ref().unwrap().commits(), 1);

    // A fresh clone of the superproject: the submodule is not initialised.
    let target = GitRepo::clone_from(&outer);
    assert!(!target.path().join("sub/.git").exists());
    let report = apply(target.path(), &store, &snap.id, &with_clone())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(report.skipped.is_empty(), "{report:?}");
    assert_eq!(
        report.applied,
        ["a.txt", "sub", "sub/lib.txt", "sub/new.txt"]
    );
    let there = target.path().join("sub");
    assert_eq!(
        git_in(&there, &["rev-parse", "HEAD"]),
        git_in(&sub, &["rev-parse", "HEAD"])
    );
    for file in ["lib.txt", "new.txt"] {
        assert_eq!(
            std::fs::read(there.join(file)).unwrap(),
            std::fs::read(sub.join(file)).unwrap()
        );
    }
    assert_eq!(status(&there), status(&sub));
    assert_eq!(status(target.path()), status(outer.path()));

    // Applying again changes nothing.
    let again = apply(target.path(), &store, &snap.id, &with_clone())
        .await
        .unwrap();
    assert!(
        again.applied.is_empty() && again.failed.is_empty(),
        "{again:?}"
    );
    assert_eq!(
        again.already_applied,
        ["a.txt", "sub", "sub/lib.txt", "sub/new.txt"]
    );
}

#[tokio::test]
async fn submodules_nested_two_levels_travel_recursively() {
    let deep = GitRepo::init();
    deep.write("deep.txt", "deep\n");
    deep.write("lib.txt", "lib\n");
    deep.commit_all("deep base");
    let middle = GitRepo::init();
    middle.write("middle.txt", "middle\n");
    middle.commit_all("middle base");
    add_submodule(middle.path(), deep.path(), "deep");
    let outer = GitRepo::init();
    outer.write("a.txt", "a\n");
    outer.commit_all("outer base");
    add_submodule(outer.path(), middle.path(), "sub");
    git_in(
        outer.path(),
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "-q",
            "--init",
            "--recursive",
        ],
    );

    let sub = outer.path().join("sub");
    let deepest = sub.join("deep");
    work_in(&deepest);
    std::fs::write(sub.join("middle.txt"), "middle, edited\n").unwrap();

    let store = MemoryStore::new();
    let snap = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    let level1 = &snap.manifest.submodules[0];
    assert_eq!(level1.path, "sub");
    assert_eq!(level1.snapshot.submodules[0].path, "deep");

    let target = GitRepo::clone_from(&outer);
    let report = apply(target.path(), &store, &snap.id, &with_clone())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        report.applied,
        // `sub`'s own HEAD did not move: only what it holds changed.
        [
            "sub/deep",
            "sub/deep/lib.txt",
            "sub/deep/new.txt",
            "sub/middle.txt"
        ]
    );
    let there = target.path().join("sub/deep");
    assert_eq!(
        git_in(&there, &["rev-parse", "HEAD"]),
        git_in(&deepest, &["rev-parse", "HEAD"])
    );
    for file in ["lib.txt", "new.txt", "deep.txt"] {
        assert_eq!(
            std::fs::read(there.join(file)).unwrap(),
            std::fs::read(deepest.join(file)).unwrap()
        );
    }
    assert_eq!(status(&there), status(&deepest));
    assert_eq!(status(&target.path().join("sub")), status(&sub));
    assert_eq!(status(target.path()), status(outer.path()));
}

#[tokio::test]
async fn a_submodule_not_initialised_where_the_snapshot_is_taken_is_named() {
    let (outer, _inner) = with_submodule();
    // A clone of the superproject, its submodule left uninitialised.
    let source = GitRepo::clone_from(&outer);
    source.write("a.txt", "a, edited\n");
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert_eq!(snap.manifest.entries.len(), 1);
    assert_eq!(snap.skipped.len(), 1, "{:?}", snap.skipped);
    assert_eq!(snap.skipped[0].path, "sub");
    assert!(
        snap.skipped[0]
            .reason
            .starts_with("submodule not initialised in this checkout"),
        "{:?}",
        snap.skipped
    );
}

#[tokio::test]
async fn an_unreachable_submodule_fails_by_name_and_the_rest_applies() {
    let (outer, inner) = with_submodule();
    work_in(&outer.path().join("sub"));
    outer.write("a.txt", "a, edited\n");
    let store = MemoryStore::new();
    let snap = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let target = GitRepo::clone_from(&outer);
    let url = inner.path().to_str().unwrap().to_owned();
    drop(inner);

    let report = apply(target.path(), &store, &snap.id, &with_clone())
        .await
        .unwrap();
    assert_eq!(report.applied, ["a.txt"]);
    let failed: Vec<(&str, FailureKind)> = report
        .failed
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    assert_eq!(failed, [("sub", FailureKind::Submodule)], "{report:?}");
    assert!(
        report.failed[0]
            .reason
            .contains(&format!("cloning it from {url} failed")),
        "{:?}",
        report.failed
    );
    // The gitlink is named too: the submodule's HEAD was not moved.
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].path, "sub");
    assert!(!report.is_complete());

    // Without a way to clone, the same submodule fails by name as well.
    let bare = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(bare.failed[0].path, "sub");
    assert!(
        bare.failed[0].reason.contains("cannot clone it"),
        "{bare:?}"
    );
}

#[tokio::test]
async fn a_submodules_changes_are_in_the_patch_under_its_path_and_git_apply_takes_them() {
    let (outer, _inner) = with_submodule();
    let sub = outer.path().join("sub");
    work_in(&sub);
    let store = MemoryStore::new();
    let snap = snapshot(outer.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let mut patch = Vec::new();
    let outcome = handoff_workspace::diff::export_diff(&snap.manifest, &store, &mut patch)
        .await
        .unwrap();
    // The moved HEAD is not patch material: named, not dropped.
    let left_out: Vec<&str> = outcome
        .unrepresentable
        .iter()
        .map(|u| u.path.as_str())
        .collect();
    assert_eq!(left_out, ["sub"]);
    let text = String::from_utf8(patch.clone()).unwrap();
    assert!(
        text.contains("diff --git a/sub/lib.txt b/sub/lib.txt"),
        "{text}"
    );
    assert!(
        text.contains("diff --git a/sub/new.txt b/sub/new.txt"),
        "{text}"
    );

    // A checkout whose submodule is at the snapshot's submodule HEAD takes
    // the patch in the outer working tree.
    let target = GitRepo::clone_from(&outer);
    init_submodules(target.path());
    let there = target.path().join("sub");
    git_in(&there, &["fetch", "-q", sub.to_str().unwrap(), "HEAD"]);
    git_in(&there, &["checkout", "-q", "FETCH_HEAD"]);
    std::fs::write(target.path().join("p.patch"), &patch).unwrap();
    git_in(target.path(), &["apply", "p.patch"]);
    for file in ["lib.txt", "new.txt"] {
        assert_eq!(
            std::fs::read(there.join(file)).unwrap(),
            std::fs::read(sub.join(file)).unwrap()
        );
    }
}

#[tokio::test]
async fn a_secret_in_a_submodule_stops_the_snapshot_and_is_named_under_its_path() {
    let (outer, _inner) = with_submodule();
    let sub = outer.path().join("sub");
    std::fs::write(
        sub.join("keys.txt"),
        format!("aws = AKIA{}\n", "Q3EGRDBSAK7XFZMN"),
    )
    .unwrap();
    let store = MemoryStore::new();
    let options = SnapshotOptions {
        scan_secrets: true,
        ..SnapshotOptions::default()
    };
    match snapshot(outer.path(), &store, &options).await {
        Err(handoff_workspace::Error::SecretsFound { findings, .. }) => {
            let paths: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(paths, ["sub/keys.txt"], "{findings:?}");
        }
        other => panic!("expected the secret to stop the snapshot, got {other:?}"),
    }
}

/// The superproject's local commit records a new commit of its submodule:
/// applying it to a clone where the submodule is initialised at the old
/// commit moves the index's gitlink with the carried commit, and the
/// submodule's own snapshot moves its HEAD (found by the oracle: the
/// index used to keep the old commit while HEAD moved).
#[tokio::test]
async fn a_carried_commit_moving_a_gitlink_moves_the_index_and_the_submodule() {
    let (outer, _inner) = with_submodule();
    // `outer` plays the remote; the source is a clone with the submodule.
    let source = GitRepo::clone_from(&outer);
    init_submodules(source.path());
    let sub = source.path().join("sub");
    std::fs::write(sub.join("lib.txt"), "lib, committed in the source\n").unwrap();
    git_in(&sub, &["commit", "-qam", "inner work"]);
    let moved = git_in(&sub, &["rev-parse", "HEAD"]).trim().to_owned();
    git_in(
        source.path(),
        &["commit", "-qam", "record the submodule's work"],
    );

    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    for initialised in [true, false] {
        let target = GitRepo::clone_from(&outer);
        if initialised {
            init_submodules(target.path());
        }
        let report = apply(target.path(), &store, &snap.id, &with_clone())
            .await
            .unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        assert!(report.skipped.is_empty(), "{report:?}");
        assert_eq!(report.commits.len(), 1, "{report:?}");
        let there = target.path().join("sub");
        assert_eq!(git_in(&there, &["rev-parse", "HEAD"]).trim(), moved);
        assert_eq!(
            std::fs::read_to_string(there.join("lib.txt")).unwrap(),
            "lib, committed in the source\n"
        );
        assert_eq!(status(target.path()), "", "initialised: {initialised}");
    }
}
