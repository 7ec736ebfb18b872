//! The Runs page in a real browser: headless Chromium driven over
//! WebDriver (chromedriver). The runs list shows a run the test made, a
//! click opens it, the failed entry of its conflicting apply is visible, a
//! transcript message holding `<script>alert(1)</script>` shows as text
//! and runs nothing, the follow-up form queues a session, and both pages
//! update live when the store changes. Screenshots of each page are
//! written under `target/screenshots/` for people to look at.
//!
//! `.ci/test` installs Debian's `chromium` and `chromium-driver` and sets
//! `HANDOFF_REQUIRE_BROWSER=1`, which turns a missing browser into a
//! failure; elsewhere the test is skipped, saying why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stderr, reason = "a skipped test says why")]

mod serving;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use handoff_engine::{RunState, RunStore};
use serving::{Http, IMG_ONERROR, SCRIPT, Server, World, add_runs, eventually};

/// A program from `$VAR`, else the first of `names` on `PATH`.
fn program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Chromium and its driver, or `None` when this machine lacks them (a
/// failure where they are required).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = program(
        "HANDOFF_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = program("HANDOFF_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        (chromium, driver) => {
            let missing = [
                chromium.is_none().then_some("chromium"),
                driver.is_none().then_some("chromedriver"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ");
            assert!(
                std::env::var_os("HANDOFF_REQUIRE_BROWSER").is_none(),
                "HANDOFF_REQUIRE_BROWSER is set but {missing} is not installed \
                 (Debian packages chromium and chromium-driver)"
            );
            eprintln!(
                "skipped: {missing} not found (install Debian's chromium and chromium-driver, \
                 or set HANDOFF_CHROMIUM and HANDOFF_CHROMEDRIVER)"
            );
            None
        }
    }
}

/// A running chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(driver: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = Http::default();
    let status = format!("{}/status", driver.url);
    eventually("chromedriver to start", Duration::from_secs(30), || {
        let (http, status) = (&http, &status);
        async move {
            let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http.get(status).await.json()["value"]["ready"] == true;
            ready.then_some(())
        }
    })
    .await;
    driver
}

async fn connect(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,2400",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    // An alert stays open instead of being dismissed, so the test sees it.
    capabilities.insert("unhandledPromptBehavior".into(), "ignore".into());
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap()
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
}

async fn no_alert(client: &Client) {
    if let Ok(text) = client.get_alert_text().await {
        panic!("the page opened an alert: {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runs_page_in_chromium() {
    let Some((chromium, driver_path)) = browser() else {
        return;
    };
    let world = World::new().await;
    add_runs(world.store.path(), 12).await;
    let server = Server::start(world.store.path(), &[]);
    let driver = start_driver(&driver_path).await;
    let profile = tempfile::tempdir().unwrap();
    let client = connect(&driver, &chromium, profile.path()).await;
    let wait = Duration::from_secs(20);
    let run = world.run.to_string();

    // The list shows the run the test made.
    client.goto(&format!("{}/", server.url)).await.unwrap();
    let link = client
        .wait()
        .at_most(wait)
        .for_element(Locator::Css(&format!("tr[data-run='{run}'] a.run-link")))
        .await
        .unwrap();
    screenshot(&client, "serve-runs.png").await;

    // Live: a run created now appears without a reload.
    let added = add_runs(world.store.path(), 1).await[0];
    client
        .wait()
        .at_most(wait)
        .for_element(Locator::Css(&format!("tr[data-run='{added}']")))
        .await
        .unwrap();

    // A click opens the run.
    let link = match link.click().await {
        Ok(()) => None,
        // The live swap replaced the row: find the link again.
        Err(_) => Some(
            client
                .find(Locator::Css(&format!("tr[data-run='{run}'] a.run-link")))
                .await
                .unwrap(),
        ),
    };
    if let Some(link) = link {
        link.click().await.unwrap();
    }
    let failed = client
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("tr.failed-entry"))
        .await
        .unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        format!("/runs/{run}")
    );
    let text = failed.text().await.unwrap();
    assert!(
        text.contains("README.md") && text.contains("conflict"),
        "{text}"
    );

    // The transcript shows the markup as text and runs nothing.
    let user = client
        .find(Locator::Css("article.role-user .text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(user, format!("please add two() {SCRIPT}"));
    let agent = client
        .find(Locator::Css("article.role-agent .text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(agent, format!("done {IMG_ONERROR}"));
    no_alert(&client).await;
    let scripts = client
        .execute(
            "return Array.from(document.scripts).map(s => s.src || 'inline')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        scripts,
        serde_json::json!([format!("{}/static/live.js", server.url)])
    );
    // The attached image is shown (decoded, one pixel wide).
    let width = client
        .execute(
            "return document.querySelector('.attachment img').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width, 1);
    // Reasoning is collapsed by default.
    let open = client
        .execute(
            "return document.querySelector('details.reasoning').open",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(open, false);
    screenshot(&client, "serve-run.png").await;

    // The follow-up form queues a session.
    client
        .find(Locator::Css("textarea#prompt"))
        .await
        .unwrap()
        .send_keys("and the docs")
        .await
        .unwrap();
    client
        .find(Locator::Css("#follow-up button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = client
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("p.notice"))
        .await;
    if notice.is_err() {
        // Say what the browser shows instead.
        let url = client.current_url().await.unwrap();
        let body = client.source().await.unwrap();
        panic!("no notice at {url}: {}", &body[..body.len().min(3000)]);
    }
    let notice = notice.unwrap().text().await.unwrap();
    assert!(
        notice.starts_with("Follow-up queued as session"),
        "{notice}"
    );
    let store = world.fs();
    let runs = RunStore::new(&store);
    let mut loaded = runs.get(world.run).await.unwrap();
    assert_eq!(
        loaded.record.sessions[1].prompt.as_deref(),
        Some("and the docs")
    );

    // Live: a worker claims the session; the page follows.
    loaded.record.state = RunState::Running;
    if let Some(session) = loaded.record.last_session_mut() {
        session.state = RunState::Running;
        session.worker = Some("worker-7".into());
    }
    runs.update(loaded.version, &mut loaded.record)
        .await
        .unwrap();
    if client
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("#summary .state.running"))
        .await
        .is_err()
    {
        let debug = client
            .execute(
                "var m = document.getElementById('live'); return [m.dataset.fingerprint, m.dataset.polled, m.dataset.poll, m.dataset.page, location.href, document.getElementById('summary').outerHTML]",
                vec![],
            )
            .await
            .unwrap();
        panic!("no live update: {debug}");
    }
    let session = client
        .find(Locator::Css("#session-2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(session.contains("worker-7"), "{session}");
    no_alert(&client).await;
    screenshot(&client, "serve-run-follow-up.png").await;
    client.close().await.unwrap();
}
