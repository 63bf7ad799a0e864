//! On-disk cache of compiled components.
//!
//! Compiling the component takes from a tenth of a second (release host) to
//! seconds (debug host); deserializing a cached compilation takes
//! milliseconds. Entries are keyed by the wasm bytes, the wasmtime version
//! and the engine's compatibility hash, so a stale entry is never looked up.
//!
//! wasmtime maps a deserialized entry as machine code and trusts it
//! (`Component::deserialize` is `unsafe`): a damaged entry (bytes zeroed by
//! a crash, a full disk) would run, and die of SIGILL or SIGSEGV. So each
//! entry carries the sha256 of its serialized bytes, checked before they
//! are handed to wasmtime; one that fails is recompiled and replaced. The
//! digest guards against damage, not against someone who can write the
//! cache; that is why a cache directory others can write, or another user
//! owns, is not used at all, and an entry others can write, another user
//! owns or with a second name is not loaded ([`crate::plugin::cache_dir`]).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::error::one_line;
use crate::plugin::cache_dir;
use crate::Error;

/// Overrides the cache directory.
pub const CACHE_ENV: &str = "KLOSET_HOST_CACHE";

/// The wasmtime the host is pinned to (Cargo.toml); part of the key.
const WASMTIME_VERSION: &str = "48.0.8";

/// The start of every entry, then the sha256 of the rest, then the rest
/// (what `Component::serialize` gave).
const MAGIC: &[u8] = b"kloset-host compiled component v1\n";

/// Compiles `wasm`, or loads its compilation from the cache.
pub fn load_or_compile(engine: &Engine, wasm: &[u8]) -> Result<Component, Error> {
    load_or_compile_in(engine, wasm, cache_dir().as_deref())
}

/// Like [`load_or_compile`], with the cache in `dir`; `None` always compiles.
pub fn load_or_compile_in(
    engine: &Engine,
    wasm: &[u8],
    dir: Option<&Path>,
) -> Result<Component, Error> {
    let Some((dir, opened)) = dir.and_then(|d| cache_dir::trusted(d).map(|fd| (d, fd))) else {
        return compile(engine, wasm);
    };
    let name = format!("{}.cwasm", cache_key(engine, wasm));
    let path = dir.join(&name);
    let entry = cache_dir::open_entry(&opened, &name).and_then(|file| {
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).ok().map(|_| bytes)
    });
    if let Some(serialized) = entry.as_deref().and_then(verified) {
        // SAFETY: these bytes are, digest for digest, what `store` below
        // wrote from `Component::serialize` of this same engine
        // configuration (the key says so), read from a file of this user's
        // that only this user can write, with no other name, opened in a
        // directory only this user can write; they were read into memory
        // before the check, so the file changing now changes nothing.
        if let Ok(component) = unsafe { Component::deserialize(engine, serialized) } {
            return Ok(component);
        }
    }
    let component = compile(engine, wasm)?;
    // A cache that cannot be written only costs time on the next load.
    let _ = store(dir, &path, &component);
    Ok(component)
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, Error> {
    Component::new(engine, wasm).map_err(|e| Error::Compile(one_line(&e)))
}

/// `$KLOSET_HOST_CACHE`, else the user's cache directory + `kloset-host`.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => directories::BaseDirs::new().map(|base| base.cache_dir().join("kloset-host")),
    }
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut compat = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut digest = Sha256::new();
    digest.update(wasm);
    digest.update(WASMTIME_VERSION.as_bytes());
    digest.update(compat.finish().to_le_bytes());
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes the compilation next to its final name, then renames it into
/// place, so a concurrent loader sees either no file or a whole one.
fn store(dir: &Path, path: &Path, component: &Component) -> Result<(), Error> {
    let serialized = component
        .serialize()
        .map_err(|e| Error::Compile(one_line(&e)))?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 32 + serialized.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&Sha256::digest(&serialized));
    bytes.extend_from_slice(&serialized);
    write_atomically(dir, path, &bytes, "writing compiled component to")
}

/// The serialized component in an entry, if the entry is whole.
fn verified(entry: &[u8]) -> Option<&[u8]> {
    let rest = entry.strip_prefix(MAGIC)?;
    let (digest, serialized) = rest.split_at_checked(32)?;
    (Sha256::digest(serialized).as_slice() == digest).then_some(serialized)
}

/// Writes `bytes` to `path` in `dir` through a temporary file and a rename:
/// a reader sees no file or a whole one, never a part.
pub(crate) fn write_atomically(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    what: &str,
) -> Result<(), Error> {
    let io = |context: &str| {
        let context = format!("{context} {}", dir.display());
        move |source| Error::Io { context, source }
    };
    fs::create_dir_all(dir).map_err(io("creating cache directory"))?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let temp = dir.join(format!(".{}.{nonce}.tmp", std::process::id()));
    // Only this user may write an entry, whatever the umask: an entry
    // others may write is never loaded ([`cache_dir::open_entry`]).
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(io(what))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
