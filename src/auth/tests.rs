use super::*;
use challenge::parse_challenges;

fn uri(s: &str) -> http::Uri {
    s.parse().unwrap()
}

fn prepare(
    a: &Authenticator,
    method: &str,
    url: &str,
    now: u64,
) -> (Option<String>, Option<http::Request<Vec<u8>>>) {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "stale".parse().unwrap());
    match a
        .prepare(
            &method.parse().unwrap(),
            &uri(url),
            &mut headers,
            Duration::from_secs(now),
        )
        .unwrap()
    {
        Prepared::Ready => (
            headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string()),
            None,
        ),
        Prepared::FetchToken(r) => (None, Some(*r)),
    }
}

const REG: &str = "http://reg:5000/v2/";

const BEARER: &str =
    r#"Bearer realm="http://reg:5000/token",service="reg:5000",scope="repository:r:pull""#;

#[test]
fn bearer_flow_caches_and_renews_tokens() {
    let creds = Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    let a = Authenticator::new("http://reg:5000", "r", creds);
    let (header, fetch) = prepare(&a, "GET", "http://reg:5000/v2/r/tags/list", 0);
    assert!(
        header.is_none() && fetch.is_none(),
        "nothing known: no header"
    );
    assert!(a.challenged(&uri(REG), &parse_challenges([BEARER]), &http::Method::GET));
    let (_, fetch) = prepare(&a, "GET", "http://reg:5000/v2/r/tags/list", 0);
    let fetch = fetch.expect("a token to fetch");
    assert_eq!(
        fetch.uri().to_string(),
        "http://reg:5000/token?service=reg%3A5000&scope=repository%3Ar%3Apull%2Cpush%2Cdelete"
    );
    assert!(
        fetch.headers().contains_key("authorization"),
        "the registry's own realm gets Basic credentials"
    );
    assert!(a
        .token_answer(200, br#"{"token":"T1","expires_in":100}"#, Duration::ZERO)
        .unwrap());
    assert_eq!(
        prepare(&a, "PUT", "http://reg:5000/v2/r/manifests/x", 50)
            .0
            .as_deref(),
        Some("Bearer T1")
    );
    // Expired (with the renewal margin): fetch again.
    assert!(prepare(&a, "GET", "http://reg:5000/v2/r/tags/list", 95)
        .1
        .is_some());
    // Never to another host.
    let (header, fetch) = prepare(&a, "GET", "https://cdn.example/blob", 50);
    assert!(header.is_none() && fetch.is_none(), "never to another host");
}

#[test]
fn realms_on_other_hosts_get_basic_only_over_https() {
    let creds = Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    // (store base, realm, whether the realm gets the secrets)
    for (base, realm, basic) in [
        ("http://reg:5000", "http://auth.other:80/token", false),
        ("http://reg:5000", "https://auth.other/token", true),
        ("http://reg:5000", "http://REG:5000/t", true),
        ("http://reg:5000", "http://reg:6000/token", true),
        // An https store: plain http is never good enough, even on
        // the registry's own host.
        ("https://reg:5000", "http://reg:5000/token", false),
        ("https://reg:5000", "http://reg:80/token", false),
        ("https://reg:5000", "https://reg/token", true),
        ("https://reg:5000", "ftp://reg/token", false),
    ] {
        let a = Authenticator::new(base, "r", creds.clone());
        a.challenged(
            &uri(&format!("{base}/v2/")),
            &parse_challenges([format!(r#"Bearer realm="{realm}""#).as_str()]),
            &http::Method::GET,
        );
        let fetch = prepare(&a, "GET", &format!("{base}/v2/"), 0).1.unwrap();
        assert_eq!(
            fetch.headers().contains_key("authorization"),
            basic,
            "{base} {realm}"
        );
    }
}

#[test]
fn only_the_registrys_own_answers_teach_a_realm() {
    let creds = Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    let a = Authenticator::new("https://reg:5000", "r", creds);
    let evil = parse_challenges([r#"Bearer realm="https://evil.example/token""#]);
    for elsewhere in [
        "https://cdn.example/blob",
        "http://reg:5000/v2/r/tags/list",
        "https://reg:5001/v2/",
    ] {
        assert!(
            !a.challenged(&uri(elsewhere), &evil, &http::Method::GET),
            "{elsewhere}"
        );
    }
    let (header, fetch) = prepare(&a, "GET", "https://reg:5000/v2/", 0);
    assert!(header.is_none() && fetch.is_none(), "nothing was learnt");
    // Nor does Authorization go to the plaintext side of the registry.
    a.challenged(
        &uri("https://reg:5000/v2/"),
        &parse_challenges([r#"Basic realm="x""#]),
        &http::Method::GET,
    );
    assert!(prepare(&a, "GET", "https://reg:5000/v2/", 0).0.is_some());
    assert!(prepare(&a, "GET", "http://reg:5000/v2/", 0).0.is_none());
}

#[test]
fn refused_wide_scope_narrows_then_fails() {
    let a = Authenticator::new("http://reg:5000", "r", Credentials::Anonymous);
    a.challenged(
        &uri(REG),
        &parse_challenges([BEARER]),
        &http::Method::DELETE,
    );
    prepare(&a, "DELETE", "http://reg:5000/v2/r/manifests/d", 0)
        .1
        .unwrap();
    assert!(
        a.token_answer(401, b"", Duration::ZERO).unwrap(),
        "retry with a narrower scope"
    );
    let fetch = prepare(&a, "DELETE", "http://reg:5000/v2/r/manifests/d", 0)
        .1
        .unwrap();
    assert!(
        fetch
            .uri()
            .to_string()
            .ends_with("scope=repository%3Ar%3Adelete"),
        "{}",
        fetch.uri()
    );
    assert!(matches!(
        a.token_answer(401, b"", Duration::ZERO),
        Err(StoreError::Unauthorized(_))
    ));
}

#[test]
fn identity_tokens_post_then_fall_back_to_get() {
    let a = Authenticator::new(
        "http://reg:5000",
        "r",
        Credentials::IdentityToken("refresh".into()),
    );
    a.challenged(&uri(REG), &parse_challenges([BEARER]), &http::Method::GET);
    let fetch = prepare(&a, "GET", "http://reg:5000/v2/", 0).1.unwrap();
    assert_eq!(fetch.method(), "POST");
    assert!(a.token_answer(404, b"", Duration::ZERO).unwrap());
    assert_eq!(
        prepare(&a, "GET", "http://reg:5000/v2/", 0)
            .1
            .unwrap()
            .method(),
        "GET"
    );
}

#[test]
fn basic_and_static_tokens() {
    let a = Authenticator::new(
        "http://reg:5000",
        "r",
        Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        },
    );
    assert!(a.challenged(
        &uri(REG),
        &parse_challenges([r#"Basic realm="Registry""#]),
        &http::Method::GET
    ));
    assert_eq!(
        prepare(&a, "GET", "http://reg:5000/v2/", 0).0.as_deref(),
        Some("Basic dTpw")
    );
    assert!(
        !a.challenged(
            &uri(REG),
            &parse_challenges([r#"Basic realm="Registry""#]),
            &http::Method::GET
        ),
        "same credentials again: no point"
    );
    let anon = Authenticator::new("http://reg:5000", "r", Credentials::Anonymous);
    assert!(!anon.challenged(
        &uri(REG),
        &parse_challenges([r#"Basic realm="Registry""#]),
        &http::Method::GET
    ));
    let st = Authenticator::new("http://reg:5000", "r", Credentials::Bearer("tok".into()));
    assert_eq!(
        prepare(&st, "GET", "http://reg:5000/v2/", 0).0.as_deref(),
        Some("Bearer tok")
    );
    assert!(!st.challenged(&uri(REG), &parse_challenges([BEARER]), &http::Method::GET));
}

#[test]
fn insufficient_scope_is_recognised() {
    let c = parse_challenges([r#"Bearer realm="r",error="insufficient_scope""#]);
    assert!(is_insufficient_scope(&c));
    assert!(!is_insufficient_scope(&parse_challenges([BEARER])));
}
