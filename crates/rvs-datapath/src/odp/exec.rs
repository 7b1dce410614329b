//! Per-packet header edits of datapath actions: `set`/`set_masked`,
//! `push_vlan`/`pop_vlan` and the `hash` action's hash.
//!
//! The executor walks action lists over batches and handles output,
//! recirculation, clone, userspace and `check_pkt_len` itself; for each header
//! edit it calls one of the functions here, per packet. They follow OVS's
//! `lib/odp-execute.c` and `lib/packets.c`:
//!
//! - **Absent headers are skipped silently.** A `set(tcp(..))` on a packet
//!   whose flow key is not TCP, or whose TCP header is cut short, leaves the
//!   packet unchanged and returns `Ok`, as OVS does. The flow key passed in
//!   (the packet's extracted key, read-only here) says which headers exist;
//!   `pkt.md.l2_ofs/l3_ofs/l4_ofs` say where, and every access is
//!   bounds-checked against the packet's length first.
//! - **Checksums are updated incrementally** (RFC 1624 eqn. 3): the IPv4
//!   header checksum; TCP, UDP and ICMPv6 checksums over the pseudo-header
//!   when addresses change (except for an IPv6 destination when a routing
//!   header with segments left is present: the pseudo-header then carries the
//!   final destination, as RFC 8200 section 8.1 says); the L4 checksum when
//!   ports, ICMP type/code or ND fields change. SCTP's CRC32c is adjusted by
//!   the CRC of the change, so a checksum that was wrong stays wrong by the
//!   same amount, as OVS's `packet_set_sctp_port` does.
//! - **UDP checksum 0** means "no checksum" and stays 0; a checksum that
//!   computes to 0 is sent as 0xffff (RFC 768: "If the computed checksum is
//!   zero, it is transmitted as all ones").
//! - **Checksum-partial packets** (`pkt.md.csum_start.is_some()`, which is
//!   assumed to point at the L4 header) keep in their L4 checksum field only
//!   the non-inverted pseudo-header sum that the NIC or kernel completes:
//!   address changes adjust it (non-inverted), changes inside the L4 header
//!   leave it alone, and SCTP's CRC is left to the offload.
//! - **Later fragments** (`FRAG_LATER` in the key) carry no L4 header: L4
//!   edits skip them and address changes do not touch their payload. (OVS
//!   leaves `l4_ofs` set on them and can write into the payload.)
//!
//! Nothing here allocates, except `push_vlan` when the packet has no headroom
//! left (then [`Packet::insert_at`] reallocates).

use super::actions::{DropReason, HashAlg, SetField};
use rvs_packet::buffer::NO_OFFSET;
use rvs_packet::checksum::{self, update128, update16, update32};
use rvs_packet::flow::{FlowKey, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use rvs_packet::{EthAddr, Packet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{BitAnd, BitOr, Not};

const ETH_TYPE_IPV4: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_RARP: u16 = 0x8035;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_VLAN: u16 = 0x8100;
const ETH_TYPE_QINQ: u16 = 0x88a8;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_SCTP: u8 = 132;

const IPV6_HOPOPTS: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AH: u8 = 51;
const IPV6_DSTOPTS: u8 = 60;

const ND_NEIGHBOR_SOLICIT: u16 = 135;
const ND_NEIGHBOR_ADVERT: u16 = 136;
const ND_OPT_SOURCE_LINKADDR: u8 = 1;
const ND_OPT_TARGET_LINKADDR: u8 = 2;

const ALL_MAC: EthAddr = EthAddr([0xff; 6]);
const IPV6_LABEL_MASK: u32 = 0x000f_ffff;

// ---------------------------------------------------------------------------
// Public API

/// Applies a `set` (`mask: None`: every field of the attribute is written) or
/// `set_masked` (`mask: Some(m)`: only the bits set in `m`, which must be the
/// same attribute as `value`) action to one packet.
///
/// `key` is the packet's extracted flow key; it says which headers exist and
/// is not updated (the executor re-extracts when it needs to). Headers live
/// at `pkt.md.l2_ofs/l3_ofs/l4_ofs`. A packet that lacks the header the
/// attribute edits is left unchanged and `Ok` is returned, as OVS does.
/// Checksums are updated incrementally; see the module docs for the rules.
///
/// - `eth`: source and destination addresses.
/// - `ipv4`: src, dst, tos, ttl; `proto` and `frag` cannot be set and are
///   ignored, as in OVS.
/// - `ipv6`: src, dst, label, tclass, hlimit; `proto` and `frag` ignored.
/// - `tcp`, `udp`, `sctp`: ports. `icmp`, `icmpv6`: type and code.
/// - `arp`: sip, tip, op, sha, tha (Ethernet/IPv4 ARP and RARP only).
/// - `nd`: target, and the first source or target link-layer address
///   option found (like OVS).
/// - `skb_priority`, `skb_mark`: into `pkt.md`. `tunnel`: into
///   `pkt.md.tunnel`; an all-zero address becomes `None`.
///
/// # Errors
/// [`DropReason::Malformed`] only when `mask` is a different attribute than
/// `value`, an action that validation should have refused; the packet is
/// then unchanged.
pub fn set_field(
    pkt: &mut Packet,
    key: &FlowKey,
    value: &SetField,
    mask: Option<&SetField>,
) -> Result<(), DropReason> {
    match *value {
        SetField::Eth { src, dst } => {
            let (ms, md) = mask_of(mask, (ALL_MAC, ALL_MAC), |m| match *m {
                SetField::Eth { src, dst } => Some((src, dst)),
                _ => None,
            })?;
            set_eth(pkt, src, dst, ms, md);
        }
        SetField::Ipv4 { src, dst, tos, ttl, .. } => {
            let full = (u32::MAX, u32::MAX, u8::MAX, u8::MAX);
            let m = mask_of(mask, full, |m| match *m {
                SetField::Ipv4 { src, dst, tos, ttl, .. } => {
                    Some((u32::from(src), u32::from(dst), tos, ttl))
                }
                _ => None,
            })?;
            set_ipv4(pkt, key, (u32::from(src), u32::from(dst), tos, ttl), m);
        }
        SetField::Ipv6 { src, dst, label, tclass, hlimit, .. } => {
            let full = (u128::MAX, u128::MAX, u32::MAX, u8::MAX, u8::MAX);
            let m = mask_of(mask, full, |m| match *m {
                SetField::Ipv6 { src, dst, label, tclass, hlimit, .. } => {
                    Some((u128::from(src), u128::from(dst), label, tclass, hlimit))
                }
                _ => None,
            })?;
            let v = (u128::from(src), u128::from(dst), label, tclass, hlimit);
            set_ipv6(pkt, key, v, m);
        }
        SetField::Tcp { src, dst } => {
            let m = mask_of(mask, (u16::MAX, u16::MAX), |m| match *m {
                SetField::Tcp { src, dst } => Some((src, dst)),
                _ => None,
            })?;
            set_ports(pkt, key, IPPROTO_TCP, (src, dst), m);
        }
        SetField::Udp { src, dst } => {
            let m = mask_of(mask, (u16::MAX, u16::MAX), |m| match *m {
                SetField::Udp { src, dst } => Some((src, dst)),
                _ => None,
            })?;
            set_ports(pkt, key, IPPROTO_UDP, (src, dst), m);
        }
        SetField::Sctp { src, dst } => {
            let m = mask_of(mask, (u16::MAX, u16::MAX), |m| match *m {
                SetField::Sctp { src, dst } => Some((src, dst)),
                _ => None,
            })?;
            set_ports(pkt, key, IPPROTO_SCTP, (src, dst), m);
        }
        SetField::Icmp { typ, code } => {
            let m = mask_of(mask, (u8::MAX, u8::MAX), |m| match *m {
                SetField::Icmp { typ, code } => Some((typ, code)),
                _ => None,
            })?;
            set_icmp(pkt, key, false, (typ, code), m);
        }
        SetField::Icmpv6 { typ, code } => {
            let m = mask_of(mask, (u8::MAX, u8::MAX), |m| match *m {
                SetField::Icmpv6 { typ, code } => Some((typ, code)),
                _ => None,
            })?;
            set_icmp(pkt, key, true, (typ, code), m);
        }
        SetField::Arp { sip, tip, op, sha, tha } => {
            let full = (u32::MAX, u32::MAX, u16::MAX, ALL_MAC, ALL_MAC);
            let m = mask_of(mask, full, |m| match *m {
                SetField::Arp { sip, tip, op, sha, tha } => {
                    Some((u32::from(sip), u32::from(tip), op, sha, tha))
                }
                _ => None,
            })?;
            set_arp(pkt, key, (u32::from(sip), u32::from(tip), op, sha, tha), m);
        }
        SetField::Nd { target, sll, tll } => {
            let full = (u128::MAX, ALL_MAC, ALL_MAC);
            let m = mask_of(mask, full, |m| match *m {
                SetField::Nd { target, sll, tll } => Some((u128::from(target), sll, tll)),
                _ => None,
            })?;
            set_nd(pkt, key, (u128::from(target), sll, tll), m);
        }
        SetField::Priority(v) => {
            let m = mask_of(mask, u32::MAX, |m| match *m {
                SetField::Priority(m) => Some(m),
                _ => None,
            })?;
            pkt.md.skb_priority = merge(pkt.md.skb_priority, v, m);
        }
        SetField::Mark(v) => {
            let m = mask_of(mask, u32::MAX, |m| match *m {
                SetField::Mark(m) => Some(m),
                _ => None,
            })?;
            pkt.md.pkt_mark = merge(pkt.md.pkt_mark, v, m);
        }
        SetField::Tunnel { .. } => set_tunnel(pkt, value, mask)?,
    }
    Ok(())
}

/// Pushes a VLAN tag with `tpid` (0x8100 or 0x88a8) and `tci` after the
/// Ethernet addresses, in front of any tag already there (OVS's
/// `eth_push_vlan`). The tag on the wire is `tci & !VLAN_CFI`: the CFI bit
/// only marks presence in flow keys. Header offsets and `csum_start` in
/// `pkt.md` move with the data. A packet shorter than two Ethernet addresses
/// (which no port delivers) is left unchanged.
pub fn push_vlan(pkt: &mut Packet, tpid: u16, tci: u16) {
    if pkt.len() < 12 {
        return;
    }
    let tag = pkt.insert_at(12, 4);
    tag[..2].copy_from_slice(&tpid.to_be_bytes());
    tag[2..].copy_from_slice(&(tci & !VLAN_CFI).to_be_bytes());
}

/// Removes the outermost VLAN tag (TPID 0x8100 or 0x88a8 right after the
/// Ethernet addresses), if there is one; otherwise does nothing (OVS's
/// `eth_pop_vlan`). Header offsets and `csum_start` move with the data.
pub fn pop_vlan(pkt: &mut Packet) {
    let d = pkt.data();
    if d.len() >= 18 && matches!(rd16(d, 12), ETH_TYPE_VLAN | ETH_TYPE_QINQ) {
        pkt.remove_at(12, 4);
    }
}

/// The `hash` action's value for a packet with flow key `key` (what goes
/// into `dp_hash`).
///
/// - [`HashAlg::L4`], OVS's `hash_l4` (`flow_hash_5tuple`): the IPv4 or IPv6
///   source and destination, the L4 ports (ICMP type and code) and the IP
///   protocol.
/// - [`HashAlg::SymL4`], OVS's `sym_l4`: the same with source and
///   destination XORed together, so both directions of a connection hash
///   alike; ports count only for TCP, UDP and SCTP (ICMP type and code differ
///   between request and reply).
///
/// Unlike OVS, whose `hash_l4` hashes fragments' ports (zero in later
/// fragments), ports are left out for every fragment, so all fragments of a
/// datagram hash alike; and a non-IP packet hashes its Ethernet addresses
/// and EtherType (OVS hashes zeros, or ARP's addresses, sending every such
/// packet to one bucket). The mixing is OVS's portable Murmur3-based
/// `hash_add`/`hash_finish`; values are not bit-identical to OVS's (which
/// hashes network-order words and differ between builds), only as well
/// distributed.
pub fn hash(key: &FlowKey, alg: HashAlg, basis: u32) -> u32 {
    let sym = alg == HashAlg::SymL4;
    let mut h = basis;
    match key.eth_type() {
        ETH_TYPE_IPV4 => {
            let (s, d) = (u32::from(key.nw_src()), u32::from(key.nw_dst()));
            if sym {
                h = hash_add(h, s ^ d);
            } else {
                h = hash_add(hash_add(h, s), d);
            }
        }
        ETH_TYPE_IPV6 => {
            let (s, d) = (u128::from(key.ipv6_src()), u128::from(key.ipv6_dst()));
            if sym {
                h = hash_add128(h, s ^ d);
            } else {
                h = hash_add128(hash_add128(h, s), d);
            }
        }
        et => {
            let (s, d) = (key.eth_src().to_u64(), key.eth_dst().to_u64());
            if sym {
                h = hash_add64(h, s ^ d);
            } else {
                h = hash_add64(hash_add64(h, s), d);
            }
            return hash_finish(hash_add(h, u32::from(et)), 42);
        }
    }
    let proto = key.nw_proto();
    if key.nw_frag() & FRAG_ANY == 0 {
        let (sp, dp) = (u32::from(key.tp_src()), u32::from(key.tp_dst()));
        if !sym {
            h = hash_add(h, (sp << 16) | dp);
        } else if matches!(proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP) {
            h = hash_add(h, sp ^ dp);
        }
    }
    hash_finish(hash_add(h, u32::from(proto)), 42)
}

// ---------------------------------------------------------------------------
// Byte access and masking

#[inline]
fn rd16(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

#[inline]
fn wr16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn rd32(d: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

#[inline]
fn wr32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn rd128(d: &[u8], o: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[o..o + 16]);
    u128::from_be_bytes(b)
}

#[inline]
fn wr128(d: &mut [u8], o: usize, v: u128) {
    d[o..o + 16].copy_from_slice(&v.to_be_bytes());
}

#[inline]
fn rdmac(d: &[u8], o: usize) -> u64 {
    EthAddr::from_bytes(&d[o..o + 6]).to_u64()
}

#[inline]
fn wrmac(d: &mut [u8], o: usize, v: u64) {
    d[o..o + 6].copy_from_slice(&EthAddr::from_u64(v).0);
}

/// `old` with the bits of `mask` replaced by those of `new`.
#[inline]
fn merge<T>(old: T, new: T, mask: T) -> T
where
    T: Copy + BitAnd<Output = T> + BitOr<Output = T> + Not<Output = T>,
{
    (old & !mask) | (new & mask)
}

/// The mask fields of a `set_masked`, or `full` for a plain `set`.
#[inline]
fn mask_of<T>(
    mask: Option<&SetField>,
    full: T,
    pick: impl FnOnce(&SetField) -> Option<T>,
) -> Result<T, DropReason> {
    match mask {
        None => Ok(full),
        Some(m) => pick(m).ok_or(DropReason::Malformed),
    }
}

/// `off` as an index when it is set and `need` bytes from it are in `pkt`.
#[inline]
fn header_at(pkt: &Packet, off: u16, need: usize) -> Option<usize> {
    let o = off as usize;
    (off != NO_OFFSET && o + need <= pkt.len()).then_some(o)
}

// ---------------------------------------------------------------------------
// L4 checksum bookkeeping

#[derive(Clone, Copy, PartialEq, Eq)]
enum CsumKind {
    /// TCP or ICMPv6: ones'-complement with pseudo-header.
    Pseudo,
    /// UDP: with pseudo-header, 0 means none.
    Udp,
    /// ICMPv4: ones'-complement over the message only.
    Plain,
}

/// Where a packet's L4 checksum is and how it behaves.
#[derive(Clone, Copy)]
struct L4Csum {
    at: usize,
    kind: CsumKind,
    partial: bool,
}

impl L4Csum {
    /// The L4 checksum of a packet with key `key`, when its L4 header is
    /// present and has a ones'-complement checksum.
    fn locate(pkt: &Packet, key: &FlowKey) -> Option<L4Csum> {
        if key.nw_frag() & FRAG_LATER != 0 {
            return None;
        }
        let v4 = match key.eth_type() {
            ETH_TYPE_IPV4 => true,
            ETH_TYPE_IPV6 => false,
            _ => return None,
        };
        let (off, need, kind) = match key.nw_proto() {
            IPPROTO_TCP => (16, 20, CsumKind::Pseudo),
            IPPROTO_UDP => (6, 8, CsumKind::Udp),
            IPPROTO_ICMP if v4 => (2, 8, CsumKind::Plain),
            IPPROTO_ICMPV6 if !v4 => (2, 4, CsumKind::Pseudo),
            _ => return None,
        };
        let l4 = header_at(pkt, pkt.md.l4_ofs, need)?;
        Some(L4Csum { at: l4 + off, kind, partial: pkt.md.csum_start.is_some() })
    }

    /// Applies `f`, an update of a full checksum, to a complete checksum,
    /// keeping UDP's "0 means none" and "computed 0 is sent as 0xffff".
    #[inline]
    fn apply_full(self, d: &mut [u8], f: impl FnOnce(u16) -> u16) {
        let c = rd16(d, self.at);
        let n = match self.kind {
            CsumKind::Udp if c == 0 => return,
            CsumKind::Udp => match f(c) {
                0 => 0xffff,
                n => n,
            },
            _ => f(c),
        };
        wr16(d, self.at, n);
    }

    /// A field that only the pseudo-header covers changed (`f` updates a
    /// full checksum for it).
    #[inline]
    fn pseudo(self, d: &mut [u8], f: impl FnOnce(u16) -> u16) {
        match self.kind {
            CsumKind::Plain => {}
            _ if self.partial => {
                // The field holds the non-inverted pseudo-header sum.
                let c = rd16(d, self.at);
                wr16(d, self.at, !f(!c));
            }
            _ => self.apply_full(d, f),
        }
    }

    /// A field inside the L4 message changed (`f` updates a full checksum
    /// for it). A checksum-partial packet needs nothing: the offload sums
    /// the message as it leaves.
    #[inline]
    fn data(self, d: &mut [u8], f: impl FnOnce(u16) -> u16) {
        if !self.partial {
            self.apply_full(d, f);
        }
    }
}

/// Updates a full checksum for a 48-bit field at an even offset.
#[inline]
fn update48(c: u16, old: u64, new: u64) -> u16 {
    let c = update16(c, (old >> 32) as u16, (new >> 32) as u16);
    update32(c, old as u32, new as u32)
}

// ---------------------------------------------------------------------------
// Per-attribute edits

fn set_eth(pkt: &mut Packet, src: EthAddr, dst: EthAddr, ms: EthAddr, md: EthAddr) {
    let Some(l2) = header_at(pkt, pkt.md.l2_ofs, 12) else {
        return;
    };
    let d = pkt.data_mut();
    for i in 0..6 {
        d[l2 + i] = merge(d[l2 + i], dst.0[i], md.0[i]);
        d[l2 + 6 + i] = merge(d[l2 + 6 + i], src.0[i], ms.0[i]);
    }
}

fn set_ipv4(pkt: &mut Packet, key: &FlowKey, v: (u32, u32, u8, u8), m: (u32, u32, u8, u8)) {
    if key.eth_type() != ETH_TYPE_IPV4 {
        return;
    }
    let Some(l3) = header_at(pkt, pkt.md.l3_ofs, 20) else {
        return;
    };
    let l4 = L4Csum::locate(pkt, key);
    let d = pkt.data_mut();
    let mut ipc = rd16(d, l3 + 10);

    for (at, new, mask) in [(l3 + 12, v.0, m.0), (l3 + 16, v.1, m.1)] {
        let old = rd32(d, at);
        let new = merge(old, new, mask);
        if old != new {
            ipc = update32(ipc, old, new);
            if let Some(c) = l4 {
                c.pseudo(d, |c| update32(c, old, new));
            }
            wr32(d, at, new);
        }
    }
    // TOS shares a word with version/IHL, TTL with the protocol.
    // (`w` is the checksummed 16-bit word, counted from the header start.)
    for (w, at, new, mask) in [(l3, l3 + 1, v.2, m.2), (l3 + 8, l3 + 8, v.3, m.3)] {
        let old = d[at];
        let new = merge(old, new, mask);
        if old != new {
            let old_w = rd16(d, w);
            d[at] = new;
            ipc = update16(ipc, old_w, rd16(d, w));
        }
    }
    wr16(d, l3 + 10, ipc);
}

/// True when the IPv6 extension headers between `l3 + 40` and the upper
/// layer include a routing header with segments left (OVS's
/// `packet_rh_present`): the pseudo-header then uses the final destination.
fn ipv6_routing_header_present(d: &[u8], l3: usize) -> bool {
    let mut nh = d[l3 + 6];
    let mut off = l3 + 40;
    // Each header is at least 8 bytes; the bound keeps a crafted chain short.
    for _ in 0..16 {
        if off + 8 > d.len() {
            return false;
        }
        let len = match nh {
            IPV6_HOPOPTS | IPV6_DSTOPTS => (d[off + 1] as usize + 1) * 8,
            IPV6_ROUTING => {
                if d[off + 3] != 0 {
                    return true;
                }
                (d[off + 1] as usize + 1) * 8
            }
            IPV6_FRAGMENT => 8,
            IPV6_AH => (d[off + 1] as usize + 2) * 4,
            _ => return false,
        };
        nh = d[off];
        off += len;
    }
    false
}

type Ipv6Fields = (u128, u128, u32, u8, u8);

fn set_ipv6(pkt: &mut Packet, key: &FlowKey, v: Ipv6Fields, m: Ipv6Fields) {
    if key.eth_type() != ETH_TYPE_IPV6 {
        return;
    }
    let Some(l3) = header_at(pkt, pkt.md.l3_ofs, 40) else {
        return;
    };
    let l4 = L4Csum::locate(pkt, key);
    let d = pkt.data_mut();

    let old = rd128(d, l3 + 8);
    let new = merge(old, v.0, m.0);
    if old != new {
        if let Some(c) = l4 {
            c.pseudo(d, |c| update128(c, old, new));
        }
        wr128(d, l3 + 8, new);
    }
    let old = rd128(d, l3 + 24);
    let new = merge(old, v.1, m.1);
    if old != new {
        if let Some(c) = l4 {
            if !ipv6_routing_header_present(d, l3) {
                c.pseudo(d, |c| update128(c, old, new));
            }
        }
        wr128(d, l3 + 24, new);
    }
    // version:4 traffic class:8 flow label:20
    let w = rd32(d, l3);
    let tc = merge((w >> 20) as u8, v.3, m.3);
    let fl = merge(w & IPV6_LABEL_MASK, v.2, m.2 & IPV6_LABEL_MASK);
    wr32(d, l3, (w & 0xf000_0000) | (u32::from(tc) << 20) | fl);
    d[l3 + 7] = merge(d[l3 + 7], v.4, m.4);
}

fn is_ip(key: &FlowKey) -> bool {
    matches!(key.eth_type(), ETH_TYPE_IPV4 | ETH_TYPE_IPV6)
}

fn set_ports(pkt: &mut Packet, key: &FlowKey, proto: u8, v: (u16, u16), m: (u16, u16)) {
    if !is_ip(key) || key.nw_proto() != proto || key.nw_frag() & FRAG_LATER != 0 {
        return;
    }
    let need = match proto {
        IPPROTO_TCP => 20,
        IPPROTO_UDP => 8,
        _ => 12,
    };
    let Some(l4) = header_at(pkt, pkt.md.l4_ofs, need) else {
        return;
    };
    let csum = L4Csum::locate(pkt, key);
    let sctp_len = if proto == IPPROTO_SCTP { sctp_len(pkt, key, l4) } else { 0 };
    let partial = pkt.md.csum_start.is_some();
    let d = pkt.data_mut();
    let (os, od) = (rd16(d, l4), rd16(d, l4 + 2));
    let (ns, nd) = (merge(os, v.0, m.0), merge(od, v.1, m.1));
    if (os, od) == (ns, nd) {
        return;
    }
    if let Some(c) = csum {
        c.data(d, |c| update16(update16(c, os, ns), od, nd));
    } else if proto == IPPROTO_SCTP && !partial {
        let diff =
            ((u32::from(os) << 16) | u32::from(od)) ^ ((u32::from(ns) << 16) | u32::from(nd));
        let delta = crc32c_delta(diff.to_be_bytes(), sctp_len).to_le_bytes();
        for i in 0..4 {
            d[l4 + 8 + i] ^= delta[i];
        }
    }
    wr16(d, l4, ns);
    wr16(d, l4 + 2, nd);
}

/// Length of the SCTP packet at `l4`, from the IP header (so that Ethernet
/// padding stays out of the CRC), at least the 12-byte common header.
fn sctp_len(pkt: &Packet, key: &FlowKey, l4: usize) -> usize {
    let d = pkt.data();
    let l3 = pkt.md.l3_ofs as usize;
    let end = if pkt.md.l3_ofs == NO_OFFSET {
        d.len()
    } else if key.eth_type() == ETH_TYPE_IPV4 && l3 + 4 <= d.len() {
        l3 + rd16(d, l3 + 2) as usize
    } else if key.eth_type() == ETH_TYPE_IPV6 && l3 + 6 <= d.len() {
        l3 + 40 + rd16(d, l3 + 4) as usize
    } else {
        d.len()
    };
    end.saturating_sub(l4).max(12)
}

fn set_icmp(pkt: &mut Packet, key: &FlowKey, v6: bool, v: (u8, u8), m: (u8, u8)) {
    let (et, proto) =
        if v6 { (ETH_TYPE_IPV6, IPPROTO_ICMPV6) } else { (ETH_TYPE_IPV4, IPPROTO_ICMP) };
    if key.eth_type() != et || key.nw_proto() != proto {
        return;
    }
    let Some(c) = L4Csum::locate(pkt, key) else {
        return;
    };
    let l4 = c.at - 2;
    let d = pkt.data_mut();
    let old = rd16(d, l4);
    let new = u16::from_be_bytes([merge(d[l4], v.0, m.0), merge(d[l4 + 1], v.1, m.1)]);
    if old != new {
        c.data(d, |c| update16(c, old, new));
        wr16(d, l4, new);
    }
}

type ArpFields = (u32, u32, u16, EthAddr, EthAddr);

fn set_arp(pkt: &mut Packet, key: &FlowKey, v: ArpFields, m: ArpFields) {
    if !matches!(key.eth_type(), ETH_TYPE_ARP | ETH_TYPE_RARP) {
        return;
    }
    let Some(l3) = header_at(pkt, pkt.md.l3_ofs, 28) else {
        return;
    };
    let d = pkt.data_mut();
    // Only Ethernet/IPv4 ARP has these fields where we write them.
    if d[l3 + 4] != 6 || d[l3 + 5] != 4 {
        return;
    }
    wr16(d, l3 + 6, merge(rd16(d, l3 + 6), v.2, m.2));
    wrmac(d, l3 + 8, merge(rdmac(d, l3 + 8), v.3.to_u64(), m.3.to_u64()));
    wr32(d, l3 + 14, merge(rd32(d, l3 + 14), v.0, m.0));
    wrmac(d, l3 + 18, merge(rdmac(d, l3 + 18), v.4.to_u64(), m.4.to_u64()));
    wr32(d, l3 + 24, merge(rd32(d, l3 + 24), v.1, m.1));
}

fn set_nd(
    pkt: &mut Packet,
    key: &FlowKey,
    v: (u128, EthAddr, EthAddr),
    m: (u128, EthAddr, EthAddr),
) {
    if key.eth_type() != ETH_TYPE_IPV6
        || key.nw_proto() != IPPROTO_ICMPV6
        || !matches!(key.tp_src(), ND_NEIGHBOR_SOLICIT | ND_NEIGHBOR_ADVERT)
        || key.tp_dst() != 0
    {
        return;
    }
    let Some(c) = L4Csum::locate(pkt, key) else {
        return;
    };
    // type, code, checksum, flags/reserved, target
    let Some(l4) = header_at(pkt, pkt.md.l4_ofs, 24) else {
        return;
    };
    let d = pkt.data_mut();
    let old = rd128(d, l4 + 8);
    let new = merge(old, v.0, m.0);
    if old != new {
        c.data(d, |c| update128(c, old, new));
        wr128(d, l4 + 8, new);
    }
    let mut off = l4 + 24;
    while off + 8 <= d.len() {
        let (typ, len) = (d[off], d[off + 1] as usize * 8);
        if len == 0 {
            break;
        }
        if len == 8 && matches!(typ, ND_OPT_SOURCE_LINKADDR | ND_OPT_TARGET_LINKADDR) {
            let (val, mask) = if typ == ND_OPT_SOURCE_LINKADDR { (v.1, m.1) } else { (v.2, m.2) };
            let old = rdmac(d, off + 2);
            let new = merge(old, val.to_u64(), mask.to_u64());
            if old != new {
                c.data(d, |c| update48(c, old, new));
                wrmac(d, off + 2, new);
            }
            // A packet carries one SLL or TLL option.
            break;
        }
        off += len;
    }
}

fn tun_addr(a: Option<IpAddr>, ipv6: bool) -> u128 {
    match (a, ipv6) {
        (Some(IpAddr::V4(a)), false) => u128::from(u32::from(a)),
        (Some(IpAddr::V6(a)), true) => u128::from(a),
        _ => 0,
    }
}

fn to_tun_addr(a: u128, ipv6: bool) -> Option<IpAddr> {
    match (a, ipv6) {
        (0, _) => None,
        (a, true) => Some(IpAddr::V6(Ipv6Addr::from(a))),
        (a, false) => Some(IpAddr::V4(Ipv4Addr::from(a as u32))),
    }
}

fn set_tunnel(
    pkt: &mut Packet,
    value: &SetField,
    mask: Option<&SetField>,
) -> Result<(), DropReason> {
    let SetField::Tunnel { tun_id, src, dst, ipv6, tos, ttl, tp_src, tp_dst, flags } = *value
    else {
        return Ok(());
    };
    let all = SetField::Tunnel {
        tun_id: u64::MAX,
        src: u128::MAX,
        dst: u128::MAX,
        ipv6,
        tos: u8::MAX,
        ttl: u8::MAX,
        tp_src: u16::MAX,
        tp_dst: u16::MAX,
        flags: u16::MAX,
    };
    let SetField::Tunnel {
        tun_id: m_id,
        src: m_src,
        dst: m_dst,
        tos: m_tos,
        ttl: m_ttl,
        tp_src: m_tps,
        tp_dst: m_tpd,
        flags: m_flags,
        ..
    } = *mask.unwrap_or(&all)
    else {
        return Err(DropReason::Malformed);
    };
    let t = &mut pkt.md.tunnel;
    // The address family comes from the value; an old address of the other
    // family counts as zero.
    let old_src = tun_addr(t.src, ipv6);
    let old_dst = tun_addr(t.dst, ipv6);
    t.tun_id = merge(t.tun_id, tun_id, m_id);
    t.src = to_tun_addr(merge(old_src, src, m_src), ipv6);
    t.dst = to_tun_addr(merge(old_dst, dst, m_dst), ipv6);
    t.tos = merge(t.tos, tos, m_tos);
    t.ttl = merge(t.ttl, ttl, m_ttl);
    t.tp_src = merge(t.tp_src, tp_src, m_tps);
    t.tp_dst = merge(t.tp_dst, tp_dst, m_tpd);
    t.flags = merge(t.flags, flags, m_flags);
    Ok(())
}

// ---------------------------------------------------------------------------
// CRC32c changes (the CRC itself is rvs_packet::checksum::crc32c).

/// How the CRC32c of an `len`-byte message changes when its first four
/// bytes are XORed with `diff`: the CRC is affine, so
/// `crc(a) ^ crc(b) = crc0(a ^ b)` with a zero initial value and no final
/// XOR, and `a ^ b` is `diff` followed by zeros. Feeding zeros needs no
/// packet reads.
fn crc32c_delta(diff: [u8; 4], len: usize) -> u32 {
    let zeros = std::iter::repeat_n(0u8, len.saturating_sub(4));
    checksum::crc32c_update(0, diff.into_iter().chain(zeros))
}

// ---------------------------------------------------------------------------
// OVS's portable hash (lib/hash.h: Murmur3 mixing).

#[inline]
fn hash_add(hash: u32, data: u32) -> u32 {
    let h = if data == 0 {
        hash
    } else {
        hash ^ data.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593)
    };
    h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

#[inline]
fn hash_add64(hash: u32, data: u64) -> u32 {
    hash_add(hash_add(hash, data as u32), (data >> 32) as u32)
}

#[inline]
fn hash_add128(hash: u32, data: u128) -> u32 {
    hash_add64(hash_add64(hash, (data >> 64) as u64), data as u64)
}

#[inline]
fn hash_finish(hash: u32, fin: u32) -> u32 {
    let mut h = hash ^ fin;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
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
    fn full_l4_csum(
        d: &[u8],
        l3: usize,
        l4: usize,
        is_v6: bool,
        proto: u8,
        partial: bool,
    ) -> [u8; 4] {
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
        let v2 = SetField::Arp {
            sip: v4("10.0.0.9"),
            tip: v4("10.0.0.9"),
            op: 9,
            sha: MAC_A,
            tha: MAC_B,
        };
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
            let (mut p, k) =
                build(ip, L4::Nd(typ, v6("2001:db8::2"), Some((opt, MAC_A))), &[], &[]);
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
}
