//! Google Artifact Registry (and GCR): a manifest still referenced by a
//! tag cannot be deleted by digest; deleting by tag removes the tag; no
//! chunked uploads. Run it in front of distribution v3, which untags on
//! DELETE by tag (distribution 2.8 refuses that).

use super::{error, locked, status_of, Endpoint, Request, Route, Rules, Upstream};
use crate::wire::Message;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Mutex;

/// Artifact Registry's rules. The tags of each repository are learnt once
/// from the registry (a HEAD per tag, at the first DELETE by digest), then
/// kept up to date from the manifest PUTs and DELETEs that pass through,
/// so that a delete does not cost a request per tag: every write in the
/// tests goes through the proxy.
#[derive(Debug, Default)]
pub struct ArtifactRegistry {
    /// Per repository: tag -> manifest digest.
    tags: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

impl ArtifactRegistry {
    pub fn new() -> ArtifactRegistry {
        ArtifactRegistry::default()
    }

    /// The tags of `repository` pointing at `digest`, learning the
    /// repository's tags first if need be.
    fn tags_of(
        &self,
        repository: &str,
        digest: &str,
        upstream: &Upstream,
    ) -> io::Result<Vec<String>> {
        let mut all = locked(&self.tags);
        if !all.contains_key(repository) {
            let mut known = BTreeMap::new();
            if let Ok(tags) = upstream.all_tags(repository)? {
                for tag in tags {
                    let head =
                        upstream.send("HEAD", &format!("/v2/{repository}/manifests/{tag}"))?;
                    if let Some(d) = head.header("docker-content-digest") {
                        known.insert(tag, d.to_string());
                    }
                }
            }
            all.insert(repository.to_string(), known);
        }
        Ok(all[repository]
            .iter()
            .filter(|(_, d)| d.as_str() == digest)
            .map(|(t, _)| t.clone())
            .collect())
    }

    /// Keeps the learnt tags right after a write that passed.
    fn learn(&self, repository: &str, method: &str, reference: &str, response: &Message) {
        let mut all = locked(&self.tags);
        let Some(known) = all.get_mut(repository) else {
            return; // not learnt yet: the first delete reads them all
        };
        let ok = matches!(status_of(response), 200..=299);
        match method {
            "PUT" if ok && !Route::is_digest(reference) => {
                if let Some(d) = response.header("docker-content-digest") {
                    known.insert(reference.to_string(), d.to_string());
                }
            }
            "DELETE" if ok && Route::is_digest(reference) => {
                known.retain(|_, d| d != reference);
            }
            "DELETE" if ok => {
                known.remove(reference);
            }
            _ => {}
        }
    }
}

impl Rules for ArtifactRegistry {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        // "Artifact Registry does not support Docker chunked uploads. ...
        // You must use monolithic uploads" (its Docker API reference,
        // quoted in dotnet/sdk-container-builds#287; FIELD-NOTES section 2:
        // "monolithic or one streamed PATCH"). A PATCH with a
        // `Content-Range` is refused; the status and code are ours (the
        // sources give none), the OCI spec's for an operation a registry
        // does not support.
        if request.method() == "PATCH"
            && matches!(request.route.endpoint, Endpoint::Upload(_))
            && request.message.header("content-range").is_some()
        {
            return Ok(error(
                405,
                "UNSUPPORTED",
                "chunked uploads are not supported: use a monolithic upload",
                None,
            ));
        }
        let (Some(repository), Endpoint::Manifest(reference)) =
            (&request.route.repository, &request.route.endpoint)
        else {
            return upstream.forward(&request.message);
        };
        if request.method() == "DELETE" && Route::is_digest(reference) {
            // "A manifest still referenced by a tag cannot be deleted by
            // digest: `GOOGLE_MANIFEST_DANGLING_TAG` (genuinetools/reg#136,
            // fluxcd/pkg#328): delete the tag first (DELETE by tag), then
            // the digest" (REGISTRY-RULES.md, Artifact Registry).
            if let Some(tag) = self.tags_of(repository, reference, upstream)?.first() {
                return Ok(error(
                    400,
                    "GOOGLE_MANIFEST_DANGLING_TAG",
                    &format!("Manifest is still referenced by tag: {tag}"),
                    None,
                ));
            }
        }
        let response = upstream.forward(&request.message)?;
        self.learn(repository, request.method(), reference, &response);
        Ok(response)
    }
}
