//! Repositories written by a real `plakar backup` through our plugin, on
//! other registries and through other tools than the rest of the suite:
//! copied whole by regctl, crane, skopeo and oras, read through a
//! pull-through mirror, and backed up on distribution v3 with a tag page of
//! 7 so that every listing pages through `Link`. Each is judged by what
//! plakar itself says: `check`, and restores compared byte for byte.
//!
//! The component-level half of this (objects written by the host library,
//! compared key by key) is the root crate's `tests/store/registries`; the
//! client wrappers both use are `kloset_testkit::clients`. A missing tool or
//! registry fails its test, it never skips.

mod copies;
mod during;
mod fill;
mod mirror;
mod paging;

use kloset_testkit::Registry;

/// The page size of every v3 registry here, as in `tests/store/registries`.
pub const MAX_TAGS: u32 = 7;

/// A distribution v3 registry with `tags.maxtags` [`MAX_TAGS`].
pub fn v3(deletes: bool) -> Registry {
    Registry::v3(MAX_TAGS, deletes)
}
