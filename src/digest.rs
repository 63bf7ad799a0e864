//! sha256 digests in the OCI `sha256:<hex>` form.

use sha2::{Digest as _, Sha256};

/// `sha256:<64 lowercase hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `text` is a well-formed sha256 digest. Others (sha512, ...) are
/// refused: we only ever write sha256, so anything else is not ours.
pub fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A digest computed as bytes stream past.
#[derive(Clone, Default)]
pub struct StreamingDigest {
    hasher: Sha256,
    length: u64,
}

impl StreamingDigest {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
    }

    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let mut s = StreamingDigest::default();
        s.update(b"{");
        s.update(b"}");
        assert_eq!(s.length(), 2);
        assert_eq!(s.finish(), sha256_digest(b"{}"));
    }

    #[test]
    fn digest_form_is_strict() {
        assert!(is_sha256_digest(&sha256_digest(b"x")));
        assert!(!is_sha256_digest("sha512:abcd"));
        assert!(!is_sha256_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_sha256_digest("sha256:"));
    }
}
