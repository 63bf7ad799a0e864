//! Synthetic packfiles pushed straight to the registry in the store's
//! exact layout: the manifest of a real packfile (written by our plugin in
//! a real backup) is read back and used as the template, so the tag name
//! (prefix included), media types, config and annotations are the
//! store's own; each synthetic object gets its own MAC (tag and
//! `io.plakar.kloset.mac` annotation) and all of them share one small
//! blob, pushed once. Manifests are PUT over a few kept-alive connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::wire::Connection;
use crate::BenchError;

/// Manifest PUTs in flight at once.
const PUSHERS: usize = 8;
/// The bytes every synthetic packfile's layer points at.
const BLOB: &[u8] = b"kloset-bench: the shared blob of synthetic packfiles\n";

fn failed(what: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(format!("synthetic packfiles: {what}"))
}

/// The MAC of synthetic packfile number `index`: deterministic, so a step
/// can name objects pushed by an earlier one.
pub(super) fn mac(index: usize) -> [u8; 32] {
    Sha256::digest(format!("kloset-bench scale {index}").as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every synthetic manifest is made from.
pub(super) struct Synthetic {
    authority: String,
    repo: String,
    /// The tag's part before `packfile-<mac>` (`PREFIX.` or nothing).
    prefix: String,
    media_type: String,
    manifest: Value,
    real_mac: String,
    pushed: usize,
}

impl Synthetic {
    /// Reads a real packfile's manifest from `repo` (on `authority`,
    /// loopback) and pushes the shared blob.
    pub(super) fn prepare(authority: &str, repo: &str) -> Result<Synthetic, BenchError> {
        let mut conn = Connection::new(authority);
        let listed = conn
            .send("GET", &format!("/v2/{repo}/tags/list"), &[], &[])
            .map_err(failed)?;
        let tags: Value = serde_json::from_slice(&listed.body).map_err(failed)?;
        let tag = tags["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|t| {
                t.len() >= 73 && t[t.len() - 73..].starts_with("packfile-") && !t.ends_with(".d")
            })
            .ok_or_else(|| failed(format!("no packfile tag in {repo} to copy the layout of")))?
            .to_string();
        let (prefix, real_mac) = tag.split_at(tag.len() - 73);
        let real_mac = real_mac["packfile-".len()..].to_string();
        let accept = "application/vnd.oci.image.manifest.v1+json";
        let got = conn
            .send(
                "GET",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("Accept", accept)],
                &[],
            )
            .map_err(failed)?;
        if got.status != 200 {
            return Err(failed(format!("GET manifest {tag}: {}", got.status)));
        }
        let media_type = got.header("content-type").unwrap_or(accept).to_string();
        let manifest: Value = serde_json::from_slice(&got.body).map_err(failed)?;
        if manifest["layers"].as_array().map(Vec::len) != Some(1) {
            return Err(failed(format!(
                "{tag}'s manifest has not one layer: {manifest}"
            )));
        }
        let synthetic = Synthetic {
            authority: authority.to_string(),
            repo: repo.to_string(),
            prefix: prefix.to_string(),
            media_type,
            manifest,
            real_mac,
            pushed: 0,
        };
        synthetic.push_blob(&mut conn)?;
        Ok(synthetic)
    }

    /// The template, as read (for the report).
    pub(super) fn template(&self) -> &Value {
        &self.manifest
    }

    pub(super) fn pushed(&self) -> usize {
        self.pushed
    }

    pub(super) fn tag(&self, index: usize) -> String {
        format!("{}packfile-{}", self.prefix, hex(&mac(index)))
    }

    fn push_blob(&self, conn: &mut Connection) -> Result<(), BenchError> {
        let digest = format!("sha256:{}", hex(&Sha256::digest(BLOB)));
        let started = conn
            .send(
                "POST",
                &format!("/v2/{}/blobs/uploads/", self.repo),
                &[],
                &[],
            )
            .map_err(failed)?;
        let location = started
            .header("location")
            .filter(|_| started.status == 202)
            .ok_or_else(|| failed(format!("blob upload not started: {}", started.status)))?;
        // distribution answers an absolute URL or a path.
        let path = match location.find("/v2/") {
            Some(at) => &location[at..],
            None => location,
        };
        let join = if path.contains('?') { '&' } else { '?' };
        let done = conn
            .send(
                "PUT",
                &format!("{path}{join}digest={digest}"),
                &[("Content-Type", "application/octet-stream")],
                BLOB,
            )
            .map_err(failed)?;
        if done.status != 201 {
            return Err(failed(format!("blob PUT: {}", done.status)));
        }
        Ok(())
    }

    /// The manifest of synthetic packfile `index`.
    fn manifest(&self, index: usize) -> Vec<u8> {
        let mut manifest = self.manifest.clone();
        let mac = hex(&mac(index));
        let layer = &mut manifest["layers"][0];
        layer["digest"] = Value::String(format!("sha256:{}", hex(&Sha256::digest(BLOB))));
        layer["size"] = Value::from(BLOB.len());
        let rename = |annotations: &mut Value| {
            for value in annotations
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if value.as_str() == Some(self.real_mac.as_str()) {
                    *value = Value::String(mac.clone());
                }
            }
        };
        rename(&mut manifest["layers"][0]["annotations"]);
        rename(&mut manifest["annotations"]);
        serde_json::to_vec(&manifest).expect("a manifest serializes")
    }

    /// Pushes synthetic packfiles until `total` are in the registry.
    pub(super) fn push_to(&mut self, total: usize) -> Result<(), BenchError> {
        let next = AtomicUsize::new(self.pushed);
        let error = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..PUSHERS {
                scope.spawn(|| {
                    let mut conn = Connection::new(&self.authority);
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= total || error.lock().expect("not poisoned").is_some() {
                            return;
                        }
                        let path = format!("/v2/{}/manifests/{}", self.repo, self.tag(index));
                        let sent = conn.send(
                            "PUT",
                            &path,
                            &[("Content-Type", &self.media_type)],
                            &self.manifest(index),
                        );
                        let why = match sent {
                            Ok(r) if r.status == 201 => continue,
                            Ok(r) => format!(
                                "PUT {path}: {} {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            ),
                            Err(e) => format!("PUT {path}: {e}"),
                        };
                        *error.lock().expect("not poisoned") = Some(why);
                        return;
                    }
                });
            }
        });
        if let Some(why) = error.into_inner().expect("not poisoned") {
            return Err(failed(why));
        }
        self.pushed = self.pushed.max(total);
        Ok(())
    }
}
