//! Shared test support for handoff's integration tests, examples and
//! benchmarks: real git repositories in temporary directories, built with a
//! fixed author, committer and dates so that commit ids are stable;
//! [`model_server`], a scripted model server on loopback for the real agent
//! CLIs, and [`agent_turns`], the suite every real-agent adapter runs with
//! it; [`s3`], a real S3-compatible server; [`workload`], the bench
//! repository that benchmarks and request-budget tests share; [`oracle`],
//! git itself moving uncommitted work, the reference snapshot and apply
//! are compared with.
//!
//! This is development tooling, not part of the published API: its helpers
//! panic with a clear message when git fails, as tests should.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod agent_turns;
pub mod model_server;
pub mod oracle;
pub mod s3;
pub mod workload;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A git repository in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct GitRepo {
    dir: tempfile::TempDir,
}

/// What a working tree holds at one path: git's mode and the bytes (the
/// link target for symlinks).
pub type TreeState = BTreeMap<String, (u32, Vec<u8>)>;

impl GitRepo {
    /// `git init` with branch `main` and a fixed identity.
    pub fn init() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("handoff-repo-")
            .tempdir()
            .expect("create a temporary directory");
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        repo
    }

    /// `git init --bare` with branch `main`: a remote to clone and push to.
    pub fn bare() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("handoff-bare-")
            .tempdir()
            .expect("create a temporary directory");
        let repo = Self { dir };
        repo.git(&["init", "-q", "--bare", "-b", "main"]);
        repo
    }

    /// Asserts `git fsck --full --strict` finds nothing wrong (no missing or
    /// corrupt objects, no broken links).
    pub fn assert_fsck_clean(&self) {
        assert_fsck_clean(self.path());
    }

    /// Every object reachable from `revs` (as `git rev-list --objects`).
    pub fn objects(&self, revs: &[&str]) -> std::collections::BTreeSet<String> {
        objects_of(self.path(), revs)
    }

    /// The subjects of the commits in `range`, newest first.
    pub fn subjects(&self, range: &str) -> Vec<String> {
        self.git(&["log", "--format=%s", range])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `git clone` of `source` (by path) into a new temporary directory.
    pub fn clone_from(source: &GitRepo) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("handoff-clone-")
            .tempdir()
            .expect("create a temporary directory");
        let status = git_command(dir.path())
            .args(["clone", "-q"])
            .arg(source.path())
            .arg(".")
            .status()
            .expect("run git clone");
        assert!(status.success(), "git clone failed");
        Self { dir }
    }

    /// `git clone -c KEY=VALUE…` of `source`: the configuration is in
    /// place before the checkout, so the files are what git checks out
    /// under it (`core.autocrlf`, filter drivers).
    pub fn clone_configured(source: &GitRepo, config: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("handoff-clone-")
            .tempdir()
            .expect("create a temporary directory");
        let mut cmd = git_command(dir.path());
        cmd.args(["clone", "-q"]);
        for (key, value) in config {
            cmd.arg("-c").arg(format!("{key}={value}"));
        }
        let status = cmd
            .arg(source.path())
            .arg(".")
            .status()
            .expect("run git clone");
        assert!(status.success(), "git clone failed");
        Self { dir }
    }

    /// A repository some other git command made in `dir` (a clone with
    /// options of its own), removed on drop like the others.
    pub fn adopt(dir: tempfile::TempDir) -> Self {
        Self { dir }
    }

    /// The working tree's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git with the fixed identity; panics with git's output on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = git_command(self.path())
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, content).expect("write file");
        self
    }

    /// Reads a file as text.
    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read file")
    }

    /// Sets or clears the executable bits.
    pub fn chmod(&self, rel: &str, executable: bool) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(self.path().join(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        self
    }

    /// Creates a symlink at `rel` pointing at `target`.
    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::os::unix::fs::symlink(target, path).expect("create symlink");
        self
    }

    /// Removes a file or symlink.
    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.path().join(rel)).expect("remove file");
        self
    }

    /// `git add -A && git commit`.
    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// `HEAD`'s commit id.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// `git status --porcelain=v1 -z --untracked-files=all`, split into entries.
    pub fn status(&self) -> Vec<String> {
        let out = self.git(&[
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
            "--no-renames",
        ]);
        let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }

    /// Every file and symlink in the working tree outside `.git`, with git's
    /// mode (100644, 100755, 120000) and content.
    pub fn tree_state(&self) -> TreeState {
        tree_state_of(self.path())
    }
}

/// Asserts two working trees are equal, naming only the differing paths.
pub fn assert_same_tree(actual: &TreeState, expected: &TreeState) {
    let mut diffs = Vec::new();
    for (path, (mode, data)) in expected {
        match actual.get(path) {
            None => diffs.push(format!("{path}: missing")),
            Some((m, d)) if (m, d) != (mode, data) => diffs.push(format!(
                "{path}: mode {m:o} ({} bytes), expected {mode:o} ({} bytes)",
                d.len(),
                data.len()
            )),
            Some(_) => {}
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        diffs.push(format!("{path}: unexpected"));
    }
    assert!(
        diffs.is_empty(),
        "working trees differ:\n{}",
        diffs.join("\n")
    );
}

/// The change scenarios the integration tests, examples and benches share.
pub mod scenario {
    use super::GitRepo;

    /// A committed repository with a file of every kind (text, executable,
    /// binary, empty, symlinks, nested directories, a `.gitignore`).
    pub fn base_repo() -> GitRepo {
        let repo = GitRepo::init();
        repo.write("README.md", "# project\n\nline\n")
            .write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n")
            .write("src/staged.rs", "staged base\n")
            .write("src/partial.rs", "a\nb\nc\n")
            .write("to_delete.txt", "bye\n")
            .write("to_delete_staged.txt", "bye staged\n")
            .write("old name.txt", "rename me\nplease\n")
            .write("script.sh", "#!/bin/sh\necho hi\n")
            .write("was_exec.sh", "#!/bin/sh\n")
            .write("bin.dat", [0u8, 1, 2, 3, 255, 0, 9])
            .write("empty_base.txt", "")
            .write("type/file_to_link", "i become a link\n")
            .write("type/link_to_file_target", "t\n")
            .write("dir_to_file/inner.txt", "inner\n")
            .write(".gitignore", "ignored/\n*.log\n")
            .symlink("link", "README.md")
            .symlink("type/link_to_file", "link_to_file_target")
            .chmod("was_exec.sh", true);
        repo.commit_all("base");
        repo
    }

    /// Uncommitted changes of every kind: staged, partially staged and
    /// unstaged modifications, additions, deletions, a rename, mode changes,
    /// binary and empty files, symlink retargets and type changes, a
    /// directory replaced by a file, spaces and non-ASCII names, ignored files
    /// and a missing final newline.
    pub fn make_changes(repo: &GitRepo) {
        // unstaged modification
        repo.write(
            "src/lib.rs",
            "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n",
        );
        // staged modification
        repo.write("src/staged.rs", "staged change\n");
        repo.git(&["add", "src/staged.rs"]);
        // partially staged: index differs from both HEAD and worktree
        repo.write("src/partial.rs", "a\nB\nc\n");
        repo.git(&["add", "src/partial.rs"]);
        repo.write("src/partial.rs", "a\nB\nc\nd\n");
        // staged addition, untracked addition
        repo.write("src/new_staged.rs", "new and staged\n");
        repo.git(&["add", "src/new_staged.rs"]);
        repo.write("notes/untracked.md", "untracked note\n");
        // deletions, unstaged and staged
        repo.remove("to_delete.txt");
        repo.git(&["rm", "-q", "to_delete_staged.txt"]);
        // rename (git mv, staged)
        repo.git(&["mv", "old name.txt", "new name.txt"]);
        // exec bit changes
        repo.chmod("script.sh", true);
        repo.chmod("was_exec.sh", false);
        // binary modification and addition
        repo.write("bin.dat", [0u8, 1, 2, 3, 254, 0, 9, 10]);
        repo.write(
            "new.bin",
            (0..=255u8).cycle().take(3000).collect::<Vec<_>>(),
        );
        // empty files
        repo.write("empty_new.txt", "");
        repo.write("empty_base.txt", "now has content\n");
        // symlinks: retarget, add, file → link, link → file
        repo.remove("link");
        repo.symlink("link", "src/lib.rs");
        repo.symlink("new_link", "notes/untracked.md");
        repo.remove("type/file_to_link");
        repo.symlink("type/file_to_link", "../README.md");
        repo.remove("type/link_to_file");
        repo.write("type/link_to_file", "now a file\n");
        // a directory replaced by a file
        repo.remove("dir_to_file/inner.txt");
        std::fs::remove_dir(repo.path().join("dir_to_file")).unwrap();
        repo.write("dir_to_file", "now a file\n");
        // spaces and non-ASCII names
        repo.write("with space/a file.txt", "spaced\n");
        repo.write("café/naïve ñ.txt", "unicode\n");
        // ignored files are never captured
        repo.write("ignored/big.txt", "ignored\n");
        repo.write("debug.log", "ignored too\n");
        // no trailing newline
        repo.write("README.md", "# project\n\nline\nno newline at end");
    }
}

fn collect(root: &Path, dir: &Path, out: &mut TreeState) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read directory")
        .map(|e| e.expect("directory entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path
            .strip_prefix(root)
            .is_ok_and(|p| p == Path::new(".git"))
        {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("below root")
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("readlink");
            out.insert(rel, (0o120000, target.as_os_str().as_bytes().to_vec()));
        } else if meta.is_dir() {
            if path.join(".git").exists() {
                out.insert(rel, (0o160000, Vec::new()));
            } else {
                collect(root, &path, out);
            }
        } else {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o100755
            } else {
                0o100644
            };
            out.insert(rel, (mode, std::fs::read(&path).expect("read")));
        }
    }
}

/// Asserts `git fsck --full --strict` in `dir` finds nothing wrong.
pub fn assert_fsck_clean(dir: &Path) {
    let out = git_command(dir)
        .args(["fsck", "--full", "--strict", "--no-dangling"])
        .output()
        .expect("run git fsck");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "git fsck in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every object reachable from `revs` in the repository at `dir`.
pub fn objects_of(dir: &Path, revs: &[&str]) -> std::collections::BTreeSet<String> {
    let out = git_command(dir)
        .args(["rev-list", "--objects"])
        .args(revs)
        .output()
        .expect("run git rev-list");
    assert!(
        out.status.success(),
        "git rev-list {revs:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// The working tree at `dir` (every file and symlink outside `.git`).
pub fn tree_state_of(dir: &Path) -> TreeState {
    let mut out = TreeState::new();
    collect(dir, dir, &mut out);
    out
}

/// A `git` command in `dir` with a fixed identity and dates, and no user or
/// system configuration, so results are the same on every machine.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Handoff Test")
        .env("GIT_AUTHOR_EMAIL", "test@handoff.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Handoff Test")
        .env("GIT_COMMITTER_EMAIL", "test@handoff.invalid")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    cmd
}

/// `len` bytes that do not compress and do not repeat (xorshift64 from
/// `seed`): content of a known size that no two tests share by accident.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The bytes of every file under `dir`, recursively: what a filesystem
/// store holds.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
