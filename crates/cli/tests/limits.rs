//! `handoff worker`'s history ceiling: a run whose record asks for more
//! carried history than the worker allows fails, saying which run and which
//! limit; the same run goes through on a worker whose ceiling allows it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use handoff_dev::GitRepo;
use support::{Machine, script};

#[test]
fn a_run_above_the_workers_history_ceiling_fails_and_a_raised_ceiling_runs_it() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let origin = GitRepo::bare();
    let local = GitRepo::clone_from(&origin);
    local.write("README.md", "# app\n");
    local.commit_all("base");
    local.git(&["push", "-q", "origin", "main"]);
    local.write("notes.txt", "local\n");
    local.commit_all("local: not pushed");
    let bin = tempfile::tempdir().unwrap();
    let agent = script(bin.path(), "agent.sh", "cat > /dev/null; echo done");
    let agent = agent.to_str().unwrap();
    let push = |asked: &str| -> String {
        let out = me.ok(
            &[
                "push",
                "--harness",
                "command",
                "--agent-cmd",
                agent,
                "--prompt",
                "go",
                "--max-history-commits",
                asked,
            ],
            local.path(),
        );
        out.lines().next().unwrap().trim().to_owned()
    };
    let show = |run: &str| -> serde_json::Value {
        serde_json::from_str(&me.ok(&["show", run, "--json"], local.path())).unwrap()
    };

    let refused = push("60000");
    me.ok(
        &["worker", "--once", "--no-sandbox", "--agent-cmd", agent],
        local.path(),
    );
    let record = show(&refused);
    assert_eq!(record["history_limits"]["max_commits"], 60000);
    assert_eq!(record["state"], "failed");
    assert_eq!(
        record["sessions"][0]["failure"],
        format!(
            "run {refused} asks for a carried commit limit (max_history_commits) of 60000, above the 50000 this host allows (raise its ceiling to run it)"
        )
    );

    let allowed = push("60000");
    me.ok(
        &[
            "worker",
            "--once",
            "--no-sandbox",
            "--agent-cmd",
            agent,
            "--history-ceiling-commits",
            "60000",
        ],
        local.path(),
    );
    assert_eq!(show(&allowed)["state"], "ended");
}
