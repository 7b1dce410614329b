//! Tests of software offloads (`rvs_packet::gso`): super-frames built with
//! `PacketBuilder` and turned into what the kernel hands over (partial
//! checksum, GSO type and size), segmented, and every segment checked with
//! `etherparse` as the independent oracle; checksum completion against a full
//! computation; malformed input that must give errors, never panics.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use proptest::prelude::*;
use rvs_packet::checksum::{accumulate, finish, pseudo_ipv4, pseudo_ipv6};
use rvs_packet::gso::{complete_checksum, prepare_for_port, segment, GsoError, TxOffloads};
use rvs_packet::wire::builder::PacketBuilder;
use rvs_packet::wire::tcp::TcpFlags;
use rvs_packet::{EthAddr, GsoType, OdpPort, Packet, TunnelMetadata};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const SRC4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const SEQ: u32 = 0xffff_0000;
const IP_ID: u16 = 0xfff0;

/// The shapes of super-frame under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp4,
    Tcp6,
    Tcp4Vlan,
    Tcp6Vlan,
    /// TCP/IPv4 with 12 bytes of TCP options and 4 of IPv4 options.
    Tcp4Options,
    /// TCP/IPv6 behind a hop-by-hop options header.
    Tcp6HopByHop,
    Udp4,
    Udp6,
    Udp4Vlan,
}

const KINDS: [Kind; 9] = [
    Kind::Tcp4,
    Kind::Tcp6,
    Kind::Tcp4Vlan,
    Kind::Tcp6Vlan,
    Kind::Tcp4Options,
    Kind::Tcp6HopByHop,
    Kind::Udp4,
    Kind::Udp6,
    Kind::Udp4Vlan,
];

impl Kind {
    fn tcp(self) -> bool {
        !matches!(self, Kind::Udp4 | Kind::Udp6 | Kind::Udp4Vlan)
    }
    fn v4(self) -> bool {
        matches!(
            self,
            Kind::Tcp4 | Kind::Tcp4Vlan | Kind::Tcp4Options | Kind::Udp4 | Kind::Udp4Vlan
        )
    }
    fn vlan(self) -> bool {
        matches!(self, Kind::Tcp4Vlan | Kind::Tcp6Vlan | Kind::Udp4Vlan)
    }
    fn gso_type(self) -> GsoType {
        match (self.tcp(), self.v4()) {
            (true, true) => GsoType::TcpV4,
            (true, false) => GsoType::TcpV6,
            (false, _) => GsoType::Udp,
        }
    }
    /// The largest payload the IP length field can describe.
    fn max_payload(self) -> usize {
        let ip = if self.v4() { 20 } else { 0 };
        let ext = match self {
            Kind::Tcp4Options => 4 + 12,
            Kind::Tcp6HopByHop => 8,
            _ => 0,
        };
        let l4 = if self.tcp() { 20 } else { 8 };
        65535 - ip - ext - l4
    }
}

/// Deterministic payload bytes (proptest generating 64 KiB vectors is slow).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn rd16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

fn wr16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Inserts `bytes` at `at` in an IP packet whose header starts at `l3`,
/// fixing the IP length field (checksums are redone by the caller).
fn insert(f: &mut Vec<u8>, l3: usize, at: usize, bytes: &[u8]) {
    f.splice(at..at, bytes.iter().copied());
    let len_at = if f[l3] >> 4 == 4 { l3 + 2 } else { l3 + 4 };
    let v = rd16(f, len_at) + bytes.len() as u16;
    wr16(f, len_at, v);
}

/// A valid frame of kind `kind` carrying `data` (complete checksums), with
/// its L3 and L4 offsets. TCP frames have FIN, PSH, CWR and ACK set.
fn frame(kind: Kind, data: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut b = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2));
    if kind.vlan() {
        b = b.vlan(0x8100, 10);
    }
    b = if kind.v4() {
        b.ipv4(SRC4, DST4, 64).ipv4_fragment(IP_ID, true, false, 0)
    } else {
        b.ipv6(SRC6, DST6, 64)
    };
    let flags = TcpFlags::FIN | TcpFlags::PSH | TcpFlags::CWR | TcpFlags::ACK;
    b = if kind.tcp() { b.tcp(1000, 80, flags) } else { b.udp(1000, 4789) };
    let mut f = b.payload(data).build();
    let l3 = if kind.vlan() { 18 } else { 14 };
    let mut l4 = l3 + if kind.v4() { 20 } else { 40 };
    match kind {
        Kind::Tcp4Options => {
            // Router alert (RFC 2113), then NOP NOP timestamp in TCP.
            insert(&mut f, l3, l4, &[0x94, 0x04, 0, 0]);
            f[l3] += 1;
            l4 += 4;
            let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
            insert(&mut f, l3, l4 + 20, &ts);
            f[l4 + 12] = 8 << 4;
        }
        Kind::Tcp6HopByHop => {
            // Next header TCP, length 0, PadN of four bytes.
            insert(&mut f, l3, l4, &[6, 0, 1, 4, 0, 0, 0, 0]);
            f[l3 + 6] = 0;
            l4 += 8;
        }
        _ => {}
    }
    if kind.tcp() {
        f[l4 + 4..l4 + 8].copy_from_slice(&SEQ.to_be_bytes());
    }
    fix_checksums(&mut f, kind, l3, l4);
    (f, l3, l4)
}

/// Recomputes the IPv4 header and L4 checksums of `f` in full.
fn fix_checksums(f: &mut [u8], kind: Kind, l3: usize, l4: usize) {
    let at = l4 + if kind.tcp() { 16 } else { 6 };
    wr16(f, at, 0);
    let c = finish(accumulate(pseudo(f, kind, l3, l4), &f[l4..]));
    wr16(f, at, if c == 0 && !kind.tcp() { 0xffff } else { c });
    if kind.v4() {
        let hl = usize::from(f[l3] & 0xf) * 4;
        wr16(f, l3 + 10, 0);
        let c = finish(accumulate(0, &f[l3..l3 + hl]));
        wr16(f, l3 + 10, c);
    }
}

/// The pseudo-header sum of the L4 packet at `l4`, to the end of `f`.
fn pseudo(f: &[u8], kind: Kind, l3: usize, l4: usize) -> u64 {
    let proto = if kind.tcp() { 6 } else { 17 };
    let len = (f.len() - l4) as u32;
    if kind.v4() {
        let a = |i: usize| Ipv4Addr::new(f[i], f[i + 1], f[i + 2], f[i + 3]);
        pseudo_ipv4(a(l3 + 12), a(l3 + 16), proto, len)
    } else {
        let a = |i: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&f[i..i + 16]).unwrap());
        pseudo_ipv6(a(l3 + 8), a(l3 + 24), proto, len)
    }
}

/// What the kernel hands over for `f`: the L4 checksum field holds the
/// non-inverted pseudo-header sum over the whole length, the packet is
/// checksum-partial and a super-frame of `gso_size`, with some metadata that
/// must survive segmentation.
fn kernel_super_frame(kind: Kind, f: &[u8], l3: usize, l4: usize, gso_size: u16) -> Packet {
    let mut p = Packet::from_bytes(f);
    let off = if kind.tcp() { 16 } else { 6 };
    let field = !finish(pseudo(f, kind, l3, l4));
    wr16(p.data_mut(), l4 + off, field);
    p.md.csum_start = Some(l4 as u16);
    p.md.csum_offset = off as u16;
    p.md.gso_type = kind.gso_type();
    p.md.gso_size = gso_size;
    p.md.in_port = OdpPort(3);
    p.md.pkt_mark = 0xdead;
    p.md.skb_priority = 7;
    p.md.tunnel =
        TunnelMetadata { tun_id: 42, dst: Some(IpAddr::V4(DST4)), ..TunnelMetadata::default() };
    p
}

/// Checks `segs` against the super-frame `sf` of `kind` that carried `data`:
/// every segment parses and is valid, and together they carry `data`.
fn check_segments(kind: Kind, sf: &Packet, data: &[u8], segs: &[Packet]) -> Result<(), String> {
    let mss = usize::from(sf.md.gso_size);
    let n = data.len().div_ceil(mss).max(1);
    if segs.len() != n {
        return Err(format!("{} segments, expected {n}", segs.len()));
    }
    let mut joined = Vec::with_capacity(data.len());
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == n;
        let md = seg.md;
        let want_md = rvs_packet::Metadata {
            gso_type: GsoType::None,
            gso_size: 0,
            csum_start: None,
            csum_offset: 0,
            ..sf.md
        };
        if (md.in_port, md.pkt_mark, md.skb_priority, md.tunnel)
            != (want_md.in_port, want_md.pkt_mark, want_md.skb_priority, want_md.tunnel)
            || (md.gso_type, md.gso_size, md.csum_start) != (GsoType::None, 0, None)
        {
            return Err(format!("segment {i}: metadata {md:?}"));
        }
        let p = SlicedPacket::from_ethernet(seg.data())
            .map_err(|e| format!("segment {i} does not parse: {e}"))?;
        if kind.vlan() != p.vlan().is_some() {
            return Err(format!("segment {i}: VLAN tag presence is wrong"));
        }
        let l4_len = seg.len() - usize::from(md.l4_ofs);
        let (src4, dst4, src6, dst6) = match p.net.as_ref() {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header();
                if usize::from(h.total_len()) != seg.len() - usize::from(md.l3_ofs) {
                    return Err(format!("segment {i}: IPv4 total length {}", h.total_len()));
                }
                if h.identification() != IP_ID.wrapping_add(i as u16) {
                    return Err(format!("segment {i}: IPv4 id {:#x}", h.identification()));
                }
                if h.to_header().calc_header_checksum() != h.header_checksum() {
                    return Err(format!("segment {i}: IPv4 header checksum"));
                }
                (h.source(), h.destination(), [0; 16], [0; 16])
            }
            Some(NetSlice::Ipv6(ip)) => {
                let h = ip.header();
                if usize::from(h.payload_length()) != seg.len() - usize::from(md.l3_ofs) - 40 {
                    return Err(format!("segment {i}: IPv6 payload length"));
                }
                ([0; 4], [0; 4], h.source(), h.destination())
            }
            _ => return Err(format!("segment {i}: no IP layer")),
        };
        let pl = match p.transport.as_ref() {
            Some(TransportSlice::Tcp(t)) if kind.tcp() => {
                let want = if kind.v4() {
                    t.calc_checksum_ipv4(src4, dst4)
                } else {
                    t.calc_checksum_ipv6(src6, dst6)
                };
                if want.ok() != Some(t.checksum()) {
                    return Err(format!("segment {i}: TCP checksum {:#x}", t.checksum()));
                }
                let seq = SEQ.wrapping_add((i * mss) as u32);
                if t.sequence_number() != seq {
                    return Err(format!("segment {i}: seq {:#x}", t.sequence_number()));
                }
                if (t.fin(), t.psh(), t.cwr(), t.ack()) != (last, last, i == 0, true) {
                    return Err(format!("segment {i}: flags {:?}", t.to_header()));
                }
                if kind == Kind::Tcp4Options && t.options().len() != 12 {
                    return Err(format!("segment {i}: TCP options lost"));
                }
                t.payload()
            }
            Some(TransportSlice::Udp(u)) if !kind.tcp() => {
                let h = u.to_header();
                let want = if kind.v4() {
                    h.calc_checksum_ipv4_raw(src4, dst4, u.payload())
                } else {
                    h.calc_checksum_ipv6_raw(src6, dst6, u.payload())
                };
                if want.ok() != Some(u.checksum()) {
                    return Err(format!("segment {i}: UDP checksum {:#x}", u.checksum()));
                }
                if usize::from(u.length()) != l4_len {
                    return Err(format!("segment {i}: UDP length {}", u.length()));
                }
                u.payload()
            }
            _ => return Err(format!("segment {i}: wrong transport layer")),
        };
        if pl.len() > mss || (!last && pl.len() != mss) {
            return Err(format!("segment {i}: {} payload bytes", pl.len()));
        }
        // Header bytes other than the fields that change are copied.
        let l3 = usize::from(md.l3_ofs);
        let l4 = usize::from(md.l4_ofs);
        let hdr_len = seg.len() - pl.len();
        let changing: &[usize] = match kind.v4() {
            true => &[2, 3, 4, 5, 10, 11],
            false => &[4, 5],
        };
        let l4_changing: &[usize] =
            if kind.tcp() { &[4, 5, 6, 7, 13, 16, 17] } else { &[4, 5, 6, 7] };
        let (a, b) = (&seg.data()[..hdr_len], &sf.data()[..hdr_len]);
        for at in 0..hdr_len {
            let may_change = (at >= l3 && changing.contains(&(at - l3)))
                || (at >= l4 && l4_changing.contains(&(at - l4)));
            if !may_change && a[at] != b[at] {
                return Err(format!("segment {i}: header byte {at} changed"));
            }
        }
        joined.extend_from_slice(pl);
    }
    if joined != data {
        return Err("the segments' payloads do not add up to the original".into());
    }
    Ok(())
}

fn run_segment(kind: Kind, len: usize, gso_size: u16, seed: u64) -> Result<(), String> {
    let data = payload(len, seed);
    let (f, l3, l4) = frame(kind, &data);
    let sf = kernel_super_frame(kind, &f, l3, l4, gso_size);
    let mut out = vec![];
    segment(sf.clone(), &mut out).map_err(|e| format!("segment failed: {e}"))?;
    check_segments(kind, &sf, &data, &out)
}

#[test]
fn every_kind_segments_at_a_typical_mss() {
    for kind in KINDS {
        for len in [0, 1, 1447, 1448, 1449, 3 * 1448, 20_000, kind.max_payload()] {
            run_segment(kind, len, 1448, len as u64)
                .unwrap_or_else(|e| panic!("{kind:?}, {len} bytes: {e}"));
        }
    }
}

#[test]
fn the_checker_catches_a_broken_segment() {
    // The oracle must be able to fail: corrupt one byte of each kind of
    // field in a correct output and watch it complain.
    for kind in KINDS {
        let data = payload(5000, 9);
        let (f, l3, l4) = frame(kind, &data);
        let sf = kernel_super_frame(kind, &f, l3, l4, 1000);
        let mut out = vec![];
        segment(sf.clone(), &mut out).unwrap();
        check_segments(kind, &sf, &data, &out).unwrap();
        let l4 = usize::from(out[0].md.l4_ofs);
        let mut spots = vec![l3 + 2, l3 + 5, l4 + 6, out[1].len() - 1];
        if kind.tcp() {
            spots.extend([l4 + 4, l4 + 13]);
        }
        for at in spots {
            let mut bad = out.clone();
            bad[1].data_mut()[at] ^= 0x01;
            assert!(
                check_segments(kind, &sf, &data, &bad).is_err(),
                "{kind:?}: a flipped byte at {at} went unnoticed"
            );
        }
        let mut short = out.clone();
        short.pop();
        assert!(check_segments(kind, &sf, &data, &short).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn segments_are_valid_and_carry_the_payload(
        kind in proptest::sample::select(KINDS.to_vec()),
        len in 0usize..70_000,
        gso_size in 500u16..9000,
        seed in any::<u64>(),
    ) {
        // Lengths past what the IP length field can say (no jumbograms or
        // BIG TCP) are clamped to the largest one.
        let len = len.min(kind.max_payload());
        if let Err(e) = run_segment(kind, len, gso_size, seed) {
            return Err(TestCaseError::fail(format!("{kind:?} len {len} mss {gso_size}: {e}")));
        }
    }

    #[test]
    fn partial_then_completed_equals_full_computation(
        which in 0usize..6,
        len in 0usize..2000,
        vlans in 0usize..3,
        seed in any::<u64>(),
    ) {
        let data = payload(len, seed);
        let mut b = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2));
        for v in 0..vlans {
            b = b.vlan(0x8100, v as u16 + 1);
        }
        let v4 = which < 2;
        b = if v4 { b.ipv4(SRC4, DST4, 64) } else { b.ipv6(SRC6, DST6, 64) };
        let (proto, off) = match which {
            0 | 2 => (6, 16),
            1 | 3 => (17, 6),
            _ => (58, 2),
        };
        b = match proto {
            6 => b.tcp(5, 6, TcpFlags::ACK),
            17 => b.udp(5, 6),
            _ => b.icmpv6_echo(7, seed as u16),
        };
        let full = b.payload(&data).build();
        let l4 = 14 + 4 * vlans + if v4 { 20 } else { 40 };
        let l4_len = (full.len() - l4) as u32;
        let ph = if v4 {
            pseudo_ipv4(SRC4, DST4, proto, l4_len)
        } else {
            pseudo_ipv6(SRC6, DST6, proto, l4_len)
        };
        let mut p = Packet::from_bytes(&full);
        wr16(p.data_mut(), l4 + off, !finish(ph));
        p.md.csum_start = Some(l4 as u16);
        p.md.csum_offset = off as u16;
        prop_assert_ne!(p.data(), &full[..]);
        complete_checksum(&mut p).unwrap();
        prop_assert_eq!(p.data(), &full[..]);
        prop_assert_eq!(p.md.csum_start, None);
        // Through a port without checksum offload: the same.
        let mut q = Packet::from_bytes(&full);
        wr16(q.data_mut(), l4 + off, !finish(ph));
        q.md.csum_start = Some(l4 as u16);
        q.md.csum_offset = off as u16;
        let mut out = vec![];
        prepare_for_port(q, TxOffloads::NONE, &mut out).unwrap();
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].data(), &full[..]);
    }

    #[test]
    fn random_bytes_give_errors_not_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        gso in 0u8..4,
        gso_size in any::<u16>(),
        csum_start in proptest::option::of(any::<u16>()),
        csum_offset in any::<u16>(),
        csum in any::<bool>(),
        tso in any::<bool>(),
    ) {
        let mut p = Packet::from_bytes(&bytes);
        p.md.gso_type = [GsoType::None, GsoType::TcpV4, GsoType::TcpV6, GsoType::Udp][gso as usize];
        p.md.gso_size = gso_size;
        p.md.csum_start = csum_start;
        p.md.csum_offset = csum_offset;
        check_no_panic(p, TxOffloads { csum, tso, uso: tso })?;
    }

    #[test]
    fn damaged_super_frames_give_errors_not_panics(
        kind in proptest::sample::select(KINDS.to_vec()),
        len in 0usize..3000,
        gso_size in 0u16..2000,
        flips in proptest::collection::vec((0usize..120, any::<u8>()), 0..4),
        cut in 0usize..3200,
    ) {
        let data = payload(len, 5);
        let (f, l3, l4) = frame(kind, &data);
        let mut p = kernel_super_frame(kind, &f, l3, l4, gso_size);
        for (at, x) in flips {
            if let Some(b) = p.data_mut().get_mut(at) {
                *b ^= x;
            }
        }
        p.truncate(cut);
        check_no_panic(p, TxOffloads::NONE)?;
    }
}

/// Runs every entry point on `p`; on error nothing may be pushed, on success
/// no super-frame or partial checksum may come out.
fn check_no_panic(p: Packet, port: TxOffloads) -> Result<(), TestCaseError> {
    let mut out = vec![];
    match segment(p.clone(), &mut out) {
        Ok(()) if p.md.gso_type == GsoType::None => prop_assert_eq!(&out, std::slice::from_ref(&p)),
        Ok(()) => {
            prop_assert!(!out.is_empty());
            for s in &out {
                prop_assert!(s.md.gso_type == GsoType::None && s.md.csum_start.is_none());
                prop_assert!(s.len() <= usize::from(p.md.gso_size) + p.len());
            }
        }
        Err(_) => prop_assert!(out.is_empty()),
    }
    let mut q = p.clone();
    if complete_checksum(&mut q).is_ok() {
        prop_assert_eq!(q.md.csum_start, None);
        prop_assert_eq!(q.len(), p.len());
    }
    out.clear();
    match prepare_for_port(p, port, &mut out) {
        Ok(()) => prop_assert!(!out.is_empty()),
        Err(_) => prop_assert!(out.is_empty()),
    }
    Ok(())
}

/// Segments `f` as a super-frame of `t` and returns the error.
fn seg_err(f: &[u8], t: GsoType, gso_size: u16) -> GsoError {
    let mut p = Packet::from_bytes(f);
    p.md.gso_type = t;
    p.md.gso_size = gso_size;
    let mut out = vec![];
    let e = segment(p, &mut out).expect_err("malformed super-frame segmented");
    assert!(out.is_empty());
    e
}

#[test]
fn malformed_super_frames_are_refused_with_a_reason() {
    let data = payload(3000, 1);
    let (tcp4, l3, l4) = frame(Kind::Tcp4, &data);
    let (tcp6, ..) = frame(Kind::Tcp6, &data);
    let (udp6, ..) = frame(Kind::Udp6, &data);
    let e = |f: &[u8], t| seg_err(f, t, 1000).to_string();

    assert_eq!(
        seg_err(&tcp4, GsoType::TcpV4, 0).to_string(),
        "GSO super-frame of type TcpV4 has gso_size 0"
    );
    assert_eq!(
        e(&tcp4[..10], GsoType::TcpV4),
        "Ethernet header at offset 0 needs 14 bytes, the frame has 10"
    );
    assert_eq!(e(&tcp6, GsoType::TcpV4), "GSO type TcpV4 cannot segment EtherType 0x86dd");
    assert_eq!(e(&udp6, GsoType::TcpV6), "GSO type TcpV6 cannot segment IP protocol 17");
    let mut f = tcp4.clone();
    f[l3] = 0x65;
    assert_eq!(e(&f, GsoType::TcpV4), "IP header announced by its EtherType has version 6");
    let mut f = tcp4.clone();
    f[l3] = 0x44;
    assert_eq!(e(&f, GsoType::TcpV4), "IPv4 header length 4 (in 32-bit words) is below 5");
    let mut f = tcp4.clone();
    f[l3 + 6] = 0x00;
    f[l3 + 7] = 0x10;
    assert_eq!(
        e(&f, GsoType::TcpV4),
        "IPv4 super-frame is a fragment (offset 128 bytes, more fragments false)"
    );
    let mut f = tcp4.clone();
    f[l4 + 12] = 0x10;
    assert_eq!(e(&f, GsoType::TcpV4), "TCP data offset 1 (in 32-bit words) is below 5");
    // TCP data offset 15 past the end of a header-only frame.
    let (mut f, ..) = frame(Kind::Tcp4, &[]);
    f[l4 + 12] = 0xf0;
    assert_eq!(e(&f, GsoType::TcpV4), "TCP header at offset 34 needs 60 bytes, the frame has 54");
    let mut f = tcp6.clone();
    wr16(&mut f, 18, 4000);
    assert_eq!(
        e(&f, GsoType::TcpV6),
        "IPv6 payload length field 4000 does not fit between 0 and the 3020 bytes present"
    );
    // An IPv6 fragment header is not walked.
    let frag = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2))
        .ipv6(SRC6, DST6, 64)
        .ipv6_fragment(1, true, 0)
        .tcp(1, 2, TcpFlags::ACK)
        .payload(&data)
        .build();
    assert_eq!(e(&frag, GsoType::TcpV6), "GSO type TcpV6 cannot segment IP protocol 44");
    // A routing header with segments left.
    let mut f = tcp6.clone();
    insert(&mut f, 14, 54, &[6, 0, 4, 1, 0, 0, 0, 0]);
    f[20] = 43;
    assert_eq!(e(&f, GsoType::TcpV6), "IPv6 routing header has 1 segments left");
    // A hop-by-hop header that claims more than the packet holds.
    let (mut f, ..) = frame(Kind::Tcp6HopByHop, &[]);
    f[55] = 200;
    assert_eq!(
        e(&f, GsoType::TcpV6),
        "IPv6 extension header at offset 54 needs 1608 bytes, the frame has 82"
    );
    // A VLAN tag with nothing after it.
    let (f, ..) = frame(Kind::Tcp4Vlan, &data);
    assert_eq!(
        e(&f[..16], GsoType::TcpV4),
        "VLAN header at offset 14 needs 4 bytes, the frame has 16"
    );
}

#[test]
fn non_gso_packets_pass_through_segment_unchanged() {
    let (f, _, l4) = frame(Kind::Tcp4, &payload(100, 3));
    let mut p = Packet::from_bytes(&f);
    p.md.csum_start = Some(l4 as u16);
    p.md.csum_offset = 16;
    let mut out = vec![];
    segment(p.clone(), &mut out).unwrap();
    assert_eq!(out, [p]);
}

#[test]
fn complete_checksum_leaves_complete_packets_alone() {
    let (f, ..) = frame(Kind::Udp6, &payload(100, 3));
    let mut p = Packet::from_bytes(&f);
    complete_checksum(&mut p).unwrap();
    assert_eq!(p.data(), &f[..]);
}

#[test]
fn super_frames_reach_offload_ports_as_they_are() {
    let data = payload(10_000, 4);
    let (f, l3, l4) = frame(Kind::Tcp6Vlan, &data);
    let sf = kernel_super_frame(Kind::Tcp6Vlan, &f, l3, l4, 1440);
    let mut out = vec![];
    prepare_for_port(sf.clone(), TxOffloads::ALL, &mut out).unwrap();
    assert_eq!(out, std::slice::from_ref(&sf));
    out.clear();
    prepare_for_port(sf.clone(), TxOffloads::NONE, &mut out).unwrap();
    check_segments(Kind::Tcp6Vlan, &sf, &data, &out).unwrap();
}

#[test]
fn a_udp_segment_whose_checksum_computes_to_zero_carries_all_ones() {
    // Make the last two payload bytes of the last segment cancel the rest of
    // its sum: they take the value of the checksum computed with them at 0.
    for kind in [Kind::Udp4, Kind::Udp6] {
        let mut data = payload(2000, 8);
        data[1998..].fill(0);
        let seg_last = |data: &[u8]| {
            let (f, l3, l4) = frame(kind, data);
            let sf = kernel_super_frame(kind, &f, l3, l4, 1000);
            let mut out = vec![];
            segment(sf.clone(), &mut out).unwrap();
            check_segments(kind, &sf, data, &out).unwrap();
            let last = out.pop().unwrap();
            rd16(last.data(), usize::from(last.md.l4_ofs) + 6)
        };
        let c = seg_last(&data);
        data[1998..].copy_from_slice(&c.to_be_bytes());
        assert_eq!(seg_last(&data), 0xffff, "{kind:?}");
    }
}
