//! The blob operations of layout v2, written once over [`Objects`] for
//! every backend: small blobs of a batch go into packs ([`pack`]), named by
//! indexes; large blobs stay loose; reads find a blob through the store's
//! indexes, fetch it with a few large range reads per pack, and check it
//! against its digest.
//!
//! A process keeps a *view* of the store's indexes (which blob is in which
//! pack). It is loaded on first use with one listing plus one read per
//! index, and refreshed — one listing, plus a read of each index not seen
//! before — before every [`put_many`] (so that deduplication never trusts
//! an index garbage collection has since withdrawn), before a `has` when it
//! is older than [`VIEW_TTL`], and when a read misses. A caller that knows
//! a batch is coming [`prepare`]s it: the refresh then runs while the
//! caller does other work (a snapshot captures the working tree), and the
//! next [`put_many`] within [`PREPARED_TTL`] uses it instead of its own.
//!
//! Stores written by earlier versions (layout v1: loose blobs only) stay
//! readable: a blob that no index names is looked for loose.
//!
//! [`pack`]: crate::pack

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};

#[cfg(doc)]
use crate::BlobStore;
use crate::pack::{self, Entry, Index, PackBuilder, PackRecord};
use crate::raw::{Area, Objects};
use crate::{Digest, Error, MANY_IN_FLIGHT, Put, Result};

/// How long a view of the indexes is trusted by `has` before it is
/// refreshed.
pub const VIEW_TTL: Duration = Duration::from_secs(30);

/// How long a view refreshed by [`BlobStore::prepare`] stands in for the
/// refresh the next [`BlobStore::put_many`] would make. Reusing a view this old is as safe as
/// reusing one refreshed at the batch's start: garbage collection restores
/// what a writer names within its grace period (see [`crate::maintain`]).
pub const PREPARED_TTL: Duration = Duration::from_secs(60);

/// Ranges of one pack closer than this are read as one (reading a gap is
/// cheaper than another request).
const COALESCE_GAP: u64 = 1 << 20;

/// How many packs are written or read at once.
const PACKS_IN_FLIGHT: usize = 4;

/// Batches smaller than this per thread are hashed on one thread.
const HASH_MIN_PER_WORKER: usize = 64;

/// What a backend provides besides [`Objects`]: its loose-blob operations
/// (the layout v1 ones, which it implements best itself) and its view.
#[async_trait]
pub(crate) trait Loose: Objects {
    /// The view of the store's indexes this handle keeps.
    fn packs(&self) -> &Packs;
    /// How the store names itself in errors.
    fn store_name(&self) -> String;
    /// Stores one loose blob (healing a corrupted copy).
    async fn loose_put(&self, data: Bytes) -> Result<Put>;
    /// Reads loose blobs, verified, one result per digest.
    async fn loose_get_many(&self, digests: &[Digest]) -> Vec<Result<Bytes>>;
    /// Whether a loose blob exists.
    async fn loose_has(&self, digest: &Digest) -> Result<bool>;
}

/// Where a packed blob is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    pack: Digest,
    offset: u64,
    len: u64,
}

#[derive(Debug, Default)]
struct View {
    indexes: HashMap<Digest, Arc<Index>>,
    entries: HashMap<Digest, Loc>,
    /// Packs an index names that turned out not to exist (garbage
    /// collection removed them): another copy of their blobs is used.
    missing: HashSet<Digest>,
    refreshed: Option<Instant>,
    /// When [`prepare`] refreshed the view for a batch to come (taken by
    /// that batch).
    prepared: Option<Instant>,
}

impl View {
    fn add(&mut self, index: &Index) {
        for pack in &index.packs {
            if self.missing.contains(&pack.pack) {
                continue;
            }
            for e in &pack.entries {
                self.entries.entry(e.digest).or_insert(Loc {
                    pack: pack.pack,
                    offset: e.offset,
                    len: e.len,
                });
            }
        }
    }

    fn rebuild(&mut self) {
        self.entries.clear();
        let indexes: Vec<Arc<Index>> = self.indexes.values().cloned().collect();
        for index in indexes {
            self.add(&index);
        }
    }
}

/// A handle's view of a store's indexes. Cloning a backend handle shares it.
#[derive(Debug, Default)]
pub(crate) struct Packs {
    view: RwLock<View>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Packs {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn locate(&self, digest: &Digest) -> Option<Loc> {
        self.read().entries.get(digest).copied()
    }

    fn age(&self) -> Option<Duration> {
        self.read().refreshed.map(|t| t.elapsed())
    }

    /// Records an index this handle wrote.
    fn learn(&self, name: Digest, index: Index) {
        let mut view = self.write();
        view.add(&index);
        view.indexes.insert(name, Arc::new(index));
    }

    /// Forgets everything (after garbage collection rewrote the indexes).
    pub(crate) fn forget(&self) {
        *self.write() = View::default();
    }

    /// Records that `packs` do not exist: their blobs are looked for
    /// elsewhere until the next refresh.
    fn mark_missing(&self, packs: &HashSet<Digest>) {
        if packs.is_empty() {
            return;
        }
        let mut view = self.write();
        view.missing.extend(packs.iter().copied());
        view.rebuild();
    }
}

/// A handle that sees more indexes than this merges them into one after
/// its next batch, so that reading the indexes stays a few requests even
/// between garbage collections.
pub const MERGE_INDEXES_AT: usize = 32;

/// Reads and decodes the indexes `names` of `area`, several at a time;
/// those gone meanwhile are left out.
async fn read_indexes<B: Loose + ?Sized>(
    b: &B,
    area: Area,
    names: Vec<Digest>,
) -> Result<Vec<(Digest, Index)>> {
    let store = b.store_name();
    let store = &store;
    let found: Vec<Option<(Digest, Index)>> = stream::iter(names)
        .map(|name| async move {
            match b.read_object(area, &name).await? {
                Some(bytes) => Ok(Some((name, Index::decode(&name, &bytes, store)?))),
                None => Ok(None),
            }
        })
        .buffer_unordered(MANY_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Brings the view up to date with the store's indexes: one listing, and a
/// read of each index not seen before.
pub(crate) async fn refresh<B: Loose + ?Sized>(b: &B) -> Result<()> {
    let packs = b.packs();
    let _one_at_a_time = packs.refreshing.lock().await;
    let listed: HashSet<Digest> = b
        .list_objects(Area::Index)
        .await?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let new: Vec<Digest> = {
        let view = packs.read();
        listed
            .iter()
            .filter(|n| !view.indexes.contains_key(n))
            .copied()
            .collect()
    };
    let loaded = read_indexes(b, Area::Index, new).await?;
    let mut view = packs.write();
    let before = view.indexes.len();
    view.indexes.retain(|name, _| listed.contains(name));
    let removed = view.indexes.len() != before || !view.missing.is_empty();
    view.missing.clear();
    for (name, index) in loaded {
        if !removed {
            view.add(&index);
        }
        view.indexes.insert(name, Arc::new(index));
    }
    if removed {
        view.rebuild();
    }
    view.refreshed = Some(Instant::now());
    Ok(())
}

/// Refreshes the view for a batch about to be stored, so that the next
/// [`put_many`] (within [`PREPARED_TTL`]) need not.
pub(crate) async fn prepare<B: Loose + ?Sized>(b: &B) -> Result<()> {
    refresh(b).await?;
    let mut view = b.packs().write();
    view.prepared = view.refreshed;
    Ok(())
}

async fn ensure_loaded<B: Loose + ?Sized>(b: &B) -> Result<()> {
    if b.packs().age().is_none() {
        refresh(b).await?;
    }
    Ok(())
}

/// The digests of `blobs`, hashed on a few threads when there are many.
async fn digests_of(blobs: &[Bytes]) -> Result<Vec<Digest>> {
    let per = crate::chunk_len(blobs.len(), HASH_MIN_PER_WORKER);
    if per >= blobs.len() {
        let owned = blobs.to_vec();
        return tokio::task::spawn_blocking(move || owned.iter().map(|b| Digest::of(b)).collect())
            .await
            .map_err(|source| Error::Task {
                what: format!("hash {} blobs", blobs.len()),
                source,
            });
    }
    let tasks: Vec<_> = blobs
        .chunks(per)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            tokio::task::spawn_blocking(move || {
                chunk.iter().map(|b| Digest::of(b)).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut out = Vec::with_capacity(blobs.len());
    for task in tasks {
        out.extend(task.await.map_err(|source| Error::Task {
            what: format!("hash {} blobs", blobs.len()),
            source,
        })?);
    }
    Ok(out)
}

/// Stores a batch: small new blobs into packs, large new ones loose; what
/// the store has is not written again. Loose blobs go first, then the
/// packs, then one index naming the packs — the moment every packed blob
/// of the batch becomes visible, together.
pub(crate) async fn put_many<B: Loose + ?Sized>(b: &B, blobs: Vec<Bytes>) -> Result<Vec<Put>> {
    if blobs.is_empty() {
        return Ok(Vec::new());
    }
    let prepared = b
        .packs()
        .write()
        .prepared
        .take()
        .is_some_and(|at| at.elapsed() <= PREPARED_TTL);
    if !prepared {
        refresh(b).await?;
    }
    let digests = digests_of(&blobs).await?;
    let mut puts: Vec<Put> = digests
        .iter()
        .map(|&digest| Put {
            digest,
            new_bytes: 0,
        })
        .collect();
    let mut seen = HashSet::new();
    let mut small = Vec::new();
    let mut large = Vec::new();
    {
        let view = b.packs().read();
        for (i, (digest, data)) in digests.iter().zip(&blobs).enumerate() {
            if !seen.insert(*digest) || view.entries.contains_key(digest) {
                continue;
            }
            if (data.len() as u64) < pack::PACK_THRESHOLD {
                small.push(i);
            } else {
                large.push(i);
            }
        }
    }
    let stored: Vec<(usize, Put)> = stream::iter(large)
        .map(|i| {
            let data = blobs[i].clone();
            let digest = digests[i];
            async move {
                if b.loose_has(&digest).await? {
                    return Ok((
                        i,
                        Put {
                            digest,
                            new_bytes: 0,
                        },
                    ));
                }
                Ok::<_, Error>((i, b.loose_put(data).await?))
            }
        })
        .buffer_unordered(MANY_IN_FLIGHT)
        .try_collect()
        .await?;
    for (i, put) in stored {
        puts[i] = put;
    }
    if small.is_empty() {
        return Ok(puts);
    }
    let mut built = Vec::new();
    let mut builder = PackBuilder::new();
    for &i in &small {
        builder.add(digests[i], &blobs[i]);
        puts[i].new_bytes = blobs[i].len() as u64;
        if builder.blob_bytes() >= pack::PACK_TARGET {
            built.push(std::mem::take(&mut builder).finish());
            builder = PackBuilder::new();
        }
    }
    if !builder.is_empty() {
        built.push(builder.finish());
    }
    let records: Vec<PackRecord> = stream::iter(built)
        .map(|(data, record)| async move {
            b.create_object(Area::Packs, &record.pack, data).await?;
            Ok::<_, Error>(record)
        })
        .buffer_unordered(PACKS_IN_FLIGHT)
        .try_collect()
        .await?;
    let index = Index::new(records);
    let bytes = index.encode();
    let name = Digest::of(&bytes);
    b.create_object(Area::Index, &name, bytes).await?;
    tracing::debug!(index = %name, packs = index.packs.len(), blobs = small.len(), "stored packs");
    b.packs().learn(name, index);
    if let Err(e) = merge_indexes(b).await {
        // The batch is stored; merging is tidying up.
        tracing::warn!(error = %e, "could not merge the store's indexes");
    }
    Ok(puts)
}

/// Merges every index the view holds into one when there are more than
/// [`MERGE_INDEXES_AT`]: the merged index is written first, then the ones
/// it replaces are removed. It only ever adds up what they name, so a
/// reader or writer racing with it sees every blob throughout.
async fn merge_indexes<B: Loose + ?Sized>(b: &B) -> Result<()> {
    let indexes: Vec<(Digest, Arc<Index>)> = {
        let view = b.packs().read();
        if view.indexes.len() <= MERGE_INDEXES_AT {
            return Ok(());
        }
        view.indexes.iter().map(|(n, i)| (*n, i.clone())).collect()
    };
    let mut packs: HashMap<Digest, PackRecord> = HashMap::new();
    for (_, index) in &indexes {
        for record in &index.packs {
            let merged = packs.entry(record.pack).or_insert_with(|| PackRecord {
                pack: record.pack,
                len: record.len,
                entries: Vec::new(),
            });
            merged.entries.extend(record.entries.iter().copied());
        }
    }
    for record in packs.values_mut() {
        record.entries.sort_by_key(|e| (e.offset, e.digest));
        record.entries.dedup_by_key(|e| (e.offset, e.digest));
    }
    let merged = Index::new(packs.into_values().collect());
    let bytes = merged.encode();
    let name = Digest::of(&bytes);
    b.create_object(Area::Index, &name, bytes).await?;
    for (old, _) in &indexes {
        if *old != name {
            b.remove_object(Area::Index, old).await?;
        }
    }
    let mut view = b.packs().write();
    view.indexes
        .retain(|n, _| !indexes.iter().any(|(old, _)| old == n));
    view.indexes.insert(name, Arc::new(merged));
    view.rebuild();
    tracing::debug!(merged = indexes.len(), index = %name, "merged indexes");
    Ok(())
}

/// Whether the store has `digest` (packed, per a view at most
/// [`VIEW_TTL`] old, or loose).
pub(crate) async fn has<B: Loose + ?Sized>(b: &B, digest: &Digest) -> Result<bool> {
    if b.packs().age().is_none_or(|age| age > VIEW_TTL) {
        refresh(b).await?;
    }
    if b.packs().locate(digest).is_some() {
        return Ok(true);
    }
    b.loose_has(digest).await
}

/// Merges sorted ranges whose gaps are small.
fn coalesce(ranges: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(COALESCE_GAP) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r.clone()),
        }
    }
    out
}

/// Reads `wanted` (blobs of one pack, by offset) with a few range reads and
/// checks each; `None` when the pack is not there.
async fn read_from_pack<B: Objects + ?Sized>(
    b: &B,
    area: Area,
    pack: Digest,
    mut wanted: Vec<(Digest, Loc)>,
    store: &str,
) -> Result<Option<Vec<(Digest, Result<Bytes>)>>> {
    wanted.sort_by_key(|(_, loc)| loc.offset);
    let ranges: Vec<Range<u64>> = wanted
        .iter()
        .map(|(_, l)| l.offset..l.offset.saturating_add(l.len))
        .collect();
    let merged = coalesce(&ranges);
    let Some(parts) = b.read_ranges(area, &pack, &merged).await? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(wanted.len());
    let mut part = 0;
    for ((digest, loc), range) in wanted.into_iter().zip(ranges) {
        while merged.get(part).is_some_and(|m| m.end < range.end) {
            part += 1;
        }
        let (Some(m), Some(bytes)) = (merged.get(part), parts.get(part)) else {
            out.push((
                digest,
                Err(corrupted(digest, pack, loc, Bytes::new(), store)),
            ));
            continue;
        };
        let start = (range.start - m.start) as usize;
        let end = ((range.end - m.start) as usize).min(bytes.len());
        let data = bytes.slice(start.min(end)..end);
        if Digest::of(&data) == digest && data.len() as u64 == loc.len {
            out.push((digest, Ok(data)));
        } else {
            out.push((digest, Err(corrupted(digest, pack, loc, data, store))));
        }
    }
    Ok(Some(out))
}

fn corrupted(digest: Digest, pack: Digest, loc: Loc, data: Bytes, store: &str) -> Error {
    Error::PackEntryCorrupted {
        digest,
        pack,
        offset: loc.offset,
        len: data.len() as u64,
        store: store.to_owned(),
    }
}

/// Reads blobs from their packs: one result per `(digest, location)`,
/// `None` for those whose pack is missing.
async fn read_located<B: Objects + ?Sized>(
    b: &B,
    area: Area,
    located: Vec<(Digest, Loc)>,
    store: &str,
) -> Result<Vec<(Digest, Option<Result<Bytes>>)>> {
    let mut by_pack: HashMap<Digest, Vec<(Digest, Loc)>> = HashMap::new();
    for (digest, loc) in located {
        by_pack.entry(loc.pack).or_default().push((digest, loc));
    }
    let groups: Vec<Vec<(Digest, Option<Result<Bytes>>)>> = stream::iter(by_pack)
        .map(|(pack, wanted)| async move {
            let digests: Vec<Digest> = wanted.iter().map(|(d, _)| *d).collect();
            Ok::<_, Error>(match read_from_pack(b, area, pack, wanted, store).await? {
                Some(read) => read.into_iter().map(|(d, r)| (d, Some(r))).collect(),
                None => digests.into_iter().map(|d| (d, None)).collect(),
            })
        })
        .buffer_unordered(PACKS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(groups.into_iter().flatten().collect())
}

/// Fetches blobs, verified: one result per digest, in order, each failing
/// alone.
pub(crate) async fn get_many<B: Loose + ?Sized>(b: &B, digests: &[Digest]) -> Vec<Result<Bytes>> {
    let store = b.store_name();
    let mut found: HashMap<Digest, Result<Bytes>> = HashMap::new();
    let unique: Vec<Digest> = {
        let mut seen = HashSet::new();
        digests
            .iter()
            .filter(|d| seen.insert(**d))
            .copied()
            .collect()
    };
    if let Err(e) = ensure_loaded(b).await {
        let message = e.to_string();
        return digests
            .iter()
            .map(|d| Err(backend_failure(d, &store, &message)))
            .collect();
    }
    let mut pending = unique;
    let mut refreshed = false;
    loop {
        let (located, loose): (Vec<_>, Vec<_>) = pending
            .iter()
            .map(|d| (*d, b.packs().locate(d)))
            .partition(|(_, loc)| loc.is_some());
        let located: Vec<(Digest, Loc)> = located
            .into_iter()
            .filter_map(|(d, l)| l.map(|l| (d, l)))
            .collect();
        let loose: Vec<Digest> = loose.into_iter().map(|(d, _)| d).collect();
        let mut retry = Vec::new();
        let mut fallback = Vec::new();
        let mut missing_packs = HashSet::new();
        let packs_of: HashMap<Digest, Digest> =
            located.iter().map(|(d, loc)| (*d, loc.pack)).collect();
        match read_located(b, Area::Packs, located, &store).await {
            Ok(read) => {
                for (digest, result) in read {
                    match result {
                        None => {
                            missing_packs.extend(packs_of.get(&digest).copied());
                            retry.push(digest);
                        }
                        Some(Err(e)) => {
                            // A corrupted packed copy: a loose copy (a
                            // later put healed it) may still be good.
                            fallback.push(digest);
                            found.insert(digest, Err(e));
                        }
                        Some(Ok(bytes)) => {
                            found.insert(digest, Ok(bytes));
                        }
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                for d in &pending {
                    if b.packs().locate(d).is_some() {
                        found.insert(*d, Err(backend_failure(d, &store, &message)));
                    }
                }
            }
        }
        let loose_results = b.loose_get_many(&loose).await;
        for (digest, result) in loose.into_iter().zip(loose_results) {
            match result {
                Err(e) if e.is_not_found() => retry.push(digest),
                other => {
                    found.insert(digest, other);
                }
            }
        }
        if !fallback.is_empty() {
            let healed = b.loose_get_many(&fallback).await;
            for (digest, result) in fallback.into_iter().zip(healed) {
                if let Ok(bytes) = result {
                    found.insert(digest, Ok(bytes));
                }
            }
        }
        if retry.is_empty() {
            break;
        }
        // Missing now: another writer may have stored it since the view was
        // loaded, or garbage collection moved it. Look once more.
        if !refreshed && refresh(b).await.is_ok() {
            refreshed = true;
            b.packs().mark_missing(&missing_packs);
            pending = retry;
            continue;
        }
        for (digest, result) in from_trash(b, &retry, &store).await {
            found.insert(digest, result);
        }
        break;
    }
    let mut wanted: HashMap<Digest, usize> = HashMap::new();
    for digest in digests {
        *wanted.entry(*digest).or_default() += 1;
    }
    digests
        .iter()
        .map(|digest| {
            let last = wanted.get_mut(digest).is_some_and(|n| {
                *n -= 1;
                *n == 0
            });
            let result = if last {
                found.remove(digest)
            } else {
                found.get(digest).map(|r| match r {
                    Ok(bytes) => Ok(bytes.clone()),
                    Err(e) => Err(e.duplicate()),
                })
            };
            result.unwrap_or_else(|| {
                Err(Error::NotFound {
                    digest: *digest,
                    store: store.clone(),
                })
            })
        })
        .collect()
}

/// Fetches one blob, verified.
pub(crate) async fn get_one<B: Loose + ?Sized>(b: &B, digest: &Digest) -> Result<Bytes> {
    get_many(b, std::slice::from_ref(digest))
        .await
        .pop()
        .unwrap_or_else(|| {
            Err(Error::NotFound {
                digest: *digest,
                store: b.store_name(),
            })
        })
}

fn backend_failure(digest: &Digest, store: &str, message: &str) -> Error {
    Error::Backend {
        action: "read",
        object: format!("blob {digest}"),
        store: store.to_owned(),
        source: message.to_owned().into(),
    }
}

/// Blobs that garbage collection condemned but that someone still asked
/// for (a writer that stored a reference to them just then): readable
/// until the next collection restores them.
async fn from_trash<B: Loose + ?Sized>(
    b: &B,
    digests: &[Digest],
    store: &str,
) -> Vec<(Digest, Result<Bytes>)> {
    let not_found = |d: &Digest| Error::NotFound {
        digest: *d,
        store: store.to_owned(),
    };
    let trashed = match b.list_objects(Area::Trash).await {
        Ok(listed) => read_indexes(b, Area::Trash, listed.into_iter().map(|l| l.name).collect())
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let mut locs = HashMap::new();
    for (_, index) in &trashed {
        for pack in &index.packs {
            for e in &pack.entries {
                locs.entry(e.digest).or_insert(Loc {
                    pack: pack.pack,
                    offset: e.offset,
                    len: e.len,
                });
            }
        }
    }
    let wanted: Vec<(Digest, Loc)> = digests
        .iter()
        .filter_map(|d| locs.get(d).map(|l| (*d, *l)))
        .collect();
    let mut out: HashMap<Digest, Result<Bytes>> = HashMap::new();
    if let Ok(read) = read_located(b, Area::Packs, wanted, store).await {
        for (digest, result) in read {
            if let Some(result) = result {
                out.insert(digest, result);
            }
        }
    }
    let mut results = Vec::with_capacity(digests.len());
    for digest in digests {
        if let Some(result) = out.remove(digest) {
            results.push((*digest, result));
            continue;
        }
        let result = match b.read_object(Area::TrashBlobs, digest).await {
            Ok(Some(data)) if Digest::of(&data) == *digest => Ok(data),
            Ok(Some(data)) => Err(Error::Corrupted {
                digest: *digest,
                actual: Digest::of(&data),
                len: data.len() as u64,
                store: store.to_owned(),
            }),
            Ok(None) => Err(not_found(digest)),
            Err(e) => Err(e),
        };
        results.push((*digest, result));
    }
    results
}

/// Every packed blob the indexes name, after a refresh.
pub(crate) async fn packed_digests<B: Loose + ?Sized>(b: &B) -> Result<Vec<Digest>> {
    refresh(b).await?;
    Ok(b.packs().read().entries.keys().copied().collect())
}

/// Withdraws `digest` from every index that names it (each such index is
/// written anew without it, then removed), so that the store no longer
/// has a packed copy; a later put stores it again.
pub(crate) async fn unindex<B: Loose + ?Sized>(b: &B, digest: &Digest) -> Result<()> {
    refresh(b).await?;
    let holding: Vec<(Digest, Arc<Index>)> = b
        .packs()
        .read()
        .indexes
        .iter()
        .filter(|(_, i)| {
            i.packs
                .iter()
                .any(|p| p.entries.iter().any(|e| e.digest == *digest))
        })
        .map(|(n, i)| (*n, i.clone()))
        .collect();
    for (name, index) in holding {
        let packs: Vec<PackRecord> = index
            .packs
            .iter()
            .map(|p| PackRecord {
                pack: p.pack,
                len: p.len,
                entries: p
                    .entries
                    .iter()
                    .filter(|e| e.digest != *digest)
                    .copied()
                    .collect::<Vec<Entry>>(),
            })
            .filter(|p| !p.entries.is_empty())
            .collect();
        if !packs.is_empty() {
            let index = Index::new(packs);
            let bytes = index.encode();
            b.create_object(Area::Index, &Digest::of(&bytes), bytes)
                .await?;
        }
        b.remove_object(Area::Index, &name).await?;
    }
    b.packs().forget();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearby_ranges_are_read_as_one() {
        let r = |a: u64, b: u64| a..b;
        assert_eq!(
            coalesce(&[r(0, 10), r(10, 20), r(20 + COALESCE_GAP, 30 + COALESCE_GAP)]),
            vec![r(0, 30 + COALESCE_GAP)]
        );
        assert_eq!(
            coalesce(&[r(0, 10), r(11 + COALESCE_GAP, 12 + COALESCE_GAP)]),
            vec![r(0, 10), r(11 + COALESCE_GAP, 12 + COALESCE_GAP)]
        );
        assert!(coalesce(&[]).is_empty());
    }
}
