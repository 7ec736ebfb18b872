//! Progress reporting for long captures and applies.
//!
//! Library code never prints; it tells a [`Progress`] what it is doing and the
//! host decides how to show it (the CLI draws a bar on a terminal).

use std::fmt::Debug;

/// What a long operation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Reading changed files from the working tree.
    Capture,
    /// Storing blobs.
    Upload,
    /// Fetching blobs.
    Download,
    /// Writing files into the target working tree.
    Apply,
}

/// Receives progress events. Implementations must be cheap: they are called
/// once per file.
pub trait Progress: Send + Sync + Debug {
    /// A phase starts with `total` units of work.
    fn begin(&self, phase: Phase, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
}

/// Discards all progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _phase: Phase, _total: u64) {}
    fn advance(&self, _n: u64) {}
}
