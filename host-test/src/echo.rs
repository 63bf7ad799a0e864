//! User input quoted back in errors and warnings (a path, an option key, a
//! component reference): cut to [`MAX_CHARS`] characters and with control
//! characters escaped, so a message stays one short line and a terminal
//! never runs an escape sequence hidden in what a user (or a script
//! feeding one) typed. Values of options that may be secrets are never
//! echoed at all; this is for what may be shown.

use std::path::Path;

/// Characters of one echoed item at most: a long path fits, 10,000
/// characters pasted by mistake do not flood the line.
pub const MAX_CHARS: usize = 200;

/// `text` as it may be shown: control characters (C0, DEL, C1) and the
/// bidirectional overrides written `\u{..}`, cut after [`MAX_CHARS`]
/// characters, saying how long it was.
pub fn text(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX_CHARS {
            out.push_str(&format!("... ({} characters)", text.chars().count()));
            break;
        }
        if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A path as it may be shown (not UTF-8: replaced, lossy).
pub fn path(path: &Path) -> String {
    text(&path.to_string_lossy())
}

/// Characters of a whole message at most: the longest the host and the
/// component write (an unknown option and the list of known ones) is
/// some 600.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// A whole error message made one line that may be shown: line breaks
/// and tabs become spaces, other control characters are escaped as by
/// [`text`], and it is cut after [`MAX_MESSAGE_CHARS`] characters. For
/// messages that may quote input their writer did not clean (the
/// component's, a parser's).
pub fn message(message: &str) -> String {
    let mut out = String::new();
    for (n, c) in message.chars().enumerate() {
        if n == MAX_MESSAGE_CHARS {
            out.push_str("...");
            break;
        }
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Marks that reorder how a terminal draws the text after them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_table() {
        let cases = [
            ("plain/path.pem", "plain/path.pem"),
            ("é ü 東京", "é ü 東京"),
            ("a\u{1b}[2Jb", "a\\u{1b}[2Jb"),
            ("line\nnext\r", "line\\u{a}next\\u{d}"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{7f}", "\\u{7f}"),
            ("abc\u{202e}txt.exe", "abc\\u{202e}txt.exe"),
        ];
        for (given, want) in cases {
            assert_eq!(text(given), want, "{given:?}");
        }
    }

    #[test]
    fn a_message_is_one_clean_line() {
        assert_eq!(
            message("unknown option 'a\u{1b}]0;x\u{7}'\n(known: b)"),
            "unknown option 'a\\u{1b}]0;x\\u{7}' (known: b)"
        );
        let long = message(&"z".repeat(50_000));
        assert_eq!(long.len(), MAX_MESSAGE_CHARS + 3);
    }

    #[test]
    fn long_input_is_cut_and_its_length_told() {
        let long = "x".repeat(10_000);
        let shown = text(&long);
        assert_eq!(shown, format!("{}... (10000 characters)", "x".repeat(200)));
        assert_eq!(text(&"y".repeat(200)), "y".repeat(200));
    }
}
