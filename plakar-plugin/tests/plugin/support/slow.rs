//! A TCP proxy in front of a registry that can hold its answers back: a
//! registry slow to answer, so that a test can close the plugin's stdin
//! while a store call is between two requests.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub struct SlowProxy {
    port: u16,
    /// Milliseconds each piece of an answer is held before it is relayed.
    delay_ms: Arc<AtomicU64>,
}

impl SlowProxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `upstream` (`host:port`), answers relayed at once until
    /// [`hold_answers`](Self::hold_answers).
    pub fn start(upstream: &str) -> SlowProxy {
        let upstream: SocketAddr = upstream.parse().expect("the registry's address");
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("slow proxy: bind a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (client2, server2) = (
                    client.try_clone().expect("a socket clone"),
                    server.try_clone().expect("a socket clone"),
                );
                let delay = delay.clone();
                thread::spawn(move || relay(client, server, None));
                thread::spawn(move || relay(server2, client2, Some(delay)));
            }
        });
        SlowProxy { port, delay_ms }
    }

    /// `host:port` to give the store instead of the registry's.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on every answer waits `delay` before it is relayed.
    pub fn hold_answers(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either side closes, each piece held for the
/// delay then set.
fn relay(mut from: TcpStream, mut to: TcpStream, delay: Option<Arc<AtomicU64>>) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if let Some(delay) = &delay {
            thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
