//! What the store logs in with. Secrets never appear in `Debug` output or in
//! errors.

use crate::error::StoreError;
use base64::Engine as _;
use std::fmt;

/// Docker's convention for identity tokens: a credential whose username is
/// `<token>` carries an OAuth2 refresh token as its password.
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (Docker's "identity token").
    IdentityToken(String),
    /// A bearer token sent as it is (option `token`).
    Bearer(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    /// From the `username`, `password` and `token` settings.
    pub fn from_settings(
        username: Option<&str>,
        password: Option<&str>,
        token: Option<&str>,
    ) -> Result<Credentials, StoreError> {
        let invalid = |m: &str| Err(StoreError::InvalidConfig(m.to_string()));
        match (username, password, token) {
            (None, None, None) => Ok(Credentials::Anonymous),
            (None, None, Some(t)) if !t.is_empty() => Ok(Credentials::Bearer(t.to_string())),
            (None, None, Some(_)) => invalid("'token' is empty"),
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                invalid("give either 'token' or 'username' and 'password', not both")
            }
            (Some(IDENTITY_TOKEN_USERNAME), Some(p), None) if !p.is_empty() => {
                Ok(Credentials::IdentityToken(p.to_string()))
            }
            (Some(u), Some(p), None) if !u.is_empty() => Ok(Credentials::Basic {
                username: u.to_string(),
                password: p.to_string(),
            }),
            (Some(_), None, None) => invalid("'username' is given without 'password'"),
            (None, Some(_), None) => invalid("'password' is given without 'username'"),
            (Some(_), Some(_), None) => invalid("'username' is empty"),
        }
    }

    /// `Authorization: Basic ...` for username/password credentials.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => {
                let raw = format!("{username}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        assert_eq!(
            Credentials::from_settings(None, None, None).unwrap(),
            Credentials::Anonymous
        );
        assert_eq!(
            Credentials::from_settings(Some("u"), Some("p"), None).unwrap(),
            Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            Credentials::from_settings(Some("<token>"), Some("r"), None).unwrap(),
            Credentials::IdentityToken("r".into())
        );
        assert_eq!(
            Credentials::from_settings(None, None, Some("t")).unwrap(),
            Credentials::Bearer("t".into())
        );
        for (u, p, t) in [
            (Some("u"), None, None),
            (None, Some("p"), None),
            (Some("u"), Some("p"), Some("t")),
            (None, None, Some("")),
            (Some(""), Some("p"), None),
        ] {
            assert!(
                matches!(
                    Credentials::from_settings(u, p, t),
                    Err(StoreError::InvalidConfig(_))
                ),
                "{u:?} {p:?} {t:?}"
            );
        }
    }

    #[test]
    fn basic_header_and_redaction() {
        let c = Credentials::Basic {
            username: "alice".into(),
            password: "s3cret".into(),
        };
        assert_eq!(c.basic_header().unwrap(), "Basic YWxpY2U6czNjcmV0");
        let shown = format!(
            "{c:?} {:?} {:?}",
            Credentials::Bearer("s3cret".into()),
            Credentials::IdentityToken("s3cret".into())
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("alice"));
    }
}
