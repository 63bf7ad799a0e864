//! `size` over a scripted registry: the sizes it adds come from
//! manifests, which a registry (or whoever wrote to the repository) can
//! make say anything.

use super::*;
use crate::config::StoreConfig;
use crate::digest::sha256_digest;
use crate::layout::Layout;
use crate::manifest::Media;
use crate::manifest::{object_manifest, BlobRef};
use crate::scripted::{Answer, Scripted};

const MEDIA: &str = "application/vnd.kloset.test";

fn store(answers: Vec<Answer>) -> Rc<OciStore<Scripted>> {
    store_with(&[], answers)
}

/// A store of `oci://r:5000/team/repo` over plain http, without retries,
/// with `options` besides, answered by `answers` in order.
pub(crate) fn store_with(options: &[(&str, &str)], answers: Vec<Answer>) -> Rc<OciStore<Scripted>> {
    let pairs: Vec<(String, String)> = [
        ("location", "oci://r:5000/team/repo"),
        ("use_tls", "false"),
        ("retries", "0"),
    ]
    .iter()
    .chain(options)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = StoreConfig::parse(&pairs).expect("a valid configuration");
    OciStore::new(config, Scripted::new(answers))
}

/// What the scripted registry was asked: method and URL path (with query).
pub(crate) fn asked(s: &OciStore<Scripted>) -> Vec<String> {
    s.repo
        .client
        .transport()
        .asked
        .borrow()
        .iter()
        .map(|a| {
            let path = a.uri.trim_start_matches("http://r:5000/v2/team/repo/");
            format!("{} {path}", a.method)
        })
        .collect()
}

fn blob(size: u64) -> BlobRef {
    BlobRef {
        digest: sha256_digest(format!("blob of {size}").as_bytes()),
        size,
    }
}

/// A registry holding the configuration (of `config_size` bytes) and
/// one packfile per entry of `sizes`, each manifest announcing that
/// size: the answers `size` gets, in the order it asks.
fn registry(config_size: u64, sizes: &[u64]) -> Vec<Answer> {
    let layout = Layout::new(None);
    let macs: Vec<Mac> = (1..=sizes.len() as u8).map(|n| Mac([n; 32])).collect();
    let mut tags = vec![layout.config_tag()];
    tags.extend(
        macs.iter()
            .map(|m| layout.object_tag(Resource::Packfile, m)),
    );
    let page = serde_json::json!({ "name": "team/repo", "tags": tags });
    let mut answers = vec![
        Answer::new(200, &serde_json::to_vec(&page).unwrap())
            .to("GET /v2/team/repo/tags/list?n=1000"),
        Answer::new(
            200,
            &config_manifest(
                &Media::artifact(MEDIA),
                None,
                &blob(config_size),
                Deletion::Registry,
                None,
            ),
        )
        .to("GET /v2/team/repo/manifests/config"),
    ];
    for (mac, size) in macs.iter().zip(sizes) {
        let manifest = object_manifest(
            &Media::artifact(MEDIA),
            Resource::Packfile,
            mac,
            None,
            &blob(*size),
        );
        answers.push(Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/packfile-*"));
    }
    answers
}

#[test]
fn size_adds_the_configuration_and_every_live_object() {
    let s = store(registry(1000, &[5, 7]));
    assert_eq!(s.size().unwrap(), 1012);
    // Up to 2^64 - 1 bytes in all is a size, if an unlikely one.
    let s = store(registry(1, &[u64::MAX / 2, u64::MAX / 2]));
    assert_eq!(s.size().unwrap(), u64::MAX);
}

#[test]
fn sizes_adding_up_past_u64_are_refused_not_wrapped() {
    // Each size alone is possible; their sum is not a number of bytes.
    // Unchecked, this panics in a debug build (the guest would trap)
    // and in a release build wraps to 1000 bytes.
    for sizes in [
        vec![u64::MAX / 2 + 1, u64::MAX / 2 + 1],
        vec![1, u64::MAX],
        vec![1, u64::MAX - 1000],
    ] {
        let s = store(registry(1000, &sizes));
        match s.size() {
            Err(StoreError::Integrity(m)) => assert!(m.contains("2^64"), "{sizes:?}: {m}"),
            other => panic!("{sizes:?}: {other:?}"),
        }
        // It stopped at the sum that overflowed: every manifest was
        // asked for, none beyond.
        assert_eq!(
            s.repo.client.transport().asked.borrow().len(),
            2 + sizes.len()
        );
    }
}

/// `mode` (an upload session opened and cancelled) runs as an
/// operation, so `deadline` bounds it as it bounds `ping`: answers that
/// each come just under the timeout and say 503 are not retried for the
/// whole `retry_budget`.
#[test]
fn mode_ends_by_the_deadline() {
    let slow = |request: &str| {
        (0..21)
            .map(|_| {
                Answer::new(503, b"")
                    .to(request)
                    .spare()
                    .after(std::time::Duration::from_secs(50))
            })
            .collect::<Vec<_>>()
    };
    let open = |answers| {
        let pairs: Vec<(String, String)> = [
            ("location", "oci://r:5000/team/repo"),
            ("use_tls", "false"),
            ("retries", "20"),
            ("retry_budget", "3600"),
            ("deadline", "100"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        OciStore::new(StoreConfig::parse(&pairs).unwrap(), Scripted::new(answers))
    };
    let pinged = open(slow("GET /v2/"));
    assert!(pinged.ping().is_err());
    let took = pinged.repo.client.transport().now();
    assert!(
        took <= std::time::Duration::from_secs(150),
        "ping took {took:?}"
    );
    let asked = open(slow("POST /v2/team/repo/blobs/uploads/"));
    let result = asked.mode();
    let took = asked.repo.client.transport().now();
    assert!(
        took <= std::time::Duration::from_secs(150),
        "mode took {took:?} of a 100 s deadline ({} requests): {result:?}",
        asked.repo.client.transport().asked.borrow().len()
    );
}

/// `object_size` reads the object's manifest once; a `get` of a range of
/// the same object afterwards asks only for the blob.
#[test]
fn object_size_reads_the_manifest_once_and_get_reuses_it() {
    let mac = Mac([9; 32]);
    let blob = blob(5000);
    let manifest = object_manifest(
        &Media::artifact(MEDIA),
        Resource::Packfile,
        &mac,
        None,
        &blob,
    );
    let s = store(vec![
        Answer::new(200, &manifest).to("GET /v2/team/repo/manifests/packfile-*"),
        Answer::new(206, &[7u8; 100])
            .header("content-range", "bytes 4900-4999/5000")
            .to("GET /v2/team/repo/blobs/sha256:*"),
    ]);
    assert_eq!(s.object_size(Resource::Packfile, &mac).unwrap(), 5000);
    assert_eq!(s.object_size(Resource::Packfile, &mac).unwrap(), 5000);
    let range = ByteRange {
        offset: 4900,
        length: 100,
    };
    let mut reader = s.get(Resource::Packfile, &mac, Some(range)).unwrap();
    let mut got = Vec::new();
    loop {
        let piece = reader.read(1000).unwrap();
        if piece.is_empty() {
            break;
        }
        got.extend(piece);
    }
    assert_eq!(got, vec![7u8; 100]);
    assert_eq!(asked(&s).len(), 2, "{:?}", asked(&s));
}

#[test]
fn object_size_of_a_missing_object_is_not_found() {
    let s = store(vec![Answer::new(
        404,
        br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
    )
    .to("GET /v2/team/repo/manifests/packfile-*")]);
    match s.object_size(Resource::Packfile, &Mac([3; 32])) {
        Err(StoreError::NotFound(what)) => assert!(what.contains("packfile"), "{what}"),
        other => panic!("{other:?}"),
    }
}
