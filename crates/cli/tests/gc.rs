//! `handoff gc` on a real store: what nothing references goes (in two
//! runs: condemned, then removed), everything a run, a snapshot or a
//! conversation references stays usable, and the store checks clean.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use handoff_dev::GitRepo;
use handoff_store::{BlobStore, Bytes, FsStore};

fn handoff(store: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(dir)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn json(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn gc_removes_only_what_nothing_references() {
    let store = tempfile::tempdir().unwrap();
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    repo.write("a.txt", "a, pushed\n");
    let run = |args: &[&str]| handoff(store.path(), args, repo.path());
    let pushed = json(run(&["push", "--harness", "scripted", "--wait", "--json"]));
    let run_id = pushed["run"].as_str().unwrap().to_owned();
    repo.write("a.txt", "a, only in a snapshot\n");
    let snapshot = String::from_utf8(run(&["snapshot"]).stdout).unwrap();
    let snapshot = snapshot.trim().to_owned();
    // What a push that stopped halfway leaves: blobs nothing names.
    let garbage = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(FsStore::new(store.path()).put_many(vec![Bytes::from_static(b"left behind\n")]))
        .unwrap()[0]
        .digest;

    let dry = json(run(&["gc", "--grace", "0s", "--dry-run", "--json"]));
    assert_eq!(dry["store"]["condemned"], 1, "{dry}");
    let first = json(run(&["gc", "--grace", "0s", "--json"]));
    assert_eq!(first["store"]["condemned"], 1, "{first}");
    assert_eq!(
        first["store"], dry["store"],
        "the dry run said what would happen"
    );
    let second = json(run(&["gc", "--grace", "0s", "--json"]));
    assert_eq!(second["store"]["removed_blobs"], 1, "{second}");
    assert!(
        FsStore::new(store.path())
            .stored_at(&garbage)
            .unwrap()
            .is_none()
    );

    // Everything referenced still works.
    assert_eq!(run(&["fsck"]).status.code(), Some(0));
    let diff = run(&["diff", &run_id]);
    assert!(String::from_utf8_lossy(&diff.stdout).contains("a, pushed"));
    let target = GitRepo::init();
    target.write("a.txt", "a\n");
    target.commit_all("base");
    let applied = handoff(store.path(), &["apply", &snapshot], target.path());
    assert!(applied.status.success());
    assert_eq!(target.read("a.txt"), "a, only in a snapshot\n");
    let human = String::from_utf8(run(&["gc"]).stdout).unwrap();
    assert!(
        human.contains("condemned 0 unreferenced blob(s)"),
        "{human}"
    );
}
