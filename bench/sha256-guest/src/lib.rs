//! A component exporting one function that hashes with sha256, so the
//! benchmark can time hashing in wasm with the store component's own crate
//! and build profile. Empty on targets other than wasi.
#![cfg(target_os = "wasi")]

use sha2::{Digest, Sha256};

wit_bindgen::generate!({
    path: "wit",
    world: "sha256-bench",
});

struct Sha256Bench;

impl Guest for Sha256Bench {
    fn sha256_repeated(data: Vec<u8>, rounds: u32) -> Vec<u8> {
        let mut hasher = Sha256::new();
        for _ in 0..rounds {
            hasher.update(&data);
        }
        hasher.finalize().to_vec()
    }
}

export!(Sha256Bench);
