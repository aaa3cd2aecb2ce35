//! IP address literals: strict dotted-quad IPv4, IPv6 through `std` (RFC 5952 output), and the
//! reserved ranges that make an address `private`. Knows nothing of words or text around them.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A dotted quad of four decimal parts, each 1–3 digits and at most 255. Zero-padded parts
/// (`192.168.001.001`, as some logs write them) are accepted; the result prints canonically.
pub(super) fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// An IPv6 literal in any RFC 4291 text form (full, `::`-compressed, with a trailing dotted
/// quad); a zone (`fe80::1%eth0`) is dropped.
pub(super) fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    let addr = s.split_once('%').map_or(s, |(addr, _zone)| addr);
    if !addr.contains(':') {
        return None;
    }
    addr.parse().ok()
}

/// Reserved IPv4 blocks as (network, prefix length).
const RESERVED_V4: [([u8; 4], u32); 14] = [
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // CGNAT (shared address space)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation, TEST-NET-1
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation, TEST-NET-2
    ([203, 0, 113, 0], 24),  // documentation, TEST-NET-3
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved for future use, and the broadcast 255.255.255.255
];

/// Reserved IPv6 blocks as (network, prefix length). IPv4-mapped and NAT64 addresses are
/// judged by the IPv4 address they carry instead.
const RESERVED_V6: [(Ipv6Addr, u32); 8] = [
    (Ipv6Addr::UNSPECIFIED, 96),                     // `::`, `::1` and deprecated IPv4-compatible
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

/// Private, loopback, link-local, CGNAT, documentation, benchmarking, IETF-protocol, multicast,
/// unspecified, future-use or broadcast: any address in [`RESERVED_V4`].
pub(super) fn ipv4_reserved(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    RESERVED_V4
        .iter()
        .any(|&(network, len)| (ip ^ u32::from_be_bytes(network)) >> (32 - len) == 0)
}

/// Any address in [`RESERVED_V6`]; an IPv4-mapped (`::ffff:0:0/96`) or NAT64
/// (`64:ff9b::/96`) address when the IPv4 address it carries is reserved.
pub(super) fn ipv6_reserved(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let carried_v4 = Ipv4Addr::from(bits as u32);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => ipv4_reserved(carried_v4),
        _ => RESERVED_V6
            .iter()
            .any(|&(network, len)| (bits ^ u128::from(network)) >> (128 - len) == 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> bool {
        ipv4_reserved(s.parse().unwrap())
    }

    fn v6(s: &str) -> bool {
        ipv6_reserved(s.parse().unwrap())
    }

    #[test]
    fn dotted_quads_parse_with_zero_padding_and_reject_anything_else() {
        assert_eq!(parse_ipv4("192.168.001.010"), Some(Ipv4Addr::new(192, 168, 1, 10)));
        assert_eq!(parse_ipv4("8.8.8.8"), Some(Ipv4Addr::new(8, 8, 8, 8)));
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.",
            ".1.2.3",
            "1..2.3",
            "1.2.3.0004",
            "1.2.3.a",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv6_literals_parse_in_every_text_form_and_drop_the_zone() {
        let full = parse_ipv6("2001:0db8:0000:0000:0000:0000:0000:0001").unwrap();
        assert_eq!(full.to_string(), "2001:db8::1");
        assert_eq!(parse_ipv6("fe80::1%eth0").unwrap().to_string(), "fe80::1");
        assert_eq!(parse_ipv6("::ffff:10.0.0.1").unwrap().to_string(), "::ffff:10.0.0.1");
        for bad in ["10:00:00", "00:11:22:33:44:55", "1.2.3.4", "gg::1", ":::"] {
            assert_eq!(parse_ipv6(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_reserved_ipv4_range_is_flagged_at_both_edges() {
        let reserved = [
            ("10.0.0.0", "10.255.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("0.0.0.0", "0.255.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ];
        for (low, high) in reserved {
            assert!(v4(low) && v4(high), "{low}-{high}");
        }
    }

    #[test]
    fn addresses_just_outside_the_reserved_ipv4_ranges_are_public() {
        for public in [
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "100.63.255.255",
            "100.128.0.0",
            "1.0.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "198.51.99.255",
            "203.0.114.0",
            "223.255.255.255",
            "8.8.8.8",
        ] {
            assert!(!v4(public), "{public}");
        }
    }

    #[test]
    fn every_reserved_ipv6_range_is_flagged() {
        for reserved in [
            "::1",
            "::",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "::ffff:192.168.1.1",
            "::ffff:127.0.0.1",
            "64:ff9b::10.0.0.1",
            "100::1",
            "fec0::1",
            "3fff::1",
        ] {
            assert!(v6(reserved), "{reserved}");
        }
    }

    #[test]
    fn public_ipv6_and_mapped_public_ipv4_are_not_flagged() {
        for public in [
            "2606:4700::1111",
            "2001:db9::1",
            "fbff::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2a00::1",
        ] {
            assert!(!v6(public), "{public}");
        }
    }
}
