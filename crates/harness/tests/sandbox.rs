//! The sandbox against a hostile agent, with the real bubblewrap: every
//! escape attempt fails, in each nesting profile, whether this test runs
//! as root (as CI and containers do) or as an ordinary user.
//!
//! The agent is a shell script that reports each attempt on a line of its
//! own (`name: denied` or `name: DONE`); the test compares the whole
//! report with what must happen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use handoff_harness::confine::{Confinement, Nesting, Network, Sandbox};

/// bubblewrap, or `None` (saying why) where it is not installed and not
/// required (`HANDOFF_REQUIRE_BWRAP`).
fn bwrap() -> Option<PathBuf> {
    let found = handoff_harness::confine::find_bwrap();
    if found.is_none() {
        assert!(
            std::env::var_os("HANDOFF_REQUIRE_BWRAP").is_none(),
            "bubblewrap is required: apt install bubblewrap"
        );
        eprintln!("skipped: bubblewrap (bwrap) is not installed");
    }
    found
}

/// The attempts, in the order they are reported. `$1`…: the store file,
/// a directory outside, the worker's home file, the worker's pid, the
/// secret in the worker's environment, a loopback port that listens.
const HOSTILE: &str = r#"set +u
store=$1 outside=$2 home=$3 worker=$4 secret=$5 port=$6
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name: DONE"; else echo "$name: denied"; fi; }
arch=$(uname -m)
if [ "$arch" = aarch64 ]; then ptrace=117 keyctl=219; else ptrace=101 keyctl=250; fi
try "umount /tmp" umount /tmp
try "umount /proc" umount -l /proc
try "remount / rw" mount -o remount,rw,bind /
try "remount /usr rw" mount -o remount,rw,bind /usr
try "tmpfs over the workspace parent" mount -t tmpfs none ..
try "new user namespace then umount" unshare -Urm umount -l /tmp
try "new user namespace then remount" unshare -Urm mount -o remount,rw,bind /usr
try "write /" touch /escaped
try "write /usr" touch /usr/escaped
try "write outside" sh -c "echo x > '$outside/escaped.txt'"
try "escape by a symlink" sh -c "ln -s '$outside' link && echo x > link/escaped-by-link.txt"
try "read the store" cat "$store"
try "read the worker's home" cat "$home"
try "read /etc/shadow" grep -q . /etc/shadow
try "worker's secret in /proc/1/environ" grep -qa "$secret" /proc/1/environ
try "worker's secret in the environment" sh -c "env | grep -q '$secret'"
try "see the worker" test -d "/proc/$worker"
try "signal the worker" kill -0 "$worker"
try "ptrace" perl -e "exit(syscall($ptrace, 0, 0, 0, 0) == -1 ? 1 : 0)"
try "keyctl" perl -e "exit(syscall($keyctl, 0, -3, 0) == -1 ? 1 : 0)"
try "capabilities" sh -c 'grep -q "^CapEff:.*[1-9a-f]" /proc/self/status'
try "privileges can grow" sh -c 'grep -q "^NoNewPrivs:.*0" /proc/self/status'
try "open a socket" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
try "write the workspace" sh -c 'echo ok > inside.txt'
"#;

struct Scene {
    _root: tempfile::TempDir,
    workspace: PathBuf,
    scratch: PathBuf,
    store: PathBuf,
    home: PathBuf,
    outside: PathBuf,
    script: PathBuf,
}

/// Something in this process's environment (cargo sets it for tests)
/// that a clean environment leaves out.
const SECRET: &str = concat!("CARGO_PKG_NAME=", env!("CARGO_PKG_NAME"));

impl Scene {
    fn new() -> Self {
        // Everything under a directory the sandbox does not show; the
        // outside directory in the build tree, not under /tmp (which is
        // private inside anyway).
        let root = tempfile::tempdir().unwrap();
        let dir = |path: PathBuf| {
            std::fs::create_dir_all(&path).unwrap();
            std::fs::canonicalize(path).unwrap()
        };
        let workspace = dir(root.path().join("envs/session/workspace"));
        let scratch = dir(root.path().join("envs/session/scratch"));
        let store = dir(root.path().join("store")).join("credentials");
        std::fs::write(&store, "store secret").unwrap();
        let home = dir(root.path().join("home")).join("secret.txt");
        std::fs::write(&home, "the worker's secret").unwrap();
        let outside = dir(match std::env::var_os("HANDOFF_SANDBOX_OUTSIDE") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("sandbox-outside-{}", std::process::id())),
        });
        let script = scratch.join("hostile.sh");
        std::fs::write(&script, HOSTILE).unwrap();
        Self {
            _root: root,
            workspace,
            scratch,
            store,
            home,
            outside,
            script,
        }
    }

    fn run(&self, bwrap: &Path, nesting: Nesting, read_only: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let mut sandbox = Sandbox::new(bwrap);
        sandbox.writable = vec![self.scratch.clone()];
        if read_only {
            sandbox.read_only = vec![self.workspace.clone()];
        } else {
            sandbox.writable.push(self.workspace.clone());
        }
        sandbox.hidden = vec![self.store.parent().unwrap().to_owned()];
        sandbox.network = Network::None;
        sandbox.nesting = nesting;
        let confinement = Confinement {
            clean_env: true,
            home: Some(self.scratch.clone()),
            tmp: Some(self.scratch.clone()),
            sandbox: Some(sandbox),
        };
        let sh = PathBuf::from("/bin/sh");
        let args: Vec<std::ffi::OsString> = [
            self.script.as_os_str(),
            self.store.as_os_str(),
            self.outside.as_os_str(),
            self.home.as_os_str(),
            std::process::id().to_string().as_ref(),
            SECRET.as_ref(),
            port.as_ref(),
        ]
        .iter()
        .map(|a| a.to_os_string())
        .collect();
        let mut command = confinement
            .command(&sh, &args, &self.workspace, &[], &[])
            .unwrap();
        command
            .command_mut()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = command.spawn().unwrap().wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(listener);
        String::from_utf8(out.stdout).unwrap()
    }
}

/// What every run must report: each attempt denied but writing the
/// workspace, which is `workspace`.
fn expected(workspace: &str) -> String {
    HOSTILE
        .lines()
        .filter_map(|line| line.strip_prefix("try \""))
        .map(|rest| {
            let name = &rest[..rest.find('"').unwrap()];
            let verdict = if name == "write the workspace" {
                workspace
            } else {
                "denied"
            };
            format!("{name}: {verdict}\n")
        })
        .collect()
}

#[test]
fn every_escape_fails_in_every_profile() {
    let Some(bwrap) = bwrap() else { return };
    let scene = Scene::new();
    for nesting in [Nesting::None, Nesting::AgentSandbox] {
        for read_only in [false, true] {
            let report = scene.run(&bwrap, nesting, read_only);
            let workspace = if read_only { "denied" } else { "DONE" };
            assert_eq!(
                report,
                expected(workspace),
                "{nesting:?}, read-only {read_only}"
            );
            assert!(!scene.outside.join("escaped.txt").exists());
            assert!(!scene.outside.join("escaped-by-link.txt").exists());
            let _ = std::fs::remove_file(scene.workspace.join("link"));
        }
    }
    assert!(!Path::new("/escaped").exists());
}

/// The same attempts with the sandbox built by an ordinary user: as root,
/// this test runs the one above again as the user `.ci/test` creates
/// (`HANDOFF_TEST_USER`), from a copy of this test program it can read.
#[test]
fn every_escape_fails_for_an_ordinary_user_too() {
    if bwrap().is_none() {
        return;
    }
    let Some(user) = std::env::var_os("HANDOFF_TEST_USER") else {
        assert!(
            std::env::var_os("HANDOFF_REQUIRE_TEST_USER").is_none(),
            "HANDOFF_TEST_USER must name an ordinary user"
        );
        eprintln!("skipped: no HANDOFF_TEST_USER to run the sandbox as");
        return;
    };
    if rustix::process::geteuid().as_raw() != 0 {
        // Already ordinary: the test above ran as this user.
        return;
    }
    let id = |flag: &str| -> u32 {
        let out = std::process::Command::new("id")
            .arg(flag)
            .arg(&user)
            .output()
            .unwrap();
        assert!(out.status.success(), "no user {user:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    let own = |path: &Path| {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    };
    let place = tempfile::tempdir().unwrap();
    own(place.path());
    let mut perms = std::fs::metadata(place.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(place.path(), perms).unwrap();
    let exe = place.path().join("sandbox-test");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let outside = place.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    own(&outside);
    let out = std::process::Command::new("setpriv")
        .args([
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--clear-groups".to_owned(),
        ])
        .arg(&exe)
        .args([
            "--exact",
            "every_escape_fails_in_every_profile",
            "--test-threads=1",
        ])
        .env("HOME", place.path())
        .env("TMPDIR", place.path())
        .env("HANDOFF_SANDBOX_OUTSIDE", &outside)
        .env("HANDOFF_REQUIRE_BWRAP", "1")
        .current_dir(place.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "as {user:?}: {text}");
    assert!(text.contains("1 passed"), "as {user:?}: {text}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[tokio::test]
async fn this_host_can_build_the_sandbox() {
    let Some(bwrap) = bwrap() else { return };
    handoff_harness::confine::sandbox::verify(&bwrap)
        .await
        .unwrap();
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-bwrap-here");
    std::fs::write(
        &missing,
        "#!/bin/sh\necho 'no user namespaces' >&2\nexit 1\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&missing).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&missing, perms).unwrap();
    let error = handoff_harness::confine::sandbox::verify(&missing)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("cannot set up the sandbox")
            && error.to_string().contains("no user namespaces"),
        "{error}"
    );
}
