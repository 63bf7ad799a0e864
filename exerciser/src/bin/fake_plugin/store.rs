//! The fake plugin's store: one folder, `CONFIG` and `<resource>/<hex MAC>`.

use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use kloset_exerciser::proto::store_server::Store;
use kloset_exerciser::proto::*;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

#[derive(Default)]
pub struct FakeStore {
    state: Mutex<Option<Setup>>,
}

#[derive(Clone)]
struct Setup {
    root: PathBuf,
    flaw: Option<String>,
}

impl FakeStore {
    fn setup(&self) -> Result<Setup, Status> {
        self.state
            .lock()
            .expect("state")
            .clone()
            .ok_or_else(|| Status::failed_precondition("Init first"))
    }

    fn flawed(&self, flaw: &str) -> bool {
        self.setup().ok().and_then(|s| s.flaw).as_deref() == Some(flaw)
    }

    fn path(&self, kind: i32, mac: &[u8]) -> Result<PathBuf, Status> {
        if !(1..=5).contains(&kind) {
            return Err(Status::invalid_argument(format!("no resource {kind}")));
        }
        if mac.len() != 32 {
            return Err(Status::invalid_argument(format!(
                "a MAC is 32 bytes, not {}",
                mac.len()
            )));
        }
        Ok(self
            .setup()?
            .root
            .join(kind.to_string())
            .join(hex::encode(mac)))
    }
}

fn io(e: std::io::Error) -> Status {
    if e.kind() == std::io::ErrorKind::NotFound {
        Status::not_found("not found")
    } else {
        Status::internal(e.to_string())
    }
}

#[tonic::async_trait]
impl Store for FakeStore {
    async fn init(&self, request: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let config = request.into_inner().config;
        let location = config
            .get("location")
            .ok_or_else(|| Status::invalid_argument("no location"))?;
        let root = location
            .strip_prefix("fake://")
            .ok_or_else(|| Status::invalid_argument("the location is fake:///DIR"))?;
        // Only the first process may start: each later Init is refused
        // (a plugin that cannot be started again).
        if config.get("flaw").map(String::as_str) == Some("init-once") {
            let marker = PathBuf::from(format!("{root}.inited"));
            if marker.exists() {
                return Err(Status::unavailable(
                    "init-once: this plugin starts once only",
                ));
            }
            std::fs::write(&marker, b"").map_err(io)?;
        }
        let mut state = self.state.lock().expect("state");
        *state = Some(Setup {
            root: PathBuf::from(root),
            flaw: config.get("flaw").cloned(),
        });
        Ok(Response::new(InitResponse {
            origin: "localhost".into(),
            r#type: "fake".into(),
            root: root.into(),
            flags: 0,
        }))
    }

    async fn create(
        &self,
        request: Request<CreateRequest>,
    ) -> Result<Response<CreateResponse>, Status> {
        let root = self.setup()?.root;
        let config = root.join("CONFIG");
        if config.exists() && !self.flawed("second-create") {
            return Err(Status::already_exists("a repository already exists here"));
        }
        for kind in 1..=5 {
            std::fs::create_dir_all(root.join(kind.to_string())).map_err(io)?;
        }
        std::fs::create_dir_all(root.join("tmp")).map_err(io)?;
        std::fs::write(config, &request.into_inner().config).map_err(io)?;
        Ok(Response::new(CreateResponse {}))
    }

    async fn open(&self, _: Request<OpenRequest>) -> Result<Response<OpenResponse>, Status> {
        let config = std::fs::read(self.setup()?.root.join("CONFIG")).map_err(io)?;
        Ok(Response::new(OpenResponse {
            config: Bytes::from(config),
        }))
    }

    async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        Ok(Response::new(PingResponse {}))
    }

    async fn mode(&self, _: Request<ModeRequest>) -> Result<Response<ModeResponse>, Status> {
        Ok(Response::new(ModeResponse { mode: 6 }))
    }

    async fn size(&self, _: Request<SizeRequest>) -> Result<Response<SizeResponse>, Status> {
        let root = self.setup()?.root;
        let mut size = 0;
        for kind in 1..=5 {
            if let Ok(entries) = std::fs::read_dir(root.join(kind.to_string())) {
                for entry in entries.flatten() {
                    size += entry.metadata().map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        Ok(Response::new(SizeResponse { size: size as i64 }))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let kind = request.into_inner().r#type;
        let dir = self
            .path(kind, &[0; 32])?
            .parent()
            .expect("a folder")
            .to_path_buf();
        let keep_deleted = self.flawed("lists-deleted");
        let mut macs = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let name = match name.strip_suffix(".deleted") {
                Some(deleted) if keep_deleted => deleted.to_string(),
                Some(_) => continue,
                None => name,
            };
            if let Ok(mac) = hex::decode(&name) {
                macs.push(Bytes::from(mac));
            }
        }
        Ok(Response::new(ListResponse { macs }))
    }

    async fn put(
        &self,
        request: Request<Streaming<PutRequest>>,
    ) -> Result<Response<PutResponse>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("an empty Put"))?;
        let path = self.path(first.r#type, &first.mac)?;
        let tmp = self.setup()?.root.join("tmp").join(format!(
            "{}-{}",
            hex::encode(&first.mac),
            std::process::id()
        ));
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut written = first.chunk.len() as i64;
        file.write_all(&first.chunk).await.map_err(io)?;
        while let Some(message) = stream.message().await? {
            file.write_all(&message.chunk).await.map_err(io)?;
            written += message.chunk.len() as i64;
        }
        file.flush().await.map_err(io)?;
        drop(file);
        let _ = std::fs::remove_file(path.with_extension("deleted"));
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(Response::new(PutResponse {
            bytes_written: written,
        }))
    }

    type GetStream = ReceiverStream<Result<GetResponse, Status>>;

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<Self::GetStream>, Status> {
        let request = request.into_inner();
        let path = self.path(request.r#type, &request.mac)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.flawed("crash-missing") => {
                eprintln!("crash-missing: no such object");
                std::process::exit(3);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.flawed("hang-missing") => {
                let _ = e;
                std::future::pending::<()>().await;
                unreachable!()
            }
            Err(e) => return Err(io(e)),
        };
        // After the right bytes, a body without end: 1 MiB chunks of
        // zeros, or empty messages.
        let endless = if self.flawed("endless-get") {
            Some(1usize << 20)
        } else if self.flawed("endless-empty-get") {
            Some(0)
        } else {
            None
        };
        let size = file.metadata().await.map_err(io)?.len();
        let (mut offset, mut left) = match request.range {
            Some(range) => (range.offset, range.length as u64),
            None => (0, size),
        };
        if request.range.is_some() && self.flawed("wrong-range") {
            offset += 1;
        }
        offset = offset.min(size);
        left = left.min(size - offset);
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while left > 0 {
                let mut chunk = vec![0; left.min(1 << 20) as usize];
                if let Err(e) = file.read_exact(&mut chunk).await {
                    let _ = tx.send(Err(io(e))).await;
                    return;
                }
                left -= chunk.len() as u64;
                if tx
                    .send(Ok(GetResponse {
                        chunk: Bytes::from(chunk),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if let Some(n) = endless {
                let chunk = Bytes::from(vec![0u8; n]);
                while tx
                    .send(Ok(GetResponse {
                        chunk: chunk.clone(),
                    }))
                    .await
                    .is_ok()
                {}
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let request = request.into_inner();
        let path = self.path(request.r#type, &request.mac)?;
        if path.exists() {
            std::fs::rename(&path, path.with_extension("deleted")).map_err(io)?;
        }
        Ok(Response::new(DeleteResponse {}))
    }

    async fn close(&self, _: Request<CloseRequest>) -> Result<Response<CloseResponse>, Status> {
        Ok(Response::new(CloseResponse {}))
    }
}
