//! The `tag` target's check (input form: see `checks`).

use super::*;

/// Tag names: a tag read as ours is exactly the tag we would write for it
/// (one name per key and role), and the listing built from tags agrees
/// with the tags.
pub fn tag(data: &[u8]) {
    let text = text(data);
    let mut lines = text.split('\n');
    let prefix = lines.next().unwrap_or("");
    // The configuration admits these prefixes only (`repository_prefix`).
    let prefix_ok = !prefix.is_empty()
        && prefix.len() <= 40
        && !prefix.starts_with('-')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let layout = Layout::new(prefix_ok.then(|| prefix.to_string()));
    let tags: Vec<&str> = lines.collect();
    for tag in &tags {
        if let Some((kind, mac, role)) = layout.parse(tag) {
            assert_eq!(layout.tag(kind, &mac, role), *tag);
        }
    }
    for kind in Resource::ALL {
        let found = tags
            .iter()
            .filter_map(|tag| layout.parse(tag))
            .filter(|(of, _, _)| *of == kind)
            .map(|(_, mac, role)| (mac, role))
            .collect();
        let listing = classify(found);
        let has = |mac: &Mac, role| tags.contains(&layout.tag(kind, mac, role).as_str());
        assert!(listing.live.is_sorted() && listing.undecided.is_sorted());
        for mac in &listing.live {
            assert!(has(mac, TagRole::Object) && !has(mac, TagRole::Deleted));
            assert!(!listing.undecided.contains(mac));
        }
        for mac in &listing.undecided {
            assert!(has(mac, TagRole::Object) && has(mac, TagRole::Deleted));
            assert!(has(mac, TagRole::Revived));
        }
    }
}
