//! Which addresses a registry may send the component to.
//!
//! A registry's answers name other hosts (a token realm, a redirect target).
//! A hostile registry could name the machine itself (`127.0.0.1:6379`), the
//! cloud metadata service (`169.254.169.254`) or the local network, making
//! the component a probe of places the user never meant it to reach. So a
//! host named by the registry must be public, unless it is the registry's
//! own host (a registry on `127.0.0.1:5000` with its token server on
//! `127.0.0.1:5001` is the common local set-up).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is on the public Internet: not loopback, link-local,
/// private (RFC 1918, RFC 4193), shared (RFC 6598), unspecified, multicast,
/// broadcast or reserved. IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT (RFC 6598).
        || (a == 100 && (b & 0xc0) == 64)
        // 192.0.0.0/24, protocol assignments (RFC 6890).
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        // 198.18.0.0/15, benchmarking (RFC 2544).
        || (a == 198 && (b & 0xfe) == 18)
        // 240.0.0.0/4, reserved.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7, unique local (RFC 4193).
        || (first & 0xfe00) == 0xfc00
        // fe80::/10, link-local.
        || (first & 0xffc0) == 0xfe80
        // 2001:db8::/32, documentation.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// A host name or literal (IPv6 in brackets, as in an authority) as an IP
/// address, if it is a literal.
pub fn literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Names that always mean this machine (RFC 6761 `localhost`).
pub fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Two hosts are the same when equal ignoring case, or when they are the
/// same IP address written differently (`::ffff:127.0.0.1` and
/// `127.0.0.1`).
pub fn same_host(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    match (literal(a), literal(b)) {
        (Some(x), Some(y)) => x.to_canonical() == y.to_canonical(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_table() {
        let cases = [
            ("8.8.8.8", true),
            ("140.82.112.3", true),
            ("2606:4700::1111", true),
            ("127.0.0.1", false),
            ("127.0.0.2", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("224.0.0.1", false),
            ("::1", false),
            ("::", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:8.8.8.8", true),
        ];
        for (text, want) in cases {
            assert_eq!(is_public(text.parse().unwrap()), want, "{text}");
        }
    }

    #[test]
    fn literals_and_names() {
        assert_eq!(literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(literal("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(literal("registry.example"), None);
        assert!(is_local_name("LOCALHOST"));
        assert!(is_local_name("evil.localhost."));
        assert!(!is_local_name("localhost.example"));
        assert!(same_host("Reg.Example", "reg.example"));
        assert!(same_host("[::ffff:127.0.0.1]", "127.0.0.1"));
        assert!(!same_host("127.0.0.1", "127.0.0.2"));
    }
}
