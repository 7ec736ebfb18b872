//! What the Runs page tests share: a store with a run made the way users
//! make them (a push of a real repository, a session run by the embedded
//! runner, with a deliberately conflicting apply), a running `handoff
//! serve`, and a small HTTP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use handoff_conversation::{AttachmentLimits, Conversation, Message, Part, Role, attach_bytes};
use handoff_dev::GitRepo;
use handoff_engine::{
    Environment, LocalEnvironment, Prepared, Push, RunId, RunRecord, RunState, RunStore, Session,
    WorkerOptions, push, run_session,
};
use handoff_harness::ScriptedHarness;
use handoff_store::FsStore;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The text of a user message that must render as text and run nothing.
pub const SCRIPT: &str = "<script>alert(1)</script>";
/// The agent's reply, another attempt.
pub const IMG_ONERROR: &str = "<img src=x onerror=alert(2)>";

/// A 1×1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// An environment whose checkout already differs from the snapshot's base
/// in `README.md`, so that change conflicts when the session restores it.
#[derive(Debug)]
struct Drifted(LocalEnvironment);

#[async_trait]
impl Environment for Drifted {
    async fn prepare(
        &self,
        run: &RunRecord,
        store: &dyn handoff_store::BlobStore,
    ) -> handoff_engine::Result<Prepared> {
        let prepared = self.0.prepare(run, store).await?;
        std::fs::write(prepared.root.join("README.md"), "# readme\n\ncloud edit\n").unwrap();
        Ok(prepared)
    }
}

/// A store with one ended run, made by a push and a session whose restore
/// of `README.md` conflicted.
pub struct World {
    pub store: tempfile::TempDir,
    pub run: RunId,
    pub local: GitRepo,
    envs: tempfile::TempDir,
}

impl World {
    pub async fn new() -> Self {
        let local = GitRepo::init();
        local
            .write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n")
            .write("README.md", "# readme\n");
        local.commit_all("base");
        local
            .write(
                "src/lib.rs",
                "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n",
            )
            .write("README.md", "# readme\n\nlocal edit\n")
            .write("notes/<b>todo</b>.md", "untracked todo\n");
        let staged = handoff_store::MemoryStore::new();
        let image = attach_bytes(
            &staged,
            "screenshot.png",
            Bytes::from_static(PNG),
            &AttachmentLimits::default(),
        )
        .await
        .unwrap();
        let mut conversation = Conversation::new("add two()", "scripted");
        conversation.push(Message::new(
            Role::User,
            vec![
                Part::Text {
                    text: format!("please add two() {SCRIPT}"),
                },
                Part::Attachment(image),
            ],
        ));
        conversation.push(Message::new(
            Role::Assistant,
            vec![
                Part::Reasoning {
                    text: "the user wants two()".into(),
                },
                Part::ToolCall {
                    id: "c1".into(),
                    name: "write".into(),
                    input: serde_json::json!({"path": "src/lib.rs"}),
                },
            ],
        ));
        conversation.push(Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: "c1".into(),
                output: "ok".into(),
                is_error: false,
            }],
        ));
        let agent = ScriptedHarness::new("scripted", |turn| {
            std::fs::write(turn.workdir.join("agent.txt"), "the agent's work\n").unwrap();
            std::fs::write(turn.workdir.join("logo.bin"), [0u8, 1, 2, 3, 0, 255]).unwrap();
            Ok(format!("done {IMG_ONERROR}"))
        });
        let store_dir = tempfile::tempdir().unwrap();
        let envs = tempfile::tempdir().unwrap();
        let store = FsStore::new(store_dir.path());
        let pushed = push(
            &store,
            Push {
                workspace: local.path(),
                conversation: &conversation,
                harness: &agent,
                attachments_from: &staged,
                prompt: Some("now the tests".into()),
                agent: Default::default(),
                snapshot: Default::default(),
                allow_secrets: false,
                variants: 1,
            },
        )
        .await
        .unwrap();
        let env = Drifted(LocalEnvironment::new(envs.path()));
        let ran = run_session(&store, pushed.run, &agent, &env, &WorkerOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ran.record.state, RunState::Ended);
        assert_eq!(
            ran.record.sessions[0].apply[0].report.failed[0].path,
            "README.md"
        );
        Self {
            store: store_dir,
            run: pushed.run,
            local,
            envs,
        }
    }

    pub fn fs(&self) -> FsStore {
        FsStore::new(self.store.path()).with_sync(false)
    }
}

/// Adds `n` small ended runs to the store at `dir` (alternating harnesses;
/// every seventh failed), oldest first; returns their ids.
pub async fn add_runs(dir: &Path, n: usize) -> Vec<RunId> {
    let store = FsStore::new(dir).with_sync(false);
    let runs = RunStore::new(&store);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut record = RunRecord::new(
            handoff_conversation::ConversationId::new(),
            if i % 2 == 0 { "warp" } else { "codex" },
            vec![handoff_engine::Repository {
                path: ".".into(),
                source: Some("https://example.invalid/repo.git".into()),
                commit: Some("3b18e512dba79e4c8300dd08aeb37f8e728b8dad".into()),
                branch: Some(format!("feature-{i}")),
            }],
            Session::queued(Some(format!("task number {i}")), vec![]),
        );
        record.state = if i % 7 == 0 {
            RunState::Failed
        } else {
            RunState::Ended
        };
        runs.create(&record).await.unwrap();
        ids.push(record.id);
    }
    ids
}

/// A running `handoff serve`, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// What it printed before serving.
    pub banner: Vec<String>,
}

impl Server {
    pub fn start(store: &Path, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command
            .env_remove("HANDOFF_STORE")
            .arg("--store")
            .arg(store);
        Self::spawn(command, extra)
    }

    /// A server on the store `$HANDOFF_STORE` names, with `env` set.
    pub fn start_with_env(env: &[(&str, String)], extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
        command.envs(env.iter().map(|(k, v)| (*k, v)));
        Self::spawn(command, extra)
    }

    fn spawn(mut command: Command, extra: &[&str]) -> Self {
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let mut url = None;
        // The banner is three lines, printed once the socket listens.
        for _ in 0..3 {
            let line = lines
                .next()
                .expect("handoff serve printed its banner")
                .unwrap();
            if let Some(rest) = line.strip_prefix("handoff serve: the Runs page is at ") {
                url = Some(rest.trim_end_matches('/').to_owned());
            }
            banner.push(line);
        }
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: url.expect("the banner names the address"),
            banner,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A plain HTTP/1 client.
pub struct Http {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = axum::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.request("GET", url, &[], Vec::new()).await
    }

    /// Posts `fields` as a form, the way a browser submits one.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request(
            "POST",
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.into_bytes(),
        )
        .await
    }
}

/// Follows the "Older →" links from the first page to the last; returns
/// how many pages there were.
pub async fn browse_all(http: &Http, server: &Server) -> usize {
    let mut url = format!("{}/", server.url);
    let mut pages = 0;
    loop {
        let page = http.get(&url).await;
        assert_eq!(page.status, 200);
        pages += 1;
        let Some(at) = page.body.find("<a rel=\"next\" href=\"") else {
            return pages;
        };
        let rest = &page.body[at + 20..];
        url = format!("{}{}", server.url, &rest[..rest.find('"').unwrap()]);
    }
}

/// The CSRF token in a page's follow-up form.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no follow-up form in:\n{html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Polls `check` until it gives a value or `within` has passed.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
