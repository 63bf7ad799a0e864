//! Logging in, against registries that require it: htpasswd Basic auth and
//! token auth with the tests' own token server (JWTs distribution verifies).

use kloset_testkit::component::plugin;
use kloset_testkit::requests::requests_of;

use kloset_host::{ContractError, Error, Mac, Resource, StoreHandle};
use kloset_testkit::{unique_repo, Registry, RegistryAuth, RegistryOptions, TokenAuth, TokenUser};
use std::time::Duration;

const WRITER: (&str, &str) = ("writer", "writer-pass-123");
const READER: (&str, &str) = ("reader", "reader-pass-456");

fn store(registry: &Registry, repo: &str, extra: &[(&str, &str)]) -> StoreHandle {
    let mut config = registry.config(repo);
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    StoreHandle::new(plugin(), &config).expect("a valid configuration")
}

fn as_user((name, password): (&str, &str)) -> [(&'static str, String); 2] {
    [
        ("username", name.to_string()),
        ("password", password.to_string()),
    ]
}

fn with<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn token_registry(auth: TokenAuth) -> Registry {
    Registry::start(RegistryOptions {
        auth: RegistryAuth::Token(auth),
        ..Default::default()
    })
}

fn writer_and_reader() -> TokenAuth {
    TokenAuth::with_users(vec![
        TokenUser::new(WRITER.0, WRITER.1, &["pull", "push", "delete"]),
        TokenUser::new(READER.0, READER.1, &["pull"]),
    ])
}

#[test]
fn basic_auth_needs_the_right_credentials() {
    let registry = Registry::start(RegistryOptions {
        auth: RegistryAuth::htpasswd(&[WRITER]),
        ..Default::default()
    });
    let repo = unique_repo("basic");
    assert!(
        matches!(
            store(&registry, &repo, &[]).create(b"c"),
            Err(Error::Contract(ContractError::Unauthorized(_)))
        ),
        "anonymous"
    );
    let wrong = as_user((WRITER.0, "not-the-password"));
    match store(&registry, &repo, &with(&wrong)).create(b"c") {
        Err(Error::Contract(ContractError::Unauthorized(message))) => {
            assert!(!message.contains("not-the-password"), "{message}")
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let right = as_user(WRITER);
    let s = store(&registry, &repo, &with(&right));
    s.create(b"c").unwrap();
    s.put_bytes(Resource::Lock, &Mac([1; 32]), b"lock").unwrap();
    // Once the scheme is known, credentials go with every request: no 401s.
    let put = requests_of(&s, || {
        s.put_bytes(Resource::State, &Mac([2; 32]), b"state")
            .unwrap();
    });
    assert!(put.net <= 3, "a small put took {put}");
    assert_eq!(
        s.get(Resource::State, &Mac([2; 32]), None).unwrap(),
        b"state"
    );
}

#[test]
fn one_token_serves_pull_push_and_delete() {
    let registry = token_registry(writer_and_reader());
    let repo = unique_repo("token");
    let writer = as_user(WRITER);
    let s = store(&registry, &repo, &with(&writer));
    s.create(b"c").unwrap();
    s.put_bytes(Resource::Packfile, &Mac([1; 32]), &[7; 20_000])
        .unwrap();
    assert_eq!(
        s.get(Resource::Packfile, &Mac([1; 32]), Some((100, 10)))
            .unwrap(),
        [7; 10]
    );
    assert_eq!(s.list(Resource::Packfile).unwrap(), vec![Mac([1; 32])]);
    s.delete(Resource::Packfile, &Mac([1; 32])).unwrap();
    assert!(s.list(Resource::Packfile).unwrap().is_empty());

    let asked = registry.token_server().unwrap().requests();
    assert_eq!(asked.len(), 1, "one token for every operation: {asked:?}");
    assert_eq!(asked[0].method, "GET");
    assert!(
        asked[0].authorization,
        "the realm is on the registry's host: it gets the Basic credentials"
    );
    assert_eq!(
        asked[0].scopes,
        vec![format!("repository:{repo}:pull,push,delete")]
    );
    assert_eq!(
        asked[0].service.as_deref(),
        Some(registry.token_server().unwrap().service())
    );
}

#[test]
fn a_token_server_that_grants_less_than_asked_means_denied() {
    let registry = token_registry(writer_and_reader());
    let repo = unique_repo("less");
    let writer = as_user(WRITER);
    let w = store(&registry, &repo, &with(&writer));
    w.create(b"c").unwrap();
    w.put_bytes(Resource::State, &Mac([1; 32]), b"written by the writer")
        .unwrap();

    let reader = as_user(READER);
    let r = store(&registry, &repo, &with(&reader));
    assert_eq!(r.open().unwrap(), b"c");
    assert_eq!(
        r.get(Resource::State, &Mac([1; 32]), None).unwrap(),
        b"written by the writer"
    );
    assert_eq!(r.list(Resource::State).unwrap(), vec![Mac([1; 32])]);
    assert!(
        matches!(
            r.put_bytes(Resource::State, &Mac([2; 32]), b"x"),
            Err(Error::Contract(ContractError::Denied(_)))
        ),
        "push"
    );
    assert!(
        matches!(
            r.delete(Resource::State, &Mac([1; 32])),
            Err(Error::Contract(ContractError::Denied(_)))
        ),
        "delete"
    );
    assert_eq!(
        w.list(Resource::State).unwrap(),
        vec![Mac([1; 32])],
        "nothing changed"
    );
}

#[test]
fn a_token_that_expires_mid_session_is_renewed() {
    let mut auth = writer_and_reader();
    auth.lifetime = Duration::from_secs(2);
    let registry = token_registry(auth);
    let repo = unique_repo("expiry");
    let writer = as_user(WRITER);
    let s = store(&registry, &repo, &with(&writer));
    s.create(b"c").unwrap();
    s.put_bytes(Resource::Lock, &Mac([1; 32]), b"first")
        .unwrap();
    let first = registry.token_server().unwrap().requests().len();
    std::thread::sleep(Duration::from_secs(3));
    s.put_bytes(Resource::Lock, &Mac([1; 32]), b"refreshed")
        .unwrap();
    assert_eq!(
        s.get(Resource::Lock, &Mac([1; 32]), None).unwrap(),
        b"refreshed"
    );
    assert!(
        registry.token_server().unwrap().requests().len() > first,
        "a new token was fetched"
    );
}

#[test]
fn anonymous_tokens_when_the_registry_allows_them() {
    let mut auth = writer_and_reader();
    auth.anonymous = Some(vec!["pull".into(), "push".into(), "delete".into()]);
    let registry = token_registry(auth);
    let s = store(&registry, &unique_repo("anon"), &[]);
    s.create(b"c").unwrap();
    s.put_bytes(Resource::State, &Mac([3; 32]), b"anonymous")
        .unwrap();
    assert_eq!(
        s.get(Resource::State, &Mac([3; 32]), None).unwrap(),
        b"anonymous"
    );
    let asked = registry.token_server().unwrap().requests();
    assert!(
        !asked.is_empty() && asked.iter().all(|r| !r.authorization),
        "{asked:?}"
    );
}

#[test]
fn a_static_bearer_token_is_sent_as_it_is() {
    let registry = token_registry(writer_and_reader());
    let repo = unique_repo("static");
    let server = registry.token_server().unwrap();
    let token = server.mint(WRITER.0, &[(repo.as_str(), &["pull", "push", "delete"])]);
    let s = store(&registry, &repo, &[("token", &token)]);
    s.create(b"c").unwrap();
    s.put_bytes(Resource::Lock, &Mac([4; 32]), b"l").unwrap();
    assert_eq!(s.list(Resource::Lock).unwrap(), vec![Mac([4; 32])]);
    assert!(server.requests().is_empty(), "no token was asked for");
    // A token for another repository is refused as lacking the right.
    let other = server.mint(WRITER.0, &[("someone-else", &["pull", "push"])]);
    assert!(matches!(
        store(&registry, &repo, &[("token", &other)]).list(Resource::Lock),
        Err(Error::Contract(ContractError::Denied(_)))
    ));
}

#[test]
fn identity_tokens_use_the_oauth2_form() {
    let auth = TokenAuth::with_users(vec![
        TokenUser::new(WRITER.0, WRITER.1, &["*"]).with_refresh_token("refresh-abc")
    ]);
    let registry = token_registry(auth);
    let s = store(
        &registry,
        &unique_repo("oauth"),
        &[("username", "<token>"), ("password", "refresh-abc")],
    );
    s.create(b"c").unwrap();
    s.put_bytes(Resource::State, &Mac([5; 32]), b"s").unwrap();
    let asked = registry.token_server().unwrap().requests();
    assert!(!asked.is_empty());
    for request in &asked {
        assert_eq!(request.method, "POST");
        assert_eq!(request.grant_type.as_deref(), Some("refresh_token"));
        assert_eq!(request.client_id.as_deref(), Some("kloset-oci"));
    }
    // A wrong refresh token: unauthorized.
    let bad = store(
        &registry,
        &unique_repo("oauth"),
        &[("username", "<token>"), ("password", "refresh-wrong")],
    );
    assert!(matches!(
        bad.create(b"c"),
        Err(Error::Contract(ContractError::Unauthorized(_)))
    ));
}

/// Yields `total` bytes slowly, so a streamed upload outlives a token.
struct Slow {
    left: usize,
    pause: Duration,
}

impl std::io::Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        std::thread::sleep(self.pause);
        let n = buf.len().min(self.left).min(1 << 20);
        buf[..n].fill(0x5a);
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn a_token_that_expires_during_a_streamed_upload_is_renewed() {
    let mut auth = writer_and_reader();
    auth.lifetime = Duration::from_secs(2);
    let registry = token_registry(auth);
    let writer = as_user(WRITER);
    let s = store(&registry, &unique_repo("upload"), &with(&writer));
    s.create(b"c").unwrap();
    let before = registry.token_server().unwrap().requests().len();
    // 12 MiB (past the buffering threshold: one streamed PATCH) over about
    // 3.6 s, longer than the token lives: the PUT that completes the upload
    // and the manifest PUT need a new one.
    let size = 12 << 20;
    let written = s
        .put(
            Resource::Packfile,
            &Mac([9; 32]),
            Slow {
                left: size,
                pause: Duration::from_millis(300),
            },
        )
        .unwrap();
    assert_eq!(written, size as u64);
    assert_eq!(
        s.get(
            Resource::Packfile,
            &Mac([9; 32]),
            Some((size as u64 - 4, 4))
        )
        .unwrap(),
        [0x5a; 4]
    );
    assert!(
        registry.token_server().unwrap().requests().len() > before,
        "the token was renewed during the upload"
    );
}
