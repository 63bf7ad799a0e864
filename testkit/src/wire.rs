//! HTTP/1.1 messages read and written by hand, for the tests' own servers
//! (the fake registry, the token server, the fault proxy): one reader for
//! requests and responses, one writer for simple replies.

use std::io::{self, BufRead, Write};

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
