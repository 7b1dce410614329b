//! Replies printed the way ovs-ofctl 3.1 prints them (its `ofp-print`),
//! byte for byte, for the messages rvs-ofctl asks for.

use std::fmt::Write;

use rvs_ofproto::ofp::msg::{Desc, Features, PortDesc, PortStats, SwitchConfig, TableStats};
use rvs_ofproto::ofp::Version;
use rvs_ofproto::types::OfPort;

/// `NAME (OF1.x) (xid=0x..):` — the version only when not 1.0.
pub fn header(name: &str, v: Version, xid: u32) -> String {
    if v == Version::V10 {
        format!("{name} (xid={xid:#x}):")
    } else {
        format!("{name} ({}) (xid={xid:#x}):", short_version(v))
    }
}

fn short_version(v: Version) -> &'static str {
    match v {
        Version::V10 => "OF1.0",
        Version::V11 => "OF1.1",
        Version::V12 => "OF1.2",
        Version::V13 => "OF1.3",
        Version::V14 => "OF1.4",
        Version::V15 => "OF1.5",
    }
}

/// Bit names separated by spaces, unknown bits as hex, `0` for none.
fn bit_names(bits: u32, names: &[(u32, &str)]) -> String {
    if bits == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    let mut rest = bits;
    for &(b, n) in names {
        if bits & b != 0 {
            out.push(n.to_string());
            rest &= !b;
        }
    }
    let mut i = 0;
    while rest != 0 {
        if rest & 1 << i != 0 {
            out.push(format!("{:#x}", 1u32 << i));
            rest &= !(1 << i);
        }
        i += 1;
    }
    out.join(" ")
}

fn features_names(bits: u32) -> String {
    const NAMES: [&str; 16] = [
        "10MB-HD",
        "10MB-FD",
        "100MB-HD",
        "100MB-FD",
        "1GB-HD",
        "1GB-FD",
        "10GB-FD",
        "40GB-FD",
        "100GB-FD",
        "1TB-FD",
        "OTHER",
        "COPPER",
        "FIBER",
        "AUTO_NEG",
        "AUTO_PAUSE",
        "AUTO_PAUSE_ASYM",
    ];
    let mut out = Vec::new();
    for (i, n) in NAMES.iter().enumerate() {
        if bits & 1 << i != 0 {
            out.push(*n);
        }
    }
    out.join(" ")
}

/// The fastest speed among feature bits, in kbit/s (OVS's
/// `netdev_features_to_bps` / 1000).
fn features_kbps(bits: u32) -> u32 {
    const SPEEDS: [(u32, u32); 7] = [
        (1 << 9, 1_000_000_000),
        (1 << 8, 100_000_000),
        (1 << 7, 40_000_000),
        (1 << 6, 10_000_000),
        (0b11 << 4, 1_000_000),
        (0b11 << 2, 100_000),
        (0b11, 10_000),
    ];
    SPEEDS.iter().find(|(m, _)| bits & m != 0).map_or(0, |(_, k)| *k)
}

/// One port as `show` and `dump-ports-desc` print it.
pub fn port_desc(p: &PortDesc, v: Version) -> String {
    let mut s = String::new();
    let name: String = p.name.chars().take_while(|c| !c.is_control()).collect();
    let _ = writeln!(s, " {}({name}): addr:{}", p.port_no, p.hw_addr);
    let config = bit_names(
        p.config,
        &[
            (1, "PORT_DOWN"),
            (2, "NO_STP"),
            (4, "NO_RECV"),
            (8, "NO_RECV_STP"),
            (16, "NO_FLOOD"),
            (32, "NO_FWD"),
            (64, "NO_PACKET_IN"),
        ],
    );
    let _ = writeln!(s, "     config:     {config}");
    let mut state = p.state;
    let mut st = String::new();
    if v == Version::V10 {
        // OpenFlow 1.0 keeps the STP state in bits 8-9 (listen = 0).
        let stp = state & (3 << 8);
        if stp != 0 {
            st += match stp >> 8 {
                1 => "STP_LEARN",
                2 => "STP_FORWARD",
                _ => "STP_BLOCK",
            };
            state &= !(3 << 8);
            if state != 0 {
                st.push(' ');
            }
        }
    }
    if state != 0 || st.is_empty() {
        st += &bit_names(state, &[(1, "LINK_DOWN"), (2, "BLOCKED"), (4, "LIVE")]);
    }
    let _ = writeln!(s, "     state:      {st}");
    for (bits, label) in [
        (p.curr, "current:    "),
        (p.advertised, "advertised: "),
        (p.supported, "supported:  "),
        (p.peer, "peer:       "),
    ] {
        if bits != 0 {
            let _ = writeln!(s, "     {label}{}", features_names(bits));
        }
    }
    // OpenFlow 1.0 has no speeds on the wire: OVS derives them from the
    // feature bits.
    let (now, max) = if v == Version::V10 {
        (features_kbps(p.curr), features_kbps(p.supported))
    } else {
        (p.curr_speed, p.max_speed)
    };
    let _ = writeln!(s, "     speed: {} Mbps now, {} Mbps max", now / 1000, max / 1000);
    s
}

/// Ports sorted by number, as ovs-ofctl prints them.
pub fn port_descs(ports: &[PortDesc], v: Version) -> String {
    let mut ps: Vec<&PortDesc> = ports.iter().collect();
    ps.sort_by_key(|p| port32(p.port_no));
    ps.iter().map(|p| port_desc(p, v)).collect()
}

/// A port number in OpenFlow 1.1's 32-bit space (reserved ports last).
fn port32(p: OfPort) -> u32 {
    if p.0 >= 0xff00 {
        0xffff_0000 | u32::from(p.0)
    } else {
        u32::from(p.0)
    }
}

/// `OFPT_FEATURES_REPLY`.
pub fn features(f: &Features, v: Version, xid: u32) -> String {
    let mut s = header("OFPT_FEATURES_REPLY", v, xid);
    let _ = writeln!(s, " dpid:{:016x}", f.datapath_id);
    let _ = write!(s, "n_tables:{}, n_buffers:{}", f.n_tables, f.n_buffers);
    if f.auxiliary_id != 0 {
        let _ = write!(s, ", auxiliary_id:{}", f.auxiliary_id);
    }
    s.push('\n');
    let caps: &[(u32, &str)] = if v == Version::V10 {
        &[
            (1, "FLOW_STATS"),
            (2, "TABLE_STATS"),
            (4, "PORT_STATS"),
            (8, "STP"),
            (32, "IP_REASM"),
            (64, "QUEUE_STATS"),
            (128, "ARP_MATCH_IP"),
        ]
    } else {
        &[
            (1, "FLOW_STATS"),
            (2, "TABLE_STATS"),
            (4, "PORT_STATS"),
            (8, "GROUP_STATS"),
            (32, "IP_REASM"),
            (64, "QUEUE_STATS"),
            (256, "PORT_BLOCKED"),
            (512, "BUNDLES"),
            (1024, "FLOW_MONITORING"),
        ]
    };
    let _ = writeln!(s, "capabilities: {}", bit_names(f.capabilities, caps));
    if v == Version::V10 {
        // OVS lists the 1.0 actions in its own order: output, enqueue, then
        // the rest by bit.
        let mut names = Vec::new();
        for (bit, n) in [
            (0, "output"),
            (11, "enqueue"),
            (1, "set_vlan_vid"),
            (2, "set_vlan_pcp"),
            (3, "strip_vlan"),
            (4, "mod_dl_src"),
            (5, "mod_dl_dst"),
            (6, "mod_nw_src"),
            (7, "mod_nw_dst"),
            (8, "mod_nw_tos"),
            (9, "mod_tp_src"),
            (10, "mod_tp_dst"),
        ] {
            if f.actions & 1 << bit != 0 {
                names.push(n);
            }
        }
        let _ = writeln!(s, "actions: {}", names.join(" "));
    }
    if v <= Version::V12 {
        s += &port_descs(&f.ports, v);
    }
    s
}

/// `OFPT_GET_CONFIG_REPLY`.
pub fn config(c: &SwitchConfig, v: Version, xid: u32) -> String {
    let mut s = header("OFPT_GET_CONFIG_REPLY", v, xid);
    let _ = write!(s, " frags={}", frag_name(c.flags));
    if c.flags & 4 != 0 && matches!(v, Version::V11 | Version::V12) {
        s += " invalid_ttl_to_controller";
    }
    let _ = writeln!(s, " miss_send_len={}", c.miss_send_len);
    s
}

/// The name of the fragment handling mode in `flags`.
pub fn frag_name(flags: u16) -> &'static str {
    match flags & 3 {
        0 => "normal",
        1 => "drop",
        2 => "reassemble",
        _ => "nx-match",
    }
}

/// `OFPST_DESC reply`.
pub fn desc(d: &Desc, v: Version, xid: u32) -> String {
    let mut s = header("OFPST_DESC reply", v, xid);
    let _ = writeln!(s);
    let _ = writeln!(s, "Manufacturer: {}", d.mfr);
    let _ = writeln!(s, "Hardware: {}", d.hw);
    let _ = writeln!(s, "Software: {}", d.sw);
    let _ = writeln!(s, "Serial Num: {}", d.serial);
    let _ = writeln!(s, "DP Description: {}", d.dp);
    s
}

fn stat(s: &mut String, leader: &str, v: u64, more: bool) {
    s.push_str(leader);
    if v == u64::MAX {
        s.push('?');
    } else {
        let _ = write!(s, "{v}");
    }
    s.push_str(if more { ", " } else { "\n" });
}

/// OVS's duration form: seconds, then `.mmm` when whole milliseconds or
/// as many nanosecond digits as needed, then `s`.
pub fn duration(d: std::time::Duration) -> String {
    let ns = d.subsec_nanos();
    let mut s = d.as_secs().to_string();
    if ns > 0 {
        if ns.is_multiple_of(1_000_000) {
            let _ = write!(s, ".{:03}", ns / 1_000_000);
        } else {
            let frac = format!("{ns:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
    }
    s.push('s');
    s
}

/// One message of `OFPST_PORT reply`.
pub fn port_stats(ps: &[PortStats], v: Version, xid: u32) -> String {
    let mut s = header("OFPST_PORT reply", v, xid);
    let _ = writeln!(s, " {} ports", ps.len());
    for p in ps {
        s += "  port ";
        if p.port_no.0 < 10 {
            s.push(' ');
        }
        let _ = write!(s, "{}", p.port_no);
        stat(&mut s, ": rx pkts=", p.rx_packets, true);
        stat(&mut s, "bytes=", p.rx_bytes, true);
        stat(&mut s, "drop=", p.rx_dropped, true);
        stat(&mut s, "errs=", p.rx_errors, true);
        stat(&mut s, "frame=", p.rx_frame_err, true);
        stat(&mut s, "over=", p.rx_over_err, true);
        stat(&mut s, "crc=", p.rx_crc_err, false);
        stat(&mut s, "           tx pkts=", p.tx_packets, true);
        stat(&mut s, "bytes=", p.tx_bytes, true);
        stat(&mut s, "drop=", p.tx_dropped, true);
        stat(&mut s, "errs=", p.tx_errors, true);
        stat(&mut s, "coll=", p.collisions, false);
        if let Some(d) = p.duration {
            let _ = writeln!(s, "           duration={}", duration(d));
        }
    }
    s
}

/// `OFPST_TABLE reply`: OpenFlow 1.0 carries names and limits, later
/// versions only counters; runs of identical tables print as `ditto`.
pub fn table_stats(ts: &[TableStats], v: Version, xid: u32) -> String {
    let mut s = header("OFPST_TABLE reply", v, xid);
    let named = v == Version::V10;
    let mut prev: Option<&TableStats> = None;
    let (mut first, mut last) = (None::<u8>, 0u8);
    for t in ts {
        let same_stats = prev.is_some_and(|p| {
            (p.active_count, p.lookup_count, p.matched_count)
                == (t.active_count, t.lookup_count, t.matched_count)
        });
        // Features: for 1.0 the limits (and the wildcards, always all);
        // later versions have no features in table stats.
        let same_features = prev.is_some_and(|p| !named || p.max_entries == t.max_entries);
        let has_name = named && !t.name.is_empty();
        if same_stats && same_features && !has_name {
            first.get_or_insert(t.table.0);
            last = t.table.0;
            prev = Some(t);
            continue;
        }
        finish_ditto(&mut s, first.take(), last);
        let _ = write!(s, "\n  table {}", t.table.0);
        if has_name {
            let _ = write!(s, " (\"{}\")", t.name);
        }
        s.push(':');
        if same_stats && same_features {
            s += " ditto";
            prev = Some(t);
            continue;
        }
        s.push('\n');
        let _ = writeln!(
            s,
            "    active={}, lookup={}, matched={}",
            t.active_count, t.lookup_count, t.matched_count
        );
        if same_features {
            if named && t.max_entries != 0 {
                s += "    (same features)\n";
            }
        } else if named {
            if t.max_entries != 0 {
                let _ = writeln!(s, "    max_entries={}", t.max_entries);
            }
            s += "    matching:\n";
            s += "      exact match or wildcard: in_port eth_{src,dst,type} vlan_{vid,pcp} ip_{src,dst} nw_{proto,tos} tcp_{src,dst}\n";
        }
        prev = Some(t);
    }
    finish_ditto(&mut s, first, last);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn finish_ditto(s: &mut String, first: Option<u8>, last: u8) {
    let Some(first) = first else { return };
    s.push('\n');
    if first == last {
        let _ = writeln!(s, "  table {first}: ditto");
    } else {
        let _ = writeln!(s, "  tables {first}...{last}: ditto");
    }
}

/// A hex dump in OVS's `ovs_hex_dump` layout (offsets, 16 bytes a line,
/// a dash after the eighth, then the printable characters).
pub fn hex_dump(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in b.chunks(16).enumerate() {
        let _ = write!(s, "{:08x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(x) => {
                    let _ = write!(s, "{x:02x}");
                    s.push(if j == 7 { '-' } else { ' ' });
                }
                None => s += "   ",
            }
        }
        s.push('|');
        for &x in chunk {
            s.push(if (0x20..0x7f).contains(&x) { x as char } else { '.' });
        }
        for _ in chunk.len()..16 {
            s.push(' ');
        }
        s += "|\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_ofproto::TableId;
    use std::time::Duration;

    #[test]
    fn durations_print_like_ovs() {
        assert_eq!(duration(Duration::from_secs(3)), "3s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.500s");
        assert_eq!(duration(Duration::new(2, 120_000)), "2.00012s");
    }

    #[test]
    fn identical_tables_collapse_into_ditto() {
        let t = |n: u8, active| TableStats {
            table: TableId(n),
            active_count: active,
            ..TableStats::default()
        };
        let ts = [t(0, 1), t(1, 0), t(2, 0), t(3, 0)];
        assert_eq!(
            table_stats(&ts, Version::V13, 2),
            "OFPST_TABLE reply (OF1.3) (xid=0x2):\n  table 0:\n    active=1, lookup=0, matched=0\n\n  \
             table 1:\n    active=0, lookup=0, matched=0\n\n  tables 2...3: ditto\n"
        );
    }

    #[test]
    fn hex_dump_pads_the_last_line() {
        assert_eq!(
            hex_dump(b"\x01\x0eAB"),
            format!("00000000  01 0e 41 42 {}|..AB            |\n", " ".repeat(36))
        );
    }
}
