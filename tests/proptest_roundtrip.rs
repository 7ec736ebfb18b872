//! Property tests of snapshot → apply on real git repositories.
//!
//! - Random base trees and random edit scripts (modify, add, delete, rename,
//!   chmod, binary, symlink, untracked, staged or not) round trip exactly:
//!   the clone's working tree and `git status` equal the source's.
//! - Applying twice equals applying once.
//! - With random concurrent edits in the target, every entry ends up as the
//!   snapshot's result, a reported clean merge, or untouched and reported;
//!   paths the snapshot does not mention are never touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use handoff_dev::{GitRepo, TreeState, assert_same_tree};
use handoff_store::MemoryStore;
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Leaf names never collide with directory names, so edits cannot turn a
/// file into a directory by accident (that case has its own tests).
const PATHS: &[&str] = &[
    "a.txt",
    "b.txt",
    "src/c.rs",
    "src/d.rs",
    "src/deep/e.md",
    "with space.txt",
    "é/ñ.txt",
    "bin/h.dat",
    "x/y/z.txt",
    "k.sh",
];

#[derive(Debug, Clone)]
enum Content {
    Lines(Vec<u8>),
    Binary(Vec<u8>),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            // Few distinct lines, so that merges and conflicts both happen.
            Content::Lines(picks) => picks
                .iter()
                .map(|p| format!("line {}\n", p % 6))
                .collect::<String>()
                .into_bytes(),
            Content::Binary(data) => {
                let mut out = vec![0u8];
                out.extend(data);
                out
            }
        }
    }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Content::Lines),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Content::Binary),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Modify(usize, Content),
    Add(usize, Content),
    Delete(usize),
    Rename(usize, usize),
    Chmod(usize),
    Symlink(usize, usize),
    Stage(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0..PATHS.len();
    prop_oneof![
        4 => (idx.clone(), content()).prop_map(|(i, c)| Op::Modify(i, c)),
        2 => (idx.clone(), content()).prop_map(|(i, c)| Op::Add(i, c)),
        2 => idx.clone().prop_map(Op::Delete),
        1 => (idx.clone(), idx.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => idx.clone().prop_map(Op::Chmod),
        1 => (idx.clone(), idx.clone()).prop_map(|(a, b)| Op::Symlink(a, b)),
        2 => idx.prop_map(Op::Stage),
    ]
}

fn exists(repo: &GitRepo, rel: &str) -> bool {
    std::fs::symlink_metadata(repo.path().join(rel)).is_ok()
}

fn is_file(repo: &GitRepo, rel: &str) -> bool {
    std::fs::symlink_metadata(repo.path().join(rel)).is_ok_and(|m| m.is_file())
}

fn remove(repo: &GitRepo, rel: &str) {
    repo.remove(rel);
    // Like git, leave no empty directories behind.
    let mut dir = repo.path().join(rel);
    while dir.pop() && dir != repo.path() {
        if std::fs::remove_dir(&dir).is_err() {
            break;
        }
    }
}

fn run(repo: &GitRepo, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Modify(i, c) if is_file(repo, PATHS[*i]) => {
                repo.write(PATHS[*i], c.bytes());
            }
            Op::Add(i, c) if !exists(repo, PATHS[*i]) => {
                repo.write(PATHS[*i], c.bytes());
            }
            Op::Delete(i) if exists(repo, PATHS[*i]) => remove(repo, PATHS[*i]),
            Op::Rename(a, b) if a != b && is_file(repo, PATHS[*a]) && !exists(repo, PATHS[*b]) => {
                let data = std::fs::read(repo.path().join(PATHS[*a])).unwrap();
                remove(repo, PATHS[*a]);
                repo.write(PATHS[*b], data);
            }
            Op::Chmod(i) if is_file(repo, PATHS[*i]) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(repo.path().join(PATHS[*i]))
                    .unwrap()
                    .permissions()
                    .mode();
                repo.chmod(PATHS[*i], mode & 0o111 == 0);
            }
            Op::Symlink(i, target) if !exists(repo, PATHS[*i]) => {
                repo.symlink(PATHS[*i], PATHS[*target]);
            }
            Op::Stage(i) => {
                let tracked = !repo.git(&["ls-files", "--", PATHS[*i]]).is_empty();
                if tracked || exists(repo, PATHS[*i]) {
                    repo.git(&["add", "-A", "--", PATHS[*i]]);
                }
            }
            _ => {}
        }
    }
}

fn base(files: &[(usize, Content)]) -> GitRepo {
    let repo = GitRepo::init();
    repo.write("anchor.txt", "keeps the base non-empty\n");
    for (i, c) in files {
        repo.write(PATHS[*i], c.bytes());
    }
    repo.commit_all("base");
    repo
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/proptest_roundtrip.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn round_trip_is_exact_and_idempotent(
        files in prop::collection::vec((0..PATHS.len(), content()), 0..8),
        ops in prop::collection::vec(op(), 0..12),
    ) {
        let a = base(&files);
        let b = GitRepo::clone_from(&a);
        run(&a, &ops);
        let store = MemoryStore::new();
        let rt = runtime();
        let snap = rt.block_on(snapshot(a.path(), &store, &SnapshotOptions::default())).unwrap();
        let first = rt.block_on(apply(b.path(), &store, &snap.id, &ApplyOptions::default())).unwrap();
        prop_assert!(first.failed.is_empty(), "{:#?}", first.failed);
        assert_same_tree(&b.tree_state(), &a.tree_state());
        prop_assert_eq!(b.status(), a.status());

        let second = rt.block_on(apply(b.path(), &store, &snap.id, &ApplyOptions::default())).unwrap();
        prop_assert!(second.applied.is_empty() && second.failed.is_empty(), "{:#?}", second);
        let mut all: Vec<String> = first.applied.iter().chain(&first.already_applied).cloned().collect();
        all.sort();
        let mut again = second.already_applied.clone();
        again.sort();
        prop_assert_eq!(all, again);
        assert_same_tree(&b.tree_state(), &a.tree_state());
    }

    #[test]
    fn concurrent_target_edits_never_produce_anything_else(
        files in prop::collection::vec((0..PATHS.len(), content()), 1..8),
        ops in prop::collection::vec(op(), 1..10),
        local in prop::collection::vec(op(), 1..6),
    ) {
        let a = base(&files);
        let b = GitRepo::clone_from(&a);
        run(&a, &ops);
        run(&b, &local);
        let store = MemoryStore::new();
        let rt = runtime();
        let snap = rt.block_on(snapshot(a.path(), &store, &SnapshotOptions::default())).unwrap();
        let before: TreeState = b.tree_state();
        let want: TreeState = a.tree_state();
        let report = rt.block_on(apply(b.path(), &store, &snap.id, &ApplyOptions::default())).unwrap();
        let after: TreeState = b.tree_state();

        let entries: BTreeSet<&str> = snap.manifest.entries.iter().map(|e| e.path.as_str()).collect();
        let mut reported = BTreeSet::new();
        for (list, _) in [(&report.applied, 0), (&report.already_applied, 1), (&report.merged, 2)] {
            for p in list {
                prop_assert!(reported.insert(p.as_str()), "{} reported twice", p);
            }
        }
        for f in &report.failed {
            prop_assert!(reported.insert(f.path.as_str()), "{} reported twice", f.path);
        }
        prop_assert_eq!(&reported, &entries);

        for p in report.applied.iter().chain(&report.already_applied) {
            prop_assert_eq!(after.get(p.as_str()), want.get(p.as_str()), "{} is not the snapshot's result", p);
        }
        // A clean merge may equal the local file (the local side already
        // had the snapshot's change), but the file must be there.
        for p in &report.merged {
            prop_assert!(after.contains_key(p.as_str()), "merged {} is missing", p);
        }
        for f in &report.failed {
            prop_assert_eq!(after.get(f.path.as_str()), before.get(f.path.as_str()), "failed {} was touched", &f.path);
        }
        // Paths outside the snapshot are never touched.
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for p in keys {
            if !entries.contains(p.as_str()) {
                prop_assert_eq!(after.get(p), before.get(p), "{} is not in the snapshot but changed", p);
            }
        }
    }
}
