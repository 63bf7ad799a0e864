//! A TCP proxy in front of a test server that counts the connections it
//! accepts: how the tests see whether the host reuses connections.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

pub struct CountingProxy {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> CountingProxy {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("proxy: bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (connections.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) =
                    TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, upstream)))
                else {
                    continue; // dropping the client closes it, as a dead upstream would
                };
                pump(client, server);
            }
        });
        CountingProxy {
            port,
            connections,
            stop,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Copies both ways until either side closes.
fn pump(client: TcpStream, server: TcpStream) {
    let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    thread::spawn(move || copy(client, server));
    thread::spawn(move || copy(server2, client2));
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _: io::Result<TcpStream> = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}
