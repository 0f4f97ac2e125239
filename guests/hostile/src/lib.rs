//! A component written against the raw bindings of `wit/durable.wit`, without the SDK, to hand
//! the host what the SDK never would: payloads that are not JSON, and a very long list of
//! exports (no seed pattern: the host's boundary checks are its subject).
//!
//! Orchestrators:
//! - `output_not_json`: returns the text `not json` as its output.
//! - `status_not_json`: sets its custom status to `{broken`, then returns `"done"`.
//! - `call(name)`: calls the activity `name` with input `null` and returns its output.
//! - `call_broken(key)`: calls an operation of the entity `Broken` and returns its output.
//!
//! Activities:
//! - `output_not_json`: returns `{"unterminated": ` as its output.
//! - `many_0` ... `many_9999`: ten thousand activities, each returning its own number.
//!
//! Entities: `Broken` (every operation returns the state `{not json` and the output `null`).

// The generated bindings are unsafe glue (and undocumented); this crate writes no unsafe code of its own.
#![allow(missing_docs, unsafe_code)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "app",
});

use exports::reprise::durable::{activities, entities, orchestrators};
use reprise::durable::orchestration;
use reprise::durable::types::{EntityId, Failure, OperationResult};

/// How many `many_N` activities the component exports.
const MANY: usize = 10_000;

struct Hostile;

fn failure(message: String) -> Failure {
    Failure { error_type: "Hostile".into(), message, details: None, causes: Vec::new() }
}

impl orchestrators::Guest for Hostile {
    fn names() -> Vec<String> {
        vec!["output_not_json".into(), "status_not_json".into(), "call".into(), "call_broken".into()]
    }

    fn run(name: String, input: String) -> Result<String, Failure> {
        match name.as_str() {
            "output_not_json" => Ok("not json".into()),
            "status_not_json" => {
                orchestration::set_custom_status(Some("{broken"));
                Ok("\"done\"".into())
            }
            "call" => {
                let activity = input.trim_matches('"');
                let task = orchestration::schedule_activity(activity, "null");
                orchestration::wait_any(&[task]).outcome
            }
            "call_broken" => {
                let entity = EntityId { name: "Broken".into(), key: input.trim_matches('"').into() };
                let task = orchestration::call_entity(&entity, "anything", "null");
                orchestration::wait_any(&[task]).outcome
            }
            other => Err(failure(format!("no orchestrator {other}"))),
        }
    }
}

impl activities::Guest for Hostile {
    fn names() -> Vec<String> {
        let mut names = vec!["output_not_json".to_string()];
        names.extend((0..MANY).map(|n| format!("many_{n}")));
        names
    }

    fn run(name: String, _input: String) -> Result<String, Failure> {
        if name == "output_not_json" {
            return Ok("{\"unterminated\": ".into());
        }
        match name.strip_prefix("many_") {
            Some(number) => Ok(number.to_string()),
            None => Err(failure(format!("no activity {name}"))),
        }
    }
}

impl entities::Guest for Hostile {
    fn names() -> Vec<String> {
        vec!["Broken".into()]
    }

    fn run(
        _name: String,
        _operation: String,
        _input: String,
        _state: Option<String>,
    ) -> Result<OperationResult, Failure> {
        Ok(OperationResult { state: Some("{not json".into()), output: "null".into() })
    }
}

export!(Hostile);
