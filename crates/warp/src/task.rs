//! Warp's stored agent tasks (`warp.multi_agent.v1.Task`, the `task`
//! column of `agent_tasks`) as conversation messages.
//!
//! Field numbers come from the public schema (warp-proto-apis,
//! `apis/multi_agent/v1/task.proto`); the definitions here are this
//! project's own. A task has an `id` (1), a `description` (2),
//! `dependencies` (3, its `parent_task_id` at 1), `messages` (5), a
//! `summary` (6) and `server_data` (8). A message has an `id` (1), the
//! `task_id` (11), a `request_id` (13), a `timestamp` (14), and one body:
//! `user_query` (2, `query` at 1), `agent_output` (3, `text` at 1),
//! `tool_call` (4), `tool_call_result` (5), `agent_reasoning` (15,
//! `reasoning` at 1) and the others named in [`BODIES`].
//!
//! What is modelled becomes the message's role and parts; everything else
//! — fields this decoder does not model, fields newer than the schema it
//! was written from, and the whole body of tool calls and results — is kept
//! as the encoded bytes (hex) in `extra["warp"]`, never dropped.

use chrono::{DateTime, Utc};
use handoff_conversation::{Message, MessageId, Part, Role};
use serde_json::{Map, Value, json};

use crate::wire::{Field, Fields, Value as Wire, WireError};

/// The bodies of a task message: field number and name.
pub const BODIES: &[(u32, &str)] = &[
    (2, "user_query"),
    (3, "agent_output"),
    (4, "tool_call"),
    (5, "tool_call_result"),
    (6, "server_event"),
    (9, "system_query"),
    (10, "update_todos"),
    (15, "agent_reasoning"),
    (16, "summarization"),
    (17, "code_review"),
    (18, "update_review_comments"),
    (19, "web_search"),
    (20, "web_fetch"),
    (21, "debug_output"),
    (22, "artifact_event"),
    (23, "invoke_skill"),
    (24, "messages_received_from_agents"),
    (25, "model_used"),
    (26, "events_from_agents"),
];

/// The tools of `ToolCall` (and, by the same numbers, the results of
/// `ToolCallResult`, where 14 is `cancel`).
const TOOLS: &[(u32, &str)] = &[
    (2, "run_shell_command"),
    (3, "search_codebase"),
    (4, "server"),
    (5, "read_files"),
    (6, "apply_file_diffs"),
    (7, "suggest_plan"),
    (8, "suggest_create_plan"),
    (9, "grep"),
    (10, "file_glob"),
    (11, "read_mcp_resource"),
    (12, "call_mcp_tool"),
    (13, "write_to_long_running_shell_command"),
    (14, "suggest_new_conversation"),
    (15, "file_glob_v2"),
    (16, "suggest_prompt"),
    (17, "open_code_review"),
    (18, "init_project"),
    (19, "subagent"),
    (20, "read_documents"),
    (21, "edit_documents"),
    (22, "create_documents"),
    (23, "read_shell_command_output"),
    (24, "use_computer"),
    (25, "insert_review_comments"),
    (26, "read_skill"),
    (27, "request_computer_use"),
    (28, "fetch_conversation"),
    (29, "start_agent"),
    (30, "send_message_to_agent"),
    (31, "transfer_shell_command_control_to_user"),
];

/// `ToolCallResult`'s results, where they differ from [`TOOLS`].
const RESULTS: &[(u32, &str)] = &[
    (14, "cancel"),
    (15, "read_mcp_resource"),
    (16, "call_mcp_tool"),
    (17, "write_to_long_running_shell_command"),
    (18, "suggest_new_conversation"),
    (19, "file_glob_v2"),
    (20, "suggest_prompt"),
    (21, "open_code_review"),
    (22, "init_project"),
    (23, "subagent"),
    (24, "read_documents"),
    (25, "edit_documents"),
    (26, "create_documents"),
    (27, "read_shell_command_output"),
    (28, "use_computer"),
    (29, "insert_review_comments"),
    (30, "read_skill"),
    (31, "request_computer_use"),
    (32, "fetch_conversation"),
    (33, "start_agent"),
    (34, "send_message_to_agent"),
    (35, "transfer_shell_command_control_to_user"),
];

fn name_in(table: &[(u32, &'static str)], number: u32) -> Option<&'static str> {
    table
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, name)| *name)
}

/// A decoded task: the messages, and what the task says about itself (for
/// the conversation's `extra`).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task's id.
    pub id: String,
    /// Its fields other than the messages, as JSON (unmodelled ones as
    /// hex).
    pub meta: Map<String, Value>,
    /// Its messages, in stored order.
    pub messages: Vec<Message>,
}

/// A sub-message with the offset of its first byte in the task, so errors
/// point into the stored blob.
#[derive(Clone, Copy)]
struct Nested<'a> {
    bytes: &'a [u8],
    base: usize,
}

impl<'a> Nested<'a> {
    fn fields(self) -> impl Iterator<Item = Result<Field<'a>, WireError>> {
        Fields::new(self.bytes).map(move |f| {
            f.map_err(|e| WireError {
                offset: e.offset + self.base,
                ..e
            })
        })
    }

    /// The sub-message a length-delimited field holds.
    fn of(&self, field: &Field<'a>) -> Option<Nested<'a>> {
        match field.value {
            Wire::Bytes(bytes) => Some(Nested {
                bytes,
                base: self.base + field.offset + field.raw.len() - bytes.len(),
            }),
            _ => None,
        }
    }

    fn string(&self, field: &Field<'a>) -> Result<String, WireError> {
        match field.value {
            Wire::Bytes(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| WireError {
                offset: self.base + field.offset,
                reason: "string field is not UTF-8",
            }),
            _ => Err(WireError {
                offset: self.base + field.offset,
                reason: "string field has the wrong wire type",
            }),
        }
    }

    /// The first string at `number`, if any.
    fn string_at(self, number: u32) -> Result<Option<String>, WireError> {
        for field in self.fields() {
            let field = field?;
            if field.number == number {
                return self.string(&field).map(Some);
            }
        }
        Ok(None)
    }

    /// Every string at `number`.
    fn strings_at(self, number: u32) -> Result<Vec<String>, WireError> {
        let mut out = Vec::new();
        for field in self.fields() {
            let field = field?;
            if field.number == number {
                out.push(self.string(&field)?);
            }
        }
        Ok(out)
    }

    /// Every sub-message at `number`.
    fn messages_at(self, number: u32) -> Result<Vec<Nested<'a>>, WireError> {
        let mut out = Vec::new();
        for field in self.fields() {
            let field = field?;
            if field.number == number
                && let Some(nested) = self.of(&field)
            {
                out.push(nested);
            }
        }
        Ok(out)
    }

    fn varint_at(self, number: u32) -> Result<Option<u64>, WireError> {
        for field in self.fields() {
            let field = field?;
            if let (true, Wire::Varint(v)) = (field.number == number, field.value) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// A field kept as it was encoded.
fn unmodelled(field: &Field<'_>, name: Option<&str>) -> Value {
    let mut kept = json!({
        "field": field.number,
        "wire_type": field.wire_type(),
        "hex": hex::encode(field.raw),
    });
    if let (Some(name), Value::Object(map)) = (name, &mut kept) {
        map.insert("name".to_owned(), Value::String(name.to_owned()));
    }
    kept
}

/// Decodes a stored task. `fallback_time` dates messages without a
/// timestamp of their own (the row's last change); the task's server
/// conversation `token`, when there is one, is recorded in every message.
pub fn decode(
    bytes: &[u8],
    fallback_time: DateTime<Utc>,
    token: Option<&str>,
) -> Result<Task, WireError> {
    let task = Nested { bytes, base: 0 };
    let mut meta = Map::new();
    let mut unknown = Vec::new();
    let mut messages = Vec::new();
    let mut id = String::new();
    for field in task.fields() {
        let field = field?;
        match (field.number, field.value) {
            (1, _) => {
                id = task.string(&field)?;
                meta.insert("id".into(), Value::String(id.clone()));
            }
            (2, _) => {
                meta.insert("description".into(), task.string(&field)?.into());
            }
            (3, Wire::Bytes(_)) => {
                let dependencies = task.of(&field).ok_or(WireError {
                    offset: field.offset,
                    reason: "dependencies is not a message",
                })?;
                let parent = dependencies.string_at(1)?.unwrap_or_default();
                meta.insert("parent_task_id".into(), parent.into());
                let extra: Vec<Value> = dependencies
                    .fields()
                    .filter(|f| f.as_ref().map_or(true, |f| f.number != 1))
                    .map(|f| f.map(|f| unmodelled(&f, None)))
                    .collect::<Result<_, _>>()?;
                if !extra.is_empty() {
                    meta.insert("dependencies_unmodelled".into(), extra.into());
                }
            }
            (5, Wire::Bytes(_)) => {
                if let Some(nested) = task.of(&field) {
                    messages.push(nested);
                }
            }
            (6, _) => {
                meta.insert("summary".into(), task.string(&field)?.into());
            }
            (8, _) => {
                meta.insert("server_data".into(), task.string(&field)?.into());
            }
            _ => unknown.push(unmodelled(&field, None)),
        }
    }
    if !unknown.is_empty() {
        meta.insert("unmodelled".into(), unknown.into());
    }
    let mut time = fallback_time;
    let mut out = Vec::with_capacity(messages.len());
    for nested in messages {
        let message = decode_message(nested, &id, time, token)?;
        time = message.time;
        out.push(message);
    }
    Ok(Task {
        id,
        meta,
        messages: out,
    })
}

fn decode_message(
    nested: Nested<'_>,
    task_id: &str,
    previous_time: DateTime<Utc>,
    token: Option<&str>,
) -> Result<Message, WireError> {
    let mut native = Map::new();
    let mut unknown = Vec::new();
    let mut message = Message::new(Role::System, vec![]);
    message.time = previous_time;
    for field in nested.fields() {
        let field = field?;
        match field.number {
            1 => {
                let id = nested.string(&field)?;
                if let Ok(uuid) = uuid::Uuid::parse_str(&id) {
                    message.id = MessageId::from_uuid(uuid);
                }
                native.insert("id".into(), id.into());
            }
            11 => {
                native.insert("task_id".into(), nested.string(&field)?.into());
            }
            13 => {
                native.insert("request_id".into(), nested.string(&field)?.into());
            }
            7 => {
                native.insert("server_message_data".into(), nested.string(&field)?.into());
            }
            14 => match nested.of(&field) {
                Some(timestamp) => {
                    let seconds = timestamp.varint_at(1)?.unwrap_or(0) as i64;
                    let nanos = timestamp.varint_at(2)?.unwrap_or(0) as u32;
                    if let Some(time) = DateTime::from_timestamp(seconds, nanos) {
                        message.time = time;
                        native.insert("timestamp".into(), time.to_rfc3339().into());
                    } else {
                        unknown.push(unmodelled(&field, Some("timestamp")));
                    }
                }
                None => unknown.push(unmodelled(&field, Some("timestamp"))),
            },
            number => match (name_in(BODIES, number), nested.of(&field)) {
                (Some(kind), Some(body)) => {
                    native.insert("kind".into(), kind.into());
                    body_into(&mut message, &mut native, kind, body, &field)?;
                }
                (name, _) => unknown.push(unmodelled(
                    &field,
                    name.or(match number {
                        8 => Some("citations"),
                        _ => None,
                    }),
                )),
            },
        }
    }
    if !unknown.is_empty() {
        native.insert("unmodelled".into(), unknown.into());
    }
    let mut warp = Map::new();
    if let Some(token) = token {
        warp.insert("conversation".into(), token.into());
    }
    warp.insert("task".into(), task_id.into());
    warp.insert("message".into(), Value::Object(native));
    message
        .extra
        .insert(crate::NATIVE.to_owned(), Value::Object(warp));
    Ok(message)
}

/// Fields of a text body other than its text, kept.
fn rest_of(body: Nested<'_>, text_field: u32) -> Result<Vec<Value>, WireError> {
    body.fields()
        .filter(|f| f.as_ref().map_or(true, |f| f.number != text_field))
        .map(|f| f.map(|f| unmodelled(&f, None)))
        .collect()
}

fn body_into(
    message: &mut Message,
    native: &mut Map<String, Value>,
    kind: &str,
    body: Nested<'_>,
    field: &Field<'_>,
) -> Result<(), WireError> {
    let text_body = |field_no| -> Result<(String, Vec<Value>), WireError> {
        Ok((
            body.string_at(field_no)?.unwrap_or_default(),
            rest_of(body, field_no)?,
        ))
    };
    let kept = match kind {
        "user_query" => {
            let (query, rest) = text_body(1)?;
            message.role = Role::User;
            message.parts.push(Part::Text { text: query });
            Some(rest)
        }
        "agent_output" => {
            let (text, rest) = text_body(1)?;
            message.role = Role::Assistant;
            message.parts.push(Part::Text { text });
            Some(rest)
        }
        "agent_reasoning" => {
            let (text, rest) = text_body(1)?;
            message.role = Role::Assistant;
            message.parts.push(Part::Reasoning { text });
            Some(rest)
        }
        "tool_call" => {
            let (id, name, input) = tool_call(body)?;
            message.role = Role::Assistant;
            message.parts.push(Part::ToolCall { id, name, input });
            None
        }
        "tool_call_result" => {
            let (call_id, output, is_error) = tool_result(body)?;
            message.role = Role::Tool;
            message.parts.push(Part::ToolResult {
                call_id,
                output,
                is_error,
            });
            None
        }
        _ => None,
    };
    match kept {
        // A text body: its text is the part; its other fields are kept.
        Some(rest) if !rest.is_empty() => {
            native.insert("body_unmodelled".into(), rest.into());
        }
        Some(_) => {}
        // Anything else is kept whole.
        None => {
            native.insert("body_hex".into(), hex::encode(field.raw).into());
        }
    }
    Ok(())
}

/// A tool call: its id, the tool's name, and a view of its main arguments
/// for other harnesses (the call itself is kept whole).
fn tool_call(body: Nested<'_>) -> Result<(String, String, Value), WireError> {
    let id = body.string_at(1)?.unwrap_or_default();
    let mut name = "tool".to_owned();
    let mut input = Map::new();
    for field in body.fields() {
        let field = field?;
        let (Some(tool), Some(args)) = (name_in(TOOLS, field.number), body.of(&field)) else {
            continue;
        };
        name = tool.to_owned();
        let put = |input: &mut Map<String, Value>, key: &str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                input.insert(key.to_owned(), value.into());
            }
        };
        match tool {
            "run_shell_command" => put(&mut input, "command", args.string_at(1)?),
            "search_codebase" => {
                put(&mut input, "query", args.string_at(1)?);
                put(&mut input, "codebase_path", args.string_at(3)?);
            }
            "grep" => {
                input.insert("queries".into(), args.strings_at(1)?.into());
                put(&mut input, "path", args.string_at(2)?);
            }
            "file_glob" | "file_glob_v2" => {
                input.insert("patterns".into(), args.strings_at(1)?.into());
                put(&mut input, "path", args.string_at(2)?);
            }
            "call_mcp_tool" => put(&mut input, "name", args.string_at(1)?),
            "read_mcp_resource" => put(&mut input, "uri", args.string_at(1)?),
            "read_files" => {
                let mut files = Vec::new();
                for file in args.messages_at(1)? {
                    files.extend(file.string_at(1)?);
                }
                input.insert("files".into(), files.into());
            }
            "apply_file_diffs" => {
                put(&mut input, "summary", args.string_at(1)?);
                let mut files = Vec::new();
                for number in [2, 3, 4, 5] {
                    for file in args.messages_at(number)? {
                        files.extend(file.string_at(1)?);
                    }
                }
                input.insert("files".into(), files.into());
            }
            _ => {}
        }
    }
    Ok((id, name, Value::Object(input)))
}

/// A tool result: the call it answers, its output as text and whether it
/// failed (the result itself is kept whole).
fn tool_result(body: Nested<'_>) -> Result<(String, String, bool), WireError> {
    let call_id = body.string_at(1)?.unwrap_or_default();
    for field in body.fields() {
        let field = field?;
        if matches!(field.number, 1 | 11) {
            continue;
        }
        let Some(name) = name_in(RESULTS, field.number).or(name_in(TOOLS, field.number)) else {
            continue;
        };
        if name == "cancel" {
            return Ok((call_id, "cancelled".to_owned(), true));
        }
        let Some(result) = body.of(&field) else {
            continue;
        };
        if name == "run_shell_command" {
            // `command_finished` (5) holds the output and exit code; older
            // clients wrote them at 1 and 2.
            let finished = result.messages_at(5)?.into_iter().next();
            let (output, code) = match finished {
                Some(finished) => (finished.string_at(1)?, finished.varint_at(2)?),
                None => (result.string_at(1)?, result.varint_at(2)?),
            };
            let denied = !result.messages_at(6)?.is_empty();
            let output = if denied {
                "permission denied".to_owned()
            } else {
                output.unwrap_or_default()
            };
            // int32 exit codes are varints of their two's complement.
            let failed = denied || code.is_some_and(|c| c as i32 != 0);
            return Ok((call_id, output, failed));
        }
        // Most results are a oneof of `success` (1) and `error` (2, its
        // message at 1).
        if let Some(error) = result.messages_at(2)?.into_iter().next()
            && let Some(text) = error.string_at(1)?
        {
            return Ok((call_id, text, true));
        }
        return Ok((call_id, format!("({name} succeeded)"), false));
    }
    Ok((call_id, String::new(), false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode;

    use crate::testing::{message as msg, string as text};

    #[test]
    fn a_task_decodes_into_messages_keeping_what_is_not_modelled() {
        let mut query = text(1, "fix the build");
        encode::uint(&mut query, 5, 1); // intended_agent: not modelled
        let mut call = text(1, "call-1");
        encode::bytes(&mut call, 2, &text(1, "cargo build"));
        let mut finished = text(1, "error[E0425]");
        encode::uint(&mut finished, 2, 101);
        let mut shell = text(3, "cargo build");
        encode::bytes(&mut shell, 5, &finished);
        let mut result = text(1, "call-1");
        encode::bytes(&mut result, 2, &shell);
        let mut reply = text(1, "fixed it");
        encode::bytes(&mut reply, 9, b"from the future");

        let mut task = Vec::new();
        encode::bytes(&mut task, 1, b"task-1");
        encode::bytes(&mut task, 2, b"Fix the build");
        encode::bytes(&mut task, 5, &msg("m1", 1_700_000_000, 2, &query));
        encode::bytes(&mut task, 5, &msg("m2", 1_700_000_001, 15, &text(1, "hmm")));
        encode::bytes(&mut task, 5, &msg("m3", 1_700_000_002, 4, &call));
        encode::bytes(&mut task, 5, &msg("m4", 1_700_000_003, 5, &result));
        let mut last = msg("m5", 1_700_000_004, 3, &reply);
        encode::fixed32(&mut last, 99, 0xdead_beef); // newer than the schema
        encode::bytes(&mut task, 5, &last);
        encode::uint(&mut task, 77, 5);

        let decoded = decode(&task, DateTime::UNIX_EPOCH, Some("tok")).unwrap();
        assert_eq!(decoded.id, "task-1");
        assert_eq!(decoded.meta["description"], "Fix the build");
        let mut field_77 = Vec::new();
        encode::uint(&mut field_77, 77, 5);
        assert_eq!(
            decoded.meta["unmodelled"],
            json!([{"field": 77, "wire_type": 0, "hex": hex::encode(&field_77)}])
        );
        let views: Vec<(Role, Vec<Part>)> = decoded
            .messages
            .iter()
            .map(|m| (m.role, m.parts.clone()))
            .collect();
        assert_eq!(
            views,
            [
                (
                    Role::User,
                    vec![Part::Text {
                        text: "fix the build".into()
                    }]
                ),
                (
                    Role::Assistant,
                    vec![Part::Reasoning { text: "hmm".into() }]
                ),
                (
                    Role::Assistant,
                    vec![Part::ToolCall {
                        id: "call-1".into(),
                        name: "run_shell_command".into(),
                        input: json!({"command": "cargo build"}),
                    }]
                ),
                (
                    Role::Tool,
                    vec![Part::ToolResult {
                        call_id: "call-1".into(),
                        output: "error[E0425]".into(),
                        is_error: true,
                    }]
                ),
                (
                    Role::Assistant,
                    vec![Part::Text {
                        text: "fixed it".into()
                    }]
                ),
            ]
        );
        let first = &decoded.messages[0].extra["warp"];
        assert_eq!(first["conversation"], "tok");
        assert_eq!(first["task"], "task-1");
        assert_eq!(first["message"]["kind"], "user_query");
        assert_eq!(first["message"]["timestamp"], "2023-11-14T22:13:20+00:00");
        assert_eq!(first["message"]["body_unmodelled"][0]["field"], 5);
        let fifth = &decoded.messages[4].extra["warp"]["message"];
        let mut field_99 = Vec::new();
        encode::fixed32(&mut field_99, 99, 0xdead_beef);
        assert_eq!(
            fifth["unmodelled"],
            json!([{"field": 99, "wire_type": 5, "hex": hex::encode(&field_99)}])
        );
        assert_eq!(
            fifth["body_unmodelled"][0]["hex"],
            hex::encode(text(9, "from the future"))
        );
        // Tool traffic is kept whole.
        let mut call_field = Vec::new();
        encode::bytes(&mut call_field, 4, &call);
        assert_eq!(
            decoded.messages[2].extra["warp"]["message"]["body_hex"],
            hex::encode(&call_field)
        );
        assert_eq!(
            decoded.messages[4].time,
            DateTime::from_timestamp(1_700_000_004, 0).unwrap()
        );
    }

    #[test]
    fn errors_point_into_the_blob() {
        let mut task = Vec::new();
        encode::bytes(&mut task, 1, b"task-1");
        let offset = task.len();
        let mut bad = Vec::new();
        encode::bytes(&mut bad, 2, &[0x0a, 0x05, b'a']); // a query running past its end
        encode::bytes(&mut task, 5, &bad);
        let err = decode(&task, DateTime::UNIX_EPOCH, None).unwrap_err();
        assert_eq!(err.reason, "field runs past the end of the message");
        assert_eq!(err.offset, offset + 4, "{err}");
        let mut not_utf8 = Vec::new();
        encode::bytes(&mut not_utf8, 2, &[0xff]);
        assert_eq!(
            decode(&not_utf8, DateTime::UNIX_EPOCH, None)
                .unwrap_err()
                .reason,
            "string field is not UTF-8"
        );
    }
}
