//! The store as callers see it: the handle (configure, then call from any
//! thread), the streaming reader, MACs as callers write them, and the error
//! callers get. Resource kinds are the protocol crate's, re-exported.

pub(crate) mod error;
pub(crate) mod handle;
pub(crate) mod mac;
pub(crate) mod reader;
