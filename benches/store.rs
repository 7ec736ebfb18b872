//! Filesystem store throughput against `cp -r` of the same files, in the
//! same run: putting N MiB of 1 MiB blobs (target ≥ 0.8× cp's throughput),
//! and re-putting them, which must write 0 new bytes.
//!
//! `HANDOFF_BENCH_STORE_MIB` sets the total (default 1024). Prints the
//! ratios; benchmarks report, they never fail on timings.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use handoff_store::{BlobStore, FsStore};

fn total_mib() -> usize {
    std::env::var("HANDOFF_BENCH_STORE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// Writes `count` files of 1 MiB of distinct pseudo-random bytes.
fn make_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..count)
        .map(|i| {
            let mut data = vec![0u8; 1 << 20];
            for chunk in data.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            let path = dir.join(format!("blob-{i:05}.bin"));
            std::fs::write(&path, data).unwrap();
            path
        })
        .collect()
}

/// Puts every file with a few puts in flight, as a host storing a batch
/// would (each put hashes on a blocking thread, so this uses both cores).
fn put_all(rt: &tokio::runtime::Runtime, store: &FsStore, files: &[PathBuf]) -> u64 {
    use futures_util::stream::{self, StreamExt};
    rt.block_on(async {
        stream::iter(files)
            .map(|file| store.put_file(file))
            .buffer_unordered(4)
            .map(|put| put.unwrap().new_bytes)
            .fold(0, |sum, n| async move { sum + n })
            .await
    })
}

fn cp(source: &Path, dest: &Path) {
    let ok = Command::new("cp")
        .arg("-r")
        .arg(source)
        .arg(dest)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -r failed");
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn bench(c: &mut Criterion) {
    let mib = total_mib();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let files = make_files(&source, mib);

    // Explicit medians of the two sides, interleaved, for the ratio line.
    // The store flushes each blob (its default); cp does not, so both are
    // also shown with the store's flushing off.
    let mut store_sync = Vec::new();
    let mut store_nosync = Vec::new();
    let mut cp_runs = Vec::new();
    for round in 0..3 {
        let dest = work.path().join(format!("cp-{round}"));
        let t = Instant::now();
        cp(&source, &dest);
        cp_runs.push(t.elapsed());
        std::fs::remove_dir_all(&dest).unwrap();

        for (sync, runs) in [(true, &mut store_sync), (false, &mut store_nosync)] {
            let dir = work.path().join(format!("store-{round}-{sync}"));
            let store = FsStore::new(&dir).with_sync(sync);
            let t = Instant::now();
            let written = put_all(&rt, &store, &files);
            runs.push(t.elapsed());
            assert_eq!(written, (mib as u64) << 20);
            if round == 0 && sync {
                let again = put_all(&rt, &store, &files);
                println!("re-put of {mib} MiB wrote {again} new bytes (expected 0)");
                if again != 0 {
                    println!("WARNING: re-putting identical content wrote new bytes");
                }
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    let throughput = |d: Duration| mib as f64 / d.as_secs_f64();
    let cp_t = throughput(median(cp_runs));
    for (label, runs) in [
        ("fsync on (default)", store_sync),
        ("fsync off", store_nosync),
    ] {
        let t = throughput(median(runs));
        println!(
            "put {mib} MiB of 1 MiB blobs, {label}: {t:.0} MiB/s; cp -r: {cp_t:.0} MiB/s; ratio {:.2} (target >= 0.8)",
            t / cp_t
        );
    }

    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("put_file 1MiB blobs (fsync off)", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(work.path()).unwrap(),
            |dir| put_all(&rt, &FsStore::new(dir.path()).with_sync(false), &files),
            criterion::BatchSize::PerIteration,
        )
    });
    group.bench_function("cp -r", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(work.path()).unwrap(),
            |dir| cp(&source, &dir.path().join("copy")),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
