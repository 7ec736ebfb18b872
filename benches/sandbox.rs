//! What the sandbox costs a turn: starting a program inside bubblewrap,
//! as a cloud session's agent is (a user namespace without capabilities,
//! the seccomp filter, a root of only the system directories, a private
//! `/tmp`, the workspace and the session's directories writable), against
//! starting the
//! same program directly — whole process against whole process, in
//! alternating pairs, medians (target: at most 50 ms more). The program is
//! `git --version`, a tool agents run all the time.
//!
//! Without `bwrap` on the machine the bench says so and measures nothing.
//! Benchmarks report, they never fail on timings.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use handoff_harness::{Confinement, Network, Sandbox};

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn run(program: &Path, args: &[std::ffi::OsString]) {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "{} failed", program.display());
}

/// Runs `git --version` confined, seccomp filter and all, as a session's
/// agent would be.
fn run_confined(confinement: &Confinement, git: &Path, cwd: &Path) {
    let plain = [std::ffi::OsString::from("--version")];
    let mut command = confinement.command(git, &plain, cwd, &[], &[]).unwrap();
    command.command_mut().stdout(Stdio::null());
    let ok = command.spawn().unwrap().wait().unwrap().success();
    assert!(ok, "bwrap … git --version failed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let Some(bwrap) = handoff_harness::confine::find_bwrap() else {
        println!("sandbox: bwrap is not installed here; nothing measured");
        return;
    };
    let git = handoff_harness::session_file::find_on_path(&["git"]).unwrap();
    let session = tempfile::tempdir().unwrap();
    let (workspace, home, tmp) = (
        session.path().join("workspace"),
        session.path().join("home"),
        session.path().join("tmp"),
    );
    for dir in [&workspace, &home, &tmp] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let confinement = Confinement {
        clean_env: true,
        home: Some(home),
        tmp: Some(tmp),
        sandbox: Some({
            let mut sandbox = Sandbox::new(&bwrap);
            sandbox.writable = vec![workspace.clone()];
            sandbox.hidden = std::env::var_os("HOME")
                .map(Into::into)
                .into_iter()
                .collect();
            sandbox.network = Network::Host;
            sandbox
        }),
    };
    let plain = vec![std::ffi::OsString::from("--version")];

    // One untimed pair, then alternating pairs.
    run(&git, &plain);
    run_confined(&confinement, &git, &workspace);
    let pairs = if smoke { 3 } else { 31 };
    let (mut direct, mut sandboxed) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        let time = |confined: bool, into: &mut Vec<Duration>| {
            let t = Instant::now();
            if confined {
                run_confined(&confinement, &git, &workspace);
            } else {
                run(&git, &plain);
            }
            into.push(t.elapsed());
        };
        if pair % 2 == 0 {
            time(false, &mut direct);
            time(true, &mut sandboxed);
        } else {
            time(true, &mut sandboxed);
            time(false, &mut direct);
        }
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("sandbox");
    group.sample_size(20);
    group.bench_function("git --version", |b| b.iter(|| run(&git, &plain)));
    group.bench_function("bwrap … git --version", |b| {
        b.iter(|| run_confined(&confinement, &git, &workspace))
    });
    group.finish();
    c.final_summary();

    let (direct, sandboxed) = (median(direct), median(sandboxed));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let note = if smoke {
        " (smoke run: not a measurement)"
    } else {
        ""
    };
    println!("\n== summary{note} ==");
    println!(
        "sandbox start: direct {:.1} ms, in bubblewrap {:.1} ms, overhead {:+.1} ms (target <= +50 ms), medians of {pairs} alternating pairs",
        ms(direct),
        ms(sandboxed),
        ms(sandboxed) - ms(direct)
    );
}
