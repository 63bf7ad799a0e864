//! Credentials the way `docker login` left them: `config.json` in
//! `$DOCKER_CONFIG` or `~/.docker`, with `credHelpers[host]`, then
//! `credsStore`, then `auths[host]` (Docker's order), and credential helpers
//! run as `docker-credential-<name> get` with the server on stdin.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

/// Docker Hub's key in `auths` and for helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// A helper's username meaning "the secret is an identity token".
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// What was found for a registry. `username` `<token>` means `password` is
/// an identity (refresh) token, as Docker and the component agree.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({}, <redacted>)", self.username)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    #[error("cannot read Docker config {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("Docker config {path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("credential helper docker-credential-{helper}: {reason}")]
    Helper { helper: String, reason: String },
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Store options that carry credentials of the store's own.
const CREDENTIAL_OPTIONS: [&str; 3] = ["username", "password", "token"];

/// Adds the Docker login for the store's registry to the component's
/// configuration, when the store has no credentials of its own: none of the
/// credential options, none of the `OCI_REGISTRY_*` variables.
pub fn add_login(
    host: &crate::config::HostConfig,
    guest: &mut Vec<(String, String)>,
    environment_has_credentials: bool,
) -> Result<(), crate::StoreError> {
    let has_own = guest
        .iter()
        .any(|(k, _)| CREDENTIAL_OPTIONS.contains(&k.as_str()));
    let Some(registry) = &host.registry_authority else {
        return Ok(());
    };
    if has_own || environment_has_credentials {
        return Ok(());
    }
    let Some(dir) = host.docker_config.clone().or_else(default_dir) else {
        return Ok(());
    };
    let login =
        login_for(&dir, registry).map_err(|e| crate::StoreError::InvalidConfig(e.to_string()))?;
    if let Some(Login { username, password }) = login {
        guest.push(("username".into(), username));
        guest.push(("password".into(), password));
    }
    Ok(())
}

/// The directory holding `config.json`: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker"))
}

/// The login for `registry` (`host[:port]`), from the config in `dir`.
/// A missing config file means no login; a broken one is an error.
pub fn login_for(dir: &Path, registry: &str) -> Result<Option<Login>, DockerConfigError> {
    let path = dir.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DockerConfigError::Unreadable {
                path,
                reason: e.to_string(),
            })
        }
    };
    let config: ConfigFile =
        serde_json::from_slice(&text).map_err(|e| DockerConfigError::Malformed {
            path: path.clone(),
            reason: format!("not a Docker config ({e})"),
        })?;
    let key = auth_key(registry);
    let helper = config
        .cred_helpers
        .iter()
        .find(|(k, _)| same_registry(k, &key))
        .map(|(_, v)| v.clone())
        .or_else(|| config.creds_store.clone().filter(|s| !s.is_empty()));
    if let Some(helper) = helper {
        return run_helper(&helper, &key);
    }
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| same_registry(k, &key))
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    entry_login(entry).map_err(|reason| DockerConfigError::Malformed { path, reason })
}

/// The key Docker files a registry under: Docker Hub's legacy URL, else
/// the registry's `host[:port]`.
fn auth_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_ascii_lowercase(),
    }
}

/// Keys may be written `host`, `https://host` or `https://host/v1/`.
fn same_registry(key: &str, wanted: &str) -> bool {
    if key == wanted {
        return true;
    }
    let strip = |k: &str| {
        let k = k
            .strip_prefix("https://")
            .or_else(|| k.strip_prefix("http://"))
            .unwrap_or(k);
        k.split('/').next().unwrap_or(k).to_ascii_lowercase()
    };
    wanted != DOCKER_HUB_KEY && strip(key) == strip(wanted)
}

fn entry_login(entry: &AuthEntry) -> Result<Option<Login>, String> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Login {
            username: IDENTITY_TOKEN_USERNAME.into(),
            password: token.clone(),
        }));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| "an 'auth' entry is not base64".to_string())?;
        let text =
            String::from_utf8(decoded).map_err(|_| "an 'auth' entry is not text".to_string())?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| "an 'auth' entry is not user:password".to_string())?;
        return Ok(Some(Login {
            username: username.into(),
            password: password.into(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Login {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get`. "Not found" answers (exit status
/// 1 with `credentials not found` on stdout, as the helpers print it) mean
/// no login. Nothing a helper prints is ever put in an error.
fn run_helper(helper: &str, server: &str) -> Result<Option<Login>, DockerConfigError> {
    let fail = |reason: String| DockerConfigError::Helper {
        helper: helper.to_string(),
        reason,
    };
    if helper.is_empty()
        || !helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(fail("not a helper name".into()));
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may answer without reading its input (a "not found"
        // answer, say): then its exit status and output decide, not the
        // broken pipe.
        match stdin.write_all(server.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(fail(format!("cannot write to it: {e}"))),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if !output.status.success() {
        if String::from_utf8_lossy(&output.stdout)
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(fail(format!("it failed ({})", output.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| fail("its answer is not a credentials document".into()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Login {
        username: answer.username,
        password: answer.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir
    }

    #[test]
    fn auths_entries() {
        // "alice:pa:ss" in base64: a password may hold ':'.
        let dir = write_config(
            r#"{"auths":{
                "https://reg.example:5000/v1/":{"auth":"YWxpY2U6cGE6c3M="},
                "other.example":{"identitytoken":"refresh-me"},
                "https://index.docker.io/v1/":{"username":"hub","password":"hubpw"},
                "empty.example":{}
            }}"#,
        );
        let login = |r| login_for(dir.path(), r).unwrap();
        assert_eq!(
            login("reg.example:5000"),
            Some(Login {
                username: "alice".into(),
                password: "pa:ss".into()
            })
        );
        assert_eq!(
            login("OTHER.example"),
            Some(Login {
                username: "<token>".into(),
                password: "refresh-me".into()
            })
        );
        assert_eq!(
            login("docker.io"),
            Some(Login {
                username: "hub".into(),
                password: "hubpw".into()
            })
        );
        assert_eq!(
            login("reg.example"),
            None,
            "another port is another registry"
        );
        assert_eq!(login("empty.example"), None);
        assert_eq!(login("unknown.example"), None);
    }

    #[test]
    fn missing_or_broken_configs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            login_for(dir.path(), "r").unwrap().is_none(),
            "no config file: no login"
        );
        let broken = write_config("{not json");
        assert!(matches!(
            login_for(broken.path(), "r"),
            Err(DockerConfigError::Malformed { .. })
        ));
        let bad_auth = write_config(r#"{"auths":{"r":{"auth":"!!!"}}}"#);
        let err = login_for(bad_auth.path(), "r").unwrap_err().to_string();
        assert!(err.contains("base64") && !err.contains("!!!"), "{err}");
    }

    #[test]
    fn helpers_come_first_and_are_named_safely() {
        let dir = write_config(
            r#"{"credHelpers":{"r.example":"../../bin/sh"},"auths":{"r.example":{"auth":"dTpw"}}}"#,
        );
        assert!(matches!(
            login_for(dir.path(), "r.example"),
            Err(DockerConfigError::Helper { .. })
        ));
        let missing = write_config(
            r#"{"credsStore":"kloset-test-absent","auths":{"r.example":{"auth":"dTpw"}}}"#,
        );
        assert!(
            matches!(
                login_for(missing.path(), "r.example"),
                Err(DockerConfigError::Helper { .. })
            ),
            "credsStore wins over auths"
        );
    }

    #[test]
    fn logins_hide_their_secret() {
        let shown = format!(
            "{:?}",
            Login {
                username: "u".into(),
                password: "hunter2".into()
            }
        );
        assert!(!shown.contains("hunter2"));
    }
}
