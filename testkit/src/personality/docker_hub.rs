//! Docker Hub: every manifest GET is a pull counted against a budget and
//! answered with `ratelimit-limit` / `ratelimit-remaining`; past the
//! budget the manifest GET gets 429; HEAD is free. Tag lists come 100 a
//! page with `Link`.

use super::{error, locked, Endpoint, Paging, Request, Rules, Upstream};
use crate::wire::Message;
use std::io;
use std::sync::Mutex;

/// Docker Hub's rules; the budget is a setting, the pulls a counter.
#[derive(Debug)]
pub struct DockerHub {
    /// Manifest GETs allowed in the window. The docs disagree ("Personal
    /// 100 an hour or 200 per 6 hours; anonymous 10 an hour per IP or 100
    /// per 6 hours", REGISTRY-RULES.md, Docker Hub): the default is a
    /// logged-in user's 200 per 6 hours, as a backup runs logged in.
    /// Nothing refills it during a test.
    pub budget: usize,
    /// The window in seconds, shown as `;w=` in the headers (6 hours, with
    /// the budget above). The header's form (`N;w=SECONDS`) is ours: the
    /// sources name the headers only.
    pub window_secs: u64,
    /// Every manifest GET so far: its reference and whether it was within
    /// the budget.
    pulls: Mutex<Vec<(String, bool)>>,
}

impl Default for DockerHub {
    fn default() -> Self {
        DockerHub {
            budget: 200,
            window_secs: 6 * 3600,
            pulls: Mutex::new(Vec::new()),
        }
    }
}

impl DockerHub {
    /// "Tag lists: 100 a page with `Link`" (REGISTRY-RULES.md, Docker Hub);
    /// a larger `n` still gets 100 (our reading, the stricter one).
    pub const PAGING: Paging = Paging {
        default_page: 100,
        max_page: Some(100),
        sorted: true,
        cursor: "last",
        opaque: false,
    };

    pub fn new() -> DockerHub {
        DockerHub::default()
    }

    /// With a budget of `budget` manifest GETs.
    pub fn with_budget(budget: usize) -> DockerHub {
        DockerHub {
            budget,
            ..DockerHub::default()
        }
    }

    /// Manifest GETs so far, within the budget or not.
    pub fn manifest_gets(&self) -> usize {
        locked(&self.pulls).len()
    }

    /// The reference (tag or digest) of every manifest GET so far, in
    /// order, and whether it was within the budget.
    pub fn manifest_get_log(&self) -> Vec<(String, bool)> {
        locked(&self.pulls).clone()
    }

    /// Manifest GETs so far whose tag starts with `prefix` (`packfile-`,
    /// `config`): the pulls of one kind of object.
    pub fn manifest_gets_of(&self, prefix: &str) -> usize {
        locked(&self.pulls)
            .iter()
            .filter(|(r, _)| r.starts_with(prefix))
            .count()
    }

    fn headers(&self, remaining: usize) -> Vec<(String, String)> {
        vec![
            (
                "ratelimit-limit".into(),
                format!("{};w={}", self.budget, self.window_secs),
            ),
            (
                "ratelimit-remaining".into(),
                format!("{remaining};w={}", self.window_secs),
            ),
        ]
    }
}

impl Rules for DockerHub {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        match (&request.route.endpoint, request.method()) {
            // "A pull is a manifest GET; HEAD is free ('Using GET emulates
            // a real pull and counts towards the limit. Using HEAD won't',
            // docker docs usage/pulls)."
            (Endpoint::Manifest(reference), "GET") => {
                let remaining = {
                    let mut pulls = locked(&self.pulls);
                    let used = pulls.iter().filter(|(_, within)| *within).count();
                    let within = used < self.budget;
                    pulls.push((reference.clone(), within));
                    within.then(|| self.budget - used - 1)
                };
                let Some(remaining) = remaining else {
                    // "Over the limit: 429 on the manifest request, with
                    // `ratelimit-limit` and `ratelimit-remaining` headers."
                    // The text is ours.
                    let mut refusal = error(
                        429,
                        "TOOMANYREQUESTS",
                        "You have reached your pull rate limit.",
                        None,
                    );
                    refusal.headers.extend(self.headers(0));
                    return Ok(refusal);
                };
                let mut response = upstream.forward(&request.message)?;
                response.headers.extend(self.headers(remaining));
                Ok(response)
            }
            (Endpoint::TagList, "GET") => DockerHub::PAGING.page(request, upstream),
            _ => upstream.forward(&request.message),
        }
    }
}
