//! A real Claude Code transcript — unknown fields, progress lines, file
//! snapshots and all — goes local → cloud, through two cloud sessions run by
//! the Claude Code harness (a fake `claude` that resumes like the real
//! one), and back to local: every original line survives with the same
//! JSON values, only the session id and working directory changed by each
//! install.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use handoff_claude_code::{ClaudeCodeHarness, session, transcript};
use handoff_conversation::Mode;
use handoff_dev::GitRepo;
use handoff_engine::{
    LocalEnvironment, Push, WorkerOptions, continue_locally, follow_up, push, run_session,
};
use handoff_store::{FsStore, MemoryStore};

const FAKE: &str = r#"#!/bin/sh
id="$3"; for arg; do prompt="$arg"; done
prompt=$(printf '%s' "$prompt" | awk 'BEGIN { ORS = "\\n" } { print }')
folder=$(printf '%s' "$PWD" | sed 's/[^a-zA-Z0-9]/-/g')
file="$CLAUDE_CONFIG_DIR/projects/$folder/$id.jsonl"
[ -f "$file" ] || { echo "No conversation found with session ID: $id" >&2; exit 1; }
n=$(wc -l < "$file" | tr -d ' ')
printf '{"type":"user","message":{"role":"user","content":"%s"},"uuid":"00000000-0000-4000-8000-%012d","sessionId":"%s","cwd":"%s","timestamp":"2026-11-25T00:00:00.000Z"}\n' "$prompt" "$n" "$id" "$PWD" >> "$file"
printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"ok"}]},"uuid":"00000000-0000-4000-9000-%012d","sessionId":"%s","cwd":"%s","timestamp":"2026-11-25T00:00:01.000Z"}\n' "$n" "$id" "$PWD" >> "$file"
echo '{"type":"result","subtype":"success","result":"ok"}'
"#;

fn without_ids(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("sessionId");
        o.remove("cwd");
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_survive_follow_up_and_continue_locally() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/claude-code/tests/fixtures/short.jsonl");
    let (local_session, _) = session::read_file(&fixture, Mode::Strict).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("claude");
    std::fs::write(&fake, FAKE).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cloud_home = tempfile::tempdir().unwrap();
    let agent = ClaudeCodeHarness::new()
        .with_program(&fake)
        .with_home(cloud_home.path());

    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    let store_dir = tempfile::tempdir().unwrap();
    let store = FsStore::new(store_dir.path());
    let pushed = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation: &local_session,
            harness: &agent,
            attachments_from: &MemoryStore::new(),
            prompt: Some("first cloud turn".into()),
            agent: Default::default(),
            snapshot: Default::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap();
    let envs = tempfile::tempdir().unwrap();
    let env = LocalEnvironment::new(envs.path());
    run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    follow_up(&store, pushed.run, &agent, "second cloud turn".into())
        .await
        .unwrap();
    run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    let back = continue_locally(&store, pushed.run, &agent, repo.path(), &Default::default())
        .await
        .unwrap();

    // Written back as a Claude Code session: the original lines first, then
    // the four lines the two cloud turns recorded.
    let mut out = Vec::new();
    transcript::write(&back.conversation, &mut out, None).unwrap();
    let written: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let original: Vec<serde_json::Value> = std::fs::read_to_string(&fixture)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), original.len() + 4);
    for (i, (w, o)) in written.iter().zip(&original).enumerate() {
        assert_eq!(
            without_ids(w.clone()),
            without_ids(o.clone()),
            "line {} changed",
            i + 1
        );
    }
    // Each cloud prompt reached the agent after the handoff note.
    let prompts: Vec<&str> = written[original.len()..]
        .iter()
        .filter_map(|v| v["message"]["content"].as_str())
        .map(|text| {
            assert!(text.starts_with("Note from handoff"), "{text}");
            text.trim_end().rsplit('\n').next().unwrap_or_default()
        })
        .collect();
    assert_eq!(prompts, vec!["first cloud turn", "second cloud turn"]);
}

const FAKE_CODEX: &str = r#"#!/bin/sh
while [ "$1" != resume ]; do shift; done; id="$2"; prompt="$3"
prompt=$(printf '%s' "$prompt" | awk 'BEGIN { ORS = "\\n" } { print }')
file=$(find "$CODEX_HOME/sessions" -name "rollout-*-$id.jsonl" | head -n 1)
[ -n "$file" ] || { echo "no rollout for $id" >&2; exit 1; }
printf '{"timestamp":"2026-11-25T00:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"%s"}]}}\n' "$prompt" >> "$file"
printf '{"timestamp":"2026-11-25T00:00:01.000Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"ok"}]}}\n' >> "$file"
"#;

fn without_codex_ids(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(p) = v.get_mut("payload").and_then(|p| p.as_object_mut()) {
        for key in ["id", "cwd", "forked_from_id"] {
            p.remove(key);
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codex_rollout_survives_follow_up_and_continue_locally() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/codex/tests/fixtures/rollout.jsonl");
    let (local_session, _) = handoff_codex::read_file(&fixture, Mode::Strict).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("codex");
    std::fs::write(&fake, FAKE_CODEX).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let agent = handoff_codex::CodexHarness::new()
        .with_program(&fake)
        .with_home(home.path());
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    let store_dir = tempfile::tempdir().unwrap();
    let store = FsStore::new(store_dir.path());
    let pushed = push(
        &store,
        Push {
            workspace: repo.path(),
            conversation: &local_session,
            harness: &agent,
            attachments_from: &MemoryStore::new(),
            prompt: Some("first cloud turn".into()),
            agent: Default::default(),
            snapshot: Default::default(),
            allow_secrets: false,
            variants: 1,
        },
    )
    .await
    .unwrap();
    let envs = tempfile::tempdir().unwrap();
    let env = LocalEnvironment::new(envs.path());
    run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    follow_up(&store, pushed.run, &agent, "second cloud turn".into())
        .await
        .unwrap();
    run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
        .await
        .unwrap()
        .unwrap();
    let back = continue_locally(&store, pushed.run, &agent, repo.path(), &Default::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    handoff_codex::write(&back.conversation, &mut out, None).unwrap();
    let written: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let original: Vec<serde_json::Value> = std::fs::read_to_string(&fixture)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), original.len() + 4);
    for (i, (w, o)) in written.iter().zip(&original).enumerate() {
        assert_eq!(
            without_codex_ids(w.clone()),
            without_codex_ids(o.clone()),
            "line {} changed",
            i + 1
        );
    }
}
