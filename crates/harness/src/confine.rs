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
//! - **a sandbox** ([`Sandbox`], `bwrap`): the root filesystem read-only,
//!   a private `/tmp`, the workspace and the session's own directories
//!   writable, and the store, the other sessions' environments and the
//!   worker's home replaced by empty directories (tools installed inside
//!   those stay reachable, read-only); the network shared or off.
//!
//! [`Confinement::default`] confines nothing: the agent inherits this
//! process's environment, as a person's own local agent would.

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

/// A bubblewrap sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The `bwrap` program.
    pub bwrap: PathBuf,
    /// What the agent may write: its workspace and its session's own
    /// directories (everything else is read-only).
    pub writable: Vec<PathBuf>,
    /// What the agent must not see: each becomes an empty directory (the
    /// store, the other sessions' environments, the worker's home).
    pub hidden: Vec<PathBuf>,
    /// The network.
    pub network: Network,
}

impl Confinement {
    /// Whether the agent runs inside a sandbox.
    pub fn is_sandboxed(&self) -> bool {
        self.sandbox.is_some()
    }

    /// The command that runs `program` with `args` in `cwd`, confined.
    /// `inherit` names the variables the harness declares (taken from this
    /// process's environment when set); `env` is set on top.
    pub fn command(
        &self,
        program: &Path,
        args: &[OsString],
        cwd: &Path,
        inherit: &[String],
        env: &[(&str, &OsStr)],
    ) -> tokio::process::Command {
        let mut command = match &self.sandbox {
            Some(sandbox) => {
                let mut command = tokio::process::Command::new(&sandbox.bwrap);
                command.args(sandbox.arguments(program, cwd, self));
                command.arg("--").arg(program).args(args);
                command
            }
            None => {
                let mut command = tokio::process::Command::new(program);
                command.args(args);
                command
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
            command.env("HOME", home);
        }
        if let Some(tmp) = &self.tmp {
            command.env("TMPDIR", tmp);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        command
    }
}

impl Sandbox {
    /// `bwrap`'s arguments (before `--` and the program).
    pub fn arguments(
        &self,
        program: &Path,
        cwd: &Path,
        confinement: &Confinement,
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&OsStr]| args.extend(parts.iter().map(|p| p.to_os_string()));
        push(&[
            "--die-with-parent".as_ref(),
            "--new-session".as_ref(),
            "--unshare-pid".as_ref(),
            "--unshare-ipc".as_ref(),
            "--unshare-uts".as_ref(),
        ]);
        if self.network == Network::None {
            push(&["--unshare-net".as_ref()]);
        }
        push(&[
            "--ro-bind".as_ref(),
            "/".as_ref(),
            "/".as_ref(),
            "--dev".as_ref(),
            "/dev".as_ref(),
            "--proc".as_ref(),
            "/proc".as_ref(),
            "--tmpfs".as_ref(),
            "/tmp".as_ref(),
        ]);
        let hidden: Vec<PathBuf> = self
            .hidden
            .iter()
            .filter_map(|dir| std::fs::canonicalize(dir).ok())
            .filter(|dir| dir.is_dir() && dir != Path::new("/"))
            .collect();
        for dir in &hidden {
            push(&["--tmpfs".as_ref(), dir.as_os_str()]);
        }
        // What a hidden directory held that the agent needs to run: the
        // `PATH` entries and the agent's own program (its package, for a
        // script installed by npm), read-only.
        // `/tmp` is private too (an empty tmpfs).
        let inside_hidden =
            |dir: &Path| dir.starts_with("/tmp") || hidden.iter().any(|h| dir.starts_with(h));
        let mut restore: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        restore.extend(program_dirs(program));
        let mut restored = Vec::new();
        for dir in restore {
            let Ok(dir) = std::fs::canonicalize(&dir) else {
                continue;
            };
            if dir.is_dir() && inside_hidden(&dir) && !restored.contains(&dir) {
                push(&["--ro-bind".as_ref(), dir.as_os_str(), dir.as_os_str()]);
                restored.push(dir);
            }
        }
        let mut writable: Vec<PathBuf> = self.writable.clone();
        writable.extend(confinement.home.iter().cloned());
        writable.extend(confinement.tmp.iter().cloned());
        for dir in writable {
            let Ok(dir) = std::fs::canonicalize(&dir) else {
                continue;
            };
            push(&["--bind".as_ref(), dir.as_os_str(), dir.as_os_str()]);
        }
        let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_owned());
        push(&["--chdir".as_ref(), cwd.as_os_str()]);
        args
    }
}

/// The directories the program at `program` runs from: its own, and for a
/// script inside a `node_modules` tree, that tree.
fn program_dirs(program: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = program.parent().map(Path::to_owned).into_iter().collect();
    if let Ok(real) = std::fs::canonicalize(program) {
        match real.ancestors().find(|dir| dir.ends_with("node_modules")) {
            Some(modules) => dirs.push(modules.to_owned()),
            None => dirs.extend(real.parent().map(Path::to_owned)),
        }
    }
    dirs
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
    fn networks_parse_and_name_themselves() {
        for network in [Network::Host, Network::None] {
            assert_eq!(network.name().parse::<Network>(), Ok(network));
        }
        assert!("wifi".parse::<Network>().is_err());
    }

    #[test]
    fn a_sandbox_hides_binds_and_restores_in_order() {
        let root = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let path = root.path().join(name);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::canonicalize(path).unwrap()
        };
        let (store, home, work, tools) =
            (dir("store"), dir("home"), dir("work"), dir("home/tools"));
        let program = tools.join("agent");
        std::fs::write(&program, "").unwrap();
        let sandbox = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
            writable: vec![work.clone()],
            hidden: vec![store.clone(), home.clone(), root.path().join("missing")],
            network: Network::None,
        };
        let args = sandbox.arguments(&program, &work, &Confinement::default());
        let text: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = |needle: &[&str]| {
            text.windows(needle.len())
                .position(|w| w == needle)
                .unwrap_or_else(|| panic!("{needle:?} in {text:?}"))
        };
        let (store, home, work, tools) = (
            store.display().to_string(),
            home.display().to_string(),
            work.display().to_string(),
            tools.display().to_string(),
        );
        assert!(at(&["--unshare-net"]) < at(&["--ro-bind", "/", "/"]));
        assert!(at(&["--ro-bind", "/", "/"]) < at(&["--tmpfs", &store]));
        assert!(at(&["--tmpfs", &home]) < at(&["--ro-bind", &tools, &tools]));
        assert!(at(&["--ro-bind", &tools, &tools]) < at(&["--bind", &work, &work]));
        assert_eq!(text[text.len() - 2..], ["--chdir".to_owned(), work]);
        assert!(
            !text.iter().any(|a| a.ends_with("missing")),
            "a missing directory is skipped"
        );
    }
}
