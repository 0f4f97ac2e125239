//! End-to-end tests: real guest components (built from `guests/` by the build script), the real
//! executor, a real SQLite file. One test binary, one module per area.

mod agreement;
mod bad_input;
mod browser;
mod cli;
mod console;
mod coverage;
mod crash;
mod deploy;
mod determinism;
mod entities;
mod examples;
mod faults;
mod flow_control;
mod fuzz;
mod golden;
mod guest_unit_tests;
mod harness;
mod http;
mod metrics;
mod outgoing;
mod payloads;
mod polyglot;
mod rewind;
mod sandbox;
mod schedules;
mod scheduling;
mod schemathesis;
mod sdk_testing_js;
mod sdk_testing_python;
mod structure;
mod sub_orchestrations;
mod torture;
mod traces;
mod traps;
mod updates;
mod upgrade;
mod versioning;

/// The guest builder's own code, which `tests/build.rs` and `cargo xtask` share: the tests that
/// fetch a tool or run a nested cargo do it the same way.
#[allow(dead_code)]
#[path = "../../xtask/src"]
mod toolchain {
    pub(crate) mod guests;
    pub(crate) mod polyglot;
}
