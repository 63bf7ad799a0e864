//! One call for a caller that must not block, such as the plugin's async
//! gRPC service answering plakar's Get: [`StoreHandle::serve`].
//!
//! A Get is served one of three ways, and which is the handle's business:
//! a packfile's range the handle's blocks hold already is answered at once
//! with slices of them (a lock, no copy: fine on an async thread, and most
//! of plakar's ranged reads end there); a range the blocks keep but do not
//! hold yet is fetched into them; anything else (a whole object, a range
//! too large for the blocks, another kind) is streamed from the registry
//! rather than held whole. The last two send requests, so they come back as a [`Fetch`] to
//! run where blocking is fine. The plugin used to run this protocol itself
//! (`keeps_range`, then `cached_range`, then `read_range` or `get_reader`).

use std::sync::Arc;

use bytes::Bytes;

use crate::store::handle::StoreHandle;
use crate::store::reader::ObjectReader;
use crate::{Error, Mac, Resource};

/// How [`StoreHandle::serve`] answers.
#[derive(Debug)]
pub enum Served {
    /// The handle's blocks held the whole range: no request was sent. The
    /// range in order, as slices of the blocks (shared, not copied).
    Held(Vec<Bytes>),
    /// The read sends requests: run it with [`Fetch::run`] on a thread
    /// that may block.
    Fetch(Fetch),
}

/// A read that sends requests, to run on a thread that may block.
#[derive(Debug)]
#[must_use = "a fetch does nothing until run"]
pub struct Fetch {
    store: Arc<StoreHandle>,
    kind: Resource,
    mac: Mac,
    range: Option<(u64, u32)>,
}

/// What a [`Fetch`] read.
#[derive(Debug)]
pub enum Fetched {
    /// A packfile's range, read through the handle's blocks, whole: in
    /// order, as slices of them.
    Bytes(Vec<Bytes>),
    /// An object, or a range the blocks do not keep, streamed.
    Stream(ObjectReader),
}

impl StoreHandle {
    /// An object, or `(offset, length)` of it, served as cheaply as the
    /// handle can: at once from its blocks when they hold the range (no
    /// request, no blocking), else as a [`Fetch`] to run.
    pub fn serve(self: &Arc<Self>, kind: Resource, mac: &Mac, range: Option<(u64, u32)>) -> Served {
        // Only ranges the blocks keep (at most half the cache).
        if let Some((offset, length)) = range.filter(|&(o, l)| self.keeps_range(kind, o, l)) {
            if let Some(pieces) = self.cached_range(kind, mac, offset, length) {
                return Served::Held(pieces);
            }
        }
        Served::Fetch(Fetch {
            store: self.clone(),
            kind,
            mac: *mac,
            range,
        })
    }
}

impl Fetch {
    /// Reads what [`StoreHandle::serve`] could not serve at once: a range
    /// the blocks keep through them (one request a missing block, or
    /// none if another reader brought them meanwhile), anything else as a
    /// stream.
    pub fn run(self) -> Result<Fetched, Error> {
        let Fetch {
            store,
            kind,
            mac,
            range,
        } = self;
        match range {
            Some((offset, length)) if store.keeps_range(kind, offset, length) => store
                .read_range_pieces(kind, &mac, offset, length)
                .map(Fetched::Bytes),
            _ => store.get_reader(kind, &mac, range).map(Fetched::Stream),
        }
    }
}
