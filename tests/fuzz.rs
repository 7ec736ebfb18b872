//! Bounded fuzzing of the decoders that read untrusted input: the snapshot
//! manifest, the run record, the conversation JSONL reader, and the Claude
//! Code and Codex native transcript readers. Random bytes and mutations of
//! valid documents must give a value or a typed error — never a panic, and
//! within bounded memory (the line and size limits).
//!
//! CI runs a few hundred cases per target. Run longer with
//! `HANDOFF_FUZZ_CASES=100000 cargo test --release --test fuzz`.
#![allow(clippy::unwrap_used)]

use handoff_conversation::{Conversation, Message, Mode, ReadOptions, Role};
use handoff_workspace::Manifest;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

fn config() -> Config {
    let cases = std::env::var("HANDOFF_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/fuzz.txt",
        ))),
        ..Config::default()
    }
}

fn valid_manifest() -> Vec<u8> {
    br#"{"format":"handoff.snapshot/v1","base":{"commit":"3b18e512dba79e4c8300dd08aeb37f8e728b8dad","branch":"main","remote":null},"entries":[{"path":"src/lib.rs","status":"modified","base":{"kind":"file","oid":"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391","size":0,"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"index":null,"result":{"kind":"executable","oid":"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391","size":0}}]}"#.to_vec()
}

/// A v2 manifest: the same with carried history.
fn valid_manifest_v2() -> Vec<u8> {
    let v1 = String::from_utf8(valid_manifest()).unwrap();
    let v2 = v1.replace("handoff.snapshot/v1", "handoff.snapshot/v2");
    let history = r#","history":{"boundary":["3b18e512dba79e4c8300dd08aeb37f8e728b8dad"],"objects":[{"oid":"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391","kind":"blob","size":0,"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}}"#;
    format!("{}{history}", &v2[..v2.len() - 1]).into_bytes()
}

fn valid_jsonl() -> Vec<u8> {
    let mut c = Conversation::new("fuzz", "warp");
    c.push(Message::text(Role::User, "hello"));
    c.push(Message::text(Role::Assistant, "hi"));
    let mut out = Vec::new();
    c.write_jsonl(&mut out).unwrap();
    out
}

/// Random edits of a valid input: flips, inserts, deletes, truncation,
/// duplication of a slice.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0usize..4, any::<usize>(), any::<u8>()), 1..8).prop_map(move |edits| {
        let mut data = seed.clone();
        for (op, at, byte) in edits {
            if data.is_empty() {
                data.push(byte);
                continue;
            }
            let i = at % data.len();
            match op {
                0 => data[i] ^= byte | 1,
                1 => data.insert(i, byte),
                2 => {
                    data.remove(i);
                }
                _ => {
                    let slice = data[i..(i + 16).min(data.len())].to_vec();
                    data.splice(i..i, slice);
                }
            }
        }
        data
    })
}

fn decode_manifest(bytes: &[u8]) {
    if let Ok(manifest) = Manifest::from_json(bytes) {
        if let Some(history) = &manifest.history {
            let _ = (history.commits(), history.bytes(), history.is_complete());
        }
        // Whatever decodes re-encodes, and every path is validated or refused.
        let _ = manifest.to_json();
        for entry in &manifest.entries {
            let _ = entry.repo_path();
        }
    }
}

fn read_conversation(bytes: &[u8]) {
    let tight = ReadOptions {
        mode: Mode::Lenient,
        max_line_bytes: 4096,
    };
    let _ = Conversation::read_jsonl(bytes, &tight);
    let _ = Conversation::read_jsonl(bytes, &ReadOptions::default());
    let _ = Conversation::from_json(bytes);
}

#[test]
fn manifest_decoder_never_panics() {
    assert!(
        Manifest::from_json(&valid_manifest_v2())
            .unwrap()
            .history
            .is_some()
    );
    let mut runner = TestRunner::new(config());
    runner
        .run(
            &prop_oneof![
                prop::collection::vec(any::<u8>(), 0..512),
                mutated(valid_manifest()),
                mutated(valid_manifest_v2()),
            ],
            |bytes| {
                decode_manifest(&bytes);
                Ok(())
            },
        )
        .unwrap();
}

/// A run record as a worker reads it: valid, with a session and an end.
fn valid_record() -> (handoff_engine::RunId, Vec<u8>) {
    use handoff_engine::{RepoSnapshot, Repository, RunRecord, Session};
    let mut session = Session::queued(
        Some("go".into()),
        vec![RepoSnapshot::new(".", handoff_store::Digest::of(b"start"))],
    );
    session.end = vec![RepoSnapshot::new(".", handoff_store::Digest::of(b"end"))];
    let record = RunRecord::new(
        handoff_conversation::ConversationId::new(),
        "warp",
        vec![Repository {
            path: ".".into(),
            source: Some("https://example.invalid/repo.git".into()),
            commit: Some("3b18e512dba79e4c8300dd08aeb37f8e728b8dad".into()),
            branch: Some("main".into()),
        }],
        session,
    );
    (record.id, serde_json::to_vec(&record).unwrap())
}

fn decode_record(id: handoff_engine::RunId, bytes: &[u8]) {
    if let Ok(record) = handoff_engine::RunRecord::decode(id, bytes) {
        // Whatever decodes is either valid or refused with a reason; its
        // helpers never panic.
        let _ = record.validate();
        let _ = record.last_good_end();
        for repo in &record.repositories {
            let _ = repo.place(id);
            let _ = repo.clone_source(id);
        }
    }
}

#[test]
fn run_record_decoder_never_panics() {
    let (id, valid) = valid_record();
    decode_record(id, &valid);
    assert!(
        handoff_engine::RunRecord::decode(id, &valid)
            .unwrap()
            .validate()
            .is_ok()
    );
    let mut runner = TestRunner::new(config());
    runner
        .run(
            &prop_oneof![
                prop::collection::vec(any::<u8>(), 0..512),
                mutated(valid.clone())
            ],
            |bytes| {
                decode_record(id, &bytes);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn conversation_reader_never_panics() {
    let mut runner = TestRunner::new(config());
    runner
        .run(
            &prop_oneof![
                prop::collection::vec(any::<u8>(), 0..512),
                mutated(valid_jsonl())
            ],
            |bytes| {
                read_conversation(&bytes);
                Ok(())
            },
        )
        .unwrap();
}

fn valid_claude() -> Vec<u8> {
    br#"{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/w","sessionId":"55604662-cf2a-4331-851a-ec234028f8ca","version":"2.1.38","type":"user","message":{"role":"user","content":"hi"},"uuid":"3579fa66-0f5d-400c-97b8-e2fbecfeb4ba","timestamp":"2026-02-10T21:11:52.438Z"}
{"parentUuid":"3579fa66-0f5d-400c-97b8-e2fbecfeb4ba","type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}},{"type":"thinking","thinking":"x"}]},"uuid":"7c676cb6-c0f4-4952-a21f-18df6af360c7","timestamp":"2026-02-10T21:11:53.000Z"}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"a"}],"is_error":false}]}}
"#.to_vec()
}

fn valid_codex() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/codex/tests/fixtures/rollout.jsonl"
    ))
    .unwrap()
}

fn read_native(bytes: &[u8]) {
    for mode in [Mode::Strict, Mode::Lenient] {
        if let Ok((c, _)) = handoff_claude_code::transcript::read(bytes, mode, "fuzz") {
            let mut out = Vec::new();
            handoff_claude_code::transcript::write(&c, &mut out, None).unwrap();
        }
        if let Ok((c, _)) = handoff_codex::read(bytes, mode, "fuzz") {
            let mut out = Vec::new();
            handoff_codex::write(&c, &mut out, None).unwrap();
        }
    }
}

#[test]
fn native_transcript_readers_never_panic() {
    let mut runner = TestRunner::new(config());
    runner
        .run(
            &prop_oneof![
                prop::collection::vec(any::<u8>(), 0..512),
                mutated(valid_claude()),
                mutated(valid_codex()),
            ],
            |bytes| {
                read_native(&bytes);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn deep_nesting_and_huge_lines_are_bounded() {
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    decode_manifest(deep.as_bytes());
    let mut jsonl = valid_jsonl();
    jsonl.extend(std::iter::repeat_n(b'{', 200_000));
    jsonl.push(b'\n');
    let tight = ReadOptions {
        mode: Mode::Lenient,
        max_line_bytes: 4096,
    };
    let (c, skipped) = Conversation::read_jsonl(&jsonl[..], &tight).unwrap();
    assert_eq!((c.messages.len(), skipped.len()), (2, 1));
}
