//! A put's rules over a scripted registry: the object's manifest is the
//! last request, so a failed put never shows; in tombstone mode a key
//! deleted before gets its `.r` marker first; no request body is longer
//! than the chunk in chunked mode.

use crate::config::DEFAULT_MEDIA_TYPE;
use crate::digest::sha256_digest;
use crate::error::StoreError;
use crate::layout::TagRole;
use crate::manifest::{config_manifest, marker_manifest, object_manifest, BlobRef, Deletion};
use crate::manifest::{Media, Profile};
use crate::resource::{Mac, Resource};
use crate::scripted::Answer;
use crate::store::tests::{asked, store_with};

const KEY: Mac = Mac([0x5a; 32]);

fn ok(status: u16) -> Answer {
    Answer::new(status, b"")
}

fn opened(session: &str) -> Answer {
    Answer::new(202, b"")
        .to("POST /v2/team/repo/blobs/uploads/")
        .header(
            "location",
            &format!("/v2/team/repo/blobs/uploads/{session}"),
        )
}

/// GHCR's refusal of an upload body over its cap (128 KiB here, 4 MiB
/// there).
const TOO_LARGE_FOR_128KIB: &[u8] = br#"{"errors":[{"code":"RANGE_INVALID","message":"the request body is too large and exceeds the maximum permissible limit of 128KiB"}]}"#;

/// Session `c` took a chunk: it now holds `held` bytes.
fn took_in_c(held: usize) -> Answer {
    Answer::new(202, b"")
        .to("PATCH /v2/team/repo/blobs/uploads/c")
        .header("location", "/v2/team/repo/blobs/uploads/c")
        .header("range", &format!("0-{}", held - 1))
}

/// The manifest a put of `KEY` as `kind` ends with, naming `blob`.
fn manifest_of(kind: Resource, blob: &BlobRef) -> Vec<u8> {
    object_manifest(&Media::artifact(DEFAULT_MEDIA_TYPE), kind, &KEY, None, blob)
}

fn blob_of(bytes: &[u8]) -> BlobRef {
    BlobRef {
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
    }
}

#[test]
fn a_put_makes_its_object_visible_last() {
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            opened("s"),
            ok(201).to("PUT /v2/team/repo/blobs/uploads/s"),
            ok(201).to("PUT /v2/team/repo/manifests/packfile-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put(Resource::Packfile, KEY).unwrap();
    put.write(b"hello ").unwrap();
    put.write(b"world").unwrap();
    assert!(asked(&s).is_empty(), "small objects are buffered");
    assert_eq!(put.finish().unwrap(), 11);
    let requests = asked(&s);
    let tag = s.repository().layout.object_tag(Resource::Packfile, &KEY);
    assert_eq!(requests.last().unwrap(), &format!("PUT manifests/{tag}"));
    assert_eq!(
        requests[2],
        format!(
            "PUT blobs/uploads/s?digest={}",
            sha256_digest(b"hello world")
        )
    );
    let manifest = manifest_of(Resource::Packfile, &blob_of(b"hello world"));
    assert_eq!(
        s.repository().client.transport().asked.borrow()[3].body,
        manifest
    );
    // Finished: no more writes.
    assert!(matches!(
        put.write(b"!"),
        Err(StoreError::InvalidArgument(_))
    ));
}

#[test]
fn a_put_whose_upload_fails_never_shows() {
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            opened("s"),
            Answer::new(400, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put(Resource::Lock, KEY).unwrap();
    put.write(b"lock").unwrap();
    assert!(put.finish().is_err());
    assert!(
        asked(&s).iter().all(|r| !r.contains("manifests/")),
        "{:?}",
        asked(&s)
    );
}

#[test]
fn a_tombstone_mode_put_of_a_deleted_key_writes_its_revival_marker_first() {
    let deleted = Answer::new(200, b"")
        .to("HEAD /v2/team/repo/manifests/lock-*")
        .header("docker-content-digest", &sha256_digest(b"d"));
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            deleted,
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Tombstone, Profile::Artifact, None);
    let mut put = s.put(Resource::Lock, KEY).unwrap();
    put.write(b"again").unwrap();
    put.finish().unwrap();
    let layout = &s.repository().layout;
    let tag = |role| layout.tag(Resource::Lock, &KEY, role);
    assert_eq!(
        asked(&s)[2..],
        [
            format!("HEAD manifests/{}", tag(TagRole::Deleted)),
            format!("PUT manifests/{}", tag(TagRole::Revived)),
            format!("PUT manifests/{}", tag(TagRole::Object)),
        ]
    );
    let revived = marker_manifest(
        &Media::artifact(DEFAULT_MEDIA_TYPE),
        Resource::Lock,
        &KEY,
        None,
        true,
    );
    assert_eq!(
        s.repository().client.transport().asked.borrow()[3].body,
        revived
    );
    // A key never deleted gets no marker.
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            ok(404).to("HEAD /v2/team/repo/manifests/lock-*"),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Tombstone, Profile::Artifact, None);
    let mut put = s.put(Resource::Lock, KEY).unwrap();
    put.write(b"first").unwrap();
    put.finish().unwrap();
    assert_eq!(asked(&s).len(), 4);
    assert!(asked(&s)[3].ends_with(&tag(TagRole::Object)));
}

#[test]
fn the_first_put_reads_how_deletions_are_recorded() {
    let config = config_manifest(
        &Media::artifact(DEFAULT_MEDIA_TYPE),
        None,
        &blob_of(b"c"),
        Deletion::Tombstone,
        None,
    );
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            Answer::new(200, &config).to("GET /v2/team/repo/manifests/config"),
            ok(404).to("HEAD /v2/team/repo/manifests/state-*"),
            ok(201).to("PUT /v2/team/repo/manifests/state-*"),
        ],
    );
    let mut put = s.put(Resource::State, KEY).unwrap();
    put.write(b"state").unwrap();
    put.finish().unwrap();
    let requests = asked(&s);
    assert_eq!(requests[2], "GET manifests/config");
    assert!(requests[3].starts_with("HEAD manifests/") && requests[3].ends_with(".d"));
}

#[test]
fn chunked_mode_sends_no_body_longer_than_a_chunk() {
    let chunk = 64 << 10;
    let data: Vec<u8> = (0..chunk * 2 + 100).map(|i| i as u8).collect();
    let took = |held: usize| {
        Answer::new(202, b"")
            .to("PATCH /v2/team/repo/blobs/uploads/c")
            .header(
                "location",
                &format!("/v2/team/repo/blobs/uploads/c?n={held}"),
            )
            .header("range", &format!("0-{}", held - 1))
    };
    let s = store_with(
        &[("upload_mode", "chunked"), ("chunk_size", "64KiB")],
        vec![
            opened("c"),
            took(chunk),
            took(chunk * 2),
            ok(201).to("PUT /v2/team/repo/blobs/uploads/c"),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            ok(201).to("PUT /v2/team/repo/manifests/packfile-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put(Resource::Packfile, KEY).unwrap();
    for piece in data.chunks(10_000) {
        put.write(piece).unwrap();
    }
    assert_eq!(put.finish().unwrap(), data.len() as u64);
    let transport = s.repository().client.transport();
    let bodies = transport.asked.borrow();
    assert!(bodies.iter().all(|a| a.body.len() <= chunk));
    let sent: Vec<u8> = bodies[1..4].iter().flat_map(|a| a.body.clone()).collect();
    assert_eq!(sent, data);
    assert!(asked(&s)
        .last()
        .unwrap()
        .starts_with("PUT manifests/packfile-"));
}

#[test]
fn a_failed_write_cancels_its_session_and_fails_later_calls() {
    let s = store_with(
        &[("upload_mode", "chunked"), ("chunk_size", "64KiB")],
        vec![
            opened("c"),
            Answer::new(403, b"").to("PATCH /v2/team/repo/blobs/uploads/c"),
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/c"),
        ],
    );
    let mut put = s.put(Resource::Packfile, KEY).unwrap();
    put.write(&[1u8; 65_535]).unwrap();
    assert!(put.write(&[1u8; 10]).is_err(), "the first chunk is refused");
    assert_eq!(
        asked(&s)[1..],
        ["PATCH blobs/uploads/c", "DELETE blobs/uploads/c"]
    );
    assert!(matches!(put.finish(), Err(StoreError::InvalidArgument(_))));
    drop(put);
    assert_eq!(asked(&s).len(), 3, "cancelled once");
}

#[test]
fn a_small_object_refused_as_too_large_goes_again_in_chunks() {
    // GHCR caps every upload body (4 MiB there, 128 KiB here): the
    // buffered object's one PUT is refused, and the bytes, all in memory,
    // go again in chunks of the stated limit; later puts of the instance
    // start in chunks.
    let data: Vec<u8> = (0..(300 << 10)).map(|i| (i % 241) as u8).collect();
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob: there
            opened("s"),
            Answer::new(416, TOO_LARGE_FOR_128KIB).to("PUT /v2/team/repo/blobs/uploads/s"),
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/s"),
            opened("c"),
            took_in_c(128 << 10),
            took_in_c(256 << 10),
            ok(201).to("PUT /v2/team/repo/blobs/uploads/c"),
            ok(201).to("PUT /v2/team/repo/manifests/state-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put(Resource::State, KEY).unwrap();
    put.write(&data).unwrap();
    assert_eq!(put.finish().unwrap(), data.len() as u64);
    assert_eq!(s.repository().uploads().body_cap, Some(128 << 10));
    let transport = s.repository().client.transport();
    let asked = transport.asked.borrow();
    let sent: Vec<u8> = asked[5..8].iter().flat_map(|a| a.body.clone()).collect();
    assert_eq!(sent, data);
    assert!(asked[5..8].iter().all(|a| a.body.len() <= 128 << 10));
}

#[test]
fn stream_mode_sends_an_object_past_the_buffer_in_one_streamed_patch() {
    // 9 MiB: past the 8 MiB buffer, so the object is streamed while its
    // digest is computed, and the digest closes the session.
    let data: Vec<u8> = (0..(9 << 20)).map(|i| (i % 251) as u8).collect();
    let closing = format!(
        "PUT /v2/team/repo/blobs/uploads/s?_state=1&digest={}",
        sha256_digest(&data)
    );
    let s = store_with(
        &[("upload_mode", "stream")],
        vec![
            opened("s"),
            Answer::new(202, b"")
                .to("PATCH /v2/team/repo/blobs/uploads/s")
                .with_request_header("content-type", "application/octet-stream")
                .header("location", "/v2/team/repo/blobs/uploads/s?_state=1"),
            ok(201).to(&closing),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob: there
            ok(201).to("PUT /v2/team/repo/manifests/packfile-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put(Resource::Packfile, KEY).unwrap();
    for piece in data.chunks(1 << 20) {
        put.write(piece).unwrap();
    }
    assert_eq!(put.finish().unwrap(), data.len() as u64);
    let transport = s.repository().client.transport();
    let asked = transport.asked.borrow();
    // The whole blob in the PATCH, as written, with no Content-Range (one
    // request, as `docker push` sends it); nothing in the closing PUT.
    assert!(asked[1].body == data, "the PATCH carried other bytes");
    assert_eq!(asked[1].content_range, None);
    assert!(asked[2].body.is_empty());
    let manifest = manifest_of(Resource::Packfile, &blob_of(&data));
    assert_eq!(asked[4].body, manifest);
}

// Puts whose caller hashes (WIT `put-hashed`): the handed digest is what
// closes the upload and what the manifest names, and it is checked where
// it is used (module doc of `put.rs`).

/// The answer to the mount asked of blob `digest`: `status` 201 when the
/// registry has it, 202 opening session `s` when it has not.
fn mount(digest: &str, status: u16) -> Answer {
    Answer::new(status, b"")
        .to(&format!(
            "POST /v2/team/repo/blobs/uploads/?mount={digest}&from=team/repo"
        ))
        .header("location", "/v2/team/repo/blobs/uploads/s")
}

/// A well-formed digest of other bytes than the ones written.
fn other_digest() -> String {
    sha256_digest(b"not these bytes")
}

#[test]
fn a_hashed_put_closes_its_upload_with_the_digest_handed_and_names_it_in_the_manifest() {
    let data = b"hashed by the host";
    let handed = sha256_digest(data);
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob: there
            mount(&handed, 202),
            ok(201).to(&format!(
                "PUT /v2/team/repo/blobs/uploads/s?digest={handed}"
            )),
            ok(201).to("PUT /v2/team/repo/manifests/lock-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put_hashed(Resource::Lock, KEY).unwrap();
    put.write(&data[..5]).unwrap();
    put.write(&data[5..]).unwrap();
    assert_eq!(put.finish_with_digest(&handed).unwrap(), data.len() as u64);
    let manifest = manifest_of(Resource::Lock, &blob_of(data));
    assert_eq!(
        s.repository().client.transport().asked.borrow()[3].body,
        manifest
    );
}

#[test]
fn a_hashed_put_whose_digest_the_registry_refuses_never_shows() {
    // The registry checks the upload against the digest closing it; the
    // component, which did not hash, sends the one handed as it is.
    let wrong = other_digest();
    let refusal = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"),
            opened("s"),
            Answer::new(400, refusal)
                .to(&format!("PUT /v2/team/repo/blobs/uploads/s?digest={wrong}")),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put_hashed(Resource::State, KEY).unwrap();
    put.write(b"these bytes").unwrap();
    let failed = put.finish_with_digest(&wrong).unwrap_err();
    assert!(
        matches!(&failed, StoreError::Registry { status: 400, code, .. } if code == "DIGEST_INVALID"),
        "{failed:?}"
    );
    assert!(
        asked(&s).iter().all(|r| !r.contains("manifests/")),
        "{:?}",
        asked(&s)
    );
    assert!(s.repository().known_blob(Resource::State, &KEY).is_none());
}

#[test]
fn a_hashed_put_of_a_blob_the_registry_has_checks_the_digest_against_the_bytes() {
    // A mount is a lookup, not an upload: nothing on the registry's side
    // compares the bytes with the digest, so the component hashes them.
    let data = b"already there";
    let right = sha256_digest(data);
    let wrong = other_digest();
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob
            mount(&wrong, 201),
            mount(&right, 201),
            ok(201).to("PUT /v2/team/repo/manifests/packfile-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put_hashed(Resource::Packfile, KEY).unwrap();
    put.write(data).unwrap();
    let failed = put.finish_with_digest(&wrong).unwrap_err();
    assert!(
        matches!(failed, StoreError::InvalidArgument(_)),
        "{failed:?}"
    );
    assert!(
        asked(&s).iter().all(|r| !r.contains("manifests/")),
        "{:?}",
        asked(&s)
    );

    let mut put = s.put_hashed(Resource::Packfile, KEY).unwrap();
    put.write(data).unwrap();
    assert_eq!(put.finish_with_digest(&right).unwrap(), data.len() as u64);
    assert_eq!(
        s.repository().known_blob(Resource::Packfile, &KEY),
        Some(blob_of(data))
    );
}

#[test]
fn a_hashed_put_refuses_a_malformed_digest_and_cancels_its_upload() {
    // Past the chunk, so a session is open when the digest comes.
    let data = vec![7u8; (64 << 10) + 1];
    let took = Answer::new(202, b"")
        .to("PATCH /v2/team/repo/blobs/uploads/c")
        .header("location", "/v2/team/repo/blobs/uploads/c")
        .header("range", &format!("0-{}", (64 << 10) - 1));
    let s = store_with(
        &[("upload_mode", "chunked"), ("chunk_size", "64KiB")],
        vec![
            opened("c"),
            took,
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/c"),
        ],
    );
    let mut put = s.put_hashed(Resource::Packfile, KEY).unwrap();
    put.write(&data).unwrap();
    let upper = sha256_digest(&data)
        .to_uppercase()
        .replace("SHA256", "sha256");
    assert!(matches!(
        put.finish_with_digest(&upper),
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(
        asked(&s)[1..],
        ["PATCH blobs/uploads/c", "DELETE blobs/uploads/c"]
    );
    // Failed: no second try, whatever digest comes.
    assert!(matches!(
        put.finish_with_digest(&sha256_digest(&data)),
        Err(StoreError::InvalidArgument(_))
    ));
}

#[test]
fn a_put_is_finished_the_way_it_was_opened() {
    let s = store_with(&[], vec![]);
    let mut hashed = s.put_hashed(Resource::Lock, KEY).unwrap();
    hashed.write(b"x").unwrap();
    assert!(matches!(
        hashed.finish(),
        Err(StoreError::InvalidArgument(_))
    ));
    let mut hashing = s.put(Resource::Lock, KEY).unwrap();
    hashing.write(b"x").unwrap();
    assert!(matches!(
        hashing.finish_with_digest(&sha256_digest(b"x")),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(asked(&s).is_empty());
}

#[test]
fn hashed_puts_past_the_buffer_close_every_upload_mode_with_the_digest_handed() {
    // 9 MiB, past the 8 MiB buffer: chunked (the default, 8 MiB chunks:
    // one PATCH, the rest with the closing PUT), stream and monolithic.
    let data: Vec<u8> = (0..(9 << 20)).map(|i| (i % 253) as u8).collect();
    let handed = sha256_digest(&data);
    let closing = |session: &str| {
        ok(201).to(&format!(
            "PUT /v2/team/repo/blobs/uploads/{session}?digest={handed}"
        ))
    };
    let cases: [(&str, Vec<Answer>); 3] = [
        (
            "chunked",
            vec![
                opened("c"),
                Answer::new(202, b"")
                    .to("PATCH /v2/team/repo/blobs/uploads/c")
                    .header("location", "/v2/team/repo/blobs/uploads/c")
                    .header("range", &format!("0-{}", (8 << 20) - 1)),
                closing("c"),
            ],
        ),
        (
            "stream",
            vec![
                opened("s"),
                Answer::new(202, b"")
                    .to("PATCH /v2/team/repo/blobs/uploads/s")
                    .header("location", "/v2/team/repo/blobs/uploads/s"),
                closing("s"),
            ],
        ),
        (
            "monolithic",
            vec![
                ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob
                mount(&handed, 202),
                closing("s"),
            ],
        ),
    ];
    for (mode, mut script) in cases {
        if mode != "monolithic" {
            script.push(ok(201).to("POST /v2/team/repo/blobs/uploads/"));
        }
        script.push(ok(201).to("PUT /v2/team/repo/manifests/packfile-*"));
        let s = store_with(&[("upload_mode", mode)], script);
        s.repository()
            .learn(Deletion::Registry, Profile::Artifact, None);
        let mut put = s.put_hashed(Resource::Packfile, KEY).unwrap();
        for piece in data.chunks(1 << 20) {
            put.write(piece).unwrap();
        }
        assert_eq!(
            put.finish_with_digest(&handed).unwrap(),
            data.len() as u64,
            "{mode}"
        );
        let transport = s.repository().client.transport();
        let asked = transport.asked.borrow();
        let sent: Vec<u8> = asked
            .iter()
            .filter(|a| a.uri.contains("/blobs/uploads/"))
            .flat_map(|a| a.body.clone())
            .collect();
        assert!(sent == data, "{mode}: other bytes sent");
        let manifest = manifest_of(Resource::Packfile, &blob_of(&data));
        assert_eq!(asked.last().unwrap().body, manifest, "{mode}");
    }
}

#[test]
fn a_hashed_small_object_refused_as_too_large_goes_again_in_chunks_closed_by_the_digest_handed() {
    // The fallback re-sends the buffered bytes in pieces of the stated
    // limit: the upload that stores them closes with the digest handed,
    // which the registry checks, as any other. The digest handed here is
    // not the bytes' (this script checks nothing), so the one closing the
    // upload and named by the manifest can only be the handed one.
    let data: Vec<u8> = (0..(300 << 10)).map(|i| (i % 239) as u8).collect();
    let handed = other_digest();
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob: there
            mount(&handed, 202),
            Answer::new(416, TOO_LARGE_FOR_128KIB).to(&format!(
                "PUT /v2/team/repo/blobs/uploads/s?digest={handed}"
            )),
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/s"),
            opened("c"),
            took_in_c(128 << 10),
            took_in_c(256 << 10),
            ok(201).to(&format!(
                "PUT /v2/team/repo/blobs/uploads/c?digest={handed}"
            )),
            ok(201).to("PUT /v2/team/repo/manifests/state-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put_hashed(Resource::State, KEY).unwrap();
    put.write(&data).unwrap();
    assert_eq!(put.finish_with_digest(&handed).unwrap(), data.len() as u64);
    let transport = s.repository().client.transport();
    let asked = transport.asked.borrow();
    let sent: Vec<u8> = asked[5..8].iter().flat_map(|a| a.body.clone()).collect();
    assert!(sent == data, "other bytes went in pieces");
    let manifest = manifest_of(
        Resource::State,
        &BlobRef {
            digest: handed.clone(),
            size: data.len() as u64,
        },
    );
    assert_eq!(asked[8].body, manifest);
}

#[test]
fn a_hashed_put_whose_chunks_the_registry_refuses_streams_and_closes_with_the_digest_handed() {
    // Artifact Registry takes no chunked PATCH: the first chunk's refusal
    // sends every byte again in one streamed PATCH of a new session, which
    // closes with the digest handed (not the bytes': the component must
    // not have hashed them). 9 MiB: past the 8 MiB buffer.
    let data: Vec<u8> = (0..(9 << 20)).map(|i| (i % 251) as u8).collect();
    let handed = other_digest();
    let refused =
        br#"{"errors":[{"code":"UNSUPPORTED","message":"chunked uploads are not supported"}]}"#;
    let s = store_with(
        &[],
        vec![
            opened("c"),
            Answer::new(405, refused).to("PATCH /v2/team/repo/blobs/uploads/c"),
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/c"),
            opened("s"),
            Answer::new(202, b"")
                .to("PATCH /v2/team/repo/blobs/uploads/s")
                .header("location", "/v2/team/repo/blobs/uploads/s"),
            ok(201).to(&format!(
                "PUT /v2/team/repo/blobs/uploads/s?digest={handed}"
            )),
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob
            ok(201).to("PUT /v2/team/repo/manifests/packfile-*"),
        ],
    );
    s.repository()
        .learn(Deletion::Registry, Profile::Artifact, None);
    let mut put = s.put_hashed(Resource::Packfile, KEY).unwrap();
    for piece in data.chunks(1 << 20) {
        put.write(piece).unwrap();
    }
    assert_eq!(put.finish_with_digest(&handed).unwrap(), data.len() as u64);
    assert!(s.repository().uploads().no_chunks);
    let transport = s.repository().client.transport();
    let asked = transport.asked.borrow();
    let streamed: Vec<u8> = asked
        .iter()
        .filter(|a| a.uri.contains("/blobs/uploads/s"))
        .flat_map(|a| a.body.clone())
        .collect();
    assert!(streamed == data, "the stream did not carry every byte once");
    let manifest = manifest_of(
        Resource::Packfile,
        &BlobRef {
            digest: handed.clone(),
            size: data.len() as u64,
        },
    );
    assert_eq!(asked.last().unwrap().body, manifest);
}
