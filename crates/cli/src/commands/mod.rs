//! One module per subcommand. Each returns the process exit code; errors
//! propagate to `main`, which prints them.

pub mod apply;
pub mod cancel;
mod cloud;
pub mod continue_locally;
pub mod diff;
pub mod follow_up;
pub mod fsck;
pub mod gc;
pub mod native;
pub mod push;
pub mod runs;
pub mod show;
pub mod snapshot;
pub mod steer;
pub mod watch;
pub mod worker;

use std::io::{self, StdoutLock, Write};
use std::sync::Arc;

use anyhow::Context as _;
use handoff_store::{Digest, Store, location::Location};

/// Everything goes well.
pub const EXIT_OK: u8 = 0;
/// Some entries failed; the rest were applied.
pub const EXIT_PARTIAL: u8 = 3;

/// Opens the store named by `--store`, `HANDOFF_STORE` or the default.
pub fn open_store(flag: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    let location = Location::resolve(flag)?;
    location
        .open()
        .with_context(|| format!("cannot open store {location}"))
}

/// Parses a snapshot id given on the command line.
pub fn parse_id(text: &str) -> anyhow::Result<Digest> {
    text.parse::<Digest>()
        .with_context(|| format!("{text:?} is not a snapshot id"))
}

/// The findings of a secret scan that stopped a command, wherever the
/// library reported them.
fn findings_of(error: &anyhow::Error) -> Option<&[handoff_workspace::Finding]> {
    use handoff_engine::Error as Engine;
    use handoff_workspace::Error as Workspace;
    match error.downcast_ref::<Engine>() {
        Some(Engine::SecretsFound { findings })
        | Some(Engine::Workspace(Workspace::SecretsFound { findings, .. })) => Some(findings),
        _ => match error.downcast_ref::<Workspace>() {
            Some(Workspace::SecretsFound { findings, .. }) => Some(findings),
            _ => None,
        },
    }
}

/// `error` as `command` reports it: a stop by the secret scan prints every
/// finding on stderr (where and which rule, never the secret) and becomes
/// "COMMAND stopped: N likely secret(s); HINT"; any other error is
/// unchanged. Every command that sends something off the machine reports
/// its scan this one way.
pub fn stopped_by_secrets(command: &str, hint: &str, error: anyhow::Error) -> anyhow::Error {
    let Some(findings) = findings_of(&error) else {
        return error;
    };
    let mut err = io::stderr().lock();
    for f in findings {
        let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        // The summary below is the error; a closed stderr loses only detail.
        let _ = writeln!(
            err,
            "handoff: likely secret: {}{line}: {} ({})",
            f.path, f.description, f.rule
        );
    }
    anyhow::anyhow!(
        "{command} stopped: {} likely secret(s); {hint}",
        findings.len()
    )
}

/// Writes `value` as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = stdout();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Standard output, for results.
///
/// When the reader has gone away (`handoff diff … | head`) the rest of the
/// output is discarded instead of failing the command: the reader has what
/// it wanted, and the exit code still says how the command itself went.
pub fn stdout() -> Output<StdoutLock<'static>> {
    Output::new(io::stdout().lock())
}

/// Standard output for long results written from async code (the handle
/// is `Send`, unlike a lock), buffered: call `flush` at the end to see
/// errors. A closed pipe is fine, as for [`stdout`].
pub fn stdout_buffered() -> io::BufWriter<Output<io::Stdout>> {
    io::BufWriter::with_capacity(1 << 16, Output::new(io::stdout()))
}

/// See [`stdout`].
pub struct Output<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Output<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    fn closed_pipe_is_fine<T>(&mut self, result: io::Result<T>, instead: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(instead)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.closed_pipe_is_fine(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.closed_pipe_is_fine(result, ())
    }
}
