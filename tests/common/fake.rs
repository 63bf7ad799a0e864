//! A scripted HTTP/1.1 server for what a real registry cannot be made to do
//! (redirect a blob to another host, answer oddly). Each request goes to a
//! handler; every request seen is recorded with its headers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
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
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("fake server: bind a loopback port");
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
        FakeServer { port, seen }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let seen = Seen {
            method,
            path,
            headers,
        };
        if !skip_body(&mut reader, &seen) {
            return;
        }
        log.lock().unwrap().push(seen.clone());
        let reply = handler(&seen);
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (n, v) in &reply.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let body: &[u8] = if seen.method == "HEAD" {
            &[]
        } else {
            &reply.body
        };
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(body))
            .is_err()
        {
            return;
        }
    }
}

/// Reads and drops a request body (Content-Length or chunked).
fn skip_body(reader: &mut BufReader<TcpStream>, seen: &Seen) -> bool {
    if let Some(len) = seen
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        return std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink()).is_ok();
    }
    if seen
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                return false;
            }
            let Ok(n) = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16) else {
                return false;
            };
            // The chunk and its CRLF (for the last chunk: the final CRLF).
            if std::io::copy(&mut reader.by_ref().take(n + 2), &mut std::io::sink()).is_err() {
                return false;
            }
            if n == 0 {
                return true;
            }
        }
    }
    true
}
