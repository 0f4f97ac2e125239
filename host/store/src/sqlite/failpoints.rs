//! Fault points in the store's writer, for fault-injection tests of the engine and of the
//! `reprise` binary: a batch of writes that fails after `BEGIN`, before `COMMIT`, or after
//! `COMMIT` but before any caller hears of it.
//!
//! The points are [tikv's `fail` crate](https://docs.rs/fail)'s, compiled in only with this
//! crate's `failpoints` cargo feature; without it every point is a constant `None` the compiler
//! removes, and `fail` is not even a dependency. With it, an unconfigured point costs one read
//! of `fail`'s registry (a read lock and a hash lookup, tens of nanoseconds) per batch and per
//! request, against a commit's tens of microseconds. Points are configured by `fail::cfg` in
//! tests, or by the `FAILPOINTS` environment variable of a process that calls
//! [`configure_from_env`] (`reprise` does, when built with the feature):
//!
//! ```text
//! FAILPOINTS='store.before_commit=2*off->1*return->off;store.after_commit.commit_episode=return(full)'
//! ```
//!
//! | point | the batch fails | what the callers may rely on |
//! |---|---|---|
//! | [`AFTER_BEGIN`] | after `BEGIN IMMEDIATE`, before any request runs | nothing of the batch was written; every caller gets the error |
//! | [`BEFORE_COMMIT`] | after its requests ran, instead of `COMMIT` (rolled back) | nothing of the batch was written; every caller gets the error |
//! | [`AFTER_COMMIT`] | after `COMMIT` returned, before any answer | the batch is durable, yet every caller gets the error |
//!
//! Each point also exists narrowed to one kind of write, named after the point and the
//! [`HistoryStore`](crate::HistoryStore) method (`store.after_commit.commit_episode`,
//! `store.before_commit.record_activity`, ...: [`names`] lists them all). It is evaluated once
//! per request of that kind in a batch and, when it fires, fails the whole batch at that point
//! as the general one does: so `2*off->1*return->off` on it fails the batch that carries the
//! third write of that kind.
//!
//! A point that fires (`return`, with an optional argument) injects the SQLite error its
//! argument names: `ioerr` (the default, a disk I/O error), `full` (the disk is full), `busy`
//! (another process holds the lock) or `readonly`; every other action of `fail` (`sleep`,
//! `pause`, `panic`, `print`...) does what `fail` says. Each injection is logged at warn level
//! with the point's name.
//!
//! This module must never change what the writer does when no point is configured.

#[cfg(feature = "failpoints")]
use super::writer::WriteKind;

/// After `BEGIN IMMEDIATE`, before the batch's requests run.
pub const AFTER_BEGIN: &str = "store.after_begin";
/// After the batch's requests ran, in place of its `COMMIT`.
pub const BEFORE_COMMIT: &str = "store.before_commit";
/// After the batch's `COMMIT` returned, before its callers are answered.
pub const AFTER_COMMIT: &str = "store.after_commit";

/// Where in a batch a point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    AfterBegin,
    BeforeCommit,
    AfterCommit,
}

impl Point {
    /// The point's general name.
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    pub(super) fn name(self) -> &'static str {
        match self {
            Point::AfterBegin => AFTER_BEGIN,
            Point::BeforeCommit => BEFORE_COMMIT,
            Point::AfterCommit => AFTER_COMMIT,
        }
    }
}

/// Every point's name: the three general ones, then each narrowed to each kind of write.
pub fn names() -> Vec<String> {
    let points = [AFTER_BEGIN, BEFORE_COMMIT, AFTER_COMMIT];
    let mut names: Vec<String> = points.iter().map(|p| p.to_string()).collect();
    for point in points {
        names.extend(super::writer::WriteKind::NAMES.iter().map(|kind| format!("{point}.{kind}")));
    }
    names
}

/// Configures the points named in the `FAILPOINTS` environment variable
/// (`name=actions;name=actions`, actions in `fail`'s syntax), and returns how many it set. An
/// unknown name or a malformed action is an error, so that a typo in a fault-injection run
/// does not pass for a run without faults.
#[cfg(feature = "failpoints")]
pub fn configure_from_env() -> Result<usize, String> {
    let spec = match std::env::var("FAILPOINTS") {
        Ok(spec) => spec,
        Err(std::env::VarError::NotPresent) => return Ok(0),
        Err(error) => return Err(format!("FAILPOINTS is not valid: {error}")),
    };
    configure(&spec)
}

/// Configures the points of a `FAILPOINTS`-style specification (see [`configure_from_env`]).
#[cfg(feature = "failpoints")]
pub fn configure(spec: &str) -> Result<usize, String> {
    let known = names();
    let mut set = 0;
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, actions) =
            entry.split_once('=').ok_or_else(|| format!("FAILPOINTS entry '{entry}' is not NAME=ACTIONS"))?;
        let name = name.trim();
        if !known.iter().any(|k| k == name) {
            return Err(format!("FAILPOINTS names an unknown point '{name}'; the points are: {}", known.join(", ")));
        }
        fail::cfg(name, actions.trim()).map_err(|error| format!("FAILPOINTS entry '{entry}': {error}"))?;
        set += 1;
    }
    Ok(set)
}

/// The error to fail a batch with at `point`, if the point (general, or narrowed to the kind
/// of one of `kinds`, the batch's requests) fires.
#[cfg(feature = "failpoints")]
pub(super) fn injected(point: Point, kinds: impl IntoIterator<Item = WriteKind>) -> Option<rusqlite::Error> {
    if let Some(error) = fire(point.name()) {
        return Some(error);
    }
    kinds.into_iter().find_map(|kind| fire(kind.point_name(point)))
}

/// Without the feature no point exists.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(super) fn injected<K>(_point: Point, _kinds: impl IntoIterator<Item = K>) -> Option<rusqlite::Error> {
    None
}

#[cfg(feature = "failpoints")]
fn fire(name: &'static str) -> Option<rusqlite::Error> {
    fail::eval(name, |argument| {
        use rusqlite::ffi;
        let argument = argument.unwrap_or_default();
        let code = match argument.as_str() {
            "full" => ffi::SQLITE_FULL,
            "busy" => ffi::SQLITE_BUSY,
            "readonly" => ffi::SQLITE_READONLY,
            _ => ffi::SQLITE_IOERR,
        };
        let kind = if argument.is_empty() { "ioerr" } else { argument.as_str() };
        tracing::warn!(failpoint = name, "fault injected at failpoint {name} ({kind})");
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(format!("fault injected at failpoint {name}")))
    })
}
