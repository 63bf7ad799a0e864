//! The plugin binary of this build, started as plakar starts it (a child
//! whose stdin and stdout carry one gRPC connection), with a tonic client
//! on those pipes configured like plakar's grpc-go client (4 MiB replies).

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use kloset_oci_plakar::proto::store_client::StoreClient;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tonic::transport::{Channel, Endpoint, Uri};

/// grpc-go's default largest message a client receives.
pub const GRPC_GO_MAX_RECEIVE: usize = 4 << 20;

/// A running plugin and a client connected to it.
pub struct PluginProcess {
    pub child: Child,
    pub client: StoreClient<Channel>,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
}

impl PluginProcess {
    /// Starts the plugin with the test's component.
    pub async fn start() -> PluginProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kloset-oci-plakar"))
            .env(
                "KLOSET_COMPONENT",
                kloset_testkit::component::component_file(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the plugin binary starts");
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let stdout = child.stdout.take().expect("piped stdout");
        let pipes = Pipes {
            stdin: stdin.clone(),
            stdout,
        };
        let slot = Arc::new(Mutex::new(Some(pipes)));
        let connector = tower::service_fn(move |_: Uri| {
            let pipes = slot.lock().expect("slot").take();
            async move {
                pipes
                    .map(TokioIo::new)
                    .ok_or_else(|| io::Error::other("the plugin's pipes carry one connection only"))
            }
        });
        let channel = Endpoint::from_static("http://plugin.invalid")
            .connect_with_connector(connector)
            .await
            .expect("a gRPC connection over the plugin's pipes");
        let client = StoreClient::new(channel).max_decoding_message_size(GRPC_GO_MAX_RECEIVE);
        PluginProcess {
            child,
            client,
            stdin,
        }
    }

    /// Closes the plugin's stdin, as plakar's exit does.
    pub fn close_stdin(&self) {
        self.stdin.lock().expect("stdin").take();
    }

    /// Waits for the plugin to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("waiting for the plugin"))
    }
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
