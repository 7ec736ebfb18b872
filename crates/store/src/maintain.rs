//! Integrity checks, repairs and garbage collection of layout v2 — loose
//! blobs, packs and indexes — written once over a store's [`Objects`]
//! (see [`BlobStore::objects`]).
//!
//! # Garbage collection without locks
//!
//! [`collect_garbage`] is given the digests something still references
//! (the caller walks runs, manifests and conversations) and removes the
//! rest in two steps, so that it is safe while others write:
//!
//! 1. **Condemn.** A blob no one references, in a pack or loose object
//!    older than the grace period, is withdrawn from the store's view: its
//!    index entry moves to a *trash index* (`trash/index/…`), a loose blob
//!    moves to `trash/blobs/`. Writers no longer deduplicate against it
//!    (they upload it again if they need it), but reads still find it.
//! 2. **Purge.** A later run removes trash older than the grace period —
//!    unless something references it by then (a writer that decided to
//!    reuse it just before it was condemned, and named it afterwards): then
//!    it is restored instead.
//!
//! Nothing younger than the grace period is ever condemned or removed, so a
//! push in flight — packs written, index or manifest not yet — loses
//! nothing. The one assumption: a writer names what it stored (writes the
//! manifest or record that references it) within the grace period of
//! deciding to reuse it, which for a snapshot is seconds.
//!
//! Each run also merges every index into one, so reads stay a listing
//! plus one index read however many snapshots were taken.
//!
//! [`BlobStore::objects`]: crate::BlobStore::objects

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::pack::{self, Entry, Index, PackRecord};
use crate::raw::{Area, Listed, Objects};
use crate::{Digest, Error, MANY_IN_FLIGHT, Result};

/// One problem [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    /// The object: `index sha256:…`, `pack sha256:…`.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
}

fn is_old(modified: Option<SystemTime>, now: SystemTime, age: Duration) -> bool {
    modified.is_some_and(|m| now.duration_since(m).is_ok_and(|a| a >= age))
}

/// Every index of `area`, decoded; those that fail are returned apart.
async fn load(
    raw: &dyn Objects,
    area: Area,
    store: &str,
) -> Result<(Vec<(Listed, Index)>, Vec<(Listed, Error)>)> {
    let listed = raw.list_objects(area).await?;
    let read: Vec<(Listed, Option<Result<Index>>)> = stream::iter(listed)
        .map(|l| async move {
            let bytes = raw.read_object(area, &l.name).await?;
            Ok::<_, Error>((l, bytes.map(|b| Index::decode(&l.name, &b, store))))
        })
        .buffer_unordered(MANY_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (l, index) in read {
        match index {
            Some(Ok(index)) => good.push((l, index)),
            Some(Err(e)) => bad.push((l, e)),
            None => {}
        }
    }
    good.sort_by_key(|(l, _)| l.name);
    Ok((good, bad))
}

/// What a pack holds, read whole: its record and its damaged entries.
struct Scanned {
    record: PackRecord,
    corrupted: Vec<Entry>,
}

async fn scan_pack(raw: &dyn Objects, name: &Digest, store: &str) -> Result<Option<Scanned>> {
    let Some(data) = raw.read_object(Area::Packs, name).await? else {
        return Ok(None);
    };
    let (record, corrupted) = pack::verify_pack(name, &data, store)?;
    Ok(Some(Scanned { record, corrupted }))
}

/// Checks every index and pack: indexes decode and match their names;
/// packs are well formed, match their names, and every blob in them its
/// digest; every entry an index names is where it says, in a pack that
/// exists; and no pack older than `min_age` is left out of every index.
/// Reads every pack whole.
pub async fn check(
    raw: &dyn Objects,
    store: &str,
    min_age: Duration,
    now: SystemTime,
) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let (indexes, bad) = load(raw, Area::Index, store).await?;
    for (listed, error) in bad {
        problems.push(Problem {
            object: format!("index {}", listed.name),
            problem: error.to_string(),
        });
    }
    let (trash, bad_trash) = load(raw, Area::Trash, store).await?;
    for (listed, error) in bad_trash {
        problems.push(Problem {
            object: format!("trashed index {}", listed.name),
            problem: error.to_string(),
        });
    }
    let mut packs: HashMap<Digest, Option<PackRecord>> = HashMap::new();
    for listed in raw.list_objects(Area::Packs).await? {
        let object = format!("pack {}", listed.name);
        match scan_pack(raw, &listed.name, store).await {
            Ok(Some(scanned)) => {
                for e in &scanned.corrupted {
                    problems.push(Problem {
                        object: object.clone(),
                        problem: format!(
                            "blob {} ({} bytes at offset {}) is corrupted",
                            e.digest, e.len, e.offset
                        ),
                    });
                }
                packs.insert(listed.name, Some(scanned.record));
            }
            Ok(None) => {}
            Err(e) => {
                problems.push(Problem {
                    object,
                    problem: e.to_string(),
                });
                packs.insert(listed.name, None);
            }
        }
        let named = indexes
            .iter()
            .chain(&trash)
            .any(|(_, i)| i.packs.iter().any(|p| p.pack == listed.name));
        if !named && is_old(listed.modified, now, min_age) {
            problems.push(Problem {
                object: format!("pack {}", listed.name),
                problem: "no index names it: a writer stopped before it wrote its index \
                          (gc removes it; fsck --repair indexes it)"
                    .to_owned(),
            });
        }
    }
    for (listed, index) in &indexes {
        let object = format!("index {}", listed.name);
        for record in &index.packs {
            let Some(found) = packs.get(&record.pack) else {
                problems.push(Problem {
                    object: object.clone(),
                    problem: format!("names pack {}, which is not in the store", record.pack),
                });
                continue;
            };
            let Some(found) = found else { continue };
            let held: HashSet<(Digest, u64, u64)> = found
                .entries
                .iter()
                .map(|e| (e.digest, e.offset, e.len))
                .collect();
            for e in &record.entries {
                if !held.contains(&(e.digest, e.offset, e.len)) {
                    problems.push(Problem {
                        object: object.clone(),
                        problem: format!(
                            "says blob {} is {} bytes at offset {} of pack {}, which holds no such blob there",
                            e.digest, e.len, e.offset, record.pack
                        ),
                    });
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    Ok(problems)
}

/// Repairs what [`check`] finds and can be repaired without losing a blob
/// that is intact: removes indexes that are damaged and rewrites those that
/// lie (keeping what the packs really hold), and indexes the intact blobs
/// of packs older than `min_age` that no index names. Returns what it did.
pub async fn repair(
    raw: &dyn Objects,
    store: &str,
    min_age: Duration,
    now: SystemTime,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let (indexes, bad) = load(raw, Area::Index, store).await?;
    for (listed, _) in bad {
        raw.remove_object(Area::Index, &listed.name).await?;
        done.push(format!("removed damaged index {}", listed.name));
    }
    let (trash, _) = load(raw, Area::Trash, store).await?;
    let mut scanned: HashMap<Digest, Scanned> = HashMap::new();
    let listed_packs = raw.list_objects(Area::Packs).await?;
    for listed in &listed_packs {
        if let Ok(Some(s)) = scan_pack(raw, &listed.name, store).await {
            scanned.insert(listed.name, s);
        }
    }
    // Indexes that name blobs their packs do not hold there.
    for (listed, index) in &indexes {
        let mut honest = Vec::new();
        let mut lied = false;
        for record in &index.packs {
            let Some(found) = scanned.get(&record.pack) else {
                lied = true;
                continue;
            };
            let held: HashSet<Entry> = found.record.entries.iter().copied().collect();
            let entries: Vec<Entry> = record
                .entries
                .iter()
                .filter(|e| held.contains(e))
                .copied()
                .collect();
            lied |= entries.len() != record.entries.len();
            if !entries.is_empty() {
                honest.push(PackRecord {
                    pack: record.pack,
                    len: found.record.len,
                    entries,
                });
            }
        }
        if lied {
            write_index(raw, Area::Index, honest).await?;
            raw.remove_object(Area::Index, &listed.name).await?;
            done.push(format!(
                "rewrote index {} with only what its packs hold",
                listed.name
            ));
        }
    }
    // Packs no index names.
    for listed in &listed_packs {
        let named = indexes
            .iter()
            .chain(&trash)
            .any(|(_, i)| i.packs.iter().any(|p| p.pack == listed.name));
        if named || !is_old(listed.modified, now, min_age) {
            continue;
        }
        let Some(found) = scanned.get(&listed.name) else {
            continue;
        };
        let bad: HashSet<Entry> = found.corrupted.iter().copied().collect();
        let entries: Vec<Entry> = found
            .record
            .entries
            .iter()
            .filter(|e| !bad.contains(e))
            .copied()
            .collect();
        let count = entries.len();
        write_index(
            raw,
            Area::Index,
            vec![PackRecord {
                pack: listed.name,
                len: found.record.len,
                entries,
            }],
        )
        .await?;
        done.push(format!("indexed pack {} ({count} blobs)", listed.name));
    }
    Ok(done)
}

/// Writes an index of `packs` (nothing when there are none); returns its
/// name.
async fn write_index(
    raw: &dyn Objects,
    area: Area,
    packs: Vec<PackRecord>,
) -> Result<Option<Digest>> {
    let packs: Vec<PackRecord> = packs
        .into_iter()
        .filter(|p| !p.entries.is_empty())
        .collect();
    if packs.is_empty() {
        return Ok(None);
    }
    let bytes = Index::new(packs).encode();
    let name = Digest::of(&bytes);
    raw.create_object(area, &name, bytes).await?;
    Ok(Some(name))
}

/// The self-describing documents the store holds (manifests,
/// conversations: blobs that open with `{"format":"`): the packed ones the
/// indexes flag, and the loose ones, found by reading their first bytes.
pub async fn documents(raw: &dyn Objects, store: &str) -> Result<Vec<Digest>> {
    let (indexes, bad) = load(raw, Area::Index, store).await?;
    if let Some((_, error)) = bad.into_iter().next() {
        return Err(error);
    }
    let mut out: Vec<Digest> = indexes
        .iter()
        .flat_map(|(_, i)| i.packs.iter().flat_map(|p| p.entries.iter()))
        .filter(|e| e.is_document())
        .map(|e| e.digest)
        .collect();
    let prefix = br#"{"format":""#;
    let loose = raw.list_objects(Area::Blobs).await?;
    let found: Vec<Option<Digest>> = stream::iter(loose)
        .map(|l| async move {
            let start = 0..prefix.len() as u64;
            let head = raw
                .read_ranges(Area::Blobs, &l.name, std::slice::from_ref(&start))
                .await?;
            let is_document = head
                .and_then(|parts| parts.into_iter().next())
                .is_some_and(|b| b.starts_with(prefix));
            Ok::<_, Error>(is_document.then_some(l.name))
        })
        .buffer_unordered(MANY_IN_FLIGHT)
        .try_collect()
        .await?;
    out.extend(found.into_iter().flatten());
    out.sort();
    out.dedup();
    Ok(out)
}

/// How [`collect_garbage`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Nothing younger than this is condemned, and condemned blobs are
    /// removed only once they have been in the trash this long.
    pub grace: Duration,
    /// The time to judge ages at (the clock, except in tests).
    pub now: SystemTime,
    /// Report what would be done, and do nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(24 * 60 * 60),
            now: SystemTime::now(),
            dry_run: false,
        }
    }
}

/// What [`collect_garbage`] did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GcReport {
    /// Blobs kept (packed and loose).
    pub kept: usize,
    /// Blobs no one references, withdrawn into the trash now.
    pub condemned: usize,
    /// Trashed blobs someone referenced again, restored.
    pub restored: usize,
    /// Trashed blobs removed for good (their bytes go with their pack).
    pub removed_blobs: usize,
    /// Packs removed (every blob in them gone).
    pub removed_packs: usize,
    /// Bytes of the packs and loose blobs removed.
    pub removed_bytes: u64,
    /// Index files before, and after merging them into one.
    pub indexes: (usize, usize),
}

/// Entries to write into one index: pack → (its length, its entries).
type Packs = BTreeMap<Digest, (u64, Vec<Entry>)>;

fn add(packs: &mut Packs, record: &PackRecord, entry: Entry) {
    packs
        .entry(record.pack)
        .or_insert_with(|| (record.len, Vec::new()))
        .1
        .push(entry);
}

fn records(packs: Packs) -> Vec<PackRecord> {
    packs
        .into_iter()
        .map(|(pack, (len, entries))| PackRecord { pack, len, entries })
        .collect()
}

/// Removes what no one references, in the two steps the module describes.
/// `live` is every digest something references (and the documents that do
/// the referencing). Refuses to run on a store whose indexes it cannot
/// read.
pub async fn collect_garbage(
    raw: &dyn Objects,
    store: &str,
    live: &HashSet<Digest>,
    options: &GcOptions,
) -> Result<GcReport> {
    let now = options.now;
    let old = |m: Option<SystemTime>| is_old(m, now, options.grace);
    let (indexes, bad) = load(raw, Area::Index, store).await?;
    if let Some((_, error)) = bad.into_iter().next() {
        return Err(error);
    }
    let (trash, bad) = load(raw, Area::Trash, store).await?;
    if let Some((_, error)) = bad.into_iter().next() {
        return Err(error);
    }
    let packs: HashMap<Digest, Listed> = raw
        .list_objects(Area::Packs)
        .await?
        .into_iter()
        .map(|l| (l.name, l))
        .collect();
    let mut report = GcReport {
        indexes: (indexes.len(), indexes.len()),
        ..GcReport::default()
    };

    let mut keep = Packs::new();
    let mut condemned = Packs::new();
    let mut seen = HashSet::new();
    for (_, index) in &indexes {
        for record in &index.packs {
            let Some(listed) = packs.get(&record.pack) else {
                // Entries of a pack that is gone point at nothing.
                continue;
            };
            for entry in &record.entries {
                if !seen.insert(entry.digest) {
                    // Another copy is kept: this one is dropped.
                } else if live.contains(&entry.digest) || !old(listed.modified) {
                    add(&mut keep, record, *entry);
                    report.kept += 1;
                } else {
                    add(&mut condemned, record, *entry);
                    report.condemned += 1;
                }
            }
        }
    }
    let mut purged_trash = Vec::new();
    let mut trash_packs = HashSet::new();
    for (listed, index) in &trash {
        let purge = old(listed.modified);
        for record in &index.packs {
            for entry in &record.entries {
                if live.contains(&entry.digest)
                    && packs.contains_key(&record.pack)
                    && seen.insert(entry.digest)
                {
                    add(&mut keep, record, *entry);
                    report.restored += 1;
                } else if purge {
                    report.removed_blobs += 1;
                }
            }
            if !purge {
                trash_packs.insert(record.pack);
            }
        }
        if purge {
            purged_trash.push(listed.name);
        }
    }
    trash_packs.extend(condemned.keys().copied());

    let loose = raw.list_objects(Area::Blobs).await?;
    let trashed_loose = raw.list_objects(Area::TrashBlobs).await?;
    let mut loose_moves = Vec::new();
    let mut loose_removals = Vec::new();
    for l in &loose {
        if live.contains(&l.name) || !old(l.modified) {
            report.kept += 1;
        } else {
            loose_moves.push((Area::Blobs, Area::TrashBlobs, l.name));
            report.condemned += 1;
        }
    }
    for t in &trashed_loose {
        if live.contains(&t.name) {
            loose_moves.push((Area::TrashBlobs, Area::Blobs, t.name));
            report.restored += 1;
        } else if old(t.modified) {
            loose_removals.push(t.name);
            report.removed_blobs += 1;
            report.removed_bytes += t.size;
        }
    }
    let referenced: HashSet<Digest> = keep
        .keys()
        .copied()
        .chain(trash_packs.iter().copied())
        .collect();
    let doomed_packs: Vec<&Listed> = packs
        .values()
        .filter(|l| !referenced.contains(&l.name) && old(l.modified))
        .collect();
    report.removed_packs = doomed_packs.len();
    report.removed_bytes += doomed_packs.iter().map(|l| l.size).sum::<u64>();
    report.indexes.1 = usize::from(!keep.is_empty());
    if options.dry_run {
        return Ok(report);
    }

    // Every write comes before the removals that depend on it: the merged
    // index and the trash index first, then the old indexes go.
    let merged = write_index(raw, Area::Index, records(keep)).await?;
    write_index(raw, Area::Trash, records(condemned)).await?;
    for (listed, _) in &indexes {
        if Some(listed.name) != merged {
            raw.remove_object(Area::Index, &listed.name).await?;
        }
    }
    for name in purged_trash {
        raw.remove_object(Area::Trash, &name).await?;
    }
    for (from, to, name) in loose_moves {
        raw.move_object(from, to, &name).await?;
    }
    for name in loose_removals {
        raw.remove_object(Area::TrashBlobs, &name).await?;
    }
    for listed in doomed_packs {
        raw.remove_object(Area::Packs, &listed.name).await?;
    }
    tracing::info!(?report, "collected garbage");
    Ok(report)
}
