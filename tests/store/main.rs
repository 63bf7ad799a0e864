//! The store against real registries, through the wasmtime host: the Kloset
//! store contract on eight registry flavours (`conformance`) and every other
//! registry and OCI client this machine runs (`registries`), and the hosted
//! registries' personalities themselves (`personalities`), and the
//! plugin's one call for a Get (`serve`). `kit` holds
//! their shared fixtures; servers and clients come from `kloset-testkit`.

mod kit;

mod conformance;
mod costs;
mod personalities;
mod registries;
mod serve;
