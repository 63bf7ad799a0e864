//! The store as callers see it: the handle (configure, then call from any
//! thread), the streaming reader, the contract's types (resource kinds,
//! MACs) and its error.

pub(crate) mod error;
pub(crate) mod handle;
pub(crate) mod mac;
pub(crate) mod reader;
pub(crate) mod resource;
