//! The scale part (`--only scale`): what plakar commands and the store's
//! listing and deleting cost as the repository grows to 100,000 objects
//! (issue 22). For each registry (distribution 2.8 and v3, on free loopback
//! ports), a real repository is made with plakar through our package and
//! backed up once; then synthetic packfiles are pushed straight to the
//! registry in the store's exact layout (`push.rs`), step by step (1,000,
//! 10,000, 50,000, 100,000 by default), and at each step, on loopback and
//! through the 40 ms / 200 Mbit/s link, `point.rs` measures `plakar ls`, a
//! small `plakar backup`, one packfile's delete and the packfile and lock
//! listings through the component.
//!
//! Design decisions:
//! - Pushes go straight to the registry (not through the link): only the
//!   measurements pay the link.
//! - The component the listings and deletes run in is the one plakar runs:
//!   the `kloset_oci.wasm` unpacked from the given package in the plakar
//!   home, loaded by this build's host library.
//! - Failures past a registry's limits are results, kept in the report.

mod point;
mod push;
mod report;
mod wire;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kloset_host::Plugin;
use kloset_testkit::plakar::Plakar;
use kloset_testkit::{Implementation, Registry, RegistryOptions};
use serde::Serialize;

use super::{process, shaper, LinkKind};
use crate::BenchError;

pub use self::point::{Point, Timed};
pub use self::report::table;

/// The repository's name in each registry.
const REPO: &str = "kloset-bench/scale";

/// Which registry a curve is measured on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Flavour {
    /// Debian's docker-registry, distribution 2.8: every tag in one answer.
    #[value(name = "2.8")]
    #[serde(rename = "2.8")]
    Distribution2,
    /// CNCF distribution v3: tag lists paged by `n` through `Link`.
    #[value(name = "v3")]
    #[serde(rename = "v3")]
    Distribution3,
}

impl Flavour {
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Distribution2 => "2.8",
            Flavour::Distribution3 => "v3",
        }
    }

    fn implementation(self) -> Implementation {
        match self {
            Flavour::Distribution2 => Implementation::Distribution2,
            Flavour::Distribution3 => Implementation::Distribution3,
        }
    }
}

/// What the scale part is given.
pub struct Options {
    /// Our package (`scripts/package` makes it).
    pub package: Option<PathBuf>,
    /// Or our plugin executable, packed here with `component`.
    pub plugin: Option<PathBuf>,
    pub component: PathBuf,
    /// Synthetic packfiles in the repository at each step, rising.
    pub counts: Vec<usize>,
    pub registries: Vec<Flavour>,
    pub links: Vec<LinkKind>,
    /// Runs of `ls`, `backup` and the listings at each point.
    pub repeats: usize,
    /// Deletes timed at each point.
    pub deletes: usize,
    /// The report is written here after every point, so what was measured
    /// is kept if the run stops (and before the registries' folders,
    /// millions of files at 230,000 tags, are removed at its end).
    pub json: Option<PathBuf>,
}

/// One step's push.
#[derive(Debug, Clone, Serialize)]
pub struct Push {
    pub registry: &'static str,
    pub from: usize,
    pub to: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub package: String,
    pub counts: Vec<usize>,
    pub links: Vec<LinkKind>,
    pub repeats: usize,
    pub deletes: usize,
    /// A real packfile's manifest, the synthetic ones' template (per
    /// registry, the first).
    pub template: serde_json::Value,
    pub pushes: Vec<Push>,
    pub points: Vec<Point>,
}

pub fn run(options: &Options) -> Result<ScaleReport, BenchError> {
    kloset_testkit::netns::assert_only_loopback();
    let work = tempfile::Builder::new()
        .prefix("kloset-bench-scale-")
        .tempdir()
        .map_err(|e| BenchError::Setup(format!("a work folder: {e}")))?;
    let package = match (&options.package, &options.plugin) {
        (Some(ptar), _) => ptar.clone(),
        (None, Some(plugin)) => {
            super::homes::pack_ours(plugin, &options.component, &work.path().join("ours"))?
        }
        (None, None) => {
            return Err(BenchError::Setup(
                "our plugin: give --plakar-package (scripts/package prints it) or \
                 --plakar-plugin with --component"
                    .into(),
            ))
        }
    };
    if !package.is_file() {
        return Err(BenchError::Setup(format!(
            "no package at {}",
            package.display()
        )));
    }
    // Its curve is measured on loopback and the 40 ms link only.
    if let Some(other) = options
        .links
        .iter()
        .find(|l| !matches!(l, LinkKind::Loopback | LinkKind::Wan))
    {
        return Err(BenchError::Setup(format!(
            "the scale part runs on loopback and wan, not {}",
            other.name()
        )));
    }
    let folder = small_folder(work.path())?;
    let wan = options.links.contains(&LinkKind::Wan);
    let mut report = ScaleReport {
        package: package.display().to_string(),
        counts: options.counts.clone(),
        links: options.links.clone(),
        repeats: options.repeats,
        deletes: options.deletes,
        template: serde_json::Value::Null,
        pushes: Vec::new(),
        points: Vec::new(),
    };
    for &flavour in &options.registries {
        curve(options, &package, flavour, &folder, wan, &mut report)?;
    }
    Ok(report)
}

/// One registry's curve, every step on every link.
fn curve(
    options: &Options,
    package: &Path,
    flavour: Flavour,
    folder: &Path,
    wan: bool,
    report: &mut ScaleReport,
) -> Result<(), BenchError> {
    progress(&format!("distribution {}: starting", flavour.name()));
    let registry = Registry::try_start(RegistryOptions {
        implementation: flavour.implementation(),
        ..Default::default()
    })
    .map_err(BenchError::Setup)?;
    let link = match wan {
        true => Some(shaper::Link::start(&registry.authority(), shaper::WAN)?),
        false => None,
    };
    let location = |kind: LinkKind| match (kind, &link) {
        (LinkKind::Wan, Some(link)) => format!("oci://{}/{REPO}", link.authority),
        _ => format!("oci://{}/{REPO}", registry.authority()),
    };
    let plakar = Plakar::with_ptar(package, "kloset-oci");
    let timeout = Duration::from_secs(1800);
    let plugins = plakar.home().join("cache/plakar/plugins");
    let here = location(LinkKind::Loopback);
    for args in [vec!["create"], vec!["backup", &*folder.to_string_lossy()]] {
        let mut command = plakar.command();
        command.arg("at").arg(&here).args(&args);
        process::measure(command, args[0], &plugins, timeout, None)?;
    }
    let wasm = find_file(&plugins, "kloset_oci.wasm").ok_or_else(|| {
        BenchError::Setup(format!("no kloset_oci.wasm under {}", plugins.display()))
    })?;
    let plugin =
        Plugin::load(&wasm).map_err(|e| BenchError::Setup(format!("{}: {e}", wasm.display())))?;
    let mut synthetic = push::Synthetic::prepare(&registry.authority(), REPO)?;
    if report.template.is_null() {
        report.template = synthetic.template().clone();
    }
    let mut deleted = 0;
    for &count in &options.counts {
        let from = synthetic.pushed();
        progress(&format!(
            "distribution {}: pushing synthetic packfiles {from} to {count}",
            flavour.name()
        ));
        let start = Instant::now();
        synthetic.push_to(count)?;
        let seconds = start.elapsed().as_secs_f64();
        progress(&format!(
            "  {:.1} s ({:.0} a second)",
            seconds,
            (count - from) as f64 / seconds
        ));
        report.pushes.push(Push {
            registry: flavour.name(),
            from,
            to: count,
            seconds,
        });
        for &kind in &options.links {
            progress(&format!(
                "distribution {}, {count} synthetic packfiles, {}: measuring",
                flavour.name(),
                kind.name()
            ));
            let subject = point::Subject {
                plakar: &plakar,
                plugin: &plugin,
                location: location(kind),
                folder,
                repeats: options.repeats,
                deletes: options.deletes,
                first_delete: deleted,
                timeout,
            };
            let point = subject.measure(flavour.name(), kind, count);
            deleted += options.deletes;
            progress(&format!("  {}", report::line(&point)));
            report.points.push(point);
            if let Some(path) = &options.json {
                write_json(report, path)?;
            }
        }
    }
    drop(link);
    Ok(())
}

/// Writes the report as JSON to `path`.
pub fn write_json(report: &ScaleReport, path: &Path) -> Result<(), BenchError> {
    let json = serde_json::to_string_pretty(report).expect("the report serializes");
    std::fs::write(path, json + "\n")
        .map_err(|e| BenchError::Setup(format!("writing {}: {e}", path.display())))
}

/// A few small files, what each measured backup backs up.
fn small_folder(work: &Path) -> Result<PathBuf, BenchError> {
    let folder = work.join("small");
    let setup = |e: std::io::Error| BenchError::Setup(format!("the small folder: {e}"));
    std::fs::create_dir_all(&folder).map_err(setup)?;
    for i in 0..5 {
        let text = format!("file {i} of the folder each scale backup backs up\n").repeat(64 << i);
        std::fs::write(folder.join(format!("file-{i}.txt")), text).map_err(setup)?;
    }
    Ok(folder)
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

fn progress(what: &str) {
    eprintln!("kloset-bench: scale: {what}");
}
