//! End-to-end tests: real guest components (built from `guests/` by the build script), the real
//! executor, a real SQLite file. One test binary, one module per area.

mod bad_input;
mod crash;
mod determinism;
mod entities;
mod examples;
mod fuzz;
mod harness;
mod http;
mod polyglot;
mod scheduling;
mod schemathesis;
mod sub_orchestrations;
mod versioning;
