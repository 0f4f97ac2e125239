//! Benchmark of orchestrators written in Python and JavaScript against the same orchestrator in
//! Rust: the real executor on a real SQLite file (durable settings), on the system clock. It
//! prints figures; it asserts nothing about time.
//!
//! ```text
//! cargo bench -p reprise-tests --bench polyglot
//! ```
//!
//! For each language (the Rust guest `chain`, the Python guest `py-mixed-languages`, the
//! JavaScript guest `js-fan-out`) it prints:
//!
//! 1. the component's size, and the time to load it (compile it for the orchestrator and activity
//!    engines, pre-instantiate it, list its exports);
//! 2. the latency of an orchestration of zero steps on the cold path (cache 0): one episode, so
//!    one instantiation and one call of the orchestrator, plus the store's commits, which are the
//!    same for every language: the difference between two languages is the difference of their
//!    instantiate + call;
//! 3. a chain of `REPRISE_BENCH_POLYGLOT_CHAIN` (default 100) sequential calls of the Rust
//!    activity `noop` on the hot path (cache on): wall time per step; its difference with the
//!    Rust orchestrator's is the per-step overhead of the language;
//! 4. the same chain, `REPRISE_BENCH_POLYGLOT_COLD_CHAIN` (default 20) steps, on the cold path:
//!    every episode instantiates the component and replays the history so far.
//!
//! Then, on the runtime alone (no store, no executor: the replay engine answers the guest's
//! calls, and every episode's activities are completed at once, in memory), for each language:
//!
//! 5. instantiate + call: a fresh instance from the pre-instantiated component running the chain
//!    orchestrator with 0 steps (median of 50);
//! 6. per step: the same with `REPRISE_BENCH_POLYGLOT_CHAIN` steps, minus the 0-step figure,
//!    divided by the steps: the guest's own cost of one `call_activity` (schedule, wait, decode).
//!
//!
//! And for activities (the C guest `c-hello` exports only activities), on the runtime alone, for
//! one activity per language (`noop` in Rust, `js_shout` in JavaScript, `CreditAccount` in
//! Python, `c_word_count` in C):
//!
//! 7. the component's size and its load time, and instantiate + call: a fresh activity instance
//!    from the pre-instantiated component running the activity once (median of 51).
//!
//! A language whose guest could not be built (its toolchain was missing when the bench was
//! built) gets a line saying why instead of figures.
//!
//! `cargo bench -p reprise-tests --bench polyglot -- runtime` prints only the runtime figures.
//! A quick check of the program itself: `REPRISE_BENCH_POLYGLOT_CHAIN=5
//! REPRISE_BENCH_POLYGLOT_COLD_CHAIN=3 cargo bench -p reprise-tests --bench polyglot`.

use anyhow::{Context as _, bail};
use reprise_core::replay::Replayer;
use reprise_core::{Event, Message, Payload, RuntimeStatus};
use reprise_executor::{ExecutorConfig, Host, StartRequest, SystemClock, Workers};
use reprise_runtime::{
    ActivityGrants, ActivityInvocation, Delivery, GuestObserved, LoadedComponent, OrchestrationSession,
    OrchestratorInvocation, Runtime, RuntimeConfig,
};
use reprise_store::SqliteStore;
use reprise_tests::guests::{self, Guest};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The orchestrators compared: the guest (its language), the orchestrator's name.
const SUBJECTS: [(Guest, &str); 3] = [
    (Guest::built("chain", "Rust", guests::CHAIN), "chain"),
    (guests::PY_MIXED_LANGUAGES, "py_chain"),
    (guests::JS_FAN_OUT, "js_chain"),
];

/// The component of `guest`, or `None` after a line saying why it is missing (its toolchain
/// was not there when the bench was built): the bench measures the languages it has.
fn available(guest: &Guest) -> Option<&'static str> {
    match guest.unavailable() {
        None => Some(guest.path()),
        Some(why) => {
            println!("{:<11} skipped: {}", guest.language(), why.lines().next().unwrap_or_default());
            None
        }
    }
}

/// A host with its workers on its own database, the Rust `chain` component (for `noop`) and a
/// subject component loaded.
struct BenchHost {
    host: Host,
    workers: Workers,
    load_time: Duration,
}

impl BenchHost {
    async fn open(db: &Path, cache_capacity: usize, component: &str) -> anyhow::Result<Self> {
        let store = Arc::new(SqliteStore::open(db).with_context(|| format!("open {}", db.display()))?);
        let runtime = Arc::new(Runtime::new(RuntimeConfig::default())?);
        let config = ExecutorConfig {
            cache_capacity,
            poll_interval: Duration::from_millis(5),
            owner: format!("bench-polyglot-{}", std::process::id()),
            ..ExecutorConfig::default()
        };
        let host = Host::new(store, runtime, Arc::new(SystemClock), config);
        if component != guests::CHAIN {
            host.load_component_file(Path::new(guests::CHAIN)).await.context("load the chain component")?;
        }
        let loading = Instant::now();
        host.load_component_file(Path::new(component)).await.with_context(|| format!("load {component}"))?;
        let load_time = loading.elapsed();
        let workers = host.spawn_workers();
        Ok(BenchHost { host, workers, load_time })
    }

    /// Runs the chain orchestrator `name` with `steps` steps, checks its output, and returns
    /// the wall time from the start request to the terminal commit.
    async fn chain(&self, name: &str, steps: usize) -> anyhow::Result<Duration> {
        let request = StartRequest {
            orchestrator: name.into(),
            input: json!({ "steps": steps, "delay_ms": 0 }).to_string(),
            instance_id: None,
        };
        let started = Instant::now();
        let id = self.host.start(request).await?;
        let record = self.host.wait(id.as_str()).await?;
        let elapsed = started.elapsed();
        if record.status != RuntimeStatus::Completed {
            bail!("{name} ended {:?}: {}", record.status, record.failure.map(|f| f.to_string()).unwrap_or_default());
        }
        let output: Value = serde_json::from_str(record.output.as_deref().unwrap_or("null"))?;
        let expected = json!({ "steps": steps, "last": steps });
        if output != expected {
            bail!("{name} returned {output}, expected {expected}");
        }
        Ok(elapsed)
    }

    async fn stop(self) {
        self.workers.shutdown().await;
    }
}

fn size(var: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{var} must be a positive integer, not {text:?}"),
        },
    }
}

fn base_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_TMPDIR").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The median of three runs of `f`.
async fn median3<F, Fut>(mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Duration>>,
{
    let mut runs = [f().await?, f().await?, f().await?];
    runs.sort();
    Ok(runs[1])
}

/// What the in-memory host answers an activity with, as the real one would: `step` (the Rust
/// chain's) with its input's `value` plus one, `noop` with its input.
fn echo(name: &str, input: &Payload) -> anyhow::Result<Payload> {
    if name == "step" {
        let step: Value = serde_json::from_str(input)?;
        return Ok(Payload::from_u64(step["value"].as_u64().unwrap_or_default() + 1));
    }
    Ok(input.clone())
}

/// One run of the orchestrator `name` with `steps` steps on a fresh instance, on the runtime
/// alone (no store, no executor): the replay engine answers its calls, and every episode's
/// activities are completed at once, in memory. Its wall time.
async fn runtime_run(
    runtime: &Runtime,
    component: &LoadedComponent,
    name: &str,
    steps: usize,
) -> anyhow::Result<Duration> {
    let input = json!({ "steps": steps, "delay_ms": 0 }).to_string();
    let mut replayer = Replayer::new("bench", 1, "bench", Vec::new())?;
    replayer.deliver(0, vec![Message::Start { name: name.into(), input: Payload::parse(input.clone(), usize::MAX)? }]);
    replayer.advance()?;
    let replayer = Arc::new(Mutex::new(replayer));
    let observed = GuestObserved::new();
    observed.start_episode(0, false);
    let (deliveries, delivered) = tokio::sync::mpsc::unbounded_channel();
    let (yielded, mut yields) = tokio::sync::mpsc::unbounded_channel();
    let session =
        OrchestrationSession::new("bench".into(), replayer, observed.clone(), (delivered, yielded), usize::MAX);
    let invocation =
        OrchestratorInvocation { instance_id: "bench".into(), name: name.into(), input, seed: 7, observed };
    let driver = async move {
        while let Some(episode) = yields.recv().await {
            let mut messages = Vec::new();
            for event in episode.output.events {
                if let Event::ActivityScheduled { task_id, name, input, .. } = event.event {
                    messages.push(Message::ActivityCompleted { task_id, output: echo(&name, &input)? });
                }
            }
            if deliveries.send(Delivery { time: 0, messages }).is_err() {
                break;
            }
        }
        anyhow::Ok(())
    };
    let started = Instant::now();
    let (outcome, driven) = tokio::join!(runtime.run_orchestrator(component, invocation, session), driver);
    let elapsed = started.elapsed();
    driven?;
    let output: Value = serde_json::from_str(&outcome?.map_err(|f| anyhow::anyhow!("{name} failed: {f}"))?)?;
    if output["steps"] != json!(steps) {
        bail!("{name} returned {output}");
    }
    Ok(elapsed)
}

/// The median of `n` runs.
async fn runtime_median(
    runtime: &Runtime,
    component: &LoadedComponent,
    name: &str,
    steps: usize,
    n: usize,
) -> anyhow::Result<Duration> {
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        runs.push(runtime_run(runtime, component, name, steps).await?);
    }
    runs.sort();
    Ok(runs[n / 2])
}

async fn runtime_figures(chain: usize) -> anyhow::Result<()> {
    println!("\non the runtime alone (fresh instance per run, activities answered in memory; medians):");
    println!("{:<11} {:>20} {:>24}", "language", "instantiate + call", "guest cost per step");
    let runtime = Runtime::new(RuntimeConfig::default())?;
    for (guest, orchestrator) in SUBJECTS {
        let Some(path) = available(&guest) else { continue };
        let language = guest.language();
        let bytes = std::fs::read(path).with_context(|| path.to_string())?;
        let component = runtime.load(bytes, path).await?;
        runtime_run(&runtime, &component, orchestrator, 1).await.context("warm-up")?;
        let zero = runtime_median(&runtime, &component, orchestrator, 0, 51).await?;
        let full = runtime_median(&runtime, &component, orchestrator, chain, 11).await?;
        let per_step = full.saturating_sub(zero) / chain as u32;
        println!("{language:<11} {:>20} {:>24}", ms(zero), format!("{:.1} us", per_step.as_secs_f64() * 1e6));
    }
    Ok(())
}

/// The activities compared: the guest (its language), the activity's name, its input.
const ACTIVITY_SUBJECTS: [(Guest, &str, &str); 4] = [
    (Guest::built("chain", "Rust", guests::CHAIN), "noop", "1"),
    (guests::PY_TRANSFER_FUNDS, "CreditAccount", r#"{"account": "acct-B", "amount": 5}"#),
    (guests::JS_FAN_OUT, "js_shout", r#""durable""#),
    (guests::C_HELLO, "c_word_count", r#""the quick brown fox""#),
];

/// One run of the activity `name` on a fresh instance, on the runtime alone; its wall time.
async fn activity_run(
    runtime: &Runtime,
    component: &LoadedComponent,
    name: &str,
    input: &str,
) -> anyhow::Result<Duration> {
    let invocation = ActivityInvocation {
        name: name.into(),
        input: input.into(),
        instance_id: "bench".into(),
        task_id: 0,
        attempt: 1,
        idempotency_key: "bench-0".into(),
        timeout: None,
        traceparent: None,
    };
    let started = Instant::now();
    let outcome = runtime.run_activity(component, invocation, &ActivityGrants::default()).await.outcome?;
    let elapsed = started.elapsed();
    outcome.map_err(|f| anyhow::anyhow!("{name} failed: {f}"))?;
    Ok(elapsed)
}

async fn activity_figures() -> anyhow::Result<()> {
    println!("\nactivities on the runtime alone (fresh instance per run; median of 51):");
    println!("{:<11} {:>16} {:>9} {:>9} {:>20}", "language", "activity", "size", "load", "instantiate + call");
    let runtime = Runtime::new(RuntimeConfig::default())?;
    for (guest, name, input) in ACTIVITY_SUBJECTS {
        let Some(path) = available(&guest) else { continue };
        let language = guest.language();
        let bytes = std::fs::read(path).with_context(|| path.to_string())?;
        let size = bytes.len();
        let loading = Instant::now();
        let component = runtime.load(bytes, path).await?;
        let load_time = loading.elapsed();
        activity_run(&runtime, &component, name, input).await.context("warm-up")?;
        let mut runs = Vec::with_capacity(51);
        for _ in 0..51 {
            runs.push(activity_run(&runtime, &component, name, input).await?);
        }
        runs.sort();
        let size = if size < 1_000_000 {
            format!("{:.0} KB", size as f64 / 1e3)
        } else {
            format!("{:.1} MB", size as f64 / 1e6)
        };
        println!(
            "{language:<11} {name:>16} {size:>9} {:>9} {:>20}",
            format!("{:.2} s", load_time.as_secs_f64()),
            ms(runs[25])
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let chain = size("REPRISE_BENCH_POLYGLOT_CHAIN", 100)?;
    if std::env::args().any(|arg| arg == "runtime") {
        runtime_figures(chain).await?;
        return activity_figures().await;
    }
    let cold_chain = size("REPRISE_BENCH_POLYGLOT_COLD_CHAIN", 20)?;
    let dir = tempfile::tempdir_in(base_dir())?;
    println!("polyglot bench: hot chain of {chain} steps, cold chain of {cold_chain} steps (medians of 3)");
    println!(
        "{:<11} {:>9} {:>10} {:>14} {:>14} {:>16}",
        "language", "size", "load", "0 steps, cold", "per step, hot", "per step, cold"
    );
    let mut rust_step = None;
    for (guest, orchestrator) in SUBJECTS {
        let Some(component) = available(&guest) else { continue };
        let language = guest.language();
        let bytes = std::fs::metadata(component).with_context(|| component.to_string())?.len();
        let hot = BenchHost::open(&dir.path().join(format!("{language}-hot.db")), 1024, component).await?;
        hot.chain(orchestrator, 3).await.context("warm-up")?;
        let hot_total = median3(|| hot.chain(orchestrator, chain)).await?;
        let load_time = hot.load_time;
        hot.stop().await;

        let cold = BenchHost::open(&dir.path().join(format!("{language}-cold.db")), 0, component).await?;
        cold.chain(orchestrator, 1).await.context("warm-up")?;
        let zero = median3(|| cold.chain(orchestrator, 0)).await?;
        let cold_total = median3(|| cold.chain(orchestrator, cold_chain)).await?;
        cold.stop().await;

        let per_step = hot_total / chain as u32;
        let per_cold_step = cold_total / cold_chain as u32;
        println!(
            "{language:<11} {:>7.1}MB {:>10} {:>14} {:>14} {:>16}",
            bytes as f64 / 1e6,
            format!("{:.2} s", load_time.as_secs_f64()),
            ms(zero),
            ms(per_step),
            ms(per_cold_step)
        );
        match rust_step {
            None => rust_step = Some(per_step),
            Some(rust) => println!(
                "{:<11} per-step overhead against the Rust orchestrator on the hot path: {}",
                "",
                if per_step > rust { ms(per_step - rust) } else { format!("-{}", ms(rust - per_step)) }
            ),
        }
    }
    runtime_figures(chain).await?;
    activity_figures().await
}
