//! `handoff apply` and the commits a snapshot carries: a snapshot of a
//! checkout with a local commit not yet pushed, applied to a fresh clone
//! of the remote, brings the commit in (HEAD moves onto it, its files are
//! there) and applies the uncommitted changes on top; a target whose HEAD
//! has diverged, or is unrelated, or has a local change in the way, exits 3
//! naming the commits it lacks, and HEAD stays where it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use handoff_dev::GitRepo;
use serde_json::{Value, json};
use support::{Machine, stderr, stdout};

/// A bare `origin` with one pushed commit; a clone of it with a second
/// commit not pushed and an uncommitted change; the snapshot of that clone.
struct Setup {
    me: Machine,
    _store: tempfile::TempDir,
    origin: GitRepo,
    local: GitRepo,
    id: String,
}

fn setup() -> Setup {
    let store = tempfile::tempdir().unwrap();
    let me = Machine::new(store.path());
    let origin = GitRepo::bare();
    let local = GitRepo::clone_from(&origin);
    local
        .write("README.md", "# app\n")
        .write("src/main.rs", "fn main() {}\n");
    local.commit_all("base");
    local.git(&["push", "-q", "origin", "main"]);
    local
        .write("feature.txt", "the unpushed commit's file\n")
        .write("README.md", "# app\n\nwith a feature\n");
    local.commit_all("local: feature");
    local.write("w.txt", "uncommitted\n");
    let id = me.ok(&["snapshot"], local.path()).trim().to_owned();
    Setup {
        me,
        _store: store,
        origin,
        local,
        id,
    }
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

#[test]
fn a_fresh_clone_gets_the_unpushed_commit_and_the_changes_on_top() {
    let s = setup();
    let clone = GitRepo::clone_from(&s.origin);
    let pushed = clone.head();

    let dry =
        s.me.handoff(&["apply", &s.id, "--dry-run", "--json"], clone.path());
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert_eq!(json_of(&dry)["commits"], json!([s.local.head()]));
    assert_eq!(clone.head(), pushed, "a dry run moves nothing");
    assert!(!clone.path().join("feature.txt").exists());
    // Nor does it write the carried objects into the clone's repository.
    let has_commit = handoff_dev::git_command(clone.path())
        .args(["cat-file", "-e", &s.local.head()])
        .status()
        .unwrap()
        .success();
    assert!(!has_commit, "a dry run wrote the carried commit");

    let out = s.me.handoff(&["apply", &s.id, "--json"], clone.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_of(&out),
        json!({
            "applied": ["w.txt"],
            "already_applied": [],
            "merged": [],
            "skipped": [],
            "failed": [],
            "warnings": [],
            "commits": [s.local.head()],
        })
    );
    // The commit is in the clone's history, on its branch, with its files;
    // only the uncommitted change is left uncommitted.
    assert_eq!(clone.head(), s.local.head());
    assert_eq!(clone.subjects("main"), ["local: feature", "base"]);
    assert_eq!(clone.read("feature.txt"), "the unpushed commit's file\n");
    assert_eq!(clone.read("README.md"), "# app\n\nwith a feature\n");
    assert_eq!(clone.read("w.txt"), "uncommitted\n");
    assert_eq!(clone.status(), s.local.status());
    clone.assert_fsck_clean();

    // Again: nothing left to bring in.
    let again = s.me.handoff(&["apply", &s.id, "--json"], clone.path());
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(json_of(&again)["already_applied"], json!(["w.txt"]));
    assert_eq!(json_of(&again).get("commits"), None);
}

#[test]
fn a_detached_head_moves_forward_and_the_branch_stays() {
    let s = setup();
    let clone = GitRepo::clone_from(&s.origin);
    clone.git(&["checkout", "-q", "--detach"]);
    let out = s.me.handoff(&["apply", &s.id], clone.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "applied 1, already applied 0, merged 0, skipped 0, failed 0\nmoved HEAD onto 1 carried commit(s):\n  commit  {}\n",
            s.local.head()
        )
    );
    assert_eq!(clone.head(), s.local.head());
    assert_eq!(
        clone.git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "HEAD",
        "still detached"
    );
    assert_eq!(clone.git(&["rev-parse", "main"]).trim(), s.origin.head());
}

#[test]
fn a_diverged_clone_exits_3_naming_the_missing_commit() {
    let s = setup();
    let clone = GitRepo::clone_from(&s.origin);
    clone.write("other.txt", "their own work\n");
    let theirs = clone.commit_all("their own commit");

    let out = s.me.handoff(&["apply", &s.id, "--json"], clone.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        json_of(&out),
        json!({
            "applied": ["w.txt"],
            "already_applied": [],
            "merged": [],
            "skipped": [],
            "failed": [],
            "warnings": [{"kind": "base_mismatch", "expected": s.local.head(), "actual": theirs}],
            "missing_commits": [s.local.head()],
        })
    );
    assert_eq!(clone.head(), theirs, "HEAD stays");
    assert!(!clone.path().join("feature.txt").exists());

    let human = s.me.handoff(&["apply", &s.id], clone.path());
    assert_eq!(human.status.code(), Some(3), "{}", stderr(&human));
    assert!(
        stdout(&human).contains(&format!("  MISSING commit {}: ", s.local.head())),
        "{}",
        stdout(&human)
    );
}

#[test]
fn an_unrelated_repository_exits_3_naming_the_missing_commit() {
    let s = setup();
    let unrelated = GitRepo::init();
    unrelated.write("x.txt", "x\n");
    let head = unrelated.commit_all("unrelated");
    let out = s.me.handoff(&["apply", &s.id, "--json"], unrelated.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["missing_commits"], json!([s.local.head()]));
    assert_eq!(unrelated.head(), head);
}

#[test]
fn a_local_change_in_the_way_leaves_head_and_the_file_alone() {
    let s = setup();
    let clone = GitRepo::clone_from(&s.origin);
    let pushed = clone.head();
    clone.write("README.md", "# app, edited here\n");
    let out = s.me.handoff(&["apply", &s.id, "--json"], clone.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["missing_commits"], json!([s.local.head()]));
    assert_eq!(report["failed"][0]["path"], "README.md", "{report}");
    assert_eq!(report["failed"][0]["kind"], "conflict", "{report}");
    assert_eq!(clone.head(), pushed);
    assert_eq!(clone.read("README.md"), "# app, edited here\n");
    assert!(!clone.path().join("feature.txt").exists());
}
