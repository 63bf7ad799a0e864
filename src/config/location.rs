//! The location grammar: `oci://HOST[:PORT]/REPOSITORY`, checked and put
//! in canonical form (lowercase host, compressed IPv6) before any request.

use super::invalid;
use crate::error::StoreError;

/// Splits `oci://HOST[:PORT]/REPO[/...]` into its authority and repository.
pub fn parse_location(location: &str) -> Result<(String, String), StoreError> {
    // `oci://user:password@host/repo`: refused before anything quotes the
    // location, which would put the password in an error message and logs.
    if location.contains('@') {
        return Err(invalid(
            "location holds user information (user:password@); give credentials as the \
             username and password options instead"
                .into(),
        ));
    }
    let rest = location
        .strip_prefix("oci://")
        .ok_or_else(|| invalid(format!("location '{location}' must start with oci://")))?;
    if rest.contains(['?', '#', '@']) || rest.chars().any(char::is_whitespace) {
        return Err(invalid(format!(
            "location '{location}' may not hold a query, a fragment or spaces"
        )));
    }
    let (authority, repository) = rest.split_once('/').ok_or_else(|| {
        invalid(format!(
            "location '{location}' names no repository (oci://HOST[:PORT]/REPOSITORY)"
        ))
    })?;
    let authority = parse_authority(authority, location)?;
    let repository = repository.trim_end_matches('/');
    validate_repository(repository, location)?;
    Ok((authority, repository.to_string()))
}

/// Whether `host[:port]` (as [`parse_location`] returns it) names this
/// machine: `localhost`, an address in 127.0.0.0/8, or `[::1]`.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        return v6
            .split_once(']')
            .and_then(|(addr, _)| addr.parse::<std::net::Ipv6Addr>().ok())
            .is_some_and(|addr| addr.is_loopback());
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|addr| addr.is_loopback())
}

fn parse_authority(authority: &str, location: &str) -> Result<String, StoreError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid(format!("location '{location}': unclosed '[' in host")))?;
        // Canonical (lowercase, compressed) so it compares as the host does.
        let Ok(addr) = addr.parse::<std::net::Ipv6Addr>() else {
            return Err(invalid(format!("location '{location}': bad IPv6 address")));
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| {
                invalid(format!("location '{location}': junk after IPv6 address"))
            })?),
        };
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let labels_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !labels_ok {
            return Err(invalid(format!(
                "location '{location}': bad registry host '{host}'"
            )));
        }
        (host.to_ascii_lowercase(), port)
    };
    match port {
        None => Ok(host),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Ok(format!("{host}:{n}")),
            _ => Err(invalid(format!("location '{location}': bad port '{p}'"))),
        },
    }
}

/// Repository names per the OCI distribution spec: path components of
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
fn validate_repository(repository: &str, location: &str) -> Result<(), StoreError> {
    if repository.is_empty() {
        return Err(invalid(format!(
            "location '{location}' names no repository"
        )));
    }
    if repository.len() > 255 {
        return Err(invalid(format!(
            "location '{location}': repository name over 255 characters"
        )));
    }
    for component in repository.split('/') {
        if !valid_component(component) {
            return Err(invalid(format!(
                "location '{location}': repository component '{component}' must be lowercase \
                 letters and digits, separated by '.', '_', '__' or dashes"
            )));
        }
    }
    Ok(())
}

fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}
