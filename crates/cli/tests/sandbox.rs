//! The agent is untrusted. A hostile agent (a command-harness script) run
//! by `handoff worker` — as root here in CI — tries to read the worker's
//! store credentials from its environment, read the store, write outside
//! its workspace, read another session's workspace and the worker's home,
//! unmount what hides them, remount the root writable, write the host's
//! root, signal the worker and read its environment through `/proc`:
//! inside the bubblewrap sandbox every attempt fails, and the run's
//! transcript says so. Without the sandbox its environment is still clean,
//! and a worker on a machine without bubblewrap refuses to run agents
//! unless told `--no-sandbox`. Each permission level is kept by the
//! sandbox too: at `read-only` neither a command agent nor Warp's `oz`
//! changes the workspace, which the run's end state shows. (The sandbox's
//! own suite, every attempt in each nesting profile as root and as an
//! ordinary user, is `handoff-harness`'s `tests/sandbox.rs`.)
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
if umount /tmp 2>/dev/null || umount -l "$(dirname "$(get store)")" 2>/dev/null; then echo "umount: DONE"; else echo "umount: denied"; fi
if mount -o remount,rw,bind / 2>/dev/null; then echo "remount: DONE"; else echo "remount: denied"; fi
if touch "/escaped-$(get tag)" 2>/dev/null; then echo "root: WRITTEN"; else echo "root: denied"; fi
if kill -0 "$(get worker)" 2>/dev/null; then echo "signal worker: DONE"; else echo "signal worker: denied"; fi
if grep -qa wJalrXUtnFEMI /proc/1/environ 2>/dev/null; then echo "proc environ: READ"; else echo "proc environ: clean"; fi
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
            "try\nstore={}\noutside={}\nother={}\nhome={}\nworker={}\ntag={}\n",
            store_file.display(),
            self.outside.display(),
            other.display(),
            self.me.home.path().join("secret.txt").display(),
            std::process::id(),
            self.tag(),
        )
    }

    /// What names this scene's attempt to write the host's root.
    fn tag(&self) -> String {
        format!("handoff-test-{}", std::process::id())
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
        "umount: denied",
        "remount: denied",
        "root: denied",
        "signal worker: denied",
        "proc environ: clean",
        "workspace: written",
    ] {
        assert!(report.contains(line), "{line:?} in:\n{report}");
    }
    assert!(!scene.outside.join("escaped.txt").exists());
    assert!(!std::path::Path::new(&format!("/escaped-{}", scene.tag())).exists());

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

/// A command agent that tries to write: a new file, an edit, a commit.
fn writing_agent(dir: &std::path::Path) -> String {
    script(
        dir,
        "writer.sh",
        r#"set +e
cat > /dev/null
echo wrote > ro_wrote.txt
echo changed >> a.txt
git add -A >/dev/null 2>&1 && git commit -qm "agent commit" >/dev/null 2>&1
echo "tried to write""#,
    )
    .display()
    .to_string()
}

#[test]
fn read_only_is_kept_by_the_sandbox_for_a_command_agent() {
    if !bwrap() {
        return;
    }
    let scene = Scene::new();
    let agent = writing_agent(scene.bin.path());
    let push = |level: &str| -> String {
        let out = scene.me.ok(
            &[
                "push",
                "--harness",
                "command",
                "--agent-cmd",
                &agent,
                "--prompt",
                "write",
                "--permissions",
                level,
            ],
            scene.repo.path(),
        );
        out.lines().next().unwrap().to_owned()
    };

    let read_only = push("read-only");
    let out = scene.worker(&agent, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = scene.shown(&read_only);
    assert_eq!(shown["state"], "ended", "{shown}");
    let patch = scene.me.ok(&["diff", &read_only], scene.repo.path());
    assert_eq!(patch, "", "a read-only agent changed nothing");

    let edits = push("edits");
    let out = scene.worker(&agent, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let patch = scene.me.ok(&["diff", &edits], scene.repo.path());
    assert!(
        patch.contains("+++ b/ro_wrote.txt") && patch.contains("+changed"),
        "{patch}"
    );

    // Without a sandbox nothing keeps a command agent to read-only: the
    // worker refuses the session instead of running it.
    let unsandboxed = push("read-only");
    let out = scene.worker(&agent, &["--no-sandbox"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = scene.shown(&unsandboxed);
    assert_eq!(shown["state"], "failed", "{shown}");
    let failure = shown["sessions"][0]["failure"].as_str().unwrap();
    assert!(
        failure.contains("read-only") && failure.contains("only inside the sandbox"),
        "{failure}"
    );
}

/// A stand-in `oz` that reports, as its answer, whether it could read the
/// history document its prompt names, and tries to write the workspace.
fn probing_oz(dir: &std::path::Path) -> std::path::PathBuf {
    script(
        dir,
        "oz",
        r#"set +e
prompt=
while [ $# -gt 0 ]; do
    case "$1" in
        -p|--prompt) prompt=$2; shift 2 ;;
        -C|--cwd) cd "$2"; shift 2 ;;
        *) shift ;;
    esac
done
doc=$(printf '%s\n' "$prompt" | sed -n 's/^The conversation so far .* is in \(.*\)\. Read it before you continue.*$/\1/p' | head -n 1)
if [ -n "$doc" ] && grep -q . "$doc" 2>/dev/null; then history=read; else history=missing; fi
if echo "edited by oz" > oz-was-here.txt 2>/dev/null; then write=written; else write=denied; fi
echo '{"type":"agent","text":"history: '"$history"'; workspace: '"$write"'"}'"#,
    )
}

/// `PATH` with the probing `oz` first.
fn path_with_probing_oz(scene: &Scene) -> String {
    let oz = probing_oz(scene.bin.path());
    format!(
        "{}:{}",
        oz.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    )
}

impl Scene {
    /// `handoff ARGS` in the repository with `env` set, asserting exit 0;
    /// returns stdout.
    fn ok_with(&self, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> String {
        let mut command = self.me.command(args, self.repo.path());
        command.envs(env.iter().copied());
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    }
}

#[test]
fn read_only_is_kept_by_the_sandbox_for_warp_and_oz_reads_its_history() {
    if !bwrap() {
        return;
    }
    let scene = Scene::new();
    let path = path_with_probing_oz(&scene);
    let handoff = |args: &[&str]| scene.ok_with(args, &[("PATH", path.as_ref())]);
    // The first session has no history yet; the follow-up's agent is
    // pointed at the conversation so far, and must find it.
    let run = handoff(&[
        "push",
        "--harness",
        "warp",
        "--prompt",
        "look around",
        "--wait",
    ]);
    let run = run.lines().next().unwrap().to_owned();
    let transcript = scene.me.transcript(&run, scene.repo.path());
    assert!(
        transcript.contains("history: missing; workspace: written"),
        "{transcript}"
    );
    let patch = scene.me.ok(&["diff", &run], scene.repo.path());
    assert!(patch.contains("+++ b/oz-was-here.txt"), "{patch}");
    std::fs::remove_file(scene.repo.path().join("oz-was-here.txt")).ok();

    handoff(&[
        "follow-up",
        &run,
        "--prompt",
        "look again",
        "--permissions",
        "read-only",
        "--wait",
    ]);
    let transcript = scene.me.transcript(&run, scene.repo.path());
    assert!(
        transcript.contains("history: read; workspace: denied"),
        "{transcript}"
    );
    // The read-only session changed nothing: its end is the first's.
    let shown = scene.shown(&run);
    assert_eq!(shown["state"], "ended", "{shown}");
    assert_eq!(
        shown["sessions"][1]["end"], shown["sessions"][0]["end"],
        "{shown}"
    );
}

/// A bubblewrap that cannot build the sandbox here (as on a host without
/// user namespaces): the worker refuses to start, saying why, and runs
/// nothing until told `--no-sandbox` — never a weaker sandbox.
#[test]
fn a_worker_refuses_a_bubblewrap_that_cannot_build_the_sandbox() {
    let scene = Scene::new();
    let agent = script(scene.bin.path(), "agent.sh", "cat > /dev/null; echo ran");
    let agent = agent.to_str().unwrap();
    let broken = script(
        scene.bin.path(),
        "bwrap",
        "echo 'bwrap: No permissions to create new namespace' >&2; exit 1",
    );
    let run = scene.push(agent, "go");
    let out = scene
        .me
        .command(
            &["worker", "--once", "--agent-cmd", agent],
            scene.repo.path(),
        )
        .env("HANDOFF_BWRAP", &broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("cannot set up the sandbox")
            && said.contains("No permissions to create new namespace")
            && said.contains("--no-sandbox"),
        "{said}"
    );
    assert_eq!(scene.shown(&run)["state"], "queued", "nothing ran");
}

/// A command agent that reads every file its prompt and environment name
/// (the history document, the conversation, each attachment, its home
/// and temporary directory) and says which it could not.
fn reading_agent(dir: &std::path::Path) -> String {
    script(
        dir,
        "reader.sh",
        r#"set +e
prompt=$(cat)
missing=
doc=$(printf '%s\n' "$prompt" | sed -n 's/^The conversation so far .* is in \(.*\)\. Read it before you continue.*$/\1/p' | head -n 1)
[ -n "$doc" ] && [ "$doc" = "$HANDOFF_HISTORY" ] && grep -q . "$doc" || missing="$missing history($doc)"
grep -q handoff.conversation "$HANDOFF_CONVERSATION" || missing="$missing conversation($HANDOFF_CONVERSATION)"
n=0
while IFS= read -r file; do
    n=$((n + 1))
    grep -q "attached bytes" "$file" || missing="$missing attachment($file)"
done < "$HANDOFF_ATTACHMENTS"
[ "$n" = 1 ] || missing="$missing attachments($n)"
[ -d "$HOME" ] && [ -d "$TMPDIR" ] || missing="$missing dirs($HOME $TMPDIR)"
echo "files: ${missing:-all read}""#,
    )
    .display()
    .to_string()
}

/// Every file an agent is told about exists at the path it is given,
/// inside the sandbox — also when the worker's `TMPDIR` (where the
/// sessions' environments are) is reached through a symbolic link, which
/// the sandbox cannot show as such: the command agent reads its history,
/// conversation and attachment, and Warp's `oz` its history document.
#[test]
fn a_sandboxed_agent_reads_every_file_it_is_told_about() {
    if !bwrap() {
        return;
    }
    let scene = Scene::new();
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("linked-tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(scene.me.home.path(), &tmp).unwrap();
    let path = path_with_probing_oz(&scene);
    let handoff =
        |args: &[&str]| scene.ok_with(args, &[("TMPDIR", tmp.as_ref()), ("PATH", path.as_ref())]);
    let attachment = scene.bin.path().join("notes.txt");
    std::fs::write(&attachment, "attached bytes\n").unwrap();

    let agent = reading_agent(scene.bin.path());
    let attach = attachment.display().to_string();
    let run = handoff(&[
        "push",
        "--harness",
        "command",
        "--agent-cmd",
        &agent,
        "--prompt",
        "read",
        "--attach",
        &attach,
        "--wait",
    ]);
    let run = run.lines().next().unwrap().to_owned();
    let transcript = scene.me.transcript(&run, scene.repo.path());
    assert!(transcript.contains("files: all read"), "{transcript}");

    let run = handoff(&["push", "--harness", "warp", "--prompt", "look", "--wait"]);
    let run = run.lines().next().unwrap().to_owned();
    handoff(&["follow-up", &run, "--prompt", "look again", "--wait"]);
    let transcript = scene.me.transcript(&run, scene.repo.path());
    assert!(transcript.contains("history: read"), "{transcript}");
    std::fs::remove_file(&tmp).unwrap();
}
