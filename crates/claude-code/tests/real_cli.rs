//! Opt-in: the real `claude` CLI finds a session this adapter installed.
//!
//! Claude Code 2.1.x prints `No conversation found with session ID: <id>`
//! before any network call when `--resume` cannot find the session, so a
//! run that does not print it (and goes on to need the network or an API
//! key) found the installed file. A control run with an id that was not
//! installed must print it, proving the check means something. Runs when
//! `HANDOFF_REAL_CLAUDE` names the binary (`.ci/test` sets it when the npm
//! install works); otherwise it says why it did nothing. It never needs
//! network access or credentials.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use handoff_claude_code::session;
use handoff_conversation::Mode;

/// Runs `claude -p --resume <id> hi` for at most 20 s; returns its output.
fn resume(claude: &str, config: &Path, cwd: &Path, id: &str) -> String {
    let mut child = Command::new(claude)
        .args(["-p", "--resume", id, "hi"])
        .current_dir(cwd)
        .env("CLAUDE_CONFIG_DIR", config)
        .env_remove("ANTHROPIC_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // Still running: it got past the session lookup to the network.
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_real_claude_cli_finds_an_installed_session() {
    let Some(claude) = std::env::var("HANDOFF_REAL_CLAUDE")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        eprintln!(
            "skipped: HANDOFF_REAL_CLAUDE is not set (the real Claude Code CLI was not installed)"
        );
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/claude-code/short.jsonl");
    let (conversation, _) = session::read_file(&fixture, Mode::Strict).unwrap();
    let config = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(work.path()).unwrap();
    let id = conversation.id.to_string();
    session::install(&conversation, config.path(), cwd.to_str().unwrap(), &id).unwrap();

    let missing = "00000000-0000-4000-8000-000000000000";
    let control = resume(&claude, config.path(), &cwd, missing);
    assert!(
        control.contains("No conversation found"),
        "the control run did not report a missing session; the CLI's offline behaviour changed:\n{control}"
    );
    let found = resume(&claude, config.path(), &cwd, &id);
    assert!(
        !found.contains("No conversation found"),
        "claude did not find the installed session:\n{found}"
    );
}
