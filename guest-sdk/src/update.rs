//! Updates: a client's request to a running instance that its orchestrator answers
//! ([`Context::wait_for_update`](crate::Context::wait_for_update),
//! [`Context::reply_update`](crate::Context::reply_update)), and the validators that may refuse
//! one before the host records it (the `validators` section of [`export!`](crate::export!)).

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Failure;

/// An update delivered to the orchestrator: its id (to answer it with) and its input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Update<T> {
    /// The update's id, unique within the instance.
    pub id: String,
    /// Its input.
    pub input: T,
}

/// What a validator knows of the instance an update is sent to. Validators run in a fresh
/// instance of the component, not in the orchestrator's: what they may know of its state is
/// what it published as its custom status ([`Context::set_custom_status`](crate::Context::set_custom_status)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateCheck {
    orchestrator: String,
    custom_status: Option<String>,
}

impl UpdateCheck {
    /// The check of an update sent to an instance of `orchestrator` whose custom status is
    /// `custom_status` (JSON text): what the host passes, and what tests build.
    pub fn new(orchestrator: impl Into<String>, custom_status: Option<String>) -> Self {
        UpdateCheck { orchestrator: orchestrator.into(), custom_status }
    }

    /// The orchestrator of the instance.
    pub fn orchestrator(&self) -> &str {
        &self.orchestrator
    }

    /// The instance's custom status, deserialized into `T`: `None` if it has none.
    ///
    /// # Errors
    ///
    /// A failure of type [`INVALID_INPUT`](Failure::INVALID_INPUT) if it does not deserialize.
    pub fn custom_status<T: DeserializeOwned>(&self) -> Result<Option<T>, Failure> {
        self.custom_status
            .as_deref()
            .map(|text| {
                serde_json::from_str(text).map_err(|err| {
                    Failure::new(Failure::INVALID_INPUT, format!("the instance's custom status does not fit: {err}"))
                })
            })
            .transpose()
    }
}

/// One validator of [`export!`](crate::export!): the update it checks and its entry point.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct ValidatorEntry {
    /// The update's name.
    pub name: &'static str,
    /// Checks the update's JSON input.
    pub run: fn(&UpdateCheck, &str) -> Result<(), Failure>,
}

/// Runs a validator: deserializes the input (a mismatch refuses the update with
/// [`INVALID_INPUT`](Failure::INVALID_INPUT)), then calls it.
#[doc(hidden)]
pub fn run_validator<I: DeserializeOwned>(
    update: &str,
    validator: fn(&UpdateCheck, I) -> Result<(), Failure>,
    check: &UpdateCheck,
    input: &str,
) -> Result<(), Failure> {
    let input = serde_json::from_str(input).map_err(|err| {
        Failure::new(Failure::INVALID_INPUT, format!("the input of update '{update}' does not fit: {err}"))
    })?;
    validator(check, input)
}

/// The host's call: the validator of `update`, if the component has one; every update without
/// one is accepted.
#[doc(hidden)]
pub fn dispatch_validator(
    validators: &[ValidatorEntry],
    orchestrator: String,
    update: &str,
    input: &str,
    custom_status: Option<String>,
) -> Result<(), Failure> {
    match validators.iter().find(|entry| entry.name == update) {
        Some(entry) => (entry.run)(&UpdateCheck::new(orchestrator, custom_status), input),
        None => Ok(()),
    }
}

/// Refuses two validators of one update at compile time.
#[doc(hidden)]
pub const fn assert_unique_validators(validators: &[ValidatorEntry]) {
    let mut i = 0;
    while i < validators.len() {
        let mut j = i + 1;
        while j < validators.len() {
            if crate::export::str_eq(validators[i].name, validators[j].name) {
                panic!("reprise_sdk::export!: two validators check the same update");
            }
            j += 1;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positive(_: &UpdateCheck, amount: i64) -> Result<(), Failure> {
        if amount > 0 { Ok(()) } else { Err(Failure::new("NotPositive", format!("{amount} is not positive"))) }
    }

    const VALIDATORS: &[ValidatorEntry] =
        &[ValidatorEntry { name: "add", run: |check, input| run_validator("add", positive, check, input) }];

    #[test]
    fn the_validator_of_the_update_decides() {
        assert_eq!(dispatch_validator(VALIDATORS, "o".into(), "add", "5", None), Ok(()));
        let refused = dispatch_validator(VALIDATORS, "o".into(), "add", "-1", None).unwrap_err();
        assert_eq!(refused.error_type, "NotPositive");
        let malformed = dispatch_validator(VALIDATORS, "o".into(), "add", "\"x\"", None).unwrap_err();
        assert_eq!(malformed.error_type, Failure::INVALID_INPUT);
    }

    #[test]
    fn updates_without_a_validator_are_accepted() {
        assert_eq!(dispatch_validator(VALIDATORS, "o".into(), "other", "-1", None), Ok(()));
    }

    #[test]
    fn a_check_reads_the_custom_status() {
        let check = UpdateCheck::new("approval", Some("{\"stage\":\"waiting\"}".into()));
        let status: serde_json::Value = check.custom_status().unwrap().unwrap();
        assert_eq!(status["stage"], "waiting");
        assert_eq!(check.orchestrator(), "approval");
        assert!(UpdateCheck::new("o", None).custom_status::<u32>().unwrap().is_none());
        assert!(UpdateCheck::new("o", Some("\"x\"".into())).custom_status::<u32>().is_err());
    }
}
