//! The conversation so far as a compact document, for agents whose CLI
//! cannot load a conversation natively.
//!
//! Agents with native sessions resume an installed session that holds the
//! whole history ([`HistoryLoading::Native`]). Other agents (any
//! [`CommandHarness`](crate::CommandHarness) program, or an agent whose
//! service has no conversation to continue) get the history as a Markdown file they are pointed to in the prompt: oldest
//! message first, newest last, text in full, reasoning and tool traffic
//! summarised in a line each, attachments listed with the paths of the
//! files the turn provides. Which agents need it is data each harness
//! declares ([`Harness::history`](crate::Harness::history)), so the engine
//! never asks which harness it runs.
//!
//! ```
//! use handoff_conversation::{Conversation, Message, Part, Role};
//! use handoff_harness::history;
//!
//! let mut c = Conversation::new("fix the parser", "some-agent");
//! c.push(Message::text(Role::User, "the parser drops the last token"));
//! c.push(Message::new(Role::Assistant, vec![Part::ToolCall {
//!     id: "t1".into(),
//!     name: "read_file".into(),
//!     input: serde_json::json!({"path": "src/parse.rs"}),
//! }]));
//! let doc = history::render(&c.title, &c.harness, &c.messages, &[]);
//! assert!(doc.contains("the parser drops the last token"));
//! assert!(doc.contains("read_file"));
//! ```

use std::path::{Path, PathBuf};

use handoff_conversation::{Message, Part, Role};
use serde_json::Value;

use crate::AttachmentFile;

pub use crate::coverage::HistoryLoading;

/// The file name the document is written under.
pub const FILE_NAME: &str = "handoff-history.md";

/// How much of a tool call's input, a tool's output or a reasoning text is
/// kept (in characters); the rest is counted, not copied.
pub const SUMMARY_CHARS: usize = 400;

/// Renders `messages` (oldest first) of the conversation titled `title`,
/// held by `harness`, with the turn's `attachments`.
pub fn render(
    title: &str,
    harness: &str,
    messages: &[Message],
    attachments: &[AttachmentFile],
) -> String {
    let mut doc = String::new();
    doc.push_str(&format!("# Conversation so far: {title}\n\n"));
    doc.push_str(&format!(
        "Handed over by handoff from {harness}: {} message(s), oldest first, newest last. \
         Text is complete; reasoning, tool calls and tool results are summarised.\n",
        messages.len()
    ));
    if !attachments.is_empty() {
        doc.push_str("\n## Attachments\n\n");
        for file in attachments {
            doc.push_str(&format!(
                "- {} ({}, {} bytes): {}\n",
                file.reference.name,
                file.reference.media_type,
                file.reference.size,
                file.path.display()
            ));
        }
    }
    for message in messages {
        let body = render_parts(message, attachments);
        if body.trim().is_empty() {
            // Notes without content (a native format's bookkeeping lines)
            // say nothing to the next agent.
            continue;
        }
        let who = match message.role {
            Role::System => "System",
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::Tool => "Tool",
        };
        doc.push_str(&format!(
            "\n## {who} ({})\n\n{}\n",
            message.time.format("%Y-%m-%d %H:%M UTC"),
            body.trim_end()
        ));
    }
    doc
}

fn render_parts(message: &Message, attachments: &[AttachmentFile]) -> String {
    let mut out = String::new();
    for part in &message.parts {
        match part {
            Part::Text { text } => {
                out.push_str(text.trim_end());
                out.push_str("\n\n");
            }
            Part::Reasoning { text } => {
                out.push_str(&format!("- (reasoning) {}\n", summary(text)));
            }
            Part::ToolCall { id, name, input } => {
                let input = match input {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!("- tool call {name} [{id}]: {}\n", summary(&input)));
            }
            Part::ToolResult {
                call_id,
                output,
                is_error,
            } => {
                let what = if *is_error {
                    "tool error"
                } else {
                    "tool result"
                };
                out.push_str(&format!("- {what} [{call_id}]: {}\n", summary(output)));
            }
            Part::Attachment(reference) => {
                let at = attachments
                    .iter()
                    .find(|f| f.reference.digest == reference.digest)
                    .map_or_else(
                        || format!("not provided ({})", reference.digest),
                        |f| f.path.display().to_string(),
                    );
                out.push_str(&format!(
                    "- attachment {} ({}): {at}\n",
                    reference.name, reference.media_type
                ));
            }
        }
    }
    out
}

/// `text` on one line, cut to [`SUMMARY_CHARS`] characters with the rest
/// counted.
fn summary(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let total = flat.chars().count();
    if total <= SUMMARY_CHARS {
        return flat;
    }
    let kept: String = flat.chars().take(SUMMARY_CHARS).collect();
    format!("{kept}… ({} more characters)", total - SUMMARY_CHARS)
}

/// The sentence that points the agent to the document at `path`.
pub fn pointer(path: &Path, messages: usize) -> String {
    format!(
        "The conversation so far ({messages} message(s), newest last) is in {}. \
         Read it before you continue: it is the history of this task.\n",
        path.display()
    )
}

/// Writes the document for `messages` into `dir` (which must exist) and
/// returns its path, or `None` when there is nothing to tell: no messages
/// and no attachments.
pub fn write(
    dir: &Path,
    title: &str,
    harness: &str,
    messages: &[Message],
    attachments: &[AttachmentFile],
) -> std::io::Result<Option<PathBuf>> {
    if messages.is_empty() && attachments.is_empty() {
        return Ok(None);
    }
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, render(title, harness, messages, attachments))?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_conversation::{AttachmentRef, Conversation};

    fn attachment(dir: &Path) -> AttachmentFile {
        let reference: AttachmentRef = serde_json::from_value(serde_json::json!({
            "digest": format!("sha256:{}", "0".repeat(63) + "1"),
            "name": "screenshot.png",
            "media_type": "image/png",
            "size": 12,
        }))
        .unwrap();
        AttachmentFile {
            path: dir.join("000-screenshot.png"),
            reference,
        }
    }

    #[test]
    fn newest_last_with_tools_summarised_and_attachments_listed() {
        let dir = tempfile::tempdir().unwrap();
        let file = attachment(dir.path());
        let mut c = Conversation::new("fix it", "some-agent");
        c.push(Message::text(Role::User, "first question"));
        c.push(Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: "think ".repeat(200),
                },
                Part::ToolCall {
                    id: "c1".into(),
                    name: "run_command".into(),
                    input: serde_json::json!({"command": "cargo test"}),
                },
            ],
        ));
        c.push(Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: "c1".into(),
                output: "x".repeat(1000),
                is_error: true,
            }],
        ));
        c.push(Message::new(
            Role::User,
            vec![Part::Attachment(file.reference.clone())],
        ));
        c.push(Message::new(Role::System, vec![]));
        c.push(Message::text(Role::Assistant, "last answer"));
        let doc = render(
            &c.title,
            &c.harness,
            &c.messages,
            std::slice::from_ref(&file),
        );
        let first = doc.find("first question").unwrap();
        let last = doc.find("last answer").unwrap();
        assert!(first < last, "{doc}");
        assert!(doc.contains("- tool call run_command [c1]: {\"command\":\"cargo test\"}"));
        assert!(doc.contains("- tool error [c1]: "));
        assert!(doc.contains("(600 more characters)"), "{doc}");
        assert!(doc.contains("(reasoning) think think"));
        let listed = format!(
            "- screenshot.png (image/png, 12 bytes): {}",
            file.path.display()
        );
        assert!(doc.contains(&listed), "{doc}");
        assert!(doc.contains(&format!(
            "- attachment screenshot.png (image/png): {}",
            file.path.display()
        )));
        assert!(!doc.contains("## System"), "empty notes are left out");
        assert!(doc.len() < 3000, "compact: {}", doc.len());
    }

    #[test]
    fn nothing_to_tell_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            write(dir.path(), "t", "some-agent", &[], &[]).unwrap(),
            None
        );
        let messages = [Message::text(Role::User, "hi")];
        let path = write(dir.path(), "t", "some-agent", &messages, &[])
            .unwrap()
            .unwrap();
        assert_eq!(path, dir.path().join(FILE_NAME));
        assert!(std::fs::read_to_string(&path).unwrap().contains("hi"));
        assert!(pointer(&path, 1).contains(&path.display().to_string()));
    }
}
