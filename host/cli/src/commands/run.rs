//! `reprise run`: the embedded one-shot.

use crate::cli::{DbArgs, HostArgs};
use crate::progress::Ticker;
use crate::render;
use reprise_core::{InstanceId, Payload, RuntimeStatus};
use reprise_executor::StartRequest;
use reprise_store::InstanceRecord;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) async fn run(
    orchestrator: String,
    input: String,
    id: Option<InstanceId>,
    db: DbArgs,
    args: HostArgs,
) -> anyhow::Result<ExitCode> {
    let deployment = super::deployment(&args)?;
    let host = super::loaded_host(&db, &args, deployment.as_ref()).await?;
    let instance_id = host.start(StartRequest { orchestrator: orchestrator.clone(), input, instance_id: id }).await?;
    eprintln!("started {orchestrator} as instance {instance_id} (database {})", db.db.display());
    let workers = host.spawn_workers();
    let mut ticker = Ticker::new();
    let mut custom_status = None;
    let mut seen_events = 0;
    let record = loop {
        tokio::select! {
            waited = tokio::time::timeout(Duration::from_millis(200), host.wait(instance_id.as_str())) => {
                match waited {
                    Ok(record) => break record?,
                    Err(_) => {
                        let record = host.instance(instance_id.as_str()).await?;
                        if record.custom_status.is_some() && record.custom_status != custom_status {
                            ticker.say(&format!("  status: {}", record.custom_status.as_deref().unwrap_or_default()));
                            custom_status = record.custom_status.clone();
                        }
                        // The history is read again only when it grew.
                        if record.history_len != seen_events {
                            seen_events = record.history_len;
                            ticker.note(progress_note(&host, &record).await?);
                        }
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                ticker.finish();
                eprintln!(
                    "interrupted; instance {instance_id} is durable and still running: \
                     `reprise serve --db {} --component ...` finishes it",
                    db.db.display()
                );
                return Ok(ExitCode::from(130));
            }
        }
    };
    ticker.finish();
    workers.shutdown().await;
    if let Some(current) = &record.custom_status
        && Some(current) != custom_status.as_ref()
    {
        eprintln!("  status: {current}");
    }
    eprintln!("history: reprise history {instance_id} --db {}", db.db.display());
    outcome(&record)
}

/// `3/5 tasks done`: how far the instance's current execution got.
async fn progress_note(host: &reprise_executor::Host, record: &InstanceRecord) -> anyhow::Result<String> {
    let (store, id, execution) = (host.store(), record.instance_id.clone(), record.execution);
    let history = tokio::task::spawn_blocking(move || store.history(&id, execution)).await??;
    let (done, scheduled) = render::task_counts(&history);
    Ok(format!("{done}/{scheduled} tasks done"))
}

/// Reports a finished instance: its output on stdout and success when it completed, its status
/// and failure on stderr and exit status 1 otherwise.
pub(crate) fn outcome(record: &InstanceRecord) -> anyhow::Result<ExitCode> {
    match record.status {
        RuntimeStatus::Completed => {
            crate::out!("{}", render::pretty_json(&record.output.clone().unwrap_or_else(Payload::null)));
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("instance {} {}", record.instance_id, record.status);
            if let Some(failure) = &record.failure {
                eprintln!("{}", render::failure(failure));
            }
            Ok(ExitCode::from(1))
        }
    }
}
