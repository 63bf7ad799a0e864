//! The bytes the exerciser stores: each object is a prefix of a pattern
//! named by a seed, computed at any offset without being kept, so a
//! 256 MiB object is sent and checked in bounded memory, and any range
//! of it is known without reading the rest.

use sha2::{Digest, Sha256};

/// An endless byte sequence, the same for the same seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern(pub u64);

/// An object's content: the first `len` bytes of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    pub pattern: Pattern,
    pub len: u64,
}

impl Pattern {
    /// The 8 bytes at `8 * word` (splitmix64 of the seed and the index:
    /// random-looking, so no store can compress or deduplicate inside an
    /// object, and cheap enough to make hundreds of MiB a second).
    fn word(self, word: u64) -> [u8; 8] {
        let mut z = self
            .0
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(word.wrapping_mul(0xbf58_476d_1ce4_e5b9));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Fills `out` with the bytes from `offset` on.
    pub fn fill(self, offset: u64, out: &mut [u8]) {
        let mut pos = offset;
        let mut i = 0;
        while i < out.len() {
            let word = self.word(pos / 8);
            let skip = (pos % 8) as usize;
            let n = (8 - skip).min(out.len() - i);
            out[i..i + n].copy_from_slice(&word[skip..skip + n]);
            i += n;
            pos += n as u64;
        }
    }

    /// `len` bytes from `offset`.
    pub fn bytes(self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.fill(offset, &mut out);
        out
    }
}

impl Content {
    pub fn new(seed: u64, len: u64) -> Content {
        Content {
            pattern: Pattern(seed),
            len,
        }
    }

    /// The whole content's sha256, computed in 1 MiB pieces.
    pub fn sha256(self) -> [u8; 32] {
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0;
        while at < self.len {
            let n = (self.len - at).min(buf.len() as u64) as usize;
            self.pattern.fill(at, &mut buf[..n]);
            hash.update(&buf[..n]);
            at += n as u64;
        }
        hash.finalize().into()
    }
}

/// A MAC made from a check's name and a number: 32 bytes, distinct per
/// (name, number), the same on every run.
pub fn mac(check: &str, n: u32) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"plakar-store-exerciser/");
    hash.update(check.as_bytes());
    hash.update(n.to_le_bytes());
    hash.finalize().into()
}

/// A seed made the same way, for contents.
pub fn seed(check: &str, n: u32) -> u64 {
    let m = mac(check, n);
    u64::from_le_bytes(m[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_offset_gives_the_same_bytes_as_reading_from_the_start() {
        let p = Pattern(42);
        let whole = p.bytes(0, 100);
        for offset in [0u64, 1, 7, 8, 9, 31, 50] {
            for len in [0usize, 1, 5, 8, 13, 40] {
                assert_eq!(
                    p.bytes(offset, len),
                    whole[offset as usize..offset as usize + len],
                    "{offset}+{len}"
                );
            }
        }
        assert_ne!(Pattern(43).bytes(0, 16), whole[..16]);
    }
}
