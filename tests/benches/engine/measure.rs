//! What the benchmark reads about its own process: peak and current RSS, CPU time, and the
//! store's commit counter; and how it summarizes samples. Linux only (`/proc`), like the targets.

use std::time::Duration;

/// The process's resident set: now and its high-water mark, in bytes (`/proc/self/status`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rss {
    pub(crate) now: u64,
    pub(crate) peak: u64,
}

/// Reads `VmRSS` and `VmHWM`; zeros where `/proc` is unavailable (the figures then say 0).
pub(crate) fn rss() -> Rss {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    Rss { now: field("VmRSS:"), peak: field("VmHWM:") }
}

/// The process's memory mappings (`/proc/self/maps`), and the most the kernel allows one process
/// (`vm.max_map_count`); zeros where `/proc` is unavailable.
pub(crate) fn mappings() -> (usize, usize) {
    let count = std::fs::read_to_string("/proc/self/maps").map_or(0, |maps| maps.lines().count());
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    (count, limit)
}

/// CPU time used by every thread of the process so far (user and system).
pub(crate) fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec.unsigned_abs() as u32)
}

/// The `p`-th percentile (0..=100) of `sorted` (ascending), by nearest rank.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds, with one decimal.
pub(crate) fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

/// A duration for people: ms below 10 s, s above.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Bytes for people, in MiB.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
