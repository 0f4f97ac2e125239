//! The virtual WASI of the deterministic sandbox (orchestrators and entities): clocks that read
//! the logical time, seeded random sources, no network, and standard streams that go to the
//! host's log.

use crate::observed::GuestObserved;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWrite;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The wall clock of an orchestrator: the current episode's logical time.
pub(crate) struct LogicalWallClock(pub(crate) Arc<GuestObserved>);

impl HostWallClock for LogicalWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms())
    }
}

/// The monotonic clock of an orchestrator: logical time in nanoseconds. Episode times never go
/// backwards (the executor guarantees it), so this is monotonic.
pub(crate) struct LogicalMonotonicClock(pub(crate) Arc<GuestObserved>);

impl HostMonotonicClock for LogicalMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.0.now_ms().saturating_mul(1_000_000)
    }
}

/// Which standard stream a [`LogStream`] stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StreamKind {
    Stdout,
    Stderr,
}

/// A guest's stdout or stderr, written line by line to `tracing`. Lines written while the guest
/// replays are dropped, so each appears once; the last stderr lines are kept for error reports.
#[derive(Clone)]
pub(crate) struct LogStream {
    pub(crate) kind: StreamKind,
    pub(crate) label: Arc<str>,
    pub(crate) observed: Arc<GuestObserved>,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { stream: self.clone(), buffer: Vec::new() })
    }
}

/// Longest line kept before it is flushed anyway, so a guest cannot grow host memory by writing
/// without newlines.
const MAX_LINE: usize = 16 * 1024;

struct LineWriter {
    stream: LogStream,
    buffer: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, upto: usize) {
        let line: Vec<u8> = self.buffer.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if matches!(self.stream.kind, StreamKind::Stderr) {
            self.stream.observed.remember_stderr(text);
        }
        if self.stream.observed.is_replaying() {
            return;
        }
        match self.stream.observed.spend_output(line.len() as u64) {
            Some(true) => {}
            Some(false) => {
                tracing::warn!(
                    target: "reprise::guest", guest = %self.stream.label,
                    "the guest's output reached the host's limit (--max-guest-output); the rest of it is dropped"
                );
                return;
            }
            None => return,
        }
        match self.stream.kind {
            StreamKind::Stdout => {
                tracing::info!(target: "reprise::guest", guest = %self.stream.label, "{text}")
            }
            StreamKind::Stderr => {
                tracing::warn!(target: "reprise::guest", guest = %self.stream.label, "{text}")
            }
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        // Output past the budget is accepted and dropped unread, so a guest that writes without
        // end costs neither memory nor log lines (only stderr's last lines are still kept, for
        // error reports).
        if self.stream.observed.output_spent() && matches!(self.stream.kind, StreamKind::Stdout) {
            return Poll::Ready(Ok(buf.len()));
        }
        self.buffer.extend_from_slice(buf);
        while let Some(newline) = self.buffer.iter().position(|b| *b == b'\n') {
            self.emit(newline + 1);
        }
        if self.buffer.len() > MAX_LINE {
            let len = self.buffer.len();
            self.emit(len);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.buffer.is_empty() {
            let len = self.buffer.len();
            self.emit(len);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let len = self.buffer.len();
            self.emit(len);
        }
    }
}

/// The WASI context of a deterministic guest: its clocks read `observed`'s logical time, its
/// random sources are seeded from `seed` (the same seed gives the same values), it has no
/// environment, no files and no network, and its output goes to the log under `label`.
pub(crate) fn deterministic_wasi(label: &str, seed: u64, observed: &Arc<GuestObserved>) -> WasiCtx {
    let label: Arc<str> = Arc::from(label);
    let stream = |kind| LogStream { kind, label: label.clone(), observed: observed.clone() };
    WasiCtx::builder()
        .stdout(stream(StreamKind::Stdout))
        .stderr(stream(StreamKind::Stderr))
        .wall_clock(LogicalWallClock(observed.clone()))
        .monotonic_clock(LogicalMonotonicClock(observed.clone()))
        .secure_random(ChaCha20Rng::seed_from_u64(seed))
        .insecure_random(ChaCha20Rng::seed_from_u64(seed.rotate_left(17) ^ 0x5eed))
        .insecure_random_seed(u128::from(seed) << 64 | u128::from(!seed))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}
