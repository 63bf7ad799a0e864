//! The `content_range` target's check (input form: see `checks`).

use super::*;

/// Ranged reads: what is delivered is exactly the bytes asked for, cut from
/// a span the registry's `Content-Range` really covers, of this blob.
pub fn content_range(data: &[u8]) {
    let text = text(data);
    let (head, content_range) = match text.split_once('\n') {
        Some((head, rest)) => (head, Some(rest)),
        None => (text.as_str(), None),
    };
    let numbers: Vec<u64> = head
        .split_whitespace()
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let number = |i: usize| numbers.get(i).copied().unwrap_or(0);
    let range = ByteRange {
        offset: number(0),
        length: u32::try_from(number(1)).unwrap_or(u32::MAX),
    };
    let (size, status) = (number(2), u16::try_from(number(3)).unwrap_or(206));
    if range.length == 0 || range.check_within(size).is_err() {
        return; // refused before any request (`get`)
    }
    let header = range.header();
    let (first, last) = header
        .strip_prefix("bytes=")
        .and_then(|span| span.split_once('-'))
        .unwrap();
    assert_eq!(first.parse::<u64>().unwrap(), range.offset);
    assert_eq!(
        last.parse::<u64>().unwrap() - range.offset + 1,
        u64::from(range.length)
    );
    // A 200 says it is the whole blob (its length is checked separately).
    let length = size.to_string();
    let slice = match plan_slice(range, status, content_range, Some(&length), size) {
        Ok(slice) => slice,
        Err(error) => {
            assert!(matches!(error, StoreError::Integrity(_)), "{error:?}");
            assert_tame(&error);
            return;
        }
    };
    assert_eq!(slice.take, u64::from(range.length));
    match status {
        200 => assert_eq!(slice.skip, range.offset),
        206 => {
            let (start, end, total) = strict_content_range(content_range.unwrap())
                .unwrap_or_else(|| panic!("accepted Content-Range {content_range:?}"));
            assert!(start <= end && end < size, "{content_range:?}");
            assert!(total.is_none_or(|t| t == size), "{content_range:?}");
            assert_eq!(start + slice.skip, range.offset);
            assert!(range.offset + slice.take - 1 <= end);
        }
        _ => panic!("status {status} accepted"),
    }
}

/// `bytes START-END/TOTAL` as RFC 9110 section 14.4 writes it (digits only,
/// TOTAL a number or `*`), tolerating space around the parts.
fn strict_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let rest = value.trim().strip_prefix("bytes")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    Some((number(start)?, number(end)?, total))
}
