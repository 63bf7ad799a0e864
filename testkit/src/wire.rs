//! HTTP/1.1 messages read and written by hand, for the tests' own servers
//! (the fake registry, the token server, the fault proxy): one reader for
//! requests and responses, one writer for simple replies; and what the
//! proxies (the fault proxy, the registry personalities) share: a loopback
//! [`Server`], [`forward`]ing a request upstream, [`write_response`].

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

/// A request or a response as read off a connection.
pub struct Message {
    /// The request or status line.
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A request's method (the first word of its request line).
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or("")
    }

    /// A request's target: path and query.
    pub fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or("")
    }
}

pub fn status_of(start: &str) -> u16 {
    start
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn no_body_status(start: &str) -> bool {
    let status = status_of(start);
    (100..200).contains(&status) || status == 204 || status == 304
}

/// Reads one message: `Ok(None)` at a clean end of stream before any byte.
/// `head_request`: it answers a HEAD, so no body follows whatever it says.
pub fn read_message(reader: &mut impl BufRead, head_request: bool) -> io::Result<Option<Message>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let start = start.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "head cut"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut message = Message {
        start,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    let is_response = message.start.starts_with("HTTP/");
    if is_response && (head_request || no_body_status(&message.start)) {
        return Ok(Some(message));
    }
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        message.chunked = true;
        message.body = read_chunked(reader)?;
    } else if let Some(length) = message.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        message.body = body;
    } else if is_response {
        // Neither: the body runs to the end of the (Connection: close) stream.
        reader.read_to_end(&mut message.body)?;
    }
    Ok(Some(message))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunk cut"));
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let at = body.len();
        body.resize(at + size, 0);
        reader.read_exact(&mut body[at..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Writes a complete reply with a `Content-Length` body (none after a HEAD).
pub fn write_reply(
    writer: &mut impl Write,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    body: &[u8],
    head_request: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    if !head_request {
        writer.write_all(body)?;
    }
    writer.flush()
}

/// Headers that describe one connection, never forwarded as they are.
pub fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "te",
        "trailer",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Sends a request (its body buffered) to `upstream` (`127.0.0.1:PORT`) on
/// a connection of its own with `Content-Length` and `Connection: close`,
/// and reads the whole answer: how the proxies here reach the registry
/// behind them, with no keep-alive logic upstream.
pub fn forward(upstream: &str, request: &Message) -> io::Result<Message> {
    let mut stream = TcpStream::connect(upstream)?;
    let mut head = format!("{}\r\n", request.start);
    for (name, value) in &request.headers {
        if is_hop_by_hop(name) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.body.len()
    ));
    stream.write_all(head.as_bytes())?;
    // The registry may answer (404 to a closed upload session, say) and
    // close before it has read the body: read its answer all the same.
    let _ = stream
        .write_all(&request.body)
        .and_then(|()| stream.flush());
    let head_request = request.method() == "HEAD";
    let mut reader = BufReader::new(stream);
    read_message(&mut reader, head_request)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "upstream closed"))
}

/// Rewrites `Location` headers naming `from` (the registry's authority) to
/// `to` (the proxy's), so the client keeps talking through the proxy.
pub fn rewrite_locations(response: &mut Message, from: &str, to: &str) {
    for (name, value) in response.headers.iter_mut() {
        if name.eq_ignore_ascii_case("location") {
            *value = value.replace(from, to);
        }
    }
}

/// Writes a response with a `Content-Length` body, hop-by-hop headers left
/// out. For a HEAD answer a `Content-Length` among the headers is kept and
/// no body sent; with `truncate`, only that many body bytes follow the
/// full-length head.
pub fn write_response(
    client: &mut impl Write,
    response: &Message,
    head_request: bool,
    truncate: Option<usize>,
) -> io::Result<()> {
    let mut head = format!("{}\r\n", response.start);
    for (name, value) in &response.headers {
        let keep_length = head_request && name.eq_ignore_ascii_case("content-length");
        if is_hop_by_hop(name) && !keep_length {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let bodiless = head_request || no_body_status(&response.start);
    if !bodiless {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    if !bodiless {
        let end = truncate.unwrap_or(usize::MAX).min(response.body.len());
        client.write_all(&response.body[..end])?;
    }
    client.flush()
}

/// What a [`Server`] does with one request: answer it on the connection
/// (`Ok(true)`: keep the connection for the next request).
pub type Handler = dyn Fn(Message, &mut TcpStream) -> io::Result<bool> + Send + Sync;

/// An HTTP/1.1 server on a free loopback port, one thread per connection,
/// connections kept alive until the handler or the client closes them:
/// the accept and request loops the fault proxy and the registry
/// personalities share. Dropping it stops accepting.
pub struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Binds a free loopback port and serves every request with `handler`.
    pub fn start(what: &str, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("{what}: bind a loopback port: {e}"));
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let handler = handler.clone();
                thread::spawn(move || serve_connection(client, &*handler));
            }
        });
        Server { port, stop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Serves one client connection until it closes or the handler closes it.
fn serve_connection(client: TcpStream, handler: &Handler) {
    let Ok(mut writer) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(client);
    while let Ok(Some(request)) = read_message(&mut reader, false) {
        if !handler(request, &mut writer).unwrap_or(false) {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _: io::Result<TcpStream> = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}
