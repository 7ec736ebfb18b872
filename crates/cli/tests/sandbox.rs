//! The agent is untrusted. A hostile agent (a command-harness script) run
//! by `handoff worker` tries to read the worker's store credentials from
//! its environment, read the store, write outside its workspace, read
//! another session's workspace and read the worker's home: inside the
//! bubblewrap sandbox every attempt fails, and the run's transcript says
//! so. Without the sandbox its environment is still clean, and a worker on
//! a machine without bubblewrap refuses to run agents unless told
//! `--no-sandbox`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use handoff_dev::GitRepo;
use support::{Machine, script, stderr, stdout};

/// Whether bubblewrap is here; CI requires it (`HANDOFF_REQUIRE_BWRAP=1`),
/// elsewhere the sandbox tests skip, saying why.
fn bwrap() -> bool {
    if handoff_harness::confine::find_bwrap().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("HANDOFF_REQUIRE_BWRAP").is_none(),
        "bubblewrap is required: apt install bubblewrap"
    );
    eprintln!("skipped: bubblewrap (bwrap) is not installed");
    false
}

/// The hostile agent: the prompt names what to try, one `name=path` per
/// line; it reports each attempt on its reply and in `report.txt`.
fn hostile_agent(dir: &std::path::Path) -> String {
    script(
        dir,
        "hostile.sh",
        r#"set +e
prompt=$(cat)
if [ "$prompt" = "hello" ]; then echo "a benign turn"; exit 0; fi
get() { printf '%s\n' "$prompt" | sed -n "s/^$1=//p"; }
{
echo "aws=[${AWS_SECRET_ACCESS_KEY:-absent}]"
echo "store_var=[${HANDOFF_STORE:-absent}]"
if cat "$(get store)" >/dev/null 2>&1; then echo "store: READ"; else echo "store: denied"; fi
if echo escaped > "$(get outside)/escaped.txt" 2>/dev/null; then echo "outside: WRITTEN"; else echo "outside: denied"; fi
if cat "$(get other)" >/dev/null 2>&1; then echo "other session: READ"; else echo "other session: denied"; fi
if cat "$(get home)" >/dev/null 2>&1; then echo "worker home: READ"; else echo "worker home: denied"; fi
if echo ok > inside.txt; then echo "workspace: written"; else echo "workspace: DENIED"; fi
} > /tmp/report 2>&1
cp /tmp/report report.txt
cat /tmp/report"#,
    )
    .display()
    .to_string()
}

struct Scene {
    me: Machine,
    _store: tempfile::TempDir,
    repo: GitRepo,
    bin: tempfile::TempDir,
    outside: std::path::PathBuf,
}

impl Scene {
    fn new() -> Self {
        let store = tempfile::tempdir().unwrap();
        let me = Machine::new(store.path());
        std::fs::write(me.home.path().join("secret.txt"), "the worker's secret").unwrap();
        let repo = GitRepo::init();
        repo.write("a.txt", "a\n");
        repo.commit_all("base");
        // A directory the sandbox shows (read-only): not under /tmp, not
        // in the worker's home.
        let outside = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("sandbox-outside-{}", std::process::id()));
        std::fs::create_dir_all(&outside).unwrap();
        Self {
            me,
            _store: store,
            repo,
            bin: tempfile::tempdir().unwrap(),
            outside,
        }
    }

    /// `handoff worker --once --agent-cmd AGENT EXTRA…`.
    fn worker(&self, agent: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["worker", "--once", "--agent-cmd", agent];
        args.extend(extra);
        self.me
            .command(&args, self.repo.path())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
            )
            .env("HANDOFF_KEEP_ENVS", "1")
            .output()
            .unwrap()
    }

    /// Pushes a run of `agent` with `prompt`, queued.
    fn push(&self, agent: &str, prompt: &str) -> String {
        let out = self.me.ok(
            &[
                "push",
                "--harness",
                "command",
                "--agent-cmd",
                agent,
                "--prompt",
                prompt,
            ],
            self.repo.path(),
        );
        out.lines().next().unwrap().to_owned()
    }

    /// `handoff show RUN --json`.
    fn shown(&self, run: &str) -> serde_json::Value {
        serde_json::from_str(&self.me.ok(&["show", run, "--json"], self.repo.path())).unwrap()
    }

    /// The prompt that names what the hostile agent tries.
    fn targets(&self, other: &std::path::Path) -> String {
        // Something in the store's directory for it to try to read.
        let store_file = self.me.store.join("credentials");
        std::fs::write(&store_file, "store secret").unwrap();
        format!(
            "try\nstore={}\noutside={}\nother={}\nhome={}\n",
            store_file.display(),
            self.outside.display(),
            other.display(),
            self.me.home.path().join("secret.txt").display()
        )
    }

    /// What the agent reported, from the run's end state.
    fn report(&self, run: &str) -> String {
        let patch = self.me.ok(&["diff", run], self.repo.path());
        patch
            .lines()
            .filter_map(|l| l.strip_prefix('+'))
            .filter(|l| l.contains(": ") || l.contains("=["))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The workspace file of the first kept environment under `envs`.
fn other_session_file(envs: &std::path::Path) -> std::path::PathBuf {
    let session = std::fs::read_dir(envs).unwrap().flatten().next().unwrap();
    session.path().join("workspace/a.txt")
}

#[test]
fn a_hostile_agent_in_the_sandbox_reaches_nothing_it_should_not() {
    if !bwrap() {
        return;
    }
    let scene = Scene::new();
    let envs = scene.me.home.path().join("handoff-envs");
    let agent = hostile_agent(scene.bin.path());
    // Another session first, whose environment is kept.
    scene.push(&agent, "hello");
    let out = scene.worker(&agent, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let other = other_session_file(&envs);
    assert!(other.is_file(), "the other session's workspace is kept");

    let run = scene.push(&agent, &scene.targets(&other));
    let out = scene.worker(&agent, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("session failed"), "{}", stderr(&out));
    let report = scene.report(&run);
    for line in [
        "aws=[absent]",
        "store_var=[absent]",
        "store: denied",
        "outside: denied",
        "other session: denied",
        "worker home: denied",
        "workspace: written",
    ] {
        assert!(report.contains(line), "{line:?} in:\n{report}");
    }
    assert!(!scene.outside.join("escaped.txt").exists());

    // The run's transcript shows the failures too.
    let transcript = scene.me.transcript(&run, scene.repo.path());
    assert!(
        transcript.contains("worker home: denied") && transcript.contains("store: denied"),
        "{transcript}"
    );
}

#[test]
fn without_the_sandbox_the_environment_is_still_clean_and_workers_must_say_so() {
    let scene = Scene::new();
    let agent = hostile_agent(scene.bin.path());
    let other = scene.outside.join("nothing");
    let run = scene.push(&agent, &scene.targets(&other));

    // No bubblewrap: the worker refuses unless told --no-sandbox.
    let refused = scene
        .me
        .command(
            &["worker", "--once", "--agent-cmd", &agent],
            scene.repo.path(),
        )
        .env("HANDOFF_BWRAP", "")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("--no-sandbox") && stderr(&refused).contains("bubblewrap"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(scene.shown(&run)["state"], "queued", "nothing ran");

    let out = scene
        .me
        .command(
            &["worker", "--once", "--no-sandbox", "--agent-cmd", &agent],
            scene.repo.path(),
        )
        .env("HANDOFF_BWRAP", "")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("without the bubblewrap sandbox"));
    let report = scene.report(&run);
    assert!(report.contains("aws=[absent]"), "{report}");
    assert!(report.contains("store_var=[absent]"), "{report}");
    let _ = std::fs::remove_file(scene.outside.join("escaped.txt"));
}

#[test]
fn the_full_permission_level_runs_only_inside_the_sandbox() {
    let scene = Scene::new();
    let agent = script(scene.bin.path(), "agent.sh", "cat > /dev/null; echo ran");
    let out = scene.me.ok(
        &[
            "push",
            "--harness",
            "command",
            "--agent-cmd",
            agent.to_str().unwrap(),
            "--prompt",
            "go",
            "--permissions",
            "full",
        ],
        scene.repo.path(),
    );
    let run = out.lines().next().unwrap().to_owned();
    let agent = agent.to_str().unwrap();
    let worker = |extra: &[&str]| {
        let mut args = vec!["--permissions", "full"];
        args.extend(extra);
        let out = scene.worker(agent, &args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out
    };
    worker(&["--no-sandbox"]);
    let shown = scene.shown(&run);
    assert_eq!(shown["state"], "failed");
    let failure = shown["sessions"][0]["failure"].as_str().unwrap();
    assert!(failure.contains("only inside the sandbox"), "{failure}");
    if bwrap() {
        scene.me.ok(
            &["follow-up", &run, "--prompt", "again", "--agent-cmd", agent],
            scene.repo.path(),
        );
        let out = worker(&[]);
        assert_eq!(scene.shown(&run)["state"], "ended", "{}", stdout(&out));
    }
}
