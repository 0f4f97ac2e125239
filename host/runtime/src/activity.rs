//! The activity sandbox: real WASI (real clocks and random), with nothing granted unless the
//! host's configuration grants it (no environment, no directories, no network by default), and
//! the `activity-context` interface, implemented once, on the attempt's invocation.
//!
//! It owns what an activity may reach and what it learns of its attempt. It never decides
//! whether an attempt is retried, and never touches the store.

use crate::bindings::activity::reprise::durable::activity_context;
use crate::bindings::orchestrator::reprise::durable::types as wit;
use crate::http::HttpAccess;
use crate::observed::GuestObserved;
use crate::virtual_wasi::{LogStream, StreamKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi::{FsPerms, WasiCtx};

/// The capabilities granted to activities. The default grants nothing.
#[derive(Clone, Default)]
pub struct ActivityGrants {
    /// Environment variables the activity sees.
    pub env: Vec<(String, String)>,
    /// Host directories the activity may open: (host path, path the guest sees, read-only).
    pub dirs: Vec<(PathBuf, String, bool)>,
    /// Whether the activity may open TCP/UDP sockets and resolve names.
    pub network: bool,
    /// What the activity may reach over HTTP (`wasi:http`): nothing by default.
    pub http: Arc<HttpAccess>,
    /// Limits tighter than the runtime's for each attempt.
    pub limits: AttemptLimits,
}

/// Environment values may be secrets: debug output names the variables only.
impl std::fmt::Debug for ActivityGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ActivityGrants")
            .field("env", &env)
            .field("dirs", &self.dirs)
            .field("network", &self.network)
            .field("http", &self.http)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Limits of one activity attempt, each at most the runtime's own: `None` keeps the runtime's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptLimits {
    /// The most linear memory the attempt's instance may grow to, in bytes.
    pub memory_bytes: Option<usize>,
    /// The most CPU time the attempt may use (wasm code running, not waits), measured in epoch
    /// ticks: past it the attempt fails with `CpuLimitExceeded`.
    pub cpu: Option<Duration>,
}

/// One activity attempt to run.
#[derive(Debug, Clone)]
pub struct ActivityInvocation {
    /// The activity's name.
    pub name: String,
    /// Its JSON input.
    pub input: String,
    /// The instance that scheduled it.
    pub instance_id: String,
    /// Its task handle.
    pub task_id: u64,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Stable across attempts of this task.
    pub idempotency_key: String,
    /// Stop the attempt after this long.
    pub timeout: Option<Duration>,
    /// The W3C `traceparent` of the attempt's span, sent on its outgoing HTTP requests that do
    /// not carry one of their own; `None` when traces are off.
    pub traceparent: Option<String>,
}

impl ActivityInvocation {
    /// The invocation of no attempt: what a component listing its exports is given.
    pub(crate) fn none() -> Self {
        ActivityInvocation {
            name: String::new(),
            input: String::new(),
            instance_id: String::new(),
            task_id: 0,
            attempt: 0,
            idempotency_key: String::new(),
            timeout: None,
            traceparent: None,
        }
    }
}

/// The WASI context of an activity attempt: only what `grants` allow, its output to the log.
pub(crate) fn activity_wasi(
    invocation: &ActivityInvocation,
    grants: &ActivityGrants,
    observed: &Arc<GuestObserved>,
) -> wasmtime::Result<WasiCtx> {
    let label: Arc<str> = Arc::from(format!("{}:{}#{}", invocation.name, invocation.instance_id, invocation.task_id));
    let stream = |kind| LogStream { kind, label: label.clone(), observed: observed.clone() };
    let mut builder = WasiCtx::builder();
    builder.stdout(stream(StreamKind::Stdout)).stderr(stream(StreamKind::Stderr));
    for (key, value) in &grants.env {
        builder.env(key, value);
    }
    for (host, guest, read_only) in &grants.dirs {
        let perms = if *read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
        builder.preopened_dir(host, guest, perms)?;
    }
    if grants.network {
        // The address check alone is not enough: TCP and UDP are off until allowed.
        builder.inherit_network().allow_tcp(true).allow_udp(true).allow_ip_name_lookup(true);
    } else {
        builder.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    }
    Ok(builder.build())
}

impl wit::Host for ActivityInvocation {}

impl activity_context::Host for ActivityInvocation {
    async fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.instance_id.clone())
    }

    async fn task_id(&mut self) -> wasmtime::Result<u64> {
        Ok(self.task_id)
    }

    async fn attempt(&mut self) -> wasmtime::Result<u32> {
        Ok(self.attempt)
    }

    async fn idempotency_key(&mut self) -> wasmtime::Result<String> {
        Ok(self.idempotency_key.clone())
    }
}
