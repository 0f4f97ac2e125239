//! Python virtual environments holding pinned PyPI packages, cached under the target directory:
//! the polyglot guests' toolchains (`polyglot.rs`) and the tests' schemathesis. Standard library
//! only, so that build scripts and tests can include this file with `#[path]`.
//!
//! It owns the creation of an environment and the install of one package at one version into
//! it; it never installs anything outside the directory it is given.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A virtual environment `<toolchains>/<package>-<version>` holding the PyPI package `package`
/// at exactly `version`, created and filled if it is missing. `users` says who needs it, for
/// the errors. Returns its directory.
pub fn ensure_venv(
    root: &Path,
    toolchains: &Path,
    package: &str,
    version: &str,
    users: &str,
) -> Result<PathBuf, String> {
    let venv = toolchains.join(format!("{package}-{version}"));
    let done = venv.join(".reprise-installed");
    if done.is_file() {
        return Ok(venv);
    }
    // A half-made environment (an interrupted install) is made again from scratch.
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|err| format!("cannot remove {}: {err}", venv.display()))?;
    }
    fs::create_dir_all(toolchains).map_err(|err| format!("cannot create {}: {err}", toolchains.display()))?;
    let python = env::var_os("REPRISE_PYTHON").unwrap_or_else(|| "python3".into());
    eprintln!("fetching {package} {version} from PyPI into {}", venv.display());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv).current_dir(root),
        &format!(
            "cannot create a Python virtual environment with {}: {users} need Python 3.10 or later \
             with its `venv` module (on Debian: `apt-get install python3-venv`); set REPRISE_PYTHON to \
             another interpreter if `python3` is not the right one",
            python.to_string_lossy()
        ),
    )?;
    run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .arg(format!("{package}=={version}"))
            .current_dir(root),
        &format!(
            "cannot install {package} {version} from PyPI: check that this machine reaches \
             PyPI (pip honours PIP_INDEX_URL and the proxy variables), then build again"
        ),
    )?;
    fs::write(&done, version).map_err(|err| format!("cannot write {}: {err}", done.display()))?;
    Ok(venv)
}

/// Runs `cmd` to completion, its output on our stderr; `what_to_do` is the error if it fails.
pub fn run(cmd: &mut Command, what_to_do: &str) -> Result<(), String> {
    cmd.stdout(Stdio::from(std::io::stderr()));
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{what_to_do} ({cmd:?} failed: {status})")),
        Err(err) => Err(format!("{what_to_do} ({cmd:?} could not be run: {err})")),
    }
}
