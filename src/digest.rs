//! sha256 digests in the OCI `sha256:<hex>` form.

use crate::error::StoreError;
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

/// An object's digest as it is written: computed here as the bytes pass,
/// or handed at the end by a caller that hashed them itself (a native host
/// hashes several times faster than wasm; WIT `put-hashed`).
#[derive(Clone)]
pub enum WrittenDigest {
    Computing(StreamingDigest),
    /// The caller hashes: only the length is counted here.
    Handed {
        length: u64,
    },
}

impl WrittenDigest {
    pub fn computing() -> Self {
        WrittenDigest::Computing(StreamingDigest::default())
    }

    pub fn handed() -> Self {
        WrittenDigest::Handed { length: 0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            WrittenDigest::Computing(digest) => digest.update(bytes),
            WrittenDigest::Handed { length } => *length += bytes.len() as u64,
        }
    }

    pub fn length(&self) -> u64 {
        match self {
            WrittenDigest::Computing(digest) => digest.length(),
            WrittenDigest::Handed { length } => *length,
        }
    }

    /// The digest of the bytes written: the one computed, or `handed`,
    /// which a caller that hashes must give (and one that does not must
    /// not). A handed digest of another form than `sha256:<64 lowercase
    /// hex>` is refused here; whether it is the bytes' is for the registry's
    /// check at the upload's close (or the caller of this, where no upload
    /// happens).
    pub fn finish(&self, handed: Option<&str>) -> Result<String, StoreError> {
        match (self, handed) {
            (WrittenDigest::Computing(digest), None) => Ok(digest.clone().finish()),
            (WrittenDigest::Handed { .. }, Some(digest)) if is_sha256_digest(digest) => {
                Ok(digest.to_string())
            }
            (WrittenDigest::Handed { .. }, Some(_)) => Err(StoreError::InvalidArgument(
                "the digest handed is not of the form sha256:<64 lowercase hex digits>".into(),
            )),
            (WrittenDigest::Handed { .. }, None) => Err(StoreError::InvalidArgument(
                "this writer's caller hashes: finish it with the digest".into(),
            )),
            (WrittenDigest::Computing(_), Some(_)) => Err(StoreError::InvalidArgument(
                "this writer hashes what it is given: finish it without a digest".into(),
            )),
        }
    }

    /// Whether the digest comes from the caller.
    pub fn is_handed(&self) -> bool {
        matches!(self, WrittenDigest::Handed { .. })
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

    #[test]
    fn a_handed_digest_is_taken_only_in_its_form_and_only_from_a_caller_that_hashes() {
        let right = sha256_digest(b"abc");
        let mut handed = WrittenDigest::handed();
        handed.update(b"ab");
        handed.update(b"c");
        assert_eq!(handed.length(), 3);
        assert_eq!(handed.finish(Some(&right)).unwrap(), right);
        let malformed = [
            ("empty", String::new()),
            ("no algorithm", right["sha256:".len()..].to_string()),
            (
                "upper case",
                right.to_uppercase().replace("SHA256", "sha256"),
            ),
            ("short", right[..70].to_string()),
            ("long", format!("{right}0")),
            ("sha512", right.replace("sha256", "sha512")),
            ("spaces", format!(" {right}")),
        ];
        for (name, digest) in malformed {
            assert!(
                matches!(
                    handed.finish(Some(&digest)),
                    Err(StoreError::InvalidArgument(_))
                ),
                "{name}"
            );
        }
        assert!(matches!(
            handed.finish(None),
            Err(StoreError::InvalidArgument(_))
        ));

        let mut computing = WrittenDigest::computing();
        computing.update(b"abc");
        assert_eq!(computing.finish(None).unwrap(), right);
        assert!(matches!(
            computing.finish(Some(&right)),
            Err(StoreError::InvalidArgument(_))
        ));
    }
}
