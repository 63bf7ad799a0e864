//! Compiles proto/store.proto with protox (pure Rust: no `protoc` needed on
//! the machine) and generates the tonic server and client for it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/store.proto");
    let descriptors = protox::compile(["proto/store.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // Chunks and MACs as `Bytes`: handed on without a copy.
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
