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

use handoff_conversation::{Conversation, Message, Mode};
use handoff_harness::native::{Arg, CliSpec, FormatError};
use handoff_harness::{Grant, Grants, HarnessKind, NativeFormat, NativeHarness};
use serde_json::Value;

use crate::rollout;

/// The Codex harness.
pub type CodexHarness = NativeHarness<Codex>;

/// Codex's CLI, as data.
pub static CLI: CliSpec = CliSpec {
    kind: HarnessKind::Codex,
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
    grants: Grants {
        read_only: Grant {
            args: &["--sandbox", "read-only"],
            env: &[],
        },
        edits: Grant {
            args: &["--sandbox", "workspace-write"],
            env: &[],
        },
        full: Grant {
            args: &["--sandbox", "danger-full-access"],
            env: &[],
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
