//! [`NativeHarness`]: what every adapter whose agent is a CLI keeping its
//! sessions as JSON-lines files does the same way, written once.
//!
//! A turn installs the conversation as a native session where the CLI looks
//! for it, resumes it non-interactively (the handoff note before the prompt,
//! the run's permission level and model as the CLI's own flags), and reads
//! back every line the CLI appended — unknown line types included — as the
//! turn's messages. A torn last line (a CLI killed mid-write) is cut so the
//! session file stays valid. The turn fails, with the reason, when the
//! program is missing, times out, exits non-zero, reports an error on its
//! output, or appends nothing.
//!
//! An adapter supplies a [`NativeFormat`]: its data ([`CliSpec`]: programs,
//! resume arguments, permission flags, environment) and the three things
//! that are its format (install a session, read appended lines, find an
//! error in the CLI's output).

use std::ffi::OsString;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use handoff_conversation::{Conversation, Message, Mode, Skipped};

use crate::session_file::{AgentRun, cut_torn_lines, exit_failure, find_on_path, run_program};
use crate::sessions::{Found, Installed, Sessions, Which};
use crate::{Direction, Error, Grants, Harness, HarnessKind, HistoryLoading, Result, Turn};

/// One argument of a CLI's resume command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Itself.
    Lit(&'static str),
    /// The session id.
    Session,
    /// The arguments that grant the run's permission level ([`Grants`]).
    Permissions,
    /// The model flag and the model, when the run names one.
    Model,
    /// [`CliSpec::outside_repository`], when the working directory is not
    /// the root of a git working tree.
    OutsideRepository,
    /// The prompt, preceded by the handoff note.
    Prompt,
}

/// What an agent's CLI is, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliSpec {
    /// Which agent it is.
    pub kind: HarnessKind,
    /// The directions of handoff it supports.
    pub directions: &'static [Direction],
    /// The programs looked for on `PATH`, in order.
    pub programs: &'static [&'static str],
    /// How to install it, for the not-installed error.
    pub install_hint: &'static str,
    /// The environment variable naming the agent's home (where its
    /// sessions and configuration live).
    pub home_var: &'static str,
    /// The home when that variable is unset, relative to `$HOME`.
    pub home_default: &'static str,
    /// The files of the home a confined session's own home is seeded with
    /// (configuration and credentials, never sessions), relative to it.
    pub home_seed: &'static [&'static str],
    /// The command line that resumes a session and runs one turn.
    pub resume: &'static [Arg],
    /// The command line a person resumes an installed session with
    /// ([`Arg::Lit`]s and [`Arg::Session`]).
    pub resume_local: &'static [Arg],
    /// How each permission level is granted.
    pub grants: Grants,
    /// The flag that chooses the model.
    pub model_flag: &'static str,
    /// Arguments needed when the working directory is not a repository.
    pub outside_repository: &'static [&'static str],
    /// The environment variables the agent reads from the worker's
    /// environment (API keys, endpoints, switches), besides its home.
    pub env: &'static [&'static str],
}

/// A boxed error from an adapter's format code.
pub type FormatError = Box<dyn std::error::Error + Send + Sync>;

/// An agent's native session format: the parts of an adapter that are not
/// data.
pub trait NativeFormat: Debug + Clone + Default + Send + Sync + 'static {
    /// Its CLI, as data.
    fn spec(&self) -> &'static CliSpec;

    /// Installs `conversation` as session `id` for the working directory
    /// `cwd` (absolute) under `home`; returns the session file.
    fn install(
        &self,
        conversation: &Conversation,
        home: &Path,
        cwd: &str,
        id: &str,
    ) -> std::result::Result<PathBuf, FormatError>;

    /// The messages of lines appended to a session file (`label` names the
    /// file in errors). Every line is one message, kept whole.
    fn read_appended(
        &self,
        lines: &[u8],
        label: &str,
    ) -> std::result::Result<Vec<Message>, FormatError>;

    /// The error the CLI reported on its standard output, if it reported one.
    fn reported_error(&self, stdout: &str) -> Option<String>;

    /// The session file of `which` for the working directory `cwd`
    /// (absolute) under `home`.
    fn find(
        &self,
        home: &Path,
        which: Which<'_>,
        cwd: &str,
    ) -> std::result::Result<PathBuf, FormatError>;

    /// A whole session file's conversation, and the lines `mode` let it
    /// skip.
    fn read_file(
        &self,
        file: &Path,
        mode: Mode,
    ) -> std::result::Result<(Conversation, Vec<Skipped>), FormatError>;

    /// Environment variables named by the agent's configuration in `home`
    /// (a provider's key), which the agent needs besides
    /// [`CliSpec::env`].
    fn configured_env(&self, home: &Path) -> Vec<String> {
        let _ = home;
        Vec::new()
    }

    /// Directories to put first on the agent's `PATH`: tools shipped with
    /// the CLI at `program` that it must find before the system's. None by
    /// default.
    fn path_prefix(&self, program: &Path) -> Vec<PathBuf> {
        let _ = program;
        Vec::new()
    }

    /// Why the CLI at `program` cannot run a turn with `agent`'s options at
    /// all, found before anything is installed or run: the adapter's own
    /// typed error. None (run it) by default.
    fn refusal(&self, program: &Path, agent: &crate::AgentOptions) -> Option<FormatError> {
        let _ = (program, agent);
        None
    }
}

/// A harness that drives an agent CLI with native sessions; each adapter
/// names it for its format (`NativeHarness<ItsFormat>`).
#[derive(Debug, Clone)]
pub struct NativeHarness<F> {
    format: F,
    program: Option<PathBuf>,
    home: Option<PathBuf>,
    timeout: Duration,
    env: Vec<(String, OsString)>,
}

impl<F: NativeFormat> Default for NativeHarness<F> {
    fn default() -> Self {
        Self {
            format: F::default(),
            program: None,
            home: None,
            timeout: Duration::from_secs(30 * 60),
            env: Vec::new(),
        }
    }
}

impl<F: NativeFormat> NativeHarness<F> {
    /// Uses the agent's program from `PATH` and its usual home.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses the CLI at `program`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Uses `home` as the agent's home instead of its variable
    /// ([`CliSpec::home_var`]) or default.
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// How long a turn may take (default 30 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets an environment variable for the agent (an API endpoint, a key)
    /// on top of what it inherits.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The agent's home: as set, else its variable, else the default under
    /// `$HOME`.
    pub fn home(&self) -> Option<PathBuf> {
        let spec = self.format.spec();
        if let Some(home) = &self.home {
            return Some(home.clone());
        }
        if let Some(dir) = std::env::var_os(spec.home_var).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(spec.home_default))
    }

    fn program(&self) -> Result<PathBuf> {
        let spec = self.format.spec();
        self.program
            .clone()
            .or_else(|| find_on_path(spec.programs))
            .ok_or_else(|| Error::NotInstalled {
                program: spec.programs.join(" or "),
                hint: spec.install_hint.to_owned(),
            })
    }

    fn session_error(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(FormatError) -> Error {
        let (harness, path) = (self.format.spec().kind.clone(), path.to_owned());
        move |source| Error::Session {
            action,
            harness,
            path,
            source,
        }
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        let harness = self.format.spec().kind.clone();
        move |source| Error::Io {
            action,
            harness,
            source,
        }
    }
}

/// Creates `home` and copies the `files` of `from` that exist into it
/// (files already there are kept: the agent may have changed them in an
/// earlier turn of the session).
fn seed_home(from: Option<&Path>, home: &Path, files: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(home)?;
    let Some(from) = from else { return Ok(()) };
    if std::fs::canonicalize(from).ok() == std::fs::canonicalize(home).ok() {
        return Ok(());
    }
    for name in files {
        let (source, target) = (from.join(name), home.join(name));
        if source.is_file() && !target.exists() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

/// The command line `spec` gives for one turn.
pub fn resume_args(
    spec: &CliSpec,
    session: &str,
    prompt: &str,
    agent: &crate::AgentOptions,
    in_repository: bool,
) -> Vec<OsString> {
    let mut args = Vec::new();
    for arg in spec.resume {
        match arg {
            Arg::Lit(text) => args.push((*text).into()),
            Arg::Session => args.push(session.into()),
            Arg::Permissions => args.extend(
                spec.grants
                    .of(agent.permissions)
                    .args
                    .iter()
                    .map(OsString::from),
            ),
            Arg::Model => {
                if let Some(model) = &agent.model {
                    args.push(spec.model_flag.into());
                    args.push(model.into());
                }
            }
            Arg::OutsideRepository => {
                if !in_repository {
                    args.extend(spec.outside_repository.iter().map(OsString::from));
                }
            }
            Arg::Prompt => args.push(prompt.into()),
        }
    }
    args
}

/// The command line `spec` gives a person to resume `session`.
pub fn resume_local(spec: &CliSpec, session: &str) -> String {
    spec.resume_local
        .iter()
        .filter_map(|arg| match arg {
            Arg::Lit(text) => Some(*text),
            Arg::Session => Some(session),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl<F: NativeFormat> NativeHarness<F> {
    /// `explicit`, else the agent's home ([`NativeHarness::home`]).
    fn home_or(&self, explicit: Option<&Path>) -> Result<PathBuf> {
        let spec = self.format.spec();
        explicit
            .map(Path::to_owned)
            .or_else(|| self.home())
            .ok_or_else(|| Error::NoHome {
                harness: spec.kind.clone(),
                var: spec.home_var,
            })
    }

    fn found(&self, file: PathBuf, mode: Mode) -> Result<Found> {
        let (conversation, skipped) = self
            .format
            .read_file(&file, mode)
            .map_err(self.session_error("read", &file))?;
        let warnings = skipped
            .iter()
            .map(|s| format!("{}: line {} skipped: {}", file.display(), s.line, s.reason))
            .collect();
        Ok(Found {
            conversation,
            file,
            warnings,
        })
    }
}

fn absolute(dir: &Path, harness: &HarnessKind) -> Result<String> {
    std::fs::canonicalize(dir)
        .map(|dir| dir.to_string_lossy().into_owned())
        .map_err(|source| Error::Io {
            action: "resolve the working directory",
            harness: harness.clone(),
            source,
        })
}

impl<F: NativeFormat> Sessions for NativeHarness<F> {
    fn read(&self, which: Which<'_>, cwd: &Path, home: Option<&Path>) -> Result<Found> {
        let home = self.home_or(home)?;
        let cwd = absolute(cwd, &self.format.spec().kind)?;
        let file = self
            .format
            .find(&home, which, &cwd)
            .map_err(self.session_error("find", &home))?;
        self.found(file, Mode::Lenient)
    }

    fn read_file(&self, file: &Path) -> Result<Found> {
        self.found(file.to_owned(), Mode::Strict)
    }

    /// A conversation whose id is taken there becomes a fork with a new id
    /// (which records its origin where the format has a field for it).
    fn install(
        &self,
        conversation: &Conversation,
        cwd: &Path,
        home: Option<&Path>,
    ) -> Result<Installed> {
        let home = self.home_or(home)?;
        let cwd = absolute(cwd, &self.format.spec().kind)?;
        let taken = self
            .format
            .find(&home, Which::Id(&conversation.id.to_string()), &cwd)
            .is_ok();
        let forked;
        let conversation = if taken {
            forked = conversation.fork(None)?;
            &forked
        } else {
            conversation
        };
        let session = conversation.id.to_string();
        let file = self
            .format
            .install(conversation, &home, &cwd, &session)
            .map_err(self.session_error("install", &home))?;
        Ok(Installed {
            resume: resume_local(self.format.spec(), &session),
            session,
            file,
        })
    }
}

#[async_trait]
impl<F: NativeFormat> Harness for NativeHarness<F> {
    fn kind(&self) -> HarnessKind {
        self.format.spec().kind.clone()
    }

    fn directions(&self) -> Vec<Direction> {
        self.format.spec().directions.to_vec()
    }

    /// The CLI resumes the installed session, which holds the whole
    /// history.
    fn history(&self) -> HistoryLoading {
        HistoryLoading::Native
    }

    fn env_vars(&self) -> Vec<String> {
        let spec = self.format.spec();
        let mut names: Vec<String> = std::iter::once(spec.home_var)
            .chain(spec.env.iter().copied())
            .map(str::to_owned)
            .collect();
        if let Some(home) = self.home() {
            names.extend(self.format.configured_env(&home));
        }
        names.sort();
        names.dedup();
        names
    }

    /// Its CLI keeps its agent to every level (the grants in its
    /// [`CliSpec`]), sandboxing its own commands where the grant says so.
    fn honours(&self, level: crate::Permissions) -> crate::Honour {
        crate::Honour::Agent(self.format.spec().grants.of(level).nesting)
    }

    async fn run_turn(&self, turn: Turn<'_>) -> Result<Vec<Message>> {
        let spec = self.format.spec();
        let kind = self.format.spec().kind.clone();
        let program = self.program()?;
        if let Some(error) = self.format.refusal(&program, turn.agent) {
            return Err(Error::Refused {
                harness: kind,
                error,
            });
        }
        let configured = self.home();
        // A confined session gets a home of its own, seeded with the
        // configuration of the configured one: the agent never sees other
        // sessions' transcripts.
        let home = match &turn.confinement.home {
            Some(session_home) => {
                let home = session_home.join(spec.home_default);
                seed_home(configured.as_deref(), &home, spec.home_seed)
                    .map_err(self.io("seed the session's agent home"))?;
                home
            }
            None => configured.ok_or_else(|| Error::TurnFailed {
                harness: kind.clone(),
                reason: format!(
                    "no home directory for {kind} (set {} or HOME)",
                    spec.home_var
                ),
            })?,
        };
        let cwd = std::fs::canonicalize(turn.workdir)
            .map_err(self.io("resolve the working directory"))?;
        let id = turn.conversation.id.to_string();
        let file = self
            .format
            .install(turn.conversation, &home, &cwd.to_string_lossy(), &id)
            .map_err(self.session_error("install", &home))?;
        let installed = std::fs::metadata(&file)
            .map_err(self.io("read the installed session file"))?
            .len();

        let prompt = turn.prompt_with_note();
        let in_repository = cwd.join(".git").exists();
        let args = resume_args(spec, &id, &prompt, turn.agent, in_repository);
        let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![(spec.home_var, home.as_os_str())];
        env.extend(
            spec.grants
                .of(turn.agent.permissions)
                .env
                .iter()
                .map(|(name, value)| (*name, std::ffi::OsStr::new(value))),
        );
        env.extend(
            self.env
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_os_str())),
        );
        let prefix = self.format.path_prefix(&program);
        let path = (!prefix.is_empty())
            .then(|| {
                let rest = std::env::var_os("PATH").unwrap_or_default();
                std::env::join_paths(prefix.iter().cloned().chain(std::env::split_paths(&rest)))
                    .ok()
            })
            .flatten();
        if let Some(path) = &path {
            env.push(("PATH", path.as_os_str()));
        }
        let inherit = self.env_vars();
        let run = AgentRun {
            kind: &kind,
            program: &program,
            args: &args,
            cwd: &cwd,
            env: &env,
            stdin: None,
            timeout: self.timeout,
            install_hint: spec.install_hint,
            confinement: turn.confinement,
            live: turn.live,
            on_line: None,
            inherit: &inherit,
        };
        let outcome = run_program(run).await;
        // Whatever happened, the session file must stay valid for the next
        // resume.
        cut_torn_lines(&file).map_err(self.io("repair the session file"))?;
        let output = outcome?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if let Some(message) = self.format.reported_error(&stdout) {
            return Err(Error::TurnFailed {
                harness: kind,
                reason: format!("{} reported an error: {message}", program.display()),
            });
        }
        if !output.status.success() {
            return Err(exit_failure(&run, &output));
        }
        let bytes = std::fs::read(&file).map_err(self.io("read the session file"))?;
        let appended = usize::try_from(installed)
            .ok()
            .and_then(|at| bytes.get(at..))
            .ok_or_else(|| Error::TurnFailed {
                harness: kind.clone(),
                reason: format!(
                    "{} rewrote its session file {} instead of appending to it",
                    program.display(),
                    file.display()
                ),
            })?;
        let added = self
            .format
            .read_appended(appended, &file.display().to_string())
            .map_err(self.session_error("read", &file))?;
        if added.is_empty() {
            return Err(Error::TurnFailed {
                harness: kind,
                reason: format!(
                    "{} exited without appending anything to its session file {}",
                    program.display(),
                    file.display()
                ),
            });
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::Nesting;
    use crate::{AgentOptions, Grant, Permissions};
    use handoff_conversation::Role;

    static SPEC: CliSpec = CliSpec {
        kind: HarnessKind::from_static("lines"),
        directions: &Direction::ALL,
        programs: &["agent"],
        install_hint: "install it",
        home_var: "AGENT_HOME",
        home_default: ".agent",
        home_seed: &["config"],
        resume: &[
            Arg::Lit("run"),
            Arg::Permissions,
            Arg::OutsideRepository,
            Arg::Model,
            Arg::Lit("--resume"),
            Arg::Session,
            Arg::Prompt,
        ],
        resume_local: &[Arg::Lit("agent"), Arg::Lit("--resume"), Arg::Session],
        grants: Grants {
            read_only: Grant {
                args: &["--read-only"],
                env: &[],
                nesting: Nesting::None,
            },
            edits: Grant {
                args: &["--mode", "edit"],
                env: &[],
                nesting: Nesting::None,
            },
            full: Grant {
                args: &["--yolo"],
                env: &[("SANDBOXED", "1")],
                nesting: Nesting::None,
            },
        },
        model_flag: "-m",
        outside_repository: &["--no-git"],
        env: &["AGENT_KEY"],
    };

    #[test]
    fn resume_arguments_follow_the_spec() {
        let words = |args: Vec<OsString>| {
            args.into_iter()
                .map(|a| a.into_string().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(resume_args(
                &SPEC,
                "s1",
                "go",
                &AgentOptions::default(),
                true
            )),
            ["run", "--mode", "edit", "--resume", "s1", "go"]
        );
        let options = AgentOptions {
            permissions: Permissions::ReadOnly,
            model: Some("big".into()),
            network: crate::Network::Host,
        };
        assert_eq!(
            words(resume_args(&SPEC, "s1", "go", &options, false)),
            [
                "run",
                "--read-only",
                "--no-git",
                "-m",
                "big",
                "--resume",
                "s1",
                "go"
            ]
        );
    }

    /// A format of JSON lines `{"role", "text"}`, for a fake agent.
    #[derive(Debug, Clone, Default)]
    struct Lines;

    impl NativeFormat for Lines {
        fn spec(&self) -> &'static CliSpec {
            &SPEC
        }

        fn install(
            &self,
            conversation: &Conversation,
            home: &Path,
            _cwd: &str,
            id: &str,
        ) -> std::result::Result<PathBuf, FormatError> {
            let file = home.join(format!("{id}.jsonl"));
            std::fs::create_dir_all(home)?;
            let lines: String = conversation
                .messages
                .iter()
                .map(|m| {
                    format!(
                        "{}\n",
                        serde_json::json!({"role": "user", "text": m.plain_text()})
                    )
                })
                .collect();
            std::fs::write(&file, lines)?;
            Ok(file)
        }

        fn read_appended(
            &self,
            lines: &[u8],
            _label: &str,
        ) -> std::result::Result<Vec<Message>, FormatError> {
            let mut messages = Vec::new();
            for line in String::from_utf8(lines.to_vec())?.lines() {
                let value: serde_json::Value = serde_json::from_str(line)?;
                let role = if value["role"] == "user" {
                    Role::User
                } else {
                    Role::Assistant
                };
                messages.push(Message::text(role, value["text"].as_str().unwrap_or("")));
            }
            Ok(messages)
        }

        fn reported_error(&self, stdout: &str) -> Option<String> {
            stdout.strip_prefix("ERROR: ").map(|e| e.trim().to_owned())
        }

        fn find(
            &self,
            home: &Path,
            which: Which<'_>,
            _cwd: &str,
        ) -> std::result::Result<PathBuf, FormatError> {
            let Which::Id(id) = which else {
                return Err("only by id".into());
            };
            let file = home.join(format!("{id}.jsonl"));
            if file.is_file() {
                Ok(file)
            } else {
                Err(format!("no session {id}").into())
            }
        }

        fn read_file(
            &self,
            file: &Path,
            _mode: Mode,
        ) -> std::result::Result<(Conversation, Vec<Skipped>), FormatError> {
            let messages = self.read_appended(&std::fs::read(file)?, "file")?;
            let mut conversation = Conversation::new("read", "lines");
            for message in messages {
                conversation.push(message);
            }
            Ok((conversation, Vec::new()))
        }
    }

    /// A fake agent: appends per the prompt's last word, to the session
    /// file its `--resume` names under `$AGENT_HOME`.
    const FAKE: &str = r#"#!/bin/sh
for arg; do last="$arg"; done
while [ "$1" != --resume ]; do shift; done
file="$AGENT_HOME/$2.jsonl"
case "$last" in
  *nothing) ;;
  *error) echo "ERROR: the model is overloaded"; exit 1 ;;
  *exit) echo "it broke" >&2; exit 5 ;;
  *torn) echo '{"role":"assistant","text":"half"}' >> "$file"; printf '{"role":"assist' >> "$file" ;;
  *) echo '{"role":"user","text":"p"}' >> "$file"; echo '{"role":"assistant","text":"ok"}' >> "$file" ;;
esac
"#;

    async fn turn_saying(word: &str) -> (Result<Vec<Message>>, PathBuf, tempfile::TempDir) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("agent");
        std::fs::write(&program, FAKE).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        let mut conversation = Conversation::new("c", "lines");
        conversation.push(Message::text(Role::User, "earlier"));
        let turn = Turn {
            conversation: &conversation,
            prompt: word,
            workdir: dir.path(),
            attachments: &[],
            handoff: &crate::Handoff::default(),
            agent: &AgentOptions::default(),
            confinement: &crate::Confinement::default(),
            live: crate::Live::IDLE,
        };
        let harness = NativeHarness::<Lines>::new()
            .with_program(&program)
            .with_home(&home);
        let result = harness.run_turn(turn).await;
        let file = home.join(format!("{}.jsonl", conversation.id));
        (result, file, dir)
    }

    #[tokio::test]
    async fn a_turn_is_what_the_cli_appended() {
        let (added, file, _dir) = turn_saying("go").await;
        let added = added.unwrap();
        assert_eq!(
            added
                .iter()
                .map(|m| (m.role, m.plain_text()))
                .collect::<Vec<_>>(),
            [
                (Role::User, "p".to_owned()),
                (Role::Assistant, "ok".to_owned())
            ]
        );
        assert_eq!(std::fs::read_to_string(file).unwrap().lines().count(), 3);
    }

    #[tokio::test]
    async fn failures_say_what_the_cli_did() {
        for (word, expected) in [
            (
                "nothing",
                "exited without appending anything to its session file",
            ),
            ("error", "reported an error: the model is overloaded"),
            ("exit", "exited with exit status: 5: it broke"),
        ] {
            let (result, _, _dir) = turn_saying(word).await;
            let err = result.unwrap_err();
            assert!(
                matches!(err, Error::TurnFailed { .. }) && err.to_string().contains(expected),
                "{word}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_and_the_rest_kept() {
        let (added, file, _dir) = turn_saying("torn").await;
        assert_eq!(added.unwrap()[0].plain_text(), "half");
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.ends_with("\"half\"}\n"), "{text}");
    }

    #[test]
    fn an_install_never_overwrites_a_session_and_says_how_to_resume() {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let harness = NativeHarness::<Lines>::new();
        let mut conversation = Conversation::new("c", "lines");
        conversation.push(Message::text(Role::User, "earlier"));
        let first = harness
            .install(&conversation, work.path(), Some(home.path()))
            .unwrap();
        let id = conversation.id.to_string();
        assert_eq!(
            first,
            Installed {
                session: id.clone(),
                file: home.path().join(format!("{id}.jsonl")),
                resume: format!("agent --resume {id}"),
            }
        );
        let read = harness
            .read(Which::Id(&id), work.path(), Some(home.path()))
            .unwrap();
        assert_eq!(read.file, first.file);
        assert_eq!(read.conversation.messages[0].plain_text(), "earlier");
        let second = harness
            .install(&conversation, work.path(), Some(home.path()))
            .unwrap();
        assert_ne!(second.session, id, "a fork, with an id of its own");
        assert_eq!(
            std::fs::read_to_string(&first.file)
                .unwrap()
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn the_environment_it_needs_is_declared() {
        let harness = NativeHarness::<Lines>::new().with_home("/nowhere");
        assert_eq!(harness.env_vars(), ["AGENT_HOME", "AGENT_KEY"]);
    }
}
