//! `--instructions`: instructions per step, the figure that does not move from hour to hour as
//! wall time does. Each workload runs twice under `valgrind --tool=callgrind` (this same binary,
//! as a child process), at its size and at twice its size; what the two runs share (starting the
//! host, loading the component, the warm-up) cancels out, and the difference, divided by the
//! steps the second run added, is what one more step costs: every thread's user-space
//! instructions (host and guest code; the kernel's work, fsync included, is not counted).
//!
//! The children instantiate on demand (valgrind cannot reserve the pooling allocator's address
//! space) and share one compile cache, filled by an untimed run first, so that neither of the
//! two measured runs compiles. Valgrind runs one thread at a time, so group commits batch
//! differently than on two cores: compare these figures with each other, not with wall time.

use crate::args::Workload;
use anyhow::{Context as _, bail};
use reprise_store::Synchronous;
use std::path::Path;
use std::process::Command;

/// The valgrind to run (`VALGRIND`, else `valgrind` on the `PATH`).
fn valgrind() -> String {
    std::env::var("VALGRIND").unwrap_or_else(|_| "valgrind".into())
}

/// The workload at `factor` times its size, and how many steps (activities, for a fan-out) it
/// runs.
fn scaled(workload: Workload, factor: usize) -> anyhow::Result<(Workload, usize, &'static str)> {
    Ok(match workload {
        Workload::Chain { steps, cold } => (Workload::Chain { steps: steps * factor, cold }, steps * factor, "step"),
        Workload::FanOut { tasks } => (Workload::FanOut { tasks: tasks * factor }, tasks * factor, "activity"),
        Workload::Concurrent { instances, steps } => {
            let instances = instances * factor;
            (Workload::Concurrent { instances, steps }, instances * steps, "step")
        }
        other => bail!("--instructions measures chain, coldchain, fanout and concurrent, not `{other}`"),
    })
}

/// Runs `workload` once under callgrind and returns the instructions it executed.
fn count(exe: &Path, dir: &Path, synchronous: Synchronous, workload: Workload) -> anyhow::Result<u64> {
    // Only the total on standard error is read: the call graph is not written anywhere.
    let output = Command::new(valgrind())
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--callgrind-child", "--compile-cache"])
        .arg(dir.join("compile-cache"))
        .args(["--synchronous", if synchronous == Synchronous::Full { "full" } else { "normal" }])
        .args(workload.to_string().split_whitespace())
        .output()
        .with_context(|| {
            format!("run {} (install valgrind: `apt-get install valgrind`, or set VALGRIND)", valgrind())
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        bail!(
            "`{workload}` under valgrind failed ({}):\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    // Callgrind's summary on standard error: `==PID== Collected : 533119981`.
    stderr
        .lines()
        .find_map(|line| line.split_once("Collected :").map(|(_, n)| n.trim().replace(',', "")))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("callgrind printed no instruction count for `{workload}`:\n{stderr}"))
}

/// Measures each workload and prints its instructions per step.
pub(crate) fn run(workloads: &[Workload], synchronous: Synchronous, json: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("find the bench's own binary")?;
    let dir = tempfile::tempdir().context("a directory for the children's compile cache")?;
    println!("Reprise engine benchmark: instructions per step, under valgrind --tool=callgrind");
    let profile = if cfg!(debug_assertions) { "dev (host crates unoptimized: not representative)" } else { "release" };
    println!("  profile: {profile}; instances on demand; synchronous={}", synchronous.as_str());
    // Fills the compile cache, so that no measured run compiles.
    count(&exe, dir.path(), synchronous, Workload::Chain { steps: 1, cold: false }).context("the untimed first run")?;
    for workload in workloads {
        let (small, small_steps, unit) = scaled(*workload, 1)?;
        let (large, large_steps, _) = scaled(*workload, 2)?;
        eprintln!("instructions: {small} and {large} under valgrind (slow: minutes)");
        let (a, b) = (count(&exe, dir.path(), synchronous, small)?, count(&exe, dir.path(), synchronous, large)?);
        let added = (large_steps - small_steps) as f64;
        let per_step = (b as f64 - a as f64) / added;
        println!(
            "{workload}: {:.0} instructions per {unit} ({large}: {b}, {small}: {a}; the difference over {} more {unit}s)",
            per_step,
            large_steps - small_steps
        );
        if json {
            let line = serde_json::json!({
                "label": format!("{workload} instructions"),
                "workload": workload.to_string(),
                "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
                "instructions_per_step": per_step.round(),
                "instructions_small": a,
                "instructions_large": b,
            });
            println!("{line}");
        }
    }
    Ok(())
}
