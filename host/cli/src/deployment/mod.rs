//! The deployment file (`reprise.toml`, or `--config PATH`): the components a host loads and,
//! per component and optionally per activity, what the activities may reach (HTTP grants,
//! environment, directories, sockets), their limits (memory, CPU, HTTP requests and bytes,
//! timeouts) and the timeout and retry policy of calls that set none; secrets read from the
//! host's environment or from files at start; per-orchestrator upgrade policies; per-activity
//! flow limits (`[activity.NAME]`: at most so many at once, so many starts per period, per key;
//! `[entity.NAME]`: at most so many batches at once, so many batch starts per period);
//! schedules (`[schedule.NAME]`, created or updated at every start, keeping their progress).
//!
//! It owns reading, checking and resolving the file into the executor's
//! [`ComponentSettings`], and the words of every refusal (each names the file and line). It
//! never loads a component (the commands do) and never shows a secret's value: what it prints
//! of a secret is where it comes from.

mod file;
mod resolve;

pub(crate) use resolve::Resolved;

use reprise_core::flow::FlowLimit;
use reprise_core::schedule::{ScheduleName, ScheduleSpec};
use reprise_executor::{ComponentSettings, UpgradePolicy};
use reprise_runtime::ActivityGrants;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file looked for in the current directory when no `--config` is given.
pub(crate) const DEFAULT_FILE: &str = "reprise.toml";

/// Why a deployment file is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeploymentError {
    /// It cannot be read.
    #[error("cannot read the deployment file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML, or holds an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The TOML reader's words, which name the line and column.
        message: String,
    },
    /// A value is refused.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The line of the value.
        line: usize,
        /// What is wrong, and what to write instead.
        message: String,
    },
}

/// A resolved deployment file.
#[derive(Debug)]
pub(crate) struct Deployment {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// `[serve] listen`.
    pub(crate) listen: Option<SocketAddr>,
    /// The components, in the file's order.
    pub(crate) components: Vec<DeployedComponent>,
    /// `[orchestrator.NAME] upgrade-policy`.
    pub(crate) upgrade_policies: BTreeMap<String, UpgradePolicy>,
    /// `[activity.NAME]`: the line of its table, and its flow limits.
    pub(crate) flow: FlowTables,
    /// `[entity.NAME]`: the line of its table, and its flow limits (without a key).
    pub(crate) entity_flow: FlowTables,
    /// `[schedule.NAME]`, by name.
    pub(crate) schedules: Vec<DeployedSchedule>,
}

/// Flow limits by name (of activities or entities), each with the line of its table.
pub(crate) type FlowTables = BTreeMap<String, (usize, FlowLimit)>;

/// One `[schedule.NAME]`, checked (its orchestrator is checked once components are loaded).
#[derive(Debug)]
pub(crate) struct DeployedSchedule {
    /// Its name.
    pub(crate) name: ScheduleName,
    /// Its definition.
    pub(crate) spec: ScheduleSpec,
    /// Whether it is created paused (an existing schedule keeps its state).
    pub(crate) paused: bool,
    /// The line of its table.
    pub(crate) line: usize,
}

/// One `[[component]]`, resolved.
#[derive(Debug)]
pub(crate) struct DeployedComponent {
    /// The component file.
    pub(crate) path: PathBuf,
    /// The line of its `path`, for errors found once it is loaded.
    pub(crate) line: usize,
    /// The settings of its activities that no `[component.activity.NAME]` names.
    pub(crate) activities: Resolved,
    /// Per activity: the line of its table, and its settings.
    pub(crate) by_activity: BTreeMap<String, (usize, Resolved)>,
}

impl DeployedComponent {
    /// The executor's settings for this component, with what the flags grant every component.
    pub(crate) fn settings_with(&self, flags: &ActivityGrants) -> ComponentSettings {
        let with_flags = |resolved: &Resolved| Arc::new(resolved.clone().with_flags(flags).settings);
        ComponentSettings {
            activities: with_flags(&self.activities),
            by_activity: self.by_activity.iter().map(|(name, (_, r))| (name.clone(), with_flags(r))).collect(),
        }
    }

    /// An error if the deployment names an activity that the loaded component does not export.
    pub(crate) fn check_exports(&self, deployment: &Path, exported: &[String]) -> Result<(), DeploymentError> {
        match self.by_activity.iter().find(|(name, _)| !exported.contains(name)) {
            None => Ok(()),
            Some((name, (line, _))) => Err(DeploymentError::Invalid {
                path: deployment.display().to_string(),
                line: *line,
                message: format!(
                    "the component {} exports no activity named '{name}' (it exports: {})",
                    self.path.display(),
                    if exported.is_empty() { "none".to_string() } else { exported.join(", ") }
                ),
            }),
        }
    }
}

/// The deployment file to use: `--config`'s (which must exist), else `reprise.toml` in the
/// current directory if there is one.
pub(crate) fn locate(config: Option<&Path>) -> Option<PathBuf> {
    match config {
        Some(path) => Some(path.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
    }
}

/// Reads and resolves a deployment file, reading its secrets.
pub(crate) fn load(path: &Path) -> Result<Deployment, DeploymentError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| DeploymentError::Read { path: path.display().to_string(), source })?;
    resolve::resolve(path, &text)
}
