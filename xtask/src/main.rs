//! Project tasks, run as `cargo xtask <task>` (an alias of `cargo run -p xtask --`):
//!
//! - `build-guests`: builds the example guest components of `guests/` for wasm32-wasip2 into
//!   `<target dir>/guests`, and the guests in Python and JavaScript into
//!   `<target dir>/guests/polyglot` (fetching their pinned toolchains into
//!   `<target dir>/toolchains` once), as the tests' build script does, and lists them. A guest
//!   in another language that cannot be built (its toolchain is missing) is reported with what
//!   to do, the others are built all the same, and the task fails at the end.
//! - `quickstart`: builds the guests and the `reprise` command, then runs the order-processing
//!   example (`reprise run process_order --input '"order-1001"' ...`) on a fresh database, and
//!   exits with its exit code. It needs only the Rust guests: a guest in another language that
//!   cannot be built is reported and does not stop it.
//! - `torture --rounds N --seed S [--instances M] [--dir DIR] [--release]`: the fault suite
//!   (`tests/torture/`): SIGKILLs a `reprise serve` N times under a seeded workload, then checks
//!   every invariant; exits 1 on a violation. Built in the tests' dev profile unless
//!   `--release` is given (which builds the host a second time, optimized).

// Shared with tests/build.rs, which uses the parts this binary does not.
#[allow(dead_code)]
mod guests;
#[allow(dead_code)]
mod polyglot;

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  build-guests   build the example guest components (guests/): Rust, Python and JavaScript
  quickstart     build the guests and the reprise command, and run the order-processing example
  torture        --rounds N --seed S [--instances M] [--dir DIR] [--release]: kill the host N times
                 under a seeded workload, then check that nothing was lost or done twice";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["build-guests"] => build_guests().and_then(|(_, skipped)| match skipped {
            0 => Ok(ExitCode::SUCCESS),
            n => {
                Err(format!("{n} guest component(s) in other languages were not built (why is above); the others were"))
            }
        }),
        ["quickstart"] => quickstart(),
        ["torture", rest @ ..] => torture(rest),
        [] | ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(format!("unknown arguments {args:?}\n\n{USAGE}")),
    };
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

/// The root of the project: the parent of this package's directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in a directory of the project").to_path_buf()
}

/// Builds every guest and lists them; returns the Rust guests, and how many guests in other
/// languages were skipped (each reported with why).
fn build_guests() -> Result<(Vec<guests::Guest>, usize), String> {
    let root = root();
    eprintln!("building guest components...");
    if guests::ensure_target(&root)? {
        eprintln!("installed the {} target with rustup", guests::TARGET);
    }
    let target_dir = guests::guests_target_dir(&guests::target_dir(&root));
    let built = guests::build(&root, &target_dir)?;
    for guest in &built {
        eprintln!("  {:<26} {}", guest.krate.name, guest.wasm.display());
    }
    eprintln!("building guest components in other languages...");
    let mut skipped = 0;
    for build in polyglot::build(&root, &guests::target_dir(&root), &polyglot::Tools::from_env())? {
        match build.outcome {
            polyglot::Outcome::Built { wasm, rebuilt } => {
                let note = if rebuilt { "" } else { " (up to date)" };
                eprintln!("  {:<26} {}{note}", build.guest.name, wasm.display());
            }
            polyglot::Outcome::Skipped(why) => {
                skipped += 1;
                eprintln!("  {:<26} NOT BUILT: {}", build.guest.name, why.reason);
                for line in why.error.lines() {
                    eprintln!("  {:<26}   {line}", "");
                }
            }
        }
    }
    Ok((built, skipped))
}

fn quickstart() -> Result<ExitCode, String> {
    let root = root();
    let (built, skipped) = build_guests()?;
    if skipped > 0 {
        eprintln!("(the quickstart needs only the Rust guests: it goes on without the {skipped} above)");
    }
    let order_processing = built
        .iter()
        .find(|guest| guest.krate.name == "order-processing")
        .ok_or("the guests workspace has no order-processing crate")?;

    // The same (dev) profile as the tests, so nothing is built twice.
    eprintln!("building the reprise command...");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "-p", "reprise-cli"])
        .current_dir(&root)
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if !status.success() {
        return Err(format!("building reprise-cli failed ({status})"));
    }

    let target_dir = guests::target_dir(&root);
    let db = target_dir.join("quickstart.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(format!("cannot remove {}: {err}", Path::new(&path).display()));
            }
        }
    }

    let reprise = target_dir.join("debug").join(format!("reprise{}", env::consts::EXE_SUFFIX));
    eprintln!("running process_order...");
    let status = Command::new(&reprise)
        .args(["run", "process_order", "--input", "\"order-1001\"", "--component"])
        .arg(&order_processing.wasm)
        .arg("--db")
        .arg(&db)
        .current_dir(&root)
        .status()
        .map_err(|err| format!("cannot run {}: {err}", reprise.display()))?;
    Ok(match status.code() {
        Some(0) => {
            let shown = |path: &Path| path.strip_prefix(&root).unwrap_or(path).display().to_string();
            eprintln!(
                "\nsee its timeline in the web console:\n  {} serve --listen --db {} --component {}\n  \
                 then open http://127.0.0.1:7071/ and click the instance",
                shown(&reprise),
                shown(&db),
                shown(&order_processing.wasm)
            );
            ExitCode::SUCCESS
        }
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("reprise was killed ({status})");
            ExitCode::FAILURE
        }
    })
}

/// Builds the host under test and runs the fault suite's binary with `args` (all but
/// `--release`, which selects the profile of both).
fn torture(args: &[&str]) -> Result<ExitCode, String> {
    let root = root();
    let release = args.contains(&"--release");
    let passed: Vec<&str> = args.iter().copied().filter(|a| *a != "--release").collect();
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The binary runs `reprise-under-test`, which `cargo run --bin torture` alone would not build.
    let status = Command::new(&cargo)
        .args(["build", "-p", "reprise-tests", "--bin", "reprise-under-test"])
        .args(profile)
        .current_dir(&root)
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if !status.success() {
        return Err(format!("building the reprise command under test failed ({status})"));
    }
    let status = Command::new(&cargo)
        .args(["run", "-p", "reprise-tests", "--bin", "torture"])
        .args(profile)
        .arg("--")
        .args(&passed)
        .current_dir(&root)
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
