//! A scripted `Transport` for native tests: answers requests from a queue of
//! canned responses and records what was asked. It stands in for registry
//! behaviour distribution 2.8 does not show (paging tags, ignoring `Range`,
//! corrupting bodies).
//!
//! Each answer names the request it answers ([`Answer::to`]): method and
//! path, optionally the query and the `Range` header. A request the next
//! answer does not name, a request with no answer left, and an answer
//! never used all fail the test, naming the answer's line in the script.

use crate::error::StoreError;
use crate::transport::{ResponseBody, SendFailure, Transport, Upload};
use std::cell::RefCell;
use std::collections::VecDeque;

/// A body: its bytes, then its end, or a broken connection when `cut`.
pub struct Chunks(pub Vec<u8>, pub bool);

impl ResponseBody for Chunks {
    fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        if self.0.is_empty() {
            if self.1 {
                return Err(StoreError::Transport(
                    "scripted: connection reset mid-body".into(),
                ));
            }
            return Ok(None);
        }
        // At most 3 bytes at a time, to exercise callers' re-reads.
        let n = max.min(3).min(self.0.len());
        Ok(Some(self.0.drain(..n).collect()))
    }
}

pub struct NoUpload;

impl Upload for NoUpload {
    type Body = Chunks;
    fn write(&mut self, _: &[u8]) -> Result<(), StoreError> {
        unreachable!("scripted tests do not stream uploads")
    }
    fn finish(self) -> Result<http::Response<Chunks>, StoreError> {
        unreachable!("scripted tests do not stream uploads")
    }
}

/// One canned answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// No answer at all: the connection broke (a retryable failure).
    pub broken: bool,
    /// The body breaks after its bytes instead of ending.
    pub cut: bool,
    /// How long the answer takes to come, on the scripted clock.
    pub delay: std::time::Duration,
    /// The request this answers.
    pub request: Option<Expected>,
    /// Where the script wrote it, for failure messages.
    pub origin: &'static std::panic::Location<'static>,
    /// May go unused (see [`Answer::spare`]).
    pub spare: bool,
}

/// The request an answer is for: its method and path (a trailing `*`
/// matches any rest of the path), and, when given, its query and `Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub range: Option<String>,
}

impl Expected {
    fn matches(&self, asked: &Asked) -> bool {
        let uri: http::Uri = asked.uri.parse().expect("a request's URI");
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => uri.path().starts_with(prefix),
            None => uri.path() == self.path,
        };
        self.method == asked.method
            && path_ok
            && self.query.as_deref().is_none_or(|q| uri.query() == Some(q))
            && self
                .range
                .as_ref()
                .is_none_or(|r| asked.range.as_ref() == Some(r))
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(range) = &self.range {
            write!(f, " (Range: {range})")?;
        }
        Ok(())
    }
}

impl Answer {
    #[track_caller]
    pub fn new(status: u16, body: &[u8]) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
            broken: false,
            cut: false,
            delay: std::time::Duration::ZERO,
            request: None,
            origin: std::panic::Location::caller(),
            spare: false,
        }
    }

    /// Names the request this answers: `"METHOD /path"`, with `?query` to
    /// match the query too (else any query is taken); a path ending in `*`
    /// matches any path it begins.
    pub fn to(mut self, request: &str) -> Answer {
        let (method, target) = request
            .split_once(' ')
            .unwrap_or_else(|| panic!("{request:?} is not \"METHOD /path\""));
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (target, None),
        };
        self.request = Some(Expected {
            method: method.to_string(),
            path: path.to_string(),
            query,
            range: None,
        });
        self
    }

    /// This answer may go unused: the script offers more than the rule
    /// under test lets the client take (a retry count, a deadline, a cap),
    /// so that the rule, not the end of the script, is what stops it.
    pub fn spare(mut self) -> Answer {
        self.spare = true;
        self
    }

    /// The request this answers carries `Range: range` too.
    pub fn with_range(mut self, range: &str) -> Answer {
        let request = self
            .request
            .as_mut()
            .expect("name the request (Answer::to) before its Range");
        request.range = Some(range.to_string());
        self
    }

    /// The answer comes after `delay` (a slow registry, just under the
    /// first-byte timeout).
    pub fn after(mut self, delay: std::time::Duration) -> Answer {
        self.delay = delay;
        self
    }

    /// The connection breaks after `body`, before the body's end.
    pub fn cut(mut self) -> Answer {
        self.cut = true;
        self
    }

    /// The connection breaks before an answer arrives.
    #[track_caller]
    pub fn broken() -> Answer {
        Answer {
            broken: true,
            ..Answer::new(0, b"")
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// What a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub method: String,
    pub uri: String,
    pub range: Option<String>,
    pub content_range: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Default)]
pub struct Scripted {
    answers: RefCell<VecDeque<Answer>>,
    pub asked: RefCell<Vec<Asked>>,
    /// Every wait the client asked for, instead of sleeping.
    pub slept: RefCell<Vec<std::time::Duration>>,
    /// A clock that moves only by the waits asked for and the answers'
    /// delays.
    pub clock: std::cell::Cell<std::time::Duration>,
}

impl Scripted {
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Scripted {
        let scripted = Scripted::default();
        *scripted.answers.borrow_mut() = answers.into_iter().collect();
        scripted
    }
}

impl Scripted {
    /// The methods asked, in order.
    pub fn methods(&self) -> Vec<String> {
        self.asked
            .borrow()
            .iter()
            .map(|a| a.method.clone())
            .collect()
    }
}

/// An answer the script holds but no request took is a test that did not
/// go as written.
impl Drop for Scripted {
    fn drop(&mut self) {
        let left = self.answers.get_mut();
        left.retain(|a| !a.spare);
        if let Some(first) = left.front() {
            if !std::thread::panicking() {
                panic!(
                    "scripted: {} answer(s) never used, the first written at {} for {}",
                    left.len(),
                    first.origin,
                    first
                        .request
                        .as_ref()
                        .map_or("no named request".to_string(), |e| e.to_string())
                );
            }
        }
    }
}

impl Transport for Scripted {
    type Body = Chunks;
    type Upload = NoUpload;

    fn send(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Chunks>, SendFailure> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let asked = Asked {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            range: header("range"),
            content_range: header("content-range"),
            body: request.body().clone(),
        };
        let answer = self.answers.borrow_mut().pop_front();
        let Some(answer) = answer else {
            panic!(
                "scripted: unexpected request {} {}: the script has no answer left",
                asked.method, asked.uri
            );
        };
        match &answer.request {
            Some(expected) if expected.matches(&asked) => {}
            Some(expected) => panic!(
                "scripted: request {} {} (Range: {:?}) came where the script's next \
                 answer (written at {}) is for {expected}",
                asked.method, asked.uri, asked.range, answer.origin
            ),
            None => panic!(
                "scripted: the answer written at {} names no request (Answer::to); \
                 it was taken by {} {}",
                answer.origin, asked.method, asked.uri
            ),
        }
        self.asked.borrow_mut().push(asked);
        self.clock.set(self.clock.get() + answer.delay);
        if answer.broken {
            return Err(SendFailure {
                retryable: true,
                error: StoreError::Transport("scripted: connection reset".into()),
            });
        }
        let mut builder = http::Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            builder = builder.header(*name, value);
        }
        Ok(builder.body(Chunks(answer.body, answer.cut)).unwrap())
    }

    fn start(&self, _: http::Request<()>) -> Result<NoUpload, StoreError> {
        unreachable!("scripted tests do not stream uploads")
    }

    fn sleep(&self, duration: std::time::Duration) {
        self.slept.borrow_mut().push(duration);
        self.clock.set(self.clock.get() + duration);
    }

    fn now(&self) -> std::time::Duration {
        self.clock.get()
    }
}

#[cfg(test)]
mod tests {
    //! The script's own checks: each fails the test that wrote it.
    use super::*;

    fn get(scripted: &Scripted, uri: &str, range: Option<&str>) -> u16 {
        let mut request = http::Request::get(uri);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let request = request.body(Vec::new()).unwrap();
        match scripted.send(&request) {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    #[test]
    fn answers_the_requests_it_names() {
        let scripted = Scripted::new([
            Answer::new(200, b"").to("GET /v2/r/tags/list?n=10"),
            Answer::new(206, b"")
                .to("GET /v2/r/blobs/sha256:*")
                .with_range("bytes=5-"),
            Answer::broken().to("GET /v2/"),
            Answer::new(503, b"").to("GET /v2/").spare(),
        ]);
        assert_eq!(get(&scripted, "http://r/v2/r/tags/list?n=10", None), 200);
        assert_eq!(
            get(&scripted, "http://r/v2/r/blobs/sha256:ab", Some("bytes=5-")),
            206
        );
        assert_eq!(get(&scripted, "http://r/v2/", None), 0);
        assert_eq!(scripted.methods(), ["GET"; 3]);
    }

    #[test]
    #[should_panic(expected = "came where the script's next answer")]
    fn another_path_fails() {
        let scripted = Scripted::new([Answer::new(200, b"").to("GET /v2/a/tags/list")]);
        get(&scripted, "http://r/v2/b/tags/list", None);
    }

    #[test]
    #[should_panic(expected = "came where the script's next answer")]
    fn another_query_or_range_fails() {
        let scripted = Scripted::new([Answer::new(200, b"")
            .to("GET /v2/r/blobs/x")
            .with_range("bytes=0-")]);
        get(&scripted, "http://r/v2/r/blobs/x", Some("bytes=1-"));
    }

    #[test]
    #[should_panic(expected = "no answer left")]
    fn a_request_past_the_script_fails() {
        let scripted = Scripted::new([]);
        get(&scripted, "http://r/v2/", None);
    }

    #[test]
    #[should_panic(expected = "names no request")]
    fn an_answer_naming_no_request_fails() {
        let scripted = Scripted::new([Answer::new(200, b"")]);
        get(&scripted, "http://r/v2/", None);
    }

    #[test]
    #[should_panic(expected = "never used")]
    fn an_unused_answer_fails() {
        let _scripted = Scripted::new([Answer::new(200, b"").to("GET /v2/")]);
    }
}
