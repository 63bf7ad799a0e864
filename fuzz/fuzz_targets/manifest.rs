#![no_main]
//! See `checks::manifest` for the input form and what is checked.

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::manifest(data));
