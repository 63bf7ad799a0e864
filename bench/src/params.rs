//! Sizes and counts: the full run, and a short one for CI that only
//! shows the bench runs and reports well-formed results.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// Packfile size for puts, whole gets and the ranged-get source.
    pub large_size: usize,
    /// Packfiles put (then read whole) per path.
    pub large_count: usize,
    /// Ranged gets per path, 4 KiB to 1 MiB.
    pub ranged_count: usize,
    pub lock_size: usize,
    pub lock_cycles: usize,
    /// Objects in the listed repository, and lists per path.
    pub list_objects: usize,
    pub list_runs: usize,
    /// Concurrent callers on one handle.
    pub concurrency: Vec<usize>,
    /// Puts per concurrency level (split between callers) and their size.
    pub concurrent_puts: usize,
    pub concurrent_put_size: usize,
    /// Ranged gets per concurrency level.
    pub concurrent_ranged: usize,
    /// sha256 timing: 1 MiB hashed this many times, best of `sha256_runs`.
    pub sha256_mib: u32,
    pub sha256_runs: usize,
    /// Start-up timing: compilations, and cached loads.
    pub cold_starts: usize,
    pub cached_starts: usize,
}

impl Params {
    pub fn full() -> Self {
        Params {
            large_size: 64 << 20,
            large_count: 8,
            ranged_count: 2000,
            lock_size: 300,
            lock_cycles: 500,
            list_objects: 10_000,
            list_runs: 10,
            concurrency: vec![1, 2, 4, 8],
            concurrent_puts: 8,
            concurrent_put_size: 64 << 20,
            concurrent_ranged: 1000,
            sha256_mib: 256,
            sha256_runs: 3,
            cold_starts: 2,
            cached_starts: 20,
        }
    }

    /// Small enough for CI, yet every path is taken: objects past the
    /// 8 MiB buffer limit are streamed, and the list spans pages.
    pub fn short() -> Self {
        Params {
            large_size: 9 << 20,
            large_count: 2,
            ranged_count: 20,
            lock_size: 300,
            lock_cycles: 5,
            list_objects: 1_050,
            list_runs: 2,
            concurrency: vec![1, 2, 4, 8],
            concurrent_puts: 8,
            concurrent_put_size: 256 << 10,
            concurrent_ranged: 40,
            sha256_mib: 8,
            sha256_runs: 1,
            cold_starts: 1,
            cached_starts: 3,
        }
    }
}
