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

const MIB: u64 = 1 << 20;

/// A repository whose base commit is `a.txt`, with `big.bin` (`mib` MiB of
/// noise from `seed`) untracked.
fn repo_with_big_file(mib: u64, seed: u64) -> GitRepo {
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    repo.write("big.bin", handoff_dev::noise((mib * MIB) as usize, seed));
    repo
}

/// Applies `snapshot` to a fresh checkout of the base; returns `big.bin`.
fn apply_to_fresh(store: &Path, snapshot: &str) -> Vec<u8> {
    let target = GitRepo::init();
    target.write("a.txt", "a\n");
    target.commit_all("base");
    let applied = handoff(store, &["apply", snapshot], target.path());
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    std::fs::read(target.path().join("big.bin")).unwrap()
}

fn start_snapshot(store: &Path, run: &str, dir: &Path) -> String {
    let shown = json(handoff(store, &["show", run, "--json"], dir));
    shown["sessions"][0]["start"][0]["snapshot"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `runs delete` then two collections give back the deleted run's bytes —
/// its 3 MiB file, manifests, conversation and record, nothing more — while
/// the other run, a standalone snapshot and everything they reference stay
/// whole.
#[test]
fn runs_delete_then_gc_reclaims_the_runs_bytes_and_nothing_else() {
    let store = tempfile::tempdir().unwrap();
    let deleted = repo_with_big_file(3, 1);
    let kept = repo_with_big_file(1, 2);
    let push = |repo: &GitRepo| {
        let pushed = json(handoff(
            store.path(),
            &["push", "--harness", "scripted", "--wait", "--json"],
            repo.path(),
        ));
        pushed["run"].as_str().unwrap().to_owned()
    };
    let doomed = push(&deleted);
    let survivor = push(&kept);
    kept.write("small.txt", "only in a standalone snapshot\n");
    let standalone = String::from_utf8(handoff(store.path(), &["snapshot"], kept.path()).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let survivor_start = start_snapshot(store.path(), &survivor, kept.path());
    let before = handoff_dev::dir_bytes(store.path());

    let dry = json(handoff(
        store.path(),
        &["runs", "delete", &doomed, "--dry-run", "--json"],
        kept.path(),
    ));
    assert_eq!(dry[0]["run"], doomed.as_str(), "{dry}");
    assert_eq!(
        handoff_dev::dir_bytes(store.path()),
        before,
        "a dry run deletes nothing"
    );
    let out = handoff(store.path(), &["runs", "delete", &doomed], kept.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..2 {
        json(handoff(
            store.path(),
            &["gc", "--grace", "0s", "--json"],
            kept.path(),
        ));
    }
    let after = handoff_dev::dir_bytes(store.path());
    let freed = before - after;
    assert!(
        (3 * MIB..3 * MIB + 64 * 1024).contains(&freed),
        "freed {freed} bytes of {before}; the deleted run held a little over 3 MiB"
    );

    let shown = handoff(store.path(), &["show", &doomed], kept.path());
    assert_eq!(shown.status.code(), Some(1), "the run is gone");
    assert_eq!(
        apply_to_fresh(store.path(), &survivor_start),
        handoff_dev::noise(MIB as usize, 2)
    );
    let target = GitRepo::init();
    target.write("a.txt", "a\n");
    target.commit_all("base");
    assert!(
        handoff(store.path(), &["apply", &standalone], target.path())
            .status
            .success()
    );
    assert_eq!(target.read("small.txt"), "only in a standalone snapshot\n");
    let diff = handoff(store.path(), &["diff", &survivor], kept.path());
    assert!(diff.status.success());
    assert_eq!(
        handoff(store.path(), &["fsck"], kept.path()).status.code(),
        Some(0)
    );
}

/// `gc --older-than` deletes the run that ended and keeps the queued one
/// (reported), whose data stays usable through later collections;
/// `runs delete` refuses the queued run by name and state, deleting
/// nothing of the others it was given.
#[test]
fn gc_older_than_deletes_ended_runs_and_never_a_queued_one() {
    let store = tempfile::tempdir().unwrap();
    let ended_repo = repo_with_big_file(2, 3);
    let queued_repo = repo_with_big_file(1, 4);
    let ended = json(handoff(
        store.path(),
        &["push", "--harness", "scripted", "--wait", "--json"],
        ended_repo.path(),
    ))["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let queued = json(handoff(
        store.path(),
        &["push", "--harness", "scripted", "--json"],
        queued_repo.path(),
    ))["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let queued_start = start_snapshot(store.path(), &queued, queued_repo.path());

    let refused = handoff(
        store.path(),
        &["runs", "delete", &ended, &queued],
        queued_repo.path(),
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("run {queued} is Queued")),
        "{stderr}"
    );
    json(handoff(
        store.path(),
        &["show", &ended, "--json"],
        queued_repo.path(),
    ));

    let before = handoff_dev::dir_bytes(store.path());
    let first = json(handoff(
        store.path(),
        &["gc", "--older-than", "0s", "--grace", "0s", "--json"],
        queued_repo.path(),
    ));
    let deleted: Vec<&str> = first["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["run"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [ended.as_str()], "{first}");
    assert_eq!(
        first["skipped"],
        serde_json::json!([{"run": queued, "state": "queued"}]),
        "{first}"
    );
    let second = json(handoff(
        store.path(),
        &["gc", "--older-than", "0s", "--grace", "0s", "--json"],
        queued_repo.path(),
    ));
    assert!(second["deleted"].as_array().unwrap().is_empty(), "{second}");
    let freed = before - handoff_dev::dir_bytes(store.path());
    assert!(
        (2 * MIB..2 * MIB + 64 * 1024).contains(&freed),
        "freed {freed} bytes; the ended run held a little over 2 MiB"
    );
    assert_eq!(
        apply_to_fresh(store.path(), &queued_start),
        handoff_dev::noise(MIB as usize, 4)
    );
    // The queued run still runs from what it named.
    let worked = handoff(
        store.path(),
        &["worker", "--once", "--no-sandbox"],
        queued_repo.path(),
    );
    assert!(
        worked.status.success(),
        "{}",
        String::from_utf8_lossy(&worked.stderr)
    );
    let shown = json(handoff(
        store.path(),
        &["show", &queued, "--json"],
        queued_repo.path(),
    ));
    assert_eq!(shown["state"], "ended", "{shown}");
}
