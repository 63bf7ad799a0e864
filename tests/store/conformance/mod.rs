//! The Kloset store contract (FIELD-NOTES section 1), checked through the
//! wasmtime host against real registries. Every check runs ten times:
//! against Debian's docker-registry (distribution 2.8) honouring DELETE, with
//! deletes disabled (distribution's default, like GHCR and Docker Hub, where
//! the store records deletions as tombstone tags), with htpasswd Basic auth,
//! with token auth (a token server made by the tests), and serving TLS under a
//! CA made by the tests; against CNCF distribution v3 with `tags.maxtags` 7
//! (every listing pages through `Link`), with and without DELETE; and against
//! ferro-oci-server, a third implementation; olareg (DELETE on)
//! and go-containerregistry's `crane registry serve` (whose DELETE by digest
//! answers 202 but leaves the tag serving). v3, ferro, olareg and crane come
//! from `.tools/` (scripts/setup-go-tools, scripts/setup); a missing one
//! fails its tests.

mod blocks;
mod concurrency;
mod contract;
mod errors;
mod large;
mod layout;
mod requests;

/// Generates one test per check and per registry flavour.
macro_rules! suite {
    ($($module:ident :: $check:ident),* $(,)?) => {
        suite!(@flavour with_deletes, crate::kit::Flavor::Plain { deletes: true }, $($module::$check),*);
        suite!(@flavour without_deletes, crate::kit::Flavor::Plain { deletes: false }, $($module::$check),*);
        suite!(@flavour basic_auth, crate::kit::Flavor::Basic, $($module::$check),*);
        suite!(@flavour token_auth, crate::kit::Flavor::Token, $($module::$check),*);
        suite!(@flavour tls, crate::kit::Flavor::Tls, $($module::$check),*);
        suite!(@flavour v3_with_deletes, crate::kit::Flavor::V3 { deletes: true }, $($module::$check),*);
        suite!(@flavour v3_without_deletes, crate::kit::Flavor::V3 { deletes: false }, $($module::$check),*);
        suite!(@flavour ferro, crate::kit::Flavor::Ferro, $($module::$check),*);
        suite!(@flavour olareg, crate::kit::Flavor::Olareg, $($module::$check),*);
        suite!(@flavour crane, crate::kit::Flavor::Crane, $($module::$check),*);
    };
    (@flavour $name:ident, $flavour:expr, $($module:ident :: $check:ident),*) => {
        mod $name {
            $( #[test] fn $check() { crate::conformance::$module::$check(&crate::kit::Env::new($flavour)); } )*
        }
    };
}

/// The same checks on every hosted registry's personality
/// (`kloset_testkit::personality`), in a module of their own
/// (`conformance::hosted::<registry>::<check>`) so they run apart:
/// `cargo test -p kloset-tests --test store conformance::hosted`.
macro_rules! suite_personalities {
    ($($module:ident :: $check:ident),* $(,)?) => {
        mod hosted {
            suite!(@flavour gitlab, crate::kit::Flavor::Personality(crate::kit::Hosted::GitLab), $($module::$check),*);
            suite!(@flavour ghcr, crate::kit::Flavor::Personality(crate::kit::Hosted::Ghcr), $($module::$check),*);
            suite!(@flavour ecr, crate::kit::Flavor::Personality(crate::kit::Hosted::Ecr), $($module::$check),*);
            suite!(@flavour ecr_patch_bug, crate::kit::Flavor::Personality(crate::kit::Hosted::EcrPatchBug), $($module::$check),*);
            suite!(@flavour artifact_registry, crate::kit::Flavor::Personality(crate::kit::Hosted::ArtifactRegistry), $($module::$check),*);
            suite!(@flavour docker_hub, crate::kit::Flavor::Personality(crate::kit::Hosted::DockerHub), $($module::$check),*);
            suite!(@flavour quay, crate::kit::Flavor::Personality(crate::kit::Hosted::Quay), $($module::$check),*);
            suite!(@flavour harbor, crate::kit::Flavor::Personality(crate::kit::Hosted::Harbor), $($module::$check),*);
            suite!(@flavour acr, crate::kit::Flavor::Personality(crate::kit::Hosted::Acr), $($module::$check),*);
        }
    };
}

/// Every check, handed to a suite macro.
macro_rules! every_check {
    ($suite:ident) => {
        $suite!(
            contract::create_and_open,
            contract::every_kind_round_trips_in_its_own_key_space,
            contract::put_overwrites,
            contract::get_of_a_missing_object_fails_at_call_time,
            contract::delete_takes_effect_and_is_idempotent,
            contract::put_after_delete_revives_the_key,
            contract::size_is_the_sum_of_live_objects,
            contract::closed_store_refuses_calls,
            large::ranges_of_a_72_mib_packfile_are_exact,
            blocks::ranged_reads_through_the_blocks_are_exact_and_few,
            blocks::no_read_cache_reads_each_range_from_the_registry,
            large::a_256_mib_object_streams_in_bounded_memory,
            large::a_failing_writer_leaves_no_object,
            concurrency::sixteen_concurrent_puts_then_sixty_four_ranged_gets,
            requests::requests_per_operation,
            requests::list_follows_pagination,
            layout::skopeo_sees_valid_oci_artifacts,
            layout::prefixes_keep_stores_apart,
            layout::a_corrupted_blob_is_an_integrity_error,
            errors::bad_configurations_are_refused_up_front,
        );
    };
}

every_check!(suite);
every_check!(suite_personalities);
