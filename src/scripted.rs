//! A scripted `Transport` for native tests: answers requests from a queue of
//! canned responses and records what was asked. It stands in for registry
//! behaviour distribution 2.8 does not show (paging tags, ignoring `Range`,
//! corrupting bodies).

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
}

impl Answer {
    pub fn new(status: u16, body: &[u8]) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
            broken: false,
            cut: false,
            delay: std::time::Duration::ZERO,
        }
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
        Scripted {
            answers: RefCell::new(answers.into_iter().collect()),
            ..Scripted::default()
        }
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
        self.asked.borrow_mut().push(Asked {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            range: header("range"),
            content_range: header("content-range"),
            body: request.body().clone(),
        });
        let answer = self
            .answers
            .borrow_mut()
            .pop_front()
            .expect("the script has an answer for every request");
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
