//! ovs-ofctl's flow text syntax: parsing `add-flow`/`mod-flows`/`del-flows`
//! arguments into [`FlowMod`](crate::FlowMod)s, and printing matches, action
//! lists and `dump-flows` lines the way ovs-ofctl prints them.
//!
//! The printed forms follow what ovs-ofctl prints for OVS's in-memory rules
//! (its "ofpacts" formatter), checked against `ovs-ofctl parse-flow` 3.1:
//!
//! - a match starts with `priority=` (omitted at the default 32768), then
//!   the packet metadata (`pkt_mark`, `recirc_id`, `dp_hash`,
//!   `skb_priority`), a protocol shorthand (`ip`, `tcp6`, `arp`, ...),
//!   registers (always as 32-bit `regN`, whatever width they were written
//!   with), tunnel fields, `metadata`, `in_port`, VLAN, Ethernet and the
//!   L3 and L4 fields;
//! - L4 ports print as `tp_src`/`tp_dst` whichever protocol they were
//!   written for, ICMP and ICMPv6 types and codes as `icmp_type`/`icmp_code`,
//!   the fragment field as `nw_frag`;
//! - an empty action list prints as `drop`.
//!
//! Where OVS's printed form depends on the OpenFlow version a rule travelled
//! over (OpenFlow 1.0 turns `goto_table` into `resubmit(,T)`, OpenFlow 1.3
//! turns `mod_dl_src` into `set_field`), rvs prints the action as it was
//! written: `pop_vlan` and `strip_vlan` are one action and print as
//! `strip_vlan`; `load:` and `set_field:` keep their own forms.
//!
//! Port names are used only through a [`PortNames`] resolver; [`NoNames`]
//! knows none, so ports print as numbers.

mod actions;
mod flow;
mod match_;
#[cfg(test)]
mod tests;

pub use actions::{format_actions, parse_actions};
pub use flow::{format_flow_no_stats, format_flow_stats, parse_flow_mod, FlowStatsLine};
pub use match_::{format_match, parse_match};

use crate::types::OfPort;

/// Maps port names to OpenFlow port numbers and back, for parsing
/// `in_port=eth0` and printing `output:eth0`.
pub trait PortNames {
    /// The number of the port called `name`, if there is one.
    fn port_by_name(&self, name: &str) -> Option<OfPort>;
    /// The name of port `p`, if it has one.
    fn port_name(&self, p: OfPort) -> Option<String>;
}

/// A [`PortNames`] that knows no names: ports are numbers (and the reserved
/// names `LOCAL`, `NORMAL`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoNames;

impl PortNames for NoNames {
    fn port_by_name(&self, _name: &str) -> Option<OfPort> {
        None
    }
    fn port_name(&self, _p: OfPort) -> Option<String> {
        None
    }
}

/// Flow text that could not be parsed. The message names the field, keyword
/// or action, the value given, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} \"{value}\": {reason}")]
pub struct ParseError {
    field: String,
    value: String,
    reason: String,
}

impl ParseError {
    pub(crate) fn new(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ParseError { field: field.into(), value: value.into(), reason: reason.into() }
    }

    /// The field, keyword or action at fault (`nw_dst`, `output`, ...).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The value given for it.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Parses a port: a number, a reserved name (`LOCAL`, `in_port`, ...), or a
/// name `ports` knows, optionally in double quotes.
pub(crate) fn parse_port(
    field: &str,
    s: &str,
    ports: &dyn PortNames,
) -> Result<OfPort, ParseError> {
    let unq = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s);
    if let Some(p) = ports.port_by_name(unq) {
        return Ok(p);
    }
    unq.parse::<OfPort>().map_err(|_| {
        ParseError::new(
            field,
            s,
            "not a port number below 65280, a reserved port name or a known port name",
        )
    })
}

/// Prints a port: its name when `ports` has one (quoted unless it is a
/// plain word), else its number or reserved name.
pub(crate) fn format_port(p: OfPort, ports: &dyn PortNames) -> String {
    match ports.port_name(p) {
        Some(n)
            if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && n.parse::<OfPort>().is_err() =>
        {
            n
        }
        Some(n) => format!("\"{n}\""),
        None => p.to_string(),
    }
}

/// Parses an unsigned number, decimal or `0x` hex.
pub(crate) fn parse_num(s: &str) -> Option<u128> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() {
            return None;
        }
        u128::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses a number that must fit in `bits` bits.
pub(crate) fn parse_uint(field: &str, s: &str, bits: u32) -> Result<u128, ParseError> {
    let v = parse_num(s)
        .ok_or_else(|| ParseError::new(field, s, "not a number (decimal or 0x hex)"))?;
    if bits < 128 && v >> bits != 0 {
        return Err(ParseError::new(field, s, format!("does not fit in {bits} bits")));
    }
    Ok(v)
}

/// Splits `s` at top-level commas (outside parentheses).
pub(crate) fn split_top(s: &str) -> Result<Vec<&str>, ParseError> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(ParseError::new("actions", s, "unbalanced ')'"));
                }
            }
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(ParseError::new("actions", s, "unbalanced '('"));
    }
    out.push(s[start..].trim());
    Ok(out)
}
