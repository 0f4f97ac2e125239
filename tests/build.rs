//! Builds the example guest components (`guests/`) once, for wasm32-wasip2, and writes
//! `$OUT_DIR/guests.rs`: one constant per guest naming its `.wasm` file, `ALL` and `POLYGLOT`,
//! and the `foreach_guest!` macro the tests' guard uses to check that every guest has a test.
//!
//! The Rust guests are built by a nested cargo into `<target dir>/guests`, a directory of their
//! own, so that the nested build never waits on a lock of this one; they are the core of the
//! suite, so a failure to build them fails this build. The guests in other languages (Python,
//! JavaScript, C) are built next, with toolchains fetched once into `<target dir>/toolchains`
//! (see `xtask/src/polyglot.rs`). A polyglot guest that cannot be built (no Python or Node.js,
//! a pinned tool that cannot be fetched, a toolchain that rejects it) does not fail this build:
//! its constant becomes a placeholder whose use fails the tests that need it with the reason, a
//! `cargo:warning` names it, and every build tries it again until it is built. The logic is
//! shared with `cargo xtask build-guests`.

#[path = "../xtask/src/guests.rs"]
mod guests;
// Shared with `cargo xtask build-guests`, which also reports whether each guest was rebuilt.
#[allow(dead_code)]
#[path = "../xtask/src/polyglot.rs"]
mod polyglot;

use std::path::{Path, PathBuf};
use std::{env, fs, process};

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?);
    let root = manifest_dir.parent().ok_or("the tests package has no parent directory")?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);

    for dir in guests::source_dirs(root) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    for var in polyglot::Tools::VARIABLES {
        println!("cargo:rerun-if-env-changed={var}");
    }

    if guests::ensure_target(root)? {
        println!("cargo:warning=installed the {} target with rustup, to build the guest components", guests::TARGET);
    }
    let target_dir = guests::guests_target_dir(&guests::target_dir(root));
    let built = guests::build(root, &target_dir).map_err(|err| {
        format!("{err}\nthe Rust guests are the core of the test suite: the tests cannot be built without them")
    })?;
    let polyglot = polyglot::build(root, &guests::target_dir(root), &polyglot::Tools::from_env())?;

    let skipped = polyglot::skipped_summary(&polyglot);
    for line in &skipped {
        println!("cargo:warning={line}");
    }
    if !skipped.is_empty() {
        println!(
            "cargo:warning=the tests that use these guests fail with the whole message; every other test runs, \
             and every build tries the skipped guests again"
        );
        // A path that never exists makes cargo run this script at every build, so a guest is
        // built as soon as its toolchain is there (installing one changes nothing cargo watches).
        println!("cargo:rerun-if-changed={}", out_dir.join("a-guest-was-skipped").display());
    }

    let names: Vec<&str> = built
        .iter()
        .map(|guest| guest.krate.name.as_str())
        .chain(polyglot.iter().map(|build| build.guest.name.as_str()))
        .collect();
    let source = guests::constants_source(&built)
        + &polyglot::constants_source(&polyglot)
        + &guests::foreach_guest_source(&names)?;
    write_if_changed(&out_dir.join("guests.rs"), &source)
}

/// Writes `contents` to `path` unless it holds them already, so an unchanged file keeps its
/// modification time and what includes it is not rebuilt.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), String> {
    if fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    fs::write(path, contents).map_err(|err| format!("cannot write {}: {err}", path.display()))
}
