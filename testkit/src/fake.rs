//! A scripted HTTP/1.1 server for what a real registry cannot be made to do
//! (redirect a blob to another host, answer oddly). It answers from a
//! [`Script`]: each [`Answer`] names the request it is for, by method and
//! path (as `kloset_oci::script` matches them); a request no answer is for
//! is answered 599, naming the surprise, and fails the test when the server
//! is dropped (or at [`FakeServer::check`]), as does an answer never used
//! unless it is spare. Connections are served on threads of their own, so
//! answers for requests that may come concurrently or more than once are
//! marked [`Answer::repeats`]. Every request seen is recorded with its
//! headers and body.
//!
//! An answer's `delay` is slept before it is written; `broken` closes the
//! connection instead of answering; `cut` closes it one byte short of the
//! `Content-Length` it announced.

pub use kloset_oci::script::{Answer, Request};

use super::wire::{read_message, write_reply};
use kloset_oci::script::Script;
use std::io::{BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

/// What a surprise is answered: no registry's status, so no client can
/// take it for one.
const SURPRISE: u16 = 599;

pub struct FakeServer {
    ip: IpAddr,
    port: u16,
    script: Arc<Script>,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    /// A server on a free port of 127.0.0.1 answering from `answers`. With
    /// none, any request reaching it fails the test.
    pub fn start(answers: impl IntoIterator<Item = Answer>) -> FakeServer {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), answers)
    }

    /// Like [`FakeServer::start`], on another loopback address
    /// (`127.0.0.2`, say: another host, as far as the store can tell).
    pub fn start_on(ip: IpAddr, answers: impl IntoIterator<Item = Answer>) -> FakeServer {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("fake server: cannot bind {ip}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let script = Arc::new(Script::new(answers));
        let stop = Arc::new(AtomicBool::new(false));
        let (served, stopped) = (script.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let script = served.clone();
                thread::spawn(move || serve(stream, &script));
            }
        });
        FakeServer {
            ip,
            port,
            script,
            stop,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn authority(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Every request that reached the server, surprises included, in the
    /// order they were read.
    pub fn seen(&self) -> Vec<Request> {
        self.script.requests()
    }

    /// Fails the test on any request no answer was for, and on any answer
    /// never used that is not spare.
    pub fn check(&self) {
        self.script.check();
    }
}

/// Stops accepting, and checks the script unless the test already failed.
impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect((self.ip, self.port));
        if !thread::panicking() {
            self.script.check();
        }
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, script: &Script) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Ok(Some(message)) = read_message(&mut reader, false) {
        let request = Request {
            method: message.method().to_string(),
            uri: message.target().to_string(),
            headers: message
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: message.body,
        };
        let head_request = request.method == "HEAD";
        let answer = script.answer(request).unwrap_or_else(|surprise| {
            Answer::new(SURPRISE, format!("fake server: {surprise}").as_bytes())
        });
        thread::sleep(answer.delay);
        if answer.broken {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
        if answer.cut {
            let _ = write_cut(&mut writer, &answer);
            return;
        }
        if write_reply(
            &mut writer,
            answer.status,
            "X",
            &answer.headers,
            &answer.body,
            head_request,
        )
        .is_err()
        {
            return;
        }
    }
}

/// Writes `answer` announcing one byte more than its body, and closes.
fn write_cut(writer: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
        answer.status,
        answer.body.len() + 1
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&answer.body)?;
    writer.shutdown(Shutdown::Both)
}
