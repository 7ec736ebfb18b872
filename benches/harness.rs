//! Harness overhead: a cloud turn through handoff's harness (install the
//! session, run the agent's CLI, read back what it appended) against the
//! same CLI resuming the same session directly, as a person would run it,
//! on the same scripted model server (target ≤ 1.2×).
//!
//! For each real CLI found (`$HANDOFF_REAL_CLAUDE`, `$HANDOFF_REAL_CODEX`;
//! `.ci/test` installs both): the conversation is a real Claude Code session
//! (`crates/claude-code/tests/fixtures/tool_heavy.jsonl`; for Codex, the same
//! conversation as a rollout). Both sides run the same command line and
//! the same prompt; the direct side's session file is put back to its
//! installed state before each run, outside the timing, so both resume the
//! same history. After one untimed pair, `HANDOFF_BENCH_TURNS` pairs
//! (default 8) alternate which side goes first; the bench prints every
//! pair's ratio and the median. Benchmarks report, they never fail on
//! timings.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: panics and prints are its interface"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use handoff_conversation::{Conversation, Mode};
use handoff_dev::model_server::{Agent, ModelServer, Request, Step};
use handoff_harness::native::{CliSpec, resume_args};
use handoff_harness::{AgentOptions, Handoff, Harness, Turn};

fn turns() -> usize {
    std::env::var("HANDOFF_BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn conversation() -> Conversation {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/claude-code/tests/fixtures/tool_heavy.jsonl");
    handoff_claude_code::session::read_file(&fixture, Mode::Strict)
        .unwrap()
        .0
}

/// One agent's two sides.
struct Sides {
    name: &'static str,
    cli: PathBuf,
    spec: &'static CliSpec,
    harness: Arc<dyn Harness>,
    /// The environment both sides run with.
    env: Vec<(String, String)>,
    /// The direct side's home, with the session installed once.
    direct_home: PathBuf,
    /// The installed session file and its pristine bytes.
    direct_file: (PathBuf, Vec<u8>),
}

fn direct(sides: &Sides, id: &str, prompt: &str, work: &Path) -> Duration {
    std::fs::write(&sides.direct_file.0, &sides.direct_file.1).unwrap();
    let args = resume_args(sides.spec, id, prompt, &AgentOptions::default(), false);
    let t = Instant::now();
    let out = Command::new(&sides.cli)
        .args(&args)
        .current_dir(work)
        .env(sides.spec.home_var, &sides.direct_home)
        .envs(sides.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{} failed: {}",
        sides.name,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn through_handoff(
    rt: &tokio::runtime::Runtime,
    sides: &Sides,
    conversation: &Conversation,
    work: &Path,
) -> Duration {
    let turn = Turn {
        conversation,
        prompt: "continue",
        workdir: work,
        attachments: &[],
        handoff: &Handoff::default(),
        agent: &AgentOptions::default(),
        confinement: &handoff_harness::Confinement::default(),
        live: handoff_harness::Live::IDLE,
    };
    let t = Instant::now();
    let added = rt.block_on(sides.harness.run_turn(turn)).unwrap();
    let elapsed = t.elapsed();
    assert!(!added.is_empty());
    elapsed
}

fn setup(agent: Agent, server: &ModelServer, conversation: &Conversation) -> Option<Sides> {
    let var = match agent {
        Agent::ClaudeCode => "HANDOFF_REAL_CLAUDE",
        Agent::Codex => "HANDOFF_REAL_CODEX",
    };
    let Some(cli) = std::env::var_os(var).map(PathBuf::from) else {
        println!("harness overhead: {agent:?} skipped ({var} is not set)");
        return None;
    };
    let base = tempfile::tempdir().unwrap().keep();
    let (handoff_home, direct_home) = (base.join("handoff-home"), base.join("direct-home"));
    let work = std::fs::canonicalize(base.clone()).unwrap();
    let cwd = work.to_str().unwrap();
    let id = conversation.id.to_string();
    Some(match agent {
        Agent::ClaudeCode => {
            let env = server.claude_env();
            let harness = env.iter().fold(
                handoff_claude_code::ClaudeCodeHarness::new()
                    .with_program(&cli)
                    .with_home(&handoff_home),
                |h, (k, v)| h.with_env(k, v),
            );
            let file = handoff_claude_code::session::install(conversation, &direct_home, cwd, &id)
                .unwrap();
            Sides {
                name: "claude-code",
                spec: &handoff_claude_code::CLI,
                harness: Arc::new(harness),
                env,
                direct_home,
                direct_file: (file.clone(), std::fs::read(&file).unwrap()),
                cli,
            }
        }
        Agent::Codex => {
            server.codex_config(&handoff_home);
            server.codex_config(&direct_home);
            let env = vec![(ModelServer::CODEX_KEY_VAR.to_owned(), "scripted".to_owned())];
            let harness = handoff_codex::CodexHarness::new()
                .with_program(&cli)
                .with_home(&handoff_home)
                .with_env(ModelServer::CODEX_KEY_VAR, "scripted");
            let file = handoff_codex::install(conversation, &direct_home, cwd, &id).unwrap();
            Sides {
                name: "codex",
                spec: &handoff_codex::CLI,
                harness: Arc::new(harness),
                env,
                direct_home,
                direct_file: (file.clone(), std::fs::read(&file).unwrap()),
                cli,
            }
        }
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = ModelServer::start(Arc::new(|_: &Request| Step::Text("done".into())));
    let conversation = conversation();
    let id = conversation.id.to_string();
    // The harness puts the note before the prompt; the direct side gets the
    // same text, so the CLIs do the same work.
    let prompt = format!("{}\ncontinue", Handoff::default().note());
    for agent in [Agent::ClaudeCode, Agent::Codex] {
        let Some(sides) = setup(agent, &server, &conversation) else {
            continue;
        };
        let work = sides.direct_home.parent().unwrap().to_owned();
        through_handoff(&rt, &sides, &conversation, &work);
        direct(&sides, &id, &prompt, &work);
        let mut ratios = Vec::new();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for pair in 0..turns() {
            let (h, d) = if pair % 2 == 0 {
                let h = through_handoff(&rt, &sides, &conversation, &work);
                (h, direct(&sides, &id, &prompt, &work))
            } else {
                let d = direct(&sides, &id, &prompt, &work);
                (through_handoff(&rt, &sides, &conversation, &work), d)
            };
            ratios.push(h.as_secs_f64() / d.as_secs_f64());
            ours.push(h.as_secs_f64());
            theirs.push(d.as_secs_f64());
        }
        println!(
            "harness overhead {}: turn through handoff {:.0} ms vs the CLI directly {:.0} ms (medians): {:.2}x (target <= 1.2x); pairs: {}",
            sides.name,
            median(ours) * 1e3,
            median(theirs) * 1e3,
            median(ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = std::fs::remove_dir_all(&work);
    }

    // Where handoff's own share of a turn goes: installing the session.
    let home = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("harness");
    group.sample_size(20);
    group.bench_function("install claude-code session", |b| {
        b.iter(|| {
            handoff_claude_code::session::install(&conversation, home.path(), "/w", &id).unwrap()
        })
    });
    group.bench_function("install codex rollout", |b| {
        b.iter(|| handoff_codex::install(&conversation, home.path(), "/w", &id).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
