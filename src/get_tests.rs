//! Tests of `get.rs`. A scripted transport stands in for registries that behave in ways
//! distribution does not: ignoring `Range`, truncating, corrupting,
//! breaking mid-body.
use super::*;
use crate::digest::sha256_digest;
use crate::scripted::{Answer, Scripted};

fn object() -> (Vec<u8>, BlobRef) {
    let bytes: Vec<u8> = (0..100u8).collect();
    let blob = BlobRef {
        digest: sha256_digest(&bytes),
        size: 100,
    };
    (bytes, blob)
}

fn client(answers: Vec<Answer>) -> RegistryClient<Scripted> {
    let auth = crate::auth::Authenticator::new(
        "http://r",
        "repo",
        crate::auth::credentials::Credentials::Anonymous,
    );
    RegistryClient::new(
        Scripted::new(answers),
        "http://r".into(),
        "repo".into(),
        auth,
    )
}

/// Reads through `answers`; the result and the `Range` of each request.
fn read_through(
    answers: Vec<Answer>,
    blob: &BlobRef,
    range: Option<ByteRange>,
) -> (Result<Vec<u8>, StoreError>, Vec<Option<String>>) {
    let client = client(answers);
    let result = GetReader::open(&client, blob, range, "obj").and_then(|r| r.read_all(&client));
    let ranges = client
        .transport()
        .asked
        .borrow()
        .iter()
        .map(|a| a.range.clone())
        .collect();
    (result, ranges)
}

fn read(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    blob: &BlobRef,
    range: Option<ByteRange>,
) -> (Result<Vec<u8>, StoreError>, Vec<Option<String>>) {
    let mut answer = Answer::new(status, &body).to("GET /v2/repo/blobs/sha256:*");
    for (name, value) in headers {
        answer = answer.header(name, &value);
    }
    read_through(vec![answer], blob, range)
}

fn length(n: usize) -> Vec<(&'static str, String)> {
    vec![("content-length", n.to_string())]
}

#[test]
fn a_200_to_a_ranged_read_is_cut_exactly() {
    let (bytes, blob) = object();
    for (offset, length_) in [(0, 10), (45, 10), (90, 10), (99, 1)] {
        let r = ByteRange {
            offset,
            length: length_,
        };
        let (got, ranges) = read(200, length(100), bytes.clone(), &blob, Some(r));
        assert_eq!(
            got.unwrap(),
            bytes[offset as usize..(offset + length_ as u64) as usize]
        );
        assert_eq!(ranges, vec![Some(r.header())], "the range was asked for");
    }
}

#[test]
fn a_200_to_a_ranged_read_must_be_the_whole_blob() {
    let (bytes, blob) = object();
    let r = ByteRange {
        offset: 10,
        length: 5,
    };
    // Longer, shorter, or of unknown length: not this blob.
    let mut longer = bytes.clone();
    longer.extend([0u8; 50]);
    for (headers, body) in [
        (length(150), longer),
        (length(60), bytes[..60].to_vec()),
        (vec![], bytes.clone()),
    ] {
        let (got, _) = read(200, headers, body, &blob, Some(r));
        assert!(matches!(got, Err(StoreError::Integrity(_))), "{got:?}");
    }
}

#[test]
fn a_206_is_checked_and_delivered() {
    let (bytes, blob) = object();
    let r = ByteRange {
        offset: 20,
        length: 5,
    };
    let cr = vec![("content-range", "bytes 20-24/100".to_string())];
    let (got, _) = read(206, cr, bytes[20..25].to_vec(), &blob, Some(r));
    assert_eq!(got.unwrap(), &bytes[20..25]);
    let wrong = vec![("content-range", "bytes 21-25/100".to_string())];
    let (got, _) = read(206, wrong, bytes[21..26].to_vec(), &blob, Some(r));
    assert!(matches!(got, Err(StoreError::Integrity(_))));
}

#[test]
fn whole_reads_are_verified() {
    let (bytes, blob) = object();
    assert_eq!(
        read(200, vec![], bytes.clone(), &blob, None).0.unwrap(),
        bytes
    );
    let mut corrupt = bytes.clone();
    corrupt[50] ^= 1;
    assert!(
        matches!(read(200, vec![], corrupt, &blob, None).0, Err(StoreError::Integrity(m)) if m.contains("do not match"))
    );
    let cr = vec![("content-range", "bytes 0-99/100".to_string())];
    assert!(matches!(
        read(206, cr, bytes.clone(), &blob, None).0,
        Err(StoreError::Integrity(_))
    ));
    // A length other than the blob's: refused before any byte.
    assert!(matches!(
        read(200, length(99), bytes[..99].to_vec(), &blob, None).0,
        Err(StoreError::Integrity(m)) if m.contains("not the blob's")
    ));
}

#[test]
fn a_whole_read_that_breaks_resumes_from_the_byte_reached() {
    let (bytes, blob) = object();
    let rest = |from: usize| {
        Answer::new(206, &bytes[from..])
            .to("GET /v2/repo/blobs/sha256:*")
            .header("content-range", &format!("bytes {from}-99/100"))
    };
    // Cut after 30 bytes, then truncated after 40 more (an early end),
    // then the rest: the digest carries on across both resumptions.
    let answers = vec![
        Answer::new(200, &bytes[..30])
            .to("GET /v2/repo/blobs/sha256:*")
            .cut(),
        Answer::new(206, &bytes[30..70])
            .to("GET /v2/repo/blobs/sha256:*")
            .header("content-range", "bytes 30-99/100"),
        rest(70),
    ];
    let (got, ranges) = read_through(answers, &blob, None);
    assert_eq!(got.unwrap(), bytes);
    assert_eq!(
        ranges,
        [None, Some("bytes=30-99".into()), Some("bytes=70-99".into())]
    );
    // A registry ignoring Range on the resumption: its 200 is cut.
    let answers = vec![
        Answer::new(200, &bytes[..30])
            .to("GET /v2/repo/blobs/sha256:*")
            .cut(),
        Answer::new(200, &bytes)
            .to("GET /v2/repo/blobs/sha256:*")
            .header("content-length", "100"),
    ];
    assert_eq!(read_through(answers, &blob, None).0.unwrap(), bytes);
    // A resumption that sends other bytes fails the digest.
    let mut other = bytes.clone();
    other[80] ^= 1;
    let answers = vec![
        Answer::new(200, &bytes[..30])
            .to("GET /v2/repo/blobs/sha256:*")
            .cut(),
        Answer::new(206, &other[30..])
            .to("GET /v2/repo/blobs/sha256:*")
            .header("content-range", "bytes 30-99/100"),
    ];
    assert!(matches!(
        read_through(answers, &blob, None).0,
        Err(StoreError::Integrity(m)) if m.contains("do not match")
    ));
}

#[test]
fn a_ranged_read_that_breaks_asks_for_the_rest_of_its_range() {
    let (bytes, blob) = object();
    let r = ByteRange {
        offset: 20,
        length: 50,
    };
    let answers = vec![
        Answer::new(206, &bytes[20..45])
            .to("GET /v2/repo/blobs/sha256:*")
            .header("content-range", "bytes 20-69/100")
            .cut(),
        Answer::new(206, &bytes[45..70])
            .to("GET /v2/repo/blobs/sha256:*")
            .header("content-range", "bytes 45-69/100"),
    ];
    let (got, ranges) = read_through(answers, &blob, Some(r));
    assert_eq!(got.unwrap(), &bytes[20..70]);
    assert_eq!(
        ranges,
        [Some("bytes=20-69".into()), Some("bytes=45-69".into())]
    );
}

#[test]
fn resumptions_are_bounded_by_the_retry_option() {
    let (bytes, blob) = object();
    // Every answer breaks before a byte: the default four resumptions
    // in a row, then the error.
    let breaking = || {
        let mut answers = vec![Answer::new(200, &bytes[..10])
            .to("GET /v2/repo/blobs/sha256:*")
            .cut()];
        answers.extend((0..4).map(|_| {
            Answer::new(206, b"")
                .to("GET /v2/repo/blobs/sha256:*")
                .header("content-range", "bytes 10-99/100")
                .cut()
        }));
        answers
    };
    let (got, ranges) = read_through(breaking(), &blob, None);
    assert!(matches!(got, Err(StoreError::Transport(_))), "{got:?}");
    assert_eq!(ranges.len(), 5);
    // Read again after that failure: an error again, not a trap (a host
    // without a reader of its own, jco or wasmtime-py, may do so).
    let client = client(breaking());
    let mut reader = GetReader::open(&client, &blob, None, "obj").unwrap();
    let first = loop {
        match reader.read(&client, 1 << 20) {
            Ok(chunk) if chunk.is_empty() => panic!("a clean end"),
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(first, StoreError::Transport(_)), "{first:?}");
    let again = reader.read(&client, 1 << 20).unwrap_err();
    assert!(again.to_string().contains("failed earlier"), "{again}");
    // A short body that never comes whole: integrity, as before.
    let answers = (0..5)
        .map(|_| {
            Answer::new(206, b"")
                .to("GET /v2/repo/blobs/sha256:*")
                .spare()
                .header("content-range", "bytes 60-99/100")
        })
        .collect();
    let mut all = vec![Answer::new(200, &bytes[..60]).to("GET /v2/repo/blobs/sha256:*")];
    all.extend::<Vec<Answer>>(answers);
    assert!(matches!(
        read_through(all, &blob, None).0,
        Err(StoreError::Integrity(m)) if m.contains("early")
    ));
}

/// A blob of `n` bytes, and answers to a whole read of it that each
/// carry `step` bytes and break (the last one ends), each `delay` long.
fn broken_every(n: usize, step: usize, delay: Duration) -> (Vec<u8>, BlobRef, Vec<Answer>) {
    let bytes: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let blob = BlobRef {
        digest: sha256_digest(&bytes),
        size: n as u64,
    };
    let answers = (0..n)
        .step_by(step)
        .map(|from| {
            let to = (from + step).min(n);
            let answer = if from == 0 {
                Answer::new(200, &bytes[..to]).to("GET /v2/repo/blobs/sha256:*")
            } else {
                Answer::new(206, &bytes[from..to])
                    .to("GET /v2/repo/blobs/sha256:*")
                    .header("content-range", &format!("bytes {from}-{}/{n}", n - 1))
            };
            // Spare: a deadline or the retries stop some reads first.
            let answer = answer.after(delay).spare();
            if to < n {
                answer.cut()
            } else {
                answer
            }
        })
        .collect();
    (bytes, blob, answers)
}

#[test]
fn only_real_progress_starts_the_resumption_count_afresh() {
    // Breaks every 64 KiB: resumed for as long as they come, here nine
    // times in a row, more than the four retries.
    let (bytes, blob, answers) = broken_every(640 << 10, 64 << 10, Duration::ZERO);
    let (got, ranges) = read_through(answers, &blob, None);
    assert!(got.unwrap() == bytes);
    assert_eq!(ranges.len(), 10);
    // Breaks every ten bytes: no real progress, so the four retries
    // are spent as for any failure, and the read fails.
    let (_, blob, answers) = broken_every(640 << 10, 10, Duration::ZERO);
    let (got, ranges) = read_through(answers, &blob, None);
    assert!(matches!(got, Err(StoreError::Transport(_))), "{got:?}");
    assert_eq!(ranges.len(), 5, "the first request and four resumptions");
    // What is left counts as real progress however small.
    assert!(real_progress(100, 105, 105));
    assert!(!real_progress(100, 104, 105));
    assert!(!real_progress(0, 1, 1 << 20));
}

#[test]
fn a_resumed_read_ends_by_the_get_deadline() {
    // Each answer comes after 100 s (under the timeout), carries ten
    // bytes and breaks; the retries would allow twenty resumptions. The
    // get, from its opening to its last resumption, ends by its 300 s
    // deadline (give or take one answer's wait), with a deadline error.
    let delay = Duration::from_secs(100);
    let (_, blob, answers) = broken_every(1000, 10, delay);
    let client = client(answers)
        .with_policy(crate::retry::Policy {
            retries: 20,
            ..crate::retry::DEFAULT_POLICY
        })
        .with_deadline(Duration::from_secs(300));
    let result = {
        let _operation = client.operation();
        GetReader::open(&client, &blob, None, "obj")
    }
    .and_then(|r| r.read_all(&client));
    match result {
        Err(StoreError::Transport(m)) => assert!(m.contains("deadline"), "{m}"),
        other => panic!("{other:?}"),
    }
    let took = client.transport().now();
    assert!(took <= Duration::from_secs(300) + delay, "took {took:?}");
    assert_eq!(client.transport().asked.borrow().len(), 3);
}

#[test]
fn ranges_past_the_end_fail_before_any_request() {
    // No answer scripted: any request fails the test.
    let (_, blob) = object();
    let (got, ranges) = read_through(
        vec![],
        &blob,
        Some(ByteRange {
            offset: 95,
            length: 10,
        }),
    );
    assert!(matches!(got, Err(StoreError::InvalidArgument(_))));
    assert!(ranges.is_empty());
    let (got, ranges) = read_through(
        vec![],
        &blob,
        Some(ByteRange {
            offset: 100,
            length: 0,
        }),
    );
    assert_eq!(got.unwrap(), Vec::<u8>::new());
    assert!(ranges.is_empty());
}
