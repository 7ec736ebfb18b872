//! `handoff fsck` on a real store damaged in each way a disk or a hostile
//! hand can: a flipped byte, a truncated blob, a missing blob, a manifest
//! whose sizes lie, a run record that is not JSON. Every problem names its
//! object; nothing is deleted without --repair.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use handoff_dev::GitRepo;
use handoff_store::Digest;

fn handoff(store: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(dir)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn blob_path(store: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    store.join("blobs/sha256").join(&hex[..2]).join(&hex[2..])
}

fn latest_version(dir: &Path) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    versions.pop().unwrap()
}

fn next_version(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap().to_string_lossy();
    let n: u64 = name.trim_end_matches(".v").parse().unwrap();
    path.with_file_name(format!("{:017}.v", n + 1))
}

#[test]
fn fsck_names_every_problem_and_repairs_only_when_asked() {
    let store = tempfile::tempdir().unwrap();
    let repo = GitRepo::init();
    for name in ["a", "b", "c", "d"] {
        repo.write(&format!("{name}.txt"), format!("{name} base\n"));
    }
    repo.commit_all("base");
    for name in ["a", "b", "c", "d"] {
        repo.write(
            &format!("{name}.txt"),
            format!("{name} changed, long enough to truncate\n"),
        );
    }
    let run = |args: &[&str]| handoff(store.path(), args, repo.path());
    let first =
        String::from_utf8(run(&["push", "--harness", "scripted", "--wait"]).stdout).unwrap();
    let first = first.trim().to_owned();
    let second = String::from_utf8(run(&["push", "--harness", "scripted"]).stdout).unwrap();
    let second = second.trim().to_owned();
    let clean = run(&["fsck"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );

    let content =
        |name: &str| Digest::of(format!("{name} changed, long enough to truncate\n").as_bytes());
    // A flipped byte, a truncated blob, a missing blob.
    let flipped = blob_path(store.path(), &content("a"));
    let mut bytes = std::fs::read(&flipped).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&flipped, bytes).unwrap();
    let truncated = blob_path(store.path(), &content("b"));
    std::fs::write(&truncated, b"b chan").unwrap();
    std::fs::remove_file(blob_path(store.path(), &content("c"))).unwrap();

    // A manifest whose declared size lies, referenced by a new run version.
    let shown: serde_json::Value =
        serde_json::from_slice(&run(&["show", &first, "--json"]).stdout).unwrap();
    let start = shown["sessions"][0]["start"][0]["snapshot"]
        .as_str()
        .unwrap()
        .to_owned();
    let manifest_path = blob_path(store.path(), &start.parse().unwrap());
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let d = format!("\"size\":35,\"digest\":\"{}\"", content("d"));
    let lying = text.replace(&d, &format!("\"size\":99,\"digest\":\"{}\"", content("d")));
    assert_ne!(lying, text);
    let lying_digest = Digest::of(lying.as_bytes());
    let lying_path = blob_path(store.path(), &lying_digest);
    std::fs::create_dir_all(lying_path.parent().unwrap()).unwrap();
    std::fs::write(&lying_path, &lying).unwrap();
    let run_dir = store.path().join("docs/runs").join(&first);
    let latest = latest_version(&run_dir);
    let record = std::fs::read_to_string(&latest)
        .unwrap()
        .replace(&start, &lying_digest.to_string());
    std::fs::write(next_version(&latest), record).unwrap();
    // A run record that is not JSON.
    let broken = latest_version(&store.path().join("docs/runs").join(&second));
    std::fs::write(next_version(&broken), b"{ not json").unwrap();

    let out = run(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["object"].as_str().unwrap(),
                p["problem"].as_str().unwrap()
            )
        })
        .collect();
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(
        has(&format!(
            "blob {}: blob {} in store",
            content("a"),
            content("a")
        )),
        "{problems:#?}"
    );
    assert!(
        has(&format!("blob {}", content("b"))) && has("is corrupted"),
        "{problems:#?}"
    );
    assert!(
        has(&format!("refers to missing blob {}", content("c"))),
        "{problems:#?}"
    );
    assert!(
        has(&format!(
            "snapshot {lying_digest}: entry d.txt declares 99 bytes"
        )),
        "{problems:#?}"
    );
    assert!(
        has(&format!(
            "run record runs/{second}: run record {second} is invalid"
        )),
        "{problems:#?}"
    );
    assert!(
        flipped.exists() && truncated.exists(),
        "nothing deleted without --repair"
    );

    let repaired = run(&["fsck", "--repair"]);
    assert_eq!(repaired.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&repaired.stdout).contains("repaired: removed corrupted blob"));
    assert!(!flipped.exists() && !truncated.exists());
}

#[test]
fn fsck_checks_what_no_run_refers_to_and_stale_temporary_files() {
    let store = tempfile::tempdir().unwrap();
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    repo.write(
        "a.txt",
        "a, uncommitted and only in an unreferenced snapshot\n",
    );
    let run = |args: &[&str]| handoff(store.path(), args, repo.path());
    // A snapshot no run refers to, missing one of its blobs.
    let snapshot = String::from_utf8(run(&["snapshot"]).stdout).unwrap();
    let snapshot = snapshot.trim().to_owned();
    let content = Digest::of(b"a, uncommitted and only in an unreferenced snapshot\n");
    std::fs::remove_file(blob_path(store.path(), &content)).unwrap();
    // A temporary file a killed writer left an hour and more ago, and one a
    // writer may still be using.
    let shard = blob_path(store.path(), &content)
        .parent()
        .unwrap()
        .to_owned();
    let stale = shard.join(".tmp-stale");
    std::fs::write(&stale, b"half").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600))
        .unwrap();
    let fresh = shard.join(".tmp-fresh");
    std::fs::write(&fresh, b"being written").unwrap();

    let out = run(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["object"].as_str().unwrap(),
                p["problem"].as_str().unwrap()
            )
        })
        .collect();
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(
        has(&format!(
            "snapshot {snapshot}: entry a.txt refers to missing blob {content}"
        )),
        "{problems:#?}"
    );
    assert!(
        has(&format!("temporary file {}", stale.display())),
        "{problems:#?}"
    );
    assert!(!has(".tmp-fresh"), "{problems:#?}");
    assert_eq!(report["snapshots"], 1);

    let repaired = run(&["fsck", "--repair"]);
    let text = String::from_utf8_lossy(&repaired.stdout).into_owned();
    assert!(
        text.contains("repaired: removed stale temporary file"),
        "{text}"
    );
    assert!(!stale.exists() && fresh.exists());
}
