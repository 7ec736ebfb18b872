//! Named crash points, for tests that must prove a kill landed *inside* a
//! write (a temporary file written but not yet renamed, an `index.lock`
//! half written) and that the next run recovers.
//!
//! Compiled only with the `crash-points` feature, which no release build
//! enables: with it, setting `HANDOFF_CRASH_AT=<point>` (or
//! `<point>@<n>`, the n-th time the point is reached) aborts the process
//! there, as `kill -9` would — no destructor runs, nothing is cleaned up.
//! Without the feature, the crate's `point` is an empty inline function.

/// Where apply writes a file: the temporary file is complete, not renamed.
pub const FILE_WRITTEN: &str = "apply:file-written";
/// `index.lock` is created, nothing written to it yet.
pub const INDEX_LOCKED: &str = "apply:index-locked";
/// Half of the new index is in `index.lock`.
pub const INDEX_HALF_WRITTEN: &str = "apply:index-half-written";
/// The new index is complete in `index.lock`, not yet renamed over `index`.
pub const INDEX_WRITTEN: &str = "apply:index-written";

/// Aborts the process when `HANDOFF_CRASH_AT` names this point (and its
/// count, if one is given, is reached).
#[cfg(feature = "crash-points")]
pub(crate) fn point(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let Ok(wanted) = std::env::var("HANDOFF_CRASH_AT") else {
        return;
    };
    let (wanted, nth) = match wanted.split_once('@') {
        Some((point, n)) => (point.to_owned(), n.parse::<u64>().unwrap_or(1)),
        None => (wanted, 1),
    };
    if wanted == name && REACHED.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        std::process::abort();
    }
}

/// Crash points are compiled out without the `crash-points` feature.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn point(_name: &str) {}
