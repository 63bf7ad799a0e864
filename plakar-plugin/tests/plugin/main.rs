//! The plugin's integration tests, in one binary: the gRPC service driven
//! directly (`grpc`), its end with calls in flight and the leftover-lock
//! count beside plakar's fs store (`exit`), the real plakar CLI through it
//! (`cli`), and plakar's repositories copied by standard OCI tools, read
//! through a pull-through mirror and paged on distribution v3
//! (`registries`), and plakar's whole life through each hosted registry's
//! personality (`hosted`).

mod support;

mod cli;
mod exerciser;
mod exit;
mod grpc;
mod hosted;
mod registries;
