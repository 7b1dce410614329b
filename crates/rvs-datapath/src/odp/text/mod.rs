//! OVS's datapath-flow ("odp") text syntax: parse and print keys, masks and
//! actions, as `ovs-appctl dpctl/dump-flows` prints them and `dpctl/add-flow`
//! reads them (OVS's `lib/odp-util.c`).
//!
//! # Keys
//!
//! [`format_key`] prints a [`FlowKey`](rvs_packet::FlowKey) under a
//! [`Mask`](rvs_packet::Mask) in OVS's attribute order:
//!
//! ```text
//! skb_priority, tunnel(..), skb_mark, recirc_id, dp_hash, in_port, eth(src,dst),
//! [eth_type(tpid),vlan(vid,pcp),encap(  -- up to two tags
//! eth_type, mpls(..) | ipv4(..) | ipv6(..) | arp(..),
//! tcp(..),tcp_flags(..) | udp(..) | sctp(..) | icmp(..) | icmpv6(..),nd(..) [)]
//! ```
//!
//! A field whose mask is zero is left out, an attribute whose mask is wholly
//! zero is left out, and a partially masked field is printed `value/mask`.
//! "Exact" means [`Mask::is_exact`](rvs_packet::Mask::is_exact) for the
//! field: every bit of the field in rvs's layout is set. Where rvs's field is
//! wider than OVS's (the 20-bit IPv6 label in a 32-bit field, ICMP type and
//! code in 16-bit port fields, 12 TCP flags in 16 bits, the frag enum in an
//! 8-bit field) a mask that is exact for OVS but not for rvs is printed with
//! its `/mask`, so printing and parsing stay exact inverses.
//!
//! rvs extensions, printed only for masks OVS cannot produce: `frag=` with a
//! partial mask prints rvs's raw `nw_frag` bits (`frag=0x1/0x1`); a VLAN
//! mask that leaves out the CFI (presence) bit prints `cfi=0/0`; TCP flag
//! and tunnel flag bits OVS has no name for print as `[1000]`.
//!
//! [`parse_key`] reads that syntax back, plus OVS's plain forms. A field
//! given without `/mask` is matched exactly; a field not given is wildcarded.
//! The returned key is masked. L3 and L4 attributes must agree with
//! `eth_type` and the IP protocol (`ipv4(..)` needs `eth_type(0x0800)`,
//! `tcp(..)` needs `proto=6`), since a key that disagrees could not be
//! printed back.
//!
//! # Actions
//!
//! [`format_actions`] prints OVS's syntax: `2`, `userspace(pid=1,userdata(0a0b),actions)`,
//! `set(eth(src=..,dst=..))`, `set(ipv4(dst=198.18.0.9))` for a masked set,
//! `push_vlan(vid=10,pcp=0)`, `pop_vlan`, `recirc(0x1)`, `hash(l4(0))`,
//! `clone(..)`, `trunc(100)`, `check_pkt_len(size=200,gt(..),le(..))`,
//! `drop`. An empty list prints as `drop`.
//!
//! Drop reasons other than [`DropReason::Action`](super::DropReason) are an
//! rvs extension, printed with their counter name's suffix:
//! `drop(invalid_port)`, `drop(xlate_error_5)`. OVS's plain `drop` is
//! `DropReason::Action`.
//!
//! Printing is canonical and [`parse_actions`] inverts it up to
//! [`normalize_actions`]: `[]` and `[Drop(Action)]` both print `drop` (and
//! parse to `[]`), a `SetMasked` whose mask is exact in every field is a
//! `Set`, and a masked set forgets the value of fields its mask leaves out.
//!
//! # Numbers
//!
//! Numbers are decimal, or hexadecimal with `0x`. (OVS's `scanf("%i")` would
//! read a leading `0` as octal; rvs reads `010` as ten.)

mod actions;
mod key;

pub use actions::{format_actions, normalize_actions, normalize_set, parse_actions};
pub use key::{format_key, implied_mask, parse_key};

use rvs_packet::EthAddr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Deepest nesting of `clone(..)`/`check_pkt_len(..)` the parser accepts
/// (OVS's `MAX_ODP_NESTED`).
pub const MAX_NESTING: usize = 32;

/// Why a datapath key or action string could not be parsed. Each message
/// names the attribute or field and the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OdpParseError {
    /// A key attribute rvs does not know.
    #[error("unknown key attribute \"{0}\"")]
    UnknownKeyAttr(String),
    /// An action rvs does not know.
    #[error("unknown action \"{0}\"")]
    UnknownAction(String),
    /// A field an attribute does not have.
    #[error("{attr}: unknown field \"{field}\"")]
    UnknownField {
        /// The attribute or action.
        attr: String,
        /// The field as written.
        field: String,
    },
    /// A number past what the field holds.
    #[error("{attr} field {field}: {value} is out of range 0-{max}")]
    OutOfRange {
        /// The attribute or action.
        attr: String,
        /// The field (`ttl`, or `ttl mask`).
        field: String,
        /// The value as written.
        value: String,
        /// The largest value allowed.
        max: u128,
    },
    /// A value that does not read as the field's type.
    #[error("{attr} field {field}: \"{value}\" is not {expected}")]
    BadValue {
        /// The attribute or action.
        attr: String,
        /// The field.
        field: String,
        /// The value as written.
        value: String,
        /// What was expected ("a number", "an IPv4 address", ...).
        expected: &'static str,
    },
    /// The same field twice in one attribute.
    #[error("{attr}: field {field} is given twice")]
    DuplicateField {
        /// The attribute or action.
        attr: String,
        /// The field.
        field: String,
    },
    /// The same key attribute twice.
    #[error("key attribute {0} is given twice")]
    DuplicateAttr(String),
    /// A field an action needs is missing.
    #[error("{attr}: field {field} is missing")]
    MissingField {
        /// The action.
        attr: String,
        /// The field.
        field: &'static str,
    },
    /// Parentheses that do not pair up.
    #[error("unbalanced parentheses in \"{0}\"")]
    Unbalanced(String),
    /// Text that does not have the expected shape.
    #[error("expected {expected}, found \"{found}\"")]
    Syntax {
        /// What the parser expected.
        expected: &'static str,
        /// The text it found.
        found: String,
    },
    /// Actions nested deeper than [`MAX_NESTING`].
    #[error("actions are nested deeper than {0} levels")]
    TooDeep(usize),
    /// Attributes that contradict each other.
    #[error("{0}")]
    Inconsistent(String),
}

type Result<T> = std::result::Result<T, OdpParseError>;

/// Splits `s` at commas outside parentheses; trims each item. An empty (or
/// all-blank) `s` gives no items; an empty item is an error.
fn split_list(s: &str) -> Result<Vec<&str>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                if depth == 0 {
                    return Err(OdpParseError::Unbalanced(s.to_string()));
                }
                depth -= 1;
            }
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(OdpParseError::Unbalanced(s.to_string()));
    }
    out.push(s[start..].trim());
    if out.iter().any(|i| i.is_empty()) {
        return Err(OdpParseError::Syntax {
            expected: "an item between commas",
            found: s.to_string(),
        });
    }
    Ok(out)
}

/// Splits `name(body)` into its name and body; `name` alone has no body.
fn split_call(item: &str) -> Result<(&str, Option<&str>)> {
    let Some(open) = item.find('(') else {
        return Ok((item, None));
    };
    // The '(' must pair with the final ')'.
    let mut depth = 0usize;
    for (i, c) in item[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| OdpParseError::Unbalanced(item.to_string()))?;
                if depth == 0 && open + i != item.len() - 1 {
                    return Err(OdpParseError::Syntax {
                        expected: "name(...) with nothing after the ')'",
                        found: item.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(OdpParseError::Unbalanced(item.to_string()));
    }
    Ok((item[..open].trim(), Some(&item[open + 1..item.len() - 1])))
}

/// Splits `value/mask`.
fn split_mask(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((v, m)) => (v.trim(), Some(m.trim())),
        None => (s.trim(), None),
    }
}

/// Reads a decimal or `0x` hexadecimal number.
fn parse_uint(s: &str) -> Option<u128> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(h, 16).ok()
    } else {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
}

/// Reads a number no larger than `max`, naming `attr` and `field` on error.
fn parse_num(attr: &str, field: &str, s: &str, max: u128) -> Result<u128> {
    let v = parse_uint(s).ok_or_else(|| {
        // A long run of digits is a number that overflowed.
        let digits = s.trim().trim_start_matches("0x");
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            OdpParseError::OutOfRange {
                attr: attr.into(),
                field: field.into(),
                value: s.trim().into(),
                max,
            }
        } else {
            OdpParseError::BadValue {
                attr: attr.into(),
                field: field.into(),
                value: s.into(),
                expected: "a number",
            }
        }
    })?;
    if v > max {
        return Err(OdpParseError::OutOfRange {
            attr: attr.into(),
            field: field.into(),
            value: s.trim().into(),
            max,
        });
    }
    Ok(v)
}

/// `%#x`: `0` for zero, `0x..` otherwise.
fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// How a field's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Decimal value, hex mask.
    Dec,
    /// Hex value (`%#x`), hex mask.
    Hex,
    /// Dotted quad, mask too.
    Ip4,
    /// IPv6 address, mask too.
    Ip6,
    /// Ethernet address, mask too.
    Mac,
    /// `no`/`first`/`later` over rvs's `nw_frag` bits, hex mask.
    Frag,
}

/// One field of an attribute: its name, how it is written, the largest
/// value and the exact mask.
#[derive(Clone, Copy, Debug)]
struct FDesc {
    name: &'static str,
    kind: Kind,
    max: u128,
    full: u128,
}

const fn fd(name: &'static str, kind: Kind, max: u128, full: u128) -> FDesc {
    FDesc { name, kind, max, full }
}

fn frag_name(v: u128) -> Option<&'static str> {
    use rvs_packet::flow::{FRAG_ANY, FRAG_LATER};
    match v {
        0 => Some("no"),
        x if x == FRAG_ANY as u128 => Some("first"),
        x if x == (FRAG_ANY | FRAG_LATER) as u128 => Some("later"),
        _ => None,
    }
}

fn format_value(kind: Kind, v: u128) -> String {
    match kind {
        Kind::Dec => v.to_string(),
        Kind::Hex => hex(v),
        Kind::Ip4 => Ipv4Addr::from(v as u32).to_string(),
        Kind::Ip6 => Ipv6Addr::from(v).to_string(),
        Kind::Mac => EthAddr::from_u64(v as u64).to_string(),
        Kind::Frag => frag_name(v).map_or_else(|| hex(v), str::to_string),
    }
}

fn format_mask(kind: Kind, m: u128) -> String {
    match kind {
        Kind::Dec | Kind::Hex | Kind::Frag => hex(m),
        _ => format_value(kind, m),
    }
}

fn parse_value(attr: &str, d: &FDesc, s: &str, is_mask: bool) -> Result<u128> {
    let field = if is_mask { format!("{} mask", d.name) } else { d.name.to_string() };
    let bad = |expected| OdpParseError::BadValue {
        attr: attr.into(),
        field: field.clone(),
        value: s.into(),
        expected,
    };
    match d.kind {
        Kind::Dec | Kind::Hex => parse_num(attr, &field, s, if is_mask { d.full } else { d.max }),
        Kind::Frag => {
            if !is_mask {
                match s {
                    "no" => return Ok(0),
                    "first" => return Ok(1),
                    "later" => return Ok(3),
                    _ => {}
                }
            }
            if parse_uint(s).is_none() {
                return Err(bad("no, first, later or a number"));
            }
            parse_num(attr, &field, s, d.full)
        }
        Kind::Ip4 => {
            s.parse::<Ipv4Addr>().map(|a| u32::from(a) as u128).map_err(|_| bad("an IPv4 address"))
        }
        Kind::Ip6 => s.parse::<Ipv6Addr>().map(u128::from).map_err(|_| bad("an IPv6 address")),
        Kind::Mac => {
            s.parse::<EthAddr>().map(|a| a.to_u64() as u128).map_err(|_| bad("an Ethernet address"))
        }
    }
}

/// Prints `name=value[/mask]` for each field. With `masks == None` every
/// field is printed exact (a whole `set`). With masks, fields whose mask is
/// zero are skipped unless `all` is set (then they print `/0`).
fn format_fields(
    out: &mut Vec<String>,
    descs: &[FDesc],
    vals: &[u128],
    masks: Option<&[u128]>,
    all: bool,
) {
    for (i, d) in descs.iter().enumerate() {
        let v = format_value(d.kind, vals[i]);
        match masks {
            None => out.push(format!("{}={v}", d.name)),
            Some(m) => {
                let m = m[i];
                if m == 0 && !all {
                    continue;
                }
                if m == d.full {
                    out.push(format!("{}={v}", d.name));
                } else {
                    out.push(format!("{}={v}/{}", d.name, format_mask(d.kind, m)));
                }
            }
        }
    }
}

/// The fields of one attribute as parsed.
struct Fields {
    vals: Vec<u128>,
    masks: Vec<u128>,
    seen: Vec<bool>,
    /// Some field had an explicit `/mask`.
    any_mask: bool,
}

impl Fields {
    fn all_seen(&self) -> bool {
        self.seen.iter().all(|&s| s)
    }
}

/// Parses `name=value[/mask],...` against `descs`. Items without `=` go to
/// `extra` (e.g. `flags(..)`), which returns false for ones it does not
/// know either.
fn parse_fields(
    attr: &str,
    descs: &[FDesc],
    body: &str,
    mut extra: impl FnMut(&str) -> Result<bool>,
) -> Result<Fields> {
    let n = descs.len();
    let mut f =
        Fields { vals: vec![0; n], masks: vec![0; n], seen: vec![false; n], any_mask: false };
    for item in split_list(body)? {
        let Some((name, value)) = item.split_once('=') else {
            if extra(item)? {
                continue;
            }
            return Err(OdpParseError::UnknownField { attr: attr.into(), field: item.into() });
        };
        let name = name.trim();
        let i = descs
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| OdpParseError::UnknownField { attr: attr.into(), field: name.into() })?;
        if f.seen[i] {
            return Err(OdpParseError::DuplicateField { attr: attr.into(), field: name.into() });
        }
        f.seen[i] = true;
        let (v, m) = split_mask(value);
        f.vals[i] = parse_value(attr, &descs[i], v, false)?;
        f.masks[i] = match m {
            Some(m) => {
                f.any_mask = true;
                parse_value(attr, &descs[i], m, true)?
            }
            None => descs[i].full,
        };
    }
    Ok(f)
}

/// A flag bit's name: `names` in print order, then `[hex]` for the rest.
fn flag_name(names: &[(u16, &'static str)], bit: u16) -> String {
    names
        .iter()
        .find(|(b, _)| *b == bit)
        .map_or_else(|| format!("[{bit:x}]"), |(_, n)| n.to_string())
}

/// Bits of `m` in print order: named ones in `names` order, then the rest
/// from the lowest.
fn flag_bits(names: &[(u16, &'static str)], m: u16) -> Vec<u16> {
    let mut bits: Vec<u16> = names.iter().map(|(b, _)| *b).filter(|b| m & b != 0).collect();
    for i in 0..16 {
        let b = 1u16 << i;
        if m & b != 0 && !bits.contains(&b) {
            bits.push(b);
        }
    }
    bits
}

/// OVS's `format_flags`/`format_flags_masked`: `a|b` (or `0`) when the mask
/// is `full`, `+a-b` over the mask's bits otherwise, `0/0` for no bits.
fn format_flags(names: &[(u16, &'static str)], v: u16, m: u16, full: u16) -> String {
    if m == full {
        let bits = flag_bits(names, v);
        if bits.is_empty() {
            return "0".into();
        }
        return bits.iter().map(|&b| flag_name(names, b)).collect::<Vec<_>>().join("|");
    }
    if m == 0 {
        return "0/0".into();
    }
    flag_bits(names, m)
        .iter()
        .map(|&b| format!("{}{}", if v & b != 0 { '+' } else { '-' }, flag_name(names, b)))
        .collect()
}

fn flag_by_name(names: &[(u16, &'static str)], s: &str) -> Option<u16> {
    if let Some((b, _)) = names.iter().find(|(_, n)| *n == s) {
        return Some(*b);
    }
    let h = s.strip_prefix('[')?.strip_suffix(']')?;
    let b = u16::from_str_radix(h, 16).ok()?;
    (b.count_ones() == 1).then_some(b)
}

/// Reads what [`format_flags`] prints, and numeric `v[/m]`.
fn parse_flags(
    attr: &str,
    names: &[(u16, &'static str)],
    s: &str,
    full: u16,
) -> Result<(u16, u16)> {
    let s = s.trim();
    let bad = |x: &str| OdpParseError::BadValue {
        attr: attr.into(),
        field: "flags".into(),
        value: x.into(),
        expected: "a flag name",
    };
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u16, 0u16);
        let mut rest = s;
        while !rest.is_empty() {
            let set = rest.starts_with('+');
            if !set && !rest.starts_with('-') {
                return Err(bad(rest));
            }
            let body = &rest[1..];
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let name = &body[..end];
            let b = flag_by_name(names, name).ok_or_else(|| bad(name))?;
            if m & b != 0 {
                return Err(OdpParseError::DuplicateField {
                    attr: attr.into(),
                    field: name.into(),
                });
            }
            m |= b;
            if set {
                v |= b;
            }
            rest = &body[end..];
        }
        return Ok((v, m));
    }
    if s.contains('/') || parse_uint(s).is_some() {
        let (v, m) = split_mask(s);
        let v = parse_num(attr, "flags", v, full as u128)? as u16;
        let m = match m {
            Some(m) => parse_num(attr, "flags mask", m, full as u128)? as u16,
            None => full,
        };
        return Ok((v, m));
    }
    let mut v = 0u16;
    for name in s.split('|') {
        v |= flag_by_name(names, name.trim()).ok_or_else(|| bad(name))?;
    }
    Ok((v, full))
}

/// Tunnel flag names in OVS's print order (its bit order).
const TUN_FLAG_NAMES: &[(u16, &str)] = &[
    (rvs_packet::flow::TNL_F_OAM, "oam"),
    (rvs_packet::flow::TNL_F_DONT_FRAGMENT, "df"),
    (rvs_packet::flow::TNL_F_CSUM, "csum"),
    (rvs_packet::flow::TNL_F_KEY, "key"),
];

/// TCP flag names (OVS's `packet_tcp_flag_to_string`).
const TCP_FLAG_NAMES: &[(u16, &str)] = &[
    (0x001, "fin"),
    (0x002, "syn"),
    (0x004, "rst"),
    (0x008, "psh"),
    (0x010, "ack"),
    (0x020, "urg"),
    (0x040, "ece"),
    (0x080, "cwr"),
    (0x100, "ns"),
];

/// VLAN TCI text (OVS's `format_vlan_tci`): `vid=`, `pcp=` when their mask
/// is non-zero, `cfi=0` when the tag-present bit is matched and clear, and
/// `cfi=0/0` (rvs) when it is not matched at all.
fn format_vlan_tci(tci: u16, mask: u16) -> String {
    const CFI: u16 = rvs_packet::flow::VLAN_CFI;
    let mut out = Vec::new();
    let (vm, pm) = (mask & 0xfff, mask >> 13);
    if vm != 0 {
        let mut s = format!("vid={}", tci & 0xfff);
        if vm != 0xfff {
            s += &format!("/{vm:#x}");
        }
        out.push(s);
    }
    if pm != 0 {
        let mut s = format!("pcp={}", tci >> 13);
        if pm != 7 {
            s += &format!("/{pm:#x}");
        }
        out.push(s);
    }
    if mask & CFI == 0 {
        out.push("cfi=0/0".into());
    } else if tci & CFI == 0 {
        out.push("cfi=0".into());
    }
    out.join(",")
}

/// Reads `vid=..,pcp=..,cfi=..` (each with an optional mask) into a TCI and
/// mask, starting from "tag present" (CFI set and matched). `extra` takes
/// the items that are not VLAN fields (e.g. `tpid=`).
fn parse_vlan_tci(
    attr: &str,
    body: &str,
    mut extra: impl FnMut(&str, &str) -> Result<bool>,
) -> Result<(u16, u16)> {
    const CFI: u16 = rvs_packet::flow::VLAN_CFI;
    let (mut tci, mut mask) = (CFI, CFI);
    let mut seen = [false; 3];
    for item in split_list(body)? {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| OdpParseError::UnknownField { attr: attr.into(), field: item.into() })?;
        let name = name.trim();
        let (idx, max, shift) = match name {
            "vid" => (0, 0xfffu16, 0),
            "pcp" => (1, 7, 13),
            "cfi" => (2, 1, 12),
            _ => {
                if extra(name, value)? {
                    continue;
                }
                return Err(OdpParseError::UnknownField { attr: attr.into(), field: name.into() });
            }
        };
        if std::mem::replace(&mut seen[idx], true) {
            return Err(OdpParseError::DuplicateField { attr: attr.into(), field: name.into() });
        }
        let (v, m) = split_mask(value);
        let v = parse_num(attr, name, v, max as u128)? as u16;
        let m = match m {
            Some(m) => parse_num(attr, &format!("{name} mask"), m, max as u128)? as u16,
            None => max,
        };
        let field = max << shift;
        tci = (tci & !field) | (v << shift);
        mask = (mask & !field) | (m << shift);
    }
    Ok((tci, mask))
}

#[cfg(test)]
mod tests;
