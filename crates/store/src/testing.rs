//! The conformance suites every backend runs against itself: one for
//! [`BlobStore`] (with the packs of layout v2 and the damage a medium or a
//! hostile hand can do to them, through the backend's [`Objects`]) and one
//! for [`DocumentStore`].
//!
//! Call [`blob_store_conformance`] and [`document_store_conformance`] from
//! the backend's own tests. They panic (as tests do) on the first broken
//! promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;

use crate::pack::{Index, PACK_MAGIC, PACK_THRESHOLD, PackBuilder};
use crate::raw::{Area, Objects};
use crate::{
    BlobStore, BlobStoreExt, Digest, DocKey, DocumentStore, DocumentStoreExt, Error, Version,
};

/// Runs every conformance check against `store`, which must start empty;
/// `raw` is the same store's object layer, through which the checks damage
/// what it holds.
pub async fn blob_store_conformance(store: &dyn BlobStore, raw: &dyn Objects) {
    round_trip(store).await;
    dedupe(store).await;
    missing(store).await;
    empty_and_binary(store).await;
    concurrent_puts(store).await;
    corruption(store, raw).await;
    batches(store, raw).await;
    packs(store, raw).await;
    lying_indexes(store, raw).await;
    merged_indexes(store, raw).await;
    large_streamed(store, 64 << 20).await;
    listing(store).await;
    garbage_collection(store, raw).await;
}

/// Garbage collection removes only what no one references and what is
/// older than the grace period, in two steps: condemned blobs are still
/// readable (but no longer deduplicated against) until a later run removes
/// them, unless they are referenced again by then. It merges the indexes
/// into one.
pub async fn garbage_collection(store: &dyn BlobStore, raw: &dyn Objects) {
    use crate::maintain::{GcOptions, collect_garbage};
    use std::collections::HashSet;
    use std::time::{Duration, SystemTime};
    let name = store.describe();
    let mut live: HashSet<Digest> = store
        .list_blobs()
        .await
        .expect("list")
        .into_iter()
        .collect();
    let batch = |texts: &[&str]| -> Vec<Bytes> {
        texts
            .iter()
            .map(|t| Bytes::from(t.as_bytes().to_vec()))
            .collect()
    };
    let a = store
        .put_many(batch(&["gc: kept", "gc: dropped from a kept pack"]))
        .await
        .expect("put a");
    let b = store
        .put_many(batch(&["gc: dropped with its pack"]))
        .await
        .expect("put b");
    let large = Bytes::from(vec![3u8; PACK_THRESHOLD as usize + 5]);
    let loose_dropped = store.put(large.clone()).await.expect("put loose");
    live.insert(a[0].digest);
    let grace = Duration::from_secs(3600);
    let at = |hours: u64| GcOptions {
        grace,
        now: SystemTime::now() + Duration::from_secs(hours * 3600),
        dry_run: false,
    };

    // Nothing is old enough yet.
    let report = collect_garbage(raw, &name, &live, &at(0))
        .await
        .expect("gc");
    assert_eq!(
        (report.condemned, report.removed_packs),
        (0, 0),
        "{report:?}"
    );
    assert_eq!(report.indexes.1, 1, "the indexes are merged into one");
    assert_eq!(raw.list_objects(Area::Index).await.expect("list").len(), 1);

    // Two hours on: the unreferenced blobs are condemned, still readable,
    // but no longer deduplicated against.
    let dry = collect_garbage(
        raw,
        &name,
        &live,
        &GcOptions {
            dry_run: true,
            ..at(2)
        },
    )
    .await
    .expect("dry run");
    let report = collect_garbage(raw, &name, &live, &at(2))
        .await
        .expect("gc");
    assert_eq!(dry, report, "a dry run reports what a run does");
    assert_eq!(report.condemned, 3, "{report:?}");
    for put in [&a[1], &b[0], &loose_dropped] {
        assert!(
            store.get(&put.digest).await.is_ok(),
            "condemned is readable"
        );
    }
    let again = store
        .put_many(batch(&["gc: dropped with its pack", "gc: stored after"]))
        .await
        .expect("put again");
    assert_eq!(again[0].new_bytes, 25, "stored anew, not deduplicated");
    assert!(!store.has(&loose_dropped.digest).await.expect("has"));

    // Something names a condemned blob again before the trash is purged:
    // it is restored, not removed.
    live.insert(a[1].digest);
    let report = collect_garbage(raw, &name, &live, &at(4))
        .await
        .expect("gc");
    assert_eq!(report.restored, 1, "{report:?}");
    assert!(report.removed_blobs >= 2, "{report:?}");
    assert_eq!(
        store.get(&a[1].digest).await.expect("restored"),
        batch(&["gc: dropped from a kept pack"])[0]
    );
    assert!(
        store
            .get(&loose_dropped.digest)
            .await
            .expect_err("removed")
            .is_not_found()
    );
    assert_eq!(
        store.get(&a[0].digest).await.expect("kept"),
        batch(&["gc: kept"])[0]
    );
    // The new copy of the blob condemned with its pack is intact, the
    // old pack is gone.
    assert_eq!(
        store.get(&b[0].digest).await.expect("new copy"),
        batch(&["gc: dropped with its pack"])[0]
    );
    assert!(report.removed_packs >= 1, "{report:?}");
}

/// Where `digest`'s bytes are: `(pack, offset)` when an index names it.
pub async fn find_in_packs(raw: &dyn Objects, digest: &Digest) -> Option<(Digest, u64)> {
    for listed in raw.list_objects(Area::Index).await.expect("list indexes") {
        let Some(bytes) = raw
            .read_object(Area::Index, &listed.name)
            .await
            .expect("read")
        else {
            continue;
        };
        let Ok(index) = Index::decode(&listed.name, &bytes, "test") else {
            continue;
        };
        for pack in &index.packs {
            if let Some(e) = pack.entries.iter().find(|e| e.digest == *digest) {
                return Some((pack.pack, e.offset));
            }
        }
    }
    None
}

/// Overwrites the stored bytes of `digest` with `data`, bypassing hashing,
/// as a damaged medium would: a loose copy is replaced; in a pack, the
/// blob's bytes are overwritten in place (`data` cut or zero-padded to the
/// blob's length, so its neighbours stay intact).
pub async fn corrupt(raw: &dyn Objects, digest: &Digest, data: Bytes) {
    if raw
        .object_exists(Area::Blobs, digest)
        .await
        .expect("exists")
    {
        raw.replace_object(Area::Blobs, digest, data)
            .await
            .expect("replace loose blob");
        return;
    }
    let (pack, offset) = find_in_packs(raw, digest)
        .await
        .expect("the blob is neither loose nor packed");
    let mut bytes = raw
        .read_object(Area::Packs, &pack)
        .await
        .expect("read pack")
        .expect("pack exists")
        .to_vec();
    let start = offset as usize;
    let index_len = find_len(raw, digest).await;
    let mut patch = data.to_vec();
    patch.resize(index_len, 0);
    bytes[start..start + index_len].copy_from_slice(&patch);
    raw.replace_object(Area::Packs, &pack, Bytes::from(bytes))
        .await
        .expect("replace pack");
}

async fn find_len(raw: &dyn Objects, digest: &Digest) -> usize {
    for listed in raw.list_objects(Area::Index).await.expect("list indexes") {
        let bytes = raw
            .read_object(Area::Index, &listed.name)
            .await
            .expect("read")
            .expect("index");
        let Ok(index) = Index::decode(&listed.name, &bytes, "test") else {
            continue;
        };
        for pack in &index.packs {
            if let Some(e) = pack.entries.iter().find(|e| e.digest == *digest) {
                return e.len as usize;
            }
        }
    }
    panic!("{digest} is in no index")
}

/// Every stored blob is listed; a removed blob is gone.
pub async fn listing(store: &dyn BlobStore) {
    let put = store
        .put(Bytes::from_static(b"listed by the suite"))
        .await
        .expect("put");
    let listed = store.list_blobs().await.expect("list");
    assert!(listed.contains(&put.digest));
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    store.remove_blob(&put.digest).await.expect("remove");
    assert!(!store.has(&put.digest).await.expect("has"));
    assert!(
        !store
            .list_blobs()
            .await
            .expect("list")
            .contains(&put.digest)
    );
}

/// A blob of `size` bytes (at least 64 MiB in the full suite) goes in from a
/// file and comes back out to a file, verified, with streaming backends
/// never holding it whole.
pub async fn large_streamed(store: &dyn BlobStore, size: u64) {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("large.bin");
    let mut expected = crate::Hasher::new();
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&source).expect("create"));
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut chunk = vec![0u8; 1 << 16];
        let mut left = size + 123;
        while left > 0 {
            for b in chunk.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            let n = left.min(chunk.len() as u64) as usize;
            expected.update(&chunk[..n]);
            file.write_all(&chunk[..n]).expect("write");
            left -= n as u64;
        }
        file.flush().expect("flush");
    }
    let expected = expected.finish();
    let put = store.put_file(&source).await.expect("put_file");
    assert_eq!(put.digest, expected);
    assert_eq!(put.new_bytes, size + 123);
    assert!(store.has(&expected).await.expect("has"));
    let again = store.put_file(&source).await.expect("put_file again");
    assert_eq!(again.new_bytes, 0, "re-putting stores nothing new");
    let out = dir.path().join("out.bin");
    let len = store
        .get_to_file(&expected, &out)
        .await
        .expect("get_to_file");
    assert_eq!(len, size + 123);
    let (actual, _) = crate::fs::hash_file(&out).expect("hash");
    assert_eq!(actual, expected);
    let missing = Digest::of(b"not there");
    let target = dir.path().join("never.bin");
    assert!(
        store
            .get_to_file(&missing, &target)
            .await
            .expect_err("missing")
            .is_not_found()
    );
    assert!(!target.exists(), "no file is created for a missing blob");
}

/// Put then get returns the same bytes under the SHA-256 of the content.
pub async fn round_trip(store: &dyn BlobStore) {
    let data = Bytes::from_static(b"round trip\n");
    let put = store.put(data.clone()).await.expect("put");
    assert_eq!(put.digest, Digest::of(&data));
    assert_eq!(put.new_bytes, data.len() as u64);
    assert!(store.has(&put.digest).await.expect("has"));
    assert_eq!(store.get(&put.digest).await.expect("get"), data);
}

/// Identical content is stored once: the second put adds no bytes.
pub async fn dedupe(store: &dyn BlobStore) {
    let data = Bytes::from(vec![7u8; 4096]);
    let first = store.put(data.clone()).await.expect("first put");
    let second = store.put(data.clone()).await.expect("second put");
    let third = store.put_if_absent(data).await.expect("put_if_absent");
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.new_bytes, 4096);
    assert_eq!(second.new_bytes, 0);
    assert_eq!(third.new_bytes, 0);
}

/// An absent digest is `NotFound` naming it, and `has` says false.
pub async fn missing(store: &dyn BlobStore) {
    let digest = Digest::of(b"never stored by the conformance suite");
    assert!(!store.has(&digest).await.expect("has"));
    match store.get(&digest).await {
        Err(err @ Error::NotFound { .. }) => {
            assert!(err.to_string().contains(&digest.to_string()), "{err}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Empty blobs and arbitrary bytes survive unchanged.
pub async fn empty_and_binary(store: &dyn BlobStore) {
    let empty = store.put(Bytes::new()).await.expect("put empty");
    assert_eq!(store.get(&empty.digest).await.expect("get empty").len(), 0);
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let put = store.put(Bytes::from(binary.clone())).await.expect("put");
    assert_eq!(&store.get(&put.digest).await.expect("get")[..], &binary[..]);
}

/// Concurrent puts of the same and different content all succeed and
/// return the right digests.
pub async fn concurrent_puts(store: &dyn BlobStore) {
    let c: Vec<Bytes> = (0..6)
        .map(|i| Bytes::from(format!("concurrent blob {}", i % 3)))
        .collect();
    let puts = tokio::join!(
        store.put(c[0].clone()),
        store.put(c[1].clone()),
        store.put(c[2].clone()),
        store.put(c[3].clone()),
        store.put(c[4].clone()),
        store.put(c[5].clone()),
    );
    let puts = [puts.0, puts.1, puts.2, puts.3, puts.4, puts.5];
    for (put, content) in puts.into_iter().zip(&c) {
        let put = put.expect("concurrent put");
        assert_eq!(put.digest, Digest::of(content));
        assert_eq!(
            store.get(&put.digest).await.expect("get after put"),
            content
        );
    }
}

/// A blob whose stored bytes were changed is reported as corrupted, naming
/// the digest, and a later correct put heals it.
pub async fn corruption(store: &dyn BlobStore, raw: &dyn Objects) {
    let data = Bytes::from_static(b"soon to be corrupted");
    let put = store.put(data.clone()).await.expect("put");
    let mut flipped = data.to_vec();
    flipped[3] ^= 0x01;
    let cases = [Bytes::from(flipped), data.slice(..data.len() / 2)];
    for bad in cases {
        corrupt(raw, &put.digest, bad).await;
        match store.get(&put.digest).await {
            Err(err @ Error::Corrupted { .. }) => {
                assert!(err.to_string().contains(&put.digest.to_string()), "{err}");
            }
            other => panic!("expected Corrupted, got {other:?}"),
        }
        let healed = store.put(data.clone()).await.expect("healing put");
        assert_eq!(healed.new_bytes, data.len() as u64);
        assert_eq!(store.get(&put.digest).await.expect("get healed"), data);
    }
}

/// `put_many` and `get_many` keep order and dedupe like single puts and
/// gets (batches large enough to be split across threads), and in
/// `get_many` a missing or corrupted blob fails alone.
pub async fn batches(store: &dyn BlobStore, raw: &dyn Objects) {
    let blobs: Vec<Bytes> = (0..200u32)
        .map(|i| Bytes::from(format!("batched blob {i} ").repeat(1 + i as usize % 7)))
        .collect();
    let already = store
        .put_many(vec![blobs[5].clone()])
        .await
        .expect("put_many");
    // The same content twice in one batch is stored once.
    let mut batch = blobs.clone();
    batch.push(blobs[9].clone());
    let puts = store.put_many(batch.clone()).await.expect("put_many");
    assert_eq!(puts.len(), batch.len());
    for (put, data) in puts.iter().zip(&batch) {
        assert_eq!(put.digest, Digest::of(data), "in order");
    }
    assert_eq!(puts[5].new_bytes, 0, "already stored: {already:?}");
    let new_bytes: u64 = puts.iter().map(|p| p.new_bytes).sum();
    let expected: u64 = blobs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert_eq!(new_bytes, expected, "each new blob counted once");
    let again = store.put_many(blobs.clone()).await.expect("put_many again");
    assert!(
        again.iter().all(|p| p.new_bytes == 0),
        "re-put adds nothing"
    );
    assert_eq!(store.put_many(Vec::new()).await.expect("empty batch"), []);

    let missing = Digest::of(b"never stored by the batch check");
    let mut wanted: Vec<Digest> = puts.iter().map(|p| p.digest).collect();
    wanted.insert(17, missing);
    let got = store.get_many(&wanted).await;
    assert_eq!(got.len(), wanted.len());
    for (i, result) in got.iter().enumerate() {
        match result {
            Err(Error::NotFound { digest, .. }) if i == 17 => assert_eq!(*digest, missing),
            Ok(bytes) if i != 17 => assert_eq!(Digest::of(bytes), wanted[i], "in order"),
            other => panic!("entry {i}: unexpected {other:?}"),
        }
    }
    assert!(store.get_many(&[]).await.is_empty());

    let victim = puts[42].digest;
    corrupt(raw, &victim, Bytes::from_static(b"not what was stored")).await;
    let got = store.get_many(&wanted).await;
    for (i, result) in got.iter().enumerate() {
        match result {
            Err(e @ Error::PackEntryCorrupted { digest, .. }) if wanted[i] == victim => {
                assert_eq!(*digest, victim);
                assert!(e.is_corrupted());
                assert!(e.to_string().contains(&victim.to_string()), "{e}");
            }
            Err(Error::NotFound { .. }) if i == 17 => {}
            Ok(_) if wanted[i] != victim && i != 17 => {}
            other => panic!("entry {i}: unexpected {other:?}"),
        }
    }
    // A correct put stores a good copy, which reads prefer to the
    // damaged one.
    let healed = store.put(blobs[42].clone()).await.expect("heal");
    assert_eq!(healed.new_bytes, blobs[42].len() as u64);
    assert_eq!(store.get(&victim).await.expect("healed"), blobs[42]);
}

/// A batch of small blobs becomes a few packs and one index, not one object
/// each; storing it again writes nothing; large blobs of a batch stay
/// loose; blobs stored loose (as layout v1 stores hold them) read as
/// before.
pub async fn packs(store: &dyn BlobStore, raw: &dyn Objects) {
    let count = |area| async move { raw.list_objects(area).await.expect("list").len() };
    let (packs_before, indexes_before) = (count(Area::Packs).await, count(Area::Index).await);
    let loose_before = count(Area::Blobs).await;
    let small: Vec<Bytes> = (0..300u32)
        .map(|i| Bytes::from(format!("packed blob {i}\n").repeat(1 + i as usize % 5)))
        .collect();
    let large = Bytes::from(vec![7u8; PACK_THRESHOLD as usize + 1]);
    let mut batch = small.clone();
    batch.push(large.clone());
    let puts = store.put_many(batch.clone()).await.expect("put_many");
    assert_eq!(count(Area::Packs).await, packs_before + 1, "one pack");
    assert_eq!(count(Area::Index).await, indexes_before + 1, "one index");
    assert_eq!(
        count(Area::Blobs).await,
        loose_before + 1,
        "the large blob is loose"
    );
    assert!(
        raw.object_exists(Area::Blobs, &Digest::of(&large))
            .await
            .expect("exists")
    );
    let again = store.put_many(batch.clone()).await.expect("put_many again");
    assert!(again.iter().all(|p| p.new_bytes == 0));
    assert_eq!(
        count(Area::Index).await,
        indexes_before + 1,
        "nothing written"
    );
    let digests: Vec<Digest> = puts.iter().map(|p| p.digest).collect();
    for (got, data) in store.get_many(&digests).await.into_iter().zip(&batch) {
        assert_eq!(&got.expect("get packed"), data);
    }
    assert!(store.has(&digests[3]).await.expect("has"));
    let listed = store.list_blobs().await.expect("list");
    assert!(
        digests.iter().all(|d| listed.contains(d)),
        "packed blobs are listed"
    );

    // A blob stored loose by an earlier version, and a packed one, in one
    // read; and the same digest asked for twice.
    let v1 = Bytes::from_static(b"stored loose by layout v1");
    let v1_digest = Digest::of(&v1);
    raw.create_object(Area::Blobs, &v1_digest, v1.clone())
        .await
        .expect("create loose");
    let got = store.get_many(&[v1_digest, digests[0], v1_digest]).await;
    assert_eq!(got[0].as_ref().expect("loose"), &v1);
    assert_eq!(got[1].as_ref().expect("packed"), &small[0]);
    assert_eq!(got[2].as_ref().expect("loose again"), &v1);

    // A packed blob survives its pack's neighbours being damaged, and a
    // damaged one is an error naming it and its pack, never other bytes.
    let victim = digests[10];
    let (pack, _) = find_in_packs(raw, &victim).await.expect("packed");
    corrupt(raw, &victim, Bytes::from_static(b"rot")).await;
    match store.get(&victim).await {
        Err(e @ Error::PackEntryCorrupted { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&victim.to_string()) && text.contains(&pack.to_string()),
                "{text}"
            );
        }
        other => panic!("expected a corrupted pack entry, got {other:?}"),
    }
    assert_eq!(store.get(&digests[11]).await.expect("neighbour"), small[11]);

    // A pack that is gone: its blobs are not found, by name.
    raw.remove_object(Area::Packs, &pack).await.expect("remove");
    match store.get(&digests[12]).await {
        Err(Error::NotFound { digest, .. }) => assert_eq!(digest, digests[12]),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// A store that collects many indexes (one per batch, between garbage
/// collections) has them merged by the next writer, so reading them stays
/// a few requests; nothing is lost in the merge.
pub async fn merged_indexes(store: &dyn BlobStore, raw: &dyn Objects) {
    let before = raw.list_objects(Area::Index).await.expect("list").len();
    let mut digests = Vec::new();
    for i in 0..=crate::MERGE_INDEXES_AT {
        let puts = store
            .put_many(vec![Bytes::from(format!("merge me {i}"))])
            .await
            .expect("put_many");
        digests.push(puts[0].digest);
    }
    let indexes = raw.list_objects(Area::Index).await.expect("list").len();
    assert!(
        indexes <= crate::MERGE_INDEXES_AT && indexes < before + digests.len(),
        "{indexes} indexes ({before} before {} batches)",
        digests.len()
    );
    for (got, digest) in store.get_many(&digests).await.iter().zip(&digests) {
        assert_eq!(Digest::of(got.as_ref().expect("get")), *digest);
    }
}

/// Indexes are untrusted: one whose bytes do not match its name is a clear
/// error naming it, and one that lies about where a blob is never makes a
/// read return the wrong bytes.
pub async fn lying_indexes(store: &dyn BlobStore, raw: &dyn Objects) {
    let blobs: Vec<Bytes> = ["first honest blob", "second honest blob"]
        .iter()
        .map(|t| Bytes::from_static(t.as_bytes()))
        .collect();
    let puts = store.put_many(blobs.clone()).await.expect("put_many");
    let (pack, _) = find_in_packs(raw, &puts[0].digest).await.expect("packed");
    let pack_len = raw
        .read_object(Area::Packs, &pack)
        .await
        .expect("read")
        .expect("pack")
        .len() as u64;
    // "This other blob is where the first one is."
    let claimed = Digest::of(b"a blob nobody stored");
    let lie = Index::new(vec![crate::pack::PackRecord {
        pack,
        len: pack_len,
        entries: vec![crate::pack::Entry {
            digest: claimed,
            offset: PACK_MAGIC.len() as u64,
            len: blobs[0].len() as u64,
            flags: 0,
        }],
    }]);
    let bytes = lie.encode();
    let lie_name = Digest::of(&bytes);
    raw.create_object(Area::Index, &lie_name, bytes)
        .await
        .expect("write the lie");
    match store.get(&claimed).await {
        Err(e @ Error::PackEntryCorrupted { .. }) => {
            assert!(e.to_string().contains(&claimed.to_string()), "{e}");
        }
        other => panic!("a lying index must not yield bytes: {other:?}"),
    }
    assert_eq!(store.get(&puts[1].digest).await.expect("honest"), blobs[1]);
    raw.remove_object(Area::Index, &lie_name)
        .await
        .expect("remove");

    // An index naming a pack that is not there (garbage collection removed
    // a copy): the blob's other copy is read.
    let ghost = Digest::of(b"a pack that is not there");
    let dangling = Index::new(vec![crate::pack::PackRecord {
        pack: ghost,
        len: pack_len,
        entries: vec![crate::pack::Entry {
            digest: puts[1].digest,
            offset: PACK_MAGIC.len() as u64,
            len: blobs[1].len() as u64,
            flags: 0,
        }],
    }]);
    let bytes = dangling.encode();
    let dangling_name = Digest::of(&bytes);
    raw.create_object(Area::Index, &dangling_name, bytes)
        .await
        .expect("write");
    for _ in 0..2 {
        assert_eq!(
            store.get(&puts[1].digest).await.expect("other copy"),
            blobs[1]
        );
    }
    raw.remove_object(Area::Index, &dangling_name)
        .await
        .expect("remove");

    // An index whose bytes are not what its name says.
    let mut builder = PackBuilder::new();
    builder.add(Digest::of(b"x"), b"x");
    let (_, record) = builder.finish();
    let good = Index::new(vec![record]).encode();
    let wrong_name = Digest::of(b"not the index's bytes");
    raw.create_object(Area::Index, &wrong_name, good)
        .await
        .expect("write");
    let err = store
        .put_many(vec![Bytes::from_static(b"any")])
        .await
        .expect_err("a damaged index is an error");
    assert!(
        matches!(&err, Error::InvalidPack { object, .. } if object.contains(&wrong_name.to_string())),
        "{err}"
    );
    raw.remove_object(Area::Index, &wrong_name)
        .await
        .expect("remove");
    store
        .put_many(vec![Bytes::from_static(b"any")])
        .await
        .expect("usable again");
}

/// Runs every document-store check against `store`, which must start empty.
pub async fn document_store_conformance(store: &dyn DocumentStore) {
    document_versions(store).await;
    document_conflicts(store).await;
    document_races(store).await;
    document_listing(store).await;
    document_compaction(store).await;
}

/// Versions are listed, read one by one and removed: a removed version is
/// gone from every read, the newest still wins, a writer whose version was
/// removed loses its race, and a document whose versions are all removed
/// is not listed and can be created again.
pub async fn document_compaction(store: &dyn DocumentStore) {
    let k = key("compaction/record");
    let mut last = store
        .create(&k, Bytes::from_static(b"1"))
        .await
        .expect("create");
    for i in 2..=5u8 {
        last = store
            .update(&k, last, Bytes::from(vec![b'0' + i]))
            .await
            .expect("update");
    }
    let versions: Vec<Version> = store
        .versions(&k)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, (1..=5).map(Version).collect::<Vec<_>>());
    assert_eq!(
        store
            .get_version(&k, Version(3))
            .await
            .expect("get")
            .as_deref(),
        Some(&b"3"[..])
    );
    for v in [2, 3] {
        store.delete_version(&k, Version(v)).await.expect("delete");
    }
    assert_eq!(store.get_version(&k, Version(3)).await.expect("get"), None);
    let versions: Vec<u64> = store
        .versions(&k)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version.0)
        .collect();
    assert_eq!(versions, [1, 4, 5]);
    assert_eq!(store.get(&k).await.expect("latest").version, Version(5));
    // A writer that read a version compaction removed has lost anyway.
    assert!(
        store
            .update(&k, Version(3), Bytes::from_static(b"late"))
            .await
            .expect_err("stale")
            .is_conflict()
    );
    assert_eq!(
        store
            .update(&k, Version(5), Bytes::from_static(b"6"))
            .await
            .expect("update"),
        Version(6)
    );
    store.delete(&k).await.expect("delete all");
    assert!(store.get_latest(&k).await.expect("read").is_none());
    assert!(!store.list("compaction").await.expect("list").contains(&k));
    store
        .create(&k, Bytes::from_static(b"again"))
        .await
        .expect("created anew");
    store.delete(&k).await.expect("delete all");
}

fn key(text: &str) -> DocKey {
    DocKey::new(text).expect("valid key")
}

/// Create, read, update: versions count up and the newest wins.
pub async fn document_versions(store: &dyn DocumentStore) {
    let k = key("conformance/versions");
    assert!(store.get_latest(&k).await.expect("get missing").is_none());
    assert!(store.get(&k).await.expect_err("missing").is_not_found());
    let v1 = store
        .create(&k, Bytes::from_static(b"one"))
        .await
        .expect("create");
    assert_eq!(v1, Version(1));
    let v2 = store
        .update(&k, v1, Bytes::from_static(b"two"))
        .await
        .expect("update");
    assert_eq!(v2, Version(2));
    let latest = store.get(&k).await.expect("get");
    assert_eq!(
        (latest.version, &latest.data[..]),
        (Version(2), &b"two"[..])
    );
}

/// Stale writers get a typed conflict naming the document; nothing is lost.
pub async fn document_conflicts(store: &dyn DocumentStore) {
    let k = key("conformance/conflicts");
    let v1 = store
        .create(&k, Bytes::from_static(b"first"))
        .await
        .expect("create");
    match store.create(&k, Bytes::from_static(b"again")).await {
        Err(err @ Error::Conflict { .. }) => assert!(err.to_string().contains(k.as_str()), "{err}"),
        other => panic!("expected Conflict on second create, got {other:?}"),
    }
    store
        .update(&k, v1, Bytes::from_static(b"winner"))
        .await
        .expect("update");
    match store.update(&k, v1, Bytes::from_static(b"loser")).await {
        Err(Error::Conflict {
            expected,
            attempted,
            ..
        }) => {
            assert_eq!((expected, attempted), (Some(Version(1)), Version(2)));
        }
        other => panic!("expected Conflict on stale update, got {other:?}"),
    }
    // A version the writer cannot have read is refused, never creating a gap.
    assert!(
        store
            .update(&k, Version(7), Bytes::from_static(b"gap"))
            .await
            .is_err()
    );
    let missing = key("conformance/never-created");
    assert!(
        store
            .update(&missing, Version(1), Bytes::from_static(b"x"))
            .await
            .is_err()
    );
    let latest = store.get(&k).await.expect("get");
    assert_eq!(
        (latest.version, &latest.data[..]),
        (Version(2), &b"winner"[..])
    );
}

/// Eight writers race from the same version: exactly one wins.
pub async fn document_races(store: &dyn DocumentStore) {
    let k = key("conformance/race");
    let v1 = store
        .create(&k, Bytes::from_static(b"start"))
        .await
        .expect("create");
    let w = |i: u8| store.update(&k, v1, Bytes::from(vec![b'0' + i]));
    let r = tokio::join!(w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7));
    let results = [r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7];
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(Error::is_conflict)
    );
    let latest = store.get(&k).await.expect("get");
    assert_eq!(latest.version, Version(2));
}

/// Listing by prefix is sorted and respects segment boundaries.
pub async fn document_listing(store: &dyn DocumentStore) {
    for k in ["list/a", "list/b/c", "listing/x"] {
        store
            .create(&key(k), Bytes::from_static(b"{}"))
            .await
            .expect("create");
    }
    let listed = store.list("list").await.expect("list");
    assert_eq!(listed, vec![key("list/a"), key("list/b/c")]);
    let all = store.list("").await.expect("list all");
    assert!(all.contains(&key("listing/x")) && all.len() >= 3);
}
