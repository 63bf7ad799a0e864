//! `kloset-bench`: measures the kloset-store component against a native
//! baseline in one run, against a real local registry, and prints a table
//! (Markdown) and optionally writes JSON. See docs/performance.md.
//!
//! Design decisions:
//! - The baseline is the component's own protocol crate (`kloset-oci`)
//!   compiled natively, sending through the egress of the component's own
//!   store handle (`kloset_host::NativeTransport`): same requests, same connection pool, same
//!   request counter; only wasm against native differs, hashing included.
//! - Paths run one after the other, never at once, so the shared request
//!   counter's deltas belong to one path; single-caller workloads alternate
//!   the paths op by op so background load falls on both.
//! - sha256 speed in wasm comes from a separate bench-only component
//!   (`bench/sha256-guest`) built like the store component: the store's
//!   world gets no benchmarking export.
//! - `--only plakar` is a part of its own (`plakar/`): the real plakar CLI
//!   through our plugin, PlakarKorp's integration-oci and plakar's fs store.
//!   It is not in the default run (its full matrix takes hours).

mod concurrent;
mod measure;
mod params;
mod paths;
mod plakar;
mod report;
mod startup;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kloset_host::Plugin;

use crate::params::Params;
use crate::report::Report;
use crate::workloads::Bench;
use kloset_testkit::{Registry, RegistryOptions};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("setup: {0}")]
    Setup(String),
    #[error("store: {0}")]
    Store(String),
    #[error("check failed: {0}")]
    Check(String),
}

/// Benchmarks the kloset-store component against a native baseline.
#[derive(Parser, Debug)]
#[command(name = "kloset-bench")]
struct Args {
    /// Small sizes and counts: checks that everything runs (CI), measures little.
    #[arg(long)]
    short: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Use this registry (HOST:PORT, plain HTTP, no authentication, deletes
    /// enabled) instead of starting a docker-registry.
    #[arg(long, value_name = "HOST:PORT")]
    registry: Option<String>,
    /// The store component (default: the one built from this workspace's
    /// sources with the bench, by kloset-testkit's build script).
    #[arg(long, value_name = "PATH")]
    component: Option<PathBuf>,
    /// The sha256 bench component (default: built with the bench, as the
    /// store component).
    #[arg(long, value_name = "PATH")]
    sha256_component: Option<PathBuf>,
    /// Run only these workloads (comma-separated), e.g. to profile one;
    /// `plakar` (the plakar part) runs only alone.
    #[arg(long, value_delimiter = ',', value_name = "WORKLOADS")]
    only: Vec<Workload>,
    /// plakar part: our Plakar package (.ptar, as scripts/package makes it).
    #[arg(long, value_name = "PATH")]
    plakar_package: Option<PathBuf>,
    /// plakar part: our plugin executable, packed here with the component
    /// (instead of --plakar-package).
    #[arg(long, value_name = "PATH")]
    plakar_plugin: Option<PathBuf>,
    /// plakar part: PlakarKorp's integration-oci plugin executable (built
    /// from its source; not shipped here). Without it, that contender is
    /// reported as not run.
    #[arg(long, env = "KLOSET_BENCH_INTEGRATION_OCI", value_name = "PATH")]
    integration_oci: Option<PathBuf>,
    /// plakar part: plakar's fs store behind plakar's own plugin SDK
    /// (bench/fs-plugin, built by scripts/setup-go-tools as
    /// .tools/bin/plakar-fs-plugin): plakar's reference plugin path.
    /// Without it, that contender is reported as not run.
    #[arg(long, env = "KLOSET_BENCH_FS_PLUGIN", value_name = "PATH")]
    fs_plugin: Option<PathBuf>,
    /// plakar part: a peer contender's (integration-oci's) command still
    /// running after this many seconds is stopped, and its time reported
    /// as a lower bound ("> N"): over the link its serial reads of a large
    /// dataset take hours.
    #[arg(long, value_name = "SECONDS")]
    peer_cutoff: Option<u64>,
    /// plakar part: runs of each contender (default 3, 1 in short mode).
    #[arg(long, value_name = "N")]
    repeats: Option<usize>,
    /// plakar part: plakar's -concurrency values, each run on every link
    /// (1: what plakar gives on 2 cores; 8: about what 8 or 9 cores get).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "N,...",
        default_value = "1,8"
    )]
    concurrency: Vec<u32>,
    /// plakar part: the dataset on every link (default: small in short
    /// mode; otherwise full, and medium on slow-wan).
    #[arg(long, value_name = "SIZE")]
    dataset: Option<plakar::DatasetSize>,
    /// scale part: synthetic packfiles in the repository at each step
    /// (rising; each step adds to the last).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "COUNTS",
        default_value = "1000,10000,50000,100000"
    )]
    scale_counts: Vec<usize>,
    /// scale part: the registries to measure on.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "REGISTRIES",
        default_value = "2.8,v3"
    )]
    scale_registries: Vec<plakar::scale::Flavour>,
    /// scale part: runs of ls, backup and the listings at each point.
    #[arg(long, value_name = "N", default_value_t = 1)]
    scale_repeats: usize,
    /// scale part: deletes timed at each point.
    #[arg(long, value_name = "N", default_value_t = 2)]
    scale_deletes: usize,
    /// plakar and scale parts: the links to run over (default: every
    /// link for the plakar part; loopback,wan for the scale part).
    #[arg(long, value_delimiter = ',', value_name = "LINKS")]
    links: Vec<plakar::LinkKind>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// Large puts, whole verified gets, ranged gets.
    Large,
    Locks,
    List,
    ConcurrentPut,
    ConcurrentRanged,
    /// The plakar CLI through our plugin, integration-oci and the fs store.
    Plakar,
    /// plakar and the store's listing and deleting as the repository grows
    /// to 100,000 objects (synthetic packfiles), on distribution 2.8 and v3.
    Scale,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kloset-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Set in the bench re-run inside its network namespace.
const ISOLATED_ENV: &str = "KLOSET_BENCH_ISOLATED";

fn run(args: &Args) -> Result<(), BenchError> {
    for (part, run_part) in [
        (
            Workload::Plakar,
            run_plakar as fn(&Args) -> Result<(), BenchError>,
        ),
        (Workload::Scale, run_scale),
    ] {
        if args.only.contains(&part) {
            if args.only.len() > 1 {
                return Err(BenchError::Setup(
                    "--only plakar and --only scale run alone".into(),
                ));
            }
            return isolated(args, run_part);
        }
    }
    let params = if args.short {
        Params::short()
    } else {
        Params::full()
    };
    let component = args
        .component
        .clone()
        .unwrap_or_else(kloset_testkit::component::component_file);
    let sha_component = args
        .sha256_component
        .clone()
        .unwrap_or_else(kloset_testkit::component::sha256_guest_file);
    let component_bytes = std::fs::metadata(&component)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", component.display())))?
        .len();

    let local;
    let authority = match &args.registry {
        Some(authority) => authority.clone(),
        None => {
            local = Registry::try_start(RegistryOptions::default()).map_err(BenchError::Setup)?;
            local.authority()
        }
    };
    let registry = match &args.registry {
        Some(a) => format!("{a} (given)"),
        None => format!("docker-registry at {authority} (started by the bench)"),
    };

    progress("sha256 in the guest and natively");
    let mut guest_sha = startup::GuestSha256::load(&sha_component)?;
    let mut sha256 = startup::sha256_speed(&mut guest_sha, &params)?;
    progress(&format!(
        "sha256: guest {:.0} MiB/s, native {:.0} MiB/s",
        sha256.guest_mib_per_s, sha256.native_mib_per_s
    ));
    progress("start-up, cold and cached");
    let startup_config = vec![
        (
            "location".to_string(),
            format!("oci://{authority}/kloset-bench/startup"),
        ),
        ("use_tls".to_string(), "false".to_string()),
    ];
    let startup = startup::startup(&component, &startup_config, &params)?;

    let plugin = Plugin::load(&component)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", component.display())))?;
    let bench = Bench {
        plugin: &plugin,
        authority,
        params: params.clone(),
        run_id: format!("{:08x}", rand::random::<u32>()),
    };
    let wanted = |w: Workload| args.only.is_empty() || args.only.contains(&w);
    let mut rows = Vec::new();
    if wanted(Workload::Large) {
        progress("large puts, whole gets, ranged gets");
        let (large, beside) = bench.large_objects(&mut guest_sha)?;
        rows.extend(large);
        sha256.guest_mib_per_s_beside_large = Some(beside);
    }
    if wanted(Workload::Locks) {
        progress("lock cycles");
        rows.push(bench.lock_cycles()?);
    }
    if wanted(Workload::List) {
        progress("list");
        rows.push(bench.list()?);
    }
    if wanted(Workload::ConcurrentPut) {
        progress("concurrent puts");
        rows.extend(bench.concurrent_puts()?);
    }
    if wanted(Workload::ConcurrentRanged) {
        progress("concurrent ranged gets");
        rows.extend(bench.concurrent_ranged_gets()?);
    }

    let speedups = report::speedups(&rows, 1, 4);
    let goals = report::goals(&rows, &speedups, &sha256, &startup);
    let report = Report {
        mode: if args.short { "short" } else { "full" }.into(),
        host_build: if cfg!(debug_assertions) {
            "dev profile".into()
        } else {
            "release profile".into()
        },
        registry,
        component: component.display().to_string(),
        component_bytes,
        params,
        rows,
        speedups,
        sha256,
        startup,
        goals,
    };
    println!("{}", report::table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        std::fs::write(path, json + "\n")
            .map_err(|e| BenchError::Setup(format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Runs a part that runs plakar in a network namespace with only loopback
/// up: the bench re-runs itself there (plakar must never reach its
/// website).
fn isolated(args: &Args, part: fn(&Args) -> Result<(), BenchError>) -> Result<(), BenchError> {
    if std::env::var_os(ISOLATED_ENV).is_none() {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Setup(format!("the bench's own path: {e}")))?;
        progress("continuing in a loopback-only network namespace");
        let status = kloset_testkit::netns::unshare_command(&exe)
            .args(std::env::args_os().skip(1))
            .env(ISOLATED_ENV, "1")
            .status()
            .map_err(|e| BenchError::Setup(format!("cannot run unshare (util-linux): {e}")))?;
        return if status.success() {
            Ok(())
        } else {
            Err(BenchError::Check(format!(
                "the part failed in its namespace ({status})"
            )))
        };
    }
    part(args)
}

/// The plakar part (already in its namespace).
fn run_plakar(args: &Args) -> Result<(), BenchError> {
    let options = plakar::Options {
        short: args.short,
        package: args.plakar_package.clone(),
        plugin: args.plakar_plugin.clone(),
        component: args
            .component
            .clone()
            .unwrap_or_else(kloset_testkit::component::component_file),
        integration_oci: args.integration_oci.clone(),
        fs_plugin: args.fs_plugin.clone(),
        repeats: args.repeats,
        links: match args.links.is_empty() {
            true => plakar::LinkKind::ALL.to_vec(),
            false => args.links.clone(),
        },
        concurrencies: args.concurrency.clone(),
        dataset: args.dataset,
        peer_cutoff: args.peer_cutoff.map(std::time::Duration::from_secs),
    };
    let report = plakar::run(&options)?;
    println!("{}", plakar::table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        std::fs::write(path, json + "\n")
            .map_err(|e| BenchError::Setup(format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}

/// The scale part (already in its namespace).
fn run_scale(args: &Args) -> Result<(), BenchError> {
    let options = plakar::scale::Options {
        package: args.plakar_package.clone(),
        plugin: args.plakar_plugin.clone(),
        component: args
            .component
            .clone()
            .unwrap_or_else(kloset_testkit::component::component_file),
        counts: args.scale_counts.clone(),
        registries: args.scale_registries.clone(),
        links: match args.links.is_empty() {
            true => vec![plakar::LinkKind::Loopback, plakar::LinkKind::Wan],
            false => args.links.clone(),
        },
        repeats: args.scale_repeats.max(1),
        deletes: args.scale_deletes,
        json: args.json.clone(),
    };
    let report = plakar::scale::run(&options)?;
    println!("{}", plakar::scale::table(&report));
    if let Some(path) = &args.json {
        plakar::scale::write_json(&report, path)?;
    }
    Ok(())
}

fn progress(what: &str) {
    eprintln!("kloset-bench: {what}");
}
