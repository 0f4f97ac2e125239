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
//! sources, the SDK, the WIT package or the toolchain change; a toolchain is only looked for when
//! one of its guests has to be built. It never installs anything outside the target directory
//! (zig's caches included), and it never generates bindings into the source tree: every
//! toolchain generates them from `wit/` at every build.
//!
//! A guest it cannot build is not an error of the build: a missing Python or Node.js, a pinned
//! tool that cannot be fetched, a toolchain that rejects the guest's sources each make that
//! guest [`Outcome::Skipped`], with what to do and the error underneath, and the other guests
//! are built all the same. The tests' build script turns a skipped guest into a placeholder
//! constant whose use fails with that message, so only the tests that need the guest fail.
//! Only what is wrong with the project itself (a guest directory with two languages, a missing
//! committed file, an unwritable target directory) is an `Err`.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The componentize-py release the Python guests are built with (PyPI).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The ziglang release (PyPI) whose `zig cc` compiles the C guests.
pub const ZIGLANG_VERSION: &str = "0.17.0";

/// The oldest Node.js that runs componentize-js.
pub const NODE_MIN_MAJOR: u32 = 18;

/// The WIT world the JavaScript guests target: their SDK exports orchestrators, activities,
/// entities and update validators (any list may be empty). componentize-js brings its own
/// `wasi:http` for `fetch`.
pub const WORLD: &str = "app-validated";

/// The WIT world the Python guests target: `app-validated` and `wasi:http/outgoing-handler`,
/// which componentize-py generates the bindings of `reprise.http` from only if the world imports
/// it.
pub const PY_WORLD: &str = "app-http";

/// The WIT world the C guests target: they export activities.
pub const C_WORLD: &str = "activity";

/// How to get a Python the toolchains can use, for the messages.
const PYTHON_HINT: &str = "install Python 3.10 or later with its `venv` module (Debian/Ubuntu: \
     `apt-get install python3 python3-venv`; macOS: `brew install python`), or set REPRISE_PYTHON to such an \
     interpreter";

/// How to get Node.js and npm, for the messages.
const NODE_HINT: &str = "install Node.js 18 or later and npm (Debian/Ubuntu: `apt-get install nodejs npm`; \
     elsewhere https://nodejs.org), or set REPRISE_NODE and REPRISE_NPM to them";

/// How many lines of a failed command's output a message quotes from its start and from its
/// end (the error is at the start of a traceback, at the end of npm's or pip's output).
const EXCERPT_LINES: (usize, usize) = (15, 10);

/// The programs the toolchains are made with, read from the environment.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The Python that creates the virtual environments of componentize-py and ziglang
    /// (`REPRISE_PYTHON`, else `python3`).
    pub python: OsString,
    /// The Node.js that runs componentize-js (`REPRISE_NODE`, else `node`).
    pub node: OsString,
    /// The npm that installs componentize-js (`REPRISE_NPM`, else `npm`).
    pub npm: OsString,
}

impl Tools {
    /// The environment variables [`Tools::from_env`] reads, for `cargo:rerun-if-env-changed`.
    pub const VARIABLES: [&str; 3] = ["REPRISE_PYTHON", "REPRISE_NODE", "REPRISE_NPM"];

    /// The tools named by `REPRISE_PYTHON`, `REPRISE_NODE` and `REPRISE_NPM`, or found on the
    /// `PATH` under their usual names.
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| env::var_os(name).unwrap_or_else(|| default.into());
        Tools {
            python: var("REPRISE_PYTHON", "python3"),
            node: var("REPRISE_NODE", "node"),
            npm: var("REPRISE_NPM", "npm"),
        }
    }
}

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

/// What became of one polyglot guest.
#[derive(Debug, Clone)]
pub struct GuestBuild {
    /// The guest.
    pub guest: PolyglotGuest,
    /// Its component, or why there is none.
    pub outcome: Outcome,
}

/// Whether a guest's component was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The component is there.
    Built {
        /// The absolute path of its `.wasm` file.
        wasm: PathBuf,
        /// False if the component was up to date and not built again.
        rebuilt: bool,
    },
    /// It could not be built; the other guests were built all the same.
    Skipped(Skipped),
}

/// Why a guest was not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What is missing or failed, naming the tool, and what to do about it: one line.
    pub reason: String,
    /// The error underneath: the command that failed and the end of its output.
    pub error: String,
}

impl Skipped {
    fn new(reason: impl Into<String>, error: impl Into<String>) -> Self {
        Skipped { reason: reason.into(), error: error.into() }
    }
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

/// Builds every polyglot guest into `<target dir>/guests/polyglot`, fetching first the
/// toolchains of the guests that have to be built. Components whose inputs did not change are
/// not built again (and need no toolchain). The builds run in parallel, each with its output in
/// `<name>.log` beside its component. Every guest comes back, built or skipped with the reason.
pub fn build(root: &Path, target_dir: &Path, tools: &Tools) -> Result<Vec<GuestBuild>, String> {
    let guests = discover(root)?;
    let toolchains = toolchains_dir(target_dir);
    let out_dir = target_dir.join("guests").join("polyglot");
    fs::create_dir_all(&out_dir).map_err(|err| format!("cannot create {}: {err}", out_dir.display()))?;

    let js_lock =
        if guests.iter().any(|g| g.language == Language::JavaScript) { js_lock_hash(root)? } else { String::new() };
    let mut plans = Vec::new();
    for guest in guests {
        let wasm = out_dir.join(format!("{}.wasm", guest.name.replace('-', "_")));
        let stamp = wasm.with_extension("wasm.fingerprint");
        let log = wasm.with_extension("log");
        let toolchain_id = match guest.language {
            Language::Python => format!("componentize-py {COMPONENTIZE_PY_VERSION}"),
            Language::JavaScript => js_lock.clone(),
            Language::C => format!("ziglang {ZIGLANG_VERSION}"),
        };
        let fingerprint = fingerprint(root, &guest, &toolchain_id)?;
        let up_to_date = wasm.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str());
        if !up_to_date {
            // A stale stamp must not survive a failed build.
            let _ = fs::remove_file(&stamp);
        }
        plans.push(Plan { guest, wasm, stamp, log, fingerprint, up_to_date });
    }

    // The toolchain of each language with something to build, made once.
    let needed = |language| plans.iter().any(|p: &Plan| !p.up_to_date && p.guest.language == language);
    let python = needed(Language::Python).then(|| ensure_python(root, &toolchains, tools));
    let js = needed(Language::JavaScript).then(|| ensure_js(root, &toolchains, tools, &js_lock));
    let c = needed(Language::C).then(|| ensure_c(root, &toolchains, tools));
    let toolchain_failure = |language| {
        let failure = match language {
            Language::Python => python.as_ref().and_then(|r| r.as_ref().err()),
            Language::JavaScript => js.as_ref().and_then(|r| r.as_ref().err()),
            Language::C => c.as_ref().and_then(|r| r.as_ref().err()),
        };
        failure.cloned()
    };

    let mut started = Vec::new();
    for plan in plans {
        let step = if plan.up_to_date {
            Step::UpToDate
        } else if let Some(skipped) = toolchain_failure(plan.guest.language) {
            Step::Skipped(skipped)
        } else {
            match plan.guest.language {
                // Three short steps, run in turn while the other toolchains' builds run.
                Language::C => Step::C,
                Language::Python => {
                    let venv = python.as_ref().and_then(|r| r.as_ref().ok()).expect("the Python toolchain was made");
                    let mut cmd = Command::new(venv.join("bin").join("componentize-py"));
                    cmd.arg("--wit-path")
                        .arg(root.join("wit"))
                        .args(["--world", PY_WORLD, "componentize", "main", "--python-path"])
                        .arg(&plan.guest.dir)
                        .arg("--python-path")
                        .arg(root.join(Language::Python.sdk_dir()))
                        .arg("--output")
                        .arg(&plan.wasm)
                        // A Rust program: its backtraces would bury the guest's error.
                        .env_remove("RUST_BACKTRACE")
                        .env_remove("RUST_LIB_BACKTRACE")
                        .current_dir(root);
                    let hint = format!("remove {} to have it made again", venv.display());
                    spawn(cmd, "componentize-py", &hint, &plan.log)
                }
                Language::JavaScript => {
                    let js = js.as_ref().and_then(|r| r.as_ref().ok()).expect("the JavaScript toolchain was made");
                    let mut cmd = Command::new(&tools.node);
                    cmd.arg(root.join("guest-sdk/js/toolchain/componentize.mjs"))
                        .arg(&js.dir)
                        .arg(plan.guest.dir.join(Language::JavaScript.main_file()))
                        .arg(root.join("wit"))
                        .arg(WORLD)
                        .arg(&plan.wasm)
                        .current_dir(root);
                    spawn(cmd, "componentize-js (run by Node.js)", NODE_HINT, &plan.log)
                }
            }
        };
        started.push((plan, step));
    }

    let mut builds = Vec::new();
    for (plan, step) in started {
        let result = match step {
            Step::UpToDate => {
                builds.push(GuestBuild {
                    guest: plan.guest,
                    outcome: Outcome::Built { wasm: plan.wasm, rebuilt: false },
                });
                continue;
            }
            Step::Skipped(skipped) => Err(skipped),
            Step::Spawned { child, tool, command } => wait(child, &tool, &command, &plan),
            Step::C => {
                let c = c.as_ref().and_then(|r| r.as_ref().ok()).expect("the C toolchain was made");
                build_c(root, c, &plan.guest, &out_dir, &plan.wasm)
            }
        };
        let outcome = match result {
            Ok(()) => {
                fs::write(&plan.stamp, &plan.fingerprint)
                    .map_err(|err| format!("cannot write {}: {err}", plan.stamp.display()))?;
                Outcome::Built { wasm: plan.wasm, rebuilt: true }
            }
            Err(skipped) => Outcome::Skipped(skipped),
        };
        builds.push(GuestBuild { guest: plan.guest, outcome });
    }
    Ok(builds)
}

/// One guest's component, its inputs' fingerprint and whether it is up to date.
struct Plan {
    guest: PolyglotGuest,
    wasm: PathBuf,
    /// Where the fingerprint of the inputs the component was built from is kept.
    stamp: PathBuf,
    /// Where its toolchain's output goes.
    log: PathBuf,
    fingerprint: String,
    up_to_date: bool,
}

/// How a guest's component gets built.
enum Step {
    /// It is not: it is up to date.
    UpToDate,
    /// It is not: its toolchain could not be made.
    Skipped(Skipped),
    /// By this toolchain process.
    Spawned {
        child: Child,
        /// The tool's name, for the messages.
        tool: String,
        /// The command, for the messages.
        command: String,
    },
    /// By `build_c`, when the builder waits for it.
    C,
}

/// Starts `cmd`, its output (both streams) going to `log`; `hint` says what to do if `tool`
/// cannot be run.
fn spawn(mut cmd: Command, tool: &str, hint: &str, log: &Path) -> Step {
    let command = format!("{cmd:?}");
    let file = match fs::File::create(log).and_then(|file| Ok((file.try_clone()?, file))) {
        Ok(files) => files,
        Err(err) => return Step::Skipped(Skipped::new(format!("cannot write {}", log.display()), err.to_string())),
    };
    cmd.stdout(Stdio::from(file.0)).stderr(Stdio::from(file.1));
    match cmd.spawn() {
        Ok(child) => Step::Spawned { child, tool: tool.to_owned(), command },
        Err(err) => Step::Skipped(Skipped::new(
            format!("cannot run {tool}: {hint}"),
            format!("{command} could not be run: {err}"),
        )),
    }
}

/// Waits for a guest's toolchain process; the guest is built if it succeeded and wrote the
/// component.
fn wait(mut child: Child, tool: &str, command: &str, plan: &Plan) -> Result<(), Skipped> {
    let guest = format!("the {} guest `{}`", plan.guest.language.name(), plan.guest.name);
    let status = child.wait().map_err(|err| Skipped::new(format!("{tool} did not finish"), err.to_string()))?;
    let output = || {
        let text = fs::read_to_string(&plan.log).unwrap_or_default();
        format!("its output (all of it in {}):\n{}", plan.log.display(), excerpt(&text))
    };
    if !status.success() {
        return Err(Skipped::new(
            format!("{tool} could not build {guest}: fix what its output says, then build again"),
            format!("{command} failed ({status}); {}", output()),
        ));
    }
    if !plan.wasm.is_file() {
        return Err(Skipped::new(
            format!("{tool} reported success but wrote no component for {guest}"),
            format!("{command} wrote no {}; {}", plan.wasm.display(), output()),
        ));
    }
    Ok(())
}

/// Rust source declaring one `pub const NAME: Guest` per polyglot guest and
/// `pub const POLYGLOT: &[Guest]`. A built guest's constant holds its component's path; a skipped
/// guest's constant holds why it was skipped, and using it panics with that message. The source
/// is meant for a module that defines `Guest` (`tests/guests.rs`).
pub fn constants_source(builds: &[GuestBuild]) -> String {
    let mut src = String::from("\n// Generated by the polyglot guest builder (xtask/src/polyglot.rs).\n");
    for build in builds {
        let guest = &build.guest;
        let (language, name, constant) = (guest.language.name(), &guest.name, guest.const_name());
        let _ = match &build.outcome {
            Outcome::Built { wasm, .. } => writeln!(
                src,
                "\n/// The component of the {language} guest `guests/{name}`.\n\
                 pub const {constant}: Guest = Guest::built({name:?}, {language:?}, {:?});",
                wasm.to_string_lossy(),
            ),
            Outcome::Skipped(skipped) => writeln!(
                src,
                "\n/// The {language} guest `guests/{name}`, which could not be built: using it panics with why.\n\
                 pub const {constant}: Guest = Guest::missing({name:?}, {language:?}, {:?}, {:?});",
                skipped.reason, skipped.error,
            ),
        };
    }
    src.push_str("\n/// Every guest written in another language than Rust, built or not.\n");
    src.push_str("pub const POLYGLOT: &[Guest] = &[\n");
    for build in builds {
        let _ = writeln!(src, "    {},", build.guest.const_name());
    }
    src.push_str("];\n");
    src
}

/// One line per reason some guests were skipped, naming them: `skipped py-a, py-b: <reason>`.
pub fn skipped_summary(builds: &[GuestBuild]) -> Vec<String> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for build in builds {
        if let Outcome::Skipped(skipped) = &build.outcome {
            match groups.iter_mut().find(|(reason, _)| *reason == skipped.reason) {
                Some((_, names)) => names.push(&build.guest.name),
                None => groups.push((&skipped.reason, vec![&build.guest.name])),
            }
        }
    }
    groups.into_iter().map(|(reason, names)| format!("skipped {}: {reason}", names.join(", "))).collect()
}

/// The componentize-py virtual environment, created and filled from PyPI if it is missing.
/// Returns its directory.
fn ensure_python(root: &Path, toolchains: &Path, tools: &Tools) -> Result<PathBuf, Skipped> {
    ensure_venv(root, toolchains, &tools.python, "componentize-py", COMPONENTIZE_PY_VERSION, "the Python guests")
}

/// A virtual environment `<toolchains>/<package>-<version>` holding the PyPI package `package`
/// at exactly `version`, created with `python` and filled if it is missing. `users` says who
/// needs it, for the messages. Returns its directory.
pub fn ensure_venv(
    root: &Path,
    toolchains: &Path,
    python: &OsString,
    package: &str,
    version: &str,
    users: &str,
) -> Result<PathBuf, Skipped> {
    let venv = toolchains.join(format!("{package}-{version}"));
    let done = venv.join(".reprise-installed");
    if done.is_file() {
        return Ok(venv);
    }
    // A half-made environment (an interrupted install) is made again from scratch.
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(io_failure(format!("cannot remove the half-made {}", venv.display())))?;
    }
    check_python(python, users)?;
    fs::create_dir_all(toolchains).map_err(io_failure(format!("cannot create {}", toolchains.display())))?;
    eprintln!("fetching {package} {version} from PyPI into {}", venv.display());
    run(Command::new(python).args(["-m", "venv"]).arg(&venv).current_dir(root)).map_err(|error| {
        Skipped::new(
            format!(
                "{users} need Python 3.10 or later, and `{} -m venv` made no virtual environment: {PYTHON_HINT}",
                python.to_string_lossy()
            ),
            error,
        )
    })?;
    run(Command::new(venv.join("bin").join("pip"))
        .args(["install", "--disable-pip-version-check", "--quiet"])
        .arg(format!("{package}=={version}"))
        .current_dir(root))
    .map_err(|error| {
        Skipped::new(
            format!(
                "{users} need {package} {version} from PyPI, which could not be installed: check that this machine \
                 reaches PyPI (pip honours PIP_INDEX_URL and the proxy variables), then build again"
            ),
            error,
        )
    })?;
    fs::write(&done, version).map_err(io_failure(format!("cannot write {}", done.display())))?;
    Ok(venv)
}

/// Checks that `python` runs and is Python 3.10 or later; `users` says who needs it.
fn check_python(python: &OsString, users: &str) -> Result<(), Skipped> {
    let shown = python.to_string_lossy();
    let needs = format!("{users} need Python 3.10 or later");
    let output = Command::new(python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .map_err(|err| {
            Skipped::new(
                format!("{needs}, and `{shown}` could not be run: {PYTHON_HINT}"),
                format!("`{shown}` could not be run: {err}"),
            )
        })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let parsed = version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    match parsed {
        Some(version) if output.status.success() && version >= (3, 10) => Ok(()),
        _ => Err(Skipped::new(
            format!("{needs}, and `{shown}` is not (it answered {version:?}): {PYTHON_HINT}"),
            format!("`{shown} -c ...` ({}): {}", output.status, excerpt(&String::from_utf8_lossy(&output.stderr))),
        )),
    }
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
fn ensure_c(root: &Path, toolchains: &Path, tools: &Tools) -> Result<CToolchain, Skipped> {
    let venv = ensure_venv(root, toolchains, &tools.python, "ziglang", ZIGLANG_VERSION, "the C guests (for `zig cc`)")?;
    let tool_target = toolchains.join("c-component");
    let mut cmd = super::guests::nested_cargo();
    cmd.args(["build", "--release", "--locked", "--quiet", "--manifest-path"])
        .arg(root.join(C_TOOL_DIR).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&tool_target)
        .current_dir(root.join(C_TOOL_DIR));
    run(&mut cmd).map_err(|error| {
        Skipped::new(
            format!(
                "the C guests need reprise-c-component ({C_TOOL_DIR}), which could not be built: its crates come from \
                 crates.io at the versions of {C_TOOL_DIR}/Cargo.lock; check that this machine reaches crates.io \
                 (or has them in cargo's cache), then build again"
            ),
            error,
        )
    })?;
    Ok(CToolchain {
        python: venv.join("bin").join("python"),
        tool: tool_target.join("release").join("reprise-c-component"),
        zig_cache: toolchains.join("zig-cache"),
    })
}

/// Builds the C guest `guest` into `wasm`: bindings of the `activity` world, `zig cc` of the
/// guest's `.c` files with them into a wasm32-wasi reactor module, then the component. The
/// intermediate files go to `<out_dir>/c-build/<guest>`.
fn build_c(root: &Path, c: &CToolchain, guest: &PolyglotGuest, out_dir: &Path, wasm: &Path) -> Result<(), Skipped> {
    let work = out_dir.join("c-build").join(&guest.name);
    if work.exists() {
        fs::remove_dir_all(&work).map_err(io_failure(format!("cannot remove {}", work.display())))?;
    }
    let bindings = work.join("bindings");
    let wit = root.join("wit");
    let failed = |what: &str| {
        let reason = format!("{what} for the C guest `{}`: fix what its output says, then build again", guest.name);
        move |error| Skipped::new(reason, error)
    };
    run(Command::new(&c.tool).arg("bindings").arg(&wit).arg(C_WORLD).arg(&bindings))
        .map_err(failed("reprise-c-component could not make the C bindings of the WIT package"))?;

    let mut sources = Vec::new();
    let list = io_failure(format!("cannot list {}", guest.dir.display()));
    for entry in fs::read_dir(&guest.dir).map_err(&list)? {
        let path = entry.map_err(&list)?.path();
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
    run(&mut zig).map_err(failed("the C compiler or linker (`zig cc`) rejected the sources"))?;

    run(Command::new(&c.tool).arg("component").arg(&wit).arg(C_WORLD).arg(&core).arg(wasm))
        .map_err(failed("reprise-c-component could not make a component of the compiled module"))?;
    if wasm.is_file() {
        Ok(())
    } else {
        Err(failed("reprise-c-component wrote no component")(format!("{} does not exist", wasm.display())))
    }
}

/// The JavaScript toolchain: the directory where npm installed componentize-js.
struct JsToolchain {
    dir: PathBuf,
}

/// A hash of the JavaScript toolchain's package files, which pin every package of it.
fn js_lock_hash(root: &Path) -> Result<String, String> {
    let source = root.join("guest-sdk/js/toolchain");
    let manifest = read(&source.join("package.json"))?;
    let lock = read(&source.join("package-lock.json"))?;
    Ok(hash_hex(&[manifest.as_bytes(), lock.as_bytes()]))
}

/// Checks that Node.js runs and is recent enough, then installs componentize-js from npm, at
/// the versions of the committed lock file (whose hash is `lock_hash`), unless the same lock
/// file was installed already.
///
/// `npm install` with the lock file, not `npm ci`: npm 11's `ci` rejects this lock file (it
/// reports the platform-specific optional packages of a dependency as missing), while `install`
/// installs exactly what the lock file lists. It runs on a copy, so the committed file is never
/// rewritten.
fn ensure_js(root: &Path, toolchains: &Path, tools: &Tools, lock_hash: &str) -> Result<JsToolchain, Skipped> {
    check_node(&tools.node)?;
    let source = root.join("guest-sdk/js/toolchain");
    let dir = toolchains.join("componentize-js");
    let done = dir.join(".reprise-installed");
    if fs::read_to_string(&done).ok().as_deref() == Some(lock_hash) {
        return Ok(JsToolchain { dir });
    }
    fs::create_dir_all(&dir).map_err(io_failure(format!("cannot create {}", dir.display())))?;
    for file in ["package.json", "package-lock.json"] {
        fs::copy(source.join(file), dir.join(file))
            .map_err(io_failure(format!("cannot copy {file} into {}", dir.display())))?;
    }
    eprintln!(
        "fetching componentize-js from npm (pinned by guest-sdk/js/toolchain/package-lock.json) into {}",
        dir.display()
    );
    run(Command::new(&tools.npm).args(["install", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))
        .map_err(|error| {
            Skipped::new(
                format!(
                    "the JavaScript guests need componentize-js from npm, and `{} install` could not install it: \
                     {NODE_HINT}; check that this machine reaches npm's registry (npm honours its `registry` \
                     setting and the proxy variables), then build again",
                    tools.npm.to_string_lossy()
                ),
                error,
            )
        })?;
    fs::write(&done, lock_hash).map_err(io_failure(format!("cannot write {}", done.display())))?;
    Ok(JsToolchain { dir })
}

/// Checks that `node` runs and is Node.js [`NODE_MIN_MAJOR`] or later.
fn check_node(node: &OsString) -> Result<(), Skipped> {
    let needs = format!("the JavaScript guests need Node.js {NODE_MIN_MAJOR} or later");
    let output = Command::new(node).arg("--version").output().map_err(|err| {
        Skipped::new(
            format!("{needs}, and `{}` could not be run: {NODE_HINT}", node.to_string_lossy()),
            format!("`{} --version` could not be run: {err}", node.to_string_lossy()),
        )
    })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major = version.strip_prefix('v').and_then(|v| v.split('.').next()).and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(major) if output.status.success() && major >= NODE_MIN_MAJOR => Ok(()),
        _ => Err(Skipped::new(
            format!("{needs}, and `{}` is not: {NODE_HINT}", node.to_string_lossy()),
            format!(
                "`{} --version` answered {version:?} ({}){}",
                node.to_string_lossy(),
                output.status,
                excerpt(&String::from_utf8_lossy(&output.stderr))
            ),
        )),
    }
}

/// Runs `cmd` to completion, capturing its output (passed on to our stderr: our stdout may be a
/// build script's, which cargo reads as instructions); if it fails, says how, with the end of
/// its output.
fn run(cmd: &mut Command) -> Result<(), String> {
    // Backtraces of the Rust tools (reprise-c-component, cargo) would bury their error.
    cmd.env_remove("RUST_BACKTRACE").env_remove("RUST_LIB_BACKTRACE");
    match cmd.output() {
        Ok(output) => {
            let text =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            eprint!("{text}");
            if output.status.success() {
                Ok(())
            } else {
                Err(format!("{cmd:?} failed ({}); its output:\n{}", output.status, excerpt(&text)))
            }
        }
        Err(err) => Err(format!("{cmd:?} could not be run: {err}")),
    }
}

/// A `map_err` for an I/O error: the guest is skipped because `what` failed.
fn io_failure(what: String) -> impl Fn(std::io::Error) -> Skipped {
    move |err| Skipped::new(what.clone(), err.to_string())
}

/// The first and last lines of `text` ([`EXCERPT_LINES`]), or all of it if it is short.
fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let (head, tail) = EXCERPT_LINES;
    if lines.len() <= head + tail + 1 {
        return lines.join("\n");
    }
    let skipped = lines.len() - head - tail;
    format!("{}\n[... {skipped} lines ...]\n{}", lines[..head].join("\n"), lines[lines.len() - tail..].join("\n"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A project tree with one guest per language and the files their fingerprints read.
    fn project() -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("a temporary directory");
        let files = [
            ("guests/py-a/main.py", "print('a')\n"),
            ("guests/js-a/main.js", "export const a = 1;\n"),
            ("guests/c-a/main.c", "int a;\n"),
            ("guest-sdk/python/reprise.py", "\n"),
            ("guest-sdk/js/toolchain/package.json", "{}\n"),
            ("guest-sdk/js/toolchain/package-lock.json", "{}\n"),
            ("wit/durable.wit", "package reprise:durable@0.1.0;\n"),
            ("xtask/c-component/Cargo.toml", "[package]\n"),
        ];
        for (path, contents) in files {
            let path = root.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
        }
        root
    }

    fn unavailable_tools() -> Tools {
        Tools {
            python: "/nonexistent/python3".into(),
            node: "/nonexistent/node".into(),
            npm: "/nonexistent/npm".into(),
        }
    }

    fn skipped<'a>(builds: &'a [GuestBuild], name: &str) -> &'a Skipped {
        let build = builds.iter().find(|b| b.guest.name == name).expect("every guest comes back");
        match &build.outcome {
            Outcome::Skipped(skipped) => skipped,
            Outcome::Built { .. } => panic!("{name} was built: {build:?}"),
        }
    }

    #[test]
    fn missing_tools_skip_their_guests_with_the_tool_to_install() {
        let root = project();
        let target = root.path().join("target");
        let builds = build(root.path(), &target, &unavailable_tools()).expect("a missing tool is no build error");
        assert_eq!(builds.len(), 3, "{builds:?}");

        let python = skipped(&builds, "py-a");
        assert!(python.reason.starts_with("the Python guests need Python 3.10 or later"), "{python:?}");
        assert!(python.reason.contains("`/nonexistent/python3` could not be run"), "{python:?}");
        assert!(python.reason.contains("apt-get install python3 python3-venv"), "{python:?}");
        assert!(python.error.contains("No such file or directory"), "{python:?}");

        let js = skipped(&builds, "js-a");
        assert!(js.reason.starts_with("the JavaScript guests need Node.js 18 or later"), "{js:?}");
        assert!(js.reason.contains("apt-get install nodejs npm"), "{js:?}");
        assert!(js.error.contains("/nonexistent/node --version` could not be run"), "{js:?}");

        // `zig cc` comes from PyPI: the C guests need Python too.
        let c = skipped(&builds, "c-a");
        assert!(c.reason.starts_with("the C guests (for `zig cc`) need Python 3.10 or later"), "{c:?}");

        let summary = skipped_summary(&builds);
        assert_eq!(summary.len(), 3, "{summary:?}");
        assert!(summary.iter().any(|line| line.starts_with("skipped py-a: the Python guests need")), "{summary:?}");
        assert!(summary.iter().all(|line| !line.contains('\n')), "a cargo:warning is one line: {summary:?}");

        let source = constants_source(&builds);
        assert!(
            source.contains(&format!(
                "pub const PY_A: Guest = Guest::missing(\"py-a\", \"Python\", {:?}, {:?});",
                python.reason, python.error
            )),
            "{source}"
        );
        assert!(source.contains("pub const POLYGLOT: &[Guest] = &[\n    C_A,\n    JS_A,\n    PY_A,\n];"), "{source}");
    }

    #[test]
    fn a_long_output_is_quoted_by_its_start_and_its_end() {
        let short: String = (1..=26).map(|n| format!("line {n}\n")).collect();
        assert_eq!(excerpt(&short), short.trim_end());
        let long: String = (1..=100).map(|n| format!("line {n}\n")).collect();
        let quoted = excerpt(&long);
        assert!(quoted.starts_with("line 1\nline 2\n"), "{quoted}");
        assert!(quoted.contains("line 15\n[... 75 lines ...]\nline 91\n"), "{quoted}");
        assert!(quoted.ends_with("line 100"), "{quoted}");
    }

    /// A componentize-py that builds `py-good` and rejects `py-bad` as a real one would reject
    /// a syntax error, installed where the builder keeps componentize-py.
    #[cfg(unix)]
    fn fake_componentize_py(target: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        let venv = toolchains_dir(target).join(format!("componentize-py-{COMPONENTIZE_PY_VERSION}"));
        fs::create_dir_all(venv.join("bin")).unwrap();
        fs::write(venv.join(".reprise-installed"), COMPONENTIZE_PY_VERSION).unwrap();
        let script = venv.join("bin/componentize-py");
        fs::write(
            &script,
            "#!/bin/sh\nout=''; bad=''\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n    --output) out=\"$2\"; shift;;\n    \
             */py-bad) bad=1;;\n  esac\n  shift\ndone\nif [ -n \"$bad\" ]; then\n  echo 'compiling main.py' \n  \
             echo 'SyntaxError: invalid syntax (main.py, line 1)' >&2\n  exit 1\nfi\nprintf component > \"$out\"\n",
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_guest_its_toolchain_rejects_is_skipped_with_the_output_and_the_others_are_built() {
        let root = project();
        fs::remove_dir_all(root.path().join("guests/js-a")).unwrap();
        fs::remove_dir_all(root.path().join("guests/c-a")).unwrap();
        fs::rename(root.path().join("guests/py-a"), root.path().join("guests/py-good")).unwrap();
        fs::create_dir_all(root.path().join("guests/py-bad")).unwrap();
        fs::write(root.path().join("guests/py-bad/main.py"), "def (\n").unwrap();
        let target = root.path().join("target");
        fake_componentize_py(&target);

        let builds = build(root.path(), &target, &unavailable_tools()).expect("a rejected guest is no build error");
        let bad = skipped(&builds, "py-bad");
        assert_eq!(
            bad.reason,
            "componentize-py could not build the Python guest `py-bad`: fix what its output says, then build again"
        );
        assert!(bad.error.contains("SyntaxError: invalid syntax (main.py, line 1)"), "{bad:?}");
        assert!(bad.error.contains("compiling main.py"), "both streams are kept: {bad:?}");
        let good = target.join("guests/polyglot/py_good.wasm");
        let outcome =
            |builds: &[GuestBuild]| builds.iter().find(|b| b.guest.name == "py-good").unwrap().outcome.clone();
        assert_eq!(outcome(&builds), Outcome::Built { wasm: good.clone(), rebuilt: true });

        // Without its toolchain, the up-to-date component is kept, and the broken guest is
        // tried again (and found missing its toolchain now).
        fs::remove_dir_all(toolchains_dir(&target)).unwrap();
        let again = build(root.path(), &target, &unavailable_tools()).unwrap();
        assert_eq!(outcome(&again), Outcome::Built { wasm: good, rebuilt: false });
        assert!(skipped(&again, "py-bad").reason.contains("`/nonexistent/python3` could not be run"), "{again:?}");
    }
}
