//! Building the example guest components of `guests/`, shared by `cargo xtask build-guests` and
//! the build script of the end-to-end tests (`tests/build.rs` includes this file with `#[path]`),
//! so both build them the same way, into the same directory. Standard library only.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target the guests are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Variables that a parent cargo (a build script's or `cargo run`'s) may set and that must not
/// leak into the nested cargo that builds the guests: they configure the parent's build
/// (flags for another target, the clippy driver as a wrapper, another target directory...).
/// The jobserver variables (`CARGO_MAKEFLAGS`, `MAKEFLAGS`, `MFLAGS`) are kept, so the nested
/// build shares the parent's job tokens instead of starting as many jobs again.
const LEAKING_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CLIPPY_ARGS",
];

/// A crate of the guests workspace.
#[derive(Debug, Clone)]
pub struct GuestCrate {
    /// The package name, such as `order-processing`.
    pub name: String,
    /// The package description, if any.
    pub description: Option<String>,
    /// True for a binary crate (a WASI command), false for a `cdylib` (a library component).
    pub is_bin: bool,
}

impl GuestCrate {
    /// The file name cargo gives the crate's component: library crates have their dashes
    /// replaced with underscores, binaries keep their name.
    pub fn wasm_file_name(&self) -> String {
        if self.is_bin { format!("{}.wasm", self.name) } else { format!("{}.wasm", self.name.replace('-', "_")) }
    }

    /// The name of the constant naming the component: `ORDER_PROCESSING` for `order-processing`.
    pub fn const_name(&self) -> String {
        self.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
    }
}

/// A guest component that was built.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The crate it was built from.
    pub krate: GuestCrate,
    /// The absolute path of its `.wasm` file.
    pub wasm: PathBuf,
}

/// The target directory shared by the project: `CARGO_TARGET_DIR` if set (relative to `root` if
/// relative), else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The directory the guests are built in: `<target dir>/guests`, apart from the directories
/// of the root workspace's profiles, so the nested build never waits on the parent's lock.
pub fn guests_target_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("guests")
}

/// The directories whose contents the guests are built from, for `cargo:rerun-if-changed`.
pub fn source_dirs(root: &Path) -> Vec<PathBuf> {
    ["guests", "guest-sdk", "wit", "xtask/c-component"].iter().map(|dir| root.join(dir)).collect()
}

/// The cargo to run: the one running us (`CARGO`), else `cargo` from the `PATH`.
fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// A cargo command for a nested build, without the variables of a parent cargo that would leak
/// into it (see `LEAKING_VARIABLES`). Give it a target directory of its own.
pub fn nested_cargo() -> Command {
    let mut cmd = cargo();
    for var in LEAKING_VARIABLES {
        cmd.env_remove(var);
    }
    cmd
}

/// The rustc to ask for its sysroot: `RUSTC` (set by cargo for build scripts), else `rustc`.
fn rustc() -> OsString {
    env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"))
}

/// Makes sure the standard library for [`TARGET`] is installed, installing it with rustup if it
/// is not (rustup installs the targets of `rust-toolchain.toml` only when it installs the
/// toolchain itself). Returns true if it had to install it.
pub fn ensure_target(root: &Path) -> Result<bool, String> {
    let output = Command::new(rustc())
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output()
        .map_err(|err| format!("cannot run rustc to find its sysroot: {err}"))?;
    if !output.status.success() {
        return Err(format!("`rustc --print sysroot` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(false);
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]).current_dir(root);
    // The sysroot of a rustup toolchain is `<rustup home>/toolchains/<name>`.
    if let Some(toolchain) = sysroot.file_name() {
        rustup.arg("--toolchain").arg(toolchain);
    }
    let status = rustup.stdout(Stdio::from(std::io::stderr())).status().map_err(|err| {
        format!(
            "the {TARGET} target is not installed in {} and rustup could not be run ({err}): \
                 install it with `rustup target add {TARGET}`",
            sysroot.display()
        )
    })?;
    if status.success() {
        Ok(true)
    } else {
        Err(format!("`rustup target add {TARGET}` failed ({status}): the guests cannot be built"))
    }
}

/// The crates of the guests workspace, in the order of its `members`.
pub fn guest_crates(root: &Path) -> Result<Vec<GuestCrate>, String> {
    let guests = root.join("guests");
    let manifest = read(&guests.join("Cargo.toml"))?;
    let members = workspace_members(&manifest)
        .ok_or_else(|| format!("{}: no `members = [...]` list", guests.join("Cargo.toml").display()))?;
    members
        .iter()
        .map(|member| {
            let dir = guests.join(member);
            let path = dir.join("Cargo.toml");
            let manifest = read(&path)?;
            let name =
                package_field(&manifest, "name").ok_or_else(|| format!("{}: no package name", path.display()))?;
            let description = package_field(&manifest, "description");
            let is_cdylib =
                manifest.lines().any(|line| line.trim_start().starts_with("crate-type") && line.contains("cdylib"));
            let is_bin = !is_cdylib && dir.join("src/main.rs").is_file();
            if !is_cdylib && !is_bin {
                return Err(format!("{}: a guest must be a `cdylib` or a binary crate", path.display()));
            }
            Ok(GuestCrate { name, description, is_bin })
        })
        .collect()
}

/// Builds every guest once, with one nested `cargo build --release --target wasm32-wasip2` of
/// the guests workspace into `guests_target_dir`, and returns the components, checking that each
/// crate produced one. Cargo's progress goes to our stderr.
pub fn build(root: &Path, guests_target_dir: &Path) -> Result<Vec<Guest>, String> {
    let crates = guest_crates(root)?;
    let mut cmd = nested_cargo();
    cmd.args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(root.join("guests/Cargo.toml"))
        .arg("--target-dir")
        .arg(guests_target_dir)
        .current_dir(root.join("guests"))
        // Our stdout may be a build script's, which cargo reads as instructions.
        .stdout(Stdio::from(std::io::stderr()));
    let status = cmd.status().map_err(|err| format!("cannot run cargo to build the guests: {err}"))?;
    if !status.success() {
        return Err(format!("building the guest components failed ({status}); the command was {cmd:?}"));
    }
    let out = guests_target_dir.join(TARGET).join("release");
    crates
        .into_iter()
        .map(|krate| {
            let wasm = out.join(krate.wasm_file_name());
            if wasm.is_file() {
                Ok(Guest { krate, wasm })
            } else {
                Err(format!(
                    "the guest crate `{}` produced no component: {} does not exist",
                    krate.name,
                    wasm.display()
                ))
            }
        })
        .collect()
}

/// Rust source declaring one `pub const NAME: &str = "/path/to/name.wasm";` per guest and
/// `pub const ALL: &[(&str, &str)]` pairing each crate name with its path.
pub fn constants_source(guests: &[Guest]) -> String {
    let mut src = String::from("// Generated by the guest builder (xtask/src/guests.rs).\n");
    for guest in guests {
        let description = guest.krate.description.as_deref().unwrap_or("");
        let _ = writeln!(
            src,
            "\n/// The component of the guest crate `{}`. {description}\npub const {}: &str = {:?};",
            guest.krate.name,
            guest.krate.const_name(),
            path_str(&guest.wasm),
        );
    }
    src.push_str("\n/// Every guest component: the crate's name and the component's path.\n");
    src.push_str("pub const ALL: &[(&str, &str)] = &[\n");
    for guest in guests {
        let _ = writeln!(src, "    ({:?}, {}),", guest.krate.name, guest.krate.const_name());
    }
    src.push_str("];\n");
    src
}

/// The identifier `foreach_guest!` names a guest by: `order_processing` for `order-processing`.
pub fn guest_ident(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Rust source of `foreach_guest!`, which calls `$mac!(ident)` once per guest named in `names`
/// (every guest of `guests/`, in every language, built or not: see [`guest_ident`]), for the
/// tests' guard that every guest is tested. Two guests with the same identifier, or a name that
/// makes no identifier, are an error naming them.
pub fn foreach_guest_source(names: &[&str]) -> Result<String, String> {
    let mut idents: Vec<(String, &str)> = Vec::new();
    for name in names {
        let ident = guest_ident(name);
        if !ident.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(format!("the guest `{name}` needs a name that starts with a letter"));
        }
        if let Some((_, other)) = idents.iter().find(|(seen, _)| *seen == ident) {
            return Err(format!("the guests `{other}` and `{name}` would both be `{ident}`: rename one"));
        }
        idents.push((ident, name));
    }
    idents.sort();
    let mut src = String::from(
        "\n/// Calls `$mac!(guest)` once per guest of `guests/` (its name with `_` for `-`), Rust or not,\n\
         /// built or not: the tests use it to check that every guest has a test.\n\
         #[macro_export]\nmacro_rules! foreach_guest {\n    ($mac:ident) => {\n",
    );
    for (ident, _) in &idents {
        let _ = writeln!(src, "        $mac!({ident});");
    }
    src.push_str("    };\n}\n");
    Ok(src)
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

/// The strings of the `members = [...]` array of a workspace manifest.
fn workspace_members(manifest: &str) -> Option<Vec<String>> {
    let start = manifest
        .lines()
        .scan(0, |offset, line| {
            let here = *offset;
            *offset += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, line)| line.trim_start().starts_with("members"))?
        .0;
    let rest = &manifest[start..];
    let open = rest.find('[')?;
    let close = open + rest[open..].find(']')?;
    Some(quoted_strings(&rest[open + 1..close]))
}

/// The strings between double quotes in `text`, outside comments.
fn quoted_strings(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split('"').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// The string value of `key = "..."` in the `[package]` table of a manifest.
fn package_field(manifest: &str, key: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            let v = v.trim();
            return v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).map(str::to_owned);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreach_guest_names_every_guest_once_as_an_identifier() {
        let source = foreach_guest_source(&["order-processing", "py-transfer-funds", "chain"]).unwrap();
        assert!(source.contains("macro_rules! foreach_guest {"), "{source}");
        let calls: Vec<&str> = source.lines().map(str::trim).filter(|line| line.starts_with("$mac!(")).collect();
        assert_eq!(calls, ["$mac!(chain);", "$mac!(order_processing);", "$mac!(py_transfer_funds);"]);
    }

    #[test]
    fn two_guests_with_one_identifier_are_an_error_naming_both() {
        let err = foreach_guest_source(&["py-chain", "py_chain"]).unwrap_err();
        assert_eq!(err, "the guests `py-chain` and `py_chain` would both be `py_chain`: rename one");
        let err = foreach_guest_source(&["1st"]).unwrap_err();
        assert_eq!(err, "the guest `1st` needs a name that starts with a letter");
    }
}
