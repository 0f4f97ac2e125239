//! The deployment file's format, as TOML deserializes it: every table refuses unknown keys, and
//! the values that later checks may refuse keep their position, so every error names its line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A whole `reprise.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    /// Settings of `reprise serve`.
    #[serde(default)]
    pub(super) serve: Serve,
    /// The components to load, in order.
    #[serde(default, rename = "component")]
    pub(super) components: Vec<Component>,
    /// Settings per orchestrator name.
    #[serde(default, rename = "orchestrator")]
    pub(super) orchestrators: BTreeMap<String, Orchestrator>,
    /// Settings per activity name, across the host whichever component exports it: its flow
    /// limits.
    #[serde(default, rename = "activity")]
    pub(super) activities: BTreeMap<Spanned<String>, Flow>,
    /// Settings per entity name: its flow limits (the same keys, without `key`).
    #[serde(default, rename = "entity")]
    pub(super) entities: BTreeMap<Spanned<String>, Flow>,
    /// Schedules by name.
    #[serde(default, rename = "schedule")]
    pub(super) schedules: BTreeMap<Spanned<String>, Schedule>,
}

/// `[activity.NAME]`: the activity's flow limits, enforced when tasks are claimed (so across
/// every host on the database); `[entity.NAME]`: the entity name's, enforced by each host's
/// scheduler.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Flow {
    /// At most this many attempts at once.
    pub(super) concurrency: Option<Spanned<u32>>,
    /// At most this many starts per period: "20/s", "100/m", "5/30s".
    pub(super) rate: Option<Spanned<String>>,
    /// How many starts may go at once after a quiet spell (the rate's count by default).
    pub(super) burst: Option<Spanned<u32>>,
    /// A JSON pointer into the input: the limits apply per value found there.
    pub(super) key: Option<Spanned<String>>,
}

/// `[schedule.NAME]`: the keys of `reprise schedule create`'s flags.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Schedule {
    /// The orchestrator each run starts.
    pub(super) orchestrator: String,
    /// The input of each run, as JSON text.
    pub(super) input: Option<Spanned<String>>,
    /// A cron expression.
    pub(super) cron: Option<String>,
    /// An interval instead ("30s").
    pub(super) every: Option<String>,
    /// The cron expression's IANA time zone.
    pub(super) timezone: Option<String>,
    /// `skip`, `buffer-one`, `allow` or `terminate-previous`.
    pub(super) overlap: Option<String>,
    /// How late a slot may still be fired ("1h").
    pub(super) catch_up: Option<String>,
    /// No slot before this RFC 3339 time.
    pub(super) start_at: Option<String>,
    /// No slot at or after this RFC 3339 time.
    pub(super) end_at: Option<String>,
    /// Whether a new schedule is created paused.
    #[serde(default)]
    pub(super) paused: bool,
}

/// `[serve]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Serve {
    /// The HTTP API's address, when `--listen` is not given.
    pub(super) listen: Option<Spanned<String>>,
}

/// `[orchestrator.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Orchestrator {
    /// `pinned` or `upgrade-if-compatible`.
    pub(super) upgrade_policy: Spanned<String>,
}

/// `[[component]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Component {
    /// The component file, relative to the deployment file's directory.
    pub(super) path: Spanned<String>,
    /// `[component.activities]`: the settings of every activity it exports.
    #[serde(default)]
    pub(super) activities: Settings,
    /// `[component.activity.NAME]`: one activity's, replacing each key it sets.
    #[serde(default)]
    pub(super) activity: BTreeMap<Spanned<String>, Settings>,
}

/// The settings of activities: every key optional, so that an activity's table replaces only
/// what it sets.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Settings {
    /// Environment variables the activities see.
    pub(super) env: Option<BTreeMap<String, Spanned<Value>>>,
    /// Host directories they may use.
    pub(super) dirs: Option<Vec<Dir>>,
    /// Raw TCP and UDP sockets, and name resolution.
    pub(super) network: Option<bool>,
    /// Outgoing HTTP.
    pub(super) http: Option<Http>,
    /// The memory one attempt may grow to ("64 MiB").
    pub(super) memory: Option<Spanned<String>>,
    /// The CPU time one attempt may use ("2s").
    pub(super) cpu: Option<Spanned<String>>,
    /// The timeout of an attempt whose call sets none ("30s").
    pub(super) timeout: Option<Spanned<String>>,
    /// The retry policy of a call that sets none.
    pub(super) retry: Option<Spanned<Retry>>,
}

/// One entry of `dirs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Dir {
    /// The host directory, relative to the deployment file's directory.
    pub(super) host: String,
    /// Where the activity sees it (the host path if unset).
    pub(super) guest: Option<String>,
    /// Whether writes are refused.
    #[serde(default)]
    pub(super) read_only: bool,
}

/// `http`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Http {
    /// The grants: `METHOD SCHEME://HOST[:PORT][PATH]`.
    #[serde(default)]
    pub(super) allow: Vec<Spanned<String>>,
    /// Headers the host sets on the requests of one grant.
    #[serde(default)]
    pub(super) headers: Vec<Header>,
    /// PEM files of certificate authorities trusted besides the web's roots.
    #[serde(default)]
    pub(super) trust: Vec<Spanned<String>>,
    /// The most requests per attempt.
    pub(super) max_requests: Option<u32>,
    /// The most body bytes, sent and received, per attempt ("100 MiB").
    pub(super) max_body: Option<Spanned<String>>,
    /// How long a connection may take to open.
    pub(super) connect_timeout: Option<Spanned<String>>,
    /// How long a response's head may take.
    pub(super) first_byte_timeout: Option<Spanned<String>>,
    /// How long a response's body may pause.
    pub(super) between_bytes_timeout: Option<Spanned<String>>,
}

/// One entry of `http.headers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Header {
    /// The grant (one of `allow`, written the same way) whose requests get it.
    pub(super) grant: Spanned<String>,
    /// The header's name.
    pub(super) name: Spanned<String>,
    /// Its value.
    pub(super) value: Spanned<Value>,
}

/// A value given to activities: written in the file, or a secret read when the host starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Value {
    /// Written in the file.
    Plain(String),
    /// Read from the host's environment or a file.
    Secret(Secret),
}

/// `{ env = "NAME" }` or `{ file = "PATH" }`, with an optional `prefix` (`"Bearer "`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Secret {
    /// The host's environment variable holding it.
    pub(super) env: Option<String>,
    /// The file holding it (its trailing newline removed).
    pub(super) file: Option<String>,
    /// Text put before the secret.
    #[serde(default)]
    pub(super) prefix: String,
}

/// `retry`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Retry {
    /// Attempts in all, the first included.
    pub(super) max_attempts: u32,
    /// The wait after the first failure ("1s").
    pub(super) first_interval: String,
    /// How much each wait grows (1 by default: a fixed interval).
    #[serde(default = "one")]
    pub(super) backoff: f64,
    /// The longest wait.
    pub(super) max_interval: Option<String>,
    /// Give up this long after the first attempt.
    pub(super) timeout: Option<String>,
    /// Error types never retried.
    #[serde(default)]
    pub(super) never_retry: Vec<String>,
}

fn one() -> f64 {
    1.0
}
