//! A conversation started in one harness continues in another: Claude Code
//! ↔ Codex, and a Warp (handoff-native) conversation into each. Messages,
//! tool calls and tool results convert; what has no counterpart (reasoning,
//! attachments, system notes) arrives as readable text, never dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use handoff_conversation::{AttachmentRef, Conversation, Message, Mode, Part, Role};
use handoff_store::Digest;

fn texts(c: &Conversation) -> Vec<String> {
    c.messages
        .iter()
        .map(Message::plain_text)
        .filter(|t| !t.is_empty())
        .collect()
}

fn calls(c: &Conversation) -> Vec<(String, serde_json::Value)> {
    c.messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolCall { name, input, .. } => Some((name.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

fn results(c: &Conversation) -> Vec<String> {
    c.messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolResult { output, .. } => Some(output.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn claude_code_to_codex_and_back() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/claude-code/tests/fixtures/tool_heavy.jsonl");
    let (claude, _) = handoff_claude_code::session::read_file(&fixture, Mode::Strict).unwrap();
    let home = tempfile::tempdir().unwrap();
    let rollout =
        handoff_codex::install(&claude, home.path(), "/w", &claude.id.to_string()).unwrap();
    let (codex, skipped) = handoff_codex::read_file(&rollout, Mode::Strict).unwrap();
    assert!(skipped.is_empty());
    for text in texts(&claude) {
        assert!(
            texts(&codex).iter().any(|t| t.contains(&text)),
            "lost in Codex: {text:.60}"
        );
    }
    assert_eq!(
        calls(&codex),
        calls(&claude),
        "tool calls convert by name and input"
    );
    assert_eq!(results(&codex), results(&claude), "tool results convert");

    let config = tempfile::tempdir().unwrap();
    let file =
        handoff_claude_code::session::install(&codex, config.path(), "/w", &codex.id.to_string())
            .unwrap();
    let (again, _) = handoff_claude_code::session::read_file(&file, Mode::Strict).unwrap();
    for text in texts(&claude) {
        assert!(
            texts(&again).iter().any(|t| t.contains(&text)),
            "lost on the way back: {text:.60}"
        );
    }
    assert_eq!(calls(&again), calls(&claude));
    assert_eq!(results(&again), results(&claude));
}

#[test]
fn a_warp_conversation_continues_in_claude_code_and_codex() {
    let mut warp = Conversation::new("from warp", "warp");
    warp.push(Message::new(
        Role::User,
        vec![
            Part::Text {
                text: "fix the build".into(),
            },
            Part::Attachment(AttachmentRef {
                digest: Digest::of(b"log"),
                name: "build.log".into(),
                media_type: "text/plain".into(),
                size: 3,
            }),
        ],
    ));
    warp.push(Message::new(
        Role::Assistant,
        vec![
            Part::Reasoning {
                text: "the linker flag is wrong".into(),
            },
            Part::ToolCall {
                id: "w-1".into(),
                name: "run".into(),
                input: serde_json::json!({"cmd": "make"}),
            },
        ],
    ));
    warp.push(Message::new(
        Role::Tool,
        vec![Part::ToolResult {
            call_id: "w-1".into(),
            output: "ok".into(),
            is_error: false,
        }],
    ));
    warp.push(Message::text(Role::Assistant, "fixed"));

    let config = tempfile::tempdir().unwrap();
    let file =
        handoff_claude_code::session::install(&warp, config.path(), "/w", &warp.id.to_string())
            .unwrap();
    let (claude, _) = handoff_claude_code::session::read_file(&file, Mode::Strict).unwrap();
    let home = tempfile::tempdir().unwrap();
    let rollout = handoff_codex::install(&warp, home.path(), "/w", &warp.id.to_string()).unwrap();
    let (codex, _) = handoff_codex::read_file(&rollout, Mode::Strict).unwrap();
    for converted in [&claude, &codex] {
        let all = texts(converted).join("\n");
        assert!(
            all.contains("fix the build") && all.contains("fixed"),
            "{all}"
        );
        assert!(
            all.contains("(reasoning) the linker flag is wrong"),
            "reasoning carried as text: {all}"
        );
        assert!(
            all.contains("[attachment build.log"),
            "attachment carried as text: {all}"
        );
        assert_eq!(
            calls(converted),
            vec![("run".to_owned(), serde_json::json!({"cmd": "make"}))]
        );
        assert_eq!(results(converted), vec!["ok".to_owned()]);
    }
}
