//! What `oz agent run --output-format json` prints, as conversation
//! messages.
//!
//! The CLI prints one JSON object per line as each exchange finishes,
//! tagged by `type` (Warp's `app/src/ai/agent_sdk/driver/output.rs`, module
//! `json`): `system` events (`event_type`: `conversation_started` with the
//! server `conversation_id`, `run_started`, `shared_session_established`),
//! `agent` (text; the last one is the answer), `agent_reasoning`,
//! `tool_call` and `tool_result` (the tool's name in `tool`, its fields
//! beside it), `tool_error`, `tool_canceled`, `artifact_created`, and
//! others (`update_todos`, `complete_todos`, `Subagent`, …).
//!
//! Every line becomes one [`Message`] whose `extra["warp"]["event"]` holds
//! the whole event as parsed, so nothing is lost, unknown event types
//! included; role and parts are a view for other harnesses. Events carry no
//! tool-call ids, so calls get ids of their own and each result answers
//! the oldest call still unanswered (results follow their calls). A last
//! line cut short (a CLI killed mid-write) is cut and reported.

use std::collections::VecDeque;

use handoff_conversation::{Message, Part, Role};
use serde_json::{Map, Value, json};

/// The key of `Message::extra` (and `Conversation::extra`) holding Warp's
/// own data.
pub const NATIVE: &str = "warp";

/// One `oz agent run` stream, parsed.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// One message per line, in order.
    pub messages: Vec<Message>,
    /// The server conversation id from `conversation_started`, if printed.
    pub conversation_id: Option<String>,
    /// The last line, when it was cut short (not valid JSON and no newline
    /// after it); it is not among the messages.
    pub torn: Option<String>,
}

impl Stream {
    /// The answer: the text of the last `agent` event.
    pub fn answer(&self) -> Option<&str> {
        self.messages.iter().rev().find_map(|m| {
            let event = m.extra.get(NATIVE)?.get("event")?;
            (event.get("type")?.as_str()? == "agent")
                .then(|| event.get("text")?.as_str())
                .flatten()
        })
    }

    /// The text of the last `tool_error` event, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.messages.iter().rev().find_map(|m| {
            let event = m.extra.get(NATIVE)?.get("event")?;
            (event.get("type")?.as_str()? == "tool_error")
                .then(|| event.get("error")?.as_str())
                .flatten()
        })
    }

    /// Whether the agent did anything: said something, reasoned or called
    /// a tool.
    pub fn has_agent_output(&self) -> bool {
        self.messages.iter().any(|m| m.role == Role::Assistant)
    }
}

/// Parses what the CLI printed on standard output.
pub fn parse(stdout: &[u8]) -> Stream {
    let mut stream = Stream::default();
    let mut pending: VecDeque<String> = VecDeque::new();
    let text = String::from_utf8_lossy(stdout);
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let last = index + 1 == lines.len();
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(event)) => {
                if let Some(id) = conversation_started(&event) {
                    stream.conversation_id = Some(id.to_owned());
                }
                stream.messages.push(from_event(event, &mut pending));
            }
            Ok(_) | Err(_) if last && !complete => {
                tracing::warn!(line = %line, "oz's last line was cut short; dropped");
                stream.torn = Some((*line).to_owned());
            }
            _ => {
                // A line that is not an event (a warning printed on stdout):
                // kept as it was, as a note.
                let mut message = Message::new(Role::System, vec![]);
                message
                    .extra
                    .insert(NATIVE.to_owned(), json!({ "line": line }));
                stream.messages.push(message);
            }
        }
    }
    stream
}

fn conversation_started(event: &Map<String, Value>) -> Option<&str> {
    (event.get("type")?.as_str()? == "system"
        && event.get("event_type")?.as_str()? == "conversation_started")
        .then(|| event.get("conversation_id")?.as_str())
        .flatten()
}

fn str_field(event: &Map<String, Value>, key: &str) -> String {
    event
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The event without its tags: what a tool call or result carries.
fn fields_beside(event: &Map<String, Value>, tags: &[&str]) -> Map<String, Value> {
    event
        .iter()
        .filter(|(k, _)| !tags.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tool's name and its fields: the CLI prints them flat
/// (`"tool": "run_command", "command": …`); a nested object
/// (`"tool": {"tool": …}` or `{"name": …}`) is read too.
fn tool_of(event: &Map<String, Value>) -> (String, Map<String, Value>) {
    match event.get("tool") {
        Some(Value::String(name)) => (name.clone(), fields_beside(event, &["type", "tool"])),
        Some(Value::Object(inner)) => {
            let name = ["tool", "name"]
                .iter()
                .find_map(|k| inner.get(*k).and_then(Value::as_str))
                .unwrap_or("tool")
                .to_owned();
            (name, fields_beside(inner, &["tool", "name"]))
        }
        _ => ("tool".to_owned(), fields_beside(event, &["type", "tool"])),
    }
}

fn from_event(event: Map<String, Value>, pending: &mut VecDeque<String>) -> Message {
    let kind = str_field(&event, "type");
    let mut message = Message::new(Role::System, vec![]);
    match kind.as_str() {
        "agent" => {
            message.role = Role::Assistant;
            message.parts.push(Part::Text {
                text: str_field(&event, "text"),
            });
        }
        "agent_reasoning" => {
            message.role = Role::Assistant;
            message.parts.push(Part::Reasoning {
                text: str_field(&event, "text"),
            });
        }
        "tool_call" => {
            let (name, input) = tool_of(&event);
            let id = format!("oz-{}", message.id);
            pending.push_back(id.clone());
            message.role = Role::Assistant;
            message.parts.push(Part::ToolCall {
                id,
                name,
                input: Value::Object(input),
            });
        }
        "tool_result" | "tool_error" | "tool_canceled" => {
            let (_, fields) = tool_of(&event);
            let (output, is_error) = match kind.as_str() {
                "tool_error" => (str_field(&event, "error"), true),
                "tool_canceled" => ("cancelled".to_owned(), true),
                _ => {
                    let text = ["output", "diff"]
                        .iter()
                        .find_map(|k| fields.get(*k).and_then(Value::as_str));
                    let failed = fields
                        .get("exit_code")
                        .and_then(Value::as_i64)
                        .is_some_and(|code| code != 0);
                    (
                        text.map_or_else(
                            || Value::Object(fields.clone()).to_string(),
                            str::to_owned,
                        ),
                        failed,
                    )
                }
            };
            message.role = Role::Tool;
            message.parts.push(Part::ToolResult {
                call_id: pending.pop_front().unwrap_or_default(),
                output,
                is_error,
            });
        }
        "artifact_created" => {
            message.role = Role::Assistant;
            let what = str_field(&event, "artifact_type");
            let rest = fields_beside(&event, &["type", "artifact_type"]);
            message.parts.push(Part::Text {
                text: format!("(artifact created: {what} {})", Value::Object(rest)),
            });
        }
        // System events and everything else (todos, subagents, skills,
        // types newer than this adapter): kept, not interpreted.
        _ => {}
    }
    message
        .extra
        .insert(NATIVE.to_owned(), json!({ "event": Value::Object(event) }));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        r#"{"type":"system","event_type":"conversation_started","conversation_id":"tok-1"}"#,
        "\n",
        r#"{"type":"agent_reasoning","text":"look first"}"#,
        "\n",
        r#"{"type":"tool_call","tool":"run_command","command":"ls"}"#,
        "\n",
        r#"{"type":"tool_call","tool":"read_files","files":[{"path":"a.rs"}]}"#,
        "\n",
        r#"{"type":"tool_result","tool":"run_command","status":"complete","exit_code":0,"output":"a.rs"}"#,
        "\n",
        r#"{"type":"tool_error","error":"a.rs: permission denied"}"#,
        "\n",
        r#"{"type":"update_todos","todo_list":[]}"#,
        "\n",
        r#"{"type":"hologram","shape":"new"}"#,
        "\n",
        r#"{"type":"agent","text":"done"}"#,
        "\n",
    );

    #[test]
    fn events_become_messages_and_keep_the_whole_event() {
        let stream = parse(STREAM.as_bytes());
        assert_eq!(stream.conversation_id.as_deref(), Some("tok-1"));
        assert_eq!(stream.answer(), Some("done"));
        assert_eq!(stream.last_error(), Some("a.rs: permission denied"));
        assert_eq!(stream.messages.len(), 9);
        let roles: Vec<Role> = stream.messages.iter().map(|m| m.role).collect();
        use Role::*;
        assert_eq!(
            roles,
            [
                System, Assistant, Assistant, Assistant, Tool, Tool, System, System, Assistant
            ]
        );
        // Results answer the calls in order.
        let call_ids: Vec<String> = stream.messages[2..4]
            .iter()
            .map(|m| match &m.parts[0] {
                Part::ToolCall { id, .. } => id.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            stream.messages[4].parts[0],
            Part::ToolResult {
                call_id: call_ids[0].clone(),
                output: "a.rs".into(),
                is_error: false
            }
        );
        assert_eq!(
            stream.messages[5].parts[0],
            Part::ToolResult {
                call_id: call_ids[1].clone(),
                output: "a.rs: permission denied".into(),
                is_error: true
            }
        );
        assert_eq!(
            stream.messages[2].parts[0],
            Part::ToolCall {
                id: call_ids[0].clone(),
                name: "run_command".into(),
                input: json!({"command": "ls"}),
            }
        );
        // Every line survives whole, unknown types included.
        let back: Vec<String> = stream
            .messages
            .iter()
            .map(|m| m.extra[NATIVE]["event"].to_string())
            .collect();
        let lines: Vec<String> = STREAM
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
            .collect();
        assert_eq!(back, lines);
        assert!(stream.torn.is_none());
    }

    #[test]
    fn a_torn_last_line_is_cut_and_stray_lines_kept() {
        let text = "warning: update available\n{\"type\":\"agent\",\"text\":\"hi\"}\n{\"type\":\"agent\",\"te";
        let stream = parse(text.as_bytes());
        assert_eq!(stream.torn.as_deref(), Some("{\"type\":\"agent\",\"te"));
        assert_eq!(stream.messages.len(), 2);
        assert_eq!(
            stream.messages[0].extra[NATIVE]["line"],
            "warning: update available"
        );
        assert_eq!(stream.answer(), Some("hi"));
    }

    #[test]
    fn a_nested_tool_object_is_read_too() {
        let stream =
            parse(b"{\"type\":\"tool_call\",\"tool\":{\"tool\":\"grep\",\"queries\":[\"x\"]}}\n");
        assert!(matches!(
            &stream.messages[0].parts[0],
            Part::ToolCall { name, input, .. } if name == "grep" && input == &json!({"queries": ["x"]})
        ));
    }
}
