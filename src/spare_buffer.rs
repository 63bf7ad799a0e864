//! One large buffer kept for the next put, so a put's chunk is never a
//! fresh allocation.
//!
//! A put holds one chunk at a time (8 MiB by default): the buffer its
//! first bytes gather in, then each chunk PATCHed. Freed at the end of a
//! put, that space is where the allocator places the small things the
//! next calls keep (blob mappings, URLs), and the next put's chunk no
//! longer fits in what is left of it: it comes from new linear memory,
//! which never shrinks. Measured (one instance, 20 MiB puts through the
//! host): 11.1 MiB of linear memory after the first put, 18.1 MiB from
//! the second on; plakar's backups at `-concurrency 8` held 16 to 17 MiB
//! in each of the four instances writing. Kept here instead, the buffer
//! is never freed, so nothing else settles in it.
//!
//! The component runs on one thread; each native thread has its own (the
//! unit tests below rely on that: each runs on a thread of its own).

use std::cell::RefCell;

/// Buffers below this size are left to the allocator: small objects'.
const KEEP_FROM: usize = 1 << 20;

/// Buffers above this size are freed too: a monolithic put's buffer (as
/// large as its object) or a chunk a registry asked to be larger
/// (`OCI-Chunk-Min-Length`, up to `chunked::MAX_CHUNK`), kept, would hold
/// its size for the instance's life, beside the next such put's own.
/// 32 MiB covers the default chunk and any `chunk_size` up to it.
const KEEP_AT_MOST: usize = 32 << 20;

thread_local! {
    static SPARE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for `capacity` bytes: the kept one when it
/// is large enough, else a new one of exactly that room (a kept one too
/// small is freed first, so its space can serve).
pub fn take(capacity: usize) -> Vec<u8> {
    let spare = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
    if spare.capacity() >= capacity {
        return spare;
    }
    drop(spare);
    Vec::with_capacity(capacity)
}

/// Keeps `buffer` (emptied) for the next [`take`] if it is a chunk's size
/// and larger than the one kept; frees it otherwise.
pub fn give_back(mut buffer: Vec<u8>) {
    if !(KEEP_FROM..=KEEP_AT_MOST).contains(&buffer.capacity()) {
        return;
    }
    buffer.clear();
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if buffer.capacity() > spare.capacity() {
            *spare = buffer;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_the_next_one_taken() {
        let first = take(8 << 20);
        assert_eq!(first.capacity(), 8 << 20);
        let at = first.as_ptr();
        let mut used = first;
        used.extend_from_slice(&[1; 1000]);
        give_back(used);
        let again = take(4 << 20);
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(again.is_empty(), "handed out empty");
        assert_eq!(again.capacity(), 8 << 20);
        // Taken: the next one is new.
        let other = take(8 << 20);
        assert_ne!(other.as_ptr(), at);
        give_back(again);
        give_back(other);
    }

    #[test]
    fn small_buffers_are_not_kept_and_larger_ones_win() {
        give_back(Vec::with_capacity(KEEP_FROM - 1));
        assert_eq!(take(1).capacity(), 1, "nothing was kept");
        // A monolithic put's buffer is not kept either.
        give_back(Vec::with_capacity(KEEP_AT_MOST + 1));
        assert_eq!(take(1).capacity(), 1, "nothing was kept");
        give_back(Vec::with_capacity(2 << 20));
        give_back(Vec::with_capacity(4 << 20));
        give_back(Vec::with_capacity(3 << 20));
        assert_eq!(take(1).capacity(), 4 << 20, "the largest is kept");
        // A kept buffer too small for what is asked is not handed out.
        give_back(Vec::with_capacity(2 << 20));
        assert_eq!(take(8 << 20).capacity(), 8 << 20);
        assert_eq!(take(1).capacity(), 1, "and it was freed, not kept");
    }
}
