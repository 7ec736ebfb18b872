//! Import and export of a large native session (Claude Code transcript and
//! Codex rollout) against `serde_json` parsing the same lines into
//! `serde_json::Value`, in the same run (target ≤ 2× each).
//!
//! `HANDOFF_BENCH_NATIVE_MB` sets the size (default 50).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use handoff_conversation::Mode;

fn megabytes() -> usize {
    std::env::var("HANDOFF_BENCH_NATIVE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn claude_lines(mb: usize) -> Vec<u8> {
    let text =
        "The flaky test shares a temporary directory between runs; give each its own. ".repeat(8);
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < mb << 20 {
        let uuid = format!("00000000-0000-4000-8000-{i:012}");
        let line = match i % 3 {
            0 => {
                serde_json::json!({"parentUuid": null, "isSidechain": false, "userType": "external", "cwd": "/home/dev/app", "sessionId": "55604662-cf2a-4331-851a-ec234028f8ca", "version": "2.1.39", "gitBranch": "main", "type": "user", "message": {"role": "user", "content": text}, "uuid": uuid, "timestamp": "2026-02-10T21:11:52.438Z"})
            }
            1 => {
                serde_json::json!({"parentUuid": null, "isSidechain": false, "type": "assistant", "message": {"id": "msg_1", "role": "assistant", "model": "claude", "content": [{"type": "thinking", "thinking": text, "signature": "sig"}, {"type": "tool_use", "id": format!("toolu_{i}"), "name": "Edit", "input": {"file_path": "/home/dev/app/src/lib.rs", "old_string": text, "new_string": text}}], "usage": {"input_tokens": 10, "output_tokens": 20}}, "uuid": uuid, "timestamp": "2026-02-10T21:11:53.000Z"})
            }
            _ => {
                serde_json::json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("toolu_{}", i - 1), "content": text, "is_error": false}]}, "toolUseResult": {"stdout": text}, "uuid": uuid, "timestamp": "2026-02-10T21:11:54.000Z"})
            }
        };
        serde_json::to_writer(&mut out, &line).unwrap();
        out.push(b'\n');
        i += 1;
    }
    out
}

fn codex_lines(mb: usize) -> Vec<u8> {
    let text = "Running the tests again after fixing the off-by-one in the parser. ".repeat(8);
    let mut out = Vec::new();
    writeln!(out, "{}", serde_json::json!({"timestamp": "2026-11-20T10:00:00.000Z", "type": "session_meta", "payload": {"id": "5c2f0e3a-8b1d-4f6e-9a7c-1d2e3f4a5b6c", "cwd": "/home/dev/app", "originator": "codex_cli_rs", "cli_version": "0.160.0"}})).unwrap();
    let mut i = 0u64;
    while out.len() < mb << 20 {
        let payload = match i % 3 {
            0 => {
                serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
            }
            1 => {
                serde_json::json!({"type": "function_call", "name": "shell", "arguments": serde_json::json!({"command": ["cargo", "test"], "note": text}).to_string(), "call_id": format!("call_{i}")})
            }
            _ => {
                serde_json::json!({"type": "function_call_output", "call_id": format!("call_{}", i - 1), "output": text})
            }
        };
        writeln!(out, "{}", serde_json::json!({"timestamp": "2026-11-20T10:00:01.000Z", "type": "response_item", "payload": payload})).unwrap();
        i += 1;
    }
    out
}

fn parse_values(path: &Path) -> usize {
    BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap())
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap())
        .collect::<Vec<_>>()
        .len()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn bench(c: &mut Criterion) {
    let mb = megabytes();
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude.jsonl");
    let codex = dir.path().join("rollout.jsonl");
    std::fs::write(&claude, claude_lines(mb)).unwrap();
    std::fs::write(&codex, codex_lines(mb)).unwrap();

    type Import = fn(&Path) -> handoff_conversation::Conversation;
    type Export = fn(&handoff_conversation::Conversation) -> usize;
    let harnesses: [(&str, &Path, Import, Export); 2] = [
        (
            "claude-code",
            &claude,
            |p| {
                handoff_claude_code::session::read_file(p, Mode::Strict)
                    .unwrap()
                    .0
            },
            |c| {
                let mut out = Vec::with_capacity(64 << 20);
                handoff_claude_code::transcript::write(c, &mut out, None).unwrap();
                out.len()
            },
        ),
        (
            "codex",
            &codex,
            |p| handoff_codex::read_file(p, Mode::Strict).unwrap().0,
            |c| {
                let mut out = Vec::with_capacity(64 << 20);
                handoff_codex::write(c, &mut out, None).unwrap();
                out.len()
            },
        ),
    ];
    for (name, path, import, export) in harnesses {
        let (mut imports, mut exports, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            let t = Instant::now();
            let conversation = import(path);
            imports.push(t.elapsed());
            let t = Instant::now();
            assert!(export(&conversation) > 0);
            exports.push(t.elapsed());
            let t = Instant::now();
            assert!(parse_values(path) > 0);
            values.push(t.elapsed());
        }
        let (i, e, v) = (median(imports), median(exports), median(values));
        println!(
            "{name} {} MB: import {i:?} ({:.2}x), export {e:?} ({:.2}x), serde_json::Value {v:?} (target <= 2x each)",
            std::fs::metadata(path).unwrap().len() >> 20,
            i.as_secs_f64() / v.as_secs_f64(),
            e.as_secs_f64() / v.as_secs_f64()
        );
    }

    let mut group = c.benchmark_group("native");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("claude-code import", |b| {
        b.iter(|| handoff_claude_code::session::read_file(&claude, Mode::Strict).unwrap())
    });
    group.bench_function("codex import", |b| {
        b.iter(|| handoff_codex::read_file(&codex, Mode::Strict).unwrap())
    });
    group.bench_function("serde_json::Value", |b| b.iter(|| parse_values(&claude)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
