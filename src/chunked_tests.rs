use super::*;
use crate::auth::credentials::Credentials;
use crate::auth::Authenticator;
use crate::digest::sha256_digest;
use crate::scripted::{Answer, Scripted};

const SESSION: &str = "http://r:5000/v2/team/repo/blobs/uploads/s";

fn client(answers: Vec<Answer>) -> RegistryClient<Scripted> {
    RegistryClient::new(
        Scripted::new(answers),
        "http://r:5000".into(),
        "team/repo".into(),
        Authenticator::new("http://r:5000", "team/repo", Credentials::Anonymous),
    )
}

fn opened() -> Answer {
    Answer::new(202, b"")
        .to("POST /v2/team/repo/blobs/uploads/")
        .header("location", &format!("{SESSION}?_state=0"))
}

/// A PATCH taken, the registry now holding `held` bytes.
fn took(held: u64) -> Answer {
    Answer::new(202, b"")
        .to("PATCH /v2/team/repo/blobs/uploads/s")
        .header("location", &format!("{SESSION}?_state={held}"))
        .header("range", &format!("0-{}", held - 1))
}

fn status(held: u64) -> Answer {
    let last = held.saturating_sub(1);
    Answer::new(204, b"")
        .to("GET /v2/team/repo/blobs/uploads/s")
        .header("location", &format!("{SESSION}?_state={held}"))
        .header("range", &format!("0-{last}"))
}

fn upload(c: &RegistryClient<Scripted>, data: &[u8], chunk: usize) -> Result<(), StoreError> {
    let mut up = ChunkedUpload::start(c, chunk)?;
    for piece in data.chunks(7) {
        up.write(c, piece)?;
    }
    up.finish(c, &sha256_digest(data))
}

#[test]
fn resume_points() {
    assert_eq!(resume_point(100, 100, 50), Resume::From(0));
    assert_eq!(resume_point(120, 100, 50), Resume::From(20));
    assert_eq!(resume_point(150, 100, 50), Resume::From(50));
    assert_eq!(resume_point(90, 100, 50), Resume::Lost);
    assert_eq!(resume_point(151, 100, 50), Resume::Lost);
    assert_eq!(resume_point(60, 0, 50), Resume::Restart);
    assert_eq!(resume_point(0, 0, 50), Resume::From(0));
}

#[test]
fn the_registry_minimum_raises_the_chunk() {
    assert_eq!(effective_chunk(4 << 20, None).unwrap(), 4 << 20);
    assert_eq!(effective_chunk(4 << 20, Some(1 << 20)).unwrap(), 4 << 20);
    assert_eq!(effective_chunk(1 << 20, Some(5 << 20)).unwrap(), 5 << 20);
    assert!(matches!(
        effective_chunk(1 << 20, Some(MAX_CHUNK + 1)),
        Err(StoreError::Unsupported(_))
    ));
}

#[test]
fn chunks_carry_content_ranges_and_follow_each_location() {
    let data: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
    let c = client(vec![
        opened().header("oci-chunk-min-length", "100"),
        took(100),
        took(200),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    // Asked for 64-byte chunks; the registry's minimum of 100 wins.
    upload(&c, &data, 64).unwrap();
    let asked = c.transport().asked.borrow();
    let ranges: Vec<_> = asked.iter().map(|a| a.content_range.clone()).collect();
    assert_eq!(
        ranges,
        [None, Some("0-99".into()), Some("100-199".into()), None]
    );
    assert!(asked[2].uri.ends_with("_state=100"), "{}", asked[2].uri);
    assert!(asked[3].uri.contains("_state=200&digest=sha256:"));
    let sent: Vec<u8> = asked.iter().flat_map(|a| a.body.clone()).collect();
    assert_eq!(sent, data);
}

#[test]
fn a_chunk_that_did_not_arrive_is_resent_after_asking() {
    let data = vec![7u8; 250];
    let c = client(vec![
        opened(),
        took(100),
        Answer::new(503, b"").to("PATCH /v2/team/repo/blobs/uploads/s"),
        status(100),
        took(200),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    upload(&c, &data, 100).unwrap();
    let asked = c.transport().asked.borrow();
    assert_eq!(asked[3].method, "GET");
    assert_eq!(asked[4].content_range.as_deref(), Some("100-199"));
    assert_eq!(asked[4].body.len(), 100);
    assert_eq!(c.transport().slept.borrow().len(), 1);
}

#[test]
fn a_chunk_that_half_arrived_goes_on_from_where_it_stopped() {
    let data: Vec<u8> = (0..250u32).map(|i| (i * 3) as u8).collect();
    let c = client(vec![
        opened(),
        took(100),
        Answer::broken().to("PATCH /v2/team/repo/blobs/uploads/s"),
        status(160),
        took(200),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    upload(&c, &data, 100).unwrap();
    let asked = c.transport().asked.borrow();
    assert_eq!(asked[4].content_range.as_deref(), Some("160-199"));
    assert_eq!(asked[4].body, data[160..200]);
}

#[test]
fn a_chunk_that_arrived_whole_is_not_sent_again() {
    let data = vec![1u8; 250];
    let c = client(vec![
        opened(),
        took(100),
        Answer::broken().to("PATCH /v2/team/repo/blobs/uploads/s"),
        status(200),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    upload(&c, &data, 100).unwrap();
    let asked = c.transport().asked.borrow();
    assert_eq!(asked.len(), 5);
    assert_eq!(asked[4].method, "PUT");
    assert_eq!(asked[4].body.len(), 50);
}

#[test]
fn an_unanswerable_first_chunk_restarts_in_a_new_session() {
    let data = vec![2u8; 150];
    let gone = br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}"#;
    let c = client(vec![
        opened(),
        Answer::broken().to("PATCH /v2/team/repo/blobs/uploads/s"),
        // distribution 2.8: stale state; the session is cancelled.
        Answer::new(400, gone).to("GET /v2/team/repo/blobs/uploads/s"),
        Answer::new(204, b"").to("DELETE /v2/team/repo/blobs/uploads/s"), // our own DELETE of it
        opened(),
        took(100),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    upload(&c, &data, 100).unwrap();
    let methods = c.transport().methods();
    assert_eq!(
        methods,
        ["POST", "PATCH", "GET", "DELETE", "POST", "PATCH", "PUT"]
    );
}

#[test]
fn a_later_chunk_the_session_lost_fails_the_upload() {
    let data = vec![3u8; 250];
    let gone = br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}"#;
    let c = client(vec![
        opened(),
        took(100),
        Answer::broken().to("PATCH /v2/team/repo/blobs/uploads/s"),
        Answer::new(400, gone).to("GET /v2/team/repo/blobs/uploads/s"),
    ]);
    match upload(&c, &data, 100) {
        Err(StoreError::Transport(m)) => {
            assert!(m.contains("after byte 100"), "{m}");
            assert!(m.contains("nothing was stored"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failures_are_bounded_by_the_retry_policy() {
    let data = vec![4u8; 150];
    let mut answers = vec![opened()];
    for attempt in 0..5 {
        answers.push(Answer::new(503, b"").to("PATCH /v2/team/repo/blobs/uploads/s"));
        if attempt < 4 {
            answers.push(status(0));
        }
    }
    let c = client(answers);
    match upload(&c, &data, 100) {
        Err(StoreError::Registry { status: 503, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The default policy: four retries, each after asking the session.
    assert_eq!(c.transport().slept.borrow().len(), 4);
}

#[test]
fn a_registry_taking_a_byte_at_a_time_fails_the_upload() {
    // 200 KiB chunks; every PATCH is acknowledged one byte further.
    let chunk = 200 << 10;
    let data = vec![6u8; chunk + 10];
    let mut answers = vec![opened()];
    answers.extend((1..=3).map(|held| took(held).spare()));
    let c = client(answers);
    match upload(&c, &data, chunk) {
        Err(StoreError::Protocol(message)) => {
            assert!(message.contains("too little"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.transport().methods(),
        ["POST", "PATCH"],
        "not resent for one byte of progress"
    );
    // Real progress is followed, within the retry option.
    assert!(real_progress(0, MIN_PROGRESS, chunk));
    assert!(!real_progress(0, MIN_PROGRESS - 1, chunk));
    assert!(real_progress(chunk - 5, chunk, chunk), "all that is left");
    assert!(!real_progress(chunk - 5, chunk - 1, chunk));
    let c = client(vec![
        opened(),
        took(100 << 10),
        took(chunk as u64),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    upload(&c, &data, chunk).unwrap();
    assert_eq!(
        c.transport().asked.borrow()[2].body.len(),
        chunk - (100 << 10)
    );
}

#[test]
fn a_413_names_the_options_that_get_under_the_cap() {
    let c = client(vec![
        opened(),
        Answer::new(413, b"").to("PATCH /v2/team/repo/blobs/uploads/s"),
    ]);
    match upload(&c, &[5u8; 150], 100) {
        Err(StoreError::Registry {
            status: 413,
            message,
            ..
        }) => {
            assert!(message.contains("chunk_size"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// GHCR's refusal of a body over 4 MiB (oras-project/rust-oci-client#35),
/// scaled to this test's sizes by the limit it states.
fn too_large_refusal(limit: &str) -> Answer {
    let body = format!(
        r#"{{"errors":[{{"code":"RANGE_INVALID","message":"the request body is too large and exceeds the maximum permissible limit of {limit}"}}]}}"#
    );
    Answer::new(416, body.as_bytes()).to("PATCH /v2/team/repo/blobs/uploads/s")
}

#[test]
fn refusals_as_too_large_and_their_limits_are_read() {
    let ghcr = StoreError::Registry {
        status: 416,
        code: "RANGE_INVALID".into(),
        message: "PATCH blob chunk: the request body is too large and exceeds the maximum permissible limit of 4.00MiB".into(),
    };
    assert_eq!(too_large(&ghcr), Some(Some(4 << 20)));
    let ecr = StoreError::Registry {
        status: 400,
        code: "BLOB_UPLOAD_INVALID".into(),
        message: "PATCH blob chunk: layer part size exceeds the maximum of 20971520 bytes".into(),
    };
    assert_eq!(too_large(&ecr), Some(Some(20_971_520)));
    let proxy = StoreError::Registry {
        status: 413,
        code: String::new(),
        message: "PUT blob sha256:0123456789: HTTP 413".into(),
    };
    assert_eq!(too_large(&proxy), Some(None));
    // An out-of-order chunk is a 416 too, and no size refusal.
    let order = StoreError::Registry {
        status: 416,
        code: "RANGE_INVALID".into(),
        message: "PATCH blob chunk: invalid content range".into(),
    };
    assert_eq!(too_large(&order), None);
    assert_eq!(stated_limit("at most 5 MB, or 64 KiB"), Some(64 << 10));
    assert_eq!(stated_limit("sha256:1234 nothing"), None);
}

#[test]
fn a_chunk_refused_as_too_large_goes_again_in_pieces_of_the_stated_limit() {
    // Chunks of 400 KiB; the registry takes bodies of at most 200 KiB.
    let chunk = 400 << 10;
    let data: Vec<u8> = (0..(chunk + 1000)).map(|i| (i % 251) as u8).collect();
    let c = client(vec![
        opened(),
        too_large_refusal("200KiB"),
        took(200 << 10),
        took(400 << 10),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    let mut up = ChunkedUpload::start(&c, chunk).unwrap();
    for piece in data.chunks(1 << 16) {
        up.write(&c, piece).unwrap();
    }
    assert_eq!(up.learnt().body_cap, Some(200 << 10));
    up.finish(&c, &sha256_digest(&data)).unwrap();
    let asked = c.transport().asked.borrow();
    let bodies: Vec<usize> = asked.iter().map(|a| a.body.len()).collect();
    assert_eq!(bodies, [0, chunk, 200 << 10, 200 << 10, 1000]);
    let joined: Vec<u8> = asked[2..].iter().flat_map(|a| a.body.clone()).collect();
    assert_eq!(joined, data, "every byte once, in order");
}

#[test]
fn a_registry_whose_range_stops_moving_is_tracked_by_what_was_sent() {
    // ECR (aws/containers-roadmap#2831): later PATCHes are answered 201
    // with the Range stuck at the first chunk's end, though every byte is
    // stored; the closing PUT's digest check decides.
    let chunk = 100 << 10;
    let data: Vec<u8> = (0..(3 * chunk + 7)).map(|i| (i % 253) as u8).collect();
    let stuck = || {
        Answer::new(201, b"")
            .to("PATCH /v2/team/repo/blobs/uploads/s")
            .header("location", &format!("{SESSION}?_state=x"))
            .header("range", &format!("0-{}", chunk - 1))
    };
    let c = client(vec![
        opened(),
        took(chunk as u64),
        stuck(),
        stuck(),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    let mut up = ChunkedUpload::start(&c, chunk).unwrap();
    up.write(&c, &data).unwrap();
    assert!(up.learnt().stale_range);
    up.finish(&c, &sha256_digest(&data)).unwrap();
    let asked = c.transport().asked.borrow();
    let ranges: Vec<Option<String>> = asked.iter().map(|a| a.content_range.clone()).collect();
    assert_eq!(
        ranges[1..4],
        [
            Some(format!("0-{}", chunk - 1)),
            Some(format!("{chunk}-{}", 2 * chunk - 1)),
            Some(format!("{}-{}", 2 * chunk, 3 * chunk - 1)),
        ]
    );
    let sent: Vec<u8> = asked[1..].iter().flat_map(|a| a.body.clone()).collect();
    assert_eq!(sent, data, "every byte once, in order");
}

#[test]
fn a_registry_refusing_chunks_gets_every_byte_back_to_stream() {
    // Google Artifact Registry "does not support Docker chunked uploads"
    // (its Docker API reference): the first chunk's refusal leaves every
    // byte written with the caller, who streams them instead.
    let chunk = 100 << 10;
    let data: Vec<u8> = (0..(chunk + 5000)).map(|i| (i % 249) as u8).collect();
    let refused =
        br#"{"errors":[{"code":"UNSUPPORTED","message":"chunked uploads are not supported"}]}"#;
    let c = client(vec![
        opened(),
        Answer::new(405, refused).to("PATCH /v2/team/repo/blobs/uploads/s"),
    ]);
    let mut up = ChunkedUpload::start(&c, chunk).unwrap();
    assert!(up.write(&c, &data).is_err());
    assert!(up.learnt().no_chunks);
    assert_eq!(up.take_unsent().unwrap(), data, "nothing lost");
    // A refusal of a later chunk, or a transient one, is no such thing.
    assert!(!refuses_chunks(&StoreError::Registry {
        status: 503,
        code: String::new(),
        message: "busy".into()
    }));
    assert!(!refuses_chunks(&StoreError::Registry {
        status: 416,
        code: String::new(),
        message: "the request body is too large".into()
    }));
}

#[test]
fn the_next_chunk_after_a_refusal_is_usable_or_none() {
    // Thousands separators are read; a comma ending a word is not one.
    assert_eq!(
        stated_limit("layer part size exceeds the maximum of 20,971,520 bytes"),
        Some(20_971_520)
    );
    assert_eq!(stated_limit("limit 4MiB, then 1 B over"), Some(1));
    // A stated size too small to use, or no smaller than the chunk, halves.
    let chunk = 8 << 20;
    assert_eq!(smaller_chunk(chunk, Some(4 << 20)), Some(4 << 20));
    assert_eq!(smaller_chunk(chunk, Some(1)), Some(4 << 20));
    assert_eq!(smaller_chunk(chunk, Some(chunk as u64)), Some(4 << 20));
    assert_eq!(smaller_chunk(chunk, None), Some(4 << 20));
    assert_eq!(smaller_chunk(MIN_ADAPTED_CHUNK, None), None, "nothing left");
    // What uploads learnt only grows.
    let capped = Learnt {
        body_cap: Some(4 << 20),
        ..Learnt::default()
    };
    let stale = Learnt {
        stale_range: true,
        ..Learnt::default()
    };
    assert_eq!(
        Learnt::default().merged(capped).merged(stale),
        Learnt {
            body_cap: Some(4 << 20),
            stale_range: true,
            no_chunks: false
        }
    );
}
