//! `password_file=PATH`: the password read from a file, so it need not be
//! on a command line, where every local user can read it in the process
//! list (`ps`, `/proc/*/cmdline`).

use std::path::Path;

use crate::local_file::{self, Rules};
use crate::{echo, ContractError, Error};

/// A regular file of at most 64 KiB (the longest secrets registries hand
/// out, identity tokens and cloud access tokens, are a few KiB), owned by
/// this user or root and private to its owner, as ssh asks of a key: a
/// password file others can read is a password they know, and one others
/// own may say whatever they like (`/etc/shadow`'s first line went out as
/// a password when this was not checked).
const RULES: Rules = Rules {
    cap: 64 << 10,
    private: true,
};

/// Reads the password from `path` and adds it to the component's options.
/// The file's first line is the password (a trailing `\n` or `\r\n`, as
/// `echo` and editors leave, is not part of it). The file must keep
/// [`RULES`]. Errors name the file, never what it holds.
pub fn add_password(path: &Path, guest: &mut Vec<(String, String)>) -> Result<(), Error> {
    if guest.iter().any(|(k, _)| k == "password") {
        return Err(Error::Contract(ContractError::InvalidConfig(
            "options 'password' and 'password_file' are both given".into(),
        )));
    }
    let bad = |why: String| {
        Error::Contract(ContractError::InvalidConfig(format!(
            "option 'password_file' ({}): {why}",
            echo::path(path)
        )))
    };
    let bytes = local_file::read(path, RULES).map_err(|problem| bad(problem.to_string()))?;
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
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn read(content: &[u8]) -> Result<Vec<(String, String)>, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
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

    /// One line naming the option, the file and what is wrong with it:
    /// never its content, never a read of what is not a small private file.
    #[test]
    fn only_a_small_private_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        let cases = [
            (0o644, "group or others may read or write it (mode 644)"),
            (0o660, "group or others may read or write it (mode 660)"),
        ];
        for (mode, why) in cases {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = add_password(&path, &mut Vec::new())
                .unwrap_err()
                .to_string();
            let want = format!(
                "invalid configuration: option 'password_file' ({0}): {why}; run: chmod 600 {0}",
                path.display()
            );
            assert_eq!(err, want);
        }
        let err = add_password(Path::new("/dev/zero"), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("option 'password_file' (/dev/zero): it is not a regular file (it is a character device)"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, vec![b'x'; (64 << 10) + 1]).unwrap();
        let err = add_password(&path, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("it is larger than 65536 bytes"), "{err}");
    }
}
