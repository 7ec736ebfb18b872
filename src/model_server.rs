//! A scripted model server on loopback, so the real agent CLIs (Claude Code,
//! Codex) run complete turns offline in tests and benchmarks.
//!
//! It speaks just enough HTTP/1.1 and two streaming APIs:
//! - the Anthropic Messages API (`POST /v1/messages`, server-sent events
//!   `message_start`, `content_block_start`/`_delta`/`_stop`,
//!   `message_delta`, `message_stop`) for Claude Code, pointed here with
//!   `ANTHROPIC_BASE_URL`;
//! - the OpenAI Responses API (`POST /v1/responses`, events
//!   `response.created`, `response.output_item.added`/`.done`,
//!   `response.completed`) for Codex, pointed here by a model provider in
//!   `$CODEX_HOME/config.toml` ([`ModelServer::codex_config`]).
//!
//! What the model answers is a [`Script`]: a function of the request that
//! returns a [`Step`] — some text, or a tool call that writes a file in the
//! agent's working directory (Claude Code's `Write` tool; Codex's
//! `exec_command`). Every request is recorded ([`ModelServer::requests`])
//! so a test can assert exactly what the model was sent.
//!
//! One thread accepts connections and one thread serves each; every
//! response closes its connection, so no request waits on another. The
//! server stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{Value, json};

/// Which API a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages (`/v1/messages`).
    Messages,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
    /// Anything else (answered 404, recorded all the same).
    Other,
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Which API it used.
    pub api: Api,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
}

impl Request {
    /// The whole body as JSON text, for `contains` checks.
    pub fn text(&self) -> String {
        self.body.to_string()
    }

    /// The newest item of the conversation sent, leaving out the notes
    /// an agent adds for the model (Claude Code's `system` messages, such
    /// as an environment update after a resume elsewhere).
    fn last_item(&self) -> Option<&Value> {
        let items = match self.api {
            Api::Messages => self.body["messages"].as_array(),
            Api::Responses => self.body["input"].as_array(),
            Api::Other => None,
        }?;
        items
            .iter()
            .rev()
            .find(|item| !matches!(item["role"].as_str(), Some("system" | "developer")))
    }

    /// Whether the newest item of the conversation sent is a tool result:
    /// the agent ran the tool call of the previous step and wants the next.
    pub fn ends_with_tool_result(&self) -> bool {
        let Some(last) = self.last_item() else {
            return false;
        };
        match self.api {
            Api::Messages => last["content"]
                .as_array()
                .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result")),
            _ => last["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("_call_output")),
        }
    }

    /// The text of the tool results sent (what the agent's tools printed).
    pub fn tool_results(&self) -> Vec<String> {
        match self.api {
            Api::Messages => self.body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|b| b["type"] == "tool_result")
                .map(|b| match &b["content"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            Api::Responses => self.body["input"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| {
                    i["type"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("_call_output"))
                })
                .map(|i| match &i["output"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            Api::Other => Vec::new(),
        }
    }

    /// The text of the newest user message (for a tool result: empty).
    pub fn last_user_text(&self) -> String {
        let Some(last) = self.last_item().filter(|m| m["role"] == "user") else {
            return String::new();
        };
        match &last["content"] {
            Value::String(text) => text.clone(),
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }

    /// Whether this is a turn of the agent's conversation (it offers
    /// tools), rather than a side request such as a title or a quota probe.
    pub fn is_turn(&self) -> bool {
        self.api != Api::Other
            && self.body["tools"]
                .as_array()
                .is_some_and(|tools| !tools.is_empty())
    }

    /// The agent's working directory, as its request states it last:
    /// Claude Code in its system prompt and in the environment updates it
    /// adds after resuming elsewhere, Codex in its environment context.
    pub fn cwd(&self) -> Option<String> {
        let (text, start) = match self.api {
            Api::Messages => {
                let updates = self.body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["role"] == "system")
                    .map(Value::to_string);
                let text: String = std::iter::once(self.body["system"].to_string())
                    .chain(updates)
                    .collect();
                (text, "Primary working directory: ")
            }
            Api::Responses => (self.text(), "<cwd>"),
            Api::Other => return None,
        };
        let rest = &text[text.rfind(start)? + start.len()..];
        let end = ["\\n", " (was ", "</cwd>", "\""]
            .iter()
            .filter_map(|end| rest.find(end))
            .min()?;
        Some(rest[..end].to_owned())
    }
}

/// What the model does in reply to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answers with text and ends the turn.
    Text(String),
    /// Calls the agent's tool that writes a file: `path` relative to the
    /// agent's working directory, `content` its text.
    Write {
        /// The file, relative to the working directory.
        path: String,
        /// What to write.
        content: String,
    },
    /// Fails the request with an HTTP status and an API error message.
    Fail {
        /// The HTTP status.
        status: u16,
        /// The error message.
        message: String,
    },
}

/// What the model answers, as a function of the request.
pub type Script = dyn Fn(&Request) -> Step + Send + Sync;

/// The script most tests want: write `path` with `content`, then, once the
/// tool has run, answer `answer`. Side requests get `answer` too.
pub fn write_then_answer(path: &str, content: &str, answer: &str) -> Arc<Script> {
    write_when("", path, content, answer)
}

/// Like [`write_then_answer`], but writes only when the newest prompt
/// contains `trigger`; every other turn is answered `answer` at once.
pub fn write_when(trigger: &str, path: &str, content: &str, answer: &str) -> Arc<Script> {
    let (trigger, path, content, answer) = (
        trigger.to_owned(),
        path.to_owned(),
        content.to_owned(),
        answer.to_owned(),
    );
    Arc::new(move |request: &Request| {
        if request.is_turn()
            && !request.ends_with_tool_result()
            && request.last_user_text().contains(&trigger)
        {
            Step::Write {
                path: path.clone(),
                content: content.clone(),
            }
        } else {
            Step::Text(answer.clone())
        }
    })
}

/// A real agent CLI the suite drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code, `$HANDOFF_REAL_CLAUDE`.
    ClaudeCode,
    /// Codex, `$HANDOFF_REAL_CODEX`.
    Codex,
}

/// The variable that makes a missing real agent CLI a test failure instead
/// of a skip (`.ci/test` sets it).
pub const REQUIRE_AGENTS: &str = "HANDOFF_REQUIRE_AGENTS";

/// The real CLI of `agent`, named by `$HANDOFF_REAL_CLAUDE` or
/// `$HANDOFF_REAL_CODEX` (`.ci/test` installs them and sets both). Without
/// it: `None` after saying why the test does nothing, or a panic when
/// `HANDOFF_REQUIRE_AGENTS=1`.
#[allow(clippy::print_stderr, reason = "tests say why they did nothing")]
pub fn real_cli(agent: Agent) -> Option<std::path::PathBuf> {
    let var = match agent {
        Agent::ClaudeCode => "HANDOFF_REAL_CLAUDE",
        Agent::Codex => "HANDOFF_REAL_CODEX",
    };
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(path) => Some(path.into()),
        None => {
            assert!(
                std::env::var(REQUIRE_AGENTS).as_deref() != Ok("1"),
                "{REQUIRE_AGENTS}=1 but {var} is not set: the real {agent:?} CLI is required"
            );
            eprintln!("skipped: {var} is not set (the real {agent:?} CLI is not installed)");
            None
        }
    }
}

/// A running scripted model server, stopped on drop.
pub struct ModelServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ModelServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl ModelServer {
    /// Starts a server on a free loopback port, answering by `script`.
    pub fn start(script: Arc<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                let ids = Arc::new(AtomicU64::new(1));
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, script, ids) = (requests.clone(), script.clone(), ids.clone());
                    std::thread::spawn(move || {
                        // A client that hangs up early is its own business.
                        let _ = serve(stream, &*script, &requests, &ids);
                    });
                }
            })
        };
        Self {
            port,
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// The requests that were turns of the agent's conversation
    /// ([`Request::is_turn`]), oldest first.
    pub fn turns(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_turn)
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.requests.lock().expect("requests lock").clear();
    }

    /// The environment that points Claude Code at this server, offline:
    /// `ANTHROPIC_BASE_URL`, a placeholder `ANTHROPIC_API_KEY`, and
    /// `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`.
    pub fn claude_env(&self) -> Vec<(String, String)> {
        vec![
            ("ANTHROPIC_BASE_URL".to_owned(), self.url()),
            ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-scripted".to_owned()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(),
                "1".to_owned(),
            ),
        ]
    }

    /// The environment variable Codex reads the provider's key from, as
    /// named in [`ModelServer::codex_config`], and a placeholder value.
    pub const CODEX_KEY_VAR: &'static str = "HANDOFF_SCRIPTED_MODEL_KEY";

    /// Writes `$CODEX_HOME/config.toml` with a model provider that points
    /// Codex at this server (its key in [`ModelServer::CODEX_KEY_VAR`]).
    pub fn codex_config(&self, codex_home: &Path) {
        std::fs::create_dir_all(codex_home).expect("create CODEX_HOME");
        let config = format!(
            "model = \"scripted-model\"\n\
             model_provider = \"scripted\"\n\
             \n\
             [model_providers.scripted]\n\
             name = \"scripted\"\n\
             base_url = \"{}/v1\"\n\
             wire_api = \"responses\"\n\
             env_key = \"{}\"\n\
             request_max_retries = 0\n\
             stream_max_retries = 0\n",
            self.url(),
            Self::CODEX_KEY_VAR
        );
        std::fs::write(codex_home.join("config.toml"), config).expect("write config.toml");
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    script: &Script,
    requests: &Mutex<Vec<Request>>,
    ids: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    let route = path.split('?').next().unwrap_or_default();
    let api = match (method.as_str(), route) {
        ("POST", "/v1/messages") => Api::Messages,
        ("POST", "/v1/responses") => Api::Responses,
        _ => Api::Other,
    };
    let request = Request {
        api,
        method,
        path,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    requests
        .lock()
        .expect("requests lock")
        .push(request.clone());
    let mut out = stream;
    if api == Api::Other {
        return respond(
            &mut out,
            404,
            "application/json",
            b"{\"error\":\"not found\"}",
        );
    }
    let id = ids.fetch_add(1, Ordering::SeqCst);
    match script(&request) {
        Step::Fail { status, message } => {
            let body = match api {
                Api::Messages => {
                    json!({"type": "error", "error": {"type": "api_error", "message": message}})
                }
                _ => json!({"error": {"type": "server_error", "message": message}}),
            };
            respond(
                &mut out,
                status,
                "application/json",
                body.to_string().as_bytes(),
            )
        }
        step if request.body["stream"] == Value::Bool(false) && api == Api::Messages => {
            let body = anthropic_message(&request, &step, id);
            respond(
                &mut out,
                200,
                "application/json",
                body.to_string().as_bytes(),
            )
        }
        step => {
            let events = match api {
                Api::Messages => anthropic_events(&request, &step, id),
                _ => responses_events(&request, &step, id),
            };
            let mut body = String::new();
            for (name, data) in events {
                body.push_str(&format!("event: {name}\ndata: {data}\n\n"));
            }
            respond(&mut out, 200, "text/event-stream", body.as_bytes())
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn respond(out: &mut TcpStream, status: u16, kind: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} {}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nrequest-id: req_scripted\r\nconnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

fn absolute(request: &Request, path: &str) -> String {
    match request.cwd() {
        Some(cwd) if !path.starts_with('/') => format!("{cwd}/{path}"),
        _ => path.to_owned(),
    }
}

fn model(request: &Request) -> Value {
    request
        .body
        .get("model")
        .cloned()
        .unwrap_or_else(|| json!("scripted-model"))
}

/// The content blocks of an Anthropic reply.
fn anthropic_blocks(request: &Request, step: &Step, id: u64) -> (Vec<Value>, &'static str) {
    match step {
        Step::Write { path, content } => (
            vec![json!({
                "type": "tool_use",
                "id": format!("toolu_scripted_{id}"),
                "name": "Write",
                "input": {"file_path": absolute(request, path), "content": content},
            })],
            "tool_use",
        ),
        Step::Text(text) => (vec![json!({"type": "text", "text": text})], "end_turn"),
        Step::Fail { .. } => (Vec::new(), "end_turn"),
    }
}

fn anthropic_message(request: &Request, step: &Step, id: u64) -> Value {
    let (content, stop) = anthropic_blocks(request, step, id);
    json!({
        "id": format!("msg_scripted_{id}"), "type": "message", "role": "assistant",
        "model": model(request), "content": content, "stop_reason": stop,
        "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 10},
    })
}

fn anthropic_events(request: &Request, step: &Step, id: u64) -> Vec<(&'static str, Value)> {
    let (blocks, stop) = anthropic_blocks(request, step, id);
    let mut events = vec![(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_scripted_{id}"), "type": "message", "role": "assistant",
            "model": model(request), "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }}),
    )];
    for (index, block) in blocks.into_iter().enumerate() {
        let (start, delta) = if block["type"] == "tool_use" {
            let mut start = block.clone();
            start["input"] = json!({});
            let delta =
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()});
            (start, delta)
        } else {
            let delta = json!({"type": "text_delta", "text": block["text"]});
            (json!({"type": "text", "text": ""}), delta)
        };
        events.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        events.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
        events.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
               "usage": {"output_tokens": 10}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    events
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn responses_events(request: &Request, step: &Step, id: u64) -> Vec<(&'static str, Value)> {
    let response_id = format!("resp_scripted_{id}");
    let item = match step {
        Step::Write { path, content } => {
            let command = format!(
                "printf '%s' {} > {}",
                shell_quote(content),
                shell_quote(path)
            );
            json!({
                "type": "function_call", "id": format!("fc_scripted_{id}"),
                "call_id": format!("call_scripted_{id}"), "name": "exec_command",
                "arguments": json!({"cmd": command}).to_string(),
            })
        }
        Step::Text(text) | Step::Fail { message: text, .. } => json!({
            "type": "message", "id": format!("msg_scripted_{id}"), "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }),
    };
    let response = json!({"id": response_id, "object": "response", "model": model(request)});
    let mut completed = response.clone();
    completed["status"] = json!("completed");
    completed["usage"] = json!({
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 20,
    });
    vec![
        (
            "response.created",
            json!({"type": "response.created", "response": response}),
        ),
        (
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "response": completed}),
        ),
    ]
}
