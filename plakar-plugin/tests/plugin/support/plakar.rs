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
        let run = plakar.run(&[OsStr::new("pkg"), OsStr::new("add"), ptar.as_os_str()]);
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

/// Our package, built once per test process from this build's plugin
/// binary and component with `plakar pkg create`, exactly as
/// scripts/package builds it from the release ones.
pub fn package() -> &'static Path {
    static PACKAGE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &PACKAGE.get_or_init(build_package).1
}

fn build_package() -> (TempDir, PathBuf) {
    let stage = tempfile::Builder::new()
        .prefix("kloset-oci-package-")
        .tempdir()
        .expect("a staging directory");
    let dir = stage.path();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("package");
    for file in ["manifest.yaml", "options.schema.json"] {
        std::fs::copy(sources.join(file), dir.join(file)).expect("package sources");
    }
    std::fs::copy(
        env!("CARGO_BIN_EXE_kloset-oci-plakar"),
        dir.join("kloset-oci-plakar"),
    )
    .expect("the plugin binary");
    std::fs::copy(
        crate::common::component::component_file(),
        dir.join("kloset_oci.wasm"),
    )
    .expect("the component");
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
    let ptar = dir.join(format!(
        "kloset-oci_{PACKAGE_VERSION}_{}_{}.ptar",
        "linux",
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }
    ));
    assert!(
        ptar.is_file(),
        "plakar pkg create made no {}",
        ptar.display()
    );
    (stage, ptar)
}
