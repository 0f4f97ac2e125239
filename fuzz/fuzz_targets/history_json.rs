//! History decoding: any bytes as a stored history (a list of events, one event with its
//! position, one event) decode to a value or a serde error, and a value written back reads back
//! unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise_core::{Event, HistoryEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn stable<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else { return };
    let text = serde_json::to_string(&value).expect("a decoded value serializes");
    let again: T = serde_json::from_str(&text).expect("what was written reads back");
    assert_eq!(again, value, "{text} did not read back as written");
}

fuzz_target!(|data: &[u8]| {
    stable::<Vec<HistoryEvent>>(data);
    stable::<HistoryEvent>(data);
    stable::<Event>(data);
});
