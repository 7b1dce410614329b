//! Flow keys and masks in OVS's odp syntax.

use super::{
    format_fields, format_flags, format_vlan_tci, hex, parse_fields, parse_flags, parse_num,
    parse_vlan_tci, split_call, split_list, split_mask, FDesc, Kind, OdpParseError, Result,
    TCP_FLAG_NAMES, TUN_FLAG_NAMES,
};
use rvs_packet::flow::{Field, FRAG_LATER, TNL_F_KEY, VLAN_CFI};
use rvs_packet::{FlowKey, Mask};
use std::collections::HashSet;

/// The exact mask of a field in rvs's layout.
fn full(f: Field) -> u128 {
    let bits = f.spec().bits;
    if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

type KDesc = (&'static str, Kind, u128, Field);

const U8: u128 = 0xff;
const U16: u128 = 0xffff;
const U32: u128 = 0xffff_ffff;

const ETH: &[KDesc] = &[("src", Kind::Mac, 0, Field::EthSrc), ("dst", Kind::Mac, 0, Field::EthDst)];
const IPV4: &[KDesc] = &[
    ("src", Kind::Ip4, 0, Field::NwSrc),
    ("dst", Kind::Ip4, 0, Field::NwDst),
    ("proto", Kind::Dec, U8, Field::NwProto),
    ("tos", Kind::Hex, U8, Field::NwTos),
    ("ttl", Kind::Dec, U8, Field::NwTtl),
    ("frag", Kind::Frag, U8, Field::NwFrag),
];
const IPV6: &[KDesc] = &[
    ("src", Kind::Ip6, 0, Field::Ipv6Src),
    ("dst", Kind::Ip6, 0, Field::Ipv6Dst),
    ("label", Kind::Hex, 0xfffff, Field::Ipv6Label),
    ("proto", Kind::Dec, U8, Field::NwProto),
    ("tclass", Kind::Hex, U8, Field::NwTos),
    ("hlimit", Kind::Dec, U8, Field::NwTtl),
    ("frag", Kind::Frag, U8, Field::NwFrag),
];
const PORTS: &[KDesc] =
    &[("src", Kind::Dec, U16, Field::TpSrc), ("dst", Kind::Dec, U16, Field::TpDst)];
const ICMP: &[KDesc] =
    &[("type", Kind::Dec, U8, Field::TpSrc), ("code", Kind::Dec, U8, Field::TpDst)];
const ARP: &[KDesc] = &[
    ("sip", Kind::Ip4, 0, Field::NwSrc),
    ("tip", Kind::Ip4, 0, Field::NwDst),
    ("op", Kind::Dec, U8, Field::NwProto),
    ("sha", Kind::Mac, 0, Field::ArpSha),
    ("tha", Kind::Mac, 0, Field::ArpTha),
];
const ND: &[KDesc] = &[
    ("target", Kind::Ip6, 0, Field::NdTarget),
    ("sll", Kind::Mac, 0, Field::ArpSha),
    ("tll", Kind::Mac, 0, Field::ArpTha),
];
const TUNNEL: &[KDesc] = &[
    ("tun_id", Kind::Hex, u64::MAX as u128, Field::TunId),
    ("src", Kind::Ip4, 0, Field::TunIpv4Src),
    ("dst", Kind::Ip4, 0, Field::TunIpv4Dst),
    ("ipv6_src", Kind::Ip6, 0, Field::TunIpv6Src),
    ("ipv6_dst", Kind::Ip6, 0, Field::TunIpv6Dst),
    ("tos", Kind::Hex, U8, Field::TunTos),
    ("ttl", Kind::Dec, U8, Field::TunTtl),
    ("tp_src", Kind::Dec, U16, Field::TunTpSrc),
    ("tp_dst", Kind::Dec, U16, Field::TunTpDst),
];
const MPLS: [Field; 3] = [Field::MplsLse0, Field::MplsLse1, Field::MplsLse2];

/// The 32-bit scalar attributes: name, field, value written in hex.
const SCALARS: &[(&str, Field, bool)] = &[
    ("skb_priority", Field::SkbPriority, true),
    ("skb_mark", Field::PktMark, true),
    ("recirc_id", Field::RecircId, true),
    ("dp_hash", Field::DpHash, true),
    ("in_port", Field::InPort, false),
];

fn descs(k: &[KDesc]) -> Vec<FDesc> {
    k.iter()
        .map(|&(name, kind, max, f)| FDesc {
            name,
            kind,
            max: if max == 0 { full(f) } else { max },
            full: full(f),
        })
        .collect()
}

fn any_mask(m: &Mask, k: &[KDesc]) -> bool {
    k.iter().any(|d| m.get(d.3) != 0)
}

/// Prints `name(fields)` when any field's mask is non-zero.
fn push_attr(out: &mut Vec<String>, name: &str, k: &FlowKey, m: &Mask, fields: &[KDesc]) {
    if !any_mask(m, fields) {
        return;
    }
    let vals: Vec<u128> = fields.iter().map(|d| k.get(d.3)).collect();
    let masks: Vec<u128> = fields.iter().map(|d| m.get(d.3)).collect();
    let mut parts = Vec::new();
    format_fields(&mut parts, &descs(fields), &vals, Some(&masks), false);
    out.push(format!("{name}({})", parts.join(",")));
}

fn push_scalar(out: &mut Vec<String>, name: &str, f: Field, hexval: bool, k: &FlowKey, m: &Mask) {
    let mv = m.get(f);
    if mv == 0 {
        return;
    }
    let v = k.get(f);
    let mut s = if hexval { hex(v) } else { v.to_string() };
    if mv != full(f) {
        s += &format!("/{}", hex(mv));
    }
    out.push(format!("{name}({s})"));
}

/// The mask [`format_key`] uses when given none: every attribute the key's
/// own headers carry, matched exactly (`recirc_id`, `in_port`, `eth`, any
/// VLAN tags, `eth_type`, the L3 attribute its `eth_type` names, the L4
/// attribute its IP protocol names unless it is a later fragment), plus
/// `skb_priority`, `skb_mark`, `dp_hash` and the tunnel fields that are
/// non-zero.
pub fn implied_mask(k: &FlowKey) -> Mask {
    let mut m = Mask::zero();
    let exact = |m: &mut Mask, fs: &[Field]| fs.iter().for_each(|&f| m.set_exact(f));
    exact(&mut m, &[Field::RecircId, Field::InPort, Field::EthSrc, Field::EthDst]);
    for f in [Field::SkbPriority, Field::PktMark, Field::DpHash] {
        if k.get(f) != 0 {
            m.set_exact(f);
        }
    }
    let addrs = [Field::TunIpv4Src, Field::TunIpv4Dst, Field::TunIpv6Src, Field::TunIpv6Dst];
    if addrs.iter().any(|&f| k.get(f) != 0) {
        let flags = k.get(Field::TunFlags) as u16;
        for f in
            addrs.into_iter().chain([Field::TunTos, Field::TunTpSrc, Field::TunTpDst, Field::TunId])
        {
            if k.get(f) != 0 {
                m.set_exact(f);
            }
        }
        if flags & TNL_F_KEY != 0 {
            m.set_exact(Field::TunId);
        }
        exact(&mut m, &[Field::TunTtl, Field::TunFlags]);
    }
    // A level without a tag is matched as "no tag" (the whole TCI), which is
    // what a key without `vlan()` means.
    if k.vlan0_tci() & VLAN_CFI != 0 {
        exact(&mut m, &[Field::Vlan0Tpid, Field::Vlan0Tci]);
        if k.vlan1_tci() & VLAN_CFI != 0 {
            exact(&mut m, &[Field::Vlan1Tpid, Field::Vlan1Tci]);
        } else {
            m.set_exact(Field::Vlan1Tci);
        }
    } else {
        m.set_exact(Field::Vlan0Tci);
    }
    m.set_exact(Field::EthType);
    let ip = match k.eth_type() {
        0x0800 => {
            IPV4.iter().for_each(|d| m.set_exact(d.3));
            true
        }
        0x86dd => {
            IPV6.iter().for_each(|d| m.set_exact(d.3));
            true
        }
        0x0806 | 0x8035 => {
            ARP.iter().for_each(|d| m.set_exact(d.3));
            false
        }
        0x8847 | 0x8848 => {
            for f in MPLS {
                m.set_exact(f);
                if k.get(f) & 0x100 != 0 {
                    break; // bottom of stack
                }
            }
            false
        }
        _ => false,
    };
    if ip && k.nw_frag() & FRAG_LATER == 0 {
        let v6 = k.eth_type() == 0x86dd;
        match k.nw_proto() {
            6 => exact(&mut m, &[Field::TpSrc, Field::TpDst, Field::TcpFlags]),
            17 | 132 => exact(&mut m, &[Field::TpSrc, Field::TpDst]),
            1 if !v6 => exact(&mut m, &[Field::TpSrc, Field::TpDst]),
            58 if v6 => {
                exact(&mut m, &[Field::TpSrc, Field::TpDst]);
                if matches!(k.tp_src(), 135 | 136) && k.tp_dst() == 0 {
                    ND.iter().for_each(|d| m.set_exact(d.3));
                }
            }
            _ => {}
        }
    }
    m
}

/// Prints `key` under `mask` in OVS's odp syntax, as `dpctl/dump-flows`
/// does: attributes and fields whose mask is zero are left out, partially
/// masked fields print as `value/mask`. Without a mask, prints the key under
/// [`implied_mask`].
///
/// ```
/// # use rvs_datapath::odp::text::{format_key, parse_key};
/// let s = "recirc_id(0),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=198.18.0.0/255.255.255.0,frag=no)";
/// let (k, m) = parse_key(s).unwrap();
/// assert_eq!(format_key(&k, Some(&m)), s);
/// ```
pub fn format_key(key: &FlowKey, mask: Option<&Mask>) -> String {
    let m = mask.copied().unwrap_or_else(|| implied_mask(key));
    let k = key.masked(&m);
    let mut out = Vec::new();
    push_scalar(&mut out, "skb_priority", Field::SkbPriority, true, &k, &m);
    format_tunnel(&mut out, &k, &m);
    for &(name, f, h) in &SCALARS[1..] {
        push_scalar(&mut out, name, f, h, &k, &m);
    }
    push_attr(&mut out, "eth", &k, &m, ETH);
    format_l2_rest(&mut out, &k, &m, 0);
    out.join(",")
}

fn format_tunnel(out: &mut Vec<String>, k: &FlowKey, m: &Mask) {
    let fm = m.get(Field::TunFlags) as u16;
    if !any_mask(m, TUNNEL) && fm == 0 {
        return;
    }
    let vals: Vec<u128> = TUNNEL.iter().map(|d| k.get(d.3)).collect();
    let masks: Vec<u128> = TUNNEL.iter().map(|d| m.get(d.3)).collect();
    let mut parts = Vec::new();
    format_fields(&mut parts, &descs(TUNNEL), &vals, Some(&masks), false);
    if fm != 0 {
        let fv = k.get(Field::TunFlags) as u16;
        parts.push(format!("flags({})", format_flags(TUN_FLAG_NAMES, fv, fm, 0xffff)));
    }
    out.push(format!("tunnel({})", parts.join(",")));
}

/// From the VLAN tag at `level` inwards: `eth_type(tpid),vlan(..),encap(..)`
/// for a tag, else `eth_type`, L3 and L4.
fn format_l2_rest(out: &mut Vec<String>, k: &FlowKey, m: &Mask, level: usize) {
    let tags = [(Field::Vlan0Tpid, Field::Vlan0Tci), (Field::Vlan1Tpid, Field::Vlan1Tci)];
    if let Some(&(tpid, tci)) = tags.get(level) {
        // "No tag here", matched exactly, is written as no vlan() at all
        // (OVS's reading of a key whose eth_type has no vlan beside it).
        let untagged = k.get(tci) == 0 && m.get(tci) == 0xffff && m.get(tpid) == 0;
        if !untagged && (m.get(tpid) != 0 || m.get(tci) != 0) {
            push_eth_type(out, k, m, tpid);
            out.push(format!("vlan({})", format_vlan_tci(k.get(tci) as u16, m.get(tci) as u16)));
            let mut inner = Vec::new();
            format_l2_rest(&mut inner, k, m, level + 1);
            out.push(format!("encap({})", inner.join(",")));
            return;
        }
    }
    push_eth_type(out, k, m, Field::EthType);
    let et = k.eth_type();
    let ip = match et {
        0x0800 => {
            push_attr(out, "ipv4", k, m, IPV4);
            true
        }
        0x86dd => {
            push_attr(out, "ipv6", k, m, IPV6);
            true
        }
        0x0806 | 0x8035 => {
            push_attr(out, "arp", k, m, ARP);
            false
        }
        0x8847 | 0x8848 => {
            format_mpls(out, k, m);
            false
        }
        _ => false,
    };
    if !ip {
        return;
    }
    let v6 = et == 0x86dd;
    match k.nw_proto() {
        6 => {
            push_attr(out, "tcp", k, m, PORTS);
            let fm = m.get(Field::TcpFlags) as u16;
            if fm != 0 {
                let fv = k.get(Field::TcpFlags) as u16;
                out.push(format!("tcp_flags({})", format_flags(TCP_FLAG_NAMES, fv, fm, 0x0fff)));
            }
        }
        17 => push_attr(out, "udp", k, m, PORTS),
        132 => push_attr(out, "sctp", k, m, PORTS),
        1 if !v6 => push_attr(out, "icmp", k, m, ICMP),
        58 if v6 => {
            push_attr(out, "icmpv6", k, m, ICMP);
            push_attr(out, "nd", k, m, ND);
        }
        _ => {}
    }
}

fn push_eth_type(out: &mut Vec<String>, k: &FlowKey, m: &Mask, f: Field) {
    let mv = m.get(f);
    if mv == 0 {
        return;
    }
    let mut s = format!("eth_type({:#06x}", k.get(f));
    if mv != 0xffff {
        s += &format!("/{mv:#06x}");
    }
    out.push(s + ")");
}

fn format_mpls(out: &mut Vec<String>, k: &FlowKey, m: &Mask) {
    let Some(last) = MPLS.iter().rposition(|&f| m.get(f) != 0) else {
        return;
    };
    let exact = MPLS[..=last].iter().all(|&f| m.get(f) == U32);
    let lse = |v: u128| (v >> 12, (v >> 9) & 7, v & 0xff, (v >> 8) & 1);
    let mut parts = Vec::new();
    for &f in &MPLS[..=last] {
        let (l, tc, ttl, bos) = lse(k.get(f));
        if exact {
            parts.push(format!("label={l},tc={tc},ttl={ttl},bos={bos}"));
        } else {
            let (ml, mtc, mttl, mbos) = lse(m.get(f));
            parts.push(format!(
                "label={l}/{ml:#x},tc={tc}/{mtc:x},ttl={ttl}/{mttl:#x},bos={bos}/{mbos:x}"
            ));
        }
    }
    out.push(format!("mpls({})", parts.join(",")));
}

struct KeyParse {
    key: FlowKey,
    mask: Mask,
    /// Attributes seen at any level (all but eth_type, vlan and encap).
    seen: HashSet<String>,
}

impl KeyParse {
    fn set(&mut self, f: Field, v: u128, m: u128) {
        self.key.set(f, v);
        self.mask.set(f, m);
    }

    fn fields(&mut self, attr: &str, body: &str, fields: &[KDesc]) -> Result<()> {
        let p = parse_fields(attr, &descs(fields), body, |_| Ok(false))?;
        for (i, d) in fields.iter().enumerate() {
            if p.seen[i] {
                self.set(d.3, p.vals[i], p.masks[i]);
            }
        }
        Ok(())
    }
}

/// Parses a key in OVS's odp syntax (what [`format_key`] prints, and OVS's
/// plain forms such as `in_port(1),eth_type(0x0800)`) into a masked key and
/// its mask. A field given without `/mask` is exact; fields and attributes
/// not given are wildcarded.
pub fn parse_key(s: &str) -> std::result::Result<(FlowKey, Mask), OdpParseError> {
    let mut p = KeyParse { key: FlowKey::new(), mask: Mask::zero(), seen: HashSet::new() };
    parse_level(&mut p, s, 0)?;
    validate(&p)?;
    Ok((p.key.masked(&p.mask), p.mask))
}

fn parse_scalar(attr: &str, body: &str, f: Field) -> Result<(u128, u128)> {
    let (v, m) = split_mask(body);
    let v = parse_num(attr, "value", v, full(f))?;
    let m = match m {
        Some(m) => parse_num(attr, "mask", m, full(f))?,
        None => full(f),
    };
    Ok((v, m))
}

fn parse_level(p: &mut KeyParse, s: &str, level: usize) -> Result<()> {
    let mut eth_type = None;
    let mut vlan = None;
    let mut encap = None;
    let mut here = HashSet::new();
    for item in split_list(s)? {
        let (name, body) = split_call(item)?;
        let body = body.ok_or_else(|| {
            if is_attr(name) {
                OdpParseError::Syntax { expected: "name(...)", found: item.into() }
            } else {
                OdpParseError::UnknownKeyAttr(name.into())
            }
        })?;
        if !is_attr(name) {
            return Err(OdpParseError::UnknownKeyAttr(name.into()));
        }
        let nesting = matches!(name, "eth_type" | "vlan" | "encap");
        if !here.insert(name) || (!nesting && !p.seen.insert(name.to_string())) {
            return Err(OdpParseError::DuplicateAttr(name.into()));
        }
        match name {
            "eth_type" => eth_type = Some(parse_scalar(name, body, Field::EthType)?),
            "vlan" => vlan = Some(parse_vlan_tci(name, body, |_, _| Ok(false))?),
            "encap" => encap = Some(body),
            "tunnel" => parse_tunnel(p, body)?,
            "eth" => p.fields(name, body, ETH)?,
            "ipv4" => p.fields(name, body, IPV4)?,
            "ipv6" => p.fields(name, body, IPV6)?,
            "tcp" | "udp" | "sctp" => p.fields(name, body, PORTS)?,
            "icmp" | "icmpv6" => p.fields(name, body, ICMP)?,
            "arp" => p.fields(name, body, ARP)?,
            "nd" => p.fields(name, body, ND)?,
            "mpls" => parse_mpls(p, body)?,
            "tcp_flags" => {
                let (v, m) = parse_flags(name, TCP_FLAG_NAMES, body, 0x0fff)?;
                p.set(Field::TcpFlags, v as u128, m as u128);
            }
            _ => {
                let &(_, f, _) = SCALARS.iter().find(|s| s.0 == name).expect("is_attr");
                let (v, m) = parse_scalar(name, body, f)?;
                p.set(f, v, m);
            }
        }
    }
    match vlan {
        Some((tci, tm)) => {
            let (tpid_f, tci_f) = match level {
                0 => (Field::Vlan0Tpid, Field::Vlan0Tci),
                1 => (Field::Vlan1Tpid, Field::Vlan1Tci),
                _ => {
                    return Err(OdpParseError::Inconsistent(
                        "more than two VLAN tags: rvs matches at most two".into(),
                    ))
                }
            };
            p.set(tci_f, tci as u128, tm as u128);
            if let Some((v, m)) = eth_type {
                p.set(tpid_f, v, m);
            }
            if let Some(e) = encap {
                parse_level(p, e, level + 1)?;
            }
        }
        None => {
            if encap.is_some() {
                return Err(OdpParseError::Inconsistent(
                    "encap(...) needs a vlan(...) beside it".into(),
                ));
            }
            if let Some((v, m)) = eth_type {
                p.set(Field::EthType, v, m);
                // An eth_type without a vlan() beside it means "no tag".
                match level {
                    0 => p.set(Field::Vlan0Tci, 0, 0xffff),
                    1 => p.set(Field::Vlan1Tci, 0, 0xffff),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn is_attr(name: &str) -> bool {
    matches!(
        name,
        "eth_type"
            | "vlan"
            | "encap"
            | "tunnel"
            | "eth"
            | "ipv4"
            | "ipv6"
            | "tcp"
            | "udp"
            | "sctp"
            | "icmp"
            | "icmpv6"
            | "arp"
            | "nd"
            | "mpls"
            | "tcp_flags"
    ) || SCALARS.iter().any(|s| s.0 == name)
}

fn parse_tunnel(p: &mut KeyParse, body: &str) -> Result<()> {
    let mut flags = None;
    let f = parse_fields("tunnel", &descs(TUNNEL), body, |item| {
        let (name, inner) = split_call(item)?;
        match (name, inner) {
            ("flags", Some(inner)) => {
                if flags.is_some() {
                    return Err(OdpParseError::DuplicateField {
                        attr: "tunnel".into(),
                        field: "flags".into(),
                    });
                }
                flags = Some(parse_flags("tunnel", TUN_FLAG_NAMES, inner, 0xffff)?);
                Ok(true)
            }
            _ => Ok(false),
        }
    })?;
    for (i, d) in TUNNEL.iter().enumerate() {
        if f.seen[i] {
            p.set(d.3, f.vals[i], f.masks[i]);
        }
    }
    if let Some((v, m)) = flags {
        p.set(Field::TunFlags, v as u128, m as u128);
    }
    Ok(())
}

fn parse_mpls(p: &mut KeyParse, body: &str) -> Result<()> {
    // (name, max, shift, width mask)
    const SUB: [(&str, u32, u32); 4] =
        [("label", 0xfffff, 12), ("tc", 7, 9), ("ttl", 0xff, 0), ("bos", 1, 8)];
    let mut lses: Vec<(u32, u32, [bool; 4])> = Vec::new();
    for item in split_list(body)? {
        let (name, value) = item.split_once('=').ok_or_else(|| OdpParseError::UnknownField {
            attr: "mpls".into(),
            field: item.into(),
        })?;
        let name = name.trim();
        let i = SUB.iter().position(|s| s.0 == name).ok_or_else(|| {
            OdpParseError::UnknownField { attr: "mpls".into(), field: name.into() }
        })?;
        if lses.last().is_none_or(|l| l.2[i]) {
            if lses.len() == 3 {
                return Err(OdpParseError::Inconsistent(
                    "mpls: more than 3 label stack entries".into(),
                ));
            }
            lses.push((0, 0, [false; 4]));
        }
        let (_, max, shift) = SUB[i];
        let (v, m) = split_mask(value);
        let v = parse_num("mpls", name, v, max as u128)? as u32;
        let m = match m {
            Some(m) => parse_num("mpls", &format!("{name} mask"), m, max as u128)? as u32,
            None => max,
        };
        let l = lses.last_mut().expect("pushed");
        l.0 |= v << shift;
        l.1 |= m << shift;
        l.2[i] = true;
    }
    for (i, (v, m, _)) in lses.into_iter().enumerate() {
        p.set(MPLS[i], v as u128, m as u128);
    }
    Ok(())
}

/// Checks that L3/L4 attributes agree with eth_type and the IP protocol, so
/// that the key can be printed back.
fn validate(p: &KeyParse) -> Result<()> {
    let k = p.key.masked(&p.mask);
    let et = k.eth_type();
    let proto = k.nw_proto();
    let need = |attr: &str, ok: bool, what: &str| {
        if ok || !p.seen.contains(attr) {
            Ok(())
        } else {
            Err(OdpParseError::Inconsistent(format!(
                "{attr}(...) needs {what} (eth_type is {et:#06x}, IP protocol {proto})"
            )))
        }
    };
    let ip = et == 0x0800 || et == 0x86dd;
    need("ipv4", et == 0x0800, "eth_type(0x0800)")?;
    need("ipv6", et == 0x86dd, "eth_type(0x86dd)")?;
    need("arp", et == 0x0806 || et == 0x8035, "eth_type(0x0806) or eth_type(0x8035)")?;
    need("mpls", et == 0x8847 || et == 0x8848, "eth_type(0x8847) or eth_type(0x8848)")?;
    need("tcp", ip && proto == 6, "an IP proto=6")?;
    need("tcp_flags", ip && proto == 6, "an IP proto=6")?;
    need("udp", ip && proto == 17, "an IP proto=17")?;
    need("sctp", ip && proto == 132, "an IP proto=132")?;
    need("icmp", et == 0x0800 && proto == 1, "ipv4 with proto=1")?;
    need("icmpv6", et == 0x86dd && proto == 58, "ipv6 with proto=58")?;
    need("nd", et == 0x86dd && proto == 58, "ipv6 with proto=58")?;
    Ok(())
}
