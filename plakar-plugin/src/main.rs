//! `kloset-oci-plakar`: the executable plakar starts for `oci://` stores.
//!
//! It serves `store.Store` over stdin/stdout until plakar closes stdin.
//! stdout carries nothing but gRPC frames; diagnostics go to stderr, which
//! is plakar's.

use std::process::ExitCode;

use kloset_oci_plakar::calls::{trace, Calls, FINISH_WAIT};
use kloset_oci_plakar::proto::store_server::StoreServer;
use kloset_oci_plakar::service::component_path;
use kloset_oci_plakar::stdio::StdioConnection;
use kloset_oci_plakar::StoreService;
use tonic::transport::Server;

/// Concurrent streams on plakar's connection: as many as the handle has
/// component instances (kloset-host's `max_instances` default).
const MAX_STREAMS: u32 = 64;

/// HTTP/2 flow-control windows. The defaults (64 KiB) made 64 MiB Puts
/// slow and uneven here (FIELD-NOTES §8); a stream's window of two of
/// plakar's 1 MiB chunks keeps one arriving while the other is read.
/// 8 MiB looked faster for backups at `-concurrency 1`, in two samples,
/// and lets each waiting Put hold four times as much: docs/performance.md,
/// "The Put stream window".
const STREAM_WINDOW: u32 = 2 << 20;

/// The connection's window holds every stream's whole window at once. The
/// store writes a few objects at a time (kloset-host's put slots) and does
/// not read the other Put streams meanwhile; their unread bytes count
/// against this window too, and if they could fill it, the Puts being
/// written would get no more bytes and every Put would hang (8 MiB
/// streams in a 16 MiB connection did, with three Puts waiting:
/// `grpc::more_large_puts_at_once_than_the_store_writes_all_complete`).
/// It bounds nothing by itself: what waits unread is at most one stream
/// window per waiting Put.
const CONNECTION_WINDOW: u32 = (MAX_STREAMS + 1) * STREAM_WINDOW;

/// Largest request message accepted: plakar sends 1 MiB chunks; this leaves
/// room for a client that sends larger ones, within grpc-go's own 4 MiB.
const MAX_REQUEST: usize = 4 << 20;

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!(
            "kloset-oci-plakar {}: a Plakar storage plugin; plakar starts it and speaks gRPC on its stdin/stdout. It takes no arguments.",
            kloset_oci_plakar::VERSION
        );
        return ExitCode::from(2);
    }
    // Before the runtime starts its threads.
    kloset_oci_plakar::memory::tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kloset-oci-plakar: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let service = StoreService::new(component_path());
    let calls = service.calls();
    let served = runtime.block_on(serve(service, calls.clone()));
    // Calls plakar sent before it closed stdin are finished (its last is
    // often a lock's Delete from a goroutine it does not wait for: see
    // `calls`); their answers have nowhere to go, their effect counts.
    let left = runtime.block_on(calls.finished(FINISH_WAIT));
    trace(format_args!("exit, {left} calls in flight"));
    // Blocking store calls still running (stuck past the wait) belong to a
    // client that has gone.
    runtime.shutdown_background();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kloset-oci-plakar: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(service: StoreService, calls: Calls) -> Result<(), Box<dyn std::error::Error>> {
    let (connection, mut ended) = StdioConnection::take()?;
    // One connection, then a stream that never ends: ending it would stop
    // the server at once (tonic stops accepting and drops the connection).
    let incoming = tokio_stream::StreamExt::chain(
        tokio_stream::once(Ok::<_, std::io::Error>(connection)),
        tokio_stream::pending(),
    );
    let service = StoreServer::new(service).max_decoding_message_size(MAX_REQUEST);
    Server::builder()
        // Bounds memory: each open Put or Get holds a few MiB in flight.
        .max_concurrent_streams(MAX_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .add_service(service)
        // Ends when stdin does; also when the connection fails otherwise,
        // as the connection (and with it the sender) is then dropped and
        // `wait_for` returns an error.
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = ended.wait_for(|ended| *ended).await;
            trace(format_args!(
                "stdin closed, {} calls in flight",
                calls.in_flight()
            ));
        })
        .await?;
    Ok(())
}
