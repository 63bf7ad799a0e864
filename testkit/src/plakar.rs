//! The real plakar CLI (v1.1.4, installed by scripts/setup-plakar) in a
//! throwaway home, with a package installed with `plakar pkg add` as a user
//! would, and `plakar pkg create` to make one.
//!
//! Used by the plugin's tests and the bench's plakar part; the tests' own
//! package is made in `plakar-plugin/tests/plugin/support/package.rs`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

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
/// security check off, packages installed in it alone.
pub struct Plakar {
    home: TempDir,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Plakar {
    /// A fresh home with the package at `ptar` installed; `name` is the
    /// package's name, which `pkg list` must then show.
    pub fn with_ptar(ptar: &Path, name: &str) -> Plakar {
        let plakar = Plakar::bare();
        let run = plakar.run([OsStr::new("pkg"), OsStr::new("add"), ptar.as_os_str()]);
        assert!(
            run.ok,
            "plakar pkg add {} failed:\n{}",
            ptar.display(),
            run.text()
        );
        let listed = plakar.ok(["pkg", "list"]);
        assert!(
            listed
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("{name}@"))),
            "package {name} is not listed after pkg add:\n{}",
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
    /// Stops the background `plakar cached` of this home, if one is left
    /// (by its pid: the one process whose command line names this home's
    /// cache directory).
    fn drop(&mut self) {
        let cache = self.home.path().join("cache/plakar");
        for pid in pids_naming(&cache.to_string_lossy()) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// The processes whose command line contains `needle`.
fn pids_naming(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .contains(needle)
            })
        })
        .collect()
}

/// Packs the files staged in `dir` (a `manifest.yaml` and what it names)
/// with `plakar pkg create` as package version `version`, and returns the
/// `.ptar` made there. Runs offline, with a cache directory of its own.
pub fn pkg_create(dir: &Path, version: &str) -> PathBuf {
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
    quiet(&["pkg", "create", "manifest.yaml", version]);
    let manifest = std::fs::read_to_string(dir.join("manifest.yaml")).expect("the manifest");
    let name = manifest
        .lines()
        .find_map(|line| line.strip_prefix("name:"))
        .map(|name| name.trim().to_string())
        .expect("the manifest names its package");
    let ptar = dir.join(format!(
        "{name}_{version}_{}_{}.ptar",
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
    ptar
}
