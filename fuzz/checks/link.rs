//! The `link` target's check (input form: see `checks`).

use super::*;

/// `Link`: the next page is a `<target>` of the input whose parameters
/// name `rel` next, and it resolves to an absolute URL on the registry or
/// is refused with a typed error.
pub fn link(data: &[u8]) {
    let text = text(data);
    let values: Vec<&str> = text.split('\n').collect();
    let Some(target) = next_link(values.iter().copied()) else {
        return;
    };
    assert!(!target.is_empty() && !target.contains('>'), "{target:?}");
    let bracketed = format!("<{target}>");
    let marked_next = values.iter().any(|v| {
        v.match_indices(&bracketed).any(|(at, _)| {
            v[at + bracketed.len()..]
                .to_ascii_lowercase()
                .contains("next")
        })
    });
    assert!(
        marked_next,
        "{target:?} is no <target> marked next in {values:?}"
    );
    let client = offline_client(Vec::new());
    match client.resolve(&target) {
        Ok(url) => {
            assert!(
                kloset_oci::origin::Origin::parse(BASE).unwrap().holds(&url),
                "{url} is not on the registry's origin"
            );
            if target.starts_with('/') {
                assert_eq!(url, format!("{BASE}{target}"));
            } else {
                assert_eq!(url, target);
            }
        }
        Err(error) => {
            assert!(matches!(error, StoreError::Protocol(_)), "{error:?}");
        }
    }
}
