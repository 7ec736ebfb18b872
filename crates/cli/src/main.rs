//! The `handoff` command: snapshot, apply and diff uncommitted agent work.
//!
//! Exit codes: 0 success, 1 error (one line on stderr), 2 usage error,
//! 3 partially applied (some entries failed, the rest were applied).
#![forbid(unsafe_code)]
#![allow(clippy::print_stderr, reason = "the binary reports errors on stderr")]

mod args;
mod commands;
mod harness;
mod progress;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("handoff: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let store = cli.store.as_deref();
    let result = runtime.block_on(async {
        match cli.command {
            Command::Snapshot(args) => commands::snapshot::run(store, args).await,
            Command::Apply(args) => commands::apply::run(store, args).await,
            Command::Diff(args) => commands::diff::run(store, args).await,
            Command::Push(args) => commands::push::push_cmd(store, args).await,
            Command::Worker(args) => commands::worker::worker(store, args).await,
            Command::FollowUp(args) => commands::follow_up::follow_up_cmd(store, args).await,
            Command::ContinueLocally(args) => {
                commands::continue_locally::continue_cmd(store, args).await
            }
            Command::Runs(args) => commands::runs::runs_cmd(store, args).await,
            Command::Show(args) => commands::show::show_cmd(store, args).await,
            Command::Watch(args) => commands::watch::run(store, args).await,
            Command::Steer(args) => commands::steer::run(store, args).await,
            Command::Cancel(args) => commands::cancel::run(store, args).await,
            Command::Fsck(args) => commands::fsck::fsck_cmd(store, args).await,
            Command::Gc(args) => commands::gc::run(store, args).await,
            Command::Import(args) => commands::native::import(store, args).await,
            Command::Export(args) => commands::native::export(store, args).await,
            Command::Serve(args) => serve::run(store, args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // One line: the error and its causes, outermost first.
            let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("handoff: {}", dedup_chain(&chain).join(": "));
            ExitCode::from(1)
        }
    }
}

/// Drops a cause whose text its parent already ends with (thiserror's
/// `transparent` and messages that embed their source repeat themselves).
fn dedup_chain(chain: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for message in chain {
        if out
            .last()
            .is_some_and(|prev| prev.ends_with(message.as_str()))
        {
            continue;
        }
        out.push(message);
    }
    out
}
