//! What can go wrong publishing or pulling the component.

use super::layout::NotAComponent;
use super::reference::BadReference;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(transparent)]
    Reference(#[from] BadReference),
    /// A bad option, credentials or TLS file for the component's registry.
    #[error("component registry settings: {0}")]
    Settings(#[from] crate::StoreError),
    /// The registry refused or failed, typed as for a store.
    #[error("component registry: {0}")]
    Registry(#[from] kloset_oci::StoreError),
    #[error("{reference}: no such component")]
    NotFound { reference: String },
    #[error("{reference}: {source}")]
    NotAComponent {
        reference: String,
        #[source]
        source: NotAComponent,
    },
    /// Bytes that do not match the digest they were asked or listed by.
    #[error("{reference}: {what}")]
    Integrity { reference: String, what: String },
    #[error(transparent)]
    Host(#[from] crate::HostError),
}
