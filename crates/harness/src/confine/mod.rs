//! How an agent process is confined: the environment it gets and, where
//! bubblewrap is installed, the sandbox it runs in.
//!
//! An agent is untrusted (a prompt injection is one web page away), so a
//! cloud session's agent gets only what its session needs:
//!
//! - **a fresh environment** ([`Confinement::clean_env`]): `PATH`, the locale
//!   and terminal variables, git's identity variables, certificate paths,
//!   a per-session `HOME` and `TMPDIR`, the variables its harness declares
//!   ([`Harness::env_vars`](crate::Harness::env_vars): its API key, its base
//!   URL, its home) and what the adapter sets itself — never the worker's
//!   store credentials or anything else it happens to have;
//! - **a sandbox** ([`Sandbox`], `bwrap`; see [`sandbox`] for exactly what
//!   it shows and refuses): a user namespace with no capabilities, its own
//!   process, IPC, host-name and cgroup namespaces, a seccomp filter
//!   ([`seccomp`]) and a root that holds only the system directories
//!   (`/usr`, `/bin`, `/lib*`, `/etc` without its secrets), the agent's
//!   own program and `PATH`, a private `/tmp`, and the session's own
//!   directories — the workspace writable, or read-only at the
//!   `read-only` level; the network shared or off.
//!
//! [`Confinement::default`] confines nothing: the agent inherits this
//! process's environment, as a person's own local agent would.

pub mod sandbox;
pub mod seccomp;

pub use sandbox::{Nesting, Sandbox, SandboxError};

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Whether a sandboxed agent has the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// The host's network (the default: agents talk to their model).
    #[default]
    Host,
    /// No network at all, not even loopback.
    None,
}

impl Network {
    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Network::Host => "host",
            Network::None => "none",
        }
    }
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "host" => Ok(Network::Host),
            "none" => Ok(Network::None),
            other => Err(format!("unknown network {other:?} (expected host or none)")),
        }
    }
}

/// The variables every confined agent keeps from this process, besides the
/// ones its harness declares: nothing secret, all needed by ordinary tools.
pub const BASE_VARS: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
];

/// How an agent process is confined. The default confines nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    /// Start the agent from an empty environment: [`BASE_VARS`], its
    /// harness's declared variables and what its adapter sets.
    pub clean_env: bool,
    /// The agent's `HOME` (created per session by the runner).
    pub home: Option<PathBuf>,
    /// The agent's `TMPDIR`.
    pub tmp: Option<PathBuf>,
    /// Run inside bubblewrap.
    pub sandbox: Option<Sandbox>,
}

impl Confinement {
    /// Whether the agent runs inside a sandbox.
    pub fn is_sandboxed(&self) -> bool {
        self.sandbox.is_some()
    }

    /// The command that runs `program` with `args` in `cwd`, confined.
    /// `inherit` names the variables the harness declares (taken from this
    /// process's environment when set); `env` is set on top. Fails only
    /// when the sandbox's seccomp filter cannot be prepared.
    pub fn command(
        &self,
        program: &Path,
        args: &[OsString],
        cwd: &Path,
        inherit: &[String],
        env: &[(&str, &OsStr)],
    ) -> Result<Confined, SandboxError> {
        // The sandbox shows each directory at its real path, never the
        // links above it: what the agent is told must be real paths too.
        let real = |path: &Path| match &self.sandbox {
            Some(_) => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
            None => path.to_owned(),
        };
        let (mut command, seccomp) = match &self.sandbox {
            Some(sandbox) => {
                let filter = sandbox::seccomp_fd(sandbox.nesting)?;
                let mut command = std::process::Command::new(&sandbox.bwrap);
                command.arg("--seccomp").arg(filter.number.to_string());
                command.args(sandbox.arguments(program, cwd, self));
                // The program keeps its own name (a link to an npm
                // package's script stays the link); its directory is real.
                let program = match (program.parent(), program.file_name()) {
                    (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => real(dir).join(name),
                    _ => program.to_owned(),
                };
                command.arg("--").arg(program).args(args);
                (command, Some(filter))
            }
            None => {
                let mut command = std::process::Command::new(program);
                command.args(args);
                (command, None)
            }
        };
        command.current_dir(cwd);
        if self.clean_env {
            command.env_clear();
            let kept = BASE_VARS
                .iter()
                .copied()
                .chain(inherit.iter().map(String::as_str));
            for name in kept {
                if let Some(value) = std::env::var_os(name) {
                    command.env(name, value);
                }
            }
        }
        if let Some(home) = &self.home {
            command.env("HOME", real(home));
        }
        if let Some(tmp) = &self.tmp {
            command.env("TMPDIR", real(tmp));
        }
        for (name, value) in env {
            command.env(name, value);
        }
        Ok(Confined { command, seccomp })
    }
}

/// A confined command, ready to start. For a sandboxed one it holds the
/// seccomp filter bubblewrap reads at start, open until then.
#[derive(Debug)]
pub struct Confined {
    command: std::process::Command,
    seccomp: Option<sandbox::FilterFd>,
}

impl Confined {
    /// The command, to set its standard streams and the like.
    pub fn command_mut(&mut self) -> &mut std::process::Command {
        &mut self.command
    }

    /// Starts it (a child of this process).
    pub fn spawn(mut self) -> std::io::Result<std::process::Child> {
        let child = self.command.spawn();
        drop(self.seccomp.take());
        child
    }

    /// Starts it on tokio; `kill_on_drop` as [`tokio::process::Command`]'s.
    pub fn spawn_tokio(self, kill_on_drop: bool) -> std::io::Result<tokio::process::Child> {
        let mut command = tokio::process::Command::from(self.command);
        command.kill_on_drop(kill_on_drop);
        let child = command.spawn();
        drop(self.seccomp);
        child
    }
}

/// The `bwrap` program: `$HANDOFF_BWRAP` when set (empty: none), else
/// `bwrap` on `PATH`.
pub fn find_bwrap() -> Option<PathBuf> {
    match std::env::var_os("HANDOFF_BWRAP") {
        Some(path) if path.is_empty() => None,
        Some(path) => {
            let path = PathBuf::from(path);
            path.is_file().then_some(path)
        }
        None => crate::session_file::find_on_path(&["bwrap"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandboxed_agent_is_told_real_paths() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        for name in ["home", "tmp", "bin"] {
            std::fs::create_dir(real.join(name)).unwrap();
        }
        let link = real.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let confinement = Confinement {
            home: Some(link.join("home")),
            tmp: Some(link.join("tmp")),
            sandbox: Some(Sandbox::new("/usr/bin/bwrap")),
            ..Confinement::default()
        };
        let mut confined = confinement
            .command(&link.join("bin/agent"), &[], &real, &[], &[])
            .unwrap();
        let command = confined.command_mut();
        let env: Vec<_> = command
            .get_envs()
            .filter(|(name, _)| *name == "HOME" || *name == "TMPDIR")
            .map(|(name, value)| (name.to_owned(), value.map(std::path::PathBuf::from)))
            .collect();
        assert_eq!(
            env,
            [
                ("HOME".into(), Some(real.join("home"))),
                ("TMPDIR".into(), Some(real.join("tmp")))
            ]
        );
        let args: Vec<_> = command.get_args().collect();
        let program = args.iter().position(|a| *a == "--").unwrap() + 1;
        assert_eq!(args[program], real.join("bin/agent").as_os_str());
    }

    #[test]
    fn networks_parse_and_name_themselves() {
        for network in [Network::Host, Network::None] {
            assert_eq!(network.name().parse::<Network>(), Ok(network));
        }
        assert!("wifi".parse::<Network>().is_err());
    }
}
