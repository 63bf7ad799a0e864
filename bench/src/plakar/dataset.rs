//! The dataset plakar backs up: a generated, seeded tree (`tree::generate`,
//! shared with the plugin's tests) and a second version of it with about 5%
//! of its bytes changed, for the incremental backup.
//!
//! Both versions are made once and reused by every run. The changed one is
//! a hard-link copy of the base in which the changed files are replaced
//! (never written in place), so it costs only the changed bytes on disk.
//! Both are backed up from the same path (`live`): the version a run needs
//! is renamed there and back, so plakar sees one folder that changed, as a
//! user's would.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;

use crate::BenchError;
use kloset_testkit::tree::{self, Entry, TreeSpec};

const MIB: usize = 1 << 20;

/// What was generated, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Shape {
    pub seed: u64,
    pub small_files: usize,
    pub large_files: usize,
    pub large_bytes: usize,
    pub text_files: usize,
    pub text_bytes: usize,
    /// Regular files' bytes in the base version.
    pub bytes: u64,
    pub files: usize,
    /// Bytes rewritten or added in the changed version.
    pub changed_bytes: u64,
    /// Bytes of the changed version (what the second backup and the
    /// restores cover).
    pub changed_version_bytes: u64,
}

/// Which version is at the live path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Base,
    Changed,
}

pub struct Dataset {
    base: PathBuf,
    changed: PathBuf,
    live: PathBuf,
    pub changed_entries: BTreeMap<PathBuf, Entry>,
    /// A small file of the changed version, relative to the root: the
    /// single-file restore's target.
    pub single_file: PathBuf,
    pub shape: Shape,
}

impl Dataset {
    /// Generates both versions under `dir`.
    pub fn generate(dir: &Path, spec: TreeSpec) -> Result<Dataset, BenchError> {
        let base = dir.join("base");
        let changed = dir.join("changed");
        tree::generate(&base, spec);
        let status = Command::new("cp")
            .arg("-al")
            .arg(&base)
            .arg(&changed)
            .status()
            .map_err(|e| BenchError::Setup(format!("cp -al: {e}")))?;
        if !status.success() {
            return Err(BenchError::Setup(format!("cp -al failed: {status}")));
        }
        let changed_bytes = change(&changed, spec.seed ^ 0x5eed)
            .map_err(|e| BenchError::Setup(format!("changing the dataset: {e}")))?;
        let base_entries = tree::list(&base);
        let changed_entries = tree::list(&changed);
        let single_file = changed_entries
            .iter()
            .find(|(path, entry)| {
                path.starts_with("small")
                    && matches!(entry, Entry::File((_, len)) if *len > 0)
                    && base_entries.get(*path) == Some(entry)
            })
            .map(|(path, _)| path.clone())
            .ok_or_else(|| BenchError::Setup("no unchanged small file".into()))?;
        let sum = |entries: &BTreeMap<PathBuf, Entry>| -> (u64, usize) {
            entries.values().fold((0, 0), |(bytes, files), e| match e {
                Entry::File((_, len)) => (bytes + len, files + 1),
                _ => (bytes, files),
            })
        };
        let (bytes, files) = sum(&base_entries);
        let (changed_version_bytes, _) = sum(&changed_entries);
        Ok(Dataset {
            base,
            changed,
            live: dir.join("data"),
            changed_entries,
            single_file,
            shape: Shape {
                seed: spec.seed,
                small_files: spec.small_files,
                large_files: spec.large_files,
                large_bytes: spec.large_size,
                text_files: spec.text_files,
                text_bytes: spec.text_size,
                bytes,
                files,
                changed_bytes,
                changed_version_bytes,
            },
        })
    }

    /// The path every backup reads.
    pub fn live(&self) -> &Path {
        &self.live
    }

    /// Puts `version` at the live path for the duration of `f`.
    pub fn with<T>(&self, version: Version, f: impl FnOnce() -> T) -> Result<T, BenchError> {
        let home = match version {
            Version::Base => &self.base,
            Version::Changed => &self.changed,
        };
        let rename = |from: &Path, to: &Path| {
            fs::rename(from, to).map_err(|e| {
                BenchError::Setup(format!(
                    "renaming {} to {}: {e}",
                    from.display(),
                    to.display()
                ))
            })
        };
        rename(home, &self.live)?;
        let out = f();
        rename(&self.live, home)?;
        Ok(out)
    }
}

/// Compares a restored tree with the entries it must hold.
pub fn verify(want: &BTreeMap<PathBuf, Entry>, restored: &Path) -> Result<(), BenchError> {
    let got = tree::list(restored);
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    let differing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, _)| k)
        .take(5)
        .collect();
    if missing.is_empty() && extra.is_empty() && differing.is_empty() {
        Ok(())
    } else {
        Err(BenchError::Check(format!(
            "the restore in {} differs: missing {missing:?}, extra {extra:?}, different {differing:?}",
            restored.display()
        )))
    }
}

/// Changes about 5% of the tree at `root` (a hard-link copy: every changed
/// file is replaced, never written in place). Returns the bytes rewritten
/// or added.
fn change(root: &Path, seed: u64) -> std::io::Result<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut changed = 0u64;
    let entries = tree::list(root);
    let files = |prefix: &str| -> Vec<PathBuf> {
        entries
            .iter()
            .filter(|(path, entry)| path.starts_with(prefix) && matches!(entry, Entry::File(_)))
            .map(|(path, _)| root.join(path))
            .collect()
    };
    // Small files: one in 20 rewritten, one in 40 removed, 2% added.
    let small = files("small");
    for (i, path) in small.iter().enumerate() {
        if i % 20 == 0 {
            let len = fs::metadata(path)?.len() as usize;
            replace(path, &random(&mut rng, len))?;
            changed += len as u64;
        } else if i % 40 == 1 {
            fs::remove_file(path)?;
        }
    }
    fs::create_dir_all(root.join("added"))?;
    for i in 0..small.len().div_ceil(50) {
        let len = rng.random_range(2000..6000);
        let bytes = random(&mut rng, len);
        fs::write(root.join(format!("added/new-{i:05}.dat")), &bytes)?;
        changed += bytes.len() as u64;
    }
    // Large files: in one in five, every fourth MiB rewritten.
    let large = files("large");
    for path in large.iter().take(large.len().div_ceil(5)) {
        let mut bytes = Vec::new();
        fs::File::open(path)?.read_to_end(&mut bytes)?;
        for (n, mib) in bytes.chunks_mut(MIB).enumerate() {
            if n % 4 == 1 {
                rng.fill_bytes(mib);
                changed += mib.len() as u64;
            }
        }
        replace(path, &bytes)?;
    }
    // Text: one in ten gets a few KiB more.
    for (i, path) in files("text").iter().enumerate() {
        if i % 10 == 0 {
            let mut bytes = fs::read(path)?;
            let more = format!("appended by the change, seed {seed}\n").repeat(128);
            bytes.extend_from_slice(more.as_bytes());
            replace(path, &bytes)?;
            changed += more.len() as u64;
        }
    }
    Ok(changed)
}

/// Replaces `path` by a new file (breaking its hard link) holding `bytes`.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("bench-new");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::rename(&tmp, path)
}

fn random(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}
