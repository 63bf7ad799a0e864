//! The `store.Store` gRPC service over a [`StoreHandle`].
//!
//! Every method is thin: check the request, run the store call on a
//! blocking thread (the handle drives wasmtime synchronously), and turn the
//! answer or the error into the reply. The handle's instance pool lets
//! plakar's concurrent Put and Get streams run in parallel (Puts but
//! locks four at a time: kloset-host's put slots).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use kloset_host::{Error, Fetched, Plugin, Served, StoreHandle};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::calls::{trace, Call, Calls, Outcome, FINISH_WAIT};
use crate::get_output::{stream_object, stream_pieces};
use crate::proto::store_server::Store;
use crate::proto::*;
use crate::put_input::{self, Piece};
use crate::resource::{mac_from_wire, resource_from_wire};
use crate::status::{not_initialised, one_line, store_status};

/// The protocol this plugin serves; plakar names it in `InitRequest.proto`.
pub const PROTOCOL: &str = "oci";

/// The service. `Init` builds the store; every other call uses it.
pub struct StoreService {
    component: Option<PathBuf>,
    opened: RwLock<Option<Opened>>,
    calls: Calls,
}

/// A store built by `Init`.
#[derive(Clone)]
struct Opened {
    store: Arc<StoreHandle>,
    /// The location without credentials, for messages.
    location: String,
}

impl StoreService {
    /// A service loading the component from `component` (see
    /// [`component_path`]); `None` fails `Init` with a message saying so.
    pub fn new(component: Option<PathBuf>) -> StoreService {
        StoreService {
            component,
            opened: RwLock::new(None),
            calls: Calls::default(),
        }
    }

    /// The store calls in flight, for the process to let them finish
    /// before it exits.
    pub fn calls(&self) -> Calls {
        self.calls.clone()
    }

    fn opened(&self) -> Result<Opened, Status> {
        self.opened
            .read()
            .expect("no thread panics holding the lock")
            .clone()
            .ok_or_else(not_initialised)
    }
}

/// Where the component is: `$KLOSET_COMPONENT` when set (tests, custom
/// builds), else `kloset_oci.wasm` beside this executable, where the
/// package's `extra_files` puts it. Nothing else: a package that lost its
/// component must say so, not load some other build.
pub fn component_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(kloset_host::COMPONENT_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("kloset_oci.wasm"))
}

/// Runs a blocking store call off the async threads. `call` counts as in
/// flight until the store call returns, even if the handler is dropped.
async fn blocking<T: Outcome + Send + 'static>(
    mut call: Call,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    let work = move || {
        let done = work();
        call.outcome(&done);
        done
    };
    tokio::task::spawn_blocking(work).await.map_err(|_| {
        Status::internal(
            "the store call failed inside the plugin (it panicked; see the plugin's stderr)",
        )
    })
}

/// `oci://user:secret@host/repo` shown as `oci://host/repo`: messages never
/// carry credentials, even ones a user wrote into the location. Everything
/// up to the last `@` goes, `/` or not (a token in base64 holds `/`).
pub fn shown_location(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return match location.rsplit_once('@') {
            Some((_, after)) => after.to_string(),
            None => location.to_string(),
        };
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    format!("{scheme}://{rest}")
}

/// Keys of a plakar store configuration that are plakar's, not the store's.
const PLAKAR_KEYS: [&str; 2] = ["passphrase", "passphrase_cmd"];

/// Whether an option names a file (the option table's `Path` kind): plakar
/// starts the plugin in whatever folder plakar itself runs in, so a
/// relative path would read a different file, or none, from one run to the
/// next.
fn names_a_file(key: &str) -> bool {
    kloset_host::OPTIONS
        .iter()
        .any(|o| o.name == key && matches!(o.kind, kloset_host::OptionKind::Path))
}

fn check_paths(pairs: &[(String, String)]) -> Result<(), Status> {
    for (key, value) in pairs {
        if names_a_file(key) && !std::path::Path::new(value).is_absolute() {
            return Err(Status::invalid_argument(format!(
                "option '{key}' must be an absolute path: plakar runs the plugin from whatever folder plakar is started in"
            )));
        }
    }
    Ok(())
}

/// plakar's gRPC client (grpc-go with its defaults, plugins/connect.go in
/// plakar v1.1.4) refuses replies over 4 MiB, and List is one reply: at 34
/// bytes a MAC on the wire, 123,297 keys, about 7.5 TiB of 64 MiB
/// packfiles. The store lists past that; plakar cannot take it.
const MAX_LIST_MACS: usize = (4 << 20) / 34 - 64;

#[tonic::async_trait]
impl Store for StoreService {
    async fn init(&self, request: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let InitRequest { proto, config } = request.into_inner();
        if proto != PROTOCOL {
            return Err(Status::invalid_argument(format!(
                "this plugin serves the '{PROTOCOL}' protocol, not '{}'",
                one_line(&proto)
            )));
        }
        // A map has no order; sorted, the same options give the same store.
        // plakar's own keys are not the store's: it sends a store's
        // `passphrase` along when that store is a `sync` destination.
        let mut pairs: Vec<(String, String)> = config
            .into_iter()
            .filter(|(key, _)| !PLAKAR_KEYS.contains(&key.as_str()))
            .collect();
        pairs.sort();
        check_paths(&pairs)?;
        let raw_location = pairs
            .iter()
            .find(|(key, _)| key == "location")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let location = if raw_location.is_empty() {
            "oci://(no location)".to_string()
        } else {
            shown_location(&raw_location)
        };
        let component = self.component.clone();
        let shown = location.clone();
        let call = self.calls.begin("init");
        let (store, reply) = blocking(call, move || -> Result<_, Status> {
            let path = component.ok_or_else(|| {
                Status::failed_precondition("no kloset-oci component: $KLOSET_COMPONENT is unset and no kloset_oci.wasm is beside the plugin")
            })?;
            let plugin = Plugin::load(&path).map_err(|e| {
                Status::failed_precondition(one_line(&format!(
                    "cannot load the kloset-oci component: {e}"
                )))
            })?;
            // A location holding credentials is refused by the store; its
            // message must not quote them back (plakar prints it).
            let failed = |e: Error| {
                let status = store_status("init", &shown, &e);
                if raw_location.is_empty() || !status.message().contains(&raw_location) {
                    return status;
                }
                Status::new(status.code(), status.message().replace(&raw_location, &shown))
            };
            let store = StoreHandle::new(&plugin, &pairs).map_err(failed)?;
            let reply = InitResponse {
                origin: store.origin().map_err(failed)?,
                r#type: store.store_type().map_err(failed)?,
                root: store.root().map_err(failed)?,
                flags: store.flags().map_err(failed)?,
            };
            Ok((store, reply))
        })
        .await??;
        *self
            .opened
            .write()
            .expect("no thread panics holding the lock") = Some(Opened {
            store: Arc::new(store),
            location,
        });
        Ok(Response::new(reply))
    }

    async fn create(
        &self,
        request: Request<CreateRequest>,
    ) -> Result<Response<CreateResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let config = request.into_inner().config;
        let call = self.calls.begin("create");
        blocking(call, move || store.create(&config))
            .await?
            .map_err(|e| store_status("create", &location, &e))?;
        Ok(Response::new(CreateResponse {}))
    }

    async fn open(&self, _: Request<OpenRequest>) -> Result<Response<OpenResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let config = blocking(self.calls.begin("open"), move || store.open())
            .await?
            .map_err(|e| store_status("open", &location, &e))?;
        Ok(Response::new(OpenResponse {
            config: config.into(),
        }))
    }

    async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        blocking(self.calls.begin("ping"), move || store.ping())
            .await?
            .map_err(|e| store_status("ping", &location, &e))?;
        Ok(Response::new(PingResponse {}))
    }

    async fn mode(&self, _: Request<ModeRequest>) -> Result<Response<ModeResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let mode = blocking(self.calls.begin("mode"), move || store.mode())
            .await?
            .map_err(|e| store_status("mode", &location, &e))?;
        Ok(Response::new(ModeResponse { mode: mode as i32 }))
    }

    async fn size(&self, _: Request<SizeRequest>) -> Result<Response<SizeResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let size = blocking(self.calls.begin("size"), move || store.size())
            .await?
            .map_err(|e| store_status("size", &location, &e))?;
        Ok(Response::new(SizeResponse {
            size: i64::try_from(size).unwrap_or(i64::MAX),
        }))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let kind = resource_from_wire(request.into_inner().r#type)?;
        let call = self.calls.begin(format_args!("list {kind}s"));
        let macs = blocking(call, move || store.list(kind))
            .await?
            .map_err(|e| store_status(&format!("list {kind}s of"), &location, &e))?;
        if macs.len() > MAX_LIST_MACS {
            return Err(Status::resource_exhausted(format!(
                "list {kind}s of {location}: {} objects do not fit in one reply under the 4 MiB message limit of plakar's gRPC client (at most {MAX_LIST_MACS}, about 7.5 TiB of packfiles); plakar cannot list this repository until its client accepts larger replies",
                macs.len()
            )));
        }
        Ok(Response::new(ListResponse {
            macs: macs.iter().map(|mac| mac.0.to_vec().into()).collect(),
        }))
    }

    async fn put(
        &self,
        request: Request<Streaming<PutRequest>>,
    ) -> Result<Response<PutResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let mut stream = request.into_inner();
        let first = stream.message().await?.ok_or_else(|| {
            Status::invalid_argument("a Put stream must start with the object's MAC and type")
        })?;
        let named = resource_from_wire(first.r#type)
            .and_then(|kind| Ok((kind, mac_from_wire(&first.mac)?)));
        let (kind, mac) = match named {
            Ok(named) => named,
            Err(status) => {
                drain(&mut stream).await;
                return Err(status);
            }
        };
        let (mut tx, reader) = put_input::channel();
        let mut call = self
            .calls
            .begin(format_args!("put {kind} {}", short_hex(mac.as_bytes())));
        let job = tokio::task::spawn_blocking(move || {
            let written = store.put(kind, &mac, reader);
            call.outcome(&written);
            written
        });

        // Forward the chunks (the first message may carry one too), from
        // when the store starts reading: a put waiting for a put slot
        // holds its first chunk and leaves the rest of its stream to
        // HTTP/2 flow control. A send
        // fails once the store stopped reading: it failed, and its error is
        // the answer.
        let mut pending = Some(first.chunk).filter(|chunk| !chunk.is_empty());
        loop {
            let piece = match pending.take() {
                Some(chunk) => Piece::Chunk(chunk),
                None => match stream.message().await {
                    Ok(Some(message)) if message.chunk.is_empty() => continue,
                    Ok(Some(message)) => Piece::Chunk(message.chunk),
                    Ok(None) => {
                        // A client's RST_STREAM can read as the end of the
                        // request body (hyper 1.12 does so for NO_ERROR,
                        // earlier versions for CANCEL too), and hyper drops
                        // this handler at its next Pending once the stream
                        // is reset. Yield once before declaring the object
                        // complete: a reset Put is dropped here, and the
                        // store abandons the object.
                        tokio::task::yield_now().await;
                        Piece::End
                    }
                    Err(status) => {
                        Piece::Broken(format!("the Put stream broke: {}", status.message()))
                    }
                },
            };
            let last = !matches!(piece, Piece::Chunk(_));
            if !tx.send(piece).await || last {
                break;
            }
        }
        drop(tx);
        let result = job.await.map_err(|_| {
            Status::internal(
                "the store call failed inside the plugin (it panicked; see the plugin's stderr)",
            )
        })?;
        // Plakar shows "failed to send chunk: EOF" instead of our message if
        // we answer before its stream is read to the end.
        drain(&mut stream).await;
        let hex = short_hex(mac.as_bytes());
        let written =
            result.map_err(|e| store_status(&format!("put {kind} {hex}… to"), &location, &e))?;
        Ok(Response::new(PutResponse {
            bytes_written: i64::try_from(written).unwrap_or(i64::MAX),
        }))
    }

    type GetStream = ReceiverStream<Result<GetResponse, Status>>;

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<Self::GetStream>, Status> {
        let Opened { store, location } = self.opened()?;
        let GetRequest { mac, r#type, range } = request.into_inner();
        let kind = resource_from_wire(r#type)?;
        let mac = mac_from_wire(&mac)?;
        let range = range.map(|r| (r.offset, r.length));
        let hex = short_hex(mac.as_bytes());
        let operation = format!("get {kind} {hex}… from");
        // A packfile's range (plakar's reads of chunks and index nodes)
        // goes through the handle's blocks of packfiles: a few hundred
        // bytes each, near each other, they cost one request a block. The
        // handle decides (`serve`): a range its blocks hold is answered on
        // this thread, with no blocking task; the rest is fetched on one,
        // into the blocks or streamed (never held whole).
        let fetch = match store.serve(kind, &mac, range) {
            Served::Held(pieces) => {
                return Ok(Response::new(ReceiverStream::new(stream_pieces(pieces))))
            }
            Served::Fetch(fetch) => fetch,
        };
        let ranged = if range.is_some() { " range" } else { "" };
        let call = self.calls.begin(format_args!("get {kind} {hex}{ranged}"));
        let fetched = blocking(call, move || fetch.run())
            .await?
            .map_err(|e| store_status(&operation, &location, &e))?;
        let replies = match fetched {
            Fetched::Bytes(pieces) => stream_pieces(pieces),
            Fetched::Stream(reader) => {
                stream_object(reader, move |e| store_status(&operation, &location, &e))
            }
        };
        Ok(Response::new(ReceiverStream::new(replies)))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let Opened { store, location } = self.opened()?;
        let DeleteRequest { mac, r#type } = request.into_inner();
        let kind = resource_from_wire(r#type)?;
        let mac = mac_from_wire(&mac)?;
        let hex = short_hex(mac.as_bytes());
        let call = self.calls.begin(format_args!("delete {kind} {hex}"));
        blocking(call, move || store.delete(kind, &mac))
            .await?
            .map_err(|e| store_status(&format!("delete {kind} {hex}… from"), &location, &e))?;
        Ok(Response::new(DeleteResponse {}))
    }

    /// plakar's last call, answered once the calls sent before it are done:
    /// plakar exits as soon as it has the answer, and its lock's Delete,
    /// sent from a goroutine, is usually one of them. The store itself is
    /// left open: that goroutine can also send the Delete just after Close
    /// (seen in 1 maintenance of 20), and a closed store would refuse it.
    /// The store goes with the process, which lets such late calls finish
    /// first (`main`); closing it would only have marked it closed.
    async fn close(&self, _: Request<CloseRequest>) -> Result<Response<CloseResponse>, Status> {
        self.opened()?;
        trace(format_args!(
            "close: received, {} calls in flight",
            self.calls.in_flight()
        ));
        let left = self.calls.finished(FINISH_WAIT).await;
        trace(format_args!("close: answered, {left} calls in flight"));
        Ok(Response::new(CloseResponse {}))
    }
}

/// The first 4 bytes of a MAC in hex, to name an object in a message.
fn short_hex(mac: &[u8]) -> String {
    mac.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Reads a request stream to its end, ignoring what it holds.
async fn drain(stream: &mut Streaming<PutRequest>) {
    while let Ok(Some(_)) = stream.message().await {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_locations_never_hold_credentials() {
        let cases = [
            ("oci://ci:ab/cd==@reg/team", "oci://reg/team"),
            ("oci://user:secret@host:5000/a/b", "oci://host:5000/a/b"),
            ("oci://tok@host/a", "oci://host/a"),
            ("oci://a@b@host/r", "oci://host/r"),
            ("oci://host/repo", "oci://host/repo"),
            ("oci://host", "oci://host"),
            ("no-scheme", "no-scheme"),
            ("u:p@no-scheme/r", "no-scheme/r"),
        ];
        for (given, shown) in cases {
            assert_eq!(shown_location(given), shown, "{given}");
        }
    }

    #[test]
    fn path_options_must_be_absolute() {
        let ok = vec![("tls_ca_file".to_string(), "/etc/ca.pem".to_string())];
        assert!(check_paths(&ok).is_ok());
        // The three options naming files, as plakar users write them.
        for key in ["tls_ca_file", "password_file", "docker_config"] {
            let bad = vec![(key.to_string(), "relative/file".to_string())];
            let status = check_paths(&bad).unwrap_err();
            assert!(status.message().contains(key), "{status:?}");
            assert!(!status.message().contains("relative/file"), "{status:?}");
        }
    }
}
