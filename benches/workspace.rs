//! Snapshot and apply against git doing the same job, in the same run.
//!
//! The repository: 20,000 committed files of about 2 KB in 200 directories,
//! then 500 modified, 50 deleted, 300 untracked and an ignored directory of
//! 5,000 files. `HANDOFF_BENCH_FILES` sets the file count (the other counts
//! scale with it); criterion's `--test` mode defaults to 2,000 files and one
//! timed run per side, so `cargo bench --bench workspace -- --test` is a
//! quick smoke run. Measured:
//!
//! - `snapshot` into a fresh, empty store versus `git stash create` plus
//!   `git hash-object -w` of the untracked files into a fresh, empty object
//!   directory (the repository's own objects reachable as an alternate), so
//!   both sides write everything new every time (target ≤ 0.8×);
//! - `apply` to a fresh clone versus `git apply` of the equivalent
//!   `git diff --binary HEAD` (untracked files included through
//!   intent-to-add in a throw-away index) to a fresh clone (target ≤ 1.0×);
//! - a second snapshot of the unchanged tree into the same store writes no
//!   new blob bytes;
//! - carrying unpushed history: a snapshot of a clone with 50 commits not
//!   pushed (together touching 500 files) plus the same uncommitted changes,
//!   versus `git bundle create` of that range plus the snapshot without
//!   history (target ≤ 1.0×).
//!
//! The repository's base is pushed to a bare `origin`, as a user's clone's
//! is, so snapshots carry only what the remote lacks.
//!
//! The ratio lines come from interleaved medians timed here with
//! `Instant` and are printed last, after criterion's groups; criterion gives
//! the distributions. Benchmarks report; they never fail on timings.

// A benchmark harness: panicking on a broken fixture and printing results
// are its interface, so the workspace's library lints do not fit here.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode};
use handoff_dev::git_command;
use handoff_dev::workload::{Scratch, Shape, build, content, git_capture, git_patch, make_changes};
use handoff_store::{BlobStore, Digest, FsStore};
use handoff_workspace::{ApplyOptions, Snapshot, SnapshotOptions, apply, capture, snapshot};

/// A clone of `origin` with `commits` commits not pushed, together touching
/// `shape.modified` files (about evenly), and the bench's uncommitted
/// changes on top.
fn build_ahead(shape: &Shape, origin: &Path, scratch: &Scratch, commits: usize) -> PathBuf {
    let dir = scratch.clone_of(origin);
    let per_commit = shape.modified.div_ceil(commits);
    for c in 0..commits {
        for k in 0..per_commit {
            let i = c * per_commit + k;
            // Files the uncommitted changes do not touch (those are every 7th).
            let file = (i * 7 + 3) % shape.files;
            std::fs::write(dir.join(shape.path(file)), content(i, 10 + c as u64)).unwrap();
        }
        let ok = git_command(&dir)
            .args(["commit", "-qam", &format!("local {c}")])
            .status()
            .unwrap()
            .success();
        assert!(ok, "git commit failed");
    }
    make_changes(shape, &dir);
    dir
}

/// `git bundle create` of the commits `dir` has that its origin lacks.
fn git_bundle(dir: &Path, out: &Path) {
    let ok = git_command(dir)
        .args(["bundle", "create", "-q"])
        .arg(out.join("ahead.bundle"))
        .args(["HEAD", "^origin/main"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "git bundle create failed");
}

fn git_apply(target: &Path, patch: &Path) {
    let ok = git_command(target)
        .arg("apply")
        .arg(patch)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git apply failed");
}

fn handoff_snapshot(rt: &tokio::runtime::Runtime, source: &Path, store: &FsStore) -> Snapshot {
    rt.block_on(snapshot(source, store, &SnapshotOptions::default()))
        .unwrap()
}

fn handoff_apply(rt: &tokio::runtime::Runtime, target: &Path, store: &dyn BlobStore, id: &Digest) {
    let report = rt
        .block_on(apply(target, store, id, &ApplyOptions::default()))
        .unwrap();
    assert!(
        report.failed.is_empty(),
        "apply failed: {:?}",
        report.failed
    );
}

/// The git tree id of everything in the working tree at `dir` that git
/// does not ignore (modes included). Every file is hashed into a new index
/// (a copy of the existing one would trust stat data that a same-second,
/// same-size rewrite can leave unchanged) and a throw-away object
/// directory, so neither the repository nor the objects git's side writes
/// later are touched.
fn worktree_tree_id(dir: &Path, scratch: &Path) -> String {
    std::fs::create_dir_all(scratch.join("objects")).unwrap();
    let git = |args: &[&str]| {
        let out = git_command(dir)
            .args(args)
            .env("GIT_INDEX_FILE", scratch.join("index"))
            .env("GIT_OBJECT_DIRECTORY", scratch.join("objects"))
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", dir.join(".git/objects"))
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["add", "-A"]);
    git(&["write-tree"]).trim().to_owned()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Times `ours` and `theirs` alternately (each after its own untimed
/// `setup`), `runs` times each; returns both medians.
fn interleaved<S, T>(
    runs: usize,
    mut setup: impl FnMut() -> S,
    mut ours: impl FnMut(&S),
    mut setup_theirs: impl FnMut() -> T,
    mut theirs: impl FnMut(&T),
) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..runs {
        // Alternate who goes first so neither always inherits the other's
        // cache and writeback state.
        let mut time_ours = || {
            let s = setup();
            let t = Instant::now();
            ours(&s);
            a.push(t.elapsed());
        };
        let mut time_theirs = || {
            let s = setup_theirs();
            let t = Instant::now();
            theirs(&s);
            b.push(t.elapsed());
        };
        if round % 2 == 0 {
            time_ours();
            time_theirs();
        } else {
            time_theirs();
            time_ours();
        }
    }
    (median(a), median(b))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--test` (or `cargo test --benches`, which passes no `--bench`) runs
    // every benchmark once: a smoke run, not a measurement.
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let files = std::env::var("HANDOFF_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 2_000 } else { 20_000 });
    let runs = if smoke { 1 } else { 5 };
    let shape = Shape::new(files);
    let mut summary = String::new();
    let mut note = |line: String| {
        println!("{line}");
        summary.push_str(&line);
        summary.push('\n');
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scratch = Scratch::new("handoff-bench-");

    let t = Instant::now();
    let (origin, source) = build(&shape);
    let source = source.path();
    note(format!(
        "repository: {} files in {} directories; {} modified, {} deleted, {} untracked, {} ignored (built in {:.1} s)",
        shape.files,
        shape.dirs,
        shape.modified,
        shape.deleted,
        shape.untracked,
        shape.ignored,
        t.elapsed().as_secs_f64()
    ));
    let untracked = String::from_utf8(
        git_command(source)
            .args(["ls-files", "--others", "--exclude-standard"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(untracked.lines().count(), shape.untracked);
    let patch = git_patch(source, &untracked, &scratch.dir());

    // The store apply reads from, and the unchanged re-snapshot.
    let store = FsStore::new(scratch.dir()).with_sync(false);
    let snap = handoff_snapshot(&rt, source, &store);
    assert_eq!(
        snap.manifest.entries.len(),
        shape.modified + shape.deleted + shape.untracked
    );
    let again = handoff_snapshot(&rt, source, &store);
    note(format!(
        "re-snapshot of the unchanged tree into the same store: new_bytes = {} (expected 0), same id: {}",
        again.new_bytes,
        again.id == snap.id
    ));
    if again.new_bytes != 0 || again.id != snap.id {
        note(format!(
            "WARNING !!! a snapshot of an unchanged tree wrote {} new bytes (id {} vs {})",
            again.new_bytes, again.id, snap.id
        ));
    }

    // Both sides produce the source's tree: checked once, untimed.
    let t = Instant::now();
    let (ours, theirs) = (scratch.clone_of(source), scratch.clone_of(source));
    let clone_time = t.elapsed() / 2;
    handoff_apply(&rt, &ours, &store, &snap.id);
    git_apply(&theirs, &patch);
    let tree = |dir: &Path| worktree_tree_id(dir, &scratch.dir());
    let expected = tree(source);
    assert_eq!(
        tree(&ours),
        expected,
        "handoff apply differs from the source"
    );
    assert_eq!(tree(&theirs), expected, "git apply differs from the source");
    println!(
        "both applies reproduce the source tree; a fresh clone takes {} (setup, untimed)",
        ms(clone_time)
    );

    // Medians for the ratio lines.
    let fresh_store = |dir: &PathBuf| FsStore::new(dir).with_sync(false);
    let (s_ours, s_git) = interleaved(
        runs,
        || scratch.dir(),
        |dir| {
            handoff_snapshot(&rt, source, &fresh_store(dir));
        },
        || scratch.dir(),
        |objects| git_capture(source, objects, &untracked),
    );
    // Where handoff's time goes: capture (status, reads, hashing) and storing.
    let (mut cap, mut put) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let store = fresh_store(&scratch.dir());
        let t = Instant::now();
        let captured = capture(source, &SnapshotOptions::default()).unwrap();
        cap.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(handoff_workspace::snapshot::store_capture(
            captured,
            &store,
            &handoff_workspace::NoProgress,
        ))
        .unwrap();
        put.push(t.elapsed());
    }
    let (cap, put) = (median(cap), median(put));
    let synced = median(
        (0..runs.min(3))
            .map(|_| {
                let store = FsStore::new(scratch.dir());
                let t = Instant::now();
                handoff_snapshot(&rt, source, &store);
                t.elapsed()
            })
            .collect(),
    );

    let (a_ours, a_git) = interleaved(
        runs,
        || scratch.clone_of(source),
        |target| handoff_apply(&rt, target, &store, &snap.id),
        || scratch.clone_of(source),
        |target| git_apply(target, &patch),
    );

    // Secret scanning before a push: capture alone vs capture + scan.
    let scanner = handoff_workspace::Scanner::builtin().unwrap();
    let (plain, scanned) = interleaved(
        runs,
        || (),
        |()| {
            capture(source, &SnapshotOptions::default()).unwrap();
        },
        || (),
        |()| {
            let captured = capture(source, &SnapshotOptions::default()).unwrap();
            assert!(scanner.scan_capture(&captured).is_empty());
        },
    );

    // Carrying unpushed history: 50 commits touching `modified` files,
    // against `git bundle create` of that range plus the snapshot without
    // history.
    let commits = 50.min(shape.modified);
    let ahead = build_ahead(&shape, origin.path(), &scratch, commits);
    let no_history = SnapshotOptions {
        carry_history: false,
        ..SnapshotOptions::default()
    };
    let carried = rt
        .block_on(snapshot(
            &ahead,
            &fresh_store(&scratch.dir()),
            &SnapshotOptions::default(),
        ))
        .unwrap();
    let history = carried.manifest.history.as_ref().unwrap();
    assert_eq!(history.commits(), commits);
    let (h_ours, h_git) = interleaved(
        runs,
        || scratch.dir(),
        |dir| {
            rt.block_on(snapshot(
                &ahead,
                &fresh_store(dir),
                &SnapshotOptions::default(),
            ))
            .unwrap();
        },
        || scratch.dir(),
        |dir| {
            git_bundle(&ahead, dir);
            rt.block_on(snapshot(&ahead, &fresh_store(dir), &no_history))
                .unwrap();
        },
    );

    // Criterion's distributions. Flat sampling and a measurement time of
    // about ten runs keep every benchmark near one run per sample, so the
    // whole bench stays within minutes even though each apply iteration
    // needs a fresh clone of the whole tree.
    let mut c = Criterion::default().configure_from_args();
    let target_time = |d: Duration| (d * 11).max(Duration::from_millis(500));
    let mut group = c.benchmark_group("workspace");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500));
    group.measurement_time(target_time(s_ours));
    group.bench_function("snapshot/handoff (fresh store)", |b| {
        b.iter_batched(
            || scratch.dir(),
            |dir| handoff_snapshot(&rt, source, &fresh_store(&dir)),
            BatchSize::PerIteration,
        )
    });
    group.measurement_time(target_time(s_git));
    group.bench_function("snapshot/git stash create + hash-object -w", |b| {
        b.iter_batched(
            || scratch.dir(),
            |objects| git_capture(source, &objects, &untracked),
            BatchSize::PerIteration,
        )
    });
    group.measurement_time(target_time(a_ours));
    group.bench_function("apply/handoff (fresh clone)", |b| {
        b.iter_batched(
            || scratch.clone_of(source),
            |target| handoff_apply(&rt, &target, &store, &snap.id),
            BatchSize::PerIteration,
        )
    });
    group.measurement_time(target_time(a_git));
    group.bench_function("apply/git apply (fresh clone)", |b| {
        b.iter_batched(
            || scratch.clone_of(source),
            |target| git_apply(&target, &patch),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    c.final_summary();

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let runs_note = if smoke {
        " (smoke run, one run each: not a measurement)"
    } else {
        ""
    };
    note(format!("medians of {runs} interleaved runs{runs_note}:"));
    note(format!(
        "  snapshot: handoff {} (capture {} + store {}), git stash create + hash-object -w {}",
        ms(s_ours),
        ms(cap),
        ms(put),
        ms(s_git)
    ));
    note(format!(
        "  snapshot with fsync per blob (FsStore's default, which the CLI uses): {}",
        ms(synced)
    ));
    note(format!(
        "  apply: handoff {}, git apply {}",
        ms(a_ours),
        ms(a_git)
    ));
    note(format!(
        "  secret scan: capture {}, capture + scan {}",
        ms(plain),
        ms(scanned)
    ));
    note(format!(
        "ratio snapshot/git-stash: {:.2} (target <= 0.8)",
        ratio(s_ours, s_git)
    ));
    note(format!(
        "ratio apply/git-apply: {:.2} (target <= 1.0)",
        ratio(a_ours, a_git)
    ));
    note(format!(
        "overhead secret-scan/capture: {:+.0}% (target <= +20%)",
        (ratio(scanned, plain) - 1.0) * 100.0
    ));
    note(format!(
        "  history: snapshot carrying {commits} commits ({} objects, {} bytes) {}, git bundle create + snapshot without history {}",
        history.objects.len(),
        history.bytes(),
        ms(h_ours),
        ms(h_git)
    ));
    note(format!(
        "ratio snapshot-with-history/(git-bundle + snapshot): {:.2} (target <= 1.0)",
        ratio(h_ours, h_git)
    ));
    note(format!(
        "re-snapshot new_bytes: {} (target 0)",
        again.new_bytes
    ));
    println!("\n== summary ==\n{summary}");
    println!("removing {} scratch directories…", scratch.len());
}
