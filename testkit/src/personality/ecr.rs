//! Amazon ECR: repositories must be created before any request reaches
//! them, upload parts are bounded both ways, manifest PUTs are rate
//! limited, `n` over 1000 is refused and tag pages are neither sorted nor
//! named by a tag. [`Ecr::with_patch_bug`] adds ECR's open PATCH bug.

use super::{error, locked, status_of, Endpoint, Paging, Request, Rules, Upstream};
use crate::wire::Message;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// ECR's rules and settings; the created repositories are filled by the
/// test ([`Ecr::create_repository`]).
#[derive(Debug)]
pub struct Ecr {
    /// The registry id (the AWS account) named in `NAME_UNKNOWN`.
    pub registry_id: String,
    /// The largest PATCH body: 20,971,520 bytes. The sources disagree:
    /// 10 MiB by the service quotas page, 20,971,520 bytes by the
    /// UploadLayerPart API reference (REGISTRY-RULES.md, ECR); we take the
    /// API reference, the one the service's own error text names ("layer
    /// part size exceeds the maximum of 20971520 bytes", as quoted in
    /// issue 20). Set 10 MiB here to test the other.
    pub max_part: usize,
    /// The smallest part but the last: 5 MiB ("LayerPartTooSmallException:
    /// All layer parts except the last part should be at least 5MB",
    /// dotnet/sdk-container-builds#424).
    pub min_part: usize,
    /// Manifest PUTs a second: "PutImage 10 per second by default: bursts
    /// of manifest PUTs get 429" (REGISTRY-RULES.md, ECR).
    pub manifest_puts_per_second: usize,
    /// The largest `n` of a tag list: "`n` over 1000 answers 400".
    pub max_n: usize,
    /// aws/containers-roadmap#2831 (open, 2026-06): "an intermediate PATCH
    /// is answered 201 instead of 202, and the `Range` does not advance
    /// after the second or any later PATCH" (REGISTRY-RULES.md). The rules
    /// page adds "the body is silently discarded"; the reporter
    /// corrected that in the same thread (2026-06-24) after checking the
    /// stored blob byte for byte: "ECR is **not** discarding PATCH bodies.
    /// Each chunk is stored correctly. The `Range` response header is
    /// simply unreliable — it gets stuck at the first chunk boundary", and
    /// crashappsec/chalk#682 works round it by tracking what was sent. So
    /// the bodies are stored here, and the `Range` stays at the first
    /// chunk's end.
    pub patch_bug: bool,
    created: Mutex<HashSet<String>>,
    sessions: Mutex<HashMap<String, Session>>,
    manifest_puts: Mutex<VecDeque<Instant>>,
}

/// One upload session as ECR sees it.
#[derive(Debug, Default)]
struct Session {
    /// The length of every PATCH body, in order.
    parts: Vec<usize>,
    /// The last answer's `Location` and `Range` (what the PATCH bug repeats).
    last_location: Option<String>,
    last_range: Option<String>,
}

impl Default for Ecr {
    fn default() -> Self {
        Ecr {
            registry_id: "123456789012".into(),
            max_part: 20_971_520,
            min_part: 5 << 20,
            manifest_puts_per_second: 10,
            max_n: 1000,
            patch_bug: false,
            created: Mutex::new(HashSet::new()),
            sessions: Mutex::new(HashMap::new()),
            manifest_puts: Mutex::new(VecDeque::new()),
        }
    }
}

impl Ecr {
    /// "Tag lists: `n` over 1000 answers 400; pages of 100, not sorted,
    /// opaque `last`" (REGISTRY-RULES.md, ECR; FIELD-NOTES: "`last` is
    /// opaque and tag order is not lexical"). An `n` up to 1000 is
    /// honoured (only over 1000 is refused).
    pub const PAGING: Paging = Paging {
        default_page: 100,
        max_page: None,
        sorted: false,
        cursor: "last",
        opaque: true,
    };

    pub fn new() -> Ecr {
        Ecr::default()
    }

    /// ECR with its PATCH bug (aws/containers-roadmap#2831).
    pub fn with_patch_bug() -> Ecr {
        Ecr {
            patch_bug: true,
            ..Ecr::default()
        }
    }

    /// What `aws ecr create-repository --repository-name NAME` does.
    pub fn create_repository(&self, name: &str) {
        locked(&self.created).insert(name.to_string());
    }

    /// The length of each PATCH body of every session so far.
    pub fn parts(&self) -> Vec<Vec<usize>> {
        locked(&self.sessions)
            .values()
            .map(|s| s.parts.clone())
            .collect()
    }

    fn refuse_unknown_repository(&self, repository: &str) -> Option<Message> {
        if locked(&self.created).contains(repository) {
            return None;
        }
        // "The repository must exist before any push: `NAME_UNKNOWN: The
        // repository with name '...' does not exist in the registry with
        // id '...'`" (regclient/regclient#869,
        // concourse/docker-image-resource#197).
        Some(error(
            404,
            "NAME_UNKNOWN",
            &format!(
                "The repository with name '{repository}' does not exist in the registry with id '{}'",
                self.registry_id
            ),
            None,
        ))
    }

    fn patch(&self, session: &str, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        let len = request.body().len();
        if len > self.max_part {
            return Ok(error(
                400,
                "BLOB_UPLOAD_INVALID",
                &format!(
                    "layer part size exceeds the maximum of {} bytes",
                    self.max_part
                ),
                None,
            ));
        }
        let earlier = {
            let mut sessions = locked(&self.sessions);
            let state = sessions.entry(session.to_string()).or_default();
            state.parts.push(len);
            state.parts.len() - 1
        };
        let mut response = upstream.forward(&request.message)?;
        if status_of(&response) == 202 {
            let mut sessions = locked(&self.sessions);
            let state = sessions.entry(session.to_string()).or_default();
            state.last_location = response.header("location").map(String::from);
            if earlier == 0 {
                state.last_range = response.header("range").map(String::from);
            }
            if self.patch_bug {
                // #2831: "an intermediate PATCH is answered 201 instead of
                // 202"; from the second PATCH on the `Range` stays "stuck
                // at the first chunk boundary" while the body is stored.
                response.start = "HTTP/1.1 201 Created".into();
                if earlier > 0 {
                    if let Some(first) = state.last_range.clone() {
                        response
                            .headers
                            .retain(|(n, _)| !n.eq_ignore_ascii_case("range"));
                        response.headers.push(("Range".into(), first));
                    }
                }
            }
        }
        Ok(response)
    }

    fn close(&self, session: &str, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        let mut parts = locked(&self.sessions)
            .get(session)
            .map(|s| s.parts.clone())
            .unwrap_or_default();
        if !request.body().is_empty() {
            parts.push(request.body().len());
        }
        let but_last = &parts[..parts.len().saturating_sub(1)];
        if but_last.iter().any(|&p| p < self.min_part) {
            // dotnet/sdk-container-builds#424; the code is ours (the
            // source quotes the exception's text only).
            return Ok(error(
                400,
                "BLOB_UPLOAD_INVALID",
                "LayerPartTooSmallException: All layer parts except the last part should be at least 5MB",
                None,
            ));
        }
        let response = upstream.forward(&request.message)?;
        if status_of(&response) == 201 {
            locked(&self.sessions).remove(session);
        }
        Ok(response)
    }

    /// Whether one more manifest PUT fits in this second.
    fn admit_manifest_put(&self) -> bool {
        let now = Instant::now();
        let mut puts = locked(&self.manifest_puts);
        while puts
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            puts.pop_front();
        }
        if puts.len() >= self.manifest_puts_per_second {
            return false;
        }
        puts.push_back(now);
        true
    }
}

impl Rules for Ecr {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        if let Some(repository) = &request.route.repository {
            if let Some(refusal) = self.refuse_unknown_repository(repository) {
                return Ok(refusal);
            }
        }
        match (&request.route.endpoint, request.method()) {
            (Endpoint::Upload(session), "PATCH") => self.patch(session, request, upstream),
            (Endpoint::Upload(session), "PUT") => self.close(session, request, upstream),
            (Endpoint::Manifest(_), "PUT") if !self.admit_manifest_put() => Ok(error(
                429,
                "TOOMANYREQUESTS",
                // The text is ours: the sources name the limit, not the words.
                "Rate exceeded",
                None,
            )),
            (Endpoint::TagList, "GET") => {
                let n = request.query("n").and_then(|n| n.parse::<usize>().ok());
                if n.is_some_and(|n| n > self.max_n) {
                    // The code is ours (distribution's for a bad `n`).
                    return Ok(error(
                        400,
                        "PAGINATION_NUMBER_INVALID",
                        &format!(
                            "invalid number of results requested: at most {}",
                            self.max_n
                        ),
                        None,
                    ));
                }
                Ecr::PAGING.page(request, upstream)
            }
            _ => upstream.forward(&request.message),
        }
    }
}
