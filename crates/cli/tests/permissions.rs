//! `--permissions` and `--model` through the `handoff` binary, with the
//! scripted harness (the real agents' mapping of each level to flags is
//! tested with the real CLIs in the adapter crates and `real_agents.rs`):
//! recorded per session, inherited by a follow-up unless changed, refused
//! when misspelt, and a worker runs only sessions asking for no more than
//! it allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use handoff_dev::GitRepo;
use serde_json::Value;

fn handoff(store: &Path, dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(dir)
        .env_remove("HANDOFF_STORE")
        .env("TMPDIR", store)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sessions(store: &Path, dir: &Path, run: &str) -> Vec<(String, Value, String)> {
    let shown = json(&handoff(store, dir, &["show", run, "--json"]));
    shown["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["permissions"].as_str().unwrap().to_owned(),
                s["model"].clone(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn levels_and_models_are_recorded_per_session_and_follow_ups_inherit_them() {
    let store = tempfile::tempdir().unwrap();
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    let dir = repo.path();
    let s = store.path();

    let pushed = json(&handoff(
        s,
        dir,
        &[
            "push",
            "--harness",
            "scripted",
            "--prompt",
            "go",
            "--wait",
            "--json",
        ],
    ));
    let run = pushed["run"].as_str().unwrap();
    assert_eq!(pushed["record"]["permissions"], "edits", "the default");
    json(&handoff(
        s,
        dir,
        &[
            "follow-up",
            run,
            "--prompt",
            "look only",
            "--permissions",
            "read-only",
            "--model",
            "m-2",
            "--wait",
            "--json",
        ],
    ));
    json(&handoff(
        s,
        dir,
        &["follow-up", run, "--prompt", "again", "--wait", "--json"],
    ));
    assert_eq!(
        sessions(s, dir, run),
        [
            ("edits".to_owned(), Value::Null, "ended".to_owned()),
            ("read-only".to_owned(), "m-2".into(), "ended".to_owned()),
            ("read-only".to_owned(), "m-2".into(), "ended".to_owned()),
        ]
    );

    let shown = handoff(s, dir, &["show", run]);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(text.contains("permissions read-only  model m-2"), "{text}");

    let misspelt = handoff(
        s,
        dir,
        &["push", "--harness", "scripted", "--permissions", "root"],
    );
    assert_eq!(misspelt.status.code(), Some(1));
    let err = String::from_utf8(misspelt.stderr).unwrap();
    assert!(
        err.contains("unknown permission level \"root\" (expected edits, full or read-only)"),
        "{err}"
    );
}

#[test]
fn a_worker_runs_only_what_it_allows() {
    let store = tempfile::tempdir().unwrap();
    let repo = GitRepo::init();
    repo.write("a.txt", "a\n");
    repo.commit_all("base");
    let (s, dir) = (store.path(), repo.path());
    let pushed = json(&handoff(
        s,
        dir,
        &[
            "push",
            "--harness",
            "scripted",
            "--prompt",
            "go",
            "--permissions",
            "full",
            "--json",
        ],
    ));
    let run = pushed["run"].as_str().unwrap();

    let worker = handoff(s, dir, &["worker", "--once"]);
    assert!(worker.status.success());
    let said = String::from_utf8(worker.stderr).unwrap();
    assert!(
        said.contains(&format!(
            "run {run}: not run here: it asks for full permissions and this worker allows at most edits"
        )),
        "{said}"
    );
    assert_eq!(sessions(s, dir, run)[0].2, "queued");

    let worker = handoff(s, dir, &["worker", "--once", "--permissions", "full"]);
    assert!(worker.status.success());
    assert_eq!(sessions(s, dir, run)[0].2, "ended");
}
