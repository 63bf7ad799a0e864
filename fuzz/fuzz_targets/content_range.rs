#![no_main]
//! See `checks::content_range` for the input form and what is checked.

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::content_range(data));
