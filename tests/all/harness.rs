//! A host on a fresh SQLite file in a temporary directory, with a manual clock, for tests.

use reprise_core::replay::HistoryLimits;
use reprise_core::{Event, HistoryEvent, InstanceId, RuntimeStatus};
use reprise_executor::{Clock, ComponentSummary, ExecutorConfig, Host, ManualClock, StartRequest, Workers};
use reprise_runtime::{ActivityGrants, Runtime, RuntimeConfig};
use reprise_store::{FlowLimits, InstanceRecord, NO_LIMITS, SqliteStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// The time every test host starts at.
pub const T0: u64 = 1_700_000_000_000;

/// The cache sizes of the two paths: a cache (hot path) and none (cold path at every episode).
pub const BOTH_PATHS: [usize; 2] = [1024, 0];

/// How a test host is set up.
#[derive(Clone)]
pub struct Options {
    pub cache: usize,
    pub runtime: RuntimeConfig,
    pub activity_concurrency: usize,
    /// What activities may reach.
    pub grants: ActivityGrants,
    /// The host's payload limit, in bytes.
    pub max_payload_bytes: usize,
    /// How large a history may grow.
    pub history_limits: HistoryLimits,
    /// Which orchestrators the host moves to the newest component it loaded.
    pub upgrades: reprise_executor::UpgradePolicies,
    /// How often the host looks for work other processes made (its own commits wake it).
    pub poll_interval: Duration,
    /// The flow limits of activities.
    pub flow: FlowLimits,
    /// The flow limits of entities, by entity name.
    pub entity_flow: FlowLimits,
    /// The name its leases are taken under: hosts that share a database need names of their own.
    pub owner: String,
}

impl Options {
    pub fn cache(cache: usize) -> Self {
        Options {
            cache,
            runtime: test_runtime(),
            activity_concurrency: 8,
            grants: ActivityGrants::default(),
            max_payload_bytes: ExecutorConfig::default().max_payload_bytes,
            history_limits: HistoryLimits::default(),
            upgrades: reprise_executor::UpgradePolicies::default(),
            poll_interval: Duration::from_millis(20),
            flow: FlowLimits::default(),
            entity_flow: FlowLimits::default(),
            owner: format!("test-{}", std::process::id()),
        }
    }
}

/// The runtime settings of test hosts: the defaults, with one compiled-component cache shared by
/// every test (the Python and JavaScript components take seconds to compile; the cache makes
/// that once per build of the test suite rather than once per host).
pub fn test_runtime() -> RuntimeConfig {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache");
    RuntimeConfig { compile_cache: Some(cache), ..RuntimeConfig::default() }
}

/// A running host and its database.
pub struct Harness {
    pub host: Host,
    /// The host's clock: tests move time by hand.
    pub clock: ManualClock,
    /// What each component given at creation exports, in order.
    pub loaded: Vec<ComponentSummary>,
    workers: Option<Workers>,
    _dir: Option<TempDir>,
}

impl Harness {
    /// A host with a cache of `cache` instances and `components` loaded, on a new database.
    pub async fn new(cache: usize, components: &[&str]) -> Self {
        Self::with(Options::cache(cache), components).await
    }

    /// A host with `options` and `components` loaded, on a new database.
    pub async fn with(options: Options, components: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("reprise.db");
        let mut harness = Self::on(&db, options, components).await;
        harness._dir = Some(dir);
        harness
    }

    /// A host with `options` on an existing (or new) database file. Its workers start once
    /// `components` are loaded, as `reprise serve` does.
    pub async fn on(db: &Path, options: Options, components: &[&str]) -> Self {
        let store = Arc::new(SqliteStore::open(db).expect("open the database"));
        let runtime = Arc::new(Runtime::new(options.runtime).expect("create the runtime"));
        let clock = ManualClock::new(T0);
        let config = ExecutorConfig {
            cache_capacity: options.cache,
            activity_concurrency: options.activity_concurrency,
            grants: options.grants,
            max_payload_bytes: options.max_payload_bytes,
            history_limits: options.history_limits,
            upgrades: options.upgrades,
            poll_interval: options.poll_interval,
            flow: Arc::new(options.flow),
            entity_flow: Arc::new(options.entity_flow),
            owner: options.owner,
            ..ExecutorConfig::default()
        };
        let host = Host::new(store, runtime, Arc::new(clock.clone()), config);
        let mut loaded = Vec::new();
        for component in components {
            loaded.push(host.load_component_file(Path::new(component)).await.expect("load the component"));
        }
        let workers = Some(host.spawn_workers());
        Harness { host, clock, loaded, workers, _dir: None }
    }

    /// Starts an instance with a chosen id.
    pub async fn start(&self, id: &str, orchestrator: &str, input: Value) -> String {
        let instance_id = Some(InstanceId::new(id).expect("a valid instance id"));
        let request = StartRequest { orchestrator: orchestrator.into(), input: input.to_string(), instance_id };
        self.host.start(request).await.expect("start the instance").into_string()
    }

    /// Waits (at most a minute) for an instance to finish.
    pub async fn finished(&self, id: &str) -> InstanceRecord {
        tokio::time::timeout(Duration::from_secs(60), self.host.wait(id))
            .await
            .unwrap_or_else(|_| panic!("instance {id} did not finish within a minute"))
            .expect("wait for the instance")
    }

    /// Starts an instance and waits for it to finish.
    pub async fn run(&self, id: &str, orchestrator: &str, input: Value) -> InstanceRecord {
        self.start(id, orchestrator, input).await;
        self.finished(id).await
    }

    /// The instance's history.
    pub async fn history(&self, id: &str) -> Vec<HistoryEvent> {
        let record = self.host.instance(id).await.expect("instance");
        self.host.store().history(id, record.execution).expect("history")
    }

    /// Polls until `check` holds for the instance's history (at most a minute).
    pub async fn until_history(&self, id: &str, check: impl Fn(&[HistoryEvent]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let committed = self.host.next_commit();
            // The instance may not exist yet (a child its parent has not started).
            let history = match self.host.instance(id).await {
                Ok(record) => self.host.store().history(id, record.execution).expect("history"),
                Err(_) => Vec::new(),
            };
            if check(&history) {
                break;
            }
            let in_time = tokio::time::timeout_at(deadline, committed).await;
            assert!(in_time.is_ok(), "instance {id} never reached the expected history");
        }
    }

    /// Waits for an instance to finish while moving the clock to each durable deadline it waits
    /// on (a retry's next attempt, a timer) as soon as it is recorded, so that time passes only
    /// when the instance waits, and exactly as much as it waits. Returns the finished record.
    pub async fn finished_moving_time(&self, id: &str) -> InstanceRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let committed = self.host.next_commit();
            let record = self.host.instance(id).await.expect("instance");
            if record.status.is_terminal() {
                return record;
            }
            let history = self.history(id).await;
            let now = self.clock.now();
            let fired: std::collections::HashSet<u64> = history
                .iter()
                .filter_map(|e| match e.event {
                    Event::TimerFired { task_id } => Some(task_id),
                    _ => None,
                })
                .collect();
            let next = history
                .iter()
                .filter_map(|e| match &e.event {
                    Event::ActivityRetrying { next_attempt_at, .. } => Some(*next_attempt_at),
                    Event::TimerScheduled { task_id, fire_at } if !fired.contains(task_id) => Some(*fire_at),
                    _ => None,
                })
                .filter(|at| *at > now)
                .min();
            if let Some(at) = next {
                // The workers sleep on the clock: moving it wakes them at once.
                self.clock.set(at);
            }
            let in_time = tokio::time::timeout_at(deadline, committed).await;
            assert!(in_time.is_ok(), "instance {id} did not finish within a minute");
        }
    }

    /// Waits (at most a minute) until the host has nothing left to do now (see
    /// [`Host::settled`]): what an absence check waits for instead of sleeping.
    pub async fn settled(&self) {
        tokio::time::timeout(Duration::from_secs(60), self.host.settled())
            .await
            .expect("the host settled within a minute");
    }

    /// Stops the workers.
    pub async fn stop(mut self) {
        if let Some(workers) = self.workers.take() {
            workers.shutdown().await;
        }
    }

    /// Asserts that nothing is left to do in the database: no message waits and no activity
    /// task is queued. Messages still on their way are waited for (at most a minute): a signal
    /// or a lock release that an instance sent as it finished is delivered after it finished.
    pub async fn assert_quiescent(&self) {
        let store = self.host.store();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let committed = self.host.next_commit();
            let ready = store.ready_instances("checker", u64::MAX, 100).expect("ready instances");
            if ready.is_empty() {
                break;
            }
            let in_time = tokio::time::timeout_at(deadline, committed).await;
            assert!(in_time.is_ok(), "instances still have messages: {ready:?}");
        }
        let tasks = store.claim_activities("checker", u64::MAX - 1, u64::MAX, 100, &NO_LIMITS).expect("claim").tasks;
        assert!(tasks.is_empty(), "activity tasks are still queued: {tasks:?}");
    }
}

/// A child process that is killed when the test ends, however it ends.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The names of the activities a history scheduled, in order.
pub fn scheduled(history: &[HistoryEvent]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActivityScheduled { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The base URL that `reprise serve --listen` prints on stderr ("listening on URL") once it has
/// bound its address; the rest of stderr is drained on a thread, so that the child never blocks
/// on a full pipe. Blocks until the line comes.
pub fn listening_address(stderr: std::process::ChildStderr) -> String {
    use std::io::{BufRead as _, BufReader};
    let mut lines = BufReader::new(stderr).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("listening on ").map(str::to_string))
        .expect("reprise serve printed its address");
    std::thread::spawn(move || lines.for_each(drop));
    base
}

/// The output of a completed instance, parsed.
pub fn output(record: &InstanceRecord) -> Value {
    assert_eq!(record.status, RuntimeStatus::Completed, "instance failed: {:?}", record.failure);
    serde_json::from_str(record.output.as_deref().expect("output")).expect("output is JSON")
}

/// The event kinds of a history, in order.
pub fn kinds(history: &[HistoryEvent]) -> Vec<&'static str> {
    history.iter().map(|e| e.event.kind()).collect()
}

/// How closely two runs' histories must agree.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Event for event (sequential orchestrations: one task in flight at a time).
    Exact,
    /// The same commands in the same order, the same results per task and the same end; episode
    /// boundaries may differ, since parallel activities finish in whatever order the machine
    /// gives them.
    Commands,
}

/// The commands, the results by task, and the end of a history.
pub fn normalized(history: &[HistoryEvent]) -> (Vec<Event>, BTreeMap<u64, Event>, Option<Event>) {
    let mut commands = Vec::new();
    let mut results = BTreeMap::new();
    let mut end = None;
    for e in history {
        match &e.event {
            Event::ActivityScheduled { .. } => commands.push(e.event.clone()),
            Event::ActivityCompleted { task_id, .. } | Event::ActivityFailed { task_id, .. } => {
                results.insert(*task_id, e.event.clone());
            }
            Event::ExecutionCompleted { .. } | Event::ExecutionFailed { .. } => end = Some(e.event.clone()),
            _ => {}
        }
    }
    (commands, results, end)
}

/// Runs one instance on the hot path and again (same id, new database) on the cold path, asserts
/// that both record the same history (as `compare` says) and end the same way, and returns the
/// hot run's record and history.
pub async fn on_both_paths(
    components: &[&str],
    id: &str,
    orchestrator: &str,
    input: Value,
    compare: Compare,
) -> (InstanceRecord, Vec<HistoryEvent>) {
    let mut runs = Vec::new();
    for cache in BOTH_PATHS {
        let harness = Harness::new(cache, components).await;
        let record = harness.run(id, orchestrator, input.clone()).await;
        let history = harness.history(id).await;
        harness.assert_quiescent().await;
        if cache == 0 {
            assert_eq!(harness.host.cached_instances(), 0, "cache size 0 must not park instances");
        }
        harness.stop().await;
        runs.push((record, history));
    }
    let (cold, hot) = (runs.pop().expect("cold run"), runs.pop().expect("hot run"));
    match compare {
        Compare::Exact => assert_eq!(hot.1, cold.1, "the hot and cold paths recorded different histories"),
        Compare::Commands => assert_eq!(normalized(&hot.1), normalized(&cold.1), "the hot and cold paths disagree"),
    }
    assert_eq!(hot.0.status, cold.0.status);
    assert_eq!(hot.0.output, cold.0.output);
    assert_eq!(hot.0.failure, cold.0.failure);
    assert_eq!(hot.0.custom_status, cold.0.custom_status);
    hot
}

/// The text of each number in `text`, in order (the JSON is compact: numbers are the runs of
/// number characters).
pub fn number_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            in_string = c != '"' || escaped;
            escaped = c == '\\' && !escaped;
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c.is_ascii_digit() || "+-.eE".contains(c) {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    tokens
}
