//! OpenFlow 1.0's fixed 40-byte match, `struct ofp10_match`:
//!
//! ```text
//!  0: wildcards:32   4: in_port:16    6: dl_src:48      12: dl_dst:48
//! 18: dl_vlan:16    20: dl_vlan_pcp:8 21: pad:8          22: dl_type:16
//! 24: nw_tos:8      25: nw_proto:8    26: pad:16         28: nw_src:32
//! 32: nw_dst:32     36: tp_src:16     38: tp_dst:16
//! ```
//!
//! A set wildcard bit means "any value"; `nw_src` and `nw_dst` have 6-bit
//! counts of wildcarded low bits instead (32 or more: the whole address).
//! `dl_vlan` 0xffff means "no VLAN tag"; `nw_tos` holds the DSCP bits in
//! their place in the TOS byte; for ARP `nw_proto` is the opcode and
//! `nw_src`/`nw_dst` the protocol addresses; for ICMP `tp_src`/`tp_dst` are
//! the type and code.
//!
//! As OVS does for OpenFlow 1.0, decoding drops the fields whose
//! prerequisites the match does not establish (`nw_src` without an IP or
//! ARP `dl_type`, `tp_src` without a TCP, UDP, SCTP or ICMP `nw_proto`)
//! instead of refusing the match.

use super::error::{OfpErr, OfpError};
use crate::flow::{eth_type, vlan, Mf, OfMatch};

/// Length of `struct ofp10_match`.
pub const MATCH10_LEN: usize = 40;

/// Wildcard bits of `ofp10_match`.
pub mod fw {
    /// Any input port.
    pub const IN_PORT: u32 = 1 << 0;
    /// Any VLAN id.
    pub const DL_VLAN: u32 = 1 << 1;
    /// Any Ethernet source.
    pub const DL_SRC: u32 = 1 << 2;
    /// Any Ethernet destination.
    pub const DL_DST: u32 = 1 << 3;
    /// Any Ethernet type.
    pub const DL_TYPE: u32 = 1 << 4;
    /// Any IP protocol.
    pub const NW_PROTO: u32 = 1 << 5;
    /// Any L4 source port.
    pub const TP_SRC: u32 = 1 << 6;
    /// Any L4 destination port.
    pub const TP_DST: u32 = 1 << 7;
    /// Shift of the count of wildcarded `nw_src` bits.
    pub const NW_SRC_SHIFT: u32 = 8;
    /// Shift of the count of wildcarded `nw_dst` bits.
    pub const NW_DST_SHIFT: u32 = 14;
    /// Any VLAN priority.
    pub const DL_VLAN_PCP: u32 = 1 << 20;
    /// Any IP TOS (DSCP).
    pub const NW_TOS: u32 = 1 << 21;
    /// Every wildcard bit.
    pub const ALL: u32 = (1 << 22) - 1;
}

/// `dl_vlan` meaning "no VLAN tag".
pub const VLAN_NONE: u16 = 0xffff;

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn mac(b: &[u8], o: usize) -> u128 {
    b[o..o + 6].iter().fold(0u128, |a, &x| (a << 8) | u128::from(x))
}

fn cidr_mask(wild_bits: u32) -> u32 {
    if wild_bits >= 32 {
        0
    } else {
        u32::MAX << wild_bits
    }
}

/// Decodes `ofp10_match` (the first 40 bytes of `b`) into a match, dropping
/// fields without their prerequisites as OVS does.
pub fn decode_ofp10_match(b: &[u8]) -> Result<OfMatch, OfpError> {
    if b.len() < MATCH10_LEN {
        return Err(
            OfpErr::BadRequestBadLen.with(format!("ofp10_match needs 40 bytes, {} given", b.len()))
        );
    }
    let wc = be32(b, 0) & fw::ALL;
    let mut m = OfMatch::catchall();
    let on = |bit: u32| wc & bit == 0;
    if on(fw::IN_PORT) {
        m.set(Mf::InPort, u128::from(be16(b, 4)));
    }
    if on(fw::DL_SRC) {
        m.set(Mf::DlSrc, mac(b, 6));
    }
    if on(fw::DL_DST) {
        m.set(Mf::DlDst, mac(b, 12));
    }
    // VLAN: the mask first, then the value.
    let mut tmask = 0u16;
    if on(fw::DL_VLAN_PCP) {
        tmask |= vlan::PCP_MASK | vlan::CFI;
    }
    if on(fw::DL_VLAN) {
        tmask |= vlan::VID_MASK | vlan::CFI;
    }
    let dl_vlan = be16(b, 18);
    let tci = if on(fw::DL_VLAN) && dl_vlan == VLAN_NONE {
        0
    } else {
        (dl_vlan & vlan::VID_MASK)
            | ((u16::from(b[20]) << vlan::PCP_SHIFT) & vlan::PCP_MASK)
            | vlan::CFI
    };
    if tmask != 0 {
        m.set_masked(Mf::VlanTci, u128::from(tci), u128::from(tmask));
    }
    if on(fw::DL_TYPE) {
        m.set(Mf::DlType, u128::from(be16(b, 22)));
    }
    if on(fw::NW_TOS) {
        m.set(Mf::IpDscp, u128::from(b[24] >> 2));
    }
    if on(fw::NW_PROTO) {
        m.set(Mf::NwProto, u128::from(b[25]));
    }
    let src_mask = cidr_mask((wc >> fw::NW_SRC_SHIFT) & 0x3f);
    if src_mask != 0 {
        m.set_masked(Mf::NwSrc, u128::from(be32(b, 28)), u128::from(src_mask));
    }
    let dst_mask = cidr_mask((wc >> fw::NW_DST_SHIFT) & 0x3f);
    if dst_mask != 0 {
        m.set_masked(Mf::NwDst, u128::from(be32(b, 32)), u128::from(dst_mask));
    }
    if on(fw::TP_SRC) {
        m.set(Mf::TpSrc, u128::from(be16(b, 36)));
    }
    if on(fw::TP_DST) {
        m.set(Mf::TpDst, u128::from(be16(b, 38)));
    }
    normalize(&mut m);
    Ok(m)
}

/// Drops the fields whose prerequisites `m` does not establish, the way
/// OVS's `ofputil_normalize_match` does for OpenFlow 1.0.
fn normalize(m: &mut OfMatch) {
    let dl = if m.wc.is_exact(Mf::DlType) { Some(m.flow.dl_type()) } else { None };
    let ip = matches!(dl, Some(eth_type::IPV4 | eth_type::IPV6));
    let arp = matches!(dl, Some(eth_type::ARP | eth_type::RARP));
    let clear = |m: &mut OfMatch, f: Mf| m.set_masked(f, 0, 0);
    if !(ip || arp) {
        clear(m, Mf::NwProto);
    }
    if !(dl == Some(eth_type::IPV4) || arp) {
        clear(m, Mf::NwSrc);
        clear(m, Mf::NwDst);
    }
    if !ip {
        clear(m, Mf::IpDscp);
    }
    let proto = if m.wc.is_exact(Mf::NwProto) { Some(m.flow.nw_proto()) } else { None };
    if !(ip && matches!(proto, Some(1 | 6 | 17 | 58 | 132))) {
        clear(m, Mf::TpSrc);
        clear(m, Mf::TpDst);
    }
    // ICMP's type and code are 8 bits in the L4 port slots.
    if matches!(proto, Some(1 | 58)) {
        for (tp, f) in [(Mf::TpSrc, Mf::IcmpType), (Mf::TpDst, Mf::IcmpCode)] {
            let (v, mask) = m.get(tp);
            if mask != 0 {
                clear(m, tp);
                m.set(f, v & 0xff);
            }
        }
    }
}

fn prefix_wild(mask: u32) -> Option<u32> {
    let n = mask.leading_ones();
    (mask.checked_shl(n).unwrap_or(0) == 0).then_some(32 - n)
}

/// Encodes `m` as `ofp10_match`. Fields the format cannot carry are left
/// out (see [`can_express`]); a non-CIDR address mask is cut to its
/// leading ones.
pub fn encode_ofp10_match(m: &OfMatch) -> [u8; MATCH10_LEN] {
    let mut b = [0u8; MATCH10_LEN];
    let mut wc = 0u32;
    let exact = |f: Mf| m.wc.is_exact(f);
    if exact(Mf::InPort) {
        b[4..6].copy_from_slice(&(m.flow.get(Mf::InPort) as u16).to_be_bytes());
    } else {
        wc |= fw::IN_PORT;
    }
    for (f, o, bit) in [(Mf::DlSrc, 6, fw::DL_SRC), (Mf::DlDst, 12, fw::DL_DST)] {
        if exact(f) {
            b[o..o + 6].copy_from_slice(&(m.flow.get(f) as u64).to_be_bytes()[2..]);
        } else {
            wc |= bit;
        }
    }
    let (tci, tmask) = m.get(Mf::VlanTci);
    let (tci, tmask) = (tci as u16, tmask as u16);
    if tmask == 0 {
        wc |= fw::DL_VLAN | fw::DL_VLAN_PCP;
    } else if tmask & vlan::CFI != 0 && tci & vlan::CFI == 0 {
        b[18..20].copy_from_slice(&VLAN_NONE.to_be_bytes());
    } else {
        if tmask & vlan::VID_MASK == 0 {
            wc |= fw::DL_VLAN;
        } else {
            b[18..20].copy_from_slice(&(tci & vlan::VID_MASK).to_be_bytes());
        }
        if tmask & vlan::PCP_MASK == 0 {
            wc |= fw::DL_VLAN_PCP;
        } else {
            b[20] = (tci >> vlan::PCP_SHIFT) as u8;
        }
    }
    if exact(Mf::DlType) {
        b[22..24].copy_from_slice(&(m.flow.dl_type()).to_be_bytes());
    } else {
        wc |= fw::DL_TYPE;
    }
    if m.wc.get(Mf::IpDscp) != 0 {
        b[24] = (m.flow.get(Mf::IpDscp) as u8) << 2;
    } else {
        wc |= fw::NW_TOS;
    }
    if exact(Mf::NwProto) {
        b[25] = m.flow.nw_proto();
    } else {
        wc |= fw::NW_PROTO;
    }
    for (f, o, shift) in [(Mf::NwSrc, 28, fw::NW_SRC_SHIFT), (Mf::NwDst, 32, fw::NW_DST_SHIFT)] {
        let (v, mask) = m.get(f);
        let mask = mask as u32;
        let wild = prefix_wild(mask).unwrap_or(32 - mask.leading_ones());
        let v = (v as u32) & cidr_mask(wild);
        b[o..o + 4].copy_from_slice(&v.to_be_bytes());
        wc |= wild << shift;
    }
    for (f, o, bit) in [(Mf::TpSrc, 36, fw::TP_SRC), (Mf::TpDst, 38, fw::TP_DST)] {
        let mask = m.wc.get(f);
        if mask == 0xffff || (mask == 0xff && matches!(m.flow.nw_proto(), 1 | 58)) {
            b[o..o + 2].copy_from_slice(&(m.flow.get(f) as u16).to_be_bytes());
        } else {
            wc |= bit;
        }
    }
    b[0..4].copy_from_slice(&wc.to_be_bytes());
    b
}

/// True when `m` travels unchanged in an `ofp10_match`: no registers,
/// metadata, tunnel fields, IPv6, ARP hardware addresses, TTL, ECN,
/// fragments or TCP flags; Ethernet addresses, ports and protocol exact;
/// IPv4 masks CIDR; VLAN as an id and/or priority or "no tag"; and every
/// field's prerequisite present.
pub fn can_express(m: &OfMatch) -> bool {
    let (tci, tmask) = m.get(Mf::VlanTci);
    let (tci, tmask) = (tci as u16, tmask as u16);
    let vlan_ok = match tmask {
        0 => true,
        0xffff => true,
        0x1fff | 0xf000 => tci & vlan::CFI != 0,
        _ => false,
    };
    vlan_ok && decode_ofp10_match(&encode_ofp10_match(m)).is_ok_and(|back| back == *m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{parse_match, NoNames};

    #[test]
    fn round_trips_and_limits() {
        for t in [
            "",
            "in_port=3,dl_vlan=10,dl_vlan_pcp=3",
            "dl_vlan=0xffff",
            "dl_vlan_pcp=2",
            "tcp,nw_src=198.18.0.0/16,nw_dst=198.18.1.1,tp_src=1,tp_dst=80,nw_tos=16",
            "arp,arp_op=2,arp_spa=198.18.0.1",
            "icmp,icmp_type=8,icmp_code=0",
            "dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x88cc",
            "ipv6,nw_proto=6",
        ] {
            let m = parse_match(t, &NoNames).unwrap();
            assert!(can_express(&m), "{t}");
            let b = encode_ofp10_match(&m);
            assert_eq!(decode_ofp10_match(&b).unwrap(), m, "{t}");
        }
        for t in [
            "reg0=1",
            "metadata=1",
            "ip,nw_src=198.18.0.0/255.255.0.255",
            "ipv6,ipv6_src=2001:db8::1",
            "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
            "tcp,tcp_flags=+syn",
            "ip,nw_ttl=3",
            "ip,nw_ecn=1",
            "tcp,tp_dst=0x100/0xff00",
            "vlan_tci=0x3064/0xf0ff",
            "tun_id=5",
        ] {
            let m = parse_match(t, &NoNames).unwrap();
            assert!(!can_express(&m), "{t}");
        }
    }

    #[test]
    fn missing_prerequisites_are_dropped() {
        // Everything exact, dl_type LLDP: L3/L4 fields go.
        let mut b = [0u8; 40];
        b[22..24].copy_from_slice(&0x88ccu16.to_be_bytes());
        b[28..32].copy_from_slice(&[1, 2, 3, 4]);
        b[36..38].copy_from_slice(&[0, 80]);
        let m = decode_ofp10_match(&b).unwrap();
        assert_eq!(m.wc.get(Mf::NwSrc), 0);
        assert_eq!(m.wc.get(Mf::TpSrc), 0);
        assert!(m.wc.is_exact(Mf::InPort));
        assert_eq!(decode_ofp10_match(&b[..39]).unwrap_err().code, OfpErr::BadRequestBadLen);
    }
}
