//! Everything between the component's wasi:http requests and the network:
//! the `send_request` hook that decides, counts and sends ([`hook`]), the
//! allow-list and address rules it decides by, TLS, timeouts, the pooled
//! HTTP client, and the native transport (the protocol crate compiled
//! natively over the same egress, for `publish` and the bench).

pub(crate) mod address;
pub(crate) mod allow_list;
pub(crate) mod client;
mod counts;
pub(crate) mod error;
mod hook;
pub(crate) mod http_wire;
pub(crate) mod native_transport;
pub(crate) mod response_body;
pub(crate) mod timeouts;
pub(crate) mod tls;

pub use counts::RequestCounts;
pub use hook::Egress;
pub(crate) use hook::{BoxFuture, Wire};
