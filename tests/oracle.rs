//! git as the oracle: a differential property test of snapshot → apply.
//!
//! Each case is a random repository state, built with git commands on a
//! clone of a bare origin: attributes (`eol`, `text`, `binary`, `ident`, a
//! filter driver, `core.autocrlf` on either side), symlinks, modes,
//! case-only renames, file↔directory swaps, intent-to-add, skip-worktree
//! and sparse entries, unmerged paths, non-UTF-8 and control-character
//! names, local commits, on a normal clone, a shallow clone or an unborn
//! `HEAD`. The state is snapshotted and applied to one fresh clone
//! (handoff's library API); git reproduces the same state in a second
//! fresh clone ([`reproduce`]: the source's `HEAD` fetched and
//! fast-forwarded to, what `git stash create` plus the untracked files
//! would hold checked out with the target's own attributes by
//! `git read-tree -m -u`, the source's index tree read into the index, the
//! intent-to-add entries added again). Then `HEAD`, the index, the
//! committed form of the working tree (`git add -A` into a scratch index)
//! and the working tree's bytes and modes must be equal, path by path, or
//! the path is named in the snapshot's `skipped` or the apply's
//! `skipped`/`failed` with a reason. What git itself cannot reproduce
//! (unmerged paths) must be named.
//!
//! A second property ([`SubCase`]) does the same for a repository with a
//! submodule: commits in it its remote lacks, commits pushed, edits,
//! staged and untracked files in it, the superproject's own edits and
//! commits recording the gitlink, applied to a clone where the submodule
//! is initialised or not. git reproduces it level by level
//! (`git clone --recurse-submodules`, then [`reproduce`] of the
//! superproject, then of the submodule), and both levels are compared.
//!
//! To add a kind of state: a [`Step`] variant, its weight in [`step`], and
//! its git commands in [`Step::build`]; the comparison is generic.
//! `PROPTEST_CASES` raises the number of cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use handoff_dev::{GitRepo, git_command};
use handoff_engine::environment::GitClone;
use handoff_store::MemoryStore;
use handoff_workspace::{ApplyOptions, ApplyReport, Snapshot, SnapshotOptions, apply, snapshot};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// The base commit's files; each extension gets its own attributes.
const FILES: &[&str] = &[
    "a.txt",
    "b.md",
    "c.bat",
    "d/e.cfg",
    "f.dat",
    "g.sh",
    "dir/one.txt",
    "dir/two.md",
];

/// The directory [`Step::DirToFile`] replaces and sparse checkouts keep.
const DIR: &str = "dir";

/// Attribute lines for an extension.
const ATTRIBUTES: &[&str] = &[
    "",
    "text",
    "-text",
    "binary",
    "text eol=crlf",
    "text eol=lf",
    "text=auto",
    "ident",
    "text eol=crlf ident",
    "filter=rot13",
    "filter=rot13 text eol=crlf",
];

const AUTOCRLF: &[&str] = &["false", "true", "input"];

/// A reversible filter driver: what it commits is not what the working
/// tree holds.
const ROT13: &str = "tr A-Za-z N-ZA-Mn-za-m";

/// Names git accepts that handoff's paths may not represent.
const ODD_NAMES: &[&[u8]] = &[
    b"latin1-\xe9.txt",
    b"bad-\xff\xfe.txt",
    b"tab\there.txt",
    b"bell\x07.txt",
    b"new\nline.txt",
    b"esc\x1b[31m.txt",
];

/// Lines ending in LF, CRLF, a lone CR or nothing, some with an `$Id$`
/// keyword or a NUL (binary to git's auto-detection).
fn content() -> impl Strategy<Value = Vec<u8>> {
    let line = (0u8..4, 0u8..4, 0u8..8);
    prop::collection::vec(line, 0..5).prop_map(|lines| {
        let mut out = Vec::new();
        for (text, ending, extra) in lines {
            out.extend_from_slice(format!("Line {text}").as_bytes());
            match extra {
                0 => out.push(0),
                1 => out.extend_from_slice(b" $Id$"),
                _ => {}
            }
            out.extend_from_slice(match ending {
                0 => b"\n".as_slice(),
                1 => b"\r\n",
                2 => b"\r",
                _ => b"",
            });
        }
        out
    })
}

/// Where the source's history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A full clone of an origin with two commits.
    Clone,
    /// `git clone --depth 1` of an origin with three commits.
    Shallow,
    /// A clone of an empty origin: `HEAD` is unborn, the base files are
    /// untracked.
    Unborn,
}

/// One step of building the source's state; a step that does not fit the
/// state it meets (deleting what is not there) does nothing.
#[derive(Debug, Clone)]
enum Step {
    /// Writes a file (a modification, or an addition where nothing is).
    Write(usize, Vec<u8>),
    /// Removes a file.
    Delete(usize),
    /// `git add -A -- PATH`.
    Stage(usize),
    /// Flips the executable bit.
    Chmod(usize),
    /// Replaces the path with a symlink to another file.
    Symlink(usize, usize),
    /// Renames a file to its name in upper case (`git mv` when tracked).
    CaseRename(usize),
    /// Replaces a file with a directory holding a file.
    FileToDir(usize, Vec<u8>),
    /// Replaces [`DIR`] with a file.
    DirToFile(Vec<u8>),
    /// A new file, `git add -N`.
    IntentToAdd(usize, Vec<u8>),
    /// `git update-index --skip-worktree`, then the file removed or
    /// rewritten (git ignores both).
    SkipWorktree(usize, Option<Vec<u8>>),
    /// `git sparse-checkout set DIR` (cone mode), with a sparse index or
    /// not.
    Sparse(bool),
    /// Stages 1–3 of a conflict in the index and markers in the file.
    Unmerged(usize, Vec<u8>),
    /// A file under one of [`ODD_NAMES`], staged or not.
    OddName(usize, bool),
    /// `git add -A && git commit`: a local commit the remote lacks.
    Commit,
}

fn step() -> impl Strategy<Value = Step> {
    let file = 0..FILES.len();
    prop_oneof![
        6 => (file.clone(), content()).prop_map(|(i, c)| Step::Write(i, c)),
        2 => file.clone().prop_map(Step::Delete),
        3 => file.clone().prop_map(Step::Stage),
        2 => file.clone().prop_map(Step::Chmod),
        2 => (file.clone(), file.clone()).prop_map(|(a, b)| Step::Symlink(a, b)),
        2 => file.clone().prop_map(Step::CaseRename),
        1 => (file.clone(), content()).prop_map(|(i, c)| Step::FileToDir(i, c)),
        1 => content().prop_map(Step::DirToFile),
        2 => (file.clone(), content()).prop_map(|(i, c)| Step::IntentToAdd(i, c)),
        2 => (file.clone(), prop::option::of(content())).prop_map(|(i, c)| Step::SkipWorktree(i, c)),
        1 => any::<bool>().prop_map(Step::Sparse),
        1 => (file.clone(), content()).prop_map(|(i, c)| Step::Unmerged(i, c)),
        2 => (0..ODD_NAMES.len(), any::<bool>()).prop_map(|(i, s)| Step::OddName(i, s)),
        2 => Just(Step::Commit),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    shape: Shape,
    /// Index into [`ATTRIBUTES`] per file of [`FILES`].
    attributes: Vec<usize>,
    base: Vec<Vec<u8>>,
    source_autocrlf: usize,
    target_autocrlf: usize,
    /// Whether the targets configure the filter driver too.
    target_filter: bool,
    steps: Vec<Step>,
}

fn case() -> impl Strategy<Value = Case> {
    let n = FILES.len();
    (
        prop_oneof![4 => Just(Shape::Clone), 2 => Just(Shape::Shallow), 1 => Just(Shape::Unborn)],
        prop::collection::vec(prop_oneof![3 => Just(0usize), 2 => 1..ATTRIBUTES.len()], n),
        prop::collection::vec(content(), n),
        0..AUTOCRLF.len(),
        0..AUTOCRLF.len(),
        prop::bool::weighted(0.8),
        prop::collection::vec(step(), 1..10),
    )
        .prop_map(
            |(shape, attributes, base, source_autocrlf, target_autocrlf, target_filter, steps)| {
                Case {
                    shape,
                    attributes,
                    base,
                    source_autocrlf,
                    target_autocrlf,
                    target_filter,
                    steps,
                }
            },
        )
}

/// Runs git in `dir`, returning its standard output as bytes.
fn git(dir: &Path, args: &[&OsStr]) -> Vec<u8> {
    git_with(dir, args, None, None)
}

fn git_with(dir: &Path, args: &[&OsStr], index: Option<&Path>, input: Option<&[u8]>) -> Vec<u8> {
    let mut cmd = git_command(dir);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let mut child = cmd.spawn().expect("run git");
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().expect("wait for git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`git`] with text arguments.
fn run(dir: &Path, args: &[&str]) -> Vec<u8> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    git(dir, &args)
}

/// Runs git where it may refuse (a path outside the sparse checkout, a
/// rename onto something): a refusal leaves that state unbuilt.
fn attempt(dir: &Path, args: &[&str]) -> bool {
    git_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .success()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap().trim().to_owned()
}

fn head(dir: &Path) -> Option<String> {
    let out = git_command(dir)
        .args(["rev-parse", "-q", "--verify", "HEAD"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

fn attributes_file(case: &Case) -> String {
    let mut text = String::new();
    for (file, &attr) in FILES.iter().zip(&case.attributes) {
        if !ATTRIBUTES[attr].is_empty() {
            let ext = file.rsplit('.').next().unwrap();
            text.push_str(&format!("*.{ext} {}\n", ATTRIBUTES[attr]));
        }
    }
    text
}

fn config(autocrlf: usize, filter: bool) -> Vec<(&'static str, &'static str)> {
    let mut config = vec![("core.autocrlf", AUTOCRLF[autocrlf])];
    if filter {
        config.push(("filter.rot13.clean", ROT13));
        config.push(("filter.rot13.smudge", ROT13));
    }
    config
}

/// `git clone` of `origin` (by `file://` URL, so `--depth` works) with
/// `config` in place before the checkout.
fn clone(origin: &GitRepo, config: &[(&str, &str)], depth: Option<u32>) -> GitRepo {
    let dir = tempfile::Builder::new()
        .prefix("handoff-oracle-")
        .tempdir()
        .unwrap();
    let mut cmd = git_command(dir.path());
    cmd.args(["clone", "-q"]);
    if let Some(depth) = depth {
        cmd.arg(format!("--depth={depth}"));
    }
    for (key, value) in config {
        cmd.arg("-c").arg(format!("{key}={value}"));
    }
    let url = format!("file://{}", origin.path().display());
    let out = cmd.arg(url).arg(".").output().unwrap();
    assert!(
        out.status.success(),
        "git clone: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // GitRepo owns the directory from here on.
    GitRepo::adopt(dir)
}

/// Whether a file can be created at `rel`: nothing is there, and every
/// directory above it is a directory or absent.
fn can_create(dir: &Path, rel: &str) -> bool {
    let mut above = Path::new(rel);
    while let Some(parent) = above.parent() {
        if parent.as_os_str().is_empty() {
            break;
        }
        if std::fs::symlink_metadata(dir.join(parent)).is_ok_and(|m| !m.is_dir()) {
            return false;
        }
        above = parent;
    }
    !exists(dir, rel)
}

fn exists(dir: &Path, rel: &str) -> bool {
    std::fs::symlink_metadata(dir.join(rel)).is_ok()
}

fn is_file(dir: &Path, rel: &str) -> bool {
    std::fs::symlink_metadata(dir.join(rel)).is_ok_and(|m| m.is_file())
}

fn write(dir: &Path, rel: &str, data: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Removes what is at `rel` (a file, symlink or directory), and like git
/// the directories it leaves empty.
fn remove(dir: &Path, rel: &str) {
    let path = dir.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).unwrap(),
        Ok(_) => std::fs::remove_file(&path).unwrap(),
        Err(_) => return,
    }
    let mut parent = path;
    while parent.pop() && parent != dir {
        if std::fs::remove_dir(&parent).is_err() {
            break;
        }
    }
}

fn tracked(dir: &Path, rel: &str) -> bool {
    !run(dir, &["ls-files", "--", rel]).is_empty()
}

fn unmerged(dir: &Path) -> bool {
    !run(dir, &["ls-files", "-u"]).is_empty()
}

fn upper(rel: &str) -> String {
    let (parent, name) = rel.rsplit_once('/').map_or(("", rel), |(p, n)| (p, n));
    let name = name.to_uppercase();
    if parent.is_empty() {
        name
    } else {
        format!("{parent}/{name}")
    }
}

impl Step {
    /// Builds this step's state in `repo` with git commands (and plain
    /// file writes, as an editor would).
    fn build(&self, repo: &Path, commits: &mut u32) {
        match self {
            Step::Write(i, data) => {
                if can_create(repo, FILES[*i]) || is_file(repo, FILES[*i]) {
                    write(repo, FILES[*i], data);
                }
            }
            Step::Delete(i) => remove(repo, FILES[*i]),
            Step::Stage(i) => {
                if exists(repo, FILES[*i]) || tracked(repo, FILES[*i]) {
                    attempt(repo, &["add", "-A", "--", FILES[*i]]);
                }
            }
            Step::Chmod(i) => {
                if is_file(repo, FILES[*i]) {
                    use std::os::unix::fs::PermissionsExt as _;
                    let path = repo.join(FILES[*i]);
                    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                    let mode = if mode & 0o100 != 0 { 0o644 } else { 0o755 };
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                }
            }
            Step::Symlink(at, to) => {
                let (at, to) = (FILES[*at], FILES[*to]);
                if at != to && (is_file(repo, at) || can_create(repo, at)) {
                    remove(repo, at);
                    let path = repo.join(at);
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    let depth = at.matches('/').count();
                    let target = format!("{}{to}", "../".repeat(depth));
                    std::os::unix::fs::symlink(target, path).unwrap();
                }
            }
            Step::CaseRename(i) => {
                let (from, to) = (FILES[*i], upper(FILES[*i]));
                if is_file(repo, from) && !exists(repo, &to) {
                    if tracked(repo, from) {
                        attempt(repo, &["mv", "--", from, &to]);
                    } else {
                        std::fs::rename(repo.join(from), repo.join(&to)).unwrap();
                    }
                }
            }
            Step::FileToDir(i, data) => {
                if is_file(repo, FILES[*i]) {
                    remove(repo, FILES[*i]);
                    write(repo, &format!("{}/inner.txt", FILES[*i]), data);
                }
            }
            Step::DirToFile(data) => {
                if !is_file(repo, DIR) {
                    remove(repo, DIR);
                    write(repo, DIR, data);
                }
            }
            Step::IntentToAdd(i, data) => {
                let rel = format!("{}.new", FILES[*i]);
                if can_create(repo, &rel) {
                    write(repo, &rel, data);
                    attempt(repo, &["add", "-N", "--", &rel]);
                }
            }
            Step::SkipWorktree(i, data) => {
                let rel = FILES[*i];
                let staged = run(repo, &["ls-files", "-s", "--", rel]);
                // Only a stage-0 entry whose file is still a file.
                if staged
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count()
                    == 1
                    && is_file(repo, rel)
                {
                    run(repo, &["update-index", "--skip-worktree", "--", rel]);
                    match data {
                        Some(data) => write(repo, rel, data),
                        None => remove(repo, rel),
                    }
                }
            }
            Step::Sparse(sparse_index) => {
                if head(repo).is_some()
                    && !unmerged(repo)
                    && run(repo, &["status", "--porcelain"]).is_empty()
                {
                    let mut args = vec!["sparse-checkout", "set", "--cone"];
                    if *sparse_index {
                        args.push("--sparse-index");
                    }
                    args.push(DIR);
                    // Refused where DIR is now a file.
                    attempt(repo, &args);
                }
            }
            Step::Unmerged(i, data) => {
                let rel = FILES[*i];
                if !is_file(repo, rel) || !tracked(repo, rel) {
                    return;
                }
                let blob = |data: &[u8]| {
                    text(git_with(
                        repo,
                        &[
                            OsStr::new("hash-object"),
                            OsStr::new("-w"),
                            OsStr::new("--stdin"),
                        ],
                        None,
                        Some(data),
                    ))
                };
                let (ours, theirs) = (blob(b"ours\n"), blob(data));
                let base = blob(&std::fs::read(repo.join(rel)).unwrap_or_default());
                run(repo, &["update-index", "--force-remove", "--", rel]);
                let info = format!(
                    "100644 {base} 1\t{rel}\n100644 {ours} 2\t{rel}\n100644 {theirs} 3\t{rel}\n"
                );
                git_with(
                    repo,
                    &[OsStr::new("update-index"), OsStr::new("--index-info")],
                    None,
                    Some(info.as_bytes()),
                );
                let mut markers = b"<<<<<<< ours\nours\n=======\n".to_vec();
                markers.extend_from_slice(data);
                markers.extend_from_slice(b"\n>>>>>>> theirs\n");
                write(repo, rel, &markers);
            }
            Step::OddName(i, stage) => {
                let name = OsStr::from_bytes(ODD_NAMES[*i]);
                std::fs::write(repo.join(name), b"odd\n").unwrap();
                if *stage {
                    git_command(repo)
                        .arg("add")
                        .arg("--")
                        .arg(name)
                        .output()
                        .unwrap();
                }
            }
            Step::Commit => {
                if !unmerged(repo) && attempt(repo, &["add", "-A"]) {
                    *commits += 1;
                    run(
                        repo,
                        &[
                            "commit",
                            "-q",
                            "--allow-empty",
                            "-m",
                            &format!("local {commits}"),
                        ],
                    );
                }
            }
        }
    }
}

/// The origin, and the source built on a clone of it.
fn build(case: &Case) -> (GitRepo, GitRepo) {
    let origin = GitRepo::bare();
    let attributes = attributes_file(case);
    let source_config = config(case.source_autocrlf, true);
    if case.shape != Shape::Unborn {
        let seed = clone(&origin, &[], None);
        run(seed.path(), &["config", "core.autocrlf", "false"]);
        write(seed.path(), ".gitattributes", attributes.as_bytes());
        for (file, data) in FILES.iter().zip(&case.base) {
            write(seed.path(), file, data);
        }
        for (key, value) in &source_config[1..] {
            run(seed.path(), &["config", key, value]);
        }
        seed.commit_all("base");
        let commits = if case.shape == Shape::Shallow { 3 } else { 2 };
        for (n, file) in FILES.iter().enumerate().take(commits).skip(1) {
            write(seed.path(), file, format!("history {n}\n").as_bytes());
            seed.commit_all(&format!("history {n}"));
        }
        run(seed.path(), &["push", "-q", "origin", "main"]);
    }
    let depth = (case.shape == Shape::Shallow).then_some(1);
    let source = clone(&origin, &source_config, depth);
    if case.shape == Shape::Unborn {
        // No attributes file: one the snapshot adds would convert the
        // files applied with it in git's checkout (attributes read from
        // the tree checked out), and handoff converts by the target's
        // attributes as they were (a known difference, not yet fixed).
        for (file, data) in FILES.iter().zip(&case.base) {
            write(source.path(), file, data);
        }
    }
    let mut commits = 0;
    for step in &case.steps {
        step.build(source.path(), &mut commits);
    }
    (origin, source)
}

/// A scratch copy of `repo`'s index (or none), for git commands that must
/// not touch the real one.
fn scratch_index(repo: &Path, scratch: &Path, name: &str) -> PathBuf {
    let index = scratch.join(name);
    // Through git: a submodule's `.git` is a file naming its directory.
    let real = repo.join(text(run(repo, &["rev-parse", "--git-path", "index"])));
    if real.exists() {
        std::fs::copy(&real, &index).unwrap();
        // The copy keeps the index's time, so git's racy-entry check (a
        // file changed within the index's second) reads it as it reads the
        // real one.
        let modified = std::fs::metadata(&real).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&index)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }
    index
}

/// Stages everything the working tree holds into `index` as
/// `git stash create` plus the untracked files would: every path
/// `git diff-files` names (skip-worktree entries git kept are not among
/// them) and every untracked file, through `git update-index`, which,
/// unlike `git add -A`, does not pass over paths outside a sparse
/// checkout's patterns that the working tree holds anyway.
fn stage_worktree(repo: &Path, index: &Path) {
    let paths = git_with(
        repo,
        &["diff-files", "--name-only", "-z"].map(OsStr::new),
        Some(index),
        None,
    );
    // A tracked path that is now a directory (its files are untracked,
    // listed below) leaves the index: `update-index` cannot add it.
    let (dirs, files): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        nul_split(&paths).into_iter().partition(|p| {
            repo.join(OsStr::from_bytes(p)).is_dir()
                && !repo.join(OsStr::from_bytes(p)).is_symlink()
        });
    if !dirs.is_empty() {
        git_with(
            repo,
            &["update-index", "--force-remove", "-z", "--stdin"].map(OsStr::new),
            Some(index),
            Some(&dirs.join(&0u8)),
        );
    }
    let mut paths: Vec<u8> = files
        .into_iter()
        .flat_map(|mut p| {
            p.push(0);
            p
        })
        .collect();
    paths.extend(git_with(
        repo,
        &["ls-files", "-o", "--exclude-standard", "-z"].map(OsStr::new),
        Some(index),
        None,
    ));
    git_with(
        repo,
        &[
            "update-index",
            "--add",
            "--remove",
            "--replace",
            "-z",
            "--stdin",
        ]
        .map(OsStr::new),
        Some(index),
        Some(&paths),
    );
}

/// Paths of `git ls-files -z`-style output (NUL-separated).
fn nul_split(out: &[u8]) -> Vec<Vec<u8>> {
    out.split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The source's state as git carries it, reproduced in `target` (a fresh
/// clone with the target's configuration): `HEAD` fast-forwarded to the
/// source's, what `git stash create` plus the untracked files hold (the
/// working tree `git add -A` would commit, in a scratch copy of the index
/// so skip-worktree entries stay what the index says) checked out by
/// `git read-tree -m -u` through the target's attributes, the source's
/// index tree read into the index, and intent-to-add entries added again.
/// Unmerged paths cannot be reproduced: their index entries are taken
/// from `HEAD` (the comparison excuses them only when handoff names them).
/// Returns the intent-to-add entries git could not add again (their file
/// is gone): the source's own index entries are what to compare with.
fn reproduce(source: &Path, target: &Path) -> Vec<Vec<u8>> {
    let scratch = tempfile::tempdir().unwrap();
    let source_url = source.as_os_str();
    let source_head = head(source);
    if let Some(commit) = &source_head
        && head(target).as_ref() != Some(commit)
    {
        git(
            target,
            &[
                OsStr::new("fetch"),
                OsStr::new("-q"),
                // The superproject's fetch alone: the submodule's is
                // reproduced on its own level.
                OsStr::new("--no-recurse-submodules"),
                source_url,
                OsStr::new("HEAD"),
            ],
        );
        if head(target).is_some() {
            run(target, &["merge", "-q", "--ff-only", "FETCH_HEAD"]);
        } else {
            run(target, &["reset", "-q", "--hard", "FETCH_HEAD"]);
        }
    }
    let parent: Vec<&str> = match &source_head {
        Some(commit) => vec!["-p", commit],
        None => vec![],
    };
    let commit_of = |index: &Path, message: &str| {
        let tree = text(git_with(
            source,
            &[OsStr::new("write-tree")],
            Some(index),
            None,
        ));
        let mut args = vec!["commit-tree", &tree];
        args.extend(&parent);
        args.extend(["-m", message]);
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        text(git_with(source, &args, Some(index), None))
    };
    // The working tree, in committed form.
    let work = scratch_index(source, scratch.path(), "work");
    stage_worktree(source, &work);
    let work = commit_of(&work, "work");
    // The index, conflicts resolved to HEAD's side.
    let staged = scratch_index(source, scratch.path(), "staged");
    let conflicts = nul_split(&git_with(
        source,
        &[
            OsStr::new("diff"),
            OsStr::new("--name-only"),
            OsStr::new("--diff-filter=U"),
            OsStr::new("-z"),
        ],
        Some(&staged),
        None,
    ));
    for path in &conflicts {
        let path = OsStr::from_bytes(path);
        git_with(
            source,
            &[
                OsStr::new("update-index"),
                OsStr::new("--force-remove"),
                OsStr::new("--"),
                path,
            ],
            Some(&staged),
            None,
        );
        if source_head.is_some() {
            let exists = git_command(source)
                .arg("cat-file")
                .arg("-e")
                .arg({
                    let mut spec = b"HEAD:".to_vec();
                    spec.extend_from_slice(path.as_bytes());
                    std::ffi::OsString::from_vec(spec)
                })
                .status()
                .unwrap()
                .success();
            if exists {
                git_with(
                    source,
                    &[
                        OsStr::new("reset"),
                        OsStr::new("-q"),
                        OsStr::new("HEAD"),
                        OsStr::new("--"),
                        path,
                    ],
                    Some(&staged),
                    None,
                );
            }
        }
    }
    let staged = commit_of(&staged, "index");
    // Intent-to-add entries: in the index at stage 0, but not in the tree
    // it writes (git writes no object for them).
    let in_tree: BTreeSet<Vec<u8>> = nul_split(&run(
        source,
        &["ls-tree", "-r", "-z", "--name-only", "--full-tree", &staged],
    ))
    .into_iter()
    .collect();
    let intents: Vec<Vec<u8>> = ls_files(source, None)
        .into_iter()
        .filter(|(path, infos)| infos.iter().all(|i| i.ends_with(" 0")) && !in_tree.contains(path))
        .map(|(path, _)| path)
        .collect();
    for (name, commit) in [("work", &work), ("index", &staged)] {
        git(
            target,
            &[
                OsStr::new("fetch"),
                OsStr::new("-q"),
                // The superproject's fetch alone: the submodule's is
                // reproduced on its own level.
                OsStr::new("--no-recurse-submodules"),
                source_url,
                OsStr::new(&format!("+{commit}:refs/oracle/{name}")),
            ],
        );
    }
    match head(target) {
        Some(_) => run(
            target,
            &["read-tree", "-m", "-u", "HEAD", "refs/oracle/work"],
        ),
        None => run(target, &["read-tree", "-m", "-u", "refs/oracle/work"]),
    };
    run(target, &["read-tree", "refs/oracle/index"]);
    run(target, &["update-index", "-q", "--refresh"]);
    // `git add -N` needs the file: an intent whose file the working tree
    // no longer holds (its directory became a file) cannot be added again.
    let mut unreproduced = Vec::new();
    for path in intents {
        let added = git_command(target)
            .args(["add", "-N", "--"])
            .arg(OsStr::from_bytes(&path))
            .output()
            .unwrap()
            .status
            .success();
        if !added {
            unreproduced.push(path);
        }
    }
    unreproduced
}

/// What a checkout holds, per path (bytes, as git names them).
#[derive(Debug, PartialEq, Eq)]
struct State {
    head: Option<String>,
    /// `git ls-files -s`: mode, object id and stage per path and stage.
    index: BTreeMap<Vec<u8>, Vec<String>>,
    /// The working tree's committed form (`git add -A` into a scratch
    /// index): mode and object id per path.
    committed: BTreeMap<Vec<u8>, String>,
    /// The working tree: mode and bytes (a link's target) per path.
    files: BTreeMap<Vec<u8>, (u32, Vec<u8>)>,
}

fn ls_files(repo: &Path, index: Option<&Path>) -> BTreeMap<Vec<u8>, Vec<String>> {
    let out = git_with(
        repo,
        &[OsStr::new("ls-files"), OsStr::new("-s"), OsStr::new("-z")],
        index,
        None,
    );
    let mut entries: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for record in nul_split(&out) {
        let tab = record.iter().position(|&b| b == b'\t').unwrap();
        let info = String::from_utf8(record[..tab].to_vec()).unwrap();
        entries
            .entry(record[tab + 1..].to_vec())
            .or_default()
            .push(info);
    }
    entries
}

fn state(repo: &Path) -> State {
    let scratch = tempfile::tempdir().unwrap();
    let index = scratch_index(repo, scratch.path(), "index");
    stage_worktree(repo, &index);
    let committed = ls_files(repo, Some(&index))
        .into_iter()
        .map(|(path, infos)| (path, infos.join(" ")))
        .collect();
    State {
        head: head(repo),
        index: ls_files(repo, None),
        committed,
        files: files(repo),
    }
}

fn files(root: &Path) -> BTreeMap<Vec<u8>, (u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            // The repository's own `.git` and a submodule's (a directory
            // or a gitfile, however it was cloned).
            if path.file_name() == Some(OsStr::new(".git")) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, (0o120000, target.as_os_str().as_bytes().to_vec()));
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o100755
                } else {
                    0o100644
                };
                out.insert(rel, (mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Every path handoff named as not carried or not applied, with the
/// reason (which must say something).
fn named(snap: &Snapshot, report: &ApplyReport) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for s in &snap.skipped {
        assert!(!s.reason.is_empty(), "{s:?}");
        named.insert(s.path.clone());
    }
    for f in report.skipped.iter().chain(&report.failed) {
        assert!(!f.reason.is_empty(), "{f:?}");
        named.insert(f.path.clone());
    }
    named
}

/// Whether a difference at `path` is excused by a named path: the path
/// itself, a directory above it, or a path below it (a file replaced by a
/// directory differs at both).
fn excused(named: &BTreeSet<String>, path: &[u8]) -> bool {
    let path = String::from_utf8_lossy(path);
    named.iter().any(|n| {
        *n == path
            || path
                .strip_prefix(n.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
            || n.strip_prefix(path.as_ref())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn differences<V: PartialEq + std::fmt::Debug>(
    what: &str,
    ours: &BTreeMap<Vec<u8>, V>,
    theirs: &BTreeMap<Vec<u8>, V>,
    named: &BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let paths: BTreeSet<&Vec<u8>> = ours.keys().chain(theirs.keys()).collect();
    for path in paths {
        let (a, b) = (ours.get(path), theirs.get(path));
        if a != b && !excused(named, path) {
            out.push(format!(
                "{what} {:?}: handoff {a:?}, git {b:?}",
                String::from_utf8_lossy(path)
            ));
        }
    }
}

fn check(case: &Case) {
    let (origin, source) = build(case);
    let target_config = config(case.target_autocrlf, case.target_filter);
    let ours = clone(&origin, &target_config, None);
    let theirs = clone(&origin, &target_config, None);

    let store = MemoryStore::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let snap = rt
        .block_on(snapshot(source.path(), &store, &SnapshotOptions::default()))
        .unwrap_or_else(|e| panic!("snapshot: {e:?}"));
    let report = rt
        .block_on(apply(
            ours.path(),
            &store,
            &snap.id,
            &ApplyOptions::default(),
        ))
        .unwrap_or_else(|e| panic!("apply: {e:?}"));
    let unreproduced = reproduce(source.path(), theirs.path());

    let named = named(&snap, &report);
    // What git cannot reproduce must be named.
    for path in nul_split(&run(
        source.path(),
        &["diff", "--name-only", "--diff-filter=U", "-z"],
    )) {
        assert!(
            excused(&named, &path),
            "unmerged {:?} is not named: {snap:?} {report:?}",
            String::from_utf8_lossy(&path)
        );
    }
    let (a, mut b) = (state(ours.path()), state(theirs.path()));
    let source_index = ls_files(source.path(), None);
    for path in unreproduced {
        b.index.insert(path.clone(), source_index[&path].clone());
    }
    let mut diffs = Vec::new();
    if a.head != b.head {
        assert!(
            !report.missing_commits.is_empty(),
            "HEAD: handoff {:?}, git {:?}, and no missing commit is named: {report:?}",
            a.head,
            b.head
        );
    } else {
        differences("index", &a.index, &b.index, &named, &mut diffs);
        differences("committed", &a.committed, &b.committed, &named, &mut diffs);
        differences("file", &a.files, &b.files, &named, &mut diffs);
    }
    assert!(
        diffs.is_empty(),
        "handoff and git disagree:\n{}\nsnapshot skipped {:?}\nreport {report:?}",
        diffs.join("\n"),
        snap.skipped
    );
}

/// The submodule's files, at `lib/` in the superproject.
const SUB_FILES: &[&str] = &["lib.txt", "src/mod.rs", "data.bin"];

/// Where the superproject keeps its submodule.
const SUB: &str = "lib";

/// One step of building a source with a submodule.
#[derive(Debug, Clone)]
enum SubStep {
    /// Writes a file of the submodule.
    Write(usize, Vec<u8>),
    /// Removes a file of the submodule.
    Delete(usize),
    /// A new file in the submodule, untracked.
    Untracked(Vec<u8>),
    /// `git add -A` in the submodule.
    Stage,
    /// A commit in the submodule that its remote lacks.
    Commit,
    /// A commit in the submodule, pushed to its remote.
    Pushed,
    /// The superproject's own file written.
    Outer(Vec<u8>),
    /// `git add -A` in the superproject (the gitlink staged).
    OuterStage,
    /// `git add -A && git commit` in the superproject: the moved gitlink
    /// committed, a commit the superproject's remote lacks.
    OuterCommit,
}

fn sub_step() -> impl Strategy<Value = SubStep> {
    let file = 0..SUB_FILES.len();
    prop_oneof![
        4 => (file.clone(), content()).prop_map(|(i, c)| SubStep::Write(i, c)),
        1 => file.prop_map(SubStep::Delete),
        2 => content().prop_map(SubStep::Untracked),
        1 => Just(SubStep::Stage),
        3 => Just(SubStep::Commit),
        1 => Just(SubStep::Pushed),
        2 => content().prop_map(SubStep::Outer),
        1 => Just(SubStep::OuterStage),
        2 => Just(SubStep::OuterCommit),
    ]
}

/// A superproject with the submodule [`SUB`] built by `steps`, applied to a
/// clone where the submodule is `initialised` or not.
#[derive(Debug, Clone)]
struct SubCase {
    base: Vec<Vec<u8>>,
    initialised: bool,
    steps: Vec<SubStep>,
}

fn sub_case() -> impl Strategy<Value = SubCase> {
    (
        prop::collection::vec(content(), SUB_FILES.len()),
        any::<bool>(),
        prop::collection::vec(sub_step(), 1..10),
    )
        .prop_map(|(base, initialised, steps)| SubCase {
            base,
            initialised,
            steps,
        })
}

/// `git clone` of `origin`, its submodules initialised too when
/// `recurse`.
fn clone_super(origin: &GitRepo, recurse: bool) -> GitRepo {
    let dir = tempfile::Builder::new()
        .prefix("handoff-oracle-")
        .tempdir()
        .unwrap();
    let mut args = vec!["-c", "protocol.file.allow=always", "clone", "-q"];
    if recurse {
        args.push("--recurse-submodules");
    }
    let url = origin.path().to_str().unwrap().to_owned();
    args.extend([url.as_str(), "."]);
    run(dir.path(), &args);
    GitRepo::adopt(dir)
}

/// The submodule's origin, the superproject's origin (recording the
/// submodule at its base), and the source built by the case's steps.
fn build_sub(case: &SubCase) -> (GitRepo, GitRepo, GitRepo) {
    let lib_origin = GitRepo::bare();
    let seed = clone(&lib_origin, &[], None);
    for (file, data) in SUB_FILES.iter().zip(&case.base) {
        write(seed.path(), file, data);
    }
    seed.commit_all("lib base");
    run(seed.path(), &["push", "-q", "origin", "HEAD:main"]);

    let origin = GitRepo::bare();
    let seed = clone(&origin, &[], None);
    write(seed.path(), "top.txt", b"top\n");
    let url = lib_origin.path().to_str().unwrap();
    run(
        seed.path(),
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            url,
            SUB,
        ],
    );
    seed.commit_all("superproject base");
    run(seed.path(), &["push", "-q", "origin", "HEAD:main"]);

    let source = clone_super(&origin, true);
    let lib = source.path().join(SUB);
    let mut commits = 0;
    for step in &case.steps {
        match step {
            SubStep::Write(i, data) => write(&lib, SUB_FILES[*i], data),
            SubStep::Delete(i) => {
                if lib.join(SUB_FILES[*i]).exists() {
                    remove(&lib, SUB_FILES[*i]);
                }
            }
            SubStep::Untracked(data) => write(&lib, &format!("new-{commits}.txt"), data),
            SubStep::Stage => {
                run(&lib, &["add", "-A"]);
            }
            SubStep::Commit | SubStep::Pushed => {
                commits += 1;
                run(&lib, &["add", "-A"]);
                run(
                    &lib,
                    &[
                        "commit",
                        "-q",
                        "--allow-empty",
                        "-m",
                        &format!("lib {commits}"),
                    ],
                );
                if matches!(step, SubStep::Pushed) {
                    run(&lib, &["push", "-q", "origin", "HEAD:main"]);
                }
            }
            SubStep::Outer(data) => write(source.path(), "top.txt", data),
            SubStep::OuterStage => {
                run(source.path(), &["add", "-A"]);
            }
            SubStep::OuterCommit => {
                commits += 1;
                run(source.path(), &["add", "-A"]);
                run(
                    source.path(),
                    &[
                        "commit",
                        "-q",
                        "--allow-empty",
                        "-m",
                        &format!("outer {commits}"),
                    ],
                );
            }
        }
    }
    (lib_origin, origin, source)
}

/// Whether the source's submodule holds work only a checkout of it can
/// receive: commits its remote lacks, or changes or untracked files. (A
/// `HEAD` moved to a commit the remote has is the superproject's gitlink,
/// which an uninitialised submodule receives as `git checkout` gives it:
/// in the index.)
fn sub_has_work(source: &GitRepo) -> bool {
    let lib = source.path().join(SUB);
    !run(&lib, &["rev-list", "HEAD", "--not", "--remotes"]).is_empty()
        || !run(&lib, &["status", "--porcelain", "--untracked-files=all"]).is_empty()
}

/// [`named`], for the submodule: its paths without the `lib/` prefix.
fn named_in_sub(named: &BTreeSet<String>) -> BTreeSet<String> {
    let prefix = format!("{SUB}/");
    named
        .iter()
        .filter_map(|n| {
            if *n == SUB {
                // The whole submodule is named: every path in it.
                Some(String::new())
            } else {
                n.strip_prefix(&prefix).map(str::to_owned)
            }
        })
        .collect()
}

/// Compares one level (the superproject, or the submodule), `HEAD` first.
fn compare(
    level: &str,
    ours: &Path,
    theirs: &Path,
    named: &BTreeSet<String>,
    report: &ApplyReport,
    diffs: &mut Vec<String>,
) {
    let (a, b) = (state(ours), state(theirs));
    if a.head != b.head {
        if report.missing_commits.is_empty() && !named.contains("") {
            diffs.push(format!(
                "{level} HEAD: handoff {:?}, git {:?}, and no missing commit is named",
                a.head, b.head
            ));
        }
        return;
    }
    if named.contains("") {
        return;
    }
    let mut level_diffs = Vec::new();
    differences("index", &a.index, &b.index, named, &mut level_diffs);
    differences(
        "committed",
        &a.committed,
        &b.committed,
        named,
        &mut level_diffs,
    );
    differences("file", &a.files, &b.files, named, &mut level_diffs);
    diffs.extend(level_diffs.into_iter().map(|d| format!("{level}: {d}")));
}

fn check_sub(case: &SubCase) {
    let (_lib_origin, origin, source) = build_sub(case);
    let ours = clone_super(&origin, case.initialised);
    let theirs = clone_super(&origin, true);

    let store = MemoryStore::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let snap = rt
        .block_on(snapshot(source.path(), &store, &SnapshotOptions::default()))
        .unwrap_or_else(|e| panic!("snapshot: {e:?}"));
    let options = ApplyOptions {
        clone_repository: GitClone::shared(),
        ..ApplyOptions::default()
    };
    let report = rt
        .block_on(apply(ours.path(), &store, &snap.id, &options))
        .unwrap_or_else(|e| panic!("apply: {e:?}"));
    // No intent-to-add entries are made in these cases.
    reproduce(source.path(), theirs.path());
    reproduce(&source.path().join(SUB), &theirs.path().join(SUB));

    let mut named = named(&snap, &report);
    let in_sub = named_in_sub(&named);
    let (ours_lib, theirs_lib) = (ours.path().join(SUB), theirs.path().join(SUB));
    let mut diffs = Vec::new();
    if ours_lib.join(".git").exists() {
        compare(
            "submodule",
            &ours_lib,
            &theirs_lib,
            &in_sub,
            &report,
            &mut diffs,
        );
    } else if in_sub.contains("") {
        // Named: nothing of it to compare.
    } else if sub_has_work(&source) {
        diffs.push(format!(
            "the submodule has work but is not in the target, and {SUB} is not named"
        ));
    } else {
        // No work to carry: an uninitialised submodule stays so, and its
        // files are not the superproject's to compare.
        named.insert(SUB.to_owned());
    }
    compare(
        "superproject",
        ours.path(),
        theirs.path(),
        &named,
        &report,
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "handoff and git disagree:\n{}\nsnapshot skipped {:?}\nreport {report:?}",
        diffs.join("\n"),
        snap.skipped
    );
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/oracle.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn git_reproduces_what_handoff_carries_or_handoff_names_the_entry(case in case()) {
        check(&case);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each case clones three repositories with a submodule: fewer.
        cases: cases().div_ceil(2),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/oracle.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn git_reproduces_a_submodules_work_or_handoff_names_it(case in sub_case()) {
        check_sub(&case);
    }
}
