//! Logging in to a registry, the way Docker clients do: learn the scheme
//! from the first 401 challenge, then send Basic credentials, or fetch and
//! cache Bearer tokens. `Authorization` only ever goes to the registry's own
//! origin (scheme, host and port: never to the plaintext side of an https
//! registry); a realm is learnt only from a 401 the registry itself sent,
//! and gets secrets only over https, or over plain http when the store
//! itself is plain http and the realm is on the registry's host.

pub mod challenge;
pub mod credentials;
pub mod token;

use crate::error::StoreError;
use crate::origin::Origin;
use challenge::Challenge;
use credentials::Credentials;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use token::{token_request, Flow, Token, TokenEndpoint};

/// Asked of the token server first: every right the store may use, so one
/// token serves every operation (servers grant what they can). A server that
/// refuses such a request is then asked per operation.
const ALL_ACTIONS: &str = "pull,push,delete";

/// What must happen before a request can go out.
pub enum Prepared {
    Ready,
    /// Send this token request first, then hand its answer to `token_answer`.
    FetchToken(Box<http::Request<Vec<u8>>>),
}

pub struct Authenticator {
    registry: Origin,
    repository: String,
    credentials: Credentials,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    scheme: Scheme,
    /// Tokens by the actions they were asked for, with their expiry.
    tokens: HashMap<String, (String, Duration)>,
    flow: Option<Flow>,
    /// The token server refused the all-actions scope: ask per operation.
    narrow: bool,
    /// The token request in flight: (actions, flow).
    pending: Option<(String, Flow)>,
}

#[derive(Default, Clone)]
enum Scheme {
    #[default]
    Unknown,
    Basic,
    Bearer(TokenEndpoint),
}

/// The actions a request needs (distribution's access records).
fn actions_for(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" | "HEAD" => "pull",
        "DELETE" => "delete",
        _ => "pull,push",
    }
}

impl Authenticator {
    /// `base`: the registry's base URL, `https://host[:port]` (or http).
    pub fn new(base: &str, repository: &str, credentials: Credentials) -> Self {
        let flow = matches!(credentials, Credentials::IdentityToken(_)).then_some(Flow::Post);
        Authenticator {
            registry: Origin::parse(base).expect("the registry's base URL is an http(s) origin"),
            repository: repository.to_string(),
            credentials,
            state: RefCell::new(State {
                flow,
                ..State::default()
            }),
        }
    }

    /// Whether `uri` is on the registry's own origin.
    pub fn is_registry(&self, uri: &http::Uri) -> bool {
        Origin::of(uri).as_ref() == Some(&self.registry)
    }

    fn actions(&self, method: &http::Method) -> String {
        if self.state.borrow().narrow {
            actions_for(method).to_string()
        } else {
            ALL_ACTIONS.to_string()
        }
    }

    /// Sets the `Authorization` header for a request (removing any other),
    /// or says which token to fetch first.
    pub fn prepare(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
        now: Duration,
    ) -> Result<Prepared, StoreError> {
        headers.remove(http::header::AUTHORIZATION);
        if !self.is_registry(uri) {
            return Ok(Prepared::Ready);
        }
        let scheme = self.state.borrow().scheme.clone();
        let value = match (&self.credentials, scheme) {
            (Credentials::Bearer(token), _) => Some(format!("Bearer {token}")),
            (_, Scheme::Unknown) => None,
            (creds, Scheme::Basic) => creds.basic_header(),
            (_, Scheme::Bearer(endpoint)) => {
                let actions = self.actions(method);
                let mut state = self.state.borrow_mut();
                match state.tokens.get(&actions) {
                    Some((token, expires)) if now < *expires => Some(format!("Bearer {token}")),
                    _ => {
                        let flow = state.flow.unwrap_or(Flow::Get);
                        state.pending = Some((actions.clone(), flow));
                        let scope = format!("repository:{}:{actions}", self.repository);
                        let request = token_request(
                            &endpoint,
                            &scope,
                            &self.credentials,
                            flow,
                            self.may_see_basic(&endpoint),
                        )
                        .map_err(|e| {
                            StoreError::InvalidConfig(format!("unusable token realm: {e}"))
                        })?;
                        return Ok(Prepared::FetchToken(Box::new(request)));
                    }
                }
            }
        };
        if let Some(value) = value {
            let value = http::HeaderValue::from_str(&value).map_err(|_| {
                StoreError::InvalidConfig(
                    "credentials hold characters a header cannot carry".into(),
                )
            })?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        Ok(Prepared::Ready)
    }

    /// Secrets (Basic credentials, a password or refresh token in the
    /// OAuth2 form) go to a realm over https; over plain http only when
    /// the store itself is plain http and the realm is on the registry's
    /// host (any port: the same machine, already reached in the clear).
    fn may_see_basic(&self, endpoint: &TokenEndpoint) -> bool {
        match Origin::parse(&endpoint.realm) {
            Some(realm) if realm.https => true,
            Some(realm) => !self.registry.https && realm.same_host(&self.registry),
            None => false,
        }
    }

    /// Takes the token server's answer to the last `FetchToken`. `Ok(true)`
    /// when the request should be prepared again (a token was stored, or
    /// another way of asking is worth a try).
    pub fn token_answer(
        &self,
        status: u16,
        body: &[u8],
        now: Duration,
    ) -> Result<bool, StoreError> {
        let mut state = self.state.borrow_mut();
        let Some((actions, flow)) = state.pending.take() else {
            return Ok(false);
        };
        match status {
            200..=299 => {
                let Token { value, lifetime } = token::parse_token_answer(body)?;
                // Renew a little before the server's deadline.
                let margin = (lifetime / 10).min(Duration::from_secs(30));
                state
                    .tokens
                    .insert(actions, (value, now + lifetime - margin));
                Ok(true)
            }
            // OAuth2 POST unsupported by this server: ask with GET.
            404 | 405 if flow == Flow::Post => {
                state.flow = Some(Flow::Get);
                Ok(true)
            }
            401 | 403 if !state.narrow && actions == ALL_ACTIONS => {
                state.narrow = true;
                Ok(true)
            }
            _ => Err(StoreError::Unauthorized(format!(
                "the token server refused the credentials (HTTP {status})"
            ))),
        }
    }

    /// Learns from a 401's challenges to a request sent to `uri`. `true`
    /// when sending again may now succeed (a new scheme, or a token to
    /// renew). Only the registry's own answers teach: a CDN or a redirect
    /// target naming a realm would steer the next token request (and the
    /// user's secrets) to a host of its choosing.
    pub fn challenged(
        &self,
        uri: &http::Uri,
        challenges: &[Challenge],
        method: &http::Method,
    ) -> bool {
        if matches!(self.credentials, Credentials::Bearer(_)) || !self.is_registry(uri) {
            return false; // a static token is all we have; or not the registry
        }
        let bearer = challenges
            .iter()
            .find(|c| c.scheme == "bearer" && c.param("realm").is_some());
        let mut state = self.state.borrow_mut();
        if let Some(c) = bearer {
            let endpoint = TokenEndpoint {
                realm: c.param("realm").unwrap_or_default().to_string(),
                service: c.param("service").map(str::to_string),
            };
            state.scheme = Scheme::Bearer(endpoint);
            let actions = if state.narrow {
                actions_for(method).to_string()
            } else {
                ALL_ACTIONS.to_string()
            };
            state.tokens.remove(&actions);
            return true;
        }
        if challenges.iter().any(|c| c.scheme == "basic")
            && matches!(self.credentials, Credentials::Basic { .. })
        {
            let first_time = !matches!(state.scheme, Scheme::Basic);
            state.scheme = Scheme::Basic;
            return first_time;
        }
        false
    }
}

/// Whether a 401's challenges say the credentials were fine but lacked a
/// right (RFC 6750 `insufficient_scope`): that is `denied`, not `unauthorized`.
pub fn is_insufficient_scope(challenges: &[Challenge]) -> bool {
    challenges
        .iter()
        .any(|c| c.param("error") == Some("insufficient_scope"))
}

#[cfg(test)]
mod tests;
