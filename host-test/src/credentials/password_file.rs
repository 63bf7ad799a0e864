//! `password_file=PATH`: the password read from a file, so it need not be
//! on a command line, where every local user can read it in the process
//! list (`ps`, `/proc/*/cmdline`).

use std::path::Path;

use crate::{ContractError, StoreError};

/// Reads the password from `path` and adds it to the component's options.
/// The file's first line is the password (a trailing `\n` or `\r\n`, as
/// `echo` and editors leave, is not part of it). Errors name the file,
/// never what it holds.
pub fn add_password(path: &Path, guest: &mut Vec<(String, String)>) -> Result<(), StoreError> {
    if guest.iter().any(|(k, _)| k == "password") {
        return Err(StoreError::Contract(ContractError::InvalidConfig(
            "options 'password' and 'password_file' are both given".into(),
        )));
    }
    let bad = |why: String| {
        StoreError::Contract(ContractError::InvalidConfig(format!(
            "option 'password_file' ({}): {why}",
            path.display()
        )))
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {}", e.kind())))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let password = text.lines().next().unwrap_or_default();
    if password.is_empty() {
        return Err(bad("its first line is empty".into()));
    }
    guest.push(("password".into(), password.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content: &[u8]) -> Result<Vec<(String, String)>, StoreError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, content).unwrap();
        let mut guest = vec![("username".to_string(), "u".to_string())];
        add_password(&path, &mut guest).map(|()| guest)
    }

    #[test]
    fn the_first_line_is_the_password() {
        for content in [
            &b"s3cret"[..],
            b"s3cret\n",
            b"s3cret\r\n",
            b"s3cret\nignored",
        ] {
            let guest = read(content).unwrap();
            assert_eq!(
                guest[1],
                ("password".into(), "s3cret".into()),
                "{content:?}"
            );
        }
    }

    #[test]
    fn problems_name_the_file_not_its_content() {
        for content in [&b""[..], b"\nhunter2", b"\xffhunter2"] {
            let err = read(content).unwrap_err().to_string();
            assert!(
                err.contains("password_file") && !err.contains("hunter2"),
                "{err}"
            );
        }
        let mut guest = Vec::new();
        let err = add_password(Path::new("/nonexistent/pw"), &mut guest).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/pw"), "{err}");
    }

    #[test]
    fn password_and_password_file_do_not_mix() {
        let mut guest = vec![("password".to_string(), "x".to_string())];
        let err = add_password(Path::new("/dev/null"), &mut guest).unwrap_err();
        assert!(err.to_string().contains("both"), "{err}");
    }
}
