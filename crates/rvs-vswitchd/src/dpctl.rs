//! The `dpctl/*` flow and port commands and `dpif/dump-flows`, with
//! OVS's syntax (`ovs-dpctl(8)`) and output.
//!
//! As in OVS's `lib/dpctl.c`, options may appear anywhere among the
//! arguments: `-m`/`--more` (verbose: show ufids), `-s`/`--statistics`,
//! `--clear`, `--may-create`; `--names`/`--no-names` are accepted. The
//! optional datapath argument must name rvs's one datapath
//! (`ovs-netdev` or `netdev@ovs-netdev`).

use crate::unixctl::Commands;
use rvs_datapath::dpif::{format_flow, FlowStats};
use rvs_datapath::odp::{parse_actions, parse_key};
use rvs_datapath::{DpNetdev, Dpif, FlowId, FlowPut, PutFlags, Ufid};
use rvs_ofproto::Backer;
use rvs_packet::flow::Field;
use rvs_packet::{FlowKey, Mask};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Options and positional arguments of one command.
#[derive(Default)]
struct Opts {
    verbose: bool,
    stats: bool,
    clear: bool,
    may_create: bool,
    args: Vec<String>,
}

fn parse_opts(a: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    for x in a {
        match x.as_str() {
            "-m" | "--more" => o.verbose = true,
            "-s" | "--statistics" => o.stats = true,
            "--clear" => o.clear = true,
            "--may-create" => o.may_create = true,
            "--names" | "--no-names" => {}
            s if s.starts_with('-') && s.len() > 1 => {
                // Short options may be bundled, e.g. `-ms`.
                for c in s[1..].chars() {
                    match c {
                        'm' => o.verbose = true,
                        's' => o.stats = true,
                        _ => return Err(format!("unknown option \"{s}\"")),
                    }
                }
            }
            _ => o.args.push(x.clone()),
        }
    }
    Ok(o)
}

/// Checks an optional leading datapath name: with `n` positionals
/// expected, one more means the first names the datapath.
fn take_dp(dp: &DpNetdev, o: &mut Opts, n: usize) -> Result<(), String> {
    if o.args.len() > n {
        check_dp_name(dp, &o.args.remove(0))?;
    }
    if o.args.len() != n {
        return Err(format!("expected {n} argument(s) besides the datapath, got {}", o.args.len()));
    }
    Ok(())
}

/// Checks that `name` names rvs's datapath (`ovs-netdev` or
/// `netdev@ovs-netdev`).
pub(crate) fn check_dp_name(dp: &DpNetdev, name: &str) -> Result<(), String> {
    let full = format!("{}@{}", dp.type_name(), dp.name());
    if name != dp.name() && name != full {
        return Err(format!("opening datapath: no datapath named \"{name}\" (rvs has {full})"));
    }
    Ok(())
}

/// A leading `ufid:...` in a flow string, and the rest.
fn split_ufid(s: &str) -> Result<(Option<Ufid>, &str), String> {
    let s = s.trim();
    if !s.starts_with("ufid:") {
        return Ok((None, s));
    }
    let (u, rest) = s.split_once(',').unwrap_or((s, ""));
    let ufid = u.trim().parse::<Ufid>().map_err(|e| e.to_string())?;
    Ok((Some(ufid), rest.trim()))
}

/// A flow as `dpctl/*` print it: with `-m`, the ufid in front and the
/// datapath layer (`dp:ovs`, the userspace datapath) after the
/// statistics, as OVS's `format_dpif_flow`.
fn dpctl_flow(f: &rvs_datapath::dpif::DpifFlow, now: Duration, verbose: bool) -> String {
    let s = format_flow(f, now, verbose);
    if verbose {
        s.replacen(", actions:", ", dp:ovs, actions:", 1)
    } else {
        s
    }
}

/// OVS's `dpif_flow_stats_format`.
fn format_stats(s: &FlowStats, now: Duration) -> String {
    let mut out = format!("packets:{}, bytes:{}, used:", s.packets, s.bytes);
    match s.used {
        None => out.push_str("never"),
        Some(t) => {
            let _ = write!(out, "{:.3}s", now.saturating_sub(t).as_secs_f64());
        }
    }
    out
}

fn human_size(v: u64) -> String {
    const K: f64 = 1024.0;
    let f = v as f64;
    if f >= K * K * K * K {
        format!(" ({:.1} TiB)", f / (K * K * K * K))
    } else if f >= K * K * K {
        format!(" ({:.1} GiB)", f / (K * K * K))
    } else if f >= K * K {
        format!(" ({:.1} MiB)", f / (K * K))
    } else if f >= K {
        format!(" ({:.1} KiB)", f / K)
    } else {
        String::new()
    }
}

/// Parses a flow key as OVS's `odp_flow_key_to_mask` reads it for a
/// datapath: a key that does not mention `recirc_id` matches
/// `recirc_id(0)` exactly.
fn key(s: &str) -> Result<(FlowKey, Mask), String> {
    let (key, mut mask) = parse_key(s).map_err(|e| format!("parsing flow key ({e})"))?;
    if !s.contains("recirc_id(") {
        mask.set_exact(Field::RecircId);
    }
    Ok((key, mask))
}

fn put(dp: &DpNetdev, o: &Opts, flags: PutFlags, now: Duration) -> Result<String, String> {
    let (ufid, key_s) = split_ufid(&o.args[0])?;
    let (key, mask) = key(key_s)?;
    let actions = parse_actions(&o.args[1]).map_err(|e| format!("parsing actions ({e})"))?;
    let old = dp
        .flow_put(FlowPut { ufid, key, mask, actions, flags })
        .map_err(|e| format!("updating flow table ({e})"))?;
    Ok(match (o.stats, old) {
        (true, Some(s)) => format_stats(&s, now) + "\n",
        _ => String::new(),
    })
}

/// The flow a `del-flow`/`get-flow` argument names: `ufid:...` alone, or
/// a flow key (a ufid in front of a key wins).
fn flow_id(s: &str) -> Result<FlowId, String> {
    match split_ufid(s)? {
        (Some(u), _) => Ok(FlowId::Ufid(u)),
        (None, k) => {
            let (key, mask) = key(k)?;
            Ok(FlowId::Match(key.masked(&mask), mask))
        }
    }
}

/// Registers the commands.
pub fn register(c: &Commands, backer: Arc<Backer>, dp: Arc<DpNetdev>) {
    let (d, b) = (dp.clone(), backer.clone());
    c.register(
        "dpctl/add-flow",
        "[dp] flow actions",
        2,
        4,
        Arc::new(move |a| {
            let mut o = parse_opts(a)?;
            take_dp(&d, &mut o, 2)?;
            put(&d, &o, PutFlags::CREATE, b.now())
        }),
    );
    let (d, b) = (dp.clone(), backer.clone());
    c.register(
        "dpctl/mod-flow",
        "[--clear] [--may-create] [-s] [dp] flow actions",
        2,
        6,
        Arc::new(move |a| {
            let mut o = parse_opts(a)?;
            take_dp(&d, &mut o, 2)?;
            let flags = PutFlags { create: o.may_create, modify: true, zero_stats: o.clear };
            put(&d, &o, flags, b.now())
        }),
    );
    let (d, b) = (dp.clone(), backer.clone());
    c.register(
        "dpctl/del-flow",
        "[-s] [dp] flow",
        1,
        3,
        Arc::new(move |a| {
            let mut o = parse_opts(a)?;
            take_dp(&d, &mut o, 1)?;
            let id = flow_id(&o.args[0])?;
            let st = d.flow_del(&id).map_err(|e| format!("deleting flow ({e})"))?;
            Ok(if o.stats { format_stats(&st, b.now()) + "\n" } else { String::new() })
        }),
    );
    let (d, b) = (dp.clone(), backer.clone());
    c.register(
        "dpctl/get-flow",
        "[dp] ufid",
        1,
        3,
        Arc::new(move |a| {
            let mut o = parse_opts(a)?;
            take_dp(&d, &mut o, 1)?;
            let (ufid, rest) = split_ufid(&o.args[0])?;
            let Some(u) = ufid.filter(|_| rest.is_empty()) else {
                return Err(format!(
                    "\"{}\" is not a ufid (ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                    o.args[0]
                ));
            };
            let f = d.flow_get(&FlowId::Ufid(u)).map_err(|e| format!("getting flow ({e})"))?;
            Ok(dpctl_flow(&f, b.now(), o.verbose) + "\n")
        }),
    );
    let (d, b) = (dp.clone(), backer.clone());
    c.register(
        "dpctl/dump-flows",
        "[-m] [dp]",
        0,
        4,
        Arc::new(move |a| {
            let mut o = parse_opts(a)?;
            if !o.args.is_empty() {
                take_dp(&d, &mut o, 0)?;
            }
            let now = b.now();
            Ok(d.flow_dump().iter().map(|f| dpctl_flow(f, now, o.verbose) + "\n").collect())
        }),
    );
    let d = dp.clone();
    c.register(
        "dpctl/show",
        "[-s] [dp]",
        0,
        3,
        Arc::new(move |a| {
            let mut o = parse_opts(a)?;
            if !o.args.is_empty() {
                take_dp(&d, &mut o, 0)?;
            }
            Ok(show(&d, o.stats))
        }),
    );
    let (d, b) = (dp, backer);
    c.register(
        "dpif/dump-flows",
        "[-m] [--names | --no-names] bridge",
        1,
        4,
        Arc::new(move |a| {
            let o = parse_opts(a)?;
            let [bridge] = o.args.as_slice() else {
                return Err("dpif/dump-flows: expected one bridge name".into());
            };
            let cfg = b.read();
            if !cfg.bridges.contains_key(bridge) {
                return Err(format!("{bridge}: unknown bridge"));
            }
            let now = b.now();
            let mut s = String::new();
            for f in d.flow_dump() {
                let mine = cfg.odp_map.get(&f.key.in_port()).is_some_and(|(br, _)| br == bridge);
                if !mine {
                    continue;
                }
                if o.verbose {
                    let _ = write!(s, "{} ", f.ufid);
                }
                s += &format_flow(&f, now, false);
                s.push('\n');
            }
            Ok(s)
        }),
    );
}

/// `dpctl/show [-s]`.
fn show(d: &DpNetdev, stats: bool) -> String {
    let st = d.stats();
    let mut s = format!("{}@{}:\n", d.type_name(), d.name());
    let _ = writeln!(s, "  lookups: hit:{} missed:{} lost:{}", st.hits, st.missed, st.lost);
    let _ = writeln!(s, "  flows: {}", st.flows);
    let pkts = st.hits + st.missed;
    let avg = if pkts == 0 { 0.0 } else { st.mask_hits as f64 / pkts as f64 };
    let _ = writeln!(s, "  masks: hit:{} total:{} hit/pkt:{avg:.2}", st.mask_hits, st.masks);
    for p in d.port_dump() {
        let t = if p.type_name.is_empty() || p.type_name == "system" {
            String::new()
        } else {
            format!(" ({})", p.type_name)
        };
        let _ = writeln!(s, "  port {}: {}{}", p.port_no.0, p.name, t);
        if !stats {
            continue;
        }
        // Counters the netdevs do not keep print as "?", as OVS prints
        // unsupported ones.
        match d.port_stats(p.port_no) {
            Ok(ps) => {
                let n = ps.netdev;
                let _ = writeln!(
                    s,
                    "    RX packets:{} errors:{} dropped:{} overruns:? frame:?",
                    n.rx_packets, n.rx_errors, n.rx_dropped
                );
                let _ = writeln!(
                    s,
                    "    TX packets:{} errors:{} dropped:{} aborted:? carrier:?",
                    n.tx_packets, n.tx_errors, n.tx_dropped
                );
                s.push_str("    collisions:?\n");
                let _ = writeln!(
                    s,
                    "    RX bytes:{}{}  TX bytes:{}{}",
                    n.rx_bytes,
                    human_size(n.rx_bytes),
                    n.tx_bytes,
                    human_size(n.tx_bytes)
                );
            }
            Err(e) => {
                let _ = writeln!(s, "    statistics: {e}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_go_anywhere_and_bad_ones_are_named() {
        let a: Vec<String> = ["-s", "f", "--clear", "acts"].map(String::from).to_vec();
        let o = parse_opts(&a).unwrap();
        assert!(o.stats && o.clear && !o.may_create);
        assert_eq!(o.args, ["f", "acts"]);
        assert_eq!(parse_opts(&["-x".to_string()]).err().unwrap(), "unknown option \"-x\"");
    }

    #[test]
    fn ufid_prefix_is_split_off() {
        let (u, rest) = split_ufid("ufid:00000000-0000-0000-0000-000000000001,in_port(1)").unwrap();
        assert_eq!(u, Some(Ufid(1)));
        assert_eq!(rest, "in_port(1)");
        assert!(split_ufid("ufid:zz").is_err());
        assert_eq!(human_size(2048), " (2.0 KiB)");
        assert_eq!(human_size(100), "");
    }
}
