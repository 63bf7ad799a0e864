#![no_main]
//! See `checks::www_authenticate` for the input form and what is checked.

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::www_authenticate(data));
