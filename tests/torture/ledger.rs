//! What the harness did and what it was told: the starts, events and signals it sent with
//! whether each was acknowledged, and the kills. The checker holds the engine to it. Written by
//! the driver only; this module never judges anything.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A start the harness made, as it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRecord {
    /// The orchestrator.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// True if a request was acknowledged; false if none was, but the instance was found in the
    /// database (an unacknowledged request went through).
    pub acked: bool,
}

/// An event the harness raised.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RaiseRecord {
    /// The instance.
    pub id: String,
    /// The event.
    pub event: String,
    /// Its data.
    pub data: Value,
    /// True if a request was acknowledged; false if none was before the instance finished (so
    /// one that was not acknowledged went through, or the instance finished without it).
    pub acked: bool,
    /// Unacknowledged requests made (each may have gone through).
    pub unacked_tries: u32,
}

/// An entity signal the harness sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalRecord {
    /// The counter's key.
    pub key: String,
    /// The operation id.
    pub op: String,
    /// The amount.
    pub amount: i64,
    /// Whether it was acknowledged (then it must be applied exactly once; otherwise at most
    /// once). Signals are never sent twice.
    pub acked: bool,
}

/// Everything the harness did in a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// The seed of the plan.
    pub seed: u64,
    /// How many times the host was SIGKILLed while it had work (the final host's kill, after
    /// everything finished, is not counted).
    pub kills: u32,
    /// When each kill was sent, in milliseconds since the Unix epoch (the host's clock is the
    /// same wall clock): an attempt can only be lost to a kill that came while its task was
    /// scheduled and not yet completed.
    #[serde(default)]
    pub kill_times: Vec<u64>,
    /// The instances the harness started, by id.
    pub starts: BTreeMap<String, StartRecord>,
    /// The events it raised.
    pub raises: Vec<RaiseRecord>,
    /// The entity signals it sent.
    pub signals: Vec<SignalRecord>,
    /// Hosts that exited on their own, before their kill: (round, exit status).
    pub host_exits: Vec<(u32, String)>,
}
