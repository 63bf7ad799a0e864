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
    let answer: Answer = serde_json::from_slice(body).map_err(|_| {
        StoreError::Unauthorized("the token server's answer is not a token document".into())
    })?;
    let value = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            StoreError::Unauthorized("the token server's answer holds no token".into())
        })?;
    let lifetime = answer
        .expires_in
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
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

/// Builds the token request. `send_basic` says whether this realm may see
/// the user's Basic credentials (the registry's own host, or https).
pub fn token_request(
    endpoint: &TokenEndpoint,
    scope: &str,
    credentials: &Credentials,
    flow: Flow,
    send_basic: bool,
) -> http::Result<http::Request<Vec<u8>>> {
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
            if send_basic {
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
        for bad in [&br#"{}"#[..], b"<html>", br#"{"token":""}"#] {
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
}
