//! The command line: every command, flag and help text.

use crate::input::JsonArg;
use clap::{Args, Parser, Subcommand};
use reprise_core::replay::HistoryLimits;
use reprise_core::schedule::{Overlap, ScheduleName};
use reprise_core::{InstanceId, RuntimeStatus};
use reprise_runtime::RuntimeConfig;
use std::path::PathBuf;

/// Durable orchestrations of WebAssembly components, recorded in SQLite and replayed after any
/// crash or restart.
///
/// Orchestrators, activities and entities are components built for wasm32-wasip2 (in Rust with
/// the reprise-sdk crate, or in Python, JavaScript or C). `reprise run` is the quickest way in:
/// it loads components, starts one instance and runs it to completion. `reprise serve` is the
/// long-running host; the other commands (`start`, `status`, `history`, `list`, `raise`,
/// `terminate`, `entity`...) work on the same database while it runs.
///
/// Every JSON argument (--input, --data) takes the JSON text itself, @FILE to read it from a
/// file, or - to read it from standard input.
#[derive(Debug, Parser)]
#[command(name = "reprise", version, max_term_width = 100)]
#[command(after_help = "Examples:
  reprise run process_order --input '\"order-1001\"' --component order_processing.wasm
  reprise serve --db app.db --component app.wasm
  reprise start process_order --input '\"order-7\"' --db app.db
  reprise start process_order --input @order.json --db app.db
  reprise status 3f1c... --db app.db
  reprise history 3f1c... --db app.db
  reprise entity signal Counter myCounter add --input 5 --db app.db
  reprise entity get Counter myCounter --db app.db
  reprise schedule create nightly --orchestrator cleanup --cron '30 2 * * *' --timezone Europe/Paris")]
pub(crate) struct Cli {
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The database every command works on.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    /// The SQLite database file (created if missing).
    #[arg(long, env = "REPRISE_DB", default_value = "reprise.db")]
    pub(crate) db: PathBuf,
}

/// Settings of a host that runs instances (`run` and `serve`).
#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// A component to load (repeat for several), after the deployment file's. A component may
    /// export orchestrators, activities and entities; the last one loaded serves a name
    /// exported twice. Its activities get only the grants of the flags below.
    #[arg(long = "component", short = 'c', value_name = "PATH")]
    pub(crate) components: Vec<PathBuf>,
    /// The deployment file: the components to load and, per component and activity, what
    /// their activities may reach and their limits (see `reprise config check --help`).
    /// Default: reprise.toml in the current directory, if there is one.
    #[arg(long, value_name = "PATH", env = "REPRISE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Let activities make HTTP requests that match PATTERN, as `METHOD SCHEME://HOST[:PORT][PATH]`
    /// (repeatable): `GET https://api.example.com/v1/*`, `POST http://127.0.0.1:8080/jobs`,
    /// `GET,HEAD https://*.example.com`, `* http://127.0.0.1:*`. Activities reach nothing over
    /// HTTP by default; a request outside every grant fails in the activity, and nothing leaves
    /// the machine. Applies to every component, in addition to the deployment file's grants.
    #[arg(long = "allow-http", value_name = "PATTERN")]
    pub(crate) allow_http: Vec<String>,
    /// Parked instances kept in memory; 0 replays every instance from history at every step.
    #[arg(long, default_value_t = 1024)]
    pub(crate) cache_size: usize,
    /// Activity attempts run at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) activity_concurrency: usize,
    /// Episodes run at once. Most of an episode is spent waiting for its commit, so more
    /// episodes than cores share each commit (and its fsync).
    #[arg(long, default_value_t = 32)]
    pub(crate) orchestration_concurrency: usize,
    /// An environment variable activities may read, as NAME=VALUE (repeatable). Activities see
    /// none by default.
    #[arg(long = "activity-env", value_name = "NAME=VALUE")]
    pub(crate) activity_env: Vec<String>,
    /// A host directory activities may use, as HOST_PATH[:GUEST_PATH][:ro] (repeatable).
    /// Activities see no files by default.
    #[arg(long = "activity-dir", value_name = "DIR")]
    pub(crate) activity_dirs: Vec<String>,
    /// Let activities open TCP and UDP sockets to any address and resolve host names (denied by
    /// default).
    #[arg(long)]
    pub(crate) activity_network: bool,
    /// How long work this host claims (an episode's instance, an activity attempt) stays
    /// reserved to it without renewal: after a crash, other hosts wait this long before taking
    /// the work over. Running activities renew their lease every third of it.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub(crate) lease: std::time::Duration,
    /// Where compiled components are kept, so that a restart does not compile them again
    /// (default: a `reprise-cache` directory next to the database). Files are keyed by the
    /// component's content hash and the wasmtime version and settings; a damaged file is
    /// compiled again.
    #[arg(long, value_name = "DIR", env = "REPRISE_COMPILE_CACHE")]
    pub(crate) compile_cache: Option<PathBuf>,
    /// Compile every component at every start, without reading or writing the cache.
    #[arg(long, conflicts_with = "compile_cache")]
    pub(crate) no_compile_cache: bool,
    /// Skip reading every page of the database at start (SQLite's quick_check, about 2 ms per
    /// MB): a damaged page is then found only when an episode meets it.
    #[arg(long)]
    pub(crate) skip_db_check: bool,
    /// What happens to instances pinned to an older component than the one loaded for their
    /// orchestrator: `pinned` (the default: they end on the code they started on) or
    /// `upgrade-if-compatible` (at its next episode, an instance whose history replays on the
    /// newest component moves to it, recorded in its history; one that does not stays pinned,
    /// with a log line saying why). `NAME=POLICY` sets it for one orchestrator; repeatable, later
    /// settings win.
    #[arg(long = "upgrade-policy", value_name = "[NAME=]POLICY")]
    pub(crate) upgrade_policies: Vec<String>,
    /// Flow control of one activity (repeatable), as NAME=SETTING,... with any of:
    /// `concurrency:N` (at most N attempts at once), `rate:N/PERIOD` (at most N starts per
    /// period: `20/s`, `100/m`, `1000/h`, `5/30s`), `burst:N` (starts that may go at once after a
    /// quiet spell; the rate's N by default) and, last, `key:/POINTER` (a JSON pointer into the
    /// input: the limits apply to each value found there on its own; tasks whose input has none
    /// share one "no key" group). Example: `--limit charge=concurrency:3,rate:20/s,key:/customer_id`.
    /// The limits hold across every process on the database (the claim enforces them); tasks
    /// held back wait in the queue in order, shown as Throttled in `reprise status` and the
    /// metrics. Replaces the deployment file's `[activity.NAME]` for that name.
    #[arg(long = "limit", value_name = "NAME=LIMITS")]
    pub(crate) flow_limits: Vec<String>,
    /// Flow control of one entity name (repeatable), as NAME=SETTING,... with `concurrency:N`
    /// (at most N entities of that name run a batch of operations at once), `rate:N/PERIOD` (at
    /// most N batches start per period) and `burst:N` (batches that may start at once after a
    /// quiet spell), as for `--limit`, without a key (an entity already runs one batch at a
    /// time). Example: `--entity-limit Gpu=concurrency:1`. Held in
    /// this process's scheduler: each host enforces it on its own. Entities held back keep their
    /// operations queued, in order, shown as `throttled` in the HTTP entity listing and in the
    /// metrics. Replaces the deployment file's `[entity.NAME]` for that name.
    #[arg(long = "entity-limit", value_name = "NAME=LIMITS")]
    pub(crate) entity_limits: Vec<String>,
    /// Send OpenTelemetry traces (OTLP over HTTP, JSON) to the collector at URL
    /// (http://127.0.0.1:4318; the path /v1/traces is added): one trace per instance execution,
    /// a span per episode and per activity attempt. Off by default.
    #[arg(long, value_name = "URL", env = "REPRISE_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

/// The limits a host holds guests to (`run` and `serve`). A guest that reaches one fails what
/// it was doing with an error naming the limit; the host goes on serving the others.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub(crate) struct LimitArgs {
    /// The largest payload (input, output, event data, entity state, custom status), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4 * 1024 * 1024)]
    pub(crate) max_payload: usize,
    /// The most events one execution's history may hold; an orchestration that runs for long
    /// continues as new to start a fresh one.
    #[arg(long, value_name = "N", default_value_t = HistoryLimits::default().max_events)]
    pub(crate) max_history_events: u64,
    /// The most bytes one execution's history may hold (payloads included).
    #[arg(long, value_name = "BYTES", default_value_t = HistoryLimits::default().max_bytes)]
    pub(crate) max_history_bytes: u64,
    /// The most commands (activities, timers, sub-orchestrations...) an orchestrator may issue in
    /// one episode, between two waits.
    #[arg(long, value_name = "N", default_value_t = HistoryLimits::default().max_episode_events)]
    pub(crate) max_episode_events: u64,
    /// The most bytes a guest may write to stdout and stderr (the host's log) per episode or
    /// activity attempt; the rest is dropped with a warning.
    #[arg(long, value_name = "BYTES", default_value_t = RuntimeConfig::default().max_guest_output_bytes)]
    pub(crate) max_guest_output: u64,
    /// The largest component file loaded, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = RuntimeConfig::default().max_component_bytes)]
    pub(crate) max_component_bytes: u64,
}

/// Settings of the HTTP API of `serve`.
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP API")]
pub(crate) struct ApiArgs {
    /// Serve the HTTP API on this address (127.0.0.1:7071 if the flag has no value). Off unless
    /// given; bind to a non-loopback address only behind a token (--token) or a proxy.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:7071")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// The bearer token every HTTP request must carry (Authorization: Bearer TOKEN); none by
    /// default.
    #[arg(long, env = "REPRISE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Show failed instances' failure details and causes (stack traces, inner errors) to HTTP
    /// callers; by default they see the error type and message only.
    #[arg(long)]
    pub(crate) expose_failure_details: bool,
    /// The largest HTTP request body accepted, in bytes (larger ones get 413). The default is
    /// --max-payload's default, 4 MiB.
    #[arg(long, value_name = "BYTES", default_value_t = reprise_http::DEFAULT_MAX_BODY_BYTES)]
    pub(crate) max_body: usize,
    /// The longest a start request may wait for its instance to finish
    /// (POST /api/orchestrators/NAME?waitForCompletion=30s); longer asks get 400. Two minutes
    /// by default.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) max_wait: Option<std::time::Duration>,
}

impl Command {
    /// Where the command sends traces, if it runs a host and was told to.
    pub(crate) fn otlp_endpoint(&self) -> Option<&str> {
        match self {
            Command::Run { host, .. } | Command::Serve { host, .. } => host.otlp_endpoint.as_deref(),
            _ => None,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load components, run one orchestration to its end, and print its output.
    ///
    /// Exits 0 when the instance completes (its output JSON on stdout), 1 when it fails or is
    /// terminated (the failure on stderr) and 2 on bad usage (a bad input, an unknown
    /// orchestrator, a database that cannot be opened). The instance is durable: if this process
    /// is interrupted (exit 130), `reprise serve` on the same database finishes it.
    Run {
        /// The orchestrator to run.
        orchestrator: String,
        /// Its input: JSON text (a string must be quoted: '"text"'), @FILE or - (standard input).
        #[arg(long, short, default_value = "null", value_name = "JSON")]
        input: JsonArg,
        /// The instance id (a new UUID by default).
        #[arg(long)]
        id: Option<InstanceId>,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Run the host: execute every instance in the database until stopped (Ctrl-C or SIGTERM).
    ///
    /// With --listen, also serve the Durable Functions-compatible HTTP API (starter, status and
    /// management endpoints; its OpenAPI document at /openapi.json).
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Create an instance (a running `reprise serve` executes it) and print its id.
    ///
    /// With --wait, wait for it to finish as `run` does: its output on stdout and exit 0 when it
    /// completes, its failure on stderr and exit 1 when it fails or is terminated, and its id on
    /// stdout and exit 3 when it is still running once the wait is up (it goes on; `reprise
    /// status ID` follows it). The serve that runs it is another process, so this one looks at the
    /// database every 250 ms.
    #[command(after_help = "Examples:
  reprise start approval --input '{\"amount\": 250}' --db app.db
  reprise start approval --input @order.json --wait 30s --db app.db")]
    Start {
        /// The orchestrator to run; a component exporting it must have been loaded into this
        /// database by `serve` or `run`.
        orchestrator: String,
        /// Its input: JSON text (a string must be quoted: '"text"'), @FILE or - (standard input).
        #[arg(long, short, default_value = "null", value_name = "JSON")]
        input: JsonArg,
        /// The instance id (a new UUID by default). The id of a finished instance stays taken
        /// until it is purged.
        #[arg(long)]
        id: Option<InstanceId>,
        /// Wait up to this long for the instance to finish (30s, 5m, 1h).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        wait: Option<std::time::Duration>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Raise an external event on an instance (buffered until its orchestrator waits for it).
    Raise {
        /// The instance id.
        id: String,
        /// The event's name.
        event: String,
        /// The event's data: JSON text, @FILE or - (standard input).
        #[arg(long, short, default_value = "null", value_name = "JSON")]
        data: JsonArg,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Send an update to a running instance and wait for its orchestrator's answer.
    ///
    /// The orchestrator waits for updates by name and answers each one; its answer is printed
    /// on stdout (exit 0), or its failure on stderr (exit 1). A validator of the instance's
    /// component may refuse the update before anything is recorded (exit 1, with its reason).
    /// When the wait is up first, the update's id is printed (exit 3): the update stays queued,
    /// and sending it again with --id waits for the same one instead of sending another. The
    /// serve that runs the instance is another process, so this one looks at the database every
    /// 250 ms.
    #[command(after_help = "Examples:
  reprise update order-17 approve --input '{\"by\": \"ana\"}' --db app.db
  reprise update order-17 approve --input @approval.json --id approval-17 --wait 2m --db app.db")]
    Update {
        /// The instance id.
        id: String,
        /// The update's name (what the orchestrator waits for).
        name: String,
        /// Its input: JSON text, @FILE or - (standard input).
        #[arg(long, short, default_value = "null", value_name = "JSON")]
        input: JsonArg,
        /// The update's id (a new UUID by default): sending it again finds the first one.
        #[arg(long = "id", value_name = "UPDATE_ID")]
        update_id: Option<String>,
        /// How long to wait for the answer (30s, 5m; 0s to return once it is recorded).
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
        wait: std::time::Duration,
        #[command(flatten)]
        db: DbArgs,
    },
    /// End an instance with status Terminated, whatever it is waiting for (a running
    /// `reprise serve` ends it at its next episode).
    Terminate {
        /// The instance id.
        id: String,
        /// Why (recorded in its history and shown by `status`).
        #[arg(long, default_value = "terminated by an operator")]
        reason: String,
        /// Terminate its running sub-orchestrations too (and theirs).
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Pause an instance: it keeps its messages and makes no progress until `resume`.
    Suspend {
        /// The instance id.
        id: String,
        /// Why (recorded in its history).
        #[arg(long, default_value = "suspended by an operator")]
        reason: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Resume a suspended instance.
    Resume {
        /// The instance id.
        id: String,
        /// Why (recorded in its history).
        #[arg(long, default_value = "resumed by an operator")]
        reason: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Run a Failed instance again from before its failure, after the cause is fixed.
    ///
    /// The activities and sub-orchestrations whose failures made it fail run again, from their
    /// failure (a retried activity gets its whole retry policy again; a failed sub-orchestration
    /// is rewound too, under its own id, or started again if it failed in its own code); what
    /// succeeded is kept and not run again; the timers it was waiting on are set again at their
    /// own fire times; and its history records the rewind (`reprise history` shows it). A
    /// running `reprise serve` picks it up at its next poll. Refused, changing nothing, if the instance
    /// is not Failed or failed in its orchestrator's own code (a rewind would fail it the same
    /// way: fix the code, `reprise upgrade` it, or `reprise restart` it).
    #[command(after_help = "Examples:
  reprise rewind order-17 --reason 'payment service fixed' --db app.db
  reprise history order-17 --db app.db     # shows the rewind and what ran again")]
    Rewind {
        /// The instance id.
        id: String,
        /// Why (recorded in its history).
        #[arg(long, default_value = "rewound by an operator")]
        reason: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Start an instance's orchestrator again with the same input, from the beginning.
    ///
    /// Under its own id (only for a finished instance: Completed, Failed or Terminated), the
    /// instance moves to its next execution and its old history is deleted; with `--new-id` it
    /// runs as a new instance and the old one is left as it is, whatever its status. Prints the
    /// id it runs under. A running `reprise serve` runs it.
    #[command(after_help = "Examples:
  reprise restart order-17 --db app.db
  id=$(reprise restart order-17 --new-id --db app.db)")]
    Restart {
        /// The instance id.
        id: String,
        /// Run it as a new instance, with a new id, leaving this one as it is.
        #[arg(long)]
        new_id: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete finished instances and their histories: one by id, or every one matching filters.
    Purge {
        /// The instance to delete (it must have finished).
        #[arg(conflicts_with_all = ["statuses", "older_than"])]
        id: Option<String>,
        /// Only these statuses (repeatable): Completed, Failed, Terminated. Default: all three.
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<RuntimeStatus>,
        /// Only instances that finished longer ago than this (for example 7d, 12h).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show an instance: status, custom status, input, output or failure.
    Status {
        /// The instance id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show an instance's history: every event its current execution recorded, in order.
    History {
        /// The instance id.
        id: String,
        /// Print JSON instead of a timeline.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List instances, newest first.
    List {
        /// Only these statuses (repeatable, any case): Pending, Running, Completed, Failed,
        /// Terminated, Suspended, ContinuedAsNew.
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<RuntimeStatus>,
        /// Only this orchestrator.
        #[arg(long)]
        name: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check which instances a new component can take over: replay each one's history on it,
    /// writing nothing.
    ///
    /// Prints a line per instance: `compatible` (the component issues every recorded command
    /// again and waits where the recorded run waited), `diverges at position P: recorded
    /// <command>, new <command>` or `fails: <failure>` (a trap, a missing orchestrator, a corrupt
    /// history), then a summary. Exits 0 only if every instance checked is compatible, 1 if one
    /// is not, 2 on bad usage: a deploy gate. Run by a new `reprise` build on an old database,
    /// it also proves that the new host replays what the old one wrote. It reads consistent
    /// snapshots and takes no lock a running `reprise serve` waits on.
    #[command(
        name = "replay-check",
        after_help = "Examples:
  reprise replay-check --component app-v2.wasm --db app.db
  reprise replay-check --component app-v2.wasm --name process_order --include-finished
  reprise replay-check --component app-v2.wasm --json > verdicts.json"
    )]
    ReplayCheck(ReplayCheckArgs),
    /// Move running instances to a new component: each one whose history replays on it is
    /// rebound there, the others stay on the component they are pinned to.
    ///
    /// Each instance is replayed on the new component as `replay-check` does; one that matches
    /// is rebound in one write that records `ComponentUpgraded` in its history (shown by
    /// `reprise history`), and its next episode runs the new code. One that diverges or fails
    /// stays pinned, and is listed with the reason. Instances that have not run yet are pinned
    /// at their first episode, to the newest component. Safe beside a running `reprise serve`:
    /// an instance in the middle of an episode is checked again after it. Exits 0 if every
    /// instance selected is on the new component afterwards, 1 if some stay pinned or were
    /// skipped, 2 on bad usage. To make an incompatible change reach running instances, branch
    /// on `ctx.version("change-id", 1)` in the new code.
    #[command(after_help = "Examples:
  reprise upgrade --component app-v2.wasm --db app.db          # every unfinished instance
  reprise upgrade --component app-v2.wasm --name process_order
  reprise upgrade --to 3f1c9a2b7d4e order-17 order-18          # a component the database knows
  reprise serve --component app-v2.wasm --upgrade-policy upgrade-if-compatible   # at each next episode")]
    Upgrade(UpgradeArgs),
    /// Write one file with everything needed to replay an instance elsewhere: its record, the
    /// history of every execution, the component it is pinned to, the limits replay applies.
    ///
    /// The file (a versioned JSON document, see `reprise replay`) holds no activity grant and no
    /// secret, but it does hold the instance's inputs, outputs and event data. Safe beside a
    /// running `reprise serve`: it reads one snapshot.
    #[command(after_help = "Examples:
  reprise export 3f1c... -o case.reprise --db app.db
  reprise replay case.reprise")]
    Export {
        /// The instance id.
        id: String,
        /// The file to write (default: ID.reprise in the current directory; - for stdout).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replay an instance from a file written by `reprise export`, with no database and no
    /// network: prints its timeline with the orchestrator's log lines where it logged them, and
    /// checks that every command the component issues is the one recorded.
    ///
    /// Exits 0 if the replay matches the history, 1 if it diverges or fails (the position and
    /// both commands are named), 2 if the file cannot be read (cut short, from a newer reprise,
    /// or with a component whose bytes do not match its hash).
    #[command(after_help = "Examples:
  reprise replay case.reprise
  reprise replay case.reprise --component app-v2.wasm   # would the new code take it over?
  reprise replay case.reprise --until 40                # stop before the episode at position 40")]
    Replay(ReplayArgs),
    /// Check a deployment file and print the effective settings of every component's
    /// activities.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Signal entities, read their state, list them.
    ///
    /// An entity is a small durable object addressed by a type name (exported by a component)
    /// and a key; a running `reprise serve` runs its operations one at a time, in order.
    #[command(subcommand)]
    Entity(EntityCommand),
    /// Start orchestrations on a cron expression or an interval: create, list, describe, pause,
    /// resume, trigger, backfill and delete schedules.
    ///
    /// A running `reprise serve` on the database fires them: each slot starts one instance, with
    /// the id NAME@SLOT (the slot in UTC, for example nightly@2026-12-07T02:30:00Z), so a slot
    /// never runs twice, across restarts and across several hosts on one database. A host that
    /// was down at a slot's time fires it when it comes back, if that is within the schedule's
    /// catch-up window; older slots are counted as missed.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// List the components loaded into the database and what they export.
    Components {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// What `replay-check` checks.
#[derive(Debug, Args)]
pub(crate) struct ReplayCheckArgs {
    /// The new component (a .wasm file); it is loaded for the check only, not recorded.
    #[arg(long = "component", short = 'c', value_name = "PATH")]
    pub(crate) component: PathBuf,
    /// Only these instances (default: every one the filters match).
    pub(crate) ids: Vec<String>,
    /// Only instances of this orchestrator.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Only these statuses (repeatable). Default: the unfinished ones (Pending, Running,
    /// Suspended, ContinuedAsNew).
    #[arg(long = "status", value_name = "STATUS")]
    pub(crate) statuses: Vec<RuntimeStatus>,
    /// Also finished instances (Completed, Failed, Terminated): a replay of each proves the
    /// component and this build reproduce it.
    #[arg(long)]
    pub(crate) include_finished: bool,
    /// Replays run at once (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) db: DbArgs,
}

/// What `upgrade` upgrades.
#[derive(Debug, Args)]
pub(crate) struct UpgradeArgs {
    /// The component to move instances to: a hash (or a prefix of one) of a component the
    /// database knows (see `reprise components`).
    #[arg(long, value_name = "HASH", required_unless_present = "component", conflicts_with = "component")]
    pub(crate) to: Option<String>,
    /// The component to move instances to, as a .wasm file; it is saved in the database.
    #[arg(long = "component", short = 'c', value_name = "PATH")]
    pub(crate) component: Option<PathBuf>,
    /// Only these instances (default: every one the filters match).
    pub(crate) ids: Vec<String>,
    /// Only instances of this orchestrator.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Only these statuses (repeatable; unfinished ones only). Default: Pending, Running,
    /// Suspended, ContinuedAsNew.
    #[arg(long = "status", value_name = "STATUS")]
    pub(crate) statuses: Vec<RuntimeStatus>,
    /// Replays run at once (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) concurrency: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) db: DbArgs,
}

/// What `replay` replays.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The bundle, as `reprise export` wrote it.
    pub(crate) bundle: PathBuf,
    /// Replay on this component instead of the one in the bundle.
    #[arg(long = "component", short = 'c', value_name = "PATH")]
    pub(crate) component: Option<PathBuf>,
    /// Stop the current execution's replay before the first episode that starts at or after
    /// this history position.
    #[arg(long, value_name = "POSITION")]
    pub(crate) until: Option<u64>,
}

/// The `config` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a deployment file: its syntax (an unknown key, a value of the wrong type), its
    /// grants and values, its secrets (each must be readable now), its components (each is
    /// loaded, and every activity the file names must be exported). Prints the effective
    /// settings of each component's activities, flags not included; secrets are shown by where
    /// they come from, never by value. Exits 0 if the file is valid, 2 otherwise.
    #[command(after_help = "The file (reprise.toml):

  [serve]
  listen = \"127.0.0.1:7071\"               # the HTTP API, when --listen is not given

  [[component]]
  path = \"job_service.wasm\"               # relative to this file

  [component.activities]                  # every activity of this component
  timeout = \"30s\"                         # attempts of calls that set no timeout
  retry = { max-attempts = 3, first-interval = \"1s\", backoff = 2.0, never-retry = [\"JobRejected\"] }
  memory = \"64 MiB\"                       # per attempt
  cpu = \"2s\"                              # CPU time per attempt
  env = { MODE = \"live\", API_KEY = { env = \"API_KEY\" } }   # a secret, read at start
  dirs = [{ host = \"data\", guest = \"/data\", read-only = true }]
  network = false                         # raw sockets

  [component.activities.http]
  allow = [\"POST http://127.0.0.1:8080/jobs\", \"GET https://api.example.com/v1/*\"]
  headers = [{ grant = \"GET https://api.example.com/v1/*\", name = \"Authorization\",
               value = { file = \"/run/secrets/api\", prefix = \"Bearer \" } }]
  trust = [\"certs/internal-ca.pem\"]       # CAs trusted besides the web's roots
  max-requests = 20                       # per attempt
  max-body = \"100 MiB\"                    # sent and received, per attempt
  connect-timeout = \"5s\"
  first-byte-timeout = \"30s\"
  between-bytes-timeout = \"30s\"

  [component.activity.submit_job]         # one activity: each key replaces the component's
  http = { allow = [\"POST http://127.0.0.1:8080/jobs\"] }

  [orchestrator.run_job]
  upgrade-policy = \"upgrade-if-compatible\"

  [activity.submit_job]                   # one activity name, whichever component exports it
  concurrency = 3                         # at most 3 attempts at once, across every host
  rate = \"20/s\"                           # at most 20 starts per second (also /m, /h, /30s)
  burst = 20                              # starts at once after a quiet spell (default: the rate's count)
  key = \"/customer_id\"                    # per value at this JSON pointer of the input

  [entity.Gpu]                            # one entity name: the same keys, without key
  concurrency = 1                         # one Gpu entity runs a batch at a time, in this host

  [schedule.nightly-report]               # created at start, or updated keeping its progress
  orchestrator = \"report\"
  input = '{\"scope\": \"daily\"}'          # JSON text
  cron = \"0 30 2 * * *\"                   # or every = \"30s\"
  timezone = \"Europe/Paris\"
  overlap = \"skip\"                        # buffer-one, allow, terminate-previous
  catch-up = \"1h\"
  paused = false                          # for a new schedule only

Examples:
  reprise config check
  reprise config check --config deploy/prod.toml")]
    Check {
        /// The file (default: reprise.toml in the current directory).
        #[arg(long, value_name = "PATH", env = "REPRISE_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// The `schedule` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// Create a schedule (exactly one of --cron and --every).
    ///
    /// Cron expressions have 6 fields (sec min hour day-of-month month day-of-week) or 5 (no
    /// seconds), read on the wall clock of --timezone. Across daylight-saving changes, a time
    /// the clocks skip fires once at the end of the gap (02:30 fires at 03:00), and a time they
    /// pass twice fires once, at its first pass. --every fires at the multiples of the interval
    /// since the Unix epoch (30s: at :00 and :30 of every minute).
    #[command(after_help = "Overlap policies (when a slot comes while the previous run is unfinished):
  skip                the slot is skipped and counted as skipped (the default)
  buffer-one          the slot waits and starts when the running one ends; while one waits,
                      later slots are skipped
  allow               the slot starts anyway
  terminate-previous  the running one is terminated, and the slot starts

Examples:
  reprise schedule create report-5m --orchestrator report --cron '0 */5 * * * *'
  reprise schedule create nightly --orchestrator cleanup --cron '30 2 * * *' --timezone Europe/Paris
  reprise schedule create poll --orchestrator poll_feed --every 30s --overlap buffer-one --catch-up 1h")]
    Create(ScheduleCreateArgs),
    /// List schedules with their next fire time and counts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show a schedule: its definition, its next 5 fire times (in its time zone and in UTC), its
    /// latest runs with their instances' status, and its counts of fired, skipped and missed
    /// slots.
    Describe {
        /// The schedule's name.
        name: ScheduleName,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Pause a schedule: it fires nothing until resumed.
    Pause {
        /// The schedule's name.
        name: ScheduleName,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Resume a paused schedule from now. The slots that came while it was paused are not
    /// fired, not even within the catch-up window (`backfill` runs them if they are wanted).
    Resume {
        /// The schedule's name.
        name: ScheduleName,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Start a run now (instance NAME@manual-N), whatever the overlap policy and even while the
    /// schedule is paused; prints its id.
    Trigger {
        /// The schedule's name.
        name: ScheduleName,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Start a run for every slot in [--from, --to) that has none, all at once and whatever the
    /// overlap policy; a slot that ran already is not run again. Prints the ids it started.
    #[command(after_help = "Examples:
  reprise schedule backfill nightly --from 2026-12-01T00:00:00Z --to 2026-12-07T00:00:00Z")]
    Backfill {
        /// The schedule's name.
        name: ScheduleName,
        /// The first time of the range (RFC 3339: 2026-12-01T00:00:00Z or 2026-12-01T01:00:00+01:00).
        #[arg(long, value_parser = parse_time)]
        from: reprise_core::Timestamp,
        /// The end of the range, excluded; not later than now.
        #[arg(long, value_parser = parse_time)]
        to: reprise_core::Timestamp,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a schedule and its recorded runs; the instances it started stay.
    Delete {
        /// The schedule's name.
        name: ScheduleName,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// What `schedule create` creates.
#[derive(Debug, Args)]
pub(crate) struct ScheduleCreateArgs {
    /// The schedule's name: letters, digits, '-', '_' and '.' (each run's id starts with it).
    pub(crate) name: ScheduleName,
    /// The orchestrator each run starts (exported by a component loaded into this database).
    #[arg(long)]
    pub(crate) orchestrator: String,
    /// The input of each run: JSON text (a string must be quoted: '"text"'), @FILE or - (standard
    /// input).
    #[arg(long, short, default_value = "null", value_name = "JSON")]
    pub(crate) input: JsonArg,
    /// A cron expression: "0 */5 * * * *" (with seconds) or "*/5 * * * *".
    #[arg(long, value_name = "EXPR", required_unless_present = "every", conflicts_with = "every")]
    pub(crate) cron: Option<String>,
    /// A fixed interval instead of a cron expression (30s, 5m, 1h; at least 1s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) every: Option<std::time::Duration>,
    /// The IANA time zone the cron expression is read in (Europe/Paris, America/New_York).
    #[arg(long, value_name = "ZONE", default_value = "UTC", conflicts_with = "every")]
    pub(crate) timezone: String,
    /// What a slot does while the previous run is unfinished: skip, buffer-one, allow or
    /// terminate-previous (see below).
    #[arg(long, value_name = "POLICY", default_value = "skip")]
    pub(crate) overlap: Overlap,
    /// How late a slot may still be fired (a host that was down at its time); older slots are
    /// counted as missed.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    pub(crate) catch_up: std::time::Duration,
    /// No slot before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) start_at: Option<reprise_core::Timestamp>,
    /// No slot at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) end_at: Option<reprise_core::Timestamp>,
    /// Create it paused (`reprise schedule resume` starts it).
    #[arg(long)]
    pub(crate) paused: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) db: DbArgs,
}

/// An RFC 3339 time (with `Z` or an offset) as milliseconds since the Unix epoch.
pub(crate) fn parse_time(text: &str) -> Result<reprise_core::Timestamp, String> {
    reprise_core::schedule::parse_time(text).map_err(|e| e.to_string())
}

/// The `entity` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum EntityCommand {
    /// Send an operation to an entity, one way; a running `reprise serve` runs it after the
    /// operations already queued for the entity. The entity is created by its first operation.
    #[command(after_help = "Examples:
  reprise entity signal Counter myCounter add --input 5
  reprise entity signal Counter myCounter delete")]
    Signal {
        /// The entity type (as a loaded component exports it).
        name: String,
        /// The entity's key.
        key: String,
        /// The operation.
        operation: String,
        /// Its input: JSON text (a string must be quoted: '"text"'), @FILE or - (standard input).
        #[arg(long, short, default_value = "null", value_name = "JSON")]
        input: JsonArg,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print an entity's state (JSON on stdout); exits 1 if the entity does not exist.
    Get {
        /// The entity type.
        name: String,
        /// The entity's key.
        key: String,
        /// Print the whole record (state, operations run, operations queued, times) as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List entities, by type then key.
    List {
        /// Only this entity type.
        #[arg(long)]
        name: Option<String>,
        /// Only keys that start with this.
        #[arg(long)]
        key_prefix: Option<String>,
        /// Also entities without state (deleted, or with operations queued but not run yet).
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}
