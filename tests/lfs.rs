//! Git LFS with the real git-lfs program: repositories set up by
//! `git lfs install --local` and `git lfs track`, a modified LFS file and a
//! new one snapshotted and applied to a fresh clone whose LFS server is
//! unreachable. The target's working tree holds the real content, what
//! `git add` stages there is the source's pointer, and `git lfs ls-files`
//! and `git lfs fsck` agree that the objects are in place.
//!
//! `.ci/test` installs git-lfs and sets `HANDOFF_REQUIRE_GIT_LFS=1`, which
//! makes a missing git-lfs a failure; elsewhere the test skips, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use handoff_dev::{GitRepo, git_command};
use handoff_store::MemoryStore;
use handoff_workspace::{ApplyOptions, SnapshotOptions, apply, snapshot};

fn git_lfs_installed() -> bool {
    let found = git_command(std::path::Path::new("."))
        .args(["lfs", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("HANDOFF_REQUIRE_GIT_LFS").is_none(),
            "HANDOFF_REQUIRE_GIT_LFS is set but git-lfs is not installed"
        );
        eprintln!("note: git-lfs is not installed; skipping the real git-lfs test");
    }
    found
}

/// A clone of `origin` with git-lfs set up and its server unreachable; the
/// LFS files are checked out as pointers (nothing could be downloaded).
fn lfs_clone(origin: &GitRepo) -> GitRepo {
    let dir = tempfile::Builder::new()
        .prefix("handoff-lfs-")
        .tempdir()
        .unwrap();
    let ok = git_command(dir.path())
        .args(["clone", "-q"])
        .arg(origin.path())
        .arg(".")
        .env("GIT_LFS_SKIP_SMUDGE", "1")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git clone");
    let clone = GitRepo::adopt(dir);
    clone.git(&["lfs", "install", "--local"]);
    clone.git(&["config", "lfs.url", "http://127.0.0.1:9/unreachable"]);
    clone
}

/// The pointer git-lfs commits for `content`.
fn pointer(repo: &GitRepo, content: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), content).unwrap();
    let out = git_command(repo.path())
        .args(["lfs", "pointer", "--file"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn lfs_files_apply_with_their_content_and_git_lfs_agrees() {
    if !git_lfs_installed() {
        return;
    }
    let origin = GitRepo::init();
    origin.git(&["lfs", "install", "--local"]);
    origin.git(&["lfs", "track", "*.bin"]);
    origin.write("big.bin", b"\0old large content\n");
    origin.write("notes.txt", "notes\n");
    origin.commit_all("base");

    let source = lfs_clone(&origin);
    // The source fetched its object (as `git lfs pull` would), then the
    // work: the LFS file modified, a new one, a plain file edited.
    let old_hex = handoff_store::Digest::of(b"\0old large content\n").hex();
    let object = |repo: &GitRepo, hex: &str| {
        repo.path()
            .join(".git/lfs/objects")
            .join(&hex[..2])
            .join(&hex[2..4])
            .join(hex)
    };
    std::fs::create_dir_all(object(&source, &old_hex).parent().unwrap()).unwrap();
    std::fs::copy(object(&origin, &old_hex), object(&source, &old_hex)).unwrap();
    source.git(&["lfs", "checkout"]);
    assert_eq!(
        std::fs::read(source.path().join("big.bin")).unwrap(),
        b"\0old large content\n"
    );
    let (modified, added) = (
        &b"\0new large content\n"[..],
        &b"\0another large file\n"[..],
    );
    source.write("big.bin", modified);
    source.write("added.bin", added);
    source.write("notes.txt", "notes, edited\n");

    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    let target = lfs_clone(&origin);
    let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.applied, ["added.bin", "big.bin", "notes.txt"]);
    assert!(report.is_complete(), "{report:?}");

    // The real content in the working tree.
    assert_eq!(
        std::fs::read(target.path().join("big.bin")).unwrap(),
        modified
    );
    assert_eq!(
        std::fs::read(target.path().join("added.bin")).unwrap(),
        added
    );
    // What git stages there (through git-lfs's clean filter) is the
    // source's pointer, the same blobs as the source's own `git add`.
    target.git(&["add", "-A"]);
    source.git(&["add", "-A"]);
    assert_eq!(
        target.git(&["ls-files", "-s"]),
        source.git(&["ls-files", "-s"])
    );
    for (path, content) in [("big.bin", modified), ("added.bin", added)] {
        assert_eq!(
            target.git(&["cat-file", "-p", &format!(":{path}")]),
            pointer(&target, content),
            "{path}"
        );
    }
    // git-lfs finds every object the index names.
    target.git(&["commit", "-q", "-m", "the work"]);
    let listed = target.git(&["lfs", "ls-files", "--long"]);
    for content in [modified, added] {
        let hex = handoff_store::Digest::of(content).hex();
        assert!(
            listed.contains(&format!("{hex} * ")),
            "{hex} with its content in {listed}"
        );
    }
    target.git(&["lfs", "fsck", "--objects", "HEAD^..HEAD"]);
}
