//! The benchmark's command line: which workloads to run, and how.

use anyhow::{Context as _, bail};
use reprise_store::Synchronous;

/// One workload and its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// One orchestration calling `steps` no-op activities in sequence, on the hot path (`cold`
    /// false) or with the instance cache off (every episode replays the whole history).
    Chain { steps: usize, cold: bool },
    /// One orchestration fanning out `tasks` no-op activities and fanning in.
    FanOut { tasks: usize },
    /// `instances` orchestrations started at once, each a chain of `steps`.
    Concurrent { instances: usize, steps: usize },
    /// Cold replay (no cache) of an instance whose history holds about `events` events.
    Replay { events: usize },
    /// Instantiating the component and calling one orchestrator export, many times.
    Instantiate,
    /// `instances` instances parked (waiting for an event) in the hot path's cache.
    Park { instances: usize },
    /// `operations` signals to one entity from concurrent clients, then calls from one
    /// orchestration in sequence.
    Entities { operations: usize },
    /// One orchestration fanning out `tasks` no-op activities under a rate limit of `rate` starts
    /// per second (a burst of 1): the rate the claims achieve.
    Flow { tasks: usize, rate: usize },
}

/// As it is written on the command line (`chain 1000`, `concurrent 1000 3`).
impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Workload::Chain { steps, cold: false } => write!(f, "chain {steps}"),
            Workload::Chain { steps, cold: true } => write!(f, "coldchain {steps}"),
            Workload::FanOut { tasks } => write!(f, "fanout {tasks}"),
            Workload::Concurrent { instances, steps } => write!(f, "concurrent {instances} {steps}"),
            Workload::Replay { events } => write!(f, "replay {events}"),
            Workload::Instantiate => write!(f, "instantiate"),
            Workload::Park { instances } => write!(f, "park {instances}"),
            Workload::Entities { operations } => write!(f, "entities {operations}"),
            Workload::Flow { tasks, rate } => write!(f, "flow {tasks} {rate}"),
        }
    }
}

/// The parsed command line.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) workloads: Vec<Workload>,
    pub(crate) json: bool,
    pub(crate) synchronous: Synchronous,
    /// A saved output of an earlier `--json` run to compare with.
    pub(crate) compare: Option<std::path::PathBuf>,
    /// Count instructions per step under callgrind rather than time the workloads.
    pub(crate) instructions: bool,
    /// How the host is built (set by `--instructions` for its children).
    pub(crate) setup: crate::workloads::Setup,
}

/// What runs when no workload is named: every target of the performance issue.
pub(crate) const DEFAULT: &str = "chain 1000 coldchain 1000 fanout 100 fanout 1000 fanout 10000 concurrent 1000 3 replay 51200 \
                                  instantiate park 10000";

/// What `--instructions` measures when no workload is named: the performance issue's figures.
pub(crate) const INSTRUCTIONS_DEFAULT: &str = "chain 200 concurrent 200 3";

pub(crate) const USAGE: &str = "usage: cargo bench -p reprise-tests --bench engine -- [--json] \
    [--synchronous full|normal] [--compare FILE] [--instructions] [WORKLOAD...]\n\
    --compare FILE: this run's figures beside those of FILE, a saved output of a run with --json\n\
    --instructions: instructions per step under valgrind --tool=callgrind (chain, coldchain, fanout, concurrent)\n\
    workloads: chain N | coldchain N | fanout N | concurrent M K | replay E | instantiate | park N | entities N \
    | flow N R\n\
    (default: chain 1000 coldchain 1000 fanout 100 fanout 1000 fanout 10000 concurrent 1000 3 replay 51200 instantiate park 10000)";

impl Args {
    /// Parses the arguments after the program name. `--bench`, which cargo passes to every
    /// bench binary, is ignored.
    pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Args> {
        let mut words = Vec::new();
        let mut json = false;
        let mut synchronous = Synchronous::Full;
        let mut compare = None;
        let mut instructions = false;
        let mut setup = crate::workloads::Setup::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => {}
                "--json" => json = true,
                "--synchronous" => {
                    synchronous = match args.next().as_deref() {
                        Some("full") => Synchronous::Full,
                        Some("normal") => Synchronous::Normal,
                        other => bail!("--synchronous takes full or normal, not {other:?}\n{USAGE}"),
                    }
                }
                "--compare" => match args.next() {
                    Some(file) => compare = Some(file.into()),
                    None => bail!("--compare needs a file: the saved output of a run with --json\n{USAGE}"),
                },
                "--instructions" => instructions = true,
                // The children of `--instructions`: not for people.
                "--callgrind-child" => setup.callgrind = true,
                "--compile-cache" => match args.next() {
                    Some(dir) => setup.compile_cache = Some(dir.into()),
                    None => bail!("--compile-cache needs a directory\n{USAGE}"),
                },
                "-h" | "--help" => bail!("{USAGE}"),
                flag if flag.starts_with('-') => bail!("unknown flag {flag}\n{USAGE}"),
                _ => words.push(arg),
            }
        }
        if words.is_empty() {
            let default = if instructions { INSTRUCTIONS_DEFAULT } else { DEFAULT };
            words = default.split_whitespace().map(str::to_string).collect();
        }
        let mut workloads = Vec::new();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            let mut size = |what: &str| -> anyhow::Result<usize> {
                let text = words.next().with_context(|| format!("{word} needs {what}\n{USAGE}"))?;
                match text.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => bail!("{word}: {what} must be a positive integer, not {text:?}\n{USAGE}"),
                }
            };
            workloads.push(match word.as_str() {
                "chain" => Workload::Chain { steps: size("a number of steps")?, cold: false },
                "coldchain" => Workload::Chain { steps: size("a number of steps")?, cold: true },
                "fanout" => Workload::FanOut { tasks: size("a number of activities")? },
                "concurrent" => Workload::Concurrent {
                    instances: size("a number of instances")?,
                    steps: size("a number of steps")?,
                },
                "replay" => Workload::Replay { events: size("a number of events")? },
                "instantiate" => Workload::Instantiate,
                "park" => Workload::Park { instances: size("a number of instances")? },
                "entities" => Workload::Entities { operations: size("a number of operations")? },
                "flow" => Workload::Flow {
                    tasks: size("a number of activities")?,
                    rate: size("a rate in starts per second")?,
                },
                other => bail!("unknown workload {other:?}\n{USAGE}"),
            });
        }
        Ok(Args { workloads, json, synchronous, compare, instructions, setup })
    }
}
