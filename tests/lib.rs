//! End-to-end tests of Reprise: real guest components, run by the real executor on a real SQLite
//! file. The tests live in `tests/all/`; this library gives them the guest components and the
//! fault suite ([`torture`]), which the `torture` binary also runs.

pub mod guests;

pub mod torture;
