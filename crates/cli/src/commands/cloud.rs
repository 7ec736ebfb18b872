//! What the cloud commands share: parsing their agent options, the
//! agents' isolation, and running a session in this process.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use handoff_conversation::{Conversation, ReadOptions};
use handoff_engine::view::RunRow;
use handoff_engine::{
    Isolation, Loaded, LocalEnvironment, Prepared, RunId, RunRecord, RunState, RunStore,
    WorkerOptions, run_session,
};
use handoff_harness::{AgentOptions, Permissions};
use handoff_store::Store;

use crate::args::{AgentArgs, AgentCmdArgs};

pub(crate) fn parse_permissions(text: &str) -> anyhow::Result<Permissions> {
    Ok(text.parse::<Permissions>()?)
}

/// The agent options `args` give, on top of `base`.
pub(crate) fn agent_options(args: &AgentArgs, base: AgentOptions) -> anyhow::Result<AgentOptions> {
    Ok(AgentOptions {
        permissions: match &args.permissions {
            Some(text) => parse_permissions(text)?,
            None => base.permissions,
        },
        model: args.model.clone().or(base.model),
        network: match &args.network {
            Some(text) => text.parse().map_err(anyhow::Error::msg)?,
            None => base.network,
        },
    })
}

pub(crate) fn parse_run(text: &str) -> anyhow::Result<RunId> {
    text.parse::<RunId>()
        .with_context(|| format!("{text:?} is not a run id"))
}

pub(crate) fn read_conversation(path: &Path) -> anyhow::Result<Conversation> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.first() == Some(&b'{')
        && let Ok(c) = Conversation::from_json(&bytes)
    {
        return Ok(c);
    }
    let (conversation, _) = Conversation::read_jsonl(&bytes[..], &ReadOptions::default())
        .with_context(|| format!("{} is not a handoff conversation", path.display()))?;
    Ok(conversation)
}

pub(crate) fn envs_dir(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_owned)
        .unwrap_or_else(|| std::env::temp_dir().join("handoff-envs"))
}

/// Runs the queued session of `run`, if any; returns the record after it.
pub(crate) async fn run_now(
    store: &dyn Store,
    run: RunId,
    command: &AgentCmdArgs,
    envs: &Path,
    isolation: &Isolation,
) -> anyhow::Result<Option<RunRecord>> {
    let options = WorkerOptions {
        isolation: isolation.clone(),
        ..WorkerOptions::default()
    };
    run_with(store, run, command, envs, &options).await
}

pub(crate) async fn run_with(
    store: &dyn Store,
    run: RunId,
    command: &AgentCmdArgs,
    envs: &Path,
    options: &WorkerOptions,
) -> anyhow::Result<Option<RunRecord>> {
    let record = RunStore::new(store).get(run).await?.record;
    let harness = crate::harness::for_queueing(&record.harness, command)?;
    let env = LocalEnvironment::new(envs);
    let ran = run_session(store, run, &*harness, &env, options).await?;
    if let Some(ran) = &ran {
        discard_environment(&ran.environment);
    }
    Ok(ran.map(|r| r.record))
}

/// Everything a session produced is in the store; its scratch checkout is
/// kept only when asked for (`HANDOFF_KEEP_ENVS=1`).
pub(crate) fn discard_environment(environment: &Prepared) {
    if std::env::var_os("HANDOFF_KEEP_ENVS").is_none()
        && let Some(top) = environment.root.parent()
    {
        let _ = std::fs::remove_dir_all(top);
    }
}

pub(crate) fn summary(loaded: &Loaded) -> RunRow {
    RunRow::new(&loaded.record, loaded.version)
}

/// What agents must not see from inside the sandbox: the store's
/// directory (for a store on this machine), the home of the user running
/// handoff (credentials, other agents' sessions), and the directory holding
/// every session's environment (a session's own stays visible).
pub(crate) fn hidden_from_agents(
    store_flag: Option<&str>,
    envs: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut hidden = Vec::new();
    if let handoff_store::location::Location::Dir(dir) =
        handoff_store::location::Location::resolve(store_flag)?
    {
        hidden.push(dir);
    }
    hidden.extend(std::env::var_os("HOME").map(PathBuf::from));
    hidden.push(envs.to_owned());
    Ok(hidden)
}

/// How `push --wait` and `follow-up --wait` confine the agent on a
/// person's own machine: in the sandbox when bubblewrap is installed and
/// can build it here, otherwise as their local agent would run (saying
/// so); either way with only the environment it needs.
pub(crate) async fn isolation_here(
    store_flag: Option<&str>,
    envs: &Path,
) -> anyhow::Result<Isolation> {
    let mut bwrap = handoff_harness::confine::find_bwrap();
    match &bwrap {
        None => writeln!(
            std::io::stderr().lock(),
            "handoff: bubblewrap (bwrap) is not installed: the agent runs unsandboxed, as your local agent would"
        )?,
        Some(found) => {
            if let Err(e) = handoff_harness::confine::sandbox::verify(found).await {
                writeln!(
                    std::io::stderr().lock(),
                    "handoff: {e}: the agent runs unsandboxed, as your local agent would"
                )?;
                bwrap = None;
            }
        }
    }
    Ok(Isolation {
        clean_env: true,
        bwrap,
        hidden: hidden_from_agents(store_flag, envs)?,
    })
}

/// How `handoff worker` confines agents: in the sandbox, or, with
/// `--no-sandbox`, without one (saying so); refused where bubblewrap is
/// missing or cannot build the sandbox on this host and `--no-sandbox`
/// was not given — never a weaker sandbox.
pub(crate) async fn isolation_for_worker(
    store_flag: Option<&str>,
    envs: &Path,
    no_sandbox: bool,
) -> anyhow::Result<Isolation> {
    let bwrap = handoff_harness::confine::find_bwrap();
    let bwrap = match (bwrap, no_sandbox) {
        (_, true) => {
            writeln!(
                std::io::stderr().lock(),
                "handoff: --no-sandbox: agents run without the bubblewrap sandbox (their environment is still limited to what they need)"
            )?;
            None
        }
        (Some(bwrap), false) => {
            handoff_harness::confine::sandbox::verify(&bwrap)
                .await
                .context("agents would run without a sandbox: fix that, or pass --no-sandbox")?;
            Some(bwrap)
        }
        (None, false) => anyhow::bail!(
            "bubblewrap (bwrap) is not installed, so agents would run without a sandbox: install it (Debian: apt install bubblewrap) or pass --no-sandbox"
        ),
    };
    Ok(Isolation {
        clean_env: true,
        bwrap,
        hidden: hidden_from_agents(store_flag, envs)?,
    })
}

/// With `--wait`, runs the queued session now and reports a failed one on
/// stderr; returns the record as it stands.
pub(crate) async fn wait_if_asked(
    store: &dyn Store,
    run: RunId,
    wait: bool,
    command: &AgentCmdArgs,
    isolation: &Isolation,
) -> anyhow::Result<Loaded> {
    if wait && let Err(e) = run_now(store, run, command, &envs_dir(None), isolation).await {
        writeln!(
            std::io::stderr().lock(),
            "handoff: run {run}: session failed: {e:#}"
        )?;
    }
    Ok(RunStore::new(store).get(run).await?)
}

/// 1 when the run's last session failed, else 0.
pub(crate) fn exit_for(loaded: &Loaded) -> u8 {
    if loaded.record.state == RunState::Failed {
        1
    } else {
        0
    }
}
