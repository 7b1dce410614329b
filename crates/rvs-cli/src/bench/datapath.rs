//! `rvs-bench datapath`: the userspace datapath with dummy ports, one thread
//! (the caller drives the datapath's main context, so no thread hand-off is
//! measured).
//!
//! Packets are recycled: what the egress dummy port sends is injected again
//! on the ingress port, so the loop measures the datapath, not the allocator.

use anyhow::{anyhow, Context, Result};
use rvs_datapath::dpif::{FlowPut, PutFlags, Upcall, UpcallError, UpcallReply};
use rvs_datapath::dpif_netdev::invariant_mask;
use rvs_datapath::netdev::dummy::DummyNetdev;
use rvs_datapath::odp::OdpAction;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, DpNetdev, Dpif, UpcallHandler};
use rvs_packet::flow::{extract, Field};
use rvs_packet::wire::builder::PacketBuilder;
use rvs_packet::wire::tcp::TcpFlags;
use rvs_packet::{EthAddr, FlowKey, Mask, OdpPort, Packet};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of the datapath benchmarks.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds per throughput measurement.
    pub secs: f64,
    /// Substring filter on measurement names.
    pub only: Option<String>,
    /// Flows for `flow_memory`.
    pub memory_flows: usize,
}

const SRC: EthAddr = EthAddr([0x02, 0, 0, 0, 0, 1]);
const DST: EthAddr = EthAddr([0x02, 0, 0, 0, 0, 2]);

fn tcp4(sport: u16, dport: u16) -> Vec<u8> {
    PacketBuilder::ethernet(SRC, DST)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(sport, dport, TcpFlags::ACK)
        .payload(&[0u8; 10])
        .build()
}

fn udp6() -> Vec<u8> {
    PacketBuilder::ethernet(SRC, DST)
        .ipv6(
            "2001:db8::1".parse::<Ipv6Addr>().expect("literal"),
            "2001:db8::2".parse().expect("literal"),
            64,
        )
        .udp(5000, 53)
        .payload(&[0u8; 10])
        .build()
}

fn vlan_tcp4() -> Vec<u8> {
    PacketBuilder::ethernet(SRC, DST)
        .vlan(0x8100, 10)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(1000, 80, TcpFlags::ACK)
        .payload(&[0u8; 6])
        .build()
}

/// The megaflow invariant bits for an untagged IPv4 packet.
fn invariants() -> Mask {
    invariant_mask(&key_of(&tcp4(1, 2), OdpPort(1)))
}

fn key_of(frame: &[u8], in_port: OdpPort) -> FlowKey {
    let mut p = Packet::from_bytes(frame);
    p.md.in_port = in_port;
    let mut k = FlowKey::new();
    extract(&mut p, &mut k);
    k
}

struct Rig {
    dp: Arc<DpNetdev>,
    rx: Arc<DummyNetdev>,
    tx: Arc<DummyNetdev>,
}

fn rig(emc_inv_prob: u32, flow_limit: usize) -> Result<Rig> {
    let reg = DatapathRegistry::default();
    let config = DpConfig {
        n_threads: 0,
        emc_insert_inv_prob: emc_inv_prob,
        flow_limit,
        maintenance_thread: false,
        ..DpConfig::default()
    };
    let dp = reg.create("bench", DpClass::Dummy, config)?;
    let rx = DummyNetdev::new("bench-in", false, &BTreeMap::new())?;
    let tx = DummyNetdev::new("bench-out", false, &BTreeMap::new())?;
    dp.port_add(rx.clone(), Some(OdpPort(1)))?;
    dp.port_add(tx.clone(), Some(OdpPort(2)))?;
    Ok(Rig { dp, rx, tx })
}

impl Rig {
    /// Forwards `pkts` round and round for `secs`; returns packets a second
    /// and ns a packet.
    fn forward_loop(&self, mut pkts: Vec<Packet>, secs: f64) -> Result<(f64, f64)> {
        let n = pkts.len();
        let deadline = Duration::from_secs_f64(secs);
        let start = Instant::now();
        let mut total = 0u64;
        while start.elapsed() < deadline {
            for _ in 0..64 {
                self.rx.receive_batch(pkts.drain(..));
                self.dp.poll();
                pkts = self.tx.take_sent();
                if pkts.len() != n {
                    return Err(anyhow!(
                        "{} of {n} packets came out; the flows are wrong",
                        pkts.len()
                    ));
                }
                total += n as u64;
            }
        }
        let el = start.elapsed().as_secs_f64();
        Ok((total as f64 / el, el * 1e9 / total as f64))
    }
}

/// Runs the benchmarks, handing each result to `out`.
pub fn run(opts: &Options, out: &mut dyn FnMut(Value)) -> Result<()> {
    let want = |name: &str| opts.only.as_deref().is_none_or(|o| name.contains(o));
    if want("extract") {
        for (name, frame) in
            [("tcp4", tcp4(1000, 80)), ("udp6", udp6()), ("vlan_tcp4", vlan_tcp4())]
        {
            out(bench_extract(name, &frame, opts.secs));
        }
    }
    if want("emc_hit") {
        out(bench_emc_hit(opts.secs)?);
    }
    if want("megaflow_hit") {
        for subtables in [1, 10, 50] {
            out(bench_megaflow_hit(subtables, opts.secs)?);
        }
    }
    if want("upcall_install") {
        out(bench_upcall_install(opts.secs)?);
    }
    if want("flow_memory") {
        if opts.only.as_deref() == Some("flow_memory") {
            out(bench_flow_memory(opts.memory_flows)?);
        } else {
            // Memory freed by the benchmarks above stays in the allocator and
            // would hide the growth; measure in a fresh process.
            let exe = std::env::current_exe().context("finding rvs-bench")?;
            let o = std::process::Command::new(exe)
                .args([
                    "datapath",
                    "--only",
                    "flow_memory",
                    "--memory-flows",
                    &opts.memory_flows.to_string(),
                ])
                .output()
                .context("running the flow_memory benchmark")?;
            if !o.status.success() {
                return Err(anyhow!("flow_memory failed: {}", String::from_utf8_lossy(&o.stderr)));
            }
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                out(serde_json::from_str(line).context("reading flow_memory output")?);
            }
        }
    }
    Ok(())
}

fn bench_extract(name: &str, frame: &[u8], secs: f64) -> Value {
    let mut p = Packet::from_bytes(frame);
    p.md.in_port = OdpPort(1);
    let mut k = FlowKey::new();
    let deadline = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < deadline {
        for _ in 0..10_000 {
            extract(black_box(&mut p), &mut k);
            black_box(&k);
        }
        n += 10_000;
    }
    let ns = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    json!({"bench": "extract", "packet": name, "ns_per_pkt": round2(ns)})
}

fn bench_emc_hit(secs: f64) -> Result<Value> {
    let r = rig(1, 200_000)?;
    let frame = tcp4(1000, 80);
    let key = key_of(&frame, OdpPort(1));
    r.dp.flow_put(FlowPut {
        ufid: None,
        key,
        mask: invariants(),
        actions: vec![OdpAction::Output(OdpPort(2))],
        flags: PutFlags::CREATE,
    })?;
    r.tx.set_capture(true);
    // 32 packets of 32 different connections, one megaflow.
    let pkts: Vec<Packet> = (0..32).map(|i| Packet::from_bytes(&tcp4(1000 + i, 80))).collect();
    let (pps, ns) = r.forward_loop(pkts, secs)?;
    let st = r.dp.stats();
    if st.emc_hits == 0 {
        return Err(anyhow!("no exact-match-cache hits: {st:?}"));
    }
    Ok(
        json!({"bench": "emc_hit", "threads": 1, "mpps": round2(pps / 1e6), "ns_per_pkt": round2(ns),
              "emc_hit_ratio": round2(st.emc_hits as f64 / st.hits.max(1) as f64)}),
    )
}

fn bench_megaflow_hit(subtables: usize, secs: f64) -> Result<Value> {
    let r = rig(0, 200_000)?;
    // 64 flows spread over `subtables` masks. Every mask matches tp_dst
    // exactly and each flow has its own tp_dst, so flows never overlap; the
    // masks differ in the nw_dst prefix length and, past 33, tp_src.
    let n_flows = 64;
    for i in 0..n_flows {
        let j = i % subtables;
        let mut mask = invariants();
        mask.set_exact(Field::TpDst);
        let plen = (j % 33) as u32;
        let prefix = if plen == 0 { 0 } else { u32::MAX << (32 - plen) };
        mask.set(Field::NwDst, prefix as u128);
        if j >= 33 {
            mask.set_exact(Field::TpSrc);
        }
        let key = key_of(&tcp4(5000, 1000 + i as u16), OdpPort(1));
        r.dp.flow_put(FlowPut {
            ufid: None,
            key,
            mask,
            actions: vec![OdpAction::Output(OdpPort(2))],
            flags: PutFlags::CREATE,
        })
        .context("installing benchmark flows")?;
    }
    let st0 = r.dp.stats();
    let pkts: Vec<Packet> =
        (0..32).map(|i| Packet::from_bytes(&tcp4(5000, 1000 + (i * 2) as u16))).collect();
    // Alternate between the even and odd flows so all 64 are used.
    let odd: Vec<Packet> =
        (0..32).map(|i| Packet::from_bytes(&tcp4(5000, 1000 + (i * 2 + 1) as u16))).collect();
    let (pps_a, ns_a) = r.forward_loop(pkts, secs / 2.0)?;
    let (pps_b, ns_b) = r.forward_loop(odd, secs / 2.0)?;
    let st = r.dp.stats();
    let hits = st.mask_hits - st0.mask_hits;
    if st.emc_hits != 0 || hits == 0 {
        return Err(anyhow!("expected megaflow hits only: {st:?}"));
    }
    Ok(json!({"bench": "megaflow_hit", "subtables": subtables, "threads": 1,
              "mpps": round2((pps_a + pps_b) / 2e6), "ns_per_pkt": round2((ns_a + ns_b) / 2.0),
              "subtable_lookups_per_hit": round2((st.subtable_lookups - st0.subtable_lookups) as f64 / hits as f64)}))
}

/// Answers every miss with "output to port 2", matching the source address
/// and port exactly, so every new connection is a new megaflow.
struct FixedHandler {
    mask: Mask,
}

impl UpcallHandler for FixedHandler {
    fn upcall(&self, _u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        Ok(UpcallReply {
            actions: vec![OdpAction::Output(OdpPort(2))],
            mask: self.mask,
            ufid: None,
            install: true,
        })
    }
}

/// Writes connection `n`'s source address and port into a TCP/IPv4 frame
/// (checksums are not fixed: nothing here verifies them).
fn stamp(p: &mut Packet, n: u32) {
    let d = p.data_mut();
    let addr = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (n % 131_072);
    d[26..30].copy_from_slice(&addr.to_be_bytes());
    d[34..36].copy_from_slice(&(1024 + (n / 131_072) as u16).to_be_bytes());
}

fn install_flows(r: &Rig, target: usize, deadline: Option<Duration>) -> Result<(usize, f64)> {
    let mut mask = invariants();
    mask.set_exact(Field::NwSrc);
    mask.set_exact(Field::TpSrc);
    r.dp.register_upcall_handler(Some(Arc::new(FixedHandler { mask })));
    let mut pkts: Vec<Packet> = (0..32).map(|_| Packet::from_bytes(&tcp4(1024, 80))).collect();
    let mut n = 0u32;
    let start = Instant::now();
    while (n as usize) < target && deadline.is_none_or(|d| start.elapsed() < d) {
        for p in pkts.iter_mut() {
            stamp(p, n);
            n += 1;
        }
        r.rx.receive_batch(pkts.drain(..));
        r.dp.poll();
        pkts = r.tx.take_sent();
        if pkts.len() != 32 {
            return Err(anyhow!("{} of 32 packets came out", pkts.len()));
        }
    }
    let el = start.elapsed().as_secs_f64();
    let flows = r.dp.stats().flows as usize;
    Ok((flows, el))
}

fn bench_upcall_install(secs: f64) -> Result<Value> {
    let r = rig(0, 4_000_000)?;
    let (flows, el) = install_flows(&r, usize::MAX, Some(Duration::from_secs_f64(secs)))?;
    Ok(
        json!({"bench": "upcall_install", "flows": flows, "flows_per_sec": (flows as f64 / el).round()}),
    )
}

fn rss_bytes() -> Result<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 =
        s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).context("parsing statm")?;
    Ok(pages * 4096)
}

fn bench_flow_memory(n: usize) -> Result<Value> {
    let r = rig(0, n + 1)?;
    // Warm up allocator pools and the datapath with a few flows first.
    install_flows(&r, 1024, None)?;
    let before = rss_bytes()?;
    let f0 = r.dp.stats().flows as usize;
    let (flows, _) = install_flows(&r, n, None)?;
    let after = rss_bytes()?;
    let added = flows - f0;
    Ok(json!({"bench": "flow_memory", "flows": flows,
              "bytes_per_flow": ((after.saturating_sub(before)) as f64 / added.max(1) as f64).round()}))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
