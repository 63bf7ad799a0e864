//! GitLab's container registry (gitlab.com; self-managed with its metadata
//! database): manifests whose media types are outside its list are
//! refused, and tag lists come 100 a page when `n` is absent.

use super::{error, Endpoint, Paging, Request, Rules, Upstream};
use crate::wire::Message;
use std::io;

/// GitLab container registry, docs/supported-media-types.md (read in a
/// copy of the registry's repository, AllWorldIT/conarx-gitlab-registry):
/// "Any manifest or any of its references with a media type outside this
/// list will lead to a `400 Bad Request` response with detail `unknown
/// media type`". The list, as that page gives it.
pub const SUPPORTED_MEDIA_TYPES: &[&str] = &[
    "text/spdx+xml",
    "text/spdx+json",
    "text/spdx",
    "text/plain; charset=utf-8",
    "text/html; charset=utf-8",
    "binary/octet-stream",
    "appliciation/vnd.sylabs.sif.layer.tar",
    "application/x-yaml",
    "application/vnd.zarf.layer.v1.blob",
    "application/vnd.zarf.config.v1+json",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.wasm.config.v1+json",
    "application/vnd.vivsoft.enbuild.config.v1+json",
    "application/vnd.unknown.config.v1+json",
    "application/vnd.timoni.content.v1.tar+gzip",
    "application/vnd.timoni.config.v1+json",
    "application/vnd.sylabs.sif.layer.v1.sif",
    "application/vnd.sylabs.sif.config.v1+json",
    "application/vnd.sylabs.sif.config.v1",
    "application/vnd.syft+json",
    "application/vnd.spack.package",
    "application/vnd.oras.config.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+encrypted",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.oci.empty.v1+json",
    "application/vnd.module.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.config.v1+json",
    "application/vnd.in-toto+json",
    "application/vnd.gitlab.packages.npm.config.v2+json",
    "application/vnd.gardener.landscaper.componentdefinition.v1+json",
    "application/vnd.gardener.landscaper.blueprint.v1+tar+gzip",
    "application/vnd.gardener.cloud.cnudie.component.config.v1+json",
    "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+yaml+tar",
    "application/vnd.gardener.cloud.cnudie.component-descriptor.v2+json",
    "application/vnd.dsse.envelope.v1+json",
    "application/vnd.docker.plugin.v1+json",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.docker.container.image.rootfs.diff+x-gtar",
    "application/vnd.devcontainers.layer.v1+tar",
    "application/vnd.devcontainers",
    "application/vnd.dev.cosign.simplesigning.v1+json",
    "application/vnd.dev.cosign.artifact.sig.v1+json",
    "application/vnd.dev.cosign.artifact.sbom.v1+json",
    "application/vnd.cyclonedx+xml",
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx",
    "application/vnd.cue.modulefile.v1",
    "application/vnd.cue.module.v1+json",
    "application/vnd.cncf.openpolicyagent.policy.layer.v1+rego",
    "application/vnd.cncf.openpolicyagent.manifest.layer.v1+json",
    "application/vnd.cncf.openpolicyagent.data.layer.v1+json",
    "application/vnd.cncf.openpolicyagent.config.v1+json",
    "application/vnd.cncf.helm.config.v1+json",
    "application/vnd.cncf.helm.chart.provenance.v1.prov",
    "application/vnd.cncf.helm.chart.meta.layer.v1+json",
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    "application/vnd.cncf.helm.chart.content.layer.v1+tar",
    "application/vnd.cncf.flux.content.v1.tar+gzip",
    "application/vnd.cncf.flux.config.v1+json",
    "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz",
    "application/vnd.cncf.falco.rulesfile.config.v1+json",
    "application/vnd.cncf.falco.plugin.layer.v1+tar.gz",
    "application/vnd.cncf.falco.plugin.config.v1+json",
    "application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml",
    "application/vnd.cncf.artifacthub.config.v1+yaml",
    "application/vnd.cnab.config.v1+json",
    "application/vnd.cnab.bundle.config.v1+json",
    "application/vnd.buildkit.cacheconfig.v0",
    "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
    "application/vnd.aquasec.trivy.config.v1+json",
    "application/vnd.ansible.collection",
    "application/vnd.acme.rocket.docs.layer.v1+tar",
    "application/vnd.acme.rocket.config",
    "application/tar+gzip",
    "application/sap-cnudie+tar",
    "application/octet-stream",
    "application/json",
    "/application/vnd.acme.rocket.config",
];

/// GitLab's rules.
#[derive(Debug, Default)]
pub struct GitLab {}

impl GitLab {
    /// Tags a page when `n` is absent: "Tag lists: 100 a page when `n` is
    /// absent; `Link` paging only with the metadata database"
    /// (REGISTRY-RULES.md, GitLab). `n` is honoured when given (no cap is
    /// documented).
    pub const PAGING: Paging = Paging {
        default_page: 100,
        max_page: None,
        sorted: true,
        cursor: "last",
        opaque: false,
    };

    pub fn new() -> GitLab {
        GitLab {}
    }
}

/// The first media type of a manifest outside `allowed`, with the field it
/// is in (`mediaType`, `artifactType`, `config.mediaType`,
/// `layers[i].mediaType`), or why the manifest is unreadable.
pub fn first_unknown_media_type(
    manifest: &[u8],
    allowed: impl Fn(&str) -> bool,
) -> Result<Option<(String, String)>, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("manifest is not JSON: {e}"))?;
    let mut fields = vec![
        ("mediaType".to_string(), doc["mediaType"].as_str()),
        ("artifactType".to_string(), doc["artifactType"].as_str()),
        (
            "config.mediaType".to_string(),
            doc["config"]["mediaType"].as_str(),
        ),
    ];
    for (i, layer) in doc["layers"].as_array().into_iter().flatten().enumerate() {
        fields.push((
            format!("layers[{i}].mediaType"),
            layer["mediaType"].as_str(),
        ));
    }
    Ok(fields.into_iter().find_map(|(field, media_type)| {
        let media_type = media_type?;
        (!allowed(media_type)).then(|| (media_type.to_string(), field))
    }))
}

impl Rules for GitLab {
    fn answer(&self, request: &Request, upstream: &Upstream) -> io::Result<Message> {
        match &request.route.endpoint {
            Endpoint::Manifest(_) if request.method() == "PUT" => {
                // docs/supported-media-types.md (above); the answer's form
                // as gitlab.com gave it (ocx-sh/ocx#480, in the issue's
                // table): 400 MANIFEST_INVALID "manifest invalid", detail
                // "unknown media type: <type> (<field>)".
                let verdict = first_unknown_media_type(request.body(), |t| {
                    SUPPORTED_MEDIA_TYPES.contains(&t)
                });
                match verdict {
                    Ok(Some((media_type, field))) => Ok(error(
                        400,
                        "MANIFEST_INVALID",
                        "manifest invalid",
                        Some(&format!("unknown media type: {media_type} ({field})")),
                    )),
                    // A manifest it cannot read is the registry's to refuse.
                    Ok(None) | Err(_) => upstream.forward(&request.message),
                }
            }
            Endpoint::TagList if request.method() == "GET" => {
                GitLab::PAGING.page(request, upstream)
            }
            _ => upstream.forward(&request.message),
        }
    }
}
