//! Building the guest components written in other languages than Rust (`guests/<name>/` with a
//! `main.py`, a `main.js` or a `main.c`, and no `Cargo.toml`), shared by `cargo xtask
//! build-guests` and the tests' build script (which includes this file with `#[path]`). Standard
//! library only.
//!
//! It owns the pinned toolchains: componentize-py from PyPI in a virtual environment;
//! componentize-js from npm, installed at the versions of the committed
//! `guest-sdk/js/toolchain/package-lock.json`; and for C, the `zig cc` of PyPI's `ziglang` (clang
//! and wasi-libc) in another virtual environment, with `reprise-c-component`
//! (`xtask/c-component`, built from crates.io crates pinned by its committed lock file) for the
//! bindings and the component. All are cached under `<target dir>/toolchains` (so a clean clone
//! fetches them once, and `cargo clean` resets them), and each component is rebuilt only when its
//! sources, the SDK, the WIT package or the toolchain change. It never installs anything outside
//! the target directory (zig's caches included), and it never generates bindings into the source
//! tree: every toolchain generates them from `wit/` at every build.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

// Beside this file, so that the tests can include it alone.
#[path = "venv.rs"]
mod venv;
use venv::{ensure_venv, run};

/// The componentize-py release the Python guests are built with (PyPI).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The ziglang release (PyPI) whose `zig cc` compiles the C guests.
pub const ZIGLANG_VERSION: &str = "0.17.0";

/// The WIT world the Python and JavaScript guests target: their SDKs export both orchestrators
/// and activities (either list may be empty).
pub const WORLD: &str = "app";

/// The WIT world the C guests target: they export activities.
pub const C_WORLD: &str = "activity";

/// The language of a polyglot guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `main.py`, built with componentize-py.
    Python,
    /// `main.js`, built with componentize-js.
    JavaScript,
    /// `main.c` (and the other `.c` files of the directory), built with `zig cc` and
    /// `reprise-c-component`.
    C,
}

impl Language {
    /// The language's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::C => "C",
        }
    }

    fn main_file(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::JavaScript => "main.js",
            Language::C => "main.c",
        }
    }

    /// The directory of what the language's components are built with besides the guest's own
    /// sources: the SDK, or for C the component tool.
    fn sdk_dir(self) -> &'static str {
        match self {
            Language::Python => "guest-sdk/python",
            Language::JavaScript => "guest-sdk/js",
            Language::C => C_TOOL_DIR,
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
        let languages: Vec<Language> = [Language::Python, Language::JavaScript, Language::C]
            .into_iter()
            .filter(|language| dir.join(language.main_file()).is_file())
            .collect();
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match languages.as_slice() {
            [] => {}
            [language] => found.push(PolyglotGuest { name, language: *language, dir }),
            _ => {
                return Err(format!(
                    "{} has more than one of main.py, main.js and main.c: a guest directory holds one language",
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
    let c = if needs(Language::C) { Some(ensure_c(root, &toolchains)?) } else { None };

    let mut running: Vec<Pending> = Vec::new();
    for guest in guests {
        let wasm = out_dir.join(format!("{}.wasm", guest.name.replace('-', "_")));
        let stamp = wasm.with_extension("wasm.fingerprint");
        let toolchain_id = match guest.language {
            Language::Python => format!("componentize-py {COMPONENTIZE_PY_VERSION}"),
            Language::JavaScript => js.as_ref().map(|js| js.lock_hash.clone()).unwrap_or_default(),
            Language::C => format!("ziglang {ZIGLANG_VERSION}"),
        };
        let fingerprint = fingerprint(root, &guest, &toolchain_id)?;
        if wasm.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
            running.push(Pending { guest, wasm, stamp, fingerprint, build: Build::UpToDate });
            continue;
        }
        // A stale stamp must not survive a failed build.
        let _ = fs::remove_file(&stamp);
        let mut cmd = match guest.language {
            Language::C => {
                // Three short steps, run in turn while the other toolchains' builds run.
                running.push(Pending { guest, wasm, stamp, fingerprint, build: Build::C });
                continue;
            }
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
        running.push(Pending { guest, wasm, stamp, fingerprint, build: Build::Spawned(child) });
    }

    let mut built = Vec::new();
    let mut failures = Vec::new();
    for Pending { guest, wasm, stamp, fingerprint, build } in running {
        let outcome = match build {
            Build::UpToDate => {
                built.push(BuiltGuest { guest, wasm, rebuilt: false });
                continue;
            }
            Build::Spawned(mut child) => match child.wait() {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => Err(status.to_string()),
                Err(err) => Err(err.to_string()),
            },
            Build::C => {
                let c = c.as_ref().expect("the C toolchain was fetched");
                build_c(root, c, &guest, &out_dir, &wasm)
            }
        };
        match outcome {
            Ok(()) if wasm.is_file() => {
                fs::write(&stamp, &fingerprint).map_err(|err| format!("cannot write {}: {err}", stamp.display()))?;
                built.push(BuiltGuest { guest, wasm, rebuilt: true });
            }
            Ok(()) => {
                failures.push(format!("{} guest `{}` (no component was written)", guest.language.name(), guest.name))
            }
            Err(err) => failures.push(format!("{} guest `{}` ({err})", guest.language.name(), guest.name)),
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "building these guest components failed: {} (their toolchain's messages are above)",
            failures.join(", ")
        ));
    }
    Ok(built)
}

/// A guest whose component is up to date or being built.
struct Pending {
    guest: PolyglotGuest,
    wasm: PathBuf,
    /// Where the fingerprint of the inputs the component was built from is kept.
    stamp: PathBuf,
    fingerprint: String,
    build: Build,
}

/// How a guest's component gets built.
enum Build {
    /// It is not: it is up to date.
    UpToDate,
    /// By this toolchain process.
    Spawned(Child),
    /// By `build_c`, when the builder waits for it.
    C,
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
    ensure_venv(root, toolchains, "componentize-py", COMPONENTIZE_PY_VERSION, "the Python guests")
}

/// Where the sources of `reprise-c-component` are, relative to the root.
const C_TOOL_DIR: &str = "xtask/c-component";

/// The C toolchain: the Python that runs `zig cc`, the component tool, and zig's cache.
struct CToolchain {
    /// The ziglang virtual environment's Python (`python -m ziglang cc` is the compiler).
    python: PathBuf,
    /// The `reprise-c-component` binary.
    tool: PathBuf,
    /// The cache directory given to zig, inside the target directory (zig's default is in
    /// the home directory).
    zig_cache: PathBuf,
}

/// Fetches ziglang from PyPI (once), and builds `reprise-c-component` with a nested cargo into
/// `<toolchains>/c-component` (its first build compiles its crates; later ones only check
/// that it is up to date).
fn ensure_c(root: &Path, toolchains: &Path) -> Result<CToolchain, String> {
    let venv = ensure_venv(root, toolchains, "ziglang", ZIGLANG_VERSION, "the C guests")?;
    let tool_target = toolchains.join("c-component");
    let mut cmd = crate::guests::nested_cargo();
    cmd.args(["build", "--release", "--locked", "--quiet", "--manifest-path"])
        .arg(root.join(C_TOOL_DIR).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&tool_target)
        .current_dir(root.join(C_TOOL_DIR));
    run(
        &mut cmd,
        &format!(
            "cannot build reprise-c-component ({C_TOOL_DIR}), which makes the C guests' bindings and \
             components: its crates come from crates.io at the versions of {C_TOOL_DIR}/Cargo.lock; check \
             that this machine reaches crates.io (or has them in cargo's cache), then build again"
        ),
    )?;
    Ok(CToolchain {
        python: venv.join("bin").join("python"),
        tool: tool_target.join("release").join("reprise-c-component"),
        zig_cache: toolchains.join("zig-cache"),
    })
}

/// Builds the C guest `guest` into `wasm`: bindings of the `activity` world, `zig cc` of the
/// guest's `.c` files with them into a wasm32-wasi reactor module, then the component. The
/// intermediate files go to `<out_dir>/c-build/<guest>`.
fn build_c(root: &Path, c: &CToolchain, guest: &PolyglotGuest, out_dir: &Path, wasm: &Path) -> Result<(), String> {
    let work = out_dir.join("c-build").join(&guest.name);
    if work.exists() {
        fs::remove_dir_all(&work).map_err(|err| format!("cannot remove {}: {err}", work.display()))?;
    }
    let bindings = work.join("bindings");
    let wit = root.join("wit");
    run(
        Command::new(&c.tool).arg("bindings").arg(&wit).arg(C_WORLD).arg(&bindings),
        "cannot generate the C bindings of the WIT package (the message above says why)",
    )?;

    let mut sources = Vec::new();
    for entry in fs::read_dir(&guest.dir).map_err(|err| format!("cannot list {}: {err}", guest.dir.display()))? {
        let path = entry.map_err(|err| format!("cannot list {}: {err}", guest.dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == "c") && path.is_file() {
            sources.push(path);
        }
    }
    sources.sort();
    let core = work.join("core.wasm");
    let mut zig = Command::new(&c.python);
    zig.args(["-m", "ziglang", "cc", "-target", "wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra"])
        // Debug sections only: the component-type section of the bindings must stay.
        .arg("-Wl,--strip-debug")
        .arg("-I")
        .arg(&guest.dir)
        .arg("-I")
        .arg(&bindings)
        .args(&sources)
        .arg(bindings.join(format!("{C_WORLD}.c")))
        .arg(bindings.join(format!("{C_WORLD}_component_type.o")))
        .arg("-o")
        .arg(&core)
        .env("ZIG_GLOBAL_CACHE_DIR", &c.zig_cache)
        .env("ZIG_LOCAL_CACHE_DIR", &c.zig_cache)
        .current_dir(&guest.dir);
    run(&mut zig, "the C compiler or linker rejected the guest (its messages are above)")?;

    run(
        Command::new(&c.tool).arg("component").arg(&wit).arg(C_WORLD).arg(&core).arg(wasm),
        "cannot make a component of the compiled module (the message above says why)",
    )
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
        if name == "__pycache__" || name == "node_modules" || name == "target" || name.starts_with('.') {
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
