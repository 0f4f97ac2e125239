//! `export` and `replay`: an instance taken out of its database into one file, and replayed from
//! that file anywhere, with no database and no network.

use crate::cli::{DbArgs, ReplayArgs};
use crate::render;
use anyhow::Context as _;
use reprise_core::{Event, HistoryEvent};
use reprise_executor::{Bundle, BundleConfig, Clock as _, ExecutorConfig, ReplayChecker, SystemClock, Verdict};
use reprise_runtime::{GuestLog, LogLevel, Runtime, RuntimeConfig, content_hash};
use reprise_store::HistoryStore as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub(crate) fn export(id: &str, output: Option<PathBuf>, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_to_read(db)?;
    let snapshot = store
        .snapshots(&[id.to_string()], true)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no instance with id '{id}' (see `reprise list`)"))?;
    let bytes = match &snapshot.record.component {
        Some(hash) => Some((
            hash.clone(),
            store.component_bytes(hash)?.with_context(|| {
                format!("the component instance '{id}' is pinned to ({hash}) is not in the database")
            })?,
        )),
        None => None,
    };
    let config = BundleConfig::from(&ExecutorConfig::default());
    let record = snapshot.record;
    let summary =
        format!("instance '{id}' ({}, execution {}, {} events)", record.status, record.execution, record.history_len);
    let bundle = Bundle::new(
        record,
        snapshot.executions,
        bytes.as_ref().map(|(hash, bytes)| (hash.as_str(), bytes.as_slice())),
        config,
        SystemClock.now(),
    );
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{}.reprise", file_name(id))));
    let text = bundle.to_json();
    if path.as_os_str() == "-" {
        crate::out!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    write_new(&path, text.as_bytes())?;
    let component = match &bytes {
        Some((hash, bytes)) => format!("component {} ({} bytes)", &hash[..12], bytes.len()),
        None => "no component (the instance has not run yet)".to_string(),
    };
    eprintln!("wrote {}: {summary}, {component}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// An instance id as a file name: path separators and other awkward characters become `_`.
fn file_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// Writes the file through a temporary one renamed into place: a crash never leaves half a
/// bundle under the name.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub(crate) async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.bundle)
        .with_context(|| format!("cannot read the bundle {}", args.bundle.display()))?;
    let bundle = Bundle::from_json(&text).with_context(|| format!("cannot replay {}", args.bundle.display()))?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).context("cannot create the wasm runtime")?);
    let config = ExecutorConfig {
        max_payload_bytes: bundle.config.max_payload_bytes,
        history_limits: bundle.config.history_limits,
        ..ExecutorConfig::default()
    };
    let checker = match &args.component {
        Some(path) => ReplayChecker::load_file(runtime, path, &config).await?,
        None => {
            let bytes = bundle
                .component_bytes(content_hash)
                .with_context(|| format!("cannot replay {}", args.bundle.display()))?
                .with_context(|| {
                    format!(
                        "{} holds no component (its instance had not run); name one with --component",
                        args.bundle.display()
                    )
                })?;
            let source = format!("the component of {}", args.bundle.display());
            ReplayChecker::load(runtime, bytes, &source, &config).await?
        }
    };
    let record = &bundle.instance;
    println!(
        "{} {} ({}), written by {}, replayed on component {} ({})",
        record.name,
        record.instance_id,
        record.status,
        bundle.written_by,
        &checker.component().hash[..12],
        checker.component().source
    );
    let last = bundle.executions.len() - 1;
    for (index, execution) in bundle.executions.iter().enumerate() {
        let mut events = execution.events.clone();
        let mut until_note = None;
        if index == last
            && let Some(until) = args.until
        {
            let cut = cut_at_episode(&events, until);
            if cut < events.len() {
                until_note = Some(format!(
                    "stopped before position {cut}, the first episode to start at or after position {until}"
                ));
                events.truncate(cut);
            }
        }
        let (name, _) = started(&events).unwrap_or((record.name.as_str(), ""));
        let replay =
            checker.check((record.instance_id.as_str(), execution.execution), name, events.clone(), true).await;
        let mut shown = record.clone();
        shown.execution = execution.execution;
        crate::out!(
            "\nexecution {}: {}",
            execution.execution,
            render::timeline_with_logs(&shown, &events, &lines(&replay.logs)).trim_end()
        );
        if let Some(note) = until_note {
            crate::out!("({note})");
        }
        match &replay.verdict {
            Verdict::Compatible => {
                crate::out!("replay matches the history: {} of {} events replayed", replay.replayed, events.len());
            }
            verdict => {
                crate::out!("replay of execution {}: {}", execution.execution, render::verdict(verdict));
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The name and input the history starts its orchestrator with.
fn started(events: &[HistoryEvent]) -> Option<(&str, &str)> {
    events.iter().find_map(|e| match &e.event {
        Event::ExecutionStarted { name, input, .. } => Some((name.as_str(), input.as_str())),
        _ => None,
    })
}

/// Where a replay that must stop at `until` ends: before the first episode that starts at or
/// after it (a replay can only stop where the orchestrator waited).
fn cut_at_episode(events: &[HistoryEvent], until: u64) -> usize {
    events
        .iter()
        .position(|e| e.seq >= until && e.seq > 0 && matches!(e.event, Event::EpisodeStarted { .. }))
        .unwrap_or(events.len())
}

/// Captured log lines as the timeline shows them.
fn lines(logs: &[GuestLog]) -> Vec<(u64, String)> {
    logs.iter().map(|log| (log.position, format!("{}: {}", level(log.level), log.message))).collect()
}

fn level(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}
