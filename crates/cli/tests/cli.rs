//! The `handoff` binary end to end, on real git repositories: output,
//! JSON shapes, exit codes and error messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use handoff_dev::scenario::{base_repo, make_changes};
use handoff_dev::{GitRepo, assert_same_tree, git_command};
use handoff_store::Digest;
use serde_json::{Value, json};

struct Env {
    store: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            store: tempfile::tempdir().unwrap(),
        }
    }

    /// `handoff --store <store> ARGS` in `dir`.
    fn command(&self, args: &[&str], dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.current_dir(dir)
            .env_remove("HANDOFF_STORE")
            .arg("--store")
            .arg(self.store.path())
            .args(args);
        cmd
    }

    fn handoff(&self, args: &[&str], dir: &Path) -> Output {
        self.command(args, dir).output().unwrap()
    }

    /// Runs with stdout a pipe whose reader has gone away, as in
    /// `handoff … | head -n 0`.
    fn handoff_into_closed_pipe(&self, args: &[&str], dir: &Path) -> Output {
        let mut child = self
            .command(args, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    }

    /// Where the store keeps the blob named `id`.
    fn stored_at(&self, id: &str) -> Option<handoff_store::StoredAt> {
        stored_at(self.store.path(), id)
    }
}

/// Where the store at `store` keeps blob `id` (loose, or in a pack).
fn stored_at(store: &Path, id: &str) -> Option<handoff_store::StoredAt> {
    handoff_store::FsStore::new(store)
        .stored_at(&id.parse().unwrap())
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Asserts success with nothing on stderr (no progress, no warnings).
#[track_caller]
fn quiet_success(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    assert_eq!(stderr(out), "");
}

fn snapshot_id(env: &Env, repo: &GitRepo) -> String {
    let out = env.handoff(&["snapshot"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// The report's lists sorted, so they compare whole whatever order the
/// entries were processed in.
fn sorted_report(mut report: Value) -> Value {
    for key in ["applied", "already_applied", "merged"] {
        report[key]
            .as_array_mut()
            .unwrap()
            .sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    report
}

/// The paths in a `snapshot --json` object, in manifest (path) order.
fn snapshot_paths(snapshot: &Value) -> Vec<Value> {
    snapshot["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].clone())
        .collect()
}

/// What `make_changes` leaves uncommitted, as `snapshot --json` lists it.
fn make_changes_files() -> Value {
    json!([
        {"path": "README.md", "status": "modified"},
        {"path": "bin.dat", "status": "modified"},
        {"path": "café/naïve ñ.txt", "status": "untracked"},
        {"path": "dir_to_file", "status": "untracked"},
        {"path": "dir_to_file/inner.txt", "status": "deleted"},
        {"path": "empty_base.txt", "status": "modified"},
        {"path": "empty_new.txt", "status": "untracked"},
        {"path": "link", "status": "modified"},
        {"path": "new name.txt", "status": "renamed", "from": "old name.txt"},
        {"path": "new.bin", "status": "untracked"},
        {"path": "new_link", "status": "untracked"},
        {"path": "notes/untracked.md", "status": "untracked"},
        {"path": "old name.txt", "status": "deleted"},
        {"path": "script.sh", "status": "mode_changed"},
        {"path": "src/lib.rs", "status": "modified"},
        {"path": "src/new_staged.rs", "status": "added"},
        {"path": "src/partial.rs", "status": "modified"},
        {"path": "src/staged.rs", "status": "modified"},
        {"path": "to_delete.txt", "status": "deleted"},
        {"path": "to_delete_staged.txt", "status": "deleted"},
        {"path": "type/file_to_link", "status": "type_changed"},
        {"path": "type/link_to_file", "status": "type_changed"},
        {"path": "was_exec.sh", "status": "mode_changed"},
        {"path": "with space/a file.txt", "status": "untracked"},
    ])
}

#[test]
fn snapshot_prints_an_id_and_json_describes_it() {
    let env = Env::new();
    let a = base_repo();
    make_changes(&a);
    let out = env.handoff(&["snapshot"], a.path());
    quiet_success(&out);
    let digest: Digest = stdout(&out).trim_end().parse().unwrap();
    assert_eq!(
        stdout(&out),
        format!("{digest}\n"),
        "the id and nothing else"
    );
    assert!(
        env.stored_at(&digest.to_string()).is_some(),
        "the manifest is stored"
    );

    // Any directory inside the working tree names it, from anywhere.
    let elsewhere = tempfile::tempdir().unwrap();
    let src = a.path().join("src");
    let out = env.handoff(
        &["snapshot", "--json", "--repo", src.to_str().unwrap()],
        elsewhere.path(),
    );
    quiet_success(&out);
    // The working tree's results: every file's size, a symlink's target.
    let state = a.tree_state();
    let files = make_changes_files();
    let bytes: usize = files
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| state.get(f["path"].as_str().unwrap()))
        .map(|(_, content)| content.len())
        .sum();
    assert_eq!(
        json(&out),
        json!({
            "id": digest.to_string(),
            "base": {"commit": a.head(), "branch": "main", "remote": null},
            "files": files,
            "bytes": bytes,
            "new_bytes": 0,
            "skipped": [],
            "excluded": [],
            // No remote: the whole history travels, every object of it.
            "history": {
                "commits": 1,
                "objects": a.git(&["rev-list", "--objects", "--all"]).lines().count(),
                "bytes": object_bytes(&a),
                "boundary": [],
            },
        }),
        "same state, same id; everything was already stored"
    );
}

/// The total size of every object reachable in `repo`, as git counts it.
fn object_bytes(repo: &GitRepo) -> u64 {
    let ids = repo.git(&["rev-list", "--objects", "--all"]);
    let ids: Vec<&str> = ids.lines().filter_map(|l| l.split(' ').next()).collect();
    ids.iter()
        .map(|id| {
            repo.git(&["cat-file", "-s", id])
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

#[test]
fn a_clone_records_its_remote() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    b.write("x.txt", "x\n");
    let out = env.handoff(&["snapshot", "--json"], b.path());
    quiet_success(&out);
    assert_eq!(
        json(&out)["base"],
        json!({"commit": a.head(), "branch": "main", "remote": a.path().to_str().unwrap()})
    );
}

#[test]
fn paths_that_cannot_be_captured_are_warnings() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let a = base_repo();
    a.write("kept.txt", "kept\n");
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.txt");
    std::fs::write(a.path().join(name), "not captured\n").unwrap();

    let out = env.handoff(&["snapshot"], a.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "handoff: warning: not captured: bad\u{fffd}.txt: path is not valid UTF-8\n"
    );
    let id = stdout(&out);

    let out = env.handoff(&["snapshot", "--json"], a.path());
    quiet_success(&out);
    let v = json(&out);
    assert_eq!(format!("{}\n", v["id"].as_str().unwrap()), id);
    assert_eq!(
        v["files"],
        json!([{"path": "kept.txt", "status": "untracked"}])
    );
    assert_eq!(
        v["skipped"],
        json!([{"path": "bad\u{fffd}.txt", "reason": "path is not valid UTF-8"}])
    );
}

#[test]
fn apply_reports_and_is_idempotent() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let snapshot = json(&env.handoff(&["snapshot", "--json"], a.path()));
    let id = snapshot["id"].as_str().unwrap();
    let paths = snapshot_paths(&snapshot);
    let elsewhere = tempfile::tempdir().unwrap();
    let target = b.path().to_str().unwrap();

    let out = env.handoff(&["apply", id, "--repo", target, "--json"], elsewhere.path());
    quiet_success(&out);
    assert_eq!(
        sorted_report(json(&out)),
        json!({
            "applied": paths,
            "already_applied": [],
            "merged": [],
            "skipped": [],
            "failed": [],
            "warnings": [],
        })
    );
    let mut expected = a.tree_state();
    expected.retain(|p, _| !p.starts_with("ignored/") && !p.ends_with(".log"));
    assert_same_tree(&b.tree_state(), &expected);
    assert_eq!(b.status(), a.status(), "staged changes are staged again");

    let out = env.handoff(&["apply", id, "--json"], b.path());
    quiet_success(&out);
    assert_eq!(
        sorted_report(json(&out)),
        json!({
            "applied": [],
            "already_applied": paths,
            "merged": [],
            "skipped": [],
            "failed": [],
            "warnings": [],
        })
    );

    let human = env.handoff(&["apply", id], b.path());
    assert_eq!(human.status.code(), Some(0), "{}", stderr(&human));
    assert_eq!(
        stdout(&human),
        format!(
            "applied 0, already applied {}, merged 0, skipped 0, failed 0\n",
            paths.len()
        )
    );
    assert_same_tree(&b.tree_state(), &expected);
}

#[test]
fn conflicts_exit_3_and_leave_the_file_alone() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    a.write("README.md", "# snapshot title\n\nline\n");
    a.write("src/lib.rs", "// from the snapshot\n");
    let id = snapshot_id(&env, &a);
    b.write("README.md", "# local title\n\nline\n");
    let reason = "changed in this checkout; 1 overlapping edit(s) conflict with the snapshot";

    let out = env.handoff(&["apply", &id, "--json"], b.path());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        json(&out),
        json!({
            "applied": ["src/lib.rs"],
            "already_applied": [],
            "merged": [],
            "skipped": [],
            "failed": [{"path": "README.md", "kind": "conflict", "reason": reason}],
            "warnings": [],
        })
    );
    assert_eq!(b.read("README.md"), "# local title\n\nline\n");
    assert_eq!(b.read("src/lib.rs"), "// from the snapshot\n");

    let human = env.handoff(&["apply", &id], b.path());
    assert_eq!(human.status.code(), Some(3), "{}", stderr(&human));
    assert_eq!(
        stdout(&human),
        format!(
            "applied 0, already applied 1, merged 0, skipped 0, failed 1\n  FAILED  README.md: {reason}\n"
        )
    );

    // The exit code still tells, even when nobody reads the report.
    let unread = env.handoff_into_closed_pipe(&["apply", &id], b.path());
    assert_eq!(unread.status.code(), Some(3), "{}", stderr(&unread));
    assert_eq!(stderr(&unread), "");
}

#[test]
fn apply_reports_merges_skips_and_warnings() {
    let env = Env::new();
    let a = GitRepo::init();
    a.write("notes.md", "one\ntwo\nthree\nfour\nfive\n");
    a.commit_all("base");
    let b = GitRepo::clone_from(&a);
    a.write("notes.md", "ONE\ntwo\nthree\nfour\nfive\n");
    let inner = GitRepo::init();
    inner.write("x.txt", "x\n");
    let inner_head = inner.commit_all("inner");
    let status = git_command(a.path())
        .args(["clone", "-q"])
        .arg(inner.path())
        .arg("nested")
        .status()
        .unwrap();
    assert!(status.success());
    let id = snapshot_id(&env, &a);
    // The target moved on a commit and edits another part of the file.
    b.write("other.txt", "other\n");
    let b_head = b.commit_all("local work");
    b.write("notes.md", "one\ntwo\nthree\nfour\nFIVE\n");

    let skipped = format!(
        "nested repository at {inner_head}: not carried by this snapshot (not initialised where it was taken, or not a submodule); clone it separately"
    );
    let warning = format!(
        "target HEAD is {b_head} but the snapshot was taken on {}",
        a.head()
    );
    let out = env.handoff(&["apply", &id, "--json"], b.path());
    quiet_success(&out);
    assert_eq!(
        json(&out),
        json!({
            "applied": [],
            "already_applied": [],
            "merged": ["notes.md"],
            "skipped": [{"path": "nested", "kind": "local_changes", "reason": skipped}],
            "failed": [],
            "warnings": [{"kind": "base_mismatch", "expected": a.head(), "actual": b_head}],
        })
    );
    assert_eq!(b.read("notes.md"), "ONE\ntwo\nthree\nfour\nFIVE\n");

    // Applying again merges again: the file still differs from the
    // snapshot, and the merge is a no-op.
    let human = env.handoff(&["apply", &id], b.path());
    assert_eq!(human.status.code(), Some(0), "{}", stderr(&human));
    assert_eq!(
        stdout(&human),
        format!(
            "applied 0, already applied 0, merged 1, skipped 1, failed 0\n  merged  notes.md\n  skipped nested: {skipped}\n  warning: {warning}\n"
        )
    );
    assert_eq!(b.read("notes.md"), "ONE\ntwo\nthree\nfour\nFIVE\n");
}

#[test]
fn dry_run_changes_nothing() {
    let env = Env::new();
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let snapshot = json(&env.handoff(&["snapshot", "--json"], a.path()));
    let id = snapshot["id"].as_str().unwrap();
    let before = (b.tree_state(), b.status());

    let out = env.handoff(&["apply", id, "--dry-run"], b.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "would apply {}, already applied 0, merged 0, skipped 0, failed 0\n",
            snapshot_paths(&snapshot).len()
        )
    );
    let dry = env.handoff(&["apply", id, "--dry-run", "--json"], b.path());
    quiet_success(&dry);
    assert_eq!((b.tree_state(), b.status()), before);

    let real = env.handoff(&["apply", id, "--json"], b.path());
    quiet_success(&real);
    assert_eq!(json(&dry), json(&real), "the dry run foretold the apply");
}

#[test]
fn diff_applies_with_git_apply() {
    let env = Env::new();
    let a = GitRepo::init();
    a.write("edit.txt", "one\ntwo\n").write("gone.txt", "bye\n");
    a.commit_all("base");
    let b = GitRepo::clone_from(&a);
    a.write("edit.txt", "one\n2\n")
        .write("new.txt", "new\n")
        .remove("gone.txt");
    let id = snapshot_id(&env, &a);
    let out = env.handoff(&["diff", &id], a.path());
    quiet_success(&out);
    let patch = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(patch.path(), &out.stdout).unwrap();
    let applied = git_command(b.path())
        .arg("apply")
        .arg(patch.path())
        .status()
        .unwrap();
    assert!(applied.success(), "{}", stdout(&out));
    assert_same_tree(&b.tree_state(), &a.tree_state());
}

/// Issue 21's report: `*.txt text eol=crlf`, a file modified and one added
/// in a fresh clone. Applying to another fresh clone exits 0 with both
/// applied, and `handoff diff` holds git's committed bytes: `git apply`
/// of it to a third clone gives the same working tree.
#[test]
fn a_crlf_checkout_applies_cleanly_and_diffs_as_git_commits() {
    let env = Env::new();
    let origin = GitRepo::init();
    origin
        .write(".gitattributes", "*.txt text eol=crlf\n")
        .write("a.txt", "one\ntwo\n");
    origin.commit_all("base");
    let (a, b, c) = (
        GitRepo::clone_from(&origin),
        GitRepo::clone_from(&origin),
        GitRepo::clone_from(&origin),
    );
    a.write("a.txt", "one\r\ntwo, edited\r\n")
        .write("new.txt", "new\r\n");
    let id = snapshot_id(&env, &a);
    let out = env.handoff(&["apply", &id, "--json"], b.path());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        sorted_report(json(&out)),
        json!({
            "applied": ["a.txt", "new.txt"],
            "already_applied": [],
            "merged": [],
            "skipped": [],
            "failed": [],
            "warnings": [],
        })
    );
    let out = env.handoff(&["diff", &id], a.path());
    quiet_success(&out);
    assert!(!stdout(&out).contains('\r'), "{}", stdout(&out));
    let patch = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(patch.path(), &out.stdout).unwrap();
    let applied = git_command(c.path())
        .arg("apply")
        .arg(patch.path())
        .status()
        .unwrap();
    assert!(applied.success(), "{}", stdout(&out));
    assert_same_tree(&b.tree_state(), &c.tree_state());
    assert_same_tree(&b.tree_state(), &a.tree_state());
}

#[test]
fn diff_names_what_it_leaves_out() {
    let env = Env::new();
    let a = GitRepo::init();
    a.write("a.txt", "a\n");
    a.commit_all("base");
    let b = GitRepo::clone_from(&a);
    a.write("a.txt", "A\n");
    let inner = GitRepo::init();
    inner.commit_all("inner");
    let status = git_command(a.path())
        .args(["clone", "-q"])
        .arg(inner.path())
        .arg("nested")
        .status()
        .unwrap();
    assert!(status.success());
    let id = snapshot_id(&env, &a);

    let out = env.handoff(&["diff", &id], a.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "handoff: not in the diff: nested: nested repository\n"
    );
    let applied = git_command(b.path())
        .args(["apply", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut git| {
            std::io::Write::write_all(&mut git.stdin.take().unwrap(), &out.stdout)?;
            git.wait()
        })
        .unwrap();
    assert!(applied.success());
    assert_eq!(b.read("a.txt"), "A\n");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let env = Env::new();
    let a = GitRepo::init();
    a.commit_all("base");
    // Far more than a pipe buffers, so the writer must meet the closed end.
    let big: String = (0..200_000).map(|n| format!("{n}\n")).collect();
    a.write("big.txt", big);
    let id = snapshot_id(&env, &a);
    let out = env.handoff_into_closed_pipe(&["diff", &id], a.path());
    quiet_success(&out);
}

#[test]
fn errors_exit_1_with_one_line() {
    let env = Env::new();
    let store = env.store.path().display();
    let one_line = |out: &Output| -> String {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
        assert_eq!(stdout(out), "", "nothing on stdout");
        let err = stderr(out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.ends_with('\n'), "{err}");
        err
    };

    let a = base_repo();
    a.write("x.txt", "x\n");
    let id = snapshot_id(&env, &a);
    let not_repo = tempfile::tempdir().unwrap();
    let err = one_line(&env.handoff(&["snapshot"], not_repo.path()));
    assert!(
        err.starts_with("handoff: . is not a git repository with a working tree: "),
        "{err}"
    );
    let dir = not_repo.path().to_str().unwrap();
    let err = one_line(&env.handoff(&["apply", &id, "--repo", dir], a.path()));
    let prefix = format!("handoff: {dir} is not a git repository with a working tree: ");
    assert!(err.starts_with(&prefix), "{err}");

    let unknown = format!("sha256:{}", "ab".repeat(32));
    for command in ["apply", "diff"] {
        assert_eq!(
            one_line(&env.handoff(&[command, &unknown], a.path())),
            format!("handoff: snapshot {unknown} not found in store {store}\n"),
            "{command}"
        );
    }
    assert_eq!(
        one_line(&env.handoff(&["apply", "sha256:nope"], a.path())),
        "handoff: \"sha256:nope\" is not a snapshot id: invalid digest \"sha256:nope\": \
         expected 64 hex digits after `sha256:`\n"
    );
    assert_eq!(
        one_line(&env.handoff(&["diff", "sha256:nope"], a.path())),
        "handoff: \"sha256:nope\" is not a snapshot id: invalid digest \"sha256:nope\": \
         expected 64 hex digits after `sha256:`\n"
    );

    // A flipped byte in the stored manifest is reported, naming the digest
    // and where it is.
    let at = env.stored_at(&id).unwrap();
    let mut bytes = std::fs::read(&at.path).unwrap();
    bytes[at.range.start as usize + 10] ^= 1;
    std::fs::write(&at.path, &bytes).unwrap();
    let pack = at
        .path
        .strip_prefix(env.store.path().join("packs"))
        .unwrap();
    let pack = pack.to_string_lossy().replace('/', "");
    let corrupted = format!(
        "handoff: blob {id} in store {store} is corrupted: the {} bytes at offset {} of pack sha256:{pack} do not hash to it\n",
        at.range.end - at.range.start,
        at.range.start,
    );
    for command in ["apply", "diff"] {
        assert_eq!(
            one_line(&env.handoff(&[command, &id], a.path())),
            corrupted,
            "{command}"
        );
    }
}

#[test]
fn store_comes_from_the_environment_without_the_flag() {
    let from_env = tempfile::tempdir().unwrap();
    let a = base_repo();
    a.write("x.txt", "x\n");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(a.path())
            .env("HANDOFF_STORE", from_env.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["snapshot"]);
    quiet_success(&out);
    let id = stdout(&out).trim().to_owned();
    assert!(stored_at(from_env.path(), &id).is_some());

    // The flag wins over the environment.
    let from_flag = tempfile::tempdir().unwrap();
    a.write("y.txt", "y\n");
    let out = run(&["--store", from_flag.path().to_str().unwrap(), "snapshot"]);
    quiet_success(&out);
    let id = stdout(&out).trim().to_owned();
    assert!(stored_at(from_flag.path(), &id).is_some());
    assert!(stored_at(from_env.path(), &id).is_none());
}

#[test]
fn usage_errors_exit_2() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .env_remove("HANDOFF_STORE")
            .args(args)
            .output()
            .unwrap()
    };
    for args in [&["apply"][..], &["snapshot", "--bogus"], &["frobnicate"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(
            stderr(&out).starts_with("error: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = run(&["--version"]);
    quiet_success(&out);
    assert_eq!(
        stdout(&out),
        format!("handoff {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["--help"]);
    quiet_success(&out);
    for command in ["snapshot", "apply", "diff"] {
        assert!(
            stdout(&out).contains(&format!("\n  {command} ")),
            "{command}"
        );
    }
}

#[test]
fn an_s3_store_needs_only_the_standard_environment() {
    let Some(server) = handoff_dev::s3::MotoServer::start() else {
        return;
    };
    server.create_bucket("handoff-cli");
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let run = |args: &[&str], dir: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.current_dir(dir)
            .env("HANDOFF_STORE", "s3://handoff-cli/team/store")
            .args(args);
        for (key, value) in server.env() {
            cmd.env(key, value);
        }
        cmd.output().unwrap()
    };
    let out = run(&["snapshot"], a.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let out = run(&["apply", &id, "--json"], b.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["failed"], serde_json::json!([]));
    let mut expected = a.tree_state();
    expected.retain(|p, _| !p.starts_with("ignored/") && !p.ends_with(".log"));
    assert_same_tree(&b.tree_state(), &expected);
}

fn run_id(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout(out)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn the_cloud_tour_push_follow_up_continue_locally() {
    let env = Env::new();
    let local = base_repo();
    local.write("src/lib.rs", "pub fn two() -> u32 {\n    2\n}\n");
    local.write("notes/plan.md", "plan\n");
    let run = run_id(&env.handoff(
        &[
            "push",
            "--harness",
            "scripted",
            "--prompt",
            "tests please",
            "--wait",
        ],
        local.path(),
    ));
    let shown = json(&env.handoff(&["show", &run, "--json"], local.path()));
    assert_eq!(shown["state"], "ended");
    assert_eq!(
        shown["sessions"][0]["apply"][0]["report"]["failed"],
        serde_json::json!([])
    );

    let runs = json(&env.handoff(&["runs", "--json"], local.path()));
    assert_eq!(runs[0]["id"], run.as_str());

    let out = env.handoff(
        &[
            "follow-up",
            &run,
            "--prompt",
            "and docs",
            "--wait",
            "--json",
        ],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["record"]["sessions"], 2);

    let before = (local.tree_state(), local.status(), local.head());
    let out = env.handoff(
        &["continue-locally", &run, "--harness", "scripted", "--json"],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        (local.tree_state(), local.status(), local.head()),
        before,
        "the local tree is untouched"
    );
    let back = json(&out);
    let branch = back["branches"][0]["branch"].as_str().unwrap();
    assert_eq!(branch, format!("refs/heads/handoff/{run}"));
    let file = back["conversation_file"].as_str().unwrap();
    assert!(
        Path::new(file).starts_with(local.path().join(".git")),
        "{file}"
    );
    let conversation = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        conversation.lines().count(),
        1 + 4,
        "header and two turns of two messages"
    );

    let diff = env.handoff(&["diff", &run], local.path());
    assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
    assert!(stdout(&diff).contains("+pub fn two()"));
}

#[test]
fn push_refuses_likely_secrets_unless_excluded_or_allowed() {
    let env = Env::new();
    let local = base_repo();
    local.write(".env", "TOKEN=abc\n");
    let key = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
    local.write("src/config.rs", format!("const K: &str = \"{key}\";\n"));
    let out = env.handoff(&["push", "--harness", "scripted"], local.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("likely secret: .env: an environment file (.env) (dotenv-file)"),
        "{err}"
    );
    assert!(
        err.contains("likely secret: src/config.rs:1: an AWS access key id"),
        "{err}"
    );
    assert!(!err.contains(&key), "the secret itself is never printed");
    assert_eq!(
        json(&env.handoff(&["runs", "--json"], local.path())),
        serde_json::json!([]),
        "nothing was created"
    );
    let excluded = env.handoff(
        &[
            "push",
            "--harness",
            "scripted",
            "--exclude",
            ".env",
            "--exclude",
            "src/config.rs",
        ],
        local.path(),
    );
    assert_eq!(excluded.status.code(), Some(0), "{}", stderr(&excluded));
    let allowed = env.handoff(
        &["push", "--harness", "scripted", "--allow-secrets"],
        local.path(),
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
}

#[test]
fn a_push_refused_for_an_attached_secret_uploads_nothing() {
    let env = Env::new();
    let local = base_repo();
    let files = tempfile::tempdir().unwrap();
    let key = format!("AKIA{}", "Q3EGRDBSAK7XFZMN");
    let attachment = files.path().join("notes.txt");
    std::fs::write(&attachment, format!("the key is {key}\n")).unwrap();
    let out = env.handoff(
        &[
            "push",
            "--harness",
            "scripted",
            "--attach",
            attachment.to_str().unwrap(),
        ],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("likely secret: attachment:notes.txt:1: an AWS access key id"),
        "{err}"
    );
    assert!(!err.contains(&key));
    let mut stored = Vec::new();
    if let Ok(entries) = std::fs::read_dir(env.store.path()) {
        for entry in entries.flatten() {
            stored.push(entry.file_name());
        }
    }
    let blobs = env.store.path().join("blobs");
    assert!(
        !blobs.exists() || std::fs::read_dir(&blobs).unwrap().next().is_none(),
        "nothing was uploaded: {stored:?}"
    );
}

#[test]
fn busy_runs_refuse_follow_ups_and_the_worker_runs_them() {
    let env = Env::new();
    let local = base_repo();
    local.write("x.txt", "x\n");
    let run = run_id(&env.handoff(&["push", "--harness", "scripted"], local.path()));
    let out = env.handoff(&["follow-up", &run, "--prompt", "x"], local.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is Queued; wait for its session to end"),
        "{}",
        stderr(&out)
    );
    let worker = env.handoff(&["worker", "--once"], local.path());
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));
    assert_eq!(
        json(&env.handoff(&["show", &run, "--json"], local.path()))["state"],
        "ended"
    );
}

#[test]
fn the_command_harness_runs_the_agent_cli_in_the_restored_workspace() {
    let env = Env::new();
    let local = base_repo();
    local.write("restored.txt", "carried over\n");
    let bin = tempfile::tempdir().unwrap();
    let agent = bin.path().join("agent.sh");
    std::fs::write(
        &agent,
        "#!/bin/sh\ncat restored.txt\necho edited-by-agent > agent.txt\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = agent.display().to_string();
    let run = run_id(&env.handoff(
        &[
            "push",
            "--harness",
            "command",
            "--agent-cmd",
            &cmd,
            "--prompt",
            "go",
            "--wait",
        ],
        local.path(),
    ));
    let out = env.handoff(
        &[
            "continue-locally",
            &run,
            "--harness",
            "scripted",
            "--apply",
            "--json",
        ],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(local.read("agent.txt"), "edited-by-agent\n");
    let file = json(&out)["conversation_file"].as_str().unwrap().to_owned();
    assert!(
        std::fs::read_to_string(file)
            .unwrap()
            .contains("carried over")
    );

    // A follow-up is queued without the command (the worker names it)...
    let out = env.handoff(
        &["follow-up", &run, "--prompt", "again", "--json"],
        local.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let queued = json(&out);
    assert_eq!(queued["record"]["state"], "queued");
    assert_eq!(queued["record"]["sessions"], 2);
    // ...and run by a worker that has it.
    let out = env.handoff(&["worker", "--once", "--agent-cmd", &cmd], local.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = json(&env.handoff(&["show", &run, "--json"], local.path()));
    assert_eq!(shown["state"], "ended", "{shown}");
}

#[test]
fn claude_code_sessions_import_export_and_push() {
    let env = Env::new();
    let repo = base_repo();
    repo.write("src/lib.rs", "// edited in a Claude Code session\n");
    let home = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../claude-code/tests/fixtures/short.jsonl");

    // import a native file, export it as a session for this repository
    let out = env.handoff(
        &[
            "import",
            "--harness",
            "claude-code",
            fixture.to_str().unwrap(),
            "--json",
        ],
        repo.path(),
    );
    let imported = json(&out);
    let id = imported["conversation"].as_str().unwrap().to_owned();
    assert_eq!(
        id, "3f6c2a1e-9b4d-4e7a-8c15-2d9e0f1a2b3c",
        "the session id is the conversation id"
    );
    let home_arg = home.path().to_str().unwrap();
    let cwd = repo.path().to_str().unwrap();
    let out = env.handoff(
        &[
            "export",
            &id,
            "--harness",
            "claude-code",
            "--cwd",
            cwd,
            "--home",
            home_arg,
            "--json",
        ],
        repo.path(),
    );
    let exported = json(&out);
    let canonical = std::fs::canonicalize(repo.path()).unwrap();
    let folder = handoff_claude_code::paths::project_folder(canonical.to_str().unwrap());
    assert_eq!(
        exported["file"].as_str().unwrap(),
        home.path()
            .join("projects")
            .join(folder)
            .join(format!("{id}.jsonl"))
            .to_str()
            .unwrap()
    );

    // import it back by "latest" for the directory
    let again = json(&env.handoff(
        &[
            "import",
            "--harness",
            "claude-code",
            "--session",
            "latest",
            "--cwd",
            cwd,
            "--home",
            home_arg,
            "--json",
        ],
        repo.path(),
    ));
    assert_eq!(again["conversation"], id.as_str());
    assert_eq!(again["messages"], imported["messages"]);

    // push the local Claude Code session to the cloud
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(repo.path())
        .env("CLAUDE_CONFIG_DIR", home.path())
        .arg("--store")
        .arg(env.store.path())
        .args([
            "push",
            "--harness",
            "claude-code",
            "--session",
            "latest",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pushed = json(&out);
    assert_eq!(pushed["record"]["harness"], "claude-code");
    assert_ne!(
        pushed["record"]["conversation"],
        id.as_str(),
        "the cloud run continues a fork"
    );
}

#[test]
fn codex_sessions_import_export_and_push() {
    let env = Env::new();
    let repo = base_repo();
    repo.write("src/lib.rs", "// edited in a Codex session\n");
    let home = tempfile::tempdir().unwrap();
    let rollout =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../codex/tests/fixtures/rollout.jsonl");
    let imported = json(&env.handoff(
        &[
            "import",
            "--harness",
            "codex",
            rollout.to_str().unwrap(),
            "--json",
        ],
        repo.path(),
    ));
    let id = imported["conversation"].as_str().unwrap().to_owned();
    let cwd = repo.path().to_str().unwrap();
    let home_arg = home.path().to_str().unwrap();
    let exported = json(&env.handoff(
        &[
            "export",
            &id,
            "--harness",
            "codex",
            "--cwd",
            cwd,
            "--home",
            home_arg,
            "--json",
        ],
        repo.path(),
    ));
    let file = exported["file"].as_str().unwrap();
    assert!(
        file.contains("/sessions/") && file.ends_with(&format!("-{id}.jsonl")),
        "{file}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(repo.path())
        .env("CODEX_HOME", home.path())
        .arg("--store")
        .arg(env.store.path())
        .args([
            "push",
            "--harness",
            "codex",
            "--session",
            "latest",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["record"]["harness"], "codex");
}

/// Fake agent CLIs, found first on PATH, resuming like the real ones.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
id="$3"; for arg; do prompt="$arg"; done
prompt=$(printf '%s' "$prompt" | awk 'BEGIN { ORS = "\\n" } { print }')
folder=$(printf '%s' "$PWD" | sed 's/[^a-zA-Z0-9]/-/g')
file="$CLAUDE_CONFIG_DIR/projects/$folder/$id.jsonl"
[ -f "$file" ] || { echo "No conversation found with session ID: $id" >&2; exit 1; }
printf '{"type":"user","message":{"role":"user","content":"%s"}}\n{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"claude was here"}]}}\n' "$prompt" >> "$file"
echo '{"type":"result","subtype":"success","result":"ok"}'
"#;

const FAKE_CODEX: &str = r#"#!/bin/sh
while [ "$1" != resume ]; do shift; done; id="$2"
prompt=$(printf '%s' "$3" | awk 'BEGIN { ORS = "\\n" } { print }')
file=$(find "$CODEX_HOME/sessions" -name "rollout-*-$id.jsonl" | head -n 1)
[ -n "$file" ] || { echo "no rollout for $id" >&2; exit 1; }
printf '{"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"codex was here: %s"}]}}\n' "$prompt" >> "$file"
"#;

#[test]
fn agent_clis_found_on_path_run_the_cloud_sessions() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let bin = tempfile::tempdir().unwrap();
    for (name, script) in [("claude", FAKE_CLAUDE), ("codex", FAKE_CODEX)] {
        let path = bin.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let homes = tempfile::tempdir().unwrap();
    let repo = base_repo();
    repo.write("x.txt", "x\n");
    for harness in ["claude-code", "codex"] {
        let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(repo.path())
            .env("PATH", &path)
            .env("CLAUDE_CONFIG_DIR", homes.path().join("claude"))
            .env("CODEX_HOME", homes.path().join("codex"))
            .arg("--store")
            .arg(env.store.path())
            .args([
                "push",
                "--harness",
                harness,
                "--prompt",
                "go",
                "--wait",
                "--json",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{harness}: {}", stderr(&out));
        let pushed = json(&out);
        assert_eq!(pushed["record"]["state"], "ended", "{harness}");

        // cloud → local, without naming the agent: the run's own, its
        // session installed where it resumes.
        let run = pushed["run"].as_str().unwrap();
        let back = Command::new(env!("CARGO_BIN_EXE_handoff"))
            .current_dir(repo.path())
            .env("CLAUDE_CONFIG_DIR", homes.path().join("claude"))
            .env("CODEX_HOME", homes.path().join("codex"))
            .arg("--store")
            .arg(env.store.path())
            .args(["continue-locally", run, "--json"])
            .output()
            .unwrap();
        assert_eq!(back.status.code(), Some(0), "{harness}: {}", stderr(&back));
        let native = json(&back)["native_session"].clone();
        let program = if harness == "codex" {
            "codex"
        } else {
            "claude"
        };
        assert!(
            native["resume"]
                .as_str()
                .unwrap_or_default()
                .starts_with(program),
            "{harness}: {native}"
        );
        assert!(
            Path::new(native["file"].as_str().unwrap()).is_file(),
            "{harness}: {native}"
        );
        assert!(
            native["resume"].as_str().unwrap().contains("resume"),
            "{native}"
        );
    }
}
