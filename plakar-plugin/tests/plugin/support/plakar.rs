//! The real plakar CLI (v1.1.4, installed by scripts/setup-plakar) in a
//! throwaway home, with our package built from this build's plugin binary
//! and component, and installed with `plakar pkg add` as a user would.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

/// The package version `pkg create` is given.
pub const PACKAGE_VERSION: &str = "v0.1.0";

/// The passphrase of the encrypted repositories the tests make.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// `$PLAKAR`, else the project's `.tools/bin/plakar`; fails loudly when
/// neither is there.
pub fn plakar_binary() -> PathBuf {
    let path = std::env::var_os("PLAKAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/plakar"));
    assert!(
        path.is_file(),
        "plakar is not installed at {}: run scripts/setup-plakar (or set $PLAKAR)",
        path.display()
    );
    path
}

/// What a plakar run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            ok: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout and stderr together, for messages and searches.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A plakar home: data, cache and config directories of its own, the
/// security check off, our package installed.
pub struct Plakar {
    home: TempDir,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Plakar {
    /// A fresh home with our package installed.
    pub fn with_package() -> Plakar {
        let plakar = Plakar::bare();
        let ptar = package();
        let run = plakar.run([OsStr::new("pkg"), OsStr::new("add"), ptar.as_os_str()]);
        assert!(
            run.ok,
            "plakar pkg add {} failed:\n{}",
            ptar.display(),
            run.text()
        );
        let listed = plakar.ok(["pkg", "list"]);
        assert!(
            listed.stdout.contains("kloset-oci"),
            "the package is not listed after pkg add:\n{}",
            listed.text()
        );
        plakar
    }

    /// A fresh home without packages.
    pub fn bare() -> Plakar {
        let home = tempfile::Builder::new()
            .prefix("plakar-home-")
            .tempdir()
            .expect("a temporary plakar home");
        let plakar = Plakar {
            home,
            bin: plakar_binary(),
            env: Vec::new(),
        };
        for dir in ["data/plakar", "cache/plakar", "config/plakar"] {
            std::fs::create_dir_all(plakar.home.path().join(dir)).expect("plakar directories");
        }
        // Prints the welcome text once and remembers, per cache directory,
        // never to fetch the release feed.
        plakar.ok(["-disable-security-check"]);
        plakar
    }

    /// Sets an environment variable for every later plakar run (and so for
    /// the plugin processes plakar starts).
    pub fn env(mut self, name: &str, value: &str) -> Plakar {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `plakar` with this home's directories and environment. The
    /// background `plakar cached` process finds plugins through
    /// `XDG_DATA_HOME`, not `-datadir`: both are set.
    pub fn command(&self) -> Command {
        let home = self.home.path();
        let mut command = Command::new(&self.bin);
        command
            .arg("-datadir")
            .arg(home.join("data/plakar"))
            .arg("-cachedir")
            .arg(home.join("cache/plakar"))
            .arg("-configdir")
            .arg(home.join("config/plakar"))
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("PLAKAR_PASSPHRASE", PASSPHRASE)
            .env_remove("OCI_REGISTRY_USERNAME")
            .env_remove("OCI_REGISTRY_PASSWORD")
            .env_remove("OCI_REGISTRY_TOKEN")
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::null());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs plakar with `args`, whatever the outcome.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command();
        command.args(args);
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        Run::from(output)
    }

    /// Runs plakar with `args` and asserts it exited 0.
    pub fn ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        let run = self.run(&args);
        assert!(
            run.ok,
            "plakar {:?} exited {:?}:\n{}",
            args,
            run.code,
            run.text()
        );
        run
    }

    /// `plakar at LOCATION args...`, asserted to succeed.
    pub fn at_ok(&self, location: &str, args: &[&str]) -> Run {
        let mut all = vec!["at", location];
        all.extend_from_slice(args);
        self.ok(all)
    }

    /// `plakar at LOCATION args...`, whatever the outcome.
    pub fn at(&self, location: &str, args: &[&str]) -> Run {
        let mut all = vec!["at", location];
        all.extend_from_slice(args);
        self.run(all)
    }

    /// The snapshots of a repository, newest first: their short ids.
    pub fn snapshot_ids(&self, location: &str) -> Vec<String> {
        let run = self.at_ok(location, &["ls"]);
        run.stdout
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1))
            .filter(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Plakar {
    /// Stops the background `plakar cached` of this home, if one is left.
    fn drop(&mut self) {
        let cache = self.home.path().join("cache/plakar");
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(format!("cachedir {}", cache.display()))
            .status();
    }
}

/// Our package, built from this build's plugin binary and component with
/// `plakar pkg create`, exactly as scripts/package builds it from the
/// release ones. Kept in cargo's per-target temporary directory under a name
/// made of the inputs' digest: every test process of one build (each plakar
/// test is a process of its own, see `netns`) shares one file, and nothing
/// is left in /tmp (a debug package weighs about 60 MiB, its staging 220).
pub fn package() -> &'static Path {
    static PACKAGE: OnceLock<PathBuf> = OnceLock::new();
    PACKAGE.get_or_init(build_package)
}

/// The sources of the package, in the order they are staged and digested.
fn package_inputs() -> Vec<(&'static str, PathBuf)> {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("package");
    vec![
        ("manifest.yaml", sources.join("manifest.yaml")),
        ("options.schema.json", sources.join("options.schema.json")),
        (
            "kloset-oci-plakar",
            PathBuf::from(env!("CARGO_BIN_EXE_kloset-oci-plakar")),
        ),
        (
            "kloset_oci.wasm",
            crate::common::component::component_file(),
        ),
    ]
}

fn build_package() -> PathBuf {
    use sha2::Digest;
    let inputs = package_inputs();
    let mut digest = sha2::Sha256::new();
    for (name, path) in &inputs {
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("package input {}: {e}", path.display()));
        digest.update(name.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(&bytes);
    }
    let key = hex::encode(&digest.finalize()[..8]);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let ptar_name = format!("kloset-oci_{PACKAGE_VERSION}_linux_{arch}.ptar");
    let store = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plakar-packages");
    std::fs::create_dir_all(&store).expect("the package directory");
    // plakar reads the package's name and version from the file's name:
    // the key names a folder.
    let ptar = store.join(&key).join(&ptar_name);
    if ptar.is_file() {
        return ptar;
    }

    let stage = tempfile::Builder::new()
        .prefix("kloset-oci-package-")
        .tempdir_in(&store)
        .expect("a staging directory");
    let dir = stage.path();
    for (name, path) in &inputs {
        std::fs::copy(path, dir.join(name)).expect("package sources");
    }
    let cache = dir.join(".cache");
    let plakar = plakar_binary();
    let quiet = |args: &[&str]| {
        let output = Command::new(&plakar)
            .arg("-cachedir")
            .arg(&cache)
            .args(args)
            .current_dir(dir)
            .env("HOME", dir)
            .stdin(Stdio::null())
            .output()
            .expect("plakar runs");
        assert!(
            output.status.success(),
            "plakar {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    quiet(&["-disable-security-check"]);
    quiet(&["pkg", "create", "manifest.yaml", PACKAGE_VERSION]);
    let made = dir.join(&ptar_name);
    assert!(
        made.is_file(),
        "plakar pkg create made no {}",
        made.display()
    );
    // Atomic: a process building the same package at the same time
    // replaces it with identical contents; a reader sees a whole file.
    std::fs::create_dir_all(store.join(&key)).expect("the package's folder");
    std::fs::rename(&made, &ptar).expect("the package into place");
    // Packages of earlier builds go (best effort).
    if let Ok(entries) = std::fs::read_dir(&store) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let earlier = name.len() == key.len() && name != key.as_str();
            if earlier {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    ptar
}
