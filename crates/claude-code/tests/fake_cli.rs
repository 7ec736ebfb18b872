//! The harness against a fake `claude` that behaves like the real CLI's
//! non-interactive resume: it looks for the session where Claude Code
//! would (`$CLAUDE_CONFIG_DIR/projects/<folder of $PWD>/<id>.jsonl`) and
//! says "No conversation found" otherwise, appends a turn in the real line
//! format, and prints the stream-json shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use handoff_claude_code::{ClaudeCodeHarness, paths, session};
use handoff_conversation::{Conversation, Message, Mode, Role};
use handoff_harness::{AgentOptions, Handoff, Harness, Turn};

const FAKE: &str = r#"#!/bin/sh
[ "$1" = "-p" ] && [ "$2" = "--resume" ] && [ "$4" = "--output-format" ] && [ "$5" = "stream-json" ] && [ "$6" = "--verbose" ] && [ "$7" = "--permission-mode" ] && [ "$8" = "acceptEdits" ] && [ $# = 9 ] || { echo "bad arguments: $*" >&2; exit 2; }
id="$3"; prompt=$(printf '%s' "$9" | awk 'BEGIN { ORS = "\\n" } { print }')
folder=$(printf '%s' "$PWD" | sed 's/[^a-zA-Z0-9]/-/g')
file="$CLAUDE_CONFIG_DIR/projects/$folder/$id.jsonl"
if [ ! -f "$file" ]; then echo "No conversation found with session ID: $id" >&2; exit 1; fi
tail -n 1 "$file" | grep -q '^{.*}$' || { echo "session file is malformed" >&2; exit 3; }
case "$prompt" in *crash*) printf '{"type":"assistant","mess' >> "$file"; exit 137;; esac
n=$(wc -l < "$file" | tr -d ' ')
u1="00000000-0000-4000-8000-$(printf '%012d' $((n + 1)))"
u2="00000000-0000-4000-8000-$(printf '%012d' $((n + 2)))"
printf '{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"%s","sessionId":"%s","version":"2.1.99","type":"user","message":{"role":"user","content":"%s"},"uuid":"%s","timestamp":"2026-11-25T00:00:00.000Z"}\n' "$PWD" "$id" "$prompt" "$u1" >> "$file"
printf '{"parentUuid":"%s","isSidechain":false,"userType":"external","cwd":"%s","sessionId":"%s","version":"2.1.99","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-fake","content":[{"type":"text","text":"done: %s lines before"}]},"type":"assistant","uuid":"%s","timestamp":"2026-11-25T00:00:01.000Z"}\n' "$u1" "$PWD" "$id" "$n" "$u2" >> "$file"
echo "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"$id\"}"
echo "{\"type\":\"assistant\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"done\"}]},\"session_id\":\"$id\"}"
echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\",\"session_id\":\"$id\"}"
"#;

fn fake(dir: &Path) -> PathBuf {
    let path = dir.join("claude");
    std::fs::write(&path, FAKE).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn turn<'a>(
    conversation: &'a Conversation,
    prompt: &'a str,
    workdir: &'a Path,
    handoff: &'a Handoff,
) -> Turn<'a> {
    const AGENT: &AgentOptions = &AgentOptions {
        permissions: handoff_harness::Permissions::Edits,
        model: None,
        network: handoff_harness::Network::Host,
    };
    const UNCONFINED: &handoff_harness::Confinement = &handoff_harness::Confinement {
        clean_env: false,
        home: None,
        tmp: None,
        sandbox: None,
    };
    Turn {
        conversation,
        prompt,
        workdir,
        attachments: &[],
        handoff,
        agent: AGENT,
        confinement: UNCONFINED,
        live: handoff_harness::Live::IDLE,
    }
}

#[tokio::test]
async fn conformance_with_a_fake_claude() {
    let bin = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let harness = ClaudeCodeHarness::new()
        .with_program(fake(bin.path()))
        .with_home(config.path());
    handoff_harness::testing::harness_conformance(&harness).await;
}

#[tokio::test]
async fn a_real_transcript_with_unknown_fields_survives_a_turn() {
    let bin = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/short.jsonl");
    let (conversation, _) = session::read_file(&fixture, Mode::Strict).unwrap();
    let harness = ClaudeCodeHarness::new()
        .with_program(fake(bin.path()))
        .with_home(config.path());
    let handoff = Handoff::default();
    let added = harness
        .run_turn(turn(&conversation, "continue", work.path(), &handoff))
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[1].role, Role::Assistant);
    assert_eq!(
        added[1].plain_text(),
        format!("done: {} lines before", conversation.messages.len())
    );

    // The installed file holds every original line, values unchanged apart
    // from the session id and working directory it was installed under.
    let cwd = std::fs::canonicalize(work.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let file = paths::session_file(config.path(), &cwd, &conversation.id.to_string());
    let installed: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let original: Vec<serde_json::Value> = std::fs::read_to_string(&fixture)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(installed.len(), original.len() + 2);
    for (mut a, b) in installed.into_iter().zip(original) {
        for key in ["sessionId", "cwd"] {
            if let (Some(slot), Some(value)) = (a.get_mut(key), b.get(key)) {
                *slot = value.clone();
            }
        }
        assert_eq!(a, b);
    }
}

#[tokio::test]
async fn missing_binary_and_crashes_are_failed_turns_and_the_file_stays_valid() {
    let config = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut conversation = Conversation::new("c", "claude-code");
    conversation.push(Message::text(Role::User, "hello"));
    let handoff = Handoff::default();
    let missing = ClaudeCodeHarness::new()
        .with_program("/nonexistent/claude")
        .with_home(config.path())
        .run_turn(turn(&conversation, "x", work.path(), &handoff))
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("npm install -g @anthropic-ai/claude-code"),
        "{missing}"
    );

    let bin = tempfile::tempdir().unwrap();
    let harness = ClaudeCodeHarness::new()
        .with_program(fake(bin.path()))
        .with_home(config.path());
    let crashed = harness
        .run_turn(turn(&conversation, "please crash", work.path(), &handoff))
        .await
        .unwrap_err();
    assert!(
        crashed.to_string().contains("exit status: 137"),
        "{crashed}"
    );
    let cwd = std::fs::canonicalize(work.path())
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let file = paths::session_file(config.path(), &cwd, &conversation.id.to_string());
    let (after, skipped) = session::read_file(&file, Mode::Strict).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(after.messages.len(), 1, "the partial line was cut");
    // The next turn works on the repaired file.
    harness
        .run_turn(turn(&conversation, "again", work.path(), &handoff))
        .await
        .unwrap();
}
