//! What the CLI test files share: running the `handoff` binary against a
//! temporary store, as a person on one machine (its own `HOME`) would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One machine: a `HOME` of its own and the store it uses (which several
/// machines may share).
pub struct Machine {
    pub home: tempfile::TempDir,
    pub store: PathBuf,
}

impl Machine {
    /// A machine using the store at `store`.
    pub fn new(store: &Path) -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            store: store.to_owned(),
        }
    }

    /// `handoff --store <store> ARGS` in `dir`, with this machine's `HOME`
    /// and a fixed git identity (agents commit).
    pub fn command(&self, args: &[&str], dir: &Path) -> Command {
        let mut handoff = Command::new(env!("CARGO_BIN_EXE_handoff"));
        for (key, value) in handoff_dev::git_command(dir).get_envs() {
            if let Some(value) = value {
                handoff.env(key, value);
            }
        }
        handoff
            .current_dir(dir)
            .env_remove("HANDOFF_STORE")
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("CODEX_HOME")
            .env("HOME", self.home.path())
            .env("TMPDIR", self.home.path())
            .arg("--store")
            .arg(&self.store)
            .args(args);
        handoff
    }

    /// Runs `handoff ARGS` in `dir`.
    pub fn handoff(&self, args: &[&str], dir: &Path) -> Output {
        self.command(args, dir).output().unwrap()
    }

    /// Runs `handoff ARGS` in `dir`, asserting exit 0; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str], dir: &Path) -> String {
        let out = self.handoff(args, dir);
        assert_eq!(
            out.status.code(),
            Some(0),
            "handoff {args:?}: {}",
            stderr(&out)
        );
        stdout(&out)
    }
}

impl Machine {
    /// `handoff push --harness command --agent-cmd AGENT --prompt PROMPT
    /// --wait` in `dir`; returns the run id.
    #[track_caller]
    pub fn push_and_wait(&self, agent: &str, prompt: &str, dir: &Path) -> String {
        let out = self.ok(
            &[
                "push",
                "--harness",
                "command",
                "--agent-cmd",
                agent,
                "--prompt",
                prompt,
                "--wait",
            ],
            dir,
        );
        out.lines().next().unwrap_or_default().trim().to_owned()
    }

    /// `handoff continue-locally RUN --harness scripted` in `dir`; returns
    /// the local conversation's text (the run's transcript).
    #[track_caller]
    pub fn transcript(&self, run: &str, dir: &Path) -> String {
        let out = self.ok(
            &["continue-locally", run, "--harness", "scripted", "--json"],
            dir,
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        std::fs::read_to_string(back["conversation_file"].as_str().unwrap()).unwrap()
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// An executable shell script at `dir/name`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
