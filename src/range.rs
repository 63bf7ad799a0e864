//! Reading one byte range of a blob. The distribution spec makes `Range`
//! support a SHOULD: a registry may answer 206 with the range, or 200 with the
//! whole blob, which we then cut ourselves.

use crate::error::StoreError;
use crate::registry_error::excerpt;

/// A requested byte range: `[offset, offset + length)`, `length > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u32,
}

impl ByteRange {
    /// The `Range` request header value (inclusive end, RFC 9110).
    pub fn header(&self) -> String {
        format!(
            "bytes={}-{}",
            self.offset,
            self.offset + u64::from(self.length) - 1
        )
    }

    /// Refuses ranges that do not lie inside an object of `size` bytes.
    pub fn check_within(&self, size: u64) -> Result<(), StoreError> {
        match self.offset.checked_add(u64::from(self.length)) {
            Some(end) if end <= size => Ok(()),
            _ => Err(StoreError::InvalidArgument(format!(
                "range {}+{} goes past the end of a {size}-byte object",
                self.offset, self.length
            ))),
        }
    }
}

/// A span of a blob, as a reader asks for it: a caller's range, or what is
/// left of a read that broke (a whole object's rest can pass 4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    /// Greater than zero.
    pub length: u64,
}

impl Span {
    /// The `Range` request header value (inclusive end, RFC 9110).
    pub fn header(&self) -> String {
        format!("bytes={}-{}", self.offset, self.offset + self.length - 1)
    }
}

impl From<ByteRange> for Span {
    fn from(r: ByteRange) -> Span {
        Span {
            offset: r.offset,
            length: u64::from(r.length),
        }
    }
}

/// What to do with a response body to obtain exactly the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Bytes to discard first.
    pub skip: u64,
    /// Bytes to deliver after that.
    pub take: u64,
}

/// Decides how to cut the answer to a ranged GET of a `size`-byte blob.
///
/// A `200` is the whole blob: it must say it is (`Content-Length` equal to
/// the blob's size), or it could be anything, cut at our offsets.
pub fn plan_slice(
    range: impl Into<Span>,
    status: u16,
    content_range: Option<&str>,
    content_length: Option<&str>,
    size: u64,
) -> Result<Slice, StoreError> {
    let range: Span = range.into();
    let whole = Slice {
        skip: range.offset,
        take: range.length,
    };
    match status {
        200 => match content_length.map(number) {
            Some(Some(n)) if n == size => Ok(whole),
            Some(Some(n)) => Err(StoreError::Integrity(format!(
                "a 200 to a ranged read holds {n} bytes, not the blob's {size}"
            ))),
            _ => Err(StoreError::Integrity(
                "a 200 to a ranged read names no usable Content-Length".into(),
            )),
        },
        206 => {
            let cr = content_range
                .ok_or_else(|| StoreError::Integrity("206 answer without Content-Range".into()))?;
            let (start, end) = parse_content_range(cr, size).ok_or_else(|| {
                StoreError::Integrity(format!(
                    "unusable Content-Range '{}' for a {size}-byte blob",
                    excerpt(cr, 64)
                ))
            })?;
            let want_end = range.offset + range.length - 1;
            if start == range.offset && end == want_end {
                Ok(Slice {
                    skip: 0,
                    take: range.length,
                })
            } else if start <= range.offset && end >= want_end && end < size {
                // A wider range than asked (allowed by RFC 9110): cut it.
                Ok(Slice {
                    skip: range.offset - start,
                    take: range.length,
                })
            } else {
                Err(StoreError::Integrity(format!(
                    "asked for bytes {}-{want_end}, registry sent {start}-{end}",
                    range.offset
                )))
            }
        }
        other => Err(StoreError::Integrity(format!(
            "unexpected status {other} to a ranged read"
        ))),
    }
}

/// `bytes START-END/TOTAL` (RFC 9110 section 14.4) -> (START, END). TOTAL
/// is `*` (unknown) or must be the blob's size: a span of an object of
/// another size is no part of this blob, and a ranged read has no digest
/// to catch it later.
fn parse_content_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = spec.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end) = (number(start)?, number(end)?);
    if total.trim() != "*" && number(total)? != size {
        return None;
    }
    (start <= end).then_some((start, end))
}

/// Digits only: `u64::from_str` also takes a leading `+`, which no
/// Content-Range holds.
fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: ByteRange = ByteRange {
        offset: 10,
        length: 5,
    };

    #[test]
    fn header_is_inclusive() {
        assert_eq!(R.header(), "bytes=10-14");
        assert_eq!(
            ByteRange {
                offset: 0,
                length: 1
            }
            .header(),
            "bytes=0-0"
        );
    }

    #[test]
    fn bounds() {
        assert!(R.check_within(15).is_ok());
        assert!(matches!(
            R.check_within(14),
            Err(StoreError::InvalidArgument(_))
        ));
        let huge = ByteRange {
            offset: u64::MAX,
            length: 1,
        };
        assert!(huge.check_within(u64::MAX).is_err());
    }

    #[test]
    fn slices() {
        let ok = |s, t| Ok(Slice { skip: s, take: t });
        assert_eq!(
            plan_slice(R, 200, None, Some("100"), 100),
            ok(10, 5),
            "200: whole blob, cut it"
        );
        for length in [None, Some("99"), Some("101"), Some("x")] {
            assert!(
                matches!(
                    plan_slice(R, 200, None, length, 100),
                    Err(StoreError::Integrity(_))
                ),
                "a 200 of {length:?} bytes is not this blob"
            );
        }
        assert_eq!(
            plan_slice(R, 206, Some("bytes 10-14/100"), None, 100),
            ok(0, 5)
        );
        assert_eq!(
            plan_slice(R, 206, Some("bytes 10-14/*"), None, 100),
            ok(0, 5)
        );
        assert_eq!(
            plan_slice(R, 206, Some("bytes 8-20/100"), None, 100),
            ok(2, 5),
            "wider range"
        );
        for bad in [
            None,
            Some("bytes 11-14/100"),
            Some("bytes 10-13/100"),
            Some("items 10-14/100"),
            Some("bytes x-y/1"),
            // Found by fuzzing (`content_range`): the total was never read,
            // so a span of some other object passed.
            Some("bytes 10-14/50"),
            Some("bytes 10-14/100x"),
            Some("bytes +10-14/100"),
        ] {
            assert!(
                matches!(
                    plan_slice(R, 206, bad, None, 100),
                    Err(StoreError::Integrity(_))
                ),
                "{bad:?}"
            );
        }
        let long = format!("bytes \u{1}{}", "9".repeat(10_000));
        match plan_slice(R, 206, Some(&long), None, 100) {
            Err(StoreError::Integrity(m)) => {
                assert!(m.len() < 200 && !m.contains('\u{1}'), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            plan_slice(R, 204, None, None, 100),
            Err(StoreError::Integrity(_))
        ));
    }
}
