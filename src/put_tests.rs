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
    let manifest = object_manifest(
        &Media::artifact(DEFAULT_MEDIA_TYPE),
        Resource::Packfile,
        &KEY,
        None,
        &blob_of(b"hello world"),
    );
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
    let refusal = br#"{"errors":[{"code":"RANGE_INVALID","message":"the request body is too large and exceeds the maximum permissible limit of 128KiB"}]}"#;
    let took = |held: usize| {
        Answer::new(202, b"")
            .to("PATCH /v2/team/repo/blobs/uploads/c")
            .header("location", "/v2/team/repo/blobs/uploads/c")
            .header("range", &format!("0-{}", held - 1))
    };
    let s = store_with(
        &[],
        vec![
            ok(201).to("POST /v2/team/repo/blobs/uploads/"), // the empty blob: there
            opened("s"),
            Answer::new(416, refusal).to("PUT /v2/team/repo/blobs/uploads/s"),
            ok(204).to("DELETE /v2/team/repo/blobs/uploads/s"),
            opened("c"),
            took(128 << 10),
            took(256 << 10),
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
    let manifest = object_manifest(
        &Media::artifact(DEFAULT_MEDIA_TYPE),
        Resource::Packfile,
        &KEY,
        None,
        &blob_of(&data),
    );
    assert_eq!(asked[4].body, manifest);
}
