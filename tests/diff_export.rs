//! A snapshot exported as a diff applies with `git apply` on a fresh clone
//! of the base and reproduces the source's working tree byte for byte and
//! mode for mode; what a patch cannot express is listed, not written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use handoff_dev::scenario::{base_repo, make_changes};
use handoff_dev::{GitRepo, assert_same_tree, git_command};
use handoff_store::{BlobStore, MemoryStore};
use handoff_workspace::diff::{export_diff, export_diff_in_batches};
use handoff_workspace::{SnapshotOptions, snapshot};

fn git_apply(repo: &GitRepo, patch: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("change.patch");
    std::fs::write(&file, patch).unwrap();
    let out = git_command(repo.path())
        .args(["apply", "--whitespace=nowarn"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git apply failed: {}\n--- patch ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&patch[..patch.len().min(4000)])
    );
}

#[tokio::test]
async fn every_change_kind_applies_with_git_apply() {
    let a = base_repo();
    let b = GitRepo::clone_from(&a);
    make_changes(&a);
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let mut patch = Vec::new();
    let outcome = export_diff(&snap.manifest, &store, &mut patch)
        .await
        .unwrap();
    assert!(
        outcome.unrepresentable.is_empty(),
        "{:?}",
        outcome.unrepresentable
    );
    let text = String::from_utf8_lossy(&patch);
    assert!(text.contains("GIT binary patch"));
    assert!(text.contains("rename from old name.txt\nrename to new name.txt"));
    assert!(text.contains("\"b/caf\\303\\251/na\\303\\257ve \\303\\261.txt\""));

    git_apply(&b, &patch);
    let mut expected = a.tree_state();
    expected.retain(|path, _| !path.starts_with("ignored/") && !path.ends_with(".log"));
    assert_same_tree(&b.tree_state(), &expected);
}

#[tokio::test]
async fn renames_with_edits_and_binary_modifications_apply() {
    let a = GitRepo::init();
    let long: String = (0..40).map(|i| format!("line {i}\n")).collect();
    let blob: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    a.write("long.txt", &long).write("data.bin", &blob);
    a.commit_all("base");
    let b = GitRepo::clone_from(&a);
    a.git(&["mv", "long.txt", "moved.txt"]);
    a.write("moved.txt", long.replace("line 20\n", "line twenty\n"));
    let mut changed = blob.clone();
    changed[100] ^= 0xff;
    changed.extend_from_slice(&[0, 1, 2]);
    a.write("data.bin", &changed);
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let mut patch = Vec::new();
    export_diff(&snap.manifest, &store, &mut patch)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&patch);
    assert!(text.contains("rename from long.txt"), "{text}");
    git_apply(&b, &patch);
    assert_same_tree(&b.tree_state(), &a.tree_state());
}

#[tokio::test]
async fn nested_repositories_and_missing_content_are_listed_not_written() {
    let a = GitRepo::init();
    a.write("keep.txt", "keep\n");
    a.commit_all("base");
    let nested = a.path().join("vendor/lib");
    std::fs::create_dir_all(&nested).unwrap();
    git_command(&nested).args(["init", "-q"]).status().unwrap();
    a.write("keep.txt", "changed\n");
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let mut patch = Vec::new();
    let outcome = export_diff(&snap.manifest, &store, &mut patch)
        .await
        .unwrap();
    let listed: Vec<(&str, &str)> = outcome
        .unrepresentable
        .iter()
        .map(|u| (u.path.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(listed, vec![("vendor/lib", "nested repository")]);
    let text = String::from_utf8(patch).unwrap();
    assert!(
        text.contains("+changed") && !text.contains("vendor"),
        "{text}"
    );

    // A blob missing from the store is an error naming it.
    let digest = snap.manifest.entries[0]
        .result
        .as_ref()
        .unwrap()
        .digest
        .unwrap();
    let partial = MemoryStore::new();
    for d in snap.manifest.digests() {
        if d != digest {
            partial.put(store.get(&d).await.unwrap()).await.unwrap();
        }
    }
    let err = export_diff(&snap.manifest, &partial, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
}

/// Fetching a batch at a time (here one entry per batch, so a rename's
/// source lands in another batch than its target) writes exactly the diff
/// of the one-batch export, and the export future is `Send`, so hosts can
/// spawn it.
#[tokio::test]
async fn batched_export_writes_the_same_diff() {
    let a = base_repo();
    make_changes(&a);
    let store = MemoryStore::new();
    let snap = snapshot(a.path(), &store, &SnapshotOptions::default())
        .await
        .unwrap();
    let mut whole = Vec::new();
    let future = export_diff(&snap.manifest, &store, &mut whole);
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&future);
    let outcome = future.await.unwrap();
    let mut batched = Vec::new();
    let batched_outcome = export_diff_in_batches(&snap.manifest, &store, &mut batched, 1)
        .await
        .unwrap();
    assert_eq!(batched_outcome, outcome);
    assert!(String::from_utf8_lossy(&whole).contains("rename from old name.txt"));
    assert_eq!(
        String::from_utf8_lossy(&batched),
        String::from_utf8_lossy(&whole)
    );
}
