//! Snapshot and apply against git doing the same job, in the same run.
//!
//! The repository: 20,000 files of about 2 KB in 200 directories, then 500
//! modified, 50 deleted, 300 untracked and an ignored directory of 5,000
//! files (`HANDOFF_BENCH_FILES` scales it down for smoke runs). Measured:
//!
//! - `snapshot` into a fresh store versus `git stash create` plus
//!   `git hash-object -w` of the untracked files (target ≤ 0.8×);
//! - `apply` to a fresh clone versus `git apply` of the equivalent
//!   `git diff --binary` (target ≤ 1.0×);
//! - a second snapshot of the unchanged tree writes no new blob bytes.
//!
//! Ratios come from interleaved medians measured here; criterion groups give
//! the distributions. Benchmarks report; they never fail on timings.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use handoff_dev::{GitRepo, git_command};
use handoff_store::FsStore;
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};

struct Shape {
    files: usize,
    dirs: usize,
    modified: usize,
    deleted: usize,
    untracked: usize,
    ignored: usize,
}

fn shape() -> Shape {
    let files = std::env::var("HANDOFF_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000usize);
    let scale = |n: usize| (n * files / 20_000).max(1);
    Shape {
        files,
        dirs: scale(200),
        modified: scale(500),
        deleted: scale(50),
        untracked: scale(300),
        ignored: scale(5_000),
    }
}

/// About 2 KB of text that differs per file and per `salt`.
fn content(i: usize, salt: u64) -> String {
    let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    let mut out = String::with_capacity(2100);
    while out.len() < 2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push_str(&format!("line {:016x} of file {i}\n", state));
    }
    out
}

fn path(shape: &Shape, i: usize) -> String {
    format!("dir{:03}/file{i:05}.txt", i % shape.dirs)
}

fn build(shape: &Shape) -> GitRepo {
    let repo = GitRepo::init();
    repo.write(".gitignore", "ignored/\n");
    for i in 0..shape.files {
        repo.write(&path(shape, i), content(i, 0));
    }
    repo.commit_all("base");
    for i in 0..shape.modified {
        repo.write(&path(shape, i * 7 % shape.files), content(i, 1));
    }
    for i in 0..shape.deleted {
        repo.remove(&path(shape, shape.files - 1 - i * 3));
    }
    for i in 0..shape.untracked {
        repo.write(
            &format!("new/dir{:02}/untracked{i:04}.txt", i % 10),
            content(i, 2),
        );
    }
    for i in 0..shape.ignored {
        repo.write(&format!("ignored/cache{i:05}.bin"), content(i, 3));
    }
    repo
}

fn untracked_paths(repo: &GitRepo) -> String {
    repo.git(&["ls-files", "--others", "--exclude-standard"])
}

/// git doing the capture-and-store job: a stash commit of the tracked
/// changes, and the untracked files written as blobs.
fn git_capture(repo: &GitRepo, untracked: &str) {
    repo.git(&["stash", "create"]);
    let mut child = git_command(repo.path())
        .args(["hash-object", "-w", "--stdin-paths"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(untracked.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn bench(c: &mut Criterion) {
    let shape = shape();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    println!("building a repository of {} files…", shape.files);
    let source = build(&shape);
    let untracked = untracked_paths(&source);

    // The patch git applies: the same changes, untracked files included via
    // intent-to-add in a throw-away copy so the source's index is untouched.
    let store_dir = work.path().join("store");
    let store = FsStore::new(&store_dir).with_sync(false);
    let snap = rt
        .block_on(snapshot(source.path(), &store, &SnapshotOptions::default()))
        .unwrap();
    let patch_repo = GitRepo::clone_from(&source);
    rt.block_on(apply(
        patch_repo.path(),
        &store,
        &snap.id,
        &ApplyOptions::default(),
    ))
    .unwrap();
    patch_repo.git(&["add", "-N", "."]);
    let patch = work.path().join("changes.patch");
    std::fs::write(&patch, patch_repo.git(&["diff", "--binary", "HEAD"])).unwrap();

    let again = rt
        .block_on(snapshot(source.path(), &store, &SnapshotOptions::default()))
        .unwrap();
    println!(
        "second snapshot of the unchanged tree: {} new bytes (expected 0), same id: {}",
        again.new_bytes,
        again.id == snap.id
    );
    if again.new_bytes != 0 {
        println!("WARNING: an unchanged tree wrote new blob bytes");
    }

    // Interleaved medians for the ratio lines.
    let runs = 5;
    let (mut ours, mut git) = (Vec::new(), Vec::new());
    for round in 0..runs {
        let dir = work.path().join(format!("fresh-store-{round}"));
        let fresh = FsStore::new(&dir).with_sync(false);
        let t = Instant::now();
        rt.block_on(snapshot(source.path(), &fresh, &SnapshotOptions::default()))
            .unwrap();
        ours.push(t.elapsed());
        let t = Instant::now();
        git_capture(&source, &untracked);
        git.push(t.elapsed());
    }
    let (s_ours, s_git) = (median(ours), median(git));
    println!(
        "snapshot: handoff {:?}, git stash create + hash-object {:?}, ratio {:.2} (target <= 0.8)",
        s_ours,
        s_git,
        s_ours.as_secs_f64() / s_git.as_secs_f64()
    );

    // Secret scanning before a push: capture alone vs capture + scan.
    let (mut plain, mut scanned) = (Vec::new(), Vec::new());
    let scanner = handoff_workspace::Scanner::builtin().unwrap();
    for _ in 0..runs {
        let t = Instant::now();
        let capture =
            handoff_workspace::capture(source.path(), &SnapshotOptions::default()).unwrap();
        plain.push(t.elapsed());
        let t = Instant::now();
        let capture2 =
            handoff_workspace::capture(source.path(), &SnapshotOptions::default()).unwrap();
        let findings = scanner.scan_capture(&capture2);
        scanned.push(t.elapsed());
        assert!(findings.is_empty());
        drop(capture);
    }
    let (p, sc) = (median(plain), median(scanned));
    println!(
        "secret scan: capture {:?}, capture + scan {:?}, overhead {:.0}% (target <= 20%)",
        p,
        sc,
        (sc.as_secs_f64() / p.as_secs_f64() - 1.0) * 100.0
    );

    let (mut ours, mut git) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let target = GitRepo::clone_from(&source);
        let t = Instant::now();
        let report = rt
            .block_on(apply(
                target.path(),
                &store,
                &snap.id,
                &ApplyOptions::default(),
            ))
            .unwrap();
        ours.push(t.elapsed());
        assert!(report.failed.is_empty());
        let target = GitRepo::clone_from(&source);
        let t = Instant::now();
        let ok = git_command(target.path())
            .arg("apply")
            .arg(&patch)
            .status()
            .unwrap()
            .success();
        git.push(t.elapsed());
        assert!(ok, "git apply failed");
    }
    let (a_ours, a_git) = (median(ours), median(git));
    println!(
        "apply: handoff {:?}, git apply {:?}, ratio {:.2} (target <= 1.0)",
        a_ours,
        a_git,
        a_ours.as_secs_f64() / a_git.as_secs_f64()
    );

    let mut group = c.benchmark_group("workspace");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("handoff snapshot (fresh store)", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(work.path()).unwrap(),
            |dir| {
                let fresh = FsStore::new(dir.path()).with_sync(false);
                rt.block_on(snapshot(source.path(), &fresh, &SnapshotOptions::default()))
                    .unwrap();
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("git stash create + hash-object -w", |b| {
        b.iter(|| git_capture(&source, &untracked))
    });
    group.bench_function("handoff apply (fresh clone)", |b| {
        b.iter_batched(
            || GitRepo::clone_from(&source),
            |target| {
                rt.block_on(apply(
                    target.path(),
                    &store,
                    &snap.id,
                    &ApplyOptions::default(),
                ))
                .unwrap();
                target
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("git apply (fresh clone)", |b| {
        b.iter_batched(
            || GitRepo::clone_from(&source),
            |target| {
                let ok = git_command(target.path())
                    .arg("apply")
                    .arg(&patch)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok);
                target
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
