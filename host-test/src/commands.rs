//! The CLI's commands, over the library's `StoreHandle`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kloset_host::artifact::{self, Reference};
use kloset_host::{echo, store_error_from_io, Error, Plugin, StoreHandle};

use crate::{Cli, Command};

/// Why a command failed: the library's one error, or a misuse of the
/// command line only the CLI can see.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Host(#[from] Error),
    #[error("--store is required for this command")]
    NoStore,
    #[error("publish takes the component from a file; '{}' is not one", echo::text(.0))]
    NotAFile(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("--password-stdin: {0}")]
    PasswordStdin(&'static str),
    #[error("probe stopped: {0}")]
    ProbeStopped(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> CliError {
    let what = what.into();
    move |source| CliError::Io { what, source }
}

pub fn run(mut cli: Cli) -> Result<(), CliError> {
    if cli.password_stdin {
        let password = password_from_stdin(&cli)?;
        cli.options.push(("password".to_string(), password));
    }
    let mut out = io::stdout().lock();
    if let Command::Publish { reference } = &cli.command {
        let reference = Reference::parse(reference).map_err(Error::from)?;
        let path = match &cli.component {
            Some(path) if !artifact::looks_like_reference(path) => PathBuf::from(path),
            Some(other) => return Err(CliError::NotAFile(other.clone())),
            None => Plugin::default_path(),
        };
        let wasm =
            std::fs::read(&path).map_err(io_err(format!("reading {}", echo::path(&path))))?;
        let pinned = artifact::publish(&reference, &cli.options, &wasm)?;
        writeln!(out, "{pinned}").map_err(io_err("writing to stdout"))?;
        return Ok(());
    }

    if let Command::Probe = &cli.command {
        let mut config = vec![("location".to_string(), cli.store.ok_or(CliError::NoStore)?)];
        config.extend(cli.options);
        let report = kloset_host::probe::probe(&config)?;
        out.write_all(kloset_host::probe::render(&report).as_bytes())
            .map_err(io_err("writing to stdout"))?;
        return match report.stopped {
            Some(why) => Err(CliError::ProbeStopped(why)),
            None => Ok(()),
        };
    }

    let plugin = match &cli.component {
        Some(value) if artifact::looks_like_reference(value) => {
            let reference = Reference::parse(value).map_err(Error::from)?;
            artifact::load(&reference, &cli.component_options)?.0
        }
        Some(path) => Plugin::load(Path::new(path))?,
        None => Plugin::load(&Plugin::default_path())?,
    };
    let mut config = vec![("location".to_string(), cli.store.ok_or(CliError::NoStore)?)];
    config.extend(cli.options);
    let store = StoreHandle::new(&plugin, &config)?;

    match cli.command {
        Command::Create { file } => {
            let bytes = match file {
                Some(path) => read_input(&path)?,
                None => generated_config(),
            };
            store.create(&bytes)?;
        }
        Command::Open => out
            .write_all(&store.open()?)
            .map_err(io_err("writing to stdout"))?,
        Command::Ping => store.ping()?,
        Command::Info => {
            // Gather everything first: a failure prints nothing but the error.
            let text = format!(
                "origin: {}\ntype: {}\nroot: {}\nflags: {}\nmode: {}\nsize: {}\n",
                store.origin()?,
                store.store_type()?,
                store.root()?,
                store.flags()?,
                store.mode()?,
                store.size()?,
            );
            out.write_all(text.as_bytes())
                .map_err(io_err("writing to stdout"))?;
        }
        Command::Ls { resource } => {
            let macs = store.list(resource)?;
            if macs.is_empty() {
                // A registry lists no tags of a repository never made, so
                // an empty list may mean there is none: say so as `open`
                // does ("no Kloset repository at ..."), never exit 0.
                store.open()?;
            }
            let mut text = String::new();
            for mac in macs {
                text.push_str(&mac.to_hex());
                text.push('\n');
            }
            out.write_all(text.as_bytes())
                .map_err(io_err("writing to stdout"))?;
        }
        Command::Put {
            resource,
            mac,
            file,
        } => {
            let written = match file.as_deref() {
                Some(path) if path != Path::new("-") => {
                    let input = File::open(path)
                        .map_err(io_err(format!("opening {}", echo::path(path))))?;
                    store.put(resource, &mac, input)?
                }
                _ => store.put(resource, &mac, io::stdin().lock())?,
            };
            writeln!(out, "{written}").map_err(io_err("writing to stdout"))?;
        }
        Command::Get {
            resource,
            mac,
            offset,
            length,
        } => {
            let range = offset.zip(length);
            let mut reader = store.get_reader(resource, &mac, range)?;
            copy(&mut reader, &mut out)?;
        }
        Command::Rm { resource, mac } => store.delete(resource, &mac)?,
        Command::Publish { .. } | Command::Probe => unreachable!("handled above"),
    }
    out.flush().map_err(io_err("writing to stdout"))
}

/// The first line of standard input, for `--password-stdin`. Standard input
/// cannot also carry an object or a configuration, and the password cannot
/// come from two places.
fn password_from_stdin(cli: &Cli) -> Result<String, CliError> {
    let dash = |file: &Option<PathBuf>| file.as_deref().is_none_or(|p| p == Path::new("-"));
    let stdin_taken = match &cli.command {
        Command::Put { file, .. } => dash(file),
        Command::Create { file: Some(path) } => path == Path::new("-"),
        _ => false,
    };
    if stdin_taken {
        return Err(CliError::PasswordStdin(
            "standard input already carries the data; give it as a FILE",
        ));
    }
    if cli
        .options
        .iter()
        .any(|(k, _)| k == "password" || k == "password_file")
    {
        return Err(CliError::PasswordStdin(
            "a password is also given as an option",
        ));
    }
    let mut text = String::new();
    io::stdin()
        .read_line(&mut text)
        .map_err(io_err("reading the password from stdin"))?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(CliError::PasswordStdin("standard input holds no password"));
    }
    Ok(password.to_string())
}

/// Copies an object to stdout, telling the object's errors from stdout's.
fn copy(reader: &mut impl Read, out: &mut impl Write) -> Result<(), CliError> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(store_error_from_io(e).into()),
        };
        out.write_all(&buf[..n])
            .map_err(io_err("writing to stdout"))?;
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(io_err("reading stdin"))?;
    } else {
        bytes = std::fs::read(path).map_err(io_err(format!("reading {}", echo::path(path))))?;
    }
    Ok(bytes)
}

/// A one-line JSON configuration naming the tool and the creation time.
fn generated_config() -> Vec<u8> {
    format!(
        "{{\"tool\":\"kloset-host\",\"version\":\"{}\",\"created\":\"{}\"}}\n",
        kloset_host::VERSION,
        kloset_host::rfc3339_now()
    )
    .into_bytes()
}
