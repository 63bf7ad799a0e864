//! An offline transport: answers the client's requests from a fuzz input
//! instead of a network (the `tag_list` and `link` checks).

use super::*;

/// One canned answer of the `tag_list` input.
pub(super) struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Canned {
    pub(super) fn read(text: &str) -> Canned {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.split('\n');
        let status = lines.next().unwrap_or("").trim().parse().unwrap_or(200);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Canned {
            status,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }
}

/// A request the offline transport was sent, and what it answered.
pub(super) struct Asked {
    pub(super) uri: String,
    pub(super) body: String,
    pub(super) status: Option<u16>,
    pub(super) answer: Vec<u8>,
}

/// Answers requests from the input, in order; once the input is used up,
/// every request fails as a refused connection would.
pub(super) struct Offline {
    answers: RefCell<VecDeque<Canned>>,
    pub(super) asked: RefCell<Vec<Asked>>,
}

pub(super) struct Body(Vec<u8>);

impl ResponseBody for Body {
    fn read_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let n = max.min(self.0.len());
        Ok(Some(self.0.drain(..n).collect()))
    }
}

pub(super) struct NoUpload;

impl Upload for NoUpload {
    type Body = Body;
    fn write(&mut self, _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("offline".into()))
    }
    fn finish(self) -> Result<Response<Body>, StoreError> {
        Err(StoreError::Unsupported("offline".into()))
    }
}

impl Transport for Offline {
    type Body = Body;
    type Upload = NoUpload;

    fn send(&self, request: &Request<Vec<u8>>) -> Result<Response<Body>, SendFailure> {
        let mut asked = Asked {
            uri: request.uri().to_string(),
            body: String::from_utf8_lossy(request.body()).into_owned(),
            status: None,
            answer: Vec::new(),
        };
        let next = self.answers.borrow_mut().pop_front();
        let Some(canned) = next else {
            self.asked.borrow_mut().push(asked);
            return Err(SendFailure {
                retryable: false,
                error: StoreError::Transport("connection refused".into()),
            });
        };
        let mut response = Response::builder().status(canned.status);
        for (name, value) in &canned.headers {
            // What a real HTTP stack would refuse never reaches the client.
            if http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && http::HeaderValue::from_bytes(value.as_bytes()).is_ok()
            {
                response = response.header(name.as_str(), value.as_bytes());
            }
        }
        let response = match response.body(Body(canned.body.clone())) {
            Ok(r) => r,
            // An impossible status: answer 500 instead.
            Err(_) => Response::builder()
                .status(500)
                .body(Body(canned.body.clone()))
                .unwrap(),
        };
        asked.status = Some(response.status().as_u16());
        asked.answer = canned.body;
        self.asked.borrow_mut().push(asked);
        Ok(response)
    }

    fn start(&self, _: Request<()>) -> Result<NoUpload, StoreError> {
        Err(StoreError::Unsupported("offline".into()))
    }
}

pub(super) fn offline_client(answers: Vec<Canned>) -> RegistryClient<Offline> {
    let transport = Offline {
        answers: RefCell::new(answers.into()),
        asked: RefCell::new(Vec::new()),
    };
    let auth = Authenticator::new(BASE, REPOSITORY, Credentials::Anonymous);
    let policy = Policy {
        retries: 2,
        ..DEFAULT_POLICY
    };
    RegistryClient::new(transport, BASE.into(), REPOSITORY.into(), auth).with_policy(policy)
}
