//! Calls to the plugin as plakar v1.1.4 makes them (integration-grpc
//! v1.1.0's storage client), each written down as an exchange: what was
//! sent and what came back, so that a failed check shows its proof.
//!
//! - Init: `proto` and the configuration (`location` and every option).
//! - Put: a first message with the MAC and type only, then chunks of at
//!   most 1 MiB, then a half-close; the answer's `bytes_written`.
//! - Get: one request (an optional range of offset and length), the
//!   chunks read to the end; every reply under grpc-go's 4 MiB.
//! - Failures are gRPC statuses: their code and message are shown, and
//!   a call that gets no answer, or whose plugin died, says so.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::data::Content;
use crate::plugin::Plugin;
use crate::proto::get_request::Range;
use crate::proto::*;

/// Plakar's chunk size for Put (integration-grpc's SendChunks buffer).
pub const PUT_CHUNK: usize = 1 << 20;

/// One call and its answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exchange {
    pub call: String,
    pub answer: String,
    pub ms: u64,
}

/// Progress of long checks, a line at a time.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// A call that did not succeed.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The gRPC status code, when there was an answer.
    pub code: Option<Code>,
    pub message: String,
    /// How the plugin ended, when it has.
    pub died: Option<String>,
    pub timed_out: bool,
    /// A Get's body ran past what it could be (more bytes than the
    /// largest object stored): the stream was cancelled.
    pub overran: bool,
}

impl CallError {
    fn status(status: tonic::Status, plugin: &Plugin) -> CallError {
        CallError {
            code: Some(status.code()),
            message: status.message().to_string(),
            died: plugin.death(),
            timed_out: false,
            overran: false,
        }
    }

    /// An error from a status the check read itself.
    pub async fn from_status(status: tonic::Status, plugin: &Plugin) -> CallError {
        CallError::status(status, plugin).settle(plugin).await
    }

    /// Not a refusal: the plugin died, did not answer in time, or sent
    /// a body without end. A call that must fail does not pass so.
    pub fn broken(&self) -> bool {
        self.timed_out || self.died.is_some() || self.overran
    }

    /// A connection that broke may be a plugin dying: give it a moment
    /// to be seen dead, so the error says so.
    pub async fn settle(mut self, plugin: &Plugin) -> CallError {
        let broken =
            self.code == Some(Code::Unavailable) || self.message.contains("transport error");
        if self.died.is_none() && broken {
            plugin.wait_exit(Duration::from_millis(300)).await;
            self.died = plugin.death();
        }
        self
    }

    pub fn timeout(limit: Duration, plugin: &Plugin) -> CallError {
        CallError {
            code: None,
            message: format!("no answer within {} s", limit.as_secs()),
            died: plugin.death(),
            timed_out: true,
            overran: false,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "error {code:?}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(died) = &self.died {
            write!(f, " ({died})")?;
        }
        Ok(())
    }
}

/// The first bytes of a key, enough to tell keys apart in a report.
pub fn key_name(mac: &[u8]) -> String {
    if mac.len() == 32 {
        hex::encode(&mac[..4])
    } else {
        format!("{} ({} B)", hex::encode(mac), mac.len())
    }
}

pub fn kind_name(kind: i32) -> String {
    match StorageResource::try_from(kind) {
        Ok(StorageResource::Packfile) => "packfile".into(),
        Ok(StorageResource::State) => "state".into(),
        Ok(StorageResource::Lock) => "lock".into(),
        Ok(StorageResource::EccPackfile) => "ecc-packfile".into(),
        Ok(StorageResource::EccState) => "ecc-state".into(),
        Ok(StorageResource::Undefined) => "undefined(0)".into(),
        Err(_) => format!("resource({kind})"),
    }
}

/// What a Get is expected to return: `len` bytes of `content` from `offset`
/// (fewer when the object ends first).
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub content: Content,
    pub offset: u64,
    pub len: u64,
}

impl Expect {
    pub fn whole(content: Content) -> Expect {
        Expect {
            content,
            offset: 0,
            len: content.len,
        }
    }

    pub fn range(content: Content, offset: u64, len: u64) -> Expect {
        Expect {
            content,
            offset,
            len,
        }
    }

    /// How many bytes exist from the offset, up to `len`.
    pub fn available(&self) -> u64 {
        self.content.len.saturating_sub(self.offset).min(self.len)
    }
}

/// A Get's body, as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub len: u64,
    pub messages: usize,
    pub largest: usize,
    pub sha256: [u8; 32],
    pub head: Vec<u8>,
    /// The first byte that is not the expected one: (offset within the
    /// answer, got, wanted; None when past the expected end).
    pub mismatch: Option<(u64, u8, Option<u8>)>,
    pub expected_len: Option<u64>,
}

impl Received {
    /// The bytes are exactly the expected ones (all of them).
    pub fn exact(&self) -> bool {
        self.mismatch.is_none() && self.expected_len == Some(self.len)
    }

    /// No byte is wrong, though some may be missing at the end.
    pub fn prefix_ok(&self) -> bool {
        self.mismatch.is_none()
    }
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} B in {} message{} (largest {} B), sha256 {}",
            self.len,
            self.messages,
            if self.messages == 1 { "" } else { "s" },
            self.largest,
            hex::encode(&self.sha256[..6])
        )?;
        if !self.head.is_empty() {
            write!(f, ", starting {}", hex::encode(&self.head))?;
        }
        if let Some((at, got, want)) = self.mismatch {
            match want {
                Some(want) => write!(f, "; byte {at} is {got:02x} where {want:02x} was expected")?,
                None => write!(f, "; bytes go on past the expected end at {at}")?,
            }
        }
        if let Some(want) = self.expected_len {
            if want != self.len {
                write!(f, "; {want} B were expected")?;
            }
        }
        Ok(())
    }
}

/// Checks a Get's body as it arrives, keeping nothing but a few bytes.
struct Checker {
    expect: Option<Expect>,
    got: Received,
    hash: Sha256,
    scratch: Vec<u8>,
}

impl Checker {
    fn new(expect: Option<Expect>) -> Checker {
        Checker {
            expect,
            got: Received {
                len: 0,
                messages: 0,
                largest: 0,
                sha256: [0; 32],
                head: Vec::new(),
                mismatch: None,
                expected_len: expect.map(|e| e.available()),
            },
            hash: Sha256::new(),
            scratch: Vec::new(),
        }
    }

    fn take(&mut self, chunk: &[u8]) {
        let at = self.got.len;
        self.got.messages += 1;
        self.got.largest = self.got.largest.max(chunk.len());
        self.hash.update(chunk);
        if self.got.head.len() < 8 {
            let n = (8 - self.got.head.len()).min(chunk.len());
            self.got.head.extend_from_slice(&chunk[..n]);
        }
        if let (Some(expect), None) = (self.expect, self.got.mismatch) {
            let available = expect.available();
            let comparable = available.saturating_sub(at).min(chunk.len() as u64) as usize;
            self.scratch.resize(comparable, 0);
            expect
                .content
                .pattern
                .fill(expect.offset + at, &mut self.scratch);
            if let Some(i) = (0..comparable).find(|&i| chunk[i] != self.scratch[i]) {
                self.got.mismatch = Some((at + i as u64, chunk[i], Some(self.scratch[i])));
            } else if comparable < chunk.len() {
                self.got.mismatch = Some((at + comparable as u64, chunk[comparable], None));
            }
        }
        self.got.len += chunk.len() as u64;
    }

    fn finish(mut self) -> Received {
        self.got.sha256 = self.hash.finalize().into();
        self.got
    }
}

/// Makes calls on one plugin and writes each down; clones share the log.
#[derive(Clone)]
pub struct Caller {
    pub plugin: Plugin,
    log: Arc<Mutex<Vec<Exchange>>>,
    pub timeout: Duration,
    pub progress: Option<Progress>,
    /// The most a Get whose length is not known may bring: more than any
    /// object the checks put (the large one) by 64 MiB.
    pub body_cap: u64,
}

/// What a Get of unknown length may bring beyond the largest object put.
pub const BODY_SLACK: u64 = 64 << 20;

impl Caller {
    pub fn new(plugin: Plugin, timeout: Duration, progress: Option<Progress>) -> Caller {
        Caller {
            plugin,
            log: Arc::new(Mutex::new(Vec::new())),
            timeout,
            progress,
            body_cap: BODY_SLACK,
        }
    }

    /// A Get's overall deadline: the call timeout and one more second per
    /// MiB it may bring (at least 1 MiB/s, as for Put).
    pub fn get_deadline(&self, most: u64) -> Duration {
        self.timeout + Duration::from_secs(most >> 20)
    }

    /// The exchanges written down since the last take.
    pub fn take_log(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.log.lock().expect("log"))
    }

    /// Writes an exchange down (also used by checks that drive a stream
    /// themselves).
    pub fn note(&self, call: impl Into<String>, answer: impl Into<String>, started: Instant) {
        self.log.lock().expect("log").push(Exchange {
            call: call.into(),
            answer: answer.into(),
            ms: started.elapsed().as_millis() as u64,
        });
    }

    pub fn progress(&self, line: &str) {
        if let Some(progress) = &self.progress {
            progress(line);
        }
    }

    pub fn client(&self) -> StoreClient {
        self.plugin.client.clone()
    }

    /// A unary call within the timeout, written down.
    async fn unary<T, F>(
        &self,
        call: String,
        fut: F,
        describe: impl Fn(&T) -> String,
    ) -> Result<T, CallError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(CallError::status(status, &self.plugin)
                .settle(&self.plugin)
                .await),
            Err(_) => Err(CallError::timeout(self.timeout, &self.plugin)),
        };
        let answer = match &result {
            Ok(reply) => describe(reply),
            Err(e) => e.to_string(),
        };
        self.note(call, answer, started);
        result
    }

    pub async fn init(
        &self,
        proto: &str,
        config: &std::collections::BTreeMap<String, String>,
    ) -> Result<InitResponse, CallError> {
        // Options are shown by name only: values may be secrets.
        let keys: Vec<&str> = config.keys().map(String::as_str).collect();
        let location = crate::redact(
            config
                .get("location")
                .map(String::as_str)
                .unwrap_or_default(),
        );
        let request = InitRequest {
            proto: proto.to_string(),
            config: config.clone().into_iter().collect(),
        };
        self.unary(
            format!("Init proto={proto} location={location} options={keys:?}"),
            self.client().init(request),
            |r: &InitResponse| {
                format!(
                    "origin={:?} type={:?} root={:?} flags={}",
                    r.origin, r.r#type, r.root, r.flags
                )
            },
        )
        .await
    }

    pub async fn create(&self, config: &[u8]) -> Result<(), CallError> {
        let request = CreateRequest {
            config: Bytes::copy_from_slice(config),
        };
        self.unary(
            format!("Create config={}", show_bytes(config)),
            self.client().create(request),
            |_| "ok".into(),
        )
        .await
        .map(|_| ())
    }

    pub async fn open(&self) -> Result<Bytes, CallError> {
        self.unary(
            "Open".into(),
            self.client().open(OpenRequest {}),
            |r: &OpenResponse| format!("config={}", show_bytes(&r.config)),
        )
        .await
        .map(|r| r.config)
    }

    pub async fn ping(&self) -> Result<(), CallError> {
        self.unary("Ping".into(), self.client().ping(PingRequest {}), |_| {
            "ok".into()
        })
        .await
        .map(|_| ())
    }

    pub async fn mode(&self) -> Result<i32, CallError> {
        self.unary(
            "Mode".into(),
            self.client().mode(ModeRequest {}),
            |r: &ModeResponse| format!("mode={}", r.mode),
        )
        .await
        .map(|r| r.mode)
    }

    pub async fn size(&self) -> Result<i64, CallError> {
        self.unary(
            "Size".into(),
            self.client().size(SizeRequest {}),
            |r: &SizeResponse| format!("size={}", r.size),
        )
        .await
        .map(|r| r.size)
    }

    pub async fn list(&self, kind: i32) -> Result<Vec<Bytes>, CallError> {
        self.unary(
            format!("List {}", kind_name(kind)),
            self.client().list(ListRequest { r#type: kind }),
            |r: &ListResponse| {
                let mut names: Vec<String> = r.macs.iter().map(|m| key_name(m)).collect();
                names.sort();
                if names.len() > 12 {
                    let n = names.len();
                    names.truncate(12);
                    names.push(format!("... {n} in all"));
                }
                format!("{} keys [{}]", r.macs.len(), names.join(" "))
            },
        )
        .await
        .map(|r| r.macs)
    }

    pub async fn delete(&self, kind: i32, mac: &[u8]) -> Result<(), CallError> {
        let request = DeleteRequest {
            mac: Bytes::copy_from_slice(mac),
            r#type: kind,
        };
        self.unary(
            format!("Delete {} {}", kind_name(kind), key_name(mac)),
            self.client().delete(request),
            |_| "ok".into(),
        )
        .await
        .map(|_| ())
    }

    pub async fn close(&self) -> Result<(), CallError> {
        self.unary("Close".into(), self.client().close(CloseRequest {}), |_| {
            "ok".into()
        })
        .await
        .map(|_| ())
    }

    /// A Put as plakar sends it: `content` in chunks of 1 MiB, made as
    /// they are sent. `sent` is told the bytes sent so far.
    pub fn put_with(
        &self,
        kind: i32,
        mac: &[u8],
        content: Content,
        sent: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<i64, CallError>> + Send + 'static>>
    {
        // Owned before the future starts: it borrows nothing.
        let mac = Bytes::copy_from_slice(mac);
        let this = self.clone();
        Box::pin(async move { this.put_owned(kind, mac, content, sent, &[]).await })
    }

    /// A Put whose chunks are not plakar's regular 1 MiB: their sizes
    /// cycle through `sizes` (each at most 1 MiB). Another client (or a
    /// later plakar) may chunk so; a plugin must not care.
    pub async fn put_irregular(
        &self,
        kind: i32,
        mac: &[u8],
        content: Content,
        sizes: &'static [usize],
    ) -> Result<i64, CallError> {
        self.put_owned(kind, Bytes::copy_from_slice(mac), content, None, sizes)
            .await
    }

    async fn put_owned(
        &self,
        kind: i32,
        mac: Bytes,
        content: Content,
        sent: Option<Arc<dyn Fn(u64) + Send + Sync>>,
        sizes: &'static [usize],
    ) -> Result<i64, CallError> {
        let first = PutRequest {
            mac: mac.clone(),
            r#type: kind,
            chunk: Bytes::new(),
        };
        // Where each chunk starts and how long it is.
        let mut cuts = Vec::new();
        if sizes.is_empty() {
            for i in 0..content.len.div_ceil(PUT_CHUNK as u64) {
                let offset = i * PUT_CHUNK as u64;
                cuts.push((
                    offset,
                    (content.len - offset).min(PUT_CHUNK as u64) as usize,
                ));
            }
        } else {
            let mut offset = 0;
            for size in sizes.iter().cycle() {
                if offset >= content.len {
                    break;
                }
                let n = (content.len - offset).min(*size.max(&1) as u64) as usize;
                cuts.push((offset, n));
                offset += n as u64;
            }
        }
        let chunks = cuts.len() as u64;
        // Chunks are made by a task of their own, two ahead of the wire
        // (a stream made by a closure trips rustc's proof that the call
        // is Send); the task stops when the call drops the receiver.
        let (tx, rx) = tokio::sync::mpsc::channel::<PutRequest>(2);
        tokio::spawn(async move {
            if tx.send(first).await.is_err() {
                return;
            }
            for (offset, n) in cuts {
                let message = PutRequest {
                    chunk: Bytes::from(content.pattern.bytes(offset, n)),
                    ..Default::default()
                };
                if tx.send(message).await.is_err() {
                    return;
                }
                if let Some(sent) = &sent {
                    sent(offset + n as u64);
                }
            }
        });
        let body = tokio_stream::wrappers::ReceiverStream::new(rx);
        let call = format!(
            "Put {} {} ({} B: mac and type, then {} chunk{} of {})",
            kind_name(kind),
            key_name(&mac),
            content.len,
            chunks,
            if chunks == 1 { "" } else { "s" },
            if sizes.is_empty() {
                "at most 1 MiB".to_string()
            } else {
                format!("irregular sizes, cycling {sizes:?} B")
            }
        );
        // At least 1 MiB/s, beyond the call timeout.
        let limit = self.timeout + Duration::from_secs(content.len >> 20);
        let started = Instant::now();
        let mut client = self.client();
        let result = match tokio::time::timeout(limit, client.put(body)).await {
            Ok(Ok(reply)) => Ok(reply.into_inner().bytes_written),
            Ok(Err(status)) => Err(CallError::status(status, &self.plugin)
                .settle(&self.plugin)
                .await),
            Err(_) => Err(CallError::timeout(limit, &self.plugin)),
        };
        let answer = match &result {
            Ok(n) => format!("bytes_written={n}"),
            Err(e) => e.to_string(),
        };
        self.note(call, answer, started);
        result
    }

    pub fn put(
        &self,
        kind: i32,
        mac: &[u8],
        content: Content,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<i64, CallError>> + Send + 'static>>
    {
        self.put_with(kind, mac, content, None)
    }

    /// A Get read to its end, checked against `expect` as it arrives.
    pub async fn get(
        &self,
        kind: i32,
        mac: &[u8],
        range: Option<(u64, u32)>,
        expect: Option<Expect>,
    ) -> Result<Received, CallError> {
        self.get_with(kind, mac, range, expect, None).await
    }

    /// As `get`, telling `read` the bytes received so far.
    pub async fn get_with(
        &self,
        kind: i32,
        mac: &[u8],
        range: Option<(u64, u32)>,
        expect: Option<Expect>,
        read: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    ) -> Result<Received, CallError> {
        let call = get_call(kind, mac, range);
        let started = Instant::now();
        let mut checker = Checker::new(expect);
        // The most the body may bring: what is expected when it is known
        // (one byte more is already wrong), else the cap; and the whole
        // call has a deadline, so a body without end (or endless empty
        // messages) ends the call.
        let most = expect.map(|e| e.available()).unwrap_or(self.body_cap);
        let deadline = tokio::time::Instant::now() + self.get_deadline(most);
        let result = async {
            let mut stream = match tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + self.timeout),
                self.client().get(get_request(kind, mac, range)),
            )
            .await
            {
                Ok(Ok(reply)) => reply.into_inner(),
                Ok(Err(status)) => {
                    return Err(CallError::status(status, &self.plugin).settle(&self.plugin).await)
                }
                Err(_) => return Err(CallError::timeout(self.timeout, &self.plugin)),
            };
            loop {
                let next = deadline.min(tokio::time::Instant::now() + self.timeout);
                match tokio::time::timeout_at(next, stream.message()).await {
                    Ok(Ok(Some(reply))) => {
                        checker.take(&reply.chunk);
                        if let Some(read) = &read {
                            read(checker.got.len);
                        }
                        if checker.got.len > most {
                            // Dropping the stream cancels it (RST_STREAM).
                            drop(stream);
                            if expect.is_some() {
                                // The bytes past the end are the proof.
                                return Ok(());
                            }
                            return Err(CallError {
                                code: None,
                                message: format!(
                                    "the body ran past {most} B (more than any object stored): the stream was cancelled"
                                ),
                                died: self.plugin.death(),
                                timed_out: false,
                                overran: true,
                            });
                        }
                    }
                    Ok(Ok(None)) => return Ok(()),
                    Ok(Err(status)) => {
                        let mut e = CallError::status(status, &self.plugin).settle(&self.plugin).await;
                        if checker.got.len > 0 {
                            e.message = format!(
                                "{} (after {} B of the body)",
                                e.message, checker.got.len
                            );
                        }
                        return Err(e);
                    }
                    Err(_) if tokio::time::Instant::now() >= deadline => {
                        let limit = self.get_deadline(most);
                        let mut e = CallError::timeout(limit, &self.plugin);
                        e.message = format!(
                            "the body did not end within {} s ({} B in {} messages)",
                            limit.as_secs(),
                            checker.got.len,
                            checker.got.messages
                        );
                        return Err(e);
                    }
                    Err(_) => {
                        let mut e = CallError::timeout(self.timeout, &self.plugin);
                        e.message = format!("{} for the next chunk after {} B", e.message, checker.got.len);
                        return Err(e);
                    }
                }
            }
        }
        .await;
        let got = checker.finish();
        match result {
            Ok(()) => {
                self.note(call, got.to_string(), started);
                Ok(got)
            }
            Err(e) => {
                self.note(call, e.to_string(), started);
                Err(e)
            }
        }
    }
}

pub type StoreClient = crate::proto::store_client::StoreClient<tonic::transport::Channel>;

pub fn get_request(kind: i32, mac: &[u8], range: Option<(u64, u32)>) -> GetRequest {
    GetRequest {
        mac: Bytes::copy_from_slice(mac),
        r#type: kind,
        range: range.map(|(offset, length)| Range { offset, length }),
    }
}

pub fn get_call(kind: i32, mac: &[u8], range: Option<(u64, u32)>) -> String {
    match range {
        Some((offset, length)) => format!(
            "Get {} {} range offset={offset} length={length}",
            kind_name(kind),
            key_name(mac)
        ),
        None => format!("Get {} {}", kind_name(kind), key_name(mac)),
    }
}

/// Bytes for a report: short ones as text or hex, long ones by length.
pub fn show_bytes(bytes: &[u8]) -> String {
    if bytes.len() <= 48 {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.chars().all(|c| !c.is_control()) => format!("{text:?}"),
            _ => format!("0x{}", hex::encode(bytes)),
        }
    } else {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        format!("{} B, sha256 {}", bytes.len(), hex::encode(&digest[..6]))
    }
}
