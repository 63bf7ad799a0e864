//! Credentials the way `docker login` left them: `config.json` in
//! `$DOCKER_CONFIG` or `~/.docker`, with `credHelpers[host]`, then
//! `credsStore`, then `auths[host]` (Docker's order), and credential helpers
//! run as `docker-credential-<name> get` with the server on stdin.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use kloset_oci::config::options::name::{PASSWORD, USERNAME};
use kloset_oci::config::CREDENTIAL_OPTIONS;
use serde::Deserialize;

use crate::configure::helper::{run_helper, HelperLimits};
use crate::echo;
use crate::local_file::{self, Rules};
use crate::Error;

/// A regular file of at most 4 MiB: a config with a hundred logins is a
/// few tens of KiB; `/dev/zero` or a FIFO in its place fails at once.
/// Docker itself asks nothing of its mode, so neither does this.
const CONFIG_RULES: Rules = Rules {
    cap: 4 << 20,
    private: false,
};

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

/// Adds the Docker login for the store's registry to the component's
/// configuration, when the store has no credentials of its own: none of the
/// credential options, none of the `OCI_REGISTRY_*` variables.
pub fn add_login(
    host: &crate::configure::HostConfig,
    guest: &mut Vec<(String, String)>,
    environment_has_credentials: bool,
) -> Result<(), Error> {
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
    if let Some(Login { username, password }) = login_for(&dir, registry)? {
        guest.push((USERNAME.into(), username));
        guest.push((PASSWORD.into(), password));
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
/// A missing config file means no login; a broken one, or a helper that
/// fails, is `invalid-config` naming the file or the helper and what is
/// wrong ([`Error::docker_config_unreadable`] and its siblings).
pub fn login_for(dir: &Path, registry: &str) -> Result<Option<Login>, Error> {
    let path = dir.join("config.json");
    let text = match local_file::read(&path, CONFIG_RULES) {
        Ok(text) => text,
        Err(problem) if problem.is_not_found() => return Ok(None),
        Err(problem) => {
            return Err(Error::docker_config_unreadable(
                &echo::path(&path),
                &problem.to_string(),
            ))
        }
    };
    let config: ConfigFile = serde_json::from_slice(&text)
        .map_err(|e| Error::docker_config_malformed(&echo::path(&path), &json_error_reason(&e)))?;
    let key = auth_key(registry);
    let helper = best_match(&config.cred_helpers, &key)
        .cloned()
        .or_else(|| config.creds_store.clone().filter(|s| !s.is_empty()));
    if let Some(helper) = helper {
        return run_helper(&helper, &key, &HelperLimits::default());
    }
    let Some(entry) = best_match(&config.auths, &key) else {
        return Ok(None);
    };
    entry_login(entry).map_err(|reason| Error::docker_config_malformed(&echo::path(&path), &reason))
}

/// The key Docker files a registry under: Docker Hub's legacy URL, else
/// the registry's `host[:port]`.
fn auth_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_ascii_lowercase(),
    }
}

/// The entry of `map` for the registry filed as `wanted`. Keys may be
/// written `host`, `https://host`, `http://host` or with a path
/// (`https://host/v1/`); when several name the registry, the first of this
/// order wins, whatever order the file lists them in: the exact key, then
/// `https://host`, `http://host`, `https://host/<path>`, `http://host/<path>`,
/// `host/<path>`, and among keys of one form the lowest in byte order.
fn best_match<'a, V>(map: &'a HashMap<String, V>, wanted: &str) -> Option<&'a V> {
    map.iter()
        .filter_map(|(key, value)| match_rank(key, wanted).map(|rank| (rank, key, value)))
        .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
        .map(|(_, _, value)| value)
}

/// How closely `key` names the registry filed as `wanted`; `None`: not at all.
fn match_rank(key: &str, wanted: &str) -> Option<u8> {
    if key == wanted {
        return Some(0);
    }
    if wanted == DOCKER_HUB_KEY {
        return None;
    }
    let (scheme_rank, rest) = match (key.strip_prefix("https://"), key.strip_prefix("http://")) {
        (Some(rest), _) => (1, rest),
        (None, Some(rest)) => (2, rest),
        (None, None) => (3, key),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !host.eq_ignore_ascii_case(wanted) {
        return None;
    }
    Some(match (scheme_rank, path.is_empty()) {
        (3, true) => 0, // `HOST` in another case
        (rank, true) => rank,
        (rank, false) => rank + 2,
    })
}

/// Where a `config.json` fails to parse, never what it holds there:
/// serde_json's messages quote the values they trip on, and the file holds
/// passwords.
fn json_error_reason(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Io => "cannot be read",
        Category::Syntax => "is not JSON",
        Category::Data => "is not a Docker config (a value of the wrong type)",
        Category::Eof => "ends too early",
    };
    format!("{what}, at line {} column {}", err.line(), err.column())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir
    }

    /// The message of the `invalid-config` a broken login source must be
    /// (what a caller of the handle gets), failing on anything else.
    fn invalid_config(result: Result<Option<Login>, Error>) -> String {
        match result {
            Err(Error::Contract(crate::ContractError::InvalidConfig(message))) => message,
            other => panic!("expected invalid-config, got {other:?}"),
        }
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
        assert_eq!(
            invalid_config(login_for(broken.path(), "r")),
            format!(
                "Docker config {}: is not JSON, at line 1 column 2",
                broken.path().join("config.json").display()
            )
        );
        let bad_auth = write_config(r#"{"auths":{"r":{"auth":"!!!"}}}"#);
        assert_eq!(
            invalid_config(login_for(bad_auth.path(), "r")),
            format!(
                "Docker config {}: an 'auth' entry is not base64",
                bad_auth.path().join("config.json").display()
            ),
            "names the file and the fault, never the entry"
        );
    }

    /// A `config.json` that is a FIFO or a device is refused at once (it
    /// used to block forever, or grow memory without bound), in one line.
    #[test]
    fn a_config_that_is_not_a_regular_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("config.json");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let (done, result) = std::sync::mpsc::channel();
        let at = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let _ = done.send(login_for(&at, "r").map_err(|e| e.to_string()));
        });
        let err = result
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a FIFO config did not block")
            .unwrap_err();
        assert_eq!(
            err,
            format!(
                "invalid configuration: cannot read Docker config {}: \
                 it is not a regular file (it is a FIFO)",
                fifo.display()
            )
        );
        let devices = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", devices.path().join("config.json")).unwrap();
        let err = invalid_config(login_for(devices.path(), "r"));
        assert!(err.ends_with("(it is a character device)"), "{err}");
    }

    #[test]
    fn helpers_come_first_and_are_named_safely() {
        let dir = write_config(
            r#"{"credHelpers":{"r.example":"../../bin/sh"},"auths":{"r.example":{"auth":"dTpw"}}}"#,
        );
        assert_eq!(
            invalid_config(login_for(dir.path(), "r.example")),
            "credential helper docker-credential-../../bin/sh: not a helper name"
        );
        let missing = write_config(
            r#"{"credsStore":"kloset-test-absent","auths":{"r.example":{"auth":"dTpw"}}}"#,
        );
        assert_eq!(
            invalid_config(login_for(missing.path(), "r.example")),
            "credential helper docker-credential-kloset-test-absent: \
             it is not in any absolute directory of PATH",
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

    #[test]
    fn parse_errors_never_quote_the_file() {
        for text in [
            r#"{"auths":{"r":{"auth":"c2VjcmV0"}}, "credsStore": ["hunter2-secret"]}"#,
            r#"{"auths":"hunter2-secret"}"#,
            r#"{"auths":{"r":{"password":"hunter2-secret","auth":7}}}"#,
            r#"{"auths":{"r":{"password":"hunter2-secret"}} trailing"#,
            r#"{"auths":{"r":{"password":"hunter2-secret"#,
        ] {
            let dir = write_config(text);
            let err = login_for(dir.path(), "r").unwrap_err();
            let shown = format!("{err} {err:?}");
            let file = dir.path().join("config.json");
            let message = invalid_config(Err(err));
            assert!(
                message.starts_with(&format!("Docker config {}: ", file.display())),
                "{shown}"
            );
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("line 1 column"), "{shown}");
        }
    }

    #[test]
    fn several_matching_keys_give_the_same_winner_every_time() {
        // Each parse fills a HashMap with its own random order.
        let auth =
            |who: &str| base64::engine::general_purpose::STANDARD.encode(format!("{who}:pw"));
        let keys = [
            ("r.example/v1/", "bare-path"),
            ("http://r.example/v1/", "http-path"),
            ("https://r.example/v1/", "https-path"),
            ("http://r.example", "http"),
            ("https://r.example", "https"),
            ("r.example", "exact"),
        ];
        // The first n keys, least preferred first: the n-th wins.
        for n in 1..=keys.len() {
            let entries: serde_json::Map<String, serde_json::Value> = keys[..n]
                .iter()
                .map(|(k, who)| (k.to_string(), serde_json::json!({ "auth": auth(who) })))
                .collect();
            let text = serde_json::json!({ "auths": entries }).to_string();
            let dir = write_config(&text);
            let want = keys[n - 1].1;
            for _ in 0..30 {
                let login = login_for(dir.path(), "r.example").unwrap().unwrap();
                assert_eq!(login.username, want, "keys {:?}", &keys[..n]);
            }
        }
        // Reversed preference: with only the path forms, https comes first.
        let text = serde_json::json!({ "auths": {
            "r.example/v1/": { "auth": auth("bare-path") },
            "https://r.example/v2/": { "auth": auth("https-v2") },
            "https://r.example/v1/": { "auth": auth("https-v1") },
        }})
        .to_string();
        let dir = write_config(&text);
        for _ in 0..30 {
            assert_eq!(
                login_for(dir.path(), "r.example")
                    .unwrap()
                    .unwrap()
                    .username,
                "https-v1"
            );
        }
    }
}
