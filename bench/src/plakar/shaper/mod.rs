//! The simulated wide-area link: a TCP proxy of ours in front of the
//! registry, with one rate each way shared by every connection and the
//! one-way delay added to every chunk (`wire.rs` holds the schedule).
//!
//! Design decisions:
//! - Ours, not Toxiproxy: Toxiproxy's bandwidth toxic paces each connection
//!   on its own (v2.12.0, `toxics/bandwidth.go`: the sleep it owes is a
//!   local of each connection's pipe), so plakar's requests on several
//!   pooled connections each got the full rate and a link's use reached 2.6.
//!   A real link shares its rate.
//! - Not the kernel's traffic control: netem on `lo` (the only interface
//!   in the bench's namespace) would shape every loopback hop, the
//!   registry's own included; an interface for this traffic alone would
//!   mean a veth pair and a second namespace for the registry.
//! - Threads, not async: four a connection (a reader and a writer each
//!   way), and plakar keeps a handful of connections. A reader takes a
//!   chunk, waits for the shared wire to have sent it, and hands it to its
//!   writer, which writes it once its delay has passed; the reader so
//!   reads at the link's rate, and TCP's flow control holds the sender
//!   back as a real link's would.
//! - TCP_NODELAY both sides, as Toxiproxy (Go's default): Nagle's
//!   algorithm would hold back a request's small writes.
//! - The bytes a command read come from the registry's access log
//!   (`requests.rs`), the same way on loopback and over the link.

mod wire;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::wire::Wire;
use crate::BenchError;

/// The largest chunk a reader takes at once: 32 KiB is 1.3 ms on the wan
/// link and 5.2 ms on the slow one, so a small request on another
/// connection waits at most that behind it.
const CHUNK: usize = 32 << 10;

/// The link's shape.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Shape {
    /// Round-trip time added: half on the way up, half on the way down.
    pub rtt_ms: u64,
    /// Bandwidth each way, shared by every connection, in Mbit/s.
    pub mbit_per_s: u64,
}

impl Shape {
    /// The bandwidth each way, in bytes a second.
    pub fn bytes_per_s(self) -> f64 {
        self.mbit_per_s as f64 * 1e6 / 8.0
    }

    fn wire(self) -> Wire {
        Wire::new(
            self.mbit_per_s * 1_000_000 / 8,
            Duration::from_micros(self.rtt_ms * 1000 / 2),
        )
    }
}

/// About 40 ms round trip and 200 Mbit/s, as issue 12 asked.
pub const WAN: Shape = Shape {
    rtt_ms: 40,
    mbit_per_s: 200,
};

/// The slower link issue 23 adds: 100 ms round trip, 50 Mbit/s.
pub const SLOW_WAN: Shape = Shape {
    rtt_ms: 100,
    mbit_per_s: 50,
};

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(format!("shaped link: {e}"))
}

/// Connections open through a link, by number, so that dropping the link
/// can end them; a connection leaves when its last thread ends.
type Open = Arc<Mutex<HashMap<u64, [TcpStream; 2]>>>;

/// A shaped link to an upstream on a free loopback port; stops accepting
/// and ends its connections when dropped.
pub struct Link {
    pub authority: String,
    stop: Arc<AtomicBool>,
    open: Open,
    acceptor: Option<JoinHandle<()>>,
}

impl Link {
    /// A link to `upstream` (`HOST:PORT`).
    pub fn start(upstream: &str, shape: Shape) -> Result<Link, BenchError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(setup)?;
        let authority = listener.local_addr().map_err(setup)?.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let open: Open = Arc::default();
        let up = Arc::new(Mutex::new(shape.wire()));
        let down = Arc::new(Mutex::new(shape.wire()));
        let upstream = upstream.to_string();
        let acceptor = {
            let (stop, open) = (stop.clone(), open.clone());
            std::thread::Builder::new()
                .name("shaper-accept".into())
                .spawn(move || {
                    let next = AtomicU64::new(0);
                    for client in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(client) = client else { continue };
                        let id = next.fetch_add(1, Ordering::SeqCst);
                        // An upstream that refuses ends the client's
                        // connection, as a proxy's would.
                        let _ = connect(id, client, &upstream, &up, &down, &open);
                    }
                })
                .map_err(setup)?
        };
        Ok(Link {
            authority,
            stop,
            open,
            acceptor: Some(acceptor),
        })
    }
}

/// One client's connection: an upstream one, and a pipe each way.
fn connect(
    id: u64,
    client: TcpStream,
    upstream: &str,
    up: &Arc<Mutex<Wire>>,
    down: &Arc<Mutex<Wire>>,
    open: &Open,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
    }
    open.lock()
        .expect("the open connections")
        .insert(id, [client.try_clone()?, server.try_clone()?]);
    let left = Arc::new(Leave {
        id,
        open: open.clone(),
    });
    pipe(client.try_clone()?, server.try_clone()?, up.clone(), &left)?;
    pipe(server, client, down.clone(), &left)?;
    Ok(())
}

/// Removes a connection from the open ones when its last thread ends.
struct Leave {
    id: u64,
    open: Open,
}

impl Drop for Leave {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// A chunk on its way: bytes, or the end of the stream (None).
struct Chunk {
    bytes: Option<Vec<u8>>,
    arrives: Instant,
}

/// One direction of one connection: `from`'s bytes through the shared
/// wire and the delay line to `to`; its end (or a failed read) reaches
/// `to` as a half-close, after the delay too.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    wire: Arc<Mutex<Wire>>,
    left: &Arc<Leave>,
) -> std::io::Result<()> {
    let (line, arrivals) = mpsc::channel::<Chunk>();
    let reader_left = left.clone();
    std::thread::Builder::new()
        .name("shaper-read".into())
        .spawn(move || {
            let _left = reader_left;
            let mut buf = vec![0; CHUNK];
            loop {
                let n = from.read(&mut buf).unwrap_or(0);
                let slot = wire.lock().expect("the wire").send(Instant::now(), n);
                sleep_until(slot.sent);
                let bytes = (n > 0).then(|| buf[..n].to_vec());
                let end = bytes.is_none();
                if line
                    .send(Chunk {
                        bytes,
                        arrives: slot.arrives,
                    })
                    .is_err()
                    || end
                {
                    // The writer is gone (its peer failed): stop reading.
                    let _ = from.shutdown(Shutdown::Read);
                    break;
                }
            }
        })?;
    let writer_left = left.clone();
    std::thread::Builder::new()
        .name("shaper-write".into())
        .spawn(move || {
            let _left = writer_left;
            for chunk in arrivals {
                sleep_until(chunk.arrives);
                match chunk.bytes {
                    Some(bytes) => {
                        if to.write_all(&bytes).is_err() {
                            let _ = to.shutdown(Shutdown::Both);
                            break;
                        }
                    }
                    None => {
                        let _ = to.shutdown(Shutdown::Write);
                        break;
                    }
                }
            }
        })?;
    Ok(())
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which sees `stop` and ends.
        let _ = TcpStream::connect(self.authority.as_str());
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        if let Ok(open) = self.open.lock() {
            for stream in open.values().flatten() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kloset_testkit::{Registry, RegistryOptions};

    /// One request through the shaped link takes at least the round trip,
    /// and reaches the registry (its nonce header comes back).
    #[test]
    fn the_link_adds_its_round_trip_and_forwards() {
        let registry = Registry::start(RegistryOptions::default());
        let link = Link::start(&registry.authority(), WAN).expect("a shaped link");
        let start = Instant::now();
        let mut stream = TcpStream::connect(link.authority.as_str()).expect("connect");
        stream
            .write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("answer");
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("x-kloset-test-registry:"),
            "{text}"
        );
        assert!(
            took >= Duration::from_millis(WAN.rtt_ms),
            "a request took {took:?}, under the {} ms round trip",
            WAN.rtt_ms
        );
    }

    /// Four connections downloading at once share the link's rate: the
    /// bytes they get together take at least as long as the rate allows
    /// (Toxiproxy gave each the full rate, so four took a quarter of it),
    /// and arrive whole.
    #[test]
    fn connections_at_once_share_one_rate() {
        const EACH: usize = 250_000;
        const CONNECTIONS: usize = 4;
        // 8 Mbit/s: 1,000,000 bytes a second.
        let shape = Shape {
            rtt_ms: 10,
            mbit_per_s: 8,
        };
        let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a server");
        let upstream = server.local_addr().expect("its address").to_string();
        std::thread::spawn(move || {
            for client in server.incoming().take(CONNECTIONS) {
                std::thread::spawn(move || {
                    let mut client = client.expect("a client");
                    let mut ask = [0; 1];
                    client.read_exact(&mut ask).expect("a request");
                    client.write_all(&vec![7; EACH]).expect("an answer");
                });
            }
        });
        let link = Link::start(&upstream, shape).expect("a shaped link");
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let authority = link.authority.clone();
                std::thread::spawn(move || {
                    let mut stream = TcpStream::connect(authority).expect("connect");
                    stream.write_all(b"?").expect("ask");
                    let mut answer = Vec::new();
                    stream.read_to_end(&mut answer).expect("an answer");
                    answer.len()
                })
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().expect("a client"), EACH);
        }
        let took = start.elapsed().as_secs_f64();
        let rate = (EACH * CONNECTIONS) as f64 / took;
        assert!(
            rate <= shape.bytes_per_s(),
            "{CONNECTIONS} connections got {rate:.0} bytes a second together, over the link's {}",
            shape.bytes_per_s()
        );
        assert!(
            rate >= 0.5 * shape.bytes_per_s(),
            "{CONNECTIONS} connections got only {rate:.0} bytes a second together"
        );
    }
}
