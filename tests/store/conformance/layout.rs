//! What the store leaves in the registry, seen by other tools.

use crate::conformance::contract::hex;
use crate::kit::{bytes, mac, plugin, Env};
use kloset_host::{ContractError, Error, Resource, StoreHandle};
use kloset_testkit::skopeo_inspect_raw_as;
use sha2::{Digest, Sha256};

const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const IMAGE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

pub fn skopeo_sees_valid_oci_artifacts(env: &Env) {
    let creds = env.skopeo_creds();
    let store = env.created();
    let data = bytes(4321, 5);
    store.put_bytes(Resource::EccState, &mac(5), &data).unwrap();
    let reference = format!(
        "{}/{}:ecc-state-{}",
        env.registry.authority(),
        env.repo,
        hex(&mac(5).0)
    );
    let m = skopeo_inspect_raw_as(&reference, creds.as_deref());
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    if env.allow_lists_media_types() {
        // GitLab and Quay take images, not our artifact types: an image
        // config, a tar layer, no artifactType.
        assert_eq!(m["artifactType"], serde_json::Value::Null);
        assert_eq!(m["config"]["mediaType"], IMAGE_CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], IMAGE_LAYER);
    } else {
        assert_eq!(
            m["artifactType"],
            "application/vnd.plakar.kloset.v1.ecc-state"
        );
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(m["config"]["digest"], EMPTY_DIGEST);
    }
    assert_eq!(m["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        m["layers"][0]["digest"],
        format!("sha256:{}", hex(&Sha256::digest(&data).into()))
    );
    assert_eq!(m["layers"][0]["size"], 4321);
    assert_eq!(m["annotations"]["io.plakar.kloset.resource"], "ecc-state");
    assert_eq!(m["annotations"]["io.plakar.kloset.mac"], hex(&mac(5).0));

    let config = skopeo_inspect_raw_as(
        &format!("{}/{}:config", env.registry.authority(), env.repo),
        creds.as_deref(),
    );
    if !env.allow_lists_media_types() {
        assert_eq!(
            config["artifactType"],
            "application/vnd.plakar.kloset.v1.config"
        );
    }
    assert_eq!(
        config["annotations"]["io.plakar.kloset.deletion"],
        env.deletion_annotation(),
        "create probed DELETE"
    );

    if !env.deletes {
        store.delete(Resource::EccState, &mac(5)).unwrap();
        let tomb = skopeo_inspect_raw_as(&reference, creds.as_deref());
        assert_eq!(
            tomb["artifactType"],
            "application/vnd.plakar.kloset.v1.tombstone"
        );
        assert_eq!(tomb["layers"][0]["digest"], EMPTY_DIGEST);
    }

    // media_type changes the artifact types.
    let custom = StoreHandle::new(
        plugin(),
        &env.config_with(&[
            ("media_type", "application/vnd.example.backup"),
            ("repository_prefix", "m"),
        ]),
    )
    .unwrap();
    custom.create(b"c").unwrap();
    custom.put_bytes(Resource::Lock, &mac(6), b"l").unwrap();
    let m = skopeo_inspect_raw_as(
        &format!(
            "{}/{}:m.lock-{}",
            env.registry.authority(),
            env.repo,
            hex(&mac(6).0)
        ),
        creds.as_deref(),
    );
    if !env.allow_lists_media_types() {
        assert_eq!(m["artifactType"], "application/vnd.example.backup.lock");
    }
}

pub fn prefixes_keep_stores_apart(env: &Env) {
    let open = |prefix: &str| {
        StoreHandle::new(plugin(), &env.config_with(&[("repository_prefix", prefix)])).unwrap()
    };
    let (a, b) = (open("laptop"), open("server"));
    a.create(b"config of a").unwrap();
    b.create(b"config of b").unwrap();
    a.put_bytes(Resource::State, &mac(1), b"a1").unwrap();
    b.put_bytes(Resource::State, &mac(2), b"b2").unwrap();
    b.put_bytes(Resource::State, &mac(1), b"b1").unwrap();
    assert_eq!(a.list(Resource::State).unwrap(), vec![mac(1)]);
    let mut listed = b.list(Resource::State).unwrap();
    listed.sort();
    let mut want = vec![mac(1), mac(2)];
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(a.get(Resource::State, &mac(1), None).unwrap(), b"a1");
    a.delete(Resource::State, &mac(1)).unwrap();
    assert_eq!(
        b.get(Resource::State, &mac(1), None).unwrap(),
        b"b1",
        "a delete in one store leaves the other alone"
    );
    assert_eq!(open("laptop").open().unwrap(), b"config of a");
    assert_eq!(open("server").open().unwrap(), b"config of b");
    assert_eq!(
        open("server").root().unwrap(),
        format!("{}#server", env.repo)
    );
    assert!(
        matches!(
            env.handle().open(),
            Err(Error::Contract(ContractError::NotFound(_)))
        ),
        "no store without a prefix there"
    );
}

pub fn a_corrupted_blob_is_an_integrity_error(env: &Env) {
    let store = env.created();
    let data = bytes(50_000, 11);
    store
        .put_bytes(Resource::Packfile, &mac(11), &data)
        .unwrap();
    let hex_digest = hex(&Sha256::digest(&data).into());
    let path = env.registry.blob_path(&hex_digest);
    let mut stored =
        std::fs::read(&path).unwrap_or_else(|e| panic!("blob file {}: {e}", path.display()));
    assert_eq!(stored, data, "the registry holds the exact bytes");
    stored[25_000] ^= 0x40;
    std::fs::write(&path, &stored).unwrap();
    for view in [&store, &env.handle()] {
        match view.get(Resource::Packfile, &mac(11), None) {
            Err(Error::Contract(ContractError::Integrity(m))) => {
                assert!(m.contains("do not match"), "{m}")
            }
            // go-containerregistry's registry checks a blob's hash as it
            // reads it and answers 404 when it does not match (its
            // blobs_disk.go): the damaged bytes never leave it.
            Err(Error::Contract(ContractError::NotFound(m)))
                if env.flavor == crate::kit::Flavor::Crane =>
            {
                assert!(m.contains("GET blob"), "{m}")
            }
            other => panic!(
                "expected an integrity error, got {:?}",
                other.map(|b| b.len())
            ),
        }
    }
}
