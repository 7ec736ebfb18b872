//! Claude Code's transcript format (one JSON object per line) to and from
//! the handoff conversation model, without loss.
//!
//! Every native line becomes one [`Message`] whose `extra["claude_code"]`
//! holds the whole line as parsed, so export writes back the same JSON
//! values line for line — and, with key order preserved, the same bytes
//! wherever the line was written the way `JSON.stringify` writes. The
//! message's role, time and parts are a view for other harnesses: user and
//! assistant text, thinking, tool uses and tool results are mapped; other
//! line types (progress, system notes, file-history snapshots, queue
//! operations, summaries) are kept as system messages without parts.
//!
//! Messages that did not come from Claude Code (another harness's turns)
//! are written as user and assistant lines; what has no counterpart
//! (reasoning, which Claude Code cannot replay without its signature,
//! attachments, system notes) is carried as readable text.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use handoff_conversation::{
    BoundedLine, BoundedLines, Conversation, ConversationId, Message, MessageId, Mode, Part, Role,
    Skipped,
};
use serde_json::{Map, Value, json};

use crate::{Error, Result};

/// The key of `Message::extra` holding the native line.
pub const NATIVE: &str = "claude_code";

/// The longest line read (a transcript line holds a whole tool output).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Reads a transcript. `label` names the source in errors (a file path).
pub fn read(input: impl BufRead, mode: Mode, label: &str) -> Result<(Conversation, Vec<Skipped>)> {
    let mut messages = Vec::new();
    let mut skipped = Vec::new();
    let mut session: Option<String> = None;
    let mut cwd: Option<String> = None;
    for (index, line) in BoundedLines::new(input, MAX_LINE_BYTES).enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|source| Error::Io {
            action: "read",
            path: label.into(),
            source,
        })?;
        let parsed = match line {
            BoundedLine::TooLong => Err(format!("longer than {MAX_LINE_BYTES} bytes")),
            BoundedLine::Line(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
            BoundedLine::Line(line) => match serde_json::from_slice::<Value>(&line) {
                Ok(Value::Object(object)) => Ok(object),
                Ok(_) => Err("not a JSON object".to_owned()),
                Err(e) => Err(e.to_string()),
            },
        };
        let object = match parsed {
            Ok(object) => object,
            Err(reason) => match mode {
                Mode::Strict => {
                    return Err(Error::Line {
                        file: label.to_owned(),
                        line: number,
                        reason,
                    });
                }
                Mode::Lenient => {
                    skipped.push(Skipped {
                        line: number,
                        reason,
                    });
                    continue;
                }
            },
        };
        if session.is_none() {
            session = object
                .get("sessionId")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        if cwd.is_none() {
            cwd = object.get("cwd").and_then(Value::as_str).map(str::to_owned);
        }
        messages.push(from_native(object));
    }
    let id = session
        .as_deref()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map_or_else(ConversationId::new, ConversationId::from_uuid);
    let title = messages
        .iter()
        .find(|m| m.role == Role::User && !m.plain_text().is_empty())
        .map(|m| m.plain_text().chars().take(80).collect())
        .unwrap_or_else(|| "Claude Code session".to_owned());
    let mut conversation = Conversation::new(title, "claude-code");
    conversation.id = id;
    if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
        conversation.created_at = first.time;
        conversation.updated_at = last.time;
    }
    if let Some(cwd) = cwd {
        conversation
            .extra
            .insert("cwd".to_owned(), Value::String(cwd));
    }
    conversation.messages = messages;
    Ok((conversation, skipped))
}

fn from_native(object: Map<String, Value>) -> Message {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let time = object
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc));
    let id = object
        .get("uuid")
        .and_then(Value::as_str)
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .map_or_else(MessageId::new, MessageId::from_uuid);
    let content = object.get("message").and_then(|m| m.get("content"));
    let mut parts = Vec::new();
    let mut role = match kind {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => Role::System,
    };
    match content {
        Some(Value::String(text)) => parts.push(Part::Text { text: text.clone() }),
        Some(Value::Array(blocks)) => {
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(Part::Text {
                        text: str_of(block, "text"),
                    }),
                    Some("thinking") => parts.push(Part::Reasoning {
                        text: str_of(block, "thinking"),
                    }),
                    Some("tool_use") => parts.push(Part::ToolCall {
                        id: str_of(block, "id"),
                        name: str_of(block, "name"),
                        input: block.get("input").cloned().unwrap_or(Value::Null),
                    }),
                    Some("tool_result") => {
                        role = Role::Tool;
                        parts.push(Part::ToolResult {
                            call_id: str_of(block, "tool_use_id"),
                            output: tool_output(block.get("content")),
                            is_error: block
                                .get("is_error")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        });
                    }
                    _ => {}
                }
            }
        }
        _ => {
            if kind == "system"
                && let Some(text) = object.get("content").and_then(Value::as_str)
            {
                parts.push(Part::Text {
                    text: text.to_owned(),
                });
            }
        }
    }
    let mut extra = Map::new();
    extra.insert(NATIVE.to_owned(), Value::Object(object));
    Message {
        id,
        role,
        time,
        parts,
        extra,
    }
}

fn str_of(block: &Value, key: &str) -> String {
    block
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn tool_output(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.get("text").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => item.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Identifiers to write into every line: the session id and the working
/// directory the CLI will be started in.
#[derive(Debug, Clone)]
pub struct Target {
    /// The session id (`sessionId` in every line, and the file name).
    pub session: String,
    /// The absolute working directory (`cwd` in every line).
    pub cwd: String,
}

/// Writes `conversation` as a transcript; with a `target`, every line's
/// `sessionId` and `cwd` are set to it.
pub fn write(
    conversation: &Conversation,
    out: &mut impl Write,
    target: Option<&Target>,
) -> Result<()> {
    let mut parent: Option<String> = None;
    let session = target
        .map(|t| t.session.clone())
        .unwrap_or_else(|| conversation.id.to_string());
    let cwd = target
        .map(|t| t.cwd.clone())
        .or_else(|| {
            conversation
                .extra
                .get("cwd")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    for message in &conversation.messages {
        let mut value = match message.extra.get(NATIVE) {
            Some(native) => native.clone(),
            None => to_native(message, parent.as_deref(), &session, &cwd),
        };
        if let (Some(target), Value::Object(object)) = (target, &mut value) {
            if object.contains_key("sessionId") {
                object.insert(
                    "sessionId".to_owned(),
                    Value::String(target.session.clone()),
                );
            }
            if object.contains_key("cwd") {
                object.insert("cwd".to_owned(), Value::String(target.cwd.clone()));
            }
        }
        if let Some(uuid) = value.get("uuid").and_then(Value::as_str) {
            parent = Some(uuid.to_owned());
        }
        serde_json::to_writer(&mut *out, &value).map_err(|e| Error::Io {
            action: "write",
            path: "<transcript>".into(),
            source: std::io::Error::other(e),
        })?;
        out.write_all(b"\n").map_err(|source| Error::Io {
            action: "write",
            path: "<transcript>".into(),
            source,
        })?;
    }
    Ok(())
}

/// A Claude Code line for a message from elsewhere.
fn to_native(message: &Message, parent: Option<&str>, session: &str, cwd: &str) -> Value {
    let safe_id = |id: &str| -> String {
        id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut blocks = Vec::new();
    for part in &message.parts {
        blocks.push(match part {
            Part::Text { text } => json!({"type": "text", "text": text}),
            Part::Reasoning { text } => json!({"type": "text", "text": format!("(reasoning) {text}")}),
            Part::ToolCall { id, name, input } => json!({"type": "tool_use", "id": safe_id(id), "name": name, "input": input}),
            Part::ToolResult { call_id, output, is_error } => {
                json!({"type": "tool_result", "tool_use_id": safe_id(call_id), "content": output, "is_error": is_error})
            }
            Part::Attachment(a) => json!({"type": "text", "text": format!("[attachment {} ({}, {} bytes, {})]", a.name, a.media_type, a.size, a.digest)}),
        });
    }
    let (kind, role) = match message.role {
        Role::Assistant => ("assistant", "assistant"),
        Role::System => {
            let text: String = message.plain_text();
            blocks = vec![json!({"type": "text", "text": format!("[system] {text}")})];
            ("user", "user")
        }
        Role::User | Role::Tool => ("user", "user"),
    };
    json!({
        "parentUuid": parent,
        "isSidechain": false,
        "userType": "external",
        "cwd": cwd,
        "sessionId": session,
        "version": "handoff",
        "type": kind,
        "message": {"role": role, "content": blocks},
        "uuid": message.id.to_string(),
        "timestamp": message.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}
