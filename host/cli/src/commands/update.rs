//! `reprise update`: sends an update to a running instance and waits for its orchestrator's
//! answer. The serve that runs the instance is usually another process, so the wait looks at the
//! database every 250 ms; the answer, once given, is read from the update's record.

use crate::cli::DbArgs;
use crate::render;
use reprise_core::UpdateReply;
use reprise_executor::{ExecutorConfig, ExecutorError, UpdateRequest, UpdateState};
use std::process::ExitCode;
use std::time::Duration;

/// The exit status when the update is not answered once the wait is up.
const STILL_PENDING: u8 = 3;

/// What `reprise update` was asked.
pub(crate) struct UpdateArgs {
    pub(crate) instance_id: String,
    pub(crate) name: String,
    pub(crate) input: String,
    pub(crate) update_id: Option<String>,
    pub(crate) wait: Duration,
}

pub(crate) async fn update(args: UpdateArgs, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let host = super::host(db, ExecutorConfig::default())?;
    let UpdateArgs { instance_id, name, input, update_id, wait } = args;
    let request = UpdateRequest { instance_id: instance_id.clone(), name: name.clone(), input, update_id, wait };
    let status = match host.update(request).await {
        Ok(status) => status,
        Err(ExecutorError::UpdateRefused { failure, .. }) => {
            eprintln!("instance {instance_id} refused update '{name}' (nothing was recorded):");
            eprintln!("{}", render::failure(&failure));
            return Ok(ExitCode::from(1));
        }
        Err(error) => return Err(error.into()),
    };
    let record = &status.record;
    match (&status.state, &record.reply) {
        (UpdateState::Answered, Some(UpdateReply::Output(output))) => {
            crate::out!("{}", render::pretty_json(output));
            Ok(ExitCode::SUCCESS)
        }
        (UpdateState::Answered, Some(UpdateReply::Failure(failure))) => {
            eprintln!("update '{}' of {instance_id} failed:", record.update_id);
            eprintln!("{}", render::failure(failure));
            Ok(ExitCode::from(1))
        }
        (UpdateState::Unanswered { status }, _) => {
            eprintln!(
                "instance {instance_id} is {status} and its execution ended without answering update '{}'; it never will",
                record.update_id
            );
            Ok(ExitCode::from(1))
        }
        _ => {
            eprintln!(
                "update '{}' of {instance_id} is not answered after {}; it stays queued: ask again with `reprise update {instance_id} {name} --id {} --db {}`",
                record.update_id,
                humantime::format_duration(wait),
                record.update_id,
                db.db.display()
            );
            crate::out!("{}", record.update_id);
            Ok(ExitCode::from(STILL_PENDING))
        }
    }
}
