//! The harness's authenticating registries, checked with raw requests:
//! htpasswd (Basic) registries, token registries and their token server,
//! and what distribution 2.8 requires of a token.

use std::net::{Ipv4Addr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kloset_testkit::auth::{
    base32, basic_authorization, bearer_authorization, decode_jwt, rfc3339, unix_now, KeyRef,
    SigningKey, DEFAULT_TOKEN_SERVICE, HTPASSWD_REALM, REGISTRY_TOKEN_LEEWAY, TOKEN_ISSUER,
};
use kloset_testkit::http::{http_send, RawResponse};
use kloset_testkit::token_server::{token_of, TokenRequest};
use kloset_testkit::{
    unique_repo, Registry, RegistryAuth, RegistryOptions, TestPki, TokenAuth, TokenServer,
    TokenUser,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

fn htpasswd_registry(users: &[(&str, &str)]) -> Registry {
    Registry::start(RegistryOptions {
        auth: RegistryAuth::htpasswd(users),
        ..Default::default()
    })
}

fn token_registry(settings: TokenAuth) -> Registry {
    Registry::start(RegistryOptions {
        auth: RegistryAuth::Token(settings),
        ..Default::default()
    })
}

/// The usual cast: a full user, a pull-only reader, a pull+push writer.
fn users() -> Vec<TokenUser> {
    vec![
        TokenUser::new("alice", "alice-secret", &["pull", "push", "delete"])
            .with_refresh_token("alice-identity-token"),
        TokenUser::new("reader", "reader-secret", &["pull"]),
        TokenUser::new("writer", "writer-secret", &["pull", "push"]),
    ]
}

fn tokens(registry: &Registry) -> &TokenServer {
    registry
        .token_server()
        .expect("a token registry has a token server")
}

/// `METHOD PATH` to the registry with `Authorization: Bearer TOKEN`.
fn with_token(registry: &Registry, method: &str, path: &str, token: &str) -> RawResponse {
    registry.send(
        method,
        path,
        &[("Authorization", &bearer_authorization(token))],
        &[],
    )
}

/// `POST /token` with a form body built from `pairs`.
fn post_form(server: &TokenServer, pairs: &[(&str, &str)]) -> RawResponse {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        form.append_pair(key, value);
    }
    let body = form.finish();
    http_send(
        server.port(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .expect("the token server answers")
}

fn json_of(response: &RawResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&response.body)
        )
    })
}

fn challenge(response: &RawResponse) -> &str {
    response
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no WWW-Authenticate in {response:?}"))
}

fn body_text(response: &RawResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// The `access` claim of a token, as `(name, actions)`.
fn access_of(token: &str) -> Vec<(String, Vec<String>)> {
    let (_, claims) = decode_jwt(token);
    claims["access"]
        .as_array()
        .expect("access is an array")
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "repository");
            let actions = a["actions"]
                .as_array()
                .expect("actions is an array")
                .iter()
                .map(|x| x.as_str().expect("an action string").to_string())
                .collect();
            (a["name"].as_str().expect("a name").to_string(), actions)
        })
        .collect()
}

fn owned(access: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    access
        .iter()
        .map(|(n, a)| (n.to_string(), a.iter().map(|x| x.to_string()).collect()))
        .collect()
}

fn pull_push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

// ---------------------------------------------------------------- htpasswd

#[test]
fn htpasswd_registry_challenges_then_accepts_its_users() {
    let registry = htpasswd_registry(&[("alice", "alice-secret"), ("bob", "b:b p@ss")]);
    let repo = unique_repo("auth");

    let anonymous = registry.send("GET", "/v2/", &[], &[]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        challenge(&anonymous),
        format!("Basic realm=\"{HTPASSWD_REALM}\"")
    );
    assert!(body_text(&anonymous).contains("UNAUTHORIZED"));

    let wrong = basic_authorization("alice", "not-her-password");
    let refused = registry.send("GET", "/v2/", &[("Authorization", &wrong)], &[]);
    assert_eq!(refused.status, 401);

    for (user, password) in [("alice", "alice-secret"), ("bob", "b:b p@ss")] {
        let basic = basic_authorization(user, password);
        let base = registry.send("GET", "/v2/", &[("Authorization", &basic)], &[]);
        assert_eq!(base.status, 200, "{user}: {}", body_text(&base));
        // Any authenticated user may do everything: an unknown repository
        // is a 404, not a refusal.
        let tags = registry.send(
            "GET",
            &format!("/v2/{repo}/tags/list"),
            &[("Authorization", &basic)],
            &[],
        );
        assert_eq!(tags.status, 404, "{user}: {}", body_text(&tags));
        assert!(body_text(&tags).contains("NAME_UNKNOWN"));
    }

    // The store configuration stays credential-free.
    let config = registry.config(&repo);
    assert!(config
        .iter()
        .all(|(k, _)| k == "location" || k == "use_tls"));
    assert!(registry.token_server().is_none());
    // Debug output never shows a password.
    let debug = format!("{registry:?} {:?}", registry.auth());
    assert!(!debug.contains("alice-secret"), "{debug}");
}

#[test]
fn htpasswd_registry_serves_tls_too() {
    let pki = TestPki::new();
    let registry = Registry::start(RegistryOptions {
        tls: Some(pki.server_files()),
        auth: RegistryAuth::htpasswd(&[("alice", "alice-secret")]),
        ..Default::default()
    });
    assert!(registry.is_tls());
    assert_eq!(registry.status_of("GET", "/v2/"), 401);
    let basic = basic_authorization("alice", "alice-secret");
    let base = registry.send("GET", "/v2/", &[("Authorization", &basic)], &[]);
    assert_eq!(base.status, 200);
}

#[test]
fn htpasswd_registry_without_users_starts_and_refuses_everyone() {
    let registry = htpasswd_registry(&[]);
    let basic = basic_authorization("docker", "anything");
    assert_eq!(registry.status_of("GET", "/v2/"), 401);
    let refused = registry.send("GET", "/v2/", &[("Authorization", &basic)], &[]);
    assert_eq!(refused.status, 401);
}

// ---------------------------------------------------------------- token: GET flow

#[test]
fn token_registry_challenges_with_its_realm_and_service() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let repo = unique_repo("auth");
    assert_eq!(
        server.realm(),
        format!("http://127.0.0.1:{}/token", server.port())
    );

    let base = registry.send("GET", "/v2/", &[], &[]);
    assert_eq!(base.status, 401);
    assert_eq!(
        challenge(&base),
        format!(
            "Bearer realm=\"{}\",service=\"{DEFAULT_TOKEN_SERVICE}\"",
            server.realm()
        )
    );

    let tags = registry.send("GET", &format!("/v2/{repo}/tags/list"), &[], &[]);
    assert_eq!(tags.status, 401);
    assert_eq!(
        challenge(&tags),
        format!(
            "Bearer realm=\"{}\",service=\"{DEFAULT_TOKEN_SERVICE}\",\
             scope=\"repository:{repo}:pull\"",
            server.realm()
        )
    );

    // A Basic header is no token: refused the same way.
    let basic = basic_authorization("alice", "alice-secret");
    let refused = registry.send("GET", "/v2/", &[("Authorization", &basic)], &[]);
    assert_eq!(refused.status, 401);

    // The readiness probe signs its own tokens: the server saw nothing yet.
    assert_eq!(server.requests(), Vec::<TokenRequest>::new());
    let config = registry.config(&repo);
    assert!(config
        .iter()
        .all(|(k, _)| k == "location" || k == "use_tls"));
}

#[test]
fn a_token_from_get_opens_v2_and_the_repository() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let repo = unique_repo("auth");
    let scope = format!("repository:{repo}:pull");

    let before = unix_now();
    let answer = server.get_token(Some(("alice", "alice-secret")), &[&scope]);
    assert_eq!(answer.status, 200, "{}", body_text(&answer));
    let fields = json_of(&answer);
    let token = token_of(&answer);
    assert_eq!(fields["access_token"], fields["token"]);
    assert_eq!(fields["expires_in"], 300);
    // Fixed-width RFC 3339 UTC: lexical order is time order.
    let issued_at = fields["issued_at"].as_str().expect("issued_at");
    let (earliest, latest) = (rfc3339(before as i64), rfc3339(unix_now() as i64));
    assert!(
        earliest.as_str() <= issued_at && issued_at <= latest.as_str(),
        "issued_at {issued_at} not in [{earliest}, {latest}]"
    );
    assert!(fields.get("refresh_token").is_none());

    let (header, claims) = decode_jwt(&token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["x5c"].as_array().map(Vec::len), Some(1));
    assert_eq!(claims["iss"], TOKEN_ISSUER);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], DEFAULT_TOKEN_SERVICE);
    assert_eq!(access_of(&token), owned(&[(&repo, &["pull"])]));

    assert_eq!(with_token(&registry, "GET", "/v2/", &token).status, 200);
    let tags = with_token(&registry, "GET", &format!("/v2/{repo}/tags/list"), &token);
    assert_eq!(tags.status, 404, "{}", body_text(&tags));
    assert!(body_text(&tags).contains("NAME_UNKNOWN"));

    let seen = server.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert!(seen[0].target.starts_with("/token?service="), "{seen:?}");
    assert!(seen[0].authorization);
    assert_eq!(seen[0].grant_type, None);
    assert_eq!(seen[0].service.as_deref(), Some(DEFAULT_TOKEN_SERVICE));
    assert_eq!(seen[0].scopes, vec![scope]);
    assert_eq!(seen[0].status, 200);
    // Recorded requests hold no secret.
    assert!(!format!("{seen:?}").contains("alice-secret"));
}

#[test]
fn the_token_server_refuses_bad_credentials_and_anonymous_clients() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let scope = pull_push(&unique_repo("auth"));

    let wrong = server.get_token(Some(("alice", "wrong")), &[&scope]);
    assert_eq!(wrong.status, 401);
    assert!(challenge(&wrong).starts_with("Basic realm="));
    assert_eq!(json_of(&wrong)["error"], "unauthorized");
    assert_eq!(
        server
            .get_token(Some(("mallory", "alice-secret")), &[&scope])
            .status,
        401
    );
    assert_eq!(server.get_token(None, &[&scope]).status, 401);

    let statuses: Vec<(bool, u16)> = server
        .requests()
        .iter()
        .map(|r| (r.authorization, r.status))
        .collect();
    assert_eq!(statuses, vec![(true, 401), (true, 401), (false, 401)]);
}

#[test]
fn anonymous_tokens_grant_only_the_anonymous_actions() {
    let registry = token_registry(TokenAuth {
        anonymous: Some(vec!["pull".to_string()]),
        ..TokenAuth::with_users(users())
    });
    let server = tokens(&registry);
    let repo = unique_repo("auth");

    let token = server.fetch_token(None, &[&pull_push(&repo)]);
    assert_eq!(decode_jwt(&token).1["sub"], "");
    assert_eq!(access_of(&token), owned(&[(&repo, &["pull"])]));
    let tags = with_token(&registry, "GET", &format!("/v2/{repo}/tags/list"), &token);
    assert_eq!(tags.status, 404);
    let push = with_token(
        &registry,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &token,
    );
    assert_eq!(push.status, 401);
    assert!(challenge(&push).ends_with(",error=\"insufficient_scope\""));
    // Credentials, when sent, must still be right.
    assert_eq!(server.get_token(Some(("alice", "no")), &[]).status, 401);
}

#[test]
fn a_pull_only_user_gets_a_pull_token_and_the_registry_refuses_its_push() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let repo = unique_repo("auth");
    let scope = format!("repository:{repo}:pull,push,delete");

    // Asking for more than allowed is no error: the token carries less.
    let token = server.fetch_token(Some(("reader", "reader-secret")), &[&scope]);
    assert_eq!(access_of(&token), owned(&[(&repo, &["pull"])]));

    let tags = with_token(&registry, "GET", &format!("/v2/{repo}/tags/list"), &token);
    assert_eq!(tags.status, 404, "{}", body_text(&tags));

    let push = with_token(
        &registry,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &token,
    );
    assert_eq!(push.status, 401, "{}", body_text(&push));
    // distribution 2.8: the scope's actions come from a Go map, in any order.
    let realm = server.realm();
    let expected: Vec<String> = ["pull,push", "push,pull"]
        .iter()
        .map(|actions| {
            format!(
                "Bearer realm=\"{realm}\",service=\"{DEFAULT_TOKEN_SERVICE}\",\
                 scope=\"repository:{repo}:{actions}\",error=\"insufficient_scope\""
            )
        })
        .collect();
    assert!(
        expected.iter().any(|e| e == challenge(&push)),
        "challenge {:?}",
        challenge(&push)
    );
    assert!(body_text(&push).contains("UNAUTHORIZED"));

    // A writer's token for the same scope opens an upload.
    let token = server.fetch_token(Some(("writer", "writer-secret")), &[&scope]);
    assert_eq!(access_of(&token), owned(&[(&repo, &["pull", "push"])]));
    let upload = with_token(
        &registry,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &token,
    );
    assert_eq!(upload.status, 202, "{}", body_text(&upload));
}

#[test]
fn a_token_for_one_repository_does_not_open_another() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let (mine, other) = (unique_repo("auth"), unique_repo("auth"));

    let token = server.fetch_token(Some(("alice", "alice-secret")), &[&pull_push(&mine)]);
    let tags = with_token(&registry, "GET", &format!("/v2/{other}/tags/list"), &token);
    assert_eq!(tags.status, 401);
    assert!(challenge(&tags).contains(&format!("scope=\"repository:{other}:pull\"")));
    assert!(challenge(&tags).ends_with("error=\"insufficient_scope\""));
}

#[test]
fn scopes_may_repeat_or_be_space_separated_and_merge_per_repository() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let (a, b) = (unique_repo("auth"), unique_repo("auth"));

    let token = server.fetch_token(
        Some(("writer", "writer-secret")),
        &[
            &format!("repository:{a}:pull"),
            &format!("repository:{b}:push registry:catalog:*"),
            &format!("repository:{a}:push,delete"),
            // A name holding a host:port (FIELD-NOTES section 3).
            "repository:127.0.0.1:5000/c:pull",
        ],
    );
    assert_eq!(
        access_of(&token),
        owned(&[
            (&a, &["pull", "push"]),
            (&b, &["push"]),
            ("127.0.0.1:5000/c", &["pull"]),
        ])
    );

    let malformed = server.get_token(Some(("writer", "writer-secret")), &["repository"]);
    assert_eq!(malformed.status, 400);
    assert_eq!(json_of(&malformed)["error"], "invalid_scope");
}

// ---------------------------------------------------------------- token: expiry

#[test]
fn a_short_lived_token_is_refused_once_its_lifetime_has_passed() {
    let registry = token_registry(TokenAuth {
        // Two seconds: short enough to wait for, long enough that the first
        // use is never late on a loaded machine.
        lifetime: Duration::from_secs(2),
        ..TokenAuth::with_users(users())
    });
    let server = tokens(&registry);

    let fetched = Instant::now();
    let answer = server.get_token(Some(("alice", "alice-secret")), &[]);
    assert_eq!(json_of(&answer)["expires_in"], 2);
    let token = token_of(&answer);
    let (_, claims) = decode_jwt(&token);
    // Backdated by the registry's leeway (TokenAuth::backdate's default).
    let (exp, iat) = (
        claims["exp"].as_i64().unwrap(),
        claims["iat"].as_i64().unwrap(),
    );
    assert!((2..=3).contains(&(exp - iat)), "{claims}");
    assert!(iat <= unix_now() as i64 - 59, "{claims}");

    assert_eq!(with_token(&registry, "GET", "/v2/", &token).status, 200);
    // The lifetime, plus a second for whole-second claims, plus a margin.
    thread::sleep(Duration::from_millis(3500).saturating_sub(fetched.elapsed()));
    let expired = with_token(&registry, "GET", "/v2/", &token);
    assert_eq!(expired.status, 401);
    assert!(challenge(&expired).ends_with(",error=\"invalid_token\""));

    // A new token works again: the mid-session re-authentication path.
    let token = server.fetch_token(Some(("alice", "alice-secret")), &[]);
    assert_eq!(with_token(&registry, "GET", "/v2/", &token).status, 200);
}

#[test]
fn plain_claims_outlive_their_lifetime_by_the_registry_leeway() {
    let registry = token_registry(TokenAuth {
        lifetime: Duration::from_secs(1),
        backdate: Duration::ZERO,
        ..TokenAuth::with_users(users())
    });
    let server = tokens(&registry);
    let token = server.fetch_token(Some(("alice", "alice-secret")), &[]);
    let (_, claims) = decode_jwt(&token);
    assert!(claims["exp"].as_i64().unwrap() >= unix_now() as i64);

    thread::sleep(Duration::from_millis(2500));
    assert!(claims["exp"].as_f64().unwrap() < unix_now());
    assert_eq!(with_token(&registry, "GET", "/v2/", &token).status, 200);
}

#[test]
fn the_registry_allows_60_seconds_past_exp_and_before_nbf() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let now = unix_now() as i64;
    let leeway = REGISTRY_TOKEN_LEEWAY.as_secs() as i64;
    assert_eq!(leeway, 60);
    let status = |edit: &dyn Fn(&mut Value)| {
        let mut claims = server.claims("alice", &[]);
        edit(&mut claims);
        let token = server.sign(&claims, KeyRef::X5c);
        with_token(&registry, "GET", "/v2/", &token).status
    };

    // exp: accepted until exp + 60 s.
    assert_eq!(
        status(&|c| {
            c["iat"] = json!(now - 100);
            c["nbf"] = json!(now - 100);
            c["exp"] = json!(now - (leeway - 10));
        }),
        200
    );
    assert_eq!(
        status(&|c| {
            c["iat"] = json!(now - 100);
            c["nbf"] = json!(now - 100);
            c["exp"] = json!(now - (leeway + 10));
        }),
        401
    );
    // nbf: accepted from nbf - 60 s.
    assert_eq!(status(&|c| c["nbf"] = json!(now + (leeway - 10))), 200);
    assert_eq!(status(&|c| c["nbf"] = json!(now + (leeway + 10))), 401);
}

// ---------------------------------------------------------------- token: what 2.8 verifies

#[test]
fn the_signing_key_is_named_by_x5c_or_kid_and_must_be_trusted() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let claims = server.claims("alice", &[]);
    let status = |token: &str| with_token(&registry, "GET", "/v2/", token).status;

    // x5c: the self-signed certificate, itself the whole rootcertbundle.
    assert_eq!(status(&server.sign(&claims, KeyRef::X5c)), 200);
    // kid: libtrust's fingerprint of a key in the bundle.
    let kid = server.signing_key().key_id();
    assert_eq!(kid.len(), 12 * 4 + 11, "{kid}");
    assert_eq!(kid.split(':').count(), 12, "{kid}");
    assert_eq!(status(&server.sign(&claims, KeyRef::Kid)), 200);
    // Neither: refused.
    let unnamed = with_token(
        &registry,
        "GET",
        "/v2/",
        &server.sign(&claims, KeyRef::Unnamed),
    );
    assert_eq!(unnamed.status, 401);
    assert!(challenge(&unnamed).ends_with(",error=\"invalid_token\""));

    // Another key, with its own certificate in x5c: not in the bundle.
    let stranger = SigningKey::generate();
    assert_eq!(status(&stranger.sign(&claims, KeyRef::X5c)), 401);
    assert_eq!(status(&stranger.sign(&claims, KeyRef::Kid)), 401);

    // iss and aud must match the registry's issuer and service; aud is a
    // single string in 2.8 (an array makes the token malformed).
    let edited = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        server.sign(&c, KeyRef::X5c)
    };
    assert_eq!(status(&edited("iss", json!("someone-else"))), 401);
    assert_eq!(status(&edited("aud", json!("another-service"))), 401);
    assert_eq!(status(&edited("aud", json!([DEFAULT_TOKEN_SERVICE]))), 401);
    // A tampered signature.
    // (Flip a bit of a byte: the last base64 character also holds padding
    // bits, which Go's decoder ignores.)
    let token = server.sign(&claims, KeyRef::X5c);
    let (signed, signature) = token.rsplit_once('.').expect("three parts");
    let mut signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    signature[10] ^= 1;
    let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&signature));
    assert_eq!(status(&tampered), 401);
}

#[test]
fn a_token_for_another_service_is_refused() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    // The server writes the service asked for as aud, like real ones.
    let answer = http_send(
        server.port(),
        "GET",
        "/token?service=elsewhere&scope=repository%3Ax%3Apull",
        &[(
            "Authorization",
            &basic_authorization("alice", "alice-secret"),
        )],
        &[],
    )
    .expect("the token server answers");
    let token = token_of(&answer);
    assert_eq!(decode_jwt(&token).1["aud"], "elsewhere");
    assert_eq!(with_token(&registry, "GET", "/v2/", &token).status, 401);
}

// ---------------------------------------------------------------- token: POST flow

#[test]
fn the_post_form_flow_grants_password_and_refresh_tokens() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let server = tokens(&registry);
    let repo = unique_repo("auth");
    let scope = pull_push(&repo);
    let service = server.service().to_string();

    // Password grant asking for a refresh token.
    let answer = post_form(
        server,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-secret"),
            ("service", &service),
            ("client_id", "kloset-test"),
            ("access_type", "offline"),
            ("scope", &scope),
        ],
    );
    assert_eq!(answer.status, 200, "{}", body_text(&answer));
    let fields = json_of(&answer);
    assert_eq!(fields["refresh_token"], "alice-identity-token");
    assert_eq!(fields["scope"], scope);
    assert_eq!(fields["expires_in"], 300);
    assert!(fields["issued_at"].is_string());
    let token = token_of(&answer);
    assert_eq!(fields["access_token"], token.as_str());
    let upload = with_token(
        &registry,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &token,
    );
    assert_eq!(upload.status, 202, "{}", body_text(&upload));

    // Without access_type=offline: no refresh token.
    let online = post_form(
        server,
        &[
            ("grant_type", "password"),
            ("username", "reader"),
            ("password", "reader-secret"),
            ("service", &service),
            ("client_id", "kloset-test"),
            ("scope", &scope),
        ],
    );
    assert_eq!(online.status, 200);
    assert!(json_of(&online).get("refresh_token").is_none());
    assert_eq!(json_of(&online)["scope"], format!("repository:{repo}:pull"));

    // Refresh grant: several scopes, space-separated in one parameter.
    let other = unique_repo("auth");
    let both = format!("{scope} repository:{other}:pull");
    let refreshed = post_form(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "alice-identity-token"),
            ("service", &service),
            ("client_id", "kloset-test"),
            ("scope", &both),
        ],
    );
    assert_eq!(refreshed.status, 200, "{}", body_text(&refreshed));
    assert_eq!(json_of(&refreshed)["refresh_token"], "alice-identity-token");
    let token = token_of(&refreshed);
    assert_eq!(decode_jwt(&token).1["sub"], "alice");
    assert_eq!(
        access_of(&token),
        owned(&[(&repo, &["pull", "push"]), (&other, &["pull"])])
    );
    let tags = with_token(&registry, "GET", &format!("/v2/{other}/tags/list"), &token);
    assert_eq!(tags.status, 404);

    // Refusals.
    let base = [
        ("service", service.as_str()),
        ("client_id", "kloset-test"),
        ("scope", scope.as_str()),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut pairs = extra.to_vec();
        pairs.extend_from_slice(&base);
        post_form(server, &pairs)
    };
    let bad_refresh = with(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]);
    assert_eq!(bad_refresh.status, 401);
    assert_eq!(json_of(&bad_refresh)["error"], "invalid_grant");
    let bad_password = with(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "nope"),
    ]);
    assert_eq!(bad_password.status, 401);
    let no_grant = with(&[("username", "alice"), ("password", "alice-secret")]);
    assert_eq!(no_grant.status, 400);
    assert_eq!(json_of(&no_grant)["error"], "unsupported_grant_type");
    let no_client = post_form(
        server,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-secret"),
            ("service", &service),
        ],
    );
    assert_eq!(no_client.status, 400);
    assert_eq!(json_of(&no_client)["error"], "invalid_request");

    let seen: Vec<(String, Option<String>, Option<String>, u16)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.grant_type, r.client_id, r.status))
        .collect();
    let post = |grant: Option<&str>, client: Option<&str>, status| {
        (
            "POST".to_string(),
            grant.map(str::to_string),
            client.map(str::to_string),
            status,
        )
    };
    let k = Some("kloset-test");
    assert_eq!(
        seen,
        vec![
            post(Some("password"), k, 200),
            post(Some("password"), k, 200),
            post(Some("refresh_token"), k, 200),
            post(Some("refresh_token"), k, 401),
            post(Some("password"), k, 401),
            post(None, k, 400),
            post(Some("password"), None, 400),
        ]
    );
    let all = server.requests();
    assert!(all.iter().all(|r| !r.authorization && r.target == "/token"));
    let recorded = format!("{all:?}");
    assert!(
        !recorded.contains("alice-secret") && !recorded.contains("alice-identity-token"),
        "{recorded}"
    );
}

#[test]
fn with_post_switched_off_post_answers_404_and_get_still_works() {
    let registry = token_registry(TokenAuth {
        post_supported: false,
        ..TokenAuth::with_users(users())
    });
    let server = tokens(&registry);
    let service = server.service().to_string();

    let post = post_form(
        server,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-secret"),
            ("service", &service),
            ("client_id", "kloset-test"),
        ],
    );
    assert_eq!(post.status, 404);

    let token = server.fetch_token(Some(("alice", "alice-secret")), &[]);
    assert_eq!(with_token(&registry, "GET", "/v2/", &token).status, 200);

    let seen: Vec<(String, u16)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(
        seen,
        vec![("POST".to_string(), 404), ("GET".to_string(), 200)]
    );
}

// ---------------------------------------------------------------- lifecycle and helpers

#[test]
fn dropping_the_registry_stops_its_token_server() {
    let registry = token_registry(TokenAuth::with_users(users()));
    let port = tokens(&registry).port();
    let key_dir = tokens(&registry).signing_key().dir().to_path_buf();
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok());
    assert!(key_dir.is_dir());

    drop(registry);
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
    assert!(!key_dir.exists());
}

#[test]
fn the_token_server_keeps_connections_alive() {
    let server = TokenServer::start(TokenAuth::with_users(users()));
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    let request = format!(
        "GET /token?service={DEFAULT_TOKEN_SERVICE} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        basic_authorization("alice", "alice-secret")
    );
    for _ in 0..2 {
        use std::io::{BufRead, BufReader, Read, Write};
        stream.write_all(request.as_bytes()).expect("write");
        let mut reader = BufReader::new(&stream);
        let mut status = String::new();
        reader.read_line(&mut status).expect("a status line");
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header");
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("a length");
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
    }
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn time_and_encoding_helpers_match_their_specs() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    // RFC 4648 section 10, without padding.
    for (input, output) in [
        ("", ""),
        ("f", "MY"),
        ("fo", "MZXQ"),
        ("foo", "MZXW6"),
        ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ] {
        assert_eq!(base32(input.as_bytes()), output, "{input:?}");
    }
}
