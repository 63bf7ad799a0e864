//! The plugin binary alone, driven over its pipes the way plakar drives it,
//! against a real registry: failures here are ours, not plakar's.

use std::time::Duration;

use bytes::Bytes;
use kloset_oci_plakar::proto::get_request::Range;
use kloset_oci_plakar::proto::*;
use rand::RngCore;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support::grpc::PluginProcess;
use kloset_testkit::{unique_repo, Registry, RegistryOptions};

const PACKFILE: i32 = StorageResource::Packfile as i32;
const STATE: i32 = StorageResource::State as i32;
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

async fn started(registry: &Registry, repo: &str) -> PluginProcess {
    let mut plugin = PluginProcess::start().await;
    let config = registry.config(repo).into_iter().collect();
    let reply = init(&mut plugin, config).await.expect("Init");
    assert_eq!(reply.r#type, "oci");
    assert_eq!(reply.origin, registry.authority());
    assert!(reply.root.contains(repo), "{reply:?}");
    assert_eq!(reply.flags, 0);
    plugin
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
    let mut client = plugin.client.clone();
    client
        .put(tokio_stream::iter(messages))
        .await
        .map(|reply| reply.into_inner().bytes_written)
}

async fn get(
    plugin: &PluginProcess,
    kind: i32,
    key: Bytes,
    range: Option<(u64, u32)>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut client = plugin.client.clone();
    let mut stream = client
        .get(GetRequest {
            mac: key,
            r#type: kind,
            range: range.map(|(offset, length)| Range { offset, length }),
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(reply) = stream.message().await? {
        assert!(
            reply.chunk.len() <= 1 << 20,
            "a Get reply of {} bytes",
            reply.chunk.len()
        );
        bytes.extend_from_slice(&reply.chunk);
    }
    Ok(bytes)
}

async fn list(plugin: &PluginProcess, kind: i32) -> Vec<Bytes> {
    let mut macs = plugin
        .client
        .clone()
        .list(ListRequest { r#type: kind })
        .await
        .expect("List")
        .into_inner()
        .macs;
    macs.sort();
    macs
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_works_as_plakar_calls_it() {
    let registry = registry();
    let repo = unique_repo("grpc-all");
    let mut plugin = started(&registry, &repo).await;
    let mut client = plugin.client.clone();

    // No repository yet: Open says so, in words plakar prints.
    let missing = client.open(OpenRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("not found"), "{missing:?}");

    client
        .create(CreateRequest {
            config: Bytes::from_static(b"the config"),
        })
        .await
        .expect("Create");
    let again = client
        .create(CreateRequest {
            config: Bytes::from_static(b"other"),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
    assert!(again.message().contains("already exists"), "{again:?}");
    let opened = client
        .open(OpenRequest {})
        .await
        .expect("Open")
        .into_inner()
        .config;
    assert_eq!(&opened[..], b"the config");
    client.ping(PingRequest {}).await.expect("Ping");
    let mode = client
        .mode(ModeRequest {})
        .await
        .expect("Mode")
        .into_inner()
        .mode;
    assert_eq!(mode, 2 | 4, "read and write");

    // Objects of every size class; a 9 MiB one spans several 1 MiB chunks
    // each way, and its replies stay under the 4 MiB client limit.
    let big = random(9 << 20);
    let small = random(300);
    assert_eq!(
        put(&plugin, PACKFILE, mac(1), &big).await.expect("Put big"),
        big.len() as i64
    );
    assert_eq!(
        put(&plugin, STATE, mac(1), &small)
            .await
            .expect("Put state"),
        300
    );
    assert_eq!(
        put(&plugin, LOCK, mac(2), b"")
            .await
            .expect("Put empty lock"),
        0
    );
    assert_eq!(
        get(&plugin, PACKFILE, mac(1), None).await.expect("Get big"),
        big
    );
    assert_eq!(
        get(&plugin, STATE, mac(1), None).await.expect("Get state"),
        small
    );
    assert_eq!(
        get(&plugin, LOCK, mac(2), None).await.expect("Get lock"),
        b""
    );
    // Exact ranges: the first byte, one inside, across chunk boundaries, the tail.
    for (offset, length) in [
        (0u64, 1u32),
        (12345, 4096),
        ((1 << 20) - 7, 3 << 20),
        (big.len() as u64 - 10, 10),
    ] {
        let got = get(&plugin, PACKFILE, mac(1), Some((offset, length)))
            .await
            .expect("ranged Get");
        assert_eq!(
            got,
            &big[offset as usize..offset as usize + length as usize],
            "{offset}+{length}"
        );
    }
    assert_eq!(list(&plugin, PACKFILE).await, vec![mac(1)]);
    assert_eq!(list(&plugin, STATE).await, vec![mac(1)]);
    assert_eq!(list(&plugin, LOCK).await, vec![mac(2)]);
    let size = client
        .size(SizeRequest {})
        .await
        .expect("Size")
        .into_inner()
        .size;
    assert!(size >= (big.len() + small.len()) as i64, "size {size}");

    // A missing object fails on the first read, naming the problem.
    let gone = get(&plugin, PACKFILE, mac(9), None).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    assert!(gone.message().contains("not found"), "{gone:?}");

    client
        .delete(DeleteRequest {
            mac: mac(1),
            r#type: PACKFILE,
        })
        .await
        .expect("Delete");
    client
        .delete(DeleteRequest {
            mac: mac(1),
            r#type: PACKFILE,
        })
        .await
        .expect("Delete is idempotent");
    assert!(list(&plugin, PACKFILE).await.is_empty());
    assert_eq!(
        list(&plugin, STATE).await,
        vec![mac(1)],
        "other kinds untouched"
    );

    // Bad requests are refused with a reason.
    let bad = client.list(ListRequest { r#type: 0 }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    let short = client
        .delete(DeleteRequest {
            mac: Bytes::from_static(b"short"),
            r#type: LOCK,
        })
        .await
        .unwrap_err();
    assert!(short.message().contains("32 bytes"), "{short:?}");

    client.close(CloseRequest {}).await.expect("Close");
    // plakar exits after Close: the plugin sees EOF and exits cleanly.
    plugin.close_stdin();
    let status = plugin
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the plugin exits on EOF");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_puts_and_gets_on_one_connection() {
    let registry = registry();
    let repo = unique_repo("grpc-concurrent");
    let plugin = started(&registry, &repo).await;
    create(&plugin).await;
    let objects: Vec<(Bytes, Vec<u8>)> = (0..8u8)
        .map(|i| (mac(10 + i), random((i as usize + 1) * 700_000)))
        .collect();
    let plugin = std::sync::Arc::new(plugin);
    let mut tasks = Vec::new();
    for (key, data) in objects.clone() {
        let plugin = plugin.clone();
        tasks.push(tokio::spawn(async move {
            put(&plugin, PACKFILE, key.clone(), &data)
                .await
                .expect("concurrent Put");
            assert_eq!(
                get(&plugin, PACKFILE, key, None)
                    .await
                    .expect("concurrent Get"),
                data
            );
        }));
    }
    for task in tasks {
        task.await.expect("a task");
    }
    let mut want: Vec<Bytes> = objects.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(list(&plugin, PACKFILE).await, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_hangs_up_mid_put_stores_nothing_and_the_plugin_goes_on() {
    let registry = registry();
    let repo = unique_repo("grpc-hangup");
    let plugin = started(&registry, &repo).await;
    create(&plugin).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(PutRequest {
        mac: mac(5),
        r#type: PACKFILE,
        chunk: Bytes::new(),
    })
    .await
    .unwrap();
    for _ in 0..3 {
        tx.send(PutRequest {
            chunk: Bytes::from(random(1 << 20)),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    // After the chunks, the request body fails instead of ending: hyper
    // then resets the stream (RST_STREAM), as grpc-go does when plakar
    // cancels a Put; it never half-closes.
    let body = ReceiverStream::new(rx)
        .chain(tokio_stream::iter([()]).map(|()| -> PutRequest {
            panic!("the test's client hangs up here (expected panic)")
        }));
    let mut client = plugin.client.clone();
    let call = tokio::spawn(async move { client.put(body).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(tx);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // With the body's sender gone too, h2 resets the stream.
    call.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        list(&plugin, PACKFILE).await.is_empty(),
        "a half-sent object became visible"
    );
    // The same connection still serves.
    let data = random(2 << 20);
    put(&plugin, PACKFILE, mac(6), &data)
        .await
        .expect("a Put after the hang-up");
    assert_eq!(
        get(&plugin, PACKFILE, mac(6), None).await.expect("Get"),
        data
    );
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
