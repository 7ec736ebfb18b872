//! Three-way line merge of a file changed both locally and in the snapshot.
//!
//! `ours` is what the target working tree holds now, `theirs` the snapshot's
//! result; both descend from `base`. Non-overlapping edits combine; any
//! overlap that is not the identical edit on both sides is a conflict, and a
//! conflicted merge writes nothing (handoff never leaves conflict markers in
//! a user's files).

use similar::TextMerge;

/// The outcome of [`merge3`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Merge {
    /// The merged content.
    Clean(Vec<u8>),
    /// Overlapping, different edits in this many regions.
    Conflict { regions: usize },
    /// One of the inputs is not text (contains NUL), so it is not merged.
    Binary,
}

/// Merges `ours` and `theirs` line by line against `base`.
pub(crate) fn merge3(base: &[u8], ours: &[u8], theirs: &[u8]) -> Merge {
    if [base, ours, theirs].iter().any(|s| s.contains(&0)) {
        return Merge::Binary;
    }
    let merge = TextMerge::from_lines(base, ours, theirs);
    if merge.is_conflicted() {
        return Merge::Conflict {
            regions: merge.conflict_count(),
        };
    }
    let mut out = Vec::with_capacity(ours.len().max(theirs.len()));
    match merge.to_writer(&mut out) {
        Ok(()) => Merge::Clean(out),
        // Writing to a Vec cannot fail; treat it as a conflict to stay safe.
        Err(_) => Merge::Conflict { regions: 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_disjoint_edits() {
        let base = b"one\ntwo\nthree\nfour\nfive\n";
        let ours = b"ONE\ntwo\nthree\nfour\nfive\n";
        let theirs = b"one\ntwo\nthree\nfour\nFIVE\n";
        assert_eq!(
            merge3(base, ours, theirs),
            Merge::Clean(b"ONE\ntwo\nthree\nfour\nFIVE\n".to_vec())
        );
    }

    #[test]
    fn identical_edits_are_not_a_conflict() {
        let base = b"a\nb\n";
        let same = b"a\nB\n";
        assert_eq!(merge3(base, same, same), Merge::Clean(same.to_vec()));
    }

    #[test]
    fn overlapping_edits_conflict() {
        assert_eq!(
            merge3(b"a\nb\nc\n", b"a\nX\nc\n", b"a\nY\nc\n"),
            Merge::Conflict { regions: 1 }
        );
    }

    #[test]
    fn keeps_missing_final_newline() {
        assert_eq!(
            merge3(b"a\nb\nc", b"A\nb\nc", b"a\nb\nC"),
            Merge::Clean(b"A\nb\nC".to_vec())
        );
    }

    #[test]
    fn binary_is_not_merged() {
        assert_eq!(merge3(b"a\0", b"b\0", b"c\0"), Merge::Binary);
    }

    #[test]
    fn non_utf8_text_merges() {
        let base = b"caf\xe9\nx\ny\n";
        let ours = b"CAF\xc9\nx\ny\n";
        let theirs = b"caf\xe9\nx\nY\n";
        assert_eq!(
            merge3(base, ours, theirs),
            Merge::Clean(b"CAF\xc9\nx\nY\n".to_vec())
        );
    }
}
