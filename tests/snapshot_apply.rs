//! Round trips on real git repositories: snapshot every kind of uncommitted
//! change in repository A, apply it to a fresh clone of A's base, and compare
//! the working trees byte for byte and mode for mode, and `git status`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::scenario::{base_repo, make_changes};
use handoff_dev::{GitRepo, assert_same_tree};
use handoff_store::{FsStore, MemoryStore};
use handoff_workspace::{
    ApplyOptions, ApplyReport, FailureKind, Snapshot, SnapshotOptions, Status, apply, snapshot,
};

/// A's working tree without its ignored files, which a snapshot never carries.
fn carried_state(a: &GitRepo) -> handoff_dev::TreeState {
    let mut state = a.tree_state();
    state.retain(|path, _| !path.starts_with("ignored/") && !path.ends_with(".log"));
    state
}

/// A repository with every kind of change, a clone of its base, and the
/// snapshot of the changes in `store`.
async fn changed_with_clone(store: &dyn handoff_store::BlobStore) -> (GitRepo, GitRepo, Snapshot) {
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let snap = snapshot(a.path(), store, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    (a, b, snap)
}

async fn round_trip(store: &dyn handoff_store::BlobStore) {
    let (a, b, snap) = changed_with_clone(store).await;
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    let paths: Vec<&str> = snap
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("ignored") || p.ends_with(".log"))
    );
    assert!(!paths.iter().any(|p| p.starts_with(".git/")));
    let status_of = |p: &str| {
        snap.manifest
            .entries
            .iter()
            .find(|e| e.path == p)
            .map(|e| e.status)
    };
    assert_eq!(status_of("notes/untracked.md"), Some(Status::Untracked));
    assert_eq!(status_of("src/new_staged.rs"), Some(Status::Added));
    assert_eq!(status_of("new name.txt"), Some(Status::Renamed));
    assert_eq!(status_of("script.sh"), Some(Status::ModeChanged));
    assert_eq!(status_of("type/file_to_link"), Some(Status::TypeChanged));
    assert_eq!(status_of("to_delete.txt"), Some(Status::Deleted));

    let report = apply(b.path(), store, &snap.id, &ApplyOptions::default())
        .await
        .expect("apply");
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.applied.len(), snap.manifest.entries.len());
    assert_same_tree(&b.tree_state(), &carried_state(&a));
    assert_eq!(b.status(), a.status());

    // Applying twice is a no-op.
    let again = apply(b.path(), store, &snap.id, &ApplyOptions::default())
        .await
        .expect("apply again");
    assert_eq!(
        again,
        ApplyReport {
            already_applied: report.applied.clone(),
            ..ApplyReport::default()
        }
    );
    assert_same_tree(&b.tree_state(), &carried_state(&a));
    assert_eq!(b.status(), a.status());
}

#[tokio::test]
async fn every_change_kind_round_trips_through_memory_store() {
    round_trip(&MemoryStore::new()).await;
}

#[tokio::test]
async fn every_change_kind_round_trips_through_fs_store() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&FsStore::new(dir.path())).await;
}

#[tokio::test]
async fn unchanged_tree_snapshots_again_without_new_bytes() {
    let a = base_repo();
    make_changes(&a);
    let store = MemoryStore::new();
    let first = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(first.new_bytes > 0);
    let second = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.new_bytes, 0);
}

#[tokio::test]
async fn local_edits_merge_conflict_or_fail_per_file() {
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    a.write(
        "src/lib.rs",
        "// header from the snapshot\npub fn one() -> u32 {\n    1\n}\n",
    );
    a.write("README.md", "# snapshot title\n\nline\n");
    a.write("src/staged.rs", "snapshot side\n");
    a.write("notes.txt", "from snapshot\n");
    a.remove("to_delete.txt");
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();

    // Target: a disjoint edit (merges), an overlapping edit (conflict), an
    // identical edit (already applied), an existing new file, a modified
    // file the snapshot deletes.
    b.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n// footer from the target\n",
    );
    b.write("README.md", "# target title\n\nline\n");
    b.write("src/staged.rs", "snapshot side\n");
    b.write("notes.txt", "local notes\n");
    b.write("to_delete.txt", "edited locally\n");
    let before_conflict = std::fs::read(b.path().join("README.md")).unwrap();

    let report = apply(b.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.merged, vec!["src/lib.rs"]);
    assert_eq!(report.already_applied, vec!["src/staged.rs"]);
    let failed: Vec<(&str, FailureKind)> = report
        .failed
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("README.md", FailureKind::Conflict),
            ("notes.txt", FailureKind::AlreadyExists),
            ("to_delete.txt", FailureKind::LocalChanges),
        ]
    );
    assert_eq!(
        b.read("src/lib.rs"),
        "// header from the snapshot\npub fn one() -> u32 {\n    1\n}\n// footer from the target\n"
    );
    assert_eq!(
        std::fs::read(b.path().join("README.md")).unwrap(),
        before_conflict
    );
    assert_eq!(b.read("to_delete.txt"), "edited locally\n");
}

#[tokio::test]
async fn warns_when_target_head_is_not_the_base() {
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    b.write("other.txt", "x\n");
    b.commit_all("diverge");
    a.write("src/lib.rs", "changed\n");
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let report = apply(b.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["src/lib.rs"]);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let store = MemoryStore::new();
    let (_a, b, snap) = changed_with_clone(&store).await;
    let before = (b.tree_state(), b.status());
    let options = ApplyOptions {
        dry_run: true,
        ..ApplyOptions::default()
    };
    let report = apply(b.path(), &store, &snap.id, &options).await.unwrap();
    assert_eq!(
        report.applied.len(),
        snap.manifest.entries.len(),
        "{report:#?}"
    );
    assert_eq!((b.tree_state(), b.status()), before);
}

#[tokio::test]
async fn exclusions_and_secret_scanning_of_a_capture() {
    let a = base_repo();
    a.write(".handoffignore", "private/\n");
    a.commit_all("add .handoffignore");
    a.write("private/diary.md", "dear diary\n");
    a.write("scratch.tmp", "scratch\n");
    a.write(
        ".env",
        "DATABASE_URL=postgres://app:hunter2hunter2@db/app\n",
    );
    let key = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
    a.write(
        "src/config.rs",
        format!("// region\nconst KEY: &str = \"{key}\";\n"),
    );
    let options = SnapshotOptions {
        exclude: vec!["*.tmp".to_owned()],
        ..SnapshotOptions::default()
    };
    let capture = handoff_workspace::capture(a.path(), &options).unwrap();
    let mut excluded = capture.excluded.clone();
    excluded.sort();
    assert_eq!(excluded, vec!["private/diary.md", "scratch.tmp"]);
    let paths: Vec<&str> = capture
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(paths, vec![".env", "src/config.rs"]);

    let findings = findings_of(&capture);
    assert_eq!(
        findings,
        vec![
            (".env".to_owned(), None, "dotenv-file"),
            (".env".to_owned(), Some(1), "url-credentials"),
            ("src/config.rs".to_owned(), Some(2), "aws-access-key-id"),
        ]
    );
}

/// What the built-in scanner finds in `capture`: path, line and rule.
fn findings_of(capture: &handoff_workspace::Capture) -> Vec<(String, Option<u32>, &'static str)> {
    handoff_workspace::Scanner::builtin()
        .unwrap()
        .scan_capture(capture)
        .into_iter()
        .map(|f| (f.path, f.line, f.rule))
        .collect()
}

/// A capture large enough to be scanned on several threads finds every
/// secret, each once, wherever it falls among the contents.
#[test]
fn secrets_are_found_among_many_files() {
    let a = base_repo();
    let key = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
    let mut expected = Vec::new();
    for i in 0..600 {
        let path = format!("many/file{i:03}.txt");
        if i % 150 == 7 {
            a.write(&path, format!("line one\nkey = {key}\n"));
            expected.push((path, Some(2), "aws-access-key-id"));
        } else {
            a.write(&path, format!("nothing secret in file {i}\n"));
        }
    }
    let capture = handoff_workspace::capture(a.path(), &SnapshotOptions::default()).unwrap();
    assert!(capture.contents.len() >= 600);
    let findings = findings_of(&capture);
    assert_eq!(findings, expected);
}

#[tokio::test]
async fn an_interrupted_apply_is_cleaned_up_by_the_next() {
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    a.write("src/lib.rs", "changed\n");
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    // What a killed apply leaves: its marker and a temporary file.
    let marker = b.path().join(".git/handoff-apply-in-progress");
    std::fs::write(&marker, b"").unwrap();
    let stale = b
        .path()
        .join(format!("src/{}leftover", handoff_workspace::TEMP_PREFIX));
    std::fs::write(&stale, b"half").unwrap();
    let report = apply(b.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["src/lib.rs"]);
    assert!(!stale.exists(), "stale temp file removed");
    assert!(!marker.exists(), "marker removed when the apply finishes");
    // A clean apply leaves other files alone, even ones with the prefix.
    std::fs::write(&stale, b"not ours to judge").unwrap();
    apply(b.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(stale.exists());
}

/// A file of a few lines that differs per `i`, with room for a disjoint
/// edit at either end.
fn lines(i: usize, middle: &str) -> String {
    format!("top {i}\n{middle}\nmiddle {i}\nbottom {i}\n")
}

/// Hundreds of entries (enough that apply spreads its writes over several
/// threads) into a target whose repository lacks the base objects: files
/// still at the base are written, locally edited ones merge with base
/// content fetched from the store on demand, and a snapshot without base
/// content reports exactly those as `base_unavailable`. A dry run decides
/// the same as the real apply.
#[tokio::test]
async fn many_entries_merge_with_base_content_fetched_on_demand() {
    const FILES: usize = 600;
    let path = |i: usize| format!("dir{:02}/file{i:04}.txt", i % 23);
    let a = GitRepo::init();
    for i in 0..FILES {
        a.write(&path(i), lines(i, "base"));
    }
    a.commit_all("base");
    for i in 0..FILES {
        a.write(&path(i), lines(i, "snapshot"));
    }
    for i in 0..50 {
        a.write(&format!("new/n{i:03}.txt"), format!("new {i}\n"));
    }
    // The target has the base files but none of the base's git objects.
    let b = GitRepo::init();
    for i in 0..FILES {
        let edited = i % 10 == 0;
        let mut text = lines(i, "base");
        if edited {
            text.push_str("local footer\n");
        }
        b.write(&path(i), text);
    }
    let store = MemoryStore::new();
    let with_base = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let without_base = snapshot(
        a.path(),
        &store,
        &SnapshotOptions {
            store_base_content: false,
            ..SnapshotOptions::default()
        },
    )
    .await
    .unwrap();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let edited = sorted((0..FILES).filter(|i| i % 10 == 0).map(path).collect());
    let b2 = tempfile::tempdir().unwrap();
    handoff_dev::git_command(b2.path())
        .args(["init", "-q"])
        .status()
        .unwrap();
    for i in 0..FILES {
        let from = b.path().join(path(i));
        let to = b2.path().join(path(i));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }

    let dry = apply(
        b.path(),
        &store,
        &with_base.id,
        &ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        },
    )
    .await
    .unwrap();
    let report = apply(b.path(), &store, &with_base.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(sorted(report.merged.clone()), edited);
    assert_eq!(report.applied.len(), FILES - edited.len() + 50);
    assert_eq!(
        (dry.applied, dry.merged, dry.failed),
        (report.applied, report.merged, report.failed),
        "a dry run decides as the apply does"
    );
    for i in 0..FILES {
        let mut expected = lines(i, "snapshot");
        if i % 10 == 0 {
            expected.push_str("local footer\n");
        }
        assert_eq!(b.read(path(i)), expected, "{}", path(i));
    }
    for i in 0..50 {
        assert_eq!(b.read(format!("new/n{i:03}.txt")), format!("new {i}\n"));
    }

    let report = apply(
        b2.path(),
        &store,
        &without_base.id,
        &ApplyOptions::default(),
    )
    .await
    .unwrap();
    let unavailable: Vec<String> = report
        .failed
        .iter()
        .filter(|f| f.kind == FailureKind::BaseUnavailable)
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(unavailable, edited);
    assert_eq!(report.failed.len(), edited.len(), "{:?}", report.failed);
    assert!(report.merged.is_empty());
    for i in (0..FILES).filter(|i| i % 10 == 0) {
        let mut untouched = lines(i, "base");
        untouched.push_str("local footer\n");
        assert_eq!(
            std::fs::read_to_string(b2.path().join(path(i))).unwrap(),
            untouched
        );
    }
}

/// When the index cannot be written (another git process holds
/// `index.lock`), the files are still applied and the report says, per
/// staged path, that its staged state was not recorded; once the lock is
/// gone, applying again records it and `git status` matches the source.
#[tokio::test]
async fn a_locked_index_fails_only_the_staged_state() {
    let store = MemoryStore::new();
    let (a, b, snap) = changed_with_clone(&store).await;
    let lock = b.path().join(".git/index.lock");
    std::fs::write(&lock, b"held by another git process").unwrap();

    let report = apply(b.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .expect("a locked index is reported per entry, not an error");
    assert_eq!(report.applied.len(), snap.manifest.entries.len());
    assert_same_tree(&b.tree_state(), &carried_state(&a));
    assert!(!report.failed.is_empty());
    for failure in &report.failed {
        assert_eq!(failure.kind, FailureKind::Io, "{failure:?}");
        assert!(
            failure.reason.contains("staged state was not recorded"),
            "{failure:?}"
        );
    }
    let staged: Vec<&str> = report.failed.iter().map(|f| f.path.as_str()).collect();
    assert!(staged.contains(&"src/staged.rs"), "{staged:?}");
    assert!(!staged.contains(&"notes/untracked.md"), "{staged:?}");
    assert_eq!(
        std::fs::read(&lock).unwrap(),
        b"held by another git process",
        "someone else's lock is left alone"
    );
    assert!(
        !b.path().join(".git/handoff-apply-in-progress").exists(),
        "the apply finished"
    );

    std::fs::remove_file(&lock).unwrap();
    let again = apply(b.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    assert_eq!(again.already_applied.len(), snap.manifest.entries.len());
    assert_eq!(b.status(), a.status());
}
