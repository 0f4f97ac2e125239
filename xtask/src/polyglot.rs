//! Building the guest components written in other languages than Rust (`guests/<name>/` with a
//! `main.py` or a `main.js` and no `Cargo.toml`), shared by `cargo xtask build-guests` and the
//! tests' build script (which includes this file with `#[path]`). Standard library only.
//!
//! It owns the pinned toolchains: componentize-py from PyPI in a virtual environment, and
//! componentize-js from npm, installed at the versions of the committed
//! `guest-sdk/js/toolchain/package-lock.json`. Both are cached under `<target dir>/toolchains`
//! (so a clean clone fetches them once, and `cargo clean` resets them), and each component is
//! rebuilt only when its sources, the SDK, the WIT package or the toolchain change. It never
//! installs anything outside the target directory, and it never generates bindings into the
//! source tree: both toolchains generate them from `wit/` at every build.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The componentize-py release the Python guests are built with (PyPI).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The WIT world every polyglot guest targets: the SDKs export both orchestrators and
/// activities (either list may be empty).
pub const WORLD: &str = "app";

/// The language of a polyglot guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `main.py`, built with componentize-py.
    Python,
    /// `main.js`, built with componentize-js.
    JavaScript,
}

impl Language {
    /// The language's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
        }
    }

    fn main_file(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::JavaScript => "main.js",
        }
    }

    fn sdk_dir(self) -> &'static str {
        match self {
            Language::Python => "guest-sdk/python",
            Language::JavaScript => "guest-sdk/js",
        }
    }
}

/// A directory of `guests/` holding a guest in another language than Rust.
#[derive(Debug, Clone)]
pub struct PolyglotGuest {
    /// The directory's name, such as `py-transfer-funds`.
    pub name: String,
    /// Its language.
    pub language: Language,
    /// The absolute path of its directory.
    pub dir: PathBuf,
}

impl PolyglotGuest {
    /// The name of the constant naming the component: `PY_TRANSFER_FUNDS` for `py-transfer-funds`.
    pub fn const_name(&self) -> String {
        self.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
    }
}

/// A polyglot guest component that was built.
#[derive(Debug, Clone)]
pub struct BuiltGuest {
    /// The guest it was built from.
    pub guest: PolyglotGuest,
    /// The absolute path of its `.wasm` file.
    pub wasm: PathBuf,
    /// False if the component was up to date and not built again.
    pub rebuilt: bool,
}

/// The directory the toolchains are cached in: `<target dir>/toolchains`.
pub fn toolchains_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("toolchains")
}

/// The polyglot guests of `guests/`, sorted by name.
pub fn discover(root: &Path) -> Result<Vec<PolyglotGuest>, String> {
    let guests = root.join("guests");
    let entries = fs::read_dir(&guests).map_err(|err| format!("cannot list {}: {err}", guests.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let dir = entry.map_err(|err| format!("cannot list {}: {err}", guests.display()))?.path();
        if !dir.is_dir() || dir.join("Cargo.toml").is_file() {
            continue;
        }
        let languages: Vec<Language> = [Language::Python, Language::JavaScript]
            .into_iter()
            .filter(|language| dir.join(language.main_file()).is_file())
            .collect();
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match languages.as_slice() {
            [] => {}
            [language] => found.push(PolyglotGuest { name, language: *language, dir }),
            _ => {
                return Err(format!(
                    "{} has both a main.py and a main.js: a guest directory holds one language",
                    dir.display()
                ));
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Builds every polyglot guest into `<target dir>/guests/polyglot`, fetching the toolchains the
/// guests need first. Components whose inputs did not change are not built again. The builds
/// run in parallel; their output goes to our stderr.
pub fn build(root: &Path, target_dir: &Path) -> Result<Vec<BuiltGuest>, String> {
    let guests = discover(root)?;
    let toolchains = toolchains_dir(target_dir);
    let out_dir = target_dir.join("guests").join("polyglot");
    fs::create_dir_all(&out_dir).map_err(|err| format!("cannot create {}: {err}", out_dir.display()))?;

    let needs = |language| guests.iter().any(|g| g.language == language);
    let python = if needs(Language::Python) { Some(ensure_python(root, &toolchains)?) } else { None };
    let js = if needs(Language::JavaScript) { Some(ensure_js(root, &toolchains)?) } else { None };

    let mut running: Vec<Pending> = Vec::new();
    for guest in guests {
        let wasm = out_dir.join(format!("{}.wasm", guest.name.replace('-', "_")));
        let stamp = wasm.with_extension("wasm.fingerprint");
        let toolchain_id = match guest.language {
            Language::Python => format!("componentize-py {COMPONENTIZE_PY_VERSION}"),
            Language::JavaScript => js.as_ref().map(|js| js.lock_hash.clone()).unwrap_or_default(),
        };
        let fingerprint = fingerprint(root, &guest, &toolchain_id)?;
        if wasm.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
            running.push(Pending { guest, wasm, stamp, fingerprint, child: None });
            continue;
        }
        // A stale stamp must not survive a failed build.
        let _ = fs::remove_file(&stamp);
        let mut cmd = match guest.language {
            Language::Python => {
                let venv = python.as_ref().expect("the Python toolchain was fetched");
                let mut cmd = Command::new(venv.join("bin").join("componentize-py"));
                cmd.arg("--wit-path")
                    .arg(root.join("wit"))
                    .args(["--world", WORLD, "componentize", "main", "--python-path"])
                    .arg(&guest.dir)
                    .arg("--python-path")
                    .arg(root.join(Language::Python.sdk_dir()))
                    .arg("--output")
                    .arg(&wasm);
                cmd
            }
            Language::JavaScript => {
                let js = js.as_ref().expect("the JavaScript toolchain was fetched");
                let mut cmd = Command::new(&js.node);
                cmd.arg(root.join("guest-sdk/js/toolchain/componentize.mjs"))
                    .arg(&js.dir)
                    .arg(guest.dir.join(Language::JavaScript.main_file()))
                    .arg(root.join("wit"))
                    .arg(WORLD)
                    .arg(&wasm);
                cmd
            }
        };
        // Our stdout may be a build script's, which cargo reads as instructions.
        cmd.current_dir(root).stdout(Stdio::from(std::io::stderr()));
        let child = cmd
            .spawn()
            .map_err(|err| format!("cannot run the {} toolchain ({cmd:?}): {err}", guest.language.name()))?;
        running.push(Pending { guest, wasm, stamp, fingerprint, child: Some(child) });
    }

    let mut built = Vec::new();
    let mut failures = Vec::new();
    for Pending { guest, wasm, stamp, fingerprint, child } in running {
        let rebuilt = child.is_some();
        if let Some(mut child) = child {
            match child.wait() {
                Ok(status) if status.success() && wasm.is_file() => {
                    fs::write(&stamp, &fingerprint)
                        .map_err(|err| format!("cannot write {}: {err}", stamp.display()))?;
                }
                Ok(status) => {
                    failures.push(format!("{} guest `{}` ({status})", guest.language.name(), guest.name));
                    continue;
                }
                Err(err) => {
                    failures.push(format!("{} guest `{}` ({err})", guest.language.name(), guest.name));
                    continue;
                }
            }
        }
        built.push(BuiltGuest { guest, wasm, rebuilt });
    }
    if !failures.is_empty() {
        return Err(format!(
            "building these guest components failed: {} (their toolchain's messages are above)",
            failures.join(", ")
        ));
    }
    Ok(built)
}

/// A guest whose component is being built (`child`), or is up to date (`None`).
struct Pending {
    guest: PolyglotGuest,
    wasm: PathBuf,
    /// Where the fingerprint of the inputs the component was built from is kept.
    stamp: PathBuf,
    fingerprint: String,
    child: Option<Child>,
}

/// Rust source declaring one `pub const NAME: &str = "/path/to/name.wasm";` per polyglot guest
/// and `pub const POLYGLOT: &[(&str, &str)]` pairing each guest's directory name with its path.
pub fn constants_source(built: &[BuiltGuest]) -> String {
    let mut src = String::from("\n// Generated by the polyglot guest builder (xtask/src/polyglot.rs).\n");
    for b in built {
        let _ = writeln!(
            src,
            "\n/// The component of the {} guest `guests/{}`.\npub const {}: &str = {:?};",
            b.guest.language.name(),
            b.guest.name,
            b.guest.const_name(),
            b.wasm.to_string_lossy(),
        );
    }
    src.push_str("\n/// Every guest component written in another language: its directory's name and its path.\n");
    src.push_str("pub const POLYGLOT: &[(&str, &str)] = &[\n");
    for b in built {
        let _ = writeln!(src, "    ({:?}, {}),", b.guest.name, b.guest.const_name());
    }
    src.push_str("];\n");
    src
}

/// The componentize-py virtual environment, created and filled from PyPI if it is missing.
/// Returns its directory.
fn ensure_python(root: &Path, toolchains: &Path) -> Result<PathBuf, String> {
    let venv = toolchains.join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}"));
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
    eprintln!("fetching componentize-py {COMPONENTIZE_PY_VERSION} from PyPI into {}", venv.display());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv).current_dir(root),
        &format!(
            "cannot create a Python virtual environment with {}: the Python guests need Python 3.10 or later \
             with its `venv` module (on Debian: `apt-get install python3-venv`); set REPRISE_PYTHON to \
             another interpreter if `python3` is not the right one",
            python.to_string_lossy()
        ),
    )?;
    run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}"))
            .current_dir(root),
        &format!(
            "cannot install componentize-py {COMPONENTIZE_PY_VERSION} from PyPI: check that this machine reaches \
             PyPI (pip honours PIP_INDEX_URL and the proxy variables), then build again"
        ),
    )?;
    fs::write(&done, COMPONENTIZE_PY_VERSION).map_err(|err| format!("cannot write {}: {err}", done.display()))?;
    Ok(venv)
}

/// The JavaScript toolchain: node, and the directory where `npm ci` installed componentize-js.
struct JsToolchain {
    node: PathBuf,
    dir: PathBuf,
    /// A hash of the lock file, which pins every package of the toolchain.
    lock_hash: String,
}

/// Installs componentize-js from npm, at the versions of the committed lock file, unless the
/// same lock file was installed already.
///
/// `npm install` with the lock file, not `npm ci`: npm 11's `ci` rejects this lock file (it
/// reports the platform-specific optional packages of a dependency as missing), while `install`
/// installs exactly what the lock file lists. It runs on a copy, so the committed file is never
/// rewritten.
fn ensure_js(root: &Path, toolchains: &Path) -> Result<JsToolchain, String> {
    let source = root.join("guest-sdk/js/toolchain");
    let manifest = read(&source.join("package.json"))?;
    let lock = read(&source.join("package-lock.json"))?;
    let lock_hash = hash_hex(&[manifest.as_bytes(), lock.as_bytes()]);
    let dir = toolchains.join("componentize-js");
    let done = dir.join(".reprise-installed");
    let node = PathBuf::from(env::var_os("REPRISE_NODE").unwrap_or_else(|| "node".into()));
    if fs::read_to_string(&done).ok().as_deref() == Some(lock_hash.as_str()) {
        return Ok(JsToolchain { node, dir, lock_hash });
    }
    fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        fs::copy(source.join(file), dir.join(file))
            .map_err(|err| format!("cannot copy {file} into {}: {err}", dir.display()))?;
    }
    eprintln!(
        "fetching componentize-js from npm (pinned by guest-sdk/js/toolchain/package-lock.json) into {}",
        dir.display()
    );
    let npm = env::var_os("REPRISE_NPM").unwrap_or_else(|| "npm".into());
    run(
        Command::new(&npm).args(["install", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir),
        &format!(
            "cannot install componentize-js with `{} install` in {}: the JavaScript guests need Node.js 18 or later \
             and npm (set REPRISE_NODE / REPRISE_NPM if they are not on the PATH), and a machine that reaches \
             npm's registry (npm honours its `registry` setting and the proxy variables)",
            npm.to_string_lossy(),
            dir.display()
        ),
    )?;
    fs::write(&done, &lock_hash).map_err(|err| format!("cannot write {}: {err}", done.display()))?;
    Ok(JsToolchain { node, dir, lock_hash })
}

/// Runs `cmd` to completion, its output on our stderr; `what_to_do` is the error if it fails.
fn run(cmd: &mut Command, what_to_do: &str) -> Result<(), String> {
    cmd.stdout(Stdio::from(std::io::stderr()));
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{what_to_do} ({cmd:?} failed: {status})")),
        Err(err) => Err(format!("{what_to_do} ({cmd:?} could not be run: {err})")),
    }
}

/// A hash of everything a guest's component is built from: its directory, its language's SDK,
/// the WIT package, and the toolchain's identity.
fn fingerprint(root: &Path, guest: &PolyglotGuest, toolchain_id: &str) -> Result<String, String> {
    let mut files = Vec::new();
    for dir in [guest.dir.clone(), root.join(guest.language.sdk_dir()), root.join("wit")] {
        collect_files(&dir, &mut files)?;
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    toolchain_id.hash(&mut hasher);
    for file in files {
        file.hash(&mut hasher);
        fs::read(&file).map_err(|err| format!("cannot read {}: {err}", file.display()))?.hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

/// Every file under `dir`, skipping caches and installed packages.
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name == "__pycache__" || name == "node_modules" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn hash_hex(parts: &[&[u8]]) -> String {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}
