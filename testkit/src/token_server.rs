//! A token server for token-auth test registries (distribution's token
//! spec, `docs/spec/auth/token.md` and `oauth.md`), on its own free loopback
//! port, speaking plain HTTP/1.1: the realm is `http://127.0.0.1:PORT/token`.
//!
//! - `GET /token?service=S&scope=T:NAME:ACTIONS` (`scope` may repeat, or hold
//!   several space-separated scopes), with `Authorization: Basic` or, when
//!   [`TokenAuth::anonymous`] allows it, without credentials.
//! - `POST /token`, a form: `grant_type=password` (`username`, `password`) or
//!   `grant_type=refresh_token` (`refresh_token`), with `service` and
//!   `client_id` (both required by the OAuth2 spec) and `scope`
//!   (space-separated). When [`TokenAuth::post_supported`] is off it answers
//!   404, which tells clients to fall back to `GET`.
//!
//! A token grants, for each repository scope asked, the actions asked that
//! the user may have; asking for more is no error (the token spec): a
//! pull-only user asking `pull,push` gets a token for `pull`, and the
//! registry later refuses the push (401, `error="insufficient_scope"`).
//! Wrong credentials answer 401; malformed requests 400, with an OAuth2
//! error body (RFC 6749 section 5.2).
//!
//! Every request is recorded ([`TokenServer::requests`]) without its secrets.
//! Connections are kept alive (HTTP/1.1), as a pooling client expects.

use std::io::{self, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::auth::{
    basic_authorization, rfc3339, unix_now, KeyRef, SigningKey, TokenAuth, TokenUser, TOKEN_ISSUER,
};
use super::http::{http_send, RawResponse};
use super::wire::{read_message, write_reply};

/// How long an idle kept-alive connection is held open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The realm of the server's own `Basic` challenge on a refused request.
const SERVER_REALM: &str = "kloset-test-token-server";

/// One request the token server answered, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, e.g. `/token?service=...&scope=...`.
    pub target: String,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
    /// The form's `grant_type` (POST only).
    pub grant_type: Option<String>,
    /// The `service` asked for (query or form).
    pub service: Option<String>,
    /// The form's `client_id` (POST only).
    pub client_id: Option<String>,
    /// Every scope asked, one entry per scope (`repository:NAME:ACTIONS`).
    pub scopes: Vec<String>,
    /// The status answered.
    pub status: u16,
}

/// A running token server. Dropping it stops accepting connections and
/// removes its signing key files.
pub struct TokenServer {
    port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    auth: TokenAuth,
    key: SigningKey,
    seen: Mutex<Vec<TokenRequest>>,
}

impl TokenServer {
    /// Makes a signing key and starts serving on a free loopback port, or
    /// panics saying why.
    pub fn start(auth: TokenAuth) -> TokenServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("token server: cannot bind a loopback port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("token server: no local address: {e}"))
            .port();
        let shared = Arc::new(Shared {
            auth,
            key: SigningKey::generate(),
            seen: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (shared, stop) = (shared.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (shared, stop) = (shared.clone(), stop.clone());
                    thread::spawn(move || serve_connection(stream, &shared, &stop));
                }
            })
        };
        TokenServer {
            port,
            shared,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/token`, the registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The registry's `auth.token.service`.
    pub fn service(&self) -> &str {
        &self.shared.auth.service
    }

    /// The registry's `auth.token.issuer`.
    pub fn issuer(&self) -> &str {
        TOKEN_ISSUER
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &TokenAuth {
        &self.shared.auth
    }

    /// The signing certificate (PEM), the registry's `auth.token.rootcertbundle`.
    pub fn certificate_pem(&self) -> &Path {
        self.shared.key.certificate_pem()
    }

    /// The signing key, to sign tokens the server would not issue.
    pub fn signing_key(&self) -> &SigningKey {
        &self.shared.key
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.seen.lock().unwrap().clear();
    }

    /// The claims the server would issue now to `subject` for `access`
    /// (`(repository, actions)`, taken as granted), with this server's
    /// `iss`, `aud`, lifetime and backdating. Tests may edit them before
    /// [`TokenServer::sign`].
    pub fn claims(&self, subject: &str, access: &[(&str, &[&str])]) -> Value {
        let access: Vec<Access> = access
            .iter()
            .map(|(name, actions)| Access {
                kind: "repository".to_string(),
                name: name.to_string(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
            })
            .collect();
        self.shared.claims(subject, self.service(), &access).0
    }

    /// Signs `claims` with the server's key, naming it as `key_ref` says.
    pub fn sign(&self, claims: &Value, key_ref: KeyRef) -> String {
        self.shared.key.sign(claims, key_ref)
    }

    /// A token as the server would issue it now (`x5c` header), without a
    /// request: what the harness's readiness probe uses.
    pub fn mint(&self, subject: &str, access: &[(&str, &[&str])]) -> String {
        self.sign(&self.claims(subject, access), KeyRef::X5c)
    }

    /// `GET /token` for `scopes`, as a client would (recorded like any
    /// request), with Basic `credentials` when given. Returns the raw answer.
    pub fn get_token(&self, credentials: Option<(&str, &str)>, scopes: &[&str]) -> RawResponse {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("service", self.service());
        for scope in scopes {
            query.append_pair("scope", scope);
        }
        let target = format!("/token?{}", query.finish());
        let authorization = credentials.map(|(user, password)| basic_authorization(user, password));
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http_send(self.port, "GET", &target, &headers, &[])
            .unwrap_or_else(|e| panic!("token server: GET {target}: {e}"))
    }

    /// As [`TokenServer::get_token`], returning the token; panics unless
    /// the answer is 200 with a token.
    pub fn fetch_token(&self, credentials: Option<(&str, &str)>, scopes: &[&str]) -> String {
        let response = self.get_token(credentials, scopes);
        assert_eq!(
            response.status,
            200,
            "token server: GET /token for {scopes:?} answered {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        token_of(&response)
    }
}

/// The token of a 200 answer (`token`, else `access_token`); panics otherwise.
pub fn token_of(response: &RawResponse) -> String {
    let answer: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "token answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&response.body)
        )
    });
    answer["token"]
        .as_str()
        .or_else(|| answer["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("token answer holds no token: {answer}"))
        .to_string()
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm())
            .field("settings", &self.shared.auth)
            .finish_non_exhaustive()
    }
}

/// One granted (or asked) resource of a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Access {
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl Access {
    fn to_json(&self) -> Value {
        json!({"type": self.kind, "name": self.name, "actions": self.actions})
    }

    /// `type:name:actions`, as a scope.
    fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// Parses `type:name:actions`. The name may itself hold `:` (a `host:port/`
/// prefix), so the type ends at the first colon and the actions start after
/// the last.
fn parse_scope(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some(Access {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// Who a token is for.
enum Principal<'a> {
    Anonymous(&'a [String]),
    User(&'a TokenUser),
}

impl Principal<'_> {
    fn subject(&self) -> &str {
        match self {
            Principal::Anonymous(_) => "",
            Principal::User(user) => &user.name,
        }
    }

    fn may(&self, action: &str) -> bool {
        match self {
            Principal::Anonymous(actions) => actions.iter().any(|a| a == "*" || a == action),
            Principal::User(user) => user.may(action),
        }
    }
}

/// What the server answers.
struct Reply {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    /// An OAuth2 error answer (RFC 6749 section 5.2).
    fn error(status: u16, code: &str, description: &str) -> Reply {
        let mut reply = Reply::json(
            status,
            &json!({"error": code, "error_description": description}),
        );
        if status == 401 {
            reply.headers.push((
                "WWW-Authenticate".to_string(),
                format!("Basic realm=\"{SERVER_REALM}\""),
            ));
        }
        reply
    }

    fn not_found() -> Reply {
        Reply {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: b"404 page not found\n".to_vec(),
        }
    }
}

/// A request as read off the connection.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Shared {
    /// The claims of a token for `subject` on `access`, and the real Unix
    /// time of issue. Times are whole seconds; `exp` is rounded up so a
    /// token lasts at least its lifetime.
    fn claims(&self, subject: &str, audience: &str, access: &[Access]) -> (Value, i64) {
        let now = unix_now();
        let backdate = self.auth.backdate.as_secs() as i64;
        let issued = now.floor() as i64;
        let expires = (now + self.auth.lifetime.as_secs() as f64).ceil() as i64;
        let claims = json!({
            "iss": TOKEN_ISSUER,
            "sub": subject,
            // distribution 2.8 reads `aud` as one string; an array is "malformed".
            "aud": audience,
            "exp": expires - backdate,
            "nbf": issued - backdate,
            "iat": issued - backdate,
            "jti": hex::encode(rand::random::<[u8; 16]>()),
            "access": access.iter().map(Access::to_json).collect::<Vec<_>>(),
        });
        (claims, issued)
    }

    /// Answers one request and records it.
    fn handle(&self, request: &Request) -> Reply {
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((request.target.as_str(), ""));
        let form: Vec<(String, String)> = match request.method.as_str() {
            "POST" => form_urlencoded::parse(&request.body).into_owned().collect(),
            _ => form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        };
        let value = |key: &str| {
            form.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let scopes: Vec<String> = form
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
            .collect();

        let reply = match (path, request.method.as_str()) {
            ("/token", "GET") => self.answer_get(request, &value, &scopes),
            ("/token", "POST") if !self.auth.post_supported => Reply::not_found(),
            ("/token", "POST") => self.answer_post(request, &value, &scopes),
            ("/token", _) => Reply::error(405, "invalid_request", "method not allowed"),
            _ => Reply::not_found(),
        };

        let post = request.method == "POST";
        self.seen.lock().unwrap().push(TokenRequest {
            method: request.method.clone(),
            target: request.target.clone(),
            authorization: request.header("authorization").is_some(),
            grant_type: value("grant_type").filter(|_| post),
            service: value("service"),
            client_id: value("client_id").filter(|_| post),
            scopes,
            status: reply.status,
        });
        reply
    }

    fn answer_get(
        &self,
        request: &Request,
        value: &dyn Fn(&str) -> Option<String>,
        scopes: &[String],
    ) -> Reply {
        let principal = match request.header("authorization") {
            None => match &self.auth.anonymous {
                Some(actions) => Principal::Anonymous(actions),
                None => return Reply::error(401, "unauthorized", "authentication required"),
            },
            Some(header) => match self.basic_user(header) {
                Some(user) => Principal::User(user),
                None => return Reply::error(401, "unauthorized", "incorrect username or password"),
            },
        };
        let service = value("service").unwrap_or_else(|| self.auth.service.clone());
        let refresh = match (&principal, value("offline_token").as_deref()) {
            (Principal::User(user), Some("true")) => user.refresh_token.clone(),
            _ => None,
        };
        self.issue(&principal, &service, scopes, refresh, false)
    }

    fn answer_post(
        &self,
        request: &Request,
        value: &dyn Fn(&str) -> Option<String>,
        scopes: &[String],
    ) -> Reply {
        let form_type = request.header("content-type").unwrap_or_default();
        if !form_type.starts_with("application/x-www-form-urlencoded") {
            return Reply::error(
                400,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            );
        }
        let (Some(service), Some(_client_id)) = (value("service"), value("client_id")) else {
            return Reply::error(400, "invalid_request", "service and client_id are required");
        };
        let (user, refresh) = match value("grant_type").as_deref() {
            Some("password") => {
                let (Some(name), Some(password)) = (value("username"), value("password")) else {
                    return Reply::error(
                        400,
                        "invalid_request",
                        "username and password are required",
                    );
                };
                let Some(user) = self.user(&name, &password) else {
                    return Reply::error(401, "invalid_grant", "incorrect username or password");
                };
                let offline = value("access_type").as_deref() == Some("offline");
                (user, user.refresh_token.clone().filter(|_| offline))
            }
            Some("refresh_token") => {
                let Some(token) = value("refresh_token") else {
                    return Reply::error(400, "invalid_request", "refresh_token is required");
                };
                let Some(user) = self
                    .auth
                    .users
                    .iter()
                    .find(|u| u.refresh_token.as_deref() == Some(token.as_str()))
                else {
                    return Reply::error(401, "invalid_grant", "unknown refresh token");
                };
                // The spec: a refresh grant hands back the same refresh token.
                (user, Some(token))
            }
            _ => {
                return Reply::error(
                    400,
                    "unsupported_grant_type",
                    "grant_type must be password or refresh_token",
                )
            }
        };
        self.issue(&Principal::User(user), &service, scopes, refresh, true)
    }

    /// A 200 answer with a token granting what `principal` may of `scopes`.
    fn issue(
        &self,
        principal: &Principal,
        service: &str,
        scopes: &[String],
        refresh_token: Option<String>,
        oauth2: bool,
    ) -> Reply {
        let mut granted: Vec<Access> = Vec::new();
        for scope in scopes {
            let Some(asked) = parse_scope(scope) else {
                return Reply::error(400, "invalid_scope", &format!("malformed scope {scope:?}"));
            };
            // Only repository scopes are granted; `registry:catalog:*` and
            // others get nothing, which is no error either.
            if asked.kind != "repository" {
                continue;
            }
            let index = match granted
                .iter()
                .position(|g| g.kind == asked.kind && g.name == asked.name)
            {
                Some(i) => i,
                None => {
                    granted.push(Access {
                        actions: Vec::new(),
                        ..asked.clone()
                    });
                    granted.len() - 1
                }
            };
            for action in asked.actions {
                if principal.may(&action) && !granted[index].actions.contains(&action) {
                    granted[index].actions.push(action);
                }
            }
        }

        let (claims, issued) = self.claims(principal.subject(), service, &granted);
        let token = self.key.sign(&claims, KeyRef::X5c);
        let mut answer = json!({
            "token": token,
            "access_token": token,
            "expires_in": self.auth.lifetime.as_secs(),
            "issued_at": rfc3339(issued),
        });
        if oauth2 {
            let scope: Vec<String> = granted
                .iter()
                .filter(|g| !g.actions.is_empty())
                .map(Access::scope)
                .collect();
            answer["scope"] = json!(scope.join(" "));
        }
        if let Some(refresh) = refresh_token {
            answer["refresh_token"] = json!(refresh);
        }
        Reply::json(200, &answer)
    }

    /// The user of a `Basic` header, if its password is right.
    fn basic_user(&self, header: &str) -> Option<&TokenUser> {
        let (scheme, encoded) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, password) = decoded.split_once(':')?;
        self.user(name, password)
    }

    fn user(&self, name: &str, password: &str) -> Option<&TokenUser> {
        self.auth
            .users
            .iter()
            .find(|u| u.name == name && u.password == password)
    }
}

/// Serves requests on one connection until the client closes it, asks to
/// close, goes idle too long, or the server stops.
fn serve_connection(stream: TcpStream, shared: &Shared, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        let reply = shared.handle(&request);
        let close = stop.load(Ordering::SeqCst)
            || request
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut headers = vec![("Content-Type".to_string(), reply.content_type.to_string())];
        headers.extend(reply.headers.iter().cloned());
        if close {
            headers.push(("Connection".to_string(), "close".to_string()));
        }
        let head_request = request.method == "HEAD";
        let written = write_reply(
            &mut writer,
            reply.status,
            reason(reply.status),
            &headers,
            &reply.body,
            head_request,
        );
        if written.is_err() || close {
            return;
        }
    }
}

/// Reads one request; `None` when the client closed the connection first.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    Ok(read_message(reader, false)?.map(|message| Request {
        method: message.method().to_string(),
        target: message.target().to_string(),
        headers: message.headers,
        body: message.body,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Unknown",
    }
}
