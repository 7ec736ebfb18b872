//! Export a snapshot as a unified diff that `git apply` accepts on a clean
//! checkout of the base: additions, deletions, modifications, renames,
//! mode changes, symlinks, and binary files as git binary patches.
//!
//! The output follows `git diff --binary --full-index HEAD`: full object ids
//! on `index` lines (git refuses binary patches without them), paths quoted
//! the way git quotes them (`core.quotePath`), and `\ No newline at end of
//! file` markers. What a patch cannot express — nested repositories, hostile
//! paths, content the snapshot does not carry — is left out and listed in
//! the [`DiffOutcome`].
//!
//! A submodule's own changes are in the same patch, under its path
//! (`sub/file.txt`, see [`Manifest::flattened`]): `git apply` in the outer
//! working tree writes them into the submodule's files. Its moved `HEAD`
//! and carried commits are not patch material; its gitlink is listed as
//! left out.
//!
//! [`file_diffs`] gives the same diff as data, one [`FileDiff`] per file,
//! for people to read: a web page, a summary. It is bounded
//! ([`DisplayLimits`]) where the patch is complete.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use bytes::Bytes;
use handoff_store::{BlobStore, Digest};
use serde::Serialize;
use similar::{DiffOp, TextDiff};

use crate::Result;
use crate::manifest::{Entry, Kind, Manifest, Object, Oid};

/// A change that could not be written as a patch, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unrepresentable {
    /// The entry's path.
    pub path: String,
    /// Why it is not in the diff.
    pub reason: String,
}

/// What an export left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffOutcome {
    /// Entries not in the diff.
    pub unrepresentable: Vec<Unrepresentable>,
}

/// Writes the diff of `manifest` to `out`, fetching the blobs it needs from
/// `store` (verified) a bounded batch at a time, so memory stays near
/// [`EXPORT_BATCH_BYTES`] whatever the snapshot's size.
pub async fn export_diff(
    manifest: &Manifest,
    store: &dyn BlobStore,
    out: &mut (dyn Write + Send),
) -> Result<DiffOutcome> {
    export_diff_in_batches(manifest, store, out, EXPORT_BATCH_BYTES).await
}

/// [`export_diff`] holding about `batch_bytes` of blob content at a time
/// (at least one entry's).
pub async fn export_diff_in_batches(
    manifest: &Manifest,
    store: &dyn BlobStore,
    out: &mut (dyn Write + Send),
    batch_bytes: u64,
) -> Result<DiffOutcome> {
    let manifest = &*manifest.flattened();
    let mut outcome = DiffOutcome::default();
    let plan = Plan::new(manifest);
    let mut start = 0;
    while start < manifest.entries.len() {
        let (end, mut wanted) = {
            let mut wanted: Vec<Digest> = Vec::new();
            let mut bytes = 0u64;
            let mut end = start;
            while end < manifest.entries.len() && (end == start || bytes < batch_bytes) {
                let entry = &manifest.entries[end];
                let (_, old) = plan.old_side(entry);
                for object in [old, entry.result.as_ref()].into_iter().flatten() {
                    if let Some(digest) = object.digest
                        && object.kind.has_content()
                    {
                        wanted.push(digest);
                        bytes = bytes.saturating_add(object.size);
                    }
                }
                end += 1;
            }
            (end, wanted)
        };
        wanted.sort();
        wanted.dedup();
        let fetched = store.get_many(&wanted).await;
        let mut contents = HashMap::with_capacity(wanted.len());
        for (digest, bytes) in wanted.into_iter().zip(fetched) {
            contents.insert(digest, bytes?);
        }
        for entry in &manifest.entries[start..end] {
            plan.write_entry(entry, &contents, out, &mut outcome)
                .map_err(crate::Error::io("write the diff", "<output>"))?;
        }
        start = end;
    }
    Ok(outcome)
}

/// How much blob content [`export_diff`] holds at once (one entry larger
/// than this is still fetched whole).
pub const EXPORT_BATCH_BYTES: u64 = 64 << 20;

/// Writes the diff of `manifest`, taking content from `contents`.
pub fn write_diff(
    manifest: &Manifest,
    contents: &HashMap<Digest, Bytes>,
    out: &mut dyn Write,
) -> io::Result<DiffOutcome> {
    let manifest = &*manifest.flattened();
    let mut outcome = DiffOutcome::default();
    let plan = Plan::new(manifest);
    for entry in &manifest.entries {
        plan.write_entry(entry, contents, out, &mut outcome)?;
    }
    Ok(outcome)
}

/// What the whole manifest decides about each entry: renames pair a
/// deletion (written as the rename, not on its own) with an addition.
struct Plan<'a> {
    by_path: HashMap<&'a str, &'a Entry>,
    rename_sources: HashSet<&'a str>,
}

impl<'a> Plan<'a> {
    fn new(manifest: &'a Manifest) -> Self {
        let by_path: HashMap<&str, &Entry> = manifest
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e))
            .collect();
        // Deletions that are the source of a rename are written as the rename.
        let rename_sources: HashSet<&str> = manifest
            .entries
            .iter()
            .filter_map(|e| e.from.as_deref())
            .filter(|from| {
                by_path
                    .get(from)
                    .is_some_and(|src| src.result.is_none() && src.base.is_some())
            })
            .collect();
        Self {
            by_path,
            rename_sources,
        }
    }

    /// The old side of `entry`: its own base, or its rename source's base.
    fn old_side(&self, entry: &'a Entry) -> (&'a str, Option<&'a Object>) {
        let source = entry
            .from
            .as_deref()
            .filter(|from| self.rename_sources.contains(from))
            .and_then(|from| self.by_path.get(from).map(|src| (from, *src)));
        match source {
            Some((from, src)) => (from, src.base.as_ref()),
            None => (entry.path.as_str(), entry.base.as_ref()),
        }
    }

    fn write_entry(
        &self,
        entry: &'a Entry,
        contents: &HashMap<Digest, Bytes>,
        out: &mut dyn Write,
        outcome: &mut DiffOutcome,
    ) -> io::Result<()> {
        if self.rename_sources.contains(entry.path.as_str()) {
            return Ok(());
        }
        let mut skip = |reason: &str| {
            outcome.unrepresentable.push(Unrepresentable {
                path: entry.path.clone(),
                reason: reason.to_owned(),
            });
        };
        if let Err(e) = entry.repo_path() {
            skip(&format!("refused path: {e}"));
            return Ok(());
        }
        let gitlink = |o: &Option<Object>| o.as_ref().is_some_and(|o| o.kind == Kind::Gitlink);
        if gitlink(&entry.base) || gitlink(&entry.result) {
            skip("nested repository");
            return Ok(());
        }
        let (old_path, old) = self.old_side(entry);
        let new = entry.result.as_ref();
        let load = |o: Option<&Object>| -> std::result::Result<Option<&[u8]>, &'static str> {
            match o {
                None => Ok(None),
                Some(o) => match o.digest.and_then(|d| contents.get(&d)) {
                    Some(bytes) if Oid::for_blob(bytes) == o.oid => Ok(Some(&bytes[..])),
                    Some(_) => Err("stored content does not match the manifest"),
                    None => Err("content not carried by the snapshot"),
                },
            }
        };
        let (old_data, new_data) = match (load(old), load(new)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                skip(e);
                return Ok(());
            }
        };
        let is_link = |o: Option<&Object>| o.is_some_and(|o| o.kind == Kind::Symlink);
        if old.is_some() && new.is_some() && is_link(old) != is_link(new) {
            // A type change is a deletion followed by an addition, as git writes it.
            section(out, old_path, old_path, old.zip(old_data), None)?;
            section(out, &entry.path, &entry.path, None, new.zip(new_data))
        } else {
            section(
                out,
                old_path,
                &entry.path,
                old.zip(old_data),
                new.zip(new_data),
            )
        }
    }
}

/// One file of a snapshot's diff, for people to read (a web page, a
/// summary): the same pairing of renames and the same hunks as
/// [`export_diff`], as data rather than patch text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The path after the change (for a deletion, the deleted path).
    pub path: String,
    /// The path the content came from, for a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// What happened to the file.
    pub change: FileChange,
    /// git's mode before, `None` when the file is new.
    pub old_mode: Option<&'static str>,
    /// git's mode after, `None` when the file was deleted.
    pub new_mode: Option<&'static str>,
    /// The lines that changed, or why they are not shown.
    pub content: FileContent,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum FileChange {
    /// It is new.
    Added,
    /// It was removed.
    Deleted,
    /// Its content or mode changed.
    Modified,
    /// It moved (and may have changed too).
    Renamed {
        /// How much of the content stayed, in percent (git's similarity
        /// index).
        similarity: u32,
    },
}

/// A file's changed lines, or why they are not shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum FileContent {
    /// Text: the hunks, and how many lines each side gained or lost.
    Text {
        /// The hunks, three lines of context around each change.
        hunks: Vec<Hunk>,
        /// Lines added.
        added: usize,
        /// Lines removed.
        removed: usize,
        /// Whether hunks were cut because the diff reached
        /// [`DisplayLimits::max_text_bytes`].
        truncated: bool,
    },
    /// Binary content: only the sizes.
    Binary {
        /// The old size in bytes, `None` when the file is new.
        old_size: Option<u64>,
        /// The new size in bytes, `None` when it was deleted.
        new_size: Option<u64>,
    },
    /// Only the mode or the name changed.
    Unchanged,
    /// The lines are not shown: the file is larger than
    /// [`DisplayLimits::max_file_bytes`], or the diff already reached
    /// [`DisplayLimits::max_text_bytes`].
    NotShown {
        /// Why.
        reason: String,
    },
    /// The change cannot be shown at all (a nested repository, a path that
    /// is refused, content the snapshot does not carry).
    Unrepresentable {
        /// Why.
        reason: String,
    },
}

/// A hunk of a text diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@` line.
    pub header: String,
    /// Its lines, in order.
    pub lines: Vec<DiffLine>,
}

/// One line of a hunk, without its line break; not valid UTF-8 is shown
/// with replacement characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// Context, added or removed.
    pub kind: LineKind,
    /// The line's text.
    pub text: String,
    /// The line is the last of its file and has no line break.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_newline: bool,
}

/// What a hunk line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Unchanged.
    Context,
    /// Only in the new content.
    Added,
    /// Only in the old content.
    Removed,
}

/// How much of a diff [`file_diffs`] shows: the rest of the files are
/// listed as [`FileContent::NotShown`], so a huge snapshot costs a bounded
/// amount of memory and page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayLimits {
    /// Files larger than this on either side are not read.
    pub max_file_bytes: u64,
    /// The text shown for all files together.
    pub max_text_bytes: usize,
}

impl Default for DisplayLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 1 << 20,
            max_text_bytes: 4 << 20,
        }
    }
}

/// The diff of `manifest`, one [`FileDiff`] per changed file in path order,
/// fetching (verified) only the content it shows, a bounded batch at a
/// time.
pub async fn file_diffs(
    manifest: &Manifest,
    store: &dyn BlobStore,
    limits: &DisplayLimits,
) -> Result<Vec<FileDiff>> {
    let manifest = &*manifest.flattened();
    let plan = Plan::new(manifest);
    let mut files = Vec::new();
    let mut shown = 0usize;
    let entries: Vec<&Entry> = manifest
        .entries
        .iter()
        .filter(|e| !plan.rename_sources.contains(e.path.as_str()))
        .collect();
    for batch in entries.chunks(64) {
        let mut wanted: Vec<Digest> = Vec::new();
        for entry in batch {
            let (_, old) = plan.old_side(entry);
            let objects = [old, entry.result.as_ref()];
            if objects
                .iter()
                .flatten()
                .any(|o| o.size > limits.max_file_bytes)
            {
                continue;
            }
            wanted.extend(
                objects
                    .into_iter()
                    .flatten()
                    .filter(|o| o.kind.has_content())
                    .filter_map(|o| o.digest),
            );
        }
        if shown >= limits.max_text_bytes {
            wanted.clear();
        }
        wanted.sort();
        wanted.dedup();
        let fetched = store.get_many(&wanted).await;
        let mut contents = HashMap::with_capacity(wanted.len());
        for (digest, bytes) in wanted.into_iter().zip(fetched) {
            // Missing or corrupted content is that file's problem, shown on
            // its row; the other files still show.
            if let Ok(bytes) = bytes {
                contents.insert(digest, bytes);
            }
        }
        for entry in batch {
            files.push(plan.display_entry(entry, &contents, limits, &mut shown));
        }
    }
    Ok(files)
}

impl<'a> Plan<'a> {
    fn display_entry(
        &self,
        entry: &'a Entry,
        contents: &HashMap<Digest, Bytes>,
        limits: &DisplayLimits,
        shown: &mut usize,
    ) -> FileDiff {
        let (old_path, old) = self.old_side(entry);
        let new = entry.result.as_ref();
        let renamed = old_path != entry.path && old.is_some() && new.is_some();
        let mut file = FileDiff {
            path: entry.path.clone(),
            old_path: renamed.then(|| old_path.to_owned()),
            change: match (old, new) {
                (None, _) => FileChange::Added,
                (_, None) => FileChange::Deleted,
                _ if renamed => FileChange::Renamed { similarity: 100 },
                _ => FileChange::Modified,
            },
            old_mode: old.map(|o| o.kind.git_mode()),
            new_mode: new.map(|o| o.kind.git_mode()),
            content: FileContent::Unchanged,
        };
        let unrepresentable = |reason: String| FileContent::Unrepresentable { reason };
        if let Err(e) = entry.repo_path() {
            file.content = unrepresentable(format!("refused path: {e}"));
            return file;
        }
        let gitlink = |o: Option<&Object>| o.is_some_and(|o| o.kind == Kind::Gitlink);
        if gitlink(old) || gitlink(new) {
            file.content = unrepresentable("nested repository".to_owned());
            return file;
        }
        if old.is_some_and(|o| o.size > limits.max_file_bytes)
            || new.is_some_and(|n| n.size > limits.max_file_bytes)
        {
            file.content = FileContent::NotShown {
                reason: format!(
                    "larger than {} bytes; `handoff diff` prints it",
                    limits.max_file_bytes
                ),
            };
            return file;
        }
        if *shown >= limits.max_text_bytes {
            file.content = FileContent::NotShown {
                reason: "the diff is too long to show whole; `handoff diff` prints it".to_owned(),
            };
            return file;
        }
        let load = |o: Option<&Object>| -> std::result::Result<&[u8], String> {
            match o {
                None => Ok(&[]),
                Some(o) => match o.digest.and_then(|d| contents.get(&d)) {
                    Some(bytes) if Oid::for_blob(bytes) == o.oid => Ok(&bytes[..]),
                    Some(_) => Err("stored content does not match the manifest".to_owned()),
                    None => Err("content not carried by the snapshot, or not readable".to_owned()),
                },
            }
        };
        let (old_data, new_data) = match (load(old), load(new)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                file.content = unrepresentable(e);
                return file;
            }
        };
        if renamed {
            let similarity = if old.zip(new).is_some_and(|(o, n)| o.oid == n.oid) {
                100
            } else {
                (TextDiff::from_lines(old_data, new_data).ratio() * 100.0).floor() as u32
            };
            file.change = FileChange::Renamed { similarity };
        }
        if old.zip(new).is_some_and(|(o, n)| o.oid == n.oid) {
            return file;
        }
        if is_binary(old_data) || is_binary(new_data) {
            file.content = FileContent::Binary {
                old_size: old.map(|o| o.size),
                new_size: new.map(|n| n.size),
            };
            return file;
        }
        file.content = text_content(old_data, new_data, limits.max_text_bytes, shown);
        file
    }
}

/// The hunks of a text change, adding the bytes shown to `shown` and
/// stopping at `max`.
fn text_content(old: &[u8], new: &[u8], max: usize, shown: &mut usize) -> FileContent {
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed, mut truncated) = (0, 0, false);
    let mut hunks = Vec::new();
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut hunk = Hunk {
            header: format!("@@ -{} +{} @@", range(&old_range), range(&new_range)),
            lines: Vec::new(),
        };
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    similar::ChangeTag::Equal => LineKind::Context,
                    similar::ChangeTag::Delete => LineKind::Removed,
                    similar::ChangeTag::Insert => LineKind::Added,
                };
                match kind {
                    LineKind::Added => added += 1,
                    LineKind::Removed => removed += 1,
                    LineKind::Context => {}
                }
                if truncated || *shown >= max {
                    truncated = true;
                    continue;
                }
                let value = change.value();
                let no_newline = !value.ends_with(b"\n");
                let text = String::from_utf8_lossy(value.strip_suffix(b"\n").unwrap_or(value))
                    .into_owned();
                *shown += text.len() + 1;
                hunk.lines.push(DiffLine {
                    kind,
                    text,
                    no_newline,
                });
            }
        }
        if !hunk.lines.is_empty() {
            hunks.push(hunk);
        }
    }
    FileContent::Text {
        hunks,
        added,
        removed,
        truncated,
    }
}

const NULL_OID: &str = "0000000000000000000000000000000000000000";

/// One `diff --git` section.
fn section(
    out: &mut dyn Write,
    old_path: &str,
    new_path: &str,
    old: Option<(&Object, &[u8])>,
    new: Option<(&Object, &[u8])>,
) -> io::Result<()> {
    let a = quote(&format!("a/{old_path}"));
    let b = quote(&format!("b/{new_path}"));
    let renamed = old_path != new_path && old.is_some() && new.is_some();
    let same_content = matches!((old, new), (Some((o, _)), Some((n, _))) if o.oid == n.oid);
    let same_mode = matches!((old, new), (Some((o, _)), Some((n, _))) if o.kind == n.kind);
    if same_content && same_mode && !renamed {
        return Ok(());
    }
    writeln!(out, "diff --git {a} {b}")?;
    match (old, new) {
        (None, Some((n, _))) => writeln!(out, "new file mode {}", n.kind.git_mode())?,
        (Some((o, _)), None) => writeln!(out, "deleted file mode {}", o.kind.git_mode())?,
        (Some((o, _)), Some((n, _))) if o.kind != n.kind => {
            writeln!(out, "old mode {}", o.kind.git_mode())?;
            writeln!(out, "new mode {}", n.kind.git_mode())?;
        }
        _ => {}
    }
    if renamed {
        let (old_data, new_data) = (old.map_or(&[][..], |o| o.1), new.map_or(&[][..], |n| n.1));
        let similarity = if same_content {
            100
        } else {
            (TextDiff::from_lines(old_data, new_data).ratio() * 100.0).floor() as u32
        };
        writeln!(out, "similarity index {similarity}%")?;
        writeln!(out, "rename from {}", quote(old_path))?;
        writeln!(out, "rename to {}", quote(new_path))?;
    }
    if same_content {
        return Ok(());
    }
    let old_oid = old.map_or_else(|| NULL_OID.to_owned(), |o| o.0.oid.to_string());
    let new_oid = new.map_or_else(|| NULL_OID.to_owned(), |n| n.0.oid.to_string());
    match (old, new) {
        (Some((o, _)), Some((n, _))) if o.kind == n.kind => {
            writeln!(out, "index {old_oid}..{new_oid} {}", o.kind.git_mode())?
        }
        _ => writeln!(out, "index {old_oid}..{new_oid}")?,
    }
    let old_data = old.map_or(&[][..], |o| o.1);
    let new_data = new.map_or(&[][..], |n| n.1);
    if is_binary(old_data) || is_binary(new_data) {
        writeln!(out, "GIT binary patch")?;
        binary_literal(out, new_data)?;
        binary_literal(out, old_data)?;
        return Ok(());
    }
    if old_data.is_empty() && new_data.is_empty() {
        return Ok(());
    }
    let minus = if old.is_some() {
        a
    } else {
        "/dev/null".to_owned()
    };
    let plus = if new.is_some() {
        b
    } else {
        "/dev/null".to_owned()
    };
    writeln!(out, "--- {minus}")?;
    writeln!(out, "+++ {plus}")?;
    hunks(out, old_data, new_data)
}

/// git's test for binary content: a NUL byte in the first 8000 bytes.
fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

fn hunks(out: &mut dyn Write, old: &[u8], new: &[u8]) -> io::Result<()> {
    let diff = TextDiff::from_lines(old, new);
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        writeln!(out, "@@ -{} +{} @@", range(&old_range), range(&new_range))?;
        for op in &group {
            write_op(out, &diff, op)?;
        }
    }
    Ok(())
}

/// A hunk range as unified diffs write it: `start,len`, where an empty
/// range's start is the line before it.
fn range(r: &std::ops::Range<usize>) -> String {
    let len = r.end - r.start;
    let start = if len == 0 { r.start } else { r.start + 1 };
    format!("{start},{len}")
}

fn write_op(out: &mut dyn Write, diff: &TextDiff<'_, '_, [u8]>, op: &DiffOp) -> io::Result<()> {
    for change in diff.iter_changes(op) {
        let sign = match change.tag() {
            similar::ChangeTag::Equal => b' ',
            similar::ChangeTag::Delete => b'-',
            similar::ChangeTag::Insert => b'+',
        };
        let value = change.value();
        out.write_all(&[sign])?;
        out.write_all(value)?;
        if !value.ends_with(b"\n") {
            out.write_all(b"\n\\ No newline at end of file\n")?;
        }
    }
    Ok(())
}

/// A `literal` binary hunk: the zlib-deflated content in git's base85, one
/// line per 52 input bytes, each prefixed by its length (`A`–`Z` = 1–26,
/// `a`–`z` = 27–52), then an empty line.
fn binary_literal(out: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    let deflated = encoder.finish()?;
    writeln!(out, "literal {}", data.len())?;
    for chunk in deflated.chunks(52) {
        let n = chunk.len() as u8;
        let prefix = if n <= 26 { b'A' + n - 1 } else { b'a' + n - 27 };
        out.write_all(&[prefix])?;
        out.write_all(&base85(chunk))?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

const BASE85: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

/// git's base85: each 4 bytes (zero-padded) big-endian become 5 digits.
fn base85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(4) * 5);
    for chunk in data.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        let mut acc = u32::from_be_bytes(word);
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = BASE85[(acc % 85) as usize];
            acc /= 85;
        }
        out.extend_from_slice(&digits);
    }
    out
}

/// Quotes a path the way git does with `core.quotePath` (its default):
/// unchanged unless it holds `"`, `\`, a control character or a non-ASCII
/// byte, in which case it is C-quoted with octal escapes.
fn quote(path: &str) -> String {
    let needs = path
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f);
    if !needs {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len() + 8);
    out.push('"');
    for b in path.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b if !(0x20..0x7f).contains(&b) => out.push_str(&format!("\\{b:03o}")),
            b => out.push(char::from(b)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_git() {
        assert_eq!(quote("a/plain name.txt"), "a/plain name.txt");
        assert_eq!(quote("a/café.txt"), "\"a/caf\\303\\251.txt\"");
        assert_eq!(quote("a/say \"hi\""), "\"a/say \\\"hi\\\"\"");
        assert_eq!(quote("a/back\\slash"), "\"a/back\\\\slash\"");
    }

    #[test]
    fn base85_known_vectors() {
        // Four zero bytes are "00000"; 0xffffffff is "|NsC0".
        assert_eq!(base85(&[0, 0, 0, 0]), b"00000");
        assert_eq!(base85(&[0xff, 0xff, 0xff, 0xff]), b"|NsC0");
    }

    async fn stored(store: &handoff_store::MemoryStore, kind: Kind, data: &[u8]) -> Object {
        use handoff_store::BlobStoreExt as _;
        let put = store
            .put_if_absent(Bytes::copy_from_slice(data))
            .await
            .unwrap();
        Object {
            kind,
            oid: Oid::for_blob(data),
            size: data.len() as u64,
            digest: Some(put.digest),
        }
    }

    fn entry(
        path: &str,
        status: crate::Status,
        base: Option<Object>,
        result: Option<Object>,
    ) -> Entry {
        Entry {
            path: path.to_owned(),
            status,
            from: None,
            base,
            index: None,
            result,
        }
    }

    #[tokio::test]
    async fn file_diffs_show_each_file_as_data() {
        use crate::Status;
        let store = handoff_store::MemoryStore::new();
        let old = stored(&store, Kind::File, b"one\ntwo\nthree\n").await;
        let new = stored(&store, Kind::File, b"one\n2\nthree").await;
        let binary = stored(&store, Kind::File, b"\0\x01png").await;
        let moved = stored(&store, Kind::File, b"same\n").await;
        let mut renamed = entry("b/new.txt", Status::Renamed, None, Some(moved.clone()));
        renamed.from = Some("a/old.txt".to_owned());
        let manifest = Manifest {
            format: crate::manifest::FORMAT_V1.to_owned(),
            base: Default::default(),
            entries: vec![
                entry("../escape", Status::Untracked, None, Some(new.clone())),
                entry("a/old.txt", Status::Deleted, Some(moved.clone()), None),
                entry("b/new.txt", Status::Renamed, None, None),
                entry("img.png", Status::Added, None, Some(binary)),
                entry("text.txt", Status::Modified, Some(old), Some(new)),
            ]
            .into_iter()
            .map(|e| {
                if e.path == "b/new.txt" {
                    renamed.clone()
                } else {
                    e
                }
            })
            .collect(),
            history: None,
            lfs: Vec::new(),
            submodules: Vec::new(),
        };
        let files = file_diffs(&manifest, &store, &DisplayLimits::default())
            .await
            .unwrap();
        let summary: Vec<_> = files
            .iter()
            .map(|f| (f.path.as_str(), f.old_path.as_deref(), f.change))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("../escape", None, FileChange::Added),
                (
                    "b/new.txt",
                    Some("a/old.txt"),
                    FileChange::Renamed { similarity: 100 }
                ),
                ("img.png", None, FileChange::Added),
                ("text.txt", None, FileChange::Modified),
            ]
        );
        assert!(matches!(
            files[0].content,
            FileContent::Unrepresentable { .. }
        ));
        assert_eq!(files[1].content, FileContent::Unchanged);
        assert_eq!(
            files[2].content,
            FileContent::Binary {
                old_size: None,
                new_size: Some(5)
            }
        );
        let line = |kind, text: &str, no_newline| DiffLine {
            kind,
            text: text.to_owned(),
            no_newline,
        };
        assert_eq!(
            files[3].content,
            FileContent::Text {
                hunks: vec![Hunk {
                    header: "@@ -1,3 +1,3 @@".to_owned(),
                    lines: vec![
                        line(LineKind::Context, "one", false),
                        line(LineKind::Removed, "two", false),
                        line(LineKind::Removed, "three", false),
                        line(LineKind::Added, "2", false),
                        line(LineKind::Added, "three", true),
                    ],
                }],
                added: 2,
                removed: 2,
                truncated: false,
            }
        );

        // A tiny budget: the text is cut, and files after it are listed
        // without their lines.
        let tight = DisplayLimits {
            max_file_bytes: 4,
            max_text_bytes: 8,
        };
        let files = file_diffs(&manifest, &store, &tight).await.unwrap();
        assert!(matches!(files[2].content, FileContent::NotShown { .. }));
        assert!(matches!(files[3].content, FileContent::NotShown { .. }));
    }

    #[test]
    fn ranges_follow_unified_conventions() {
        assert_eq!(range(&(0..0)), "0,0");
        assert_eq!(range(&(0..3)), "1,3");
        assert_eq!(range(&(4..4)), "4,0");
    }
}
