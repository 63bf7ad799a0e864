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
/// broadcast or reserved, nor any other block the IANA special-purpose
/// registries mark as not globally reachable. IPv6 spellings of an IPv4
/// address (IPv4-mapped, NAT64's well-known prefix, 6to4) are judged by the
/// IPv4 address they carry: `::ffff:127.0.0.1`, `64:ff9b::a00:1` and
/// `2002:7f00:1::` are this machine or its network.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
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

/// The IANA IPv6 Special-Purpose Address Registry, as of RFC 9780 (and
/// the deprecated site-local block): every block not globally reachable
/// is refused; the blocks that carry an IPv4 address are judged by it.
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // The low 32 bits, where the IPv4-carrying blocks keep it.
    let low_v4 = || Ipv4Addr::from(u128::from(ip) as u32);
    match s {
        // ::ffff:0:0/96, IPv4-mapped (RFC 4291).
        [0, 0, 0, 0, 0, 0xffff, _, _] => is_public_v4(low_v4()),
        // ::/96, IPv4-compatible (deprecated by RFC 4291), with :: and ::1;
        // and ::ffff:0:0:0/96, IPv4-translated (RFC 2765): nothing public
        // is reached that way.
        [0, 0, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => false,
        // 64:ff9b::/96, NAT64's well-known prefix (RFC 6052): the IPv4
        // address it translates to.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => is_public_v4(low_v4()),
        // 64:ff9b:1::/48, local-use translation (RFC 8215).
        [0x64, 0xff9b, 1, ..] => false,
        // 100::/64, discard-only (RFC 6666), and 100:0:0:1::/64, dummy
        // prefix (RFC 9780).
        [0x100, 0, 0, 0 | 1, ..] => false,
        // 2001::/23, IETF protocol assignments (RFC 2928), Teredo
        // (2001::/32) included, but for the anycast and overlay blocks the
        // registry marks globally reachable.
        [0x2001, b, c, ..] if b < 0x200 => {
            // 2001:1::1, ::2 and ::3 (PCP, TURN and DNS-SD anycast).
            (b == 1 && s[2..7] == [0; 5] && (1..=3).contains(&s[7]))
                // 2001:3::/32, AMT (RFC 7450).
                || b == 3
                // 2001:4:112::/48, AS112-v6 (RFC 7535).
                || (b == 4 && c == 0x112)
                // 2001:20::/28 and 2001:30::/28, ORCHIDv2 and DRIP.
                || (0x20..=0x3f).contains(&b)
        }
        // 2001:db8::/32 and 3fff::/20, documentation (RFC 3849, RFC 9637).
        [0x2001, 0xdb8, ..] => false,
        [0x3fff, b, ..] if b < 0x1000 => false,
        // 2002::/16, 6to4 (RFC 3056): the IPv4 address of its relay.
        [0x2002, hi, lo, ..] => is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        // 5f00::/16, SRv6 SIDs (RFC 9602).
        [0x5f00, ..] => false,
        // fc00::/7, unique local (RFC 4193); fe80::/10, link-local;
        // fec0::/10, site-local (deprecated by RFC 3879, still routed
        // locally by some stacks); ff00::/8, multicast.
        [first, ..] => {
            (first & 0xfe00) != 0xfc00
                && (first & 0xffc0) != 0xfe80
                && (first & 0xffc0) != 0xfec0
                && (first & 0xff00) != 0xff00
        }
    }
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

    /// Each IPv6 spelling of an IPv4 address, and each IPv6 block the IANA
    /// registry marks not globally reachable.
    #[test]
    fn ipv6_spellings_and_special_blocks() {
        let cases = [
            // IPv4-mapped.
            ("::ffff:10.0.0.1", false),
            ("::ffff:192.168.0.1", false),
            // IPv4-compatible: loopback, private, and even public.
            ("::127.0.0.1", false),
            ("::10.0.0.1", false),
            ("::169.254.169.254", false),
            ("::8.8.8.8", false),
            // IPv4-translated (SIIT).
            ("::ffff:0:127.0.0.1", false),
            ("::ffff:0:8.8.8.8", false),
            // NAT64, well-known prefix: judged by the IPv4 inside.
            ("64:ff9b::127.0.0.1", false),
            ("64:ff9b::10.1.2.3", false),
            ("64:ff9b::169.254.169.254", false),
            ("64:ff9b::192.168.1.1", false),
            ("64:ff9b::8.8.8.8", true),
            // NAT64, local use.
            ("64:ff9b:1::8.8.8.8", false),
            // 6to4: judged by the IPv4 inside.
            ("2002:7f00:1::1", false),
            ("2002:a00:1::1", false),
            ("2002:a9fe:a9fe::1", false),
            ("2002:c0a8:101::1", false),
            ("2002:808:808::1", true),
            // Site-local (deprecated), unique local, link-local, multicast.
            ("fec0::1", false),
            ("feff::1", false),
            ("fc00::1", false),
            ("fe80::1", false),
            ("ff02::1", false),
            // Discard-only, dummy prefix.
            ("100::1", false),
            ("100:0:0:1::1", false),
            // IETF protocol assignments: Teredo, benchmarking, ORCHID.
            ("2001::1", false),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false),
            ("2001:2::1", false),
            ("2001:10::1", false),
            // ...but for the blocks the registry marks global.
            ("2001:1::1", true),
            ("2001:1::4", false),
            ("2001:3::1", true),
            ("2001:4:112::1", true),
            ("2001:20::1", true),
            // Documentation, old and new; SRv6 SIDs.
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("3fff:fff::1", false),
            ("5f00::1", false),
            // Public unicast, next to those blocks.
            ("2001:200::1", true),
            ("2001:4860:4860::8888", true),
            ("3fff:1000::1", true),
            ("2a00:1450:4007::1", true),
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
