//! The `Link` header of paginated tag lists (RFC 8288, as used by the OCI
//! distribution spec's "Listing Tags": `<url>; rel="next"`).

/// The target of the `rel="next"` link among the `Link` header values, if any.
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for value in values {
        // One header may hold several comma-separated links.
        for link in split_links(value) {
            let link = link.trim();
            let Some(rest) = link.strip_prefix('<') else {
                continue;
            };
            let Some((target, params)) = rest.split_once('>') else {
                continue;
            };
            let is_next = params.split(';').any(|param| {
                let Some((name, val)) = param.trim().split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && val
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next && !target.is_empty() {
                return Some(target.to_string());
            }
        }
    }
    None
}

/// Splits on commas that are outside `<...>` and quotes (URLs may hold commas).
fn split_links(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_angle, mut in_quote, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (
                &[r#"</v2/r/tags/list?last=b&n=2>; rel="next""#],
                Some("/v2/r/tags/list?last=b&n=2"),
            ),
            (
                &[r#"<https://h/v2/r/tags/list?n=2&last=opaque%2C1>; rel=next"#],
                Some("https://h/v2/r/tags/list?n=2&last=opaque%2C1"),
            ),
            (&[r#"</a,b>; rel="prev", </c>; rel="next""#], Some("/c")),
            (&[r#"</x>; rel="prev""#, r#"</y>; REL="Next""#], Some("/y")),
            (&[r#"</x>; rel="prev""#], None),
            (&["garbage"], None),
            (&[r#"<>; rel="next""#], None),
            (&[], None),
        ];
        for (values, want) in cases {
            assert_eq!(
                next_link(values.iter().copied()).as_deref(),
                *want,
                "{values:?}"
            );
        }
    }
}
