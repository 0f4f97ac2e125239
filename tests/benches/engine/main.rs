//! Benchmark of the Reprise engine: the real executor running the `chain` guest component on a
//! real SQLite file with durable settings (WAL, `synchronous=FULL`: an fsync at every commit;
//! `--synchronous normal` to compare), on the system clock. It prints figures; it asserts nothing
//! about time. Build and run it in release:
//!
//! ```text
//! cargo bench -p reprise-tests --bench engine                      # every workload
//! cargo bench -p reprise-tests --bench engine -- chain 1000 --json # one, with a JSON line
//! cargo bench -p reprise-tests --bench engine -- --json > before.txt
//! cargo bench -p reprise-tests --bench engine -- --compare before.txt  # beside an earlier run
//! cargo bench -p reprise-tests --bench engine -- --instructions         # per step, under callgrind
//! ```
//!
//! It first measures the disk's limit, a 4 KiB write + fsync on the databases' file system
//! ([`fsync`]), and gives each workload's figures as a multiple of it too.
//!
//! Workloads (see [`args`]): `chain N` (per-step latency, commits and CPU per step; `coldchain N`
//! the same with the instance cache off), `fanout N`
//! (activities/s), `concurrent M K` (steps/s), `replay E` (cold replay of a history of about E
//! events), `instantiate` (instantiate + one export call; compile and compile-cache load times),
//! `park N` (RSS of N instances parked in the cache), `flow N R` (N activities under a rate limit
//! of R starts per second: the rate the claims reach; `flow 200 20` takes about 10 s, so it is
//! not in the default list). Each runs on a host of its own, on a fresh
//! database, after a warm-up, and reports the process's current and peak RSS (the peak is the
//! process's high-water mark so far: run a workload alone to attribute it).
//!
//! The databases live in a temporary directory under `CARGO_TARGET_TMPDIR` (a real disk, so that
//! fsync costs what it costs; `/tmp` may be tmpfs), or the system's temporary directory, and are
//! deleted at the end.

mod args;
mod compare;
mod fsync;
mod instructions;
mod measure;
mod workloads;

use anyhow::Context as _;
use std::path::PathBuf;

/// Where the databases go. Cargo sets `CARGO_TARGET_TMPDIR` when it compiles a bench, not when it
/// runs one, so the compile-time value is the usual source; a value in the environment wins.
fn base_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args::Args::parse(std::env::args().skip(1))?;
    if args.instructions {
        return instructions::run(&args.workloads, args.synchronous, args.json);
    }
    let base = base_dir();
    std::fs::create_dir_all(&base).with_context(|| format!("create {}", base.display()))?;
    let dir = tempfile::Builder::new().prefix("reprise-bench-").tempdir_in(&base)?;
    let cores = std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_else(|_| "?".into());
    let previous = args.compare.as_deref().map(compare::Previous::load).transpose()?;
    let fsync = fsync::measure(dir.path())?;
    let profile = if cfg!(debug_assertions) { "dev (host crates unoptimized: not representative)" } else { "release" };
    println!("Reprise engine benchmark");
    println!("  profile: {profile}; {cores} cores; tokio multi-thread runtime");
    println!(
        "  store:   SQLite, journal_mode=WAL, synchronous={} (group commit), in {}",
        args.synchronous.as_str(),
        dir.path().display()
    );
    println!("  guest:   {} (no-op activities)", reprise_tests::guests::CHAIN);
    println!(
        "  disk:    4 KiB write + fsync p50 {:.1} us, p99 {:.1} us ({} samples, same file system): the least a durable \
         commit costs",
        measure::us(fsync.p50),
        measure::us(fsync.p99),
        fsync.samples
    );
    println!();
    let bench = workloads::Bench::new(dir.path().to_path_buf(), args.synchronous, fsync, args.setup.clone());
    let progress = Progress::new(args.workloads.len());
    for (n, workload) in args.workloads.iter().enumerate() {
        progress.starting(n, workload);
        let mut report = bench.run(*workload).await.with_context(|| format!("workload {workload:?}"))?;
        let label = workload.to_string();
        report.json["label"] = serde_json::json!(label);
        if let Some(previous) = &previous {
            report.lines.extend(previous.compare(&label, &report.json));
        }
        progress.print(|| {
            for line in &report.lines {
                println!("{line}");
            }
            if args.json {
                println!("{}", report.json);
            }
            println!();
        });
    }
    progress.finish();
    Ok(())
}

/// Which workload runs, on standard error (the figures go to standard output): a bar on a
/// terminal, a line per workload otherwise. It draws only between measurements' ends and
/// starts, a few times a second at most, so that it costs the figures nothing they can show.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal as _;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} workloads, {elapsed}: {msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar, total }
    }

    /// Says that workload `n` (from 0) starts.
    fn starting(&self, n: usize, workload: &args::Workload) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(n as u64);
                bar.set_message(workload.to_string());
            }
            None => eprintln!("workload {}/{}: {workload}", n + 1, self.total),
        }
    }

    /// Prints on standard output without the bar in the way.
    fn print(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
