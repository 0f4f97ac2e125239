//! Hostile input for the JSON the store keeps: history events, inbox messages and failures,
//! decoded from arbitrary bytes and from valid documents damaged in every way.
//!
//! Decoding must end in a value or a serde error, never a panic, and whatever decodes must
//! survive being written and read again unchanged (what the store writes back after reading).
//! `PROPTEST_CASES` raises the number of cases for a long run.

use crate::strategies::{event, failure, message, mutate, mutation};
use crate::{Event, Failure, HistoryEvent, Message};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Decodes `bytes` as a `T`; if that works, checks that the value is written and read back
/// unchanged.
fn decodes_stably<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(value) = serde_json::from_slice::<T>(bytes) else { return Ok(()) };
    let text = serde_json::to_string(&value).map_err(|err| TestCaseError::fail(format!("{value:?}: {err}")))?;
    let again: T = serde_json::from_str(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
    prop_assert_eq!(again, value, "{} did not read back as written", text);
    Ok(())
}

/// A valid value written as JSON reads back equal.
fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let text = serde_json::to_string(value).map_err(|err| TestCaseError::fail(format!("{value:?}: {err}")))?;
    let again: T = serde_json::from_str(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
    prop_assert_eq!(&again, value, "{} did not read back as written", text);
    Ok(())
}

fn history_event() -> impl Strategy<Value = HistoryEvent> {
    (prop_oneof![0u64..64, any::<u64>()], event()).prop_map(|(seq, event)| HistoryEvent { seq, event })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decodes_stably::<Event>(&bytes)?;
        decodes_stably::<HistoryEvent>(&bytes)?;
        decodes_stably::<Message>(&bytes)?;
        decodes_stably::<Failure>(&bytes)?;
    }

    #[test]
    fn valid_values_round_trip(event in history_event(), message in message(), failure in failure()) {
        round_trips(&event)?;
        round_trips(&message)?;
        round_trips(&failure)?;
    }

    #[test]
    fn damaged_history_events_decode_or_are_refused(
        event in history_event(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let text = serde_json::to_string(&event).expect("events serialize");
        let damaged = mutate(&text, &mutations);
        decodes_stably::<HistoryEvent>(&damaged)?;
        decodes_stably::<Event>(&damaged)?;
    }

    #[test]
    fn damaged_histories_decode_or_are_refused(
        events in prop::collection::vec(history_event(), 0..6),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let text = serde_json::to_string(&events).expect("events serialize");
        decodes_stably::<Vec<HistoryEvent>>(&mutate(&text, &mutations))?;
    }

    #[test]
    fn damaged_messages_and_failures_decode_or_are_refused(
        message in message(),
        failure in failure(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let text = serde_json::to_string(&message).expect("messages serialize");
        decodes_stably::<Message>(&mutate(&text, &mutations))?;
        let text = serde_json::to_string(&failure).expect("failures serialize");
        decodes_stably::<Failure>(&mutate(&text, &mutations))?;
    }
}

#[test]
fn deeply_nested_input_is_refused_not_a_stack_overflow() {
    // serde_json stops at 128 levels; a stored row of a million brackets must not crash the host.
    let deep = "[".repeat(1_000_000);
    assert!(serde_json::from_str::<Vec<HistoryEvent>>(&deep).is_err());
    let deep_failure = format!("{{\"error_type\":\"E\",\"message\":\"m\",\"causes\":{}", "[".repeat(100_000));
    assert!(serde_json::from_str::<Failure>(&deep_failure).is_err());
}

#[test]
fn retry_coefficients_read_back_exactly() {
    // Found by `valid_values_round_trip`: serde_json's default float parsing can be one unit in
    // the last place off, so a stored policy read back differed from the one written.
    for coefficient in [2.8217553783899744e268, 6.208812351309075e-41, 1.7976931348623157e308] {
        let policy = crate::RetryPolicy {
            max_attempts: 3,
            first_retry_interval_ms: 10,
            backoff_coefficient: coefficient,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
            non_retryable_errors: Vec::new(),
        };
        let text = serde_json::to_string(&policy).unwrap();
        let again: crate::RetryPolicy = serde_json::from_str(&text).unwrap();
        assert_eq!(again.backoff_coefficient.to_bits(), coefficient.to_bits(), "{text}");
    }
}
