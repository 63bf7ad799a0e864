//! Object keys: 32-byte MACs, written as 64 lowercase hex characters.

/// An object's key.
pub type Mac = [u8; 32];

/// Text that is not a MAC in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacParseError {
    #[error("a MAC is 64 hex characters, got {0}")]
    Length(usize),
    #[error("a MAC is hex, found {0:?}")]
    NotHex(char),
}

/// Parses 64 hex characters (either case) into a MAC.
pub fn parse_mac(text: &str) -> Result<Mac, MacParseError> {
    let digits: Vec<char> = text.chars().collect();
    if digits.len() != 64 {
        return Err(MacParseError::Length(digits.len()));
    }
    let mut mac = [0u8; 32];
    for (byte, pair) in mac.iter_mut().zip(digits.chunks(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(mac)
}

fn nibble(c: char) -> Result<u8, MacParseError> {
    c.to_digit(16)
        .map(|d| d as u8)
        .ok_or(MacParseError::NotHex(c))
}

/// Writes a MAC as 64 lowercase hex characters.
pub fn mac_to_hex(mac: &Mac) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for byte in mac {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0x0f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_lowercase() {
        let text = "00ff10aB".repeat(8);
        let mac = parse_mac(&text).unwrap();
        assert_eq!(&mac[..4], &[0x00, 0xff, 0x10, 0xab]);
        assert_eq!(mac_to_hex(&mac), text.to_lowercase());
    }

    #[test]
    fn refuses_bad_text() {
        let cases = [
            ("", MacParseError::Length(0)),
            ("ab", MacParseError::Length(2)),
            (&*"a".repeat(65), MacParseError::Length(65)),
            (&*format!("{}g", "a".repeat(63)), MacParseError::NotHex('g')),
            (&*format!("{} ", "a".repeat(63)), MacParseError::NotHex(' ')),
            (&*format!("{}é", "a".repeat(63)), MacParseError::NotHex('é')),
        ];
        for (text, want) in cases {
            assert_eq!(parse_mac(text), Err(want), "{text:?}");
        }
    }
}
