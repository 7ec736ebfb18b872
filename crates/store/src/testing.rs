//! The conformance suite every [`BlobStore`] backend runs against itself.
//!
//! Call [`blob_store_conformance`] from the backend's own tests. It panics
//! (as tests do) on the first broken promise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;

use crate::{
    BlobStore, BlobStoreExt, Digest, DocKey, DocumentStore, DocumentStoreExt, Error, Version,
};

/// Overwrites the stored bytes of `digest` with `data`, bypassing hashing, to
/// simulate corruption on the medium. Returns `false` when the backend cannot
/// be corrupted from outside (the corruption cases are then not checked, and
/// the caller must say why in its test).
pub type Corrupt<'a> = dyn Fn(&Digest, Bytes) -> bool + Send + Sync + 'a;

/// Runs every conformance check against `store`, which must start empty.
pub async fn blob_store_conformance(store: &dyn BlobStore, corrupt: &Corrupt<'_>) {
    round_trip(store).await;
    dedupe(store).await;
    missing(store).await;
    empty_and_binary(store).await;
    concurrent_puts(store).await;
    corruption(store, corrupt).await;
    batches(store, corrupt).await;
    large_streamed(store, 64 << 20).await;
    listing(store).await;
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
pub async fn corruption(store: &dyn BlobStore, corrupt: &Corrupt<'_>) {
    let data = Bytes::from_static(b"soon to be corrupted");
    let put = store.put(data.clone()).await.expect("put");
    let mut flipped = data.to_vec();
    flipped[3] ^= 0x01;
    let cases = [Bytes::from(flipped), data.slice(..data.len() / 2)];
    for bad in cases {
        if !corrupt(&put.digest, bad) {
            return;
        }
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
pub async fn batches(store: &dyn BlobStore, corrupt: &Corrupt<'_>) {
    let blobs: Vec<Bytes> = (0..200u32)
        .map(|i| Bytes::from(format!("batched blob {i} ").repeat(1 + i as usize % 7)))
        .collect();
    let already = store.put(blobs[5].clone()).await.expect("put");
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
    if corrupt(&victim, Bytes::from_static(b"not what was stored")) {
        let got = store.get_many(&wanted).await;
        for (i, result) in got.iter().enumerate() {
            match result {
                Err(Error::Corrupted { digest, .. }) if wanted[i] == victim => {
                    assert_eq!(*digest, victim);
                }
                Err(Error::NotFound { .. }) if i == 17 => {}
                Ok(_) if wanted[i] != victim && i != 17 => {}
                other => panic!("entry {i}: unexpected {other:?}"),
            }
        }
        let healed = store.put(blobs[42].clone()).await.expect("heal");
        assert_eq!(healed.new_bytes, blobs[42].len() as u64);
        assert_eq!(store.get(&victim).await.expect("healed"), blobs[42]);
    }
}

/// Runs every document-store check against `store`, which must start empty.
pub async fn document_store_conformance(store: &dyn DocumentStore) {
    document_versions(store).await;
    document_conflicts(store).await;
    document_races(store).await;
    document_listing(store).await;
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
