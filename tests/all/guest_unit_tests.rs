//! The guests' own unit tests, written with the SDK's test harness (`reprise_sdk::testing`) and
//! run the way a user runs theirs: `cargo test` in the guests' workspace, on the host target,
//! with no wasm build and no host. Each seed example has one that runs its golden history's
//! scenario through the harness and checks that it decides what the host decided
//! (`the_harness_decides_as_the_host_did`); `golden.rs` checks, on the host, that those
//! histories still replay.

use crate::toolchain::guests as build;
use std::path::Path;

/// The guest crates of the seed patterns, each with a test against its golden history.
const SEED_GUESTS: [&str; 9] = [
    "order-processing",
    "transfer-funds",
    "retry-pattern",
    "fan-out",
    "callback-with-timeout",
    "timeouts-and-polling",
    "entities",
    "sub-orchestrations",
    "onboarding-v3",
];

#[test]
fn the_guests_unit_tests_pass_and_agree_with_the_host() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests package has a parent directory");
    // The directory the guests' wasm builds use: their dependencies are compiled there already
    // for the build scripts, and once more for the host target, not per test run.
    let target_dir = build::guests_target_dir(&build::target_dir(root));
    // One file for both streams, in the order they were written: cargo names each test binary
    // on stderr, and the binary lists its tests on stdout.
    let log = tempfile::tempfile().expect("a temporary file");
    let status = build::nested_cargo()
        .current_dir(root)
        .args(["test", "--manifest-path", "guests/Cargo.toml", "--workspace", "--target-dir"])
        .arg(&target_dir)
        .stdout(log.try_clone().expect("the file's handle clones"))
        .stderr(log.try_clone().expect("the file's handle clones"))
        .status()
        .expect("cargo runs");
    let mut stdout = String::new();
    let mut log = log;
    std::io::Seek::rewind(&mut log).expect("the file rewinds");
    std::io::Read::read_to_string(&mut log, &mut stdout).expect("the log reads");
    assert!(status.success(), "the guests' unit tests failed:\n{stdout}");
    for guest in SEED_GUESTS {
        let binary = guest.replace('-', "_");
        let section = stdout
            .split("Running unittests")
            .find(|s| s.contains(&format!("deps/{binary}-")))
            .unwrap_or_else(|| panic!("no unit tests of the guest {guest} ran:\n{stdout}"));
        assert!(
            section.contains("test tests::the_harness_decides_as_the_host_did ... ok"),
            "the guest {guest} has no passing agreement test:\n{section}"
        );
    }
}
