//! The bubblewrap sandbox: what a sandboxed agent sees and what it may do.
//!
//! It holds when the worker runs as root, as containers, cloud machines and
//! CI run it:
//!
//! - **no privilege**: a user namespace of its own (`--unshare-user`), the
//!   agent mapped to an ordinary id inside (this process's own, or 1000 when
//!   that is root), every capability dropped (`--cap-drop ALL`),
//!   `no_new_privs`, and the [`seccomp`](super::seccomp) filter; with
//!   [`Nesting::None`] no further user namespaces (`--disable-userns`);
//! - **its own namespaces**: process ids (it sees and signals only its own
//!   processes; `/proc` is theirs), IPC, host name, cgroups where the
//!   kernel has them, and with [`Network::None`] the network;
//!   `--new-session` (it cannot push input into the worker's terminal) and
//!   `--die-with-parent`;
//! - **a root of its own**, read-only, holding only: the system directories
//!   ([`SYSTEM_DIRS`], read-only) with [`ETC_SECRETS`] replaced by empty
//!   ones; `/dev` (a minimal one) and `/proc`; a private `/tmp`; the
//!   directories on `PATH` and the agent's own program (its package, for a
//!   script installed by npm), read-only; the session's own directories,
//!   writable ([`Sandbox::writable`]) or read-only ([`Sandbox::read_only`]:
//!   the workspace at the `read-only` level). [`Sandbox::hidden`]
//!   directories are emptied wherever they would show. Nothing else of the
//!   host exists inside: not the store, not the worker's home, not another
//!   session.
//!
//! Where the host cannot give a user namespace, [`verify`] says so; the
//! runner then fails the session instead of running a weaker sandbox.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{Confinement, Network, seccomp};

/// The host directories a sandboxed agent's toolchain needs, shown
/// read-only (a symbolic link, such as `/bin → usr/bin`, stays one).
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// What of `/etc` is secret (password hashes, host keys, private keys,
/// sudo rules, keytabs, registry credentials): each is replaced by an
/// empty file or directory.
pub const ETC_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/security/opasswd",
    "/etc/krb5.keytab",
    "/etc/docker",
    "/etc/containers/auth.json",
];

/// The id a sandboxed agent has when the worker runs as root.
pub const UNPRIVILEGED_ID: u32 = 1000;

/// How much of a sandbox of its own the agent may build inside this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Nesting {
    /// None: no further user namespaces and no mount calls.
    #[default]
    None,
    /// The agent's CLI runs its commands in a bubblewrap sandbox of its
    /// own (as some agent CLIs do at some levels): it may create user
    /// namespaces and mount inside them. Every mount of this sandbox stays
    /// locked there — the kernel refuses to unmount or remount, from a
    /// namespace that does not own it, what that namespace inherited — so
    /// the hidden stays hidden and the read-only read-only.
    AgentSandbox,
}

/// The sandbox cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The seccomp filter is not written for this processor.
    #[error(
        "the sandbox's seccomp filter has no system call table for {arch}; run agents without the sandbox (--no-sandbox) or on x86-64 or aarch64"
    )]
    Architecture {
        /// The processor architecture.
        arch: &'static str,
    },
    /// The filter could not be handed to bubblewrap.
    #[error("could not prepare the sandbox's seccomp filter")]
    Filter {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// bubblewrap could not build the sandbox on this host (typically: no
    /// user namespaces for this user).
    #[error(
        "bubblewrap at {} cannot set up the sandbox on this host (it needs user namespaces): {reason}",
        bwrap.display()
    )]
    Unavailable {
        /// The `bwrap` program.
        bwrap: PathBuf,
        /// What it said.
        reason: String,
    },
}

/// A bubblewrap sandbox (see the [module](self) for what it shows).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sandbox {
    /// The `bwrap` program.
    pub bwrap: PathBuf,
    /// The session's directories the agent may write: its workspace (at
    /// the `edits` and `full` levels) and its own scratch directories.
    pub writable: Vec<PathBuf>,
    /// The session's directories the agent may only read: its workspace
    /// at the `read-only` level.
    pub read_only: Vec<PathBuf>,
    /// What the agent must not see even where it would otherwise show
    /// (under a system directory or a `PATH` entry): each becomes an empty
    /// directory. The session's own directories still show inside them.
    pub hidden: Vec<PathBuf>,
    /// The network.
    pub network: Network,
    /// Whether the agent's CLI builds a sandbox of its own inside.
    pub nesting: Nesting,
}

impl Sandbox {
    /// A sandbox run by `bwrap` that shows no session directory yet, with
    /// the host's network and no nesting.
    pub fn new(bwrap: impl Into<PathBuf>) -> Self {
        Self {
            bwrap: bwrap.into(),
            writable: Vec::new(),
            read_only: Vec::new(),
            hidden: Vec::new(),
            network: Network::Host,
            nesting: Nesting::None,
        }
    }

    /// `bwrap`'s arguments after `--seccomp FD` and before `--` and the
    /// program.
    pub fn arguments(
        &self,
        program: &Path,
        cwd: &Path,
        confinement: &Confinement,
    ) -> Vec<OsString> {
        let mut args = Args::default();
        let id = inside_id();
        args.push(&["--unshare-user", "--uid", &id.0, "--gid", &id.1]);
        if self.nesting == Nesting::None {
            args.push(&["--disable-userns"]);
        }
        args.push(&[
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]);
        if self.network == Network::None {
            args.push(&["--unshare-net"]);
        }

        // The system, read-only.
        let mut shown: Vec<PathBuf> = Vec::new();
        for dir in SYSTEM_DIRS {
            let path = Path::new(dir);
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if let Ok(target) = std::fs::read_link(path) {
                    args.paths("--symlink", &[target.as_os_str(), path.as_os_str()]);
                }
            } else if meta.is_dir() {
                args.paths("--ro-bind", &[path.as_os_str(), path.as_os_str()]);
                shown.push(path.to_owned());
            }
        }
        for secret in ETC_SECRETS {
            let path = Path::new(secret);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => {
                    args.paths("--tmpfs", &[path.as_os_str()]);
                    args.paths("--remount-ro", &[path.as_os_str()]);
                }
                Ok(_) => args.paths("--ro-bind", &["/dev/null".as_ref(), path.as_os_str()]),
                Err(_) => {}
            }
        }
        // A resolver configuration linked to outside `/etc` (systemd's
        // stub in `/run`) is what name lookups need.
        if self.network == Network::Host
            && let Ok(resolv) = std::fs::canonicalize("/etc/resolv.conf")
            && resolv.is_file()
            && !under_any(&resolv, &shown)
        {
            args.paths("--ro-bind", &[resolv.as_os_str(), resolv.as_os_str()]);
        }
        args.push(&["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);

        // What the agent runs: the `PATH` entries and its own program,
        // read-only, wherever they are.
        let mut restore: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        restore.extend(program_dirs(program));
        let mut restored: Vec<PathBuf> = Vec::new();
        for dir in restore {
            let Ok(dir) = std::fs::canonicalize(&dir) else {
                continue;
            };
            let already = under_any(&dir, &shown) && !dir.starts_with("/tmp");
            if dir.is_dir() && !already && !restored.contains(&dir) {
                args.paths("--ro-bind", &[dir.as_os_str(), dir.as_os_str()]);
                restored.push(dir);
            }
        }
        shown.extend(restored);

        // Hidden wherever it would show.
        let hidden: Vec<PathBuf> = self
            .hidden
            .iter()
            .filter_map(|dir| std::fs::canonicalize(dir).ok())
            .filter(|dir| dir.is_dir() && dir != Path::new("/") && under_any(dir, &shown))
            .collect();
        for dir in &hidden {
            args.paths("--tmpfs", &[dir.as_os_str()]);
        }

        // The session's own directories, on top of everything.
        let mut writable: Vec<PathBuf> = self.writable.clone();
        writable.extend(confinement.home.iter().cloned());
        writable.extend(confinement.tmp.iter().cloned());
        for (flag, dirs) in [("--bind", &writable), ("--ro-bind", &self.read_only)] {
            for dir in dirs {
                if let Ok(dir) = std::fs::canonicalize(dir) {
                    args.paths(flag, &[dir.as_os_str(), dir.as_os_str()]);
                }
            }
        }
        for dir in &hidden {
            args.paths("--remount-ro", &[dir.as_os_str()]);
        }
        args.push(&["--remount-ro", "/"]);
        let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_owned());
        args.paths("--chdir", &[cwd.as_os_str()]);
        args.0
    }
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, parts: &[&str]) {
        self.0.extend(parts.iter().map(OsString::from));
    }

    fn paths(&mut self, flag: &str, parts: &[&OsStr]) {
        self.0.push(flag.into());
        self.0.extend(parts.iter().map(|p| p.to_os_string()));
    }
}

fn under_any(path: &Path, dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|dir| path.starts_with(dir))
}

/// The user and group ids the agent has inside: this process's own, or
/// [`UNPRIVILEGED_ID`] for root.
fn inside_id() -> (String, String) {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    if uid == 0 {
        (UNPRIVILEGED_ID.to_string(), UNPRIVILEGED_ID.to_string())
    } else {
        (uid.to_string(), gid.to_string())
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

/// The seccomp filter, in an open file bubblewrap inherits.
#[derive(Debug)]
pub(crate) struct FilterFd {
    _fd: OwnedFd,
    /// The descriptor's number, for `--seccomp`.
    pub number: i32,
}

/// The filter for `nesting` in an anonymous file without close-on-exec, at
/// offset 0, for bubblewrap's `--seccomp`. It stays open until dropped,
/// after the sandbox has started.
pub(crate) fn seccomp_fd(nesting: Nesting) -> Result<FilterFd, SandboxError> {
    use std::io::{Seek, Write};
    let table = seccomp::NATIVE.ok_or(SandboxError::Architecture {
        arch: std::env::consts::ARCH,
    })?;
    let bytes = seccomp::encode(&seccomp::program(&table, nesting));
    let filter = |source| SandboxError::Filter { source };
    let fd = rustix::fs::memfd_create("handoff-seccomp", rustix::fs::MemfdFlags::empty())
        .map_err(|e| filter(e.into()))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(&bytes).map_err(filter)?;
    file.rewind().map_err(filter)?;
    let fd = OwnedFd::from(file);
    let number = fd.as_raw_fd();
    Ok(FilterFd { _fd: fd, number })
}

/// Checks that `bwrap` can build the sandbox here: runs `true` in the
/// strictest one. The answer is kept for the life of the process.
pub async fn verify(bwrap: &Path) -> Result<(), SandboxError> {
    use std::sync::Mutex;
    static VERIFIED: Mutex<Vec<(PathBuf, Result<(), String>)>> = Mutex::new(Vec::new());
    let unavailable = |reason: String| SandboxError::Unavailable {
        bwrap: bwrap.to_owned(),
        reason,
    };
    let known = VERIFIED.lock().ok().and_then(|seen| {
        seen.iter()
            .find(|(path, _)| path == bwrap)
            .map(|(_, result)| result.clone())
    });
    if let Some(result) = known {
        return result.map_err(unavailable);
    }
    let Some(program) = crate::session_file::find_on_path(&["true"]) else {
        return Err(unavailable(
            "no `true` program on PATH to try it with".into(),
        ));
    };
    let mut sandbox = Sandbox::new(bwrap);
    sandbox.network = Network::None;
    let confinement = Confinement {
        clean_env: true,
        sandbox: Some(sandbox),
        ..Confinement::default()
    };
    let mut command = confinement.command(&program, &[], Path::new("/"), &[], &[])?;
    command
        .command_mut()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let result = match command.spawn_tokio(true) {
        Ok(child) => match child.wait_with_output().await {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(format!(
                "{} ({})",
                String::from_utf8_lossy(&output.stderr).trim(),
                output.status
            )),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    if let Ok(mut seen) = VERIFIED.lock() {
        seen.push((bwrap.to_owned(), result.clone()));
    }
    result.map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn at(text: &[String], needle: &[&str]) -> usize {
        text.windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{needle:?} in {text:?}"))
    }

    #[test]
    fn a_sandbox_drops_privilege_and_shows_only_what_it_lists() {
        let root = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let path = root.path().join(name);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::canonicalize(path).unwrap()
        };
        let (store, home, work, tools, scratch) = (
            dir("store"),
            dir("home"),
            dir("work"),
            dir("home/tools"),
            dir("scratch"),
        );
        let program = tools.join("agent");
        std::fs::write(&program, "").unwrap();
        let mut sandbox = Sandbox::new("/usr/bin/bwrap");
        sandbox.writable = vec![scratch.clone()];
        sandbox.read_only = vec![work.clone()];
        sandbox.hidden = vec![store.clone(), home.clone(), root.path().join("missing")];
        sandbox.network = Network::None;
        let args = text(&sandbox.arguments(&program, &work, &Confinement::default()));
        let s = |p: &Path| p.display().to_string();
        for flag in [
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--unshare-net",
        ] {
            at(&args, &[flag]);
        }
        at(&args, &["--cap-drop", "ALL"]);
        assert!(
            !args.windows(3).any(|w| w == ["--ro-bind", "/", "/"]),
            "the host's root is not shown: {args:?}"
        );
        at(&args, &["--ro-bind", "/usr", "/usr"]);
        at(&args, &["--ro-bind", "/dev/null", "/etc/shadow"]);
        // The agent's own program shows though its directory is in the
        // hidden home; the home itself is not shown, so needs no hiding.
        at(&args, &["--ro-bind", &s(&tools), &s(&tools)]);
        assert!(!args.contains(&s(&home)) && !args.contains(&s(&store)));
        assert!(
            at(&args, &["--ro-bind", &s(&tools), &s(&tools)])
                < at(&args, &["--ro-bind", &s(&work), &s(&work)])
        );
        at(&args, &["--bind", &s(&scratch), &s(&scratch)]);
        assert!(
            at(&args, &["--bind", &s(&scratch), &s(&scratch)]) < at(&args, &["--remount-ro", "/"])
        );
        assert_eq!(args[args.len() - 2..], ["--chdir".to_owned(), s(&work)]);
        assert!(
            !args.iter().any(|a| a.ends_with("missing")),
            "a missing directory is skipped"
        );
    }

    #[test]
    fn an_agent_sandbox_inside_keeps_user_namespaces() {
        let mut sandbox = Sandbox::new("/usr/bin/bwrap");
        sandbox.nesting = Nesting::AgentSandbox;
        let args = text(&sandbox.arguments(
            Path::new("/usr/bin/true"),
            Path::new("/"),
            &Confinement::default(),
        ));
        assert!(!args.contains(&"--disable-userns".to_owned()), "{args:?}");
        at(&args, &["--cap-drop", "ALL"]);
        at(&args, &["--unshare-user"]);
    }

    #[test]
    fn a_hidden_directory_under_a_shown_one_is_emptied_and_sessions_show_through() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        let hidden = bin.join("store");
        let session = hidden.join("session");
        std::fs::create_dir_all(&session).unwrap();
        let (bin, hidden, session) = (
            std::fs::canonicalize(bin).unwrap(),
            std::fs::canonicalize(hidden).unwrap(),
            std::fs::canonicalize(session).unwrap(),
        );
        let mut sandbox = Sandbox::new("/usr/bin/bwrap");
        sandbox.hidden = vec![hidden.clone()];
        sandbox.writable = vec![session.clone()];
        let program = bin.join("agent");
        std::fs::write(&program, "").unwrap();
        let args = text(&sandbox.arguments(&program, &session, &Confinement::default()));
        let s = |p: &Path| p.display().to_string();
        let tmpfs = at(&args, &["--tmpfs", &s(&hidden)]);
        assert!(at(&args, &["--ro-bind", &s(&bin), &s(&bin)]) < tmpfs);
        let bind = at(&args, &["--bind", &s(&session), &s(&session)]);
        assert!(tmpfs < bind && bind < at(&args, &["--remount-ro", &s(&hidden)]));
    }
}
