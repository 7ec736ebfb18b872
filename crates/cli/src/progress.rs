//! A progress bar on stderr for long captures and applies, shown only on a
//! terminal and never with `--json`.
//!
//! Each phase gets its own bar, configured completely before it is first
//! drawn (no flash of an empty or full bar), and a bar is cleared when its
//! phase ends, when the next phase begins and when the command stops, so
//! none is left above the command's output or its error message.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};

use handoff_workspace::{NoProgress, Phase, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// Progress shown as one indicatif bar per phase.
struct Bars {
    style: ProgressStyle,
    /// The current phase's bar; `None` between phases and for empty ones.
    current: Mutex<Option<ProgressBar>>,
}

impl std::fmt::Debug for Bars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bars")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Progress for Bars {
    fn begin(&self, phase: Phase, total: u64) {
        let (label, unit) = match phase {
            Phase::Capture => ("capturing", "files"),
            Phase::Upload => ("storing", "blobs"),
            Phase::Download => ("fetching", "blobs"),
            Phase::Apply => ("applying", "files"),
            _ => ("working", ""),
        };
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = current.take() {
            previous.finish_and_clear();
        }
        if total == 0 {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(self.style.clone())
            .with_prefix(label)
            .with_message(unit)
            .with_finish(ProgressFinish::AndClear);
        bar.tick();
        *current = Some(bar);
    }

    fn advance(&self, n: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bar) = current.as_ref() {
            bar.inc(n);
            if bar.length().is_some_and(|total| bar.position() >= total) {
                bar.finish_and_clear();
                *current = None;
            }
        }
    }
}

/// A bar when stderr is a terminal and output is for people, else nothing.
pub fn for_output(json: bool) -> Arc<dyn Progress> {
    if json || !std::io::stderr().is_terminal() {
        return Arc::new(NoProgress);
    }
    let style = match ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}") {
        Ok(style) => style.progress_chars("=> "),
        Err(_) => ProgressStyle::default_bar(),
    };
    Arc::new(Bars {
        style,
        current: Mutex::new(None),
    })
}
