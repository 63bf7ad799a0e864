//! The three upload modes (`upload_mode` = stream, chunked, monolithic)
//! against a real registry behind the fault proxy: chunks that are lost on
//! their way or whose answers are lost, bodies capped as GHCR caps chunks,
//! and a registry minimum chunk length. Each put either stores every byte,
//! verified by reading back, or fails with a typed error and leaves nothing
//! listed.

use kloset_host::{ContractError, Error, Resource, StoreHandle};
use kloset_testkit::faults::{first_attempts, Fault, RequestInfo};
use kloset_testkit::proxied::{bytes, listed, not_found, Mac, Proxied};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

const MIB: usize = 1 << 20;

fn mac(n: u8) -> Mac {
    let mut m = [n; 32];
    m[0] = 0x5c; // distinct from other files' keys, for reading logs
    Mac(m)
}

fn is_chunk(r: &RequestInfo) -> bool {
    r.method == "PATCH"
}

/// Faults the `n`th chunk PATCH (from 0) and nothing else.
fn nth_chunk(n: usize, fault: Fault) -> impl Fn(&RequestInfo, usize) -> Fault + Send + Sync {
    let seen = AtomicUsize::new(0);
    move |r, _| {
        if is_chunk(r) && seen.fetch_add(1, Ordering::SeqCst) == n {
            fault.clone()
        } else {
            Fault::None
        }
    }
}

/// Puts `data` as packfile `key` and reads it back whole and in a range.
fn put_and_verify(store: &StoreHandle, key: Mac, data: &[u8]) {
    store
        .put_bytes(Resource::Packfile, &key, data)
        .expect("put");
    assert!(listed(store, Resource::Packfile).contains(&key));
    assert!(store.get(Resource::Packfile, &key, None).expect("get") == data);
    let at = data.len() / 3;
    let got = store
        .get(Resource::Packfile, &key, Some((at as u64, 4096)))
        .expect("ranged get");
    assert_eq!(got, data[at..at + 4096]);
}

/// The PATCHes the proxy saw: (Content-Range, body length).
fn patches(p: &Proxied) -> Vec<(Option<String>, usize)> {
    p.proxy
        .log()
        .into_iter()
        .filter(|h| h.method == "PATCH")
        .map(|h| (h.content_range, h.body_len))
        .collect()
}

#[test]
fn chunked_mode_sends_ranged_chunks_of_the_chosen_size() {
    let p = Proxied::start("up-chunks", &[("chunk_size", "1MiB")]);
    p.store.create(b"config").expect("create");
    let data = bytes(1, 5 * MIB + 12345);
    put_and_verify(&p.store, mac(1), &data);
    let sent = patches(&p);
    // Five full chunks by PATCH; the rest goes with the closing PUT.
    let expected: Vec<_> = (0..5)
        .map(|i| (Some(format!("{}-{}", i * MIB, (i + 1) * MIB - 1)), MIB))
        .collect();
    assert_eq!(sent, expected);
    let closing = p
        .proxy
        .log()
        .into_iter()
        .rev()
        .find(|h| h.method == "PUT" && h.target.contains("digest="))
        .expect("a closing PUT");
    assert_eq!(closing.body_len, 12345);
}

#[test]
fn a_registry_minimum_chunk_length_is_honoured() {
    let p = Proxied::start("up-min", &[("chunk_size", "1MiB")]);
    p.store.create(b"config").expect("create");
    let two = (2 * MIB).to_string();
    p.proxy.set(move |r, _| {
        if r.method == "POST" && r.path().ends_with("/blobs/uploads/") {
            Fault::AddHeader("OCI-Chunk-Min-Length", two.clone())
        } else {
            Fault::None
        }
    });
    let data = bytes(2, 5 * MIB);
    put_and_verify(&p.store, mac(2), &data);
    let sizes: Vec<usize> = patches(&p).into_iter().map(|(_, len)| len).collect();
    assert_eq!(sizes, [2 * MIB, 2 * MIB]);
}

#[test]
fn chunks_lost_on_their_way_are_resent_after_asking_the_session() {
    let p = Proxied::start("up-lost", &[("chunk_size", "1MiB")]);
    p.store.create(b"config").expect("create");
    p.proxy.set(first_attempts(Fault::DropRequest, is_chunk));
    let data = bytes(3, 4 * MIB + 7);
    put_and_verify(&p.store, mac(3), &data);
    let log = p.proxy.log();
    let dropped = log.iter().filter(|h| h.fault == Fault::DropRequest).count();
    let asked = log
        .iter()
        .filter(|h| h.method == "GET" && h.target.contains("/blobs/uploads/"))
        .count();
    println!("{dropped} chunks dropped, {asked} status requests");
    // Four chunks by PATCH (the last 7 bytes go with the closing PUT), each
    // dropped on its first attempt at least.
    assert!(dropped >= 4, "every chunk's first attempt is dropped");
    assert_eq!(
        asked, dropped,
        "each drop is followed by one status request"
    );
}

#[test]
fn a_lost_answer_to_the_first_chunk_restarts_the_upload() {
    let p = Proxied::start("up-restart", &[("chunk_size", "1MiB")]);
    p.store.create(b"config").expect("create");
    p.proxy.set(nth_chunk(0, Fault::ResetBeforeResponse));
    let data = bytes(4, 3 * MIB + 1);
    put_and_verify(&p.store, mac(4), &data);
    let sessions = p
        .proxy
        .log()
        .into_iter()
        .filter(|h| h.method == "POST" && !h.target.contains("mount="))
        .count();
    // The upload's first session, then its restart (small blobs go by
    // mount-or-start, `?mount=`).
    assert_eq!(sessions, 2, "the upload restarted in a new session");
}

#[test]
fn a_lost_answer_to_a_later_chunk_fails_the_put_and_stores_nothing() {
    let p = Proxied::start("up-later", &[("chunk_size", "1MiB")]);
    p.store.create(b"config").expect("create");
    p.proxy.set(nth_chunk(1, Fault::ResetBeforeResponse));
    let data = bytes(5, 3 * MIB + 1);
    match p.store.put_bytes(Resource::Packfile, &mac(5), &data) {
        // distribution 2.8 cancels a session asked with stale state: the
        // bytes of the first chunk are gone and no longer held here.
        Err(Error::Contract(ContractError::Transport(m))) => {
            assert!(m.contains("cannot be resumed"), "{m}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(listed(&p.store, Resource::Packfile).is_empty());
    not_found(p.store.get(Resource::Packfile, &mac(5), None));
    // The caller's retry succeeds.
    p.proxy.clear();
    put_and_verify(&p.store, mac(5), &data);
}

#[test]
fn a_capped_body_is_ridden_out_by_default_and_named_in_stream_mode() {
    // The default (chunked, adapting): the 8 MiB chunk is refused as too
    // large (413, no limit stated), and goes again in halves until the
    // registry takes them.
    let p = Proxied::start("up-cap-default", &[]);
    p.store.create(b"config").expect("create");
    p.proxy.set(|r, _| {
        if r.method == "PATCH" || (r.method == "PUT" && r.target.contains("digest=")) {
            Fault::RefuseBodyOver(MIB)
        } else {
            Fault::None
        }
    });
    let data = bytes(6, 10 * MIB);
    put_and_verify(&p.store, mac(6), &data);
    let log = p.proxy.log();
    assert!(
        log.iter().any(|h| h.method == "PATCH" && h.body_len > MIB),
        "a body over the cap was sent, and refused"
    );
    let last_patches = log.iter().filter(|h| h.method == "PATCH").rev().take(3);
    assert!(
        last_patches.into_iter().all(|h| h.body_len <= MIB),
        "then the chunks fit the cap"
    );

    // One streamed PATCH cannot be sent again: the error says what to set.
    let p = Proxied::start("up-cap-stream", &[("upload_mode", "stream")]);
    p.store.create(b"config").expect("create");
    p.proxy.set(|r, _| {
        if r.method == "PATCH" {
            Fault::RefuseBodyOver(MIB)
        } else {
            Fault::None
        }
    });
    let data = bytes(6, 10 * MIB);
    match p.store.put_bytes(Resource::Packfile, &mac(6), &data) {
        Err(Error::Contract(ContractError::Registry {
            status: 413,
            message,
            ..
        })) => assert!(message.contains("upload_mode=chunked"), "{message}"),
        other => panic!("expected a 413, got {other:?}"),
    }
    assert!(listed(&p.store, Resource::Packfile).is_empty());

    for (name, options) in [
        ("up-cap-chunked", ("chunk_size", "1MiB")),
        ("up-cap-mono", ("upload_mode", "monolithic")),
    ] {
        // (monolithic: one PUT, which the cap on PATCHes leaves alone)
        let store = p.another_store(name, &[options]);
        store.create(b"config").expect("create");
        put_and_verify(&store, mac(6), &data);
    }
}

#[test]
fn monolithic_mode_sends_one_put_and_retries_it_whole() {
    let p = Proxied::start("up-mono", &[("upload_mode", "monolithic")]);
    p.store.create(b"config").expect("create");
    let is_blob_put = |r: &RequestInfo| r.method == "PUT" && r.target.contains("digest=");
    p.proxy
        .set(first_attempts(Fault::ResetBeforeResponse, is_blob_put));
    let data = bytes(7, 9 * MIB + 3);
    put_and_verify(&p.store, mac(7), &data);
    let log = p.proxy.log();
    assert!(log.iter().all(|h| h.method != "PATCH"), "no PATCH at all");
    let puts: Vec<usize> = log
        .iter()
        .filter(|h| h.method == "PUT" && h.target.contains("digest=") && h.body_len > MIB)
        .map(|h| h.body_len)
        .collect();
    // The PUT's answer was lost after it completed: a HEAD finds the blob,
    // so its 9 MiB are not sent again.
    assert_eq!(puts, [data.len()]);
}

#[test]
fn every_mode_stores_the_same_objects() {
    let p = Proxied::start("up-modes", &[]);
    let sizes = [0, 1, 300, MIB, 8 * MIB, 8 * MIB + 1, 12 * MIB];
    for (mode, extra) in [
        ("stream", vec![]),
        ("chunked", vec![("chunk_size", "3MiB")]),
        ("monolithic", vec![("upload_mode", "monolithic")]),
    ] {
        let store = p.another_store(&format!("up-mode-{mode}"), &extra);
        store.create(b"config").expect("create");
        let mut keys = BTreeSet::new();
        for (i, size) in sizes.iter().enumerate() {
            let key = mac(100 + i as u8);
            let data = bytes(100 + i as u64, *size);
            store
                .put_bytes(Resource::Packfile, &key, &data)
                .unwrap_or_else(|e| panic!("{mode}: put of {size} bytes: {e:?}"));
            let back = store.get(Resource::Packfile, &key, None).expect("get");
            assert!(back == data, "{mode}: {size} bytes read back differ");
            keys.insert(key);
        }
        assert_eq!(listed(&store, Resource::Packfile), keys, "{mode}");
    }
}

/// A host hands the digest it computed (WIT `put-hashed`); one that hashes
/// wrong must store nothing. The registry checks every upload against the
/// digest closing it (OCI distribution spec v1.1, "Pushing blobs": 400
/// `DIGEST_INVALID`), in every mode and at every size; where the registry
/// already has a blob of the wrong digest (a mount finds it: no upload to
/// check), the component hashes the bytes itself and refuses
/// (`invalid-argument`). A malformed digest is refused before any upload
/// closes. Each time the key stays absent.
#[test]
fn a_wrong_digest_handed_by_the_host_fails_the_put_and_stores_nothing() {
    let p = Proxied::start("up-digest", &[]);
    let sizes = [300, 8 * MIB + 1];
    for mode in ["chunked", "stream", "monolithic"] {
        let store = p.another_store(&format!("up-digest-{mode}"), &[("upload_mode", mode)]);
        store.create(b"config").expect("create");
        for (i, size) in sizes.iter().enumerate() {
            let key = mac(120 + i as u8);
            let data = bytes(120 + i as u64, *size);
            let wrong = sha256(&bytes(220 + i as u64, *size));
            let closes = closing_puts(&p);
            let failed = store.put_handing_digest(Resource::Packfile, &key, &data, &wrong);
            match &failed {
                Err(Error::Contract(ContractError::Registry {
                    status: 400, code, ..
                })) if code == "DIGEST_INVALID" => {}
                other => panic!("{mode}, {size} bytes: expected DIGEST_INVALID, got {other:?}"),
            }
            assert_eq!(
                closing_puts(&p),
                closes + 1,
                "{mode}, {size} bytes: the registry saw the upload closed with the wrong digest"
            );
            not_found(store.get(Resource::Packfile, &key, None));
            assert!(!listed(&store, Resource::Packfile).contains(&key), "{mode}");
        }

        // A wrong digest naming a blob the repository has: the mount finds
        // it, and the component checks the bytes it buffered.
        let there = bytes(130, 300);
        store
            .put_bytes(Resource::Packfile, &mac(130), &there)
            .expect("put");
        let key = mac(131);
        let failed =
            store.put_handing_digest(Resource::Packfile, &key, &bytes(131, 300), &sha256(&there));
        assert!(
            matches!(
                failed,
                Err(Error::Contract(ContractError::InvalidArgument(_)))
            ),
            "{mode}: {failed:?}"
        );
        not_found(store.get(Resource::Packfile, &key, None));

        // Not a sha256 digest in its one form.
        let data = bytes(132, 9 * MIB);
        let upper = sha256(&data).to_uppercase().replace("SHA256", "sha256");
        let failed = store.put_handing_digest(Resource::Packfile, &key, &data, &upper);
        assert!(
            matches!(
                failed,
                Err(Error::Contract(ContractError::InvalidArgument(_)))
            ),
            "{mode}: {failed:?}"
        );
        not_found(store.get(Resource::Packfile, &key, None));
        assert_eq!(
            listed(&store, Resource::Packfile),
            BTreeSet::from([mac(130)]),
            "{mode}"
        );
    }
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Closing PUTs of uploads (`?digest=`) the proxy has seen.
fn closing_puts(p: &Proxied) -> usize {
    p.proxy
        .log()
        .iter()
        .filter(|h| h.method == "PUT" && h.target.contains("digest="))
        .count()
}
