//! The store as callers see it: the handle (configure, then call from any
//! thread), the streaming reader, the one call for callers that must not
//! block (`serve`) and the error callers get. Resource kinds
//! and MACs are the protocol crate's, re-exported.

pub(crate) mod handle;
mod instruments;
mod put_slots;
pub(crate) mod read_cache;
pub(crate) mod reader;
pub(crate) mod serve;
