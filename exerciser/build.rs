//! Compiles the plugin's own description of Plakar's storage protocol
//! (plakar-plugin/proto/store.proto, one file for both sides) with protox
//! (pure Rust, no `protoc`), into a tonic client for the exerciser and a
//! server for its fake plugin.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../plakar-plugin/proto/store.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["../plakar-plugin/proto"])?;
    tonic_prost_build::configure()
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
