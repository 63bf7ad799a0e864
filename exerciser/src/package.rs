//! A plugin given as a package (`.ptar`), found as plakar v1.1.4 finds
//! it. A `.ptar` is a Kloset repository holding one snapshot of the
//! package's folder; plakar's package manager (PlakarKorp/pkg v1.1.0,
//! `FlatBackend.Load`) opens it through the ptar store, exports that
//! snapshot to `<cachedir>/plugins/v1.1.0/<name>_<version>_<os>_<arch>/`,
//! reads `manifest.yaml` there and starts each connector's `executable`
//! (relative to that folder) with its `args`.
//!
//! Reading Kloset's packfiles, states and index natively would be a
//! second Kloset; instead plakar itself unpacks the package, with
//! `plakar pkg add` in a throwaway home of its own (data, cache and
//! config directories, `HOME` and `XDG_*` all in a temporary folder that
//! goes when the run ends): the same code path and checks as a user's
//! `pkg add`, and nothing is installed in the user's plakar. The manifest
//! is then read here, with the fields plakar reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use yaml_rust2::{Yaml, YamlLoader};

use crate::plugin::PluginCommand;

/// How long one plakar command unpacking a package may take.
const PLAKAR_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// A storage connector of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub protocols: Vec<String>,
    pub executable: String,
    pub args: Vec<String>,
    /// `location_flags` (such as `localfs`: a relative path is made
    /// absolute against the working directory).
    pub location_flags: Vec<String>,
}

impl Connector {
    pub fn localfs(&self) -> bool {
        self.location_flags.iter().any(|f| f == "localfs")
    }
}

/// A package unpacked by plakar, kept while the run needs it.
pub struct Unpacked {
    pub name: String,
    pub dir: PathBuf,
    pub connector: Connector,
    pub command: PluginCommand,
    _home: tempfile::TempDir,
}

impl Unpacked {
    /// The throwaway plakar home (removed when this is dropped).
    pub fn home(&self) -> &Path {
        self._home.path()
    }
}

/// The storage connectors of a manifest (`type: storage`; plakar skips
/// other types, and ignores a connector typed `store`).
pub fn storage_connectors(manifest: &str) -> Result<Vec<Connector>, String> {
    let docs = YamlLoader::load_from_str(manifest)
        .map_err(|e| format!("the manifest is not YAML: {e}"))?;
    let Some(doc) = docs.first() else {
        return Err("the manifest is empty".into());
    };
    let strings = |y: &Yaml| -> Vec<String> {
        match y {
            Yaml::Array(items) => items
                .iter()
                .filter_map(|i| match i {
                    Yaml::String(s) => Some(s.clone()),
                    Yaml::Integer(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let Yaml::Array(connectors) = &doc["connectors"] else {
        return Err("the manifest has no connectors".into());
    };
    let mut found = Vec::new();
    for c in connectors {
        if c["type"].as_str() != Some("storage") {
            continue;
        }
        let Some(executable) = c["executable"].as_str() else {
            return Err("a storage connector names no executable".into());
        };
        found.push(Connector {
            protocols: strings(&c["protocols"]),
            executable: executable.to_string(),
            args: strings(&c["args"]),
            location_flags: strings(&c["location_flags"]),
        });
    }
    Ok(found)
}

/// Picks the connector for `protocol` (or the only storage connector).
pub fn pick(connectors: Vec<Connector>, protocol: Option<&str>) -> Result<Connector, String> {
    match protocol {
        Some(p) => connectors
            .into_iter()
            .find(|c| c.protocols.iter().any(|q| q == p))
            .ok_or_else(|| format!("the package has no storage connector for protocol {p}")),
        None => {
            let mut all = connectors.into_iter();
            match (all.next(), all.next()) {
                (Some(one), None) => Ok(one),
                (None, _) => Err("the package has no storage connector".into()),
                (Some(_), Some(_)) => Err(
                    "the package has several storage connectors: give the location's protocol"
                        .into(),
                ),
            }
        }
    }
}

/// The connector of an unpacked package folder (one holding
/// `manifest.yaml`), checked as plakar checks it.
pub fn from_dir(dir: &Path, protocol: Option<&str>) -> Result<(Connector, PluginCommand), String> {
    let manifest = dir.join("manifest.yaml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let connector = pick(storage_connectors(&text)?, protocol)?;
    let program = dir.join(&connector.executable);
    // plakar refuses an executable outside the package's folder.
    if !program.starts_with(dir) || connector.executable.split('/').any(|p| p == "..") {
        return Err(format!("bad executable path {:?}", connector.executable));
    }
    if !program.is_file() {
        return Err(format!(
            "the connector's executable {} is not in the package",
            connector.executable
        ));
    }
    let command = PluginCommand {
        program,
        args: connector.args.clone(),
        env: Vec::new(),
    };
    Ok((connector, command))
}

/// Unpacks `ptar` with `plakar pkg add` in a throwaway home.
pub fn unpack(ptar: &Path, plakar: &Path, protocol: Option<&str>) -> Result<Unpacked, String> {
    if !ptar.is_file() {
        return Err(format!("no package at {}", ptar.display()));
    }
    // plakar looks any other argument up online: never give it one.
    if ptar.extension().and_then(|e| e.to_str()) != Some("ptar") {
        return Err(format!("{} is not a .ptar file", ptar.display()));
    }
    let ptar = std::fs::canonicalize(ptar).map_err(|e| format!("{}: {e}", ptar.display()))?;
    let home = tempfile::Builder::new()
        .prefix("plakar-store-exerciser-")
        .tempdir()
        .map_err(|e| format!("a temporary plakar home: {e}"))?;
    for dir in ["data/plakar", "cache/plakar", "config/plakar"] {
        std::fs::create_dir_all(home.path().join(dir))
            .map_err(|e| format!("a temporary plakar home: {e}"))?;
    }
    let plakar_run = |args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let h = home.path();
        let mut child = Command::new(plakar)
            .arg("-datadir")
            .arg(h.join("data/plakar"))
            .arg("-cachedir")
            .arg(h.join("cache/plakar"))
            .arg("-configdir")
            .arg(h.join("config/plakar"))
            .args(args)
            .env("HOME", h)
            .env("XDG_DATA_HOME", h.join("data"))
            .env("XDG_CACHE_HOME", h.join("cache"))
            .env("XDG_CONFIG_HOME", h.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", plakar.display()))?;
        // Its output is read by threads, so a full pipe never stalls it,
        // and it has a deadline: a plakar that hangs ends the run.
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = std::io::Read::read_to_end(&mut pipe, &mut text);
                }
                text
            })
        };
        let out = read(child.stdout.take().map(|p| Box::new(p) as _));
        let err = read(child.stderr.take().map(|p| Box::new(p) as _));
        let deadline = std::time::Instant::now() + PLAKAR_LIMIT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "plakar {:?} did not end within {} s",
                        args,
                        PLAKAR_LIMIT.as_secs()
                    ));
                }
                Err(e) => return Err(format!("waiting for {}: {e}", plakar.display())),
            }
        };
        let output = std::process::Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        };
        if output.status.success() {
            return Ok(());
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let said = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        Err(format!(
            "plakar {:?} failed ({}): {said}",
            args, output.status
        ))
    };
    // Remembered per cache folder: plakar then never fetches its release feed.
    plakar_run(&["-disable-security-check".as_ref()])?;
    plakar_run(&["pkg".as_ref(), "add".as_ref(), ptar.as_os_str()])?;
    let unpacked_root = home.path().join("cache/plakar/plugins");
    let dir = find_manifest_dir(&unpacked_root).ok_or_else(|| {
        format!(
            "plakar unpacked no package under {}",
            unpacked_root.display()
        )
    })?;
    let (connector, command) = from_dir(&dir, protocol)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Unpacked {
        name,
        dir,
        connector,
        command,
        _home: home,
    })
}

/// `<root>/<api version>/<package>/manifest.yaml`: the package folder.
fn find_manifest_dir(root: &Path) -> Option<PathBuf> {
    for api in std::fs::read_dir(root).ok()?.flatten() {
        for package in std::fs::read_dir(api.path()).ok()?.flatten() {
            if package.path().join("manifest.yaml").is_file() {
                return Some(package.path());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_connectors_are_read_in_block_and_flow_style() {
        let ours = "name: kloset-oci\nconnectors:\n  - type: storage\n    protocols:\n      - oci\n    executable: kloset-oci-plakar\n    extra_files:\n      - kloset_oci.wasm\n";
        assert_eq!(
            storage_connectors(ours).unwrap(),
            vec![Connector {
                protocols: vec!["oci".into()],
                executable: "kloset-oci-plakar".into(),
                args: vec![],
                location_flags: vec![],
            }]
        );
        // integration-oci's manifest: flow style, other types beside.
        let theirs = "name: oci\nconnectors:\n- type: importer\n  executable: imp\n  protocols: [oci]\n- type: storage\n  executable: ociStorage\n  args: [-v, '2']\n  protocols: [oci, oci+http]\n";
        let found = storage_connectors(theirs).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].executable, "ociStorage");
        assert_eq!(found[0].args, vec!["-v", "2"]);
        assert!(!found[0].localfs());
        let fs = storage_connectors("connectors:\n- type: storage\n  executable: fs\n  protocols: [fs]\n  location_flags: [localfs, file]\n").unwrap();
        assert!(fs[0].localfs());
        assert_eq!(pick(found.clone(), Some("oci+http")).unwrap(), found[0]);
        assert!(pick(found, Some("s3")).unwrap_err().contains("protocol s3"));
        // A connector typed `store` is not a storage connector to plakar.
        assert!(
            storage_connectors("connectors:\n- type: store\n  executable: x\n")
                .unwrap()
                .is_empty()
        );
    }
}
