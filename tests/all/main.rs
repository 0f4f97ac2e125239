//! End-to-end tests: real guest components (built from `guests/` by the build script), the real
//! executor, a real SQLite file. One test binary, one module per area.

mod bad_input;
mod cli;
mod coverage;
mod crash;
mod deploy;
mod determinism;
mod entities;
mod examples;
mod faults;
mod fuzz;
mod golden;
mod harness;
mod http;
mod outgoing;
mod payloads;
mod polyglot;
mod rewind;
mod sandbox;
mod scheduling;
mod schemathesis;
mod sdk_testing_js;
mod structure;
mod sub_orchestrations;
mod torture;
mod traps;
mod upgrade;
mod versioning;
