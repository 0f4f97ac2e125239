//! Entities against everything sent to them: each counter's state `{"sum", "applied"}` must
//! count every `add` sent to it exactly once (an unacknowledged signal of the harness at most
//! once), no `reject` (its change must have been rolled back) and nothing that was never sent,
//! and its sum must be the sum of those operations' amounts; its operation count must be the
//! number of operations it received.
//!
//! What was sent is read from the histories (`EntitySignaled`, `EntityCalled`: each committed
//! with its message) and from the ledger (the harness's signals).

use super::{Findings, Invariant, Snapshot, json};
use crate::torture::ledger::Ledger;
use reprise_core::Event;
use serde_json::Value;
use std::collections::BTreeMap;

/// One operation sent to an entity.
struct Sent {
    /// Who sent it: an instance id, or `harness`.
    from: String,
    operation: String,
    /// The op id and amount of an `add` or `reject`.
    op: Option<(String, i64)>,
    /// False for a harness signal that was not acknowledged (it may or may not have arrived).
    certain: bool,
}

/// Checks every entity that was sent anything, and every entity in the file.
pub(super) fn check(snapshot: &Snapshot, ledger: &Ledger, findings: &mut Findings) {
    let mut sent: BTreeMap<String, Vec<Sent>> = BTreeMap::new();
    for (id, stored) in &snapshot.instances {
        for (_, history) in stored.histories() {
            for event in history {
                let (entity, operation, input) = match &event.event {
                    Event::EntitySignaled { entity, operation, input } => (entity, operation, input),
                    Event::EntityCalled { entity, operation, input, .. } => (entity, operation, input),
                    _ => continue,
                };
                let op = json(input).ok().and_then(|v| op_of(&v));
                let sent_op = Sent { from: id.clone(), operation: operation.clone(), op, certain: true };
                sent.entry(entity.instance_id()).or_default().push(sent_op);
            }
        }
    }
    for signal in &ledger.signals {
        let entity = format!("@{}@{}", super::super::workload::COUNTER, signal.key);
        let sent_op = Sent {
            from: "harness".into(),
            operation: "add".into(),
            op: Some((signal.op.clone(), signal.amount)),
            certain: signal.acked,
        };
        sent.entry(entity).or_default().push(sent_op);
    }

    let stored: BTreeMap<String, _> = snapshot.entities.iter().map(|e| (e.entity.instance_id(), e)).collect();
    for entity in stored.keys().filter(|e| !sent.contains_key(*e)) {
        findings.add(entity.clone(), Invariant::Entity, "the entity exists but nothing was sent to it");
    }
    for (entity, ops) in &sent {
        let Some(record) = stored.get(entity) else {
            findings.add(
                entity.clone(),
                Invariant::Entity,
                format!("{} operation(s) were sent, but the entity does not exist", ops.len()),
            );
            continue;
        };
        let state = match record.state.as_ref().map(json) {
            Some(Ok(state)) => state,
            Some(Err(error)) => {
                findings.add(entity.clone(), Invariant::Entity, format!("its state is {error}"));
                continue;
            }
            None => {
                findings.add(entity.clone(), Invariant::Entity, "it has no state".to_string());
                continue;
            }
        };
        let applied: BTreeMap<String, u64> = state["applied"]
            .as_object()
            .map(|m| m.iter().map(|(op, times)| (op.clone(), times.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default();
        let mut expected_sum = 0i64;
        let mut expected_operations = 0u64;
        let mut known = std::collections::BTreeSet::new();
        for sent in ops {
            let times = sent.op.as_ref().and_then(|(op, _)| applied.get(op)).copied().unwrap_or(0);
            let name_op = || sent.op.as_ref().map_or("-", |(op, _)| op.as_str()).to_string();
            if let Some((op, _)) = &sent.op {
                known.insert(op.clone());
            }
            let arrived = sent.certain || times > 0;
            if arrived {
                expected_operations += 1;
            }
            match (sent.operation.as_str(), &sent.op) {
                ("add", Some((op, amount))) => {
                    let wrong = if sent.certain { times != 1 } else { times > 1 };
                    if wrong {
                        let detail = format!("operation {op} (add {amount}) on {entity} applied {times} time(s)");
                        findings.add(sent.from.clone(), Invariant::Entity, detail);
                    }
                    if times > 0 {
                        expected_sum += amount;
                    }
                }
                ("reject", Some((op, _))) if times > 0 => {
                    let detail =
                        format!("operation {op} on {entity} failed, yet its change was kept ({times} time(s))");
                    findings.add(sent.from.clone(), Invariant::Entity, detail);
                }
                ("add" | "reject", None) => {
                    findings.add(
                        sent.from.clone(),
                        Invariant::Entity,
                        format!("a {} to {entity} without an op id: {}", sent.operation, name_op()),
                    );
                }
                _ => {}
            }
        }
        for (op, times) in &applied {
            if !known.contains(op) {
                findings.add(
                    entity.clone(),
                    Invariant::Entity,
                    format!("operation {op} applied {times} time(s), but nobody sent it"),
                );
            }
        }
        let sum = state["sum"].as_i64();
        if sum != Some(expected_sum) {
            findings.add(
                entity.clone(),
                Invariant::Entity,
                format!("its sum is {sum:?}, its applied operations add up to {expected_sum}"),
            );
        }
        if record.operations != expected_operations {
            findings.add(
                entity.clone(),
                Invariant::Entity,
                format!("it ran {} operation(s), {expected_operations} were sent to it", record.operations),
            );
        }
    }
}

/// The op id and amount of an `add` or `reject` input.
fn op_of(input: &Value) -> Option<(String, i64)> {
    Some((input["op"].as_str()?.to_string(), input["amount"].as_i64()?))
}
