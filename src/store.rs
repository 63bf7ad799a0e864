//! The Kloset store contract over an OCI registry (see docs/architecture.md, "Registry
//! layout"): create/open, list, delete, size, and what put and get share.

use crate::client::{Mount, RegistryClient};
use crate::config::StoreConfig;
use crate::digest::sha256_digest;
use crate::error::StoreError;
use crate::get::{GetReader, ObjectReader};
use crate::layout::{classify, Layout, TagRole};
use crate::manifest::{
    config_manifest, marker_manifest, names_prefix, object_manifest, parse_config, parse_object,
    probe_manifest, BlobRef, Deletion, ObjectEntry, EMPTY_CONTENT,
};
use crate::put::PutSession;
use crate::range::ByteRange;
use crate::resource::{Mac, Resource};
use crate::transport::Transport;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Kloset's mode bits (`storage.Mode`): write = 1<<1, read = 1<<2.
pub const MODE_READ_WRITE: u32 = (1 << 1) | (1 << 2);
/// How long `create` waits between writing the configuration and reading
/// it back: longer than a concurrent `create` takes from finding no
/// configuration to writing its own (one request, the HEAD being the
/// last step before the PUT), so that of two racing creates the one
/// whose configuration was overwritten sees it.
pub const CREATE_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);
pub const MODE_READ: u32 = 1 << 2;

pub struct OciStore<T: Transport> {
    pub(crate) client: RegistryClient<T>,
    pub(crate) config: StoreConfig,
    pub(crate) layout: Layout,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// Known after create or open, or read lazily by the first put.
    deletion: Option<Deletion>,
    /// The empty config blob every manifest references is known to exist.
    empty_config_present: bool,
    config_blob: Option<BlobRef>,
    /// Manifest -> blob of immutable objects this instance has seen, so a
    /// ranged read of a known packfile costs one request.
    blobs: HashMap<(Resource, Mac), BlobRef>,
    /// Learnt by the first `mode`.
    mode: Option<u32>,
}

impl<T: Transport> OciStore<T> {
    pub fn new(config: StoreConfig, transport: T) -> Rc<Self> {
        let client = RegistryClient::for_store(transport, &config);
        let layout = Layout::new(config.prefix.clone());
        Rc::new(OciStore {
            client,
            config,
            layout,
            state: RefCell::default(),
        })
    }

    pub(crate) fn check_open(&self) -> Result<(), StoreError> {
        if self.state.borrow().closed {
            Err(StoreError::InvalidArgument("the store is closed".into()))
        } else {
            Ok(())
        }
    }

    pub fn origin(&self) -> String {
        self.config.registry.clone()
    }

    pub fn root(&self) -> String {
        match &self.config.prefix {
            Some(p) => format!("{}#{p}", self.config.repository),
            None => self.config.repository.clone(),
        }
    }

    /// Read and write, or read only where the registry refuses uploads (a
    /// pull-through cache) or the credentials lack push: asked once per
    /// instance with an upload session opened and cancelled (see
    /// `RegistryClient::takes_writes`).
    pub fn mode(&self) -> Result<u32, StoreError> {
        self.check_open()?;
        if let Some(mode) = self.state.borrow().mode {
            return Ok(mode);
        }
        let anonymous = matches!(
            self.config.credentials,
            crate::auth::credentials::Credentials::Anonymous
        );
        let mode = if self.client.takes_writes(anonymous)? {
            MODE_READ_WRITE
        } else {
            MODE_READ
        };
        self.state.borrow_mut().mode = Some(mode);
        Ok(mode)
    }

    pub fn ping(&self) -> Result<(), StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        self.client.ping()
    }

    /// Writes the configuration, unless a repository is there already.
    /// Registries have no conditional PUT, so a concurrent `create` is
    /// caught afterwards: the configuration carries a random creator value
    /// and is read back after `CREATE_SETTLE`; if another create's is
    /// there, this one fails with `already-exists` (the last writer wins,
    /// and only it).
    pub fn create(&self, config: &[u8]) -> Result<(), StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        let tag = self.layout.config_tag();
        let exists = || {
            StoreError::AlreadyExists(format!(
                "a Kloset repository already exists at {}",
                self.location()
            ))
        };
        if self.client.head_manifest(&tag)?.is_some() {
            return Err(exists());
        }
        self.ensure_empty_config()?;
        let blob = self.push_blob(config.to_vec())?;
        let deletion = self.probe_deletion()?;
        let prefix = self.config.prefix.as_deref();
        let transport = self.client.transport();
        let creator = format!("{:016x}{:016x}", transport.random(), transport.random());
        let manifest = config_manifest(
            &self.config.media_type,
            prefix,
            &blob,
            deletion,
            Some(&creator),
        );
        // Looked at again right before writing: the window in which a
        // concurrent create can still overwrite ours is this one request.
        if self.client.head_manifest(&tag)?.is_some() {
            return Err(exists());
        }
        self.client.put_manifest(&tag, manifest.clone())?;
        self.client.pause(CREATE_SETTLE)?;
        if self.client.get_manifest(&tag)?.as_deref() != Some(&manifest[..]) {
            return Err(exists());
        }
        let mut state = self.state.borrow_mut();
        state.deletion = Some(deletion);
        state.config_blob = Some(blob);
        Ok(())
    }

    /// Tags a throwaway manifest and deletes it: whether the registry allows
    /// that decides how this repository records deletions, for good.
    fn probe_deletion(&self) -> Result<Deletion, StoreError> {
        let probe = probe_manifest(&self.config.media_type, self.config.prefix.as_deref());
        let digest = sha256_digest(&probe);
        self.client.put_manifest(&self.layout.probe_tag(), probe)?;
        Ok(if self.client.delete_manifest(&digest)? {
            Deletion::Registry
        } else {
            Deletion::Tombstone
        })
    }

    pub fn open(&self) -> Result<Vec<u8>, StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        let (blob, _) = self.read_config_manifest()?;
        let reader = GetReader::whole(&self.client, &blob, "the repository configuration")?;
        let bytes = reader.read_all(&self.client)?;
        self.state.borrow_mut().config_blob = Some(blob);
        Ok(bytes)
    }

    fn location(&self) -> String {
        match &self.config.prefix {
            Some(p) => format!("{} (prefix {p})", self.config.location()),
            None => self.config.location(),
        }
    }

    fn read_config_manifest(&self) -> Result<(BlobRef, Deletion), StoreError> {
        let tag = self.layout.config_tag();
        let bytes = self.client.get_manifest(&tag)?.ok_or_else(|| {
            StoreError::NotFound(format!("no Kloset repository at {}", self.location()))
        })?;
        let (blob, deletion) = parse_config(&bytes, &tag)?;
        let mut state = self.state.borrow_mut();
        state.deletion = Some(deletion);
        // The config manifest references the empty blob, so it exists.
        state.empty_config_present = true;
        Ok((blob, deletion))
    }

    pub(crate) fn deletion_mode(&self) -> Result<Deletion, StoreError> {
        if let Some(d) = self.state.borrow().deletion {
            return Ok(d);
        }
        Ok(self.read_config_manifest()?.1)
    }

    /// Pushes the empty config blob once per store instance.
    pub(crate) fn ensure_empty_config(&self) -> Result<(), StoreError> {
        if self.state.borrow().empty_config_present {
            return Ok(());
        }
        self.push_blob(EMPTY_CONTENT.to_vec())?;
        self.state.borrow_mut().empty_config_present = true;
        Ok(())
    }

    /// Uploads a blob held in memory, unless the repository has it already:
    /// at most two requests (mount-or-start, then one PUT).
    pub(crate) fn push_blob(&self, bytes: Vec<u8>) -> Result<BlobRef, StoreError> {
        let blob = BlobRef {
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
        };
        if let Mount::Upload(session) = self.client.mount_or_start(&blob.digest)? {
            self.client.complete_upload(&session, &blob.digest, bytes)?;
        }
        Ok(blob)
    }

    /// Makes an uploaded blob visible as the object `kind`/`mac`: the last
    /// step of a put, so a failed put never shows.
    pub(crate) fn commit_object(
        &self,
        kind: Resource,
        mac: &Mac,
        blob: BlobRef,
    ) -> Result<(), StoreError> {
        self.ensure_empty_config()?;
        if self.deletion_mode()? == Deletion::Tombstone {
            // A key deleted before keeps its `.d` marker forever; a `.r`
            // marker tells `list` to look at the object tag instead.
            if self
                .client
                .head_manifest(&self.layout.tag(kind, mac, TagRole::Deleted))?
                .is_some()
            {
                let revived =
                    marker_manifest(&self.config.media_type, kind, mac, self.prefix(), true);
                self.client
                    .put_manifest(&self.layout.tag(kind, mac, TagRole::Revived), revived)?;
            }
        }
        let manifest = object_manifest(&self.config.media_type, kind, mac, self.prefix(), &blob);
        self.client
            .put_manifest(&self.layout.object_tag(kind, mac), manifest)?;
        let mut state = self.state.borrow_mut();
        if kind.is_immutable() {
            state.blobs.insert((kind, *mac), blob);
        } else {
            state.blobs.remove(&(kind, *mac));
        }
        Ok(())
    }

    /// The blob behind an object: from the cache for immutable kinds, else
    /// from its manifest. A missing or deleted object is `not-found`.
    pub(crate) fn blob_for(
        &self,
        kind: Resource,
        mac: &Mac,
        use_cache: bool,
    ) -> Result<BlobRef, StoreError> {
        if use_cache && kind.is_immutable() {
            if let Some(blob) = self.state.borrow().blobs.get(&(kind, *mac)) {
                return Ok(blob.clone());
            }
        }
        let tag = self.layout.object_tag(kind, mac);
        let missing = || StoreError::NotFound(format!("{kind} {mac}"));
        let bytes = self.client.get_manifest(&tag)?.ok_or_else(missing)?;
        match parse_object(&bytes, kind, mac, self.prefix(), &tag)? {
            ObjectEntry::Object(blob) => {
                if kind.is_immutable() {
                    self.state
                        .borrow_mut()
                        .blobs
                        .insert((kind, *mac), blob.clone());
                }
                Ok(blob)
            }
            ObjectEntry::Tombstone => {
                self.forget(kind, mac);
                Err(missing())
            }
        }
    }

    fn prefix(&self) -> Option<&str> {
        self.config.prefix.as_deref()
    }

    pub(crate) fn forget(&self, kind: Resource, mac: &Mac) {
        self.state.borrow_mut().blobs.remove(&(kind, *mac));
    }

    pub fn put(self: &Rc<Self>, kind: Resource, mac: Mac) -> Result<PutSession<T>, StoreError> {
        self.check_open()?;
        Ok(PutSession::new(Rc::clone(self), kind, mac))
    }

    pub fn get(
        self: &Rc<Self>,
        kind: Resource,
        mac: &Mac,
        range: Option<ByteRange>,
    ) -> Result<ObjectReader<T>, StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        let what = format!("{kind} {mac}");
        let blob = self.blob_for(kind, mac, true)?;
        let reader = match GetReader::open(&self.client, &blob, range, &what) {
            // A cached blob may have been deleted and collected since:
            // look the object up again once before giving up.
            Err(StoreError::NotFound(_)) => {
                self.forget(kind, mac);
                let blob = self.blob_for(kind, mac, false)?;
                GetReader::open(&self.client, &blob, range, &what)
            }
            other => other,
        }?;
        Ok(ObjectReader::new(Rc::clone(self), reader))
    }

    pub fn list(&self, kind: Resource) -> Result<Vec<Mac>, StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        let tags = self.client.list_tags()?;
        self.live_keys(&tags, kind)
    }

    fn live_keys(&self, tags: &[String], kind: Resource) -> Result<Vec<Mac>, StoreError> {
        let listing = classify(&self.layout, tags.iter().map(String::as_str), kind);
        let mut keys = listing.live;
        for mac in listing.undecided {
            match self.blob_for(kind, &mac, false) {
                Ok(_) => keys.push(mac),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(keys)
    }

    pub fn delete(&self, kind: Resource, mac: &Mac) -> Result<(), StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        self.forget(kind, mac);
        if self.state.borrow().deletion == Some(Deletion::Tombstone) {
            return self.delete_by_tombstone(kind, mac);
        }
        let Some(digest) = self.digest_to_delete(kind, mac)? else {
            return Ok(()); // already gone: deletes are idempotent
        };
        if self.client.delete_manifest(&digest)? {
            return Ok(());
        }
        // The registry stopped honouring DELETE since `create` probed it:
        // record deletions as tombstones from now on, for every instance.
        self.switch_to_tombstones()?;
        self.delete_by_tombstone(kind, mac)
    }

    /// The digest whose DELETE removes this key and nothing else. Not what a
    /// HEAD names: a caching proxy's stale answer could name another
    /// manifest (another key's, deleted with it). The manifest is read,
    /// checked to be this key's, and its digest computed from its bytes.
    /// One written before prefixes were annotated may be shared with a store
    /// under another prefix: it is first replaced at our tag by one naming
    /// our prefix, and that one is deleted.
    fn digest_to_delete(&self, kind: Resource, mac: &Mac) -> Result<Option<String>, StoreError> {
        let tag = self.layout.object_tag(kind, mac);
        let Some(bytes) = self.client.get_manifest(&tag)? else {
            return Ok(None);
        };
        let entry = parse_object(&bytes, kind, mac, self.prefix(), &tag)?;
        if names_prefix(&bytes, self.prefix()) {
            return Ok(Some(sha256_digest(&bytes)));
        }
        let media = &self.config.media_type;
        let ours = match entry {
            ObjectEntry::Object(blob) => object_manifest(media, kind, mac, self.prefix(), &blob),
            ObjectEntry::Tombstone => marker_manifest(media, kind, mac, self.prefix(), false),
        };
        let digest = sha256_digest(&ours);
        self.client.put_manifest(&tag, ours)?;
        Ok(Some(digest))
    }

    /// The `.d` marker first, then the object tag: if we stop in between,
    /// `list` still shows the key and `get` still finds it, so the failed
    /// delete leaves a consistent state.
    fn delete_by_tombstone(&self, kind: Resource, mac: &Mac) -> Result<(), StoreError> {
        let tombstone = marker_manifest(&self.config.media_type, kind, mac, self.prefix(), false);
        self.client.put_manifest(
            &self.layout.tag(kind, mac, TagRole::Deleted),
            tombstone.clone(),
        )?;
        self.client
            .put_manifest(&self.layout.object_tag(kind, mac), tombstone)
    }

    fn switch_to_tombstones(&self) -> Result<(), StoreError> {
        let (blob, _) = self.read_config_manifest()?;
        let prefix = self.config.prefix.as_deref();
        let manifest = config_manifest(
            &self.config.media_type,
            prefix,
            &blob,
            Deletion::Tombstone,
            None,
        );
        self.client
            .put_manifest(&self.layout.config_tag(), manifest)?;
        self.state.borrow_mut().deletion = Some(Deletion::Tombstone);
        Ok(())
    }

    /// Bytes of every live object plus the configuration.
    pub fn size(&self) -> Result<u64, StoreError> {
        self.check_open()?;
        let _op = self.client.operation();
        let tags = self.client.list_tags()?;
        let config_blob = self.state.borrow().config_blob.clone();
        let mut total = match config_blob {
            Some(blob) => blob.size,
            None => self.read_config_manifest()?.0.size,
        };
        for kind in Resource::ALL {
            for mac in self.live_keys(&tags, kind)? {
                match self.blob_for(kind, &mac, true) {
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
        let mut state = self.state.borrow_mut();
        state.closed = true;
        state.blobs.clear();
    }
}

#[cfg(test)]
mod tests {
    //! `size` over a scripted registry: the sizes it adds come from
    //! manifests, which a registry (or whoever wrote to the repository) can
    //! make say anything.
    use super::*;
    use crate::scripted::{Answer, Scripted};

    const MEDIA: &str = "application/vnd.kloset.test";

    fn store(answers: Vec<Answer>) -> Rc<OciStore<Scripted>> {
        let pairs: Vec<(String, String)> = [
            ("location", "oci://r:5000/team/repo"),
            ("use_tls", "false"),
            ("retries", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = StoreConfig::parse(&pairs).expect("a valid configuration");
        OciStore::new(config, Scripted::new(answers))
    }

    fn blob(size: u64) -> BlobRef {
        BlobRef {
            digest: sha256_digest(format!("blob of {size}").as_bytes()),
            size,
        }
    }

    /// A registry holding the configuration (of `config_size` bytes) and
    /// one packfile per entry of `sizes`, each manifest announcing that
    /// size: the answers `size` gets, in the order it asks.
    fn registry(config_size: u64, sizes: &[u64]) -> Vec<Answer> {
        let layout = Layout::new(None);
        let macs: Vec<Mac> = (1..=sizes.len() as u8).map(|n| Mac([n; 32])).collect();
        let mut tags = vec![layout.config_tag()];
        tags.extend(
            macs.iter()
                .map(|m| layout.object_tag(Resource::Packfile, m)),
        );
        let page = serde_json::json!({ "name": "team/repo", "tags": tags });
        let mut answers = vec![
            Answer::new(200, &serde_json::to_vec(&page).unwrap()),
            Answer::new(
                200,
                &config_manifest(MEDIA, None, &blob(config_size), Deletion::Registry, None),
            ),
        ];
        for (mac, size) in macs.iter().zip(sizes) {
            let manifest = object_manifest(MEDIA, Resource::Packfile, mac, None, &blob(*size));
            answers.push(Answer::new(200, &manifest));
        }
        answers
    }

    #[test]
    fn size_adds_the_configuration_and_every_live_object() {
        let s = store(registry(1000, &[5, 7]));
        assert_eq!(s.size().unwrap(), 1012);
        // Up to 2^64 - 1 bytes in all is a size, if an unlikely one.
        let s = store(registry(1, &[u64::MAX / 2, u64::MAX / 2]));
        assert_eq!(s.size().unwrap(), u64::MAX);
    }

    #[test]
    fn sizes_adding_up_past_u64_are_refused_not_wrapped() {
        // Each size alone is possible; their sum is not a number of bytes.
        // Unchecked, this panics in a debug build (the guest would trap)
        // and in a release build wraps to 1000 bytes.
        for sizes in [
            vec![u64::MAX / 2 + 1, u64::MAX / 2 + 1],
            vec![1, u64::MAX],
            vec![1, u64::MAX - 1000],
        ] {
            let s = store(registry(1000, &sizes));
            match s.size() {
                Err(StoreError::Integrity(m)) => assert!(m.contains("2^64"), "{sizes:?}: {m}"),
                other => panic!("{sizes:?}: {other:?}"),
            }
            // It stopped at the sum that overflowed: every manifest was
            // asked for, none beyond.
            assert_eq!(s.client.transport().asked.borrow().len(), 2 + sizes.len());
        }
    }
}
