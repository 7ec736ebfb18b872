//! Codex rollouts: lossless round trip, the model's view, install where the
//! CLI looks (with the fork recorded), finding sessions, and turns through
//! a fake `codex` that behaves like `codex exec --json resume`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use handoff_codex::{CodexHarness, find_by_id, find_latest, install, read_file, write};
use handoff_conversation::{Conversation, Message, Mode, Part, Role};
use handoff_harness::{AgentOptions, Handoff, Harness, Turn};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rollout.jsonl")
}

#[test]
fn round_trips_byte_for_byte_and_maps_the_model() {
    let original = std::fs::read_to_string(fixture()).unwrap();
    let (conversation, skipped) = read_file(&fixture(), Mode::Strict).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(
        conversation.id.to_string(),
        "5c2f0e3a-8b1d-4f6e-9a7c-1d2e3f4a5b6c"
    );
    assert_eq!(conversation.title, "Fix the failing test in src/lib.rs");
    let mut out = Vec::new();
    write(&conversation, &mut out, None).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), original);
    let parts: Vec<&Part> = conversation
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .collect();
    assert!(parts.iter().any(|p| matches!(p, Part::ToolCall { name, input, .. } if name == "shell" && input["command"][0] == "cargo")));
    assert!(parts.iter().any(
        |p| matches!(p, Part::ToolResult { call_id, output, is_error: true }
                if call_id == "call_7Xq2" && output == "test result: FAILED. 0 passed; 1 failed")
    ));
    assert!(
        parts
            .iter()
            .any(|p| matches!(p, Part::Reasoning { text } if text == "Look at the test first."))
    );
    assert!(
        conversation
            .messages
            .iter()
            .any(|m| m.role == Role::Assistant && m.plain_text().ends_with('✓'))
    );
}

#[test]
fn install_records_the_fork_and_is_found_by_id_and_cwd() {
    let (conversation, _) = read_file(&fixture(), Mode::Strict).unwrap();
    let home = tempfile::tempdir().unwrap();
    let new_id = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a";
    let cwd = "/srv/cloud/run-1/workspace";
    let file = install(&conversation, home.path(), cwd, new_id).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("rollout-") && name.ends_with(&format!("-{new_id}.jsonl")),
        "{name}"
    );
    assert!(file.starts_with(home.path().join("sessions")));
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["payload"]["id"], new_id);
    assert_eq!(first["payload"]["cwd"], cwd);
    assert_eq!(
        first["payload"]["forked_from_id"],
        "5c2f0e3a-8b1d-4f6e-9a7c-1d2e3f4a5b6c"
    );
    assert_eq!(find_by_id(home.path(), new_id).unwrap(), file);
    assert_eq!(find_latest(home.path(), cwd).unwrap(), file);
    assert!(find_by_id(home.path(), "missing").is_err());
    let (back, _) = read_file(&file, Mode::Strict).unwrap();
    assert_eq!(back.id.to_string(), new_id);
    assert_eq!(back.messages.len(), conversation.messages.len());
}

#[test]
fn foreign_conversations_become_valid_rollouts() {
    let mut c = Conversation::new("from claude", "claude-code");
    c.push(Message::text(Role::User, "continue"));
    c.push(Message::new(
        Role::Assistant,
        vec![Part::ToolCall {
            id: "toolu_1".into(),
            name: "Bash".into(),
            input: serde_json::json!({"command": "ls"}),
        }],
    ));
    let home = tempfile::tempdir().unwrap();
    let file = install(&c, home.path(), "/w", &c.id.to_string()).unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "session_meta");
    assert_eq!(lines[1]["payload"]["content"][0]["text"], "continue");
    assert_eq!(lines[2]["payload"]["type"], "function_call");
    assert_eq!(lines[2]["payload"]["arguments"], "{\"command\":\"ls\"}");
}

/// A failed tool result from another agent stays failed in the rollout, in
/// the form Codex writes a failed command, and reads back as failed with
/// its text; results in Codex's other forms keep their flag too.
#[test]
fn tool_failures_survive_the_trip_through_a_rollout() {
    let mut c = Conversation::new("from claude", "claude-code");
    for (call_id, output, is_error) in [("bad", "no such file", true), ("ok", "fine", false)] {
        c.push(Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: call_id.into(),
                output: output.into(),
                is_error,
            }],
        ));
    }
    let home = tempfile::tempdir().unwrap();
    let file = install(&c, home.path(), "/w", &c.id.to_string()).unwrap();
    let (back, _) = read_file(&file, Mode::Strict).unwrap();
    let results: Vec<_> = back
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolResult {
                call_id,
                output,
                is_error,
            } => Some((call_id.as_str(), output.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        vec![("bad", "no such file", true), ("ok", "fine", false)]
    );

    let dir = tempfile::tempdir().unwrap();
    let rollout = dir.path().join("forms.jsonl");
    let lines = [
        r#"{"timestamp":"2026-11-20T10:00:00.000Z","type":"session_meta","payload":{"id":"forms","cwd":"/w"}}"#,
        r#"{"timestamp":"2026-11-20T10:00:01.000Z","type":"response_item","payload":{"type":"function_call_output","call_id":"a","output":{"content":"denied","success":false}}}"#,
        r#"{"timestamp":"2026-11-20T10:00:02.000Z","type":"response_item","payload":{"type":"function_call_output","call_id":"b","output":"Exit code: 2\nWall time: 0.1 seconds\nOutput:\nboom"}}"#,
        r#"{"timestamp":"2026-11-20T10:00:03.000Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c","output":"Exit code: 0\nOutput:\nok"}}"#,
    ];
    std::fs::write(&rollout, lines.join("\n") + "\n").unwrap();
    let (forms, _) = read_file(&rollout, Mode::Strict).unwrap();
    let flags: Vec<_> = forms
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolResult {
                call_id, is_error, ..
            } => Some((call_id.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(flags, vec![("a", true), ("b", true), ("c", false)]);
}

#[test]
fn malformed_lines_name_file_and_line_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout-bad.jsonl");
    std::fs::write(
        &path,
        "{\"type\":\"session_meta\",\"payload\":{\"id\":\"x\"}}\n{oops\n",
    )
    .unwrap();
    assert!(
        read_file(&path, Mode::Strict)
            .unwrap_err()
            .to_string()
            .contains("rollout-bad.jsonl: line 2:")
    );
    assert_eq!(read_file(&path, Mode::Lenient).unwrap().1.len(), 1);
}

const FAKE: &str = r#"#!/bin/sh
[ "$*" = "exec --json --sandbox workspace-write --skip-git-repo-check resume $7 $8" ] || { echo "bad arguments: $*" >&2; exit 2; }
id="$7"; prompt=$(printf '%s' "$8" | awk 'BEGIN { ORS = "\\n" } { print }')
file=$(find "$CODEX_HOME/sessions" -name "rollout-*-$id.jsonl" | head -n 1)
[ -n "$file" ] || { echo "Error: no rollout found for thread id $id" >&2; exit 1; }
head -n 1 "$file" | grep -q "\"id\":\"$id\"" || { echo "session_meta id mismatch" >&2; exit 3; }
case "$prompt" in *crash*) printf '{"timestamp":"2026-11-25T00:00:00Z","type":"respo' >> "$file"; exit 137;; esac
printf '{"timestamp":"2026-11-25T00:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"%s"}]}}\n' "$prompt" >> "$file"
printf '{"timestamp":"2026-11-25T00:00:01.000Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"done in %s"}]}}\n' "$PWD" >> "$file"
echo '{"type":"thread.started","thread_id":"'"$id"'"}'
echo '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}'
"#;

fn fake(dir: &Path) -> PathBuf {
    let path = dir.join("codex");
    std::fs::write(&path, FAKE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn conformance_and_turns_with_a_fake_codex() {
    let bin = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let harness = CodexHarness::new()
        .with_program(fake(bin.path()))
        .with_home(home.path());
    handoff_harness::testing::harness_conformance(&harness).await;

    let (conversation, _) = read_file(&fixture(), Mode::Strict).unwrap();
    let work = tempfile::tempdir().unwrap();
    let handoff = Handoff::default();
    let turn = Turn {
        conversation: &conversation,
        prompt: "and add a test",
        workdir: work.path(),
        attachments: &[],
        handoff: &handoff,
        agent: &AgentOptions::default(),
        confinement: &handoff_harness::Confinement::default(),
        live: handoff_harness::Live::IDLE,
    };
    let added = harness.run_turn(turn).await.unwrap();
    let prompt = added[0].plain_text();
    assert!(
        prompt.starts_with("Note from handoff") && prompt.contains("\nand add a test"),
        "{prompt}"
    );
    assert!(added[1].plain_text().starts_with("done in "));

    let crash = Turn {
        prompt: "please crash",
        ..turn
    };
    let err = harness.run_turn(crash).await.unwrap_err();
    assert!(err.to_string().contains("exit status: 137"), "{err}");
    let file = find_by_id(home.path(), &conversation.id.to_string()).unwrap();
    assert!(
        read_file(&file, Mode::Strict).is_ok(),
        "the rollout stays valid"
    );

    // A native Codex under /tmp cannot start its sandbox helper inside the
    // private /tmp of `edits`: refused, typed, before anything runs or is
    // installed.
    let tmp = tempfile::tempdir_in("/tmp").unwrap();
    let native = tmp.path().join("codex");
    std::fs::write(&native, b"\x7fELF\x02\x01\x01").unwrap();
    std::fs::set_permissions(&native, std::fs::Permissions::from_mode(0o755)).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let err = CodexHarness::new()
        .with_program(&native)
        .with_home(elsewhere.path())
        .run_turn(turn)
        .await
        .unwrap_err();
    match &err {
        handoff_harness::Error::Refused { error, .. } => assert!(
            matches!(
                error.downcast_ref::<handoff_codex::Error>(),
                Some(handoff_codex::Error::SandboxUnderTmp { path }) if path == &native
            ),
            "{error:?}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing was installed"
    );

    let missing = CodexHarness::new()
        .with_program("/nonexistent/codex")
        .with_home(home.path())
        .run_turn(turn)
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("npm install -g @openai/codex"),
        "{missing}"
    );
}
