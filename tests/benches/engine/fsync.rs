//! The disk's own limit, measured before the workloads: a 4 KiB write followed by an fsync, on
//! the file system the databases live on. A durable commit cannot cost less than one of these,
//! so every workload's figures are also given as a multiple of it (how far the engine is from
//! the physical limit of this disk, at this hour).

use crate::measure::percentile;
use anyhow::Context as _;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How many write + fsync pairs are timed (after a few untimed ones).
const SAMPLES: usize = 200;

/// What a 4 KiB write + fsync costs on one file system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fsync {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) samples: usize,
}

/// Times [`SAMPLES`] 4 KiB writes, each at its own offset of one file in `dir` and followed by
/// an fsync (`File::sync_all`), as a commit's WAL frame is written and synced.
pub(crate) fn measure(dir: &Path) -> anyhow::Result<Fsync> {
    let path = dir.join("fsync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    let page = [0x5au8; 4096];
    let mut times = Vec::with_capacity(SAMPLES);
    // The first few extend the file and warm the file system's metadata: not timed.
    for n in 0..SAMPLES + 5 {
        let started = Instant::now();
        file.seek(SeekFrom::Start((n * page.len()) as u64))?;
        file.write_all(&page)?;
        file.sync_all().context("fsync the probe file")?;
        if n >= 5 {
            times.push(started.elapsed());
        }
    }
    drop(file);
    std::fs::remove_file(&path).ok();
    times.sort_unstable();
    Ok(Fsync { p50: percentile(&times, 50.0), p99: percentile(&times, 99.0), samples: times.len() })
}
