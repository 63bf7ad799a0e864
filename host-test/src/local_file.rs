//! Reading the small local files options name (`password_file`,
//! `tls_ca_file`, Docker's `config.json`): a regular file, at most a cap
//! of bytes, and for a secret one only its owner can read.
//!
//! `std::fs::read` reads whatever a path names: `/dev/zero` until memory
//! runs out, a FIFO never (its `open` waits for a writer). So the file is
//! opened without waiting (`O_NONBLOCK`, which changes nothing for a
//! regular file), and its type, owner and mode are judged from the opened
//! file (`fstat`), not the path, so nothing can be swapped in between the
//! check and the read. A problem is said in words; the content never.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// What a file must be to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Bytes read at most; a larger file is refused.
    pub cap: u64,
    /// A secret: owned by this user or root, no group or other bits
    /// (what ssh asks of a private key).
    pub private: bool,
}

/// Why a file named by an option was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileProblem {
    #[error("cannot read it: {0}")]
    Io(io::ErrorKind),
    #[error("it is not a regular file (it is {0})")]
    NotRegular(&'static str),
    #[error("it is larger than {cap} bytes")]
    TooLarge { cap: u64 },
    #[error("it belongs to user {owner}, not to this user ({me}) or root")]
    Owner { owner: u32, me: u32 },
    #[error("group or others may read or write it (mode {mode:03o}); run: chmod 600 {path}")]
    Exposed { mode: u32, path: String },
}

impl FileProblem {
    /// Whether the file is not there at all.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileProblem::Io(io::ErrorKind::NotFound))
    }
}

/// The bytes of the file at `path`, if it keeps `rules`.
pub(crate) fn read(path: &Path, rules: Rules) -> Result<Vec<u8>, FileProblem> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| FileProblem::Io(e.kind()))?;
    let meta = file.metadata().map_err(|e| FileProblem::Io(e.kind()))?;
    check(&meta, path, rules)?;
    if meta.len() > rules.cap {
        return Err(FileProblem::TooLarge { cap: rules.cap });
    }
    read_capped(file, rules.cap)
}

/// Judges an opened file's metadata against `rules`.
fn check(meta: &Metadata, path: &Path, rules: Rules) -> Result<(), FileProblem> {
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(FileProblem::NotRegular(match () {
            () if kind.is_dir() => "a directory",
            () if kind.is_fifo() => "a FIFO",
            () if kind.is_char_device() => "a character device",
            () if kind.is_block_device() => "a block device",
            () if kind.is_socket() => "a socket",
            () => "not a file",
        }));
    }
    if rules.private {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && meta.uid() != 0 {
            return Err(FileProblem::Owner {
                owner: meta.uid(),
                me,
            });
        }
        if meta.mode() & 0o077 != 0 {
            return Err(FileProblem::Exposed {
                mode: meta.mode() & 0o777,
                path: crate::echo::path(path),
            });
        }
    }
    Ok(())
}

/// At most `cap` bytes of `file`; more is [`FileProblem::TooLarge`] (a
/// file may grow after its size was looked at).
fn read_capped(file: File, cap: u64) -> Result<Vec<u8>, FileProblem> {
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileProblem::Io(e.kind()))?;
    if bytes.len() as u64 > cap {
        return Err(FileProblem::TooLarge { cap });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};

    use super::*;

    const PLAIN: Rules = Rules {
        cap: 1 << 20,
        private: false,
    };
    const SECRET: Rules = Rules {
        cap: 1 << 16,
        private: true,
    };

    fn file(dir: &Path, mode: u32, content: &[u8]) -> std::path::PathBuf {
        let path = dir.join("f");
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_regular_file_within_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), 0o600, b"s3cret\n");
        assert_eq!(read(&path, SECRET).unwrap(), b"s3cret\n");
        assert_eq!(read(&path, PLAIN).unwrap(), b"s3cret\n");
    }

    #[test]
    fn an_endless_device_is_refused_at_once() {
        let started = Instant::now();
        let err = read(Path::new("/dev/zero"), PLAIN).unwrap_err();
        assert!(
            matches!(err, FileProblem::NotRegular("a character device")),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(read(&fifo, SECRET).map_err(|e| e.to_string()));
        });
        let err = result
            .recv_timeout(Duration::from_secs(5))
            .expect("reading a FIFO returned")
            .unwrap_err();
        assert_eq!(err, "it is not a regular file (it is a FIFO)");
    }

    #[test]
    fn a_directory_and_a_file_over_the_cap_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path(), PLAIN).unwrap_err();
        assert!(
            matches!(err, FileProblem::NotRegular("a directory")),
            "{err}"
        );
        let path = file(dir.path(), 0o600, &[b'x'; 11]);
        let small = Rules {
            cap: 10,
            private: true,
        };
        let err = read(&path, small).unwrap_err();
        assert_eq!(err.to_string(), "it is larger than 10 bytes");
    }

    #[test]
    fn a_secret_others_may_read_or_write_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666] {
            let path = file(dir.path(), mode, b"s3cret");
            let err = read(&path, SECRET).unwrap_err().to_string();
            assert!(err.contains(&format!("mode {mode:03o}")), "{err}");
            assert!(
                err.ends_with(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
            assert!(!err.contains("s3cret"), "{err}");
            // Not a secret: any mode is read.
            assert!(read(&path, PLAIN).is_ok(), "{mode:o}");
        }
        for mode in [0o600, 0o400] {
            let path = file(dir.path(), mode, b"s3cret");
            assert!(read(&path, SECRET).is_ok(), "{mode:o}");
        }
    }

    #[test]
    fn a_secret_of_another_user_is_refused() {
        // SAFETY: no preconditions.
        let me = unsafe { libc::geteuid() };
        if me != 0 {
            // Only root can give a file away; as another user, a file of
            // root's is allowed and one of a third user cannot be made.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), 0o600, b"s3cret");
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let err = read(&path, SECRET).unwrap_err().to_string();
        assert_eq!(
            err,
            "it belongs to user 65534, not to this user (0) or root"
        );
        assert!(read(&path, PLAIN).is_ok());
    }

    #[test]
    fn a_missing_file_is_told_apart() {
        let err = read(Path::new("/nonexistent/f"), PLAIN).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
