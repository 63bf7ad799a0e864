//! Where objects live in the registry repository: one tag per key, plus the
//! marker tags that record deletions on registries that refuse DELETE.
//!
//! Tags (optionally behind `PREFIX.`):
//! - `<resource>-<64 hex MAC>`: the object's manifest, or a tombstone manifest
//!   once the object was deleted on a registry without DELETE;
//! - `<resource>-<mac>.d`: written by such a delete (marks the key deleted);
//! - `<resource>-<mac>.r`: written by a later put of a deleted key (revived);
//! - `config`: the repository configuration; `config.probe`: written once by
//!   `create` to find out whether the registry honours DELETE.
//!
//! Tag names alone decide liveness, so `list` costs one request per 1000 tags:
//! a key is live when its object tag exists and it has no `.d` marker. Keys with
//! both markers (deleted, then put again, maybe deleted again) are rare and are
//! settled by reading their object tag's manifest.
//! Tag grammar (distribution spec): `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.

use crate::resource::{Mac, Resource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRole {
    Object,
    Deleted,
    Revived,
}

impl TagRole {
    fn suffix(self) -> &'static str {
        match self {
            TagRole::Object => "",
            TagRole::Deleted => ".d",
            TagRole::Revived => ".r",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: Option<String>,
}

impl Layout {
    pub fn new(prefix: Option<String>) -> Layout {
        Layout { prefix }
    }

    fn prefixed(&self, name: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}.{name}"),
            None => name.to_string(),
        }
    }

    pub fn tag(&self, kind: Resource, mac: &Mac, role: TagRole) -> String {
        self.prefixed(&format!(
            "{}-{}{}",
            kind.name(),
            mac.to_hex(),
            role.suffix()
        ))
    }

    pub fn object_tag(&self, kind: Resource, mac: &Mac) -> String {
        self.tag(kind, mac, TagRole::Object)
    }

    pub fn config_tag(&self) -> String {
        self.prefixed("config")
    }

    pub fn probe_tag(&self) -> String {
        self.prefixed("config.probe")
    }

    /// The start every tag of `kind` shares (`[PREFIX.]<resource>-`): a
    /// listing of one kind asks for this range only where the registry
    /// keeps tags in lexical order.
    pub fn kind_prefix(&self, kind: Resource) -> String {
        self.prefixed(&format!("{}-", kind.name()))
    }

    /// Reads one of our object or marker tags; `None` for anything else
    /// (other prefixes, the config, foreign tags).
    pub fn parse(&self, tag: &str) -> Option<(Resource, Mac, TagRole)> {
        let name = match &self.prefix {
            Some(p) => tag.strip_prefix(p.as_str())?.strip_prefix('.')?,
            None => tag,
        };
        let (stem, role) = if let Some(s) = name.strip_suffix(".d") {
            (s, TagRole::Deleted)
        } else if let Some(s) = name.strip_suffix(".r") {
            (s, TagRole::Revived)
        } else {
            (name, TagRole::Object)
        };
        let split = stem.len().checked_sub(65)?;
        if !stem.is_char_boundary(split) || stem.as_bytes()[split] != b'-' {
            return None;
        }
        let kind = Resource::from_name(&stem[..split])?;
        let mac = Mac::from_hex(&stem[split + 1..])?;
        Some((kind, mac, role))
    }
}

/// The keys of one resource kind, as far as tag names tell.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Keys that are certainly live.
    pub live: Vec<Mac>,
    /// Keys that were deleted and put again: their object tag's manifest
    /// decides (an object: live; a tombstone: deleted).
    pub undecided: Vec<Mac>,
}

/// Settles liveness from the (key, role) pairs a listing found for one
/// kind, in any order and with repeats (pages may overlap while tags come
/// and go).
pub fn classify(mut found: Vec<(Mac, TagRole)>) -> Listing {
    // Sorting the (key, role) pairs groups each key's tags together and
    // leaves the keys in order: cheaper than a map then a sort (a listing
    // may hold millions of packfiles, and this runs in wasm).
    found.sort_unstable_by_key(|(mac, _)| *mac);
    let mut listing = Listing::default();
    for group in found.chunk_by(|a, b| a.0 == b.0) {
        let has = |role: TagRole| group.iter().any(|(_, r)| *r == role);
        let mac = group[0].0;
        match (
            has(TagRole::Object),
            has(TagRole::Deleted),
            has(TagRole::Revived),
        ) {
            (false, _, _) => {}
            (true, false, _) => listing.live.push(mac),
            (true, true, false) => {}
            (true, true, true) => listing.undecided.push(mac),
        }
    }
    listing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(b: u8) -> Mac {
        Mac([b; 32])
    }

    #[test]
    fn tags_round_trip_for_every_kind_and_role() {
        for layout in [Layout::new(None), Layout::new(Some("host_1-a".into()))] {
            for kind in Resource::ALL {
                for role in [TagRole::Object, TagRole::Deleted, TagRole::Revived] {
                    let tag = layout.tag(kind, &mac(0xab), role);
                    assert!(tag.len() <= 128, "{tag}");
                    assert_eq!(layout.parse(&tag), Some((kind, mac(0xab), role)), "{tag}");
                }
            }
        }
    }

    #[test]
    fn longest_tag_fits() {
        let layout = Layout::new(Some("p".repeat(40)));
        let tag = layout.tag(Resource::EccPackfile, &mac(1), TagRole::Deleted);
        assert!(tag.len() <= 128, "{} chars", tag.len());
    }

    #[test]
    fn other_stores_tags_are_ignored() {
        let plain = Layout::new(None);
        let prefixed = Layout::new(Some("a".into()));
        let other = Layout::new(Some("ab".into()));
        let t = prefixed.object_tag(Resource::Packfile, &mac(1));
        assert_eq!(plain.parse(&t), None);
        assert_eq!(other.parse(&t), None);
        assert_eq!(
            prefixed.parse(&plain.object_tag(Resource::Packfile, &mac(1))),
            None
        );
        for foreign in [
            "latest",
            "config",
            "config.probe",
            "packfile-xyz",
            &format!("packfile-{}", "A".repeat(64)),
            &format!("packfile_{}", "a".repeat(64)),
            &format!("packfile-{}.x", "a".repeat(64)),
        ] {
            assert_eq!(plain.parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn ecc_kinds_do_not_alias_plain_kinds() {
        let l = Layout::new(None);
        let t = l.object_tag(Resource::EccPackfile, &mac(2));
        assert_eq!(l.parse(&t).map(|p| p.0), Some(Resource::EccPackfile));
    }

    #[test]
    fn liveness_from_names() {
        let l = Layout::new(None);
        let k = Resource::Lock;
        let t = |b, role| l.tag(k, &mac(b), role);
        let tags = vec![
            t(1, TagRole::Object), // live
            t(2, TagRole::Object),
            t(2, TagRole::Deleted), // deleted
            t(3, TagRole::Object),
            t(3, TagRole::Deleted),
            t(3, TagRole::Revived),                 // undecided
            t(4, TagRole::Deleted),                 // marker without object: nothing
            t(5, TagRole::Revived),                 // likewise
            l.object_tag(Resource::State, &mac(6)), // other kind
            "latest".to_string(),
        ];
        let found = tags
            .iter()
            .filter_map(|tag| l.parse(tag))
            .filter(|(kind, _, _)| *kind == k)
            .map(|(_, mac, role)| (mac, role))
            .collect();
        let listing = classify(found);
        assert_eq!(
            listing,
            Listing {
                live: vec![mac(1)],
                undecided: vec![mac(3)]
            }
        );
    }
}
