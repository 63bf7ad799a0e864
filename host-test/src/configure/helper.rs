//! Running a Docker credential helper: `docker-credential-<name> get`, the
//! server on stdin, a JSON answer on stdout (docker-credential-helpers'
//! protocol).
//!
//! A helper is a program of the user's; it may hang (a keychain waiting for
//! a prompt nobody sees) or misbehave. So it gets [`HelperLimits`]: a time
//! limit, after which it is killed, and a cap on the output read. Nothing a
//! helper prints is ever put in an error.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::configure::docker_config::Login;
use crate::Error;

/// How long a helper may take, and how much it may print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperLimits {
    pub timeout: Duration,
    pub max_output: usize,
}

impl Default for HelperLimits {
    /// 30 s (a helper asking a keychain answers in well under a second) and
    /// 1 MiB (an answer is a few hundred bytes; a JWT a few KiB).
    fn default() -> Self {
        HelperLimits {
            timeout: Duration::from_secs(30),
            max_output: 1 << 20,
        }
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` (found in an absolute directory
/// of `PATH`, [`find_on_path`]). "Not found"
/// answers (exit status 1 with `credentials not found` on stdout, as the
/// helpers print it) mean no login.
pub fn run_helper(
    helper: &str,
    server: &str,
    limits: &HelperLimits,
) -> Result<Option<Login>, Error> {
    if helper.is_empty()
        || !helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(failure(helper, "not a helper name"));
    }
    let program = format!("docker-credential-{helper}");
    let path = std::env::var_os("PATH");
    let Some(found) = find_on_path(&program, path.as_deref()) else {
        return Err(failure(
            helper,
            "it is not in any absolute directory of PATH",
        ));
    };
    run_program(found.as_os_str(), helper, server, limits)
}

/// The first executable file named `program` in an absolute directory of
/// `path` (a `PATH` value). Empty, `.` and other relative entries are
/// skipped: they name the directory the command runs in, where anyone who
/// could write a file there would have it run with the user's credentials
/// (Docker's client refuses them too: Go's `exec.LookPath` fails with
/// `ErrDot` rather than run a program found through them).
pub(crate) fn find_on_path(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `program get` as the helper named `helper`.
pub(crate) fn run_program(
    program: &OsStr,
    helper: &str,
    server: &str,
    limits: &HelperLimits,
) -> Result<Option<Login>, Error> {
    let fail = |reason: String| failure(helper, &reason);
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may answer without reading its input (a "not found"
        // answer, say): then its exit status and output decide, not the
        // broken pipe. The server name fits in any pipe buffer.
        match stdin.write_all(server.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                kill(&mut child);
                return Err(fail(format!("cannot write to it: {e}")));
            }
        }
    }
    let (status, stdout) = wait_bounded(child, limits).map_err(fail)?;
    if !status.success() {
        if String::from_utf8_lossy(&stdout)
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(fail(format!("it failed ({status})")));
    }
    let answer: HelperAnswer = serde_json::from_slice(&stdout)
        .map_err(|_| fail("its answer is not a credentials document".into()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Login {
        username: answer.username,
        password: answer.secret,
    }))
}

/// Waits for `child` to exit within the time limit, reading at most the
/// output cap; a helper past either is killed.
fn wait_bounded(
    mut child: Child,
    limits: &HelperLimits,
) -> Result<(std::process::ExitStatus, Vec<u8>), String> {
    let deadline = Instant::now() + limits.timeout;
    let stdout = child.stdout.take().expect("stdout is piped");
    let cap = limits.max_output;
    let (sender, output) = mpsc::channel();
    // The reader stops at the cap and drops the pipe: a helper printing
    // endlessly then gets EPIPE, and is killed below anyway.
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let read = stdout.take(cap as u64 + 1).read_to_end(&mut bytes);
        let _ = sender.send(read.map(|_| bytes));
    });
    let too_long = || format!("it printed more than {cap} bytes");
    let timed_out = || format!("it did not answer within {} s", limits.timeout.as_secs());
    let mut bytes = None;
    let status = loop {
        if bytes.is_none() {
            if let Ok(read) = output.try_recv() {
                let read: Vec<u8> = read.map_err(|e| format!("cannot read it: {e}"))?;
                if read.len() > cap {
                    kill(&mut child);
                    return Err(too_long());
                }
                bytes = Some(read);
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            return Err(timed_out());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let bytes = match bytes {
        Some(bytes) => bytes,
        // A process it left behind may hold stdout open: wait no longer
        // than the time left.
        None => match output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(read) => read.map_err(|e| format!("cannot read it: {e}"))?,
            Err(_) => return Err(timed_out()),
        },
    };
    if bytes.len() > cap {
        return Err(too_long());
    }
    Ok((status, bytes))
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn failure(helper: &str, reason: &str) -> Error {
    // From config.json: any text, so cleaned and cut when shown.
    Error::credential_helper(&crate::echo::text(helper), reason)
}

#[cfg(test)]
#[path = "helper_tests.rs"]
mod tests;
