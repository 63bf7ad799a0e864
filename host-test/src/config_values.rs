//! Values of the host's own options: sizes, seconds, counts. A bad value is
//! refused naming the option and what it takes, never quoting the value
//! (option values in general may be secrets).

use crate::{ContractError, StoreError};

/// Bytes, plain or with a binary suffix: `512`, `64K`, `64KiB`, `2M`,
/// `2MiB`, `1G`, `1GiB` (as the component's `chunk_size`), within
/// `min..=max`.
pub fn size(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    let bad = || {
        StoreError::Contract(ContractError::InvalidConfig(format!(
            "option '{key}' must be a size in bytes (K, M, G suffixes) from {min} to {max}"
        )))
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

/// A whole number within `min..=max` (seconds, counts).
pub fn number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, StoreError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            StoreError::Contract(ContractError::InvalidConfig(format!(
                "option '{key}' must be a whole number from {min} to {max}"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = |v| size("k", v, 1, 4 << 30).unwrap();
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
            let err = size("k", bad, 1, 4 << 30).unwrap_err().to_string();
            assert!(err.contains("'k'"), "{bad:?}: {err}");
            assert!(!err.contains("s3cret"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(number("n", "64", 1, 64).unwrap(), 64);
        for bad in ["0", "65", "", "x", "-1", "1.0"] {
            assert!(number("n", bad, 1, 64).is_err(), "{bad:?}");
        }
    }
}
