//! The journeys users take, with the real agent CLIs doing real turns: Claude
//! Code and Codex against the scripted model server on loopback, driven
//! through the `handoff` binary.
//!
//! For each agent: a local native session that mentions a marker word is
//! pushed with an uncommitted change and run (`push --session latest
//! --wait`); the model's first cloud request holds the marker and the
//! handoff note, its scripted tool call writes a file, and `handoff diff`
//! shows that file and the carried change. A `follow-up` resumes the same
//! conversation, `continue-locally` installs it where the real CLI's own
//! resume finds it, and a `read-only` session cannot write. Across agents:
//! a Claude Code session continued by Codex and back, the marker reaching
//! both models.
//!
//! The CLIs are `$HANDOFF_REAL_CLAUDE` and `$HANDOFF_REAL_CODEX`; `.ci/test`
//! installs them and sets `HANDOFF_REQUIRE_AGENTS=1`, so there a missing CLI
//! fails these tests. Elsewhere they say why they did nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use handoff_dev::GitRepo;
use handoff_dev::model_server::{Agent, ModelServer, Request, real_cli, write_when};
use serde_json::Value;

/// The word the local session mentions, that must reach every model.
const MARKER: &str = "PLOVER-7";
/// The prompt word that makes the scripted model write a file.
const TRIGGER: &str = "WRITE-IT";

/// Everything one journey needs: the model server, a store, the agents'
/// homes, a repository with an uncommitted change, and the real CLIs.
struct World {
    server: ModelServer,
    store: tempfile::TempDir,
    tmp: tempfile::TempDir,
    claude_home: tempfile::TempDir,
    codex_home: tempfile::TempDir,
    repo: GitRepo,
    path: OsString,
}

impl World {
    /// `None` when a CLI is missing (and not required).
    fn new() -> Option<Self> {
        let claude = real_cli(Agent::ClaudeCode)?;
        let codex = real_cli(Agent::Codex)?;
        let server = ModelServer::start(write_when(
            TRIGGER,
            "agent_wrote.txt",
            "written by the model\n",
            "done",
        ));
        let codex_home = tempfile::tempdir().unwrap();
        server.codex_config(codex_home.path());
        let repo = GitRepo::init();
        repo.write("README.md", "# app\n");
        repo.commit_all("base");
        repo.write("carried.txt", "an uncommitted change\n");
        // The harnesses find the agents on PATH, as on a user's machine.
        let dirs = [&claude, &codex].map(|cli| cli.parent().unwrap().to_owned());
        let path = std::env::join_paths(
            dirs.iter()
                .cloned()
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        Some(Self {
            server,
            store: tempfile::tempdir().unwrap(),
            tmp: tempfile::tempdir().unwrap(),
            claude_home: tempfile::tempdir().unwrap(),
            codex_home,
            repo,
            path,
        })
    }

    /// The environment of every process: the agents' homes, the model
    /// server, a temporary directory of its own.
    fn env(&self, command: &mut Command) {
        command
            .current_dir(self.repo.path())
            .env("PATH", &self.path)
            .env("TMPDIR", self.tmp.path())
            .env("CLAUDE_CONFIG_DIR", self.claude_home.path())
            .env("CODEX_HOME", self.codex_home.path())
            .env(ModelServer::CODEX_KEY_VAR, "scripted")
            .envs(self.server.claude_env())
            .env_remove("HANDOFF_STORE")
            .stdin(Stdio::null());
    }

    /// `handoff --store STORE ARGS` in the repository; must succeed.
    fn handoff(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        self.env(&mut command);
        let out = command
            .arg("--store")
            .arg(self.store.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "handoff {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn handoff_json(&self, args: &[&str]) -> Value {
        serde_json::from_slice(&self.handoff(args).stdout).unwrap()
    }

    /// The agent's own CLI in the repository, as a person runs it; must
    /// succeed.
    fn agent(&self, agent: Agent, args: &[&str]) {
        let program: PathBuf = match agent {
            Agent::ClaudeCode => "claude".into(),
            Agent::Codex => "codex".into(),
        };
        let mut command = Command::new(program);
        self.env(&mut command);
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{agent:?} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A local session that mentions the marker, as the agent writes it.
    fn local_session(&self, agent: Agent) {
        let prompt = format!("Remember the marker word {MARKER}.");
        match agent {
            Agent::ClaudeCode => self.agent(agent, &["-p", &prompt]),
            Agent::Codex => self.agent(agent, &["exec", &prompt]),
        }
    }

    /// Resumes session `id` with the agent's own CLI and `prompt`.
    fn resume_locally(&self, agent: Agent, id: &str, prompt: &str) {
        match agent {
            Agent::ClaudeCode => self.agent(agent, &["-p", "--resume", id, prompt]),
            Agent::Codex => self.agent(agent, &["exec", "resume", id, prompt]),
        }
    }

    /// The model requests of the agent's conversation since the last call,
    /// the first of them first.
    fn turns_since(&self) -> Vec<Request> {
        let turns = self.server.turns();
        self.server.clear();
        assert!(!turns.is_empty(), "no request reached the model");
        turns
    }
}

fn harness_name(agent: Agent) -> &'static str {
    match agent {
        Agent::ClaudeCode => "claude-code",
        Agent::Codex => "codex",
    }
}

fn assert_holds(request: &Request, needles: &[&str]) {
    let text = request.text();
    for needle in needles {
        assert!(
            text.contains(needle),
            "the model was not sent {needle:?}: {}",
            &text[..text.len().min(2000)]
        );
    }
}

/// Pushes the agent's latest local session and runs it; returns the run id.
fn push_and_wait(world: &World, agent: Agent, prompt: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "push",
        "--harness",
        harness_name(agent),
        "--session",
        "latest",
        "--prompt",
        prompt,
        "--wait",
        "--json",
    ];
    args.extend(extra);
    let pushed = world.handoff_json(&args);
    assert_eq!(pushed["record"]["state"], "ended", "{pushed}");
    pushed["run"].as_str().unwrap().to_owned()
}

/// continue-locally for `agent`; returns the local session's id.
fn continue_locally(world: &World, run: &str, agent: Agent) -> String {
    let repo = world.repo.path().to_str().unwrap().to_owned();
    let done = world.handoff_json(&[
        "continue-locally",
        run,
        "--repo",
        &repo,
        "--harness",
        harness_name(agent),
        "--json",
    ]);
    assert!(done["native_session"]["file"].is_string(), "{done}");
    done["conversation"].as_str().unwrap().to_owned()
}

fn journey(agent: Agent) {
    let Some(world) = World::new() else {
        return;
    };
    world.local_session(agent);
    world.server.clear();

    // local → cloud: the history, the note and the change arrive; the
    // agent edits the workspace.
    let first_prompt = format!("{TRIGGER}: write agent_wrote.txt");
    let run = push_and_wait(&world, agent, &first_prompt, &[]);
    let turns = world.turns_since();
    assert_holds(
        &turns[0],
        &[
            MARKER,
            "Note from handoff",
            "1 change(s) applied, 0 not applied",
            &first_prompt,
        ],
    );
    assert!(
        turns.iter().any(Request::ends_with_tool_result),
        "the scripted tool call ran and its result went back"
    );
    let diff = String::from_utf8(world.handoff(&["diff", &run]).stdout).unwrap();
    for expected in [
        "+++ b/agent_wrote.txt",
        "+written by the model",
        "+++ b/carried.txt",
        "+an uncommitted change",
    ] {
        assert!(diff.contains(expected), "{expected:?} not in:\n{diff}");
    }
    let shown = world.handoff_json(&["show", &run, "--json"]);
    assert_eq!(shown["sessions"][0]["permissions"], "edits");

    // cloud → cloud: the same conversation, first cloud turn included.
    world.handoff(&["follow-up", &run, "--prompt", "second cloud turn", "--wait"]);
    let turns = world.turns_since();
    assert_holds(&turns[0], &[MARKER, &first_prompt, "second cloud turn"]);

    // cloud → local: the agent's own resume sends the cloud turns.
    let local = continue_locally(&world, &run, agent);
    world.resume_locally(agent, &local, "back on my machine");
    let turns = world.turns_since();
    assert_holds(
        &turns[0],
        &[
            MARKER,
            &first_prompt,
            "second cloud turn",
            "back on my machine",
        ],
    );

    // read-only really prevents the write.
    let run = push_and_wait(
        &world,
        agent,
        &first_prompt,
        &["--permissions", "read-only"],
    );
    world.turns_since();
    let shown = world.handoff_json(&["show", &run, "--json"]);
    assert_eq!(shown["sessions"][0]["permissions"], "read-only");
    let diff = String::from_utf8(world.handoff(&["diff", &run]).stdout).unwrap();
    assert!(diff.contains("+++ b/carried.txt"), "{diff}");
    assert!(!diff.contains("agent_wrote.txt"), "{diff}");
}

#[test]
fn claude_code_journey_with_the_real_cli() {
    journey(Agent::ClaudeCode);
}

#[test]
fn codex_journey_with_the_real_cli() {
    journey(Agent::Codex);
}

#[test]
fn a_claude_code_session_continues_in_codex_and_back() {
    let Some(world) = World::new() else {
        return;
    };
    world.local_session(Agent::ClaudeCode);
    world.server.clear();
    let run = push_and_wait(&world, Agent::ClaudeCode, "first cloud turn", &[]);
    assert_holds(&world.turns_since()[0], &[MARKER]);

    // Claude Code → Codex, locally.
    let codex = continue_locally(&world, &run, Agent::Codex);
    world.resume_locally(Agent::Codex, &codex, "codex takes over");
    let turns = world.turns_since();
    assert_eq!(turns[0].api, handoff_dev::model_server::Api::Responses);
    assert_holds(&turns[0], &[MARKER, "first cloud turn", "codex takes over"]);

    // Codex → cloud → Claude Code.
    let run = push_and_wait(&world, Agent::Codex, "codex cloud turn", &[]);
    assert_holds(&world.turns_since()[0], &[MARKER, "codex takes over"]);
    let claude = continue_locally(&world, &run, Agent::ClaudeCode);
    world.resume_locally(Agent::ClaudeCode, &claude, "claude again");
    let turns = world.turns_since();
    assert_eq!(turns[0].api, handoff_dev::model_server::Api::Messages);
    assert_holds(
        &turns[0],
        &[
            MARKER,
            "codex takes over",
            "codex cloud turn",
            "claude again",
        ],
    );
}

/// The model server's own behaviour, with no CLI: what it streams is what
/// the CLIs above parse, so a broken server shows up here first.
#[test]
fn the_scripted_server_streams_both_apis() {
    use std::io::{Read, Write};
    let server = ModelServer::start(write_when(TRIGGER, "f.txt", "x", "done"));
    let post = |path: &str, body: Value| {
        let mut stream =
            std::net::TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
        let body = body.to_string();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    };
    let tools = serde_json::json!([{"name": "Write"}]);
    let reply = post(
        "/v1/messages?beta=true",
        serde_json::json!({"model": "m", "stream": true, "tools": tools,
            "system": "Primary working directory: /w\n",
            "messages": [{"role": "user", "content": format!("{TRIGGER} now")}]}),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("event: message_start") && reply.contains("event: message_stop"));
    assert!(reply.contains(r#""name":"Write""#) && reply.contains(r#"\"file_path\":\"/w/f.txt\""#));
    let reply = post(
        "/v1/responses",
        serde_json::json!({"model": "m", "stream": true, "tools": tools,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}),
    );
    assert!(reply.contains("event: response.completed"), "{reply}");
    assert!(reply.contains(r#""text":"done""#), "{reply}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].last_user_text(), format!("{TRIGGER} now"));
    assert_eq!(requests[0].cwd().as_deref(), Some("/w"));
}

/// The word a local Warp conversation mentions.
const WARP_MARKER: &str = "OSPREY-3";

/// A Warp conversation, read from Warp's own database, imported, exported
/// as a Claude Code session, pushed and run by the real Claude Code, then
/// continued locally: its history reaches the model each time.
#[test]
fn a_local_warp_conversation_continues_with_the_real_claude_code() {
    use handoff_warp::testing::{WarpDatabase, agent, task, user};
    let Some(world) = World::new() else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let db = WarpDatabase::create(state.path(), "wal");
    let id = "0195f3a0-0000-7000-8000-0000000000dd";
    let repo = world.repo.path().to_str().unwrap().to_owned();
    db.conversation(
        id,
        serde_json::json!({"server_conversation_token": "tok-warp"}),
        "2025-04-01 12:00:00",
        &repo,
        "Fix the release build",
    );
    db.task(
        id,
        "root",
        &task(
            "root",
            None,
            &[
                user(
                    "u1",
                    1_743_500_001,
                    &format!("the release build fails; marker {WARP_MARKER}"),
                ),
                agent("a1", 1_743_500_005, "fixed the flag in the Makefile"),
            ],
        ),
    );
    let home = state.path().to_str().unwrap().to_owned();
    let imported = world.handoff_json(&[
        "import",
        "--harness",
        "warp",
        "--session",
        "latest",
        "--home",
        &home,
        "--json",
    ]);
    let conversation = imported["conversation"].as_str().unwrap().to_owned();
    world.handoff(&[
        "export",
        &conversation,
        "--harness",
        "claude-code",
        "--cwd",
        &repo,
    ]);
    world.server.clear();

    let run = push_and_wait(&world, Agent::ClaudeCode, "continue the warp task", &[]);
    assert_holds(
        &world.turns_since()[0],
        &[
            WARP_MARKER,
            "fixed the flag in the Makefile",
            "continue the warp task",
        ],
    );
    let local = continue_locally(&world, &run, Agent::ClaudeCode);
    world.resume_locally(Agent::ClaudeCode, &local, "back on my machine");
    assert_holds(
        &world.turns_since()[0],
        &[WARP_MARKER, "continue the warp task", "back on my machine"],
    );
}
