//! `handoff fsck` on a real store damaged in each way a disk or a hostile
//! hand can: a flipped byte, a zeroed blob, a missing blob, a manifest
//! whose sizes lie, a run record that is not JSON, a damaged and a lying
//! index, a pack no index names. Every problem names its object; nothing
//! is deleted without --repair.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use handoff_dev::GitRepo;
use handoff_store::{Digest, FsStore, StoredAt};

fn handoff(store: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(dir)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

/// Where the store keeps `digest`: its file and its bytes' place in it.
fn stored_at(store: &Path, digest: &Digest) -> StoredAt {
    FsStore::new(store).stored_at(digest).unwrap().unwrap()
}

/// Overwrites the stored bytes of `digest` in place with `f` of them.
fn damage(store: &Path, digest: &Digest, f: impl FnOnce(&mut [u8])) -> PathBuf {
    let at = stored_at(store, digest);
    let mut bytes = std::fs::read(&at.path).unwrap();
    f(&mut bytes[at.range.start as usize..at.range.end as usize]);
    std::fs::write(&at.path, bytes).unwrap();
    at.path
}

/// Withdraws `digest` from the store, as a lost file would.
fn lose(store: &Path, digest: &Digest) {
    let fs = FsStore::new(store);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(handoff_store::BlobStore::remove_blob(&fs, digest))
        .unwrap();
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
    // A flipped byte, a zeroed blob, a missing blob.
    damage(store.path(), &content("a"), |b| b[0] ^= 0x20);
    damage(store.path(), &content("b"), |b| b.fill(0));
    lose(store.path(), &content("c"));

    // A manifest whose declared size lies, referenced by a new run version.
    let shown: serde_json::Value =
        serde_json::from_slice(&run(&["show", &first, "--json"]).stdout).unwrap();
    let start = shown["sessions"][0]["start"][0]["snapshot"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = stored_at(store.path(), &start.parse().unwrap());
    let text = String::from_utf8(
        std::fs::read(&at.path).unwrap()[at.range.start as usize..at.range.end as usize].to_vec(),
    )
    .unwrap();
    let d = format!("\"size\":35,\"digest\":\"{}\"", content("d"));
    let lying = text.replace(&d, &format!("\"size\":99,\"digest\":\"{}\"", content("d")));
    assert_ne!(lying, text);
    let lying_digest = Digest::of(lying.as_bytes());
    // Stored loose, as an older version of handoff would have.
    let lying_path = FsStore::new(store.path()).blob_path(&lying_digest);
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
    // The pack check names the damaged blobs too.
    let pack = stored_at(store.path(), &content("a")).path;
    assert!(has("is corrupted") && has("pack sha256:"), "{problems:#?}");
    assert!(
        FsStore::new(store.path())
            .stored_at(&content("a"))
            .unwrap()
            .is_some(),
        "nothing withdrawn without --repair"
    );

    let repaired = run(&["fsck", "--repair"]);
    assert_eq!(repaired.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&repaired.stdout).contains("repaired: removed corrupted blob"));
    for name in ["a", "b"] {
        assert!(
            FsStore::new(store.path())
                .stored_at(&content(name))
                .unwrap()
                .is_none(),
            "the damaged copy of {name} is withdrawn"
        );
    }
    assert!(pack.exists(), "its intact neighbours stay");
    // A later push stores the withdrawn content again, and all is well.
    let again = run(&["push", "--harness", "scripted"]);
    assert!(again.status.success());
    let fixed = FsStore::new(store.path());
    assert!(fixed.stored_at(&content("a")).unwrap().is_some());
}

#[test]
fn fsck_checks_packs_and_indexes_and_repairs_what_it_can() {
    let store = tempfile::tempdir().unwrap();
    let repo = GitRepo::init();
    repo.write("a.txt", "a base\n");
    repo.commit_all("base");
    repo.write("a.txt", "a changed\n").write("n.txt", "new\n");
    let run = |args: &[&str]| handoff(store.path(), args, repo.path());
    let snapshot = String::from_utf8(run(&["snapshot"]).stdout).unwrap();
    let snapshot: Digest = snapshot.trim().parse().unwrap();
    assert_eq!(run(&["fsck"]).status.code(), Some(0));
    let fs = FsStore::new(store.path());
    let index_dir = store.path().join("index");
    let index = std::fs::read_dir(&index_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&index).unwrap();

    // The index is lost and a damaged one is in its place: its pack is
    // named by no index (an hour old, so not a push in flight).
    std::fs::remove_file(&index).unwrap();
    let damaged = index_dir.join(Digest::of(b"damaged").hex());
    std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
    let pack = fs.object_path(handoff_store::Area::Packs, &pack_of(&bytes, &snapshot));
    std::fs::File::options()
        .write(true)
        .open(&pack)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600))
        .unwrap();
    let out = run(&["fsck", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("index {}", Digest::of(b"damaged"))),
        "{text}"
    );
    assert!(text.contains("no index names it"), "{text}");

    let repaired = run(&["fsck", "--repair"]);
    let text = String::from_utf8_lossy(&repaired.stdout).into_owned();
    assert!(text.contains("removed damaged index"), "{text}");
    assert!(text.contains("indexed pack"), "{text}");
    assert_eq!(run(&["fsck"]).status.code(), Some(0), "clean after repair");
    let target = GitRepo::init();
    target.write("a.txt", "a base\n");
    target.commit_all("base");
    let applied = handoff(
        store.path(),
        &["apply", &snapshot.to_string()],
        target.path(),
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(target.read("n.txt"), "new\n");
}

/// The pack an encoded index says holds `digest`.
fn pack_of(index: &[u8], digest: &Digest) -> Digest {
    let index = handoff_store::pack::Index::decode(&Digest::of(index), index, "test").unwrap();
    index
        .packs
        .iter()
        .find(|p| p.entries.iter().any(|e| e.digest == *digest))
        .unwrap()
        .pack
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
    // A temporary file a killed writer left an hour and more ago, and one a
    // writer may still be using, beside the snapshot's pack.
    let shard = stored_at(store.path(), &content)
        .path
        .parent()
        .unwrap()
        .to_owned();
    lose(store.path(), &content);
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
