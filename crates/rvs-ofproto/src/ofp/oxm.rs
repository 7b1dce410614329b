//! NXM and OXM matches: field headers and TLV lists.
//!
//! Both formats are lists of type-length-value entries with a 32-bit header:
//!
//! ```text
//!  31            16 15         9  8  7          0
//! +----------------+------------+---+------------+
//! |     class      |   field    | M |   length   |   then `length` bytes:
//! +----------------+------------+---+------------+   value, then mask if M
//! ```
//!
//! Class 0x0000 holds OpenFlow 1.0's fields in Nicira's format (`NXM_OF_*`),
//! 0x0001 Nicira's own (`NXM_NX_*`), 0x8000 OpenFlow 1.2+'s basic fields
//! (`OXM_OF_*`) and 0x8001 the 64-bit packet registers (`OXM_OF_PKT_REG*`).
//! Class 0xffff is an experimenter class whose header carries a 4-byte
//! experimenter id after the 32-bit header; the only one understood is the
//! ONF's `tcp_flags` of OpenFlow 1.3.
//!
//! OVS accepts every header in every version and so does this module: a
//! decoder takes NXM headers inside an OpenFlow 1.3 match and OXM headers
//! inside an NXM match. Encoders pick, per field, the header the version
//! prefers: the OXM header from the version that introduced it, else the
//! NXM one ([`field_header`]). Fields are written in OVS's order, so an
//! encoded match is byte for byte what OVS writes.
//!
//! Decoding checks each entry as OVS does, in order: an unknown header is
//! `OFPBMC_BAD_FIELD`, a length that does not fit the field `OFPBMC_BAD_LEN`,
//! a mask on a field that takes none `OFPBMC_BAD_MASK`, a value with bits
//! outside the field `OFPBMC_BAD_VALUE`, a field given twice
//! `OFPBMC_DUP_FIELD` and a field whose prerequisite (`eth_type` for
//! `ipv4_src`, ...) is not already matched `OFPBMC_BAD_PREREQ`: as in
//! OpenFlow 1.2+, a prerequisite must come before the field that needs it.
//! Bits of a value outside its mask are cleared.

use super::buf::Reader;
use super::error::{OfpErr, OfpError};
use super::{pad8, Version};
use crate::flow::{eth_type, vlan, Mf, OfMatch, Prereq};
use crate::types::OfPort;

/// Class of OpenFlow 1.0's fields in NXM (`NXM_OF_*`).
pub const NXM_OF: u16 = 0x0000;
/// Class of Nicira's fields (`NXM_NX_*`).
pub const NXM_NX: u16 = 0x0001;
/// Class of OpenFlow 1.2+'s basic fields (`OFPXMC_OPENFLOW_BASIC`).
pub const OXM_BASIC: u16 = 0x8000;
/// Class of the 64-bit packet registers (`OFPXMC_PACKET_REGS`).
pub const OXM_PACKET_REGS: u16 = 0x8001;
/// The experimenter class (`OFPXMC_EXPERIMENTER`).
pub const OXM_EXPERIMENTER: u16 = 0xffff;
/// `OFPVID_PRESENT`: the bit of OXM's `vlan_vid` that says a tag is present
/// (the same bit as the CFI bit of NXM's `vlan_tci`).
pub const OFPVID_PRESENT: u16 = 0x1000;

/// Builds a header from its parts.
pub const fn header(class: u16, field: u8, hasmask: bool, len: u8) -> u32 {
    ((class as u32) << 16) | ((field as u32) << 9) | ((hasmask as u32) << 8) | len as u32
}

/// The class of a header.
pub const fn header_class(h: u32) -> u16 {
    (h >> 16) as u16
}

/// The field number of a header.
pub const fn header_field(h: u32) -> u8 {
    ((h >> 9) & 0x7f) as u8
}

/// True if a header announces a mask.
pub const fn header_hasmask(h: u32) -> bool {
    h & 0x100 != 0
}

/// The payload length of a header (value, plus mask if any).
pub const fn header_len(h: u32) -> usize {
    (h & 0xff) as usize
}

/// How a wire field's value maps onto an [`OfMatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The value is the field's value.
    Plain(Mf),
    /// OXM's 32-bit `in_port`, with 1.1+ reserved ports.
    InPort32,
    /// OXM's `vlan_vid`: the low 13 bits of the TCI (present bit and VID).
    VlanVid,
    /// OXM's `vlan_pcp`: the TCI's top 3 bits.
    VlanPcp,
    /// NXM's `ip_tos`: the DSCP bits in their place in the TOS byte.
    IpTos,
}

/// One known wire field.
#[derive(Clone, Copy, Debug)]
struct Entry {
    class: u16,
    field: u8,
    /// Value length in bytes.
    len: u8,
    kind: Kind,
    maskable: bool,
    /// For OXM classes: the first version whose OXM has it.
    since: Version,
    /// The name OVS gives the header.
    name: &'static str,
}

const fn e(
    class: u16,
    field: u8,
    len: u8,
    kind: Kind,
    maskable: bool,
    since: Version,
    name: &'static str,
) -> Entry {
    Entry { class, field, len, kind, maskable, since, name }
}

use Kind::Plain as P;
use Version::{V10, V12, V13, V15};

#[rustfmt::skip]
const FIXED: &[Entry] = &[
    e(NXM_OF, 0, 2, P(Mf::InPort), false, V10, "NXM_OF_IN_PORT"),
    e(NXM_OF, 1, 6, P(Mf::DlDst), true, V10, "NXM_OF_ETH_DST"),
    e(NXM_OF, 2, 6, P(Mf::DlSrc), true, V10, "NXM_OF_ETH_SRC"),
    e(NXM_OF, 3, 2, P(Mf::DlType), false, V10, "NXM_OF_ETH_TYPE"),
    e(NXM_OF, 4, 2, P(Mf::VlanTci), true, V10, "NXM_OF_VLAN_TCI"),
    e(NXM_OF, 5, 1, Kind::IpTos, false, V10, "NXM_OF_IP_TOS"),
    e(NXM_OF, 6, 1, P(Mf::NwProto), false, V10, "NXM_OF_IP_PROTO"),
    e(NXM_OF, 7, 4, P(Mf::NwSrc), true, V10, "NXM_OF_IP_SRC"),
    e(NXM_OF, 8, 4, P(Mf::NwDst), true, V10, "NXM_OF_IP_DST"),
    e(NXM_OF, 9, 2, P(Mf::TcpSrc), true, V10, "NXM_OF_TCP_SRC"),
    e(NXM_OF, 10, 2, P(Mf::TcpDst), true, V10, "NXM_OF_TCP_DST"),
    e(NXM_OF, 11, 2, P(Mf::UdpSrc), true, V10, "NXM_OF_UDP_SRC"),
    e(NXM_OF, 12, 2, P(Mf::UdpDst), true, V10, "NXM_OF_UDP_DST"),
    e(NXM_OF, 13, 1, P(Mf::IcmpType), false, V10, "NXM_OF_ICMP_TYPE"),
    e(NXM_OF, 14, 1, P(Mf::IcmpCode), false, V10, "NXM_OF_ICMP_CODE"),
    e(NXM_OF, 15, 2, P(Mf::ArpOp), false, V10, "NXM_OF_ARP_OP"),
    e(NXM_OF, 16, 4, P(Mf::ArpSpa), true, V10, "NXM_OF_ARP_SPA"),
    e(NXM_OF, 17, 4, P(Mf::ArpTpa), true, V10, "NXM_OF_ARP_TPA"),
    e(NXM_NX, 16, 8, P(Mf::TunId), true, V10, "NXM_NX_TUN_ID"),
    e(NXM_NX, 17, 6, P(Mf::ArpSha), true, V10, "NXM_NX_ARP_SHA"),
    e(NXM_NX, 18, 6, P(Mf::ArpTha), true, V10, "NXM_NX_ARP_THA"),
    e(NXM_NX, 19, 16, P(Mf::Ipv6Src), true, V10, "NXM_NX_IPV6_SRC"),
    e(NXM_NX, 20, 16, P(Mf::Ipv6Dst), true, V10, "NXM_NX_IPV6_DST"),
    e(NXM_NX, 21, 1, P(Mf::Icmpv6Type), false, V10, "NXM_NX_ICMPV6_TYPE"),
    e(NXM_NX, 22, 1, P(Mf::Icmpv6Code), false, V10, "NXM_NX_ICMPV6_CODE"),
    e(NXM_NX, 23, 16, P(Mf::NdTarget), true, V10, "NXM_NX_ND_TARGET"),
    e(NXM_NX, 24, 6, P(Mf::NdSll), true, V10, "NXM_NX_ND_SLL"),
    e(NXM_NX, 25, 6, P(Mf::NdTll), true, V10, "NXM_NX_ND_TLL"),
    e(NXM_NX, 26, 1, P(Mf::IpFrag), true, V10, "NXM_NX_IP_FRAG"),
    e(NXM_NX, 27, 4, P(Mf::Ipv6Label), true, V10, "NXM_NX_IPV6_LABEL"),
    e(NXM_NX, 28, 1, P(Mf::NwEcn), false, V10, "NXM_NX_IP_ECN"),
    e(NXM_NX, 29, 1, P(Mf::NwTtl), false, V10, "NXM_NX_IP_TTL"),
    e(NXM_NX, 31, 4, P(Mf::TunSrc), true, V10, "NXM_NX_TUN_IPV4_SRC"),
    e(NXM_NX, 32, 4, P(Mf::TunDst), true, V10, "NXM_NX_TUN_IPV4_DST"),
    e(NXM_NX, 33, 4, P(Mf::PktMark), true, V10, "NXM_NX_PKT_MARK"),
    e(NXM_NX, 34, 2, P(Mf::TcpFlags), true, V10, "NXM_NX_TCP_FLAGS"),
    e(NXM_NX, 35, 4, P(Mf::DpHash), true, V10, "NXM_NX_DP_HASH"),
    e(NXM_NX, 36, 4, P(Mf::RecircId), false, V10, "NXM_NX_RECIRC_ID"),
    e(NXM_NX, 104, 2, P(Mf::TunFlags), true, V10, "NXM_NX_TUN_FLAGS"),
    e(NXM_NX, 109, 16, P(Mf::TunIpv6Src), true, V10, "NXM_NX_TUN_IPV6_SRC"),
    e(NXM_NX, 110, 16, P(Mf::TunIpv6Dst), true, V10, "NXM_NX_TUN_IPV6_DST"),
    e(OXM_BASIC, 0, 4, Kind::InPort32, false, V12, "OXM_OF_IN_PORT"),
    e(OXM_BASIC, 2, 8, P(Mf::Metadata), true, V12, "OXM_OF_METADATA"),
    e(OXM_BASIC, 3, 6, P(Mf::DlDst), true, V12, "OXM_OF_ETH_DST"),
    e(OXM_BASIC, 4, 6, P(Mf::DlSrc), true, V12, "OXM_OF_ETH_SRC"),
    e(OXM_BASIC, 5, 2, P(Mf::DlType), false, V12, "OXM_OF_ETH_TYPE"),
    e(OXM_BASIC, 6, 2, Kind::VlanVid, true, V12, "OXM_OF_VLAN_VID"),
    e(OXM_BASIC, 7, 1, Kind::VlanPcp, false, V12, "OXM_OF_VLAN_PCP"),
    e(OXM_BASIC, 8, 1, P(Mf::IpDscp), false, V12, "OXM_OF_IP_DSCP"),
    e(OXM_BASIC, 9, 1, P(Mf::NwEcn), false, V12, "OXM_OF_IP_ECN"),
    e(OXM_BASIC, 10, 1, P(Mf::NwProto), false, V12, "OXM_OF_IP_PROTO"),
    e(OXM_BASIC, 11, 4, P(Mf::NwSrc), true, V12, "OXM_OF_IPV4_SRC"),
    e(OXM_BASIC, 12, 4, P(Mf::NwDst), true, V12, "OXM_OF_IPV4_DST"),
    e(OXM_BASIC, 13, 2, P(Mf::TcpSrc), true, V12, "OXM_OF_TCP_SRC"),
    e(OXM_BASIC, 14, 2, P(Mf::TcpDst), true, V12, "OXM_OF_TCP_DST"),
    e(OXM_BASIC, 15, 2, P(Mf::UdpSrc), true, V12, "OXM_OF_UDP_SRC"),
    e(OXM_BASIC, 16, 2, P(Mf::UdpDst), true, V12, "OXM_OF_UDP_DST"),
    e(OXM_BASIC, 17, 2, P(Mf::SctpSrc), true, V12, "OXM_OF_SCTP_SRC"),
    e(OXM_BASIC, 18, 2, P(Mf::SctpDst), true, V12, "OXM_OF_SCTP_DST"),
    e(OXM_BASIC, 19, 1, P(Mf::IcmpType), false, V12, "OXM_OF_ICMPV4_TYPE"),
    e(OXM_BASIC, 20, 1, P(Mf::IcmpCode), false, V12, "OXM_OF_ICMPV4_CODE"),
    e(OXM_BASIC, 21, 2, P(Mf::ArpOp), false, V12, "OXM_OF_ARP_OP"),
    e(OXM_BASIC, 22, 4, P(Mf::ArpSpa), true, V12, "OXM_OF_ARP_SPA"),
    e(OXM_BASIC, 23, 4, P(Mf::ArpTpa), true, V12, "OXM_OF_ARP_TPA"),
    e(OXM_BASIC, 24, 6, P(Mf::ArpSha), true, V12, "OXM_OF_ARP_SHA"),
    e(OXM_BASIC, 25, 6, P(Mf::ArpTha), true, V12, "OXM_OF_ARP_THA"),
    e(OXM_BASIC, 26, 16, P(Mf::Ipv6Src), true, V12, "OXM_OF_IPV6_SRC"),
    e(OXM_BASIC, 27, 16, P(Mf::Ipv6Dst), true, V12, "OXM_OF_IPV6_DST"),
    e(OXM_BASIC, 28, 4, P(Mf::Ipv6Label), true, V12, "OXM_OF_IPV6_FLABEL"),
    e(OXM_BASIC, 29, 1, P(Mf::Icmpv6Type), false, V12, "OXM_OF_ICMPV6_TYPE"),
    e(OXM_BASIC, 30, 1, P(Mf::Icmpv6Code), false, V12, "OXM_OF_ICMPV6_CODE"),
    e(OXM_BASIC, 31, 16, P(Mf::NdTarget), true, V12, "OXM_OF_IPV6_ND_TARGET"),
    e(OXM_BASIC, 32, 6, P(Mf::NdSll), true, V12, "OXM_OF_IPV6_ND_SLL"),
    e(OXM_BASIC, 33, 6, P(Mf::NdTll), true, V12, "OXM_OF_IPV6_ND_TLL"),
    e(OXM_BASIC, 38, 8, P(Mf::TunId), true, V13, "OXM_OF_TUNNEL_ID"),
    e(OXM_BASIC, 42, 2, P(Mf::TcpFlags), true, V15, "OXM_OF_TCP_FLAGS"),
];

/// The ONF experimenter id, which OpenFlow 1.3's `tcp_flags` OXM uses.
const ONF_EXPERIMENTER: u32 = super::ONF_VENDOR_ID;

/// The wire field for `(class, field)`, registers included.
fn lookup(class: u16, field: u8) -> Option<Entry> {
    match class {
        NXM_NX if field < 16 => {
            Some(e(NXM_NX, field, 4, P(Mf::Reg(field)), true, V10, "NXM_NX_REG"))
        }
        NXM_NX if (111..115).contains(&field) => {
            Some(e(NXM_NX, field, 16, P(Mf::Xxreg(field - 111)), true, V10, "NXM_NX_XXREG"))
        }
        OXM_PACKET_REGS if field < 8 => {
            Some(e(OXM_PACKET_REGS, field, 8, P(Mf::Xreg(field)), true, V15, "OXM_OF_PKT_REG"))
        }
        _ => FIXED.iter().find(|x| x.class == class && x.field == field).copied(),
    }
}

fn entry_header(x: &Entry, hasmask: bool) -> u32 {
    let len = if hasmask { 2 * x.len } else { x.len };
    header(x.class, x.field, hasmask, len)
}

/// The Mf an entry stands for in [`field_from_header`] and actions.
fn kind_mf(k: Kind) -> Mf {
    match k {
        Kind::Plain(f) => f,
        Kind::InPort32 => Mf::InPort,
        Kind::VlanVid => Mf::DlVlan,
        Kind::VlanPcp => Mf::DlVlanPcp,
        Kind::IpTos => Mf::NwTos,
    }
}

/// The storage an entry writes: two headers with the same slot are the same
/// field for duplicate detection (`NXM_OF_IP_SRC` and `OXM_OF_IPV4_SRC`).
fn slot(k: Kind) -> Mf {
    match kind_mf(k) {
        Mf::TcpSrc | Mf::UdpSrc | Mf::SctpSrc | Mf::IcmpType | Mf::Icmpv6Type => Mf::TpSrc,
        Mf::TcpDst | Mf::UdpDst | Mf::SctpDst | Mf::IcmpCode | Mf::Icmpv6Code => Mf::TpDst,
        Mf::NwTos => Mf::IpDscp,
        Mf::ArpSpa => Mf::NwSrc,
        Mf::ArpTpa => Mf::NwDst,
        Mf::NdSll => Mf::ArpSha,
        Mf::NdTll => Mf::ArpTha,
        Mf::ArpOp => Mf::NwProto,
        f => f,
    }
}

/// The entry an encoder uses for `mf` in `version`: OXM from the version
/// that introduced it, else NXM, else OXM whatever the version (as OVS
/// does for `metadata` in NXM).
fn preferred(mf: Mf, version: Version) -> Option<Entry> {
    let target = match mf {
        Mf::TpSrc => Mf::TcpSrc,
        Mf::TpDst => Mf::TcpDst,
        f => f,
    };
    let kind_of = |x: &Entry| kind_mf(x.kind) == target;
    let regs = match target {
        Mf::Reg(i) => lookup(NXM_NX, i),
        Mf::Xxreg(i) => lookup(NXM_NX, 111 + i),
        Mf::Xreg(i) => lookup(OXM_PACKET_REGS, i),
        _ => None,
    };
    if regs.is_some() {
        return regs;
    }
    let oxm = FIXED.iter().find(|x| x.class >= OXM_BASIC && kind_of(x)).copied();
    let nxm = FIXED.iter().find(|x| x.class < OXM_BASIC && kind_of(x)).copied();
    match (oxm, nxm) {
        (Some(o), _) if version >= o.since && version >= V12 => Some(o),
        (_, Some(n)) => Some(n),
        (o, None) => o,
    }
}

/// The header (without mask) that `version` prefers for field `mf`, or
/// `None` when the field has no wire form. `tp_src`/`tp_dst` take TCP's
/// headers; `dl_vlan` and `dl_vlan_pcp` take OXM's `vlan_vid`/`vlan_pcp`.
pub fn field_header(mf: Mf, version: Version) -> Option<u32> {
    preferred(mf, version).map(|x| entry_header(&x, false))
}

/// What a header names: the field, whether a mask follows, and the value
/// length in bytes. `None` for unknown headers, or a length that does not
/// fit the field. For experimenter headers pass only the first 32 bits; the
/// ONF `tcp_flags` is then recognised with the 4-byte experimenter id
/// counted in its length.
pub fn field_from_header(h: u32) -> Option<(Mf, bool, usize)> {
    let hasmask = header_hasmask(h);
    let (class, field, len) = (header_class(h), header_field(h), header_len(h));
    if class == OXM_EXPERIMENTER {
        let vlen = if hasmask { 4 } else { 2 };
        return (field == 42 && len == 4 + vlen).then_some((Mf::TcpFlags, hasmask, 2));
    }
    let x = lookup(class, field)?;
    let want = usize::from(x.len) * if hasmask { 2 } else { 1 };
    (want == len).then_some((kind_mf(x.kind), hasmask, usize::from(x.len)))
}

/// The name OVS gives a header's field (`OXM_OF_IPV4_SRC`), for messages.
pub fn header_name(h: u32) -> String {
    match lookup(header_class(h), header_field(h)) {
        Some(x) if x.name.ends_with("REG") => format!("{}{}", x.name, header_field(h)),
        Some(x) if x.name.ends_with("XXREG") => format!("{}{}", x.name, header_field(h) - 111),
        Some(x) => x.name.to_string(),
        None => format!("header {h:#010x}"),
    }
}

fn be_value(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x))
}

fn put_be(out: &mut Vec<u8>, v: u128, len: usize) {
    out.extend_from_slice(&v.to_be_bytes()[16 - len..]);
}

fn low(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// Maps an OpenFlow 1.1+ 32-bit port onto the 16-bit space: reserved ports
/// 0xffffff00 and up become 0xff00 and up; 0xff00..0xfffffeff have no
/// 16-bit form.
pub fn port_from_ofp11(p: u32) -> Option<OfPort> {
    if p < u32::from(OfPort::MAX.0) {
        Some(OfPort(p as u16))
    } else if p >= 0xffff_ff00 {
        Some(OfPort((p - 0xffff_0000) as u16))
    } else {
        None
    }
}

/// The OpenFlow 1.1+ 32-bit form of a port.
pub fn port_to_ofp11(p: OfPort) -> u32 {
    if p >= OfPort::MAX {
        u32::from(p.0) + 0xffff_0000
    } else {
        u32::from(p.0)
    }
}

/// One decoded TLV: the field, its value and mask (all ones when
/// unmasked), the bytes as given.
#[derive(Clone, Copy, Debug)]
pub struct Tlv {
    /// The 32-bit header (for experimenter fields, the first 32 bits).
    pub header: u32,
    /// The field.
    pub mf: Mf,
    /// The value.
    pub value: u128,
    /// The mask.
    pub mask: u128,
}

/// Splits the next TLV off `r`: its header, entry and raw value/mask.
fn next_tlv(r: &mut Reader<'_>) -> Result<(u32, Entry, u128, Option<u128>), OfpError> {
    if r.remaining() < 4 {
        return Err(OfpErr::BadMatchBadLen
            .with(format!("{} bytes left in the match: too short for a header", r.remaining())));
    }
    let h = r.u32()?;
    let hasmask = header_hasmask(h);
    let mut len = header_len(h);
    let (class, field) = (header_class(h), header_field(h));
    let x = if class == OXM_EXPERIMENTER {
        if len < 4 || r.remaining() < 4 {
            return Err(OfpErr::BadMatchBadLen
                .with(format!("experimenter field {h:#010x} is too short for its id")));
        }
        let exp = r.u32()?;
        len -= 4;
        if exp != ONF_EXPERIMENTER || field != 42 {
            return Err(OfpErr::BadMatchBadField
                .with(format!("experimenter {exp:#010x} field {field} is not supported")));
        }
        e(OXM_EXPERIMENTER, 42, 2, P(Mf::TcpFlags), true, V13, "ONFOXM_ET_TCP_FLAGS")
    } else {
        lookup(class, field).ok_or_else(|| {
            OfpErr::BadMatchBadField
                .with(format!("unknown field: class {class:#06x} field {field} ({h:#010x})"))
        })?
    };
    let name = || header_name(h);
    if hasmask && !x.maskable {
        return Err(OfpErr::BadMatchBadMask.with(format!("{} cannot be masked", name())));
    }
    let want = usize::from(x.len) * if hasmask { 2 } else { 1 };
    if len != want {
        return Err(
            OfpErr::BadMatchBadLen.with(format!("{} has length {len}, expected {want}", name()))
        );
    }
    if r.remaining() < len {
        return Err(OfpErr::BadMatchBadLen.with(format!(
            "{} needs {len} bytes but the match has {} left",
            name(),
            r.remaining()
        )));
    }
    let v = be_value(r.bytes(usize::from(x.len))?);
    let m = if hasmask { Some(be_value(r.bytes(usize::from(x.len))?)) } else { None };
    Ok((h, x, v, m))
}

/// True when `m` holds `p` (with ICMP type and code serving ICMPv6 too).
fn prereq_ok(p: Prereq, m: &OfMatch) -> bool {
    p.holds_in_match(m)
}

/// Decodes a list of NXM/OXM TLVs (exactly `buf`, no padding) into a match.
pub fn decode_tlvs(buf: &[u8], version: Version) -> Result<OfMatch, OfpError> {
    let _ = version;
    let mut m = OfMatch::catchall();
    let mut seen: Vec<Mf> = Vec::new();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (h, x, v, mask) = next_tlv(&mut r)?;
        let name = header_name(h);
        let s = slot(x.kind);
        if seen.contains(&s) {
            return Err(OfpErr::BadMatchDupField.with(format!("{name} appears twice")));
        }
        seen.push(s);
        let bad_value = |what: String| OfpErr::BadMatchBadValue.with(what);
        let prereq = match x.kind {
            Kind::Plain(f) => f.spec().prereq,
            Kind::IpTos => Prereq::Ip,
            _ => Prereq::None,
        };
        if !prereq_ok(prereq, &m) {
            return Err(OfpErr::BadMatchBadPrereq.with(format!(
                "{name} needs {prereq:?} to be matched first (eth_type/ip_proto/icmp_type)"
            )));
        }
        match x.kind {
            Kind::Plain(f) => {
                let bits = f.bits();
                if v & !low(bits) != 0 {
                    return Err(bad_value(format!("{name} value {v:#x} exceeds {bits} bits")));
                }
                let mk = mask.unwrap_or(u128::MAX) & low(bits);
                m.set_masked(f, v, mk);
            }
            Kind::InPort32 => {
                let p = port_from_ofp11(v as u32).ok_or_else(|| {
                    bad_value(format!("{name} {v:#x} is not a valid OpenFlow 1.1+ port"))
                })?;
                m.set(Mf::InPort, u128::from(p.0));
            }
            Kind::VlanVid => {
                let lim = u128::from(vlan::VID_MASK | OFPVID_PRESENT);
                if v & !lim != 0 {
                    return Err(bad_value(format!("{name} value {v:#x} exceeds 13 bits")));
                }
                let mk = mask.unwrap_or(lim) & lim;
                let (tci, tm) = m.get(Mf::VlanTci);
                let tm = (tm & !lim) | mk;
                m.set_masked(Mf::VlanTci, (tci & !lim) | (v & mk), tm);
            }
            Kind::VlanPcp => {
                let (tci, tm) = m.get(Mf::VlanTci);
                let cfi = u128::from(vlan::CFI);
                if tm & cfi == 0 || tci & cfi == 0 {
                    return Err(OfpErr::BadMatchBadPrereq
                        .with(format!("{name} needs vlan_vid with OFPVID_PRESENT first")));
                }
                if v > 7 {
                    return Err(bad_value(format!("{name} value {v} exceeds 3 bits")));
                }
                let pm = u128::from(vlan::PCP_MASK);
                m.set_masked(Mf::VlanTci, (tci & !pm) | (v << 13), tm | pm);
            }
            Kind::IpTos => {
                if v & 3 != 0 {
                    return Err(bad_value(format!(
                        "{name} value {v:#x} has ECN bits set (only DSCP may be matched)"
                    )));
                }
                m.set(Mf::IpDscp, v >> 2);
            }
        }
    }
    Ok(m)
}

struct Enc<'a> {
    out: &'a mut Vec<u8>,
    version: Version,
    m: &'a OfMatch,
}

impl Enc<'_> {
    fn raw(&mut self, x: &Entry, v: u128, mask: u128) {
        let full = low(u32::from(x.len) * 8);
        let masked = x.maskable && mask & full != full;
        self.out.extend_from_slice(&entry_header(x, masked).to_be_bytes());
        put_be(self.out, v & mask, usize::from(x.len));
        if masked {
            put_be(self.out, mask, usize::from(x.len));
        }
    }

    /// Writes field `f` with its match value and mask, if matched.
    fn put(&mut self, f: Mf) {
        let (v, mask) = self.m.get(f);
        if mask == 0 {
            return;
        }
        if let Some(x) = preferred(f, self.version) {
            let mask = if mask == low(f.bits()) { low(u32::from(x.len) * 8) } else { mask };
            self.raw(&x, v, mask);
        }
    }

    /// Writes `f` with value `v`, unmasked, if `wire` is matched at all.
    fn put_exact(&mut self, f: Mf, v: u128) {
        if let Some(x) = preferred(f, self.version) {
            self.raw(&x, v, u128::MAX);
        }
    }
}

/// Appends `m` as NXM (OpenFlow 1.0) or OXM (1.2+) TLVs in OVS's order;
/// returns the bytes written (no padding). Fields no TLV can carry
/// (`skb_priority`, `tun_tos`, `tun_ttl`, partial masks on unmaskable
/// fields) are left out.
pub fn encode_tlvs(m: &OfMatch, version: Version, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let oxm = version >= V12;
    let mut e = Enc { out, version, m };
    e.put(Mf::DpHash);
    e.put(Mf::RecircId);
    let (port, pmask) = m.get(Mf::InPort);
    if pmask != 0 {
        if oxm {
            let x = lookup(OXM_BASIC, 0).expect("in_port");
            e.raw(&x, u128::from(port_to_ofp11(OfPort(port as u16))), u128::MAX);
        } else {
            e.put(Mf::InPort);
        }
    }
    e.put(Mf::DlSrc);
    e.put(Mf::DlDst);
    e.put(Mf::DlType);
    // 802.1Q.
    let (tci, tmask) = m.get(Mf::VlanTci);
    let (tci, tmask) = (tci as u16, tmask as u16);
    if tmask != 0 {
        let vidcfi = vlan::VID_MASK | vlan::CFI;
        let pcp = tmask & vlan::PCP_MASK;
        let oxm_can = pcp == 0 || (pcp == vlan::PCP_MASK && tmask & tci & vlan::CFI != 0);
        if oxm && oxm_can {
            let x = lookup(OXM_BASIC, 6).expect("vlan_vid");
            if tmask & vidcfi != 0 {
                e.raw(&x, u128::from(tci & vidcfi), u128::from(tmask & vidcfi));
            }
            if pcp != 0 {
                let x = lookup(OXM_BASIC, 7).expect("vlan_pcp");
                e.raw(&x, u128::from(tci >> 13), u128::MAX);
            }
        } else {
            let x = lookup(NXM_OF, 4).expect("vlan_tci");
            e.raw(&x, u128::from(tci), u128::from(tmask));
        }
    }
    // L3 and L4.
    let dl = if m.wc.is_exact(Mf::DlType) { Some(m.flow.dl_type()) } else { None };
    let proto = if m.wc.is_exact(Mf::NwProto) { Some(m.flow.nw_proto()) } else { None };
    match dl {
        Some(eth_type::IPV4) | Some(eth_type::IPV6) => {
            if dl == Some(eth_type::IPV4) {
                e.put(Mf::NwSrc);
                e.put(Mf::NwDst);
            } else {
                e.put(Mf::Ipv6Src);
                e.put(Mf::Ipv6Dst);
                e.put(Mf::Ipv6Label);
            }
            e.put(Mf::IpFrag);
            let (dscp, dm) = m.get(Mf::IpDscp);
            if dm != 0 {
                if oxm {
                    e.put_exact(Mf::IpDscp, dscp);
                } else {
                    let x = lookup(NXM_OF, 5).expect("ip_tos");
                    e.raw(&x, dscp << 2, u128::MAX);
                }
            }
            let (ecn, em) = m.get(Mf::NwEcn);
            if em != 0 {
                e.put_exact(Mf::NwEcn, ecn);
            }
            let (ttl, tm) = m.get(Mf::NwTtl);
            if tm != 0 {
                e.put_exact(Mf::NwTtl, ttl);
            }
            if let Some(p) = proto {
                e.put(Mf::NwProto);
                let v6 = dl == Some(eth_type::IPV6);
                match p {
                    6 => {
                        e.put(Mf::TcpSrc);
                        e.put(Mf::TcpDst);
                        e.put(Mf::TcpFlags);
                    }
                    17 => {
                        e.put(Mf::UdpSrc);
                        e.put(Mf::UdpDst);
                    }
                    132 => {
                        e.put(Mf::SctpSrc);
                        e.put(Mf::SctpDst);
                    }
                    1 if !v6 => {
                        let (t, tm) = m.get(Mf::IcmpType);
                        if tm != 0 {
                            e.put_exact(Mf::IcmpType, t);
                        }
                        let (c, cm) = m.get(Mf::IcmpCode);
                        if cm != 0 {
                            e.put_exact(Mf::IcmpCode, c);
                        }
                    }
                    58 if v6 => {
                        let (t, tm) = m.get(Mf::Icmpv6Type);
                        if tm != 0 {
                            e.put_exact(Mf::Icmpv6Type, t);
                        }
                        let (c, cm) = m.get(Mf::Icmpv6Code);
                        if cm != 0 {
                            e.put_exact(Mf::Icmpv6Code, c);
                        }
                        if tm == 0xff && (t == 135 || t == 136) {
                            e.put(Mf::NdTarget);
                            e.put(if t == 135 { Mf::NdSll } else { Mf::NdTll });
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(eth_type::ARP) | Some(eth_type::RARP) => {
            let (op, om) = m.get(Mf::ArpOp);
            if om != 0 {
                e.put_exact(Mf::ArpOp, op);
            }
            e.put(Mf::ArpSpa);
            e.put(Mf::ArpTpa);
            e.put(Mf::ArpSha);
            e.put(Mf::ArpTha);
        }
        _ => {}
    }
    e.put(Mf::TunId);
    e.put(Mf::TunFlags);
    e.put(Mf::TunSrc);
    e.put(Mf::TunDst);
    e.put(Mf::TunIpv6Src);
    e.put(Mf::TunIpv6Dst);
    if version >= V15 {
        for i in 0..8 {
            e.put(Mf::Xreg(i));
        }
    } else {
        for i in 0..16 {
            e.put(Mf::Reg(i));
        }
    }
    e.put(Mf::PktMark);
    e.put(Mf::Metadata);
    e.out.len() - start
}

/// `OFPMT_OXM`, the match type of OpenFlow 1.2+.
pub const OFPMT_OXM: u16 = 1;
/// `OFPMT_STANDARD`, OpenFlow 1.1's fixed match (not supported).
pub const OFPMT_STANDARD: u16 = 0;

/// Reads an OpenFlow 1.1+ `struct ofp_match` (type, length, TLVs, padding
/// to 8 bytes) from `r`.
pub fn decode_ofp_match(r: &mut Reader<'_>, version: Version) -> Result<OfMatch, OfpError> {
    if r.remaining() < 4 {
        return Err(OfpErr::BadMatchBadLen
            .with(format!("{} bytes left: too short for a match header", r.remaining())));
    }
    let ty = r.u16()?;
    let len = usize::from(r.u16()?);
    if ty != OFPMT_OXM {
        return Err(OfpErr::BadMatchBadType
            .with(format!("match type {ty} is not supported (only OFPMT_OXM, 1)")));
    }
    if len < 4 {
        return Err(OfpErr::BadMatchBadLen.with(format!("match length {len} is below 4")));
    }
    let padded = len.div_ceil(8) * 8;
    if r.remaining() + 4 < padded {
        return Err(OfpErr::BadMatchBadLen.with(format!(
            "match length {len} (padded {padded}) but only {} bytes remain",
            r.remaining() + 4
        )));
    }
    let tlvs = r.bytes(len - 4)?;
    r.skip(padded - len)?;
    decode_tlvs(tlvs, version)
}

/// Appends `m` as an OpenFlow 1.1+ `struct ofp_match` of type `OFPMT_OXM`,
/// padded to 8 bytes; returns the match's length before padding.
pub fn encode_ofp_match(m: &OfMatch, version: Version, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&OFPMT_OXM.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    let n = encode_tlvs(m, version, out);
    let len = (4 + n) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    pad8(out);
    usize::from(len)
}

/// Decodes one TLV with its field and (aligned) value and mask, for
/// `set_field` actions: `buf` must hold exactly one TLV.
pub fn decode_one(buf: &[u8]) -> Result<Tlv, OfpError> {
    let mut r = Reader::new(buf);
    let (h, x, v, m) = next_tlv(&mut r)?;
    if !r.is_empty() {
        return Err(OfpErr::BadMatchBadLen.with(format!(
            "{} bytes follow {}",
            r.remaining(),
            header_name(h)
        )));
    }
    let mf = kind_mf(x.kind);
    let (v, m) = match x.kind {
        Kind::InPort32 => {
            let p = port_from_ofp11(v as u32).ok_or_else(|| {
                OfpErr::BadMatchBadValue.with(format!("in_port {v:#x} is not a valid port"))
            })?;
            (u128::from(p.0), low(16))
        }
        Kind::VlanVid => (v & u128::from(vlan::VID_MASK), low(12)),
        Kind::IpTos => (v, m.unwrap_or(low(8))),
        _ => (v, m.unwrap_or(low(mf.bits())) & low(mf.bits())),
    };
    if v & !low(mf.bits()) != 0 {
        return Err(OfpErr::BadMatchBadValue.with(format!(
            "{} value {v:#x} exceeds {} bits",
            header_name(h),
            mf.bits()
        )));
    }
    Ok(Tlv { header: h, mf, value: v, mask: m })
}

/// Appends one TLV for field `mf` in `version`'s preferred header with
/// value `v` (aligned to the field), masked by `mask` unless it is all
/// ones. Returns false when the field has no wire form.
pub fn encode_one(mf: Mf, v: u128, mask: u128, version: Version, out: &mut Vec<u8>) -> bool {
    let Some(x) = preferred(mf, version) else { return false };
    let full = low(mf.bits());
    let (v, mask) = match x.kind {
        Kind::InPort32 => (u128::from(port_to_ofp11(OfPort(v as u16))), u128::MAX),
        Kind::VlanVid => (v | u128::from(OFPVID_PRESENT), u128::MAX),
        _ if mask & full == full => (v, u128::MAX),
        _ if !x.maskable => (v, u128::MAX),
        _ => (v, mask),
    };
    let mut e = Enc { out, version, m: &OfMatch::catchall() };
    e.raw(&x, v, mask);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{parse_match, NoNames};

    fn rt(text: &str, v: Version) -> Vec<u8> {
        let m = parse_match(text, &NoNames).unwrap();
        let mut b = Vec::new();
        encode_tlvs(&m, v, &mut b);
        let back = decode_tlvs(&b, v).unwrap_or_else(|e| panic!("{text} {v}: {e}"));
        assert_eq!(back, m, "{text} {v}");
        b
    }

    #[test]
    fn headers() {
        assert_eq!(field_header(Mf::InPort, V10), Some(0x0000_0002));
        assert_eq!(field_header(Mf::InPort, V13), Some(0x8000_0004));
        assert_eq!(field_header(Mf::Reg(3), V13), Some(0x0001_0604));
        assert_eq!(field_header(Mf::TunId, V12), Some(0x0001_2008));
        assert_eq!(field_header(Mf::TunId, V13), Some(0x8000_4c08));
        assert_eq!(field_header(Mf::Metadata, V10), Some(0x8000_0408));
        assert_eq!(field_header(Mf::SkbPriority, V13), None);
        assert_eq!(field_from_header(0x8000_1708), Some((Mf::NwSrc, true, 4)));
        assert_eq!(field_from_header(0x8000_1705), None);
        assert_eq!(header_name(0x0001_0604), "NXM_NX_REG3");
    }

    #[test]
    fn matches_round_trip() {
        for v in [V10, V12, V13, V15] {
            for t in [
                "in_port=LOCAL,dl_vlan=10,dl_vlan_pcp=3",
                "vlan_tci=0x3064/0xf0ff",
                "vlan_tci=0/0x1000,dl_src=00:00:00:00:00:01/ff:00:00:00:00:00",
                "tcp,nw_src=198.18.0.0/16,tp_dst=80,tcp_flags=+syn-ack,nw_tos=16,nw_ecn=1,nw_ttl=9",
                "icmp6,icmp_type=135,nd_target=2001:db8::1,nd_sll=00:00:00:00:00:01",
                "arp,arp_op=1,arp_spa=198.18.0.1,arp_tha=00:00:00:00:00:02",
                "reg0=5,reg7=0x5/0xff,metadata=0x5,pkt_mark=3,tun_id=0x9,tun_src=198.18.0.1",
                "ipv6,ipv6_label=0x5,ip_frag=later",
                "sctp,tp_src=5",
                "icmp,icmp_type=8,icmp_code=0",
            ] {
                rt(t, v);
            }
        }
    }

    #[test]
    fn errors_name_the_field() {
        // ipv4_src without eth_type.
        let b = [0x80, 0x00, 0x16, 0x04, 1, 2, 3, 4];
        let e = decode_tlvs(&b, V13).unwrap_err();
        assert_eq!(e.code, OfpErr::BadMatchBadPrereq);
        assert!(e.detail.contains("OXM_OF_IPV4_SRC"), "{e}");
        let dup = [0x80, 0x00, 0x0a, 0x02, 8, 0, 0x00, 0x00, 0x06, 0x02, 8, 0];
        assert_eq!(decode_tlvs(&dup, V13).unwrap_err().code, OfpErr::BadMatchDupField);
        let masked_type = [0x80, 0x00, 0x0b, 0x04, 8, 0, 0xff, 0xff];
        assert_eq!(decode_tlvs(&masked_type, V13).unwrap_err().code, OfpErr::BadMatchBadMask);
        let bad_len = [0x80, 0x00, 0x0a, 0x03, 8, 0, 0];
        assert_eq!(decode_tlvs(&bad_len, V13).unwrap_err().code, OfpErr::BadMatchBadLen);
        let unknown = [0x80, 0x00, 0x7e, 0x01, 0];
        assert_eq!(decode_tlvs(&unknown, V13).unwrap_err().code, OfpErr::BadMatchBadField);
        let vid = [0x80, 0x00, 0x0c, 0x02, 0x20, 0];
        let e = decode_tlvs(&vid, V13).unwrap_err();
        assert_eq!(e.code, OfpErr::BadMatchBadValue);
        assert!(e.detail.contains("VLAN_VID"), "{e}");
        assert!(decode_tlvs(&[0x80, 0], V13).is_err());
    }
}
