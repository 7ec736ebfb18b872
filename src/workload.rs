//! The workspace bench repository, shared by the benchmarks and by the
//! tests that hold handoff to request budgets on it: 20,000 committed files
//! of about 2 KB in 200 directories, pushed to a bare `origin` (as a user's
//! clone is), then 500 files modified, 50 deleted, 300 untracked files
//! added and an ignored directory of 5,000 files. [`Shape::new`] scales
//! every count with the file count.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;

use crate::{GitRepo, git_command};

/// The repository's size; every count scales with `files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Committed files.
    pub files: usize,
    /// Directories they are spread over.
    pub dirs: usize,
    /// Files modified, not committed.
    pub modified: usize,
    /// Files deleted, not committed.
    pub deleted: usize,
    /// New files, not added.
    pub untracked: usize,
    /// Files in an ignored directory.
    pub ignored: usize,
}

impl Shape {
    /// The bench repository's shape: 20,000 files.
    pub const FULL: usize = 20_000;

    /// The large bench repository's shape: 100,000 files.
    pub const LARGE: usize = 100_000;

    /// The shape with `files` committed files.
    pub fn new(files: usize) -> Self {
        let scale = |n: usize| (n * files / 20_000).max(1);
        Self {
            files,
            dirs: scale(200),
            modified: scale(500),
            deleted: scale(50),
            untracked: scale(300),
            ignored: scale(5_000),
        }
    }

    /// The path of committed file `i`.
    pub fn path(&self, i: usize) -> String {
        format!("dir{:03}/file{i:05}.txt", i % self.dirs)
    }

    /// How many entries a snapshot of the changes has.
    pub fn entries(&self) -> usize {
        self.modified + self.deleted + self.untracked
    }
}

/// About 2 KB of text that differs per file and per `salt`.
pub fn content(i: usize, salt: u64) -> String {
    let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    let mut out = String::with_capacity(2100);
    while out.len() < 2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        writeln!(out, "line {state:016x} of file {i}").unwrap();
    }
    out
}

/// The bench repository and its bare `origin`: the base committed and
/// pushed, then the uncommitted changes.
pub fn build(shape: &Shape) -> (GitRepo, GitRepo) {
    let origin = GitRepo::bare();
    let repo = GitRepo::clone_from(&origin);
    repo.write(".gitignore", "ignored/\n");
    for i in 0..shape.files {
        repo.write(&shape.path(i), content(i, 0));
    }
    repo.commit_all("base");
    repo.git(&["push", "-q", "origin", "main"]);
    make_changes(shape, repo.path());
    (origin, repo)
}

/// The uncommitted changes of the bench repository, made in `dir`.
pub fn make_changes(shape: &Shape, dir: &Path) {
    let write = |rel: &str, data: String| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    // Spread over the tree: every 7th file, wrapping.
    for i in 0..shape.modified {
        write(&shape.path(i * 7 % shape.files), content(i, 1));
    }
    for i in 0..shape.deleted {
        std::fs::remove_file(dir.join(shape.path(shape.files - 1 - i * 3))).unwrap();
    }
    for i in 0..shape.untracked {
        write(
            &format!("new/dir{:02}/untracked{i:04}.txt", i % 10),
            content(i, 2),
        );
    }
    for i in 0..shape.ignored {
        write(&format!("ignored/cache{i:05}.bin"), content(i, 3));
    }
    // Refresh the index now, so that no side pays for racily clean
    // entries left by the build.
    let ok = git_command(dir)
        .args(["status", "--porcelain"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "git status failed");
}

/// Every directory a benchmark writes, removed only when the run ends.
///
/// Deleting a tree of 20,000 files makes the next file creations on the
/// same filesystem much slower for a while on some filesystems (ext4
/// without a journal skips recently deleted inodes one by one when it
/// allocates new ones), so removing each clone after its iteration would
/// time the previous iteration's clean-up instead of the job.
#[derive(Debug)]
pub struct Scratch {
    root: TempDir,
    next: Cell<usize>,
}

impl Scratch {
    /// A new scratch directory, its name starting with `prefix`.
    ///
    /// # Panics
    /// If the directory cannot be made (this is a benchmark helper).
    pub fn new(prefix: &str) -> Self {
        Self {
            root: tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .expect("make a scratch directory"),
            next: Cell::new(0),
        }
    }

    /// How many directories it holds.
    pub fn len(&self) -> usize {
        self.next.get()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new empty directory.
    ///
    /// # Panics
    /// If it cannot be made.
    pub fn dir(&self) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        let dir = self.root.path().join(format!("d{n:03}"));
        std::fs::create_dir(&dir).expect("make a scratch directory");
        dir
    }

    /// A clone of `source` sharing its objects (`--shared`: no copy of the
    /// object database) with a full checkout.
    ///
    /// # Panics
    /// If `git clone` fails.
    pub fn clone_of(&self, source: &Path) -> PathBuf {
        let dir = self.dir();
        let ok = git_command(&dir)
            .args(["clone", "-q", "--shared"])
            .arg(source)
            .arg(".")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git clone of {} failed", source.display());
        dir
    }
}

/// git doing the capture-and-store job: a stash commit of the tracked
/// changes, and the untracked files written as blobs, all into `objects`
/// (an empty directory; the repository's own objects are an alternate):
/// the reference side of the snapshot benchmarks.
///
/// # Panics
/// If a git command fails (this is a benchmark helper).
pub fn git_capture(source: &Path, objects: &Path, untracked: &str) {
    let git = |args: &[&str]| {
        let mut cmd = git_command(source);
        cmd.args(args).env("GIT_OBJECT_DIRECTORY", objects).env(
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            source.join(".git/objects"),
        );
        cmd
    };
    let out = git(&["stash", "create"]).output().expect("run git");
    assert!(out.status.success(), "git stash create failed");
    assert!(!out.stdout.is_empty(), "git stash create found no changes");
    let mut child = git(&["hash-object", "-w", "--stdin-paths"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run git");
    child
        .stdin
        .take()
        .expect("git's standard input")
        .write_all(untracked.as_bytes())
        .expect("write to git");
    assert!(
        child.wait().expect("wait for git").success(),
        "git hash-object failed"
    );
}

/// `git diff --binary HEAD` of everything `snapshot` carries: the untracked
/// files are marked intent-to-add in a copy of the index, so the source's
/// own index is untouched. The reference side of the apply benchmarks.
///
/// # Panics
/// If a git command fails.
pub fn git_patch(source: &Path, untracked: &str, work: &Path) -> PathBuf {
    let index = work.join("patch-index");
    std::fs::copy(source.join(".git/index"), &index).expect("copy the index");
    let mut add = git_command(source)
        .args(["add", "-N", "--pathspec-from-file=-"])
        .env("GIT_INDEX_FILE", &index)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git");
    add.stdin
        .take()
        .expect("git's standard input")
        .write_all(untracked.as_bytes())
        .expect("write to git");
    assert!(
        add.wait().expect("wait for git").success(),
        "git add -N failed"
    );
    let out = git_command(source)
        .args(["diff", "--binary", "HEAD"])
        .env("GIT_INDEX_FILE", &index)
        .output()
        .unwrap();
    assert!(out.status.success(), "git diff failed");
    let patch = work.join("changes.patch");
    std::fs::write(&patch, out.stdout).expect("write the patch");
    patch
}
