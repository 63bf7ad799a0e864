//! The token flow of the distribution spec's "Token Authentication" and its
//! OAuth2 variant: the request to the realm and the answer.

use super::credentials::Credentials;
use crate::error::StoreError;
use serde::Deserialize;
use std::time::Duration;

/// `client_id` the OAuth2 variant asks for.
const CLIENT_ID: &str = "kloset-oci";
/// Lifetime assumed when the answer gives none (distribution's token spec).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Longest lifetime believed: a day. Asking again daily costs nothing, and
/// the expiry is computed as `now + lifetime`, which a huge `expires_in`
/// would overflow.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Where and for what to ask for a token (from a Bearer challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpoint {
    pub realm: String,
    pub service: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub value: String,
    pub lifetime: Duration,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Reads a token server's answer; `token` and `access_token` are synonyms.
pub fn parse_token_answer(body: &[u8]) -> Result<Token, StoreError> {
    let answer: Answer = crate::json::from_object(body).map_err(|_| {
        StoreError::Unauthorized("the token server's answer is not a token document".into())
    })?;
    let value = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            StoreError::Unauthorized("the token server's answer holds no token".into())
        })?;
    // It goes into `Authorization: Bearer <token>` (RFC 6750 b64token is
    // narrower still): one no header can carry is the server's fault, not a
    // credentials problem found later when the header is built.
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Unauthorized(
            "the token server's answer holds a token no header can carry".into(),
        ));
    }
    let lifetime = answer
        .expires_in
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s).min(MAX_LIFETIME))
        .unwrap_or(DEFAULT_LIFETIME);
    Ok(Token { value, lifetime })
}

/// How a token is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `GET realm?service=..&scope=..`, with Basic credentials when allowed.
    Get,
    /// OAuth2: `POST realm` with a form (refresh-token or password grant).
    Post,
}

/// Builds the token request. `may_see_secrets` says whether this realm may
/// see the user's secrets (the registry's own host, or https). One that may
/// not is asked the way an anonymous client asks, by GET without
/// credentials, even in the OAuth2 flow: its form would carry the password
/// or refresh token in the clear to another host.
pub fn token_request(
    endpoint: &TokenEndpoint,
    scope: &str,
    credentials: &Credentials,
    flow: Flow,
    may_see_secrets: bool,
) -> http::Result<http::Request<Vec<u8>>> {
    let flow = if may_see_secrets { flow } else { Flow::Get };
    match flow {
        Flow::Get => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(service) = &endpoint.service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
            let separator = if endpoint.realm.contains('?') {
                '&'
            } else {
                '?'
            };
            let url = format!("{}{separator}{}", endpoint.realm, query.finish());
            let mut builder = http::Request::builder().method("GET").uri(url);
            if may_see_secrets {
                if let Some(basic) = credentials.basic_header() {
                    builder = builder.header("authorization", basic);
                }
            }
            builder.body(Vec::new())
        }
        Flow::Post => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            match credentials {
                Credentials::IdentityToken(refresh) => {
                    form.append_pair("grant_type", "refresh_token")
                        .append_pair("refresh_token", refresh);
                }
                Credentials::Basic { username, password } => {
                    form.append_pair("grant_type", "password")
                        .append_pair("username", username)
                        .append_pair("password", password);
                }
                Credentials::Anonymous | Credentials::Bearer(_) => {}
            }
            if let Some(service) = &endpoint.service {
                form.append_pair("service", service);
            }
            form.append_pair("client_id", CLIENT_ID)
                .append_pair("scope", scope);
            let body = form.finish().into_bytes();
            http::Request::builder()
                .method("POST")
                .uri(&endpoint.realm)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-length", body.len().to_string())
                .body(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> TokenEndpoint {
        TokenEndpoint {
            realm: "https://auth.example/token".into(),
            service: Some("registry.example:5000".into()),
        }
    }

    #[test]
    fn answers() {
        assert_eq!(
            parse_token_answer(br#"{"token":"a","expires_in":300}"#).unwrap(),
            Token {
                value: "a".into(),
                lifetime: Duration::from_secs(300)
            }
        );
        assert_eq!(
            parse_token_answer(br#"{"access_token":"b"}"#).unwrap(),
            Token {
                value: "b".into(),
                lifetime: DEFAULT_LIFETIME
            }
        );
        assert_eq!(
            parse_token_answer(br#"{"token":"","access_token":"c","expires_in":0}"#)
                .unwrap()
                .value,
            "c"
        );
        // A corpus seed of the `token_response` fuzz target: the expiry
        // `now + lifetime` overflowed and panicked.
        assert_eq!(
            parse_token_answer(br#"{"token":"a","expires_in":18446744073709551615}"#)
                .unwrap()
                .lifetime,
            MAX_LIFETIME
        );
        // The last two found by fuzzing (`token_response`): such a token
        // was stored and then failed as "credentials" at the next request.
        for bad in [
            &br#"{}"#[..],
            b"<html>",
            br#"{"token":""}"#,
            br#"{"token":"ab\u007fcd"}"#,
            br#"{"access_token":"a b"}"#,
        ] {
            assert!(matches!(
                parse_token_answer(bad),
                Err(StoreError::Unauthorized(_))
            ));
        }
    }

    #[test]
    fn get_request() {
        let creds = Credentials::Basic {
            username: "u".into(),
            password: "p w".into(),
        };
        let scope = "repository:team/repo:pull,push";
        let r = token_request(&endpoint(), scope, &creds, Flow::Get, true).unwrap();
        assert_eq!(r.uri().to_string(), "https://auth.example/token?service=registry.example%3A5000&scope=repository%3Ateam%2Frepo%3Apull%2Cpush");
        assert_eq!(r.headers()["authorization"], "Basic dTpwIHc=");
        let r = token_request(&endpoint(), scope, &creds, Flow::Get, false).unwrap();
        assert!(
            r.headers().get("authorization").is_none(),
            "no Basic credentials to a realm that may not see them"
        );
        let with_query = TokenEndpoint {
            realm: "https://a/t?x=1".into(),
            service: None,
        };
        assert_eq!(
            token_request(&with_query, "s", &Credentials::Anonymous, Flow::Get, true)
                .unwrap()
                .uri()
                .to_string(),
            "https://a/t?x=1&scope=s"
        );
    }

    #[test]
    fn post_request() {
        let r = token_request(
            &endpoint(),
            "repository:r:pull",
            &Credentials::IdentityToken("rt".into()),
            Flow::Post,
            true,
        )
        .unwrap();
        assert_eq!(r.method(), "POST");
        assert_eq!(
            String::from_utf8(r.body().clone()).unwrap(),
            "grant_type=refresh_token&refresh_token=rt&service=registry.example%3A5000&client_id=kloset-oci&scope=repository%3Ar%3Apull"
        );
        assert!(r.headers().get("authorization").is_none());
    }

    #[test]
    fn realms_that_may_not_see_secrets_get_none_in_any_flow() {
        // Found by fuzzing (`www_authenticate`): the OAuth2 form went to a
        // plain-http realm on another host with the refresh token or the
        // password in its body.
        let realm = TokenEndpoint {
            realm: "http://auth.other.example/token".into(),
            service: None,
        };
        for creds in [
            Credentials::IdentityToken("rt-secret".into()),
            Credentials::Basic {
                username: "u".into(),
                password: "pw-secret".into(),
            },
        ] {
            let r = token_request(&realm, "repository:r:pull", &creds, Flow::Post, false).unwrap();
            assert_eq!(r.method(), "GET");
            assert_eq!(
                r.uri().to_string(),
                "http://auth.other.example/token?scope=repository%3Ar%3Apull"
            );
            assert!(r.headers().get("authorization").is_none() && r.body().is_empty());
        }
    }
}
