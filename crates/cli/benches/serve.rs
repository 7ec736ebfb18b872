//! The Runs page on a store with 10,000 runs: how long the first page
//! takes, whole server process over HTTP as a browser asks for it (target
//! ≤ 200 ms), the JSON behind its live updates, the engine's listing alone
//! (where the time goes), and the server's resident memory while every
//! page is browsed (it should stay flat: nothing is kept between
//! requests).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

#[path = "../tests/serving/mod.rs"]
mod serving;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use handoff_engine::view::{RunQuery, list_runs};
use serving::{Http, Server, add_runs, browse_all};

const RUNS: usize = 10_000;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    rt.block_on(add_runs(store.path(), RUNS));
    println!(
        "serve: made a store of {RUNS} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(store.path(), &[]);
    let http = Http::default();
    let first = format!("{}/", server.url);

    // The claim, measured on its own: whole requests, medians.
    let page = rt.block_on(http.get(&first));
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("of {RUNS} run(s)")));
    let samples: Vec<Duration> = (0..21)
        .map(|_| {
            let start = Instant::now();
            let page = rt.block_on(http.get(&first));
            assert_eq!(page.status, 200);
            start.elapsed()
        })
        .collect();
    let took = median(samples);
    println!(
        "serve: first page of {RUNS} runs: median {:.1} ms over 21 requests (target <= 200 ms: {})",
        took.as_secs_f64() * 1e3,
        if took <= Duration::from_millis(200) {
            "met"
        } else {
            "MISSED"
        }
    );

    let mut group = c.benchmark_group("serve");
    group.sample_size(20);
    group.bench_function("first page of 10,000 runs (HTML over HTTP)", |b| {
        b.iter(|| rt.block_on(http.get(&first)))
    });
    let api = format!("{}/api/runs", server.url);
    group.bench_function("first page of 10,000 runs (live-update JSON)", |b| {
        b.iter(|| rt.block_on(http.get(&api)))
    });
    let fs = handoff_store::FsStore::new(store.path());
    group.bench_function("list_runs first page, in process", |b| {
        b.iter(|| rt.block_on(list_runs(&fs, &RunQuery::default())).unwrap())
    });
    group.finish();

    // Memory while paging: browse every page (200 of 50), three times.
    let browse = || rt.block_on(browse_all(&http, &server));
    let before = server.rss_kib();
    let start = Instant::now();
    let pages = browse();
    let one_pass = start.elapsed();
    let warm = server.rss_kib();
    browse();
    browse();
    let after = server.rss_kib();
    println!(
        "serve: resident memory while paging {pages} pages of {RUNS} runs ({:.0} ms a page): \
         {before} KiB before, {warm} KiB after one pass, {after} KiB after three ({:+} KiB)",
        one_pass.as_secs_f64() * 1e3 / pages as f64,
        after as i64 - warm as i64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
