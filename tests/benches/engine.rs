//! Benchmark of the Reprise engine: the real executor running the `chain` guest component on a
//! real SQLite file with durable settings (WAL, `synchronous=FULL`: an fsync at every commit), on
//! the system clock. It prints figures; it asserts nothing about time.
//!
//! ```text
//! cargo bench -p reprise-tests --bench engine
//! ```
//!
//! What it measures, each on a warmed-up host (component loaded, a tiny chain and fan-out run):
//!
//! 1. a chain of `REPRISE_BENCH_CHAIN` (default 200) sequential no-op activities on the hot path
//!    (cache on): wall time per step, and the p50/p99 of the intervals between consecutive
//!    episodes as recorded in the history (`EpisodeStarted` times, 1 ms resolution);
//! 2. a fan-out/fan-in of `REPRISE_BENCH_FANOUT` (default 1000) no-op activities on the hot path:
//!    total time and activities per second;
//! 3. a chain of `REPRISE_BENCH_LONG_CHAIN` (default 1000) steps with a cache of 1024 (hot path)
//!    and of 0 (cold path at every episode: each one replays the whole history, O(n²) in all):
//!    total time, time per episode, and the ratio.
//!
//! The sizes are read from those environment variables (positive integers). The database lives
//! in a temporary directory under `CARGO_TARGET_TMPDIR` (a real disk, so that fsync costs what it
//! costs; `/tmp` may be tmpfs), or under the system's temporary directory if it is not set, and
//! is deleted at the end. A quick check of the program itself, without the release build:
//!
//! ```text
//! REPRISE_BENCH_CHAIN=20 REPRISE_BENCH_FANOUT=50 REPRISE_BENCH_LONG_CHAIN=50 \
//!     cargo bench -p reprise-tests --bench engine --profile dev
//! ```

use anyhow::{Context as _, bail};
use reprise_core::{Event, HistoryEvent, RuntimeStatus};
use reprise_executor::{ExecutorConfig, Host, StartRequest, SystemClock, Workers};
use reprise_runtime::{Runtime, RuntimeConfig};
use reprise_store::SqliteStore;
use reprise_tests::guests::CHAIN;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Small enough that a poll never dominates a step; work written by this process wakes the
/// workers at once anyway, so this only bounds missed wake-ups.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The cache of the hot path: larger than the number of instances the bench runs at once.
const HOT_CACHE: usize = 1024;

/// How many instances of what size to run, from the environment.
struct Sizes {
    chain: usize,
    fan_out: usize,
    long_chain: usize,
}

impl Sizes {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Sizes {
            chain: size("REPRISE_BENCH_CHAIN", 200)?,
            fan_out: size("REPRISE_BENCH_FANOUT", 1000)?,
            long_chain: size("REPRISE_BENCH_LONG_CHAIN", 1000)?,
        })
    }
}

/// The positive integer in `var`, or `default` if it is unset.
fn size(var: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(var) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(error) => bail!("{var}: {error}"),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{var} must be a positive integer, not {text:?}"),
        },
    }
}

/// Where the databases go. Cargo sets `CARGO_TARGET_TMPDIR` when it compiles a bench, not when it
/// runs one, so the compile-time value is the usual source; a value in the environment wins.
fn base_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
}

/// The executor's settings: the defaults (concurrency, leases) but for the cache and the poll.
fn executor_config(cache_capacity: usize, label: &str) -> ExecutorConfig {
    ExecutorConfig {
        cache_capacity,
        poll_interval: POLL_INTERVAL,
        owner: format!("bench-{}-{label}", std::process::id()),
        ..ExecutorConfig::default()
    }
}

/// A host with its workers running on its own database file.
struct BenchHost {
    host: Host,
    workers: Workers,
}

impl BenchHost {
    /// Opens `db`, loads the `chain` component and warms the host up: the first instances pay for
    /// instantiating the pooling allocator's slots and SQLite's first pages, which no figure
    /// should include.
    async fn open(db: &Path, cache_capacity: usize, label: &str) -> anyhow::Result<Self> {
        let store = Arc::new(SqliteStore::open(db).with_context(|| format!("open {}", db.display()))?);
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default())?);
        let config = executor_config(cache_capacity, label);
        let host = Host::new(store, runtime, Arc::new(SystemClock), config);
        let loading = Instant::now();
        host.load_component_file(Path::new(CHAIN)).await.context("load the chain component")?;
        let load_time = loading.elapsed();
        let workers = host.spawn_workers();
        let bench = BenchHost { host, workers };
        let warming = Instant::now();
        bench.chain(5).await.context("warm-up chain")?;
        bench.fan_out(5).await.context("warm-up fan-out")?;
        println!(
            "warm-up, {label} (cache {cache_capacity}): component compiled and loaded in {}, chain of 5 and fan-out \
             of 5 in {}",
            fmt_duration(load_time),
            fmt_duration(warming.elapsed())
        );
        Ok(bench)
    }

    /// Runs `chain` with `steps` steps and checks its output.
    async fn chain(&self, steps: usize) -> anyhow::Result<Run> {
        let run = self.run("chain", json!({ "steps": steps, "delay_ms": 0 })).await?;
        let expected = json!({ "steps": steps, "last": steps });
        if run.output != expected {
            bail!("chain returned {}, expected {expected}", run.output);
        }
        Ok(run)
    }

    /// Runs `fan_out` with `tasks` tasks and checks its output.
    async fn fan_out(&self, tasks: usize) -> anyhow::Result<Run> {
        let run = self.run("fan_out", json!({ "tasks": tasks })).await?;
        if run.output != json!(tasks) {
            bail!("fan_out returned {}, expected {tasks}", run.output);
        }
        Ok(run)
    }

    /// Starts an instance, waits for it, and reads its history. The clock runs from the start
    /// request to the terminal commit, the latency a caller of the host sees.
    async fn run(&self, orchestrator: &str, input: Value) -> anyhow::Result<Run> {
        let request = StartRequest { orchestrator: orchestrator.into(), input: input.to_string(), instance_id: None };
        let started = Instant::now();
        let id = self.host.start(request).await?;
        let record = self.host.wait(&id).await?;
        let elapsed = started.elapsed();
        if record.status != RuntimeStatus::Completed {
            let failure = record.failure.map(|f| f.to_string()).unwrap_or_default();
            bail!("instance {id} of {orchestrator} ended {:?}: {failure}", record.status);
        }
        let output = serde_json::from_str(record.output.as_deref().unwrap_or("null"))?;
        let history = self.host.store().history(&id, record.execution)?;
        Ok(Run { elapsed, output, history })
    }

    async fn stop(self) {
        self.workers.shutdown().await;
    }
}

/// One finished instance.
struct Run {
    elapsed: Duration,
    output: Value,
    history: Vec<HistoryEvent>,
}

impl Run {
    /// The times at which its episodes started, in order.
    fn episode_times(&self) -> Vec<u64> {
        self.history
            .iter()
            .filter_map(|e| match e.event {
                Event::EpisodeStarted { time } => Some(time),
                _ => None,
            })
            .collect()
    }

    fn episodes(&self) -> usize {
        self.episode_times().len()
    }
}

/// The `p`-th percentile (0..=100) of `sorted` (ascending), by nearest rank.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn ms_per(d: Duration, n: usize) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3 / n as f64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes = Sizes::from_env()?;
    let base = base_dir();
    std::fs::create_dir_all(&base).with_context(|| format!("create {}", base.display()))?;
    let dir = tempfile::Builder::new().prefix("reprise-bench-").tempdir_in(&base)?;
    let config = executor_config(HOT_CACHE, "hot path");
    let cores = std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_else(|_| "?".into());
    let profile = if cfg!(debug_assertions) {
        "dev (host crates unoptimized: figures are not representative)"
    } else {
        "release"
    };

    println!("Reprise engine benchmark");
    println!("  profile:      {profile}");
    println!("  host:         {cores} cores (available_parallelism), tokio multi-thread runtime");
    println!("  store:        SQLite, WAL, synchronous=FULL (fsync on every commit), in {}", dir.path().display());
    println!("  clock:        SystemClock (history times in ms)");
    println!(
        "  executor:     poll_interval {} ms, orchestration concurrency {}, activity concurrency {} (defaults)",
        config.poll_interval.as_millis(),
        config.orchestration_concurrency,
        config.activity_concurrency
    );
    println!("  cache:        {HOT_CACHE} instances (hot path); 0 for the cold path of the long chain");
    println!("  guest:        {CHAIN} (activities are no-ops)");
    println!(
        "  sizes:        chain {} (REPRISE_BENCH_CHAIN), fan-out {} (REPRISE_BENCH_FANOUT), long chain {} \
         (REPRISE_BENCH_LONG_CHAIN)",
        sizes.chain, sizes.fan_out, sizes.long_chain
    );
    println!();

    let hot = BenchHost::open(&dir.path().join("hot.db"), HOT_CACHE, "hot path").await?;
    println!();

    // 1. Sequential chain: every step is two commits (the episode, then the activity's result),
    // so this is mostly the cost of a durable round trip.
    let n = sizes.chain;
    let chain = hot.chain(n).await?;
    println!("chain {n} steps, hot path: {}/step (total {})", ms_per(chain.elapsed, n), fmt_duration(chain.elapsed));
    let times = chain.episode_times();
    let mut intervals: Vec<u64> = times.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    intervals.sort_unstable();
    if intervals.is_empty() {
        println!("chain {n} steps, hot path: no intervals between episodes in the history");
    } else {
        let mean = intervals.iter().sum::<u64>() as f64 / intervals.len() as f64;
        println!(
            "chain {n} steps, hot path, per-step interval between episodes: p50 {} ms, p99 {} ms, max {} ms, mean \
             {mean:.3} ms ({} intervals, 1 ms resolution)",
            percentile(&intervals, 50.0),
            percentile(&intervals, 99.0),
            intervals[intervals.len() - 1],
            intervals.len()
        );
    }

    // 2. Fan-out/fan-in: one episode schedules every task; completions arrive in batches, so the
    // number of episodes shows how well they batch.
    let n = sizes.fan_out;
    let fan_out = hot.fan_out(n).await?;
    println!(
        "fan-out {n} activities, hot path: total {}, {:.0} activities/s ({} episodes)",
        fmt_duration(fan_out.elapsed),
        n as f64 / fan_out.elapsed.as_secs_f64(),
        fan_out.episodes()
    );

    // 3. Long chain, hot then cold. The cold host runs alone (the hot one is stopped), so that the
    // two do not share the machine's cores.
    let n = sizes.long_chain;
    let long_hot = hot.chain(n).await?;
    let hot_cached = hot.host.cached_instances();
    hot.stop().await;
    println!(
        "chain {n} steps, hot path (cache {HOT_CACHE}): total {}, {}/episode ({} episodes)",
        fmt_duration(long_hot.elapsed),
        ms_per(long_hot.elapsed, long_hot.episodes()),
        long_hot.episodes()
    );

    println!();
    let cold = BenchHost::open(&dir.path().join("cold.db"), 0, "cold path").await?;
    println!();
    let long_cold = cold.chain(n).await?;
    let cold_cached = cold.host.cached_instances();
    cold.stop().await;
    println!(
        "chain {n} steps, cold path (cache 0): total {}, {}/episode ({} episodes)",
        fmt_duration(long_cold.elapsed),
        ms_per(long_cold.elapsed, long_cold.episodes()),
        long_cold.episodes()
    );
    println!(
        "chain {n} steps, cold/hot: {:.2}x the time per episode",
        (long_cold.elapsed.as_secs_f64() / long_cold.episodes() as f64)
            / (long_hot.elapsed.as_secs_f64() / long_hot.episodes() as f64)
    );
    println!();
    println!("instances parked at the end: {hot_cached} (hot host), {cold_cached} (cold host; must be 0)");
    if cold_cached != 0 {
        bail!("the cold host parked {cold_cached} instances with a cache of 0");
    }
    Ok(())
}
