//! One plakar home per contender, each with its package installed: ours
//! (given, or packed here from a plugin executable and the component),
//! integration-oci's and the fs plugin's (packed here from their
//! executables), and a bare one for the `fs` store.

use std::path::{Path, PathBuf};

use kloset_testkit::plakar::Plakar;

use super::{
    progress, Contender, Options, FS_PLUGIN_VERSION, INTEGRATION_OCI_VERSION, OUR_VERSION,
};
use crate::BenchError;

/// One plakar home per contender.
pub(super) struct Homes {
    ours: Plakar,
    pub(super) integration_oci: Option<Plakar>,
    pub(super) fs_plugin: Option<Plakar>,
    fs: Plakar,
    _stage: tempfile::TempDir,
}

impl Homes {
    pub(super) fn install(options: &Options, work: &Path) -> Result<Homes, BenchError> {
        let stage = tempfile::Builder::new()
            .prefix("packages-")
            .tempdir_in(work)
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let ours_ptar = match (&options.package, &options.plugin) {
            (Some(ptar), _) => ptar.clone(),
            (None, Some(plugin)) => {
                pack_ours(plugin, &options.component, &stage.path().join("ours"))?
            }
            (None, None) => {
                return Err(BenchError::Setup(
                    "our plugin: give --plakar-package (scripts/package prints it) or \
                     --plakar-plugin with --component"
                        .into(),
                ))
            }
        };
        if !ours_ptar.is_file() {
            return Err(BenchError::Setup(format!(
                "no package at {}",
                ours_ptar.display()
            )));
        }
        progress(&format!("installing {}", ours_ptar.display()));
        let ours = Plakar::with_ptar(&ours_ptar, "kloset-oci");
        let integration_oci =
            INTEGRATION_OCI.install(options.integration_oci.as_deref(), &stage)?;
        let fs_plugin = FS_PLUGIN.install(options.fs_plugin.as_deref(), &stage)?;
        Ok(Homes {
            ours,
            integration_oci,
            fs_plugin,
            fs: Plakar::bare(),
            _stage: stage,
        })
    }

    pub(super) fn of(&self, contender: Contender) -> &Plakar {
        match contender {
            Contender::Ours => &self.ours,
            Contender::IntegrationOci => self
                .integration_oci
                .as_ref()
                .expect("integration-oci runs only when installed"),
            Contender::FsPlugin => self
                .fs_plugin
                .as_ref()
                .expect("the fs plugin runs only when installed"),
            Contender::Fs => &self.fs,
        }
    }

    /// Why a peer does not run, by name.
    pub(super) fn notes(&self) -> Vec<(String, String)> {
        let mut notes = Vec::new();
        if self.integration_oci.is_none() {
            notes.push((
                Contender::IntegrationOci.name().to_string(),
                "not run (no integration-oci binary given)".to_string(),
            ));
        }
        if self.fs_plugin.is_none() {
            notes.push((
                Contender::FsPlugin.name().to_string(),
                "not run (no fs plugin binary given: --fs-plugin)".to_string(),
            ));
        }
        notes
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), BenchError> {
    std::fs::copy(from, to).map(drop).map_err(|e| {
        BenchError::Setup(format!(
            "copying {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn create_dir(dir: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BenchError::Setup(format!("creating {}: {e}", dir.display())))
}

/// Our package from a plugin executable and the component, as
/// scripts/package makes it from the release ones.
pub(super) fn pack_ours(
    plugin: &Path,
    component: &Path,
    dir: &Path,
) -> Result<PathBuf, BenchError> {
    create_dir(dir)?;
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plakar-plugin/package");
    for file in ["manifest.yaml", "options.schema.json"] {
        copy(&sources.join(file), &dir.join(file))?;
    }
    copy(plugin, &dir.join("kloset-oci-plakar"))?;
    copy(component, &dir.join("kloset_oci.wasm"))?;
    Ok(kloset_testkit::plakar::pkg_create(dir, OUR_VERSION))
}

/// A peer plugin's package, packed here from its executable with a
/// manifest written here.
struct PeerPackage {
    /// The package's name, also the name it is installed under.
    name: &'static str,
    display_name: &'static str,
    description: &'static str,
    /// The executable's file name in the package.
    executable: &'static str,
    protocol: &'static str,
    /// `location_flags` (`localfs` for a local path), if any.
    location_flags: Option<&'static str>,
    version: &'static str,
}

/// integration-oci: its executable under the name its own manifest gives
/// it (`ociStorage`), protocol `oci`.
const INTEGRATION_OCI: PeerPackage = PeerPackage {
    name: "oci",
    display_name: "OCI registry (integration-oci)",
    description: "PlakarKorp's integration-oci, packed by kloset-bench for comparison",
    executable: "ociStorage",
    protocol: "oci",
    location_flags: None,
    version: INTEGRATION_OCI_VERSION,
};

/// The fs plugin (`bench/fs-plugin`): protocol `fsplugin`, a local path
/// like the built-in `fs`.
const FS_PLUGIN: PeerPackage = PeerPackage {
    name: "fs-plugin",
    display_name: "fs store as a plugin",
    description: "plakar's fs store behind plakar's plugin SDK, packed by kloset-bench",
    executable: "fsPlugin",
    protocol: "fsplugin",
    location_flags: Some("localfs"),
    version: FS_PLUGIN_VERSION,
};

impl PeerPackage {
    /// Packs `binary` (when given) and installs it in a plakar home of its
    /// own.
    fn install(
        &self,
        binary: Option<&Path>,
        stage: &tempfile::TempDir,
    ) -> Result<Option<Plakar>, BenchError> {
        let Some(binary) = binary else {
            return Ok(None);
        };
        let ptar = self.pack(binary, &stage.path().join(self.name))?;
        progress(&format!("installing {}", ptar.display()));
        Ok(Some(Plakar::with_ptar(&ptar, self.name)))
    }

    fn pack(&self, binary: &Path, dir: &Path) -> Result<PathBuf, BenchError> {
        create_dir(dir)?;
        copy(binary, &dir.join(self.executable))?;
        let mut manifest = format!(
            "name: {}\ndisplay_name: {}\ndescription: {}\nconnectors:\n\
             - type: storage\n  executable: {}\n  protocols: [{}]\n",
            self.name, self.display_name, self.description, self.executable, self.protocol
        );
        if let Some(flags) = self.location_flags {
            manifest.push_str(&format!("  location_flags: [{flags}]\n"));
        }
        std::fs::write(dir.join("manifest.yaml"), manifest)
            .map_err(|e| BenchError::Setup(format!("{} manifest: {e}", self.name)))?;
        Ok(kloset_testkit::plakar::pkg_create(dir, self.version))
    }
}
