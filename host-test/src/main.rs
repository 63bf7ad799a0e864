//! `kloset-host`: drives a kloset-store component from the command line.
//!
//! Output is for scripts: raw bytes for `open` and `get`, one value per line
//! otherwise. A failure prints exactly one line, `kloset-host: <error>`, on
//! stderr and exits with 1; usage errors exit with 2 (clap's convention).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kloset_host::{echo, Mac, MacParseError, Resource};

mod commands;

#[derive(Debug, Parser)]
#[command(
    name = "kloset-host",
    version = kloset_host::VERSION,
    about = "Drive a Kloset store component"
)]
struct Cli {
    /// The component: a .wasm file, or an OCI reference
    /// (HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]) to pull it from, verified
    /// and cached by digest. Default: $KLOSET_COMPONENT, else kloset_oci.wasm
    /// beside this program, else the workspace's release build.
    #[arg(long, value_name = "PATH|REFERENCE")]
    component: Option<String>,

    /// An option for the registry the component is pulled from (repeatable),
    /// as for a store: use_tls, username, password, token, tls_ca_file...
    #[arg(long = "component-option", value_name = "KEY=VALUE", value_parser = OptionParser)]
    component_options: Vec<(String, String)>,

    /// Where the repository lives: oci://HOST[:PORT]/REPOSITORY (every command
    /// but publish)
    #[arg(long, value_name = "LOCATION")]
    store: Option<String>,

    /// A store option (repeatable), e.g. -o use_tls=false; for publish, an
    /// option of the registry published to
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE", value_parser = OptionParser, global = true)]
    options: Vec<(String, String)>,

    /// Read the store's (or, for publish, the registry's) password from
    /// standard input, its first line, as `docker login --password-stdin`:
    /// `-o password=...` shows it to every local user in the process list
    #[arg(long, global = true)]
    password_stdin: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new repository holding the configuration read from FILE (`-`:
    /// stdin); without FILE, a small generated one.
    Create { file: Option<PathBuf> },
    /// Print the repository's configuration bytes.
    Open,
    /// Check that the registry answers.
    Ping,
    /// Print origin, type, root, flags, mode and size.
    Info,
    /// List the MACs of one resource kind, one per line.
    Ls { resource: Resource },
    /// Store an object read from FILE (default and `-`: stdin); prints the
    /// bytes stored.
    Put {
        resource: Resource,
        #[arg(value_parser = parse_mac_arg)]
        mac: Mac,
        file: Option<PathBuf>,
    },
    /// Write an object, or a range of it, to stdout.
    Get {
        resource: Resource,
        #[arg(value_parser = parse_mac_arg)]
        mac: Mac,
        /// First byte of the range (needs --length).
        #[arg(long, requires = "length")]
        offset: Option<u64>,
        /// Bytes in the range (needs --offset).
        #[arg(long, requires = "offset")]
        length: Option<u32>,
    },
    /// Remove an object.
    Rm {
        resource: Resource,
        #[arg(value_parser = parse_mac_arg)]
        mac: Mac,
    },
    /// Find out what the registry of --store does (authentication, media
    /// types, DELETE, uploads, Range, tag paging, limits) in a scratch
    /// repository beside it, print a table and the options to use, and
    /// remove what it wrote. Runs without the component.
    Probe,
    /// Push the component (--component, a file) to a registry as a Wasm OCI
    /// artifact at REFERENCE (HOST[:PORT]/REPOSITORY[:TAG], tag `latest` by
    /// default); prints the reference pinned to its digest.
    Publish { reference: String },
}

/// `KEY=VALUE`, for `-o` and `--component-option`. What is refused is
/// never shown: `-o s3cret` is most likely a password whose `password=`
/// was forgotten, and clap's own message would quote it whole.
#[derive(Clone)]
struct OptionParser;

impl clap::builder::TypedValueParser for OptionParser {
    type Value = (String, String);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let name = arg.and_then(|a| a.get_long()).unwrap_or("option");
        let refuse = |why: &str| {
            cmd.clone().error(
                clap::error::ErrorKind::ValueValidation,
                format!("--{name} takes KEY=VALUE; {why} (not shown: it may be a secret)"),
            )
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("a value is not UTF-8"))?;
        parse_option(text).map_err(refuse)
    }
}

/// `KEY=VALUE` split at its first `=`; why not, in words that quote
/// nothing of it.
fn parse_option(text: &str) -> Result<(String, String), &'static str> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        Some(_) => Err("a value has no KEY before its '='"),
        None => Err("a value has no '='"),
    }
}

fn parse_mac_arg(text: &str) -> Result<Mac, MacParseError> {
    text.parse()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever the error's text holds, with what it
            // quotes of the user's input escaped and cut.
            eprintln!("kloset-host: {}", echo::message(&err.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// clap's message for a command line it refuses, or its help. clap quotes
/// what it refuses (`invalid value 'X'`) as typed: each line is shown with
/// control characters escaped and cut ([`echo::message`]), so a terminal
/// never runs an escape sequence given as an argument.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let text = err.render().to_string();
    for line in text.lines() {
        eprintln!("{}", echo::message(line));
    }
    ExitCode::from(2)
}
