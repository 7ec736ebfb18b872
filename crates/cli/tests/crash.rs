//! kill -9 in the middle of `handoff apply`, at seeded random points: no
//! file is ever torn (each is its old or its new content, byte for byte),
//! the next apply leaves no temporary files behind and finishes the job
//! with a correct report (already applied + applied = all).
//!
//! The seed is printed; replay a failure with `HANDOFF_CRASH_SEED=<seed>`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use handoff_dev::{GitRepo, TreeState};

const FILES: usize = 2_000;
const ADDED: usize = 200;
const KILLS: usize = 20;

fn content(i: usize, version: u32) -> String {
    format!(
        "file {i} version {version}\n{}",
        "payload line\n".repeat(40 + i % 60)
    )
}

fn handoff(store: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.arg("--store").arg(store).args(args);
    cmd
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn temp_files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        if name.starts_with(handoff_workspace::TEMP_PREFIX) {
            out.push(entry.path().display().to_string());
        }
        if entry.file_type().unwrap().is_dir() {
            temp_files(&entry.path(), out);
        }
    }
}

#[test]
fn kill_9_mid_apply_never_tears_a_file_and_the_next_apply_finishes() {
    let seed = std::env::var("HANDOFF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed: {seed} (replay with HANDOFF_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let source = GitRepo::init();
    for i in 0..FILES {
        source.write(&format!("d{:02}/f{i:04}.txt", i % 40), content(i, 1));
    }
    source.commit_all("base");
    let base: TreeState = source.tree_state();
    for i in 0..FILES {
        source.write(&format!("d{:02}/f{i:04}.txt", i % 40), content(i, 2));
    }
    for i in 0..ADDED {
        source.write(&format!("new/n{i:04}.txt"), content(i, 3));
    }
    let wanted: TreeState = source.tree_state();
    let store = tempfile::tempdir().unwrap();
    let out = handoff(store.path(), &["snapshot", "--repo"])
        .arg(source.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // How long a whole apply takes, to aim the kills inside it.
    let probe = GitRepo::clone_from(&source);
    let t = Instant::now();
    let ok = handoff(store.path(), &["apply", &id, "--repo"])
        .arg(probe.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let full = t.elapsed();
    drop(probe);

    for round in 0..KILLS {
        let target = GitRepo::clone_from(&source);
        let delay = Duration::from_micros(rng.next() % (full.as_micros() as u64).max(1));
        let mut child = handoff(store.path(), &["apply", &id, "--repo"])
            .arg(target.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL on unix
        let _ = child.wait();

        // No file is torn: every file is the base's or the snapshot's.
        let now = target.tree_state();
        let mut torn = Vec::new();
        for (path, (mode, data)) in &now {
            let old = base.get(path).map(|(_, d)| d);
            let new = wanted.get(path).map(|(_, d)| d);
            let is_temp = Path::new(path).file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with(handoff_workspace::TEMP_PREFIX)
            });
            if !is_temp && Some(data) != old && Some(data) != new {
                torn.push(format!("{path} ({mode:o}, {} bytes)", data.len()));
            }
        }
        assert!(
            torn.is_empty(),
            "round {round}, seed {seed}, kill after {delay:?}: torn files {torn:?}"
        );

        // The next apply finishes the job and leaves no temporary files.
        let out = handoff(store.path(), &["apply", &id, "--json", "--repo"])
            .arg(target.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}, seed {seed}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let count = |k: &str| report[k].as_array().map_or(0, Vec::len);
        assert_eq!(
            count("applied") + count("already_applied"),
            FILES + ADDED,
            "round {round}, seed {seed}"
        );
        assert_eq!(count("failed"), 0);
        let mut leftovers = Vec::new();
        temp_files(target.path(), &mut leftovers);
        assert!(
            leftovers.is_empty(),
            "round {round}, seed {seed}: {leftovers:?}"
        );
        let after: BTreeMap<_, _> = target.tree_state();
        assert!(
            after == wanted,
            "round {round}, seed {seed}: the tree is not the snapshot's after the rerun"
        );
    }
}

#[test]
fn a_killed_worker_does_not_leave_its_run_running_forever() {
    use std::os::unix::fs::PermissionsExt;
    let store = tempfile::tempdir().unwrap();
    let local = GitRepo::init();
    local.write("a.txt", "base\n");
    local.commit_all("base");
    local.write("a.txt", "work\n");
    let bin = tempfile::tempdir().unwrap();
    let started = bin.path().join("started");
    let agent = bin.path().join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nprompt=$(cat)\ncase \"$prompt\" in *\"please hang\"*) touch {}; exec sleep 5;; esac\necho \"$prompt\" > \"turn-$(date +%N).txt\"\necho ok\n",
            started.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = agent.display().to_string();
    let json = |out: std::process::Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // Session 1 ends well; session 2 hangs and its worker is killed.
    let pushed = json(
        handoff(
            store.path(),
            &[
                "push",
                "--harness",
                "command",
                "--agent-cmd",
                &cmd,
                "--prompt",
                "first",
                "--wait",
                "--json",
                "--repo",
            ],
        )
        .arg(local.path())
        .output()
        .unwrap(),
    );
    let run = pushed["run"].as_str().unwrap().to_owned();
    assert_eq!(pushed["record"]["state"], "ended");
    json(
        handoff(
            store.path(),
            &[
                "follow-up",
                &run,
                "--prompt",
                "please hang",
                "--json",
                "--agent-cmd",
                &cmd,
            ],
        )
        .output()
        .unwrap(),
    );
    let mut worker = handoff(
        store.path(),
        // Unsandboxed: the agent signals the test through a file outside
        // its workspace, which the sandbox rightly forbids.
        &[
            "worker",
            "--once",
            "--no-sandbox",
            "--lease",
            "1",
            "--agent-cmd",
            &cmd,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the agent never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.kill().unwrap(); // SIGKILL: no chance to record anything
    worker.wait().unwrap();
    let shown = json(
        handoff(store.path(), &["show", &run, "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(shown["state"], "running", "the dead worker left it running");

    // Once the lease has passed, the next worker marks it failed.
    std::thread::sleep(Duration::from_millis(1500));
    let reaper = handoff(store.path(), &["worker", "--once", "--agent-cmd", &cmd])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&reaper.stderr).contains("its worker stopped"),
        "{}",
        String::from_utf8_lossy(&reaper.stderr)
    );
    let shown = json(
        handoff(store.path(), &["show", &run, "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(shown["state"], "failed");
    let failure = shown["sessions"][1]["failure"].as_str().unwrap();
    assert!(failure.contains("stopped responding"), "{failure}");

    // A follow-up continues from the last good end snapshot (session 1's).
    let after = json(
        handoff(
            store.path(),
            &[
                "follow-up",
                &run,
                "--prompt",
                "third",
                "--wait",
                "--json",
                "--agent-cmd",
                &cmd,
            ],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(after["record"]["state"], "ended");
    let shown = json(
        handoff(store.path(), &["show", &run, "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(shown["sessions"][2]["start"], shown["sessions"][0]["end"]);
}

/// Every blob in a filesystem store (loose or packed) hashes to its name,
/// and every stored manifest names only blobs that are there.
fn store_is_consistent(store: &Path) -> Result<(), String> {
    use handoff_store::BlobStore as _;
    let fs = handoff_store::FsStore::new(store);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let listed = fs.list_blobs().await.map_err(|e| e.to_string())?;
            let known: std::collections::HashSet<_> = listed.iter().copied().collect();
            for (digest, data) in listed.iter().zip(fs.get_many(&listed).await) {
                let data = data.map_err(|e| format!("blob {digest}: {e}"))?;
                if let Ok(manifest) = handoff_workspace::Manifest::from_json(&data) {
                    for needed in manifest.digests() {
                        if !known.contains(&needed) {
                            return Err(format!("manifest {digest} names missing blob {needed}"));
                        }
                    }
                }
            }
            Ok(())
        })
}

#[test]
fn kill_9_mid_snapshot_and_mid_push_leaves_a_consistent_store() {
    let seed = std::env::var("HANDOFF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("snapshot crash seed: {seed} (replay with HANDOFF_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let source = GitRepo::init();
    for i in 0..1_000 {
        source.write(&format!("d{:02}/f{i:04}.txt", i % 20), content(i, 1));
    }
    source.commit_all("base");
    for i in 0..1_000 {
        source.write(&format!("d{:02}/f{i:04}.txt", i % 20), content(i, 2));
    }
    let store = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let probe = tempfile::tempdir().unwrap();
    assert!(
        handoff(probe.path(), &["snapshot", "--repo"])
            .arg(source.path())
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let full = t.elapsed();
    for round in 0..10 {
        let command = if round % 2 == 0 { "snapshot" } else { "push" };
        let mut cmd = handoff(store.path(), &[command, "--repo"]);
        cmd.arg(source.path());
        if command == "push" {
            cmd.args(["--harness", "scripted"]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(
            rng.next() % (full.as_micros() as u64).max(1),
        ));
        let _ = child.kill();
        let _ = child.wait();
        store_is_consistent(store.path())
            .unwrap_or_else(|e| panic!("round {round}, seed {seed}: {e}"));
        let fsck = handoff(store.path(), &["fsck", "--json"]).output().unwrap();
        assert_eq!(
            fsck.status.code(),
            Some(0),
            "round {round}, seed {seed}: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
    }
    // The next snapshot and push succeed.
    let out = handoff(store.path(), &["snapshot", "--repo"])
        .arg(source.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = handoff(store.path(), &["push", "--harness", "scripted", "--repo"])
        .arg(source.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    store_is_consistent(store.path()).unwrap();
}

/// Whether the crash points are compiled in; CI requires them
/// (`HANDOFF_REQUIRE_CRASH_POINTS=1`), elsewhere their tests skip.
fn crash_points() -> bool {
    if cfg!(feature = "crash-points") {
        return true;
    }
    assert!(
        std::env::var_os("HANDOFF_REQUIRE_CRASH_POINTS").is_none(),
        "the crash points are required: build with --features crash-points (or --all-features)"
    );
    eprintln!(
        "skipped: the crash points need --features crash-points (CI builds with --all-features)"
    );
    false
}

/// Kills at named points inside apply's writes — a file's temporary copy
/// written but not renamed, `index.lock` just created, half written and
/// fully written but not renamed — each checked to have landed there, then
/// the next apply finishes the job: every file and the staged state as the
/// snapshot's, no temporary file, no `index.lock` left.
#[test]
fn kills_inside_a_file_write_and_the_index_write_recover() {
    use handoff_workspace::crash;
    use std::os::unix::process::ExitStatusExt;
    if !crash_points() {
        return;
    }
    const N: usize = 60;
    let source = GitRepo::init();
    for i in 0..N {
        source.write(&format!("d{}/f{i:03}.txt", i % 6), content(i, 1));
    }
    source.commit_all("base");
    let base = source.tree_state();
    for i in 0..N {
        source.write(&format!("d{}/f{i:03}.txt", i % 6), content(i, 2));
        // Every other change staged, so the index changes too.
        if i % 2 == 0 {
            source.git(&["add", &format!("d{}/f{i:03}.txt", i % 6)]);
        }
    }
    source.write("new/staged.txt", "new and staged\n");
    source.git(&["add", "new/staged.txt"]);
    let wanted = source.tree_state();
    let wanted_status = source.status();
    let store = tempfile::tempdir().unwrap();
    let out = handoff(store.path(), &["snapshot", "--repo"])
        .arg(source.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let half = format!("{}@{}", crash::FILE_WRITTEN, N / 2);
    for point in [
        half.as_str(),
        crash::INDEX_LOCKED,
        crash::INDEX_HALF_WRITTEN,
        crash::INDEX_WRITTEN,
    ] {
        let target = GitRepo::clone_from(&source);
        let index = target.path().join(".git/index");
        let lock = target.path().join(".git/index.lock");
        let index_before = std::fs::read(&index).unwrap();
        let status = handoff(store.path(), &["apply", &id, "--repo"])
            .arg(target.path())
            .env("HANDOFF_CRASH_AT", point)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(6), "{point}: killed (SIGABRT) there");

        // The kill landed inside the write it names.
        let now = target.tree_state();
        if point == half {
            let mut temps = Vec::new();
            temp_files(target.path(), &mut temps);
            assert_eq!(
                temps.len(),
                1,
                "{point}: one file's temporary copy: {temps:?}"
            );
            let new = now
                .iter()
                .filter(|(p, v)| wanted.get(*p) == Some(*v) && base.get(*p) != Some(*v))
                .count();
            assert!(
                new > 0 && new < N,
                "{point}: mid-apply, {new} of {N} files new"
            );
            assert!(!lock.exists());
        } else {
            let written = std::fs::metadata(&lock).unwrap().len();
            match point {
                p if p == crash::INDEX_LOCKED => assert_eq!(written, 0, "{point}"),
                p if p == crash::INDEX_HALF_WRITTEN => assert!(written > 0, "{point}"),
                _ => assert!(written > 0, "{point}"),
            }
            assert_eq!(
                std::fs::read(&index).unwrap(),
                index_before,
                "{point}: index untouched"
            );
            assert_eq!(
                now, wanted,
                "{point}: every file was written before the index"
            );
        }

        // The next apply recovers and finishes.
        let out = handoff(store.path(), &["apply", &id, "--json", "--repo"])
            .arg(target.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{point}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!lock.exists(), "{point}: its own stale lock removed");
        let mut temps = Vec::new();
        temp_files(target.path(), &mut temps);
        assert!(temps.is_empty(), "{point}: {temps:?}");
        assert_eq!(target.tree_state(), wanted, "{point}");
        assert_eq!(
            target.status(),
            wanted_status,
            "{point}: the staged state too"
        );
    }

    // A lock another process holds is never taken or removed: the files are
    // written, the staged state is reported as not recorded, clearly.
    let target = GitRepo::clone_from(&source);
    let lock = target.path().join(".git/index.lock");
    std::fs::write(&lock, b"another git is writing").unwrap();
    let out = handoff(store.path(), &["apply", &id, "--json", "--repo"])
        .arg(target.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = report["failed"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("index.lock exists"), "{reason}");
    assert_eq!(std::fs::read(&lock).unwrap(), b"another git is writing");
    assert_eq!(target.tree_state(), wanted);
}
