//! The table of hosted registries the personalities emulate, shared by the
//! conformance suite (`tests/store/kit.rs`, `Flavor::Personality`) and the
//! plugin's plakar tests (`plakar-plugin/tests/plugin/hosted.rs`): which
//! rules each one applies, what it wants made first (ECR's repository,
//! Harbor's project), the registry it stands in front of (distribution v3
//! for Artifact Registry, which untags on DELETE by tag), whether DELETE
//! works, and the tag page it answers.

use super::{
    Acr, ArtifactRegistry, DockerHub, Ecr, Ghcr, GitLab, Harbor, PersonalityProxy, Quay, Rules,
};
use crate::{Implementation, Registry};

/// The hosted registries the personalities emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosted {
    GitLab,
    Ghcr,
    Ecr,
    /// ECR with its open PATCH bug (aws/containers-roadmap#2831).
    EcrPatchBug,
    ArtifactRegistry,
    DockerHub,
    Quay,
    Harbor,
    /// At Premium's 2,000 writes a minute: Basic's 100 would hold the
    /// 1,100-lock listing check for over twenty minutes of waits (the
    /// personality tests check the limit itself).
    Acr,
}

/// The Harbor personality's project, made before the test
/// ([`Hosted::repository`] puts repositories in it).
pub const HARBOR_PROJECT: &str = "kloset";

impl Hosted {
    /// Every personality, in the order of docs/testing.md's table.
    pub const ALL: [Hosted; 9] = [
        Hosted::GitLab,
        Hosted::Ghcr,
        Hosted::Ecr,
        Hosted::EcrPatchBug,
        Hosted::ArtifactRegistry,
        Hosted::DockerHub,
        Hosted::Quay,
        Hosted::Harbor,
        Hosted::Acr,
    ];

    /// The repository a test named `name` uses on this registry: in
    /// Harbor's project there, as is.
    pub fn repository(self, name: &str) -> String {
        match self {
            Hosted::Harbor => format!("{HARBOR_PROJECT}/{name}"),
            _ => name.to_string(),
        }
    }

    /// The registry the personality stands in front of: distribution v3
    /// for Artifact Registry (distribution 2.8 cannot delete by tag, which
    /// Artifact Registry's untagging needs), distribution 2.8 otherwise.
    pub fn implementation(self) -> Implementation {
        match self {
            Hosted::ArtifactRegistry => Implementation::Distribution3,
            _ => Implementation::Distribution2,
        }
    }

    /// Whether a delete really deletes through this personality (with
    /// DELETE enabled behind it): GHCR answers DELETE with 405 whatever the
    /// registry behind does, so the store keeps tombstones there.
    pub fn deletes(self) -> bool {
        self != Hosted::Ghcr
    }

    /// The personality's rules for a store at `repo`, with the repository
    /// or project it needs made.
    pub fn rules(self, repo: &str) -> Box<dyn Rules> {
        match self {
            Hosted::GitLab => Box::new(GitLab::new()),
            Hosted::Ghcr => Box::new(Ghcr::new()),
            Hosted::Ecr | Hosted::EcrPatchBug => {
                let ecr = if self == Hosted::Ecr {
                    Ecr::new()
                } else {
                    Ecr::with_patch_bug()
                };
                ecr.create_repository(repo);
                Box::new(ecr)
            }
            Hosted::ArtifactRegistry => Box::new(ArtifactRegistry::new()),
            Hosted::DockerHub => Box::new(DockerHub::new()),
            Hosted::Quay => Box::new(Quay::new()),
            Hosted::Harbor => {
                let harbor = Harbor::new();
                harbor.create_project(HARBOR_PROJECT);
                Box::new(harbor)
            }
            Hosted::Acr => Box::new(Acr::with_writes_per_minute(Acr::PREMIUM)),
        }
    }

    /// The personality in front of `registry`, for a store at `repo`
    /// (already [`Hosted::repository`]), on a loopback port of its own.
    pub fn start(self, registry: &Registry, repo: &str) -> PersonalityProxy<Box<dyn Rules>> {
        PersonalityProxy::start(&registry.authority(), self.rules(repo))
    }

    /// Whether the personality answers `last` with the tags after it, in
    /// lexical order (distribution spec), so a listing of one kind asks
    /// for its range only: ECR's order is its own and its cursor opaque,
    /// Quay's cursor is a token of its own.
    pub fn keeps_lexical_last(self) -> bool {
        let paging = match self {
            Hosted::Ghcr => Ghcr::PAGING,
            Hosted::DockerHub => DockerHub::PAGING,
            Hosted::Quay => Quay::PAGING,
            Hosted::GitLab => GitLab::PAGING,
            Hosted::Ecr | Hosted::EcrPatchBug => Ecr::PAGING,
            // The others page as distribution does.
            _ => return true,
        };
        paging.sorted && paging.cursor == "last" && !paging.opaque
    }

    /// The most tags a page holds when the store asks for 1000: GHCR and
    /// Docker Hub 100, Quay 50; GitLab and ECR honour `n` (ECR up to 1000);
    /// the others answer as distribution does.
    pub fn page_size(self) -> Option<u64> {
        match self {
            Hosted::Ghcr => Some(Ghcr::PAGING.max_page.unwrap() as u64),
            Hosted::DockerHub => Some(DockerHub::PAGING.max_page.unwrap() as u64),
            Hosted::Quay => Some(Quay::PAGING.max_page.unwrap() as u64),
            _ => None,
        }
    }
}
