//! plakar through a pull-through cache: distribution in proxy mode
//! (`proxy.remoteurl`) in front of the registry holding a repository plakar
//! filled. Reading through the mirror (`ls`, `check`, `restore`) is exact;
//! the store's mode is read-only there, so a backup or a removal through it
//! fails naming that, and nothing changes upstream.

use std::time::Instant;

use super::fill::{PlakarFill, SPEC};
use super::v3;
use crate::cli::assert_says;
use crate::support::package::WithPackage;
use kloset_testkit::isolated_test;
use kloset_testkit::plakar::Plakar;
use kloset_testkit::tree;
use kloset_testkit::{Implementation, Registry, RegistryOptions};

fn plakar_reads_through_a_mirror_and_cannot_write(implementation: Implementation) {
    let upstream = v3(true);
    let writer = Plakar::with_package();
    let fill = PlakarFill::new(&writer, &upstream);
    let mirror = Registry::start(RegistryOptions {
        implementation,
        proxy_remote: Some(upstream.url()),
        ..Default::default()
    });
    let through = mirror.location(&fill.repo);
    // Another machine's plakar: nothing in its cache came from upstream.
    let reader = Plakar::with_package();
    let started = Instant::now();
    fill.assert_restores_exactly(&reader, &through, "through the mirror");
    eprintln!(
        "{}: ls, check and two restores through the mirror in {:?}",
        implementation.name(),
        started.elapsed()
    );

    let scratch = tempfile::tempdir().unwrap();
    let more = scratch.path().join("more");
    tree::generate(&more, SPEC);
    let backup = reader.at(&through, &["backup", more.to_str().unwrap()]);
    assert!(
        !backup.ok,
        "a backup through the mirror succeeded:\n{}",
        backup.text()
    );
    assert_says(&backup, &["read-only"]);
    eprintln!("backup through the mirror: {}", backup.text().trim());
    let (id, _) = &fill.snapshots[0];
    let rm = reader.at(&through, &["rm", "-apply", id]);
    assert!(!rm.ok, "rm through the mirror succeeded:\n{}", rm.text());
    assert_says(&rm, &["read-only"]);
    eprintln!("rm through the mirror: {}", rm.text().trim());

    // Upstream, as filled.
    fill.assert_restores_exactly(
        &Plakar::with_package(),
        &upstream.location(&fill.repo),
        "upstream after the refused writes",
    );
}

isolated_test! {
    fn plakar_reads_through_a_distribution_v3_mirror_and_cannot_write() {
        plakar_reads_through_a_mirror_and_cannot_write(Implementation::Distribution3);
    }
}
