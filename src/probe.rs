//! `probe`: what a registry does, found by trying it in a scratch place
//! beside the store's location (a repository `<repository>-kloset-probe`,
//! tags under a random prefix), and what the store would do about it. The
//! host runs it natively (`kloset-host probe LOCATION`).
//!
//! Each finding has a stable `feature` name, for people and for tests: `api`,
//! `repository creation`, `media types`, `delete`, `delete by tag`,
//! `uploads`, `chunk minimum`, `mount`, `range`, `redirects`, `tag lists`,
//! `rate limits`, `round trip`. Everything written is removed at the end,
//! or, where the registry deletes nothing, named in `left_behind`.

use crate::client::{Mount, Observed};
use crate::config::StoreConfig;
use crate::digest::sha256_digest;
use crate::error::StoreError;
use crate::manifest::{probe_manifest, Deletion, Profile};
use crate::range::ByteRange;
use crate::resource::{Mac, Resource};
use crate::store::OciStore;
use crate::transport::Transport;
use http::Method;
use std::rc::Rc;

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub feature: &'static str,
    pub found: String,
}

/// An option the store would be given for this registry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub option: String,
    pub value: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Where the probe wrote: repository and tag prefix.
    pub scratch: String,
    pub findings: Vec<Finding>,
    /// Options worth setting; empty when the defaults fit.
    pub advice: Vec<Advice>,
    /// What could not be removed (tags), with why.
    pub left_behind: Vec<String>,
    /// The failure that ended the probe early, if one did.
    pub stopped: Option<String>,
}

impl ProbeReport {
    pub fn finding(&self, feature: &str) -> Option<&str> {
        self.findings
            .iter()
            .find(|f| f.feature == feature)
            .map(|f| f.found.as_str())
    }

    fn found(&mut self, feature: &'static str, found: impl Into<String>) {
        self.findings.push(Finding {
            feature,
            found: found.into(),
        });
    }
}

/// The size of the object the probe uploads: over two default chunks, so
/// a registry dropping the second PATCH's body (ECR) shows.
const PROBE_OBJECT: usize = (17 << 20) + 4321;

/// Probes the registry of `config` (its location, credentials and options)
/// through `transport`. `nonce` makes the scratch prefix unique.
/// `transport` makes the transport of each store the probe opens.
pub fn probe<T: Transport>(
    config: &StoreConfig,
    transport: impl Fn() -> T,
    nonce: u64,
) -> ProbeReport {
    let mut report = ProbeReport::default();
    let prefix = format!("kloset-probe-{:08x}", nonce as u32);
    let mut scratch = config.clone();
    scratch.repository = format!("{}-kloset-probe", config.repository);
    scratch.prefix = Some(prefix.clone());
    let mut store = OciStore::new(scratch.clone(), transport());
    if let Err(e) = api(&store, &mut report) {
        report.stopped = Some(e.to_string());
        return report;
    }
    report.scratch = format!("{} (tags {prefix}.*)", scratch.location());
    match store.create(b"kloset-oci probe") {
        Ok(()) => report.found(
            "repository creation",
            format!("a new repository is made on push ({})", scratch.repository),
        ),
        Err(refused @ (StoreError::NotFound(_) | StoreError::Unauthorized(_))) => {
            // No repository made on push (ECR, a Harbor project's rules):
            // say so, and probe inside the store's own repository instead.
            report.found(
                "repository creation",
                format!(
                    "refused: {refused}; probing inside {} instead",
                    config.repository
                ),
            );
            let mut inside = config.clone();
            inside.prefix = Some(prefix.clone());
            report.scratch = format!("{} (tags {prefix}.*)", inside.location());
            store = OciStore::new(inside, transport());
            if let Err(e) = store.create(b"kloset-oci probe") {
                report.stopped = Some(e.to_string());
                return report;
            }
        }
        Err(e) => {
            report.stopped = Some(e.to_string());
            return report;
        }
    }
    let written = exercise(&store, &mut report);
    if let Err(e) = &written {
        report.stopped = Some(e.to_string());
    }
    clean_up(&store, written.unwrap_or_default(), &mut report);
    report
}

/// `GET /v2/`: is there an OCI registry, and are the credentials taken.
fn api<T: Transport>(store: &OciStore<T>, report: &mut ProbeReport) -> Result<(), StoreError> {
    let repo = store.repository();
    let seen = repo.client.observe(Method::GET, "", &[])?;
    let anonymous = matches!(
        repo.config.credentials,
        crate::auth::credentials::Credentials::Anonymous
    );
    let found = match (seen.status, anonymous) {
        (200, true) => "OCI distribution API, anonymous access".to_string(),
        (200, false) => "OCI distribution API, credentials accepted".to_string(),
        (401, _) => format!(
            "OCI distribution API; the credentials were refused ({})",
            seen.header("www-authenticate").unwrap_or("no challenge")
        ),
        (status, _) => format!("GET /v2/ answered {status}: not an OCI registry here?"),
    };
    report.found("api", found);
    rate_limits(&seen, report);
    Ok(())
}

/// What the probe wrote, to remove at the end.
#[derive(Default)]
struct Written {
    objects: Vec<(Resource, Mac)>,
    /// Tags written outside the store's own operations.
    tags: Vec<String>,
}

fn mac_of(bytes: &[u8]) -> Mac {
    let hex = sha256_digest(bytes);
    Mac::from_hex(hex.trim_start_matches("sha256:")).expect("a sha256 digest is 64 hex")
}

/// Deterministic bytes no registry has (the nonce is in them).
fn probe_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn exercise<T: Transport>(
    store: &Rc<OciStore<T>>,
    report: &mut ProbeReport,
) -> Result<Written, StoreError> {
    let repo = store.repository();
    let mut written = Written::default();
    let profile = repo.media()?.profile;
    report.found(
        "media types",
        match profile {
            Profile::Artifact => "OCI 1.1 artifacts of our own artifactType are taken",
            Profile::Image => {
                "our artifactType was refused (an allow-list of media types): \
                 manifests are written as OCI images (image config, tar layer)"
            }
        },
    );
    // A manifest GET: where pull limits are counted and said (Docker Hub's
    // `ratelimit-limit` and `ratelimit-remaining`, docker docs usage/pulls).
    let config_tag = repo.layout.config_tag();
    let seen = repo.client.observe(
        Method::GET,
        &format!("manifests/{config_tag}"),
        &[("accept", crate::manifest::OCI_MANIFEST)],
    )?;
    rate_limits(&seen, report);
    deletes(store, report, &mut written)?;

    // An object over two chunks: what the registry takes of uploads.
    let session = repo.client.start_upload()?;
    report.found(
        "chunk minimum",
        match session.min_chunk {
            Some(min) => format!("OCI-Chunk-Min-Length: {min}"),
            None => "none stated (OCI-Chunk-Min-Length absent)".into(),
        },
    );
    repo.client.cancel_upload(&session.url);
    let data = probe_bytes(PROBE_OBJECT, repo.client.transport().random() ^ 0x9e37);
    let mac = mac_of(&data);
    let mut put = store.put(Resource::Packfile, mac)?;
    for piece in data.chunks(1 << 20) {
        put.write(piece)?;
    }
    put.finish()?;
    written.objects.push((Resource::Packfile, mac));
    let learnt = repo.uploads();
    let mut uploads = match learnt.body_cap {
        Some(cap) => format!(
            "request bodies capped at {cap} bytes (learnt from a refusal); chunks of that size"
        ),
        None => format!(
            "{PROBE_OBJECT} bytes in chunks of {} taken",
            crate::config::DEFAULT_CHUNK_SIZE
        ),
    };
    if learnt.no_chunks {
        uploads = "chunked PATCHes refused: objects go in one streamed PATCH".to_string();
    }
    if learnt.stale_range {
        uploads.push_str(
            "; the session's Range stops moving after the first PATCH (ECR's bug, \
             aws/containers-roadmap#2831): the offset is tracked by what was sent",
        );
    }
    report.found("uploads", uploads);
    if let Some(cap) = learnt.body_cap {
        report.advice.push(Advice {
            option: "chunk_size".into(),
            value: cap.to_string(),
            why: "spares every new store instance one refused chunk".into(),
        });
    }

    let blob = repo.blob_for(Resource::Packfile, &mac, true)?;
    report.found(
        "mount",
        match repo.client.mount_or_start(&blob.digest)? {
            Mount::Exists => "a blob the repository has is found by one POST (201)".to_string(),
            Mount::Upload(session) => {
                repo.client.cancel_upload(&session);
                "mount answers with an upload session: blobs are sent again".to_string()
            }
        },
    );
    ranges(store, &data, &mac, &blob.digest, report)?;
    tag_lists(store, report, &mut written)?;
    Ok(written)
}

/// DELETE by digest (and whether it really happens), and by tag.
fn deletes<T: Transport>(
    store: &OciStore<T>,
    report: &mut ProbeReport,
    written: &mut Written,
) -> Result<(), StoreError> {
    let repo = store.repository();
    let media = repo.media()?;
    // Named by this probe's prefix, so that two probes at once never
    // delete each other's manifest.
    let prefix = repo.config.prefix.as_deref().unwrap_or("");
    let marker = probe_manifest(&media, Some(&format!("{prefix}.delete-check")));
    let tag = format!(
        "{}.delete-check",
        repo.config.prefix.as_deref().unwrap_or("")
    );
    repo.client.put_manifest(&tag, marker.clone())?;
    let digest = sha256_digest(&marker);
    let by_digest = repo
        .client
        .observe(Method::DELETE, &format!("manifests/{digest}"), &[])?;
    let gone = repo.client.head_manifest(&tag)?.is_none();
    let deletion = repo.deletion_mode()?;
    report.found(
        "delete",
        match (by_digest.status, gone, deletion) {
            (200..=299, true, _) => "DELETE by digest removes the manifest and its tags".into(),
            (200..=299, false, _) => format!(
                "DELETE by digest answered {} but the tag is still served: deletions are \
                 recorded as tombstones",
                by_digest.status
            ),
            (status, _, Deletion::Registry | Deletion::UntagFirst) => format!(
                "DELETE by digest refused while tagged ({status}{}): tags are removed first",
                error_code(&by_digest)
            ),
            (status, _, Deletion::Tombstone) => format!(
                "DELETE refused ({status}{}): deletions are recorded as tombstones",
                error_code(&by_digest)
            ),
        },
    );
    if gone {
        return Ok(());
    }
    let by_tag = repo
        .client
        .observe(Method::DELETE, &format!("manifests/{tag}"), &[])?;
    let untagged = repo.client.head_manifest(&tag)?.is_none();
    report.found(
        "delete by tag",
        match (by_tag.status, untagged) {
            (200..=299, true) => "DELETE by tag removes the tag".into(),
            (status, _) => format!("not supported ({status}{})", error_code(&by_tag)),
        },
    );
    if !untagged {
        written.tags.push(tag);
    } else if repo.client.head_manifest(&tag)?.is_none() {
        // Untagged: the manifest itself can go now (Artifact Registry).
        let _ = repo
            .client
            .observe(Method::DELETE, &format!("manifests/{digest}"), &[]);
    }
    Ok(())
}

fn error_code(seen: &Observed) -> String {
    match crate::registry_error::error_codes(&seen.body).first() {
        Some(code) => format!(" {}", crate::registry_error::excerpt(code, 40)),
        None => String::new(),
    }
}

/// A closed range of the blob, as the registry answers it, and through the
/// store (exact whatever the registry does).
fn ranges<T: Transport>(
    store: &OciStore<T>,
    data: &[u8],
    mac: &Mac,
    digest: &str,
    report: &mut ProbeReport,
) -> Result<(), StoreError> {
    let repo = store.repository();
    let seen = repo.client.observe(
        Method::GET,
        &format!("blobs/{digest}"),
        &[("range", "bytes=1000-1999")],
    )?;
    rate_limits(&seen, report);
    match seen.status {
        301 | 302 | 303 | 307 | 308 => {
            let host = seen
                .header("location")
                .and_then(|l| l.parse::<http::Uri>().ok())
                .and_then(|u| u.host().map(str::to_string))
                .unwrap_or_else(|| "the same host".into());
            report.found(
                "redirects",
                format!("blob reads are redirected ({}) to {host}", seen.status),
            );
        }
        _ => report.found("redirects", "blob reads are served by the registry itself"),
    }
    let range = match (seen.status, seen.header("content-range")) {
        (206, Some(range)) => format!("closed ranges answered 206 ({range})"),
        (206, None) => "206 without Content-Range".to_string(),
        (200, _) => "Range ignored: whole blobs come back (the store cuts them)".to_string(),
        (301..=308, _) => "decided by the redirect target".to_string(),
        (status, _) => format!("a ranged read answered {status}"),
    };
    let mut reader = store.get(
        Resource::Packfile,
        mac,
        Some(ByteRange {
            offset: 1000,
            length: 1000,
        }),
    )?;
    let mut got = Vec::new();
    loop {
        let chunk = reader.read(1 << 20)?;
        if chunk.is_empty() {
            break;
        }
        got.extend_from_slice(&chunk);
    }
    let exact = got == data[1000..2000];
    report.found(
        "range",
        format!(
            "{range}; through the store: {}",
            if exact { "exact" } else { "WRONG BYTES" }
        ),
    );
    let whole = store.get(Resource::Packfile, mac, None)?.read_all()?;
    report.found(
        "round trip",
        if whole == data {
            "the object read back whole is the one written (digest checked)"
        } else {
            "the object read back differs from the one written"
        },
    );
    Ok(())
}

/// How tag lists page: `n` honoured or not, `Link`, order; and a listing
/// through the store is exact.
fn tag_lists<T: Transport>(
    store: &OciStore<T>,
    report: &mut ProbeReport,
    written: &mut Written,
) -> Result<(), StoreError> {
    let repo = store.repository();
    let mut locks = Vec::new();
    for i in 0..3u8 {
        let body = [b"kloset-oci probe lock ".as_slice(), &[b'0' + i]].concat();
        let mac = mac_of(&body);
        let mut put = store.put(Resource::Lock, mac)?;
        put.write(&body)?;
        put.finish()?;
        written.objects.push((Resource::Lock, mac));
        locks.push(mac);
    }
    let seen = repo.client.observe(Method::GET, "tags/list?n=2", &[])?;
    rate_limits(&seen, report);
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let page: Vec<String> = crate::json::from_object::<Page>(&seen.body)
        .ok()
        .and_then(|p| p.tags)
        .unwrap_or_default();
    let link = seen.header("link").is_some();
    let sorted = page.windows(2).all(|w| w[0] <= w[1]);
    let paging = match (page.len(), link) {
        (0..=2, true) => "n honoured, further pages through Link".to_string(),
        (0..=2, false) => format!(
            "n honoured, but no Link to a next page ({} tags)",
            page.len()
        ),
        (n, _) => format!("n ignored: {n} tags in one answer"),
    };
    let listed = store.list(Resource::Lock)?;
    let exact = locks.iter().all(|m| listed.contains(m)) && listed.len() == locks.len();
    report.found(
        "tag lists",
        format!(
            "{paging}; {}; through the store: {}",
            if sorted { "sorted" } else { "not sorted" },
            if exact { "exact" } else { "NOT EXACT" }
        ),
    );
    Ok(())
}

fn rate_limits(seen: &Observed, report: &mut ProbeReport) {
    if report.finding("rate limits").is_some() {
        return;
    }
    if let Some(limit) = seen.header("ratelimit-limit") {
        let remaining = seen.header("ratelimit-remaining").unwrap_or("?");
        report.found(
            "rate limits",
            format!("ratelimit-limit {limit}, remaining {remaining}"),
        );
    }
}

/// Removes what the probe wrote: objects through the store, the extra
/// tags, the configuration. What stays (a registry that deletes nothing)
/// is named.
fn clean_up<T: Transport>(store: &OciStore<T>, written: Written, report: &mut ProbeReport) {
    if report.finding("rate limits").is_none() {
        report.found("rate limits", "no ratelimit headers seen");
    }
    let repo = store.repository();
    for (kind, mac) in &written.objects {
        if let Err(e) = store.delete(*kind, mac) {
            report
                .left_behind
                .push(format!("{kind} {mac}: delete failed: {e}"));
        }
    }
    let config_tag = repo.layout.config_tag();
    let mut tags = written.tags;
    tags.push(config_tag.clone());
    tags.push(repo.layout.probe_tag());
    let deletion = repo.known_deletion();
    for tag in tags {
        match repo.client.head_manifest(&tag) {
            Ok(None) => {}
            Ok(Some(digest)) if deletion.is_some_and(|d| d != Deletion::Tombstone) => {
                if let Err(e) = repo.client.delete_manifest(&digest, &tag) {
                    report.left_behind.push(format!("tag {tag}: {e}"));
                }
            }
            Ok(Some(_)) => report.left_behind.push(format!(
                "tag {tag}: the registry deletes nothing through its API"
            )),
            Err(e) => report.left_behind.push(format!("tag {tag}: {e}")),
        }
    }
    if deletion == Some(Deletion::Tombstone) && !written.objects.is_empty() {
        report.left_behind.push(format!(
            "{} objects' tags and tombstones under prefix {}",
            written.objects.len(),
            repo.config.prefix.as_deref().unwrap_or("")
        ));
    }
}
