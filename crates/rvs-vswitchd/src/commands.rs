//! The unixctl commands, named and formatted as OVS's.

use crate::reconcile::{core_of, thread_on_core, Reconciler};
use crate::unixctl::{Commands, Handler};
use rvs_datapath::{DpNetdev, Dpif};
use rvs_ofproto::Backer;
use rvs_packet::{EthAddr, Packet};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

fn h(f: impl Fn(&[String]) -> Result<String, String> + Send + Sync + 'static) -> Handler {
    Arc::new(f)
}

/// Every command the daemon answers.
pub fn register(
    backer: Arc<Backer>,
    dp: Arc<DpNetdev>,
    rec: Arc<Reconciler>,
    exit: Sender<()>,
) -> Commands {
    let c = Commands::default();
    let c2 = c.clone();
    c.register("list-commands", "", 0, 0, h(move |_| Ok(c2.list())));
    c.register(
        "version",
        "",
        0,
        0,
        h(|_| Ok(format!("rvs-vswitchd (rvs) {}\n", env!("CARGO_PKG_VERSION")))),
    );
    let exit = Mutex::new(exit);
    c.register(
        "exit",
        "[--cleanup]",
        0,
        1,
        h(move |a| {
            // The userspace datapath's ports (taps, internal devices) live
            // only as long as the process, so `--cleanup` and a plain exit
            // both release them.
            if let Some(x) = a.first().filter(|x| *x != "--cleanup") {
                return Err(format!("exit: unknown option \"{x}\" (usage: exit [--cleanup])"));
            }
            let _ = exit.lock().unwrap().send(());
            Ok(String::new())
        }),
    );
    let b = backer.clone();
    c.register(
        "fdb/show",
        "bridge",
        1,
        1,
        h(move |a| b.fdb_show(&a[0]).map_err(|e| e.to_string())),
    );
    let b = backer.clone();
    c.register(
        "fdb/flush",
        "[bridge]",
        0,
        1,
        h(move |a| {
            b.fdb_flush(a.first().map(String::as_str))
                .map(|_| "table successfully flushed\n".into())
                .map_err(|e| e.to_string())
        }),
    );
    let b = backer.clone();
    c.register(
        "fdb/add",
        "bridge port vlan mac",
        4,
        4,
        h(move |a| {
            let vlan: u16 = a[2].parse().map_err(|_| format!("invalid VLAN \"{}\"", a[2]))?;
            let mac: EthAddr = a[3].parse().map_err(|e| format!("{e}"))?;
            b.fdb_add(&a[0], &a[1], vlan, mac).map(|_| String::new()).map_err(|e| e.to_string())
        }),
    );
    let b = backer.clone();
    c.register(
        "fdb/del",
        "bridge vlan mac",
        3,
        3,
        h(move |a| {
            let vlan: u16 = a[1].parse().map_err(|_| format!("invalid VLAN \"{}\"", a[1]))?;
            let mac: EthAddr = a[2].parse().map_err(|e| format!("{e}"))?;
            match b.fdb_del(&a[0], vlan, mac).map_err(|e| e.to_string())? {
                true => Ok(String::new()),
                false => Err("no such entry in the MAC table".into()),
            }
        }),
    );
    let b = backer.clone();
    c.register(
        "bridge/dump-flows",
        "bridge",
        1,
        1,
        h(move |a| b.dump_flows_text(&a[0], false).map_err(|e| e.to_string())),
    );
    let b = backer.clone();
    c.register(
        "ofproto/trace",
        "bridge flow [packet]",
        2,
        3,
        h(move |a| {
            b.trace_str(&a[0], &a[1], a.get(2).map(String::as_str)).map_err(|e| e.to_string())
        }),
    );
    let d = dp.clone();
    let b = backer.clone();
    c.register(
        "dpif/show",
        "",
        0,
        0,
        h(move |_| {
            let st = d.stats();
            let mut s =
                format!("{}@{}: hit:{} missed:{}\n", d.type_name(), d.name(), st.hits, st.missed);
            let cfg = b.read();
            for (name, br) in &cfg.bridges {
                s += &format!("  {name}:\n");
                for p in br.ports.values() {
                    let (odp, kind) = match &p.kind {
                        rvs_ofproto::ofproto::PortKind::Datapath(o) => {
                            let t =
                                d.port_query_by_number(*o).map(|x| x.type_name).unwrap_or_default();
                            (o.0.to_string(), t)
                        }
                        rvs_ofproto::ofproto::PortKind::Patch { peer } => {
                            ("none".to_string(), format!("patch: peer={peer}"))
                        }
                    };
                    let num = if p.ofport == rvs_ofproto::OfPort::LOCAL {
                        65534
                    } else {
                        u32::from(p.ofport.0)
                    };
                    s += &format!("    {} {}/{}: ({})\n", p.name, num, odp, kind);
                }
            }
            Ok(s)
        }),
    );
    let d = dp.clone();
    c.register(
        "dpctl/del-flows",
        "[dp]",
        0,
        1,
        h(move |_| {
            d.flow_flush();
            Ok(String::new())
        }),
    );
    let d = dp.clone();
    c.register(
        "dpif-netdev/pmd-stats-show",
        "[-pmd core] [dp]",
        0,
        3,
        h(move |a| {
            let only = pmd_args(&d, a)?;
            let mut s = String::new();
            for p in d.pmd_stats().into_iter().filter(|p| only.is_none_or(|t| t == p.id)) {
                s += &pmd_stats_text(&p, core_of(&d, p.id));
            }
            Ok(s)
        }),
    );
    let d = dp.clone();
    c.register(
        "dpif-netdev/pmd-stats-clear",
        "[-pmd core] [dp]",
        0,
        3,
        h(move |a| {
            d.pmd_stats_clear(pmd_args(&d, a)?);
            Ok(String::new())
        }),
    );
    let d = dp.clone();
    c.register(
        "dpif-netdev/pmd-rxq-show",
        "[-pmd core] [dp]",
        0,
        3,
        h(move |a| {
            let only = pmd_args(&d, a)?;
            let mut s = String::new();
            let mut by_thread: std::collections::BTreeMap<usize, Vec<(u32, usize)>> =
                Default::default();
            for (t, port, q) in d.rxq_assignment() {
                by_thread.entry(t).or_default().push((port.0, q));
            }
            let isolated = d.isolated_threads();
            for (t, qs) in by_thread.into_iter().filter(|(t, _)| only.is_none_or(|o| o == *t)) {
                let (iso, core) = (isolated.contains(&t), core_of(&d, t));
                s += &format!("pmd thread numa_id 0 core_id {core}:\n  isolated : {iso}\n");
                for (port, q) in qs {
                    let name = d
                        .port_query_by_number(rvs_packet::OdpPort(port))
                        .map(|p| p.name)
                        .unwrap_or_default();
                    s += &format!("  port: {name:<16} queue-id: {q:>2} (enabled)\n");
                }
            }
            Ok(s)
        }),
    );
    let d = dp.clone();
    c.register(
        "dpif-netdev/pmd-rxq-rebalance",
        "[dp]",
        0,
        1,
        h(move |a| {
            if let Some(name) = a.first() {
                crate::dpctl::check_dp_name(&d, name)?;
            }
            d.rebalance_rxqs().map_err(|e| e.to_string())?;
            Ok("pmd rxq rebalance requested.\n".to_string())
        }),
    );
    // QoS, as OVS's `qos/show-types` and `qos/show`.
    let d = dp.clone();
    c.register(
        "qos/show-types",
        "interface",
        1,
        1,
        h(move |a| {
            rvs_datapath::Dpif::port_query_by_name(&*d, &a[0])
                .map_err(|_| format!("{}: unknown interface", a[0]))?;
            Ok("QoS types supported:\n\tegress-policer\n".to_string())
        }),
    );
    let d = dp.clone();
    c.register(
        "qos/show",
        "interface",
        1,
        1,
        h(move |a| {
            let port = rvs_datapath::Dpif::port_query_by_name(&*d, &a[0])
                .map_err(|_| format!("{}: unknown interface", a[0]))?;
            let e = d.egress_policer(port.port_no).map_err(|e| e.to_string())?;
            if e.cir == 0 {
                return Ok(format!("QoS not configured on {}\n", a[0]));
            }
            Ok(format!("QoS: {} egress-policer\ncbs: {}\ncir: {}\n", a[0], e.cbs, e.cir))
        }),
    );
    let d = dp.clone();
    c.register(
        "coverage/show",
        "",
        0,
        0,
        h(move |_| {
            let st = d.stats();
            let mut s = String::from("Event coverage, totals since start:\n");
            s += &format!("{:<40} {:>12}\n", "datapath_hit", st.hits);
            s += &format!("{:<40} {:>12}\n", "datapath_missed", st.missed);
            s += &format!("{:<40} {:>12}\n", "datapath_lost", st.lost);
            for (reason, n) in d.drop_stats() {
                s += &format!("{:<40} {:>12}\n", reason.name(), n);
            }
            Ok(s)
        }),
    );
    let b = backer.clone();
    let d = dp.clone();
    c.register(
        "memory/show",
        "",
        0,
        0,
        h(move |_| {
            let cfg = b.read();
            let rules: usize = cfg.bridges.values().map(|br| br.n_rules()).sum();
            let ports: usize = cfg.bridges.values().map(|br| br.ports.len()).sum();
            Ok(format!(
                "bridges:{} ports:{} rules:{} udpif keys:{}\n",
                cfg.bridges.len(),
                ports,
                rules,
                d.stats().flows
            ))
        }),
    );
    c.register(
        "netdev-dummy/receive",
        "name packet...",
        2,
        usize::MAX,
        h(move |a| {
            let d = rec
                .dummies
                .lock()
                .unwrap()
                .get(&a[0])
                .cloned()
                .ok_or_else(|| format!("no such dummy netdev \"{}\"", a[0]))?;
            // Every packet is checked before any is received.
            let mut pkts = Vec::with_capacity(a.len() - 1);
            for hex in &a[1..] {
                let bytes = rvs_ofproto::trace::parse_hex(hex)
                    .ok_or_else(|| format!("\"{hex}\" is not a packet in hex"))?;
                pkts.push(Packet::from_bytes(&bytes));
            }
            for p in pkts {
                d.receive(p);
            }
            Ok(String::new())
        }),
    );
    c
}

/// One thread's block of `dpif-netdev/pmd-stats-show`, as OVS prints it
/// (plus rvs's GRO, iteration and sleep counts).
fn pmd_stats_text(p: &rvs_datapath::dpif_netdev::PmdStats, core: usize) -> String {
    let mut s = String::new();
    let avg_subtables =
        if p.megaflow_hits == 0 { 0.0 } else { p.subtable_lookups as f64 / p.megaflow_hits as f64 };
    s += &format!("pmd thread numa_id 0 core_id {core}:\n");
    s += &format!("  packets received: {}\n", p.packets);
    s += &format!("  packet recirculations: {}\n", p.recirculations);
    s += &format!(
        "  avg. datapath passes per packet: {:.2}\n",
        if p.packets == 0 { 0.0 } else { (p.packets + p.recirculations) as f64 / p.packets as f64 }
    );
    s += &format!("  emc hits: {}\n", p.emc_hits);
    s += &format!("  megaflow hits: {}\n", p.megaflow_hits);
    s += &format!("  avg. subtable lookups per megaflow hit: {avg_subtables:.2}\n");
    s += &format!("  miss with success upcall: {}\n", p.upcalls_ok);
    s += &format!("  miss with failed upcall: {}\n", p.upcalls_failed);
    s += &format!(
        "  avg. packets per output batch: {:.2}\n",
        if p.output_batches == 0 { 0.0 } else { p.output_packets as f64 / p.output_batches as f64 }
    );
    s += &format!("  packets merged by GRO: {}\n", p.gro_merged);
    s += &format!("  poll iterations: {} (with packets: {})\n", p.iterations, p.busy_iterations);
    s += &format!("  sleeps: {}\n", p.sleeps);
    s
}

/// The arguments of the `dpif-netdev/pmd-*` commands: `-pmd <core>` (a
/// poll thread, by the `core_id` they print) and the datapath's name, both
/// optional. Returns the poll thread `-pmd` names.
fn pmd_args(dp: &DpNetdev, a: &[String]) -> Result<Option<usize>, String> {
    let mut only = None;
    let mut it = a.iter();
    while let Some(x) = it.next() {
        if x == "-pmd" {
            let v = it.next().ok_or("-pmd: expected a core id")?;
            let c: usize = v.parse().map_err(|_| format!("-pmd: \"{v}\" is not a core id"))?;
            let t = thread_on_core(dp, c).ok_or(format!("-pmd {c}: no poll thread there"))?;
            only = Some(t);
        } else {
            crate::dpctl::check_dp_name(dp, x)?;
        }
    }
    Ok(only)
}
