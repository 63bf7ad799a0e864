//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz
//! targets' checks on stable Rust, so every seed and every input the fuzzer
//! once found keeps passing without cargo-fuzz (run that with `scripts/fuzz`).

#[path = "../../fuzz/checks/mod.rs"]
mod checks;

/// Runs every file of one target's corpus; fails naming each file whose
/// check panicked.
fn replay(target: &str) {
    let (_, check) = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no check named {target}"));
    let dir = kloset_testkit::workspace_root()
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "failing inputs: {failed:#?}");
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let root = kloset_testkit::workspace_root().join("fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = checks::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    targets.sort();
    assert_eq!(dirs, targets);
}

macro_rules! corpus {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target));
            }
        )*
    };
}

corpus!(
    location,
    www_authenticate,
    link,
    manifest,
    tag,
    error_body,
    token_response,
    content_range,
    tag_list,
);
