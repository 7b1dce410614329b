//! One-pass flow extraction: rvs's `miniflow_extract`.
//!
//! [`extract`] reads a packet's metadata and headers once, front to back, and
//! fills a [`FlowKey`]; on the way it records where the L2, L3 and L4 headers
//! start in the packet's [`Metadata`](crate::Metadata), so that actions can
//! edit them later without parsing again. It runs for every packet that misses
//! the exact-match cache, so it reads bytes straight from the buffer (each
//! header is bounds-checked once, as a fixed-size array) and writes whole key
//! words rather than going through the generic field setters.
//!
//! # What it reads
//!
//! | layer | fields |
//! |---|---|
//! | metadata | in_port, recirc_id, dp_hash, skb_priority, pkt_mark; the tunnel fields when the packet came from a tunnel |
//! | Ethernet | eth_dst, eth_src; up to two 802.1Q/802.1ad tags (vlan0 outer, vlan1 inner); eth_type after the tags, or the SNAP ethertype of an 802.3 LLC/SNAP frame, or `0x05ff` for other 802.3 frames |
//! | MPLS | up to three label stack entries (raw LSEs); nothing under the stack |
//! | IPv4 | nw_src, nw_dst, nw_proto, nw_tos (the whole byte), nw_ttl, nw_frag |
//! | IPv6 | ipv6_src, ipv6_dst, ipv6_label, nw_tos, nw_ttl, nw_proto after the extension headers, nw_frag |
//! | ARP/RARP | nw_src (spa), nw_dst (tpa), nw_proto (opcode), arp_sha, arp_tha |
//! | L4 | tp_src/tp_dst (ports; ICMP, ICMPv6 and IGMP type and code), tcp_flags, igmp_group, nd_target with the ND link-layer address options in arp_sha/arp_tha |
//!
//! # Malformed and truncated packets
//!
//! Nothing here panics. Like OVS, a packet is parsed as far as its headers
//! are complete and valid; every field past that point stays zero. The exact
//! rules follow OVS's `lib/flow.c` (`miniflow_extract`), so that the keys rvs
//! builds are the keys OVS would build for the same bytes:
//!
//! - Fewer than 14 bytes: only metadata; every offset is absent.
//! - A VLAN tag is taken only when its 4 bytes and the 2-byte type after it
//!   are present; at most two tags are parsed (OVS's default `vlan-limit`), a
//!   third TPID is reported as the eth_type.
//! - The L3 offset is set as soon as the Ethernet header (and any tags,
//!   LLC/SNAP header or MPLS stack) is complete, whatever the eth_type.
//! - IPv4 is accepted when 20 bytes are present, `IHL >= 5`, the header fits,
//!   and `IHL * 4 <= total length <= available bytes`. Otherwise no L3 field is
//!   set and there is no L4 offset (the L3 offset stays). As in OVS the version
//!   nibble is not checked. Bytes past the total length are Ethernet padding
//!   and are never parsed as L4.
//! - IPv6 is accepted when the 40-byte header is present and the payload
//!   length fits in the available bytes; bytes past it are padding. The walk
//!   over extension headers (hop-by-hop, routing, destination options,
//!   authentication, fragment) needs 8 bytes and the whole extension header
//!   each time; when one is short, only the addresses are kept (as OVS does,
//!   label, TOS, TTL, proto and frag stay zero) and there is no L4 offset. The
//!   walk is bounded by the payload: each header consumes at least 8 bytes.
//! - Fragments: L4 fields are read only from unfragmented packets and first
//!   fragments. For a later IPv6 fragment nw_proto is 44 (the fragment
//!   header), as in OVS; for a later IPv4 fragment it is the IP protocol.
//! - L4 fields need the whole fixed header: TCP 20 bytes, UDP 8, SCTP 12,
//!   ICMP 8, IGMP 8, ICMPv6 8. As in OVS, the choice goes by nw_proto alone
//!   (ICMP under IPv6 or ICMPv6 under IPv4 are read as such).
//! - Neighbor Discovery (ICMPv6 135/136, code 0): the target needs 16 bytes.
//!   Options are walked while 8 bytes remain; a zero-length option or one that
//!   runs past the end stops the walk and keeps what was found. A source
//!   link-layer option goes to arp_sha and a target link-layer option to
//!   arp_tha whichever message carries it (as OVS does); a second option of
//!   the same kind makes the message invalid and zeroes nd_target, arp_sha
//!   and arp_tha (type and code stay).
//! - ARP and RARP are read only for Ethernet/IPv4 (htype 1, ptype 0x0800,
//!   hlen 6, plen 4, 28 bytes); the opcode goes into nw_proto only when it
//!   fits in 8 bits.

use crate::buffer::{Packet, NO_OFFSET};
use crate::flow::key::{FlowKey, FRAG_ANY, FRAG_LATER, KEY_WORDS, VLAN_CFI};
use std::net::IpAddr;

// Word indices and shifts of the key layout (see `key.rs`); a unit test checks
// them against `Field::spec`.
const W_PORT_RECIRC: usize = 0;
const W_HASH_PRIO: usize = 1;
const W_MARK_TUN: usize = 2;
const W_TUN_ID: usize = 3;
const W_TUN_IPV4: usize = 4;
const W_TUN_IPV6_SRC: usize = 5;
const W_TUN_IPV6_DST: usize = 7;
const W_TUN_TP: usize = 9;
const W_ETH_DST: usize = 10;
const W_ETH_SRC_TYPE: usize = 11;
const W_VLAN: usize = 12;
const W_MPLS01: usize = 13;
const W_MPLS2_IGMP: usize = 14;
const W_NW_ADDR: usize = 15;
const W_IPV6_SRC: usize = 16;
const W_IPV6_DST: usize = 18;
const W_NW: usize = 20;
const W_ARP_SHA: usize = 21;
const W_ARP_THA: usize = 22;
const W_ND_TARGET: usize = 23;
const W_TP: usize = 25;

const SH_TUN_FLAGS: u32 = 32;
const SH_TUN_TOS: u32 = 48;
const SH_TUN_TTL: u32 = 56;
const SH_ETH_TYPE: u32 = 48;
const SH_NW_PROTO: u32 = 32;
const SH_NW_TOS: u32 = 40;
const SH_NW_TTL: u32 = 48;
const SH_NW_FRAG: u32 = 56;
const SH_TP_DST: u32 = 16;
const SH_TCP_FLAGS: u32 = 32;
const SH_IGMP_GROUP: u32 = 32;

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_RARP: u16 = 0x8035;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_VLAN_8021Q: u16 = 0x8100;
const ETH_TYPE_VLAN_8021AD: u16 = 0x88a8;
const ETH_TYPE_MPLS: u16 = 0x8847;
const ETH_TYPE_MPLS_MCAST: u16 = 0x8848;
/// Smallest value of the type/length field that is an ethertype; below it is
/// an 802.3 length.
const ETH_TYPE_MIN: u16 = 0x0600;
/// eth_type of an 802.3 frame without a SNAP header (OVS's
/// FLOW_DL_TYPE_NONE).
const FLOW_DL_TYPE_NONE: u16 = 0x05ff;

/// How many VLAN tags are parsed (OVS's default `vlan-limit`).
const VLAN_LIMIT: usize = 2;
/// Bottom-of-stack bit of an MPLS label stack entry.
const MPLS_BOS: u32 = 1 << 8;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_IGMP: u8 = 2;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_SCTP: u8 = 132;

const ND_NEIGHBOR_SOLICIT: u8 = 135;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_OPT_SOURCE_LINKADDR: u8 = 1;
const ND_OPT_TARGET_LINKADDR: u8 = 2;

/// IPv4 flags/fragment-offset word: "more fragments" plus the offset.
const IP_FRAG_MASK: u16 = 0x3fff;
/// IPv4 fragment offset.
const IP_FRAG_OFF_MASK: u16 = 0x1fff;
/// IPv6 fragment header: the offset, in 8-byte units, above 3 flag bits.
const IP6F_OFF_MASK: u16 = 0xfff8;

/// The first `N` bytes of `d` from `off`, or `None` when they are not all
/// there. This is the one bounds check per header.
#[inline(always)]
fn hdr<const N: usize>(d: &[u8], off: usize) -> Option<&[u8; N]> {
    d.get(off..)?.first_chunk::<N>()
}

#[inline(always)]
fn be16_at<const N: usize>(h: &[u8; N], i: usize) -> u16 {
    u16::from_be_bytes([h[i], h[i + 1]])
}

#[inline(always)]
fn be32_at<const N: usize>(h: &[u8; N], i: usize) -> u32 {
    u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]])
}

/// Eight bytes at `i` as a big-endian `u64`.
#[inline(always)]
fn be64_at<const N: usize>(h: &[u8; N], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[i..i + 8]);
    u64::from_be_bytes(b)
}

/// A MAC address at `i` as the low 48 bits of a `u64`, as the key holds it.
#[inline(always)]
fn mac_at<const N: usize>(h: &[u8; N], i: usize) -> u64 {
    u64::from_be_bytes([0, 0, h[i], h[i + 1], h[i + 2], h[i + 3], h[i + 4], h[i + 5]])
}

/// A byte offset as stored in the metadata ([`NO_OFFSET`] if it does not fit).
#[inline(always)]
fn ofs(p: usize) -> u16 {
    u16::try_from(p).unwrap_or(NO_OFFSET)
}

/// Header offsets found by the parse, from the data start.
struct Offsets {
    l2: u16,
    l3: u16,
    l4: u16,
}

/// Fills `key` from `pkt`'s metadata and headers, and records the L2/L3/L4
/// offsets in `pkt.md` ([`NO_OFFSET`] for a header the packet lacks). Never
/// panics: a truncated or malformed packet is parsed as far as it goes and
/// the rest of the key stays zero. The module docs give the exact rules.
pub fn extract(pkt: &mut Packet, key: &mut FlowKey) {
    let w = &mut key.w;
    *w = [0; KEY_WORDS];
    let md = &pkt.md;
    w[W_PORT_RECIRC] = u64::from(md.in_port.0) | u64::from(md.recirc_id) << 32;
    w[W_HASH_PRIO] = u64::from(md.dp_hash) | u64::from(md.skb_priority) << 32;
    w[W_MARK_TUN] = u64::from(md.pkt_mark);
    if md.tunnel.is_set() {
        extract_tunnel(&md.tunnel, w);
    }
    let o = parse(pkt.data(), w);
    pkt.md.l2_ofs = o.l2;
    pkt.md.l3_ofs = o.l3;
    pkt.md.l4_ofs = o.l4;
}

// Out of line: most packets carry no tunnel metadata.
#[inline(never)]
fn extract_tunnel(t: &crate::buffer::TunnelMetadata, w: &mut [u64; KEY_WORDS]) {
    w[W_MARK_TUN] |= u64::from(t.flags) << SH_TUN_FLAGS
        | u64::from(t.tos) << SH_TUN_TOS
        | u64::from(t.ttl) << SH_TUN_TTL;
    w[W_TUN_ID] = t.tun_id;
    for (addr, v4_shift, v6_word) in [(t.src, 0, W_TUN_IPV6_SRC), (t.dst, 32, W_TUN_IPV6_DST)] {
        match addr {
            Some(IpAddr::V4(a)) => w[W_TUN_IPV4] |= u64::from(u32::from(a)) << v4_shift,
            Some(IpAddr::V6(a)) => {
                let v = u128::from(a);
                w[v6_word] = (v >> 64) as u64;
                w[v6_word + 1] = v as u64;
            }
            None => {}
        }
    }
    w[W_TUN_TP] = u64::from(t.tp_src) | u64::from(t.tp_dst) << 16;
}

/// Parses the headers of `d` into `w` and returns their offsets.
#[inline(always)]
fn parse(d: &[u8], w: &mut [u64; KEY_WORDS]) -> Offsets {
    let mut o = Offsets { l2: NO_OFFSET, l3: NO_OFFSET, l4: NO_OFFSET };
    let Some(eth) = hdr::<14>(d, 0) else {
        return o;
    };
    o.l2 = 0;
    w[W_ETH_DST] = be64_at(eth, 0) >> 16;
    let eth_src = be64_at(eth, 6) >> 16;
    let mut dl_type = be16_at(eth, 12);
    // `p` is the offset of the type field being looked at, then of L3.
    let mut p = 12;

    if dl_type == ETH_TYPE_VLAN_8021Q || dl_type == ETH_TYPE_VLAN_8021AD {
        let (vw, np, ty) = parse_vlans(d, p, dl_type);
        w[W_VLAN] = vw;
        p = np;
        dl_type = ty;
    }
    p += 2;
    if dl_type < ETH_TYPE_MIN {
        (dl_type, p) = parse_llc(d, p);
    }
    w[W_ETH_SRC_TYPE] = eth_src | u64::from(dl_type) << SH_ETH_TYPE;

    if dl_type == ETH_TYPE_MPLS || dl_type == ETH_TYPE_MPLS_MCAST {
        p = parse_mpls(d, p, w);
        o.l3 = ofs(p);
        return o;
    }
    o.l3 = ofs(p);
    // `p <= d.len()`: every step above moved past bytes it had checked.
    let l3 = d.get(p..).unwrap_or_default();

    // On success: the L4 bytes (without padding), where they start in `l3`,
    // and the nw word's proto and frag bits.
    let (l4, l4_start, nw_proto, nw_frag) = match dl_type {
        ETH_TYPE_IP => match parse_ipv4(l3, w) {
            Some(r) => r,
            None => return o,
        },
        ETH_TYPE_IPV6 => match parse_ipv6(l3, w) {
            Some(r) => r,
            None => return o,
        },
        ETH_TYPE_ARP | ETH_TYPE_RARP => {
            parse_arp(l3, w);
            return o;
        }
        _ => return o,
    };
    o.l4 = ofs(p + l4_start);
    if nw_frag & FRAG_LATER == 0 {
        parse_l4(l4, nw_proto, w);
    }
    o
}

/// Parses up to [`VLAN_LIMIT`] tags whose TPID field is at `p`; returns the
/// VLAN word, the offset of the type field after the last tag, and that type.
#[inline(never)]
fn parse_vlans(d: &[u8], mut p: usize, mut ty: u16) -> (u64, usize, u16) {
    let mut word = 0u64;
    for n in 0..VLAN_LIMIT {
        if ty != ETH_TYPE_VLAN_8021Q && ty != ETH_TYPE_VLAN_8021AD {
            break;
        }
        // OVS takes a tag only when the type after it is there too.
        let Some(t) = hdr::<6>(d, p) else { break };
        let tci = be16_at(t, 2) | VLAN_CFI;
        word |= (u64::from(ty) | u64::from(tci) << 16) << (32 * n);
        p += 4;
        ty = be16_at(t, 4);
    }
    (word, p, ty)
}

/// An 802.3 frame whose length field ended at `p`: returns the eth_type (the
/// SNAP type, or [`FLOW_DL_TYPE_NONE`]) and where L3 starts.
#[cold]
fn parse_llc(d: &[u8], p: usize) -> (u16, usize) {
    // LLC DSAP 0xaa, SSAP 0xaa, control 0x03 (UI), then SNAP: OUI 00:00:00
    // (encapsulated Ethernet) and a type.
    match hdr::<8>(d, p) {
        Some(llc) if llc[..6] == [0xaa, 0xaa, 0x03, 0, 0, 0] => {
            let ty = be16_at(llc, 6);
            let ty = if ty >= ETH_TYPE_MIN { ty } else { FLOW_DL_TYPE_NONE };
            (ty, p + 8)
        }
        _ => (FLOW_DL_TYPE_NONE, p),
    }
}

/// Walks the label stack at `p` to its bottom (or the end of the data),
/// storing the first three entries; returns the offset after it.
#[cold]
fn parse_mpls(d: &[u8], mut p: usize, w: &mut [u64; KEY_WORDS]) -> usize {
    let mut n = 0;
    while let Some(l) = hdr::<4>(d, p) {
        let lse = u32::from_be_bytes(*l);
        match n {
            0 => w[W_MPLS01] |= u64::from(lse),
            1 => w[W_MPLS01] |= u64::from(lse) << 32,
            2 => w[W_MPLS2_IGMP] |= u64::from(lse),
            _ => {}
        }
        n += 1;
        p += 4;
        if lse & MPLS_BOS != 0 {
            break;
        }
    }
    p
}

/// Parses an IPv4 header at the start of `l3`. On success returns the L4
/// bytes (up to the total length), their offset in `l3`, nw_proto and
/// nw_frag, having written the addresses and the nw word.
#[inline(always)]
fn parse_ipv4<'a>(l3: &'a [u8], w: &mut [u64; KEY_WORDS]) -> Option<(&'a [u8], usize, u8, u8)> {
    let h = hdr::<20>(l3, 0)?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let tot_len = usize::from(be16_at(h, 2));
    if ihl < 20 || ihl > tot_len || tot_len > l3.len() {
        return None;
    }
    // Source then destination: swap the halves so the source is the low one.
    w[W_NW_ADDR] = be64_at(h, 12).rotate_left(32);
    let frag_off = be16_at(h, 6);
    let mut frag = 0u8;
    if frag_off & IP_FRAG_MASK != 0 {
        frag = FRAG_ANY;
        if frag_off & IP_FRAG_OFF_MASK != 0 {
            frag |= FRAG_LATER;
        }
    }
    let proto = h[9];
    w[W_NW] = u64::from(proto) << SH_NW_PROTO
        | u64::from(h[1]) << SH_NW_TOS
        | u64::from(h[8]) << SH_NW_TTL
        | u64::from(frag) << SH_NW_FRAG;
    Some((l3.get(ihl..tot_len)?, ihl, proto, frag))
}

/// Parses an IPv6 header and its extension headers at the start of `l3`,
/// like [`parse_ipv4`].
#[inline(always)]
fn parse_ipv6<'a>(l3: &'a [u8], w: &mut [u64; KEY_WORDS]) -> Option<(&'a [u8], usize, u8, u8)> {
    let h = hdr::<40>(l3, 0)?;
    let plen = usize::from(be16_at(h, 4));
    let payload = l3.get(40..40 + plen)?;
    w[W_IPV6_SRC] = be64_at(h, 8);
    w[W_IPV6_SRC + 1] = be64_at(h, 16);
    w[W_IPV6_DST] = be64_at(h, 24);
    w[W_IPV6_DST + 1] = be64_at(h, 32);

    let mut proto = h[6];
    let mut frag = 0u8;
    let mut q = 0usize;
    // Bounded by the payload: every iteration consumes at least 8 bytes or
    // leaves the loop.
    loop {
        match proto {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_AH => {
                let e = hdr::<8>(payload, q)?;
                let len = if proto == IPPROTO_AH {
                    (usize::from(e[1]) + 2) * 4
                } else {
                    (usize::from(e[1]) + 1) * 8
                };
                proto = e[0];
                if payload.len() - q < len {
                    return None;
                }
                q += len;
            }
            IPPROTO_FRAGMENT => {
                let f = hdr::<8>(payload, q)?;
                proto = f[0];
                q += 8;
                let offlg = be16_at(f, 2);
                if offlg != 0 {
                    frag = FRAG_ANY;
                    if offlg & IP6F_OFF_MASK != 0 {
                        frag |= FRAG_LATER;
                        proto = IPPROTO_FRAGMENT;
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    let vtc_flow = be32_at(h, 0);
    w[W_NW] = u64::from(vtc_flow & 0x000f_ffff)
        | u64::from(proto) << SH_NW_PROTO
        | u64::from((vtc_flow >> 20) as u8) << SH_NW_TOS
        | u64::from(h[7]) << SH_NW_TTL
        | u64::from(frag) << SH_NW_FRAG;
    Some((payload.get(q..)?, 40 + q, proto, frag))
}

/// Parses an Ethernet/IPv4 ARP or RARP packet at the start of `l3`.
fn parse_arp(l3: &[u8], w: &mut [u64; KEY_WORDS]) {
    let Some(a) = hdr::<28>(l3, 0) else { return };
    // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
    if a[..6] != [0, 1, 0x08, 0x00, 6, 4] {
        return;
    }
    let op = be16_at(a, 6);
    w[W_NW_ADDR] = u64::from(be32_at(a, 14)) | u64::from(be32_at(a, 24)) << 32;
    // OVS matches only the low 8 bits of the opcode, and only when the
    // opcode fits in them.
    if op <= 0xff {
        w[W_NW] = u64::from(op) << SH_NW_PROTO;
    }
    w[W_ARP_SHA] = mac_at(a, 8);
    w[W_ARP_THA] = mac_at(a, 18);
}

/// Parses the L4 header at the start of `l4` for `proto`.
#[inline(always)]
fn parse_l4(l4: &[u8], proto: u8, w: &mut [u64; KEY_WORDS]) {
    match proto {
        IPPROTO_TCP => {
            if let Some(t) = hdr::<20>(l4, 0) {
                // TCP_FLAGS: the 12 bits below the data offset.
                let flags = be16_at(t, 12) & 0x0fff;
                w[W_TP] = u64::from(be16_at(t, 0))
                    | u64::from(be16_at(t, 2)) << SH_TP_DST
                    | u64::from(flags) << SH_TCP_FLAGS;
            }
        }
        IPPROTO_UDP => {
            if let Some(u) = hdr::<8>(l4, 0) {
                w[W_TP] = u64::from(be16_at(u, 0)) | u64::from(be16_at(u, 2)) << SH_TP_DST;
            }
        }
        IPPROTO_SCTP => {
            if let Some(s) = hdr::<12>(l4, 0) {
                w[W_TP] = u64::from(be16_at(s, 0)) | u64::from(be16_at(s, 2)) << SH_TP_DST;
            }
        }
        IPPROTO_ICMP => {
            if let Some(i) = hdr::<8>(l4, 0) {
                w[W_TP] = u64::from(i[0]) | u64::from(i[1]) << SH_TP_DST;
            }
        }
        IPPROTO_IGMP => {
            if let Some(g) = hdr::<8>(l4, 0) {
                w[W_TP] = u64::from(g[0]) | u64::from(g[1]) << SH_TP_DST;
                w[W_MPLS2_IGMP] |= u64::from(be32_at(g, 4)) << SH_IGMP_GROUP;
            }
        }
        IPPROTO_ICMPV6 => {
            if let Some(i) = hdr::<8>(l4, 0) {
                w[W_TP] = u64::from(i[0]) | u64::from(i[1]) << SH_TP_DST;
                if i[1] == 0 && (i[0] == ND_NEIGHBOR_SOLICIT || i[0] == ND_NEIGHBOR_ADVERT) {
                    parse_nd(l4, w);
                }
            }
        }
        _ => {}
    }
}

/// Parses the target and link-layer address options of a Neighbor
/// Solicitation or Advertisement (`l4` starts at the ICMPv6 header).
#[cold]
fn parse_nd(l4: &[u8], w: &mut [u64; KEY_WORDS]) {
    let Some(t) = hdr::<16>(l4, 8) else { return };
    let (mut sha, mut tha) = (0u64, 0u64);
    let mut q = 24;
    while let Some(opt) = hdr::<8>(l4, q) {
        let len = usize::from(opt[1]) * 8;
        if len == 0 || len > l4.len() - q {
            break;
        }
        if len == 8 {
            // A second option of a kind already seen makes the message
            // invalid: OVS then reports no target and no addresses.
            let slot = match opt[0] {
                ND_OPT_SOURCE_LINKADDR => Some(&mut sha),
                ND_OPT_TARGET_LINKADDR => Some(&mut tha),
                _ => None,
            };
            if let Some(slot) = slot {
                if *slot != 0 {
                    return;
                }
                *slot = mac_at(opt, 2);
            }
        }
        q += len;
    }
    w[W_ND_TARGET] = be64_at(t, 0);
    w[W_ND_TARGET + 1] = be64_at(t, 8);
    w[W_ARP_SHA] = sha;
    w[W_ARP_THA] = tha;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Field;

    #[test]
    fn layout_constants_match_the_key() {
        let cases: &[(Field, usize, u32)] = &[
            (Field::InPort, W_PORT_RECIRC, 0),
            (Field::RecircId, W_PORT_RECIRC, 32),
            (Field::DpHash, W_HASH_PRIO, 0),
            (Field::SkbPriority, W_HASH_PRIO, 32),
            (Field::PktMark, W_MARK_TUN, 0),
            (Field::TunFlags, W_MARK_TUN, SH_TUN_FLAGS),
            (Field::TunTos, W_MARK_TUN, SH_TUN_TOS),
            (Field::TunTtl, W_MARK_TUN, SH_TUN_TTL),
            (Field::TunId, W_TUN_ID, 0),
            (Field::TunIpv4Src, W_TUN_IPV4, 0),
            (Field::TunIpv4Dst, W_TUN_IPV4, 32),
            (Field::TunIpv6Src, W_TUN_IPV6_SRC, 0),
            (Field::TunIpv6Dst, W_TUN_IPV6_DST, 0),
            (Field::TunTpSrc, W_TUN_TP, 0),
            (Field::TunTpDst, W_TUN_TP, 16),
            (Field::EthDst, W_ETH_DST, 0),
            (Field::EthSrc, W_ETH_SRC_TYPE, 0),
            (Field::EthType, W_ETH_SRC_TYPE, SH_ETH_TYPE),
            (Field::Vlan0Tpid, W_VLAN, 0),
            (Field::Vlan0Tci, W_VLAN, 16),
            (Field::Vlan1Tpid, W_VLAN, 32),
            (Field::Vlan1Tci, W_VLAN, 48),
            (Field::MplsLse0, W_MPLS01, 0),
            (Field::MplsLse1, W_MPLS01, 32),
            (Field::MplsLse2, W_MPLS2_IGMP, 0),
            (Field::IgmpGroup, W_MPLS2_IGMP, SH_IGMP_GROUP),
            (Field::NwSrc, W_NW_ADDR, 0),
            (Field::NwDst, W_NW_ADDR, 32),
            (Field::Ipv6Src, W_IPV6_SRC, 0),
            (Field::Ipv6Dst, W_IPV6_DST, 0),
            (Field::Ipv6Label, W_NW, 0),
            (Field::NwProto, W_NW, SH_NW_PROTO),
            (Field::NwTos, W_NW, SH_NW_TOS),
            (Field::NwTtl, W_NW, SH_NW_TTL),
            (Field::NwFrag, W_NW, SH_NW_FRAG),
            (Field::ArpSha, W_ARP_SHA, 0),
            (Field::ArpTha, W_ARP_THA, 0),
            (Field::NdTarget, W_ND_TARGET, 0),
            (Field::TpSrc, W_TP, 0),
            (Field::TpDst, W_TP, SH_TP_DST),
            (Field::TcpFlags, W_TP, SH_TCP_FLAGS),
        ];
        assert_eq!(cases.len(), Field::ALL.len(), "a field is not covered");
        for &(f, word, shift) in cases {
            let s = f.spec();
            assert_eq!((s.word, s.shift), (word, shift), "{}", s.name);
        }
    }

    #[test]
    fn helpers_never_read_past_the_end() {
        let d = [1u8, 2, 3];
        assert_eq!(hdr::<3>(&d, 0), Some(&[1, 2, 3]));
        assert_eq!(hdr::<3>(&d, 1), None);
        assert_eq!(hdr::<1>(&d, 3), None);
        assert_eq!(hdr::<1>(&d, usize::MAX), None);
        assert_eq!(ofs(70_000), NO_OFFSET);
        assert_eq!(ofs(14), 14);
    }
}
