//! [`WarpHarness`]: runs a turn with Warp's agent CLI, `oz agent run`.
//!
//! The CLI takes the prompt as `--prompt` (it never reads standard input),
//! the workspace as `-C`, `--model`, `--profile`, and `--conversation` to
//! continue a conversation Warp's server keeps (Warp's
//! `crates/warp_cli/src/agent.rs`); `--output-format json` makes it print
//! one event per line ([`crate::events`]). It exits 0 on success,
//! 1 when the conversation ends in error, is cancelled or blocked, and 2 on
//! bad arguments; each is a [`TurnError`] here.
//!
//! The session's model is passed as `--model`. Permission levels: `oz` has
//! no flag for them (its autonomy comes from the Warp profile), so
//! `read-only` is kept by the sandbox alone — it mounts the workspace
//! read-only, and a worker without the sandbox refuses such a session
//! ([`Harness::honours`]'s default); `edits` and `full` run with the
//! profile's own permissions.
//!
//! History: when the conversation records a Warp server conversation (an
//! earlier `oz` turn's `conversation_started`, or a local Warp conversation
//! imported with its token) the turn passes `--conversation`, and only the
//! messages that conversation lacks (turns by other agents since) are
//! rendered as a document the prompt points to; with no server
//! conversation, the whole history is. Should `oz` refuse the conversation
//! before starting it (another account's, say), the turn is run once more
//! with the whole history as a document.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use handoff_conversation::{Message, Role};
use handoff_harness::session_file::{AgentRun, run_program};
use handoff_harness::{
    Direction, Error, Harness, HarnessKind, HistoryLoading, Honour, Permissions, Result, Turn,
    history,
};
use serde_json::{Map, Value};

use crate::events::{self, Stream};
use crate::{KIND, NATIVE, TurnError, server_conversation};

/// The programs looked for on `PATH`, in order: `oz`, then its older name.
/// (The newer `warp` agent CLI has no non-interactive mode.)
pub const PROGRAMS: &[&str] = &["oz", "warp-cli"];

/// The environment variables the CLI reads for its account: its API key
/// (a logged-in user's credentials are used otherwise).
pub const ENVIRONMENT: &[&str] = &["WARP_API_KEY"];

const INSTALL_HINT: &str =
    "install Warp's agent CLI (https://docs.warp.dev), or pass the path of `oz`";

/// The Warp Agent harness.
#[derive(Debug, Clone)]
pub struct WarpHarness {
    program: Option<PathBuf>,
    model: Option<String>,
    profile: Option<String>,
    timeout: Duration,
}

impl WarpHarness {
    /// Locates Warp's agent CLI on `PATH` ([`PROGRAMS`]).
    pub fn locate() -> Self {
        Self::at(handoff_harness::session_file::find_on_path(PROGRAMS))
    }

    /// Uses the CLI at `program` (`None`: not installed).
    pub fn at(program: Option<PathBuf>) -> Self {
        Self {
            program,
            model: None,
            profile: None,
            timeout: Duration::from_secs(30 * 60),
        }
    }

    /// The CLI this harness runs, if any.
    pub fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }

    /// Runs turns with `model` (`oz agent run --model`).
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Runs turns with the agent profile `profile` (`--profile`).
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// How long a turn may take (default 30 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io {
            action,
            harness: KIND,
            source,
        }
    }

    /// The arguments of one run. The session's model (`--model` on
    /// `push`) wins over the harness's own default ([`Self::with_model`]).
    fn args(
        &self,
        prompt: &str,
        workdir: &Path,
        conversation: Option<&str>,
        model: Option<&str>,
    ) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "agent".into(),
            "run".into(),
            "--prompt".into(),
            prompt.into(),
            "-C".into(),
            workdir.into(),
            "--output-format".into(),
            "json".into(),
        ];
        for (flag, value) in [
            ("--model", model.or(self.model.as_deref())),
            ("--profile", self.profile.as_deref()),
            ("--conversation", conversation),
        ] {
            if let Some(value) = value {
                args.push(flag.into());
                args.push(value.into());
            }
        }
        args
    }

    /// One run of the CLI: the prompt (with the handoff note and, when
    /// there is one, the pointer to the history document), continuing
    /// `conversation` when given.
    async fn attempt(
        &self,
        program: &Path,
        turn: &Turn<'_>,
        workdir: &Path,
        scratch: &Path,
        conversation: Option<&str>,
    ) -> Result<(std::process::Output, Stream)> {
        let messages = &turn.conversation.messages;
        let lacking = match conversation {
            Some(_) => server_conversation(turn.conversation).map_or(0, |s| s.known),
            None => 0,
        };
        let document = history::write(
            scratch,
            &turn.conversation.title,
            &turn.conversation.harness,
            &messages[lacking.min(messages.len())..],
            turn.attachments,
        )
        .map_err(Self::io("write the history document"))?;
        let mut prompt = turn.handoff.note();
        if !prompt.is_empty() {
            prompt.push('\n');
        }
        if let Some(path) = &document {
            prompt.push_str(&history::pointer(
                path,
                messages.len().saturating_sub(lacking),
            ));
            prompt.push('\n');
        }
        prompt.push_str(turn.prompt);
        let args = self.args(&prompt, workdir, conversation, turn.agent.model.as_deref());
        let kind = KIND;
        let inherit = self.env_vars();
        let output = run_program(AgentRun {
            kind: &kind,
            program,
            args: &args,
            cwd: workdir,
            env: &[],
            stdin: None,
            timeout: self.timeout,
            install_hint: INSTALL_HINT,
            confinement: turn.confinement,
            live: turn.live,
            on_line: None,
            inherit: &inherit,
        })
        .await?;
        let stream = events::parse(&output.stdout);
        Ok((output, stream))
    }
}

/// The last lines of what the CLI printed on standard error.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..]
        .join(" ")
        .trim()
        .to_owned()
}

/// What an exit status means, per Warp's CLI.
fn judge(output: &std::process::Output, stream: &Stream) -> std::result::Result<(), TurnError> {
    let stderr = tail(&output.stderr);
    let detail = || match stream.last_error() {
        Some(error) if stderr.is_empty() => error.to_owned(),
        Some(error) => format!("{error}; {stderr}"),
        None if stderr.is_empty() => "(nothing on standard error)".to_owned(),
        None => stderr.clone(),
    };
    match output.status.code() {
        Some(0) if stream.has_agent_output() => Ok(()),
        Some(0) => Err(TurnError::NoAnswer {
            events: stream.messages.len(),
        }),
        Some(1) => Err(TurnError::Ended { detail: detail() }),
        Some(2) => Err(TurnError::Usage { detail: detail() }),
        _ => Err(TurnError::Exited {
            status: output.status.to_string(),
            detail: detail(),
        }),
    }
}

#[async_trait]
impl Harness for WarpHarness {
    fn kind(&self) -> HarnessKind {
        KIND
    }

    /// Every direction: a local Warp conversation is read from Warp's
    /// database, a cloud one continues on Warp's server, and one continued
    /// locally is opened by its link.
    fn directions(&self) -> Vec<Direction> {
        Direction::ALL.to_vec()
    }

    fn history(&self) -> HistoryLoading {
        HistoryLoading::ResumeOrDocument
    }

    /// `oz` has no flag for a permission level: what its agent may do is
    /// the Warp profile's (`--profile`), kept on Warp's side. So `edits`
    /// and `full` run with the profile's permissions, and `read-only` is
    /// kept by the sandbox alone, which mounts the workspace read-only: a
    /// worker without one refuses the session.
    fn honours(&self, level: Permissions) -> Honour {
        match level {
            Permissions::ReadOnly => Honour::SandboxOnly,
            Permissions::Edits | Permissions::Full => {
                Honour::Agent(handoff_harness::confine::Nesting::None)
            }
        }
    }

    fn env_vars(&self) -> Vec<String> {
        ENVIRONMENT.iter().map(|name| (*name).to_owned()).collect()
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let Some(program) = &self.program else {
            return Err(Error::NotInstalled {
                program: PROGRAMS.join(" or "),
                hint: INSTALL_HINT.to_owned(),
            });
        };
        let workdir = std::fs::canonicalize(turn.workdir)
            .map_err(Self::io("resolve the working directory"))?;
        // In the session's own temporary directory when there is one: a
        // sandboxed agent sees no other.
        let mut builder = tempfile::Builder::new();
        builder.prefix("handoff-warp-");
        let scratch = match turn.confinement.tmp.as_deref() {
            Some(tmp) => builder.tempdir_in(tmp),
            None => builder.tempdir(),
        }
        .map_err(Self::io("create a scratch directory"))?;
        let resume = server_conversation(turn.conversation).map(|s| s.token.to_owned());

        let (mut output, mut stream) = self
            .attempt(program, &turn, &workdir, scratch.path(), resume.as_deref())
            .await?;
        let mut continued = resume.clone();
        let refused = judge(&output, &stream).is_err() && stream.conversation_id.is_none();
        if resume.is_some() && refused && matches!(output.status.code(), Some(1 | 2)) {
            tracing::warn!(
                conversation = resume.as_deref().unwrap_or_default(),
                "oz could not continue the Warp conversation; running with the whole history"
            );
            (output, stream) = self
                .attempt(program, &turn, &workdir, scratch.path(), None)
                .await?;
            continued = None;
        }
        judge(&output, &stream).map_err(|error| Error::AgentFailed {
            harness: KIND,
            error: Box::new(error),
        })?;

        // Every message of the turn belongs to the server conversation it
        // ran in, so the next turn can continue it.
        let token = stream.conversation_id.clone().or(continued);
        let mut user = Message::text(Role::User, turn.prompt);
        user.extra
            .insert(NATIVE.to_owned(), Value::Object(Map::new()));
        let mut added = vec![user];
        added.extend(stream.messages);
        if let Some(token) = token {
            for message in &mut added {
                if let Some(Value::Object(warp)) = message.extra.get_mut(NATIVE) {
                    warp.insert("conversation".to_owned(), Value::String(token.clone()));
                }
            }
        }
        Ok(added)
    }
}
