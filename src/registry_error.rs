//! Turning a registry's refusal into a `StoreError`. The distribution spec's
//! error body is `{"errors":[{"code","message","detail"}]}`, when the answer
//! is JSON at all (proxies and CDNs send HTML or nothing).

use crate::error::StoreError;
use serde::Deserialize;

/// Longest registry message we carry into an error.
const MAX_MESSAGE: usize = 300;
/// Longest error code we carry: the spec's are under 25 characters, so a
/// longer one is junk, cut like a message.
const MAX_CODE: usize = 40;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    /// Free-form: a string, an object, anything (distribution spec,
    /// "Error Codes"). GitLab and Google put what the user needs here
    /// (`unknown media type: ...`, the tag that still references a
    /// manifest), so it is quoted too.
    #[serde(default)]
    detail: serde_json::Value,
}

/// What a storage driver's errno means, where distribution wraps a
/// system error as `{"DriverName":...,"Enclosed":{"Op":...,"Err":N}}` (its
/// `storagedriver.Error`, Go's `PathError`): the numbers a registry's disk
/// answers with when it cannot take more (Linux's values).
fn errno_words(detail: &serde_json::Value) -> Option<&'static str> {
    match detail.get("Enclosed")?.get("Err")?.as_u64()? {
        28 => Some("no space left on device"),
        122 => Some("disk quota exceeded"),
        30 => Some("read-only file system"),
        13 => Some("permission denied"),
        5 => Some("input/output error"),
        _ => None,
    }
}

/// The detail of an error entry as text: a string as it is, anything else
/// (an object, an array, a number) as compact JSON, led by what its errno
/// means when it wraps one; nothing for null or an empty value.
fn detail_text(detail: &serde_json::Value) -> Option<String> {
    if let Some(words) = errno_words(detail) {
        return Some(format!("{words} ({detail})"));
    }
    let text = match detail {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Object(o) if o.is_empty() => return None,
        serde_json::Value::Array(a) if a.is_empty() => return None,
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// Every error code of an OCI error body (registries may send several).
pub fn error_codes(body: &[u8]) -> Vec<String> {
    crate::json::from_object::<ErrorBody>(body)
        .map(|b| b.errors.into_iter().map(|e| e.code).collect())
        .unwrap_or_default()
}

/// The first `(code, message)` of an OCI error body, if it is one, both
/// cut and cleaned of control characters: they end up in error messages.
/// The entry's `detail`, when it says more than the message, follows the
/// message (`manifest invalid: unknown media type: ...`).
pub fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let parsed: ErrorBody = crate::json::from_object(body).ok()?;
    let first = parsed.errors.into_iter().next()?;
    let message = match detail_text(&first.detail) {
        Some(detail) if !first.message.contains(&detail) => {
            if first.message.is_empty() {
                detail
            } else {
                format!("{}: {detail}", first.message)
            }
        }
        _ => first.message,
    };
    Some((
        excerpt(&first.code, MAX_CODE),
        excerpt(&message, MAX_MESSAGE),
    ))
}

/// A body that is no OCI error document but short plain text (a proxy's
/// or a storage driver's own words, such as `no space left on device`):
/// worth quoting. HTML pages and binary junk are not.
fn plain_text(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.starts_with('<') || text.starts_with('{') {
        return None;
    }
    Some(excerpt(text, 200))
}

/// Registry-sent text as an error message may quote it: control
/// characters blanked (messages reach logs and terminals), cut after
/// `max_chars` characters.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &clean[..cut]),
        None => clean,
    }
}

/// Maps a non-success answer to an error. `what` says what we were doing
/// ("PUT manifest lock-ab12..."), so the message names the object.
pub fn error_from_response(status: u16, body: &[u8], what: &str) -> StoreError {
    let (code, message) = parse_error_body(body)
        .or_else(|| plain_text(body).map(|text| (String::new(), text)))
        .unwrap_or_default();
    let detail = if message.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: {message}")
    };
    match (status, code.as_str()) {
        (401, _) | (_, "UNAUTHORIZED") => StoreError::Unauthorized(detail),
        (403, _) | (_, "DENIED") => StoreError::Denied(detail),
        (429, _) | (_, "TOOMANYREQUESTS") => StoreError::RateLimited(detail),
        (405, _) | (_, "UNSUPPORTED") => StoreError::Unsupported(detail),
        (404, _) => StoreError::NotFound(detail),
        _ => StoreError::Registry {
            status,
            code,
            message: detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_status_and_codes() {
        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert!(
            matches!(error_from_response(403, body, "PUT x"), StoreError::Denied(m) if m.contains("requested access"))
        );
        assert!(
            matches!(error_from_response(401, b"", "GET x"), StoreError::Unauthorized(m) if m == "GET x: HTTP 401")
        );
        assert!(matches!(
            error_from_response(429, b"<html>", "GET x"),
            StoreError::RateLimited(_)
        ));
        let unsupported =
            br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;
        assert!(matches!(
            error_from_response(405, unsupported, "DELETE"),
            StoreError::Unsupported(_)
        ));
        assert!(matches!(
            error_from_response(400, unsupported, "DELETE"),
            StoreError::Unsupported(_)
        ));
        let invalid =
            br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}}]}"#;
        match error_from_response(400, invalid, "PUT manifest t") {
            StoreError::Registry {
                status,
                code,
                message,
            } => {
                assert_eq!((status, code.as_str()), (400, "MANIFEST_INVALID"));
                assert!(message.contains("manifest invalid"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            error_from_response(500, b"oops", "x"),
            StoreError::Registry { status: 500, .. }
        ));
    }

    #[test]
    fn the_registry_s_detail_and_plain_words_are_quoted() {
        // GitLab's refusal of a type outside its allow-list (issue 20).
        let gitlab = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"unknown media type: application/vnd.plakar.kloset.v1.probe (artifactType)"}]}"#;
        let shown = error_from_response(400, gitlab, "PUT manifest config.probe").to_string();
        assert_eq!(
            shown,
            "registry answered 400 MANIFEST_INVALID: PUT manifest config.probe: manifest invalid: \
             unknown media type: application/vnd.plakar.kloset.v1.probe (artifactType)"
        );
        // An object detail is quoted as compact JSON; one the message
        // already says is not repeated.
        let object = br#"{"errors":[{"code":"X","message":"m","detail":{"Tag":"config.probe"}}]}"#;
        assert_eq!(
            parse_error_body(object).unwrap().1,
            r#"m: {"Tag":"config.probe"}"#
        );
        let same = br#"{"errors":[{"code":"X","message":"blob unknown: sha256:ab","detail":"sha256:ab"}]}"#;
        assert_eq!(parse_error_body(same).unwrap().1, "blob unknown: sha256:ab");
        // distribution's wrapped system error: errno 28 is a full disk.
        let full = br#"{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":{"DriverName":"filesystem","Enclosed":{"Err":28,"Op":"write","Path":"/x/startedat"}}}]}"#;
        let shown = error_from_response(500, full, "POST blob upload").to_string();
        assert!(
            shown.starts_with("registry answered 500 UNKNOWN: POST blob upload: unknown error: no space left on device ("),
            "{shown}"
        );
        // A storage driver's own words in a plain body (a full disk).
        let disk = error_from_response(500, b"no space left on device\n", "PATCH blob upload");
        assert_eq!(
            disk.to_string(),
            "registry answered 500: PATCH blob upload: no space left on device"
        );
        // An HTML page says nothing worth quoting.
        assert_eq!(
            error_from_response(502, b"<html>bad gateway</html>", "GET x").to_string(),
            "registry answered 502: GET x: HTTP 502"
        );
    }

    #[test]
    fn all_codes_are_read() {
        // What distribution 2.8 answers a manifest PUT while another client
        // commits the same layer blob.
        let body = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:ab"}]}"#;
        assert_eq!(
            error_codes(body),
            ["DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN"]
        );
        assert!(error_codes(b"<html>").is_empty());
    }

    #[test]
    fn long_or_odd_messages_are_tamed() {
        let long = format!(
            r#"{{"errors":[{{"code":"X","message":"{}\n"}}]}}"#,
            "a".repeat(1000)
        );
        let (_, m) = parse_error_body(long.as_bytes()).unwrap();
        assert!(m.len() <= MAX_MESSAGE + 3 && m.ends_with("..."));
        assert_eq!(parse_error_body(b"not json"), None);
        assert_eq!(parse_error_body(br#"{"errors":[]}"#), None);
    }

    #[test]
    fn excerpts_are_clean_and_short() {
        assert_eq!(excerpt("a\tb", 10), "a b");
        assert_eq!(excerpt("ééééé", 3), "ééé...");
        assert_eq!(excerpt("abc", 3), "abc");
    }

    #[test]
    fn odd_codes_are_tamed_too() {
        // Found by fuzzing (`error_body`): the code went into the error as
        // sent, control characters and any length.
        let body = format!(
            r#"{{"errors":[{{"code":"BAD\u007f\n{}","message":"m"}}]}}"#,
            "X".repeat(5000)
        );
        let error = error_from_response(400, body.as_bytes(), "GET x");
        let shown = error.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.len() < 200, "{} bytes", shown.len());
        match error {
            StoreError::Registry { code, .. } => assert!(code.starts_with("BAD  XXX")),
            other => panic!("{other:?}"),
        }
    }
}
