//! A registry that opens upload sessions but never reads an upload: it
//! answers requests without a body as a registry would (`/v2/`, upload
//! `POST`s, `HEAD`s of blobs it does not have), and when a request comes
//! with a body it reads the head only and holds the connection, taking not
//! one byte more. Once the kernel's buffers are full, a client writing the
//! body waits on it for as long as it lets itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a connection with an unread body is held.
const HOLD: Duration = Duration::from_secs(90);

pub struct DeafRegistry {
    port: u16,
    /// `METHOD target` of each request, `(body unread)` after those held.
    seen: Arc<Mutex<Vec<String>>>,
}

impl DeafRegistry {
    pub fn start() -> DeafRegistry {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("deaf registry: cannot bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || serve(stream, &log));
            }
        });
        DeafRegistry { port, seen }
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<String>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut start = String::new();
        if reader.read_line(&mut start).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = start.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut has_body = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                has_body |= (name == "content-length" && value != "0")
                    || (name == "transfer-encoding" && value.contains("chunked"));
            }
        }
        if has_body {
            log.lock()
                .unwrap()
                .push(format!("{method} {target} (body unread)"));
            thread::sleep(HOLD);
            return;
        }
        log.lock().unwrap().push(format!("{method} {target}"));
        let path = target.split('?').next().unwrap_or("");
        let (status, headers, body): (u16, Vec<(&str, String)>, &str) =
            if method == "POST" && path.ends_with("/blobs/uploads/") {
                let location = format!("{path}deaf-session");
                (202, vec![("Location", location)], "")
            } else if method == "GET" && path == "/v2/" {
                (200, vec![], "{}")
            } else {
                (
                    404,
                    vec![],
                    r#"{"errors":[{"code":"NOT_FOUND","message":"none"}]}"#,
                )
            };
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let reply = if method == "HEAD" { head } else { head + body };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
