//! The `openssl` command, which makes the tests' keys and certificates.

use std::io;
use std::path::Path;
use std::process::Command;

/// Runs `openssl ARGS...` in `dir` (file names in `args` are relative to
/// it), panicking unless it succeeds; `who` names the caller in messages.
pub fn run(dir: &Path, args: &[&str], who: &str) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        // A user's OPENSSL_CONF would add its own default extensions.
        .env_remove("OPENSSL_CONF")
        .output()
        .unwrap_or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                panic!(
                    "{who}: the `openssl` command is not found: \
                     install Debian's openssl package (apt-get install -y openssl)"
                )
            }
            panic!("{who}: cannot run openssl: {e}")
        });
    if !output.status.success() {
        panic!(
            "{who}: `openssl {}` failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
