//! Value parsers of the options: whole numbers, sizes, flags, the prefix,
//! the media type and the upload mode. Errors name the option and never
//! quote more of a value than it takes to see the mistake.

use super::options::option;
use super::{invalid, UploadMode, DEFAULT_CHUNK_SIZE, MAX_PREFIX_LEN};
use crate::error::StoreError;

/// `upload_mode` is `stream` (the default), `chunked` or `monolithic`;
/// `chunk_size` alone implies `chunked`, and makes no sense with the others.
pub(super) fn parse_upload_mode(
    mode: Option<&str>,
    chunk_size: Option<&str>,
) -> Result<UploadMode, StoreError> {
    let size = chunk_size
        .map(|v| option("chunk_size").size(v))
        .transpose()?;
    match (mode.map(str::trim), size) {
        (Some("stream"), None) => Ok(UploadMode::Stream),
        (None | Some("chunked"), Some(n)) => Ok(UploadMode::Chunked {
            chunk_size: n as usize,
        }),
        (None | Some("chunked"), None) => Ok(UploadMode::Chunked {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }),
        (Some("monolithic"), None) => Ok(UploadMode::Monolithic),
        (Some(m @ ("stream" | "monolithic")), Some(_)) => Err(invalid(format!(
            "option 'chunk_size' applies to upload_mode=chunked, not '{m}'"
        ))),
        (Some(other), _) => Err(invalid(format!(
            "option 'upload_mode' is '{other}'; expected stream, chunked or monolithic"
        ))),
    }
}

/// A byte count in `[min, max]`: plain bytes, or with a binary suffix
/// (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`, any case), as in `4MiB`.
pub fn parse_size(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    let v = value.trim();
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => u32::MAX,
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .filter(|_| shift != u32::MAX)
        .and_then(|n| n.checked_mul(1u64.checked_shl(shift)?));
    match bytes {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "option '{key}' is '{value}'; expected a size from {} KiB to {} MiB, \
             such as 4MiB or 4194304",
            min >> 10,
            max >> 20
        ))),
    }
}

/// A whole number in `[min, max]`.
pub fn parse_number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "option '{key}' must be a whole number from {min} to {max}, got '{value}'"
        ))),
    }
}

pub fn parse_bool(key: &str, value: &str) -> Result<bool, StoreError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(format!(
            "option '{key}' must be true or false, got '{value}'"
        ))),
    }
}

/// Prefixes join tags with '.', so they may not contain one: that keeps the
/// tags of two different prefixes from ever colliding.
pub fn parse_prefix(value: &str) -> Result<String, StoreError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_PREFIX_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !value.starts_with('-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(invalid(format!(
            "option 'repository_prefix' must be 1 to {MAX_PREFIX_LEN} letters, digits, '_' or '-' \
             (not starting with '-'), got '{value}'"
        )))
    }
}

/// A media type `type/subtype` (RFC 6838 restricted-name characters).
pub fn parse_media_type(value: &str) -> Result<String, StoreError> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    match value.split_once('/') {
        Some((t, s)) if name_ok(t) && name_ok(s) => Ok(value.to_string()),
        _ => Err(invalid(format!(
            "option 'media_type' must look like type/subtype, got '{value}'"
        ))),
    }
}

// The host's options, read exactly (see `OptionSpec`): each option's parser
// is written once, here, beside the others.

/// Bytes, plain or with a binary suffix written as documented: `512`,
/// `64K`, `64KiB`, `2M`, `2MiB`, `1G`, `1GiB`, within `min..=max`. The
/// value is never quoted back.
pub fn parse_exact_size(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    let bad = || {
        invalid(format!(
            "option '{key}' must be a size in bytes (K, M, G suffixes) from {min} to {max}"
        ))
    };
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let unit: u64 = match suffix {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = number.checked_mul(unit).ok_or_else(bad)?;
    (min..=max)
        .contains(&bytes)
        .then_some(bytes)
        .ok_or_else(bad)
}

/// A whole number within `min..=max` (seconds, counts), digits only; the
/// value is never quoted back.
pub fn parse_exact_number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    // `u64::from_str` also takes a leading `+`: digits only means digits.
    Some(value)
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            invalid(format!(
                "option '{key}' must be a whole number from {min} to {max}"
            ))
        })
}

/// `true` or `false`, nothing else: such a flag turns a security check off,
/// so a typo must not be read as either. The value is not quoted back.
pub fn parse_exact_flag(key: &str, value: &str) -> Result<bool, StoreError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(format!("option '{key}' must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sizes() {
        let ok = |v| parse_exact_size("k", v, 1, 4 << 30).unwrap();
        assert_eq!(ok("512"), 512);
        assert_eq!(ok("64K"), 64 << 10);
        assert_eq!(ok("2MiB"), 2 << 20);
        assert_eq!(ok("1G"), 1 << 30);
        for bad in [
            "",
            "0",
            "1T",
            "-1",
            "1.5M",
            " 1M",
            "99999999999999999999",
            "8G",
            "s3cret",
        ] {
            let err = parse_exact_size("k", bad, 1, 4 << 30)
                .unwrap_err()
                .to_string();
            assert!(err.contains("'k'"), "{bad:?}: {err}");
            assert!(!err.contains("s3cret"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn exact_numbers() {
        assert_eq!(parse_exact_number("n", "64", 1, 64).unwrap(), 64);
        for bad in ["0", "65", "", "x", "-1", "1.0"] {
            assert!(parse_exact_number("n", bad, 1, 64).is_err(), "{bad:?}");
        }
    }
}
