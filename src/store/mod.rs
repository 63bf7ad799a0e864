//! The Kloset store contract over an OCI registry (see docs/architecture.md,
//! "Registry layout"): create, open, mode, list, size here; deletes in
//! `delete`; puts and gets in `crate::put` and `crate::get`. All of them
//! stand on the repository core (`crate::repository`), never on each other.

mod delete;
mod hints;
#[cfg(test)]
mod listing_tests;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
pub(crate) mod tests;

use crate::client::Removal;
use crate::client::Scanned;
use crate::error::StoreError;
use crate::get::{GetReader, ObjectReader};
use crate::layout::{classify, TagRole};
use crate::manifest::{config_manifest, probe_manifest, Deletion, Profile};
use crate::put::PutSession;
use crate::range::ByteRange;
use crate::repository::Repository;
use crate::resource::{Mac, Resource};
use crate::transport::Transport;
use hints::{both_profiles_refused, made_first_hint, refuses_media_types};
use std::cell::Cell;
use std::rc::Rc;

/// Kloset's mode bits (`storage.Mode`): write = 1<<1, read = 1<<2.
pub const MODE_READ_WRITE: u32 = (1 << 1) | (1 << 2);
pub const MODE_READ: u32 = 1 << 2;
/// How long `create` waits between writing the configuration and reading
/// it back: longer than a concurrent `create` takes from finding no
/// configuration to writing its own (one request, the HEAD being the
/// last step before the PUT), so that of two racing creates the one
/// whose configuration was overwritten sees it.
pub const CREATE_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

pub struct OciStore<T: Transport> {
    repo: Rc<Repository<T>>,
    /// Learnt by the first `mode`.
    mode: Cell<Option<u32>>,
}

impl<T: Transport> OciStore<T> {
    pub fn new(config: crate::config::StoreConfig, transport: T) -> Rc<Self> {
        Rc::new(OciStore {
            repo: Rc::new(Repository::new(config, transport)),
            mode: Cell::new(None),
        })
    }

    /// The repository core under the store.
    pub fn repository(&self) -> &Repository<T> {
        &self.repo
    }

    pub fn origin(&self) -> String {
        self.repo.config.registry.clone()
    }

    pub fn root(&self) -> String {
        let config = &self.repo.config;
        match &config.prefix {
            Some(p) => format!("{}#{p}", config.repository),
            None => config.repository.clone(),
        }
    }

    /// Read and write, or read only where the registry refuses uploads (a
    /// pull-through cache) or the credentials lack push: asked once per
    /// instance with an upload session opened and cancelled (see
    /// `RegistryClient::takes_writes`).
    pub fn mode(&self) -> Result<u32, StoreError> {
        self.repo.check_open()?;
        if let Some(mode) = self.mode.get() {
            return Ok(mode);
        }
        let anonymous = matches!(
            self.repo.config.credentials,
            crate::auth::credentials::Credentials::Anonymous
        );
        // An upload session opened and cancelled: requests like any
        // operation's, so bounded by the deadline like one.
        let _op = self.repo.client.operation();
        let mode = if self.repo.client.takes_writes(anonymous)? {
            MODE_READ_WRITE
        } else {
            MODE_READ
        };
        self.mode.set(Some(mode));
        Ok(mode)
    }

    pub fn ping(&self) -> Result<(), StoreError> {
        self.repo.check_open()?;
        let _op = self.repo.client.operation();
        self.repo.client.ping()
    }

    /// Writes the configuration, unless a repository is there already.
    /// Registries have no conditional PUT, so a concurrent `create` is
    /// caught afterwards: the configuration carries a random creator value
    /// and is read back after `CREATE_SETTLE`; if another create's is
    /// there, this one fails with `already-exists` (the last writer wins,
    /// and only it).
    ///
    /// On the way it learns, for good, what this registry takes: whether
    /// it deletes manifests, and which media types (`learn_registry`).
    pub fn create(&self, config: &[u8]) -> Result<(), StoreError> {
        let repo = &self.repo;
        repo.check_open()?;
        let client = &repo.client;
        let _op = client.operation();
        let tag = repo.layout.config_tag();
        let exists = || {
            StoreError::AlreadyExists(format!(
                "a Kloset repository already exists at {}",
                repo.location()
            ))
        };
        if client
            .head_manifest(&tag)
            .map_err(|e| made_first_hint(e, repo))?
            .is_some()
        {
            return Err(exists());
        }
        let written = (|| {
            repo.ensure_base_blobs(Profile::Artifact)?;
            let blob = repo.push_blob(config.to_vec())?;
            let (profile, deletion) = self.learn_registry()?;
            Ok((blob, profile, deletion))
        })();
        let (blob, profile, deletion) = written.map_err(|e| made_first_hint(e, repo))?;
        let transport = client.transport();
        let creator = format!("{:016x}{:016x}", transport.random(), transport.random());
        let media = repo.media_as(profile);
        let manifest = config_manifest(&media, repo.prefix(), &blob, deletion, Some(&creator));
        // Looked at again right before writing: the window in which a
        // concurrent create can still overwrite ours is this one request.
        if client.head_manifest(&tag)?.is_some() {
            return Err(exists());
        }
        client.put_manifest(&tag, manifest.clone())?;
        client.pause(CREATE_SETTLE)?;
        if client.get_manifest(&tag)?.as_deref() != Some(&manifest[..]) {
            return Err(exists());
        }
        repo.learn(deletion, profile, Some(blob));
        Ok(())
    }

    /// Tags a throwaway manifest and deletes it, to learn two things this
    /// repository then keeps for good:
    /// - which profile of media types the registry takes: the artifact
    ///   one, unless the registry refuses it as an invalid manifest (an
    ///   allow-list of media types: GitLab, Quay), then the image one;
    /// - whether the registry deletes manifests, and really does: a DELETE
    ///   answered 202 does not prove the tag is gone (go-containerregistry's
    ///   registry, `crane registry serve`, answers so and keeps serving the
    ///   tag), so the tag is looked at once more; one still there, or a
    ///   refused DELETE, means tombstones.
    fn learn_registry(&self) -> Result<(Profile, Deletion), StoreError> {
        let repo = &self.repo;
        let tag = repo.layout.probe_tag();
        let mut profile = Profile::Artifact;
        let mut probe = probe_manifest(&repo.media_as(profile), repo.prefix());
        if let Err(refusal) = repo.client.put_manifest(&tag, probe.clone()) {
            if !refuses_media_types(&refusal) {
                return Err(refusal);
            }
            profile = Profile::Image;
            repo.ensure_base_blobs(profile)?;
            probe = probe_manifest(&repo.media_as(profile), repo.prefix());
            repo.client
                .put_manifest(&tag, probe.clone())
                .map_err(|e| both_profiles_refused(e, &refusal))?;
        }
        let digest = crate::digest::sha256_digest(&probe);
        let deletes = match repo.client.remove_manifest(&digest, &tag)? {
            Removal::Refused => return Ok((profile, Deletion::Tombstone)),
            Removal::Deleted => Deletion::Registry,
            Removal::Untagged => Deletion::UntagFirst,
        };
        // A registry whose reads lag its writes (a cache, a replica) may
        // still show the tag right after: looked at again after a pause
        // before deciding, for good, that its DELETE only pretends.
        let mut still_there = repo.client.head_manifest(&tag)?.is_some();
        if still_there {
            repo.client.pause(CREATE_SETTLE)?;
            still_there = repo.client.head_manifest(&tag)?.is_some();
        }
        let deletion = if still_there {
            Deletion::Tombstone
        } else {
            deletes
        };
        Ok((profile, deletion))
    }

    pub fn open(&self) -> Result<Vec<u8>, StoreError> {
        let repo = &self.repo;
        repo.check_open()?;
        let _op = repo.client.operation();
        let entry = repo.read_config_manifest()?;
        let reader = GetReader::whole(&repo.client, &entry.blob, "the repository configuration")?;
        let bytes = reader.read_all(&repo.client)?;
        repo.learn(entry.deletion, entry.profile, Some(entry.blob));
        Ok(bytes)
    }

    pub fn put(&self, kind: Resource, mac: Mac) -> Result<PutSession<T>, StoreError> {
        self.repo.check_open()?;
        Ok(PutSession::new(Rc::clone(&self.repo), kind, mac))
    }

    /// [`Self::put`] for a caller that hashes the bytes it writes and hands
    /// the digest to [`PutSession::finish_with_digest`] (WIT `put-hashed`).
    pub fn put_hashed(&self, kind: Resource, mac: Mac) -> Result<PutSession<T>, StoreError> {
        self.repo.check_open()?;
        Ok(PutSession::hashed(Rc::clone(&self.repo), kind, mac))
    }

    pub fn get(
        &self,
        kind: Resource,
        mac: &Mac,
        range: Option<ByteRange>,
    ) -> Result<ObjectReader<T>, StoreError> {
        let repo = &self.repo;
        repo.check_open()?;
        let _op = repo.client.operation();
        let what = format!("{kind} {mac}");
        let blob = repo.blob_for(kind, mac, true)?;
        let reader = match GetReader::open(&repo.client, &blob, range, &what) {
            // A cached blob may have been deleted and collected since:
            // look the object up again once before giving up.
            Err(StoreError::NotFound(_)) => {
                repo.forget(kind, mac);
                let blob = repo.blob_for(kind, mac, false)?;
                GetReader::open(&repo.client, &blob, range, &what)
            }
            other => other,
        }?;
        Ok(ObjectReader::new(Rc::clone(repo), reader))
    }

    /// One object's size, from its manifest: read once per instance for
    /// the immutable kinds, as `get` does, so a `get` of the same object
    /// after it sends no manifest request.
    pub fn object_size(&self, kind: Resource, mac: &Mac) -> Result<u64, StoreError> {
        let repo = &self.repo;
        repo.check_open()?;
        let _op = repo.client.operation();
        Ok(repo.blob_for(kind, mac, true)?.size)
    }

    /// The live keys of `kind`. Only that kind's range of tags is asked
    /// for where the registry keeps tags in lexical order, so a listing of
    /// states or locks costs a request or two however many packfiles the
    /// repository holds (`RegistryClient::scan_prefixed`). A registry
    /// found not to keep that order is listed whole from then on, without
    /// asking for the range first. Not bounded by `deadline` as a whole:
    /// each page is (a listing that makes progress is not stalled).
    pub fn list(&self, kind: Resource) -> Result<Vec<Mac>, StoreError> {
        let repo = &self.repo;
        repo.check_open()?;
        let layout = &repo.layout;
        let keep = |tag: &str| match layout.parse(tag) {
            Some((k, mac, role)) if k == kind => Some((mac, role)),
            _ => None,
        };
        let found = if repo.tags_unordered() {
            repo.client.scan_tags(keep)?
        } else {
            let (found, scanned) = repo.client.scan_prefixed(&layout.kind_prefix(kind), keep)?;
            if scanned == Scanned::WholeList {
                repo.learn_tags_unordered();
            }
            found
        };
        let _op = repo.client.operation();
        self.live_keys(found, kind)
    }

    /// The keys of `kind` that the listed tags show live, the undecided
    /// ones settled by reading their object tag's manifest.
    fn live_keys(
        &self,
        found: Vec<(Mac, TagRole)>,
        kind: Resource,
    ) -> Result<Vec<Mac>, StoreError> {
        let listing = classify(found);
        let mut keys = listing.live;
        for mac in listing.undecided {
            match self.repo.blob_for(kind, &mac, false) {
                Ok(_) => keys.push(mac),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(keys)
    }

    /// Bytes of every live object plus the configuration.
    pub fn size(&self) -> Result<u64, StoreError> {
        let repo = &self.repo;
        repo.check_open()?;
        let layout = &repo.layout;
        let mut found: Vec<(Resource, Mac, TagRole)> =
            repo.client.scan_tags(|tag| layout.parse(tag))?;
        let _op = repo.client.operation();
        let mut total = match repo.config_blob() {
            Some(blob) => blob.size,
            None => repo.read_config_manifest()?.blob.size,
        };
        found.sort_unstable_by_key(|(kind, _, _)| *kind);
        let by_kind = found.chunk_by(|a, b| a.0 == b.0);
        for (kind, group) in by_kind.map(|group| (group[0].0, group)) {
            let pairs = group.iter().map(|(_, mac, role)| (*mac, *role)).collect();
            for mac in self.live_keys(pairs, kind)? {
                match repo.blob_for(kind, &mac, true) {
                    // Sizes come from manifests, which say what they like.
                    Ok(blob) => {
                        total = total.checked_add(blob.size).ok_or_else(|| {
                            StoreError::Integrity(
                                "the objects' sizes add up past 2^64 bytes: a manifest lies".into(),
                            )
                        })?
                    }
                    Err(StoreError::NotFound(_)) => {} // deleted meanwhile
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(total)
    }

    pub fn close(&self) {
        self.repo.close();
    }
}
