//! `handoff serve` over HTTP: the pages, the JSON behind live updates,
//! pagination, the follow-up form (queued, refused read-only, refused with
//! a forged token, racing), escaping, and memory while paging.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serving;

use std::time::Duration;

use handoff_engine::{RunState, RunStore};
use serving::{
    Http, IMG_ONERROR, SCRIPT, Server, World, add_runs, browse_all, csrf_of, eventually,
};

#[tokio::test(flavor = "multi_thread")]
async fn the_runs_page_and_a_run_page_show_what_the_run_recorded() {
    let world = World::new().await;
    let server = Server::start(world.store.path(), &[]);
    assert!(
        server.banner[1].contains("loopback only"),
        "{:?}",
        server.banner
    );
    let http = Http::default();
    let run = world.run.to_string();

    let list = http.get(&format!("{}/", server.url)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.header("content-type").starts_with("text/html"));
    assert!(
        list.header("content-security-policy")
            .contains("script-src 'self'"),
        "inline script is never allowed"
    );
    let row_start = list.body.find(&format!("data-run=\"{run}\"")).unwrap();
    let row = &list.body[row_start..row_start + list.body[row_start..].find("</tr>").unwrap()];
    for shown in [
        "state ended",
        "scripted",
        "now the tests",
        "<span class=\"failed-count\">1</span>",
    ] {
        assert!(row.contains(shown), "{shown:?} not in {row}");
    }

    let page = http.get(&format!("{}/runs/{run}", server.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    // The failed entry of the conflicting apply, with its reason.
    let failed = &html[html.find("class=\"failed-entry\"").unwrap()..];
    let failed = &failed[..failed.find("</tr>").unwrap()];
    assert!(failed.contains("<code>README.md</code>"), "{failed}");
    assert!(failed.contains("conflict"), "{failed}");
    // Transcript and file names are escaped, never markup.
    assert!(!html.contains(SCRIPT));
    assert!(html.contains("please add two() &#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!html.contains(IMG_ONERROR));
    assert!(html.contains("notes/&#60;b&#62;todo&#60;/b&#62;.md"));
    // Reasoning and tool calls are collapsed, the image inline.
    assert!(html.contains("<details class=\"reasoning\" id=\"part-1-0\">"));
    assert!(html.contains("<summary>Tool call: write</summary>"));
    let img = &html[html.find("<img src=\"").unwrap() + 10..];
    let img = &img[..img.find('"').unwrap()];
    assert!(img.starts_with(&format!("/runs/{run}/attachments/sha256:")));
    // The end state: the agent's file, the carried change and a binary
    // file named as one.
    for file in ["agent.txt", "src/lib.rs", "logo.bin"] {
        assert!(
            html.contains(&format!("<code class=\"path\">{file}</code>")),
            "{file}"
        );
    }
    assert!(html.contains("binary file, 6 B"));
    assert!(html.contains("<td class=\"line\">pub fn two() -&#62; u32 {</td>"));
    // The commands to continue.
    let store = world.store.path().display().to_string();
    assert!(html.contains(&format!("handoff --store {store} follow-up {run} --prompt")));
    assert!(html.contains(&format!("handoff --store {store} continue-locally {run}")));

    let image = http.get(&format!("{}{img}", server.url)).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.header("content-type"), "image/png");
    assert_eq!(
        image.header("content-security-policy"),
        "default-src 'none'; sandbox"
    );
    // Only the run's own attachments: any other blob is not served.
    let manifest = http
        .get(&format!(
            "{}/runs/{run}/attachments/{}",
            server.url,
            handoff_store::Digest::of(b"anything")
        ))
        .await;
    assert_eq!(manifest.status, 404);

    let unknown = http
        .get(&format!(
            "{}/runs/{}",
            server.url,
            handoff_engine::RunId::new()
        ))
        .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("not found"), "{}", unknown.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_filters_and_the_json_behind_live_updates() {
    let store = tempfile::tempdir().unwrap();
    let ids = add_runs(store.path(), 120).await;
    let newest_first: Vec<String> = ids.iter().rev().map(ToString::to_string).collect();
    let server = Server::start(store.path(), &[]);
    let http = Http::default();

    let first = http.get(&format!("{}/api/runs", server.url)).await.json();
    let rows = |page: &serde_json::Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(rows(&first), newest_first[..50]);
    assert_eq!(first["total"], 120);
    assert_eq!(first["older"], newest_first[49].as_str());
    assert_eq!(first["newer"], serde_json::Value::Null);
    let second = http
        .get(&format!(
            "{}/api/runs?before={}",
            server.url, newest_first[49]
        ))
        .await
        .json();
    assert_eq!(rows(&second), newest_first[50..100]);
    let third = http
        .get(&format!(
            "{}/api/runs?before={}",
            server.url, newest_first[99]
        ))
        .await
        .json();
    assert_eq!(rows(&third), newest_first[100..]);
    assert_eq!(third["older"], serde_json::Value::Null);
    assert_eq!(third["newer"], newest_first[100].as_str());

    // The HTML pages link to the same cursors.
    let html = http.get(&format!("{}/", server.url)).await.body;
    assert!(html.contains(&format!(
        "<a rel=\"next\" href=\"/?before={}\">Older →</a>",
        newest_first[49]
    )));
    let html = http
        .get(&format!("{}/?before={}", server.url, newest_first[49]))
        .await
        .body;
    assert!(html.contains(&format!(
        "href=\"/?after={}\">← Newer</a>",
        newest_first[50]
    )));
    assert!(html.contains(&format!(
        "data-poll=\"/api/runs?before={}\"",
        newest_first[49]
    )));

    // Filters: failed codex runs are every seventh that is odd.
    let failed = http
        .get(&format!(
            "{}/api/runs?state=failed&harness=codex",
            server.url
        ))
        .await
        .json();
    let expected: Vec<String> = (0..120)
        .rev()
        .filter(|i| i % 7 == 0 && i % 2 == 1)
        .map(|i| ids[i].to_string())
        .collect();
    assert_eq!(rows(&failed), expected);
    let bad = http.get(&format!("{}/?state=sleeping", server.url)).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("unknown state"), "{}", bad.body);

    // A run changes: its version in the JSON changes, which is what the
    // page's script watches for.
    let newest = ids[118];
    let before = http
        .get(&format!("{}/api/runs/{newest}", server.url))
        .await
        .json();
    assert_eq!(before["state"], "ended");
    let fs = handoff_store::FsStore::new(store.path());
    let runs = RunStore::new(&fs);
    let mut loaded = runs.get(newest).await.unwrap();
    loaded.record.state = RunState::Running;
    runs.update(loaded.version, &mut loaded.record)
        .await
        .unwrap();
    let after = http
        .get(&format!("{}/api/runs/{newest}", server.url))
        .await
        .json();
    assert_eq!(after["state"], "running");
    assert_ne!(after["version"], before["version"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_record_is_an_error_row_not_a_failed_page() {
    let store = tempfile::tempdir().unwrap();
    let ids = add_runs(store.path(), 3).await;
    let broken = handoff_engine::RunId::new();
    let fs = handoff_store::FsStore::new(store.path());
    handoff_store::DocumentStoreExt::create(
        &fs,
        &handoff_store::DocKey::new(format!("runs/{broken}")).unwrap(),
        bytes::Bytes::from(format!("{{\"format\": \"{SCRIPT}\"")),
    )
    .await
    .unwrap();
    let server = Server::start(store.path(), &[]);
    let http = Http::default();
    let list = http.get(&format!("{}/", server.url)).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&format!(
        "<tr class=\"run unreadable\" data-run=\"{broken}\">"
    )));
    assert!(!list.body.contains(SCRIPT));
    for id in &ids {
        assert!(list.body.contains(&format!("data-run=\"{id}\"")));
    }
    let page = http.get(&format!("{}/runs/{broken}", server.url)).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains(&broken.to_string()), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_posted_through_the_form_queues_a_session() {
    let world = World::new().await;
    let server = Server::start(world.store.path(), &[]);
    let http = Http::default();
    let page_url = format!("{}/runs/{}", server.url, world.run);
    let csrf = csrf_of(&http.get(&page_url).await.body);

    let posted = http
        .post_form(
            &format!("{page_url}/follow-up"),
            &[
                ("csrf", &csrf),
                ("prompt", "and the docs"),
                ("permissions", "read-only"),
                ("model", ""),
            ],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.header("location").to_owned();
    let record = RunStore::new(&world.fs())
        .get(world.run)
        .await
        .unwrap()
        .record;
    assert_eq!(record.state, RunState::Queued);
    let queued = &record.sessions[1];
    assert_eq!(queued.prompt.as_deref(), Some("and the docs"));
    assert_eq!(queued.state, RunState::Queued);
    assert_eq!(
        queued.start, record.sessions[0].end,
        "restored from the end"
    );
    assert_eq!(
        queued.agent.permissions,
        handoff_harness::Permissions::ReadOnly
    );
    assert_eq!(
        location,
        format!("/runs/{}?queued={}", world.run, queued.id)
    );
    let shown = http.get(&format!("{}{location}", server.url)).await.body;
    assert!(shown.contains(&format!("Follow-up queued as session {}", queued.id)));

    // A second follow-up while that one waits: a clear conflict, the
    // prompt kept, nothing queued.
    let again = http
        .post_form(
            &format!("{page_url}/follow-up"),
            &[("csrf", &csrf), ("prompt", "the changelog too")],
        )
        .await;
    assert_eq!(again.status, 409);
    assert!(
        again
            .body
            .contains("another follow-up reached it first, or its session has not ended"),
        "{}",
        again.body
    );
    assert!(again.body.contains(">the changelog too</textarea>"));
    let record = RunStore::new(&world.fs())
        .get(world.run)
        .await
        .unwrap()
        .record;
    assert_eq!(record.sessions.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_prompt_with_a_likely_secret_is_refused_and_nothing_queued() {
    let world = World::new().await;
    let server = Server::start(world.store.path(), &[]);
    let http = Http::default();
    let page_url = format!("{}/runs/{}", server.url, world.run);
    let csrf = csrf_of(&http.get(&page_url).await.body);
    let before = RunStore::new(&world.fs()).get(world.run).await.unwrap();
    // An AWS access key id in the documented example format.
    let prompt = format!("deploy with AKIA{}", "IOSFODNN7EXAMPLE");
    let posted = http
        .post_form(
            &format!("{page_url}/follow-up"),
            &[("csrf", &csrf), ("prompt", &prompt)],
        )
        .await;
    assert_eq!(posted.status, 400, "{}", posted.body);
    assert!(
        posted
            .body
            .contains("Not queued: 1 likely secret(s) found in what would leave this machine"),
        "{}",
        posted.body
    );
    let after = RunStore::new(&world.fs()).get(world.run).await.unwrap();
    assert_eq!(after, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_follow_ups_queue_one_and_show_the_other_a_conflict() {
    let world = World::new().await;
    let server = Server::start(world.store.path(), &[]);
    let http = Http::default();
    let page_url = format!("{}/runs/{}", server.url, world.run);
    let csrf = csrf_of(&http.get(&page_url).await.body);
    let post = |prompt: &'static str| {
        let url = format!("{page_url}/follow-up");
        let csrf = csrf.clone();
        let http = &http;
        async move {
            http.post_form(&url, &[("csrf", &csrf), ("prompt", prompt)])
                .await
        }
    };
    let (a, b) = tokio::join!(post("first"), post("second"));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [303, 409], "{}\n{}", a.body, b.body);
    let loser = if a.status == 409 { &a } else { &b };
    assert!(loser.body.contains("Not queued:"), "{}", loser.body);
    let record = RunStore::new(&world.fs())
        .get(world.run)
        .await
        .unwrap()
        .record;
    assert_eq!(record.sessions.len(), 2, "exactly one was queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_shows_no_form_and_refuses_a_post() {
    let world = World::new().await;
    let server = Server::start(world.store.path(), &["--read-only"]);
    assert!(
        server.banner[2].ends_with("; read-only"),
        "{:?}",
        server.banner
    );
    let http = Http::default();
    let page_url = format!("{}/runs/{}", server.url, world.run);
    let page = http.get(&page_url).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("name=\"csrf\""));
    assert!(!page.body.contains("<form method=\"post\""));
    let posted = http
        .post_form(
            &format!("{page_url}/follow-up"),
            &[("csrf", "anything"), ("prompt", "and the docs")],
        )
        .await;
    assert_eq!(posted.status, 403);
    assert!(posted.body.contains("read-only"), "{}", posted.body);
    let record = RunStore::new(&world.fs())
        .get(world.run)
        .await
        .unwrap()
        .record;
    assert_eq!(record.sessions.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_csrf_token_or_a_foreign_origin_is_refused() {
    let world = World::new().await;
    let server = Server::start(world.store.path(), &[]);
    let http = Http::default();
    let page_url = format!("{}/runs/{}", server.url, world.run);
    let csrf = csrf_of(&http.get(&page_url).await.body);
    let forged = "0".repeat(csrf.len());
    for token in [forged.as_str(), ""] {
        let posted = http
            .post_form(
                &format!("{page_url}/follow-up"),
                &[("csrf", token), ("prompt", "and the docs")],
            )
            .await;
        assert_eq!(posted.status, 403, "{}", posted.body);
        assert!(posted.body.contains("token"), "{}", posted.body);
    }
    // Another site's page posting here, even with the token.
    let body = format!("csrf={csrf}&prompt=x");
    let cross = http
        .request(
            "POST",
            &format!("{page_url}/follow-up"),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", "http://evil.example"),
            ],
            body.into_bytes(),
        )
        .await;
    assert_eq!(cross.status, 403);
    // A page reached through another name (DNS rebinding) gets nothing.
    let rebound = http
        .request("GET", &page_url, &[("host", "evil.example:80")], Vec::new())
        .await;
    assert_eq!(rebound.status, 421);
    assert!(!rebound.body.contains(&csrf));
    let record = RunStore::new(&world.fs())
        .get(world.run)
        .await
        .unwrap()
        .record;
    assert_eq!(record.sessions.len(), 1, "nothing was queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_stays_flat_while_paging_through_many_runs() {
    let store = tempfile::tempdir().unwrap();
    add_runs(store.path(), 2_000).await;
    let server = Server::start(store.path(), &[]);
    let http = Http::default();
    assert_eq!(browse_all(&http, &server).await, 40);
    let warm = server.rss_kib();
    for _ in 0..3 {
        browse_all(&http, &server).await;
    }
    let after = server.rss_kib();
    assert!(
        after <= warm + 8 * 1024,
        "resident memory grew from {warm} KiB to {after} KiB while paging"
    );
    // The live-update JSON of the first page is answered as quickly.
    eventually(
        "the JSON of the first page",
        Duration::from_secs(10),
        || async {
            let page = http.get(&format!("{}/api/runs", server.url)).await;
            (page.status == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_store_is_served_the_same() {
    let Some(s3) = handoff_dev::s3::MotoServer::start() else {
        return;
    };
    s3.create_bucket("handoff-serve");
    let mut env = s3.env();
    env.push(("HANDOFF_STORE", "s3://handoff-serve/team".to_owned()));
    let repo = handoff_dev::scenario::base_repo();
    repo.write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n// on s3\n");
    let pushed = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .current_dir(repo.path())
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .args([
            "push",
            "--harness",
            "scripted",
            "--prompt",
            "on s3",
            "--wait",
        ])
        .output()
        .unwrap();
    assert_eq!(
        pushed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let run = String::from_utf8(pushed.stdout).unwrap().trim().to_owned();
    let server = Server::start_with_env(&env, &[]);
    assert!(server.banner[2].contains("s3://"), "{:?}", server.banner);
    let http = Http::default();
    let list = http.get(&format!("{}/", server.url)).await;
    assert!(
        list.body.contains(&format!("data-run=\"{run}\"")),
        "{}",
        list.body
    );
    let page = http.get(&format!("{}/runs/{run}", server.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<td class=\"line\">// on s3</td>"));
    // The store came from the environment: the commands need no --store.
    assert!(
        page.body
            .contains(&format!("handoff follow-up {run} --prompt"))
    );
}
