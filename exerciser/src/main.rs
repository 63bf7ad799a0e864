//! plakar-store-exerciser: runs the Kloset store contract against any
//! Plakar storage plugin over Plakar's own protocol, and says whether it
//! holds (exit 0), does not (1), or could not be run (2).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kloset_exerciser::{package, Options, PluginCommand, CHECKS};

#[derive(Parser)]
#[command(
    name = "plakar-store-exerciser",
    version,
    about = "Exercises a Plakar storage plugin against the Kloset store contract, over Plakar's own protocol",
    after_help = "Examples:\n  plakar-store-exerciser --ptar kloset-oci_v0.1.0_linux_amd64.ptar oci://localhost:5000/scratch\n  plakar-store-exerciser --exec ./plakar-fs-plugin fs:///tmp/empty-folder\n\nThe location must be empty: the exerciser creates a repository there and leaves what it stored."
)]
struct Args {
    /// Where the plugin keeps the repository (as given to `plakar at`).
    location: String,
    /// Options for the plugin, as `plakar store add` takes them.
    #[arg(value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// The plugin's package, unpacked by plakar in a throwaway home.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["exec", "package_dir"])]
    ptar: Option<PathBuf>,
    /// The plakar that unpacks --ptar (default: plakar on PATH).
    #[arg(long, value_name = "PATH", default_value = "plakar")]
    plakar: PathBuf,
    /// An unpacked package: a folder holding manifest.yaml.
    #[arg(long, value_name = "DIR", conflicts_with = "exec")]
    package_dir: Option<PathBuf>,
    /// The plugin's executable.
    #[arg(long, value_name = "FILE")]
    exec: Option<PathBuf>,
    /// An argument for --exec (repeat for several).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// The size of the large streamed object, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    large: u64,
    /// How long one call may wait for an answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// Only these checks (comma-separated; init and create always run).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Leave these checks out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Also write the report as JSON to FILE ("-": print JSON instead of the table).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
    /// Copy the plugin's stderr to ours.
    #[arg(long)]
    plugin_stderr: bool,
    /// List the checks and exit.
    #[arg(long)]
    list_checks: bool,
}

fn main() -> ExitCode {
    // --list-checks needs no location.
    if std::env::args().any(|a| a == "--list-checks") {
        for (name, what) in CHECKS {
            println!("{name:24} {what}");
        }
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    on_signal_clean_up();
    let result = exercise(args);
    stop_if_interrupted();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("plakar-store-exerciser: {e}");
            ExitCode::from(2)
        }
    }
}

/// Set once a signal is being handled: the run's end (which the killed
/// plugin hastens) then waits for the handler's exit instead of
/// reporting.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stop_if_interrupted() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// The throwaway plakar home of an unpacked package, while there is one.
static HOME: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// On SIGINT or SIGTERM: the plugins (each in a process group of its
/// own, so a terminal's ^C does not reach them) and what they started
/// are killed, the throwaway plakar home removed, and the exerciser exits
/// (130 or 143, as a shell reports a process those signals ended).
fn on_signal_clean_up() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for signals");
        runtime.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                let _ = ready_tx.send(());
                return;
            };
            let _ = ready_tx.send(());
            let code = tokio::select! {
                _ = int.recv() => 130,
                _ = term.recv() => 143,
            };
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            kloset_exerciser::plugin::kill_all();
            if let Some(home) = HOME.lock().map(|h| h.clone()).unwrap_or(None) {
                let _ = std::fs::remove_dir_all(home);
            }
            eprintln!("plakar-store-exerciser: interrupted; the plugin was ended");
            std::process::exit(code);
        });
    });
    let _ = ready_rx.recv();
}

fn exercise(args: Args) -> Result<bool, String> {
    let (proto, location) = kloset_exerciser::location(&args.location)?;
    let mut config = BTreeMap::new();
    for option in &args.options {
        let Some((key, value)) = option.split_once('=') else {
            return Err(format!("the option {option:?} is not KEY=VALUE"));
        };
        if key == "location" {
            return Err("give the location as the first argument, not as an option".into());
        }
        config.insert(key.to_string(), value.to_string());
    }
    config.insert("location".to_string(), location);
    for name in args.only.iter().chain(&args.skip) {
        if !CHECKS.iter().any(|(n, _)| n == name) {
            return Err(format!("no check is named {name} (see --list-checks)"));
        }
    }
    if args.large < 1 {
        return Err("--large must be at least 1 (MiB)".into());
    }
    // At most 1 TiB: the object is streamed, but its size must fit.
    let large = args
        .large
        .checked_mul(1 << 20)
        .filter(|_| args.large <= 1 << 20)
        .ok_or("--large is at most 1048576 (MiB, 1 TiB)")?;
    // The package stays unpacked until the run ends.
    let mut _unpacked = None;
    let mut localfs = false;
    let plugin = match (&args.ptar, &args.package_dir, &args.exec) {
        (Some(ptar), _, _) => {
            let unpacked = package::unpack(ptar, &args.plakar, Some(&proto))?;
            *HOME.lock().expect("home") = Some(unpacked.home().to_path_buf());
            localfs = unpacked.connector.localfs();
            let mut command = unpacked.command.clone();
            command.args.extend(args.args.iter().cloned());
            _unpacked = Some(unpacked);
            command
        }
        (None, Some(dir), _) => {
            let (connector, mut command) = package::from_dir(dir, Some(&proto))?;
            localfs = connector.localfs();
            command.args.extend(args.args.iter().cloned());
            command
        }
        (None, None, Some(exec)) => PluginCommand {
            program: exec.clone(),
            args: args.args.clone(),
            env: Vec::new(),
        },
        (None, None, None) => {
            return Err("give the plugin: --ptar FILE, --package-dir DIR or --exec FILE".into())
        }
    };
    // As Kloset does for a connector flagged localfs.
    if localfs {
        let cwd = std::env::current_dir().map_err(|e| format!("the working directory: {e}"))?;
        let location = kloset_exerciser::localfs(&config["location"], &cwd);
        config.insert("location".to_string(), location);
    }
    let progress: Option<kloset_exerciser::wire::Progress> = if args.quiet {
        None
    } else {
        Some(Arc::new(|line: &str| eprintln!("{line}")))
    };
    let report = kloset_exerciser::run(Options {
        plugin,
        proto,
        config,
        large,
        timeout: Duration::from_secs(args.timeout.max(1)),
        only: args.only,
        skip: args.skip,
        progress,
        echo_stderr: args.plugin_stderr,
    });
    stop_if_interrupted();
    // The table first: the checks ran, whatever becomes of the JSON.
    match args.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => println!("{}", report.json()),
        Some(path) => {
            print!("{}", report.text());
            std::fs::write(path, report.json())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => print!("{}", report.text()),
    }
    if let Some(e) = &report.start_error {
        return Err(format!("the plugin could not be started: {e}"));
    }
    Ok(report.holds)
}
