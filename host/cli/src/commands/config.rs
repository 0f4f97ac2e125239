//! `reprise config check`: validates a deployment file, loading each of its components, and
//! prints the effective settings of their activities (secrets by origin only).

use crate::deployment::{self, Resolved};
use crate::out;
use anyhow::Context as _;
use reprise_runtime::{Runtime, RuntimeConfig};
use std::path::Path;
use std::process::ExitCode;

pub(crate) async fn check(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(path) = deployment::locate(config) else {
        anyhow::bail!(
            "no deployment file: there is no {} in the current directory; give one with --config PATH",
            deployment::DEFAULT_FILE
        );
    };
    let deployment = deployment::load(&path)?;
    let runtime = Runtime::new(RuntimeConfig::default()).context("cannot create the wasm runtime")?;
    out!("{}: valid, {} component(s)", path.display(), deployment.components.len());
    if let Some(listen) = deployment.listen {
        out!("serve: listen on {listen}");
    }
    for (name, policy) in &deployment.upgrade_policies {
        out!("orchestrator {name}: upgrade policy {}", policy.as_str());
    }
    for (name, (_, limit)) in &deployment.flow {
        out!("activity {name}: flow limit {limit}");
    }
    for (name, (_, limit)) in &deployment.entity_flow {
        out!("entity {name}: flow limit {limit} (in each host)");
    }
    for schedule in &deployment.schedules {
        let trigger = match &schedule.spec.trigger {
            reprise_core::schedule::Trigger::Cron { expression, timezone } => {
                format!("cron \"{expression}\" {timezone}")
            }
            reprise_core::schedule::Trigger::Every { interval_ms } => format!("every {interval_ms} ms"),
        };
        out!(
            "schedule {}: {} runs {}, overlap {}{}",
            schedule.name,
            trigger,
            schedule.spec.orchestrator,
            schedule.spec.overlap,
            if schedule.paused { ", created paused" } else { "" }
        );
    }
    for component in &deployment.components {
        let bytes = std::fs::read(&component.path).with_context(|| {
            format!("{}:{}: cannot read {}", path.display(), component.line, component.path.display())
        })?;
        let loaded = runtime.load(bytes, &component.path.display().to_string()).await.with_context(|| {
            format!("{}:{}: cannot load {}", path.display(), component.line, component.path.display())
        })?;
        component.check_exports(&path, &loaded.activities)?;
        out!("\ncomponent {} ({})", component.path.display(), &loaded.hash[..12]);
        out!("  orchestrators: {}", list(&loaded.orchestrators));
        out!("  entities: {}", list(&loaded.entities));
        let plain: Vec<&str> =
            loaded.activities.iter().map(String::as_str).filter(|a| !component.by_activity.contains_key(*a)).collect();
        if !plain.is_empty() {
            out!("  activities {}:", plain.join(", "));
            describe(&component.activities)?;
        }
        for (name, (_, resolved)) in &component.by_activity {
            out!("  activity {name}:");
            describe(resolved)?;
        }
    }
    out!(
        "\nFlags given to `run` or `serve` (--allow-http, --activity-env, --activity-dir, --activity-network) add to these for every component; --limit replaces an activity's flow limit."
    );
    Ok(ExitCode::SUCCESS)
}

/// A size as the file would give it: whole MiB or KiB where it is one, bytes otherwise.
fn size(bytes: u64) -> String {
    match bytes {
        0 => "0 bytes".to_string(),
        b if b % (1024 * 1024) == 0 => format!("{} MiB", b / (1024 * 1024)),
        b if b % 1024 == 0 => format!("{} KiB", b / 1024),
        b => format!("{b} bytes"),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

/// Prints one activity's effective settings.
fn describe(resolved: &Resolved) -> anyhow::Result<()> {
    let settings = &resolved.settings;
    let grants = &settings.grants;
    let http = &grants.http;
    if http.grants.is_empty() {
        out!("    http: denied");
    } else {
        for grant in http.grants.iter() {
            out!("    http: {grant}");
        }
        for (grant, name, value) in &resolved.headers {
            out!("      header {name} = {value}, on {grant}");
        }
        if let Some(trust) = &http.trust {
            out!("      TLS: trusts the web's roots and {}", trust.sources.join(", "));
        }
        let max_requests =
            http.max_requests.map_or("any number of requests".to_string(), |n| format!("at most {n} requests"));
        let max_body =
            http.max_body_bytes.map_or("bodies of any size".to_string(), |b| format!("at most {} of bodies", size(b)));
        out!(
            "      per attempt: {max_requests}, {max_body}; timeouts: connect {:?}, first byte {:?}, between bytes {:?}",
            http.connect_timeout,
            http.first_byte_timeout,
            http.between_bytes_timeout
        );
    }
    if resolved.env.is_empty() {
        out!("    env: none");
    }
    for (name, value) in &resolved.env {
        out!("    env: {name} = {value}");
    }
    if grants.dirs.is_empty() {
        out!("    dirs: none");
    }
    for (host, guest, read_only) in &grants.dirs {
        out!("    dir: {} as {guest}{}", host.display(), if *read_only { " (read-only)" } else { "" });
    }
    out!("    network: {}", if grants.network { "granted" } else { "denied" });
    let memory = grants.limits.memory_bytes.map_or("the host's".to_string(), |m| size(m as u64));
    let cpu = grants.limits.cpu.map_or("no limit".to_string(), |c| format!("{c:?}"));
    out!("    limits: memory {memory}, cpu {cpu}");
    let timeout = settings.default_timeout.map_or("none".to_string(), |t| format!("{t:?}"));
    let retry = settings.default_retry.as_ref().map_or("none".to_string(), |r| {
        let never = if r.non_retryable_errors.is_empty() {
            String::new()
        } else {
            format!(", never {}", r.non_retryable_errors.join(", "))
        };
        format!(
            "{} attempts, first wait {} ms, backoff {}{never}",
            r.max_attempts, r.first_retry_interval_ms, r.backoff_coefficient
        )
    });
    out!("    defaults: timeout {timeout}, retry {retry}");
    Ok(())
}
