//! Every wait of the client ends within the request's `retry_budget` and
//! the operation's deadline, whichever loop asks for it.

use super::tests::client;
use crate::chunked::ChunkedUpload;
use crate::digest::sha256_digest;
use crate::error::StoreError;
use crate::retry::{Policy, DEFAULT_POLICY};
use crate::scripted::Answer;
use crate::transport::Transport;
use std::time::Duration;

const RACING: &[u8] =
    br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;

/// Seven answers that a concurrent manifest PUT is racing this one, more
/// than any budget lets the client wait through.
fn racing_puts() -> Vec<Answer> {
    (0..7)
        .map(|_| {
            Answer::new(400, RACING)
                .to("PUT /v2/team/repo/manifests/lock-x")
                .spare()
        })
        .collect()
}

#[test]
fn a_racing_manifest_put_stops_within_the_retry_budget() {
    // retry_budget=1: the race back-off (50, 100, 200, 400, 800, 1600 ms)
    // may wait 750 ms in all; the 800 ms wait would end past the budget.
    let budget = Duration::from_secs(1);
    let c = client(racing_puts()).with_policy(Policy {
        budget,
        ..DEFAULT_POLICY
    });
    match c.put_manifest("lock-x", b"{}".to_vec()) {
        Err(StoreError::Registry {
            status: 400, code, ..
        }) => {
            assert_eq!(code, "MANIFEST_BLOB_UNKNOWN")
        }
        other => panic!("{other:?}"),
    }
    let waited: Duration = c.transport().slept.borrow().iter().sum();
    assert!(waited <= budget, "waited {waited:?}, past the budget");
    assert_eq!(waited, Duration::from_millis(750));
    assert_eq!(c.transport().methods(), ["PUT"; 5]);
}

#[test]
fn a_racing_manifest_put_stops_by_the_operations_deadline() {
    // The default budget would allow every wait; a 300 ms deadline allows
    // 50 + 100 ms, not the 200 ms after them.
    let c = client(racing_puts()).with_deadline(Duration::from_millis(300));
    let _op = c.operation();
    assert!(c.put_manifest("lock-x", b"{}".to_vec()).is_err());
    let waited: Duration = c.transport().slept.borrow().iter().sum();
    assert_eq!(waited, Duration::from_millis(150));
}

#[test]
fn a_chunks_retry_waits_end_by_the_operations_deadline() {
    // A chunk refused with Retry-After: 2 under a 1 s deadline fails at
    // once instead of waiting 2 s and asking the session.
    let session = "http://r:5000/v2/team/repo/blobs/uploads/s";
    let c = client(vec![
        Answer::new(202, b"")
            .to("POST /v2/team/repo/blobs/uploads/")
            .header("location", &format!("{session}?_state=0")),
        Answer::new(503, b"")
            .to("PATCH /v2/team/repo/blobs/uploads/s")
            .header("retry-after", "2"),
    ])
    .with_deadline(Duration::from_secs(1));
    let _op = c.operation();
    let data = vec![7u8; 150];
    let result = (|| {
        let mut up = ChunkedUpload::start(&c, 100)?;
        up.write(&c, &data)?;
        up.finish(&c, &sha256_digest(&data))
    })();
    assert!(
        matches!(result, Err(StoreError::Registry { status: 503, .. })),
        "{result:?}"
    );
    assert!(c.transport().slept.borrow().is_empty());
    assert_eq!(c.transport().methods(), ["POST", "PATCH"]);
}

#[test]
fn transient_retries_share_the_budget_with_their_waits() {
    // Retry-After: 20 fits a 50 s budget twice: a third wait would end
    // at 40 + 20 > 50 s.
    let busy = || {
        Answer::new(503, b"")
            .to("GET /v2/team/repo/tags/list?n=1000")
            .header("retry-after", "20")
    };
    let c = client(vec![busy(), busy(), busy()]).with_policy(Policy {
        budget: Duration::from_secs(50),
        ..DEFAULT_POLICY
    });
    assert!(matches!(
        c.list_tags(),
        Err(StoreError::Registry { status: 503, .. })
    ));
    assert_eq!(c.transport().now(), Duration::from_secs(40));
}
