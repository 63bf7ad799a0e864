//! The `location` target's check (input form: see `checks`).

use super::*;

/// The store's options: a valid result names a valid registry and OCI
/// repository and reads back from its canonical location; what is shown (an
/// error, or the configuration's `Debug`) never depends on a secret's value.
pub fn location(data: &[u8]) {
    let pairs: Vec<(String, String)> = text(data)
        .split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (line.to_string(), String::new()),
        })
        .collect();
    let outcome = StoreConfig::parse(&pairs);
    let shown = match &outcome {
        Ok(config) => format!("{config:?}"),
        Err(error) => {
            assert!(
                matches!(error, StoreError::InvalidConfig(_)),
                "untyped: {error:?}"
            );
            error.to_string()
        }
    };
    // Swap each secret for another non-empty value (empty ones are a
    // different case): what is shown must not change.
    for secret in ["password", "token"] {
        let swapped: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| match k == secret && !v.is_empty() {
                true => (k.clone(), "\u{2022}".to_string()),
                false => (k.clone(), v.clone()),
            })
            .collect();
        let shown_swapped = match StoreConfig::parse(&swapped) {
            Ok(config) => format!("{config:?}"),
            Err(error) => error.to_string(),
        };
        assert_eq!(shown, shown_swapped, "the {secret} shows through");
    }
    let Ok(config) = outcome else { return };
    assert!(
        is_oci_repository(&config.repository),
        "invalid repository {:?}",
        config.repository
    );
    assert!(
        !config.registry.is_empty()
            && !config.registry.contains(['/', '@', '?', '#'])
            && config.registry == config.registry.to_ascii_lowercase(),
        "odd registry {:?}",
        config.registry
    );
    assert_eq!(
        parse_location(&config.location()).expect("the canonical location parses"),
        (config.registry.clone(), config.repository.clone())
    );
    let base: Uri = config.base_url().parse().expect("the base URL is a URI");
    assert_eq!(
        base.authority().map(|a| a.as_str()),
        Some(config.registry.as_str()),
        "base URL {base}"
    );
    let layout = Layout::new(config.prefix.clone());
    for kind in Resource::ALL {
        for role in [TagRole::Object, TagRole::Deleted, TagRole::Revived] {
            let tag = layout.tag(kind, &Mac([0xab; 32]), role);
            assert!(is_oci_tag(&tag), "tag {tag:?}");
        }
    }
    assert!(is_oci_tag(&layout.config_tag()) && is_oci_tag(&layout.probe_tag()));
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
/// at most 255 characters (distribution spec, "Pulling manifests"),
/// written as a little recursive-descent matcher rather than the crate's
/// scan so the two are independent.
fn is_oci_repository(name: &str) -> bool {
    fn alnums(s: &[u8]) -> Option<&[u8]> {
        let n = s
            .iter()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        (n > 0).then(|| &s[n..])
    }
    fn separator(s: &[u8]) -> Option<&[u8]> {
        match s {
            [b'_', b'_', rest @ ..] => Some(rest),
            [b'_' | b'.', rest @ ..] => Some(rest),
            [b'-', ..] => Some(&s[s.iter().take_while(|&&b| b == b'-').count()..]),
            _ => None,
        }
    }
    fn component(mut s: &[u8]) -> bool {
        let Some(rest) = alnums(s) else { return false };
        s = rest;
        while !s.is_empty() {
            let Some(rest) = separator(s).and_then(alnums) else {
                return false;
            };
            s = rest;
        }
        true
    }
    name.len() <= 255 && name.split('/').all(|c| component(c.as_bytes()))
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (distribution spec).
fn is_oci_tag(tag: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && ok(bytes[0])
        && bytes.iter().all(|&b| ok(b) || b == b'.' || b == b'-')
}
