//! Registry requests, counted the same way for both plugins: from the
//! registry's own access log (distribution writes one line per request it
//! answered, `"METHOD URI HTTP/1.1" STATUS BYTES ...`, BYTES the response
//! body's length or `-`), between two marks. The bodies' bytes are what a
//! command read from the registry: over a shaped link, what crossed it
//! downstream, less HTTP heads. No
//! proxy of ours sits in the path on loopback; over the simulated link the
//! shaping proxy works on TCP and sends every request through unchanged.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Requests of one workload: the total and by method.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Requests {
    pub total: u64,
    pub by_method: BTreeMap<String, u64>,
    /// Bytes of the response bodies the registry sent.
    pub response_bytes: u64,
}

pub struct AccessLog {
    path: PathBuf,
}

impl AccessLog {
    pub fn new(path: &Path) -> AccessLog {
        AccessLog {
            path: path.to_path_buf(),
        }
    }

    /// Where the log ends now.
    pub fn mark(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// The requests logged since `mark`. The registry writes a request's
    /// line once its answer is sent, so a client can see the answer a
    /// moment before the line is written: wait until the log stops growing
    /// (outside the timing).
    pub fn since(&self, mark: u64) -> Requests {
        let mut len = self.mark();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(60));
            let now = self.mark();
            if now == len {
                break;
            }
            len = now;
        }
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.path) {
            let _ = file.seek(SeekFrom::Start(mark));
            let _ = file.take(len - mark.min(len)).read_to_string(&mut text);
        }
        count(&text)
    }
}

/// Counts access-log lines by method.
pub fn count(log: &str) -> Requests {
    let mut requests = Requests::default();
    for line in log.lines() {
        let Some((_, request)) = line.split_once("] \"") else {
            continue;
        };
        let Some((method, rest)) = request.split_once(' ') else {
            continue;
        };
        if !rest.contains(" HTTP/1.") || !method.chars().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        requests.total += 1;
        *requests.by_method.entry(method.to_string()).or_insert(0) += 1;
        // After the request's closing quote: ` STATUS BYTES ...`.
        requests.response_bytes += rest
            .split_once("\" ")
            .and_then(|(_, after)| after.split_whitespace().nth(1))
            .and_then(|bytes| bytes.parse::<u64>().ok())
            .unwrap_or(0);
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_access_log_lines_by_method_and_nothing_else() {
        let log = r#"time="2026-11-27T11:22:38Z" level=info msg="response completed" http.request.method=POST
127.0.0.1 - - [27/Nov/2026:11:22:38 +0000] "POST /v2/t/r/blobs/uploads/ HTTP/1.1" 202 0 "" "Go-http-client/1.1"
127.0.0.1 - - [27/Nov/2026:11:22:38 +0000] "PATCH /v2/t/r/blobs/uploads/x?_state=a HTTP/1.1" 202 0 "" "Go-http-client/1.1"
127.0.0.1 - - [27/Nov/2026:11:22:38 +0000] "GET /v2/t/r/blobs/sha256:ab HTTP/1.1" 206 4096 "" "kloset-oci"
127.0.0.1 - - [27/Nov/2026:11:22:39 +0000] "GET /v2/t/r/manifests/x HTTP/1.1" 200 500 "" "kloset-oci"
"#;
        let r = count(log);
        assert_eq!(r.total, 4);
        assert_eq!(r.by_method["GET"], 2);
        assert_eq!(r.by_method["POST"], 1);
        assert_eq!(r.by_method["PATCH"], 1);
        assert_eq!(r.response_bytes, 4096 + 500);
    }
}
