//! The component as a plugin travels: `kloset-host publish` pushes it to a
//! real registry in the CNCF Wasm OCI artifact layout, `--component
//! REFERENCE` pulls it (verified, cached by digest; a reference pinned by
//! digest never downloads again), and `wkg oci` (crate `wkg`) and oras
//! interoperate both ways (regctl pulls too). The registries are real `docker-registry` processes; the
//! tampering one is the fault proxy in front of one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cli_binary;
use kloset_testkit::component::component_file;
use kloset_testkit::faults::{Fault, FaultProxy};
use kloset_testkit::{unique_repo, Registry, RegistryAuth, RegistryOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// `kloset-host` with its own component cache and an empty HOME (no Docker
/// logins), as a user on a fresh machine.
struct Host {
    cache: TempDir,
    home: TempDir,
}

impl Host {
    fn new() -> Host {
        Host {
            cache: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(cli_binary())
            .args(args)
            .env("KLOSET_HOST_CACHE", self.cache.path())
            .env("HOME", self.home.path())
            .env_remove("DOCKER_CONFIG")
            .env_remove("KLOSET_COMPONENT")
            .env_remove("OCI_REGISTRY_USERNAME")
            .env_remove("OCI_REGISTRY_PASSWORD")
            .env_remove("OCI_REGISTRY_TOKEN")
            .output()
            .expect("run kloset-host")
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kloset-host {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("text output")
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "kloset-host {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn publish(&self, reference: &str, extra: &[&str]) -> String {
        let component = component_file();
        let mut args = vec![
            "--component",
            component.to_str().unwrap(),
            "publish",
            reference,
            "-o",
            "use_tls=false",
        ];
        args.extend_from_slice(extra);
        let pinned = self.ok(&args).trim().to_string();
        assert!(
            pinned.starts_with(&format!("{reference}@sha256:")),
            "{pinned}"
        );
        pinned
    }

    /// Creates a store at `location` with the component pulled from
    /// `component`, puts an object and reads it back.
    fn use_store(&self, component: &str, location: &str, extra: &[&str]) {
        let mac = "ab".repeat(32);
        let mut base = vec![
            "--component",
            component,
            "--component-option",
            "use_tls=false",
            "--store",
            location,
            "-o",
            "use_tls=false",
        ];
        base.extend_from_slice(extra);
        let input = self.cache.path().join("object");
        std::fs::write(&input, b"an object through a pulled plugin").unwrap();
        let input = input.to_str().unwrap();
        self.ok(&[base.as_slice(), &["create"]].concat());
        self.ok(&[base.as_slice(), &["put", "state", &mac, input]].concat());
        assert_eq!(
            self.ok(&[base.as_slice(), &["get", "state", &mac]].concat()),
            "an object through a pulled plugin"
        );
    }

    fn cached_components(&self) -> usize {
        std::fs::read_dir(self.cache.path().join("artifacts/components"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn location(registry: &Registry, name: &str) -> String {
    format!("oci://{}/{}", registry.authority(), unique_repo(name))
}

#[test]
fn published_components_are_wasm_oci_artifacts() {
    let registry = Registry::start(RegistryOptions::default());
    let host = Host::new();
    let repo = unique_repo("plugins");
    let pinned = host.publish(&format!("{}/{repo}:v1", registry.authority()), &[]);
    let wasm = std::fs::read(component_file()).unwrap();

    let manifest = registry.send(
        "GET",
        &format!("/v2/{repo}/manifests/v1"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        &[],
    );
    assert_eq!(manifest.status, 200);
    assert!(pinned.ends_with(&sha256(&manifest.body)), "{pinned}");
    let m: Value = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(m["layers"].as_array().unwrap().len(), 1);
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["digest"], sha256(&wasm));
    assert_eq!(m["layers"][0]["size"], wasm.len());

    let config_digest = m["config"]["digest"].as_str().unwrap();
    let config = registry.send(
        "GET",
        &format!("/v2/{repo}/blobs/{config_digest}"),
        &[],
        &[],
    );
    assert_eq!(sha256(&config.body), config_digest);
    let c: Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(c["architecture"], "wasm");
    assert_eq!(c["os"], "wasip2");
    assert_eq!(c["layerDigests"], serde_json::json!([sha256(&wasm)]));
    let created = c["created"].as_str().unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "created: {created}"
    );
    let names = |key: &str| -> Vec<String> {
        c["component"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("exports"),
        ["kloset:store/types@0.4.0", "kloset:store/store@0.4.0"]
    );
    let imports = names("imports");
    assert!(imports.contains(&"wasi:http/outgoing-handler@0.2.12".to_string()));
    assert!(
        imports.iter().all(|i| i.starts_with("wasi:")),
        "{imports:?}"
    );
}

#[test]
fn a_reference_pinned_by_digest_runs_and_never_downloads_again() {
    let plugins = Registry::start(RegistryOptions::default());
    let stores = Registry::start(RegistryOptions::default());
    let publisher = Host::new();
    let tagged = format!("{}/{}:v1", plugins.authority(), unique_repo("plugins"));
    let pinned = publisher.publish(&tagged, &[]);

    let user = Host::new();
    user.use_store(&pinned, &location(&stores, "pinned"), &[]);
    assert_eq!(user.cached_components(), 1);
    // By tag as well: resolved at the registry, its layer already cached.
    user.use_store(&tagged, &location(&stores, "tagged"), &[]);
    assert_eq!(user.cached_components(), 1);

    drop(plugins);
    // The plugin registry is gone: the pinned reference loads from the cache.
    user.use_store(&pinned, &location(&stores, "offline"), &[]);
    // A tag must be resolved, and fails clearly.
    let err = user.fails(&[
        "--component",
        &tagged,
        "--component-option",
        "use_tls=false",
        "--store",
        &location(&stores, "unreachable"),
        "-o",
        "use_tls=false",
        "ping",
    ]);
    assert!(err.contains("component registry"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tampered_or_mismatched_components_are_refused_and_not_cached() {
    let plugins = Registry::start(RegistryOptions::default());
    let stores = Registry::start(RegistryOptions::default());
    let proxy = FaultProxy::start(&plugins.authority());
    let tagged = format!("{}/{}:v1", proxy.authority(), unique_repo("plugins"));
    let pinned = Host::new().publish(&tagged, &[]);
    let user = Host::new();

    proxy.set(|r, _| {
        if r.is_blob_get() {
            Fault::CorruptByte
        } else {
            Fault::None
        }
    });
    let err = user.fails(&[
        "--component",
        &pinned,
        "--component-option",
        "use_tls=false",
        "--store",
        &location(&stores, "tampered"),
        "ping",
    ]);
    assert!(err.contains("do not match"), "{err}");
    assert_eq!(user.cached_components(), 0);

    // A digest the registry's manifest does not have.
    proxy.clear();
    let wrong = format!("{tagged}@{}", sha256(b"another manifest"));
    let err = user.fails(&[
        "--component",
        &wrong,
        "--component-option",
        "use_tls=false",
        "--store",
        &location(&stores, "wrong"),
        "ping",
    ]);
    assert!(
        err.contains("manifest of digest") || err.contains("no such component"),
        "{err}"
    );

    // Untampered, the same reference works.
    user.use_store(&pinned, &location(&stores, "clean"), &[]);
}

#[test]
fn credentials_are_used_as_for_stores() {
    let plugins = Registry::start(RegistryOptions {
        auth: RegistryAuth::htpasswd(&[("publisher", "s3cret-pw")]),
        ..Default::default()
    });
    let stores = Registry::start(RegistryOptions::default());
    let tagged = format!("{}/{}:v1", plugins.authority(), unique_repo("plugins"));
    let host = Host::new();
    let err = host.fails(&[
        "--component",
        component_file().to_str().unwrap(),
        "publish",
        &tagged,
        "-o",
        "use_tls=false",
    ]);
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    let pinned = host.publish(
        &tagged,
        &["-o", "username=publisher", "-o", "password=s3cret-pw"],
    );
    let err = host.fails(&[
        "--component",
        &pinned,
        "--component-option",
        "use_tls=false",
        "--component-option",
        "username=publisher",
        "--component-option",
        "password=wrong-pw",
        "--store",
        &location(&stores, "creds"),
        "ping",
    ]);
    assert!(!err.contains("wrong-pw"), "a secret in an error: {err}");
    assert!(err.contains("component registry"), "{err}");
    let store = location(&stores, "creds");
    host.use_store(
        &pinned,
        &store,
        &[
            "--component-option",
            "username=publisher",
            "--component-option",
            "password=s3cret-pw",
        ],
    );
}

/// `wkg` from crates.io (scripts/setup installs it), or a panic naming how.
fn wkg() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin")));
    candidates
        .map(|dir| dir.join("wkg"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("wkg is not installed\ninstall it: bash scripts/setup (cargo install --locked wkg --version 0.16.1)")
        })
}

fn run_wkg(registry: &Registry, args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(wkg())
        .args(["oci"])
        .args(args)
        .args(["--insecure", &registry.authority()])
        .env("HOME", home.path())
        .env_remove("WKG_OCI_USERNAME")
        .env_remove("WKG_OCI_PASSWORD")
        .output()
        .expect("run wkg");
    assert!(
        out.status.success(),
        "wkg oci {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wkg_pulls_what_we_publish_byte_identical() {
    let registry = Registry::start(RegistryOptions::default());
    let reference = format!("{}/{}:v1", registry.authority(), unique_repo("plugins"));
    Host::new().publish(&reference, &[]);
    let dir = tempfile::tempdir().unwrap();
    let pulled = dir.path().join("pulled.wasm");
    run_wkg(
        &registry,
        &["pull", "-o", pulled.to_str().unwrap(), &reference],
    );
    let ours = std::fs::read(component_file()).unwrap();
    assert!(
        std::fs::read(&pulled).unwrap() == ours,
        "wkg pulled other bytes"
    );
}

#[test]
fn our_host_runs_what_wkg_pushes() {
    let registry = Registry::start(RegistryOptions::default());
    let reference = format!("{}/{}:v1", registry.authority(), unique_repo("plugins"));
    run_wkg(
        &registry,
        &["push", &reference, component_file().to_str().unwrap()],
    );
    let host = Host::new();
    host.use_store(&reference, &location(&registry, "by-wkg"), &[]);
    assert_eq!(host.cached_components(), 1);
}

/// oras or regctl from `.tools/bin` (scripts/setup-go-tools), run with a
/// home of its own; returns stdout.
fn go_tool(name: &str, args: &[&str], cwd: &Path) -> Vec<u8> {
    let binary = kloset_testkit::registry::tool_binary(
        &format!("KLOSET_TEST_{}_BIN", name.to_uppercase()),
        name,
        "scripts/setup-go-tools",
    );
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(binary)
        .args(args)
        .current_dir(cwd)
        .env("HOME", home.path())
        .env_remove("DOCKER_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn oras_and_regctl_pull_what_we_publish_byte_identical() {
    let registry = Registry::start(RegistryOptions::default());
    let repo = unique_repo("plugins");
    let reference = format!("{}/{repo}:v1", registry.authority());
    Host::new().publish(&reference, &[]);
    let scratch = tempfile::tempdir().unwrap();
    let manifest: Value = serde_json::from_slice(&go_tool(
        "oras",
        &["manifest", "fetch", "--plain-http", &reference],
        scratch.path(),
    ))
    .expect("oras fetched the manifest");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    let digest = layers[0]["digest"].as_str().expect("a digest");
    let ours = std::fs::read(component_file()).unwrap();

    let by_digest = format!("{}/{repo}@{digest}", registry.authority());
    go_tool(
        "oras",
        &[
            "blob",
            "fetch",
            "--plain-http",
            "--output",
            "by-oras.wasm",
            &by_digest,
        ],
        scratch.path(),
    );
    assert!(
        std::fs::read(scratch.path().join("by-oras.wasm")).unwrap() == ours,
        "oras pulled other bytes"
    );
    let host = format!("reg={},tls=disabled", registry.authority());
    let by_regctl = go_tool(
        "regctl",
        &[
            "--host",
            &host,
            "blob",
            "get",
            &format!("{}/{repo}", registry.authority()),
            digest,
        ],
        scratch.path(),
    );
    assert!(by_regctl == ours, "regctl pulled other bytes");
}

#[test]
fn our_host_runs_what_oras_pushes() {
    let registry = Registry::start(RegistryOptions::default());
    let reference = format!("{}/{}:v1", registry.authority(), unique_repo("plugins"));
    let scratch = tempfile::tempdir().unwrap();
    let component = std::fs::read(component_file()).unwrap();
    std::fs::write(scratch.path().join("kloset_oci.wasm"), &component).unwrap();
    // A config as the Wasm OCI artifact layout describes it.
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [sha256(&component)],
    });
    std::fs::write(scratch.path().join("config.json"), config.to_string()).unwrap();
    go_tool(
        "oras",
        &[
            "push",
            "--plain-http",
            &reference,
            "--config",
            "config.json:application/vnd.wasm.config.v0+json",
            "kloset_oci.wasm:application/wasm",
        ],
        scratch.path(),
    );
    let host = Host::new();
    host.use_store(&reference, &location(&registry, "by-oras"), &[]);
    assert_eq!(host.cached_components(), 1);
}
