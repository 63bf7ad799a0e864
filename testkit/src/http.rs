//! A minimal HTTP/1.1 client over `std::net::TcpStream`, written by hand so
//! the harness needs no HTTP client crate, optionally inside TLS (rustls, which
//! the host already builds). For the tiny requests that probe a test server or
//! set up a test: one request per connection.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// Connect, read and write timeout of one request.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The status, headers and body of a response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when sent with `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How requests reach the server: plain HTTP, or HTTPS with a TLS client
/// configuration (its roots decide which servers are trusted).
#[derive(Clone)]
pub enum Transport {
    Plain,
    Tls(Arc<rustls::ClientConfig>),
}

impl Transport {
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Transport::Plain => "http",
            Transport::Tls(_) => "https",
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.scheme())
    }
}

/// One HTTP/1.1 request with no body to `127.0.0.1:port`, written by hand.
pub fn http_request(port: u16, method: &str, path: &str) -> io::Result<RawResponse> {
    http_send(port, method, path, &[], &[])
}

/// One plain HTTP/1.1 request to `127.0.0.1:port`; see [`send`].
pub fn http_send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    send(&Transport::Plain, port, method, path, headers, body)
}

/// One HTTP/1.1 request to `127.0.0.1:port` with extra headers and a body,
/// written by hand. `Connection: close` lets the response be read to the end
/// of the stream. Meant for small requests that set up or probe a test.
///
/// Over TLS the certificate must be valid for `127.0.0.1`; a refused
/// handshake is an `io::Error` whose text is rustls's reason.
pub fn send(
    transport: &Transport,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    match transport {
        Transport::Plain => exchange(stream, port, method, path, headers, body),
        Transport::Tls(config) => {
            let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
            let conn =
                rustls::ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
            // The handshake runs on the first write; its failure is that
            // write's error.
            exchange(
                rustls::StreamOwned::new(conn, stream),
                port,
                method,
                path,
                headers,
                body,
            )
        }
    }
}

/// Writes the request and reads the response to the end of the stream.
/// Over TLS the end must be the server's `close_notify` (Go's server sends
/// it); a bare TCP close is rustls's `UnexpectedEof`, left as an error so a
/// cut-off response is never taken for a whole one.
fn exchange(
    mut stream: impl Read + Write,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_head(&raw)
}

fn parse_head(raw: &[u8]) -> io::Result<RawResponse> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("response ended before its headers did"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| invalid("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    // "HTTP/1.1 200 OK"
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid(&format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest).ok_or_else(|| invalid("malformed chunked body"))?
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// Decodes an HTTP/1.1 chunked body (RFC 9112 section 7.1), trailers ignored.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}
