//! `reprise serve`: the long-running host, with the HTTP API when `--listen` is given.

use crate::cli::{ApiArgs, DbArgs, HostArgs};
use anyhow::Context as _;
use reprise_http::ApiConfig;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::watch;

pub(crate) async fn serve(db: DbArgs, args: HostArgs, api: ApiArgs) -> anyhow::Result<ExitCode> {
    let deployment = super::deployment(&args)?;
    let host = super::loaded_host(&db, &args, deployment.as_ref()).await?;
    // Bind before starting the workers, so a taken port fails the command before any work runs.
    let listen = api.listen.or(deployment.as_ref().and_then(|d| d.listen));
    let listener = match listen {
        Some(address) => {
            Some(tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?)
        }
        None => None,
    };
    let workers = host.spawn_workers();
    let (stop, stopped) = watch::channel(false);
    let stopping = reprise_http::CancellationToken::new();
    let mut server = match listener {
        Some(listener) => {
            let address = listener.local_addr().context("reading the listening address")?;
            let config = ApiConfig {
                token: api.token,
                expose_failure_details: api.expose_failure_details,
                max_body_bytes: api.max_body,
                max_wait: api.max_wait.unwrap_or(reprise_http::DEFAULT_MAX_WAIT),
                stopping: stopping.clone(),
            };
            let router = reprise_http::router(host.clone(), config);
            // The exact line tests and scripts read to find a port chosen by the system (:0).
            eprintln!("listening on http://{address}");
            let mut stopped = stopped;
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            Some(tokio::spawn(reprise_http::serve(listener, router, shutdown)))
        }
        None => None,
    };
    eprintln!("serving {} (Ctrl-C to stop)", db.db.display());
    let server_ended = tokio::select! {
        _ = shutdown_signal() => false,
        // A server that dies on its own (an accept error) ends the command rather than leaving a
        // host that no client can reach.
        result = async { server.as_mut().expect("guarded by is_some").await }, if server.is_some() => {
            match result {
                Ok(Ok(())) => eprintln!("the HTTP server stopped"),
                Ok(Err(error)) => eprintln!("the HTTP server failed: {error}"),
                Err(error) => eprintln!("the HTTP server crashed: {error}"),
            }
            true
        }
    };
    eprintln!("stopping: work in progress that is not committed is redone at the next start");
    let _ = stop.send(true);
    stopping.cancel();
    if let Some(server) = server.filter(|_| !server_ended) {
        // Requests under way get a moment to finish; a client that holds a connection open
        // does not hold the host up.
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    }
    workers.shutdown().await;
    Ok(if server_ended { ExitCode::FAILURE } else { ExitCode::SUCCESS })
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
