//! The replay engine: the pure state machine between an orchestrator and its history.
//!
//! A [`Replayer`] is fed the recorded history of one execution and, episode by episode, the new
//! messages for it. The orchestrator's host calls go through it: each command is checked against
//! the recorded event at the same position while replaying (a mismatch is a
//! [`ReplayError::Nondeterminism`]) and recorded as a new event once live; each wait is answered
//! from the completions delivered so far. When a wait cannot be answered, the caller asks
//! [`Replayer::advance`] to open the next episode: the next recorded one while replaying, else the
//! next delivered one, else the orchestrator is blocked until new messages arrive.
//!
//! The engine owns the rules of replay and the shape of history. It never does I/O: no store, no
//! wasm, no clock (episode times come in with the episodes). The same code drives the hot path (a
//! parked instance that receives one episode after another) and the cold path (a fresh instance
//! that replays everything first), which is why the two cannot disagree.

mod command;
mod error;
#[cfg(test)]
mod hostile_tests;
mod limits;
mod replayer;
mod rewind;
#[cfg(test)]
mod tests;

pub use command::{Command, describe_recorded};
pub use error::ReplayError;
pub use limits::{HistoryLimits, LimitExceeded, event_size};
pub use replayer::{Advance, AllWait, Completion, EpisodeOutput, Replayer, Terminal, WaitOutcome};
