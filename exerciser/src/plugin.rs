//! A plugin process, started as plakar v1.1.4 starts one: the executable
//! with the connector's arguments, plakar's environment and working
//! directory, stderr inherited (here: kept, its last lines shown when the
//! plugin dies), and one gRPC connection over its stdin and stdout
//! (HTTP/2 with prior knowledge, as grpc-go's dialer over a pipe).

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::proto::store_client::StoreClient;

/// grpc-go's default largest message a client receives: plakar's limit
/// on every reply.
pub const PLAKAR_MAX_RECEIVE: usize = 4 << 20;

/// How many lines of the plugin's stderr are kept to show.
const STDERR_LINES: usize = 40;

/// How much of one stderr line is kept (the rest is read and dropped).
const STDERR_LINE_MAX: usize = 4096;

/// Reads the plugin's stderr to its end as bytes: any bytes (not only
/// UTF-8, shown lossily), lines of any length (each kept to 4 KiB). The
/// pipe is never left unread while the plugin lives: a plugin writing to
/// a stderr nobody reads would block, or die of SIGPIPE once it closed.
async fn drain_stderr<R: AsyncRead + Unpin>(
    mut err: R,
    kept: Arc<Mutex<VecDeque<String>>>,
    echo: bool,
) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut cut = false;
    let keep = |line: &mut Vec<u8>, cut: &mut bool| {
        let mut text = String::from_utf8_lossy(line).into_owned();
        if *cut {
            text.push_str(" [cut]");
        }
        line.clear();
        *cut = false;
        if echo {
            eprintln!("plugin: {text}");
        }
        let mut kept = kept.lock().expect("stderr lines");
        if kept.len() == STDERR_LINES {
            kept.pop_front();
        }
        kept.push_back(text);
    };
    loop {
        let n = match err.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for piece in buf[..n].split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            let room = STDERR_LINE_MAX.saturating_sub(line.len());
            if body.len() > room {
                cut = true;
            }
            line.extend_from_slice(&body[..body.len().min(room)]);
            if ends {
                keep(&mut line, &mut cut);
            }
        }
    }
    if !line.is_empty() || cut {
        keep(&mut line, &mut cut);
    }
}

/// What to start: the executable, its arguments, extra environment.
#[derive(Debug, Clone)]
pub struct PluginCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// A running plugin and the client on its pipes; clones share both.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
    pub client: StoreClient<Channel>,
}

struct Inner {
    child: Mutex<Child>,
    pid: u32,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    exit: Mutex<Option<ExitStatus>>,
}

impl Plugin {
    /// Starts the plugin and opens the connection (nothing is sent yet:
    /// grpc-go connects lazily too).
    pub async fn start(command: &PluginCommand, echo_stderr: bool) -> io::Result<Plugin> {
        let mut child = Command::new(&command.program)
            // A group of its own, so that it and whatever it starts can
            // be ended together (on exit, and on SIGINT or SIGTERM).
            .process_group(0)
            .args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", command.program.display()),
                )
            })?;
        let pid = child.id().unwrap_or(0);
        if pid != 0 {
            LIVE.lock().expect("live plugins").push(pid);
        }
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            let kept = stderr.clone();
            tokio::spawn(drain_stderr(err, kept, echo_stderr));
        }
        let slot = Arc::new(Mutex::new(Some(Pipes {
            stdin: stdin.clone(),
            stdout,
        })));
        let connector = tower::service_fn(move |_: Uri| {
            let pipes = slot.lock().expect("pipes").take();
            async move {
                pipes
                    .map(TokioIo::new)
                    .ok_or_else(|| io::Error::other("the plugin's pipes carry one connection only"))
            }
        });
        let channel =
            Endpoint::from_static("http://plugin.invalid").connect_with_connector_lazy(connector);
        let client = StoreClient::new(channel)
            .max_decoding_message_size(PLAKAR_MAX_RECEIVE)
            .max_encoding_message_size(usize::MAX);
        Ok(Plugin {
            inner: Arc::new(Inner {
                child: Mutex::new(child),
                pid,
                stdin,
                stderr,
                exit: Mutex::new(None),
            }),
            client,
        })
    }

    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The plugin's resident memory now, from /proc (None once it has gone
    /// or where /proc is not Linux's).
    pub fn rss_bytes(&self) -> Option<u64> {
        tree_rss(self.inner.pid)
    }

    /// Whether the plugin has exited, and how.
    pub fn exited(&self) -> Option<ExitStatus> {
        let mut exit = self.inner.exit.lock().expect("exit");
        if exit.is_none() {
            *exit = self
                .inner
                .child
                .lock()
                .expect("child")
                .try_wait()
                .ok()
                .flatten();
        }
        *exit
    }

    /// Closes its stdin, as plakar's exit does.
    pub fn close_stdin(&self) {
        self.inner.stdin.lock().expect("stdin").take();
    }

    /// Waits at most `limit` for it to exit.
    pub async fn wait_exit(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, as an OOM killer or a crash would end it; waits for it.
    pub async fn kill(&self) {
        kill_group(self.inner.pid);
        let _ = self.inner.child.lock().expect("child").start_kill();
        self.wait_exit(Duration::from_secs(10)).await;
    }

    /// The last lines it wrote to stderr.
    pub fn stderr_tail(&self, lines: usize) -> Vec<String> {
        let kept = self.inner.stderr.lock().expect("stderr lines");
        kept.iter()
            .skip(kept.len().saturating_sub(lines))
            .cloned()
            .collect()
    }

    /// "exited with status 1" / "killed by signal 9", with its last words.
    pub fn death(&self) -> Option<String> {
        let status = self.exited()?;
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("the plugin exited with status {code}"),
            (None, Some(signal)) => format!("the plugin was killed by signal {signal}"),
            _ => "the plugin exited".to_string(),
        };
        let tail = self.stderr_tail(3);
        Some(if tail.is_empty() {
            how
        } else {
            format!("{how}; its last stderr lines: {}", tail.join(" | "))
        })
    }
}

/// The resident memory of a process and of all its descendants (a
/// plugin may be a wrapper around the process doing the work), from
/// `/proc/<pid>/task/*/children`; None when the process has gone.
pub fn tree_rss(pid: u32) -> Option<u64> {
    let mut total = rss_of(pid)?;
    let mut todo = children_of(pid);
    let mut seen = std::collections::HashSet::from([pid]);
    while let Some(child) = todo.pop() {
        if !seen.insert(child) {
            continue;
        }
        total += rss_of(child).unwrap_or(0);
        todo.extend(children_of(child));
    }
    Some(total)
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    found
}

/// The process groups of the plugins started and not yet dropped.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// SIGKILL to a plugin's process group (it leads one of its own).
fn kill_group(pgid: u32) {
    if pgid == 0 {
        return;
    }
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Ends every plugin still running, and what each started: for an exit
/// on SIGINT or SIGTERM.
pub fn kill_all() {
    let live = std::mem::take(&mut *LIVE.lock().expect("live plugins"));
    for pgid in live {
        kill_group(pgid);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // What the plugin left running in its group goes with it.
        LIVE.lock()
            .expect("live plugins")
            .retain(|p| *p != self.pid);
        kill_group(self.pid);
    }
}

/// VmRSS of a process, in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The child's stdin and stdout as one connection.
struct Pipes {
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    stdout: ChildStdout,
}

impl AsyncRead for Pipes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipes {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stdin.lock().expect("stdin").as_mut() {
            Some(stdin) => Pin::new(stdin).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stdin.lock().expect("stdin").as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stdin.lock().expect("stdin").take();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_tree_s_memory_counts_its_children() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5 & wait"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let pid = child.id();
        let alone = rss_of(pid).unwrap();
        let tree = tree_rss(pid).unwrap();
        assert_eq!(children_of(pid).len(), 2);
        assert!(tree > alone, "{tree} > {alone}");
        let _ = child.kill();
        let _ = child.wait();
    }

    #[tokio::test]
    async fn stderr_is_read_to_its_end_whatever_its_bytes_and_lengths() {
        let mut input = b"first \xff\xfe line\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend(b"\nlast words");
        let kept = Arc::new(Mutex::new(VecDeque::new()));
        drain_stderr(&input[..], kept.clone(), false).await;
        let kept: Vec<String> = kept.lock().unwrap().iter().cloned().collect();
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert_eq!(kept[0], "first \u{fffd}\u{fffd} line");
        assert!(kept[1].len() < STDERR_LINE_MAX + 10 && kept[1].ends_with(" [cut]"));
        assert_eq!(kept[2], "last words");
    }
}
