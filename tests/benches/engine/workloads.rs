//! The workloads: each opens a host of its own on a fresh database, warms it up, runs, and
//! returns its figures as text lines and one JSON object.

use crate::args::Workload;
use crate::fsync::Fsync;
use crate::measure::{self, human, mib, percentile, us};
use anyhow::{Context as _, bail};
use reprise_core::EntityId;
use reprise_core::{Event, HistoryEvent, RuntimeStatus};
use reprise_executor::{ExecutorConfig, Host, StartRequest, SystemClock, Workers};
use reprise_runtime::{CompileSource, Runtime, RuntimeConfig};
use reprise_store::{FlowLimit, FlowLimits, HistoryStore, Rate, SqliteStore, StoreOptions, Synchronous, WriteStats};
use reprise_tests::guests::{CHAIN, ENTITIES};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The cache of the hot path: larger than the number of instances the workloads run at once.
const HOT_CACHE: usize = 1024;

/// How many timed calls `instantiate` makes.
const INSTANTIATE_CALLS: usize = 2000;

/// The longest a workload waits for instances to settle before it gives up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

/// One workload's figures.
pub(crate) struct Report {
    pub(crate) lines: Vec<String>,
    pub(crate) json: Value,
}

/// Runs workloads in a directory of databases.
pub(crate) struct Bench {
    dir: PathBuf,
    synchronous: Synchronous,
    databases: AtomicUsize,
    /// What a 4 KiB write + fsync cost on this file system, measured first.
    fsync: Fsync,
    /// How instances are allocated, and where compiled components are kept.
    setup: Setup,
}

/// What the host under measurement is built with, besides the workload.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setup {
    /// Run under callgrind, as a child of `--instructions`: instances on demand rather than
    /// from the pooling allocator (whose reservation of terabytes of address space valgrind
    /// cannot make), and no CPU clock (rustix's vDSO lookup faults under valgrind; the CPU
    /// figures read 0).
    pub(crate) callgrind: bool,
    /// The compile cache to use (a fresh one in the bench's directory by default): the
    /// instruction counts share one between runs, so that none of them compiles.
    pub(crate) compile_cache: Option<PathBuf>,
}

/// A host with its workers running, and the store under it (for its commit counter).
struct BenchHost {
    host: Host,
    store: Arc<SqliteStore>,
    workers: Workers,
}

/// One finished instance.
struct Run {
    elapsed: Duration,
    output: Value,
    history: Vec<HistoryEvent>,
}

impl Run {
    /// The times at which its episodes started, in order (ms).
    fn episode_times(&self) -> Vec<u64> {
        self.history
            .iter()
            .filter_map(|e| match e.event {
                Event::EpisodeStarted { time } => Some(time),
                _ => None,
            })
            .collect()
    }
}

/// Commits and writes between two readings of the counter.
fn delta(before: WriteStats, after: WriteStats) -> WriteStats {
    WriteStats {
        commits: after.commits - before.commits,
        durable_commits: after.durable_commits - before.durable_commits,
        requests: after.requests - before.requests,
        busy: after.busy - before.busy,
        queued: after.queued,
    }
}

/// How busy the store's single writer thread was over a run of `elapsed`: the bound on
/// throughput once it nears 100%.
fn writer_text(stats: WriteStats, elapsed: Duration) -> String {
    format!(
        "  SQLite writer thread busy {} ({:.0}% of the run; commits and fsyncs included), {} per write",
        human(stats.busy),
        writer_busy_pct(stats, elapsed),
        human_us(stats.busy / stats.requests.max(1) as u32)
    )
}

/// The writer thread's busy time as a percentage of `elapsed`.
fn writer_busy_pct(stats: WriteStats, elapsed: Duration) -> f64 {
    100.0 * stats.busy.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
}

/// The commit counts for people: durable ones (an fsync each under FULL) and redoable ones
/// (leases and activity results only: no fsync, see the store's writer).
fn commits_text(stats: WriteStats) -> String {
    format!(
        "{} durable commits (fsync'd under FULL) + {} redoable commits (no fsync) for {} writes",
        stats.durable_commits,
        stats.commits - stats.durable_commits,
        stats.requests
    )
}

impl Bench {
    pub(crate) fn new(dir: PathBuf, synchronous: Synchronous, fsync: Fsync, setup: Setup) -> Self {
        Bench { dir, synchronous, databases: AtomicUsize::new(0), fsync, setup }
    }

    /// The process's CPU time so far (zero under callgrind, see [`Setup::callgrind`]).
    fn cpu_time(&self) -> Duration {
        if self.setup.callgrind { Duration::ZERO } else { measure::cpu_time() }
    }

    /// How a run of `elapsed` with `stats` compares with the disk's limit: its durable commits
    /// each cost at least one fsync (under FULL), so `commits x fsync p50` is the least the run
    /// could take on this disk. The line for people, and the ratio (`None` under NORMAL, where
    /// commits do not fsync).
    fn fsync_floor(&self, stats: WriteStats, elapsed: Duration) -> (String, Option<f64>) {
        if self.synchronous != Synchronous::Full {
            return ("  fsync floor: none (synchronous=normal: commits do not fsync)".into(), None);
        }
        let floor = self.fsync.p50 * stats.durable_commits as u32;
        let ratio = elapsed.as_secs_f64() / floor.as_secs_f64().max(1e-9);
        let line = format!(
            "  fsync floor: {} durable commits x {} (the fsync p50) = {}; the run took {ratio:.1}x that",
            stats.durable_commits,
            human_us(self.fsync.p50),
            human(floor)
        );
        (line, Some(ratio))
    }

    /// A new database file's path.
    fn new_db(&self, label: &str) -> PathBuf {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{n:02}-{label}.db"))
    }

    fn runtime_config(&self) -> RuntimeConfig {
        let cache = self.setup.compile_cache.clone().unwrap_or_else(|| self.dir.join("compile-cache"));
        RuntimeConfig { compile_cache: Some(cache), ..RuntimeConfig::default() }
    }

    /// The fields every JSON line carries.
    fn common(&self, workload: &str) -> serde_json::Map<String, Value> {
        let rss = measure::rss();
        let mut map = serde_json::Map::new();
        map.insert("workload".into(), json!(workload));
        map.insert("profile".into(), json!(if cfg!(debug_assertions) { "dev" } else { "release" }));
        map.insert("sqlite".into(), json!({ "journal_mode": "wal", "synchronous": self.synchronous.as_str() }));
        map.insert("fsync_p50_us".into(), json!(us(self.fsync.p50)));
        map.insert("rss_bytes".into(), json!(rss.now));
        map.insert("peak_rss_bytes".into(), json!(rss.peak));
        map
    }

    fn rss_line(&self) -> String {
        let rss = measure::rss();
        format!("  memory: RSS {} now, peak {} (process high-water mark)", mib(rss.now), mib(rss.peak))
    }

    /// Opens a host on `db` with its workers running and the `chain` component loaded.
    async fn open(&self, db: &Path, config: ExecutorConfig) -> anyhow::Result<BenchHost> {
        let options = StoreOptions { synchronous: self.synchronous, ..StoreOptions::default() };
        let store = Arc::new(SqliteStore::open_with(db, &options).with_context(|| format!("open {}", db.display()))?);
        let pools = (!self.setup.callgrind).then(|| config.instance_pools());
        let runtime = Arc::new(Runtime::new(RuntimeConfig { pools, ..self.runtime_config() })?);
        let host = Host::new(store.clone(), runtime, Arc::new(SystemClock), config);
        host.load_component_file(Path::new(CHAIN)).await.context("load the chain component")?;
        host.load_component_file(Path::new(ENTITIES)).await.context("load the entities component")?;
        let workers = host.spawn_workers();
        Ok(BenchHost { host, store, workers })
    }

    /// A host on a new database, warmed up: the first instances pay for SQLite's first pages
    /// and the first instantiations, which no figure should include.
    async fn fresh(&self, label: &str, config: ExecutorConfig) -> anyhow::Result<BenchHost> {
        let bench = self.open(&self.new_db(label), config).await?;
        bench.chain(5).await.context("warm-up chain")?;
        bench.fan_out(5).await.context("warm-up fan-out")?;
        Ok(bench)
    }

    pub(crate) async fn run(&self, workload: Workload) -> anyhow::Result<Report> {
        match workload {
            Workload::Chain { steps, cold } => self.chain(steps, cold).await,
            Workload::FanOut { tasks } => self.fan_out(tasks).await,
            Workload::Concurrent { instances, steps } => self.concurrent(instances, steps).await,
            Workload::Replay { events } => self.replay(events).await,
            Workload::Instantiate => self.instantiate().await,
            Workload::Park { instances } => self.park(instances).await,
            Workload::Entities { operations } => self.entities(operations).await,
            Workload::Flow { tasks, rate } => self.flow(tasks, rate).await,
        }
    }

    /// A fan-out of `tasks` no-op activities under a rate limit of `rate` per second with a
    /// burst of 1: the first starts at once, each next one when its token is due, so the run
    /// should take `(tasks - 1) / rate` seconds. The claims wake at each token's time (the claim
    /// says when): a host that waited for its periodic poll would reach 4 starts per second.
    async fn flow(&self, tasks: usize, rate: usize) -> anyhow::Result<Report> {
        let starts = u32::try_from(rate).context("the rate is too large")?;
        let limit = FlowLimit::new(None, Some(Rate { starts, per: Duration::from_secs(1), burst: 1 }), None)?;
        let mut flow = FlowLimits::default();
        flow.set("noop", limit);
        let config = ExecutorConfig { flow: Arc::new(flow), ..executor_config(HOT_CACHE) };
        let bench = self.open(&self.new_db("flow"), config).await?;
        // The warm-up runs `step`, which has no limit: the bucket of `noop` is full at the start.
        bench.chain(5).await.context("warm-up chain")?;
        let stats = bench.store.write_stats();
        let run = bench.fan_out(tasks).await?;
        let stats = delta(stats, bench.store.write_stats());
        let deferred = deferred_claims(&bench.host.render_metrics().await);
        bench.stop().await;
        let gaps = tasks.saturating_sub(1).max(1) as f64;
        let measured = gaps / run.elapsed.as_secs_f64();
        let expected = Duration::from_secs_f64(gaps / rate as f64);
        let lines = vec![
            format!(
                "flow {tasks} {rate}: total {} (expected {} at {rate}/s), {measured:.1} starts/s measured against a limit of {rate}/s (burst 1)",
                human(run.elapsed),
                human(expected)
            ),
            format!("  {deferred} tasks passed over by claims for the limit; {}", commits_text(stats)),
            self.rss_line(),
        ];
        let mut json = self.common("flow");
        json.extend([
            ("activities".into(), json!(tasks)),
            ("rate_limit_per_s".into(), json!(rate)),
            ("total_ms".into(), json!(run.elapsed.as_secs_f64() * 1e3)),
            ("expected_ms".into(), json!(expected.as_secs_f64() * 1e3)),
            ("starts_per_s".into(), json!((measured * 10.0).round() / 10.0)),
            ("claims_deferred".into(), json!(deferred)),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    /// Signals from concurrent clients to one `Counter` entity, each acknowledged once durable,
    /// until all have run; then one orchestration's calls in sequence, each a round trip through
    /// the entity's queue (two episodes and a batch per call).
    async fn entities(&self, operations: usize) -> anyhow::Result<Report> {
        let bench = self.fresh("entities", executor_config(HOT_CACHE)).await?;
        let counter = EntityId::new("Counter", "bench")?;
        let (stats, cpu) = (bench.store.write_stats(), self.cpu_time());
        let started = Instant::now();
        let mut signals = tokio::task::JoinSet::new();
        for _ in 0..operations {
            let (host, counter) = (bench.host.clone(), counter.clone());
            signals.spawn(async move { host.signal_entity(&counter, "add", "1").await });
        }
        while let Some(signalled) = signals.join_next().await {
            signalled??;
        }
        let acknowledged = started.elapsed();
        let record = tokio::time::timeout(SETTLE_TIMEOUT, bench.host.wait_entity_idle(&counter))
            .await
            .context("the entity did not run every operation in time")??
            .context("the entity is gone")?;
        let applied = started.elapsed();
        let (stats, cpu) = (delta(stats, bench.store.write_stats()), self.cpu_time() - cpu);
        if record.state.as_deref() != Some(&format!(r#"{{"value":{operations}}}"#))
            || record.operations as usize != operations
        {
            bail!("the counter reads {:?} after {} operations, expected {operations}", record.state, record.operations);
        }
        let calls = operations.min(200);
        let run = bench.run("add_many", json!({ "key": "calls", "count": calls, "mode": "sequential" })).await?;
        bench.stop().await;
        let per_call = run.elapsed / calls as u32;
        let per_op = applied / operations as u32;
        let (floor, floor_ratio) = self.fsync_floor(stats, applied);
        let lines = vec![
            format!(
                "entities {operations}: {operations} signals acknowledged in {} and applied in {} ({:.0} operations/s, {} \
                 per operation)",
                human(acknowledged),
                human(applied),
                operations as f64 / applied.as_secs_f64(),
                human_us(per_op)
            ),
            format!("  {}; host CPU {} per operation", commits_text(stats), human_us(cpu / operations as u32)),
            floor,
            format!("  {calls} sequential calls from one orchestration: {} per call (round trip)", human_us(per_call)),
            self.rss_line(),
        ];
        let mut json = self.common("entities");
        json.extend([
            ("fsync_floor_ratio".into(), json!(floor_ratio)),
            ("operations".into(), json!(operations)),
            ("acknowledged_ms".into(), json!(acknowledged.as_secs_f64() * 1e3)),
            ("applied_ms".into(), json!(applied.as_secs_f64() * 1e3)),
            ("operations_per_s".into(), json!(operations as f64 / applied.as_secs_f64())),
            ("durable_commits".into(), json!(stats.durable_commits)),
            ("writes".into(), json!(stats.requests)),
            ("calls".into(), json!(calls)),
            ("per_call_us".into(), json!(us(per_call))),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    async fn chain(&self, steps: usize, cold: bool) -> anyhow::Result<Report> {
        let (name, cache) = if cold { ("coldchain", 0) } else { ("chain", HOT_CACHE) };
        let bench = self.fresh(name, executor_config(cache)).await?;
        let (stats, cpu) = (bench.store.write_stats(), self.cpu_time());
        let run = bench.chain(steps).await?;
        let (stats, cpu) = (delta(stats, bench.store.write_stats()), self.cpu_time() - cpu);
        bench.stop().await;
        let times = run.episode_times();
        let mut intervals: Vec<u64> = times.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
        intervals.sort_unstable();
        let (p50, p99) =
            if intervals.is_empty() { (0, 0) } else { (percentile(&intervals, 50.0), percentile(&intervals, 99.0)) };
        let per_step = run.elapsed / steps as u32;
        let cpu_per_step = cpu / steps as u32;
        let commits_per_step = stats.durable_commits as f64 / steps as f64;
        let (floor, floor_ratio) = self.fsync_floor(stats, run.elapsed);
        let over_fsync = per_step.as_secs_f64() / self.fsync.p50.as_secs_f64().max(1e-9);
        let lines = vec![
            format!(
                "{name} {steps}: {} per step (mean, {over_fsync:.1}x the fsync p50), total {}, cache {cache}",
                human_us(per_step),
                human(run.elapsed)
            ),
            format!("  per-step interval between episodes (history, 1 ms resolution): p50 {p50} ms, p99 {p99} ms"),
            format!("  {}: {commits_per_step:.2} fsyncs per step", commits_text(stats)),
            format!(
                "  host CPU (all threads, user+system, fsync's system time included): {} per step",
                human_us(cpu_per_step)
            ),
            writer_text(stats, run.elapsed),
            floor,
            self.rss_line(),
        ];
        let mut json = self.common(name);
        json.extend([
            ("steps".into(), json!(steps)),
            ("per_step_over_fsync_p50".into(), json!(over_fsync)),
            ("fsync_floor_ratio".into(), json!(floor_ratio)),
            ("cache".into(), json!(cache)),
            ("total_ms".into(), json!(run.elapsed.as_secs_f64() * 1e3)),
            ("per_step_mean_us".into(), json!(us(per_step))),
            ("per_step_p50_ms".into(), json!(p50)),
            ("per_step_p99_ms".into(), json!(p99)),
            ("commits".into(), json!(stats.commits)),
            ("durable_commits".into(), json!(stats.durable_commits)),
            ("writes".into(), json!(stats.requests)),
            ("durable_commits_per_step".into(), json!(commits_per_step)),
            ("cpu_per_step_us".into(), json!(us(cpu_per_step))),
            ("writer_busy_pct".into(), json!(writer_busy_pct(stats, run.elapsed))),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    async fn fan_out(&self, tasks: usize) -> anyhow::Result<Report> {
        let bench = self.fresh("fanout", executor_config(HOT_CACHE)).await?;
        let (stats, cpu) = (bench.store.write_stats(), self.cpu_time());
        let run = bench.fan_out(tasks).await?;
        let (stats, cpu) = (delta(stats, bench.store.write_stats()), self.cpu_time() - cpu);
        bench.stop().await;
        let rate = tasks as f64 / run.elapsed.as_secs_f64();
        let per_activity = run.elapsed / tasks as u32;
        let episodes = run.episode_times().len();
        let (floor, floor_ratio) = self.fsync_floor(stats, run.elapsed);
        let lines = vec![
            format!(
                "fanout {tasks}: total {}, {rate:.0} activities/s, {} per activity",
                human(run.elapsed),
                human_us(per_activity)
            ),
            format!(
                "  {episodes} episodes; {}; host CPU {} per activity",
                commits_text(stats),
                human_us(cpu / tasks as u32)
            ),
            writer_text(stats, run.elapsed),
            floor,
            self.rss_line(),
        ];
        let mut json = self.common("fanout");
        json.extend([
            ("fsync_floor_ratio".into(), json!(floor_ratio)),
            ("activities".into(), json!(tasks)),
            ("total_ms".into(), json!(run.elapsed.as_secs_f64() * 1e3)),
            ("activities_per_s".into(), json!(rate.round())),
            ("per_activity_us".into(), json!(us(per_activity))),
            ("episodes".into(), json!(episodes)),
            ("commits".into(), json!(stats.commits)),
            ("durable_commits".into(), json!(stats.durable_commits)),
            ("writes".into(), json!(stats.requests)),
            ("cpu_per_activity_us".into(), json!(us(cpu / tasks as u32))),
            ("writer_busy_pct".into(), json!(writer_busy_pct(stats, run.elapsed))),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    async fn concurrent(&self, instances: usize, steps: usize) -> anyhow::Result<Report> {
        let config = executor_config(HOT_CACHE.max(instances + 16));
        let bench = self.fresh("concurrent", config.clone()).await?;
        let (stats, cpu) = (bench.store.write_stats(), self.cpu_time());
        let started = Instant::now();
        let input = json!({ "steps": steps, "delay_ms": 0 }).to_string();
        let ids = bench.start_all("chain", &input, instances).await?;
        // One waiter at a time: a thousand waiters would each re-read their instance at every
        // commit and the figure would measure them.
        for id in &ids {
            let record = bench.host.wait(id).await?;
            if record.status != RuntimeStatus::Completed {
                bail!("instance {id} ended {:?}", record.status);
            }
        }
        let elapsed = started.elapsed();
        let (stats, cpu) = (delta(stats, bench.store.write_stats()), self.cpu_time() - cpu);
        bench.stop().await;
        let total_steps = instances * steps;
        let rate = total_steps as f64 / elapsed.as_secs_f64();
        let (floor, floor_ratio) = self.fsync_floor(stats, elapsed);
        let lines = vec![
            format!("concurrent {instances} x {steps}: {rate:.0} steps/s ({total_steps} steps in {})", human(elapsed)),
            format!(
                "  {} ({:.1} writes per commit, {:.3} durable commits per step); host CPU {} per step; \
                 orchestration concurrency {}, activity concurrency {}",
                commits_text(stats),
                stats.requests as f64 / stats.commits.max(1) as f64,
                stats.durable_commits as f64 / total_steps as f64,
                human_us(cpu / total_steps as u32),
                config.orchestration_concurrency,
                config.activity_concurrency
            ),
            writer_text(stats, elapsed),
            floor,
            self.rss_line(),
        ];
        let mut json = self.common("concurrent");
        json.extend([
            ("fsync_floor_ratio".into(), json!(floor_ratio)),
            ("instances".into(), json!(instances)),
            ("steps_each".into(), json!(steps)),
            ("total_ms".into(), json!(elapsed.as_secs_f64() * 1e3)),
            ("steps_per_s".into(), json!(rate.round())),
            ("commits".into(), json!(stats.commits)),
            ("durable_commits".into(), json!(stats.durable_commits)),
            ("writes".into(), json!(stats.requests)),
            ("cpu_per_step_us".into(), json!(us(cpu / total_steps as u32))),
            ("writer_busy_pct".into(), json!(writer_busy_pct(stats, elapsed))),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    async fn replay(&self, events: usize) -> anyhow::Result<Report> {
        // A fan-out of n tasks records 2n events (scheduled, completed) and a few per episode.
        let tasks = (events / 2).max(1);
        let db = self.new_db("replay");
        let building = Instant::now();
        let id = {
            let bench = self.open(&db, executor_config(HOT_CACHE)).await?;
            let ids = bench.start_all("fan_out_then_wait", &json!({ "tasks": tasks }).to_string(), 1).await?;
            let id = ids.into_iter().next().context("no instance")?;
            bench.until_waiting(&id, tasks).await?;
            bench.stop().await;
            id
        };
        let build_time = building.elapsed();

        let bench = self.open(&db, executor_config(0)).await?;
        let loading = Instant::now();
        let history = bench.store.history(&id, 1)?;
        let load_time = loading.elapsed();
        let recorded = history.len();
        let stats = bench.store.write_stats();
        let replaying = Instant::now();
        bench.host.raise_event(&id, "go", "null").await?;
        let record = bench.host.wait(&id).await?;
        let episode_time = replaying.elapsed();
        let stats = delta(stats, bench.store.write_stats());
        bench.stop().await;
        if record.status != RuntimeStatus::Completed || record.output.as_deref() != Some(&tasks.to_string()) {
            bail!("the replayed instance ended {:?} with {:?}", record.status, record.output);
        }
        let lines = vec![
            format!(
                "replay {events}: history of {recorded} events; cold episode (load + instantiate + replay + commit) {}",
                human(episode_time)
            ),
            format!(
                "  history read alone: {}; {} in the episode; built in {}",
                human(load_time),
                commits_text(stats),
                human(build_time)
            ),
            self.rss_line(),
        ];
        let mut json = self.common("replay");
        json.extend([
            ("events".into(), json!(recorded)),
            ("cold_episode_ms".into(), json!(episode_time.as_secs_f64() * 1e3)),
            ("history_load_ms".into(), json!(load_time.as_secs_f64() * 1e3)),
            ("commits".into(), json!(stats.commits)),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    async fn instantiate(&self) -> anyhow::Result<Report> {
        let bytes = std::fs::read(CHAIN).with_context(|| format!("read {CHAIN}"))?;
        let cache_dir = self.dir.join("instantiate-cache");
        let with_cache = || RuntimeConfig { compile_cache: Some(cache_dir.clone()), ..RuntimeConfig::default() };

        let runtime = Runtime::new(with_cache())?;
        let compiling = Instant::now();
        let loaded = runtime.load(bytes.clone(), CHAIN).await?;
        let compile_time = compiling.elapsed();
        if loaded.compiled != CompileSource::CompiledAndCached {
            bail!("the first load was {:?}, expected a compilation written to the cache", loaded.compiled);
        }
        // A restart: a new runtime (new engines) on the same cache directory.
        let restarted = Runtime::new(with_cache())?;
        let reloading = Instant::now();
        let reloaded = restarted.load(bytes, CHAIN).await?;
        let reload_time = reloading.elapsed();
        if reloaded.compiled != CompileSource::Cache {
            bail!("the reload was {:?}, expected the cache", reloaded.compiled);
        }

        for _ in 0..100 {
            runtime.orchestrator_names(&loaded).await?;
        }
        let mut samples = Vec::with_capacity(INSTANTIATE_CALLS);
        for _ in 0..INSTANTIATE_CALLS {
            let call = Instant::now();
            runtime.orchestrator_names(&loaded).await?;
            samples.push(call.elapsed());
        }
        samples.sort_unstable();
        let (p50, p99) = (percentile(&samples, 50.0), percentile(&samples, 99.0));
        let lines = vec![
            format!(
                "instantiate: median {} (p99 {}) for a new store + instance of the pre-instantiated component + one \
                 export call, {INSTANTIATE_CALLS} calls",
                human_us(p50),
                human_us(p99)
            ),
            format!(
                "  component load: compiled (both engines) in {}, from the compile cache after a restart in {}",
                human(compile_time),
                human(reload_time)
            ),
            self.rss_line(),
        ];
        let mut json = self.common("instantiate");
        json.extend([
            ("median_us".into(), json!(us(p50))),
            ("p99_us".into(), json!(us(p99))),
            ("compile_ms".into(), json!(compile_time.as_secs_f64() * 1e3)),
            ("cached_load_ms".into(), json!(reload_time.as_secs_f64() * 1e3)),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }

    async fn park(&self, instances: usize) -> anyhow::Result<Report> {
        let config = ExecutorConfig { cache_idle: Duration::from_secs(3600), ..executor_config(instances + 16) };
        let bench = self.fresh("park", config).await?;
        let before = measure::rss();
        let (maps_before, _) = measure::mappings();
        let started = Instant::now();
        let ids = bench.start_all("fan_out_then_wait", &json!({ "tasks": 0 }).to_string(), instances).await?;
        // Settled: every instance has run its first episode and waits for its event (the store
        // shows it running with an empty inbox). Parked in the cache, if the cache kept it.
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        for id in &ids {
            while !bench.store.messages(id, u64::MAX)?.is_empty()
                || bench.host.instance(id).await?.status != RuntimeStatus::Running
            {
                if Instant::now() > deadline {
                    let record = bench.host.instance(id).await?;
                    let waiting = bench.store.messages(id, u64::MAX)?.len();
                    bail!(
                        "instance {id} did not settle in {SETTLE_TIMEOUT:?}: {}, {waiting} message(s) waiting, \
                         failure {:?}",
                        record.status,
                        record.failure
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let parking = started.elapsed();
        let after = measure::rss();
        let (maps_after, max_maps) = measure::mappings();
        let cached = bench.host.cached_instances();
        bench.stop().await;
        let per_instance = after.now.saturating_sub(before.now) / cached.max(1) as u64;
        let lines = vec![
            format!(
                "park {instances}: {cached} of {instances} waiting instances parked in the cache; RSS {} ({} before \
                 starting them), {:.1} KiB per parked instance",
                mib(after.now),
                mib(before.now),
                per_instance as f64 / 1024.0
            ),
            format!("  started and parked in {}", human(parking)),
            format!(
                "  memory mappings: {maps_after} ({maps_before} before), {:.1} per parked instance; the kernel allows \
                 {max_maps}",
                maps_after.saturating_sub(maps_before) as f64 / cached.max(1) as f64
            ),
            self.rss_line(),
        ];
        let mut json = self.common("park");
        json.extend([
            ("instances".into(), json!(instances)),
            ("parked".into(), json!(cached)),
            ("rss_parked_bytes".into(), json!(after.now)),
            ("rss_before_bytes".into(), json!(before.now)),
            ("bytes_per_instance".into(), json!(per_instance)),
            ("park_ms".into(), json!(parking.as_secs_f64() * 1e3)),
            ("mappings".into(), json!(maps_after)),
            ("mappings_before".into(), json!(maps_before)),
        ]);
        Ok(Report { lines, json: Value::Object(json) })
    }
}

impl BenchHost {
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
        let record = self.host.wait(id.as_str()).await?;
        let elapsed = started.elapsed();
        if record.status != RuntimeStatus::Completed {
            let failure = record.failure.map(|f| f.to_string()).unwrap_or_default();
            bail!("instance {id} of {orchestrator} ended {:?}: {failure}", record.status);
        }
        let output = serde_json::from_str(record.output.as_deref().unwrap_or("null"))?;
        let history = self.host.store().history(id.as_str(), record.execution)?;
        Ok(Run { elapsed, output, history })
    }

    /// Starts `count` instances at once (concurrent start requests, as many clients would send
    /// them) and returns their ids.
    async fn start_all(&self, orchestrator: &str, input: &str, count: usize) -> anyhow::Result<Vec<String>> {
        let mut starts = tokio::task::JoinSet::new();
        for _ in 0..count {
            let host = self.host.clone();
            let request =
                StartRequest { orchestrator: orchestrator.into(), input: input.to_string(), instance_id: None };
            starts.spawn(async move { host.start(request).await });
        }
        let mut ids = Vec::with_capacity(count);
        while let Some(started) = starts.join_next().await {
            ids.push(started??.into_string());
        }
        Ok(ids)
    }

    /// Waits until `fan_out_then_wait` has recorded all its `tasks` completions and parked.
    async fn until_waiting(&self, id: &str, tasks: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let history = self.store.history(id, 1)?;
            let completed = history.iter().filter(|e| matches!(e.event, Event::ActivityCompleted { .. })).count();
            let record = self.host.instance(id).await?;
            if record.status.is_terminal() {
                bail!("instance {id} ended {:?} before the event", record.status);
            }
            // The episode that received the last completion has committed once no message is
            // left and the lock is free: the instance is parked.
            if completed == tasks && self.store.messages(id, u64::MAX)?.is_empty() && self.host.cached_instances() > 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("instance {id} did not finish its fan-out in {SETTLE_TIMEOUT:?} ({completed}/{tasks})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.workers.shutdown().await;
    }
}

/// The executor's settings: the defaults (concurrency, leases, the poll interval: work this
/// process writes wakes its workers without a poll) but for the cache.
fn executor_config(cache_capacity: usize) -> ExecutorConfig {
    ExecutorConfig { cache_capacity, owner: format!("bench-{}", std::process::id()), ..ExecutorConfig::default() }
}

/// The count of `reprise_activity_claims_deferred_total` for `noop` in a scrape.
fn deferred_claims(metrics: &str) -> u64 {
    let series = r#"reprise_activity_claims_deferred_total{activity="noop"} "#;
    metrics.lines().find_map(|line| line.strip_prefix(series)).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// Microseconds for people.
fn human_us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}
