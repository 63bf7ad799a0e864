//! The WIT export glue: converts between the generated types and the store's,
//! nothing else.

use crate::error::StoreError;
use crate::get::ObjectReader;
use crate::manifest::BlobRef;
use crate::put::PutSession;
use crate::range::ByteRange;
use crate::resource::{Mac, Resource};
use crate::store::OciStore;
use crate::wasi_transport::WasiTransport;
use std::cell::RefCell;
use std::rc::Rc;

wit_bindgen::generate!({
    path: "wit",
    world: "kloset-store",
});

use exports::kloset::store::store::{
    Guest, GuestHashedWriter, GuestReader, GuestStore, GuestWriter, HashedWriter, Reader, Store,
    Writer,
};
use exports::kloset::store::types as wit;

/// Largest chunk a single `reader.read` hands out, whatever the caller asks.
const MAX_READ: u32 = 4 << 20;

struct Component;

impl Guest for Component {
    type Store = StoreResource;
    type Writer = WriterResource;
    type HashedWriter = HashedWriterResource;
    type Reader = ReaderResource;
}

export!(Component);

struct StoreResource(Rc<OciStore<WasiTransport>>);
struct WriterResource(RefCell<PutSession<WasiTransport>>);
/// A put whose host hashes the bytes (`put-hashed`).
struct HashedWriterResource(RefCell<PutSession<WasiTransport>>);
struct ReaderResource(RefCell<ObjectReader<WasiTransport>>);

fn to_wit(error: StoreError) -> wit::Error {
    match error {
        StoreError::NotFound(m) => wit::Error::NotFound(m),
        StoreError::AlreadyExists(m) => wit::Error::AlreadyExists(m),
        StoreError::InvalidConfig(m) => wit::Error::InvalidConfig(m),
        StoreError::InvalidArgument(m) => wit::Error::InvalidArgument(m),
        StoreError::Unauthorized(m) => wit::Error::Unauthorized(m),
        StoreError::Denied(m) => wit::Error::Denied(m),
        StoreError::Unsupported(m) => wit::Error::Unsupported(m),
        StoreError::Integrity(m) => wit::Error::Integrity(m),
        StoreError::RateLimited(m) => wit::Error::RateLimited(m),
        StoreError::Transport(m) => wit::Error::Transport(m),
        // WIT `error` (kloset:store@0.4.0) has no case of its own for a
        // broken protocol; adding one would change the package every host
        // reads. Status 0, which no HTTP answer has, marks it; the wasmtime
        // host reads it back as `Protocol`.
        StoreError::Protocol(message) => wit::Error::Registry(wit::RegistryFailure {
            status: 0,
            code: String::new(),
            message,
        }),
        StoreError::Registry {
            status,
            code,
            message,
        } => wit::Error::Registry(wit::RegistryFailure {
            status,
            code,
            message,
        }),
    }
}

fn kind(resource: wit::Resource) -> Resource {
    match resource {
        wit::Resource::Packfile => Resource::Packfile,
        wit::Resource::State => Resource::State,
        wit::Resource::Lock => Resource::Lock,
        wit::Resource::EccPackfile => Resource::EccPackfile,
        wit::Resource::EccState => Resource::EccState,
    }
}

impl GuestStore for StoreResource {
    fn from_config(config: Vec<(String, String)>) -> Result<Store, wit::Error> {
        // Credentials the options lack come from the environment the host
        // gives the component (OCI_REGISTRY_USERNAME and friends).
        let env = |name: &str| std::env::var(name).ok();
        let config = crate::config::StoreConfig::parse_with_env(&config, &env).map_err(to_wit)?;
        let (connect, first_byte, between_bytes) = config.timeouts();
        let transport = WasiTransport::new(connect, first_byte, between_bytes);
        Ok(Store::new(StoreResource(OciStore::new(config, transport))))
    }

    fn create(&self, config: Vec<u8>) -> Result<(), wit::Error> {
        self.0.create(&config).map_err(to_wit)
    }

    fn open(&self) -> Result<Vec<u8>, wit::Error> {
        self.0.open().map_err(to_wit)
    }

    fn ping(&self) -> Result<(), wit::Error> {
        self.0.ping().map_err(to_wit)
    }

    fn origin(&self) -> String {
        self.0.origin()
    }

    fn type_(&self) -> String {
        "oci".to_string()
    }

    fn root(&self) -> String {
        self.0.root()
    }

    fn flags(&self) -> u32 {
        0
    }

    fn mode(&self) -> Result<u32, wit::Error> {
        self.0.mode().map_err(to_wit)
    }

    fn size(&self) -> Result<u64, wit::Error> {
        self.0.size().map_err(to_wit)
    }

    fn list(&self, resource: wit::Resource) -> Result<Vec<Vec<u8>>, wit::Error> {
        let macs = self.0.list(kind(resource)).map_err(to_wit)?;
        Ok(macs.into_iter().map(|m| m.0.to_vec()).collect())
    }

    fn put(&self, resource: wit::Resource, key: Vec<u8>) -> Result<Writer, wit::Error> {
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        let session = self.0.put(kind(resource), mac).map_err(to_wit)?;
        Ok(Writer::new(WriterResource(RefCell::new(session))))
    }

    fn put_hashed(
        &self,
        resource: wit::Resource,
        key: Vec<u8>,
    ) -> Result<HashedWriter, wit::Error> {
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        let session = self.0.put_hashed(kind(resource), mac).map_err(to_wit)?;
        Ok(HashedWriter::new(HashedWriterResource(RefCell::new(
            session,
        ))))
    }

    fn object_size(&self, resource: wit::Resource, key: Vec<u8>) -> Result<u64, wit::Error> {
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        self.0.object_size(kind(resource), &mac).map_err(to_wit)
    }

    fn get(
        &self,
        resource: wit::Resource,
        key: Vec<u8>,
        range: Option<wit::ByteRange>,
    ) -> Result<Reader, wit::Error> {
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        let range = range.map(|r| ByteRange {
            offset: r.offset,
            length: r.length,
        });
        let reader = self.0.get(kind(resource), &mac, range).map_err(to_wit)?;
        Ok(Reader::new(ReaderResource(RefCell::new(reader))))
    }

    fn delete(&self, resource: wit::Resource, key: Vec<u8>) -> Result<(), wit::Error> {
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        self.0.delete(kind(resource), &mac).map_err(to_wit)
    }

    fn known_blob(&self, resource: wit::Resource, key: Vec<u8>) -> Option<wit::BlobRef> {
        let mac = Mac::from_slice(&key).ok()?;
        let blob = self.0.repository().known_blob(kind(resource), &mac)?;
        Some(wit::BlobRef {
            digest: blob.digest,
            size: blob.size,
        })
    }

    fn teach_blob(
        &self,
        resource: wit::Resource,
        key: Vec<u8>,
        blob: wit::BlobRef,
    ) -> Result<(), wit::Error> {
        let repo = self.0.repository();
        repo.check_open().map_err(to_wit)?;
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        let blob = BlobRef {
            digest: blob.digest,
            size: blob.size,
        };
        repo.teach_blob(kind(resource), &mac, blob).map_err(to_wit)
    }

    fn forget_blob(&self, resource: wit::Resource, key: Vec<u8>) -> Result<(), wit::Error> {
        let mac = Mac::from_slice(&key).map_err(to_wit)?;
        self.0.repository().forget(kind(resource), &mac);
        Ok(())
    }

    fn close(&self) -> Result<(), wit::Error> {
        self.0.close();
        Ok(())
    }
}

impl GuestWriter for WriterResource {
    fn write(&self, chunk: Vec<u8>) -> Result<(), wit::Error> {
        self.0.borrow_mut().write(&chunk).map_err(to_wit)
    }

    fn finish(&self) -> Result<u64, wit::Error> {
        self.0.borrow_mut().finish().map_err(to_wit)
    }
}

impl GuestHashedWriter for HashedWriterResource {
    fn write(&self, chunk: Vec<u8>) -> Result<(), wit::Error> {
        self.0.borrow_mut().write(&chunk).map_err(to_wit)
    }

    fn finish(&self, digest: String) -> Result<u64, wit::Error> {
        self.0
            .borrow_mut()
            .finish_with_digest(&digest)
            .map_err(to_wit)
    }
}

impl GuestReader for ReaderResource {
    fn read(&self, max: u32) -> Result<Vec<u8>, wit::Error> {
        self.0
            .borrow_mut()
            .read(max.min(MAX_READ) as usize)
            .map_err(to_wit)
    }
}
