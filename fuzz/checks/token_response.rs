//! The `token_response` target's check (input form: see `checks`).

use super::*;

/// Token answers: the token is the answer's `token` or `access_token`, its
/// lifetime positive and bounded; stored, it is used until shortly before
/// that lifetime ends, whatever the clock reads.
pub fn token_response(data: &[u8]) {
    let (status, body) = status_and_body(data);
    match parse_token_answer(&body) {
        Ok(token) => {
            // serde skips unknown fields without checking their escapes, so
            // `Value` may refuse what the answer's reader took.
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                assert!(
                    v["token"] == token.value.as_str() || v["access_token"] == token.value.as_str()
                );
            }
            assert!(
                token.lifetime > Duration::ZERO && token.lifetime <= MAX_LIFETIME,
                "{token:?}"
            );
        }
        Err(error) => {
            assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}");
            assert_tame(&error);
        }
    }
    // The same answer handed to a logged-in client an hour into its life.
    let auth = Authenticator::new(
        BASE,
        REPOSITORY,
        Credentials::Basic {
            username: "alice".into(),
            password: PASSWORD.into(),
        },
    );
    let challenge = format!(r#"Bearer realm="{BASE}/token",service="{REGISTRY}""#);
    let uri: Uri = format!("{BASE}/v2/{REPOSITORY}/tags/list").parse().unwrap();
    assert!(auth.challenged(&uri, &parse_challenges([challenge.as_str()]), &Method::GET));
    let now = Duration::from_secs(3600);
    let prepare = |at: Duration| {
        let mut headers = HeaderMap::new();
        let prepared = auth.prepare(&Method::GET, &uri, &mut headers, at);
        (prepared, headers)
    };
    assert!(matches!(prepare(now).0, Ok(Prepared::FetchToken(_))));
    match auth.token_answer(status, &body, now) {
        Ok(true) if (200..300).contains(&status) => {
            let token = parse_token_answer(&body).unwrap();
            match prepare(now) {
                (Ok(Prepared::Ready), headers) => {
                    assert_eq!(
                        headers[http::header::AUTHORIZATION],
                        format!("Bearer {}", token.value).as_str()
                    );
                }
                (Ok(Prepared::FetchToken(_)), _) => panic!("a fresh token is not used"),
                (Err(error), _) => {
                    assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}");
                    assert_tame(&error);
                    assert_no_secret(&error.to_string());
                }
            }
            let expiry = now.saturating_add(token.lifetime);
            assert!(
                matches!(prepare(expiry).0, Ok(Prepared::FetchToken(_))),
                "a token is used past its lifetime"
            );
        }
        Ok(_) => {}
        Err(error) => {
            assert!(matches!(error, StoreError::Unauthorized(_)), "{error:?}");
            assert_tame(&error);
            assert_no_secret(&error.to_string());
        }
    }
}
