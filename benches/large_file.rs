//! A 2 GiB untracked file through the `handoff` binary, whole process:
//! `handoff snapshot` into a fresh filesystem store, then `handoff apply`
//! into a fresh checkout, each against `cp` of the same file (time ratio,
//! alternating pairs, medians), with each `handoff` process's peak resident
//! memory (from `/usr/bin/time -v`), asserted under 200 MiB: large files
//! stream, so memory does not grow with them.
//!
//! The binary is `target/release/handoff`: run `cargo build --release -p
//! handoff-cli` first (or point `HANDOFF_BIN` at one). Scratch space is
//! `HANDOFF_BENCH_DIR`, else `/dev/shm` where it exists (three copies of the
//! file: source, store, target), else the temporary directory.
//! `HANDOFF_BENCH_LARGE_MIB` changes the size (default 2048) for smoke
//! runs. Criterion then times a 64 MiB round trip, for regressions.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use handoff_dev::GitRepo;

/// The peak resident memory allowed to one `handoff` process.
const MAX_RSS: u64 = 200 << 20;

/// The handoff binary: `HANDOFF_BIN`, else `target/release/handoff`
/// (`cargo build --release -p handoff-cli` first: a nested cargo would wait
/// on the lock the bench's own cargo holds).
fn handoff_binary() -> PathBuf {
    let binary = std::env::var_os("HANDOFF_BIN").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(
                    || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
                    PathBuf::from,
                )
                .join("release")
                .join("handoff")
        },
        PathBuf::from,
    );
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --release -p handoff-cli` first (or set HANDOFF_BIN)",
        binary.display()
    );
    binary
}

fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HANDOFF_BENCH_DIR") {
        return dir.into();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

/// Writes `mib` MiB of noise to `path`, a MiB at a time.
fn write_noise(path: &Path, mib: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..mib {
        file.write_all(&handoff_dev::noise(1 << 20, i as u64))
            .unwrap();
    }
    file.flush().unwrap();
}

/// Runs `program` under `/usr/bin/time -v`: its wall time, peak resident
/// memory in bytes, and standard output.
fn measured(program: &Path, args: &[&str], dir: &Path) -> (Duration, u64, String) {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} {args:?} failed: {stderr}",
        program.display()
    );
    let kib: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("/usr/bin/time -v reports the peak resident set size");
    (
        elapsed,
        kib * 1024,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A repository with one commit and `big.bin` (`mib` MiB) untracked, and a
/// checkout of the same base to apply to.
struct Case {
    _root: tempfile::TempDir,
    repo: GitRepo,
    big: PathBuf,
    dir: PathBuf,
}

impl Case {
    fn new(mib: usize) -> Self {
        let root = tempfile::tempdir_in(scratch_root()).unwrap();
        let repo = GitRepo::init();
        repo.write("README", "large file bench\n");
        repo.commit_all("base");
        let big = repo.path().join("big.bin");
        write_noise(&big, mib);
        let dir = root.path().to_owned();
        Self {
            _root: root,
            repo,
            big,
            dir,
        }
    }

    fn target(&self, name: &str) -> PathBuf {
        let target = self.dir.join(name);
        let status = handoff_dev::git_command(&self.dir)
            .args(["clone", "-q"])
            .arg(self.repo.path())
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success());
        target
    }
}

/// One pair: snapshot and apply through handoff, and `cp` twice.
struct Pair {
    snapshot: (Duration, u64),
    apply: (Duration, u64),
    cp: Duration,
}

fn pair(handoff: &Path, case: &Case, round: usize, limit: &str) -> Pair {
    let store = case.dir.join(format!("store-{round}"));
    let store_arg = store.to_str().unwrap().to_owned();
    let (snap_time, snap_rss, id) = measured(
        handoff,
        &["--store", &store_arg, "snapshot", "--max-file-bytes", limit],
        case.repo.path(),
    );
    let id = id.trim().to_owned();
    let target = case.target(&format!("target-{round}"));
    let (apply_time, apply_rss, _) = measured(
        handoff,
        &[
            "--store",
            &store_arg,
            "apply",
            &id,
            "--max-file-bytes",
            limit,
        ],
        &target,
    );
    assert_eq!(
        std::fs::metadata(target.join("big.bin")).unwrap().len(),
        std::fs::metadata(&case.big).unwrap().len()
    );
    let copy = case.dir.join(format!("copy-{round}"));
    let start = Instant::now();
    let ok = Command::new("cp")
        .arg(&case.big)
        .arg(&copy)
        .status()
        .unwrap()
        .success();
    let cp = start.elapsed();
    assert!(ok);
    for done in [store, target, copy] {
        let _ = std::fs::remove_dir_all(&done);
        let _ = std::fs::remove_file(&done);
    }
    Pair {
        snapshot: (snap_time, snap_rss),
        apply: (apply_time, apply_rss),
        cp,
    }
}

fn main() {
    let handoff = handoff_binary();
    let mib: usize = std::env::var("HANDOFF_BENCH_LARGE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let limit = ((mib as u64 + 1) << 20).to_string();
    let case = Case::new(mib);
    let pairs: Vec<Pair> = (0..3)
        .map(|round| pair(&handoff, &case, round, &limit))
        .collect();
    let ratio = |f: &dyn Fn(&Pair) -> Duration| {
        median(
            pairs
                .iter()
                .map(|p| f(p).as_secs_f64() / p.cp.as_secs_f64())
                .collect(),
        )
    };
    let secs =
        |f: &dyn Fn(&Pair) -> Duration| median(pairs.iter().map(|p| f(p).as_secs_f64()).collect());
    let peak = |f: &dyn Fn(&Pair) -> u64| pairs.iter().map(f).max().unwrap_or(0);
    let (snap_rss, apply_rss) = (peak(&|p| p.snapshot.1), peak(&|p| p.apply.1));
    println!(
        "large_file: {mib} MiB untracked; cp {:.2} s (median of {})",
        secs(&|p| p.cp),
        pairs.len()
    );
    println!(
        "large_file: handoff snapshot {:.2} s, {:.2}x cp; peak RSS {} MiB (limit {} MiB)",
        secs(&|p| p.snapshot.0),
        ratio(&|p| p.snapshot.0),
        snap_rss >> 20,
        MAX_RSS >> 20
    );
    println!(
        "large_file: handoff apply {:.2} s, {:.2}x cp; peak RSS {} MiB (limit {} MiB)",
        secs(&|p| p.apply.0),
        ratio(&|p| p.apply.0),
        apply_rss >> 20,
        MAX_RSS >> 20
    );
    assert!(
        snap_rss < MAX_RSS && apply_rss < MAX_RSS,
        "a handoff process held more than {} MiB: snapshot {} MiB, apply {} MiB",
        MAX_RSS >> 20,
        snap_rss >> 20,
        apply_rss >> 20
    );
    drop(case);

    let small = Case::new(64);
    let limit = (65u64 << 20).to_string();
    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    let mut round = 100;
    criterion.bench_function("large_file/64MiB handoff snapshot + apply + cp", |b| {
        b.iter(|| {
            round += 1;
            pair(&handoff, &small, round, &limit)
        });
    });
    criterion.final_summary();
}
