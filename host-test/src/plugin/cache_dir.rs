//! Whether a cache directory may be trusted with compiled code.
//!
//! A compiled component is machine code the host maps and runs: whoever
//! can write the cache can run code as the user. So a cache directory must
//! belong to the user (or be made by the host, `0700`) and be writable by
//! nobody else; otherwise the host compiles without caching and says so on
//! stderr, once per process.

use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;
use std::sync::Once;

use rustix::fs::{Mode, OFlags};

/// `dir`, opened, if it may hold compiled code; creates it (`0700`) if
/// missing. Entries are opened relative to it ([`open_entry`]), so what
/// was checked is what they are read from.
pub fn trusted(dir: &Path) -> Option<OwnedFd> {
    match open(dir) {
        Ok(fd) => Some(fd),
        Err(why) => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                eprintln!(
                    "kloset-host: warning: not caching compiled code in {}: {why}",
                    crate::echo::path(dir)
                );
            });
            None
        }
    }
}

/// Why `dir` cannot be trusted, if it cannot.
#[cfg(test)]
fn check(dir: &Path) -> Result<(), String> {
    open(dir).map(drop)
}

/// Opens `dir` and judges what was opened (also for the host's blob
/// maps, `crate::plugin::blob_map`, which warn in their own words).
pub fn open(dir: &Path) -> Result<OwnedFd, String> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it ({e})"))?;
    }
    // Not followed: a link's target is judged by what it points to, and a
    // link itself could be swapped; a cache dir is a plain directory.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => "it is not a directory".to_string(),
        e => format!("cannot open it ({e})"),
    })?;
    let meta = File::from(
        fd.try_clone()
            .map_err(|e| format!("cannot open it ({e})"))?,
    )
    .metadata()
    .map_err(|e| format!("cannot inspect it ({e})"))?;
    let me = euid();
    if meta.uid() != me {
        return Err(format!("it belongs to user {}, not to {me}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "others can write it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(fd)
}

/// The entry `name` of the trusted directory `dir`, opened there (a link
/// is not followed), if it is safe to load: a regular file of this user's
/// that nobody else may write, with no other name. A planted entry (another
/// user's, one others may write, a hard link to a file elsewhere) is
/// `None`: recompiled and replaced, never loaded. The digest inside an
/// entry cannot tell, as whoever writes an entry writes its digest too.
pub fn open_entry(dir: &OwnedFd, name: &str) -> Option<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let file = File::from(rustix::fs::openat(dir, name, flags, Mode::empty()).ok()?);
    let meta = file.metadata().ok()?;
    let safe =
        meta.is_file() && meta.uid() == euid() && meta.mode() & 0o022 == 0 && meta.nlink() == 1;
    safe.then_some(file)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_private_directory_is_trusted_and_one_others_can_write_is_not() {
        let root = tempfile::tempdir().unwrap();
        let made = root.path().join("a/b");
        assert_eq!(check(&made), Ok(()));
        assert_eq!(fs::metadata(&made).unwrap().mode() & 0o777, 0o700);
        for mode in [0o777, 0o775, 0o757] {
            fs::set_permissions(&made, fs::Permissions::from_mode(mode)).unwrap();
            let why = check(&made).unwrap_err();
            assert!(why.contains("others can write"), "{mode:o}: {why}");
        }
    }

    #[test]
    fn a_directory_of_another_user_is_not_trusted() {
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            // Only root can give a directory away; the mode test above
            // covers the rest everywhere.
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("theirs");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
        let why = check(&dir).unwrap_err();
        assert!(why.contains("belongs to user 65534"), "{why}");
    }

    #[test]
    fn a_link_is_not_a_cache_directory() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(check(&link).is_err());
    }
}
