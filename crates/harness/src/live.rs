//! A turn while it runs: the host hears the agent's messages as they come
//! and may ask the agent to stop.
//!
//! The host makes a [`Live`] and its [`LiveControl`] with [`Live::new`],
//! passes the `Live` in [`Turn::live`](crate::Turn::live), and keeps the
//! control. Adapters call [`Live::message`] for each message the agent
//! produced (a native session line the CLI wrote, an `oz` event, a line of
//! a command's output) and run their agent's process with
//! [`session_file::run_program`](crate::session_file::run_program), which
//! stops it when asked: [`Stop::Interrupt`] sends `SIGINT` (the signal an
//! agent CLI takes to end its turn) to the agent's processes,
//! [`Stop::Cancel`] sends `SIGTERM`; either way, a process tree still
//! there after [`STOP_GRACE`] is killed, sandbox included. A stopped turn
//! is [`Error::Stopped`](crate::Error::Stopped); what it said until then is
//! what the host heard.
//!
//! [`Live::default`] hears nothing and never stops: a turn runs as before.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use handoff_conversation::Message;
use tokio::sync::watch;

/// How long a stopped agent has to exit after its signal before its whole
/// process tree is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the host asks of a running turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Stop {
    /// Go on.
    #[default]
    Run,
    /// End the current turn now (the host has a new message for the agent).
    Interrupt,
    /// Stop the agent: the session is being cancelled.
    Cancel,
}

impl Stop {
    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Run => "run",
            Stop::Interrupt => "interrupted",
            Stop::Cancel => "cancelled",
        }
    }
}

type Sink = Arc<dyn Fn(Message) + Send + Sync>;

/// The running turn's side: where its messages go, and whether to stop.
#[derive(Clone, Default)]
pub struct Live {
    sink: Option<Sink>,
    stop: Option<watch::Receiver<Stop>>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("hears", &self.sink.is_some())
            .field("stop", &self.requested())
            .finish()
    }
}

/// The host's side of a [`Live`]: asks the turn to stop.
#[derive(Debug)]
pub struct LiveControl {
    stop: watch::Sender<Stop>,
}

impl LiveControl {
    /// Asks the turn to stop as `stop` says. A cancel is never taken back
    /// by a later interrupt.
    pub fn stop(&self, stop: Stop) {
        self.stop.send_if_modified(|now| {
            let stronger = !matches!(
                (*now, stop),
                (Stop::Cancel, _) | (_, Stop::Run) | (Stop::Interrupt, Stop::Interrupt)
            );
            if stronger {
                *now = stop;
            }
            stronger
        });
    }

    /// What was asked so far.
    pub fn requested(&self) -> Stop {
        *self.stop.borrow()
    }
}

impl Live {
    /// A turn nobody hears or stops (what [`Live::default`] gives), for
    /// struct literals.
    pub const IDLE: &'static Live = &Live {
        sink: None,
        stop: None,
    };

    /// A live turn whose messages go to `sink`, and its control.
    pub fn new(sink: impl Fn(Message) + Send + Sync + 'static) -> (Self, LiveControl) {
        let (tx, rx) = watch::channel(Stop::Run);
        (
            Self {
                sink: Some(Arc::new(sink)),
                stop: Some(rx),
            },
            LiveControl { stop: tx },
        )
    }

    /// Tells the host about a message the agent produced.
    pub fn message(&self, message: Message) {
        if let Some(sink) = &self.sink {
            sink(message);
        }
    }

    /// Whether anyone hears the messages (adapters may skip the work of
    /// reading them as they come when nobody does).
    pub fn hears(&self) -> bool {
        self.sink.is_some()
    }

    /// What the host asked so far.
    pub fn requested(&self) -> Stop {
        self.stop.as_ref().map_or(Stop::Run, |rx| *rx.borrow())
    }

    /// Resolves once the host asks the turn to stop; never for a turn
    /// nobody controls (or whose control is gone).
    pub async fn stopped(&self) -> Stop {
        let Some(rx) = &self.stop else {
            return std::future::pending().await;
        };
        let mut rx = rx.clone();
        loop {
            let now = *rx.borrow_and_update();
            if now != Stop::Run {
                return now;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// The processes of the tree rooted at `root` (itself first, then its
/// descendants, parents before children), read from `/proc`. A process
/// that exits meanwhile is simply not there.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some(ppid) = parent_in_stat(&stat) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(
            parent_of
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && !tree.contains(pid))
                .map(|(pid, _)| *pid)
                .collect::<Vec<_>>(),
        );
        next += 1;
    }
    tree
}

/// The parent pid in a `/proc/<pid>/stat` line: the field after the
/// state, which follows the command name in parentheses (a name may hold
/// `)` itself, so the last one ends it).
fn parent_in_stat(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// Sends `signal` to each of `pids`; a process already gone is fine.
pub fn signal_all(pids: &[u32], signal: rustix::process::Signal) {
    for &pid in pids {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            continue;
        };
        let _ = rustix::process::kill_process(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_read_past_a_name_with_parentheses() {
        assert_eq!(parent_in_stat("42 (a) b)) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (sh) R 1 1"), Some(1));
        assert_eq!(parent_in_stat("garbage"), None);
    }

    #[test]
    fn the_tree_holds_this_process_and_a_child_of_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = process_tree(std::process::id());
        assert_eq!(tree[0], std::process::id());
        assert!(tree.contains(&child.id()), "{tree:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[tokio::test]
    async fn a_cancel_is_not_taken_back_and_a_default_never_stops() {
        let (live, control) = Live::new(|_| {});
        assert_eq!(live.requested(), Stop::Run);
        control.stop(Stop::Cancel);
        control.stop(Stop::Interrupt);
        assert_eq!(live.stopped().await, Stop::Cancel);
        let idle = Live::default();
        let waited = tokio::time::timeout(Duration::from_millis(20), idle.stopped()).await;
        assert!(waited.is_err());
        assert!(!idle.hears());
    }

    #[tokio::test]
    async fn messages_reach_the_sink() {
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = heard.clone();
        let (live, _control) = Live::new(move |m: Message| into.lock().unwrap().push(m));
        live.message(Message::text(handoff_conversation::Role::Assistant, "hi"));
        assert_eq!(heard.lock().unwrap().len(), 1);
    }
}
