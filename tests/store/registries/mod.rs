//! Every registry and OCI client this machine can run, against repositories
//! the store wrote: CNCF distribution v3 with `tags.maxtags` 7 (so listings
//! page through `Link` for real), oras, regctl, crane and skopeo reading and
//! copying whole repositories, and a pull-through cache in front of one.
//!
//! The repositories are filled through the kloset-host library
//! ([`repo::HostFill`]); every check judges a repository only by what a store
//! reads back from it ([`repo::Snapshot`]), so a repository written by plakar
//! through the storage plugin plugs in as another [`repo::Fill`].
//!
//! Tools come from `.tools/bin` (scripts/setup-go-tools) and Debian (skopeo);
//! a missing one fails its tests, it never skips them.

mod mirror;
mod paging;
mod reading;
mod replication;
mod repo;
mod scale;
