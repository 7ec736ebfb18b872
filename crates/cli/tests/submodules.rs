//! A submodule's work travels through the cloud and back: `push --wait`
//! carries the submodule's unpushed commit, edit and untracked file to the
//! cloud session (which initialises the submodule in its checkout), the
//! agent sees and changes them, and `continue-locally --apply` in a fresh
//! clone where the submodule is not initialised brings all of it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use handoff_dev::GitRepo;
use support::{Machine, script};

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = handoff_dev::git_command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn submodule_work_goes_to_the_cloud_and_comes_back_with_the_agents() {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    // The submodule's remote, with one commit.
    let lib_origin = GitRepo::bare();
    let lib = GitRepo::clone_from(&lib_origin);
    lib.write("lib.txt", "lib\n");
    lib.commit_all("lib base");
    lib.git(&["push", "-q", "origin", "main"]);
    // The superproject's remote and a clone with the submodule added.
    let origin = GitRepo::bare();
    let local = GitRepo::clone_from(&origin);
    local.write("a.txt", "a\n");
    local.commit_all("base");
    git_in(
        local.path(),
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            lib_origin.path().to_str().unwrap(),
            "sub",
        ],
    );
    local.commit_all("add the submodule");
    local.git(&["push", "-q", "origin", "main"]);

    // Work in the submodule: a commit its remote lacks, an edit, a new file.
    let sub = local.path().join("sub");
    std::fs::write(sub.join("lib.txt"), "lib, committed\n").unwrap();
    git_in(&sub, &["commit", "-qam", "lib: local work"]);
    std::fs::write(sub.join("lib.txt"), "lib, committed\nedited\n").unwrap();
    std::fs::write(sub.join("new.txt"), "untracked\n").unwrap();

    let bin = tempfile::tempdir().unwrap();
    let agent = script(
        bin.path(),
        "agent.sh",
        "cat > /dev/null; echo \"saw $(cat sub/new.txt) $(git -C sub log -1 --format=%s) $(tail -1 sub/lib.txt)\"; echo 'agent line' >> sub/lib.txt; echo agent > sub/agent.txt",
    );
    let run = me.push_and_wait(agent.to_str().unwrap(), "go", local.path());
    let conversation = me.transcript(&run, local.path());
    assert!(
        conversation.contains("saw untracked lib: local work edited"),
        "the cloud session saw the submodule's work: {conversation}"
    );

    // A fresh clone, its submodule not initialised, gets everything back.
    let fresh = GitRepo::clone_from(&origin);
    let out = me.handoff(
        &["continue-locally", &run, "--apply", "--json"],
        fresh.path(),
    );
    assert!(
        out.status.success(),
        "{}{}",
        support::stdout(&out),
        support::stderr(&out)
    );
    let there = fresh.path().join("sub");
    assert_eq!(
        git_in(&there, &["log", "-1", "--format=%s"]).trim(),
        "lib: local work"
    );
    assert_eq!(
        std::fs::read_to_string(there.join("lib.txt")).unwrap(),
        "lib, committed\nedited\nagent line\n"
    );
    assert_eq!(
        std::fs::read_to_string(there.join("new.txt")).unwrap(),
        "untracked\n"
    );
    assert_eq!(
        std::fs::read_to_string(there.join("agent.txt")).unwrap(),
        "agent\n"
    );
}
