//! Action lists: `mod_dl_dst:02:00:00:00:00:01,resubmit(,1)`, parsed and
//! printed in ovs-ofctl's forms.

use super::match_::{format_value, full_mask, hex, parse_value};
use super::{format_port, parse_port, parse_uint, split_top, ParseError, PortNames};
use crate::actions::{OfAction, PacketInReason, SubField};
use crate::flow::Mf;
use crate::types::{OfPort, TableId};
use rvs_packet::EthAddr;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The NXM/OXM name ovs-ofctl prints for a field in `load:` and `move:`.
fn nxm_name(f: Mf) -> Option<String> {
    let n = match f {
        Mf::InPort => "NXM_OF_IN_PORT",
        Mf::DlDst => "NXM_OF_ETH_DST",
        Mf::DlSrc => "NXM_OF_ETH_SRC",
        Mf::DlType => "NXM_OF_ETH_TYPE",
        Mf::VlanTci => "NXM_OF_VLAN_TCI",
        Mf::NwTos => "NXM_OF_IP_TOS",
        Mf::NwProto => "NXM_OF_IP_PROTO",
        Mf::NwSrc => "NXM_OF_IP_SRC",
        Mf::NwDst => "NXM_OF_IP_DST",
        Mf::TcpSrc => "NXM_OF_TCP_SRC",
        Mf::TcpDst => "NXM_OF_TCP_DST",
        Mf::UdpSrc => "NXM_OF_UDP_SRC",
        Mf::UdpDst => "NXM_OF_UDP_DST",
        Mf::SctpSrc => "OXM_OF_SCTP_SRC",
        Mf::SctpDst => "OXM_OF_SCTP_DST",
        Mf::IcmpType => "NXM_OF_ICMP_TYPE",
        Mf::IcmpCode => "NXM_OF_ICMP_CODE",
        Mf::ArpOp => "NXM_OF_ARP_OP",
        Mf::ArpSpa => "NXM_OF_ARP_SPA",
        Mf::ArpTpa => "NXM_OF_ARP_TPA",
        Mf::TunId => "NXM_NX_TUN_ID",
        Mf::ArpSha => "NXM_NX_ARP_SHA",
        Mf::ArpTha => "NXM_NX_ARP_THA",
        Mf::Ipv6Src => "NXM_NX_IPV6_SRC",
        Mf::Ipv6Dst => "NXM_NX_IPV6_DST",
        Mf::Icmpv6Type => "NXM_NX_ICMPV6_TYPE",
        Mf::Icmpv6Code => "NXM_NX_ICMPV6_CODE",
        Mf::NdTarget => "NXM_NX_ND_TARGET",
        Mf::NdSll => "NXM_NX_ND_SLL",
        Mf::NdTll => "NXM_NX_ND_TLL",
        Mf::IpFrag => "NXM_NX_IP_FRAG",
        Mf::Ipv6Label => "NXM_NX_IPV6_LABEL",
        Mf::NwEcn => "NXM_NX_IP_ECN",
        Mf::NwTtl => "NXM_NX_IP_TTL",
        Mf::TunSrc => "NXM_NX_TUN_IPV4_SRC",
        Mf::TunDst => "NXM_NX_TUN_IPV4_DST",
        Mf::TunIpv6Src => "NXM_NX_TUN_IPV6_SRC",
        Mf::TunIpv6Dst => "NXM_NX_TUN_IPV6_DST",
        Mf::TunFlags => "NXM_NX_TUN_FLAGS",
        Mf::PktMark => "NXM_NX_PKT_MARK",
        Mf::TcpFlags => "NXM_NX_TCP_FLAGS",
        Mf::DpHash => "NXM_NX_DP_HASH",
        Mf::RecircId => "NXM_NX_RECIRC_ID",
        Mf::Metadata => "OXM_OF_METADATA",
        Mf::IpDscp => "OXM_OF_IP_DSCP",
        Mf::Reg(i) => return Some(format!("NXM_NX_REG{i}")),
        Mf::Xreg(i) => return Some(format!("OXM_OF_PKT_REG{i}")),
        Mf::Xxreg(i) => return Some(format!("NXM_NX_XXREG{i}")),
        _ => return None,
    };
    Some(n.to_string())
}

/// A field by its NXM/OXM name or its ovs-ofctl name.
fn field_by_any_name(name: &str) -> Option<Mf> {
    if name.starts_with("NXM_") || name.starts_with("OXM_") {
        Mf::all().into_iter().find(|f| nxm_name(*f).as_deref() == Some(name))
    } else {
        Mf::from_name(name)
    }
}

/// The name `set_field` prints (OVS's canonical field names, which say
/// `eth_` and `ip_` where the match syntax says `dl_` and `nw_`).
fn set_field_name(f: Mf) -> &'static str {
    match f {
        Mf::DlSrc => "eth_src",
        Mf::DlDst => "eth_dst",
        Mf::NwSrc => "ip_src",
        Mf::NwDst => "ip_dst",
        _ => f.name(),
    }
}

/// Parses `NAME[]`, `NAME[bit]` or `NAME[start..end]`.
fn parse_subfield(action: &str, s: &str) -> Result<SubField, ParseError> {
    let err = |why: &str| ParseError::new(action, s, why.to_string());
    let (name, range) = s
        .split_once('[')
        .ok_or_else(|| err("expected FIELD[], FIELD[BIT] or FIELD[START..END]"))?;
    let range = range.strip_suffix(']').ok_or_else(|| err("missing ']'"))?;
    let field = field_by_any_name(name).ok_or_else(|| err(&format!("unknown field \"{name}\"")))?;
    let bits = field.bits();
    let (ofs, n_bits) = if range.is_empty() {
        (0, bits)
    } else {
        let (a, b) = range.split_once("..").unwrap_or((range, range));
        let a: u32 = a.parse().map_err(|_| err("bad bit number"))?;
        let b: u32 = b.parse().map_err(|_| err("bad bit number"))?;
        if a > b || b >= bits {
            return Err(err(&format!("bits {a}..{b} are not within the field's {bits} bits")));
        }
        (a, b - a + 1)
    };
    Ok(SubField { field, ofs, n_bits })
}

fn format_subfield(sf: &SubField) -> String {
    let name = nxm_name(sf.field).unwrap_or_else(|| sf.field.name().to_string());
    if sf.ofs == 0 && sf.n_bits == sf.field.bits() {
        format!("{name}[]")
    } else if sf.n_bits == 1 {
        format!("{name}[{}]", sf.ofs)
    } else {
        format!("{name}[{}..{}]", sf.ofs, sf.ofs + sf.n_bits - 1)
    }
}

fn parse_bytes(action: &str, s: &str) -> Result<Vec<u8>, ParseError> {
    let hexits: String = s.chars().filter(|c| *c != '.').collect();
    if !hexits.len().is_multiple_of(2) || !hexits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ParseError::new(action, s, "expected hex bytes such as 01.02.ab"));
    }
    Ok((0..hexits.len() / 2)
        .map(|i| u8::from_str_radix(&hexits[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect())
}

fn format_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(".")
}

fn parse_table(action: &str, s: &str) -> Result<TableId, ParseError> {
    let v = parse_uint(action, s, 8)?;
    if v == 255 {
        return Err(ParseError::new(action, s, "a table is 0 to 254"));
    }
    Ok(TableId(v as u8))
}

fn num<T: TryFrom<u128>>(action: &str, s: &str, bits: u32) -> Result<T, ParseError> {
    let v = parse_uint(action, s, bits)?;
    T::try_from(v).map_err(|_| ParseError::new(action, s, "out of range"))
}

fn parse_controller_args(args: &str) -> Result<OfAction, ParseError> {
    let mut max_len = u16::MAX;
    let mut reason = PacketInReason::Action;
    let mut id = 0;
    let mut userdata = Vec::new();
    for kv in args.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "max_len" => max_len = num("controller max_len", v, 16)?,
            "id" => id = num("controller id", v, 16)?,
            "userdata" => userdata = parse_bytes("controller userdata", v)?,
            "reason" => {
                reason = match v {
                    "action" => PacketInReason::Action,
                    "no_match" => PacketInReason::NoMatch,
                    "invalid_ttl" => PacketInReason::InvalidTtl,
                    _ => {
                        return Err(ParseError::new(
                            "controller reason",
                            v,
                            "expected action, no_match or invalid_ttl",
                        ))
                    }
                }
            }
            _ => return Err(ParseError::new("controller", kv, "unknown controller argument")),
        }
    }
    Ok(OfAction::Controller { max_len, reason, id, userdata })
}

fn parse_set_field(arg: &str, ports: &dyn PortNames) -> Result<OfAction, ParseError> {
    let (value, dst) = arg.rsplit_once("->").ok_or_else(|| {
        ParseError::new("set_field", arg, "expected set_field:VALUE[/MASK]->FIELD")
    })?;
    let field = field_by_any_name(dst.trim_end_matches("[]"))
        .ok_or_else(|| ParseError::new("set_field", dst, "unknown field"))?;
    if !field.spec().writable {
        return Err(ParseError::new("set_field", dst, "this field cannot be written by actions"));
    }
    let (value, mask) = parse_value(field, &format!("set_field {}", field.name()), value, ports)?;
    Ok(OfAction::SetField { field, value, mask, load: false })
}

fn parse_load(arg: &str) -> Result<OfAction, ParseError> {
    let (value, dst) = arg
        .split_once("->")
        .ok_or_else(|| ParseError::new("load", arg, "expected load:VALUE->FIELD[BITS]"))?;
    let dst = parse_subfield("load", dst)?;
    if !dst.field.spec().writable {
        return Err(ParseError::new(
            "load",
            arg,
            format!("{} cannot be written by actions", dst.field),
        ));
    }
    let v = parse_uint("load", value, dst.n_bits)?;
    Ok(OfAction::SetField { field: dst.field, value: v << dst.ofs, mask: dst.mask(), load: true })
}

fn parse_move(arg: &str) -> Result<OfAction, ParseError> {
    let (src, dst) = arg
        .split_once("->")
        .ok_or_else(|| ParseError::new("move", arg, "expected move:SRC[]->DST[]"))?;
    let src = parse_subfield("move", src)?;
    let dst = parse_subfield("move", dst)?;
    if src.n_bits != dst.n_bits {
        return Err(ParseError::new(
            "move",
            arg,
            format!("source has {} bits but destination has {}", src.n_bits, dst.n_bits),
        ));
    }
    if !dst.field.spec().writable {
        return Err(ParseError::new(
            "move",
            arg,
            format!("{} cannot be written by actions", dst.field),
        ));
    }
    Ok(OfAction::Move { src, dst })
}

fn parse_resubmit(arg: &str, ports: &dyn PortNames) -> Result<OfAction, ParseError> {
    let (p, t) = arg.split_once(',').unwrap_or((arg, ""));
    let (p, t) = (p.trim(), t.trim());
    let in_port = if p.is_empty() || p.eq_ignore_ascii_case("in_port") {
        None
    } else {
        Some(parse_port("resubmit", p, ports)?)
    };
    let table = if t.is_empty() { None } else { Some(parse_table("resubmit", t)?) };
    Ok(OfAction::Resubmit { in_port, table })
}

fn parse_one(item: &str, ports: &dyn PortNames) -> Result<OfAction, ParseError> {
    // name(args), name:arg, name=arg or bare name.
    let (name, arg, paren) = match (item.find('('), item.find([':', '='])) {
        (Some(p), c) if c.is_none_or(|c| p < c) => {
            let inner = item[p + 1..]
                .strip_suffix(')')
                .ok_or_else(|| ParseError::new(&item[..p], item, "missing ')'"))?;
            (&item[..p], Some(inner), true)
        }
        (_, Some(c)) => (&item[..c], Some(&item[c + 1..]), false),
        _ => (item, None, false),
    };
    let lname = name.to_ascii_lowercase();
    let need = |what: &str| {
        arg.ok_or_else(|| ParseError::new(name, "", format!("{name} needs an argument ({what})")))
    };
    let a = match lname.as_str() {
        "output" if paren => {
            let mut port = None;
            let mut max_len = 0;
            for kv in need("port=P,max_len=N")?.split(',') {
                match kv.split_once('=') {
                    Some(("port", p)) => port = Some(parse_port("output", p, ports)?),
                    Some(("max_len", n)) => max_len = num("output max_len", n, 16)?,
                    _ => return Err(ParseError::new("output", kv, "expected port=P or max_len=N")),
                }
            }
            let port = port.ok_or_else(|| ParseError::new("output", item, "needs port=P"))?;
            OfAction::Output { port, max_len }
        }
        "output" => {
            let p = parse_port("output", need("a port")?, ports)?;
            if p == OfPort::CONTROLLER {
                OfAction::Controller {
                    max_len: u16::MAX,
                    reason: PacketInReason::Action,
                    id: 0,
                    userdata: Vec::new(),
                }
            } else {
                OfAction::output(p)
            }
        }
        "controller" if paren => parse_controller_args(arg.unwrap_or(""))?,
        "controller" => {
            let max_len = match arg {
                Some(n) => num("controller", n, 16)?,
                None => u16::MAX,
            };
            OfAction::Controller {
                max_len,
                reason: PacketInReason::Action,
                id: 0,
                userdata: Vec::new(),
            }
        }
        "in_port" | "local" | "normal" | "flood" | "all" if arg.is_none() => {
            OfAction::output(parse_port("output", name, ports)?)
        }
        "resubmit" => parse_resubmit(need("PORT or (PORT,TABLE)")?, ports)?,
        "goto_table" => OfAction::GotoTable(parse_table("goto_table", need("a table")?)?),
        "write_metadata" => {
            let s = need("VALUE[/MASK]")?;
            let (v, m) = match s.split_once('/') {
                Some((v, m)) => {
                    (parse_uint("write_metadata", v, 64)?, parse_uint("write_metadata", m, 64)?)
                }
                None => (parse_uint("write_metadata", s, 64)?, u128::from(u64::MAX)),
            };
            OfAction::WriteMetadata { value: (v & m) as u64, mask: m as u64 }
        }
        "set_field" => parse_set_field(need("VALUE->FIELD")?, ports)?,
        "load" => parse_load(need("VALUE->FIELD[BITS]")?)?,
        "move" => parse_move(need("SRC[]->DST[]")?)?,
        "mod_dl_src" | "mod_dl_dst" => {
            let s = need("an Ethernet address")?;
            let e = s.parse::<EthAddr>().map_err(|_| {
                ParseError::new(name, s, "not an Ethernet address (xx:xx:xx:xx:xx:xx)")
            })?;
            if lname == "mod_dl_src" {
                OfAction::SetEthSrc(e)
            } else {
                OfAction::SetEthDst(e)
            }
        }
        "mod_nw_src" | "mod_nw_dst" => {
            let s = need("an IPv4 address")?;
            let a = s
                .parse::<Ipv4Addr>()
                .map_err(|_| ParseError::new(name, s, "not an IPv4 address"))?;
            if lname == "mod_nw_src" {
                OfAction::SetIpv4Src(a)
            } else {
                OfAction::SetIpv4Dst(a)
            }
        }
        "mod_nw_tos" => {
            let s = need("a TOS value")?;
            let v: u8 = num(name, s, 8)?;
            if v & 3 != 0 {
                return Err(ParseError::new(
                    name,
                    s,
                    "the low two (ECN) bits of the TOS value must be zero",
                ));
            }
            OfAction::SetIpDscp(v >> 2)
        }
        "mod_nw_ecn" => OfAction::SetIpEcn(num(name, need("0 to 3")?, 2)?),
        "mod_nw_ttl" => OfAction::SetIpTtl(num(name, need("a TTL")?, 8)?),
        "mod_tp_src" => OfAction::SetL4Src(num(name, need("a port")?, 16)?),
        "mod_tp_dst" => OfAction::SetL4Dst(num(name, need("a port")?, 16)?),
        "dec_ttl" => {
            let mut ids = Vec::new();
            if let Some(a) = arg {
                for id in a.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                    ids.push(num("dec_ttl", id, 16)?);
                }
            }
            OfAction::DecTtl(ids)
        }
        "push_vlan" => {
            let s = need("an Ethertype")?;
            let t: u16 = num(name, s, 16)?;
            if t != 0x8100 && t != 0x88a8 {
                return Err(ParseError::new(name, s, "the VLAN Ethertype is 0x8100 or 0x88a8"));
            }
            OfAction::PushVlan(t)
        }
        "pop_vlan" | "strip_vlan" if arg.is_none() => OfAction::PopVlan,
        "mod_vlan_vid" => {
            let s = need("a VLAN id")?;
            let v: u16 = num(name, s, 16)?;
            if v > 4095 {
                return Err(ParseError::new(name, s, "a VLAN id is 0 to 4095"));
            }
            OfAction::SetVlanVid(v)
        }
        "mod_vlan_pcp" => {
            let s = need("a VLAN priority")?;
            let v: u8 = num(name, s, 8)?;
            if v > 7 {
                return Err(ParseError::new(name, s, "a VLAN priority is 0 to 7"));
            }
            OfAction::SetVlanPcp(v)
        }
        "set_tunnel" | "set_tunnel64" => {
            let id: u64 = num(name, need("a tunnel id")?, 64)?;
            OfAction::SetTunnel { id, wide: lname == "set_tunnel64" || id > u64::from(u32::MAX) }
        }
        "set_queue" => OfAction::SetQueue(num(name, need("a queue id")?, 32)?),
        "clone" if paren => OfAction::Clone(parse_actions(arg.unwrap_or(""), ports)?),
        "write_actions" if paren => {
            OfAction::WriteActions(parse_actions(arg.unwrap_or(""), ports)?)
        }
        "note" => OfAction::Note(parse_bytes("note", arg.unwrap_or(""))?),
        "exit" if arg.is_none() => OfAction::Exit,
        "clear_actions" if arg.is_none() => OfAction::ClearActions,
        "drop" => return Err(ParseError::new("drop", item, "drop must be the only action")),
        _ if arg.is_none() => match parse_port("output", name, ports) {
            Ok(OfPort::CONTROLLER) => return parse_one("controller", ports),
            Ok(p) => OfAction::output(p),
            Err(_) => return Err(ParseError::new(name, item, "unknown action")),
        },
        _ => return Err(ParseError::new(name, item, "unknown action")),
    };
    Ok(a)
}

/// Parses an action list in ovs-ofctl's syntax. An empty string and `drop`
/// are the empty list.
pub fn parse_actions(s: &str, ports: &dyn PortNames) -> Result<Vec<OfAction>, ParseError> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("drop") {
        return Ok(Vec::new());
    }
    split_top(s)?
        .into_iter()
        .map(|item| {
            if item.is_empty() {
                Err(ParseError::new("actions", s, "empty action between commas"))
            } else {
                parse_one(item, ports)
            }
        })
        .collect()
}

fn write_action(out: &mut String, a: &OfAction, ports: &dyn PortNames) {
    let _ = match a {
        OfAction::Output { port, max_len } if *port == OfPort::CONTROLLER => {
            write!(out, "CONTROLLER:{max_len}")
        }
        OfAction::Output { port, max_len } if *max_len != 0 => {
            write!(out, "output(port={},max_len={max_len})", format_port(*port, ports))
        }
        OfAction::Output { port, .. } if port.0 < OfPort::MAX.0 => {
            write!(out, "output:{}", format_port(*port, ports))
        }
        OfAction::Output { port, .. } => write!(out, "{port}"),
        OfAction::Controller { max_len, reason, id, userdata } => {
            if *reason == PacketInReason::Action && *id == 0 && userdata.is_empty() {
                write!(out, "CONTROLLER:{max_len}")
            } else {
                let mut args = Vec::new();
                if *reason != PacketInReason::Action {
                    args.push(format!("reason={}", reason.name()));
                }
                if *max_len != u16::MAX {
                    args.push(format!("max_len={max_len}"));
                }
                if *id != 0 {
                    args.push(format!("id={id}"));
                }
                if !userdata.is_empty() {
                    args.push(format!("userdata={}", format_bytes(userdata)));
                }
                write!(out, "controller({})", args.join(","))
            }
        }
        OfAction::Resubmit { in_port: Some(p), table: None } => {
            write!(out, "resubmit:{}", format_port(*p, ports))
        }
        OfAction::Resubmit { in_port, table } => write!(
            out,
            "resubmit({},{})",
            in_port.map(|p| format_port(p, ports)).unwrap_or_default(),
            table.map(|t| t.to_string()).unwrap_or_default()
        ),
        OfAction::GotoTable(t) => write!(out, "goto_table:{t}"),
        OfAction::WriteMetadata { value, mask } if *mask == u64::MAX => {
            write!(out, "write_metadata:{}", hex(u128::from(*value)))
        }
        OfAction::WriteMetadata { value, mask } => {
            write!(out, "write_metadata:{}/{}", hex(u128::from(*value)), hex(u128::from(*mask)))
        }
        OfAction::SetField { field, value, mask, load } => {
            let contiguous = *mask != 0 && {
                let ofs = mask.trailing_zeros();
                let n = mask.count_ones();
                n + ofs == 128 || (mask >> ofs) == (1u128 << n) - 1
            };
            if *load && contiguous {
                let ofs = mask.trailing_zeros();
                let sf = SubField { field: *field, ofs, n_bits: mask.count_ones() };
                write!(out, "load:{}->{}", hex((value & mask) >> ofs), format_subfield(&sf))
            } else {
                let m = mask & full_mask(*field);
                write!(
                    out,
                    "set_field:{}->{}",
                    format_value(*field, value & m, m, ports),
                    set_field_name(*field)
                )
            }
        }
        OfAction::Move { src, dst } => {
            write!(out, "move:{}->{}", format_subfield(src), format_subfield(dst))
        }
        OfAction::SetEthSrc(e) => write!(out, "mod_dl_src:{e}"),
        OfAction::SetEthDst(e) => write!(out, "mod_dl_dst:{e}"),
        OfAction::SetIpv4Src(a) => write!(out, "mod_nw_src:{a}"),
        OfAction::SetIpv4Dst(a) => write!(out, "mod_nw_dst:{a}"),
        OfAction::SetIpDscp(d) => write!(out, "mod_nw_tos:{}", u16::from(*d) << 2),
        OfAction::SetIpEcn(e) => write!(out, "mod_nw_ecn:{e}"),
        OfAction::SetIpTtl(t) => write!(out, "mod_nw_ttl:{t}"),
        OfAction::SetL4Src(p) => write!(out, "mod_tp_src:{p}"),
        OfAction::SetL4Dst(p) => write!(out, "mod_tp_dst:{p}"),
        OfAction::DecTtl(ids) if ids.is_empty() => write!(out, "dec_ttl"),
        OfAction::DecTtl(ids) => {
            write!(out, "dec_ttl({})", ids.iter().map(u16::to_string).collect::<Vec<_>>().join(","))
        }
        OfAction::PushVlan(t) => write!(out, "push_vlan:{t:#x}"),
        OfAction::PopVlan => write!(out, "strip_vlan"),
        OfAction::SetVlanVid(v) => write!(out, "mod_vlan_vid:{v}"),
        OfAction::SetVlanPcp(p) => write!(out, "mod_vlan_pcp:{p}"),
        OfAction::SetTunnel { id, wide } => {
            if *wide || *id > u64::from(u32::MAX) {
                write!(out, "set_tunnel64:{}", hex(u128::from(*id)))
            } else {
                write!(out, "set_tunnel:{}", hex(u128::from(*id)))
            }
        }
        OfAction::SetQueue(q) => write!(out, "set_queue:{q}"),
        OfAction::Clone(inner) => write!(out, "clone({})", format_list(inner, ports)),
        OfAction::Note(b) => write!(out, "note:{}", format_bytes(b)),
        OfAction::Exit => write!(out, "exit"),
        OfAction::WriteActions(inner) => {
            write!(out, "write_actions({})", format_list(inner, ports))
        }
        OfAction::ClearActions => write!(out, "clear_actions"),
    };
}

fn format_list(a: &[OfAction], ports: &dyn PortNames) -> String {
    let mut out = String::new();
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_action(&mut out, x, ports);
    }
    out
}

/// Prints an action list as ovs-ofctl does; the empty list is `drop`.
pub fn format_actions(a: &[OfAction], ports: &dyn PortNames) -> String {
    if a.is_empty() {
        "drop".to_string()
    } else {
        format_list(a, ports)
    }
}
