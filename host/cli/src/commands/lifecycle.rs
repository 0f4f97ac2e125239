//! The commands that act on instances in the database: `raise`, `terminate`, `suspend`,
//! `resume`, `rewind`, `restart`, `purge`. They write messages (or delete rows); the host running the instance acts on
//! them at its next episode.

use crate::cli::DbArgs;
use crate::progress::Progress;
use reprise_core::RuntimeStatus;
use reprise_executor::{Clock, ExecutorConfig, Host, SystemClock};
use reprise_store::PurgeFilter;
use std::process::ExitCode;
use std::time::Duration;

fn host(db: &DbArgs) -> anyhow::Result<Host> {
    super::host(db, ExecutorConfig::default())
}

pub(crate) async fn raise(id: &str, event: &str, data: &str, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.raise_event(id, event, data).await?;
    eprintln!("raised {event} on {id}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn terminate(id: &str, reason: &str, cascade: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.terminate(id, reason, cascade).await?;
    eprintln!("asked {id} to terminate; a running `reprise serve` ends it at its next episode");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn suspend(id: &str, reason: &str, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.suspend(id, reason).await?;
    eprintln!("asked {id} to suspend");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn resume(id: &str, reason: &str, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.resume(id, reason).await?;
    eprintln!("asked {id} to resume");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn rewind(id: &str, reason: &str, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.rewind(id, reason).await?;
    eprintln!("rewound {id}: its failed tasks run again; a running `reprise serve` takes it from here");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn restart(id: &str, new_id: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let runs_as = host(db)?.restart(id, new_id).await?;
    crate::out!("{runs_as}");
    if new_id {
        eprintln!("restarted {id} as {runs_as}, with the same input");
    } else {
        eprintln!("restarted {id} from the beginning, with the same input (its old history is gone)");
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn purge(
    id: Option<String>,
    statuses: Vec<RuntimeStatus>,
    older_than: Option<Duration>,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    if let Some(status) = statuses.iter().find(|s| !s.is_terminal()) {
        anyhow::bail!("purge deletes finished instances only; {status} is not a finished status (terminate it first)");
    }
    let now = SystemClock.now();
    let completed_before = older_than.map(|age| now.saturating_sub(age.as_millis() as u64));
    let host = host(db)?;
    let filter = PurgeFilter { instance_id: id, statuses, completed_before, ..PurgeFilter::default() };
    if filter.instance_id.is_some() {
        let deleted = host.purge(filter).await?;
        crate::out!("{deleted}");
        eprintln!("purged {deleted} instance(s)");
        return Ok(ExitCode::SUCCESS);
    }
    // In batches: each holds the database's writer briefly, so a running serve goes on between
    // them, and an interrupted purge has kept what it deleted.
    let batch = PurgeFilter { limit: Some(PURGE_BATCH), ..filter };
    let mut progress = Progress::new("purged", None, true);
    let mut deleted = 0;
    loop {
        let now = host.purge(batch.clone()).await?;
        deleted += now;
        progress.advance(now as u64);
        if now < PURGE_BATCH {
            break;
        }
    }
    progress.finish();
    crate::out!("{deleted}");
    eprintln!("purged {deleted} instance(s)");
    Ok(ExitCode::SUCCESS)
}

/// Instances deleted per write by a purge of many.
const PURGE_BATCH: usize = 500;
