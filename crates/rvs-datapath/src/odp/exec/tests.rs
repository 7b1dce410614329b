//! Tests of the packet-editing primitives.
use super::*;
use proptest::prelude::*;
use rvs_packet::checksum::crc32c;
use rvs_packet::checksum::{accumulate, checksum, finish, pseudo_ipv4, pseudo_ipv6};
use rvs_packet::flow::Field;
use rvs_packet::TunnelMetadata;

const MAC_A: EthAddr = EthAddr([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B: EthAddr = EthAddr([0x02, 0, 0, 0, 0, 0x0b]);

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Ip {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tos: u8,
        ttl: u8,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        tc: u8,
        label: u32,
        hlim: u8,
        /// A routing header with this many segments left.
        rh: Option<u8>,
    },
}

#[derive(Clone, Copy, Debug)]
enum L4 {
    Tcp(u16, u16),
    Udp(u16, u16),
    /// UDP with checksum 0 ("none").
    UdpNoCsum(u16, u16),
    Sctp(u16, u16),
    /// ICMP or ICMPv6 (by the IP version) type and code.
    Icmp(u8, u8),
    /// Neighbor solicitation (135) or advertisement (136) with an
    /// optional link-layer address option (type, address).
    Nd(u8, Ipv6Addr, Option<(u8, EthAddr)>),
}

fn ipv4_default() -> Ip {
    Ip::V4 { src: v4("198.18.0.1"), dst: v4("198.18.0.2"), tos: 0, ttl: 64 }
}

fn ipv6_default() -> Ip {
    Ip::V6 {
        src: v6("2001:db8::1"),
        dst: v6("2001:db8::2"),
        tc: 0,
        label: 0x12345,
        hlim: 64,
        rh: None,
    }
}

fn proto_of(l4: L4, is_v6: bool) -> u8 {
    match l4 {
        L4::Tcp(..) => IPPROTO_TCP,
        L4::Udp(..) | L4::UdpNoCsum(..) => IPPROTO_UDP,
        L4::Sctp(..) => IPPROTO_SCTP,
        L4::Icmp(..) if is_v6 => IPPROTO_ICMPV6,
        L4::Icmp(..) => IPPROTO_ICMP,
        L4::Nd(..) => IPPROTO_ICMPV6,
    }
}

fn l4_message(l4: L4, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    match l4 {
        L4::Tcp(s, d) => {
            m.extend(s.to_be_bytes());
            m.extend(d.to_be_bytes());
            m.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        }
        L4::Udp(s, d) | L4::UdpNoCsum(s, d) => {
            m.extend(s.to_be_bytes());
            m.extend(d.to_be_bytes());
            m.extend(((8 + payload.len()) as u16).to_be_bytes());
            m.extend([0, 0]);
        }
        L4::Sctp(s, d) => {
            m.extend(s.to_be_bytes());
            m.extend(d.to_be_bytes());
            m.extend([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]);
        }
        L4::Icmp(t, c) => m.extend([t, c, 0, 0, 0x12, 0x34, 0, 1]),
        L4::Nd(t, target, opt) => {
            m.extend([t, 0, 0, 0, 0x60, 0, 0, 0]);
            m.extend(target.octets());
            if let Some((typ, mac)) = opt {
                m.extend([typ, 1]);
                m.extend(mac.0);
            }
            return m;
        }
    }
    m.extend_from_slice(payload);
    m
}

/// Offset of the checksum in an L4 message.
fn csum_off(proto: u8) -> usize {
    match proto {
        IPPROTO_TCP => 16,
        IPPROTO_UDP => 6,
        IPPROTO_SCTP => 8,
        _ => 2,
    }
}

/// End of the IP packet at `l3` (by its length field).
fn ip_end(d: &[u8], l3: usize, is_v6: bool) -> usize {
    if is_v6 {
        l3 + 40 + rd16(d, l3 + 4) as usize
    } else {
        l3 + rd16(d, l3 + 2) as usize
    }
}

fn pseudo(d: &[u8], l3: usize, is_v6: bool, proto: u8, len: usize) -> u64 {
    if is_v6 {
        let s = Ipv6Addr::from(rd128(d, l3 + 8));
        let t = Ipv6Addr::from(rd128(d, l3 + 24));
        pseudo_ipv6(s, t, proto, len as u32)
    } else {
        let s = Ipv4Addr::from(rd32(d, l3 + 12));
        let t = Ipv4Addr::from(rd32(d, l3 + 16));
        pseudo_ipv4(s, t, proto, len as u32)
    }
}

/// The L4 checksum field as a full recomputation makes it: complete, or
/// for a checksum-partial packet the folded pseudo-header sum.
fn full_l4_csum(d: &[u8], l3: usize, l4: usize, is_v6: bool, proto: u8, partial: bool) -> [u8; 4] {
    let end = ip_end(d, l3, is_v6);
    let mut m = d[l4..end].to_vec();
    let off = csum_off(proto);
    if proto == IPPROTO_SCTP {
        m[off..off + 4].fill(0);
        return crc32c(&m).to_le_bytes();
    }
    let ph = if proto == IPPROTO_ICMP { 0 } else { pseudo(d, l3, is_v6, proto, m.len()) };
    let c = if partial {
        !finish(ph)
    } else {
        m[off..off + 2].fill(0);
        match finish(accumulate(ph, &m)) {
            0 if proto == IPPROTO_UDP => 0xffff,
            c => c,
        }
    };
    let b = c.to_be_bytes();
    [b[0], b[1], 0, 0]
}

/// Builds an Ethernet frame with `vlans` tags, the IP header `ip` and the
/// L4 message `l4`, every checksum correct; fills the metadata offsets
/// and the flow key as extraction would.
fn build(ip: Ip, l4: L4, payload: &[u8], vlans: &[u16]) -> (Packet, FlowKey) {
    let mut key = FlowKey::new();
    let mut f = Vec::new();
    f.extend(MAC_B.0);
    f.extend(MAC_A.0);
    key.set_eth_dst(MAC_B);
    key.set_eth_src(MAC_A);
    for (i, &v) in vlans.iter().enumerate() {
        f.extend(ETH_TYPE_VLAN.to_be_bytes());
        f.extend(v.to_be_bytes());
        let fld = if i == 0 { Field::Vlan0Tci } else { Field::Vlan1Tci };
        key.set(fld, u128::from(v | VLAN_CFI));
    }
    let is_v6 = matches!(ip, Ip::V6 { .. });
    let proto = proto_of(l4, is_v6);
    let msg = l4_message(l4, payload);
    let l3 = f.len() + 2;
    match ip {
        Ip::V4 { src, dst, tos, ttl } => {
            f.extend(ETH_TYPE_IPV4.to_be_bytes());
            f.extend([0x45, tos]);
            f.extend(((20 + msg.len()) as u16).to_be_bytes());
            f.extend([0x12, 0x34, 0x40, 0x00, ttl, proto, 0, 0]);
            f.extend(src.octets());
            f.extend(dst.octets());
            let c = checksum(&f[l3..l3 + 20]);
            f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            key.set_eth_type(ETH_TYPE_IPV4);
            key.set_nw_src(src);
            key.set_nw_dst(dst);
            key.set(Field::NwTos, tos.into());
            key.set(Field::NwTtl, ttl.into());
        }
        Ip::V6 { src, dst, tc, label, hlim, rh } => {
            f.extend(ETH_TYPE_IPV6.to_be_bytes());
            f.extend((6 << 28 | u32::from(tc) << 20 | label).to_be_bytes());
            let ext = if rh.is_some() { 8 } else { 0 };
            f.extend(((ext + msg.len()) as u16).to_be_bytes());
            f.extend([if rh.is_some() { IPV6_ROUTING } else { proto }, hlim]);
            f.extend(src.octets());
            f.extend(dst.octets());
            if let Some(left) = rh {
                f.extend([proto, 0, 4, left, 0, 0, 0, 0]);
            }
            key.set_eth_type(ETH_TYPE_IPV6);
            key.set_ipv6_src(src);
            key.set_ipv6_dst(dst);
            key.set(Field::Ipv6Label, label.into());
            key.set(Field::NwTos, tc.into());
            key.set(Field::NwTtl, hlim.into());
        }
    }
    key.set_nw_proto(proto);
    let l4o = f.len();
    f.extend(&msg);
    if !matches!(l4, L4::UdpNoCsum(..)) {
        let c = full_l4_csum(&f, l3, l4o, is_v6, proto, false);
        let off = l4o + csum_off(proto);
        let n = if proto == IPPROTO_SCTP { 4 } else { 2 };
        f[off..off + n].copy_from_slice(&c[..n]);
    }
    let (tp_src, tp_dst) = match l4 {
        L4::Tcp(s, d) | L4::Udp(s, d) | L4::UdpNoCsum(s, d) | L4::Sctp(s, d) => (s, d),
        L4::Icmp(t, c) => (t.into(), c.into()),
        L4::Nd(t, target, _) => {
            key.set(Field::NdTarget, u128::from(target));
            (t.into(), 0)
        }
    };
    key.set_tp_src(tp_src);
    key.set_tp_dst(tp_dst);
    let mut p = Packet::from_bytes(&f);
    p.md.l2_ofs = 0;
    p.md.l3_ofs = l3 as u16;
    p.md.l4_ofs = l4o as u16;
    (p, key)
}

/// Turns a packet into a checksum-partial one, as a vnet-hdr port hands
/// it over: the L4 field holds the folded pseudo-header sum.
fn make_partial(p: &mut Packet, key: &FlowKey) {
    let (l3, l4) = (p.md.l3_ofs as usize, p.md.l4_ofs as usize);
    let (is_v6, proto) = (key.eth_type() == ETH_TYPE_IPV6, key.nw_proto());
    let c = full_l4_csum(p.data(), l3, l4, is_v6, proto, true);
    let off = csum_off(proto);
    p.data_mut()[l4 + off..l4 + off + 2].copy_from_slice(&c[..2]);
    p.md.csum_start = Some(l4 as u16);
    p.md.csum_offset = off as u16;
}

/// Asserts that every checksum of `p` equals a full recomputation
/// (`udp_none`: the UDP checksum must still be 0).
fn check_csums(p: &Packet, key: &FlowKey, udp_none: bool) {
    let d = p.data();
    let (l3, l4) = (p.md.l3_ofs as usize, p.md.l4_ofs as usize);
    let is_v6 = key.eth_type() == ETH_TYPE_IPV6;
    if !is_v6 {
        assert_eq!(checksum(&d[l3..l3 + 20]), 0, "IPv4 header checksum");
    }
    let proto = key.nw_proto();
    let off = l4 + csum_off(proto);
    let partial = p.md.csum_start.is_some();
    if proto == IPPROTO_UDP && udp_none {
        assert_eq!(rd16(d, off), 0, "UDP checksum 0 stays 0");
    } else if proto == IPPROTO_SCTP {
        if !partial {
            let want = full_l4_csum(d, l3, l4, is_v6, proto, false);
            assert_eq!(d[off..off + 4], want, "SCTP CRC32c");
        }
    } else {
        let want = full_l4_csum(d, l3, l4, is_v6, proto, partial);
        assert_eq!(d[off..off + 2], want[..2], "L4 checksum (partial: {partial})");
    }
}

fn set(p: &mut Packet, k: &FlowKey, v: SetField) {
    set_field(p, k, &v, None).unwrap();
}

fn set_masked(p: &mut Packet, k: &FlowKey, v: SetField, m: SetField) {
    set_field(p, k, &v, Some(&m)).unwrap();
}

fn ipv4_set(src: Ipv4Addr, dst: Ipv4Addr, tos: u8, ttl: u8) -> SetField {
    SetField::Ipv4 { src, dst, proto: 0, tos, ttl, frag: 0 }
}

fn ipv6_set(src: Ipv6Addr, dst: Ipv6Addr, label: u32, tclass: u8, hlimit: u8) -> SetField {
    SetField::Ipv6 { src, dst, label, proto: 0, tclass, hlimit, frag: 0 }
}

#[test]
fn crc32c_known_vector() {
    // RFC 3720 B.4 / the common check value of CRC-32C.
    assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
}

#[test]
fn set_eth_full_and_masked() {
    let (mut p, k) = build(ipv4_default(), L4::Tcp(1000, 80), b"x", &[]);
    let orig = p.data().to_vec();
    let (s, d) = (EthAddr([0x0a, 1, 2, 3, 4, 5]), EthAddr([0x0c, 6, 7, 8, 9, 0xa]));
    set(&mut p, &k, SetField::Eth { src: s, dst: d });
    assert_eq!(&p.data()[..6], &d.0);
    assert_eq!(&p.data()[6..12], &s.0);
    assert_eq!(&p.data()[12..], &orig[12..]);
    // Only the low byte of the source.
    let m = SetField::Eth { src: EthAddr([0, 0, 0, 0, 0, 0xff]), dst: EthAddr::ZERO };
    set_masked(&mut p, &k, SetField::Eth { src: MAC_B, dst: MAC_B }, m);
    assert_eq!(&p.data()[..6], &d.0);
    assert_eq!(&p.data()[6..12], &[0x0a, 1, 2, 3, 4, 0x0b]);
}

#[test]
fn set_ipv4_all_fields_tcp() {
    let (mut p, k) = build(ipv4_default(), L4::Tcp(1000, 80), b"hello", &[10]);
    let (s, d) = (v4("198.19.1.2"), v4("198.19.3.4"));
    set(&mut p, &k, ipv4_set(s, d, 0xb8, 7));
    let l3 = p.md.l3_ofs as usize;
    let h = &p.data()[l3..];
    assert_eq!(h[1], 0xb8);
    assert_eq!(h[8], 7);
    assert_eq!(h[9], IPPROTO_TCP, "proto is not settable");
    assert_eq!(&h[12..16], &s.octets());
    assert_eq!(&h[16..20], &d.octets());
    check_csums(&p, &k, false);
}

#[test]
fn set_ipv4_at_an_odd_offset() {
    // Headers need not start at an even offset from the data start.
    let (mut p, k) = build(ipv4_default(), L4::Udp(1, 2), b"data", &[]);
    p.push_front(1)[0] = 0xee;
    assert_eq!(p.md.l3_ofs, 15);
    set(&mut p, &k, ipv4_set(v4("198.18.0.3"), v4("198.18.0.4"), 0x10, 3));
    assert_eq!(p.data()[15 + 8], 3);
    check_csums(&p, &k, false);
}

#[test]
fn set_ipv4_ignores_proto_and_frag() {
    let (mut p, k) = build(ipv4_default(), L4::Udp(1, 2), b"", &[]);
    let before = p.data().to_vec();
    let v = SetField::Ipv4 {
        src: v4("198.18.0.1"),
        dst: v4("198.18.0.2"),
        proto: 99,
        tos: 0,
        ttl: 64,
        frag: 3,
    };
    set(&mut p, &k, v);
    assert_eq!(p.data(), &before[..]);
}

#[test]
fn udp_zero_checksum_stays_zero() {
    let (mut p, k) = build(ipv4_default(), L4::UdpNoCsum(53, 53), b"query", &[]);
    set(&mut p, &k, ipv4_set(v4("198.18.9.9"), v4("198.18.0.2"), 0, 64));
    set(&mut p, &k, SetField::Udp { src: 1234, dst: 53 });
    check_csums(&p, &k, true);
    assert_eq!(rd16(p.data(), p.md.l4_ofs as usize), 1234);
}

#[test]
fn udp_computed_zero_is_sent_as_all_ones() {
    // Find a source port whose full checksum computes to 0 (sent as
    // 0xffff), then move to it incrementally.
    let (p0, k) = build(ipv4_default(), L4::Udp(7, 9), b"abcd", &[]);
    let (l3, l4) = (p0.md.l3_ofs as usize, p0.md.l4_ofs as usize);
    let port = (0..=u16::MAX)
        .find(|&port| {
            let mut d = p0.data().to_vec();
            wr16(&mut d, l4, port);
            wr16(&mut d, l4 + 6, 0);
            let ph = pseudo(&d, l3, false, IPPROTO_UDP, d.len() - l4);
            finish(accumulate(ph, &d[l4..])) == 0
        })
        .expect("some port sums to zero");
    let mut p = p0.clone();
    set(&mut p, &k, SetField::Udp { src: port, dst: 9 });
    assert_eq!(rd16(p.data(), l4 + 6), 0xffff);
    check_csums(&p, &k, false);
}

#[test]
fn checksum_partial_tcp_keeps_pseudo_sum() {
    let (mut p, k) = build(ipv4_default(), L4::Tcp(1000, 80), &[7; 100], &[]);
    make_partial(&mut p, &k);
    let at = p.md.l4_ofs as usize + 16;
    let before = rd16(p.data(), at);
    set(&mut p, &k, SetField::Tcp { src: 2000, dst: 443 });
    assert_eq!(rd16(p.data(), at), before, "port change leaves the pseudo sum");
    set(&mut p, &k, ipv4_set(v4("198.18.5.5"), v4("198.19.6.6"), 0, 64));
    assert_ne!(rd16(p.data(), at), before);
    check_csums(&p, &k, false);
}

#[test]
fn checksum_partial_udp_ipv6() {
    let (mut p, k) = build(ipv6_default(), L4::Udp(5000, 4789), &[1; 33], &[]);
    make_partial(&mut p, &k);
    set(&mut p, &k, ipv6_set(v6("2001:db8::77"), v6("2001:db8:1::99"), 1, 2, 3));
    set(&mut p, &k, SetField::Udp { src: 1, dst: 2 });
    check_csums(&p, &k, false);
}

#[test]
fn set_ipv6_fields_and_checksums() {
    for l4 in [L4::Tcp(1, 2), L4::Udp(3, 4), L4::Icmp(128, 0)] {
        let (mut p, k) = build(ipv6_default(), l4, b"payload", &[]);
        let (s, d) = (v6("2001:db8:aa::1"), v6("2001:db8:bb::2"));
        set(&mut p, &k, ipv6_set(s, d, 0xabcde, 0x2e, 9));
        let l3 = p.md.l3_ofs as usize;
        let h = &p.data()[l3..];
        assert_eq!(rd32(h, 0), 6 << 28 | 0x2e << 20 | 0xabcde);
        assert_eq!(h[6], proto_of(l4, true));
        assert_eq!(h[7], 9);
        assert_eq!(rd128(h, 8), u128::from(s));
        assert_eq!(rd128(h, 24), u128::from(d));
        check_csums(&p, &k, false);
    }
}

#[test]
fn ipv6_routing_header_keeps_destination_out_of_checksum() {
    let mut ip = ipv6_default();
    for (left, dst_counts) in [(1u8, false), (0, true)] {
        if let Ip::V6 { rh, .. } = &mut ip {
            *rh = Some(left);
        }
        let (mut p, k) = build(ip, L4::Tcp(1, 2), b"x", &[]);
        let at = p.md.l4_ofs as usize + 16;
        let before = rd16(p.data(), at);
        let m = ipv6_set(Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, 0, 0, 0);
        let mut full = m;
        if let SetField::Ipv6 { dst, .. } = &mut full {
            *dst = Ipv6Addr::from(u128::MAX);
        }
        set_masked(&mut p, &k, ipv6_set(v6("::"), v6("2001:db8::99"), 0, 0, 0), full);
        assert_eq!(rd128(p.data(), p.md.l3_ofs as usize + 24), u128::from(v6("2001:db8::99")));
        assert_eq!(rd16(p.data(), at) != before, dst_counts, "segments left {left}");
    }
}

#[test]
fn set_ports_tcp_udp_sctp() {
    for l4 in [L4::Tcp(1000, 80), L4::Udp(1000, 80), L4::Sctp(1000, 80)] {
        for ip in [ipv4_default(), ipv6_default()] {
            let (mut p, k) = build(ip, l4, b"some payload bytes", &[]);
            let v = match l4 {
                L4::Tcp(..) => SetField::Tcp { src: 4321, dst: 8080 },
                L4::Udp(..) => SetField::Udp { src: 4321, dst: 8080 },
                _ => SetField::Sctp { src: 4321, dst: 8080 },
            };
            set(&mut p, &k, v);
            let l4o = p.md.l4_ofs as usize;
            assert_eq!(rd16(p.data(), l4o), 4321);
            assert_eq!(rd16(p.data(), l4o + 2), 8080);
            check_csums(&p, &k, false);
        }
    }
}

#[test]
fn sctp_ignores_ethernet_padding_and_keeps_an_error() {
    // A short SCTP packet padded to the Ethernet minimum.
    let (p0, k) = build(ipv4_default(), L4::Sctp(5, 6), &[], &[]);
    let mut p = Packet::from_bytes(&[p0.data(), &[0u8; 20][..]].concat());
    p.md = p0.md;
    set(&mut p, &k, SetField::Sctp { src: 7, dst: 8 });
    check_csums(&p, &k, false);
    // A wrong CRC stays wrong by the same amount (OVS does the same).
    let at = p.md.l4_ofs as usize + 8;
    p.data_mut()[at] ^= 0x5a;
    set(&mut p, &k, SetField::Sctp { src: 9, dst: 10 });
    let (l3, l4) = (p.md.l3_ofs as usize, p.md.l4_ofs as usize);
    let want = full_l4_csum(p.data(), l3, l4, false, IPPROTO_SCTP, false);
    assert_eq!(p.data()[at], want[0] ^ 0x5a);
    assert_eq!(p.data()[at + 1..at + 4], want[1..]);
}

#[test]
fn set_icmp_type_code() {
    let (mut p, k) = build(ipv4_default(), L4::Icmp(8, 0), b"ping", &[]);
    set(&mut p, &k, SetField::Icmp { typ: 0, code: 3 });
    let l4 = p.md.l4_ofs as usize;
    assert_eq!(p.data()[l4..l4 + 2], [0, 3]);
    check_csums(&p, &k, false);
    // An address change does not touch ICMPv4's checksum but must keep it right.
    set(&mut p, &k, ipv4_set(v4("198.18.7.7"), v4("198.18.0.2"), 0, 64));
    check_csums(&p, &k, false);

    let (mut p, k) = build(ipv6_default(), L4::Icmp(128, 0), b"ping", &[]);
    set_masked(
        &mut p,
        &k,
        SetField::Icmpv6 { typ: 129, code: 0 },
        SetField::Icmpv6 { typ: 0xff, code: 0 },
    );
    assert_eq!(p.data()[l4 + 20], 129);
    check_csums(&p, &k, false);
    // set(icmp) on an ICMPv6 packet is not for it.
    let before = p.data().to_vec();
    set(&mut p, &k, SetField::Icmp { typ: 1, code: 1 });
    assert_eq!(p.data(), &before[..]);
}

fn arp_packet() -> (Packet, FlowKey) {
    let mut f = Vec::new();
    f.extend(EthAddr::BROADCAST.0);
    f.extend(MAC_A.0);
    f.extend(ETH_TYPE_ARP.to_be_bytes());
    f.extend([0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend(MAC_A.0);
    f.extend(v4("198.18.0.1").octets());
    f.extend([0; 6]);
    f.extend(v4("198.18.0.2").octets());
    let mut p = Packet::from_bytes(&f);
    p.md.l2_ofs = 0;
    p.md.l3_ofs = 14;
    let mut k = FlowKey::new();
    k.set_eth_type(ETH_TYPE_ARP);
    k.set_nw_proto(1);
    (p, k)
}

#[test]
fn set_arp_full_and_masked() {
    let (mut p, k) = arp_packet();
    let v = SetField::Arp {
        sip: v4("198.18.0.2"),
        tip: v4("198.18.0.1"),
        op: 2,
        sha: MAC_B,
        tha: MAC_A,
    };
    set(&mut p, &k, v);
    let a = &p.data()[14..];
    assert_eq!(rd16(a, 6), 2);
    assert_eq!(&a[8..14], &MAC_B.0);
    assert_eq!(&a[14..18], &v4("198.18.0.2").octets());
    assert_eq!(&a[18..24], &MAC_A.0);
    assert_eq!(&a[24..28], &v4("198.18.0.1").octets());
    let m = SetField::Arp {
        sip: Ipv4Addr::new(0, 0, 0, 0xff),
        tip: Ipv4Addr::UNSPECIFIED,
        op: 0,
        sha: EthAddr::ZERO,
        tha: EthAddr::ZERO,
    };
    let v2 =
        SetField::Arp { sip: v4("10.0.0.9"), tip: v4("10.0.0.9"), op: 9, sha: MAC_A, tha: MAC_B };
    set_masked(&mut p, &k, v2, m);
    let a = &p.data()[14..];
    assert_eq!(&a[14..18], &v4("198.18.0.9").octets());
    assert_eq!(&a[24..28], &v4("198.18.0.1").octets());
    assert_eq!(rd16(a, 6), 2);
}

#[test]
fn set_nd_target_and_options() {
    for (typ, opt) in [(135u8, ND_OPT_SOURCE_LINKADDR), (136, ND_OPT_TARGET_LINKADDR)] {
        let ip = Ip::V6 {
            src: v6("fe80::1"),
            dst: v6("ff02::1:ff00:2"),
            tc: 0,
            label: 0,
            hlim: 255,
            rh: None,
        };
        let (mut p, k) = build(ip, L4::Nd(typ, v6("2001:db8::2"), Some((opt, MAC_A))), &[], &[]);
        let v = SetField::Nd {
            target: v6("2001:db8::77"),
            sll: EthAddr([2, 0x11, 0x22, 0x33, 0x44, 0x55]),
            tll: EthAddr([2, 0x66, 0x77, 0x88, 0x99, 0xaa]),
        };
        set(&mut p, &k, v);
        let l4 = p.md.l4_ofs as usize;
        let d = p.data();
        assert_eq!(rd128(d, l4 + 8), u128::from(v6("2001:db8::77")));
        let want = if opt == ND_OPT_SOURCE_LINKADDR { 0x11 } else { 0x66 };
        assert_eq!(d[l4 + 24 + 3], want, "option {opt}");
        check_csums(&p, &k, false);
    }
}

#[test]
fn metadata_fields() {
    let (mut p, k) = build(ipv4_default(), L4::Tcp(1, 2), b"", &[]);
    set(&mut p, &k, SetField::Priority(7));
    set(&mut p, &k, SetField::Mark(0x1234_5678));
    set_masked(&mut p, &k, SetField::Mark(0xffff_0000), SetField::Mark(0x00ff_0000));
    assert_eq!(p.md.skb_priority, 7);
    assert_eq!(p.md.pkt_mark, 0x12ff_5678);
    let t = SetField::Tunnel {
        tun_id: 42,
        src: u128::from(u32::from(v4("198.18.0.1"))),
        dst: u128::from(u32::from(v4("198.18.0.2"))),
        ipv6: false,
        tos: 1,
        ttl: 64,
        tp_src: 0,
        tp_dst: 4789,
        flags: 4,
    };
    set(&mut p, &k, t);
    assert_eq!(
        p.md.tunnel,
        TunnelMetadata {
            tun_id: 42,
            src: Some(IpAddr::V4(v4("198.18.0.1"))),
            dst: Some(IpAddr::V4(v4("198.18.0.2"))),
            tos: 1,
            ttl: 64,
            tp_src: 0,
            tp_dst: 4789,
            flags: 4,
        }
    );
}

#[test]
fn mismatched_mask_is_refused_and_changes_nothing() {
    let (mut p, k) = build(ipv4_default(), L4::Tcp(1, 2), b"", &[]);
    let before = p.clone();
    let r = set_field(
        &mut p,
        &k,
        &SetField::Tcp { src: 9, dst: 9 },
        Some(&SetField::Udp { src: 0xffff, dst: 0xffff }),
    );
    assert_eq!(r, Err(DropReason::Malformed));
    assert_eq!(p, before);
}

#[test]
fn absent_headers_are_skipped() {
    // set(tcp) on UDP, set(ipv6) on IPv4, set(arp) on IP.
    let (mut p, k) = build(ipv4_default(), L4::Udp(1, 2), b"data", &[]);
    let before = p.clone();
    set(&mut p, &k, SetField::Tcp { src: 9, dst: 9 });
    set(&mut p, &k, ipv6_set(v6("::1"), v6("::2"), 0, 0, 0));
    let (_, arp_key) = arp_packet();
    let arp =
        SetField::Arp { sip: v4("1.1.1.1"), tip: v4("1.1.1.1"), op: 1, sha: MAC_A, tha: MAC_A };
    set(&mut p, &k, arp);
    assert_eq!(p, before);
    // The ARP key on an IP packet with no ARP header where the key says.
    let mut q = before.clone();
    q.md.l3_ofs = NO_OFFSET;
    set(&mut q, &arp_key, arp);
    assert_eq!(q.data(), before.data());

    // Truncated: the TCP header is cut short.
    let (p0, k) = build(ipv4_default(), L4::Tcp(1, 2), b"", &[]);
    let mut p = Packet::from_bytes(&p0.data()[..p0.md.l4_ofs as usize + 10]);
    p.md = p0.md;
    let before = p.clone();
    set(&mut p, &k, SetField::Tcp { src: 9, dst: 9 });
    assert_eq!(p, before);
    // ... while an address change still fixes the IPv4 header.
    set(&mut p, &k, ipv4_set(v4("198.18.0.9"), v4("198.18.0.2"), 0, 64));
    assert_eq!(checksum(&p.data()[14..34]), 0);
    assert_eq!(p.data()[34..], before.data()[34..]);
}

#[test]
fn later_fragments_have_no_l4_header() {
    let (mut p, mut k) = build(ipv4_default(), L4::Udp(1, 2), b"data", &[]);
    k.set_nw_frag(FRAG_ANY | FRAG_LATER);
    let l4 = p.md.l4_ofs as usize;
    let before = p.data()[l4..].to_vec();
    set(&mut p, &k, SetField::Udp { src: 9, dst: 9 });
    set(&mut p, &k, ipv4_set(v4("198.18.0.9"), v4("198.18.0.2"), 0, 64));
    assert_eq!(p.data()[l4..], before[..]);
    assert_eq!(checksum(&p.data()[14..34]), 0);
}

#[test]
fn push_and_pop_vlan() {
    let (mut p, k) = build(ipv4_default(), L4::Tcp(1, 2), b"abc", &[]);
    make_partial(&mut p, &k);
    let orig = p.clone();
    push_vlan(&mut p, ETH_TYPE_VLAN, VLAN_CFI | 0x2000 | 10);
    assert_eq!(&p.data()[..12], &orig.data()[..12]);
    assert_eq!(&p.data()[12..16], &[0x81, 0x00, 0x20, 0x0a], "CFI cleared");
    assert_eq!(&p.data()[16..], &orig.data()[12..]);
    assert_eq!(p.md.l2_ofs, 0);
    assert_eq!(p.md.l3_ofs, orig.md.l3_ofs + 4);
    assert_eq!(p.md.l4_ofs, orig.md.l4_ofs + 4);
    assert_eq!(p.md.csum_start, orig.md.csum_start.map(|c| c + 4));
    // An outer 802.1ad tag goes in front.
    push_vlan(&mut p, ETH_TYPE_QINQ, VLAN_CFI | 20);
    assert_eq!(&p.data()[12..20], &[0x88, 0xa8, 0x00, 20, 0x81, 0x00, 0x20, 0x0a]);
    pop_vlan(&mut p);
    assert_eq!(&p.data()[12..16], &[0x81, 0x00, 0x20, 0x0a]);
    // (Packet's PartialEq also compares stale headroom bytes.)
    pop_vlan(&mut p);
    assert_eq!((p.data(), p.md), (orig.data(), orig.md));
    pop_vlan(&mut p);
    assert_eq!((p.data(), p.md), (orig.data(), orig.md), "no tag: nothing to pop");
}

#[test]
fn push_vlan_without_headroom_reallocates() {
    let (p0, _) = build(ipv4_default(), L4::Udp(1, 2), b"", &[]);
    let mut p = Packet::with_headroom(p0.data(), 0);
    p.md = p0.md;
    push_vlan(&mut p, ETH_TYPE_VLAN, VLAN_CFI | 5);
    assert_eq!(p.len(), p0.len() + 4);
    assert_eq!(&p.data()[12..16], &[0x81, 0, 0, 5]);
    assert_eq!(&p.data()[16..], &p0.data()[12..]);
    assert_eq!(p.md.l3_ofs, p0.md.l3_ofs + 4);
}

#[test]
fn hash_properties() {
    let (_, k) = build(ipv4_default(), L4::Tcp(1000, 80), b"", &[]);
    let (_, r) = build(
        Ip::V4 { src: v4("198.18.0.2"), dst: v4("198.18.0.1"), tos: 0, ttl: 64 },
        L4::Tcp(80, 1000),
        b"",
        &[],
    );
    assert_eq!(hash(&k, HashAlg::SymL4, 1), hash(&r, HashAlg::SymL4, 1));
    assert_ne!(hash(&k, HashAlg::L4, 1), hash(&r, HashAlg::L4, 1));
    assert_ne!(hash(&k, HashAlg::L4, 1), hash(&k, HashAlg::L4, 2));
    let mut k2 = k;
    k2.set_tp_src(1001);
    assert_ne!(hash(&k, HashAlg::L4, 0), hash(&k2, HashAlg::L4, 0));
    // Fragments: ports do not count.
    let (mut f1, mut f2) = (k, k2);
    f1.set_nw_frag(FRAG_ANY);
    f2.set_nw_frag(FRAG_ANY);
    f2.set_tp_src(0);
    f2.set_tp_dst(0);
    assert_eq!(hash(&f1, HashAlg::L4, 0), hash(&f2, HashAlg::L4, 0));
    // IPv6, symmetric.
    let (_, a) = build(ipv6_default(), L4::Udp(1, 2), b"", &[]);
    let mut b = a;
    b.set_ipv6_src(a.ipv6_dst());
    b.set_ipv6_dst(a.ipv6_src());
    b.set_tp_src(2);
    b.set_tp_dst(1);
    assert_eq!(hash(&a, HashAlg::SymL4, 0), hash(&b, HashAlg::SymL4, 0));
    assert_ne!(hash(&a, HashAlg::L4, 0), hash(&b, HashAlg::L4, 0));
    // ICMP echo request and reply (types 8 and 0) hash alike when symmetric.
    let (_, req) = build(ipv4_default(), L4::Icmp(8, 0), b"", &[]);
    let mut rep = req;
    rep.set_nw_src(req.nw_dst());
    rep.set_nw_dst(req.nw_src());
    rep.set_tp_src(0);
    assert_eq!(hash(&req, HashAlg::SymL4, 3), hash(&rep, HashAlg::SymL4, 3));
    assert_ne!(hash(&req, HashAlg::L4, 3), hash(&rep, HashAlg::L4, 3));
    // Non-IP: Ethernet addresses count.
    let (_, mut n) = arp_packet();
    n.set_eth_type(0x88b5);
    let mut n2 = n;
    n2.set_eth_src(MAC_B);
    assert_ne!(hash(&n, HashAlg::L4, 0), hash(&n2, HashAlg::L4, 0));
    let mut n3 = n2;
    n3.set_eth_src(n2.eth_dst());
    n3.set_eth_dst(n2.eth_src());
    assert_eq!(hash(&n2, HashAlg::SymL4, 0), hash(&n3, HashAlg::SymL4, 0));
}

// -----------------------------------------------------------------------
// Property tests: incremental checksums equal full recomputation.

fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn any_l4() -> impl Strategy<Value = L4> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| L4::Tcp(a, b)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| L4::Udp(a, b)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| L4::UdpNoCsum(a, b)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| L4::Sctp(a, b)),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| L4::Icmp(a, b)),
    ]
}

fn ports_field(l4: L4, s: u16, d: u16) -> SetField {
    match l4 {
        L4::Tcp(..) => SetField::Tcp { src: s, dst: d },
        L4::Udp(..) | L4::UdpNoCsum(..) => SetField::Udp { src: s, dst: d },
        L4::Sctp(..) => SetField::Sctp { src: s, dst: d },
        _ => SetField::Icmp { typ: s as u8, code: d as u8 },
    }
}

fn icmp6_field(f: SetField) -> SetField {
    match f {
        SetField::Icmp { typ, code } => SetField::Icmpv6 { typ, code },
        f => f,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ipv4_edits_match_recomputation(
        ip in (any_v4(), any_v4(), any::<u8>(), any::<u8>()),
        l4 in any_l4(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        new in (any_v4(), any_v4(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()),
        mask in proptest::option::of((any_v4(), any_v4(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>())),
        partial in any::<bool>(),
    ) {
        let (mut p, k) = build(Ip::V4 { src: ip.0, dst: ip.1, tos: ip.2, ttl: ip.3 }, l4, &payload, &[]);
        let partial = partial && matches!(l4, L4::Tcp(..) | L4::Udp(..));
        if partial {
            make_partial(&mut p, &k);
        }
        let orig = p.clone();
        let v = ipv4_set(new.0, new.1, new.2, new.3);
        let pv = ports_field(l4, new.4, new.5);
        match mask {
            None => {
                set(&mut p, &k, v);
                set(&mut p, &k, pv);
            }
            Some(m) => {
                set_masked(&mut p, &k, v, ipv4_set(m.0, m.1, m.2, m.3));
                set_masked(&mut p, &k, pv, ports_field(l4, m.4, m.5));
            }
        }
        let m = mask.unwrap_or((Ipv4Addr::BROADCAST, Ipv4Addr::BROADCAST, 0xff, 0xff, 0xffff, 0xffff));
        // Expected bytes: the original with the merged fields, checksums
        // taken from the result (checked separately).
        let mut want = orig.data().to_vec();
        let (l3, l4o) = (p.md.l3_ofs as usize, p.md.l4_ofs as usize);
        wr32(&mut want, l3 + 12, merge(ip.0.into(), u32::from(new.0), m.0.into()));
        wr32(&mut want, l3 + 16, merge(ip.1.into(), u32::from(new.1), m.1.into()));
        want[l3 + 1] = merge(ip.2, new.2, m.2);
        want[l3 + 8] = merge(ip.3, new.3, m.3);
        if let L4::Icmp(t, c) = l4 {
            want[l4o] = merge(t, new.4 as u8, m.4 as u8);
            want[l4o + 1] = merge(c, new.5 as u8, m.5 as u8);
        } else {
            let (os, od) = (rd16(&want, l4o), rd16(&want, l4o + 2));
            wr16(&mut want, l4o, merge(os, new.4, m.4));
            wr16(&mut want, l4o + 2, merge(od, new.5, m.5));
        }
        let proto = k.nw_proto();
        let co = l4o + csum_off(proto);
        let n = if proto == IPPROTO_SCTP { 4 } else { 2 };
        want[l3 + 10..l3 + 12].copy_from_slice(&p.data()[l3 + 10..l3 + 12]);
        want[co..co + n].copy_from_slice(&p.data()[co..co + n]);
        prop_assert_eq!(p.data(), &want[..]);
        check_csums(&p, &k, matches!(l4, L4::UdpNoCsum(..)));
    }

    #[test]
    fn ipv6_edits_match_recomputation(
        ip in (any_v6(), any_v6(), any::<u8>(), 0u32..(1 << 20), any::<u8>()),
        l4 in any_l4(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        new in (any_v6(), any_v6(), any::<u32>(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()),
        mask in proptest::option::of((any_v6(), any_v6(), any::<u32>(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>())),
        partial in any::<bool>(),
    ) {
        let ipv6 = Ip::V6 { src: ip.0, dst: ip.1, tc: ip.2, label: ip.3, hlim: ip.4, rh: None };
        let (mut p, k) = build(ipv6, l4, &payload, &[]);
        let partial = partial && matches!(l4, L4::Tcp(..) | L4::Udp(..));
        if partial {
            make_partial(&mut p, &k);
        }
        let v = ipv6_set(new.0, new.1, new.2, new.3, new.4);
        let pv = icmp6_field(ports_field(l4, new.5, new.6));
        match mask {
            None => {
                set(&mut p, &k, v);
                set(&mut p, &k, pv);
            }
            Some(m) => {
                set_masked(&mut p, &k, v, ipv6_set(m.0, m.1, m.2, m.3, m.4));
                set_masked(&mut p, &k, pv, icmp6_field(ports_field(l4, m.5, m.6)));
            }
        }
        let m = mask.unwrap_or((Ipv6Addr::from(u128::MAX), Ipv6Addr::from(u128::MAX), u32::MAX, 0xff, 0xff, 0xffff, 0xffff));
        let l3 = p.md.l3_ofs as usize;
        let d = p.data();
        prop_assert_eq!(rd128(d, l3 + 8), merge(u128::from(ip.0), new.0.into(), m.0.into()));
        prop_assert_eq!(rd128(d, l3 + 24), merge(u128::from(ip.1), new.1.into(), m.1.into()));
        prop_assert_eq!(rd32(d, l3) >> 28, 6);
        prop_assert_eq!((rd32(d, l3) >> 20) as u8, merge(ip.2, new.3, m.3));
        prop_assert_eq!(rd32(d, l3) & IPV6_LABEL_MASK, merge(ip.3, new.2, m.2) & IPV6_LABEL_MASK);
        prop_assert_eq!(d[l3 + 7], merge(ip.4, new.4, m.4));
        check_csums(&p, &k, matches!(l4, L4::UdpNoCsum(..)));
    }

    #[test]
    fn nd_edits_match_recomputation(
        target in any_v6(),
        opt in proptest::option::of((1u8..=2, any::<[u8; 6]>())),
        adv in any::<bool>(),
        new in (any_v6(), any::<[u8; 6]>(), any::<[u8; 6]>()),
        mask in proptest::option::of((any_v6(), any::<[u8; 6]>(), any::<[u8; 6]>())),
    ) {
        let typ = if adv { 136 } else { 135 };
        let (mut p, k) = build(ipv6_default(), L4::Nd(typ, target, opt.map(|(t, m)| (t, EthAddr(m)))), &[], &[]);
        let v = SetField::Nd { target: new.0, sll: EthAddr(new.1), tll: EthAddr(new.2) };
        match mask {
            None => set(&mut p, &k, v),
            Some(m) => set_masked(&mut p, &k, v, SetField::Nd { target: m.0, sll: EthAddr(m.1), tll: EthAddr(m.2) }),
        }
        let m = mask.unwrap_or((Ipv6Addr::from(u128::MAX), [0xff; 6], [0xff; 6]));
        let l4 = p.md.l4_ofs as usize;
        prop_assert_eq!(rd128(p.data(), l4 + 8), merge(u128::from(target), new.0.into(), m.0.into()));
        if let Some((t, mac)) = opt {
            let (nv, nm) = if t == 1 { (new.1, m.1) } else { (new.2, m.2) };
            let want = merge(EthAddr(mac).to_u64(), EthAddr(nv).to_u64(), EthAddr(nm).to_u64());
            prop_assert_eq!(rdmac(p.data(), l4 + 26), want);
        }
        check_csums(&p, &k, false);
    }

    #[test]
    fn vlan_push_pop_round_trip(
        tags in proptest::collection::vec((any::<bool>(), any::<u16>()), 0..3),
        pushes in proptest::collection::vec((any::<bool>(), any::<u16>()), 1..4),
    ) {
        let vlans: Vec<u16> = tags.iter().map(|t| t.1 & !VLAN_CFI).collect();
        let (p0, _) = build(ipv4_default(), L4::Udp(1, 2), b"xyz", &vlans);
        let mut p = p0.clone();
        for &(ad, tci) in &pushes {
            let tpid = if ad { ETH_TYPE_QINQ } else { ETH_TYPE_VLAN };
            push_vlan(&mut p, tpid, tci);
            prop_assert_eq!(rd16(p.data(), 12), tpid);
            prop_assert_eq!(rd16(p.data(), 14), tci & !VLAN_CFI);
        }
        prop_assert_eq!(p.md.l3_ofs as usize, p0.md.l3_ofs as usize + 4 * pushes.len());
        for _ in &pushes {
            pop_vlan(&mut p);
        }
        prop_assert_eq!(p.data(), p0.data());
        prop_assert_eq!(p.md, p0.md);
    }

    #[test]
    fn sym_hash_is_symmetric(
        a in any_v4(), b in any_v4(), sp in any::<u16>(), dp in any::<u16>(),
        proto in prop_oneof![Just(IPPROTO_TCP), Just(IPPROTO_UDP), Just(IPPROTO_SCTP), any::<u8>()],
        basis in any::<u32>(),
    ) {
        let mut k = FlowKey::new();
        k.set_eth_type(ETH_TYPE_IPV4);
        k.set_nw_proto(proto);
        k.set_nw_src(a);
        k.set_nw_dst(b);
        k.set_tp_src(sp);
        k.set_tp_dst(dp);
        let mut r = k;
        r.set_nw_src(b);
        r.set_nw_dst(a);
        r.set_tp_src(dp);
        r.set_tp_dst(sp);
        prop_assert_eq!(hash(&k, HashAlg::SymL4, basis), hash(&r, HashAlg::SymL4, basis));
    }
}
