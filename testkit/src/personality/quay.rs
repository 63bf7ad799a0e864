//! Quay (quay.io, Red Hat Quay) with its default configuration: a
//! manifest's config type must be one Quay allows, and each layer a type
//! allowed with that config type; tag lists come 50 a page with an opaque
//! next-page token.

use super::{error, Endpoint, Paging, Request, Rules, Upstream};
use crate::wire::Message;
use std::io;

/// quay/quay config.py's default `ALLOWED_OCI_ARTIFACT_TYPES` (with
/// `FEATURE_GENERAL_OCI_SUPPORT = True` beside it): config type -> the
/// layer types allowed with it. "Quay's default `ALLOWED_OCI_ARTIFACT_TYPES`
/// (quay/quay config.py) does not contain the empty config type"
/// (REGISTRY-RULES.md, Quay).
pub const ALLOWED_OCI_ARTIFACT_TYPES: &[(&str, &[&str])] = &[
    (
        "application/vnd.oci.image.config.v1+json",
        &[
            "application/vnd.dev.cosign.simplesigning.v1+json",
            "application/vnd.dsse.envelope.v1+json",
            "text/spdx",
            "text/spdx+xml",
            "text/spdx+json",
            "application/vnd.syft+json",
            "application/vnd.cyclonedx",
            "application/vnd.cyclonedx+xml",
            "application/vnd.cyclonedx+json",
            "application/vnd.in-toto+json",
        ],
    ),
    (
        "application/vnd.cncf.helm.config.v1+json",
        &[
            "application/tar+gzip",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        ],
    ),
    (
        "application/vnd.oci.source.image.config.v1+json",
        &["application/vnd.oci.image.layer.v1.tar+gzip"],
    ),
    (
        "application/vnd.unknown.config.v1+json",
        &[
            "application/vnd.cncf.openpolicyagent.policy.layer.v1+rego",
            "application/vnd.cncf.openpolicyagent.data.layer.v1+json",
        ],
    ),
];

/// The image layer types an image config always takes: images push to
/// Quay whatever the table above says (the OCI image-spec's layer types
/// and Docker's).
pub const IMAGE_LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Quay's rules.
#[derive(Debug, Default)]
pub struct Quay {}

impl Quay {
    /// "Tag lists: 50 a page with an opaque next-page token"
    /// (REGISTRY-RULES.md, Quay). A larger `n` still gets 50; the token's
    /// parameter name is ours.
    pub const PAGING: Paging = Paging {
        default_page: 50,
        max_page: Some(50),
        sorted: true,
        cursor: "next_page",
        opaque: true,
    };

    pub fn new() -> Quay {
        Quay {}
    }

    /// Whether `layer` may go with `config`.
    pub fn allows(config: &str, layer: &str) -> bool {
        (config == IMAGE_CONFIG && IMAGE_LAYER_TYPES.contains(&layer))
            || ALLOWED_OCI_ARTIFACT_TYPES
                .iter()
                .any(|(c, layers)| *c == config && layers.contains(&layer))
    }

    /// An artifact type Quay knows: a config or layer type of the table
    /// (our reading: the sources say unknown artifact types are refused,
    /// not which are known).
    pub fn knows_artifact_type(artifact_type: &str) -> bool {
        IMAGE_LAYER_TYPES.contains(&artifact_type)
            || ALLOWED_OCI_ARTIFACT_TYPES
                .iter()
                .any(|(c, layers)| *c == artifact_type || layers.contains(&artifact_type))
    }

    /// Why Quay refuses this manifest, if it does.
    pub fn refusal(manifest: &[u8]) -> Option<String> {
        let doc: serde_json::Value = serde_json::from_slice(manifest).ok()?;
        // Image indexes and Docker manifests are out of these rules.
        if doc["mediaType"].as_str() != Some("application/vnd.oci.image.manifest.v1+json") {
            return None;
        }
        let config = doc["config"]["mediaType"].as_str().unwrap_or_default();
        if !ALLOWED_OCI_ARTIFACT_TYPES.iter().any(|(c, _)| *c == config) {
            return Some(format!("config media type {config} is not allowed"));
        }
        if let Some(artifact_type) = doc["artifactType"].as_str() {
            if !Quay::knows_artifact_type(artifact_type) {
                return Some(format!("artifact type {artifact_type} is not allowed"));
            }
        }
        for layer in doc["layers"].as_array().into_iter().flatten() {
            let layer = layer["mediaType"].as_str().unwrap_or_default();
            if !Quay::allows(config, layer) {
                return Some(format!(
                    "layer media type {layer} is not allowed with config {config}"
                ));
            }
        }
        None
    }
}

impl Rules for Quay {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        match (&request.route.endpoint, request.method()) {
            // "Artifact and config types are allow-listed unless the admin
            // sets `FEATURE_GENERAL_OCI_SUPPORT` with
            // `ALLOWED_OCI_ARTIFACT_TYPES`, or `IGNORE_UNKNOWN_MEDIATYPES:
            // true` (Red Hat Quay 3.10 and 3.13 docs; oras#738)". The
            // answer's code is distribution-spec's for a refused manifest;
            // its detail is ours.
            (Endpoint::Manifest(_), "PUT") => match Quay::refusal(request.body()) {
                Some(why) => Ok(error(
                    400,
                    "MANIFEST_INVALID",
                    "manifest invalid",
                    Some(&why),
                )),
                None => upstream.forward(&request.message),
            },
            (Endpoint::TagList, "GET") => Quay::PAGING.page(request, upstream),
            _ => upstream.forward(&request.message),
        }
    }
}
