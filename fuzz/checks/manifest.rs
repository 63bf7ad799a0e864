//! The `manifest` target's check (input form: see `checks`).

use super::*;

/// Manifests: whatever sits at our tag is accepted only when it names that
/// very key and one sha256 layer; and every manifest we build parses back
/// to what was built, and to nothing under another key.
pub fn manifest(data: &[u8]) {
    for kind in Resource::ALL {
        match parse_object(data, kind, &SEED_MAC, None, "t") {
            Ok(entry) => {
                // serde skips unknown fields without checking their text, so
                // `Value` may refuse what the manifest reader took.
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
                    continue;
                };
                let ann = &v["annotations"];
                assert_eq!(ann["io.plakar.kloset.resource"], kind.name());
                assert_eq!(ann["io.plakar.kloset.mac"], SEED_MAC.to_hex());
                let role = match &entry {
                    ObjectEntry::Object(blob) => {
                        assert!(is_sha256_digest(&blob.digest));
                        assert_eq!(v["layers"][0]["digest"], blob.digest.as_str());
                        "object"
                    }
                    ObjectEntry::Tombstone => "tombstone",
                };
                assert_eq!(ann["io.plakar.kloset.role"], role);
            }
            Err(error) => {
                assert!(matches!(error, StoreError::Integrity(_)), "{error:?}");
                assert_tame(&error);
            }
        }
    }
    match parse_config(data, "config") {
        Ok(entry) => {
            assert!(is_sha256_digest(&entry.blob.digest));
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                assert_eq!(v["annotations"]["io.plakar.kloset.role"], "config");
            }
        }
        Err(error) => {
            assert!(matches!(error, StoreError::Integrity(_)), "{error:?}");
            assert_tame(&error);
        }
    }
    round_trip(data);
}

/// Builds our manifests from values taken from the input, and reads them.
fn round_trip(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let kind = Resource::ALL[usize::from(byte(0)) % Resource::ALL.len()];
    let mut mac = [0u8; 32];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = byte(i + 1);
    }
    let mac = Mac(mac);
    let size = u64::from_le_bytes(std::array::from_fn(|i| byte(33 + i)));
    let blob = BlobRef {
        digest: sha256_digest(data),
        size,
    };
    // Both profiles, by the input's last byte.
    let media = match data.last().copied().unwrap_or(0) & 1 {
        0 => Media::artifact(MEDIA_TYPE),
        _ => Media::image(MEDIA_TYPE),
    };
    let object = object_manifest(&media, kind, &mac, None, &blob);
    assert!(object.len() < 1024, "{} bytes", object.len());
    assert_eq!(
        parse_object(&object, kind, &mac, None, "t").unwrap(),
        ObjectEntry::Object(blob.clone())
    );
    let mut other = mac;
    other.0[31] ^= 1;
    assert!(parse_object(&object, kind, &other, None, "t").is_err());
    let tombstone = marker_manifest(&media, kind, &mac, None, false);
    assert_eq!(
        parse_object(&tombstone, kind, &mac, None, "t").unwrap(),
        ObjectEntry::Tombstone
    );
    assert!(parse_object(
        &marker_manifest(&media, kind, &mac, None, true),
        kind,
        &mac,
        None,
        "t"
    )
    .is_err());
    let prefix = String::from_utf8_lossy(&data[data.len().min(41)..]).into_owned();
    let deletion = match byte(0) & 0x80 {
        0 => Deletion::Registry,
        _ => Deletion::Tombstone,
    };
    let config = config_manifest(&media, Some(&prefix), &blob, deletion, None);
    let entry = parse_config(&config, "config").unwrap();
    assert_eq!(
        (entry.blob, entry.deletion, entry.profile),
        (blob, deletion, media.profile)
    );
}
