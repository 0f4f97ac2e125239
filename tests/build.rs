//! Builds the example guest components (`guests/`) once, for wasm32-wasip2, and writes
//! `$OUT_DIR/guests.rs`: one constant per guest naming its `.wasm` file, and `ALL`.
//!
//! The guests are built by a nested cargo into `<target dir>/guests`, a directory of their own,
//! so that the nested build never waits on a lock of this one. The logic is shared with
//! `cargo xtask build-guests`. The guests in other languages (Python, JavaScript) are built
//! next, with toolchains fetched once into `<target dir>/toolchains` (see
//! `xtask/src/polyglot.rs`), and get constants of their own.

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
    for var in ["REPRISE_PYTHON", "REPRISE_NODE", "REPRISE_NPM"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    if guests::ensure_target(root)? {
        println!("cargo:warning=installed the {} target with rustup, to build the guest components", guests::TARGET);
    }
    let target_dir = guests::guests_target_dir(&guests::target_dir(root));
    let built = guests::build(root, &target_dir)?;
    let polyglot = polyglot::build(root, &guests::target_dir(root))?;
    let source = guests::constants_source(&built) + &polyglot::constants_source(&polyglot);
    write(&out_dir.join("guests.rs"), &source)
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|err| format!("cannot write {}: {err}", path.display()))
}
