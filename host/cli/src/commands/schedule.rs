//! The `schedule` commands: create, list, describe, pause, resume, trigger, backfill, delete.
//! They write the database; a running `reprise serve` on it fires the schedules.

use crate::cli::{DbArgs, ScheduleCreateArgs};
use reprise_core::Timestamp;
use reprise_core::schedule::{ScheduleName, ScheduleSpec, Trigger, utc_text};
use reprise_executor::{ExecutorConfig, Host};
use reprise_store::ScheduleRecord;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

fn host(db: &DbArgs) -> anyhow::Result<Host> {
    super::host(db, ExecutorConfig::default())
}

pub(crate) async fn create(args: ScheduleCreateArgs) -> anyhow::Result<ExitCode> {
    let trigger = match (args.cron, args.every) {
        (Some(expression), None) => Trigger::Cron { expression, timezone: args.timezone },
        (None, Some(every)) => Trigger::Every { interval_ms: every.as_millis() as u64 },
        // clap requires exactly one of them.
        _ => anyhow::bail!("give exactly one of --cron and --every"),
    };
    let spec = ScheduleSpec {
        orchestrator: args.orchestrator,
        input: reprise_core::Payload::stored(args.input.read()?),
        trigger,
        overlap: args.overlap,
        catch_up_ms: args.catch_up.as_millis() as u64,
        start_at: args.start_at,
        end_at: args.end_at,
    };
    let host = host(&args.db)?;
    host.create_schedule(&args.name, spec, args.paused).await?;
    let view = host.describe_schedule(&args.name).await?;
    if args.json {
        crate::out!("{}", serde_json::to_string_pretty(&reprise_http::schedule_json(&view))?);
    } else {
        crate::out!("{}", args.name);
    }
    let next = view.next.first().map_or("never (it has ended)".to_string(), |t| format!("{} ({})", t.local, t.utc));
    let state =
        if args.paused { "paused; `reprise schedule resume` starts it" } else { "a running `reprise serve` fires it" };
    eprintln!("created schedule {}: first fire {next}; {state}", args.name);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn list(json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let views = host(db)?.describe_schedules().await?;
    if json {
        let all: Vec<Value> = views.iter().map(reprise_http::schedule_json).collect();
        crate::out!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if views.is_empty() {
        eprintln!("no schedule; `reprise schedule create --help` shows how to make one");
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!(
        "{:<24} {:<30} {:<8} {:<22} {:>6} {:>7} {:>6}  ORCHESTRATOR",
        "NAME",
        "TRIGGER",
        "STATE",
        "NEXT (UTC)",
        "FIRED",
        "SKIPPED",
        "MISSED"
    );
    for view in &views {
        let r = &view.record;
        let next = view.next.first().map_or("-".to_string(), |t| t.utc.clone());
        crate::out!(
            "{:<24} {:<30} {:<8} {:<22} {:>6} {:>7} {:>6}  {}",
            r.name.as_str(),
            trigger_text(&r.spec.trigger),
            state(r),
            next,
            r.fired,
            r.skipped,
            r.missed,
            r.spec.orchestrator
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn describe(name: &ScheduleName, json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let view = host(db)?.describe_schedule(name).await?;
    if json {
        crate::out!("{}", serde_json::to_string_pretty(&reprise_http::schedule_json(&view))?);
        return Ok(ExitCode::SUCCESS);
    }
    let r = &view.record;
    let spec = &r.spec;
    crate::out!("schedule      {}", r.name);
    crate::out!("orchestrator  {}", spec.orchestrator);
    crate::out!("input         {}", spec.input.compact());
    crate::out!("trigger       {}", trigger_text(&spec.trigger));
    crate::out!("overlap       {}", spec.overlap);
    crate::out!("catch-up      {}", humantime::format_duration(Duration::from_millis(spec.catch_up_ms)));
    if let Some(start) = spec.start_at {
        crate::out!("starts at     {}", utc_text(start));
    }
    if let Some(end) = spec.end_at {
        crate::out!("ends at       {}", utc_text(end));
    }
    crate::out!("state         {}", state(r));
    crate::out!("counts        fired {}, skipped {}, missed {}", r.fired, r.skipped, r.missed);
    if let Some(slot) = r.buffered {
        crate::out!("waiting       the slot {} waits for the previous run to end", utc_text(slot));
    }
    crate::out!("next fires");
    if view.next.is_empty() {
        crate::out!("  none: the schedule has ended");
    }
    for time in &view.next {
        crate::out!("  {:<28} {}", time.local, time.utc);
    }
    crate::out!("last runs");
    if view.runs.is_empty() {
        crate::out!("  none yet");
    }
    for run in &view.runs {
        let slot = run.slot.as_ref().map_or_else(|| format!("({})", run.kind.as_str()), |t| t.utc.clone());
        let status = run.status.map_or(String::new(), |s| s.to_string());
        crate::out!(
            "  {:<26} {:<16} {:<40} {}",
            slot,
            run.outcome.as_str(),
            run.instance_id.as_deref().unwrap_or("-"),
            status
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn pause(name: &ScheduleName, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.pause_schedule(name).await?;
    eprintln!("paused schedule {name}: it fires nothing until `reprise schedule resume {name}`");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn resume(name: &ScheduleName, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.resume_schedule(name).await?;
    eprintln!("resumed schedule {name} from now (the slots of the pause are not fired)");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn trigger(name: &ScheduleName, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let id = host(db)?.trigger_schedule(name).await?;
    crate::out!("{id}");
    eprintln!("started {id}; a running `reprise serve` runs it");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn backfill(
    name: &ScheduleName,
    from: Timestamp,
    to: Timestamp,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    let report = host(db)?.backfill_schedule(name, from, to).await?;
    for id in &report.started {
        crate::out!("{id}");
    }
    eprintln!(
        "backfilled {name}: {} slot(s) in [{}, {}), {} started, {} had run already",
        report.slots,
        utc_text(from),
        utc_text(to),
        report.started.len(),
        report.already_started
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn delete(name: &ScheduleName, db: &DbArgs) -> anyhow::Result<ExitCode> {
    host(db)?.delete_schedule(name).await?;
    eprintln!("deleted schedule {name}; the instances it started stay (`reprise list` shows them)");
    Ok(ExitCode::SUCCESS)
}

fn state(record: &ScheduleRecord) -> &'static str {
    if record.paused { "paused" } else { "active" }
}

fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Cron { expression, timezone } => format!("cron \"{expression}\" {timezone}"),
        Trigger::Every { interval_ms } => {
            format!("every {}", humantime::format_duration(Duration::from_millis(*interval_ms)))
        }
    }
}
