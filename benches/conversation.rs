//! Loading a large conversation JSONL against `serde_json` parsing the same
//! lines into `serde_json::Value`, in the same run (target ≤ 1.5×), and the
//! peak memory of the load relative to the file size (target ≤ 3×),
//! measured in a child process from `/proc/self/status` (`VmHWM`).
//!
//! `HANDOFF_BENCH_CONVERSATION_MB` sets the size (default 100).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::io::{BufRead, BufReader, BufWriter};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use handoff_conversation::{Conversation, JsonlWriter, Message, Part, ReadOptions, Role};

const CHILD_ENV: &str = "HANDOFF_BENCH_CONVERSATION_CHILD";

fn megabytes() -> u64 {
    std::env::var("HANDOFF_BENCH_CONVERSATION_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Writes a transcript of about `mb` MB with realistic messages.
fn generate(path: &Path, mb: u64) {
    let conversation = Conversation::new("a long session", "claude-code");
    let file = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut out = JsonlWriter::new(file, &handoff_conversation::Header::of(&conversation)).unwrap();
    let paragraph = "The test fails because the temporary directory is shared between runs; \
                     we give each test its own directory and clean it up on drop. ";
    let mut written = 0u64;
    let mut i = 0u64;
    while written < mb << 20 {
        let message = match i % 3 {
            0 => Message::text(Role::User, paragraph.repeat(4)),
            1 => Message::new(
                Role::Assistant,
                vec![
                    Part::Reasoning {
                        text: paragraph.repeat(2),
                    },
                    Part::ToolCall {
                        id: format!("call-{i}"),
                        name: "edit_file".into(),
                        input: serde_json::json!({"path": format!("src/module_{i}.rs"), "old": paragraph, "new": paragraph.to_uppercase()}),
                    },
                ],
            ),
            _ => Message::new(
                Role::Tool,
                vec![Part::ToolResult {
                    call_id: format!("call-{}", i - 1),
                    output: paragraph.repeat(6),
                    is_error: false,
                }],
            ),
        };
        written += serde_json::to_vec(&message).unwrap().len() as u64 + 1;
        out.write_message(&message).unwrap();
        i += 1;
    }
    out.finish().unwrap();
}

fn load(path: &Path) -> Conversation {
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    Conversation::read_jsonl(reader, &ReadOptions::default())
        .unwrap()
        .0
}

fn parse_values(path: &Path) -> Vec<serde_json::Value> {
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    reader
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
        .collect()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn bench(c: &mut Criterion) {
    // Child mode: load once and report peak memory above the baseline.
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let before = peak_rss_kib();
        let conversation = load(Path::new(&path));
        println!(
            "child-peak-kib {} {}",
            peak_rss_kib().saturating_sub(before),
            conversation.messages.len()
        );
        std::process::exit(0);
    }
    let mb = megabytes();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conversation.jsonl");
    generate(&path, mb);
    let size = std::fs::metadata(&path).unwrap().len();

    let (mut ours, mut values) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let loaded = load(&path);
        ours.push(t.elapsed());
        drop(loaded);
        let t = Instant::now();
        let parsed = parse_values(&path);
        values.push(t.elapsed());
        drop(parsed);
    }
    let (o, v) = (median(ours), median(values));
    println!(
        "load {:.0} MB conversation: handoff {:?}, serde_json::Value {:?}, ratio {:.2} (target <= 1.5)",
        size as f64 / 1e6,
        o,
        v,
        o.as_secs_f64() / v.as_secs_f64()
    );

    let exe = std::env::current_exe().unwrap();
    let child = std::process::Command::new(exe)
        .args(["--bench"])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&child.stdout);
    if let Some(kib) = report
        .lines()
        .find_map(|l| l.strip_prefix("child-peak-kib "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|k| k.parse::<u64>().ok())
    {
        println!(
            "peak memory of the load: {:.0} MB for a {:.0} MB file, ratio {:.2} (target <= 3.0)",
            (kib * 1024) as f64 / 1e6,
            size as f64 / 1e6,
            (kib * 1024) as f64 / size as f64
        );
    }

    let mut group = c.benchmark_group("conversation");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("read_jsonl", |b| b.iter(|| load(&path)));
    group.bench_function("serde_json::Value per line", |b| {
        b.iter(|| parse_values(&path))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
