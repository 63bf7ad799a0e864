//! A scripted HTTP/1.1 server for what a real registry cannot be made to do
//! (redirect a blob to another host, answer oddly). Each request goes to a
//! handler; every request seen is recorded with its headers.

use super::wire::{read_message, write_reply};
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct FakeServer {
    ip: IpAddr,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeServer {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), handler)
    }

    /// Like [`FakeServer::start`], on another loopback address
    /// (`127.0.0.2`, say: another host, as far as the store can tell).
    pub fn start_on(
        ip: IpAddr,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("fake server: cannot bind {ip}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, log) = (handler.clone(), log.clone());
                thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        FakeServer { ip, port, seen }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn authority(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader, false) {
        let seen = Seen {
            method: request.method().to_string(),
            path: request.target().to_string(),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
        };
        log.lock().unwrap().push(seen.clone());
        let reply = handler(&seen);
        let head_request = seen.method == "HEAD";
        if write_reply(
            &mut writer,
            reply.status,
            "X",
            &reply.headers,
            &reply.body,
            head_request,
        )
        .is_err()
        {
            return;
        }
    }
}
