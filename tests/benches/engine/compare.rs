//! `--compare FILE`: this run's figures beside a previous run's, from the JSON lines that run
//! printed with `--json` (the rest of its output is ignored, so the whole of it can be saved).
//! Workloads are matched by what the command line called them (`chain 1000`); every number both
//! lines hold is shown before and after, with the change.

use anyhow::Context as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The fields that describe a run rather than measure it: not compared.
const SETTINGS: [&str; 6] = ["workload", "label", "profile", "sqlite", "steps", "cache"];

/// The previous run's JSON lines, by label.
pub(crate) struct Previous {
    lines: BTreeMap<String, Value>,
    file: String,
}

impl Previous {
    /// Reads the JSON lines of a saved `--json` output.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Previous> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let mut lines = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with('{') {
                continue;
            }
            let value: Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a JSON line of --json", path.display(), n + 1))?;
            let label = value
                .get("label")
                .or_else(|| value.get("workload"))
                .and_then(Value::as_str)
                .with_context(|| format!("{} line {}: a JSON line without a workload", path.display(), n + 1))?;
            lines.insert(label.to_string(), value);
        }
        if lines.is_empty() {
            anyhow::bail!("{} holds no JSON line: save the output of a run with --json", path.display());
        }
        Ok(Previous { lines, file: path.display().to_string() })
    }

    /// The comparison of this run's line for `label` with the previous one, for people.
    pub(crate) fn compare(&self, label: &str, now: &Value) -> Vec<String> {
        let Some(before) = self.lines.get(label) else {
            return vec![format!("  compared with {}: that run has no `{label}`", self.file)];
        };
        let mut out = vec![format!("  compared with {} (before -> now, change):", self.file)];
        let (Some(before), Some(now)) = (before.as_object(), now.as_object()) else {
            return out;
        };
        for (key, value) in now {
            if SETTINGS.contains(&key.as_str()) {
                continue;
            }
            let (Some(a), Some(b)) = (before.get(key).and_then(Value::as_f64), value.as_f64()) else {
                continue;
            };
            let change = if a == 0.0 { String::from("n/a") } else { format!("{:+.1}%", 100.0 * (b - a) / a) };
            out.push(format!("    {key:<28} {:>14} -> {:>14}  {change}", figure(a), figure(b)));
        }
        out
    }
}

/// A number as the JSON lines hold it, without float noise.
fn figure(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.2}") }
}
