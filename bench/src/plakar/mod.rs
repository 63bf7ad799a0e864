//! The bench's plakar part (`--only plakar`): the real plakar CLI backing
//! up, restoring and checking a generated dataset through three stores, in
//! one run, on the same disk and the same kind of registry:
//!
//! 1. ours: plakar -> gRPC -> our host -> the component -> the registry;
//! 2. PlakarKorp's integration-oci, when its binary is given
//!    (`--integration-oci PATH`): packed at run time with `plakar pkg
//!    create` from a manifest written here, installed in a plakar home of
//!    its own (it claims protocol `oci` too); reported as not run otherwise;
//! 3. plakar's built-in `fs` store on the same disk: the ceiling.
//!
//! Design decisions:
//! - Everything runs in a network namespace with only loopback up
//!   (`netns.rs`, shared with the plugin's tests): plakar must never reach
//!   its website.
//! - A fresh registry (and repository) for each run, so runs do not see
//!   each other's data and the disk holds one repository at a time.
//! - Registry requests are counted from the registry's access log, the same
//!   way for both plugins (`requests.rs`).
//! - Contenders alternate run by run (the order rotates with each repeat),
//!   so background load falls on all of them; restores are checked byte for
//!   byte outside the timing.
//! - Over the simulated link (Toxiproxy, `toxiproxy.rs`) only the registry
//!   stores run: the fs store has no link to shape.

#[allow(dead_code)]
#[path = "../../../plakar-plugin/tests/plugin/support/plakar.rs"]
mod cli;
#[allow(dead_code)]
#[path = "../../../plakar-plugin/tests/plugin/support/netns.rs"]
pub mod netns;
#[allow(dead_code)]
#[path = "../../../plakar-plugin/tests/plugin/support/tree.rs"]
mod tree;

mod dataset;
mod process;
mod report;
mod requests;
mod toxiproxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use self::cli::Plakar;
use self::dataset::{Dataset, Version};
use self::process::Outcome;
use self::requests::{AccessLog, Requests};
use self::tree::TreeSpec;
use crate::registry::LocalRegistry;
use crate::BenchError;

pub use self::report::{table, PlakarReport};

/// The version integration-oci is packed as (the one the issue names).
const INTEGRATION_OCI_VERSION: &str = "v1.1.0-beta.3";
/// Our package's version, as scripts/package gives it.
const OUR_VERSION: &str = "v0.1.0";

/// What the plakar part is given.
pub struct Options {
    pub short: bool,
    /// Our package (`scripts/package` makes it).
    pub package: Option<PathBuf>,
    /// Or our plugin executable, packed here with `component`.
    pub plugin: Option<PathBuf>,
    pub component: PathBuf,
    /// integration-oci's plugin executable.
    pub integration_oci: Option<PathBuf>,
    pub repeats: Option<usize>,
    pub links: Vec<LinkKind>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// The registry on loopback, as it is.
    Loopback,
    /// Through Toxiproxy: about 40 ms round trip, 200 Mbit/s.
    Wan,
}

impl LinkKind {
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Wan => "wan",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Contender {
    #[serde(rename = "kloset-oci")]
    Ours,
    #[serde(rename = "integration-oci")]
    IntegrationOci,
    #[serde(rename = "fs")]
    Fs,
}

impl Contender {
    pub const ALL: [Contender; 3] = [Contender::Ours, Contender::IntegrationOci, Contender::Fs];

    pub fn name(self) -> &'static str {
        match self {
            Contender::Ours => "kloset-oci",
            Contender::IntegrationOci => "integration-oci",
            Contender::Fs => "fs",
        }
    }
}

/// The workloads, in the order a run does them.
pub const CREATE: &str = "create";
pub const BACKUP: &str = "backup (first)";
pub const BACKUP_AGAIN: &str = "backup (after ~5% changed)";
pub const LS: &str = "ls";
pub const RESTORE: &str = "restore (full)";
pub const RESTORE_ONE: &str = "restore (one small file)";
pub const CHECK: &str = "check";
pub const RM: &str = "rm + maintenance";
pub const WORKLOADS: [&str; 8] = [
    CREATE,
    BACKUP,
    BACKUP_AGAIN,
    LS,
    RESTORE,
    RESTORE_ONE,
    CHECK,
    RM,
];

/// One workload of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub workload: &'static str,
    pub seconds: f64,
    /// Bytes the workload covers (the dataset's for backups, restores and
    /// check), for throughput.
    pub bytes: Option<u64>,
    /// Registry requests (none for the fs store).
    pub requests: Option<Requests>,
    pub plakar_peak_bytes: u64,
    pub plugin_peak_bytes: Option<u64>,
}

/// One run: a contender's whole sequence on one link.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub link: LinkKind,
    pub contender: Contender,
    pub repeat: usize,
    pub samples: Vec<Sample>,
    /// Bytes the registry (or the fs store) holds after the second backup.
    pub stored_bytes: u64,
    /// Load averages (1 minute) when the run started and ended.
    pub load_before: f64,
    pub load_after: f64,
    pub restores_verified: usize,
}

fn spec(short: bool) -> TreeSpec {
    if short {
        // About 16 MiB: every kind of file, packfiles past one.
        TreeSpec {
            seed: 12,
            small_files: 300,
            large_files: 1,
            large_size: 14 << 20,
            text_files: 4,
            text_size: 256 << 10,
        }
    } else {
        // About 1.01 GiB: 24,000 small files (0 to 8 KiB, a third of them
        // text), 14 random files of 64 MiB, 48 text files of 1 MiB.
        TreeSpec {
            seed: 12,
            small_files: 24_000,
            large_files: 14,
            large_size: 64 << 20,
            text_files: 48,
            text_size: 1 << 20,
        }
    }
}

/// Runs the plakar part; re-runs the bench in a loopback-only network
/// namespace first when not in one.
pub fn run(options: &Options) -> Result<PlakarReport, BenchError> {
    netns::assert_only_loopback();
    let short = options.short;
    let repeats = options.repeats.unwrap_or(if short { 1 } else { 3 });
    let timeout = Duration::from_secs(if short { 300 } else { 3600 });
    let work = tempfile::Builder::new()
        .prefix("kloset-bench-plakar-")
        .tempdir()
        .map_err(|e| BenchError::Setup(format!("a work folder: {e}")))?;

    progress("generating the dataset");
    let dataset = Dataset::generate(&work.path().join("dataset"), spec(short))?;
    progress(&format!(
        "dataset: {} files, {:.1} MiB; {:.1} MiB changed for the second backup",
        dataset.shape.files,
        dataset.shape.bytes as f64 / MIB,
        dataset.shape.changed_bytes as f64 / MIB
    ));

    let homes = Homes::install(options, work.path())?;
    let mut contenders = vec![Contender::Ours];
    if homes.integration_oci.is_some() {
        contenders.push(Contender::IntegrationOci);
    }
    contenders.push(Contender::Fs);

    let mut runs = Vec::new();
    for link in &options.links {
        let proxy = match link {
            LinkKind::Wan => Some(toxiproxy::Toxiproxy::start()?),
            LinkKind::Loopback => None,
        };
        for repeat in 0..repeats {
            let mut order: Vec<Contender> = contenders
                .iter()
                .copied()
                .filter(|c| *link == LinkKind::Loopback || *c != Contender::Fs)
                .collect();
            let len = order.len();
            order.rotate_left(repeat % len);
            for contender in order {
                progress(&format!(
                    "{} on {}, run {} of {repeats}",
                    contender.name(),
                    link.name(),
                    repeat + 1
                ));
                let run = Run {
                    contender,
                    link: *link,
                    repeat,
                    plakar: homes.of(contender),
                    dataset: &dataset,
                    scratch: work.path(),
                    proxy: proxy.as_ref(),
                    timeout,
                };
                let record = run.go()?;
                progress(&format!(
                    "  {}",
                    record
                        .samples
                        .iter()
                        .map(|s| format!("{} {:.2} s", s.workload, s.seconds))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                runs.push(record);
            }
        }
    }

    Ok(report::build(
        short,
        repeats,
        &options.links,
        dataset.shape.clone(),
        homes.integration_oci_note(),
        runs,
    ))
}

const MIB: f64 = (1 << 20) as f64;

fn progress(what: &str) {
    eprintln!("kloset-bench: plakar: {what}");
}

/// One plakar home per contender.
struct Homes {
    ours: Plakar,
    integration_oci: Option<Plakar>,
    fs: Plakar,
    _stage: tempfile::TempDir,
}

impl Homes {
    fn install(options: &Options, work: &Path) -> Result<Homes, BenchError> {
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
        Ok(Homes {
            ours,
            integration_oci,
            fs: Plakar::bare(),
            _stage: stage,
        })
    }

    fn of(&self, contender: Contender) -> &Plakar {
        match contender {
            Contender::Ours => &self.ours,
            Contender::IntegrationOci => self
                .integration_oci
                .as_ref()
                .expect("integration-oci runs only when installed"),
            Contender::Fs => &self.fs,
        }
    }

    fn integration_oci_note(&self) -> Option<String> {
        match self.integration_oci {
            Some(_) => None,
            None => Some("not run (no integration-oci binary given)".into()),
        }
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
    Ok(cli::pkg_create(dir, OUR_VERSION))
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
    Ok(cli::pkg_create(dir, INTEGRATION_OCI_VERSION))
}

/// The 1-minute load average.
fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Apparent size of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

struct Run<'a> {
    contender: Contender,
    link: LinkKind,
    repeat: usize,
    plakar: &'a Plakar,
    dataset: &'a Dataset,
    scratch: &'a Path,
    proxy: Option<&'a toxiproxy::Toxiproxy>,
    timeout: Duration,
}

impl Run<'_> {
    fn go(&self) -> Result<RunRecord, BenchError> {
        let load_before = load();
        let name = format!(
            "{}-{}-{}",
            self.contender.name(),
            self.link.name(),
            self.repeat
        );
        let registry = match self.contender {
            Contender::Fs => None,
            _ => Some(
                LocalRegistry::start()
                    .map_err(|e| BenchError::Setup(format!("starting docker-registry: {e}")))?,
            ),
        };
        let link = match (&registry, self.proxy) {
            (Some(r), Some(proxy)) => Some(proxy.link(&name, &r.authority(), toxiproxy::WAN)?),
            _ => None,
        };
        let fs_store = self.scratch.join(format!("fs-store-{name}"));
        let location = match (&registry, &link) {
            (_, Some(link)) => format!("oci://{}/kloset-bench/{name}", link.authority),
            (Some(r), None) => format!("oci://{}/kloset-bench/{name}", r.authority()),
            (None, _) => fs_store.to_string_lossy().into_owned(),
        };
        let log = registry.as_ref().map(|r| AccessLog::new(&r.log_path()));
        let plugins = self.plakar.home().join("cache/plakar/plugins");
        let step = |workload: &'static str,
                    args: &[&str],
                    env: &[(&str, &str)],
                    bytes: Option<u64>|
         -> Result<(Sample, Outcome), BenchError> {
            let mark = log.as_ref().map(AccessLog::mark);
            let mut command: Command = self.plakar.command();
            command.arg("at").arg(&location).args(args);
            command.envs(env.iter().copied());
            let outcome = process::measure(command, workload, &plugins, self.timeout)?;
            let requests = log.as_ref().zip(mark).map(|(log, mark)| log.since(mark));
            Ok((
                Sample {
                    workload,
                    seconds: outcome.seconds,
                    bytes,
                    requests,
                    plakar_peak_bytes: outcome.plakar_peak,
                    plugin_peak_bytes: outcome.plugin_peak,
                },
                outcome,
            ))
        };
        let shape = &self.dataset.shape;
        let live = self.dataset.live().to_string_lossy().into_owned();
        let mut samples = Vec::new();

        samples.push(step(CREATE, &["create"], &[], None)?.0);
        let (sample, first) = self.dataset.with(Version::Base, || {
            step(BACKUP, &["backup", &live], &[], Some(shape.bytes))
        })??;
        samples.push(sample);
        let first_id = snapshot_id(&first)?;
        let (sample, second) = self.dataset.with(Version::Changed, || {
            step(
                BACKUP_AGAIN,
                &["backup", &live],
                &[],
                Some(shape.changed_version_bytes),
            )
        })??;
        samples.push(sample);
        let second_id = snapshot_id(&second)?;
        let stored_bytes = match &registry {
            Some(r) => dir_bytes(&r.data_dir()),
            None => dir_bytes(&fs_store),
        };

        let (sample, listed) = step(LS, &["ls"], &[], None)?;
        samples.push(sample);
        for id in [&first_id, &second_id] {
            if !listed.stdout.contains(id.as_str()) {
                return Err(BenchError::Check(format!(
                    "ls does not show snapshot {id}:\n{}",
                    listed.stdout
                )));
            }
        }

        let mut verified = 0;
        let restored = self.scratch.join(format!("restore-{name}"));
        let to = restored.to_string_lossy().into_owned();
        samples.push(
            step(
                RESTORE,
                &["restore", "-to", &to, &second_id],
                &[],
                Some(shape.changed_version_bytes),
            )?
            .0,
        );
        dataset::verify(&self.dataset.changed_entries, &restored)?;
        verified += 1;
        remove(&restored)?;

        let one = self.scratch.join(format!("one-{name}"));
        let target = format!(
            "{second_id}:{}",
            self.dataset
                .live()
                .join(&self.dataset.single_file)
                .display()
        );
        samples.push(
            step(
                RESTORE_ONE,
                &["restore", "-to", &one.to_string_lossy(), &target],
                &[],
                None,
            )?
            .0,
        );
        let file_name = self
            .dataset
            .single_file
            .file_name()
            .expect("a file name")
            .into();
        let want = std::iter::once((
            file_name,
            self.dataset
                .changed_entries
                .get(&self.dataset.single_file)
                .cloned()
                .expect("the single file is listed"),
        ))
        .collect();
        dataset::verify(&want, &one)?;
        verified += 1;
        remove(&one)?;

        samples.push(step(CHECK, &["check"], &[], Some(shape.changed_version_bytes))?.0);

        // rm, then maintenance twice (the first marks unreferenced
        // packfiles, the second deletes them; grace period 0). Lockless:
        // plakar v1.1.4 often leaves a command's lock behind, with any
        // store (docs/plakar.md).
        let (mut rm, _) = step(RM, &["rm", "-apply", &first_id], &[], None)?;
        for _ in 0..2 {
            let (m, _) = step(
                RM,
                &["maintenance"],
                &[("PLAKAR_GRACEPERIOD", "0s"), ("PLAKAR_LOCKLESS", "true")],
                None,
            )?;
            rm.seconds += m.seconds;
            rm.plakar_peak_bytes = rm.plakar_peak_bytes.max(m.plakar_peak_bytes);
            rm.plugin_peak_bytes = rm.plugin_peak_bytes.max(m.plugin_peak_bytes);
            if let (Some(total), Some(more)) = (&mut rm.requests, m.requests) {
                total.total += more.total;
                for (method, n) in more.by_method {
                    *total.by_method.entry(method).or_insert(0) += n;
                }
            }
        }
        samples.push(rm);
        let left = self.plakar.at(&location, &["ls"]);
        if !left.ok
            || left.stdout.contains(first_id.as_str())
            || !left.stdout.contains(second_id.as_str())
        {
            return Err(BenchError::Check(format!(
                "after rm {first_id}, ls shows:\n{}",
                left.text()
            )));
        }

        drop(link);
        drop(registry);
        if fs_store.exists() {
            remove(&fs_store)?;
        }
        Ok(RunRecord {
            link: self.link,
            contender: self.contender,
            repeat: self.repeat,
            samples,
            stored_bytes,
            load_before,
            load_after: load(),
            restores_verified: verified,
        })
    }
}

fn remove(dir: &Path) -> Result<(), BenchError> {
    std::fs::remove_dir_all(dir)
        .map_err(|e| BenchError::Setup(format!("removing {}: {e}", dir.display())))
}

/// The snapshot a backup made, from its last line (`ID: backup completed
/// ...`).
fn snapshot_id(backup: &Outcome) -> Result<String, BenchError> {
    format!("{}{}", backup.stdout, backup.stderr)
        .lines()
        .find(|l| l.contains("backup completed"))
        .and_then(|l| l.split(':').next())
        .map(|id| id.trim().to_string())
        .filter(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| {
            BenchError::Check(format!(
                "no snapshot id in the backup's output:\n{}{}",
                backup.stdout, backup.stderr
            ))
        })
}
