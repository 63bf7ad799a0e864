//! The `error_body` target's check (input form: see `checks`).

use super::*;

/// Error bodies: the status decides the error's kind where it is telling,
/// the registry's words are cut and cleaned, and codes agree between the
/// two readers.
pub fn error_body(data: &[u8]) {
    let (status, body) = status_and_body(data);
    let error = error_from_response(status, &body, "GET x");
    assert_tame(&error);
    match status {
        401 => assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}"),
        429 => assert!(
            matches!(
                error,
                StoreError::Unauthorized(_) | StoreError::Denied(_) | StoreError::RateLimited(_)
            ),
            "{error:?}"
        ),
        _ => {}
    }
    let codes = error_codes(&body);
    match parse_error_body(&body) {
        Some((code, message)) => {
            let first = codes.first().expect("the same first code");
            if first.len() <= 40 && !first.chars().any(char::is_control) {
                assert_eq!(first, &code);
            }
            for text in [&code, &message] {
                assert!(text.chars().count() <= 303 && !text.chars().any(char::is_control));
            }
        }
        None => assert!(codes.is_empty()),
    }
}
