//! `handoff serve`: the Runs page, a local web view of the store's runs.
//!
//! Server-rendered HTML (askama templates, escaped by default) on axum; the
//! data comes from `handoff_engine::view`, the same functions `handoff
//! runs` and `handoff show` print. One small script (`static/live.js`)
//! polls the JSON behind a page and swaps in the fresh HTML when it
//! changed; without it every page still works, only without live updates.
//!
//! What keeps it safe to run: it binds loopback unless told otherwise and
//! then answers only requests whose `Host` names it (a web page elsewhere
//! cannot reach it by DNS rebinding); every response forbids inline script
//! (`Content-Security-Policy`), so even a mistake in escaping runs
//! nothing; the follow-up form carries a per-process CSRF token, and
//! `--read-only` removes it.

mod csrf;
mod pages;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use handoff_store::Store;

use crate::args::ServeArgs;

/// What every request handler shares.
#[derive(Debug)]
pub struct App {
    store: Arc<dyn Store>,
    /// `--store` as given, for the commands the page prints.
    store_flag: Option<String>,
    read_only: bool,
    agent_cmd: Option<String>,
    csrf: csrf::Token,
    /// The `Host` values accepted; `None` when bound to a non-loopback
    /// address, where the name people use is not known.
    hosts: Option<Vec<String>>,
}

/// Runs `handoff serve` until interrupted.
pub async fn run(store_flag: Option<&str>, args: ServeArgs) -> anyhow::Result<u8> {
    let store = crate::commands::open_store(store_flag)?;
    let described = handoff_store::BlobStore::describe(&*store);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the address listened on")?;
    let loopback = addr.ip().is_loopback();
    let app = Arc::new(App {
        store,
        store_flag: store_flag.map(str::to_owned),
        read_only: args.read_only,
        agent_cmd: args.agent_cmd,
        csrf: csrf::Token::new()?,
        hosts: loopback.then(|| allowed_hosts(addr)),
    });
    {
        let mut out = crate::commands::stdout();
        writeln!(out, "handoff serve: the Runs page is at http://{addr}/")?;
        if loopback {
            writeln!(
                out,
                "handoff serve: listening on loopback only: other machines cannot reach it (--addr to change)"
            )?;
        } else {
            writeln!(
                out,
                "handoff serve: listening on {addr}: anyone who can reach this address sees every run{}",
                if args.read_only {
                    ""
                } else {
                    " and can queue follow-ups (--read-only to refuse them)"
                }
            )?;
        }
        writeln!(
            out,
            "handoff serve: {described}{}",
            if args.read_only { "; read-only" } else { "" }
        )?;
        out.flush()?;
    }
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the server stopped")?;
    Ok(0)
}

/// The names a browser on this machine uses for `addr`.
fn allowed_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        addr.to_string(),
    ];
    if port == 80 {
        hosts.extend(["127.0.0.1", "localhost", "[::1]"].map(str::to_owned));
    }
    hosts
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::runs_page))
        .route("/runs/{id}", get(pages::run_page))
        .route("/runs/{id}/follow-up", post(pages::follow_up))
        .route("/runs/{id}/attachments/{digest}", get(pages::attachment))
        .route("/api/runs", get(pages::runs_json))
        .route("/api/runs/{id}", get(pages::run_json))
        .route("/static/style.css", get(pages::style))
        .route("/static/live.js", get(pages::script))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Refuses requests for another host (DNS rebinding) and cross-origin
/// posts, and sets the headers every response carries.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if let Some(hosts) = &app.hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return (
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server answers only to {}, not to Host {host:?}\n",
                    hosts.join(", ")
                ),
            )
                .into_response();
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let ours = hosts
                .iter()
                .any(|h| origin.eq_ignore_ascii_case(&format!("http://{h}")));
            if !ours && request.method() != axum::http::Method::GET {
                return (
                    StatusCode::FORBIDDEN,
                    format!("a request from origin {origin:?} is refused\n"),
                )
                    .into_response();
            }
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: with no referrer at all a browser
    // posts the form with `Origin: null`, which the check above refuses
    // (sandboxed frames and `data:` pages send that too).
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
