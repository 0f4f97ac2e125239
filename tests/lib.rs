//! End-to-end tests of Reprise: real guest components, run by the real executor on a real SQLite
//! file. The tests live in `tests/all/`; this library only gives them the guest components.

pub mod guests;
