//! `rvs-bench ofproto`: the OpenFlow layer, one thread.
//!
//! - `xlate_install`: misses translated through a 3-table pipeline and
//!   installed as megaflows, driven through the userspace datapath with
//!   dummy ports (each packet has a new TCP destination port, which table 2
//!   matches, so each is a miss);
//! - `rule_insert`: 100,000 rules over 20 masks added in one batch (the
//!   rule set of [`rvs_ofproto::cls::bench_rules`]: random priorities, so
//!   the priority cut-off rarely helps);
//! - `cls_lookup`: lookups with wildcard tracking in a classifier holding
//!   that rule set, 90% of them hitting a rule;
//! - `revalidate`: one revalidation pass over 100,000 megaflows after a
//!   rule change.

use anyhow::{anyhow, Result};
use rvs_datapath::clock::MonotonicClock;
use rvs_datapath::netdev::dummy::DummyNetdev;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, DpNetdev, Dpif};
use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::cls::{bench_flows, bench_rules};
use rvs_ofproto::flow::eth_type;
use rvs_ofproto::{
    Backer, Classifier, FailMode, Flow, FlowMod, Mf, OfAction, OfMatch, OfPort, TableId, Wildcards,
};
use rvs_packet::wire::builder::PacketBuilder;
use rvs_packet::wire::tcp::TcpFlags;
use rvs_packet::{EthAddr, Packet};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

/// Options of the ofproto benchmarks.
#[derive(Debug, Clone)]
pub struct Options {
    /// Substring filter on measurement names.
    pub only: Option<String>,
    /// Rules for `rule_insert` and `cls_lookup`.
    pub rules: usize,
    /// Megaflows for `revalidate` and misses for `xlate_install`.
    pub flows: usize,
}

fn wanted(o: &Options, name: &str) -> bool {
    o.only.as_deref().is_none_or(|f| name.contains(f))
}

struct Rig {
    dp: Arc<DpNetdev>,
    backer: Arc<Backer>,
    p1: Arc<DummyNetdev>,
    p2: Arc<DummyNetdev>,
}

fn rig() -> Result<Rig> {
    let reg = DatapathRegistry::default();
    let config = DpConfig {
        n_threads: 0,
        maintenance_thread: false,
        flow_limit: 1_000_000,
        ..DpConfig::default()
    };
    let dp = reg.create("bench", DpClass::Dummy, config).map_err(|e| anyhow!("{e}"))?;
    let backer = Backer::new(dp.clone(), MonotonicClock::new(), false);
    let local = DummyNetdev::new("br0", true, &BTreeMap::new()).map_err(|e| anyhow!("{e}"))?;
    let settings = BridgeSettings { fail_mode: FailMode::Secure, ..BridgeSettings::default() };
    backer.add_bridge("br0", &settings, local).map_err(|e| anyhow!("{e}"))?;
    let p1 = DummyNetdev::new("p1", false, &BTreeMap::new()).map_err(|e| anyhow!("{e}"))?;
    let p2 = DummyNetdev::new("p2", false, &BTreeMap::new()).map_err(|e| anyhow!("{e}"))?;
    backer.add_port("br0", p1.clone(), &PortSettings::default()).map_err(|e| anyhow!("{e}"))?;
    backer.add_port("br0", p2.clone(), &PortSettings::default()).map_err(|e| anyhow!("{e}"))?;
    Ok(Rig { dp, backer, p1, p2 })
}

/// Table 0 by input port, table 1 by destination prefix (sets reg0),
/// table 2 by reg0 and TCP destination port.
fn pipeline(n_ports: u16) -> Vec<FlowMod> {
    let mut v = Vec::new();
    let mut m = OfMatch::catchall();
    m.set(Mf::InPort, 1);
    v.push(FlowMod {
        priority: 10,
        match_: m,
        actions: vec![OfAction::GotoTable(TableId(1))],
        ..FlowMod::default()
    });
    for i in 0..16u32 {
        let mut m = OfMatch::catchall();
        m.set(Mf::DlType, eth_type::IPV4.into());
        m.set_masked(Mf::NwDst, u128::from(0xc612_0000 | (i << 4)), 0xffff_fff0);
        v.push(FlowMod {
            table: TableId(1),
            priority: 10,
            match_: m,
            actions: vec![
                OfAction::SetField {
                    field: Mf::Reg(0),
                    value: u128::from(i),
                    mask: 0xffff_ffff,
                    load: true,
                },
                OfAction::GotoTable(TableId(2)),
            ],
            ..FlowMod::default()
        });
    }
    for p in 0..n_ports {
        let mut m = OfMatch::catchall();
        m.set(Mf::DlType, eth_type::IPV4.into());
        m.set(Mf::NwProto, 6);
        m.set(Mf::TcpDst, u128::from(p));
        v.push(FlowMod {
            table: TableId(2),
            priority: 10,
            match_: m,
            actions: vec![
                OfAction::SetEthDst(EthAddr([2, 0, 0, 0, 0, 9])),
                OfAction::output(OfPort(2)),
            ],
            ..FlowMod::default()
        });
    }
    v
}

fn frame(i: usize) -> Vec<u8> {
    PacketBuilder::ethernet(EthAddr([2, 0, 0, 0, 0, 1]), EthAddr([2, 0, 0, 0, 0, 2]))
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, (i % 256) as u8), 64)
        .tcp(1000, (i % 65536) as u16, TcpFlags::ACK)
        .build()
}

/// Pushes `n` distinct misses through the datapath; returns seconds.
fn install(r: &Rig, n: usize) -> f64 {
    let frames: Vec<Vec<u8>> = (0..n).map(frame).collect();
    let t = Instant::now();
    for chunk in frames.chunks(32) {
        r.p1.receive_batch(chunk.iter().map(|f| Packet::from_bytes(f)));
        r.dp.poll_until_idle(4);
        black_box(r.p2.take_sent());
    }
    t.elapsed().as_secs_f64()
}

/// Runs the measurements, handing each JSON line to `emit`.
pub fn run(o: &Options, emit: &mut dyn FnMut(Value)) -> Result<()> {
    if wanted(o, "xlate_install") {
        let r = rig()?;
        let n = o.flows.min(65535);
        r.backer.flow_mods("br0", &pipeline(n as u16)).map_err(|e| anyhow!("{e}"))?;
        let secs = install(&r, n);
        let flows = r.dp.flow_dump().len();
        emit(
            json!({"bench":"xlate_install","tables":3,"flows":flows,"secs":secs,"flows_per_sec":(flows as f64/secs).round()}),
        );
        r.backer.shutdown();
    }
    if wanted(o, "rule_insert") {
        let r = rig()?;
        let fms: Vec<FlowMod> = bench_rules(o.rules, 20, 1)
            .into_iter()
            .map(|(m, p)| FlowMod {
                priority: p,
                match_: m,
                actions: vec![OfAction::output(OfPort(2))],
                ..FlowMod::default()
            })
            .collect();
        let t = Instant::now();
        r.backer.flow_mods("br0", &fms).map_err(|e| anyhow!("{e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let n = r.backer.with_bridge_read("br0", |b| b.n_rules()).map_err(|e| anyhow!("{e}"))?;
        emit(json!({"bench":"rule_insert","rules":n,"secs":secs}));
        r.backer.shutdown();
    }
    if wanted(o, "cls_lookup") {
        let mut cls = Classifier::new();
        let rules = bench_rules(o.rules, 20, 1);
        for (i, (m, p)) in rules.iter().enumerate() {
            cls.insert(*m, *p, i);
        }
        let n = 1_000_000u64;
        // 90% of lookups hit a rule, as traffic mostly does.
        let flows: Vec<Flow> = bench_flows(&rules, 4096, 90, 2);
        let t = Instant::now();
        let mut hits = 0u64;
        for i in 0..n {
            let mut wc = Wildcards::none();
            if cls.lookup(&flows[(i % 4096) as usize], Some(&mut wc)).is_some() {
                hits += 1;
            }
            black_box(&wc);
        }
        let secs = t.elapsed().as_secs_f64();
        emit(
            json!({"bench":"cls_lookup","rules":cls.len(),"masks":cls.n_subtables(),"lookups":n,"hits":hits,"lookups_per_sec":(n as f64/secs).round()}),
        );
    }
    if wanted(o, "revalidate") {
        let r = rig()?;
        r.backer.flow_mods("br0", &pipeline(65535)).map_err(|e| anyhow!("{e}"))?;
        // Distinct megaflows: 16 destination prefixes x TCP ports.
        let frames = o.flows;
        let t = Instant::now();
        for chunk in (0..frames).collect::<Vec<_>>().chunks(32) {
            r.p1.receive_batch(chunk.iter().map(|&i| {
                let f = PacketBuilder::ethernet(
                    EthAddr([2, 0, 0, 0, 0, 1]),
                    EthAddr([2, 0, 0, 0, 0, 2]),
                )
                .ipv4(
                    Ipv4Addr::new(198, 18, 0, 1),
                    Ipv4Addr::new(198, 18, 0, ((i / 65535) * 16) as u8),
                    64,
                )
                .tcp(1000, (i % 65535) as u16, TcpFlags::ACK)
                .build();
                Packet::from_bytes(&f)
            }));
            r.dp.poll_until_idle(4);
            black_box(r.p2.take_sent());
        }
        let install_secs = t.elapsed().as_secs_f64();
        let megaflows = r.dp.flow_dump().len();
        r.backer.revalidate(); // settle statistics bookkeeping
                               // The change: every table-2 rule now outputs to p1 instead.
        let mut m = OfMatch::catchall();
        m.set(Mf::DlType, eth_type::IPV4.into());
        m.set(Mf::NwProto, 6);
        let fm = FlowMod {
            command: rvs_ofproto::FlowModCommand::Modify,
            table: TableId(2),
            match_: m,
            actions: vec![OfAction::output(OfPort(1))],
            ..FlowMod::default()
        };
        r.backer.flow_mod("br0", &fm).map_err(|e| anyhow!("{e}"))?;
        let t = Instant::now();
        r.backer.revalidate();
        let secs = t.elapsed().as_secs_f64();
        let modified = r.backer.stats.reval_modified.load(std::sync::atomic::Ordering::Relaxed);
        emit(
            json!({"bench":"revalidate","megaflows":megaflows,"modified":modified,"secs":secs,"install_secs":install_secs}),
        );
        r.backer.shutdown();
    }
    Ok(())
}
