//! Runs one plakar command and measures it: wall time, and the peak
//! resident memory (VmHWM) of the plakar process and of the plugin
//! processes, sampled from /proc while it runs.
//!
//! Plugin processes are found by their executable: plakar runs a plugin
//! from its home's package folder (`<home>/cache/plakar/plugins/...`), as a
//! child of the command or of the home's background `plakar cached`, which
//! outlives commands. Such a long-lived process's peak is reset
//! (`clear_refs` 5) before each command, so a peak belongs to the command.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// How often /proc is sampled.
const SAMPLE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct Outcome {
    pub seconds: f64,
    /// Peak resident memory of the plakar command process.
    pub plakar_peak: u64,
    /// Peak resident memory of any plugin process alive during the
    /// command; `None` when there was none (the fs store).
    pub plugin_peak: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    /// Stopped at the cut-off: `seconds` is a lower bound of its time.
    pub cut_off: bool,
}

/// Runs `command` (a plakar command) to its end or `timeout`; fails when it
/// exits non-zero. `plugins` is the folder plugin executables live in.
/// With a `cutoff`, a command still running then is stopped (with every
/// plugin process of the home) and reported as cut off, not failed.
pub fn measure(
    mut command: Command,
    what: &str,
    plugins: &Path,
    timeout: Duration,
    cutoff: Option<Duration>,
) -> Result<Outcome, BenchError> {
    for pid in plugin_pids(plugins) {
        // Resets VmHWM to the current RSS; a process gone meanwhile is fine.
        let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
    let out = tempfile::tempfile().map_err(|e| BenchError::Setup(e.to_string()))?;
    let err = tempfile::tempfile().map_err(|e| BenchError::Setup(e.to_string()))?;
    command
        .stdin(Stdio::null())
        .stdout(
            out.try_clone()
                .map_err(|e| BenchError::Setup(e.to_string()))?,
        )
        .stderr(
            err.try_clone()
                .map_err(|e| BenchError::Setup(e.to_string()))?,
        );
    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot run plakar ({what}): {e}")))?;
    let pid = child.id();
    let mut plakar_peak = 0;
    let mut plugin_peak: Option<u64> = None;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| BenchError::Setup(format!("waiting for plakar ({what}): {e}")))?
        {
            break status;
        }
        plakar_peak = plakar_peak.max(peak_of(pid).unwrap_or(0));
        for plugin in plugin_pids(plugins) {
            if let Some(peak) = peak_of(plugin) {
                plugin_peak = Some(plugin_peak.unwrap_or(0).max(peak));
            }
        }
        if cutoff.is_some_and(|c| start.elapsed() > c) {
            let _ = child.kill();
            let _ = child.wait();
            for plugin in plugin_pids(plugins) {
                let _ = Command::new("kill")
                    .arg("-9")
                    .arg(plugin.to_string())
                    .status();
            }
            return Ok(Outcome {
                seconds: start.elapsed().as_secs_f64(),
                plakar_peak,
                plugin_peak,
                stdout: String::new(),
                stderr: String::new(),
                cut_off: true,
            });
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Check(format!(
                "plakar {what} did not end within {} s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(SAMPLE);
    };
    let seconds = start.elapsed().as_secs_f64();
    let read = |mut file: fs::File| {
        use std::io::{Read, Seek};
        let mut text = String::new();
        let _ = file.seek(std::io::SeekFrom::Start(0));
        let _ = file.read_to_string(&mut text);
        text
    };
    let stdout = read(out);
    let stderr = read(err);
    if !status.success() {
        let tail: String = format!("{stdout}{stderr}")
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(BenchError::Check(format!(
            "plakar {what} exited {status}:\n{tail}"
        )));
    }
    Ok(Outcome {
        seconds,
        plakar_peak,
        plugin_peak,
        stdout,
        stderr,
        cut_off: false,
    })
}

/// VmHWM of a process, in bytes.
fn peak_of(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Processes whose executable lies under `dir`.
fn plugin_pids(dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.starts_with(dir))
        })
        .collect()
}
