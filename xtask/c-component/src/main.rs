//! `reprise-c-component`: the two steps of the C guest toolchain that need the component-model
//! libraries, done with the library crates instead of the `wit-bindgen` and `wasm-tools` command
//! line tools (which take minutes to install). The guest builder (`xtask/src/polyglot.rs`)
//! builds it once per target directory and runs it around the C compiler:
//!
//! ```text
//! reprise-c-component bindings <wit dir> <world> <out dir>
//! reprise-c-component component <wit dir> <world> <core module> <out component>
//! ```
//!
//! `bindings` writes `<world>.h`, `<world>.c` (the C bindings of the world, from `wit-bindgen-c`)
//! and `<world>_component_type.o`, the world's type information, to link into the module.
//! `component` wraps a wasm32-wasi core module linked with them, with the WASI preview1 reactor
//! adapter of the wasmtime release the host runs, into a component. It never compiles C and never writes outside the paths it is given.

use std::path::Path;
use std::process::ExitCode;
use std::{env, fs};

use anyhow::{Context, Result, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::Files;
use wit_component::ComponentEncoder;
use wit_parser::{Resolve, WorldId};

const USAGE: &str = "usage:
  reprise-c-component bindings <wit dir> <world> <out dir>
  reprise-c-component component <wit dir> <world> <core module> <out component>";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["bindings", wit, world, out] => bindings(Path::new(wit), world, Path::new(out)),
        ["component", wit, world, module, out] => component(Path::new(wit), world, Path::new(module), Path::new(out)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The WIT package of `wit` and the id of its world `world`.
fn load(wit: &Path, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) =
        resolve.push_dir(wit).with_context(|| format!("cannot read the WIT package in {}", wit.display()))?;
    let world = resolve
        .select_world(&[package], Some(world))
        .with_context(|| format!("the WIT package in {} has no world `{world}`", wit.display()))?;
    Ok((resolve, world))
}

/// Writes the C bindings of `world` into `out`.
fn bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let (mut resolve, world) = load(wit, world)?;
    let opts = wit_bindgen_c::Opts::default();
    let mut files = Files::default();
    opts.build().generate(&mut resolve, world, &mut files).context("cannot generate the C bindings")?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Makes the component `out` of the wasm32-wasi core module `module`, which implements `world`
/// and was linked with the type information `bindings` wrote.
fn component(wit: &Path, world: &str, module: &Path, out: &Path) -> Result<()> {
    // The world is read again only to report a wrong WIT package or world name clearly: the
    // encoder takes the world from the type information linked into the module.
    load(wit, world)?;
    let bytes = fs::read(module).with_context(|| format!("cannot read {}", module.display()))?;
    if !bytes.starts_with(b"\0asm") {
        bail!("{} is not a WebAssembly module", module.display());
    }
    let component = ComponentEncoder::default()
        .module(&bytes)
        .context(
            "the module does not carry a world's type information, or does not match it: link the \
                  `<world>_component_type.o` that `bindings` wrote into it, and define every export",
        )?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        .context("cannot use the WASI preview1 reactor adapter")?
        .validate(true)
        .encode()
        .context("cannot make a component of the module")?;
    fs::write(out, component).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
