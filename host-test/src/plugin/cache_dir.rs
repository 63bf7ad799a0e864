//! Whether a cache directory may be trusted with compiled code.
//!
//! A compiled component is machine code the host maps and runs: whoever
//! can write the cache can run code as the user. So a cache directory must
//! belong to the user (or be made by the host, `0700`) and be writable by
//! nobody else; otherwise the host compiles without caching and says so on
//! stderr, once per process.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;
use std::sync::Once;

/// Whether `dir` may hold compiled code; creates it (`0700`) if missing.
pub fn trusted(dir: &Path) -> bool {
    match check(dir) {
        Ok(()) => true,
        Err(why) => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                eprintln!(
                    "kloset-host: warning: not caching compiled code in {}: {why}",
                    dir.display()
                );
            });
            false
        }
    }
}

/// Why `dir` cannot be trusted, if it cannot.
pub fn check(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it ({e})"))?;
    }
    // Not followed: a link's target is judged by what it points to, and a
    // link itself could be swapped; a cache dir is a plain directory.
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("cannot inspect it ({e})"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("it belongs to user {}, not to {me}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "others can write it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
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
