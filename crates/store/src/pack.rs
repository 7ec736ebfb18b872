//! The pack and index formats of store layout v2.
//!
//! Small blobs are not stored one object each but together, in **packs**:
//! on an object store every object is a round trip, so a snapshot of a
//! thousand small files becomes one pack upload instead of a thousand
//! uploads. Which blob is where is said by **indexes**. Both are immutable
//! and content-addressed, like blobs; both are untrusted input when read.
//!
//! # Pack (`packs/<2 hex>/<62 hex>`)
//!
//! | bytes | content |
//! |---|---|
//! | 16 | magic `handoff.pack/v1\n` |
//! | … | the blobs' bytes, back to back |
//! | 49 × n | the entry table: per blob its SHA-256 (32), offset (u64 LE), length (u64 LE), flags (u8) |
//! | 8 | the table's offset (u64 LE) |
//! | 8 | the entry count n (u64 LE) |
//!
//! A pack is named by the SHA-256 of its entry table: the table lists the
//! digest of every blob in it, so the name covers the whole content, and
//! every blob read from a pack is checked against its own digest.
//!
//! # Index (`index/<64 hex>`)
//!
//! | bytes | content |
//! |---|---|
//! | 17 | magic `handoff.index/v1\n` |
//! | 8 | the pack count (u64 LE) |
//! | per pack | its name (32), its length (u64 LE), its entry count (u64 LE), then its entries as in the pack's table |
//!
//! An index is named by the SHA-256 of all its bytes. Packs are sorted by
//! name and entries by offset, so the same packs always give the same index.
//! The store's view of what is packed is the union of its indexes; garbage
//! collection keeps indexes of condemned entries under `trash/index/`.
//!
//! Entry flags: bit 0 marks a *document*, a blob whose bytes open with
//! `{"format":"` (manifests, conversations): the roots that garbage
//! collection starts from are found without reading every blob.

use bytes::Bytes;

use crate::{Digest, Error, Result};

/// The magic bytes a pack starts with.
pub const PACK_MAGIC: &[u8; 16] = b"handoff.pack/v1\n";

/// The magic bytes an index starts with.
pub const INDEX_MAGIC: &[u8; 17] = b"handoff.index/v1\n";

/// Blobs smaller than this are packed by [`BlobStore::put_many`]; larger
/// ones are stored as objects of their own (streamed where the backend
/// can).
///
/// [`BlobStore::put_many`]: crate::BlobStore::put_many
pub const PACK_THRESHOLD: u64 = 1 << 20;

/// A pack is closed once its blobs reach this many bytes.
pub const PACK_TARGET: u64 = 16 << 20;

/// Flag of an entry whose blob is a self-describing document.
pub const FLAG_DOCUMENT: u8 = 1;

/// The most entries an index or pack may declare (far beyond any real
/// pack; it bounds what a hostile file can make a reader allocate).
const MAX_ENTRIES: u64 = 1 << 24;

const ENTRY_LEN: usize = 32 + 8 + 8 + 1;

/// One blob in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    /// The blob's digest.
    pub digest: Digest,
    /// Where its bytes start in the pack.
    pub offset: u64,
    /// How many bytes it has.
    pub len: u64,
    /// [`FLAG_DOCUMENT`] or 0.
    pub flags: u8,
}

impl Entry {
    /// Whether the blob is a self-describing document.
    pub fn is_document(&self) -> bool {
        self.flags & FLAG_DOCUMENT != 0
    }

    /// The byte range of the blob in its pack.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset.saturating_add(self.len)
    }
}

/// A pack as an index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRecord {
    /// The pack's name.
    pub pack: Digest,
    /// The pack's length in bytes.
    pub len: u64,
    /// Its blobs, by offset.
    pub entries: Vec<Entry>,
}

/// The flags a blob gets from its content.
pub fn flags_for(data: &[u8]) -> u8 {
    if data.starts_with(br#"{"format":""#) {
        FLAG_DOCUMENT
    } else {
        0
    }
}

fn put_entry(out: &mut Vec<u8>, entry: &Entry) {
    out.extend_from_slice(entry.digest.as_bytes());
    out.extend_from_slice(&entry.offset.to_le_bytes());
    out.extend_from_slice(&entry.len.to_le_bytes());
    out.push(entry.flags);
}

/// Builds a pack from blobs.
#[derive(Debug, Default)]
pub struct PackBuilder {
    data: Vec<u8>,
    entries: Vec<Entry>,
}

impl PackBuilder {
    /// An empty pack.
    pub fn new() -> Self {
        let mut data = Vec::new();
        data.extend_from_slice(PACK_MAGIC);
        Self {
            data,
            entries: Vec::new(),
        }
    }

    /// Adds a blob (its digest already computed).
    pub fn add(&mut self, digest: Digest, blob: &[u8]) {
        self.entries.push(Entry {
            digest,
            offset: self.data.len() as u64,
            len: blob.len() as u64,
            flags: flags_for(blob),
        });
        self.data.extend_from_slice(blob);
    }

    /// How many bytes of blobs it holds.
    pub fn blob_bytes(&self) -> u64 {
        (self.data.len() - PACK_MAGIC.len()) as u64
    }

    /// Whether it holds no blob.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pack's bytes and how an index describes it.
    pub fn finish(mut self) -> (Bytes, PackRecord) {
        let table_offset = self.data.len() as u64;
        let mut table = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for entry in &self.entries {
            put_entry(&mut table, entry);
        }
        let pack = Digest::of(&table);
        self.data.extend_from_slice(&table);
        self.data.extend_from_slice(&table_offset.to_le_bytes());
        self.data
            .extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        let len = self.data.len() as u64;
        (
            Bytes::from(self.data),
            PackRecord {
                pack,
                len,
                entries: self.entries,
            },
        )
    }
}

/// Reads fixed-size fields from untrusted bytes.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.data.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn u64(&mut self) -> Option<u64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    fn digest(&mut self) -> Option<Digest> {
        let bytes: [u8; 32] = self.take(32)?.try_into().ok()?;
        Some(Digest::from_bytes(bytes))
    }

    fn entry(&mut self) -> Option<Entry> {
        Some(Entry {
            digest: self.digest()?,
            offset: self.u64()?,
            len: self.u64()?,
            flags: *self.take(1)?.first()?,
        })
    }

    fn left(&self) -> usize {
        self.data.len() - self.at
    }
}

/// Checks that `entries` lie one after another between the magic and
/// `end`, without overlap.
fn check_entries(entries: &[Entry], end: u64) -> std::result::Result<(), String> {
    let mut next = PACK_MAGIC.len() as u64;
    for entry in entries {
        if entry.offset < next {
            return Err(format!(
                "entry {} at offset {} overlaps the one before it",
                entry.digest, entry.offset
            ));
        }
        let stop = entry.offset.saturating_add(entry.len);
        if stop > end {
            return Err(format!(
                "entry {} ({} bytes at offset {}) runs past the blobs' end at {end}",
                entry.digest, entry.len, entry.offset
            ));
        }
        next = stop;
    }
    Ok(())
}

/// A decoded index: the packs it lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// The packs, by name.
    pub packs: Vec<PackRecord>,
}

impl Index {
    /// An index of `packs`.
    pub fn new(mut packs: Vec<PackRecord>) -> Self {
        packs.sort_by_key(|p| p.pack);
        packs.dedup_by_key(|p| p.pack);
        for pack in &mut packs {
            pack.entries.sort_by_key(|e| e.offset);
        }
        Self { packs }
    }

    /// How many entries it lists.
    pub fn entry_count(&self) -> usize {
        self.packs.iter().map(|p| p.entries.len()).sum()
    }

    /// The encoded index (its name is the SHA-256 of these bytes).
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(
            INDEX_MAGIC.len() + 8 + self.packs.len() * 48 + self.entry_count() * ENTRY_LEN,
        );
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&(self.packs.len() as u64).to_le_bytes());
        for pack in &self.packs {
            out.extend_from_slice(pack.pack.as_bytes());
            out.extend_from_slice(&pack.len.to_le_bytes());
            out.extend_from_slice(&(pack.entries.len() as u64).to_le_bytes());
            for entry in &pack.entries {
                put_entry(&mut out, entry);
            }
        }
        Bytes::from(out)
    }

    /// Decodes index `name` from `data`, checking its name, its structure
    /// and that every entry lies inside its pack.
    pub fn decode(name: &Digest, data: &[u8], store: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidPack {
            object: format!("index {name}"),
            reason,
            store: store.to_owned(),
        };
        let actual = Digest::of(data);
        if actual != *name {
            return Err(invalid(format!(
                "its {} bytes hash to {actual}",
                data.len()
            )));
        }
        let mut r = Reader { data, at: 0 };
        if r.take(INDEX_MAGIC.len()) != Some(&INDEX_MAGIC[..]) {
            return Err(invalid("it does not start with the index magic".to_owned()));
        }
        let truncated = || invalid("it is truncated".to_owned());
        let count = r.u64().ok_or_else(truncated)?;
        if count > (r.left() / 48) as u64 {
            return Err(invalid(format!("it declares {count} packs")));
        }
        let mut packs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let pack = r.digest().ok_or_else(truncated)?;
            let len = r.u64().ok_or_else(truncated)?;
            let n = r.u64().ok_or_else(truncated)?;
            if n > MAX_ENTRIES || n > (r.left() / ENTRY_LEN) as u64 {
                return Err(invalid(format!("pack {pack} declares {n} entries")));
            }
            let mut entries = Vec::with_capacity(n as usize);
            for _ in 0..n {
                entries.push(r.entry().ok_or_else(truncated)?);
            }
            // The table and trailer follow the blobs: at least 16 bytes
            // plus one table row per entry.
            let blobs_end = len.saturating_sub(16 + n * ENTRY_LEN as u64);
            check_entries(&entries, blobs_end)
                .map_err(|reason| invalid(format!("pack {pack}: {reason}")))?;
            packs.push(PackRecord { pack, len, entries });
        }
        if r.left() != 0 {
            return Err(invalid(format!("{} bytes follow its last pack", r.left())));
        }
        Ok(Self { packs })
    }
}

/// Reads the entry table of a whole pack named `name`, checking the
/// pack's structure and its name (not the blobs: see [`verify_pack`]).
pub fn decode_pack(name: &Digest, data: &[u8], store: &str) -> Result<PackRecord> {
    let invalid = |reason: String| Error::InvalidPack {
        object: format!("pack {name}"),
        reason,
        store: store.to_owned(),
    };
    if !data.starts_with(PACK_MAGIC) {
        return Err(invalid("it does not start with the pack magic".to_owned()));
    }
    let len = data.len();
    if len < PACK_MAGIC.len() + 16 {
        return Err(invalid("it is truncated".to_owned()));
    }
    let mut trailer = Reader {
        data: &data[len - 16..],
        at: 0,
    };
    let (Some(table_offset), Some(count)) = (trailer.u64(), trailer.u64()) else {
        return Err(invalid("it is truncated".to_owned()));
    };
    let table_len = count.checked_mul(ENTRY_LEN as u64);
    let table_end = table_len.and_then(|t| t.checked_add(table_offset));
    if count > MAX_ENTRIES || table_end != Some((len - 16) as u64) {
        return Err(invalid(format!(
            "its trailer (table at {table_offset}, {count} entries) does not fit its {len} bytes"
        )));
    }
    let start = usize::try_from(table_offset).map_err(|_| invalid("too large".to_owned()))?;
    let table = &data[start..len - 16];
    let actual = Digest::of(table);
    if actual != *name {
        return Err(invalid(format!("its entry table hashes to {actual}")));
    }
    let mut r = Reader { data: table, at: 0 };
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        entries.push(
            r.entry()
                .ok_or_else(|| invalid("it is truncated".to_owned()))?,
        );
    }
    check_entries(&entries, table_offset).map_err(invalid)?;
    Ok(PackRecord {
        pack: *name,
        len: len as u64,
        entries,
    })
}

/// Checks a whole pack: its structure, its name, and every blob against its
/// digest. Returns its record and the entries whose bytes are corrupted.
pub fn verify_pack(name: &Digest, data: &[u8], store: &str) -> Result<(PackRecord, Vec<Entry>)> {
    let record = decode_pack(name, data, store)?;
    let corrupted = record
        .entries
        .iter()
        .filter(|e| {
            let range = e.offset as usize..(e.offset + e.len) as usize;
            data.get(range).is_none_or(|b| Digest::of(b) != e.digest)
        })
        .copied()
        .collect();
    Ok((record, corrupted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_of(blobs: &[&[u8]]) -> (Bytes, PackRecord) {
        let mut builder = PackBuilder::new();
        for blob in blobs {
            builder.add(Digest::of(blob), blob);
        }
        builder.finish()
    }

    #[test]
    fn a_pack_and_its_index_round_trip() {
        let (data, record) = pack_of(&[b"one", b"", br#"{"format":"x"}"#]);
        assert_eq!(decode_pack(&record.pack, &data, "s").unwrap(), record);
        let (_, corrupted) = verify_pack(&record.pack, &data, "s").unwrap();
        assert!(corrupted.is_empty());
        assert_eq!(
            record
                .entries
                .iter()
                .map(Entry::is_document)
                .collect::<Vec<_>>(),
            [false, false, true]
        );
        let index = Index::new(vec![record.clone()]);
        let bytes = index.encode();
        let name = Digest::of(&bytes);
        assert_eq!(Index::decode(&name, &bytes, "s").unwrap(), index);
        let e = record.entries[0];
        assert_eq!(
            &data[e.range().start as usize..e.range().end as usize],
            b"one"
        );
    }

    #[test]
    fn damaged_packs_and_indexes_are_refused_with_their_name() {
        let (data, record) = pack_of(&[b"alpha", b"beta"]);
        let mut flipped = data.to_vec();
        flipped[PACK_MAGIC.len()] ^= 1;
        let (_, corrupted) = verify_pack(&record.pack, &flipped, "s").unwrap();
        assert_eq!(corrupted, vec![record.entries[0]]);
        let short = &data[..data.len() - 3];
        let err = decode_pack(&record.pack, short, "s").unwrap_err();
        assert!(err.to_string().contains(&record.pack.to_string()), "{err}");

        // An index that lies about an entry's place is refused when it
        // points outside the pack.
        let mut lying = record.clone();
        lying.entries[1].offset = record.len;
        let bytes = Index::new(vec![lying]).encode();
        let name = Digest::of(&bytes);
        let err = Index::decode(&name, &bytes, "s").unwrap_err();
        assert!(err.to_string().contains("runs past"), "{err}");
        // And one whose bytes do not hash to its name.
        let other = Digest::of(b"other");
        let err = Index::decode(&other, &bytes, "s").unwrap_err();
        assert!(err.to_string().contains(&other.to_string()), "{err}");
        // Garbage never panics.
        for cut in 0..bytes.len() {
            let part = &bytes[..cut];
            assert!(Index::decode(&Digest::of(part), part, "s").is_err());
        }
    }
}
