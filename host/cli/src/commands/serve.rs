//! `reprise serve`: the long-running host.

use crate::cli::{DbArgs, HostArgs};
use std::process::ExitCode;

pub(crate) async fn serve(db: DbArgs, args: HostArgs) -> anyhow::Result<ExitCode> {
    let host = super::loaded_host(&db, &args).await?;
    let workers = host.spawn_workers();
    eprintln!("serving {} (Ctrl-C to stop)", db.db.display());
    shutdown_signal().await;
    eprintln!("stopping: work in progress that is not committed is redone at the next start");
    workers.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
