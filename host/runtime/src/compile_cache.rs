//! The on-disk cache of compiled components: a restart loads machine code instead of compiling
//! each component again (seconds for a Rust guest, more for an interpreter-based one).
//!
//! It owns the cache directory's files: their names, their format, writing them atomically and
//! deciding whether one may be loaded. It never decides what a component exports and never
//! fails a load because of the cache: any problem with a cache file (missing, truncated,
//! corrupt, written by another wasmtime or engine configuration, unwritable directory) means
//! "compile it", with a warning where something was wrong.
//!
//! # Keys
//! A file is named `<content hash>-<engine>-<fingerprint>.cwasm`: the SHA-256 of the component's
//! bytes, the engine it was compiled for (`orchestrator` or `activity`, whose configurations
//! differ), and a fingerprint of everything wasmtime says makes compiled code compatible
//! ([`Engine::precompile_compatibility_hash`]: target, compiler flags, tunables, features and
//! wasmtime's own version). Upgrading wasmtime or changing an engine setting therefore misses
//! the cache instead of loading code compiled for something else.
//!
//! # Trust boundary
//! Loading compiled code is `unsafe` in wasmtime ([`Component::deserialize`]): it maps the bytes
//! as executable code, so bytes that were not produced by wasmtime are undefined behaviour, not
//! an error. The cache therefore trusts a file only when:
//! 1. it starts with the SHA-256 of the rest of the file, and the rest matches it, which catches
//!    a truncated write, a torn page or bit rot (files are also written to a temporary name,
//!    fsynced, then renamed, so a crash leaves either the old state or a whole file); and
//! 2. wasmtime's own header check accepts it for this engine (version and configuration).
//!
//! The checksum is not a signature: whoever can write the cache directory can run code in this
//! process, exactly as whoever can write the database directory can change what it runs. Keep
//! the cache next to the database (the default), with the same owner and permissions. The one
//! `unsafe` block of the workspace is [`deserialize_verified`].

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The length of the checksum that starts every cache file.
const CHECKSUM_LEN: usize = 32;

/// The extension of cache files.
const EXTENSION: &str = "cwasm";

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

/// Where a compiled component came from, for the caller's figures and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Compiled now, and no cache is configured.
    Compiled,
    /// Compiled now, and written to the cache.
    CompiledAndCached,
    /// Loaded from the cache: nothing was compiled.
    Cache,
}

impl CompileCache {
    /// A cache in `dir`, created on first write.
    pub(crate) fn new(dir: PathBuf) -> Self {
        CompileCache { dir }
    }

    /// The compiled component for `bytes` (whose content hash is `hash`) on `engine`: from the
    /// cache if a valid file is there, otherwise compiled by `compile` and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        engine_name: &str,
        hash: &str,
        compile: impl FnOnce() -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<(Component, CompileSource)> {
        let path = self.path(engine, engine_name, hash);
        match std::fs::read(&path) {
            Ok(file) => match deserialize_verified(engine, &file) {
                Ok(component) => return Ok((component, CompileSource::Cache)),
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "ignoring an unusable compiled-component cache file; compiling again");
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the compiled-component cache; compiling");
            }
        }
        let component = compile()?;
        match self.store(&path, &component) {
            Ok(()) => Ok((component, CompileSource::CompiledAndCached)),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "cannot write the compiled-component cache; the next start compiles again");
                Ok((component, CompileSource::Compiled))
            }
        }
    }

    /// The file that holds `hash` compiled for `engine`.
    fn path(&self, engine: &Engine, engine_name: &str, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{engine_name}-{}.{EXTENSION}", fingerprint(engine)))
    }

    /// Writes `component` to `path` atomically: a temporary file in the same directory, fsynced,
    /// then renamed over `path`. Two processes caching the same component both write whole
    /// files; the last rename wins, and either is valid.
    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let code = component.serialize()?;
        std::fs::create_dir_all(&self.dir)?;
        let mut file = tempfile::Builder::new().prefix(".partial-").suffix(".tmp").tempfile_in(&self.dir)?;
        file.write_all(&Sha256::digest(&code))?;
        file.write_all(&code)?;
        file.as_file().sync_all()?;
        file.persist(path)?;
        Ok(())
    }
}

/// Checks a cache file's checksum, then lets wasmtime load the code after it.
fn deserialize_verified(engine: &Engine, file: &[u8]) -> anyhow::Result<Component> {
    if file.len() <= CHECKSUM_LEN {
        anyhow::bail!("the file is truncated ({} bytes)", file.len());
    }
    let (checksum, code) = file.split_at(CHECKSUM_LEN);
    if Sha256::digest(code).as_slice() != checksum {
        anyhow::bail!("the checksum does not match the contents (a torn or corrupted write)");
    }
    // Checked first, so that a file of another kind is an error rather than a load attempt.
    if Engine::detect_precompiled(code) != Some(wasmtime::Precompiled::Component) {
        anyhow::bail!("the file does not hold a compiled component");
    }
    // SAFETY: `Component::deserialize` requires bytes produced by `Component::serialize` of a
    // compatible wasmtime. The checksum above proves these are the exact bytes `store` wrote,
    // which came from `Component::serialize` of this build of the host (the file name carries
    // the engine fingerprint), and wasmtime itself rejects a header from another version or
    // configuration. The remaining trust is in the directory's owner; see the module docs.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, code) }?;
    Ok(component)
}

/// A short, stable fingerprint of what makes compiled code compatible with `engine`.
fn fingerprint(engine: &Engine) -> String {
    let mut hasher = DigestHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds [`Hash`] into SHA-256, so that the fingerprint is the same in every build and process
/// (std's `DefaultHasher` promises neither).
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component there is: wasmtime compiles it in milliseconds.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).expect("engine")
    }

    fn only_file(dir: &Path) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }

    fn load(cache: &CompileCache, engine: &Engine) -> CompileSource {
        cache
            .load_or_compile(engine, "test", "abc", || Component::new(engine, EMPTY_COMPONENT))
            .expect("load or compile")
            .1
    }

    #[test]
    fn the_second_load_comes_from_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path().join("nested"));
        let engine = engine();
        assert_eq!(load(&cache, &engine), CompileSource::CompiledAndCached);
        assert_eq!(load(&cache, &engine), CompileSource::Cache);
        let name = only_file(&dir.path().join("nested")).file_name().expect("name").to_string_lossy().into_owned();
        assert!(name.starts_with("abc-test-") && name.ends_with(".cwasm"), "{name}");
    }

    #[test]
    fn a_truncated_or_corrupted_file_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path().to_path_buf());
        let engine = engine();
        load(&cache, &engine);
        let path = only_file(dir.path());
        let good = std::fs::read(&path).expect("read");

        std::fs::write(&path, &good[..good.len() / 2]).expect("truncate");
        assert_eq!(load(&cache, &engine), CompileSource::CompiledAndCached);
        assert_eq!(std::fs::read(&path).expect("read"), good, "the truncated file was replaced");

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        std::fs::write(&path, &flipped).expect("corrupt");
        assert_eq!(load(&cache, &engine), CompileSource::CompiledAndCached);

        std::fs::write(&path, b"short").expect("shorten");
        assert_eq!(load(&cache, &engine), CompileSource::CompiledAndCached);
        assert_eq!(load(&cache, &engine), CompileSource::Cache);
    }

    #[test]
    fn a_valid_file_of_the_wrong_kind_is_not_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::new(dir.path().to_path_buf());
        let engine = engine();
        load(&cache, &engine);
        let path = only_file(dir.path());
        // A checksummed file whose contents are a compiled core module, not a component.
        let module = engine.precompile_module(b"\0asm\x01\0\0\0").expect("precompile module");
        let mut file = Sha256::digest(&module).to_vec();
        file.extend_from_slice(&module);
        std::fs::write(&path, &file).expect("write");
        assert_eq!(load(&cache, &engine), CompileSource::CompiledAndCached);
    }

    #[test]
    fn engines_with_different_settings_have_different_fingerprints() {
        let plain = engine();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let with_epochs = Engine::new(&config).expect("engine");
        assert_eq!(fingerprint(&plain), fingerprint(&engine()));
        assert_ne!(fingerprint(&plain), fingerprint(&with_epochs));
    }

    #[test]
    fn an_unwritable_directory_still_compiles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a directory").expect("write");
        let cache = CompileCache::new(file.join("cache"));
        let engine = engine();
        assert_eq!(load(&cache, &engine), CompileSource::Compiled);
        assert_eq!(load(&cache, &engine), CompileSource::Compiled);
    }
}
