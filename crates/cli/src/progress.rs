//! A progress bar on stderr for long captures and applies, shown only on a
//! terminal and never with `--json`.

use std::io::IsTerminal;
use std::sync::Arc;

use handoff_workspace::{NoProgress, Phase, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress shown as an indicatif bar.
#[derive(Debug)]
struct Bar(ProgressBar);

impl Progress for Bar {
    fn begin(&self, phase: Phase, total: u64) {
        let label = match phase {
            Phase::Capture => "capturing",
            Phase::Upload => "storing",
            Phase::Download => "fetching",
            Phase::Apply => "applying",
            _ => "working",
        };
        self.0.reset();
        self.0.set_length(total);
        self.0.set_message(label);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
        if self.0.position() >= self.0.length().unwrap_or(u64::MAX) {
            self.0.finish_and_clear();
        }
    }
}

/// A bar when stderr is a terminal and output is for people, else nothing.
pub fn for_output(json: bool) -> Arc<dyn Progress> {
    if json || !std::io::stderr().is_terminal() {
        return Arc::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} files") {
        bar.set_style(style.progress_chars("=> "));
    }
    Arc::new(Bar(bar))
}
