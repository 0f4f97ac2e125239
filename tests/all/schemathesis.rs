//! The OpenAPI document against the server it describes: schemathesis (PyPI, pinned) generates
//! requests from `host/http/openapi.json` as served at `/openapi.json` by the real `reprise
//! serve --listen` with real guests and a token, and runs every check schemathesis has but one: no
//! server error, a status code the document lists, bodies, content types and headers of the
//! documented shapes, invalid requests refused, the token enforced. Left out: that every
//! schema-valid request is accepted, which no document can promise here (an orchestrator name
//! must be one a component exports, a bulk purge needs a filter).
//!
//! Schemathesis is installed once into a virtual environment under the target directory
//! (`<target dir>/toolchains/schemathesis-VERSION`, as the polyglot guests' toolchains). Without
//! Python (3.10 or later, with `venv`) or a reachable PyPI the test fails saying which is
//! missing; nothing else depends on it. `REPRISE_SCHEMATHESIS_EXAMPLES` raises the number of
//! examples per operation for a long run (the default keeps the test near a minute).

use crate::harness::{Killed, listening_address};
use reprise_tests::guests;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

// Schemathesis is installed as the polyglot guests' toolchains are, by the guest builder's own
// code.
use crate::toolchain::polyglot;

/// The schemathesis release the test runs.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Examples per operation and phase by default.
const EXAMPLES: &str = "50";

/// The server's bearer token.
const TOKEN: &str = "schemathesis-token";

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

/// The virtual environment holding schemathesis, made on first use.
fn schemathesis() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root");
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory");
    let python = polyglot::Tools::from_env().python;
    let venv = polyglot::ensure_venv(
        root,
        &target.join("toolchains"),
        &python,
        "schemathesis",
        SCHEMATHESIS_VERSION,
        "the tests of the HTTP API's OpenAPI document (tests/all/schemathesis.rs)",
    )
    .unwrap_or_else(|skipped| panic!("{}\n{}", skipped.reason, skipped.error));
    venv.join("bin").join("st")
}

#[test]
fn the_server_answers_as_its_openapi_document_says() {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(REPRISE)
        // Waits shorter than the request timeout below, so that a generated waitForCompletion
        // that parses cannot hold a request past it.
        .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--max-body", "65536", "--max-wait", "5s", "--db"])
        .arg(dir.path().join("schemathesis.db"))
        .args(["--component", guests::ENTITIES, "--component", guests::CALLBACK_WITH_TIMEOUT])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise serve");
    let stderr = child.stderr.take().expect("stderr");
    let _server = Killed(child);
    let base = listening_address(stderr);

    let examples = std::env::var("REPRISE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.into());
    let output = Command::new(&st)
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .args(["--url", &base])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", &examples])
        .args(["--seed", "1"])
        .args(["--request-timeout", "30"])
        // One worker: with two, schemathesis 4.32.5's coverage phase raised an internal KeyError.
        .args(["--workers", "1"])
        .arg("--no-color")
        // Its own files (the example database, reports) go to the temporary directory.
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", st.display()));
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found responses that do not match the document:\n{report}");
    eprintln!("{report}");
}
