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
mod tests;
