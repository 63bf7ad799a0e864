//! The OCI clients a user would point at a repository: oras, regctl and
//! crane (`.tools/bin`, from scripts/setup-go-tools) and skopeo (Debian).
//! Each runs with a HOME of its own (no login, no config of the machine's
//! user), against plain-HTTP loopback registries; a missing tool or a failed
//! command panics with the tool's stderr.

use crate::registry::tool_binary;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Oras,
    Regctl,
    Crane,
    Skopeo,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Oras => "oras",
            Tool::Regctl => "regctl",
            Tool::Crane => "crane",
            Tool::Skopeo => "skopeo",
        }
    }

    fn binary(self) -> OsString {
        match self {
            Tool::Oras => tool_binary("KLOSET_TEST_ORAS_BIN", "oras", "scripts/setup-go-tools"),
            Tool::Regctl => {
                tool_binary("KLOSET_TEST_REGCTL_BIN", "regctl", "scripts/setup-go-tools")
            }
            Tool::Crane => tool_binary("KLOSET_TEST_CRANE_BIN", "crane", "scripts/setup-go-tools"),
            Tool::Skopeo => OsString::from("skopeo"),
        }
    }
}

/// Runs one tool, isolated in its own HOME.
pub struct Client {
    pub tool: Tool,
    home: TempDir,
}

impl Client {
    pub fn new(tool: Tool) -> Client {
        let home = tempfile::Builder::new()
            .prefix(&format!("kloset-{}-home-", tool.name()))
            .tempdir()
            .expect("a temporary HOME");
        Client { tool, home }
    }

    /// Runs the tool with `args` (after the plain-HTTP flags regctl needs for
    /// `hosts`), returns its stdout; panics with its stderr on failure.
    pub fn run(&self, hosts: &[&str], args: &[&str]) -> Vec<u8> {
        self.try_run(hosts, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Client::run`], returning the failure as a message.
    pub fn try_run(&self, hosts: &[&str], args: &[&str]) -> Result<Vec<u8>, String> {
        let mut command = Command::new(self.tool.binary());
        if self.tool == Tool::Regctl {
            // regctl speaks plain HTTP to a host only when told so per host.
            for host in hosts {
                command
                    .arg("--host")
                    .arg(format!("reg={host},tls=disabled"));
            }
        }
        command
            .args(args)
            .env("HOME", self.home.path())
            .env("DOCKER_CONFIG", self.home.path().join(".docker"))
            .env("XDG_RUNTIME_DIR", self.home.path())
            .env("REGISTRY_AUTH_FILE", self.home.path().join("auth.json"))
            .stdin(Stdio::null());
        let output = command.output().unwrap_or_else(|e| {
            panic!(
                "cannot run {} (install it: scripts/setup-go-tools, or Debian's skopeo): {e}",
                self.tool.name()
            )
        });
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(format!(
                "{} {} failed ({}):\n{}",
                self.tool.name(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            ))
        }
    }

    /// Every tag of `host/repo`, as the tool lists them.
    pub fn list_tags(&self, host: &str, repo: &str) -> Vec<String> {
        let target = format!("{host}/{repo}");
        let out = match self.tool {
            Tool::Oras => self.run(&[], &["repo", "tags", "--plain-http", &target]),
            Tool::Regctl => self.run(&[host], &["tag", "ls", &target]),
            Tool::Crane => self.run(&[], &["ls", &target]),
            Tool::Skopeo => {
                let json = self.run(
                    &[],
                    &[
                        "list-tags",
                        "--tls-verify=false",
                        "--no-creds",
                        &format!("docker://{target}"),
                    ],
                );
                let value: serde_json::Value =
                    serde_json::from_slice(&json).expect("skopeo list-tags prints JSON");
                return value["Tags"]
                    .as_array()
                    .expect("a Tags array")
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
            }
        };
        String::from_utf8(out)
            .expect("tags are UTF-8")
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The raw manifest at `host/repo:tag`, byte for byte as served.
    pub fn manifest(&self, host: &str, repo: &str, tag: &str) -> Vec<u8> {
        let reference = format!("{host}/{repo}:{tag}");
        match self.tool {
            Tool::Oras => self.run(&[], &["manifest", "fetch", "--plain-http", &reference]),
            Tool::Regctl => self.run(
                &[host],
                &["manifest", "get", "--format", "raw-body", &reference],
            ),
            Tool::Crane => self.run(&[], &["manifest", &reference]),
            Tool::Skopeo => self.run(
                &[],
                &[
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    "--no-creds",
                    &format!("docker://{reference}"),
                ],
            ),
        }
    }

    /// The blob `digest` of `host/repo`, written to `out`. skopeo has no blob
    /// command: it copies the tagged artifact into an OCI layout and the blob
    /// is read from there (so `tag` must name a manifest holding it).
    pub fn blob(&self, host: &str, repo: &str, tag: &str, digest: &str, out: &Path) {
        let by_digest = format!("{host}/{repo}@{digest}");
        let bytes = match self.tool {
            Tool::Oras => {
                let out = out.to_str().unwrap();
                self.run(
                    &[],
                    &["blob", "fetch", "--plain-http", "--output", out, &by_digest],
                );
                return;
            }
            Tool::Regctl => self.run(&[host], &["blob", "get", &format!("{host}/{repo}"), digest]),
            Tool::Crane => self.run(&[], &["blob", &by_digest]),
            Tool::Skopeo => {
                let layout = self.home.path().join("layout");
                let _ = std::fs::remove_dir_all(&layout);
                self.run(
                    &[],
                    &[
                        "copy",
                        "--quiet",
                        "--src-tls-verify=false",
                        "--src-no-creds",
                        "--preserve-digests",
                        &format!("docker://{host}/{repo}:{tag}"),
                        &format!("oci:{}", layout.display()),
                    ],
                );
                let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
                std::fs::rename(layout.join("blobs/sha256").join(hex), out)
                    .expect("skopeo's OCI layout holds the blob");
                return;
            }
        };
        std::fs::write(out, bytes).expect("write the blob");
    }

    /// Copies every tag of `repo` on `source` to a fresh repository on
    /// `target` with [`Client::copy_repository`] (`tags`: the source's),
    /// says on stderr what it ran and how long it took, and returns the
    /// copy's repository; panics saying why a copy failed.
    pub fn copy_whole(
        &self,
        source: &crate::Registry,
        repo: &str,
        target: &crate::Registry,
        tags: &[String],
    ) -> String {
        let to = crate::unique_repo("copy");
        let started = std::time::Instant::now();
        let copied = self
            .copy_repository(&source.authority(), repo, &target.authority(), &to, tags)
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{}: copied {} tags in {:?} ({})",
            self.tool.name(),
            tags.len(),
            started.elapsed(),
            self.copy_command()
        );
        copied
    }

    /// Copies every tag of `from_host/from_repo` to `to_host/to_repo` the
    /// way the tool copies a whole repository (`tags`: the source's tags, for
    /// oras, which copies one reference at a time). Returns the copy's repo:
    /// skopeo sync names it after the source (under `to_repo` as namespace).
    pub fn copy_repository(
        &self,
        from_host: &str,
        from_repo: &str,
        to_host: &str,
        to_repo: &str,
        tags: &[String],
    ) -> Result<String, String> {
        let from = format!("{from_host}/{from_repo}");
        let to = format!("{to_host}/{to_repo}");
        match self.tool {
            Tool::Regctl => self
                .try_run(&[from_host, to_host], &["repo", "copy", &from, &to])
                .map(|_| to_repo.to_string()),
            Tool::Crane => self
                .try_run(&[], &["copy", "--all-tags", &from, &to])
                .map(|_| to_repo.to_string()),
            Tool::Skopeo => {
                self.try_run(
                    &[],
                    &[
                        "sync",
                        "--src",
                        "docker",
                        "--dest",
                        "docker",
                        "--src-tls-verify=false",
                        "--dest-tls-verify=false",
                        "--src-no-creds",
                        "--dest-no-creds",
                        "--preserve-digests",
                        "--all",
                        &from,
                        &to,
                    ],
                )?;
                let last = from_repo.rsplit('/').next().unwrap();
                Ok(format!("{to_repo}/{last}"))
            }
            Tool::Oras => {
                for tag in tags {
                    self.try_run(
                        &[],
                        &[
                            "cp",
                            "--from-plain-http",
                            "--to-plain-http",
                            &format!("{from}:{tag}"),
                            &format!("{to}:{tag}"),
                        ],
                    )?;
                }
                Ok(to_repo.to_string())
            }
        }
    }

    /// The command line [`Client::copy_repository`] runs, for docs/registries.md.
    pub fn copy_command(&self) -> &'static str {
        match self.tool {
            Tool::Regctl => "regctl --host reg=SRC,tls=disabled --host reg=DST,tls=disabled repo copy SRC/REPO DST/REPO",
            Tool::Crane => "crane copy --all-tags SRC/REPO DST/REPO",
            Tool::Skopeo => "skopeo sync --src docker --dest docker --src-tls-verify=false --dest-tls-verify=false --preserve-digests --all SRC/REPO DST/NS",
            Tool::Oras => "oras cp --from-plain-http --to-plain-http SRC/REPO:TAG DST/REPO:TAG  (per tag)",
        }
    }
}
