//! The plugin binary alone, driven over its pipes the way plakar drives it,
//! against a real registry: failures here are ours, not plakar's. Every
//! RPC, ranges, concurrent streams, a Put reset midway and the rest of the
//! store contract are the exerciser's (`exerciser`); what stays here is
//! what it does not see: errors before a stream is read, and Init's
//! refusals of bad configurations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kloset_oci_plakar::proto::store_client::StoreClient;
use kloset_oci_plakar::proto::*;
use rand::RngCore;
use tonic::transport::Channel;
use tonic::Code;

use crate::support::grpc::PluginProcess;
use kloset_testkit::{unique_repo, Registry, RegistryOptions};

const PACKFILE: i32 = StorageResource::Packfile as i32;
pub(crate) const LOCK: i32 = StorageResource::Lock as i32;

pub(crate) fn registry() -> Registry {
    Registry::start(RegistryOptions {
        delete_enabled: true,
        ..RegistryOptions::default()
    })
}

/// Init as plakar sends it, for protocol `oci`.
pub(crate) async fn init(
    plugin: &mut PluginProcess,
    config: std::collections::HashMap<String, String>,
) -> Result<InitResponse, tonic::Status> {
    let request = InitRequest {
        proto: "oci".into(),
        config,
    };
    plugin.client.init(request).await.map(|r| r.into_inner())
}

pub(crate) async fn create(plugin: &PluginProcess) {
    plugin
        .client
        .clone()
        .create(CreateRequest {
            config: Bytes::from_static(b"config"),
        })
        .await
        .expect("Create");
}

pub(crate) fn mac(seed: u8) -> Bytes {
    Bytes::from(vec![seed; 32])
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A Put as plakar sends it: the MAC and type first, then 1 MiB chunks.
pub(crate) async fn put(
    plugin: &PluginProcess,
    kind: i32,
    key: Bytes,
    data: &[u8],
) -> Result<i64, tonic::Status> {
    put_on(plugin.client.clone(), kind, key, data).await
}

/// [`put`] on a client of the plugin's connection.
async fn put_on(
    mut client: StoreClient<Channel>,
    kind: i32,
    key: Bytes,
    data: &[u8],
) -> Result<i64, tonic::Status> {
    let mut messages = vec![PutRequest {
        mac: key,
        r#type: kind,
        chunk: Bytes::new(),
    }];
    for chunk in data.chunks(1 << 20) {
        messages.push(PutRequest {
            chunk: Bytes::copy_from_slice(chunk),
            ..Default::default()
        });
    }
    client
        .put(tokio_stream::iter(messages))
        .await
        .map(|reply| reply.into_inner().bytes_written)
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_before_the_stream_is_read_still_reach_the_client() {
    // A registry that wants a password we do not give: the store fails
    // before it reads the Put stream, and the client must see that
    // failure, not "EOF" (plakar's symptom of an unread stream).
    let registry = Registry::start(RegistryOptions {
        auth: kloset_testkit::RegistryAuth::htpasswd(&[("alice", "right")]),
        ..RegistryOptions::default()
    });
    let repo = unique_repo("grpc-unauthorized");
    let mut plugin = PluginProcess::start().await;
    let mut config: std::collections::HashMap<String, String> =
        registry.config(&repo).into_iter().collect();
    config.insert("username".into(), "alice".into());
    config.insert("password".into(), "wrong-secret".into());
    init(&mut plugin, config)
        .await
        .expect("Init makes no request");
    let err = put(&plugin, PACKFILE, mac(1), &random(5 << 20))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("unauthorized"), "{err:?}");
    assert!(!err.message().contains("wrong-secret"), "{err:?}");
    let open = plugin.client.open(OpenRequest {}).await.unwrap_err();
    assert!(open.message().contains("unauthorized"), "{open:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn more_large_puts_at_once_than_the_store_writes_all_complete() {
    // plakar at -concurrency 8 streams nine packfiles at once; the store
    // writes four at a time (kloset-host's put slots) and reads nothing
    // more of the others' streams meanwhile. Their unread bytes count
    // against the connection's HTTP/2 window, which the four writing
    // need too: with 8 MiB stream and 16 MiB connection windows, two or
    // three waiting Puts held all of it and every Put hung.
    let registry = registry();
    let repo = unique_repo("grpc-many-puts");
    let mut plugin = PluginProcess::start().await;
    init(&mut plugin, registry.config(&repo).into_iter().collect())
        .await
        .expect("Init");
    create(&plugin).await;
    let objects: Vec<Arc<Vec<u8>>> = (0..10).map(|_| Arc::new(random(24 << 20))).collect();
    let mut puts = tokio::task::JoinSet::new();
    for (n, data) in objects.iter().enumerate() {
        let (client, data) = (plugin.client.clone(), Arc::clone(data));
        puts.spawn(async move { (n, put_on(client, PACKFILE, mac(100 + n as u8), &data).await) });
    }
    let written = tokio::time::timeout(Duration::from_secs(300), puts.join_all())
        .await
        .expect("ten 24 MiB Puts at once did not end within 5 minutes: a stall");
    assert_eq!(written.len(), 10);
    for (n, result) in written {
        assert_eq!(result.expect("Put"), 24 << 20, "object {n}");
    }
    // Each object reads back whole, as written.
    for (n, data) in objects.iter().enumerate() {
        let mut stream = plugin
            .client
            .clone()
            .get(GetRequest {
                mac: mac(100 + n as u8),
                r#type: PACKFILE,
                range: None,
            })
            .await
            .expect("Get")
            .into_inner();
        let mut read = Vec::with_capacity(data.len());
        while let Some(reply) = stream.message().await.expect("Get stream") {
            read.extend_from_slice(&reply.chunk);
        }
        assert!(read == **data, "object {n} reads back other bytes");
    }
}

/// Init with `pairs`, which must fail: its status.
async fn init_error(plugin: &mut PluginProcess, pairs: &[(&str, &str)]) -> tonic::Status {
    let config = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    init(plugin, config)
        .await
        .expect_err("Init must refuse this configuration")
}

#[tokio::test(flavor = "multi_thread")]
async fn init_refuses_a_bad_configuration_with_its_reason() {
    let mut plugin = PluginProcess::start().await;
    let err = init_error(
        &mut plugin,
        &[("location", "oci://user:hunter2@127.0.0.1:9/repo")],
    )
    .await;
    assert!(!err.message().contains("hunter2"), "{err:?}");
    // A secret holding '/', as base64 tokens do, is not shown either.
    let err = init_error(
        &mut plugin,
        &[("location", "oci://ci:ab/cd==@127.0.0.1:9/repo")],
    )
    .await;
    assert!(!err.message().contains("cd=="), "{err:?}");
    // Files named by options must be given absolutely.
    let err = init_error(
        &mut plugin,
        &[
            ("location", "oci://127.0.0.1:9/repo"),
            ("tls_ca_file", "ca.pem"),
        ],
    )
    .await;
    assert!(err.message().contains("absolute path"), "{err:?}");
    let err = init_error(
        &mut plugin,
        &[("location", "oci://127.0.0.1:9/repo"), ("colour", "blue")],
    )
    .await;
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("colour"), "{err:?}");
    // Calls before a successful Init are refused, not crashed on.
    let early = plugin.client.ping(PingRequest {}).await.unwrap_err();
    assert!(early.message().contains("Init"), "{early:?}");
}
