//! A generated folder to back up, and a byte-for-byte comparison of two
//! folders (file bytes, symlink targets, empty files and folders).
//!
//! Deterministic: the same seed gives the same tree, so a failure can be
//! reproduced.
//!
//! The bench's plakar dataset is made with it too.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct TreeSpec {
    pub seed: u64,
    /// Small files (0 to 8 KiB), spread over folders of 100.
    pub small_files: usize,
    /// Large random (incompressible) files and the size of each.
    pub large_files: usize,
    pub large_size: usize,
    /// Compressible text files (words of a small vocabulary, about 3:1
    /// with zstd) and the size of each.
    pub text_files: usize,
    pub text_size: usize,
}

impl TreeSpec {
    /// About 200 MiB: 3,000 small files and three 64 MiB random files, so
    /// that plakar's packfiles pass 64 MiB.
    pub const FULL: TreeSpec = TreeSpec {
        seed: 1,
        small_files: 3000,
        large_files: 3,
        large_size: 64 << 20,
        text_files: 0,
        text_size: 0,
    };

    /// About 70 MiB, still more than one packfile.
    pub const MEDIUM: TreeSpec = TreeSpec {
        seed: 2,
        small_files: 500,
        large_files: 1,
        large_size: 70 << 20,
        text_files: 0,
        text_size: 0,
    };

    /// A few MiB, for tests about something else than volume.
    pub const SMALL: TreeSpec = TreeSpec {
        seed: 3,
        small_files: 200,
        large_files: 1,
        large_size: 3 << 20,
        text_files: 0,
        text_size: 0,
    };
}

/// Writes the tree under `root` (which must not exist yet).
pub fn generate(root: &Path, spec: TreeSpec) {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    fs::create_dir_all(root).expect("tree root");
    for i in 0..spec.small_files {
        let dir = root.join(format!("small/d{:03}", i / 100));
        fs::create_dir_all(&dir).expect("small folder");
        let len = rng.random_range(0..8192);
        let bytes = if i % 3 == 0 {
            // Compressible text.
            format!("line {i} of a text that repeats\n")
                .repeat(len / 32 + 1)
                .into_bytes()
        } else {
            random_bytes(&mut rng, len)
        };
        fs::write(dir.join(format!("f{i:05}.dat")), bytes).expect("small file");
    }
    let large = root.join("large");
    fs::create_dir_all(&large).expect("large folder");
    for i in 0..spec.large_files {
        let mut file = fs::File::create(large.join(format!("blob-{i}.bin"))).expect("large file");
        let mut left = spec.large_size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = left.min(buf.len());
            rng.fill_bytes(&mut buf[..n]);
            file.write_all(&buf[..n]).expect("large file bytes");
            left -= n;
        }
    }
    // Empty files and folders.
    fs::create_dir_all(root.join("empty/folder/nested")).expect("empty folders");
    fs::create_dir_all(root.join("empty/another")).expect("empty folders");
    fs::write(root.join("empty/zero.txt"), b"").expect("empty file");
    fs::write(root.join("empty/folder/zero too"), b"").expect("empty file");
    // Names with spaces and beyond ASCII.
    let names = root.join("names with spaces");
    fs::create_dir_all(names.join("sous-dossier été")).expect("named folders");
    fs::write(names.join("a file.txt"), b"spaces\n").expect("named file");
    fs::write(names.join("café ü ñ 日本語.txt"), "non-ASCII name\n").expect("named file");
    fs::write(
        names.join("sous-dossier été/ça.bin"),
        random_bytes(&mut rng, 5000),
    )
    .expect("named file");
    // Symlinks: to a file, to a folder, and one that points nowhere.
    let links = root.join("links");
    fs::create_dir_all(&links).expect("links folder");
    std::os::unix::fs::symlink("../names with spaces/a file.txt", links.join("to-file"))
        .expect("symlink");
    std::os::unix::fs::symlink("../empty/folder", links.join("to-folder")).expect("symlink");
    std::os::unix::fs::symlink("nowhere/at all", links.join("dangling")).expect("symlink");
    // Last, so that trees without text draw the same random bytes as before.
    if spec.text_files > 0 {
        let text = root.join("text");
        fs::create_dir_all(&text).expect("text folder");
        for i in 0..spec.text_files {
            fs::write(
                text.join(format!("doc-{i:03}.txt")),
                prose(&mut rng, spec.text_size),
            )
            .expect("text file");
        }
    }
}

/// `len` bytes of lines of words drawn from a small vocabulary.
fn prose(rng: &mut StdRng, len: usize) -> Vec<u8> {
    const WORDS: [&str; 32] = [
        "the",
        "backup",
        "of",
        "a",
        "repository",
        "is",
        "kept",
        "in",
        "registry",
        "packfile",
        "state",
        "lock",
        "snapshot",
        "chunk",
        "restore",
        "and",
        "every",
        "byte",
        "checked",
        "plakar",
        "kloset",
        "store",
        "object",
        "manifest",
        "blob",
        "tag",
        "layer",
        "with",
        "from",
        "to",
        "read",
        "written",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let mut column = 0;
    while out.len() < len {
        let word = WORDS[rng.random_range(0..WORDS.len())];
        out.extend_from_slice(word.as_bytes());
        column += word.len() + 1;
        if column > 72 {
            out.push(b'\n');
            column = 0;
        } else {
            out.push(b' ');
        }
    }
    out.truncate(len);
    out
}

/// Changes about 5% of a tree made by [`generate`]: rewrites some small
/// files, adds some, removes some, and appends to one large file.
pub fn mutate(root: &Path, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let files = list(root);
    let regular: Vec<&PathBuf> = files
        .iter()
        .filter(|(_, entry)| matches!(entry, Entry::File(_)))
        .map(|(path, _)| path)
        .filter(|path| path.starts_with("small"))
        .collect();
    for (i, path) in regular.iter().enumerate() {
        let full = root.join(path);
        match i % 40 {
            0 => fs::write(&full, random_bytes(&mut rng, 3000)).expect("rewrite"),
            1 => fs::remove_file(&full).expect("remove"),
            _ => {}
        }
    }
    fs::create_dir_all(root.join("added")).expect("added folder");
    for i in 0..50 {
        fs::write(
            root.join(format!("added/new-{i}.dat")),
            random_bytes(&mut rng, 2000),
        )
        .expect("add");
    }
    if let Some(blob) = fs::read_dir(root.join("large"))
        .ok()
        .and_then(|mut d| d.next())
    {
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(blob.expect("a large file").path())
            .expect("append");
        file.write_all(&random_bytes(&mut rng, 1 << 20))
            .expect("append bytes");
    }
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// One entry of a tree, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Folder,
    /// A regular file's sha256 and size.
    File(([u8; 32], u64)),
    Symlink(PathBuf),
}

/// Every entry under `root`, by path relative to it (the root excluded).
pub fn list(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    walk(root, root, &mut entries);
    entries
}

fn walk(root: &Path, dir: &Path, entries: &mut BTreeMap<PathBuf, Entry>) {
    for item in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let item = item.expect("a folder entry");
        let path = item.path();
        let relative = path
            .strip_prefix(root)
            .expect("below the root")
            .to_path_buf();
        let kind = item.file_type().expect("an entry's type");
        if kind.is_symlink() {
            entries.insert(
                relative,
                Entry::Symlink(fs::read_link(&path).expect("link target")),
            );
        } else if kind.is_dir() {
            entries.insert(relative, Entry::Folder);
            walk(root, &path, entries);
        } else {
            let bytes = fs::read(&path).expect("file bytes");
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
            entries.insert(relative, Entry::File((digest.into(), bytes.len() as u64)));
        }
    }
}

/// Asserts that `restored` holds exactly what `original` holds, and runs
/// `diff -r --no-dereference` over both as an independent check.
pub fn assert_same_tree(original: &Path, restored: &Path) {
    let want = list(original);
    let got = list(restored);
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(10)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(10)
        .collect();
    let differing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, _)| k)
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differing.is_empty(),
        "restored tree differs from {}: missing {missing:?}, extra {extra:?}, different {differing:?}",
        original.display()
    );
    let diff = std::process::Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(original)
        .arg(restored)
        .output()
        .expect("diff runs");
    assert!(
        diff.status.success(),
        "diff -r found differences:\n{}",
        String::from_utf8_lossy(&diff.stdout)
    );
    assert!(want.len() > 10, "the compared tree is suspiciously small");
}
