//! git itself moving uncommitted work from one clone to another — the
//! reference that snapshot and apply are compared with: everything the
//! source holds (untracked files included) diffed against `HEAD` in git's
//! committed form, then `git apply` to the target's working tree, which
//! converts as `git checkout` would for the target's own attributes.

use std::io::Write as _;
use std::process::Stdio;

use crate::{GitRepo, git_command};

/// `git diff --cached --binary HEAD` after `git add -A` into a scratch
/// index read from `HEAD`: every change, untracked files included, in
/// git's committed form; `source`'s own index is untouched. The scratch
/// index holds no stat data, so every file is hashed: a file rewritten in
/// place, with its size, within the second of its checkout cannot pass
/// for unchanged.
pub fn patch(source: &GitRepo) -> Vec<u8> {
    let scratch = tempfile::tempdir().expect("create a temporary directory");
    let index = scratch.path().join("index");
    let git = |args: &[&str]| {
        let out = git_command(source.path())
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    git(&["read-tree", "HEAD"]);
    git(&["add", "-A"]);
    git(&["diff", "--cached", "--binary", "HEAD"])
}

/// `git apply --binary` of `patch` to `target`'s working tree.
pub fn apply(target: &GitRepo, patch: &[u8]) {
    let mut child = git_command(target.path())
        .args(["apply", "--binary", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git apply");
    child
        .stdin
        .take()
        .expect("git's standard input")
        .write_all(patch)
        .expect("write to git");
    let out = child.wait_with_output().expect("wait for git");
    assert!(
        out.status.success(),
        "git apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Moves `source`'s uncommitted work to `target` the way git would.
pub fn carry(source: &GitRepo, target: &GitRepo) {
    apply(target, &patch(source));
}

/// `git diff --binary` of `repo`'s working tree against its index, in
/// git's committed form.
pub fn diff(repo: &GitRepo) -> String {
    repo.git(&["diff", "--binary"])
}

/// The object id `git hash-object` gives the working-tree file `path`
/// (through `repo`'s attributes and configuration).
pub fn hash(repo: &GitRepo, path: &str) -> String {
    repo.git(&["hash-object", "--", path]).trim().to_owned()
}

/// Moves `source`'s uncommitted work to a clean `target` the way
/// `git checkout` would write it: everything `source` holds is committed
/// (in a scratch index, onto `HEAD`, under `refs/handoff-oracle/carry`),
/// fetched into `target`, checked out there by a two-tree
/// `git read-tree -m -u`, and the index reset to `HEAD`, so changes are
/// unstaged and new files untracked. Unlike a patch, this never trips over
/// content `git apply` cannot match (a lone CR at the end of a CRLF
/// file).
pub fn checkout_carry(source: &GitRepo, target: &GitRepo) {
    let scratch = tempfile::tempdir().expect("create a temporary directory");
    let index = scratch.path().join("index");
    let git = |args: &[&str]| {
        let out = git_command(source.path())
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["read-tree", "HEAD"]);
    git(&["add", "-A"]);
    let tree = git(&["write-tree"]);
    let commit = git(&["commit-tree", &tree, "-p", "HEAD", "-m", "carry"]);
    git(&["update-ref", "refs/handoff-oracle/carry", &commit]);
    let from = source.path().to_str().expect("a UTF-8 path");
    target.git(&["fetch", "-q", from, "refs/handoff-oracle/carry"]);
    target.git(&["read-tree", "-m", "-u", "HEAD", "FETCH_HEAD"]);
    target.git(&["reset", "-q"]);
}
