//! Live runs through the `handoff` binary, with a worker on another
//! machine sharing the store: `watch` in another process sees the turn as
//! it goes, `steer --interrupt` cuts it short with a new message, `cancel`
//! stops the agent and keeps its partial edits, and a worker killed with
//! SIGKILL after a checkpoint loses nothing the checkpoint held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use handoff_dev::GitRepo;
use support::{Machine, script, stderr, stdout};

/// An agent: the prompt is the last line of its input.
const AGENT: &str = r#"p=$(tail -n 1)
case "$p" in
  slow) trap 'echo interrupted; exit 130' INT; echo ready; sleep 60 & wait ;;
  next) echo partial > partial.txt; echo working; sleep 60 & wait ;;
  keep) echo kept > kept.txt; echo ready; sleep 60 & wait ;;
  *) echo "saw: $(cat kept.txt 2>/dev/null || echo nothing)" ;;
esac"#;

/// `handoff watch RUN --json` in the background: its events, line by line.
struct Watcher {
    child: Child,
    events: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Watcher {
    fn start(phone: &Machine, run: &str, dir: &Path) -> Self {
        let mut child = phone
            .command(&["watch", run, "--json"], dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Waits for an event that `want` accepts.
    #[track_caller]
    fn until(&mut self, what: &str, want: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("never saw {what}: {:#?}", self.seen));
            let hit = want(&event);
            self.seen.push(event);
            if hit {
                return;
            }
        }
    }

    fn exit_code(mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "watch did not exit: {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn says(event: &serde_json::Value, text: &str) -> bool {
    event["event"] == "message"
        && event["message"]["role"] == "assistant"
        && event["message"]["parts"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|p| p["text"] == text))
}

fn state(machine: &Machine, run: &str, dir: &Path) -> String {
    let shown: serde_json::Value =
        serde_json::from_str(&machine.ok(&["show", run, "--json"], dir)).unwrap();
    shown["state"].as_str().unwrap().to_owned()
}

struct Scene {
    store: tempfile::TempDir,
    bin: tempfile::TempDir,
    local: GitRepo,
    agent: String,
}

impl Scene {
    fn new() -> Self {
        let store = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let agent = script(bin.path(), "agent.sh", AGENT)
            .to_str()
            .unwrap()
            .to_owned();
        let local = GitRepo::init();
        local.write("README.md", "# app\n");
        local.commit_all("base");
        Self {
            store,
            bin,
            local,
            agent,
        }
    }

    fn push(&self, laptop: &Machine, prompt: &str) -> String {
        let out = laptop.ok(
            &[
                "push",
                "--harness",
                "command",
                "--agent-cmd",
                &self.agent,
                "--prompt",
                prompt,
            ],
            self.local.path(),
        );
        out.lines().next().unwrap().trim().to_owned()
    }

    fn worker(&self, machine: &Machine, extra: &[&str]) -> Child {
        let mut args = vec![
            "worker",
            "--agent-cmd",
            &self.agent,
            "--checkpoint-every",
            "1",
        ];
        args.extend_from_slice(extra);
        machine
            .command(&args, self.bin.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

#[test]
fn watch_steer_and_cancel_from_another_machine() {
    let s = Scene::new();
    let (laptop, server, phone) = (
        Machine::new(s.store.path()),
        Machine::new(s.store.path()),
        Machine::new(s.store.path()),
    );
    let run = s.push(&laptop, "slow");
    let mut worker = s.worker(&server, &["--once"]);
    let dir = s.bin.path();

    let mut watch = Watcher::start(&phone, &run, dir);
    watch.until("the first message", |e| says(e, "ready"));
    assert_eq!(
        state(&phone, &run, dir),
        "running",
        "seen while the turn runs"
    );

    // An interrupt: the slow turn ends at once, the message is the next.
    let asked = Instant::now();
    let steered = phone.ok(&["steer", &run, "--prompt", "next", "--interrupt"], dir);
    assert!(steered.contains("interrupted"), "{steered}");
    watch.until("the interrupted turn's end", |e| says(e, "interrupted"));
    watch.until("the steered turn", |e| says(e, "working") && e["turn"] == 2);
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );

    // A cancel stops the agent; its partial edit is the end state.
    let asked = Instant::now();
    let cancelled = phone.ok(&["cancel", &run], dir);
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        watch.exit_code(),
        Some(5),
        "watch tells a cancelled session"
    );
    assert!(worker.wait().unwrap().success());
    assert_eq!(state(&laptop, &run, dir), "cancelled");
    let diff = laptop.ok(&["diff", &run], dir);
    assert!(diff.contains("partial.txt"), "{diff}");
    let shown: serde_json::Value =
        serde_json::from_str(&laptop.ok(&["show", &run, "--json"], dir)).unwrap();
    assert!(
        shown["sessions"][0]["cancelled"]["by"].is_string(),
        "{shown}"
    );

    // Cancelling a queued follow-up takes it out of the queue.
    laptop.ok(
        &[
            "follow-up",
            &run,
            "--prompt",
            "again",
            "--agent-cmd",
            &s.agent,
        ],
        dir,
    );
    let out = phone.ok(&["cancel", &run, "--json"], dir);
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["outcome"], "dequeued");
    let ran = server.handoff(&["worker", "--once", "--agent-cmd", &s.agent], dir);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert_eq!(state(&laptop, &run, dir), "cancelled");
}

#[test]
fn a_worker_killed_after_a_checkpoint_loses_nothing_it_held() {
    let s = Scene::new();
    let (laptop, server, phone) = (
        Machine::new(s.store.path()),
        Machine::new(s.store.path()),
        Machine::new(s.store.path()),
    );
    let dir = s.bin.path();
    let run = s.push(&laptop, "keep");
    let mut worker = s.worker(&server, &["--once", "--lease", "2"]);
    let mut watch = Watcher::start(&phone, &run, dir);
    watch.until("the agent at work", |e| says(e, "ready"));
    watch.until("a checkpoint", |e| e["event"] == "checkpoint");
    worker.kill().unwrap(); // SIGKILL
    worker.wait().unwrap();

    // Another worker reaps the session once the lease has passed.
    std::thread::sleep(Duration::from_millis(2500));
    let reaper = server.handoff(&["worker", "--once", "--agent-cmd", &s.agent], dir);
    assert!(reaper.status.success(), "{}", stderr(&reaper));
    assert_eq!(watch.exit_code(), Some(4), "watch tells a failed session");
    assert_eq!(state(&laptop, &run, dir), "failed");
    let shown: serde_json::Value =
        serde_json::from_str(&laptop.ok(&["show", &run, "--json"], dir)).unwrap();
    let failure = shown["sessions"][0]["failure"].as_str().unwrap();
    assert!(failure.contains("last checkpoint"), "{failure}");
    let diff = laptop.ok(&["diff", &run], dir);
    assert!(diff.contains("kept.txt"), "{diff}");

    // A follow-up starts from the checkpoint: the agent finds its file.
    let out = laptop.handoff(
        &[
            "follow-up",
            &run,
            "--prompt",
            "look",
            "--agent-cmd",
            &s.agent,
            "--wait",
            "--json",
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let transcript = laptop.transcript(&run, s.local.path());
    assert!(
        transcript.contains("saw: kept"),
        "{}\n{}",
        stdout(&out),
        transcript
    );
}
