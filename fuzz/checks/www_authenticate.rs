//! The `www_authenticate` target's check (input form: see `checks`).

use super::*;

/// `WWW-Authenticate`: every parsed challenge is made of tokens, writing
/// the challenges out again and parsing that gives the same challenges, and
/// following them never sends a secret to a realm that may not see it.
pub fn www_authenticate(data: &[u8]) {
    let text = text(data);
    let challenges = parse_challenges(text.split('\n'));
    for c in &challenges {
        assert!(is_lower_token(&c.scheme), "scheme {:?}", c.scheme);
        for name in c.params.keys() {
            assert!(is_lower_token(name), "parameter name {name:?}");
        }
    }
    let written = write_challenges(&challenges);
    assert_eq!(
        parse_challenges([written.as_str()]),
        challenges,
        "{text:?} written as {written:?}"
    );
    for credentials in [
        Credentials::Basic {
            username: "alice".into(),
            password: PASSWORD.into(),
        },
        Credentials::IdentityToken(REFRESH_TOKEN.into()),
    ] {
        secrets_stay_home(&challenges, credentials);
    }
}

fn is_lower_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            (c.is_ascii_alphanumeric() && !c.is_ascii_uppercase()) || "!#$%&'*+-.^_`|~".contains(c)
        })
}

/// Challenges in the plainest form: every value quoted, `"` and `\` escaped.
fn write_challenges(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(|c| {
            let params: Vec<String> = c
                .params
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            match params.is_empty() {
                true => c.scheme.clone(),
                false => format!("{} {}", c.scheme, params.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Secrets go to a token realm only over https (the registry here is https:
/// field notes, section 3, never in the clear), and only a realm the
/// registry's own answer named is learnt.
fn secrets_stay_home(challenges: &[Challenge], credentials: Credentials) {
    let auth = Authenticator::new(BASE, REPOSITORY, credentials);
    let uri: Uri = format!("{BASE}/v2/{REPOSITORY}/tags/list").parse().unwrap();
    let elsewhere: Uri = format!("http://{REGISTRY}/v2/{REPOSITORY}/tags/list")
        .parse()
        .unwrap();
    assert!(
        !auth.challenged(&elsewhere, challenges, &Method::GET),
        "a realm learnt from the plaintext side of the registry"
    );
    if !auth.challenged(&uri, challenges, &Method::GET) {
        return;
    }
    let mut headers = HeaderMap::new();
    match auth.prepare(&Method::GET, &uri, &mut headers, Duration::ZERO) {
        Ok(Prepared::FetchToken(request)) => {
            let carries_secret = request.headers().contains_key(http::header::AUTHORIZATION)
                || String::from_utf8_lossy(request.body()).contains("secret");
            if carries_secret {
                let uri = request.uri();
                assert!(
                    uri.scheme_str() == Some("https"),
                    "credentials sent to {uri} in the clear"
                );
            }
        }
        Ok(Prepared::Ready) => {}
        Err(error) => {
            assert_no_secret(&format!("{error} {error:?}"));
            assert_tame(&error);
        }
    }
}
