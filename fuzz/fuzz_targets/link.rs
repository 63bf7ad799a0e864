#![no_main]
//! See `checks::link` for the input form and what is checked.

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::link(data));
