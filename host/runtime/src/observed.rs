//! What the host and a deterministic guest's virtual WASI share: the logical time its clocks
//! read, whether it is replaying (its output is then silenced), the CPU it used in the current
//! episode, its output budget and its last stderr lines. It owns those values and nothing else.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// State the host shares with an orchestrator's virtual WASI: the logical time, whether it is
/// replaying, and the CPU it used in the current episode.
#[derive(Debug, Default)]
pub struct GuestObserved {
    now_ms: AtomicU64,
    replaying: AtomicBool,
    episode_ticks: AtomicU64,
    stderr_tail: Mutex<String>,
    /// The bytes of output the guest may still write to the log in this episode.
    output_left: AtomicU64,
    /// What `output_left` starts each episode at.
    output_limit: AtomicU64,
}

impl GuestObserved {
    /// Fresh state: time 0, replaying.
    pub fn new() -> Arc<Self> {
        Arc::new(GuestObserved {
            replaying: AtomicBool::new(true),
            output_left: AtomicU64::new(u64::MAX),
            output_limit: AtomicU64::new(u64::MAX),
            ..Default::default()
        })
    }

    /// The logical time the guest's clocks read.
    pub fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }

    /// Whether the guest is replaying (its output is then silenced).
    pub fn is_replaying(&self) -> bool {
        self.replaying.load(Ordering::Relaxed)
    }

    /// Starts an episode: sets the clocks and the replay flag, and resets the CPU budget.
    pub fn start_episode(&self, now_ms: u64, replaying: bool) {
        self.now_ms.store(now_ms, Ordering::Relaxed);
        self.replaying.store(replaying, Ordering::Relaxed);
        self.episode_ticks.store(0, Ordering::Relaxed);
        self.output_left.store(self.output_limit.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Counts one epoch tick of the current episode; returns the ticks used so far.
    pub(crate) fn tick(&self) -> u64 {
        self.episode_ticks.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Caps the output the guest may write to the log per episode (or attempt).
    pub(crate) fn limit_output(&self, bytes: u64) {
        self.output_limit.store(bytes, Ordering::Relaxed);
        self.output_left.store(bytes, Ordering::Relaxed);
    }

    /// Takes `bytes` from the guest's output budget: `Some(true)` if they fit, `Some(false)` for
    /// the write that spends it (the caller says that the rest is dropped), `None` once spent.
    pub(crate) fn spend_output(&self, bytes: u64) -> Option<bool> {
        let before = self
            .output_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| (left > 0).then(|| left.saturating_sub(bytes)))
            .ok()?;
        Some(before >= bytes)
    }

    /// Whether the guest has spent its output budget.
    pub(crate) fn output_spent(&self) -> bool {
        self.output_left.load(Ordering::Relaxed) == 0
    }

    /// Keeps the last lines a guest wrote to stderr (a panic message, usually) for error reports.
    pub(crate) fn remember_stderr(&self, line: &str) {
        let mut tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.push_str(line);
        tail.push('\n');
        if tail.len() > 4096 {
            let cut = tail.len() - 4096;
            let cut = (cut..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
            tail.drain(..cut);
        }
    }

    /// The last lines the guest wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner()).trim_end().to_string()
    }
}
