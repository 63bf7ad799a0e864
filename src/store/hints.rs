//! What `create` makes of a registry's refusals: an allow-list of media
//! types (try the image profile instead), a repository or project that
//! must be made before anything is pushed (say how), and both profiles
//! refused (quote both).

use crate::error::StoreError;
use crate::repository::Repository;
use crate::transport::Transport;

/// Whether a refused manifest PUT says the registry does not take its
/// media types: GitLab answers `400 MANIFEST_INVALID` with detail `unknown
/// media type: ...` (GitLab container registry docs/supported-media-types.md),
/// Quay `400 MANIFEST_INVALID` for types outside `ALLOWED_OCI_ARTIFACT_TYPES`
/// (quay/quay config.py); `415 Unsupported Media Type` says it plainly.
/// The message must speak of types: a `MANIFEST_INVALID` for another
/// reason (a blob not yet visible) must not change a repository's profile
/// for good.
pub(super) fn refuses_media_types(error: &StoreError) -> bool {
    let StoreError::Registry {
        status,
        code,
        message,
    } = error
    else {
        return false;
    };
    let lower = message.to_ascii_lowercase();
    let about_types = ["media type", "mediatype", "artifacttype", "artifact type"]
        .iter()
        .any(|w| lower.contains(w));
    *status == 415 || code == "MANIFEST_INVALID" && about_types
}

/// Both profiles refused: the second refusal, with the first quoted.
pub(super) fn both_profiles_refused(second: StoreError, first: &StoreError) -> StoreError {
    match second {
        StoreError::Registry {
            status,
            code,
            message,
        } => StoreError::Registry {
            status,
            code,
            message: format!(
                "{message} (as an OCI image; as an OCI 1.1 artifact it said: {first}): \
                 the registry takes neither kind of manifest the store writes"
            ),
        },
        other => other,
    }
}

/// A write refused because the repository (ECR) or the project (Harbor)
/// does not exist and the registry does not create it on push: the error
/// says so, and how to make it.
pub(super) fn made_first_hint<T: Transport>(error: StoreError, repo: &Repository<T>) -> StoreError {
    let name = &repo.config.repository;
    match error {
        // ECR: "NAME_UNKNOWN: The repository with name '...' does not
        // exist in the registry with id '...'" (regclient/regclient#869);
        // create-on-push is an open request (aws/containers-roadmap#853).
        StoreError::NotFound(message)
            if message.contains("does not exist in the registry with id") =>
        {
            StoreError::NotFound(format!(
                "{message}: Amazon ECR creates no repository on push; make it first \
                 (aws ecr create-repository --repository-name {name})"
            ))
        }
        // distribution's NAME_UNKNOWN: "repository name not known to
        // registry". Another not-found (an upload session expired) is no
        // missing repository.
        StoreError::NotFound(message) if message.contains("name not known") => {
            StoreError::NotFound(format!(
                "{message}: the registry has no repository {name} and does not make one on \
                 push; create it in the registry first"
            ))
        }
        // Harbor: its token service answers "project X not found" with a
        // 401 (goharbor/harbor#20544, #6892).
        StoreError::Unauthorized(message)
            if message.contains("project") && message.contains("not found") =>
        {
            let project = name.split('/').next().unwrap_or(name);
            StoreError::Unauthorized(format!(
                "{message}: Harbor pushes only into an existing project; create the \
                 project {project} in Harbor first (or check the credentials' access to it)"
            ))
        }
        other => other,
    }
}
