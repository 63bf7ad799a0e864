//! The generated protocol types, server and client of `proto/store.proto`.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("store");
