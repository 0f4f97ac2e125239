//! Instances against what their inputs determine: every start the harness made (acknowledged,
//! or found in the file) is there, with the orchestrator and input it was started with, and
//! has finished, with the output (or the failure) its input determines; every other instance
//! is a child that a parent's history started with that name and input.

use super::{Findings, Invariant, Snapshot, Stored, json};
use crate::torture::ledger::Ledger;
use crate::torture::workload::{Expected, expected};
use reprise_core::{Event, Payload, RuntimeStatus};
use serde_json::Value;
use std::collections::BTreeMap;

/// Checks every start of the ledger and every instance of the file.
pub(super) fn check(snapshot: &Snapshot, ledger: &Ledger, findings: &mut Findings) {
    // The children that parents' histories started: id -> (name, input, parent).
    let mut children: BTreeMap<&str, (&str, &Payload, &str)> = BTreeMap::new();
    for (id, stored) in &snapshot.instances {
        for (_, history) in stored.histories() {
            for event in history {
                if let Event::SubOrchestrationScheduled { instance_id, name, input, .. } = &event.event {
                    children.insert(instance_id.as_str(), (name.as_str(), input, id.as_str()));
                }
            }
        }
    }
    for (id, start) in &ledger.starts {
        let Some(stored) = snapshot.instances.get(id) else {
            let how = if start.acked { "acknowledged" } else { "seen in the database" };
            findings.add(id, Invariant::Acknowledged, format!("its start was {how}, but the instance is gone"));
            continue;
        };
        if stored.record.name != start.name {
            findings.add(
                id,
                Invariant::Acknowledged,
                format!("started as '{}', stored as '{}'", start.name, stored.record.name),
            );
        }
        match first_input(stored) {
            Some(Ok(input)) if input != start.input => findings.add(
                id,
                Invariant::Acknowledged,
                format!("started with {}, its history says {input}", start.input),
            ),
            _ => {}
        }
    }
    for (id, stored) in &snapshot.instances {
        if !ledger.starts.contains_key(id) {
            match children.get(id.as_str()) {
                None => findings.add(id, Invariant::Acknowledged, "nobody started this instance"),
                Some((name, input, parent)) => {
                    if stored.record.name != *name {
                        let detail =
                            format!("{parent} started it as '{name}', it is stored as '{}'", stored.record.name);
                        findings.add(id, Invariant::Acknowledged, detail);
                    }
                    if let (Some(Ok(actual)), Ok(wanted)) = (first_input(stored), json(input))
                        && actual != wanted
                    {
                        let detail = format!("{parent} started it with {wanted}, it has {actual}");
                        findings.add(id, Invariant::Acknowledged, detail);
                    }
                }
            }
        }
        outcome(id, stored, findings);
    }
}

/// The input of the instance's first execution (later ones continue as new with others).
fn first_input(stored: &Stored) -> Option<Result<Value, String>> {
    let history = stored.executions.first()?.as_ref().ok()?;
    history.iter().find_map(|e| match &e.event {
        Event::ExecutionStarted { input, .. } => Some(json(input)),
        _ => None,
    })
}

/// Whether the instance finished as its input determines.
fn outcome(id: &str, stored: &Stored, findings: &mut Findings) {
    let record = &stored.record;
    if !record.status.is_terminal() {
        findings.add(id, Invariant::Finished, format!("it is {}", record.status));
        return;
    }
    let input = match first_input(stored) {
        Some(Ok(input)) => input,
        Some(Err(error)) => return findings.add(id, Invariant::Outcome, format!("its input is {error}")),
        None => return findings.add(id, Invariant::Outcome, "its first execution has no ExecutionStarted"),
    };
    let wanted = match expected(&record.name, &input) {
        Ok(wanted) => wanted,
        Err(error) => return findings.add(id, Invariant::Outcome, error),
    };
    match (&wanted, record.status) {
        (Expected::Completed(value), RuntimeStatus::Completed) => match record.output.as_ref().map(json) {
            Some(Ok(output)) if output == *value => {}
            Some(Ok(output)) => findings.add(id, Invariant::Outcome, format!("returned {output}, {value} expected")),
            Some(Err(error)) => findings.add(id, Invariant::Outcome, format!("its output is {error}")),
            None => findings.add(id, Invariant::Outcome, "completed without an output"),
        },
        (Expected::Failed { error_type, cause }, RuntimeStatus::Failed) => {
            let Some(failure) = &record.failure else {
                return findings.add(id, Invariant::Outcome, "failed without a failure");
            };
            let first = failure.causes.first().map(|c| (c.error_type.clone(), c.message.clone()));
            let cause_ok = cause.as_ref().is_none_or(|c| first.as_ref() == Some(c));
            if failure.error_type != *error_type || !cause_ok {
                findings.add(
                    id,
                    Invariant::Outcome,
                    format!("failed with {failure}, {error_type} caused by {cause:?} expected"),
                );
            }
        }
        (_, status) => {
            let detail = match &record.failure {
                Some(failure) => format!("ended {status} ({failure}), {wanted:?} expected"),
                None => format!("ended {status} (output {:?}), {wanted:?} expected", record.output),
            };
            findings.add(id, Invariant::Outcome, detail);
        }
    }
}
