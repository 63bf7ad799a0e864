//! Reading the JSON documents registries and token servers send. Each is a
//! JSON object; serde's derived structs would also take an array of the
//! fields in order (`["tok"]` read as a token answer), so that is refused
//! here, before serde sees it.

use serde::de::{DeserializeOwned, Error as _};

/// `bytes` as a `T`, when they are a JSON object.
pub fn from_object<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    // JSON's whitespace (RFC 8259 section 2), then the object's brace.
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if start.is_some_and(|i| bytes[i] == b'{') {
        serde_json::from_slice(bytes)
    } else {
        Err(serde_json::Error::custom("not a JSON object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Answer {
        token: String,
    }

    #[test]
    fn objects_only() {
        // Found by fuzzing (`token_response`): `["t"]` was read as a token.
        assert_eq!(
            from_object::<Answer>(b" \n{\"token\":\"t\"}").unwrap(),
            Answer { token: "t".into() }
        );
        for bad in [&b"[\"t\"]"[..], b"", b"  ", b"\"t\""] {
            assert!(from_object::<Answer>(bad).is_err(), "{bad:?}");
        }
    }
}
