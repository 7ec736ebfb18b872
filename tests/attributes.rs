//! git's conversions both ways, with git as the oracle: a snapshot carries
//! what `git add` would store (attributes, `eol`, `core.autocrlf`, `ident`,
//! filter drivers applied), and applying writes what `git apply` writes
//! into a clone with the target's own attributes. Every test compares a
//! clone that got the change through handoff with one that got it through
//! `git diff --binary | git apply`, byte for byte and by `git status`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::{GitRepo, assert_same_tree, oracle};
use handoff_store::{Digest, MemoryStore};
use handoff_workspace::{
    ApplyOptions, ApplyReport, Failure, FailureKind, LfsObject, Manifest, SnapshotOptions, apply,
    snapshot,
};

/// An origin whose first commit holds `files`.
fn origin(files: &[(&str, &[u8])]) -> GitRepo {
    let origin = GitRepo::init();
    for (path, data) in files {
        origin.write(path, data);
    }
    origin.commit_all("base");
    origin
}

/// Snapshots `source`, applies it to `ours`, applies git's own patch to
/// `theirs`; returns the report and the manifest.
async fn both_ways(source: &GitRepo, ours: &GitRepo, theirs: &GitRepo) -> (ApplyReport, Manifest) {
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    let report = apply(ours.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .expect("apply");
    oracle::carry(source, theirs);
    (report, snap.manifest)
}

/// Asserts `ours` and `theirs` hold the same bytes, the same `git status`
/// and the same `git diff`.
fn assert_same_as_git(ours: &GitRepo, theirs: &GitRepo) {
    assert_same_tree(&ours.tree_state(), &theirs.tree_state());
    assert_eq!(ours.status(), theirs.status());
    assert_eq!(oracle::diff(ours), oracle::diff(theirs));
}

fn result_oid(manifest: &Manifest, path: &str) -> String {
    let entry = manifest.entries.iter().find(|e| e.path == path).unwrap();
    entry.result.as_ref().unwrap().oid.to_string()
}

fn applied(paths: &[&str]) -> ApplyReport {
    ApplyReport {
        applied: paths.iter().map(|p| (*p).to_owned()).collect(),
        ..ApplyReport::default()
    }
}

#[tokio::test]
async fn eol_crlf_modified_and_added_files_apply_cleanly_to_a_fresh_clone() {
    let origin = origin(&[
        (".gitattributes", b"*.txt text eol=crlf\n"),
        ("a.txt", b"one\ntwo\nthree\n"),
        ("plain.rs", b"fn main() {}\n"),
    ]);
    let (source, ours, theirs) = (
        GitRepo::clone_from(&origin),
        GitRepo::clone_from(&origin),
        GitRepo::clone_from(&origin),
    );
    // A fresh clone checks the text files out with CRLF.
    assert_eq!(
        std::fs::read(source.path().join("a.txt")).unwrap(),
        b"one\r\ntwo\r\nthree\r\n"
    );
    source.write("a.txt", b"one\r\ntwo, edited\r\nthree\r\n");
    source.write("new.txt", b"fresh\r\nfile\r\n");

    let (report, manifest) = both_ways(&source, &ours, &theirs).await;
    assert_eq!(report, applied(&["a.txt", "new.txt"]));
    // The snapshot's ids are what `git add` gives.
    assert_eq!(
        result_oid(&manifest, "a.txt"),
        oracle::hash(&source, "a.txt")
    );
    assert_eq!(
        result_oid(&manifest, "new.txt"),
        oracle::hash(&source, "new.txt")
    );
    assert_same_as_git(&ours, &theirs);
    assert_eq!(
        std::fs::read(ours.path().join("new.txt")).unwrap(),
        b"fresh\r\nfile\r\n"
    );

    // Applying again: the CRLF files in the target count as the result.
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let again = apply(ours.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        again,
        ApplyReport {
            already_applied: vec!["a.txt".into(), "new.txt".into()],
            ..ApplyReport::default()
        }
    );
}

#[tokio::test]
async fn an_unchanged_crlf_checkout_is_not_a_change() {
    let origin = origin(&[
        (".gitattributes", b"*.txt text eol=crlf\n"),
        ("a.txt", b"one\ntwo\n"),
    ]);
    let source = GitRepo::clone_from(&origin);
    // Rewritten with the same bytes: stat changes, content does not.
    source.write("a.txt", b"one\r\ntwo\r\n");
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    assert_eq!(snap.manifest.entries, Vec::new());
}

#[tokio::test]
async fn autocrlf_on_the_source_carries_lf_to_a_clone_without_it() {
    let origin = origin(&[("a.txt", b"one\ntwo\nthree\n"), ("b.bin", b"\0bin\r\n")]);
    let source = GitRepo::clone_configured(&origin, &[("core.autocrlf", "true")]);
    let (ours, theirs) = (GitRepo::clone_from(&origin), GitRepo::clone_from(&origin));
    assert_eq!(
        std::fs::read(source.path().join("a.txt")).unwrap(),
        b"one\r\ntwo\r\nthree\r\n"
    );
    source.write("a.txt", b"one\r\ntwo, edited\r\nthree\r\n");
    source.write("c.txt", b"new\r\n");
    source.write("b.bin", b"\0bin, edited\r\n");

    let (report, manifest) = both_ways(&source, &ours, &theirs).await;
    assert_eq!(report, applied(&["a.txt", "b.bin", "c.txt"]));
    for path in ["a.txt", "b.bin", "c.txt"] {
        assert_eq!(
            result_oid(&manifest, path),
            oracle::hash(&source, path),
            "{path}"
        );
    }
    assert_same_as_git(&ours, &theirs);
    assert_eq!(
        std::fs::read(ours.path().join("a.txt")).unwrap(),
        b"one\ntwo, edited\nthree\n"
    );
}

#[tokio::test]
async fn autocrlf_on_both_sides_writes_crlf_and_merges_local_edits() {
    let origin = origin(&[("a.txt", b"1\n2\n3\n4\n5\n6\n")]);
    let config = [("core.autocrlf", "true")];
    let source = GitRepo::clone_configured(&origin, &config);
    let (ours, theirs) = (
        GitRepo::clone_configured(&origin, &config),
        GitRepo::clone_configured(&origin, &config),
    );
    source.write("a.txt", b"1\r\n2, theirs\r\n3\r\n4\r\n5\r\n6\r\n");
    // A local edit far from the snapshot's: both merge cleanly.
    ours.write("a.txt", b"1\r\n2\r\n3\r\n4\r\n5\r\n6, ours\r\n");
    theirs.write("a.txt", b"1\r\n2\r\n3\r\n4\r\n5\r\n6, ours\r\n");

    let (report, _) = both_ways(&source, &ours, &theirs).await;
    assert_eq!(
        report,
        ApplyReport {
            merged: vec!["a.txt".into()],
            ..ApplyReport::default()
        }
    );
    assert_same_as_git(&ours, &theirs);
    assert_eq!(
        std::fs::read(ours.path().join("a.txt")).unwrap(),
        b"1\r\n2, theirs\r\n3\r\n4\r\n5\r\n6, ours\r\n"
    );
}

#[tokio::test]
async fn ident_is_collapsed_in_the_snapshot_and_expanded_on_apply() {
    let origin = origin(&[
        (".gitattributes", b"*.c ident\n"),
        ("a.c", b"/* $Id$ */\nint a;\n"),
    ]);
    let (source, ours, theirs) = (
        GitRepo::clone_from(&origin),
        GitRepo::clone_from(&origin),
        GitRepo::clone_from(&origin),
    );
    let expanded = std::fs::read_to_string(source.path().join("a.c")).unwrap();
    assert!(expanded.starts_with("/* $Id: "), "{expanded}");
    source.write("a.c", expanded.replace("int a;", "int a, b;"));
    source.write("b.c", "/* $Id$ */\n");

    let (report, manifest) = both_ways(&source, &ours, &theirs).await;
    assert_eq!(report, applied(&["a.c", "b.c"]));
    assert_eq!(result_oid(&manifest, "a.c"), oracle::hash(&source, "a.c"));
    assert_eq!(result_oid(&manifest, "b.c"), oracle::hash(&source, "b.c"));
    assert_same_as_git(&ours, &theirs);
}

/// A clean/smudge pair that git and the pipeline both run: upper case in
/// the repository, lower case in the working tree.
const UPPER: [(&str, &str); 3] = [
    ("filter.upper.clean", "tr a-z A-Z"),
    ("filter.upper.smudge", "tr A-Z a-z"),
    ("filter.upper.required", "true"),
];

#[tokio::test]
async fn a_filter_driver_on_both_sides_runs_both_ways() {
    let origin = origin(&[
        (".gitattributes", b"*.up filter=upper\n"),
        ("a.up", b"HELLO\nWORLD\n"),
        ("plain.txt", b"as is\n"),
    ]);
    let (source, ours, theirs) = (
        GitRepo::clone_configured(&origin, &UPPER),
        GitRepo::clone_configured(&origin, &UPPER),
        GitRepo::clone_configured(&origin, &UPPER),
    );
    assert_eq!(source.read("a.up"), "hello\nworld\n");
    source.write("a.up", "hello\nthere\n");
    source.write("b.up", "new\n");
    source.write("plain.txt", "as is, edited\n");

    let (report, manifest) = both_ways(&source, &ours, &theirs).await;
    assert_eq!(report, applied(&["a.up", "b.up", "plain.txt"]));
    assert_eq!(result_oid(&manifest, "a.up"), oracle::hash(&source, "a.up"));
    assert_eq!(result_oid(&manifest, "b.up"), oracle::hash(&source, "b.up"));
    assert_same_as_git(&ours, &theirs);
    assert_eq!(ours.read("b.up"), "new\n");
}

#[tokio::test]
async fn a_filter_driver_missing_on_the_target_fails_only_its_entries() {
    let origin = origin(&[
        (".gitattributes", b"*.up filter=upper\n"),
        ("a.up", b"HELLO\n"),
        ("plain.txt", b"as is\n"),
    ]);
    let source = GitRepo::clone_configured(&origin, &UPPER);
    let target = GitRepo::clone_from(&origin);
    source.write("a.up", "hello, edited\n");
    source.write("b.up", "new\n");
    source.write("plain.txt", "as is, edited\n");
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    let reason = "its attributes name the filter driver `upper`, which this repository does not configure (filter.upper.clean, .smudge or .process)";
    let failed = |path: &str| Failure {
        path: path.to_owned(),
        kind: FailureKind::Filter,
        reason: reason.to_owned(),
    };
    assert_eq!(
        report,
        ApplyReport {
            applied: vec!["plain.txt".into()],
            failed: vec![failed("a.up"), failed("b.up")],
            ..ApplyReport::default()
        }
    );
    // Untouched: the checkout's own bytes, and nothing new.
    assert_eq!(target.read("a.up"), "HELLO\n");
    assert!(!target.path().join("b.up").exists());
    assert_eq!(target.read("plain.txt"), "as is, edited\n");
}

/// The LFS pointer git-lfs commits for `content`.
fn lfs_pointer(content: &[u8]) -> String {
    format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        Digest::of(content).hex(),
        content.len()
    )
}

/// Where git-lfs keeps `content` in `repo`.
fn lfs_object(repo: &GitRepo, content: &[u8]) -> std::path::PathBuf {
    let hex = Digest::of(content).hex();
    repo.path()
        .join(".git/lfs/objects")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(hex)
}

/// git's id of `data` as a blob, no filters.
fn git_blob_id(repo: &GitRepo, data: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), data).unwrap();
    repo.git(&["hash-object", "--no-filters", file.path().to_str().unwrap()])
        .trim()
        .to_owned()
}

#[tokio::test]
async fn an_lfs_file_carries_its_pointer_and_its_object() {
    let old = b"old large content\n";
    let origin = origin(&[
        (
            ".gitattributes",
            b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
        ),
        ("big.bin", lfs_pointer(old).as_bytes()),
    ]);
    let (source, target) = (GitRepo::clone_from(&origin), GitRepo::clone_from(&origin));
    // Without git-lfs the clone holds the pointer; the new content is what
    // an agent writes, as it would with git-lfs checking out the old.
    let new = b"\0new large content, binary\n";
    source.write("big.bin", new);
    source.write("added.bin", b"another large file\n");
    // A file checked out as its pointer, whose object git-lfs has.
    let fetched = b"fetched by git-lfs\n";
    source.write("fetched.bin", lfs_pointer(fetched));
    let object = lfs_object(&source, fetched);
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, fetched).unwrap();

    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    // The pointers are what git commits; the objects travel beside them.
    for (path, content) in [
        ("big.bin", &new[..]),
        ("added.bin", b"another large file\n"),
        ("fetched.bin", fetched),
    ] {
        assert_eq!(
            result_oid(&snap.manifest, path),
            git_blob_id(&source, lfs_pointer(content).as_bytes()),
            "{path}"
        );
    }
    let mut carried = vec![
        LfsObject {
            digest: Digest::of(new),
            size: new.len() as u64,
        },
        LfsObject {
            digest: Digest::of(b"another large file\n"),
            size: 19,
        },
        LfsObject {
            digest: Digest::of(fetched),
            size: fetched.len() as u64,
        },
    ];
    carried.sort();
    assert_eq!(snap.manifest.lfs, carried);

    let report = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report, applied(&["added.bin", "big.bin", "fetched.bin"]));
    // The working tree has the content, and git-lfs finds the objects.
    for (path, content) in [
        ("big.bin", &new[..]),
        ("added.bin", b"another large file\n"),
        ("fetched.bin", fetched),
    ] {
        assert_eq!(std::fs::read(target.path().join(path)).unwrap(), content);
        assert_eq!(
            std::fs::read(lfs_object(&target, content)).unwrap(),
            content
        );
    }
    // The content counts as the pointer: applying again changes nothing.
    let again = apply(target.path(), &store, &snap.id, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        again.already_applied,
        ["added.bin", "big.bin", "fetched.bin"]
    );
    assert_eq!(again.failed, []);
}

#[tokio::test]
async fn a_secret_in_an_lfs_object_is_named_by_its_file() {
    let origin = origin(&[(
        ".gitattributes",
        b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
    )]);
    let source = GitRepo::clone_from(&origin);
    // Assembled at run time so this file itself holds no token.
    source.write("keys.bin", format!("aws = AKIA{}\n", "Q3EGRDBSAK7XFZMN"));
    let capture = handoff_workspace::capture(source.path(), &SnapshotOptions::default()).unwrap();
    let paths: Vec<String> = handoff_workspace::Scanner::builtin()
        .unwrap()
        .scan_capture(&capture)
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(paths, ["keys.bin (Git LFS object)"]);
}

#[tokio::test]
async fn a_required_filter_that_fails_skips_its_path_with_the_reason() {
    let origin = origin(&[(".gitattributes", b"*.up filter=broken\n")]);
    let source = GitRepo::clone_configured(
        &origin,
        &[
            ("filter.broken.clean", "false"),
            ("filter.broken.smudge", "cat"),
            ("filter.broken.required", "true"),
        ],
    );
    source.write("a.up", "cannot be cleaned\n");
    source.write("b.txt", "plain\n");
    let store = MemoryStore::new();
    let snap = snapshot(source.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let paths: Vec<&str> = snap
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(paths, ["b.txt"]);
    let skipped: Vec<&str> = snap.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, ["a.up"]);
    assert!(
        snap.skipped[0]
            .reason
            .starts_with("git's clean conversion (attributes, eol, filter) failed: "),
        "{:?}",
        snap.skipped
    );
}
