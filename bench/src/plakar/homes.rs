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
        let integration_oci = match &options.integration_oci {
            Some(binary) => {
                let ptar = pack_integration_oci(binary, &stage.path().join("integration-oci"))?;
                progress(&format!("installing {}", ptar.display()));
                Some(Plakar::with_ptar(&ptar, "oci"))
            }
            None => None,
        };
        let fs_plugin = match &options.fs_plugin {
            Some(binary) => {
                let ptar = pack_fs_plugin(binary, &stage.path().join("fs-plugin"))?;
                progress(&format!("installing {}", ptar.display()));
                Some(Plakar::with_ptar(&ptar, "fs-plugin"))
            }
            None => None,
        };
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
fn pack_ours(plugin: &Path, component: &Path, dir: &Path) -> Result<PathBuf, BenchError> {
    create_dir(dir)?;
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plakar-plugin/package");
    for file in ["manifest.yaml", "options.schema.json"] {
        copy(&sources.join(file), &dir.join(file))?;
    }
    copy(plugin, &dir.join("kloset-oci-plakar"))?;
    copy(component, &dir.join("kloset_oci.wasm"))?;
    Ok(kloset_testkit::plakar::pkg_create(dir, OUR_VERSION))
}

/// integration-oci's package: its executable under the name its own
/// manifest gives it (`ociStorage`), protocol `oci`.
fn pack_integration_oci(binary: &Path, dir: &Path) -> Result<PathBuf, BenchError> {
    create_dir(dir)?;
    copy(binary, &dir.join("ociStorage"))?;
    std::fs::write(
        dir.join("manifest.yaml"),
        "name: oci\n\
         display_name: OCI registry (integration-oci)\n\
         description: PlakarKorp's integration-oci, packed by kloset-bench for comparison\n\
         connectors:\n\
         - type: storage\n\
         \x20 executable: ociStorage\n\
         \x20 protocols: [oci]\n",
    )
    .map_err(|e| BenchError::Setup(format!("integration-oci manifest: {e}")))?;
    Ok(kloset_testkit::plakar::pkg_create(
        dir,
        INTEGRATION_OCI_VERSION,
    ))
}

/// The fs plugin's package (`bench/fs-plugin`): protocol `fsplugin`, a
/// local path like the built-in `fs`.
fn pack_fs_plugin(binary: &Path, dir: &Path) -> Result<PathBuf, BenchError> {
    create_dir(dir)?;
    copy(binary, &dir.join("fsPlugin"))?;
    std::fs::write(
        dir.join("manifest.yaml"),
        "name: fs-plugin\n\
         display_name: fs store as a plugin\n\
         description: plakar's fs store behind plakar's plugin SDK, packed by kloset-bench\n\
         connectors:\n\
         - type: storage\n\
         \x20 executable: fsPlugin\n\
         \x20 protocols: [fsplugin]\n\
         \x20 location_flags: [localfs]\n",
    )
    .map_err(|e| BenchError::Setup(format!("fs plugin manifest: {e}")))?;
    Ok(kloset_testkit::plakar::pkg_create(dir, FS_PLUGIN_VERSION))
}
