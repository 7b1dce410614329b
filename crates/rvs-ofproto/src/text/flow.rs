//! Whole flows: `add-flow`/`mod-flows`/`del-flows` arguments parsed into a
//! [`FlowMod`], and `dump-flows` lines printed from a [`FlowStatsLine`].

use super::match_::MatchBuilder;
use super::{
    format_actions, format_match, parse_actions, parse_port, parse_uint, ParseError, PortNames,
};
use crate::actions::OfAction;
use crate::flow::OfMatch;
use crate::flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
use crate::types::{Cookie, TableId};
use std::time::Duration;

/// Finds `actions=` where a keyword may start; returns (before, after).
fn split_actions(s: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("actions=") {
        let at = from + i;
        let boundary = at == 0 || s[..at].ends_with(|c: char| c == ',' || c.is_whitespace());
        if boundary {
            return Some((&s[..at], &s[at + "actions=".len()..]));
        }
        from = at + 1;
    }
    None
}

/// Parses a flow in ovs-ofctl's syntax for `command`: `add-flow` (Add),
/// `mod-flows` (Modify, ModifyStrict) or `del-flows` (Delete, DeleteStrict).
///
/// Fields are separated by commas or white space; `actions=` takes the rest
/// of the string. Adds need `actions=` (empty or `drop` for no actions);
/// deletes don't. For adds `cookie=V` is the new rule's cookie; for
/// modifies and deletes `cookie=V/MASK` selects rules by cookie, and for a
/// modify a plain `cookie=V` gives the modified rules a new cookie. Without
/// `table=`, deletes and modifies cover every table and adds go to table 0.
pub fn parse_flow_mod(
    s: &str,
    command: FlowModCommand,
    ports: &dyn PortNames,
) -> Result<FlowMod, ParseError> {
    let is_add = command == FlowModCommand::Add;
    let is_delete = matches!(command, FlowModCommand::Delete | FlowModCommand::DeleteStrict);
    let mut fm = FlowMod {
        command,
        table: if is_add { TableId(0) } else { TableId::ALL },
        ..FlowMod::default()
    };
    let (fields, actions) = match split_actions(s) {
        Some((f, a)) => (f, Some(a)),
        None => (s, None),
    };
    let mut mb = MatchBuilder::default();
    for item in fields.split(|c: char| c == ',' || c.is_whitespace()).filter(|x| !x.is_empty()) {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        let need = || {
            value.ok_or_else(|| {
                ParseError::new(name, "", format!("{name} needs a value ({name}=...)"))
            })
        };
        let u16v = |v: &str| parse_uint(name, v, 16).map(|x| x as u16);
        match name {
            "table" => {
                let v = need()?;
                fm.table = if v == "all" || v == "255" {
                    if is_add {
                        return Err(ParseError::new(
                            name,
                            v,
                            "a flow is added to one table, 0 to 254",
                        ));
                    }
                    TableId::ALL
                } else {
                    TableId(parse_uint(name, v, 8)? as u8)
                };
            }
            "priority" => fm.priority = u16v(need()?)?,
            "idle_timeout" => fm.idle_timeout = u16v(need()?)?,
            "hard_timeout" => fm.hard_timeout = u16v(need()?)?,
            "importance" => fm.importance = u16v(need()?)?,
            "out_port" => fm.out_port = parse_port(name, need()?, ports)?,
            "cookie" => {
                let v = need()?;
                match v.split_once('/') {
                    Some((c, m)) => {
                        if is_add {
                            return Err(ParseError::new(
                                name,
                                v,
                                "adding a flow sets its cookie; a cookie mask only selects flows to modify or delete",
                            ));
                        }
                        fm.cookie = Cookie(parse_uint(name, c, 64)? as u64);
                        fm.cookie_mask = parse_uint(name, m, 64)? as u64;
                    }
                    None if is_add => fm.cookie = Cookie(parse_uint(name, v, 64)? as u64),
                    None if is_delete => {
                        return Err(ParseError::new(
                            name,
                            v,
                            "deleting flows selects them by cookie only with a mask (cookie=VALUE/MASK)",
                        ))
                    }
                    None => fm.new_cookie = Some(Cookie(parse_uint(name, v, 64)? as u64)),
                }
            }
            "send_flow_rem" | "check_overlap" | "reset_counts" | "no_packet_counts"
            | "no_byte_counts" => {
                if let Some(v) = value {
                    return Err(ParseError::new(name, v, "a flag takes no value"));
                }
                let f = &mut fm.flags;
                match name {
                    "send_flow_rem" => f.send_flow_rem = true,
                    "check_overlap" => f.check_overlap = true,
                    "reset_counts" => f.reset_counts = true,
                    "no_packet_counts" => f.no_packet_counts = true,
                    _ => f.no_byte_counts = true,
                }
            }
            _ => {
                if !mb.apply(name, value, ports)? {
                    return Err(ParseError::new(
                        name,
                        value.unwrap_or(""),
                        "unknown field or keyword",
                    ));
                }
            }
        }
    }
    fm.match_ = mb.finish()?;
    match actions {
        Some(a) => fm.actions = parse_actions(a, ports)?,
        None if !is_delete => {
            return Err(ParseError::new(
                "actions",
                s,
                "adding or modifying flows needs actions=... (drop for none)",
            ))
        }
        None => {}
    }
    Ok(fm)
}

/// One flow as `dump-flows` shows it: the rule and its counters.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlowStatsLine {
    /// The rule's cookie.
    pub cookie: Cookie,
    /// How long the rule has existed.
    pub duration: Duration,
    /// Its table.
    pub table: TableId,
    /// Packets it matched.
    pub n_packets: u64,
    /// Bytes it matched.
    pub n_bytes: u64,
    /// Idle timeout in seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = none).
    pub hard_timeout: u16,
    /// Eviction importance (0 is not shown).
    pub importance: u16,
    /// Flags given when it was added.
    pub flags: FlowModFlags,
    /// Time since it last matched a packet, when known.
    pub idle_age: Option<Duration>,
    /// Time since it was added or last modified, when known.
    pub hard_age: Option<Duration>,
    /// Its priority.
    pub priority: u16,
    /// Its match.
    pub match_: OfMatch,
    /// Its actions.
    pub actions: Vec<OfAction>,
}

/// OVS's duration form: whole seconds, then `.mmm` for whole milliseconds
/// or `.nnnnnnnnn` otherwise, then `s`.
fn format_duration(d: Duration) -> String {
    let ns = d.subsec_nanos();
    if ns == 0 {
        format!("{}s", d.as_secs())
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}.{:03}s", d.as_secs(), ns / 1_000_000)
    } else {
        format!("{}.{:09}s", d.as_secs(), ns)
    }
}

fn format_line(l: &FlowStatsLine, ports: &dyn PortNames, stats: bool) -> String {
    let mut s = String::from(" ");
    if stats || l.cookie.0 != 0 {
        s += &format!("cookie={:#x}, ", l.cookie.0);
    }
    if stats {
        s += &format!("duration={}, ", format_duration(l.duration));
    }
    if stats || l.table.0 != 0 {
        s += &format!("table={}, ", l.table);
    }
    if stats {
        s += &format!("n_packets={}, n_bytes={}, ", l.n_packets, l.n_bytes);
    }
    if l.idle_timeout != 0 {
        s += &format!("idle_timeout={}, ", l.idle_timeout);
    }
    if l.hard_timeout != 0 {
        s += &format!("hard_timeout={}, ", l.hard_timeout);
    }
    let f = &l.flags;
    for (on, name) in [
        (f.send_flow_rem, "send_flow_rem"),
        (f.check_overlap, "check_overlap"),
        (f.reset_counts, "reset_counts"),
        (f.no_packet_counts, "no_packet_counts"),
        (f.no_byte_counts, "no_byte_counts"),
    ] {
        if on {
            s += name;
            s.push(' ');
        }
    }
    if l.importance != 0 {
        s += &format!("importance={}, ", l.importance);
    }
    if stats {
        if let Some(a) = l.idle_age {
            s += &format!("idle_age={}, ", a.as_secs());
        }
        if let Some(a) = l.hard_age {
            if a.as_secs() != l.duration.as_secs() {
                s += &format!("hard_age={}, ", a.as_secs());
            }
        }
    }
    s += &format_match(&l.match_, l.priority, ports);
    if !s.ends_with(' ') {
        s.push(' ');
    }
    s += "actions=";
    s += &format_actions(&l.actions, ports);
    s
}

/// One `ovs-ofctl dump-flows` line, leading space included:
/// ` cookie=0x0, duration=1.234s, table=0, n_packets=0, n_bytes=0, idle_timeout=10, priority=100,ip,nw_dst=198.18.0.0/24 actions=drop`.
/// `idle_age=` and `hard_age=` appear when known (OVS shows them over
/// OpenFlow 1.0 with Nicira extensions); `hard_age=` only when it differs
/// from the duration.
pub fn format_flow_stats(l: &FlowStatsLine, ports: &dyn PortNames) -> String {
    format_line(l, ports, true)
}

/// One `ovs-ofctl dump-flows --no-stats` line: no duration, counters or
/// ages, and the cookie and table only when not zero.
pub fn format_flow_no_stats(l: &FlowStatsLine, ports: &dyn PortNames) -> String {
    format_line(l, ports, false)
}
