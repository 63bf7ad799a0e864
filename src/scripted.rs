//! A scripted `Transport` for native tests: answers requests from a
//! [`Script`] of canned responses and records what was asked. It stands in
//! for registry behaviour distribution 2.8 does not show (paging tags,
//! ignoring `Range`, corrupting bodies).
//!
//! Each answer names the request it answers ([`Answer::to`]; the rules are
//! `script.rs`'s, shared with the host's and the testkit's fakes). A request
//! no answer is for fails the test at once, naming it and the answer the
//! script expected; an answer never used (unless spare) fails it when the
//! transport is dropped. A streamed upload (`start`) is recorded as it is
//! written and answered from the script at `finish`, as one request whose
//! body is every byte written.

use crate::error::StoreError;
use crate::transport::{ResponseBody, SendFailure, Transport, Upload};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

pub use crate::script::Answer;
use crate::script::{Request, Script};

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

/// What a request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub method: String,
    pub uri: String,
    pub range: Option<String>,
    pub content_range: Option<String>,
    pub body: Vec<u8>,
}

/// What the transport and its uploads share: an upload is answered after
/// `start` has returned, from the same script, on the same clock.
#[derive(Clone)]
struct Shared {
    script: Rc<Script>,
    asked: Rc<RefCell<Vec<Asked>>>,
    clock: Rc<Cell<Duration>>,
}

impl Shared {
    /// Answers `asked` (sent with `headers`) from the script, failing the
    /// test at once on a surprise; a broken answer is a failure to send.
    fn answer(
        &self,
        asked: Asked,
        headers: Vec<(String, String)>,
    ) -> Result<http::Response<Chunks>, SendFailure> {
        let request = Request {
            method: asked.method.clone(),
            uri: asked.uri.clone(),
            headers,
            // Kept once, in `asked`.
            body: Vec::new(),
        };
        let answer = self
            .script
            .answer(request)
            .unwrap_or_else(|surprise| panic!("scripted: {surprise}"));
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
            builder = builder.header(name, value);
        }
        Ok(builder.body(Chunks(answer.body, answer.cut)).unwrap())
    }
}

/// What the script and the tests see of a request: its record, and its
/// headers (names lowercased, as `http` keeps them).
fn asked<B>(request: &http::Request<B>, body: Vec<u8>) -> (Asked, Vec<(String, String)>) {
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let asked = Asked {
        method: request.method().to_string(),
        uri: request.uri().to_string(),
        range: header("range"),
        content_range: header("content-range"),
        body,
    };
    (asked, headers)
}

/// A streamed request body being written: recorded, then answered at
/// `finish`. Dropped without `finish`, it never reaches the script (the
/// registry never saw a whole request).
pub struct ScriptedUpload {
    shared: Shared,
    asked: Asked,
    headers: Vec<(String, String)>,
}

impl Upload for ScriptedUpload {
    type Body = Chunks;

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.asked.body.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(self) -> Result<http::Response<Chunks>, StoreError> {
        self.shared
            .answer(self.asked, self.headers)
            .map_err(|failure| failure.error)
    }
}

pub struct Scripted {
    shared: Shared,
    pub asked: Rc<RefCell<Vec<Asked>>>,
    /// Every wait the client asked for, instead of sleeping.
    pub slept: RefCell<Vec<Duration>>,
}

impl Scripted {
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Scripted {
        let shared = Shared {
            script: Rc::new(Script::new(answers)),
            asked: Rc::default(),
            // A clock that moves only by the waits asked for and the
            // answers' delays.
            clock: Rc::default(),
        };
        Scripted {
            asked: shared.asked.clone(),
            shared,
            slept: RefCell::default(),
        }
    }

    /// The methods asked, in order.
    pub fn methods(&self) -> Vec<String> {
        self.asked
            .borrow()
            .iter()
            .map(|a| a.method.clone())
            .collect()
    }
}

impl Transport for Scripted {
    type Body = Chunks;
    type Upload = ScriptedUpload;

    fn send(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<http::Response<Chunks>, SendFailure> {
        let (asked, headers) = asked(request, request.body().clone());
        self.shared.answer(asked, headers)
    }

    fn start(&self, request: http::Request<()>) -> Result<ScriptedUpload, StoreError> {
        let (asked, headers) = asked(&request, Vec::new());
        Ok(ScriptedUpload {
            shared: self.shared.clone(),
            asked,
            headers,
        })
    }

    fn sleep(&self, duration: Duration) {
        self.slept.borrow_mut().push(duration);
        self.shared.clock.set(self.shared.clock.get() + duration);
    }

    fn now(&self) -> Duration {
        self.shared.clock.get()
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
    fn a_streamed_upload_is_answered_at_finish_with_every_byte_written() {
        let scripted = Scripted::new([
            Answer::new(202, b"")
                .to("PATCH /v2/r/blobs/uploads/1")
                .header("location", "/v2/r/blobs/uploads/1?_state=2"),
            Answer::broken().to("PATCH /v2/r/blobs/uploads/2"),
        ]);
        let start = |uri: &str| {
            let request = http::Request::patch(uri).body(()).unwrap();
            scripted.start(request).unwrap()
        };
        let mut upload = start("http://r/v2/r/blobs/uploads/1");
        upload.write(b"hello ").unwrap();
        upload.write(b"world").unwrap();
        // Nothing is asked of the script until the body is complete.
        assert!(scripted.asked.borrow().is_empty());
        let response = upload.finish().unwrap();
        assert_eq!(response.status(), 202);
        assert_eq!(
            response.headers()["location"],
            "/v2/r/blobs/uploads/1?_state=2"
        );
        assert_eq!(scripted.asked.borrow()[0].body, b"hello world");
        // An upload dropped unfinished never reaches the script; a broken
        // answer is the upload's failure.
        drop(start("http://r/v2/r/blobs/uploads/3"));
        let mut upload = start("http://r/v2/r/blobs/uploads/2");
        upload.write(b"x").unwrap();
        assert!(matches!(upload.finish(), Err(StoreError::Transport(_))));
        assert_eq!(scripted.methods(), ["PATCH", "PATCH"]);
    }

    #[test]
    #[should_panic(expected = "never used")]
    fn an_unused_answer_fails() {
        let _scripted = Scripted::new([Answer::new(200, b"").to("GET /v2/")]);
    }
}
