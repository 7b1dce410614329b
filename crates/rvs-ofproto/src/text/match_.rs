//! Matches: `ip,in_port=1,nw_dst=198.18.0.0/24` and the values of single
//! fields, parsed and printed.

use super::{format_port, parse_port, parse_uint, ParseError, PortNames};
use crate::flow::{eth_type, vlan, Format, Mf, OfMatch, Prereq};
use crate::flow_mod::DEFAULT_PRIORITY;
use rvs_packet::flow::{FRAG_ANY, FRAG_LATER};
use rvs_packet::EthAddr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The all-ones mask of a field.
pub(crate) fn full_mask(f: Mf) -> u128 {
    let b = f.bits();
    if b >= 128 {
        u128::MAX
    } else {
        (1u128 << b) - 1
    }
}

/// `%#x`: `0` for zero, else `0x...`.
pub(crate) fn hex(v: u128) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// TCP flag names, by bit.
const TCP_FLAGS: [(&str, u16); 9] = [
    ("fin", 0x001),
    ("syn", 0x002),
    ("rst", 0x004),
    ("psh", 0x008),
    ("ack", 0x010),
    ("urg", 0x020),
    ("ece", 0x040),
    ("cwr", 0x080),
    ("ns", 0x100),
];

/// The fragment keywords and the (value, mask) each stands for.
const FRAGS: [(&str, u8, u8); 5] = [
    ("no", 0, FRAG_ANY),
    ("yes", FRAG_ANY, FRAG_ANY),
    ("first", FRAG_ANY, FRAG_ANY | FRAG_LATER),
    ("later", FRAG_ANY | FRAG_LATER, FRAG_ANY | FRAG_LATER),
    ("not_later", 0, FRAG_LATER),
];

fn tcp_flag_name(bit: u16) -> String {
    match TCP_FLAGS.iter().find(|(_, b)| *b == bit) {
        Some((n, _)) => (*n).to_string(),
        None => format!("[{bit:x}]"),
    }
}

fn parse_tcp_flag(field: &str, s: &str, name: &str) -> Result<u16, ParseError> {
    if let Some(h) = name.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        if let Ok(b) = u16::from_str_radix(h, 16) {
            if b.count_ones() == 1 && b < 0x1000 {
                return Ok(b);
            }
        }
    }
    TCP_FLAGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .ok_or_else(|| ParseError::new(field, s, format!("unknown TCP flag \"{name}\"")))
}

fn parse_tcp_flags(field: &str, s: &str) -> Result<(u128, u128), ParseError> {
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u16, 0u16);
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let end = rest[1..].find(['+', '-']).map_or(rest.len(), |i| i + 1);
            let b = parse_tcp_flag(field, s, &rest[1..end])?;
            m |= b;
            if c == '+' {
                v |= b;
            } else {
                v &= !b;
            }
            rest = &rest[end..];
        }
        return Ok((u128::from(v), u128::from(m)));
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_num_masked(Mf::TcpFlags, field, s);
    }
    let mut v = 0u16;
    for name in s.split('|') {
        v |= parse_tcp_flag(field, s, name)?;
    }
    Ok((u128::from(v), 0xfff))
}

fn format_tcp_flags(v: u128, m: u128) -> String {
    let (v, m) = (v as u16, m as u16);
    if m == 0xfff {
        if v == 0 {
            return "0".to_string();
        }
        let names: Vec<String> =
            (0..12).map(|i| 1u16 << i).filter(|b| v & b != 0).map(tcp_flag_name).collect();
        return names.join("|");
    }
    let mut out = String::new();
    for b in (0..12).map(|i| 1u16 << i).filter(|b| m & b != 0) {
        out.push(if v & b != 0 { '+' } else { '-' });
        out.push_str(&tcp_flag_name(b));
    }
    out
}

fn parse_num_masked(f: Mf, field: &str, s: &str) -> Result<(u128, u128), ParseError> {
    let bits = f.bits();
    match s.split_once('/') {
        Some((v, m)) => {
            let v = parse_uint(field, v, bits)?;
            let m = parse_uint(field, m, bits)?;
            if !f.spec().maskable && m != full_mask(f) {
                return Err(ParseError::new(
                    field,
                    s,
                    "this field cannot be matched with a bit mask",
                ));
            }
            Ok((v & m, m))
        }
        None => Ok((parse_uint(field, s, bits)?, full_mask(f))),
    }
}

fn prefix_mask(field: &str, s: &str, n: &str, bits: u32) -> Result<u128, ParseError> {
    let n: u32 =
        n.parse().ok().filter(|n| *n <= bits).ok_or_else(|| {
            ParseError::new(field, s, format!("prefix length must be 0 to {bits}"))
        })?;
    let all = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    Ok(if n == 0 { 0 } else { (all << (bits - n)) & all })
}

/// Parses a value (and `/mask`) of field `f`, written in the field's
/// format; `field` is the name the user wrote, for errors.
pub(crate) fn parse_value(
    f: Mf,
    field: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<(u128, u128), ParseError> {
    let spec = f.spec();
    let (vs, ms) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    if ms.is_some() && !spec.maskable && !matches!(spec.format, Format::Decimal | Format::Hex) {
        return Err(ParseError::new(field, s, "this field cannot be matched with a bit mask"));
    }
    let (v, m) = match spec.format {
        Format::Decimal | Format::Hex => return parse_num_masked(f, field, s),
        Format::Eth => {
            let e = |x: &str| {
                x.parse::<EthAddr>().map(|a| u128::from(a.to_u64())).map_err(|_| {
                    ParseError::new(field, s, "not an Ethernet address (xx:xx:xx:xx:xx:xx)")
                })
            };
            (e(vs)?, ms.map(e).transpose()?.unwrap_or(full_mask(f)))
        }
        Format::Ipv4 => {
            let a = |x: &str| {
                x.parse::<Ipv4Addr>()
                    .map(|a| u128::from(u32::from(a)))
                    .map_err(|_| ParseError::new(field, s, "not an IPv4 address"))
            };
            let m = match ms {
                None => full_mask(f),
                Some(m) if m.contains('.') => a(m)?,
                Some(m) => prefix_mask(field, s, m, 32)?,
            };
            (a(vs)?, m)
        }
        Format::Ipv6 => {
            let a = |x: &str| {
                x.parse::<Ipv6Addr>()
                    .map(u128::from)
                    .map_err(|_| ParseError::new(field, s, "not an IPv6 address"))
            };
            let m = match ms {
                None => full_mask(f),
                Some(m) if m.contains(':') => a(m)?,
                Some(m) => prefix_mask(field, s, m, 128)?,
            };
            (a(vs)?, m)
        }
        Format::Port => (u128::from(parse_port(field, s, ports)?.0), full_mask(f)),
        Format::Frag => {
            let (_, v, m) = FRAGS.iter().find(|(n, _, _)| *n == s).ok_or_else(|| {
                ParseError::new(field, s, "expected one of no, yes, first, later, not_later")
            })?;
            (u128::from(*v), u128::from(*m))
        }
        Format::TcpFlags => return parse_tcp_flags(field, s),
    };
    Ok((v & m, m))
}

fn ipv4_str(v: u128) -> Ipv4Addr {
    Ipv4Addr::from(v as u32)
}

/// The prefix length of `m` when it is a CIDR mask of a `bits`-wide field.
fn prefix_len(m: u128, bits: u32) -> Option<u32> {
    let shifted = if bits >= 128 { m } else { m << (128 - bits) };
    let n = shifted.leading_ones();
    (shifted << n.min(127) == 0 || n == 128).then_some(n)
}

/// Prints a value (and mask, when not all ones) of field `f` in the field's
/// format, as ovs-ofctl does.
pub(crate) fn format_value(f: Mf, v: u128, m: u128, ports: &dyn PortNames) -> String {
    let spec = f.spec();
    let exact = m == full_mask(f);
    match spec.format {
        Format::Decimal if exact => v.to_string(),
        Format::Decimal | Format::Hex if exact && f == Mf::Ipv6Label => format!("{v:#07x}"),
        Format::Decimal | Format::Hex if f == Mf::Ipv6Label => format!("{v:#07x}/{m:#07x}"),
        Format::Hex if exact => hex(v),
        Format::Decimal | Format::Hex => format!("{}/{}", hex(v), hex(m)),
        Format::Eth if exact => EthAddr::from_u64(v as u64).to_string(),
        Format::Eth => format!("{}/{}", EthAddr::from_u64(v as u64), EthAddr::from_u64(m as u64)),
        Format::Ipv4 if exact => ipv4_str(v).to_string(),
        Format::Ipv4 => match prefix_len(m, 32) {
            Some(n) => format!("{}/{n}", ipv4_str(v)),
            None => format!("{}/{}", ipv4_str(v), ipv4_str(m)),
        },
        Format::Ipv6 if exact => Ipv6Addr::from(v).to_string(),
        Format::Ipv6 => match prefix_len(m, 128) {
            Some(n) => format!("{}/{n}", Ipv6Addr::from(v)),
            None => format!("{}/{}", Ipv6Addr::from(v), Ipv6Addr::from(m)),
        },
        Format::Port => format_port(crate::OfPort(v as u16), ports),
        Format::Frag => {
            match FRAGS.iter().find(|(_, fv, fm)| u128::from(*fv) == v && u128::from(*fm) == m) {
                Some((n, _, _)) => (*n).to_string(),
                None if v & u128::from(FRAG_LATER) != 0 => "later".to_string(),
                None if m & u128::from(FRAG_ANY) != 0 => {
                    if v != 0 {
                        "first".to_string()
                    } else {
                        "no".to_string()
                    }
                }
                None => "not_later".to_string(),
            }
        }
        Format::TcpFlags => format_tcp_flags(v, m),
    }
}

/// What a prerequisite asks for, in ovs-ofctl's words.
fn prereq_words(p: Prereq) -> &'static str {
    match p {
        Prereq::None => "nothing",
        Prereq::Ip => "ip or ipv6",
        Prereq::Ipv4 => "ip (dl_type=0x0800)",
        Prereq::Ipv6 => "ipv6 (dl_type=0x86dd)",
        Prereq::Arp => "arp or rarp",
        Prereq::Tcp => "tcp or tcp6",
        Prereq::Udp => "udp or udp6",
        Prereq::Sctp => "sctp or sctp6",
        Prereq::L4 => "tcp, udp or sctp (or their IPv6 forms)",
        Prereq::Icmp4 => "icmp",
        Prereq::Icmp6 => "icmp6",
        Prereq::Nd => "icmp6 with icmp_type=135 or 136",
        Prereq::NdSolicit => "icmp6 with icmp_type=135",
        Prereq::NdAdvert => "icmp6 with icmp_type=136",
    }
}

/// Builds a match field by field, checking prerequisites at the end (they
/// may come in any order: `nw_dst=198.18.0.1,ip` is fine).
#[derive(Default)]
pub(crate) struct MatchBuilder {
    pub(crate) m: OfMatch,
    /// (prerequisite, name written, value written) of every field set.
    checks: Vec<(Prereq, String, String)>,
}

impl MatchBuilder {
    /// Applies `name[=value]`; returns false when `name` is no match field.
    pub(crate) fn apply(
        &mut self,
        name: &str,
        value: Option<&str>,
        ports: &dyn PortNames,
    ) -> Result<bool, ParseError> {
        let proto = |dl: u16, nw: Option<u8>| (dl, nw);
        let short = match name {
            "ip" => Some(proto(eth_type::IPV4, None)),
            "ipv6" => Some(proto(eth_type::IPV6, None)),
            "icmp" => Some(proto(eth_type::IPV4, Some(1))),
            "icmp6" => Some(proto(eth_type::IPV6, Some(58))),
            "tcp" => Some(proto(eth_type::IPV4, Some(6))),
            "tcp6" => Some(proto(eth_type::IPV6, Some(6))),
            "udp" => Some(proto(eth_type::IPV4, Some(17))),
            "udp6" => Some(proto(eth_type::IPV6, Some(17))),
            "sctp" => Some(proto(eth_type::IPV4, Some(132))),
            "sctp6" => Some(proto(eth_type::IPV6, Some(132))),
            "arp" => Some(proto(eth_type::ARP, None)),
            "rarp" => Some(proto(eth_type::RARP, None)),
            _ => None,
        };
        if let Some((dl, nw)) = short {
            if let Some(v) = value {
                return Err(ParseError::new(name, v, "a protocol shorthand takes no value"));
            }
            self.m.set(Mf::DlType, u128::from(dl));
            if let Some(p) = nw {
                self.m.set(Mf::NwProto, u128::from(p));
            }
            return Ok(true);
        }
        let special = matches!(
            name,
            "dl_vlan"
                | "vlan_vid"
                | "dl_vlan_pcp"
                | "vlan_pcp"
                | "nw_tos"
                | "ip_dscp"
                | "nw_frag"
                | "ip_frag"
        );
        let field = if special { None } else { Mf::from_name(name) };
        if !special && field.is_none() {
            return Ok(false);
        }
        let Some(s) = value else {
            return Err(ParseError::new(name, "", "a match field needs a value (name=value)"));
        };
        let mut check = |p: Prereq| self_checks_push(&mut self.checks, p, name, s);
        match name {
            "dl_vlan" | "vlan_vid" => {
                let v = parse_uint(name, s, 16)? as u16;
                let (tci, mask) = self.m.get(Mf::VlanTci);
                let (tci, mask) = (tci as u16, mask as u16);
                if v == 0xffff {
                    // OVS's "no VLAN tag": the whole TCI is zero.
                    self.m.set_masked(Mf::VlanTci, 0, 0xffff);
                } else if v > vlan::VID_MASK {
                    return Err(ParseError::new(
                        name,
                        s,
                        "a VLAN id is 0 to 4095 (or 0xffff for no tag)",
                    ));
                } else {
                    let mask = mask | vlan::VID_MASK | vlan::CFI;
                    let tci = (tci & !vlan::VID_MASK) | v | vlan::CFI;
                    self.m.set_masked(Mf::VlanTci, u128::from(tci), u128::from(mask));
                }
            }
            "dl_vlan_pcp" | "vlan_pcp" => {
                let v = parse_uint(name, s, 16)? as u16;
                if v > 7 {
                    return Err(ParseError::new(name, s, "a VLAN priority is 0 to 7"));
                }
                let (tci, mask) = self.m.get(Mf::VlanTci);
                let (tci, mask) = (tci as u16, mask as u16);
                let mask = mask | vlan::PCP_MASK | vlan::CFI;
                let tci = (tci & !vlan::PCP_MASK) | (v << vlan::PCP_SHIFT) | vlan::CFI;
                self.m.set_masked(Mf::VlanTci, u128::from(tci), u128::from(mask));
            }
            "nw_tos" => {
                let v = parse_uint(name, s, 8)?;
                // Only the DSCP bits of the TOS byte are matched (as OVS does).
                self.m.set(Mf::IpDscp, v >> 2);
                check(Prereq::Ip);
            }
            "ip_dscp" => {
                let v = parse_uint(name, s, 6)?;
                self.m.set(Mf::IpDscp, v);
                check(Prereq::Ip);
            }
            "nw_frag" | "ip_frag" => {
                let (v, m) = parse_value(Mf::IpFrag, name, s, ports)?;
                self.m.set_masked(Mf::IpFrag, v, m);
                check(Prereq::Ip);
            }
            _ => {
                let f = field.unwrap_or(Mf::InPort);
                let (v, m) = parse_value(f, name, s, ports)?;
                self.m.set_masked(f, v, m);
                let p = match f {
                    // icmp_type and icmp_code serve ICMPv6 too.
                    Mf::IcmpType | Mf::IcmpCode => Prereq::Icmp4,
                    _ => f.spec().prereq,
                };
                check(p);
            }
        }
        Ok(true)
    }

    /// Checks every field's prerequisites and returns the match.
    pub(crate) fn finish(self) -> Result<OfMatch, ParseError> {
        for (p, name, value) in &self.checks {
            let ok = p.holds_in_match(&self.m)
                || (*p == Prereq::Icmp4 && Prereq::Icmp6.holds_in_match(&self.m));
            if !ok {
                return Err(ParseError::new(
                    name.as_str(),
                    value.as_str(),
                    format!("{name} requires {} to be matched too", prereq_words(*p)),
                ));
            }
        }
        Ok(self.m)
    }
}

fn self_checks_push(checks: &mut Vec<(Prereq, String, String)>, p: Prereq, name: &str, s: &str) {
    if p != Prereq::None {
        checks.push((p, name.to_string(), s.to_string()));
    }
}

/// Parses a match alone (`ip,nw_dst=198.18.0.0/24`): fields separated by
/// commas or white space, prerequisites checked.
pub fn parse_match(s: &str, ports: &dyn PortNames) -> Result<OfMatch, ParseError> {
    let mut b = MatchBuilder::default();
    for item in s.split(|c: char| c == ',' || c.is_whitespace()).filter(|x| !x.is_empty()) {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if !b.apply(name, value, ports)? {
            return Err(ParseError::new(name, value.unwrap_or(""), "unknown match field"));
        }
    }
    b.finish()
}

/// Prints a match in ovs-ofctl's order and style, `priority=` first unless
/// it is the default 32768: `priority=100,ip,in_port=1,nw_dst=198.18.0.0/24`.
pub fn format_match(m: &OfMatch, priority: u16, ports: &dyn PortNames) -> String {
    let mut out: Vec<String> = Vec::new();
    if priority != DEFAULT_PRIORITY {
        out.push(format!("priority={priority}"));
    }
    let put = |out: &mut Vec<String>, f: Mf, name: &str| {
        let (v, mask) = m.get(f);
        if mask != 0 {
            out.push(format!("{name}={}", format_value(f, v, mask, ports)));
        }
    };
    for f in [Mf::PktMark, Mf::RecircId, Mf::DpHash, Mf::SkbPriority] {
        put(&mut out, f, f.name());
    }

    let dl_exact = m.wc.is_exact(Mf::DlType);
    let dl = if dl_exact { Some(m.flow.dl_type()) } else { None };
    let proto = if m.wc.is_exact(Mf::NwProto) { Some(m.flow.nw_proto()) } else { None };
    let is_arp = matches!(dl, Some(eth_type::ARP | eth_type::RARP));
    let is_v6 = dl == Some(eth_type::IPV6);
    let mut shorthand_proto = false;
    let shorthand = match (dl, proto) {
        (Some(eth_type::IPV4), p) => {
            let (name, known) = match p {
                Some(1) => ("icmp", true),
                Some(6) => ("tcp", true),
                Some(17) => ("udp", true),
                Some(132) => ("sctp", true),
                _ => ("ip", false),
            };
            shorthand_proto = known;
            Some(name)
        }
        (Some(eth_type::IPV6), p) => {
            let (name, known) = match p {
                Some(58) => ("icmp6", true),
                Some(6) => ("tcp6", true),
                Some(17) => ("udp6", true),
                Some(132) => ("sctp6", true),
                _ => ("ipv6", false),
            };
            shorthand_proto = known;
            Some(name)
        }
        (Some(eth_type::ARP), _) => Some("arp"),
        (Some(eth_type::RARP), _) => Some("rarp"),
        _ => None,
    };
    if let Some(s) = shorthand {
        out.push(s.to_string());
    }
    for i in 0..16 {
        put(&mut out, Mf::Reg(i), Mf::Reg(i).name());
    }
    for f in [
        Mf::TunId,
        Mf::TunSrc,
        Mf::TunDst,
        Mf::TunIpv6Src,
        Mf::TunIpv6Dst,
        Mf::TunTos,
        Mf::TunTtl,
        Mf::TunFlags,
    ] {
        put(&mut out, f, f.name());
    }
    put(&mut out, Mf::Metadata, "metadata");
    put(&mut out, Mf::InPort, "in_port");

    let (tci, tmask) = m.get(Mf::VlanTci);
    let (tci, tmask) = (tci as u16, tmask as u16);
    if tmask != 0 {
        let vid_mask = tmask & vlan::VID_MASK;
        let pcp_mask = tmask & vlan::PCP_MASK;
        if tmask & vlan::CFI != 0
            && tci & vlan::CFI != 0
            && (vid_mask == 0 || vid_mask == vlan::VID_MASK)
            && (pcp_mask == 0 || pcp_mask == vlan::PCP_MASK)
            && (vid_mask != 0 || pcp_mask != 0)
        {
            if vid_mask != 0 {
                out.push(format!("dl_vlan={}", tci & vlan::VID_MASK));
            }
            if pcp_mask != 0 {
                out.push(format!("dl_vlan_pcp={}", tci >> vlan::PCP_SHIFT));
            }
        } else if tmask == 0xffff {
            out.push(format!("vlan_tci={tci:#06x}"));
        } else {
            out.push(format!("vlan_tci={tci:#06x}/{tmask:#06x}"));
        }
    }
    put(&mut out, Mf::DlSrc, "dl_src");
    put(&mut out, Mf::DlDst, "dl_dst");
    if shorthand.is_none() {
        let (v, mask) = m.get(Mf::DlType);
        if mask != 0 {
            out.push(format!("dl_type={:#06x}", v));
        }
    }
    if is_arp {
        put(&mut out, Mf::ArpSpa, "arp_spa");
        put(&mut out, Mf::ArpTpa, "arp_tpa");
    } else {
        put(&mut out, Mf::NwSrc, "nw_src");
        put(&mut out, Mf::NwDst, "nw_dst");
    }
    for f in [Mf::Ipv6Src, Mf::Ipv6Dst, Mf::Ipv6Label] {
        put(&mut out, f, f.name());
    }
    if !is_arp && !shorthand_proto {
        put(&mut out, Mf::NwProto, "nw_proto");
    }
    let (dscp, dmask) = m.get(Mf::IpDscp);
    if dmask != 0 {
        out.push(format!("nw_tos={}", dscp << 2));
    }
    put(&mut out, Mf::NwEcn, "nw_ecn");
    put(&mut out, Mf::NwTtl, "nw_ttl");
    put(&mut out, Mf::IpFrag, "nw_frag");
    if is_arp {
        put(&mut out, Mf::ArpOp, "arp_op");
        put(&mut out, Mf::ArpSha, "arp_sha");
        put(&mut out, Mf::ArpTha, "arp_tha");
    }
    let icmp = (dl == Some(eth_type::IPV4) && proto == Some(1)) || (is_v6 && proto == Some(58));
    if icmp {
        put(&mut out, Mf::IcmpType, "icmp_type");
        put(&mut out, Mf::IcmpCode, "icmp_code");
        put(&mut out, Mf::NdTarget, "nd_target");
        put(&mut out, Mf::NdSll, "nd_sll");
        put(&mut out, Mf::NdTll, "nd_tll");
    } else {
        put(&mut out, Mf::TpSrc, "tp_src");
        put(&mut out, Mf::TpDst, "tp_dst");
    }
    put(&mut out, Mf::TcpFlags, "tcp_flags");
    out.join(",")
}
