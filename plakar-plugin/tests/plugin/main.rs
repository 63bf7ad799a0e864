//! The plugin's integration tests, in one binary: the gRPC service driven
//! directly (`grpc`), and the real plakar CLI through it (`cli`).

#[path = "../../../tests/common/mod.rs"]
mod common;
mod support;

mod cli;
mod grpc;
