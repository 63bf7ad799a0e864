//! Publishing and pulling the component over the host's own egress, with the
//! component's own protocol crate (`kloset_oci::client::RegistryClient`,
//! compiled natively): the same options, credentials (options, the
//! `OCI_REGISTRY_*` variables, Docker logins), TLS roots, retries and
//! timeouts as a store's.

use std::sync::Arc;

use kloset_oci::client::{Mount, RegistryClient};
use kloset_oci::config::StoreConfig;
use kloset_oci::transport::read_to_vec;

use super::layout::{self, Descriptor, Interfaces, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE};
use super::reference::{Reference, DEFAULT_TAG};
use crate::configure::prepare::prepare;
use crate::egress::client::EgressClient;
use crate::egress::native_transport::NativeTransport;
use crate::error::{ContractError, Error};

/// A failure of the component's registry, said as one.
fn registry(error: ContractError) -> Error {
    Error::ComponentRegistry(error)
}

/// A bad option, credential or TLS file for the component's registry.
fn settings(error: Error) -> Error {
    Error::ComponentSettings(Box::new(error))
}

/// The largest component accepted from a registry.
const MAX_COMPONENT: u64 = 512 << 20;

/// A manifest found at a reference: its digest and the component layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub manifest_digest: String,
    pub layer: Descriptor,
    /// The manifest itself, kept in the cache so a pinned reference is
    /// re-verified from it (its digest, then the layer it names).
    pub manifest: Vec<u8>,
}

/// One repository of one registry, for components.
pub struct ArtifactRegistry {
    client: RegistryClient<NativeTransport>,
    reference: Reference,
}

impl ArtifactRegistry {
    /// `options` are a store's (`use_tls`, `username`, `password`, `token`,
    /// `retries`, `retry_budget`, `timeout`, and the host's `tls_ca_file`,
    /// `tls_insecure_no_verify`, `docker_config`), without `location`.
    pub fn connect(
        reference: &Reference,
        options: &[(String, String)],
    ) -> Result<ArtifactRegistry, Error> {
        if options.iter().any(|(k, _)| k == "location") {
            return Err(settings(Error::invalid_config(
                "the reference names the registry: no 'location' option",
            )));
        }
        let mut pairs = vec![(
            "location".to_string(),
            format!("oci://{}/{}", reference.registry, reference.repository),
        )];
        pairs.extend_from_slice(options);
        let mut prepared = prepare(&pairs, Arc::default()).map_err(settings)?;
        let env = |name: &str| std::env::var(name).ok();
        // The options are checked before any credential helper runs.
        let mut store = StoreConfig::parse_with_env(&prepared.guest, &env).map_err(registry)?;
        if prepared.add_docker_login().map_err(settings)? {
            store = StoreConfig::parse_with_env(&prepared.guest, &env).map_err(registry)?;
        }
        let egress = prepared.egress;
        let (connect, first_byte, between_bytes) = store.timeouts();
        let transport = NativeTransport::with_timeouts(
            EgressClient::new(egress),
            connect,
            first_byte,
            between_bytes,
        );
        let client = RegistryClient::for_store(transport, &store);
        Ok(ArtifactRegistry {
            client,
            reference: reference.clone(),
        })
    }

    /// Pushes `wasm` (its config blob, then the component, then the
    /// manifest, so the tag never names missing blobs) and tags it. Returns
    /// the manifest's digest.
    pub fn publish(
        &self,
        wasm: &[u8],
        interfaces: &Interfaces,
        created: &str,
    ) -> Result<String, Error> {
        if self.reference.digest.is_some() {
            return Err(settings(Error::Contract(ContractError::InvalidArgument(
                format!(
                    "{}: publish to a tag; a digest is what publishing gives back",
                    self.reference
                ),
            ))));
        }
        let config = layout::config_blob(wasm, interfaces, created);
        let config_descriptor = Descriptor::of(CONFIG_MEDIA_TYPE, &config);
        let layer = Descriptor::of(LAYER_MEDIA_TYPE, wasm);
        self.push_blob(&config_descriptor.digest, config)?;
        self.push_blob(&layer.digest, wasm.to_vec())?;
        let manifest = layout::manifest(&config_descriptor, &layer);
        let digest = layout::sha256_digest(&manifest);
        let tag = self.reference.tag.as_deref().unwrap_or(DEFAULT_TAG);
        self.client.put_manifest(tag, manifest).map_err(registry)?;
        Ok(digest)
    }

    fn push_blob(&self, digest: &str, bytes: Vec<u8>) -> Result<(), Error> {
        match self.client.mount_or_start(digest).map_err(registry)? {
            Mount::Exists => Ok(()),
            Mount::Upload(session) => self
                .client
                .complete_upload(&session, digest, bytes)
                .map_err(registry),
        }
    }

    /// The manifest at the reference: checked against a pinned digest, and
    /// that it holds one component.
    pub fn resolve(&self) -> Result<Resolved, Error> {
        let reference = self.reference.to_string();
        let manifest = self
            .client
            .get_manifest(self.reference.manifest_reference())
            .map_err(registry)?
            .ok_or_else(|| Error::NoSuchComponent {
                reference: reference.clone(),
            })?;
        let manifest_digest = layout::sha256_digest(&manifest);
        if let Some(pinned) = &self.reference.digest {
            if &manifest_digest != pinned {
                return Err(Error::ComponentIntegrity {
                    reference,
                    what: format!("the registry sent a manifest of digest {manifest_digest}"),
                });
            }
        }
        let layer = layout::component_layer(&manifest).map_err(|not| Error::NotAComponent {
            reference: reference.clone(),
            why: not.0,
        })?;
        Ok(Resolved {
            manifest_digest,
            layer,
            manifest,
        })
    }

    /// The component's bytes, checked against the layer's size and digest.
    pub fn fetch(&self, layer: &Descriptor) -> Result<Vec<u8>, Error> {
        let reference = self.reference.to_string();
        if layer.size > MAX_COMPONENT {
            return Err(Error::NotAComponent {
                reference,
                why: format!(
                    "a layer of {} bytes, over the {MAX_COMPONENT} accepted",
                    layer.size
                ),
            });
        }
        let mut response = self
            .client
            .get_blob(&layer.digest, None)
            .map_err(registry)?;
        let cap = layer.size as usize;
        let bytes =
            read_to_vec(response.body_mut(), cap, "GET component layer").map_err(registry)?;
        if bytes.len() as u64 != layer.size || layout::sha256_digest(&bytes) != layer.digest {
            return Err(Error::ComponentIntegrity {
                reference,
                what: format!("the component's bytes do not match {}", layer.digest),
            });
        }
        Ok(bytes)
    }
}
