use super::*;
use crate::digest::sha256_digest;

const FAMILY: &str = "application/vnd.plakar.kloset.v1";
const MT: &Media = &Media::artifact(FAMILY);

fn blob() -> BlobRef {
    BlobRef {
        digest: sha256_digest(b"data"),
        size: 4,
    }
}

#[test]
fn object_manifest_is_an_oci_artifact() {
    let bytes = object_manifest(MT, Resource::State, &Mac([7; 32]), None, &blob());
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_MANIFEST);
    assert_eq!(v["artifactType"], "application/vnd.plakar.kloset.v1.state");
    assert_eq!(v["config"]["digest"], EMPTY_DIGEST);
    assert_eq!(v["config"]["size"], 2);
    assert_eq!(v["layers"][0]["digest"], blob().digest);
    assert_eq!(v["annotations"]["io.plakar.kloset.mac"], "07".repeat(32));
    assert_eq!(sha256_digest(EMPTY_CONTENT), EMPTY_DIGEST);
}

#[test]
fn keys_never_share_a_manifest() {
    let a = object_manifest(MT, Resource::State, &Mac([1; 32]), None, &blob());
    let b = object_manifest(MT, Resource::Lock, &Mac([1; 32]), None, &blob());
    let c = object_manifest(MT, Resource::State, &Mac([2; 32]), None, &blob());
    assert!(a != b && a != c && b != c);
    let t1 = marker_manifest(MT, Resource::Lock, &Mac([1; 32]), None, false);
    let t2 = marker_manifest(MT, Resource::Lock, &Mac([2; 32]), None, false);
    let r1 = marker_manifest(MT, Resource::Lock, &Mac([1; 32]), None, true);
    assert!(t1 != t2 && t1 != r1);
    assert_ne!(probe_manifest(MT, None), probe_manifest(MT, Some("x")));
}

#[test]
fn parse_checks_the_key() {
    let mac = Mac([7; 32]);
    let bytes = object_manifest(MT, Resource::State, &mac, None, &blob());
    assert_eq!(
        parse_object(&bytes, Resource::State, &mac, None, "t").unwrap(),
        ObjectEntry::Object(blob())
    );
    assert!(matches!(
        parse_object(&bytes, Resource::Lock, &mac, None, "t"),
        Err(StoreError::Integrity(_))
    ));
    assert!(matches!(
        parse_object(&bytes, Resource::State, &Mac([8; 32]), None, "t"),
        Err(StoreError::Integrity(_))
    ));
    let tomb = marker_manifest(MT, Resource::State, &mac, None, false);
    assert_eq!(
        parse_object(&tomb, Resource::State, &mac, None, "t").unwrap(),
        ObjectEntry::Tombstone
    );
    let revived = marker_manifest(MT, Resource::State, &mac, None, true);
    assert!(parse_object(&revived, Resource::State, &mac, None, "t").is_err());
}

#[test]
fn prefixes_make_manifests_unique_and_are_checked() {
    let mac = Mac([7; 32]);
    let a = object_manifest(MT, Resource::Lock, &mac, Some("a"), &blob());
    let b = object_manifest(MT, Resource::Lock, &mac, Some("b"), &blob());
    let none = object_manifest(MT, Resource::Lock, &mac, None, &blob());
    assert!(a != b && a != none && b != none, "one manifest per prefix");
    assert!(
        marker_manifest(MT, Resource::Lock, &mac, Some("a"), false)
            != marker_manifest(MT, Resource::Lock, &mac, Some("b"), false)
    );
    let obj = ObjectEntry::Object(blob());
    assert_eq!(
        parse_object(&a, Resource::Lock, &mac, Some("a"), "t").unwrap(),
        obj
    );
    assert!(parse_object(&a, Resource::Lock, &mac, Some("b"), "t").is_err());
    assert!(parse_object(&a, Resource::Lock, &mac, None, "t").is_err());
    assert!(parse_object(&none, Resource::Lock, &mac, Some("a"), "t").is_err());
    // Written before prefixes were annotated (no prefix annotation at
    // all): still read under any prefix, but named by none of them, so
    // a delete replaces it first, whoever else may share it.
    let mut old: serde_json::Value = serde_json::from_slice(&none).unwrap();
    old["annotations"]
        .as_object_mut()
        .unwrap()
        .remove(PREFIX)
        .expect("the unprefixed manifest names the empty prefix");
    let old = serde_json::to_vec(&old).unwrap();
    for prefix in [Some("a"), None] {
        assert_eq!(
            parse_object(&old, Resource::Lock, &mac, prefix, "t").unwrap(),
            obj
        );
        assert!(!names_prefix(&old, prefix), "{prefix:?}");
    }
    assert!(names_prefix(&a, Some("a")) && names_prefix(&none, None));
    assert!(!names_prefix(&none, Some("a")) && !names_prefix(&b, Some("a")));
    assert!(!names_prefix(&a, None));
}

#[test]
fn foreign_or_broken_manifests_are_refused() {
    let mac = Mac([7; 32]);
    let docker_image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}"#;
    let huge = vec![b' '; MAX_MANIFEST_BYTES + 1];
    for bad in [
        &b"{"[..],
        &br#"{"schemaVersion":1}"#[..],
        &docker_image[..],
        &huge[..],
    ] {
        assert!(matches!(
            parse_object(bad, Resource::State, &mac, None, "t"),
            Err(StoreError::Integrity(_))
        ));
    }
}

#[test]
fn unreadable_manifests_are_not_quoted_whole() {
    // Found by fuzzing (`manifest`): a long string where a number
    // belongs went whole into the error.
    let body = format!(r#"{{"schemaVersion":"{}"}}"#, "x".repeat(100_000));
    match parse_object(body.as_bytes(), Resource::State, &Mac([7; 32]), None, "t") {
        Err(StoreError::Integrity(m)) => assert!(m.len() < 400, "{} bytes", m.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_round_trip() {
    for d in [Deletion::Registry, Deletion::Tombstone] {
        let bytes = config_manifest(MT, Some("p"), &blob(), d, None);
        assert_eq!(
            parse_config(&bytes, "config").unwrap(),
            ConfigEntry {
                blob: blob(),
                deletion: d,
                profile: Profile::Artifact
            }
        );
    }
    let obj = object_manifest(MT, Resource::State, &Mac([7; 32]), None, &blob());
    assert!(parse_config(&obj, "config").is_err());
}

#[test]
fn image_profile_manifests_read_as_the_artifact_ones_do() {
    let image = &Media::image(FAMILY);
    let mac = Mac([9; 32]);
    let bytes = object_manifest(image, Resource::Packfile, &mac, None, &blob());
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v.get("artifactType").is_none());
    assert_eq!(v["config"]["mediaType"], IMAGE_CONFIG_MEDIA_TYPE);
    assert_eq!(v["config"]["digest"], image_config_blob().digest);
    assert_eq!(v["layers"][0]["mediaType"], IMAGE_LAYER_MEDIA_TYPE);
    assert_eq!(
        parse_object(&bytes, Resource::Packfile, &mac, None, "t").unwrap(),
        ObjectEntry::Object(blob())
    );
    let tomb = marker_manifest(image, Resource::Packfile, &mac, None, false);
    assert_eq!(
        parse_object(&tomb, Resource::Packfile, &mac, None, "t").unwrap(),
        ObjectEntry::Tombstone
    );
    let config = config_manifest(image, None, &blob(), Deletion::Tombstone, None);
    assert_eq!(
        parse_config(&config, "config").unwrap(),
        ConfigEntry {
            blob: blob(),
            deletion: Deletion::Tombstone,
            profile: Profile::Image
        }
    );
    // Never the same manifest as the artifact profile's for a key.
    assert_ne!(
        bytes,
        object_manifest(MT, Resource::Packfile, &mac, None, &blob())
    );
    // The image config is what the image spec requires of one.
    let image_config: serde_json::Value = serde_json::from_slice(IMAGE_CONFIG_CONTENT).unwrap();
    for field in ["architecture", "os", "rootfs"] {
        assert!(image_config.get(field).is_some(), "{field}");
    }
}
