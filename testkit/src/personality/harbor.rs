//! Harbor: a repository lives in a project (its first path segment),
//! which must be created before anything is pushed; a request for a
//! project that does not exist gets the token service's 401.

use super::{locked, reply, Request, Rules, Upstream};
use crate::wire::Message;
use std::collections::HashSet;
use std::io;
use std::sync::Mutex;

/// Harbor's rules; the created projects are filled by the test
/// ([`Harbor::create_project`]).
#[derive(Debug, Default)]
pub struct Harbor {
    projects: Mutex<HashSet<String>>,
}

impl Harbor {
    pub fn new() -> Harbor {
        Harbor::default()
    }

    /// What creating a project in Harbor's UI or API does.
    pub fn create_project(&self, name: &str) {
        locked(&self.projects).insert(name.to_string());
    }
}

impl Rules for Harbor {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        if let Some(repository) = &request.route.repository {
            let project = repository.split('/').next().unwrap_or_default();
            if !locked(&self.projects).contains(project) {
                // "The project (the first path segment) must exist before a
                // push (goharbor/harbor#20544, #6892); its token service
                // answers 401 UNAUTHORIZED "project X not found" with an
                // empty challenge" (REGISTRY-RULES.md, Harbor). The empty
                // challenge: a `WWW-Authenticate` header with no value.
                let body = serde_json::json!({"errors": [{
                    "code": "UNAUTHORIZED",
                    "message": format!("project {project} not found"),
                }]});
                return Ok(reply(
                    401,
                    vec![
                        ("Content-Type".into(), "application/json".into()),
                        ("WWW-Authenticate".into(), String::new()),
                    ],
                    serde_json::to_vec(&body).unwrap(),
                ));
            }
        }
        upstream.forward(&request.message)
    }
}
