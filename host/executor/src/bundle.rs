//! Repro bundles: one file that holds everything needed to replay an instance elsewhere, with no
//! database and no network: the instance's record, the history of every execution, the bytes of
//! the component it is pinned to, the limits replay applies, and which host wrote it.
//!
//! The format is JSON, so that `jq` reads it, with the component's bytes in base64:
//!
//! ```json
//! {
//!   "format": "reprise-bundle",
//!   "version": 1,
//!   "written_by": "reprise 0.1.0",
//!   "written_at": 1764700000000,
//!   "instance": { "instance_id": "...", "name": "...", "status": "Running", "execution": 1, ... },
//!   "executions": [ { "execution": 1, "events": [ { "seq": 0, "event": { "type": "EpisodeStarted", "time": 1764700000000 } }, ... ] } ],
//!   "component": { "hash": "<sha-256 of the bytes>", "size": 123456, "wasm_base64": "..." },
//!   "config": { "max_payload_bytes": 4194304, "history_limits": { ... } }
//! }
//! ```
//!
//! Events are written exactly as the store keeps them, so a bundle is also the store's history
//! format in a file; `component` may be `null` (a golden history of the test suite, replayed on
//! a component built from source). Readers refuse a bundle of a future version, one whose
//! component bytes do not hash to the hash it names, and one that is cut short, each with an
//! error that says so.
//!
//! It owns the format and its checks. It never reads or writes the store or a file: callers
//! hand it the values and the bytes.

use base64::Engine as _;
use reprise_core::HistoryEvent;
use reprise_core::replay::HistoryLimits;
use reprise_store::InstanceRecord;
use serde::{Deserialize, Serialize};

/// The value of the `format` field.
pub const BUNDLE_FORMAT: &str = "reprise-bundle";

/// The version this build writes, and the newest it reads.
pub const BUNDLE_VERSION: u32 = 1;

/// Everything needed to replay an instance. See the module docs for the format.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// The format's version.
    pub version: u32,
    /// The host that wrote it (`reprise <version>`).
    pub written_by: String,
    /// When, in milliseconds since the epoch.
    pub written_at: u64,
    /// The instance's record as the store held it.
    pub instance: InstanceRecord,
    /// The history of every execution, oldest first; the last is the current one.
    pub executions: Vec<ExecutionHistory>,
    /// The component the instance is pinned to, if it has one (and the writer included it).
    pub component: Option<BundledComponent>,
    /// The limits the host replayed under.
    pub config: BundleConfig,
}

/// One execution's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionHistory {
    /// Its number, from 1.
    pub execution: u32,
    /// Its events, in order.
    pub events: Vec<HistoryEvent>,
}

/// A component's bytes, with the hash they must have.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledComponent {
    /// Its content hash (SHA-256, hex).
    pub hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes, in standard base64.
    pub wasm_base64: String,
}

/// The configuration replay depends on (no grant, no secret: replay runs no activity).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// The largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
    /// The limits of one execution's history.
    pub history_limits: HistoryLimits,
}

impl From<&crate::ExecutorConfig> for BundleConfig {
    /// The limits a host with `config` replays under.
    fn from(config: &crate::ExecutorConfig) -> Self {
        BundleConfig { max_payload_bytes: config.max_payload_bytes, history_limits: config.history_limits }
    }
}

/// Why a bundle cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not JSON of the bundle's shape, or cut short.
    #[error("not a readable Reprise bundle ({0}); a file cut short or not written by `reprise export` reads this way")]
    Malformed(String),
    /// Another format's JSON.
    #[error("not a Reprise bundle: its format is '{0}', not '{BUNDLE_FORMAT}'")]
    NotABundle(String),
    /// Written by a newer host.
    #[error(
        "the bundle is version {0}, newer than the version {BUNDLE_VERSION} this reprise reads: replay it with the \
         reprise that wrote it, or a newer one"
    )]
    FutureVersion(u32),
    /// The component's bytes are not the ones named.
    #[error("the bundle's component is damaged: its bytes hash to {actual}, but the bundle names {expected}")]
    ComponentMismatch {
        /// The hash named.
        expected: String,
        /// The hash of the bytes.
        actual: String,
    },
    /// The histories do not match the record.
    #[error("the bundle is inconsistent: {0}")]
    Inconsistent(String),
}

impl Bundle {
    /// A bundle of `instance` with its `executions`, and the component's bytes if given.
    pub fn new(
        instance: InstanceRecord,
        executions: Vec<(u32, Vec<HistoryEvent>)>,
        component: Option<(&str, &[u8])>,
        config: BundleConfig,
        written_at: u64,
    ) -> Bundle {
        Bundle {
            format: BUNDLE_FORMAT.to_string(),
            version: BUNDLE_VERSION,
            written_by: format!("reprise {}", env!("CARGO_PKG_VERSION")),
            written_at,
            instance,
            executions: executions
                .into_iter()
                .map(|(execution, events)| ExecutionHistory { execution, events })
                .collect(),
            component: component.map(|(hash, bytes)| BundledComponent {
                hash: hash.to_string(),
                size: bytes.len() as u64,
                wasm_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            }),
            config,
        }
    }

    /// The bundle as the file holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle always serializes")
    }

    /// Reads a bundle and checks its version and its consistency (the component's hash is
    /// checked by [`Bundle::component_bytes`]).
    pub fn from_json(text: &str) -> Result<Bundle, BundleError> {
        // The envelope first, so that a future version is named as such rather than as fields
        // this build does not know.
        #[derive(Deserialize)]
        struct Envelope {
            format: String,
            version: u32,
        }
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| BundleError::Malformed(e.to_string()))?;
        if envelope.format != BUNDLE_FORMAT {
            return Err(BundleError::NotABundle(envelope.format));
        }
        if envelope.version > BUNDLE_VERSION {
            return Err(BundleError::FutureVersion(envelope.version));
        }
        let bundle: Bundle = serde_json::from_str(text).map_err(|e| BundleError::Malformed(e.to_string()))?;
        bundle.check()?;
        Ok(bundle)
    }

    fn check(&self) -> Result<(), BundleError> {
        let Some(current) = self.executions.last() else {
            return Err(BundleError::Inconsistent("it holds no execution".into()));
        };
        if current.execution != self.instance.execution {
            return Err(BundleError::Inconsistent(format!(
                "the instance is on execution {} but the last history is of execution {}",
                self.instance.execution, current.execution
            )));
        }
        if current.events.len() as u64 != self.instance.history_len {
            return Err(BundleError::Inconsistent(format!(
                "the instance counts {} events but its history holds {}",
                self.instance.history_len,
                current.events.len()
            )));
        }
        Ok(())
    }

    /// The component's bytes, checked against the hash the bundle names; `None` if it holds no
    /// component. `hash` computes a content hash (the runtime's).
    pub fn component_bytes(&self, hash: impl Fn(&[u8]) -> String) -> Result<Option<Vec<u8>>, BundleError> {
        let Some(component) = &self.component else { return Ok(None) };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&component.wasm_base64)
            .map_err(|e| BundleError::Malformed(format!("component.wasm_base64: {e}")))?;
        let actual = hash(&bytes);
        if actual != component.hash {
            return Err(BundleError::ComponentMismatch { expected: component.hash.clone(), actual });
        }
        Ok(Some(bytes))
    }

    /// The current execution's history.
    pub fn current(&self) -> &ExecutionHistory {
        self.executions.last().expect("checked when read or built")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_core::{Event, Payload, RuntimeStatus};

    fn record(history_len: u64) -> InstanceRecord {
        InstanceRecord {
            instance_id: "i".into(),
            name: "o".into(),
            execution: 1,
            status: RuntimeStatus::Running,
            input: Payload::stored("1.50"),
            output: None,
            failure: None,
            custom_status: None,
            component: Some("h".into()),
            history_len,
            created_at: 1,
            updated_at: 2,
            completed_at: None,
            parent: None,
        }
    }

    fn config() -> BundleConfig {
        BundleConfig { max_payload_bytes: 10, history_limits: HistoryLimits::default() }
    }

    fn events() -> Vec<HistoryEvent> {
        vec![HistoryEvent { seq: 0, event: Event::EpisodeStarted { time: 5 } }]
    }

    fn fake_hash(bytes: &[u8]) -> String {
        format!("len-{}", bytes.len())
    }

    #[test]
    fn a_bundle_round_trips_with_its_component() {
        let bundle = Bundle::new(record(1), vec![(1, events())], Some(("len-3", b"abc")), config(), 9);
        let read = Bundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(read.instance, record(1));
        assert_eq!(read.instance.input.as_str(), "1.50", "payload text kept exactly");
        assert_eq!(read.current().events, events());
        assert_eq!(read.component_bytes(fake_hash).unwrap().as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn a_damaged_cut_or_future_bundle_is_refused_by_name() {
        let text = Bundle::new(record(1), vec![(1, events())], Some(("len-3", b"abc")), config(), 9).to_json();
        let cut = &text[..text.len() / 2];
        assert!(matches!(Bundle::from_json(cut), Err(BundleError::Malformed(_))));

        let future = text.replacen("\"version\": 1", "\"version\": 2", 1);
        let error = Bundle::from_json(&future).unwrap_err();
        assert!(matches!(error, BundleError::FutureVersion(2)), "{error}");
        assert!(error.to_string().contains("newer than the version 1"), "{error}");

        let other = text.replacen(BUNDLE_FORMAT, "something-else", 1);
        assert!(matches!(Bundle::from_json(&other), Err(BundleError::NotABundle(_))));

        let damaged = Bundle::from_json(&text.replacen("len-3", "len-4", 1)).unwrap();
        let error = damaged.component_bytes(fake_hash).unwrap_err();
        assert!(error.to_string().contains("hash to len-3, but the bundle names len-4"), "{error}");

        let inconsistent = Bundle::new(record(2), vec![(1, events())], None, config(), 9).to_json();
        let error = Bundle::from_json(&inconsistent).unwrap_err();
        assert!(error.to_string().contains("counts 2 events but its history holds 1"), "{error}");
    }
}
