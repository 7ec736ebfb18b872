//! Rollout files: reading, writing, finding and installing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use handoff_conversation::{
    BoundedLine, BoundedLines, Conversation, ConversationId, Message, MessageId, Mode, Part, Role,
    Skipped,
};
use serde_json::{Map, Value, json};

use crate::{Error, Result};

/// The key of `Message::extra` holding the native line.
pub const NATIVE: &str = "codex";

/// The longest rollout line read; a longer one is an error naming it (or
/// skipped in lenient mode), never buffered.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// `CODEX_HOME`: `explicit`, else `$CODEX_HOME`, else `$HOME/.codex`.
pub fn codex_home(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".codex"))
}

/// Where a rollout started at `at` for session `id` lives.
pub fn rollout_path(home: &Path, at: DateTime<Utc>, id: &str) -> PathBuf {
    let local = at.with_timezone(&chrono::Local);
    home.join("sessions")
        .join(local.format("%Y").to_string())
        .join(local.format("%m").to_string())
        .join(local.format("%d").to_string())
        .join(format!(
            "rollout-{}-{id}.jsonl",
            local.format("%Y-%m-%dT%H-%M-%S")
        ))
}

/// Reads a rollout. `label` names the source in errors.
pub fn read(input: impl BufRead, mode: Mode, label: &str) -> Result<(Conversation, Vec<Skipped>)> {
    let mut messages = Vec::new();
    let mut skipped = Vec::new();
    let mut meta: Option<Map<String, Value>> = None;
    for (index, line) in BoundedLines::new(input, MAX_LINE_BYTES).enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|source| Error::Io {
            action: "read",
            path: label.into(),
            source,
        })?;
        let line = match line {
            BoundedLine::TooLong => {
                bad(
                    &mut skipped,
                    mode,
                    label,
                    number,
                    format!("longer than {MAX_LINE_BYTES} bytes"),
                )?;
                continue;
            }
            BoundedLine::Line(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
            BoundedLine::Line(line) => line,
        };
        let object = match serde_json::from_slice::<Value>(&line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                bad(
                    &mut skipped,
                    mode,
                    label,
                    number,
                    "not a JSON object".to_owned(),
                )?;
                continue;
            }
            Err(e) => {
                bad(&mut skipped, mode, label, number, e.to_string())?;
                continue;
            }
        };
        if meta.is_none() && object.get("type").and_then(Value::as_str) == Some("session_meta") {
            meta = object.get("payload").and_then(Value::as_object).cloned();
        }
        messages.push(from_native(object));
    }
    let id = meta
        .as_ref()
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map_or_else(ConversationId::new, ConversationId::from_uuid);
    let title = messages
        .iter()
        .find(|m| m.role == Role::User && !m.plain_text().is_empty())
        .map(|m| m.plain_text().chars().take(80).collect())
        .unwrap_or_else(|| "Codex session".to_owned());
    let mut conversation = Conversation::new(title, "codex");
    conversation.id = id;
    if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
        conversation.created_at = first.time;
        conversation.updated_at = last.time;
    }
    if let Some(cwd) = meta.as_ref().and_then(|m| m.get("cwd")).cloned() {
        conversation.extra.insert("cwd".to_owned(), cwd);
    }
    conversation.messages = messages;
    Ok((conversation, skipped))
}

fn bad(
    skipped: &mut Vec<Skipped>,
    mode: Mode,
    label: &str,
    line: u64,
    reason: String,
) -> Result<()> {
    match mode {
        Mode::Strict => Err(Error::Line {
            file: label.to_owned(),
            line,
            reason,
        }),
        Mode::Lenient => {
            skipped.push(Skipped { line, reason });
            Ok(())
        }
    }
}

/// Reads the rollout at `path`.
pub fn read_file(path: &Path, mode: Mode) -> Result<(Conversation, Vec<Skipped>)> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        action: "open",
        path: path.to_owned(),
        source,
    })?;
    read(BufReader::new(file), mode, &path.display().to_string())
}

fn text_of(content: Option<&Value>) -> Vec<Part> {
    let mut parts = Vec::new();
    if let Some(Value::Array(items)) = content {
        for item in items {
            if let Some(text) = item.get("text").and_then(Value::as_str) {
                parts.push(Part::Text {
                    text: text.to_owned(),
                });
            }
        }
    }
    parts
}

/// A tool result's text and whether it failed, from the forms Codex writes:
/// a string holding `{"output", "metadata": {"exit_code"}}` (a command's
/// result), an object `{"content", "success"}`, a plain string whose first
/// line may be `Exit code: N`, or anything else (kept as its JSON text).
fn tool_output(output: Option<&Value>) -> (String, bool) {
    let exit_failed = |metadata: Option<&Value>| {
        metadata
            .and_then(|m| m.get("exit_code"))
            .and_then(Value::as_i64)
            .is_some_and(|code| code != 0)
    };
    match output {
        Some(Value::String(s)) => {
            if let Ok(Value::Object(inner)) = serde_json::from_str::<Value>(s)
                && let Some(text) = inner.get("output").and_then(Value::as_str)
                && inner.contains_key("metadata")
            {
                return (text.to_owned(), exit_failed(inner.get("metadata")));
            }
            let failed = s
                .lines()
                .next()
                .and_then(|line| line.strip_prefix("Exit code: "))
                .and_then(|code| code.trim().parse::<i64>().ok())
                .is_some_and(|code| code != 0);
            (s.clone(), failed)
        }
        Some(other) => {
            let text = other
                .get("content")
                .and_then(Value::as_str)
                .map_or_else(|| other.to_string(), str::to_owned);
            let failed = other.get("success").and_then(Value::as_bool) == Some(false)
                || exit_failed(other.get("metadata"));
            (text, failed)
        }
        None => (String::new(), false),
    }
}

fn from_native(object: Map<String, Value>) -> Message {
    let time = object
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc));
    let payload = object.get("payload").cloned().unwrap_or(Value::Null);
    let mut role = Role::System;
    let mut parts = Vec::new();
    if object.get("type").and_then(Value::as_str) == Some("response_item") {
        match payload.get("type").and_then(Value::as_str) {
            Some("message") => {
                role = match payload.get("role").and_then(Value::as_str) {
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    _ => Role::System,
                };
                parts = text_of(payload.get("content"));
            }
            Some("function_call") | Some("custom_tool_call") | Some("local_shell_call") => {
                role = Role::Assistant;
                let raw = payload
                    .get("arguments")
                    .or_else(|| payload.get("input"))
                    .or_else(|| payload.get("action"));
                let input = match raw {
                    Some(Value::String(s)) => {
                        serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                    }
                    Some(other) => other.clone(),
                    None => Value::Null,
                };
                parts.push(Part::ToolCall {
                    id: payload
                        .get("call_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    name: payload
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("shell")
                        .to_owned(),
                    input,
                });
            }
            Some("function_call_output") | Some("custom_tool_call_output") => {
                role = Role::Tool;
                let (output, is_error) = tool_output(payload.get("output"));
                parts.push(Part::ToolResult {
                    call_id: payload
                        .get("call_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    output,
                    is_error,
                });
            }
            Some("reasoning") => {
                role = Role::Assistant;
                if let Some(Value::Array(summary)) = payload.get("summary") {
                    for item in summary {
                        if let Some(text) = item.get("text").and_then(Value::as_str) {
                            parts.push(Part::Reasoning {
                                text: text.to_owned(),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut extra = Map::new();
    extra.insert(NATIVE.to_owned(), Value::Object(object));
    Message {
        id: MessageId::new(),
        role,
        time,
        parts,
        extra,
    }
}

/// Writes `conversation` as a rollout. With `target = Some((id, cwd))`, the
/// `session_meta` gets that id and cwd (recording the original id as
/// `forked_from_id` when it differs) and every `turn_context` that cwd.
pub fn write(
    conversation: &Conversation,
    out: &mut impl Write,
    target: Option<(&str, &str)>,
) -> Result<()> {
    let has_meta = conversation.messages.iter().any(|m| {
        m.extra
            .get(NATIVE)
            .and_then(|n| n.get("type"))
            .and_then(Value::as_str)
            == Some("session_meta")
    });
    let io = |e: std::io::Error| Error::Io {
        action: "write",
        path: "<rollout>".into(),
        source: e,
    };
    let emit = |out: &mut dyn Write, value: &Value| -> Result<()> {
        serde_json::to_writer(&mut *out, value).map_err(|e| io(std::io::Error::other(e)))?;
        out.write_all(b"\n").map_err(io)
    };
    let cwd_default = conversation
        .extra
        .get("cwd")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !has_meta {
        // A conversation from elsewhere gets a session_meta of its own.
        let (id, cwd) = target.unwrap_or(("", cwd_default.as_str()));
        let id = if id.is_empty() {
            conversation.id.to_string()
        } else {
            id.to_owned()
        };
        let stamp = conversation
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        emit(
            out,
            &json!({"timestamp": stamp, "type": "session_meta", "payload": {"id": id, "timestamp": stamp, "cwd": cwd, "originator": "handoff", "cli_version": "handoff"}}),
        )?;
    }
    for message in &conversation.messages {
        let values = match message.extra.get(NATIVE) {
            Some(native) => vec![native.clone()],
            None => to_native(message),
        };
        for mut value in values {
            if let Some((id, cwd)) = target {
                retarget(&mut value, id, cwd);
            }
            emit(out, &value)?;
        }
    }
    Ok(())
}

fn retarget(value: &mut Value, id: &str, cwd: &str) {
    let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
    let Some(payload) = value.get_mut("payload").and_then(Value::as_object_mut) else {
        return;
    };
    match kind.as_deref() {
        Some("session_meta") => {
            let old = payload.get("id").and_then(Value::as_str).map(str::to_owned);
            if let Some(old) = old
                && old != id
                && !payload.contains_key("forked_from_id")
            {
                payload.insert("forked_from_id".to_owned(), Value::String(old));
            }
            payload.insert("id".to_owned(), Value::String(id.to_owned()));
            payload.insert("cwd".to_owned(), Value::String(cwd.to_owned()));
        }
        Some("turn_context") if payload.contains_key("cwd") => {
            payload.insert("cwd".to_owned(), Value::String(cwd.to_owned()));
        }
        _ => {}
    }
}

/// Rollout lines for a message from elsewhere: a message item for its text,
/// then one item per tool call or result.
fn to_native(message: &Message) -> Vec<Value> {
    let stamp = message
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut texts = Vec::new();
    let mut items = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text { text } => texts.push(text.clone()),
            Part::Reasoning { text } => texts.push(format!("(reasoning) {text}")),
            Part::Attachment(a) => texts.push(format!("[attachment {} ({}, {} bytes, {})]", a.name, a.media_type, a.size, a.digest)),
            Part::ToolCall { id, name, input } => items.push(json!({"type": "function_call", "name": name, "arguments": input.to_string(), "call_id": id})),
            Part::ToolResult { call_id, output, is_error } => {
                // A failure is written as Codex writes a failed command, so
                // the model, and a later import, still see that it failed.
                let output = if *is_error {
                    json!({"output": output, "metadata": {"exit_code": 1}}).to_string()
                } else {
                    output.clone()
                };
                items.push(json!({"type": "function_call_output", "call_id": call_id, "output": output}));
            }
        }
    }
    if !texts.is_empty() || items.is_empty() {
        let (role, kind) = match message.role {
            Role::Assistant => ("assistant", "output_text"),
            _ => ("user", "input_text"),
        };
        let text = if message.role == Role::System {
            format!("[system] {}", texts.join("\n\n"))
        } else {
            texts.join("\n\n")
        };
        items.insert(
            0,
            json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]}),
        );
    }
    items
        .into_iter()
        .map(|payload| json!({"timestamp": stamp, "type": "response_item", "payload": payload}))
        .collect()
}

/// The rollout of session `id`, anywhere under `home/sessions`.
pub fn find_by_id(home: &Path, id: &str) -> Result<PathBuf> {
    let suffix = format!("-{id}.jsonl");
    let mut found = None;
    walk(&home.join("sessions"), &mut |path| {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
        {
            found = Some(path.to_owned());
        }
    });
    found.ok_or_else(|| Error::NoSession {
        what: format!("session {id}"),
        dir: home.join("sessions"),
    })
}

/// The newest rollout whose `session_meta` has `cwd`.
pub fn find_latest(home: &Path, cwd: &str) -> Result<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    walk(&home.join("sessions"), &mut |path| {
        let Ok(file) = std::fs::File::open(path) else {
            return;
        };
        let mut first = String::new();
        if BufReader::new(file).read_line(&mut first).is_err() {
            return;
        }
        let matches = serde_json::from_str::<Value>(&first)
            .ok()
            .and_then(|v| {
                v.get("payload")
                    .and_then(|p| p.get("cwd"))
                    .and_then(Value::as_str)
                    .map(|c| c == cwd)
            })
            .unwrap_or(false);
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if let (true, Some(modified)) = (matches, modified)
            && best.as_ref().is_none_or(|(t, _)| modified > *t)
        {
            best = Some((modified, path.to_owned()));
        }
    });
    best.map(|(_, p)| p).ok_or_else(|| Error::NoSession {
        what: format!("a session for {cwd}"),
        dir: home.join("sessions"),
    })
}

fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, visit);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            visit(&path);
        }
    }
}

/// Installs `conversation` as session `id` for `cwd` under `home`,
/// atomically; returns the rollout file.
pub fn install(conversation: &Conversation, home: &Path, cwd: &str, id: &str) -> Result<PathBuf> {
    let path = rollout_path(home, conversation.created_at, id);
    let dir = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| home.to_owned());
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    write(conversation, &mut bytes, Some((id, cwd)))?;
    let tmp = dir.join(format!(".{id}.handoff-tmp"));
    std::fs::write(&tmp, bytes).map_err(|source| Error::Io {
        action: "write",
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
        action: "install",
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
