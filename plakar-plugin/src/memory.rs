//! The process's allocator, tuned once at start so that the plugin's peak
//! memory is what it holds, not what glibc kept after it was freed.
//!
//! The plugin moves MiB-sized buffers between many threads (blocking store
//! calls, reads ahead, gRPC): blocks of packfiles, ranges, 1 MiB write
//! chunks. With glibc's defaults each thread may get an arena of its own
//! (up to 8 per core), and the threshold above which an allocation is its
//! own mapping rises, after the first such buffer is freed, up to 32 MiB:
//! from then on those buffers come from the arenas, which keep what is
//! freed. Sampled here (smaps of the plugin during a `-concurrency 8`
//! backup over the 40 ms link): 82 to 87 MiB of the plugin's 234 to 243
//! MiB were arena heaps. A fixed threshold of 128 KiB keeps every buffer
//! of that size its own mapping, returned to the system when freed (a
//! mapping and its page faults per buffer: small beside a request), and
//! two arenas bound what the small allocations leave behind.

/// Allocations from this size on are mappings of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 << 10;

/// Arenas for the plugin's threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 2;

/// Applies the tuning; call before any other thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called from `main`
    // before the runtime's threads exist. A refusal (0) leaves glibc's
    // defaults, which work, only with more memory.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
