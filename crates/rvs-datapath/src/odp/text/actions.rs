//! Datapath actions in OVS's odp syntax.

use super::{
    format_fields, format_flags, format_vlan_tci, hex, parse_fields, parse_flags, parse_num,
    parse_vlan_tci, split_call, split_list, split_mask, FDesc, Fields, Kind, OdpParseError, Result,
    MAX_NESTING, TUN_FLAG_NAMES,
};
use crate::odp::{DropReason, HashAlg, OdpAction, SetField, UserspaceAction};
use rvs_packet::{EthAddr, OdpPort};
use std::net::{Ipv4Addr, Ipv6Addr};

const U8: u128 = 0xff;
const U16: u128 = 0xffff;
const U32: u128 = 0xffff_ffff;
const U48: u128 = 0xffff_ffff_ffff;
const LABEL: u128 = 0xfffff;

const fn f(name: &'static str, kind: Kind, full: u128) -> FDesc {
    super::fd(name, kind, full, full)
}

const ETH: &[FDesc] = &[f("src", Kind::Mac, U48), f("dst", Kind::Mac, U48)];
const IPV4: &[FDesc] = &[
    f("src", Kind::Ip4, U32),
    f("dst", Kind::Ip4, U32),
    f("proto", Kind::Dec, U8),
    f("tos", Kind::Hex, U8),
    f("ttl", Kind::Dec, U8),
    f("frag", Kind::Frag, U8),
];
const IPV6: &[FDesc] = &[
    f("src", Kind::Ip6, u128::MAX),
    f("dst", Kind::Ip6, u128::MAX),
    f("label", Kind::Hex, LABEL),
    f("proto", Kind::Dec, U8),
    f("tclass", Kind::Hex, U8),
    f("hlimit", Kind::Dec, U8),
    f("frag", Kind::Frag, U8),
];
const PORTS: &[FDesc] = &[f("src", Kind::Dec, U16), f("dst", Kind::Dec, U16)];
const ICMP: &[FDesc] = &[f("type", Kind::Dec, U8), f("code", Kind::Dec, U8)];
const ARP: &[FDesc] = &[
    f("sip", Kind::Ip4, U32),
    f("tip", Kind::Ip4, U32),
    f("op", Kind::Dec, U16),
    f("sha", Kind::Mac, U48),
    f("tha", Kind::Mac, U48),
];
const ND: &[FDesc] =
    &[f("target", Kind::Ip6, u128::MAX), f("sll", Kind::Mac, U48), f("tll", Kind::Mac, U48)];
/// Tunnel fields; the IPv4 and IPv6 address pairs are alternatives.
const TUNNEL: &[FDesc] = &[
    f("tun_id", Kind::Hex, u64::MAX as u128),
    f("src", Kind::Ip4, U32),
    f("dst", Kind::Ip4, U32),
    f("ipv6_src", Kind::Ip6, u128::MAX),
    f("ipv6_dst", Kind::Ip6, u128::MAX),
    f("tos", Kind::Hex, U8),
    f("ttl", Kind::Dec, U8),
    f("tp_src", Kind::Dec, U16),
    f("tp_dst", Kind::Dec, U16),
];

/// An attribute's name, field table and field values (for `Priority` and
/// `Mark` one value, no table).
fn explode(sf: &SetField) -> (&'static str, &'static [FDesc], Vec<u128>) {
    let ip4 = |a: Ipv4Addr| u32::from(a) as u128;
    let mac = |a: EthAddr| a.to_u64() as u128;
    match *sf {
        SetField::Eth { src, dst } => ("eth", ETH, vec![mac(src), mac(dst)]),
        SetField::Ipv4 { src, dst, proto, tos, ttl, frag } => (
            "ipv4",
            IPV4,
            vec![ip4(src), ip4(dst), proto.into(), tos.into(), ttl.into(), frag.into()],
        ),
        SetField::Ipv6 { src, dst, label, proto, tclass, hlimit, frag } => (
            "ipv6",
            IPV6,
            vec![
                src.into(),
                dst.into(),
                label.into(),
                proto.into(),
                tclass.into(),
                hlimit.into(),
                frag.into(),
            ],
        ),
        SetField::Tcp { src, dst } => ("tcp", PORTS, vec![src.into(), dst.into()]),
        SetField::Udp { src, dst } => ("udp", PORTS, vec![src.into(), dst.into()]),
        SetField::Sctp { src, dst } => ("sctp", PORTS, vec![src.into(), dst.into()]),
        SetField::Icmp { typ, code } => ("icmp", ICMP, vec![typ.into(), code.into()]),
        SetField::Icmpv6 { typ, code } => ("icmpv6", ICMP, vec![typ.into(), code.into()]),
        SetField::Arp { sip, tip, op, sha, tha } => {
            ("arp", ARP, vec![ip4(sip), ip4(tip), op.into(), mac(sha), mac(tha)])
        }
        SetField::Nd { target, sll, tll } => ("nd", ND, vec![target.into(), mac(sll), mac(tll)]),
        SetField::Priority(v) => ("skb_priority", &[], vec![v.into()]),
        SetField::Mark(v) => ("skb_mark", &[], vec![v.into()]),
        SetField::Tunnel { tun_id, src, dst, ipv6, tos, ttl, tp_src, tp_dst, .. } => {
            let (s4, d4, s6, d6) =
                if ipv6 { (0, 0, src, dst) } else { (src & U32, dst & U32, 0, 0) };
            (
                "tunnel",
                TUNNEL,
                vec![
                    tun_id.into(),
                    s4,
                    d4,
                    s6,
                    d6,
                    tos.into(),
                    ttl.into(),
                    tp_src.into(),
                    tp_dst.into(),
                ],
            )
        }
    }
}

/// The inverse of [`explode`] (`flags` and `ipv6` only matter for tunnels).
fn implode(name: &str, v: &[u128], flags: u16, ipv6: bool) -> SetField {
    let ip4 = |x: u128| Ipv4Addr::from(x as u32);
    let ip6 = Ipv6Addr::from;
    let mac = |x: u128| EthAddr::from_u64(x as u64);
    match name {
        "eth" => SetField::Eth { src: mac(v[0]), dst: mac(v[1]) },
        "ipv4" => SetField::Ipv4 {
            src: ip4(v[0]),
            dst: ip4(v[1]),
            proto: v[2] as u8,
            tos: v[3] as u8,
            ttl: v[4] as u8,
            frag: v[5] as u8,
        },
        "ipv6" => SetField::Ipv6 {
            src: ip6(v[0]),
            dst: ip6(v[1]),
            label: v[2] as u32,
            proto: v[3] as u8,
            tclass: v[4] as u8,
            hlimit: v[5] as u8,
            frag: v[6] as u8,
        },
        "tcp" => SetField::Tcp { src: v[0] as u16, dst: v[1] as u16 },
        "udp" => SetField::Udp { src: v[0] as u16, dst: v[1] as u16 },
        "sctp" => SetField::Sctp { src: v[0] as u16, dst: v[1] as u16 },
        "icmp" => SetField::Icmp { typ: v[0] as u8, code: v[1] as u8 },
        "icmpv6" => SetField::Icmpv6 { typ: v[0] as u8, code: v[1] as u8 },
        "arp" => SetField::Arp {
            sip: ip4(v[0]),
            tip: ip4(v[1]),
            op: v[2] as u16,
            sha: mac(v[3]),
            tha: mac(v[4]),
        },
        "nd" => SetField::Nd { target: ip6(v[0]), sll: mac(v[1]), tll: mac(v[2]) },
        "skb_priority" => SetField::Priority(v[0] as u32),
        "skb_mark" => SetField::Mark(v[0] as u32),
        _ => SetField::Tunnel {
            tun_id: v[0] as u64,
            src: if ipv6 { v[3] } else { v[1] },
            dst: if ipv6 { v[4] } else { v[2] },
            ipv6,
            tos: v[5] as u8,
            ttl: v[6] as u8,
            tp_src: v[7] as u16,
            tp_dst: v[8] as u16,
            flags,
        },
    }
}

fn tun_flags(sf: &SetField) -> (u16, bool) {
    match *sf {
        SetField::Tunnel { flags, ipv6, .. } => (flags, ipv6),
        _ => (0, false),
    }
}

/// The canonical form of a set action, the one [`format_actions`] prints
/// and [`parse_actions`] returns:
///
/// - a `mask` of another variant than `value` counts as all-zero;
/// - a masked set whose mask is exact in every field becomes `Set(value)`;
/// - a masked set forgets the value of fields its mask leaves out (they are
///   not printed), except in `skb_priority`, `skb_mark` and `tunnel`, which
///   print every field;
/// - bits a field cannot hold are cleared: the IPv6 label keeps 20 bits, an
///   IPv4 tunnel address 32; a tunnel mask's `ipv6` is the value's.
pub fn normalize_set(value: &SetField, mask: Option<&SetField>) -> OdpAction {
    let (name, descs, mut vals) = explode(value);
    let (flags, ipv6) = tun_flags(value);
    let scalar = descs.is_empty();
    clamp(name, &mut vals);
    let Some(mask) = mask else {
        return OdpAction::Set(implode(name, &vals, flags, ipv6));
    };
    let mask = match *mask {
        SetField::Tunnel { .. } if name == "tunnel" => with_ipv6(mask, ipv6),
        m => m,
    };
    let (mname, _, mut mvals) = explode(&mask);
    let mut mflags = tun_flags(&mask).0;
    if mname != name {
        mvals = vec![0; vals.len()];
        mflags = 0;
    }
    clamp(name, &mut mvals);
    let fulls: Vec<u128> = if scalar { vec![U32] } else { descs.iter().map(|d| d.full).collect() };
    // The tunnel's unused address family is not part of it.
    let used = |i: usize| name != "tunnel" || !matches!((i, ipv6), (1 | 2, true) | (3 | 4, false));
    let exact = (0..vals.len()).all(|i| !used(i) || mvals[i] == fulls[i])
        && (name != "tunnel" || mflags == u16::MAX);
    if exact {
        return OdpAction::Set(implode(name, &vals, flags, ipv6));
    }
    // Only the masked flag bits print (`+df-csum`).
    let flags = flags & mflags;
    if !scalar && name != "tunnel" {
        for (v, m) in vals.iter_mut().zip(&mvals) {
            if *m == 0 {
                *v = 0;
            }
        }
    }
    OdpAction::SetMasked {
        value: Box::new(implode(name, &vals, flags, ipv6)),
        mask: Box::new(implode(name, &mvals, mflags, ipv6)),
    }
}

/// `sf` (a tunnel) with its `ipv6` flag set to `ipv6`.
fn with_ipv6(sf: &SetField, ipv6: bool) -> SetField {
    let mut sf = *sf;
    if let SetField::Tunnel { ipv6: v, .. } = &mut sf {
        *v = ipv6;
    }
    sf
}

fn clamp(name: &str, vals: &mut [u128]) {
    if name == "ipv6" {
        vals[2] &= LABEL;
    }
}

/// The canonical form of an action list (see the module docs):
/// `[Drop(Action)]` is `[]`, at any depth, and set actions are in
/// [`normalize_set`]'s form. `parse_actions(&format_actions(a))` returns
/// `normalize_actions(a)`.
pub fn normalize_actions(actions: &[OdpAction]) -> Vec<OdpAction> {
    if let [OdpAction::Drop(DropReason::Action)] = actions {
        return Vec::new();
    }
    actions.iter().map(normalize_action).collect()
}

fn normalize_action(a: &OdpAction) -> OdpAction {
    match a {
        OdpAction::Set(v) => normalize_set(v, None),
        OdpAction::SetMasked { value, mask } => normalize_set(value, Some(mask)),
        OdpAction::Clone(inner) => OdpAction::Clone(normalize_actions(inner)),
        OdpAction::CheckPktLen { pkt_len, gt, le } => OdpAction::CheckPktLen {
            pkt_len: *pkt_len,
            gt: normalize_actions(gt),
            le: normalize_actions(le),
        },
        other => other.clone(),
    }
}

/// Prints actions in OVS's syntax, comma-separated; an empty list prints
/// `drop`.
///
/// ```
/// # use rvs_datapath::odp::{text::format_actions, OdpAction};
/// # use rvs_packet::OdpPort;
/// let a = [OdpAction::Output(OdpPort(2)), OdpAction::PushVlan { tpid: 0x8100, tci: 0x100a }];
/// assert_eq!(format_actions(&a), "2,push_vlan(vid=10,pcp=0)");
/// assert_eq!(format_actions(&[]), "drop");
/// ```
pub fn format_actions(actions: &[OdpAction]) -> String {
    let mut s = String::new();
    write_actions(&mut s, actions);
    s
}

fn write_actions(out: &mut String, actions: &[OdpAction]) {
    if actions.is_empty() {
        out.push_str("drop");
        return;
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_action(out, a);
    }
}

fn write_action(out: &mut String, a: &OdpAction) {
    match a {
        OdpAction::Output(p) => out.push_str(&p.0.to_string()),
        OdpAction::Userspace(u) => {
            out.push_str(&format!("userspace(pid={}", u.pid));
            if !u.userdata.is_empty() {
                out.push_str(",userdata(");
                for b in &u.userdata {
                    out.push_str(&format!("{b:02x}"));
                }
                out.push(')');
            }
            if u.actions {
                out.push_str(",actions");
            }
            if let Some(p) = u.tunnel_out_port {
                out.push_str(&format!(",tunnel_out_port={}", p.0));
            }
            out.push(')');
        }
        OdpAction::Set(v) => write_set(out, &normalize_set(v, None)),
        OdpAction::SetMasked { value, mask } => write_set(out, &normalize_set(value, Some(mask))),
        OdpAction::PushVlan { tpid, tci } => {
            out.push_str("push_vlan(");
            if *tpid != 0x8100 {
                out.push_str(&format!("tpid={tpid:#06x},"));
            }
            // OVS prints vid and pcp always, cfi=0 only when clear.
            out.push_str(&format_vlan_tci(*tci, 0xffff));
            out.push(')');
        }
        OdpAction::PopVlan => out.push_str("pop_vlan"),
        OdpAction::Recirc(id) => out.push_str(&format!("recirc({})", hex((*id).into()))),
        OdpAction::Hash { alg, basis } => {
            let alg = match alg {
                HashAlg::L4 => "l4",
                HashAlg::SymL4 => "sym_l4",
            };
            out.push_str(&format!("hash({alg}({basis}))"));
        }
        OdpAction::Clone(inner) => {
            out.push_str("clone(");
            write_actions(out, inner);
            out.push(')');
        }
        OdpAction::Trunc(n) => out.push_str(&format!("trunc({n})")),
        OdpAction::CheckPktLen { pkt_len, gt, le } => {
            out.push_str(&format!("check_pkt_len(size={pkt_len},gt("));
            write_actions(out, gt);
            out.push_str("),le(");
            write_actions(out, le);
            out.push_str("))");
        }
        OdpAction::Drop(DropReason::Action) => out.push_str("drop"),
        OdpAction::Drop(r) => {
            let name = r.name();
            let short = name.strip_prefix("datapath_drop_").unwrap_or(&name);
            out.push_str(&format!("drop({short})"));
        }
    }
}

/// Prints a normalized `Set`/`SetMasked`.
fn write_set(out: &mut String, a: &OdpAction) {
    let (value, mask) = match a {
        OdpAction::Set(v) => (v, None),
        OdpAction::SetMasked { value, mask } => (&**value, Some(&**mask)),
        _ => unreachable!("normalize_set returns a set"),
    };
    let (name, descs, vals) = explode(value);
    let mvals = mask.map(|m| explode(m).2);
    let mut parts = Vec::new();
    if descs.is_empty() {
        let mut s = hex(vals[0]);
        if let Some(m) = &mvals {
            s += &format!("/{}", hex(m[0]));
        }
        parts.push(s);
    } else if name == "tunnel" {
        let (flags, ipv6) = tun_flags(value);
        let (skip, dst) = if ipv6 { (1..3, 4) } else { (3..5, 2) };
        let mut d = Vec::new();
        let mut v = Vec::new();
        let mut m = Vec::new();
        for i in 0..TUNNEL.len() {
            if skip.contains(&i) {
                continue;
            }
            // A whole set prints like OVS: only present attributes (zero
            // ones left out), but always the destination and TTL.
            if mvals.is_none()
                && vals[i] == 0
                && i != dst
                && i != 6
                && !(i == 0 && flags & rvs_packet::flow::TNL_F_KEY != 0)
            {
                continue;
            }
            d.push(TUNNEL[i]);
            v.push(vals[i]);
            if let Some(mv) = &mvals {
                m.push(mv[i]);
            }
        }
        format_fields(&mut parts, &d, &v, mvals.as_ref().map(|_| &m[..]), true);
        let fm = mask.map_or(u16::MAX, |m| tun_flags(m).0);
        parts.push(format!("flags({})", format_flags(TUN_FLAG_NAMES, flags, fm, u16::MAX)));
    } else {
        format_fields(&mut parts, descs, &vals, mvals.as_deref(), false);
    }
    out.push_str(&format!("set({name}({}))", parts.join(",")));
}

/// Parses actions in OVS's syntax: what [`format_actions`] prints, `drop`
/// for none.
///
/// ```
/// # use rvs_datapath::odp::text::{format_actions, parse_actions};
/// let s = "set(ipv4(dst=198.18.0.9)),push_vlan(vid=10,pcp=0),2";
/// assert_eq!(format_actions(&parse_actions(s).unwrap()), s);
/// ```
pub fn parse_actions(s: &str) -> std::result::Result<Vec<OdpAction>, OdpParseError> {
    parse_list(s, 0)
}

fn parse_list(s: &str, depth: usize) -> Result<Vec<OdpAction>> {
    if depth > MAX_NESTING {
        return Err(OdpParseError::TooDeep(MAX_NESTING));
    }
    let t = s.trim();
    if t == "drop" {
        return Ok(Vec::new());
    }
    let items = split_list(t)?;
    if items.is_empty() {
        return Err(OdpParseError::Syntax { expected: "actions (or drop)", found: s.into() });
    }
    items.into_iter().map(|i| parse_action(i, depth)).collect()
}

fn parse_action(item: &str, depth: usize) -> Result<OdpAction> {
    if item.starts_with(|c: char| c.is_ascii_digit()) {
        let p = parse_num("output", "port", item, U32)?;
        return Ok(OdpAction::Output(OdpPort(p as u32)));
    }
    let (name, body) = split_call(item)?;
    fn need_body<'a>(b: Option<&'a str>, item: &str) -> Result<&'a str> {
        b.ok_or_else(|| OdpParseError::Syntax { expected: "name(...)", found: item.into() })
    }
    let no_body = |b: Option<&str>, a| match b {
        None => Ok(a),
        Some(_) => Err(OdpParseError::Syntax { expected: "no arguments", found: item.into() }),
    };
    match name {
        "drop" => match body {
            None => Ok(OdpAction::Drop(DropReason::Action)),
            Some(r) => parse_drop_reason(r.trim()).map(OdpAction::Drop),
        },
        "pop_vlan" => no_body(body, OdpAction::PopVlan),
        "push_vlan" => {
            let mut tpid = None;
            let (tci, m) = parse_vlan_tci("push_vlan", need_body(body, item)?, |n, v| {
                if n != "tpid" {
                    return Ok(false);
                }
                if tpid.is_some() {
                    return Err(OdpParseError::DuplicateField {
                        attr: "push_vlan".into(),
                        field: "tpid".into(),
                    });
                }
                tpid = Some(parse_num("push_vlan", "tpid", v, U16)? as u16);
                Ok(true)
            })?;
            if m != 0xffff {
                return Err(OdpParseError::Inconsistent(format!(
                    "push_vlan needs vid= and pcp=, without masks (TCI mask {m:#06x})"
                )));
            }
            Ok(OdpAction::PushVlan { tpid: tpid.unwrap_or(0x8100), tci })
        }
        "recirc" => {
            Ok(OdpAction::Recirc(parse_num("recirc", "id", need_body(body, item)?, U32)? as u32))
        }
        "trunc" => {
            Ok(OdpAction::Trunc(parse_num("trunc", "max_len", need_body(body, item)?, U32)? as u32))
        }
        "hash" => {
            let (alg, basis) = split_call(need_body(body, item)?.trim())?;
            let alg = match alg {
                "l4" => HashAlg::L4,
                "sym_l4" => HashAlg::SymL4,
                _ => {
                    return Err(OdpParseError::BadValue {
                        attr: "hash".into(),
                        field: "algorithm".into(),
                        value: alg.into(),
                        expected: "l4 or sym_l4",
                    })
                }
            };
            let basis = basis
                .ok_or(OdpParseError::Syntax { expected: "hash(l4(basis))", found: item.into() })?;
            Ok(OdpAction::Hash { alg, basis: parse_num("hash", "basis", basis, U32)? as u32 })
        }
        "clone" => Ok(OdpAction::Clone(parse_list(need_body(body, item)?, depth + 1)?)),
        "check_pkt_len" => parse_check_pkt_len(need_body(body, item)?, depth),
        "userspace" => parse_userspace(need_body(body, item)?),
        "set" => parse_set(need_body(body, item)?),
        _ => Err(OdpParseError::UnknownAction(name.into())),
    }
}

fn parse_drop_reason(r: &str) -> Result<DropReason> {
    if r == "action" {
        return Ok(DropReason::Action);
    }
    if let Some(n) = r.strip_prefix("xlate_error_") {
        return Ok(DropReason::Xlate(parse_num("drop", "xlate_error", n, U32)? as u32));
    }
    DropReason::NAMED
        .iter()
        .copied()
        .find(|d| d.name().strip_prefix("datapath_drop_") == Some(r))
        .ok_or_else(|| OdpParseError::BadValue {
            attr: "drop".into(),
            field: "reason".into(),
            value: r.into(),
            expected: "a drop reason such as invalid_port or xlate_error_1",
        })
}

fn parse_check_pkt_len(body: &str, depth: usize) -> Result<OdpAction> {
    let (mut size, mut gt, mut le) = (None, None, None);
    for item in split_list(body)? {
        let dup = |f: &str| OdpParseError::DuplicateField {
            attr: "check_pkt_len".into(),
            field: f.into(),
        };
        if let Some(v) = item.strip_prefix("size=") {
            if size.replace(parse_num("check_pkt_len", "size", v, U16)? as u16).is_some() {
                return Err(dup("size"));
            }
            continue;
        }
        match split_call(item)? {
            ("gt", Some(b)) => {
                if gt.replace(parse_list(b, depth + 1)?).is_some() {
                    return Err(dup("gt"));
                }
            }
            ("le", Some(b)) => {
                if le.replace(parse_list(b, depth + 1)?).is_some() {
                    return Err(dup("le"));
                }
            }
            _ => {
                return Err(OdpParseError::UnknownField {
                    attr: "check_pkt_len".into(),
                    field: item.into(),
                })
            }
        }
    }
    let missing = |field| OdpParseError::MissingField { attr: "check_pkt_len".into(), field };
    Ok(OdpAction::CheckPktLen {
        pkt_len: size.ok_or_else(|| missing("size"))?,
        gt: gt.ok_or_else(|| missing("gt"))?,
        le: le.ok_or_else(|| missing("le"))?,
    })
}

fn parse_userspace(body: &str) -> Result<OdpAction> {
    let mut u =
        UserspaceAction { pid: 0, userdata: Vec::new(), tunnel_out_port: None, actions: false };
    let mut pid = false;
    let mut userdata = false;
    for item in split_list(body)? {
        let dup =
            |f: &str| OdpParseError::DuplicateField { attr: "userspace".into(), field: f.into() };
        if let Some(v) = item.strip_prefix("pid=") {
            if std::mem::replace(&mut pid, true) {
                return Err(dup("pid"));
            }
            u.pid = parse_num("userspace", "pid", v, U32)? as u32;
        } else if let Some(v) = item.strip_prefix("tunnel_out_port=") {
            if u.tunnel_out_port.is_some() {
                return Err(dup("tunnel_out_port"));
            }
            let p = parse_num("userspace", "tunnel_out_port", v, U32)?;
            u.tunnel_out_port = Some(OdpPort(p as u32));
        } else if item == "actions" {
            if std::mem::replace(&mut u.actions, true) {
                return Err(dup("actions"));
            }
        } else if let ("userdata", Some(hexdata)) = split_call(item)? {
            if std::mem::replace(&mut userdata, true) {
                return Err(dup("userdata"));
            }
            u.userdata = parse_hex_bytes(hexdata.trim())?;
        } else {
            return Err(OdpParseError::UnknownField {
                attr: "userspace".into(),
                field: item.into(),
            });
        }
    }
    if !pid {
        return Err(OdpParseError::MissingField { attr: "userspace".into(), field: "pid" });
    }
    Ok(OdpAction::Userspace(u))
}

fn parse_hex_bytes(s: &str) -> Result<Vec<u8>> {
    let bad = || OdpParseError::BadValue {
        attr: "userspace".into(),
        field: "userdata".into(),
        value: s.into(),
        expected: "an even number of hex digits",
    };
    if s.len() & 1 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}

fn parse_set(body: &str) -> Result<OdpAction> {
    let (name, inner) = split_call(body.trim())?;
    let inner = inner
        .ok_or(OdpParseError::Syntax { expected: "set(attribute(...))", found: body.into() })?;
    let descs: &[FDesc] = match name {
        "eth" => ETH,
        "ipv4" => IPV4,
        "ipv6" => IPV6,
        "tcp" | "udp" | "sctp" => PORTS,
        "icmp" | "icmpv6" => ICMP,
        "arp" => ARP,
        "nd" => ND,
        "tunnel" => TUNNEL,
        "skb_priority" | "skb_mark" => {
            let (v, m) = split_mask(inner);
            let v = parse_num(name, "value", v, U32)?;
            return Ok(match m {
                None => OdpAction::Set(implode(name, &[v], 0, false)),
                Some(m) => OdpAction::SetMasked {
                    value: Box::new(implode(name, &[v], 0, false)),
                    mask: Box::new(implode(name, &[parse_num(name, "mask", m, U32)?], 0, false)),
                },
            });
        }
        _ => {
            return Err(OdpParseError::BadValue {
                attr: "set".into(),
                field: "attribute".into(),
                value: name.into(),
                expected: "a settable attribute (eth, ipv4, ipv6, tcp, udp, sctp, icmp, icmpv6, arp, nd, skb_priority, skb_mark, tunnel)",
            })
        }
    };
    if name == "tunnel" {
        return parse_set_tunnel(inner);
    }
    let p = parse_fields(name, descs, inner, |_| Ok(false))?;
    Ok(if p.all_seen() && !p.any_mask {
        OdpAction::Set(implode(name, &p.vals, 0, false))
    } else {
        OdpAction::SetMasked {
            value: Box::new(implode(name, &p.vals, 0, false)),
            mask: Box::new(implode(name, &p.masks, 0, false)),
        }
    })
}

/// `set(tunnel(..))`: without any `/mask` a whole set in OVS's form (absent
/// fields are zero); with one, a masked set of every field given.
fn parse_set_tunnel(inner: &str) -> Result<OdpAction> {
    let mut flags = None;
    let p: Fields = parse_fields("tunnel", TUNNEL, inner, |item| match split_call(item)? {
        ("flags", Some(b)) => {
            if flags.is_some() {
                return Err(OdpParseError::DuplicateField {
                    attr: "tunnel".into(),
                    field: "flags".into(),
                });
            }
            flags = Some(parse_flags("tunnel", TUN_FLAG_NAMES, b, u16::MAX)?);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    let v4 = p.seen[1] || p.seen[2];
    let v6 = p.seen[3] || p.seen[4];
    if v4 && v6 {
        return Err(OdpParseError::Inconsistent(
            "tunnel: give src/dst or ipv6_src/ipv6_dst, not both".into(),
        ));
    }
    let (fv, fm) = flags.unwrap_or((0, if p.any_mask { 0 } else { u16::MAX }));
    let any_mask = p.any_mask || fm != u16::MAX;
    let value = implode("tunnel", &p.vals, fv, v6);
    if !any_mask {
        return Ok(OdpAction::Set(value));
    }
    Ok(OdpAction::SetMasked {
        value: Box::new(value),
        mask: Box::new(implode("tunnel", &p.masks, fm, v6)),
    })
}
