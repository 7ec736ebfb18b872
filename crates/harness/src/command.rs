//! [`CommandHarness`]: runs any agent CLI the user names.
//!
//! The prompt goes to the program's standard input, preceded by the handoff
//! note and, when there is history, by a
//! sentence pointing to the conversation so far rendered as a document
//! ([`crate::history`], also named by `HANDOFF_HISTORY`): an agent
//! that knows nothing of handoff still sees the whole history. For programs
//! that do, the conversation is also a `handoff.conversation/v1` JSONL file
//! named by `HANDOFF_CONVERSATION`; the attachments are files listed (one
//! path per line) in `HANDOFF_ATTACHMENTS`, and the working directory is
//! the run's workspace. Whatever the program prints on standard output is
//! the assistant's reply.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use handoff_conversation::{Message, Role};

use crate::{
    Adapter, AdapterConfig, Direction, DynHarness, Error, Harness, HarnessKind, Result, Turn,
};

/// A harness that runs a program per turn.
#[derive(Debug, Clone)]
pub struct CommandHarness {
    program: PathBuf,
    args: Vec<String>,
    timeout: Duration,
    kind: HarnessKind,
    env_vars: Vec<String>,
}

impl CommandHarness {
    /// The command harness's name.
    pub const KIND: HarnessKind = HarnessKind::from_static("command");

    /// Runs `program` with `args` (the program is looked up on `PATH` when
    /// it has no `/`).
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            timeout: Duration::from_secs(30 * 60),
            kind: Self::KIND,
            env_vars: Vec::new(),
        }
    }

    /// Reports itself as `kind`: for adapters whose agent is driven this
    /// way.
    pub fn with_kind(mut self, kind: HarnessKind) -> Self {
        self.kind = kind;
        self
    }

    /// Parses a command line such as `"my-agent --fast"` (split on
    /// whitespace; no shell quoting).
    pub fn from_command_line(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace().map(str::to_owned);
        let program = words.next()?;
        Some(Self::new(program, words.collect()))
    }

    /// How long a turn may take (default 30 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Declares the environment variables the program needs (its API key,
    /// say): a confined agent gets these from this process's environment
    /// and nothing else beyond the basics.
    pub fn with_env_vars(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.env_vars = names.into_iter().map(Into::into).collect();
        self
    }

    fn kind_of(&self) -> HarnessKind {
        self.kind.clone()
    }
}

#[async_trait]
impl Harness for CommandHarness {
    fn kind(&self) -> HarnessKind {
        self.kind_of()
    }

    /// A command gets the conversation as files, whatever its origin, and
    /// hands back what it printed: every direction works.
    fn directions(&self) -> Vec<Direction> {
        Direction::ALL.to_vec()
    }

    fn env_vars(&self) -> Vec<String> {
        self.env_vars.clone()
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let io = |action: &'static str| {
            let harness = self.kind_of();
            move |source| Error::Io {
                action,
                harness,
                source,
            }
        };
        // In the session's own temporary directory when there is one: a
        // sandboxed agent sees no other.
        let scratch = tempfile_dir(turn.confinement.tmp.as_deref())
            .map_err(io("create a scratch directory"))?;
        let conversation_path = scratch.join("conversation.jsonl");
        let mut jsonl = Vec::new();
        turn.conversation.write_jsonl(&mut jsonl)?;
        tokio::fs::write(&conversation_path, &jsonl)
            .await
            .map_err(io("write the conversation file"))?;
        let attachments_path = scratch.join("attachments.txt");
        let list: String = turn
            .attachments
            .iter()
            .map(|a| format!("{}\n", a.path.display()))
            .collect();
        tokio::fs::write(&attachments_path, list)
            .await
            .map_err(io("write the attachment list"))?;

        let history = match self.history() {
            crate::HistoryLoading::Native => None,
            _ => crate::history::write(
                &scratch,
                &turn.conversation.title,
                &turn.conversation.harness,
                &turn.conversation.messages,
                turn.attachments,
            )
            .map_err(io("write the history document"))?,
        };

        let mut input = turn.handoff.note();
        input.push('\n');
        if let Some(path) = &history {
            input.push_str(&crate::history::pointer(
                path,
                turn.conversation.messages.len(),
            ));
            input.push('\n');
        }
        input.push_str(turn.prompt);
        let args: Vec<std::ffi::OsString> = self.args.iter().map(Into::into).collect();
        let kind = self.kind_of();
        // Its output is its reply: each line, as it comes, is what a
        // watcher sees of the turn.
        let live = turn.live;
        let heard = |line: &[u8]| {
            live.message(Message::text(
                Role::Assistant,
                String::from_utf8_lossy(line).into_owned(),
            ))
        };
        let run = crate::session_file::AgentRun {
            kind: &kind,
            program: &self.program,
            args: &args,
            cwd: turn.workdir,
            env: &[
                ("HANDOFF_CONVERSATION", conversation_path.as_os_str()),
                ("HANDOFF_ATTACHMENTS", attachments_path.as_os_str()),
                (
                    "HANDOFF_HISTORY",
                    history.as_deref().map_or("".as_ref(), |p| p.as_os_str()),
                ),
            ],
            stdin: Some(input.as_bytes()),
            timeout: self.timeout,
            install_hint: "install it, put it on PATH, or name it by its full path",
            confinement: turn.confinement,
            live: turn.live,
            on_line: live.hears().then_some(crate::session_file::OnLine(&heard)),
            inherit: &self.env_vars,
        };
        let outcome = crate::session_file::run_agent(run).await;
        let _ = tokio::fs::remove_dir_all(&scratch).await;
        let output = outcome?;
        let reply = String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned();
        Ok(vec![
            Message::text(Role::User, turn.prompt),
            Message::text(Role::Assistant, reply),
        ])
    }
}

/// The command harness's registration: it runs the command line of
/// [`AdapterConfig::agent_cmd`] with the variables of
/// [`AdapterConfig::agent_env`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommandAdapter;

impl Adapter for CommandAdapter {
    fn kind(&self) -> HarnessKind {
        CommandHarness::KIND
    }

    fn harness(&self, config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        let command = config
            .agent_cmd
            .as_deref()
            .and_then(CommandHarness::from_command_line)
            .ok_or(Error::NeedsAgentCommand {
                harness: CommandHarness::KIND,
            })?;
        Ok(Arc::new(
            command.with_env_vars(config.agent_env.iter().cloned()),
        ))
    }

    /// Without a command, enough to queue a session: the worker that runs
    /// it names the command.
    fn for_queueing(&self, config: &AdapterConfig) -> Result<Arc<DynHarness>> {
        match config.agent_cmd {
            Some(_) => self.harness(config),
            None => Ok(Arc::new(Unnamed)),
        }
    }
}

/// The command harness without its command: it declares what any command
/// harness does and runs no turn.
#[derive(Debug)]
struct Unnamed;

#[async_trait]
impl Harness for Unnamed {
    fn kind(&self) -> HarnessKind {
        CommandHarness::KIND
    }

    fn directions(&self) -> Vec<Direction> {
        Direction::ALL.to_vec()
    }

    async fn run_turn(&self, _turn: Turn<'_>) -> Result<Vec<Message>> {
        Err(Error::NeedsAgentCommand {
            harness: CommandHarness::KIND,
        })
    }
}

fn tempfile_dir(under: Option<&std::path::Path>) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = under.map_or_else(std::env::temp_dir, std::path::Path::to_owned);
    let dir = base.join(format!(
        "handoff-turn-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Handoff;
    use handoff_conversation::Conversation;

    fn script(dir: &std::path::Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("agent.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn conformance_with_a_real_program() {
        let dir = tempfile::tempdir().unwrap();
        let agent = script(dir.path(), "prompt=$(cat); echo \"you said: $prompt\"");
        crate::testing::harness_conformance(&CommandHarness::new(agent, vec![])).await;
    }

    #[tokio::test]
    async fn passes_prompt_conversation_and_workdir() {
        let bin = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("restored.txt"), "from the snapshot").unwrap();
        let agent = script(
            bin.path(),
            "cat > prompt.txt; head -c 40 \"$HANDOFF_CONVERSATION\" > conv-head.txt; cp \"$HANDOFF_HISTORY\" history.md; cat restored.txt; echo; echo done > agent-was-here.txt",
        );
        let mut conversation = Conversation::new("c", "command");
        conversation.push(Message::text(Role::User, "earlier"));
        let handoff = Handoff {
            applied: 1,
            not_applied: vec![crate::NotApplied {
                path: "a.txt".into(),
                reason: "conflict".into(),
            }],
            warnings: vec![],
        };
        let turn = Turn {
            conversation: &conversation,
            prompt: "next step",
            workdir: work.path(),
            attachments: &[],
            handoff: &handoff,
            agent: &crate::AgentOptions::default(),
            confinement: &crate::Confinement::default(),
            live: crate::Live::IDLE,
        };
        let added = CommandHarness::new(agent, vec![])
            .run_turn(turn)
            .await
            .unwrap();
        assert_eq!(added[1].plain_text(), "from the snapshot");
        let prompt = std::fs::read_to_string(work.path().join("prompt.txt")).unwrap();
        assert!(
            prompt.starts_with("Note from handoff") && prompt.ends_with("next step"),
            "{prompt}"
        );
        assert!(prompt.contains("not applied: a.txt: conflict"));
        assert!(
            prompt.contains("The conversation so far (1 message(s), newest last) is in "),
            "{prompt}"
        );
        let history = std::fs::read_to_string(work.path().join("history.md")).unwrap();
        assert!(
            history.contains("## User") && history.contains("earlier"),
            "{history}"
        );
        let head = std::fs::read_to_string(work.path().join("conv-head.txt")).unwrap();
        assert!(
            head.starts_with("{\"format\":\"handoff.conversation/v1\""),
            "{head}"
        );
        assert!(work.path().join("agent-was-here.txt").exists());
    }

    #[tokio::test]
    async fn failures_are_typed() {
        let bin = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let conversation = Conversation::new("c", "command");
        let handoff = Handoff::default();
        let turn = Turn {
            conversation: &conversation,
            prompt: "p",
            workdir: work.path(),
            attachments: &[],
            handoff: &handoff,
            agent: &crate::AgentOptions::default(),
            confinement: &crate::Confinement::default(),
            live: crate::Live::IDLE,
        };
        let missing = CommandHarness::new("definitely-not-an-agent-binary", vec![])
            .run_turn(turn)
            .await
            .unwrap_err();
        assert!(
            matches!(&missing, Error::NotInstalled { program, .. } if program == "definitely-not-an-agent-binary"),
            "{missing}"
        );
        let failing = script(bin.path(), "echo 'model overloaded' >&2; exit 7");
        let err = CommandHarness::new(failing, vec![])
            .run_turn(turn)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("exit status: 7")
                && err.to_string().contains("model overloaded"),
            "{err}"
        );
        let slow = script(bin.path(), "sleep 30");
        let err = CommandHarness::new(slow, vec![])
            .with_timeout(Duration::from_millis(200))
            .run_turn(turn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
    }
}
