//! The two ways the bench drives a store: through the component
//! (`kloset_host::StoreHandle`) and natively (`kloset_oci::OciStore` over
//! [`NativeTransport`]). Workloads see both as a [`Path`] that hands each
//! calling thread a [`Caller`].

use std::rc::Rc;

use kloset_host::{Mac, Plugin, Resource, StoreHandle};
use kloset_oci::config::StoreConfig;
use kloset_oci::range::ByteRange;
use kloset_oci::OciStore;

use crate::BenchError;
use kloset_host::NativeTransport;

/// Bytes handed over per write, and asked for per read: what
/// `StoreHandle::put` and `ObjectReader` use across the component boundary.
const CHUNK: usize = 1 << 20;

/// One calling thread's view of a store.
pub trait Caller {
    fn open(&mut self) -> Result<(), BenchError>;
    fn create(&mut self, config: &[u8]) -> Result<(), BenchError>;
    fn put(&mut self, kind: Resource, mac: &Mac, data: &[u8]) -> Result<u64, BenchError>;
    fn get(
        &mut self,
        kind: Resource,
        mac: &Mac,
        range: Option<(u64, u32)>,
    ) -> Result<Vec<u8>, BenchError>;
    fn list(&mut self, kind: Resource) -> Result<Vec<Mac>, BenchError>;
    fn delete(&mut self, kind: Resource, mac: &Mac) -> Result<(), BenchError>;
}

/// A store reachable from many threads.
pub trait Path: Sync {
    /// `component` or `baseline`.
    fn name(&self) -> &'static str;
    /// A caller for the current thread.
    fn caller(&self) -> Box<dyn Caller + '_>;
    /// The largest guest linear memory reached, for the component.
    fn guest_peak_memory(&self) -> Option<usize>;
}

fn store_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Store(e.to_string())
}

/// The component path: one handle, shared by every thread; its pool lends
/// each call an instance.
pub struct ComponentPath {
    pub handle: StoreHandle,
}

impl ComponentPath {
    pub fn new(plugin: &Plugin, config: &[(String, String)]) -> Result<Self, BenchError> {
        let handle = StoreHandle::new(plugin, config).map_err(store_error)?;
        Ok(ComponentPath { handle })
    }
}

impl Path for ComponentPath {
    fn name(&self) -> &'static str {
        "component"
    }

    fn caller(&self) -> Box<dyn Caller + '_> {
        Box::new(ComponentCaller(&self.handle))
    }

    fn guest_peak_memory(&self) -> Option<usize> {
        Some(self.handle.peak_guest_memory())
    }
}

struct ComponentCaller<'a>(&'a StoreHandle);

impl Caller for ComponentCaller<'_> {
    fn open(&mut self) -> Result<(), BenchError> {
        self.0.open().map(drop).map_err(store_error)
    }

    fn create(&mut self, config: &[u8]) -> Result<(), BenchError> {
        self.0.create(config).map_err(store_error)
    }

    fn put(&mut self, kind: Resource, mac: &Mac, data: &[u8]) -> Result<u64, BenchError> {
        self.0.put(kind, mac, data).map_err(store_error)
    }

    fn get(
        &mut self,
        kind: Resource,
        mac: &Mac,
        range: Option<(u64, u32)>,
    ) -> Result<Vec<u8>, BenchError> {
        self.0.get(kind, mac, range).map_err(store_error)
    }

    fn list(&mut self, kind: Resource) -> Result<Vec<Mac>, BenchError> {
        self.0.list(kind).map_err(store_error)
    }

    fn delete(&mut self, kind: Resource, mac: &Mac) -> Result<(), BenchError> {
        self.0.delete(kind, mac).map_err(store_error)
    }
}

/// The native baseline: the component's protocol crate compiled natively,
/// sending through the egress of `egress_of` (a component handle), so both
/// paths share one connection pool and one request counter. `OciStore` is
/// single-threaded like a component instance: each thread gets its own, as
/// each concurrent caller of a handle gets its own instance.
pub struct NativePath<'a> {
    pub egress_of: &'a StoreHandle,
    pub config: StoreConfig,
}

impl<'a> NativePath<'a> {
    pub fn new(
        egress_of: &'a StoreHandle,
        config: &[(String, String)],
    ) -> Result<Self, BenchError> {
        let config = StoreConfig::parse(config).map_err(store_error)?;
        Ok(NativePath { egress_of, config })
    }
}

impl Path for NativePath<'_> {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn caller(&self) -> Box<dyn Caller + '_> {
        let transport = NativeTransport::new(self.egress_of.egress_client());
        Box::new(NativeCaller(OciStore::new(self.config.clone(), transport)))
    }

    fn guest_peak_memory(&self) -> Option<usize> {
        None
    }
}

struct NativeCaller(Rc<OciStore<NativeTransport>>);

fn oci_kind(kind: Resource) -> kloset_oci::Resource {
    match kind {
        Resource::Packfile => kloset_oci::Resource::Packfile,
        Resource::State => kloset_oci::Resource::State,
        Resource::Lock => kloset_oci::Resource::Lock,
        Resource::EccPackfile => kloset_oci::Resource::EccPackfile,
        Resource::EccState => kloset_oci::Resource::EccState,
    }
}

impl Caller for NativeCaller {
    fn open(&mut self) -> Result<(), BenchError> {
        self.0.open().map(drop).map_err(store_error)
    }

    fn create(&mut self, config: &[u8]) -> Result<(), BenchError> {
        self.0.create(config).map_err(store_error)
    }

    fn put(&mut self, kind: Resource, mac: &Mac, data: &[u8]) -> Result<u64, BenchError> {
        let mut session = self.0.put(oci_kind(kind), *mac).map_err(store_error)?;
        for chunk in data.chunks(CHUNK) {
            session.write(chunk).map_err(store_error)?;
        }
        session.finish().map_err(store_error)
    }

    fn get(
        &mut self,
        kind: Resource,
        mac: &Mac,
        range: Option<(u64, u32)>,
    ) -> Result<Vec<u8>, BenchError> {
        let range = range.map(|(offset, length)| ByteRange { offset, length });
        let mut reader = self
            .0
            .get(oci_kind(kind), mac, range)
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(range.map_or(0, |r| r.length as usize));
        loop {
            let chunk = reader.read(CHUNK).map_err(store_error)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
        }
    }

    fn list(&mut self, kind: Resource) -> Result<Vec<Mac>, BenchError> {
        let keys = self.0.list(oci_kind(kind)).map_err(store_error)?;
        Ok(keys)
    }

    fn delete(&mut self, kind: Resource, mac: &Mac) -> Result<(), BenchError> {
        self.0.delete(oci_kind(kind), mac).map_err(store_error)
    }
}
