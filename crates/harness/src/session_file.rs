//! Running agent CLIs found on `PATH`, and keeping the JSON-lines session
//! files they write valid: the pieces [`NativeHarness`](crate::NativeHarness)
//! and [`CommandHarness`](crate::CommandHarness) share.

use std::path::{Path, PathBuf};

/// The first of `names` found in a `PATH` directory.
pub fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Cuts the torn tail a killed agent CLI leaves — whatever follows the
/// last line that is a whole JSON object (a half-written line, a split
/// UTF-8 sequence) — so the session file stays valid for the next resume.
/// Everything before it is kept byte for byte, lines the reader does not
/// understand included: only the tail can be torn, since the CLIs append.
/// Rewrites atomically, and only when something had to be cut; a missing
/// file is left missing.
pub fn cut_torn_lines(file: &Path) -> std::io::Result<()> {
    let data = match std::fs::read(file) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // The end of the last line that is a whole JSON object.
    let mut intact = 0;
    let mut start = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let end = start + line.len();
        if matches!(
            serde_json::from_slice::<serde_json::Value>(line.trim_ascii()),
            Ok(serde_json::Value::Object(_))
        ) {
            intact = end;
        }
        start = end;
    }
    if intact == data.len() && (data.is_empty() || data.ends_with(b"\n")) {
        return Ok(());
    }
    let mut fixed = data;
    fixed.truncate(intact);
    if !fixed.is_empty() && !fixed.ends_with(b"\n") {
        fixed.push(b'\n');
    }
    let tmp = file.with_extension("handoff-repair");
    std::fs::write(&tmp, fixed)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_only_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.jsonl");
        std::fs::write(&file, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        cut_torn_lines(&file).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        cut_torn_lines(&file).unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            before,
            "a valid file is left alone"
        );
    }

    /// A line the reader would skip, in the middle, stays; a whole last
    /// line without its newline gets one; a tail torn inside a UTF-8
    /// sequence goes; a missing file stays missing.
    #[test]
    fn keeps_everything_before_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.jsonl");
        let mut torn =
            b"{\"a\":1}\nnot json, but not torn\n\n{\"b\":\"\xc3\xa9\"}\n{\"c\":\"\xc3".to_vec();
        std::fs::write(&file, &torn).unwrap();
        cut_torn_lines(&file).unwrap();
        torn.truncate(torn.len() - b"{\"c\":\"\xc3".len());
        assert_eq!(std::fs::read(&file).unwrap(), torn);

        std::fs::write(&file, "{\"a\":1}\n{\"b\":2}").unwrap();
        cut_torn_lines(&file).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );

        let missing = dir.path().join("missing.jsonl");
        cut_torn_lines(&missing).unwrap();
        assert!(!missing.exists());
    }
}

/// One run of an agent's CLI.
#[derive(Debug, Clone, Copy)]
pub struct AgentRun<'a> {
    /// The harness, for errors.
    pub kind: &'a crate::HarnessKind,
    /// The program.
    pub program: &'a Path,
    /// Its arguments.
    pub args: &'a [std::ffi::OsString],
    /// The working directory.
    pub cwd: &'a Path,
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a std::ffi::OsStr)],
    /// What to write to its standard input (closed either way).
    pub stdin: Option<&'a [u8]>,
    /// How long it may take before it is killed.
    pub timeout: std::time::Duration,
    /// How to install the program, for the not-installed error.
    pub install_hint: &'a str,
    /// How the process is confined (environment, sandbox).
    pub confinement: &'a crate::Confinement,
    /// The variables the harness declares it needs, passed through from
    /// this process's environment when the environment is clean.
    pub inherit: &'a [String],
    /// The running turn: stops the program when its host asks
    /// ([`crate::live`]).
    pub live: &'a crate::Live,
    /// Hears each line of its standard output as it is written (the line
    /// without its newline); the whole output is returned either way.
    pub on_line: Option<OnLine<'a>>,
}

/// What hears each line a program writes to its standard output.
#[derive(Clone, Copy)]
pub struct OnLine<'a>(pub &'a (dyn Fn(&[u8]) + Send + Sync));

impl std::fmt::Debug for OnLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnLine(..)")
    }
}

/// Runs an agent CLI to completion: a missing program is
/// [`Error::NotInstalled`](crate::Error::NotInstalled) naming it, a
/// timeout or a non-zero exit (with the last lines it printed) is
/// [`Error::TurnFailed`](crate::Error::TurnFailed). The child is killed if
/// the future is dropped.
pub async fn run_agent(run: AgentRun<'_>) -> crate::Result<std::process::Output> {
    let output = run_program(run).await?;
    if !output.status.success() {
        return Err(exit_failure(&run, &output));
    }
    Ok(output)
}

/// Runs an agent CLI to completion and returns its output whatever its
/// exit status: a missing program is
/// [`Error::NotInstalled`](crate::Error::NotInstalled), a timeout is
/// [`Error::TurnFailed`](crate::Error::TurnFailed). The child is killed if
/// the future is dropped.
pub async fn run_program(run: AgentRun<'_>) -> crate::Result<std::process::Output> {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    // Inside a sandbox, a missing program would be bwrap's failure: find
    // it first, so that it is still "not installed".
    let resolved;
    let program = if run.confinement.is_sandboxed() {
        let found = if run.program.components().count() > 1 {
            run.program.is_file().then(|| run.program.to_owned())
        } else {
            run.program.to_str().and_then(|name| find_on_path(&[name]))
        };
        resolved = found.ok_or_else(|| crate::Error::NotInstalled {
            program: run.program.display().to_string(),
            hint: run.install_hint.to_owned(),
        })?;
        resolved.as_path()
    } else {
        run.program
    };
    let mut command = run
        .confinement
        .command(program, run.args, run.cwd, run.inherit, run.env)
        .map_err(|source| crate::Error::Sandbox {
            harness: run.kind.clone(),
            source,
        })?;
    command
        .command_mut()
        .stdin(if run.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn_tokio(true) {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(crate::Error::NotInstalled {
                program: run.program.display().to_string(),
                hint: run.install_hint.to_owned(),
            });
        }
        Err(source) => {
            return Err(crate::Error::Io {
                action: "start the agent program",
                harness: run.kind.clone(),
                source,
            });
        }
    };
    if let (Some(input), Some(mut stdin)) = (run.stdin, child.stdin.take()) {
        // An agent that does not read its input is not an error.
        let _ = stdin.write_all(input).await;
    }
    let pid = child.id();
    let exited = tokio::sync::Notify::new();
    let output = collect_output(child, run.on_line, &exited);
    tokio::pin!(output);
    let waited = tokio::select! {
        waited = tokio::time::timeout(run.timeout, &mut output) => waited,
        stop = run.live.stopped() => {
            stop_tree(pid, stop, run.confinement.is_sandboxed(), &mut output, &exited).await;
            return Err(crate::Error::Stopped {
                harness: run.kind.clone(),
                stop,
            });
        }
    };
    match waited {
        Ok(output) => output.map_err(|source| crate::Error::Io {
            action: "wait for the agent program",
            harness: run.kind.clone(),
            source,
        }),
        Err(_) => Err(crate::Error::TurnFailed {
            harness: run.kind.clone(),
            reason: format!(
                "{} did not finish within {:?} and was killed",
                run.program.display(),
                run.timeout
            ),
        }),
    }
}

/// Reads the child's output to its end and waits for it, telling
/// `on_line` each line of standard output as it comes, and `exited` when
/// the child itself exits (processes it left may hold its output open).
async fn collect_output(
    mut child: tokio::process::Child,
    on_line: Option<OnLine<'_>>,
    exited: &tokio::sync::Notify,
) -> std::io::Result<std::process::Output> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_stdout = async {
        let mut all = Vec::new();
        let Some(stdout) = stdout else {
            return Ok(all);
        };
        let mut reader = tokio::io::BufReader::new(stdout);
        loop {
            let start = all.len();
            if reader.read_until(b'\n', &mut all).await? == 0 {
                return Ok(all);
            }
            if let Some(OnLine(on_line)) = on_line {
                let line = &all[start..];
                on_line(line.strip_suffix(b"\n").unwrap_or(line));
            }
        }
    };
    let read_stderr = async {
        let mut all = Vec::new();
        if let Some(mut stderr) = stderr {
            stderr.read_to_end(&mut all).await?;
        }
        Ok::<_, std::io::Error>(all)
    };
    let wait = async {
        let status = child.wait().await;
        exited.notify_one();
        status
    };
    let (stdout, stderr, status) = tokio::try_join!(read_stdout, read_stderr, wait)?;
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Stops a running agent as `stop` asks: its signal to the agent's
/// processes (inside a sandbox, not to bubblewrap itself, whose death would
/// kill them at once), [`STOP_GRACE`](crate::live::STOP_GRACE) to exit,
/// then `SIGKILL` to the whole tree — at once when the agent exited and
/// left processes behind (a background job that ignores the signal, as a
/// shell's do). Returns once `output` is done.
async fn stop_tree(
    pid: Option<u32>,
    stop: crate::Stop,
    sandboxed: bool,
    output: &mut (impl std::future::Future<Output = std::io::Result<std::process::Output>> + Unpin),
    exited: &tokio::sync::Notify,
) {
    use rustix::process::Signal;
    let Some(pid) = pid else {
        let _ = output.await;
        return;
    };
    let signal = match stop {
        crate::Stop::Interrupt => Signal::INT,
        _ => Signal::TERM,
    };
    let tree = crate::live::process_tree(pid);
    let asked = if sandboxed { &tree[1..] } else { &tree[..] };
    crate::live::signal_all(asked, signal);
    tokio::select! {
        _ = &mut *output => return,
        () = exited.notified() => {}
        () = tokio::time::sleep(crate::live::STOP_GRACE) => {}
    }
    // What is left of the tree as it was (orphans are no longer under the
    // agent) and as it is now.
    let mut left = crate::live::process_tree(pid);
    left.extend(tree);
    crate::live::signal_all(&left, Signal::KILL);
    let _ = output.await;
}

/// The failed turn of a program that exited non-zero: its status and the
/// last lines it printed.
pub fn exit_failure(run: &AgentRun<'_>, output: &std::process::Output) -> crate::Error {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    crate::Error::TurnFailed {
        harness: run.kind.clone(),
        reason: format!(
            "{} exited with {}: {}",
            run.program.display(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" ").trim()
        ),
    }
}
