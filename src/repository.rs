//! The repository core that the store's operations, puts and gets lean on:
//! the registry client, the tag layout, and what one instance has learnt
//! (how deletions are recorded, which blobs exist, where objects' bytes
//! are). It knows the registry layout (docs/architecture.md, "Registry
//! layout") but no operation of the Kloset contract: those are `store`
//! (create, open, list, delete, size), `put` and `get`, above it.

use crate::chunked::{smaller_chunk, too_large, ChunkedUpload, Learnt};
use crate::client::{Mount, RegistryClient};
use crate::config::StoreConfig;
use crate::digest::sha256_digest;
use crate::error::StoreError;
use crate::layout::{Layout, TagRole};
use crate::manifest::{
    image_config_blob, marker_manifest, object_manifest, parse_config, parse_object, BlobRef,
    ConfigEntry, Deletion, Media, ObjectEntry, Profile, EMPTY_CONTENT, IMAGE_CONFIG_CONTENT,
};
use crate::resource::{Mac, Resource};
use crate::transport::Transport;
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Repository<T: Transport> {
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
    /// How manifests are typed: known with `deletion`.
    profile: Option<Profile>,
    /// The empty blob every manifest references (as config or layer) is
    /// known to exist; and the image config, for the image profile.
    empty_blob_present: bool,
    image_config_present: bool,
    config_blob: Option<BlobRef>,
    /// Manifest -> blob of immutable objects this instance has seen, so a
    /// ranged read of a known packfile costs one request.
    blobs: HashMap<(Resource, Mac), BlobRef>,
    /// What uploads learnt of the registry's limits (`chunked`).
    uploads: Learnt,
    /// A listing found the registry's tags not in lexical order, or `last`
    /// ignored: later listings read the whole list without asking for a
    /// kind's range first.
    tags_unordered: bool,
    /// The registry refused a DELETE by tag: deletes go by digest alone.
    tag_deletes_refused: bool,
}

impl<T: Transport> Repository<T> {
    pub fn new(config: StoreConfig, transport: T) -> Self {
        let client = RegistryClient::for_store(transport, &config);
        let layout = Layout::new(config.prefix.clone());
        Repository {
            client,
            config,
            layout,
            state: RefCell::default(),
        }
    }

    pub(crate) fn tags_unordered(&self) -> bool {
        self.state.borrow().tags_unordered
    }

    pub(crate) fn learn_tags_unordered(&self) {
        self.state.borrow_mut().tags_unordered = true;
    }

    pub(crate) fn tag_deletes_refused(&self) -> bool {
        self.state.borrow().tag_deletes_refused
    }

    pub(crate) fn learn_tag_deletes_refused(&self) {
        self.state.borrow_mut().tag_deletes_refused = true;
    }

    pub(crate) fn check_open(&self) -> Result<(), StoreError> {
        if self.state.borrow().closed {
            Err(StoreError::InvalidArgument("the store is closed".into()))
        } else {
            Ok(())
        }
    }

    pub(crate) fn close(&self) {
        let mut state = self.state.borrow_mut();
        state.closed = true;
        state.blobs.clear();
    }

    pub(crate) fn prefix(&self) -> Option<&str> {
        self.config.prefix.as_deref()
    }

    /// The location and prefix, for messages.
    pub(crate) fn location(&self) -> String {
        match &self.config.prefix {
            Some(p) => format!("{} (prefix {p})", self.config.location()),
            None => self.config.location(),
        }
    }

    /// What the config manifest says: the configuration's blob, how
    /// deletions are recorded and how manifests are typed (`not-found`: no
    /// repository here).
    pub(crate) fn read_config_manifest(&self) -> Result<ConfigEntry, StoreError> {
        let tag = self.layout.config_tag();
        let bytes = self.client.get_manifest(&tag)?.ok_or_else(|| {
            StoreError::NotFound(format!("no Kloset repository at {}", self.location()))
        })?;
        let entry = parse_config(&bytes, &tag)?;
        let mut state = self.state.borrow_mut();
        state.deletion = Some(entry.deletion);
        state.profile = Some(entry.profile);
        // The config manifest references the blobs of its profile, so
        // they exist.
        state.empty_blob_present = true;
        state.image_config_present = entry.profile == Profile::Image;
        Ok(entry)
    }

    /// How deletions are recorded: known, or read from the config manifest.
    pub(crate) fn deletion_mode(&self) -> Result<Deletion, StoreError> {
        if let Some(d) = self.state.borrow().deletion {
            return Ok(d);
        }
        Ok(self.read_config_manifest()?.deletion)
    }

    /// How this repository's manifests are typed: known, or read from the
    /// config manifest.
    pub(crate) fn media(&self) -> Result<Media<'_>, StoreError> {
        let known = self.state.borrow().profile;
        let profile = match known {
            Some(p) => p,
            None => self.read_config_manifest()?.profile,
        };
        Ok(self.media_as(profile))
    }

    /// Manifests typed as `profile`.
    pub(crate) fn media_as(&self, profile: Profile) -> Media<'_> {
        Media {
            family: &self.config.media_type,
            profile,
        }
    }

    /// How deletions are recorded, if known without asking.
    pub(crate) fn known_deletion(&self) -> Option<Deletion> {
        self.state.borrow().deletion
    }

    /// Records what `create` wrote or `open` read, or a switch to
    /// tombstones.
    pub(crate) fn learn(&self, deletion: Deletion, profile: Profile, config_blob: Option<BlobRef>) {
        let mut state = self.state.borrow_mut();
        state.deletion = Some(deletion);
        state.profile = Some(profile);
        if config_blob.is_some() {
            state.config_blob = config_blob;
        }
    }

    /// Records how deletions go, learnt by a delete.
    pub(crate) fn learn_deletion(&self, deletion: Deletion) {
        self.state.borrow_mut().deletion = Some(deletion);
    }

    /// The configuration's blob, if known without asking.
    pub(crate) fn config_blob(&self) -> Option<BlobRef> {
        self.state.borrow().config_blob.clone()
    }

    /// Pushes the empty blob once per store instance: every manifest
    /// references it (as config, or as the layer of a marker).
    pub(crate) fn ensure_empty_blob(&self) -> Result<(), StoreError> {
        if !self.state.borrow().empty_blob_present {
            self.push_blob(EMPTY_CONTENT.to_vec())?;
            self.state.borrow_mut().empty_blob_present = true;
        }
        Ok(())
    }

    /// Pushes, once per store instance, the blobs every manifest of
    /// `profile` references besides its own layer: the empty blob, and the
    /// image config for the image profile.
    pub(crate) fn ensure_base_blobs(&self, profile: Profile) -> Result<(), StoreError> {
        self.ensure_empty_blob()?;
        if profile == Profile::Image && !self.state.borrow().image_config_present {
            let blob = self.push_blob(IMAGE_CONFIG_CONTENT.to_vec())?;
            debug_assert_eq!(blob, image_config_blob());
            self.state.borrow_mut().image_config_present = true;
        }
        Ok(())
    }

    /// Uploads a blob held in memory, unless the repository has it already:
    /// at most two requests (mount-or-start, then one PUT).
    pub(crate) fn push_blob(&self, bytes: Vec<u8>) -> Result<BlobRef, StoreError> {
        let blob = BlobRef {
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
        };
        self.push_blob_as(bytes, &blob, false)?;
        Ok(blob)
    }

    /// [`Self::push_blob`] of bytes whose digest is known: computed by the
    /// put that buffered them, or handed by its caller (`handed`). An
    /// upload is checked by the registry against the digest that closes
    /// it; a mount is not (the registry only looks the digest up), so a
    /// handed digest the registry already has a blob of is checked here
    /// against the bytes, lest the object name another object's blob.
    pub(crate) fn push_blob_as(
        &self,
        bytes: Vec<u8>,
        blob: &BlobRef,
        handed: bool,
    ) -> Result<(), StoreError> {
        let Mount::Upload(session) = self.client.mount_or_start(&blob.digest)? else {
            if handed && sha256_digest(&bytes) != blob.digest {
                return Err(StoreError::InvalidArgument(format!(
                    "the digest handed, {}, is not that of the {} bytes written",
                    blob.digest,
                    bytes.len()
                )));
            }
            crate::spare_buffer::give_back(bytes);
            return Ok(());
        };
        let cap = self.uploads().body_cap;
        if cap.is_some_and(|cap| bytes.len() > cap) {
            self.client.cancel_upload(&session);
            return self.push_in_chunks(blob, &bytes);
        }
        match self
            .client
            .complete_upload_keeping(&session, &blob.digest, bytes)
        {
            // A body cap (GHCR's 4 MiB, a proxy's 1 MiB): the bytes come
            // back with the refusal, and go again in chunks the registry
            // takes.
            Err((refusal, bytes)) if too_large(&refusal).is_some() => {
                self.client.cancel_upload(&session);
                let Some(cap) = smaller_chunk(bytes.len(), too_large(&refusal).flatten()) else {
                    return Err(refusal);
                };
                self.learn_uploads(Learnt {
                    body_cap: Some(cap),
                    ..Learnt::default()
                });
                self.push_in_chunks(blob, &bytes)
            }
            Err((other, _)) => Err(other),
            Ok(()) => Ok(()),
        }
    }

    /// Uploads a blob held in memory in chunks of what the registry takes.
    fn push_in_chunks(&self, blob: &BlobRef, bytes: &[u8]) -> Result<(), StoreError> {
        let learnt = self.uploads();
        let chunk = learnt.body_cap.unwrap_or(bytes.len());
        let mut upload = ChunkedUpload::start_learnt(&self.client, chunk, learnt)?;
        let result = upload.write(&self.client, bytes).map(|()| upload.learnt());
        self.learn_uploads(upload.learnt());
        if let Err(e) = result {
            self.client.cancel_upload(upload.url());
            return Err(e);
        }
        let session = upload.url().to_string();
        upload.finish(&self.client, &blob.digest).inspect_err(|_| {
            self.client.cancel_upload(&session);
        })
    }

    /// What uploads of this instance learnt of the registry's limits.
    pub(crate) fn uploads(&self) -> Learnt {
        self.state.borrow().uploads
    }

    /// Adds what an upload learnt: the smaller cap wins, and what was
    /// learnt stays learnt (an upload started before a cap was found must
    /// not bring back its older view).
    pub(crate) fn learn_uploads(&self, learnt: Learnt) {
        let mut state = self.state.borrow_mut();
        state.uploads = state.uploads.merged(learnt);
    }

    /// Makes an uploaded blob visible as the object `kind`/`mac`: the last
    /// step of a put, so a failed put never shows.
    pub(crate) fn commit_object(
        &self,
        kind: Resource,
        mac: &Mac,
        blob: BlobRef,
    ) -> Result<(), StoreError> {
        self.ensure_empty_blob()?;
        let media = self.media()?;
        self.ensure_base_blobs(media.profile)?;
        if self.deletion_mode()? == Deletion::Tombstone {
            // A key deleted before keeps its `.d` marker forever; a `.r`
            // marker tells `list` to look at the object tag instead.
            if self
                .client
                .head_manifest(&self.layout.tag(kind, mac, TagRole::Deleted))?
                .is_some()
            {
                let revived = marker_manifest(&media, kind, mac, self.prefix(), true);
                self.client
                    .put_manifest(&self.layout.tag(kind, mac, TagRole::Revived), revived)?;
            }
        }
        let manifest = object_manifest(&media, kind, mac, self.prefix(), &blob);
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

    /// Drops what this instance knows of an object's blob.
    pub(crate) fn forget(&self, kind: Resource, mac: &Mac) {
        self.state.borrow_mut().blobs.remove(&(kind, *mac));
    }

    /// What this instance knows of an object's blob, without a request
    /// (never anything for a lock, which is not remembered).
    // Called by the WIT glue, which exists on the wasi target only.
    #[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
    pub(crate) fn known_blob(&self, kind: Resource, mac: &Mac) -> Option<BlobRef> {
        self.state.borrow().blobs.get(&(kind, *mac)).cloned()
    }

    /// Takes a host's word for an immutable object's blob, as if its
    /// manifest had been read: a hint `get` survives being wrong about
    /// (a blob gone is looked up again; a whole read checks the digest).
    /// Refused for a lock and for a digest that is not sha256, which would
    /// otherwise reach a request path.
    #[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
    pub(crate) fn teach_blob(
        &self,
        kind: Resource,
        mac: &Mac,
        blob: BlobRef,
    ) -> Result<(), StoreError> {
        if !kind.is_immutable() {
            return Err(StoreError::InvalidArgument(format!(
                "{kind} {mac}: a {kind} is re-put under one MAC, so its blob is never taught"
            )));
        }
        if !crate::digest::is_sha256_digest(&blob.digest) {
            return Err(StoreError::InvalidArgument(format!(
                "{kind} {mac}: a taught blob digest must be sha256: and 64 lowercase hex digits"
            )));
        }
        self.state.borrow_mut().blobs.insert((kind, *mac), blob);
        Ok(())
    }
}
