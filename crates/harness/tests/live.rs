//! A running turn, live: the host hears each line as the agent writes it,
//! and stops the agent — interrupted with the signal an agent CLI takes to
//! end its turn, or cancelled — with its whole process tree, sandboxed or
//! not, within the grace period.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handoff_conversation::{Conversation, Message};
use handoff_harness::{
    AgentOptions, CommandHarness, Confinement, Error, Handoff, Harness, Live, Sandbox, Stop, Turn,
};

fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("agent.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

fn alive(pid: u32) -> bool {
    // A zombie has been stopped; it only waits to be reaped by its parent.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

struct Heard(Arc<Mutex<Vec<String>>>);

impl Heard {
    fn live() -> (Self, Live, handoff_harness::LiveControl) {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let into = heard.clone();
        let (live, control) =
            Live::new(move |m: Message| into.lock().unwrap().push(m.plain_text()));
        (Self(heard), live, control)
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    async fn until(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.lines().iter().any(|l| l == line) {
            assert!(
                Instant::now() < deadline,
                "never heard {line:?}: {:?}",
                self.lines()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs `body` as a command agent in `dir`, stops it with `stop` once it
/// said `ready`, and returns what was heard, the error and how long the
/// stop took.
async fn stopped(
    dir: &Path,
    body: &str,
    stop: Stop,
    confinement: &Confinement,
) -> (Vec<String>, Error, Duration) {
    let program = script(dir, body);
    let harness = CommandHarness::new(&program, vec![]);
    let conversation = Conversation::new("live", "command");
    let (heard, live, control) = Heard::live();
    let turn = Turn {
        conversation: &conversation,
        prompt: "go",
        workdir: dir,
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &AgentOptions::default(),
        confinement,
        live: &live,
    };
    let running = harness.run_turn(turn);
    tokio::pin!(running);
    let asked = tokio::select! {
        result = &mut running => panic!("the turn ended by itself: {result:?}"),
        () = heard.until("ready") => {
            control.stop(stop);
            Instant::now()
        }
    };
    let error = running.await.unwrap_err();
    (heard.lines(), error, asked.elapsed())
}

#[tokio::test]
async fn lines_are_heard_as_they_are_written_and_the_whole_output_is_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "echo one; sleep 0.3; echo two");
    let harness = CommandHarness::new(&program, vec![]);
    let conversation = Conversation::new("live", "command");
    let (heard, live, _control) = Heard::live();
    let turn = Turn {
        conversation: &conversation,
        prompt: "go",
        workdir: dir.path(),
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &AgentOptions::default(),
        confinement: &Confinement::default(),
        live: &live,
    };
    let running = harness.run_turn(turn);
    tokio::pin!(running);
    tokio::select! {
        result = &mut running => panic!("the turn ended before its first line was heard: {result:?}"),
        () = heard.until("one") => {}
    }
    assert_eq!(heard.lines(), ["one"], "the second line is not written yet");
    let added = running.await.unwrap();
    assert_eq!(heard.lines(), ["one", "two"]);
    assert_eq!(added[1].plain_text(), "one\ntwo");
}

#[tokio::test]
async fn a_cancel_stops_the_agent_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let (_, error, took) = stopped(
        dir.path(),
        "sleep 60 & echo $! > child.pid; echo ready; wait",
        Stop::Cancel,
        &Confinement::default(),
    )
    .await;
    assert!(
        matches!(
            error,
            Error::Stopped {
                stop: Stop::Cancel,
                ..
            }
        ),
        "{error}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    let child: u32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(child), "the agent's child {child} survived");
}

#[tokio::test]
async fn an_interrupt_reaches_the_agent_which_ends_its_turn_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (heard, error, took) = stopped(
        dir.path(),
        "trap 'echo interrupted; exit 0' INT; echo ready; while :; do sleep 0.05; done",
        Stop::Interrupt,
        &Confinement::default(),
    )
    .await;
    assert!(
        matches!(
            error,
            Error::Stopped {
                stop: Stop::Interrupt,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(heard, ["ready", "interrupted"]);
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn an_agent_that_ignores_the_signal_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (_, error, took) = stopped(
        dir.path(),
        "trap '' TERM; echo $$ > agent.pid; echo ready; while :; do sleep 0.05; done",
        Stop::Cancel,
        &Confinement::default(),
    )
    .await;
    assert!(matches!(error, Error::Stopped { .. }), "{error}");
    assert!(took >= handoff_harness::live::STOP_GRACE, "{took:?}");
    assert!(
        took < handoff_harness::live::STOP_GRACE + Duration::from_secs(3),
        "{took:?}"
    );
    let pid: u32 = std::fs::read_to_string(dir.path().join("agent.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid));
}

/// Inside bubblewrap the signal goes to the agent, not to bubblewrap; the
/// agent's children in the sandbox stop with it.
#[tokio::test]
async fn a_sandboxed_agent_is_interrupted_and_cancelled_with_its_tree() {
    let Some(bwrap) = handoff_harness::confine::find_bwrap() else {
        assert!(
            std::env::var_os("HANDOFF_REQUIRE_BWRAP").is_none(),
            "bubblewrap is required: apt install bubblewrap"
        );
        eprintln!("skipped: bubblewrap (bwrap) is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut sandbox = Sandbox::new(&bwrap);
    sandbox.writable = vec![dir.path().to_owned()];
    let confinement = Confinement {
        clean_env: true,
        home: None,
        tmp: None,
        sandbox: Some(sandbox),
    };
    let (heard, error, took) = stopped(
        dir.path(),
        "trap 'echo interrupted; exit 0' INT; echo ready; while :; do sleep 0.05; done",
        Stop::Interrupt,
        &confinement,
    )
    .await;
    assert!(
        matches!(
            error,
            Error::Stopped {
                stop: Stop::Interrupt,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(heard, ["ready", "interrupted"]);
    assert!(took < Duration::from_secs(3), "{took:?}");

    let (_, error, took) = stopped(
        dir.path(),
        "sleep 61 & echo ready; wait",
        Stop::Cancel,
        &confinement,
    )
    .await;
    assert!(
        matches!(
            error,
            Error::Stopped {
                stop: Stop::Cancel,
                ..
            }
        ),
        "{error}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Anywhere on the machine: an orphan would be reparented away from us.
    let left: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| alive(*pid))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c == "sleep\u{0}61\u{0}")
        })
        .collect();
    assert_eq!(left, Vec::<u32>::new(), "processes of the sandbox survived");
}
