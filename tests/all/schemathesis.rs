//! The OpenAPI document against the server it describes: schemathesis (PyPI, pinned) generates
//! requests from `host/http/openapi.json` as served at `/openapi.json` by the real `reprise
//! serve --listen` with real guests, and checks every response: no server error, a status code
//! the document lists, a body and headers of the documented shapes.
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

// Also how the polyglot guests' toolchains are installed.
#[allow(dead_code)]
#[path = "../../xtask/src/venv.rs"]
mod venv;

/// The schemathesis release the test runs.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Examples per operation and phase by default.
const EXAMPLES: &str = "25";

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

/// The virtual environment holding schemathesis, made on first use.
fn schemathesis() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root");
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory");
    let venv = venv::ensure_venv(
        root,
        &target.join("toolchains"),
        "schemathesis",
        SCHEMATHESIS_VERSION,
        "the HTTP API's schema test (tests/all/schemathesis.rs)",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    venv.join("bin").join("st")
}

#[test]
fn the_server_answers_as_its_openapi_document_says() {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(REPRISE)
        .args(["serve", "--listen", "127.0.0.1:0", "--max-body", "65536", "--db"])
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
        .args(["--checks", "not_a_server_error,status_code_conformance,response_schema_conformance"])
        .args(["--checks", "content_type_conformance,response_headers_conformance"])
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
