//! Scripts of canned answers, each naming the request it answers: the one
//! request-matching style of every fake registry in the tests. The core's
//! scripted transport (`scripted.rs`), the host's wire fake
//! (`host-test/src/egress/hook_tests.rs`) and the testkit's TCP server
//! (`testkit/src/fake.rs`) all answer from a [`Script`]; each only turns a
//! request into a [`Request`] and an [`Answer`] into its own kind of
//! response.
//!
//! Compiled for this crate's tests and under the `script` feature (which
//! the host's and the testkit's tests enable): never in the component.
//!
//! ```text
//! Script::new([
//!     Answer::new(401, b"").to("GET /v2/").header("www-authenticate", challenge),
//!     Answer::new(200, token).to("GET http://127.0.0.1:5001/token?*"),
//!     Answer::new(206, part).to("GET /v2/r/blobs/sha256:*").with_range("bytes=0-9"),
//!     Answer::new(200, b"{}").to("GET /v2/r/tags/list").repeats(),
//!     Answer::new(503, b"").to("GET /v2/").spare(),
//! ])
//! ```
//!
//! The rules:
//! - an answer is for the request [`Answer::to`] names: its method, its
//!   path (a trailing `*` takes any rest), its query when one is given
//!   (else any; `?*` at the end takes any query), its scheme and authority
//!   when the name is a whole URL, and any header named by
//!   [`Answer::with_request_header`] or [`Answer::without_request_header`];
//! - answers are taken in the script's order, each once; an answer marked
//!   [`Answer::repeats`] instead answers every request it names, in any
//!   order and any number of times (for concurrent clients, and for
//!   requests a test does not count);
//! - a request that neither the next answer nor a repeating one names is
//!   a surprise: recorded, and the fake decides how to fail (the core's
//!   transport panics at once; the wire fake and the TCP server answer 599
//!   and go on);
//! - [`Script::check`] (also run when the script is dropped, unless the
//!   test is already failing or nothing came since the last check) fails
//!   the test on any surprise and on any answer never used, unless it was
//!   marked [`Answer::spare`].

use std::fmt;
use std::panic::Location;
use std::sync::Mutex;
use std::time::Duration;

/// A request as a fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// As sent: a whole URL (`http://host/path?query`, what a client
    /// hands its transport) or a request line's target (`/path?query`).
    pub uri: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: &str, uri: &str) -> Request {
        Request {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path, without scheme, authority or query.
    pub fn path(&self) -> &str {
        split_target(&self.uri).1
    }

    /// The query, if the URI has one.
    pub fn query(&self) -> Option<&str> {
        split_target(&self.uri).2
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.uri)?;
        if let Some(range) = self.header("range") {
            write!(f, " (Range: {range})")?;
        }
        Ok(())
    }
}

/// `scheme://authority` (if the URI is a whole URL), the path, the query.
fn split_target(uri: &str) -> (Option<&str>, &str, Option<&str>) {
    let (origin, rest) = match uri.find("://") {
        Some(at) => {
            let path_at = uri[at + 3..].find('/').map_or(uri.len(), |p| at + 3 + p);
            (Some(&uri[..path_at]), &uri[path_at..])
        }
        None => (None, uri),
    };
    match rest.split_once('?') {
        Some((path, query)) => (origin, path, Some(query)),
        None => (origin, rest, None),
    }
}

/// The request an answer is for (see the module's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    method: String,
    origin: Option<String>,
    path: String,
    query: Option<String>,
    /// Names lowercased; `None`: the header must be absent.
    headers: Vec<(String, Option<String>)>,
}

impl Expected {
    fn parse(request: &str) -> Expected {
        let (method, target) = request
            .split_once(' ')
            .unwrap_or_else(|| panic!("{request:?} is not \"METHOD /path\" or \"METHOD URL\""));
        let (origin, path, query) = split_target(target);
        assert!(
            path.starts_with('/') || (origin.is_some() && path.is_empty()),
            "{request:?}: the path must start with /"
        );
        Expected {
            method: method.to_string(),
            origin: origin.map(str::to_string),
            path: if path.is_empty() { "/" } else { path }.to_string(),
            query: query.map(str::to_string),
            headers: Vec::new(),
        }
    }

    fn matches(&self, request: &Request) -> bool {
        let (origin, path, query) = split_target(&request.uri);
        let path = if path.is_empty() { "/" } else { path };
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        let query_ok = match self.query.as_deref() {
            None => true,
            Some("*") => query.is_some(),
            Some(wanted) => query == Some(wanted),
        };
        let headers_ok = self
            .headers
            .iter()
            .all(|(name, value)| request.header(name) == value.as_deref());
        self.method == request.method
            && self.origin.as_deref().is_none_or(|o| origin == Some(o))
            && path_ok
            && query_ok
            && headers_ok
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.method)?;
        if let Some(origin) = &self.origin {
            write!(f, "{origin}")?;
        }
        write!(f, "{}", self.path)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        for (name, value) in &self.headers {
            match value {
                Some(value) => write!(f, " ({name}: {value})")?,
                None => write!(f, " (no {name})")?,
            }
        }
        Ok(())
    }
}

/// One canned answer, and the request it is for.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// No answer at all: the connection breaks before one comes.
    pub broken: bool,
    /// The body breaks after its bytes instead of ending.
    pub cut: bool,
    /// How long the answer takes to come (the core's transport moves its
    /// scripted clock by it; the TCP server sleeps).
    pub delay: Duration,
    expected: Option<Expected>,
    /// Where the script wrote it, for failure messages.
    origin: &'static Location<'static>,
    spare: bool,
    repeats: bool,
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
            delay: Duration::ZERO,
            expected: None,
            origin: Location::caller(),
            spare: false,
            repeats: false,
        }
    }

    /// The connection breaks before an answer arrives.
    #[track_caller]
    pub fn broken() -> Answer {
        Answer {
            broken: true,
            ..Answer::new(0, b"")
        }
    }

    /// Names the request this answers: `"METHOD /path"` or `"METHOD
    /// http://host:port/path"`, with `?query` to match the query too
    /// (`?*`: any query, but one); a path ending in `*` matches any path
    /// it begins.
    pub fn to(mut self, request: &str) -> Answer {
        self.expected = Some(Expected::parse(request));
        self
    }

    /// The request this answers carries header `name` with `value`.
    pub fn with_request_header(mut self, name: &str, value: &str) -> Answer {
        self.expected_mut()
            .headers
            .push((name.to_ascii_lowercase(), Some(value.to_string())));
        self
    }

    /// The request this answers carries no header `name` (credentials
    /// that must not go there, say).
    pub fn without_request_header(mut self, name: &str) -> Answer {
        self.expected_mut()
            .headers
            .push((name.to_ascii_lowercase(), None));
        self
    }

    /// The request this answers carries `Range: range`.
    pub fn with_range(self, range: &str) -> Answer {
        self.with_request_header("range", range)
    }

    fn expected_mut(&mut self) -> &mut Expected {
        self.expected
            .as_mut()
            .expect("name the request (Answer::to) before its headers")
    }

    /// This answer may go unused: the script offers more than the rule
    /// under test lets the client take (a retry count, a deadline, a cap),
    /// so that the rule, not the end of the script, is what stops it.
    pub fn spare(mut self) -> Answer {
        self.spare = true;
        self
    }

    /// This answer answers every request it names, any number of times
    /// and out of the script's order (still at least once, unless also
    /// [`Answer::spare`]).
    pub fn repeats(mut self) -> Answer {
        self.repeats = true;
        self
    }

    /// The answer comes after `delay`.
    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }

    /// The connection breaks after `body`, before the body's end.
    pub fn cut(mut self) -> Answer {
        self.cut = true;
        self
    }

    /// A header of the answer.
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn describe(&self) -> String {
        let request = self.expected.as_ref().expect("checked by Script::new");
        format!("{request} (written at {})", self.origin)
    }
}

/// Canned answers, what reached them, and what surprised them.
pub struct Script {
    state: Mutex<State>,
}

struct State {
    /// Answers taken in order, each once.
    queue: std::collections::VecDeque<Answer>,
    /// Repeating answers, in the script's order, with their use counts.
    routes: Vec<(Answer, usize)>,
    requests: Vec<Request>,
    surprises: Vec<String>,
    /// Checked since the last request: dropping it need not check again
    /// (a server's threads may drop it after the test checked it).
    checked: bool,
}

impl Script {
    /// A script of `answers`; each must name its request.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Script {
        let mut state = State {
            queue: Default::default(),
            routes: Vec::new(),
            requests: Vec::new(),
            surprises: Vec::new(),
            checked: false,
        };
        for answer in answers {
            assert!(
                answer.expected.is_some(),
                "the answer written at {} names no request (Answer::to)",
                answer.origin
            );
            if answer.repeats {
                state.routes.push((answer, 0));
            } else {
                state.queue.push_back(answer);
            }
        }
        Script {
            state: Mutex::new(state),
        }
    }

    /// The answer to `request`, which is recorded. `Err` names the
    /// surprise (also recorded, for [`Script::check`]): no answer the
    /// script offers now is for this request.
    pub fn answer(&self, request: Request) -> Result<Answer, String> {
        let mut state = self.lock();
        let next_matches = state
            .queue
            .front()
            .and_then(|a| a.expected.as_ref())
            .is_some_and(|e| e.matches(&request));
        let found = if next_matches {
            state.queue.pop_front()
        } else {
            state
                .routes
                .iter_mut()
                .find(|(a, _)| a.expected.as_ref().is_some_and(|e| e.matches(&request)))
                .map(|(answer, uses)| {
                    *uses += 1;
                    answer.clone()
                })
        };
        let result = found.ok_or_else(|| match state.queue.front() {
            Some(next) => format!(
                "request {request} came where the script's next answer is for {}",
                next.describe()
            ),
            None => format!("unexpected request {request}: the script has no answer left for it"),
        });
        if let Err(surprise) = &result {
            state.surprises.push(surprise.clone());
        }
        state.requests.push(request);
        state.checked = false;
        result
    }

    /// Every request that reached the script, surprises included, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// Fails (panics) on any surprise, and on any answer never used that
    /// is not spare.
    pub fn check(&self) {
        let mut state = self.lock();
        state.checked = true;
        if !state.surprises.is_empty() {
            panic!(
                "script: {} request(s) no answer was for:\n  {}",
                state.surprises.len(),
                state.surprises.join("\n  ")
            );
        }
        let unused: Vec<&Answer> = (state.queue.iter())
            .chain(
                state
                    .routes
                    .iter()
                    .filter(|(_, uses)| *uses == 0)
                    .map(|(a, _)| a),
            )
            .filter(|a| !a.spare)
            .collect();
        if let Some(first) = unused.first() {
            panic!(
                "script: {} answer(s) never used, the first for {}",
                unused.len(),
                first.describe()
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A fake's thread that panicked holding the lock leaves the record
        // as it was: still worth reading.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A script dropped with surprises or answers unused is a test that did not
/// go as written. A test already failing is left to its first panic.
impl Drop for Script {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.lock().checked {
            self.check();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The matching rules, as a fake applies them.
    use super::*;

    fn status(script: &Script, request: Request) -> Option<u16> {
        script.answer(request).ok().map(|a| a.status)
    }

    fn with(mut request: Request, name: &str, value: &str) -> Request {
        request.headers.push((name.to_string(), value.to_string()));
        request
    }

    #[test]
    fn a_request_is_matched_by_method_path_query_origin_and_headers() {
        let cases: [(&str, &str, Request, bool); 12] = [
            ("exact path", "GET /v2/", Request::new("GET", "/v2/"), true),
            (
                "another method",
                "GET /v2/",
                Request::new("HEAD", "/v2/"),
                false,
            ),
            (
                "any query when none named",
                "GET /v2/t",
                Request::new("GET", "/v2/t?n=1"),
                true,
            ),
            (
                "the query named",
                "GET /v2/t?n=1",
                Request::new("GET", "/v2/t?n=2"),
                false,
            ),
            (
                "any query, but one",
                "GET /t?*",
                Request::new("GET", "/t"),
                false,
            ),
            (
                "a path's rest",
                "GET /v2/r/*",
                Request::new("GET", "/v2/r/x/y"),
                true,
            ),
            (
                "not its beginning",
                "GET /v2/r/*",
                Request::new("GET", "/v2/q"),
                false,
            ),
            (
                "a whole URL's path",
                "GET /v2/",
                Request::new("GET", "http://r:5000/v2/"),
                true,
            ),
            (
                "the origin named",
                "GET http://r:5000/v2/",
                Request::new("GET", "http://r:5001/v2/"),
                false,
            ),
            (
                "an origin named takes a URL without a path",
                "GET http://r:5000/",
                Request::new("GET", "http://r:5000"),
                true,
            ),
            (
                "an origin named refuses a bare target",
                "GET http://r:5000/v2/",
                Request::new("GET", "/v2/"),
                false,
            ),
            (
                "a header's case",
                "GET /v2/",
                with(Request::new("GET", "/v2/"), "Range", "bytes=0-"),
                true,
            ),
        ];
        for (what, name, request, matches) in cases {
            let expected = Expected::parse(name);
            assert_eq!(expected.matches(&request), matches, "{what}");
        }
    }

    #[test]
    fn request_headers_are_matched_present_or_absent() {
        let script = Script::new([
            Answer::new(206, b"")
                .to("GET /b")
                .with_range("bytes=0-")
                .without_request_header("authorization"),
            Answer::new(200, b"").to("GET /b").repeats(),
        ]);
        let ranged = with(Request::new("GET", "/b"), "range", "bytes=0-");
        // With credentials: not the first answer's; the repeating one's.
        let credentialed = with(ranged.clone(), "authorization", "Bearer t");
        assert_eq!(status(&script, credentialed), Some(200));
        assert_eq!(status(&script, ranged), Some(206));
    }

    #[test]
    fn answers_come_in_order_and_repeating_ones_any_number_of_times() {
        let script = Script::new([
            Answer::new(200, b"").to("GET /v2/").repeats(),
            Answer::new(401, b"").to("GET /v2/"),
            Answer::new(202, b"").to("POST /v2/r/blobs/uploads/"),
            Answer::new(201, b"").to("PUT /v2/r/blobs/uploads/*"),
        ]);
        // The next answer in order wins over a repeating one.
        assert_eq!(status(&script, Request::new("GET", "/v2/")), Some(401));
        assert_eq!(status(&script, Request::new("GET", "/v2/")), Some(200));
        assert_eq!(
            status(&script, Request::new("POST", "/v2/r/blobs/uploads/")),
            Some(202)
        );
        assert_eq!(status(&script, Request::new("GET", "/v2/")), Some(200));
        assert_eq!(
            status(&script, Request::new("PUT", "/v2/r/blobs/uploads/1")),
            Some(201)
        );
        assert_eq!(script.requests().len(), 5);
        script.check();
    }

    #[test]
    #[should_panic(expected = "1 request(s) no answer was for:\n  request GET /b came where")]
    fn a_surprise_is_answered_err_recorded_and_fails_the_check() {
        let script = Script::new([Answer::new(200, b"").to("GET /a")]);
        let surprise = script.answer(Request::new("GET", "/b")).unwrap_err();
        assert!(
            surprise.contains("GET /a (written at src/script.rs:"),
            "{surprise}"
        );
        assert_eq!(script.requests(), [Request::new("GET", "/b")]);
        // The script goes on; the surprise fails the check when it is
        // dropped all the same.
        assert_eq!(status(&script, Request::new("GET", "/a")), Some(200));
    }

    #[test]
    #[should_panic(expected = "no answer left")]
    fn a_request_past_the_script_fails_the_check() {
        let script = Script::new([]);
        assert!(script.answer(Request::new("GET", "/v2/")).is_err());
    }

    #[test]
    #[should_panic(expected = "never used, the first for GET /v2/")]
    fn a_repeating_answer_never_used_fails() {
        let _script = Script::new([Answer::new(200, b"").to("GET /v2/").repeats()]);
    }

    #[test]
    fn spare_answers_may_go_unused() {
        let script = Script::new([
            Answer::new(200, b"").to("GET /v2/").repeats().spare(),
            Answer::new(503, b"").to("GET /v2/").spare(),
        ]);
        script.check();
    }

    #[test]
    #[should_panic(expected = "names no request")]
    fn an_answer_naming_no_request_fails() {
        Script::new([Answer::new(200, b"")]);
    }
}
