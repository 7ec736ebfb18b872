//! Large files travel streamed, on every store: a snapshot hashes them from
//! the working tree and stores them from the file (multipart on an object
//! store), an apply writes them from the store into a temporary file beside
//! the target and renames it into place only once both the digest and the
//! git id match. Thresholds are lowered so that files of a few MiB take
//! these paths (and several parts on S3); the whole-process memory bound
//! for a 2 GiB file is the `large_file` benchmark's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use handoff_dev::GitRepo;
use handoff_dev::s3::MotoServer;
use handoff_store::counting::Requests;
use handoff_store::{Area, BlobStore, Bytes, Digest, FsStore, MemoryStore, ObjectStoreBackend};
use handoff_workspace::{ApplyOptions, Failure, FailureKind, SnapshotOptions};

const MIB: usize = 1 << 20;

/// Streamed from 1 MiB up.
const STREAM_AT: u64 = MIB as u64;

fn snapshot_options() -> SnapshotOptions {
    SnapshotOptions {
        stream_threshold: STREAM_AT,
        ..SnapshotOptions::default()
    }
}

fn apply_options() -> ApplyOptions {
    ApplyOptions {
        stream_threshold: STREAM_AT,
        ..ApplyOptions::default()
    }
}

/// A repository whose base holds `tracked.bin` (`old`), changed to `new`
/// in the working tree, with `untracked.bin` (`extra`) and a small file
/// beside them.
fn repo(old: &[u8], new: &[u8], extra: &[u8]) -> GitRepo {
    let repo = GitRepo::init();
    repo.write("tracked.bin", old).write("small.txt", "small\n");
    repo.commit_all("base");
    repo.write("tracked.bin", new)
        .write("dir/untracked.bin", extra)
        .write("small.txt", "small, changed\n");
    repo
}

/// A fresh checkout of `repo`'s base.
fn target(old: &[u8]) -> GitRepo {
    let target = GitRepo::init();
    target
        .write("tracked.bin", old)
        .write("small.txt", "small\n");
    target.commit_all("base");
    target
}

/// A store that refuses to hand over any blob of `refuse_at` bytes or more
/// whole (`get`, `get_many`): what goes through it was streamed.
#[derive(Debug)]
struct NoWholeLargeReads<'a> {
    inner: &'a dyn BlobStore,
    refuse_at: usize,
}

impl NoWholeLargeReads<'_> {
    fn check(&self, digest: &Digest, data: Bytes) -> handoff_store::Result<Bytes> {
        if data.len() >= self.refuse_at {
            return Err(handoff_store::Error::Unsupported {
                operation: "hand over a large blob whole",
                store: format!("the test double ({digest})"),
            });
        }
        Ok(data)
    }
}

#[async_trait::async_trait]
impl BlobStore for NoWholeLargeReads<'_> {
    async fn put(&self, data: Bytes) -> handoff_store::Result<handoff_store::Put> {
        self.inner.put(data).await
    }
    async fn get(&self, digest: &Digest) -> handoff_store::Result<Bytes> {
        let data = self.inner.get(digest).await?;
        self.check(digest, data)
    }
    async fn has(&self, digest: &Digest) -> handoff_store::Result<bool> {
        self.inner.has(digest).await
    }
    async fn get_many(&self, digests: &[Digest]) -> Vec<handoff_store::Result<Bytes>> {
        let got = self.inner.get_many(digests).await;
        digests
            .iter()
            .zip(got)
            .map(|(d, r)| r.and_then(|data| self.check(d, data)))
            .collect()
    }
    async fn write_to_file(
        &self,
        digest: &Digest,
        file: std::fs::File,
        path: &Path,
    ) -> handoff_store::Result<u64> {
        self.inner.write_to_file(digest, file, path).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Temporary files left anywhere in the working tree (outside `.git`).
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            out.extend(leftovers(&entry.path()));
        } else if name.starts_with(".tmp-") || name.starts_with(".handoff-tmp-") {
            out.push(name);
        }
    }
    out
}

/// Snapshot and apply of a repository with two large files (one tracked
/// and modified, one untracked in a new directory) on `store`: both are
/// captured by path, not held, stored whole and applied byte for byte;
/// the small file goes the usual way.
async fn large_files_round_trip(store: &dyn BlobStore, size: usize) {
    let (old, new, extra) = (
        handoff_dev::noise(size, 1),
        handoff_dev::noise(size, 2),
        handoff_dev::noise(size + 17, 3),
    );
    let repo = repo(&old, &new, &extra);
    let capture = handoff_workspace::capture(repo.path(), &snapshot_options()).unwrap();
    let mut streamed: Vec<(Digest, String)> = capture
        .files
        .iter()
        .map(|(d, p)| {
            (
                *d,
                p.strip_prefix(repo.path()).unwrap().display().to_string(),
            )
        })
        .collect();
    streamed.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        streamed,
        vec![
            (Digest::of(&extra), "dir/untracked.bin".to_owned()),
            (Digest::of(&new), "tracked.bin".to_owned()),
        ],
        "the large working-tree files are stored from their files"
    );
    assert!(!capture.contents.contains_key(&Digest::of(&new)));
    let snapshot = handoff_workspace::snapshot::store_capture(
        capture,
        store,
        &handoff_workspace::progress::NoProgress,
    )
    .await
    .unwrap();
    for data in [&new, &extra] {
        assert_eq!(&store.get(&Digest::of(data)).await.unwrap()[..], &data[..]);
    }

    let target = target(&old);
    let streaming = NoWholeLargeReads {
        inner: store,
        refuse_at: STREAM_AT as usize,
    };
    let report =
        handoff_workspace::apply(target.path(), &streaming, &snapshot.id, &apply_options())
            .await
            .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let mut applied = report.applied.clone();
    applied.sort();
    assert_eq!(
        applied,
        ["dir/untracked.bin", "small.txt", "tracked.bin"],
        "{report:?}"
    );
    assert_eq!(
        std::fs::read(target.path().join("tracked.bin")).unwrap(),
        new
    );
    assert_eq!(
        std::fs::read(target.path().join("dir/untracked.bin")).unwrap(),
        extra
    );
    assert_eq!(target.read("small.txt"), "small, changed\n");
    assert_eq!(target.status(), repo.status(), "git sees the same changes");
    assert!(leftovers(target.path()).is_empty());

    // Again: both large files are judged by their git ids, unchanged.
    let again = handoff_workspace::apply(target.path(), store, &snapshot.id, &apply_options())
        .await
        .unwrap();
    let mut already = again.already_applied.clone();
    already.sort();
    assert_eq!(already, ["dir/untracked.bin", "small.txt", "tracked.bin"]);
}

/// The large blobs of a stored snapshot damaged in place (same length, one
/// byte flipped): apply refuses both, leaving the modified file's old
/// content and creating nothing where the untracked one was to go, and no
/// temporary file behind; the rest applies.
async fn corrupted_large_blobs_are_refused(store: &dyn BlobStore, size: usize) {
    let (old, new, extra) = (
        handoff_dev::noise(size, 4),
        handoff_dev::noise(size, 5),
        handoff_dev::noise(size, 6),
    );
    let repo = repo(&old, &new, &extra);
    let snapshot = handoff_workspace::snapshot(repo.path(), store, &snapshot_options())
        .await
        .unwrap();
    let raw = store.objects().unwrap();
    for data in [&new, &extra] {
        let mut bad = data.clone();
        bad[size / 2] ^= 0x55;
        raw.replace_object(Area::Blobs, &Digest::of(data), Bytes::from(bad))
            .await
            .unwrap();
    }
    let target = target(&old);
    let report = handoff_workspace::apply(target.path(), store, &snapshot.id, &apply_options())
        .await
        .unwrap();
    let failed: Vec<(String, FailureKind)> = report
        .failed
        .iter()
        .map(|Failure { path, kind, .. }| (path.clone(), *kind))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("dir/untracked.bin".to_owned(), FailureKind::BlobCorrupted),
            ("tracked.bin".to_owned(), FailureKind::BlobCorrupted),
        ],
        "{report:?}"
    );
    assert_eq!(report.applied, ["small.txt"]);
    assert_eq!(
        std::fs::read(target.path().join("tracked.bin")).unwrap(),
        old
    );
    assert!(!target.path().join("dir/untracked.bin").exists());
    assert!(
        leftovers(target.path()).is_empty(),
        "{:?}",
        leftovers(target.path())
    );
}

#[tokio::test]
async fn large_files_stream_on_the_memory_store() {
    large_files_round_trip(&MemoryStore::new(), 3 * MIB).await;
    corrupted_large_blobs_are_refused(&MemoryStore::new(), 3 * MIB).await;
}

#[tokio::test]
async fn large_files_stream_on_the_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    large_files_round_trip(&FsStore::new(dir.path()), 3 * MIB).await;
    let dir = tempfile::tempdir().unwrap();
    corrupted_large_blobs_are_refused(&FsStore::new(dir.path()), 3 * MIB).await;
}

/// On a real S3-compatible server, with 5 MiB parts (S3's smallest): a
/// 12 MiB file goes up as a multipart upload of three parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_on_s3_in_parts() {
    let Some(server) = MotoServer::start() else {
        return;
    };
    ObjectStoreBackend::install_tls_provider();
    let s3 = |bucket: &str| {
        server.create_bucket(bucket);
        Requests::new(Arc::new(
            handoff_store::object_store::aws::AmazonS3Builder::new()
                .with_endpoint(server.endpoint())
                .with_allow_http(true)
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap(),
        ))
    };
    let size = 12 * MIB;
    let requests = s3("streaming");
    let store = ObjectStoreBackend::new(Arc::new(requests.clone()), "large", "s3://streaming")
        .with_part_size(5 * MIB);
    large_files_round_trip(&store, size).await;
    let counts = requests.counts();
    // Two large files, each started and completed: four multipart calls;
    // each in three parts, among the PUTs.
    assert_eq!(counts.multipart, 4, "{counts:?}");
    assert!(counts.put >= 6, "{counts:?}");
    let requests = s3("corrupted");
    let store = ObjectStoreBackend::new(Arc::new(requests), "large", "s3://corrupted")
        .with_part_size(5 * MIB);
    corrupted_large_blobs_are_refused(&store, size).await;
}

/// A large file that changes between capture and upload is refused, typed,
/// rather than stored under a digest the manifest does not name.
#[tokio::test]
async fn a_large_file_changed_after_capture_is_refused() {
    let (old, new) = (
        handoff_dev::noise(2 * MIB, 7),
        handoff_dev::noise(2 * MIB, 8),
    );
    let repo = repo(&old, &new, b"x");
    let capture = handoff_workspace::capture(repo.path(), &snapshot_options()).unwrap();
    repo.write("tracked.bin", handoff_dev::noise(2 * MIB, 9));
    let store = MemoryStore::new();
    let err = handoff_workspace::snapshot::store_capture(
        capture,
        &store,
        &handoff_workspace::progress::NoProgress,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, handoff_workspace::Error::FileChanged { path, expected, .. }
            if path.ends_with("tracked.bin") && *expected == Digest::of(&new)),
        "{err}"
    );
}
