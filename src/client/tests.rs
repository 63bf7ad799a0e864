//! The client's endpoints over a scripted registry.

use super::manifests::BLOB_UNKNOWN_RETRIES;
use super::*;
use crate::auth::credentials::Credentials;
use crate::retry::DEFAULT_POLICY;
use crate::scripted::{Answer, Scripted};
use std::time::Duration;

pub(super) fn client(answers: Vec<Answer>) -> RegistryClient<Scripted> {
    client_as(answers, Credentials::Anonymous)
}

pub(super) fn client_as(
    answers: Vec<Answer>,
    credentials: Credentials,
) -> RegistryClient<Scripted> {
    let auth = Authenticator::new("http://r:5000", "team/repo", credentials);
    RegistryClient::new(
        Scripted::new(answers),
        "http://r:5000".into(),
        "team/repo".into(),
        auth,
    )
}

fn page(tags: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "name": "team/repo", "tags": tags })).unwrap()
}

#[test]
fn tag_pages_are_followed_through_link() {
    // Relative and absolute links, an opaque cursor (ECR), and a last
    // page without Link.
    let c = client(vec![
        Answer::new(200, &page(&["a", "b"]))
            .to("GET /v2/team/repo/tags/list?n=1000")
            .header(
                "link",
                r#"</v2/team/repo/tags/list?n=2&last=b>; rel="next""#,
            ),
        Answer::new(200, &page(&["c", "d"]))
            .to("GET /v2/team/repo/tags/list?n=2&last=b")
            .header(
                "link",
                r#"<http://r:5000/v2/team/repo/tags/list?next_token=opaque%3D%3D>; rel="next""#,
            ),
        Answer::new(200, &page(&["e"])).to("GET /v2/team/repo/tags/list?next_token=opaque%3D%3D"),
    ]);
    assert_eq!(c.list_tags().unwrap(), ["a", "b", "c", "d", "e"]);
    let asked: Vec<_> = c
        .transport()
        .asked
        .borrow()
        .iter()
        .map(|a| a.uri.clone())
        .collect();
    assert_eq!(
        asked,
        [
            "http://r:5000/v2/team/repo/tags/list?n=1000",
            "http://r:5000/v2/team/repo/tags/list?n=2&last=b",
            "http://r:5000/v2/team/repo/tags/list?next_token=opaque%3D%3D",
        ]
    );
}

#[test]
fn tag_listing_edge_cases() {
    assert!(client(vec![Answer::new(
        404,
        br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#
    )
    .to("GET /v2/team/repo/tags/list?n=1000")])
    .list_tags()
    .unwrap()
    .is_empty());
    assert!(client(vec![Answer::new(
        200,
        br#"{"name":"team/repo","tags":null}"#
    )
    .to("GET /v2/team/repo/tags/list?n=1000")])
    .list_tags()
    .unwrap()
    .is_empty());
    let looping = client(vec![Answer::new(200, &page(&["a"]))
        .to("GET /v2/team/repo/tags/list?n=1000")
        .header("link", r#"</v2/team/repo/tags/list?n=1000>; rel="next""#)]);
    assert!(
        matches!(looping.list_tags(), Err(StoreError::Protocol(_))),
        "a Link back to the first page"
    );
    let mut answers = vec![Answer::new(200, &page(&["a"]))
        .to("GET /v2/team/repo/tags/list?n=1000")
        .header("link", r#"</v2/team/repo/tags/list?last=a>; rel="next""#)];
    answers.extend(
        (0..=DEFAULT_POLICY.retries)
            .map(|_| Answer::new(500, b"oops").to("GET /v2/team/repo/tags/list?last=a")),
    );
    let broken_second_page = client(answers);
    assert!(
        broken_second_page.list_tags().is_err(),
        "a failed page fails the listing, never a short list"
    );
    assert!(client(vec![
        Answer::new(200, b"<html>").to("GET /v2/team/repo/tags/list?n=1000")
    ])
    .list_tags()
    .is_err());
    assert!(matches!(
        client(vec![
            Answer::new(401, b"").to("GET /v2/team/repo/tags/list?n=1000")
        ])
        .list_tags(),
        Err(StoreError::Unauthorized(_))
    ));
}

#[test]
fn locations_are_resolved_or_refused() {
    let c = client(vec![]);
    assert_eq!(
        c.resolve("/v2/team/repo/blobs/uploads/u?_state=x").unwrap(),
        "http://r:5000/v2/team/repo/blobs/uploads/u?_state=x"
    );
    assert_eq!(
        c.resolve("http://r:5000/v2/team/repo/blobs/uploads/u")
            .unwrap(),
        "http://r:5000/v2/team/repo/blobs/uploads/u"
    );
    for odd in [
        "uploads/u",
        "//evil/x",
        "ftp://x/y",
        "",
        "https://cdn.example/blob?sig=1",
        "https://r:5000/v2/x",
        "http://r:5001/v2/x",
    ] {
        assert!(c.resolve(odd).is_err(), "{odd}");
    }
}

#[test]
fn manifest_put_rides_out_a_concurrent_blob_commit() {
    let racing = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;
    let c = client(vec![
        Answer::new(400, racing).to("PUT /v2/team/repo/manifests/lock-x"),
        Answer::new(400, racing).to("PUT /v2/team/repo/manifests/lock-x"),
        Answer::new(201, b"").to("PUT /v2/team/repo/manifests/lock-x"),
    ]);
    c.put_manifest("lock-x", b"{}".to_vec()).unwrap();
    assert_eq!(c.transport().asked.borrow().len(), 3);
    let always = client(
        (0..=BLOB_UNKNOWN_RETRIES.len())
            .map(|_| Answer::new(400, racing).to("PUT /v2/team/repo/manifests/t"))
            .collect(),
    );
    assert!(matches!(
        always.put_manifest("t", b"{}".to_vec()),
        Err(StoreError::Registry { status: 400, .. })
    ));
    let invalid = client(vec![Answer::new(
        400,
        br#"{"errors":[{"code":"MANIFEST_INVALID","message":"no"}]}"#,
    )
    .to("PUT /v2/team/repo/manifests/t")]);
    assert!(invalid.put_manifest("t", b"{}".to_vec()).is_err());
    assert_eq!(
        invalid.transport().asked.borrow().len(),
        1,
        "other refusals are not retried"
    );
    // Under load distribution may name only DIGEST_INVALID.
    let digest_only = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
    let c = client(vec![
        Answer::new(400, digest_only).to("PUT /v2/team/repo/manifests/lock-y"),
        Answer::new(201, b"").to("PUT /v2/team/repo/manifests/lock-y"),
    ]);
    c.put_manifest("lock-y", b"{}".to_vec()).unwrap();
}

#[test]
fn a_manifest_put_with_a_large_success_body_succeeds() {
    let c = client(vec![
        Answer::new(201, &vec![b'x'; 1 << 20]).to("PUT /v2/team/repo/manifests/lock-x")
    ]);
    c.put_manifest("lock-x", b"{}".to_vec()).unwrap();
}

#[test]
fn pages_and_locations_off_the_registry_origin_are_refused_unasked() {
    for link in [
        "http://r:5001/v2/team/repo/tags/list?last=a",
        "https://r:5000/v2/team/repo/tags/list?last=a",
        "http://evil.example/v2/team/repo/tags/list",
    ] {
        let c = client(vec![Answer::new(200, &page(&["a"]))
            .to("GET /v2/team/repo/tags/list?n=1000")
            .header("link", &format!("<{link}>; rel=\"next\""))]);
        assert!(
            matches!(c.list_tags(), Err(StoreError::Protocol(_))),
            "{link}"
        );
        assert_eq!(c.transport().asked.borrow().len(), 1, "{link} was asked");
    }
    let c = client(vec![Answer::new(202, b"")
        .to("POST /v2/team/repo/blobs/uploads/")
        .header("location", "http://r:5001/v2/team/repo/blobs/uploads/s")]);
    assert!(matches!(c.start_upload(), Err(StoreError::Protocol(_))));
}

#[test]
fn a_redirect_targets_401_teaches_no_realm() {
    let creds = Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    let c = client_as(
        vec![
            Answer::new(307, b"")
                .to("GET /v2/team/repo/blobs/sha256:*")
                .header("location", "http://cdn.example/blob"),
            Answer::new(401, b"").to("GET /blob").header(
                "www-authenticate",
                r#"Bearer realm="http://evil.example/token""#,
            ),
            Answer::new(200, &page(&["a"])).to("GET /v2/team/repo/tags/list?n=1000"),
        ],
        creds,
    );
    assert!(matches!(
        c.get_blob("sha256:aa", None),
        Err(StoreError::Unauthorized(_))
    ));
    // The next registry request goes as before: no token request to
    // the realm the CDN named.
    assert_eq!(c.list_tags().unwrap(), ["a"]);
    let asked = c.transport().asked.borrow();
    assert_eq!(asked.len(), 3);
    assert!(asked.iter().all(|a| !a.uri.contains("evil")));
}

#[test]
fn tag_listings_are_capped() {
    let answers = (0..MAX_TAG_PAGES + 1)
        .map(|n| {
            Answer::new(200, &page(&[&format!("t{n:06}")]))
                .to("GET /v2/team/repo/tags/list")
                .spare()
                .header(
                    "link",
                    &format!("</v2/team/repo/tags/list?page={n}>; rel=\"next\""),
                )
        })
        .collect();
    match client(answers).list_tags() {
        Err(StoreError::Protocol(message)) => assert!(message.contains("pages")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mount_answers() {
    let c = client(vec![
        Answer::new(201, b"").to("POST /v2/team/repo/blobs/uploads/"),
        Answer::new(202, b"")
            .to("POST /v2/team/repo/blobs/uploads/")
            .header("location", "/v2/team/repo/blobs/uploads/s1"),
    ]);
    assert!(matches!(
        c.mount_or_start("sha256:aa").unwrap(),
        Mount::Exists
    ));
    match c.mount_or_start("sha256:bb").unwrap() {
        Mount::Upload(url) => assert_eq!(url, "http://r:5000/v2/team/repo/blobs/uploads/s1"),
        Mount::Exists => panic!("202 opens an upload"),
    }
    assert_eq!(
        c.transport().asked.borrow()[0].uri,
        "http://r:5000/v2/team/repo/blobs/uploads/?mount=sha256:aa&from=team/repo"
    );
}

#[test]
fn a_registry_refusing_uploads_is_read_only() {
    let unsupported =
        br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;
    // A pull-through cache: POST answers 405 UNSUPPORTED.
    let c = client(vec![
        Answer::new(405, unsupported).to("POST /v2/team/repo/blobs/uploads/")
    ]);
    assert!(!c.takes_writes(false).unwrap());
    // Writes say why.
    let c = client(vec![
        Answer::new(405, unsupported).to("POST /v2/team/repo/blobs/uploads/"),
        Answer::new(405, unsupported).to("PUT /v2/team/repo/manifests/lock-x"),
    ]);
    match c.mount_or_start("sha256:aa") {
        Err(StoreError::Unsupported(m)) => assert!(m.contains("read-only"), "{m}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a mirror accepted an upload"),
    }
    match c.put_manifest("lock-x", b"{}".to_vec()) {
        Err(StoreError::Unsupported(m)) => assert!(m.contains("read-only"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A writable registry: the session is opened, then cancelled.
    let c = client(vec![
        Answer::new(202, b"")
            .to("POST /v2/team/repo/blobs/uploads/")
            .header("location", "/v2/team/repo/blobs/uploads/s1"),
        Answer::new(204, b"").to("DELETE /v2/team/repo/blobs/uploads/s1"),
    ]);
    assert!(c.takes_writes(false).unwrap());
    assert_eq!(c.transport().methods(), ["POST", "DELETE"]);
    // Credentials without push: read-only too.
    let c = client(vec![
        Answer::new(403, b"").to("POST /v2/team/repo/blobs/uploads/")
    ]);
    assert!(!c.takes_writes(false).unwrap());
    // A registry that cannot take writes now (its disk is full: 500, asked
    // once) or refuses this upload for its own reasons stays readable:
    // reading never depends on writes (issue 21); the write itself will
    // say what is wrong.
    let full = br#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#;
    for status in [500, 400, 429] {
        let c = client(vec![
            Answer::new(status, full).to("POST /v2/team/repo/blobs/uploads/")
        ]);
        assert!(c.takes_writes(false).unwrap(), "{status}");
        assert_eq!(c.transport().methods(), ["POST"], "{status}");
    }
    // One reset connection is asked again; no answer at all, ever: the
    // registry is not there for reads either.
    let c = client(vec![
        Answer::broken().to("POST /v2/team/repo/blobs/uploads/"),
        Answer::new(202, b"")
            .to("POST /v2/team/repo/blobs/uploads/")
            .header("location", "/v2/team/repo/blobs/uploads/s2"),
        Answer::new(204, b"").to("DELETE /v2/team/repo/blobs/uploads/s2"),
    ]);
    assert!(c.takes_writes(false).unwrap());
    let c = client(
        (0..=DEFAULT_POLICY.retries)
            .map(|_| Answer::broken().to("POST /v2/team/repo/blobs/uploads/"))
            .collect(),
    );
    assert!(matches!(
        c.takes_writes(false),
        Err(StoreError::Transport(_))
    ));
    // A 401: read-only for an anonymous store (a public repository),
    // but an error when credentials were given (a wrong password).
    let c = client(vec![
        Answer::new(401, b"").to("POST /v2/team/repo/blobs/uploads/")
    ]);
    assert!(!c.takes_writes(true).unwrap());
    let c = client(vec![
        Answer::new(401, b"").to("POST /v2/team/repo/blobs/uploads/")
    ]);
    assert!(matches!(
        c.takes_writes(false),
        Err(StoreError::Unauthorized(_))
    ));
}

const CHALLENGE: &str =
    r#"Bearer realm="http://r:5000/token",service="r:5000",scope="repository:team/repo:pull""#;

#[test]
fn a_401_leads_to_a_token_and_one_resend() {
    let c = client_as(
        vec![
            Answer::new(401, b"")
                .to("GET /v2/team/repo/tags/list?n=1000")
                .header("www-authenticate", CHALLENGE),
            Answer::new(200, br#"{"token":"T","expires_in":300}"#).to("GET /token"),
            Answer::new(200, &page(&["a"])).to("GET /v2/team/repo/tags/list?n=1000"),
            Answer::new(200, &page(&["b"])).to("GET /v2/team/repo/tags/list?n=1000"),
        ],
        Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        },
    );
    assert_eq!(c.list_tags().unwrap(), ["a"]);
    assert_eq!(
        c.list_tags().unwrap(),
        ["b"],
        "the cached token serves the next request directly"
    );
    let asked = c.transport().asked.borrow();
    assert_eq!(asked.len(), 4);
    assert!(asked[1].uri.starts_with("http://r:5000/token?service=r%3A5000&scope=repository%3Ateam%2Frepo%3Apull%2Cpush%2Cdelete"));
}

#[test]
fn auth_failures_are_typed() {
    // A token that lacks a right: denied, after one fresh try.
    let scope = format!("{CHALLENGE},error=\"insufficient_scope\"");
    let denied = client(vec![
        Answer::new(401, b"")
            .to("GET /v2/team/repo/tags/list?n=1000")
            .header("www-authenticate", CHALLENGE),
        Answer::new(200, br#"{"token":"T"}"#).to("GET /token"),
        Answer::new(401, b"")
            .to("GET /v2/team/repo/tags/list?n=1000")
            .header("www-authenticate", &scope),
    ]);
    assert!(matches!(denied.list_tags(), Err(StoreError::Denied(_))));
    // The token server refuses the credentials.
    let refused = client_as(
        vec![
            Answer::new(401, b"")
                .to("GET /v2/team/repo/tags/list?n=1000")
                .header("www-authenticate", CHALLENGE),
            Answer::new(401, b"").to("GET /token"),
            Answer::new(401, b"").to("GET /token"),
        ],
        Credentials::Basic {
            username: "u".into(),
            password: "wrong".into(),
        },
    );
    match refused.list_tags() {
        Err(StoreError::Unauthorized(m)) => assert!(!m.contains("wrong"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Basic auth with bad credentials: unauthorized, with one retry only.
    let basic = client_as(
        vec![
            Answer::new(401, b"")
                .to("GET /v2/team/repo/tags/list?n=1000")
                .header("www-authenticate", r#"Basic realm="x""#),
            Answer::new(401, b"")
                .to("GET /v2/team/repo/tags/list?n=1000")
                .header("www-authenticate", r#"Basic realm="x""#),
        ],
        Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        },
    );
    assert!(matches!(
        basic.list_tags(),
        Err(StoreError::Unauthorized(_))
    ));
    assert_eq!(basic.transport().asked.borrow().len(), 2);
}

#[test]
fn transient_answers_are_retried_and_bounded() {
    // 503 then 429 with Retry-After, then the answer.
    let c = client(vec![
        Answer::new(503, b"busy").to("GET /v2/team/repo/tags/list?n=1000"),
        Answer::new(429, b"")
            .to("GET /v2/team/repo/tags/list?n=1000")
            .header("retry-after", "2"),
        Answer::new(200, &page(&["a"])).to("GET /v2/team/repo/tags/list?n=1000"),
    ]);
    assert_eq!(c.list_tags().unwrap(), ["a"]);
    let slept = c.transport().slept.borrow().clone();
    assert_eq!(slept.len(), 2);
    assert_eq!(slept[1], Duration::from_secs(2), "Retry-After honoured");
    // Always 500: the last answer's error, after the policy's retries.
    let failing = client(
        (0..=DEFAULT_POLICY.retries)
            .map(|_| Answer::new(500, b"").to("GET /v2/team/repo/tags/list?n=1000"))
            .collect(),
    );
    assert!(matches!(
        failing.list_tags(),
        Err(StoreError::Registry { status: 500, .. })
    ));
    assert_eq!(
        failing.transport().asked.borrow().len(),
        DEFAULT_POLICY.retries + 1
    );
    // A Retry-After past the bound: rate-limited at once.
    let patient = client(vec![Answer::new(429, b"")
        .to("GET /v2/team/repo/tags/list?n=1000")
        .header("retry-after", "3600")]);
    assert!(matches!(
        patient.list_tags(),
        Err(StoreError::RateLimited(_))
    ));
    assert!(patient.transport().slept.borrow().is_empty());
}

#[test]
fn a_put_whose_answer_is_lost_is_not_resent_when_the_blob_is_there() {
    let session = "http://r:5000/v2/team/repo/blobs/uploads/s";
    let c = client(vec![
        Answer::broken().to("PUT /v2/team/repo/blobs/uploads/s"),
        Answer::new(200, b"").to("HEAD /v2/team/repo/blobs/sha256:*"),
    ]);
    c.complete_upload(session, "sha256:aa", vec![9; 1000])
        .unwrap();
    let methods = c.transport().methods();
    assert_eq!(methods, ["PUT", "HEAD"]);

    let c = client(vec![
        Answer::broken().to("PUT /v2/team/repo/blobs/uploads/s"),
        Answer::new(404, b"").to("HEAD /v2/team/repo/blobs/sha256:*"),
        Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s"),
    ]);
    c.complete_upload(session, "sha256:aa", vec![9; 1000])
        .unwrap();
    let asked = c.transport().asked.borrow();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[2].body.len(), 1000, "the body is sent whole again");
}

#[test]
fn a_completed_upload_whose_answer_was_lost_counts_as_done() {
    let unknown = br#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}"#;
    let c = client(vec![
        Answer::new(404, unknown).to("PUT /v2/team/repo/blobs/uploads/s"),
        Answer::new(200, b"").to("HEAD /v2/team/repo/blobs/sha256:*"),
    ]);
    c.complete_upload(
        "http://r:5000/v2/team/repo/blobs/uploads/s",
        "sha256:aa",
        b"x".to_vec(),
    )
    .unwrap();
    assert_eq!(c.transport().asked.borrow()[1].method, "HEAD");
    let really_lost = client(vec![
        Answer::new(404, unknown).to("PUT /v2/team/repo/blobs/uploads/s"),
        Answer::new(404, b"").to("HEAD /v2/team/repo/blobs/sha256:*"),
    ]);
    let result = really_lost.complete_upload(
        "http://r:5000/v2/team/repo/blobs/uploads/s",
        "sha256:aa",
        b"x".to_vec(),
    );
    assert!(matches!(result, Err(StoreError::NotFound(_))));
}

/// What an error shows of registry-sent text: no control characters
/// (it reaches logs and terminals) and no more than a few hundred
/// characters, whatever the registry sent.
fn assert_tamed(error: &StoreError, shown_of_it: &str) {
    let shown = error.to_string();
    assert!(
        !shown.chars().any(char::is_control),
        "control characters in {shown:?}"
    );
    assert!(shown.len() < 400, "{} bytes: {shown}", shown.len());
    assert!(shown.contains(shown_of_it), "{shown}");
}

#[test]
fn an_unreadable_upload_range_is_quoted_tamed() {
    // A tab is the one control character a header value may hold; the
    // rest of this one is 5000 characters of junk.
    let range = format!("0-\t{}", "9x".repeat(2500));
    let c = client(vec![Answer::new(204, b"")
        .to("GET /v2/team/repo/blobs/uploads/s")
        .header("range", &range)]);
    match c.upload_status("http://r:5000/v2/team/repo/blobs/uploads/s") {
        Err(e @ StoreError::Protocol(_)) => {
            assert_tamed(&e, "unreadable Range '0- 9x9x");
        }
        other => panic!("{:?}", other.map(|s| s.received)),
    }
}

#[test]
fn an_unreadable_tag_page_is_quoted_tamed() {
    // serde_json quotes the offending value, here 50,000 characters
    // with an escape sequence and newlines in them (under the 64 KiB a
    // string may run to in a tag page).
    let junk = format!("\u{1b}[2J\n{}\r\n", "A".repeat(50_000));
    let body =
        serde_json::to_vec(&serde_json::json!({ "name": "team/repo", "tags": junk })).unwrap();
    let c = client(vec![
        Answer::new(200, &body).to("GET /v2/team/repo/tags/list?n=1000")
    ]);
    match c.list_tags() {
        Err(e @ StoreError::Protocol(_)) => {
            assert_tamed(&e, "unreadable tag list: invalid type: string");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_manifest_or_tag_page_cut_midway_is_asked_again() {
    // Status and headers sent, then the connection closed mid-body (a
    // registry or proxy under load): an idempotent GET is simply sent
    // again, as one that got no answer.
    let manifest = br#"{"schemaVersion":2}"#;
    let c = client(vec![
        Answer::new(200, &manifest[..5])
            .cut()
            .to("GET /v2/team/repo/manifests/config"),
        Answer::new(200, manifest).to("GET /v2/team/repo/manifests/config"),
        Answer::new(200, &page(&["a", "b"])[..7])
            .cut()
            .to("GET /v2/team/repo/tags/list?n=1000"),
        Answer::new(200, &page(&["a", "b"])).to("GET /v2/team/repo/tags/list?n=1000"),
    ]);
    assert_eq!(c.get_manifest("config").unwrap().unwrap(), manifest);
    assert_eq!(c.list_tags().unwrap(), ["a", "b"]);
}

#[test]
fn a_body_that_keeps_breaking_fails_within_the_retries() {
    let retries = DEFAULT_POLICY.retries;
    let cut = || {
        Answer::new(200, b"{\"sch")
            .cut()
            .to("GET /v2/team/repo/manifests/config")
    };
    let c = client((0..=retries).map(|_| cut()).collect());
    match c.get_manifest("config") {
        Err(StoreError::Transport(message)) => assert!(message.contains("mid-body"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.transport().asked.borrow().len(), retries + 1);
}

#[test]
fn a_full_page_without_link_is_followed_by_last() {
    // go-containerregistry's registry stops at `n` and sends no `Link`; a
    // `last` past the end answers every tag again.
    let first: Vec<String> = (0..TAG_PAGE_SIZE).map(|i| format!("t{i:05}")).collect();
    let first_refs: Vec<&str> = first.iter().map(String::as_str).collect();
    let last = first.last().unwrap().clone();
    let c = client(vec![
        Answer::new(200, &page(&first_refs)).to("GET /v2/team/repo/tags/list?n=1000"),
        Answer::new(200, &page(&["u1", "u2"]))
            .to(&format!("GET /v2/team/repo/tags/list?n=1000&last={last}")),
    ]);
    let listed = c.list_tags().unwrap();
    assert_eq!(listed.len(), TAG_PAGE_SIZE + 2);
    assert_eq!(listed.last().unwrap(), "u2");
    // Exactly a full page in all: the next asks, gets every tag again, and
    // stops with each once.
    let c = client(vec![
        Answer::new(200, &page(&first_refs)).to("GET /v2/team/repo/tags/list?n=1000"),
        Answer::new(200, &page(&first_refs))
            .to(&format!("GET /v2/team/repo/tags/list?n=1000&last={last}")),
    ]);
    assert_eq!(c.list_tags().unwrap(), first);
}

#[test]
fn a_not_found_whose_body_is_cut_is_still_not_found() {
    // The soak saw it: a 404's error document cut midway failed a get
    // whose answer was plain.
    let c = client(vec![
        Answer::new(404, br#"{"errors":[{"code":"MANIFEST_UNKNOWN""#)
            .cut()
            .to("GET /v2/team/repo/manifests/lock-x"),
        Answer::new(404, br#"{"errors":[{"code":"NAME_UN"#)
            .cut()
            .to("GET /v2/team/repo/tags/list?n=1000"),
    ]);
    assert_eq!(c.get_manifest("lock-x").unwrap(), None);
    assert!(c.list_tags().unwrap().is_empty());
}

#[test]
fn a_used_up_pull_limit_fails_at_once_saying_when_it_comes_back() {
    // Docker Hub: 429 on the manifest GET with ratelimit headers, nothing
    // left in a six-hour window: no retry for two minutes, one line.
    let c = client(vec![Answer::new(
        429,
        br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#,
    )
    .to("GET /v2/team/repo/manifests/config")
    .header("ratelimit-limit", "100;w=21600")
    .header("ratelimit-remaining", "0;w=21600")]);
    match c.get_manifest("config") {
        Err(StoreError::RateLimited(m)) => {
            assert!(m.contains("pull rate limit"), "{m}");
            assert!(
                m.contains("limit of 100 pulls per 21600 s is used up"),
                "{m}"
            );
            assert!(m.contains("comes back within 21600 s"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.transport().asked.borrow().len(), 1, "not retried");
    assert!(c.transport().slept.borrow().is_empty(), "no wait");
}

#[test]
fn an_upload_the_registry_says_it_stored_under_another_digest_fails() {
    // A registry that does not check the closing PUT's digest but names
    // what it computed: the object must not name a digest its bytes lack.
    let session = "http://r:5000/v2/team/repo/blobs/uploads/s";
    let asked = format!("sha256:{}", "a".repeat(64));
    let other = format!("sha256:{}", "b".repeat(64));
    let c = client(vec![Answer::new(201, b"")
        .to("PUT /v2/team/repo/blobs/uploads/s")
        .header("docker-content-digest", &other)]);
    let failed = c
        .complete_upload(session, &asked, b"x".to_vec())
        .unwrap_err();
    assert!(
        matches!(&failed, StoreError::Integrity(m) if m.contains(&other)),
        "{failed:?}"
    );

    // The same digest, or none, or one of another algorithm: done.
    for named in [
        Some(asked.clone()),
        None,
        Some(format!("sha512:{}", "c".repeat(128))),
    ] {
        let mut answer = Answer::new(201, b"").to("PUT /v2/team/repo/blobs/uploads/s");
        if let Some(named) = &named {
            answer = answer.header("docker-content-digest", named);
        }
        client(vec![answer])
            .complete_upload(session, &asked, b"x".to_vec())
            .unwrap_or_else(|e| panic!("{named:?}: {e:?}"));
    }
}
