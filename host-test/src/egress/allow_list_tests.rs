use super::*;

fn list(entries: &[&str]) -> AllowList {
    let mut list = AllowList::new();
    for e in entries {
        list.allow(e).unwrap();
    }
    list
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

fn get(uri: &str) -> http::Request<()> {
    request("GET", uri, &[])
}

fn admission(list: &AllowList, req: &http::Request<()>) -> Result<Admission, Refusal> {
    list.check(req).map(|a| a.admission)
}

/// `list` after the registry at `registry` answered a 401 naming `realm`.
fn with_realm(registry: &str, realm: &str) -> AllowList {
    let mut list = list(&[&format!("http://{registry}")]);
    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        format!(r#"Bearer realm="{realm}",service="reg""#)
            .parse()
            .unwrap(),
    );
    let asked: Uri = format!("http://{registry}/v2/").parse().unwrap();
    list.learn_from_answer(&Method::GET, &asked, 401, &headers);
    list
}

/// `list` after the registry redirected a blob GET to `target`.
fn with_redirect(registry: &str, target: &str) -> AllowList {
    let mut list = list(&[&format!("http://{registry}")]);
    let mut headers = HeaderMap::new();
    headers.insert("location", target.parse().unwrap());
    let asked: Uri = format!("http://{registry}/v2/r/blobs/sha256:ab")
        .parse()
        .unwrap();
    list.learn_from_answer(&Method::GET, &asked, 307, &headers);
    list
}

#[test]
fn registry_table() {
    let cases: &[(&str, &[&str], &str, bool)] = &[
        (
            "same host, default https port",
            &["https://ghcr.io"],
            "https://ghcr.io/v2/",
            true,
        ),
        (
            "explicit default port",
            &["https://ghcr.io"],
            "https://ghcr.io:443/v2/",
            true,
        ),
        (
            "default http port",
            &["http://ghcr.io"],
            "http://ghcr.io/v2/",
            true,
        ),
        (
            "plain http to an https registry",
            &["https://ghcr.io"],
            "http://ghcr.io/v2/",
            false,
        ),
        (
            "plain http to the https registry's port",
            &["https://ghcr.io"],
            "http://ghcr.io:443/v2/",
            false,
        ),
        (
            "https to a plain-http registry",
            &["http://127.0.0.1:5000"],
            "https://127.0.0.1:5000/v2/",
            false,
        ),
        (
            "plain http to an https registry on a port",
            &["https://127.0.0.1:5000"],
            "http://127.0.0.1:5000/v2/",
            false,
        ),
        (
            "other port refused",
            &["https://ghcr.io"],
            "https://ghcr.io:8443/v2/",
            false,
        ),
        (
            "case-insensitive",
            &["HTTPS://GHCR.io"],
            "https://ghcr.IO/v2/",
            true,
        ),
        (
            "explicit port",
            &["http://127.0.0.1:5000"],
            "http://127.0.0.1:5000/v2/",
            true,
        ),
        (
            "explicit port, none in uri",
            &["http://127.0.0.1:5000"],
            "http://127.0.0.1/v2/",
            false,
        ),
        (
            "entry 443 admits bare https",
            &["https://r.example:443"],
            "https://r.example/x",
            true,
        ),
        (
            "entry 80 admits bare http",
            &["http://r.example:80"],
            "http://r.example/x",
            true,
        ),
        (
            "other host refused",
            &["https://ghcr.io"],
            "https://evil.example/v2/",
            false,
        ),
        (
            "suffix is not a match",
            &["https://ghcr.io"],
            "https://xghcr.io/v2/",
            false,
        ),
        (
            "ipv6",
            &["http://[::1]:5000"],
            "http://[::1]:5000/v2/",
            true,
        ),
        ("empty list", &[], "https://ghcr.io/", false),
        ("relative uri refused", &["https://ghcr.io"], "/v2/", false),
        (
            "other scheme refused",
            &["https://ghcr.io"],
            "ftp://ghcr.io/v2/",
            false,
        ),
        (
            "user info refused",
            &["https://ghcr.io"],
            "https://u@ghcr.io/v2/",
            false,
        ),
    ];
    for (name, entries, uri, want) in cases {
        let req = request("PUT", uri, &[("authorization", "Basic x")]);
        let got = admission(&list(entries), &req);
        assert_eq!(got == Ok(Admission::Registry), *want, "{name}: {got:?}");
    }
}

#[test]
fn bad_authorities_are_refused() {
    let mut list = AllowList::new();
    for bad in [
        "",
        "host",
        "host:5000",
        "ftp://host",
        "https://",
        "http://a b",
        "http://user@host",
        "http://host:port",
        "http://host:",
        "https://host:99999",
        "http://host/path",
    ] {
        assert!(list.allow(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_realm_is_admitted_for_token_requests_only() {
    let list = with_realm("reg:5000", "https://auth.example/token");
    let cases: &[(&str, http::Request<()>, Result<Admission, Refusal>)] = &[
        (
            "GET with the token query and Basic credentials",
            request(
                "GET",
                "https://auth.example/token?service=reg&scope=repository%3Ar%3Apull",
                &[("authorization", "Basic YTpi")],
            ),
            Ok(Admission::TokenRequest),
        ),
        (
            "POST of a form",
            request(
                "POST",
                "https://auth.example/token",
                &[("content-type", "application/x-www-form-urlencoded")],
            ),
            Ok(Admission::TokenRequest),
        ),
        (
            "another path",
            get("https://auth.example/v2/r/blobs/uploads/?scope=x"),
            Err(Refusal::NotATokenRequest("auth.example:443".into())),
        ),
        (
            "GET without a token query",
            get("https://auth.example/token"),
            Err(Refusal::NotATokenRequest("auth.example:443".into())),
        ),
        (
            "GET with other query keys",
            get("https://auth.example/token?scope=x&upload=1"),
            Err(Refusal::NotATokenRequest("auth.example:443".into())),
        ),
        (
            "POST that is no form",
            request(
                "POST",
                "https://auth.example/token",
                &[("content-type", "application/json")],
            ),
            Err(Refusal::NotATokenRequest("auth.example:443".into())),
        ),
        (
            "PUT",
            request("PUT", "https://auth.example/token?scope=x", &[]),
            Err(Refusal::NotATokenRequest("auth.example:443".into())),
        ),
        (
            "plain http to an https realm",
            get("http://auth.example/token?scope=x"),
            Err(Refusal::UnknownHost("auth.example:80".into())),
        ),
        (
            "another port of the realm's host",
            get("https://auth.example:8443/token?scope=x"),
            Err(Refusal::UnknownHost("auth.example:8443".into())),
        ),
    ];
    for (name, req, want) in cases {
        assert_eq!(&admission(&list, req), want, "{name}");
    }
}

#[test]
fn a_realm_with_its_own_query_keeps_it_first() {
    let list = with_realm("reg:5000", "https://auth.example/token?x=1");
    assert_eq!(
        admission(&list, &get("https://auth.example/token?x=1&scope=s")),
        Ok(Admission::TokenRequest)
    );
    assert!(admission(&list, &get("https://auth.example/token?scope=s")).is_err());
    assert!(admission(&list, &get("https://auth.example/token?x=2&scope=s")).is_err());
}

#[test]
fn a_redirect_target_is_admitted_for_its_one_credential_free_get() {
    let list = with_redirect("reg:5000", "https://cdn.example/blob?sig=1");
    assert_eq!(
        admission(&list, &get("https://cdn.example/blob?sig=1")),
        Ok(Admission::Redirect)
    );
    let refused: &[(&str, http::Request<()>, Refusal)] = &[
        (
            "with credentials",
            request(
                "GET",
                "https://cdn.example/blob?sig=1",
                &[("authorization", "Bearer t")],
            ),
            Refusal::Credentials("cdn.example:443".into()),
        ),
        (
            "another URL on that host",
            get("https://cdn.example/other?sig=1"),
            Refusal::NotTheRedirectedGet("cdn.example:443".into()),
        ),
        (
            "another query",
            get("https://cdn.example/blob?sig=2"),
            Refusal::NotTheRedirectedGet("cdn.example:443".into()),
        ),
        (
            "PUT",
            request("PUT", "https://cdn.example/blob?sig=1", &[]),
            Refusal::NotTheRedirectedGet("cdn.example:443".into()),
        ),
    ];
    for (name, req, want) in refused {
        assert_eq!(admission(&list, req), Err(want.clone()), "{name}");
    }
}

#[test]
fn only_a_blob_gets_redirect_is_learnt() {
    let mut list = list(&["http://reg:5000"]);
    let mut headers = HeaderMap::new();
    headers.insert("location", "https://cdn.example/x".parse().unwrap());
    let learnt = |list: &AllowList| admission(list, &get("https://cdn.example/x")).is_ok();
    for (method, path, status) in [
        (Method::GET, "/v2/r/manifests/latest", 307),
        (Method::POST, "/v2/r/blobs/uploads/", 307),
        (Method::GET, "/v2/r/blobs/uploads/abc", 307),
        (Method::HEAD, "/v2/r/blobs/sha256:ab", 307),
        (Method::GET, "/v2/r/blobs/sha256:ab", 202),
        (Method::GET, "/v2/r/blobs/sha256:ab", 200),
    ] {
        let asked: Uri = format!("http://reg:5000{path}").parse().unwrap();
        list.learn_from_answer(&method, &asked, status, &headers);
        assert!(!learnt(&list), "{method} {path} {status}");
    }
    let asked: Uri = "http://reg:5000/v2/r/blobs/sha256:ab".parse().unwrap();
    list.learn_from_answer(&Method::GET, &asked, 302, &headers);
    assert!(learnt(&list));
}

#[test]
fn only_the_registrys_401_names_a_realm() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        r#"Bearer realm="https://auth.example/token""#.parse().unwrap(),
    );
    let token = get("https://auth.example/token?scope=s");
    let mut list = list(&["http://reg:5000"]);
    let asked: Uri = "http://reg:5000/v2/".parse().unwrap();
    list.learn_from_answer(&Method::GET, &asked, 200, &headers);
    assert!(admission(&list, &token).is_err(), "not from a 200");
    // Nor from a CDN's answer, nor a realm's; a realm's redirect names no
    // hop either.
    let mut list = with_redirect("reg:5000", "https://cdn.example/b");
    let cdn: Uri = "https://cdn.example/b".parse().unwrap();
    list.learn_from_answer(&Method::GET, &cdn, 401, &headers);
    assert!(admission(&list, &token).is_err());
    let mut list = with_realm("reg:5000", "https://auth.example/token");
    let realm: Uri = "https://auth.example/token?scope=s".parse().unwrap();
    list.learn_from_answer(&Method::GET, &realm, 401, &headers);
    let mut onward = HeaderMap::new();
    onward.insert("location", "https://evil.example/x".parse().unwrap());
    list.learn_from_answer(&Method::GET, &realm, 302, &onward);
    assert!(admission(&list, &get("https://evil.example/x")).is_err());
}

/// `list` after `from` (a redirect target) redirected its GET to `to`.
fn hop(mut list: AllowList, from: &str, to: &str) -> AllowList {
    let mut headers = HeaderMap::new();
    headers.insert("location", to.parse().unwrap());
    list.learn_from_answer(&Method::GET, &from.parse().unwrap(), 307, &headers);
    list
}

#[test]
fn a_redirect_target_may_redirect_onwards_up_to_five_hops() {
    // The registry names cdn1; each CDN names the next, up to cdn5.
    let mut list = with_redirect("reg:5000", "https://cdn1.example/b?sig=1");
    for n in 1..5 {
        let from = format!("https://cdn{n}.example/b?sig={n}");
        let to = format!("https://cdn{}.example/b?sig={}", n + 1, n + 1);
        list = hop(list, &from, &to);
        assert_eq!(
            admission(&list, &get(&to)),
            Ok(Admission::Redirect),
            "hop {}",
            n + 1
        );
    }
    // A sixth hop is more than the component follows: not learnt.
    let list = hop(
        list,
        "https://cdn5.example/b?sig=5",
        "https://cdn6.example/b",
    );
    assert!(admission(&list, &get("https://cdn6.example/b")).is_err());
    // Each hop gets its one credential-free GET, as the first does.
    let list = hop(
        with_redirect("reg:5000", "https://cdn.example/b"),
        "https://cdn.example/b",
        "https://origin.example/o?sig=2",
    );
    let next = "https://origin.example/o?sig=2";
    assert_eq!(admission(&list, &get(next)), Ok(Admission::Redirect));
    for (name, req) in [
        (
            "with credentials",
            request("GET", next, &[("authorization", "Basic YTpi")]),
        ),
        ("PUT", request("PUT", next, &[])),
        ("another query", get("https://origin.example/o?sig=3")),
    ] {
        assert!(admission(&list, &req).is_err(), "{name}");
    }
    // A path is taken on the hop's own origin.
    let list = hop(
        with_redirect("reg:5000", "https://cdn.example:8443/b"),
        "https://cdn.example:8443/b",
        "/c?sig=4",
    );
    assert_eq!(
        admission(&list, &get("https://cdn.example:8443/c?sig=4")),
        Ok(Admission::Redirect)
    );
}

#[test]
fn onward_hops_are_held_to_the_first_hops_rules() {
    let first = || with_redirect("reg.example", "https://cdn.example/b");
    for (to, why) in [
        ("http://127.0.0.1:6379/x", "a private address"),
        ("http://169.254.169.254/latest", "the metadata service"),
        ("http://localhost/x", "a local name"),
        ("http://cdn2.example/b", "plain http after https"),
        ("ftp://cdn2.example/b", "not http"),
    ] {
        let list = hop(first(), "https://cdn.example/b", to);
        assert!(admission(&list, &get(to)).is_err(), "{why}");
    }
    // Only the redirect of the admitted GET counts: another URL of the
    // CDN's host, or another method, teaches nothing.
    let mut headers = HeaderMap::new();
    headers.insert("location", "https://cdn2.example/b".parse().unwrap());
    for (method, from) in [
        (Method::GET, "https://cdn.example/other"),
        (Method::HEAD, "https://cdn.example/b"),
    ] {
        let mut list = first();
        list.learn_from_answer(&method, &from.parse().unwrap(), 307, &headers);
        assert!(
            admission(&list, &get("https://cdn2.example/b")).is_err(),
            "{method} {from}"
        );
    }
}

#[test]
fn private_hosts_are_named_only_on_the_registrys_own_host() {
    let cases = [
        ("127.0.0.1:5000", "http://127.0.0.1:5001/token", true),
        ("localhost:5000", "http://localhost:5001/token", true),
        ("127.0.0.1:5000", "http://127.0.0.2:5001/token", false),
        ("127.0.0.1:5000", "http://localhost:5001/token", false),
        ("reg.example", "http://127.0.0.1/token", false),
        ("reg.example", "http://169.254.169.254/token", false),
        ("reg.example", "http://10.0.0.1/token", false),
        ("reg.example", "http://[::1]/token", false),
        ("reg.example", "http://[::ffff:127.0.0.1]/token", false),
        ("reg.example", "http://sub.localhost/token", false),
        ("reg.example", "https://auth.example/token", true),
        ("reg.example", "https://8.8.8.8/token", true),
    ];
    for (registry, realm, want) in cases {
        let list = with_realm(registry, realm);
        let token = get(&format!("{realm}?scope=s"));
        assert_eq!(
            admission(&list, &token).is_ok(),
            want,
            "realm {realm} of {registry}"
        );
        let list = with_redirect(registry, realm);
        assert_eq!(
            admission(&list, &get(realm)).is_ok(),
            want,
            "redirect {realm} of {registry}"
        );
    }
}

#[test]
fn names_of_other_hosts_are_resolved_before_use() {
    let list = with_realm("reg.example", "https://auth.example/token");
    let admitted = list
        .check(&get("https://auth.example/token?scope=s"))
        .unwrap();
    assert_eq!(admitted.resolve, Some(("auth.example".to_string(), 443)));
    let list = with_realm("127.0.0.1:5000", "http://127.0.0.1:5001/token");
    let admitted = list
        .check(&get("http://127.0.0.1:5001/token?scope=s"))
        .unwrap();
    assert_eq!(admitted.resolve, None, "an address needs no lookup");
}

#[test]
fn credentials_never_go_to_an_unknown_host() {
    let list = list(&["http://reg:5000"]);
    let req = request(
        "GET",
        "http://other:5000/v2/",
        &[("authorization", "Bearer t")],
    );
    assert_eq!(
        admission(&list, &req),
        Err(Refusal::Credentials("other:5000".into()))
    );
}

#[test]
fn grants_are_bounded() {
    let mut list = list(&["http://reg:5000"]);
    let asked: Uri = "http://reg:5000/v2/r/blobs/sha256:ab".parse().unwrap();
    for n in 0..MAX_REDIRECTS + 10 {
        let mut headers = HeaderMap::new();
        headers.insert(
            "location",
            format!("https://cdn.example/{n}").parse().unwrap(),
        );
        list.learn_from_answer(&Method::GET, &asked, 307, &headers);
    }
    assert_eq!(list.redirects.len(), MAX_REDIRECTS);
    assert!(
        admission(&list, &get("https://cdn.example/0")).is_err(),
        "oldest forgotten"
    );
    let last = format!("https://cdn.example/{}", MAX_REDIRECTS + 9);
    assert!(admission(&list, &get(&last)).is_ok());
}

#[test]
fn realm_parameters() {
    assert_eq!(
        realms_of(r#"Bearer realm="https://a/t",service="s""#),
        ["https://a/t"]
    );
    assert_eq!(
        realms_of("Bearer service=s, Realm=http://b/t"),
        ["http://b/t"]
    );
    assert_eq!(
        realms_of(r#"Basic realm="Registry", Bearer realm="https://a/t""#),
        ["https://a/t"]
    );
    // Quoted values are unescaped as the component reads them.
    assert_eq!(
        realms_of(r#"Bearer realm="https://a/t\"x", service="s""#),
        [r#"https://a/t"x"#]
    );
    assert_eq!(
        realms_of(r#"Bearer xrealm="https://a/t""#),
        Vec::<String>::new()
    );
    assert!(realms_of("Basic").is_empty());
}

/// Numeric spellings of 127.0.0.1 that `IpAddr::parse` does not
/// read are names to the allow-list: it must ask for them to be resolved
/// (getaddrinfo reads them as 127.0.0.1, which the egress then refuses).
#[test]
fn numeric_ipv4_spellings_are_resolved_before_use() {
    for host in [
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "0x7f000001",
        "127.0.0.1.",
    ] {
        let target = format!("http://{host}:6379/x");
        let list = with_redirect("reg.example:5000", &target);
        let admitted = list.check(&get(&target));
        match admitted {
            Ok(a) => assert_eq!(a.resolve, Some((host.to_string(), 6379)), "{host}"),
            Err(r) => panic!("{host}: refused at once ({r}), fine too"),
        }
    }
}

/// A second realm on the same origin as the first (another path) takes
/// token requests too (they were checked against the first realm only).
#[test]
fn two_realms_on_one_origin_both_get_token_requests() {
    let mut list = with_realm("reg.example:5000", "https://auth.example/token");
    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        r#"Bearer realm="https://auth.example/v2/token",service="reg""#
            .parse()
            .unwrap(),
    );
    let asked: Uri = "http://reg.example:5000/v2/".parse().unwrap();
    list.learn_from_answer(&Method::GET, &asked, 401, &headers);
    let first = get("https://auth.example/token?service=reg&scope=repository:r:pull");
    assert_eq!(admission(&list, &first), Ok(Admission::TokenRequest));
    let second = get("https://auth.example/v2/token?service=reg&scope=repository:r:pull");
    assert_eq!(admission(&list, &second), Ok(Admission::TokenRequest));
}

/// What the egress's resolver (tokio's lookup_host, as
/// `HttpWire::resolve`) makes of those spellings: this machine, never public.
#[test]
fn numeric_ipv4_spellings_resolve_to_this_machine() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for host in ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001"] {
        let ips: Vec<_> = rt
            .block_on(tokio::net::lookup_host((host, 80)))
            .unwrap()
            .map(|a| a.ip())
            .collect();
        assert!(
            !ips.is_empty() && ips.iter().all(|ip| !address::is_public(*ip)),
            "{host}: {ips:?}"
        );
    }
}
