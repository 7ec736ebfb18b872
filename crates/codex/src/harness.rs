//! [`CodexHarness`]: runs a turn with the real `codex` CLI.
//!
//! The shared [`NativeHarness`] does the work; this module is what is
//! particular to Codex: the data of its CLI ([`CLI`]) and its format
//! ([`Codex`]). The conversation is installed as a rollout for the run's
//! working directory, then
//! `codex exec --json --sandbox <mode> [--skip-git-repo-check] [--model M]
//! resume <id> <note and prompt>` runs there with `CODEX_HOME` set; the
//! lines it appends to the rollout are the turn, and a `turn.failed` event
//! on its output is a failed turn.
//!
//! Permission levels are Codex's sandbox modes: `read-only`,
//! `workspace-write` (edits), `danger-full-access` (full). The model
//! provider comes from `$CODEX_HOME/config.toml`; the variable its
//! `env_key` names is part of the environment the agent needs.

use std::path::{Path, PathBuf};

use handoff_conversation::{Conversation, Message, Mode, Skipped};
use handoff_harness::confine::Nesting;
use handoff_harness::native::{Arg, CliSpec, FormatError};
use handoff_harness::sessions::Which;
use handoff_harness::{
    AgentOptions, Direction, Grant, Grants, HarnessKind, NativeFormat, NativeHarness, Permissions,
};
use serde_json::Value;

use crate::rollout;

/// The Codex harness.
pub type CodexHarness = NativeHarness<Codex>;

/// Codex's name.
pub const KIND: HarnessKind = HarnessKind::from_static("codex");

/// Codex's CLI, as data: every direction (its adapter carries the native
/// rollout both ways).
pub static CLI: CliSpec = CliSpec {
    kind: KIND,
    directions: &Direction::ALL,
    programs: &["codex"],
    install_hint: "install Codex with `npm install -g @openai/codex`",
    home_var: "CODEX_HOME",
    home_default: ".codex",
    home_seed: &["config.toml", "auth.json"],
    resume: &[
        Arg::Lit("exec"),
        Arg::Lit("--json"),
        Arg::Permissions,
        Arg::OutsideRepository,
        Arg::Model,
        Arg::Lit("resume"),
        Arg::Session,
        Arg::Prompt,
    ],
    resume_local: &[Arg::Lit("codex"), Arg::Lit("resume"), Arg::Session],
    grants: Grants {
        read_only: Grant {
            args: &["--sandbox", "read-only"],
            env: &[],
            nesting: Nesting::AgentSandbox,
        },
        edits: Grant {
            args: &["--sandbox", "workspace-write"],
            env: &[],
            nesting: Nesting::AgentSandbox,
        },
        full: Grant {
            args: &["--sandbox", "danger-full-access"],
            env: &[],
            nesting: Nesting::None,
        },
    },
    model_flag: "--model",
    outside_repository: &["--skip-git-repo-check"],
    env: &["CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"],
};

/// Codex's rollout format, for [`NativeHarness`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Codex;

impl NativeFormat for Codex {
    fn spec(&self) -> &'static CliSpec {
        &CLI
    }

    fn install(
        &self,
        conversation: &Conversation,
        home: &Path,
        cwd: &str,
        id: &str,
    ) -> Result<PathBuf, FormatError> {
        Ok(rollout::install(conversation, home, cwd, id)?)
    }

    fn read_appended(&self, lines: &[u8], label: &str) -> Result<Vec<Message>, FormatError> {
        Ok(rollout::read(lines, Mode::Lenient, label)?.0.messages)
    }

    fn find(&self, home: &Path, which: Which<'_>, cwd: &str) -> Result<PathBuf, FormatError> {
        Ok(match which {
            Which::Id(id) => rollout::find_by_id(home, id)?,
            Which::Latest => rollout::find_latest(home, cwd)?,
        })
    }

    fn read_file(
        &self,
        file: &Path,
        mode: Mode,
    ) -> Result<(Conversation, Vec<Skipped>), FormatError> {
        Ok(rollout::read_file(file, mode)?)
    }

    /// `turn.failed` carries the reason; a bare `error` event counts only
    /// when no turn completed (Codex also reports retried errors).
    fn reported_error(&self, stdout: &str) -> Option<String> {
        let events: Vec<Value> = stdout
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let message = |v: &Value| v["message"].as_str().unwrap_or("an error").to_owned();
        if let Some(failed) = events.iter().find(|v| v["type"] == "turn.failed") {
            return Some(message(&failed["error"]));
        }
        if events.iter().any(|v| v["type"] == "turn.completed") {
            return None;
        }
        events
            .iter()
            .rev()
            .find(|v| v["type"] == "error")
            .map(message)
    }

    fn configured_env(&self, home: &Path) -> Vec<String> {
        std::fs::read_to_string(home.join("config.toml"))
            .map(|config| env_keys(&config))
            .unwrap_or_default()
    }

    /// The `codex-resources` directory the CLI ships (its own bubblewrap):
    /// Codex takes the first `bwrap` on `PATH` for its sandbox, and an older
    /// system one (Debian 12's 0.8, without `--argv0`) cannot start its
    /// sandbox helper, so every command of an `edits` session fails.
    fn path_prefix(&self, program: &Path) -> Vec<PathBuf> {
        bundled_resources(program).into_iter().collect()
    }

    /// `edits` is refused when Codex's sandbox helper is under `/tmp`:
    /// `workspace-write` mounts a private `/tmp`, so the helper it
    /// re-executes there would not exist and the turn would fail command by
    /// command (`bwrap: execvp codex-linux-sandbox`). `read-only` and `full`
    /// keep the real `/tmp` visible. A program that is neither a native
    /// binary nor an npm install with bundled tools (a script standing in
    /// for Codex) starts no Codex sandbox and is not refused.
    fn refusal(&self, program: &Path, agent: &AgentOptions) -> Option<FormatError> {
        if agent.permissions != Permissions::Edits {
            return None;
        }
        under_tmp(&sandbox_files(program)).map(|path| {
            Box::new(crate::Error::SandboxUnderTmp {
                path: path.to_path_buf(),
            }) as FormatError
        })
    }
}

/// What Codex's sandbox runs from inside: the native binary (re-executed
/// as `codex-linux-sandbox`) when `program` is one, as named and as
/// resolved, and the bundled tools of an npm install.
fn sandbox_files(program: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(real) = std::fs::canonicalize(program)
        && is_native_binary(&real)
    {
        files.push(program.to_path_buf());
        files.push(real);
    }
    files.extend(bundled_resources(program));
    files
}

fn is_native_binary(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"\x7fELF")
}

/// The first of `files` a private `/tmp` would hide.
fn under_tmp(files: &[PathBuf]) -> Option<&Path> {
    files
        .iter()
        .map(PathBuf::as_path)
        .find(|file| file.starts_with("/tmp"))
}

/// Where the npm package of the CLI at `program` keeps `codex-resources`:
/// beside the native binary (`vendor/<target>/bin/codex`), or in the
/// platform package next to the `@openai/codex` wrapper.
fn bundled_resources(program: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(program).ok()?;
    let beside = real.parent()?.parent()?.join("codex-resources");
    if beside.is_dir() {
        return Some(beside);
    }
    // node_modules/@openai/codex/bin/codex.js → node_modules/@openai
    let scope = real.ancestors().find(|dir| dir.ends_with("@openai"))?;
    let mut found = Vec::new();
    for package in std::fs::read_dir(scope).ok()?.flatten() {
        let vendor = package.path().join("vendor");
        let Ok(targets) = std::fs::read_dir(&vendor) else {
            continue;
        };
        for target in targets.flatten() {
            let resources = target.path().join("codex-resources");
            if resources.is_dir() {
                found.push(resources);
            }
        }
    }
    found.sort();
    found.into_iter().next()
}

/// The variables named by `env_key = "…"` in a Codex configuration (its
/// model providers' keys). A line scan, not a TOML parser: it reads only
/// these simple assignments.
fn env_keys(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "env_key").then_some(())?;
            let value = value.split('#').next()?.trim();
            let name = value.strip_prefix('"')?.strip_suffix('"')?;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_resources_are_found_from_the_npm_wrapper_or_the_binary() {
        let root = tempfile::tempdir().unwrap();
        let modules = root.path().join("node_modules");
        let wrapper = modules.join("@openai/codex/bin/codex.js");
        let binary =
            modules.join("@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex");
        let resources = modules
            .join("@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/codex-resources");
        for file in [&wrapper, &binary] {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, "").unwrap();
        }
        std::fs::create_dir_all(&resources).unwrap();
        std::fs::create_dir_all(modules.join(".bin")).unwrap();
        let link = modules.join(".bin/codex");
        std::os::unix::fs::symlink("../@openai/codex/bin/codex.js", &link).unwrap();
        let expected = std::fs::canonicalize(&resources).unwrap();
        assert_eq!(super::bundled_resources(&link), Some(expected.clone()));
        assert_eq!(super::bundled_resources(&binary), Some(expected));
        let elsewhere = root.path().join("codex");
        std::fs::write(&elsewhere, "").unwrap();
        assert_eq!(super::bundled_resources(&elsewhere), None);
    }

    use super::*;

    fn options(permissions: Permissions) -> AgentOptions {
        AgentOptions {
            permissions,
            ..AgentOptions::default()
        }
    }

    /// The message a refusal of `path` gives, for whole-value comparison.
    fn refused(path: &Path) -> Option<String> {
        Some(
            crate::Error::SandboxUnderTmp {
                path: path.to_path_buf(),
            }
            .to_string(),
        )
    }

    #[test]
    fn only_paths_inside_tmp_are_hidden_by_a_private_tmp() {
        let files = [
            PathBuf::from("/tmpfiles/codex"),
            PathBuf::from("/opt/codex"),
        ];
        assert_eq!(under_tmp(&files), None);
        let files = [PathBuf::from("/opt/codex"), PathBuf::from("/tmp/x/codex")];
        assert_eq!(under_tmp(&files), Some(Path::new("/tmp/x/codex")));
    }

    #[test]
    fn edits_is_refused_for_an_npm_codex_under_tmp() {
        // Explicitly /tmp, whatever TMPDIR says: /tmp is what the sandbox hides.
        let root = tempfile::tempdir_in("/tmp").unwrap();
        let modules = root.path().join("node_modules");
        let wrapper = modules.join("@openai/codex/bin/codex.js");
        let resources = modules
            .join("@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/codex-resources");
        std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
        std::fs::write(&wrapper, "#!/usr/bin/env node\n").unwrap();
        std::fs::create_dir_all(&resources).unwrap();
        let resources = std::fs::canonicalize(&resources).unwrap();
        let message = |permissions| {
            Codex
                .refusal(&wrapper, &options(permissions))
                .map(|e| e.to_string())
        };
        assert_eq!(message(Permissions::Edits), refused(&resources));
        assert_eq!(message(Permissions::ReadOnly), None);
        assert_eq!(message(Permissions::Full), None);
    }

    #[test]
    fn edits_is_refused_for_a_native_codex_under_tmp_but_not_for_a_script() {
        let root = tempfile::tempdir_in("/tmp").unwrap();
        let native = root.path().join("codex");
        std::fs::write(&native, b"\x7fELF\x02\x01\x01").unwrap();
        let error = Codex
            .refusal(&native, &options(Permissions::Edits))
            .unwrap();
        let typed = error.downcast_ref::<crate::Error>().unwrap();
        assert!(
            matches!(typed, crate::Error::SandboxUnderTmp { path } if path == &native),
            "{typed:?}"
        );
        let script = root.path().join("fake-codex");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(
            Codex
                .refusal(&script, &options(Permissions::Edits))
                .map(|e| e.to_string()),
            None
        );
    }

    #[test]
    fn failed_turns_are_found_and_retries_are_not() {
        let ok = r#"{"type":"thread.started"}
{"type":"item.completed","item":{"type":"error","message":"Model metadata not found"}}
{"type":"error","message":"Reconnecting... 1/5"}
{"type":"turn.completed","usage":{}}"#;
        assert_eq!(Codex.reported_error(ok), None);
        let failed = r#"{"type":"turn.started"}
{"type":"error","message":"server said no"}
{"type":"turn.failed","error":{"message":"server said no"}}"#;
        assert_eq!(
            Codex.reported_error(failed).as_deref(),
            Some("server said no")
        );
        assert_eq!(
            Codex
                .reported_error("{\"type\":\"error\",\"message\":\"no auth\"}")
                .as_deref(),
            Some("no auth")
        );
    }

    #[test]
    fn provider_keys_are_read_from_the_config() {
        let config = "model_provider = \"mock\"\n[model_providers.mock]\nbase_url = \"http://127.0.0.1:9/v1\"\nenv_key = \"MOCK_KEY\" # the key\n[model_providers.bad]\nenv_key = \"$(rm -rf)\"\n";
        assert_eq!(env_keys(config), ["MOCK_KEY"]);
    }
}
