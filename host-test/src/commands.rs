//! The CLI's commands, over the library's `StoreHandle`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use kloset_host::{mac_to_hex, store_error_from_io, HostError, Plugin, StoreError, StoreHandle};

use crate::{Cli, Command};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> CliError {
    let what = what.into();
    move |source| CliError::Io { what, source }
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let path = cli.component.unwrap_or_else(Plugin::default_path);
    let plugin = Plugin::load(&path)?;
    let mut config = vec![("location".to_string(), cli.store)];
    config.extend(cli.options);
    let store = StoreHandle::new(&plugin, &config)?;
    let mut out = io::stdout().lock();

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
            let mut text = String::new();
            for mac in store.list(resource)? {
                text.push_str(&mac_to_hex(&mac));
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
                    let input =
                        File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
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
    }
    out.flush().map_err(io_err("writing to stdout"))
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
        bytes = std::fs::read(path).map_err(io_err(format!("reading {}", path.display())))?;
    }
    Ok(bytes)
}

/// A one-line JSON configuration naming the tool and the creation time.
fn generated_config() -> Vec<u8> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!(
        "{{\"tool\":\"kloset-host\",\"version\":\"{}\",\"created\":\"{}\"}}\n",
        env!("CARGO_PKG_VERSION"),
        rfc3339_utc(secs)
    )
    .into_bytes()
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, without a date crate:
/// days to a civil date in the proleptic Gregorian calendar, by 400-year eras.
fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn formats_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_164_799, "2024-02-28T23:59:59Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc3339_utc(secs), want);
        }
    }
}
