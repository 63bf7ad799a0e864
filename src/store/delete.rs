//! `delete`: by the registry's DELETE where it honours it, else by
//! tombstones (docs/architecture.md, "Deletes, on registries with and
//! without DELETE").

use super::OciStore;
use crate::client::Removal;
use crate::digest::sha256_digest;
use crate::error::StoreError;
use crate::layout::TagRole;
use crate::manifest::{
    config_manifest, marker_manifest, names_prefix, object_manifest, parse_object, Deletion,
    ObjectEntry,
};
use crate::resource::{Mac, Resource};
use crate::transport::Transport;

impl<T: Transport> OciStore<T> {
    pub fn delete(&self, kind: Resource, mac: &Mac) -> Result<(), StoreError> {
        self.repo.check_open()?;
        let _op = self.repo.client.operation();
        self.repo.forget(kind, mac);
        if self.repo.known_deletion() == Some(Deletion::Tombstone) {
            return self.delete_by_tombstone(kind, mac);
        }
        let Some((digest, manifest)) = self.digest_to_delete(kind, mac)? else {
            return Ok(()); // already gone: deletes are idempotent
        };
        let tag = self.repo.layout.object_tag(kind, mac);
        let removal = match self.repo.known_deletion() {
            Some(Deletion::UntagFirst) => self.repo.client.untag_then_delete(&digest, &tag)?,
            _ if self.untagged_first(&tag)? => {
                match self.repo.client.remove_manifest(&digest, &tag) {
                    Ok(removal) => removal,
                    Err(e) => {
                        // Untagged but not deleted: put the tag back, or
                        // the manifest (and a packfile's 64 MiB) would be
                        // left where nothing lists it and a retried delete
                        // finds nothing to delete. Best effort: the
                        // failure to report is the delete's.
                        let _ = self.repo.client.put_manifest(&tag, manifest);
                        return Err(e);
                    }
                }
            }
            _ => self.repo.client.remove_manifest(&digest, &tag)?,
        };
        if removal == Removal::Untagged {
            // Learnt here when this instance did not know it yet: its next
            // deletes untag first, sparing the refused request.
            self.repo.learn_deletion(Deletion::UntagFirst);
        }
        if removal != Removal::Refused {
            return Ok(());
        }
        // The registry stopped honouring DELETE since `create` probed it:
        // record deletions as tombstones from now on, for every instance.
        self.switch_to_tombstones()?;
        self.delete_by_tombstone(kind, mac)
    }

    /// Deletes the key's tag before its manifest where the registry deletes
    /// tags (distribution v3, GitLab, zot): the key leaves listings at
    /// once, while the DELETE by digest may take seconds on a large
    /// repository (issue 22: a backup that listed a lock being deleted
    /// read it gone and aborted). `false`, and not asked again by this
    /// instance, where it does not (distribution 2.8).
    fn untagged_first(&self, tag: &str) -> Result<bool, StoreError> {
        if self.repo.tag_deletes_refused() {
            return Ok(false);
        }
        let untagged = self.repo.client.untag(tag)?;
        if !untagged {
            self.repo.learn_tag_deletes_refused();
        }
        Ok(untagged)
    }

    /// The digest whose DELETE removes this key and nothing else, and the
    /// manifest's bytes (to put back if the delete fails halfway). Not what a
    /// HEAD names: a caching proxy's stale answer could name another
    /// manifest (another key's, deleted with it). The manifest is read,
    /// checked to be this key's, and its digest computed from its bytes.
    /// One written before prefixes were annotated may be shared with a store
    /// under another prefix: it is first replaced at our tag by one naming
    /// our prefix, and that one is deleted.
    fn digest_to_delete(
        &self,
        kind: Resource,
        mac: &Mac,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let repo = &self.repo;
        let tag = repo.layout.object_tag(kind, mac);
        let Some(bytes) = repo.client.get_manifest(&tag)? else {
            return Ok(None);
        };
        let entry = parse_object(&bytes, kind, mac, repo.prefix(), &tag)?;
        if names_prefix(&bytes, repo.prefix()) {
            return Ok(Some((sha256_digest(&bytes), bytes)));
        }
        let media = repo.media()?;
        let ours = match entry {
            ObjectEntry::Object(blob) => object_manifest(&media, kind, mac, repo.prefix(), &blob),
            ObjectEntry::Tombstone => marker_manifest(&media, kind, mac, repo.prefix(), false),
        };
        let digest = sha256_digest(&ours);
        repo.client.put_manifest(&tag, ours.clone())?;
        Ok(Some((digest, ours)))
    }

    /// The `.d` marker first, then the object tag: if we stop in between,
    /// `list` still shows the key and `get` still finds it, so the failed
    /// delete leaves a consistent state.
    fn delete_by_tombstone(&self, kind: Resource, mac: &Mac) -> Result<(), StoreError> {
        let repo = &self.repo;
        let media = repo.media()?;
        let tombstone = marker_manifest(&media, kind, mac, repo.prefix(), false);
        repo.client.put_manifest(
            &repo.layout.tag(kind, mac, TagRole::Deleted),
            tombstone.clone(),
        )?;
        repo.client
            .put_manifest(&repo.layout.object_tag(kind, mac), tombstone)
    }

    fn switch_to_tombstones(&self) -> Result<(), StoreError> {
        let repo = &self.repo;
        let entry = repo.read_config_manifest()?;
        let manifest = config_manifest(
            &repo.media_as(entry.profile),
            repo.prefix(),
            &entry.blob,
            Deletion::Tombstone,
            None,
        );
        repo.client
            .put_manifest(&repo.layout.config_tag(), manifest)?;
        repo.learn(Deletion::Tombstone, entry.profile, None);
        Ok(())
    }
}
