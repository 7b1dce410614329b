//! Test support: a userspace datapath with dummy ports, bridges on top, and
//! builders for frames and rules, so scenario tests read like the scenario.
#![allow(dead_code)]

use rvs_datapath::clock::ManualClock;
use rvs_datapath::dpif::format_flow;
use rvs_datapath::netdev::dummy::DummyNetdev;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, DpNetdev, Dpif};
use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::{Backer, FlowMod, OfAction, OfMatch, OfPort};
use rvs_packet::wire::builder::PacketBuilder;
use rvs_packet::{EthAddr, Packet};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// A switch: one datapath, a backer, dummy ports by name.
pub struct Switch {
    pub dp: Arc<DpNetdev>,
    pub backer: Arc<Backer>,
    pub clock: Arc<ManualClock>,
    pub ports: HashMap<String, Arc<DummyNetdev>>,
}

pub fn mac(i: u8) -> EthAddr {
    EthAddr([0x02, 0, 0, 0, 0, i])
}

impl Switch {
    pub fn new() -> Switch {
        let clock = ManualClock::new();
        let reg = DatapathRegistry::default();
        let dp = reg
            .create(
                "ovs-netdev",
                DpClass::Dummy,
                DpConfig {
                    n_threads: 0,
                    maintenance_thread: false,
                    clock: clock.clone(),
                    ..DpConfig::default()
                },
            )
            .unwrap();
        let backer = Backer::new(dp.clone(), clock.clone(), false);
        Switch { dp, backer, clock, ports: HashMap::new() }
    }

    pub fn bridge(&mut self, name: &str, settings: BridgeSettings) -> &mut Self {
        let local = DummyNetdev::new(name, true, &BTreeMap::new()).unwrap();
        local.set_capture(true);
        self.ports.insert(name.to_string(), local.clone());
        self.backer.add_bridge(name, &settings, local).unwrap();
        self
    }

    pub fn port(&mut self, bridge: &str, name: &str, s: PortSettings) -> OfPort {
        let d = DummyNetdev::new(name, false, &BTreeMap::new()).unwrap();
        d.set_capture(true);
        self.ports.insert(name.to_string(), d.clone());
        self.backer.add_port(bridge, d, &s).unwrap()
    }

    /// Sends `frame` in on port `name` and runs the datapath until idle.
    pub fn send(&self, name: &str, frame: &[u8]) {
        self.ports[name].receive(Packet::from_bytes(frame));
        self.dp.poll_until_idle(20);
    }

    /// The frames port `name` sent since last asked.
    pub fn sent(&self, name: &str) -> Vec<Vec<u8>> {
        self.ports[name].take_sent().into_iter().map(|p| p.data().to_vec()).collect()
    }

    /// Names of the ports (of `names`) that sent something, each drained.
    pub fn who_sent(&self, names: &[&str]) -> Vec<String> {
        names.iter().filter(|n| !self.sent(n).is_empty()).map(|n| n.to_string()).collect()
    }

    pub fn add(&self, bridge: &str, fm: FlowMod) {
        self.backer.flow_mod(bridge, &fm).unwrap();
    }

    /// The datapath flows, one `dpctl/dump-flows` line each (without stats).
    pub fn dp_flows(&self) -> Vec<String> {
        self.dp
            .flow_dump()
            .iter()
            .map(|f| {
                let s = format_flow(f, Duration::ZERO, false);
                let (k, rest) = s.split_once(", packets:").unwrap();
                format!("{k}, actions:{}", rest.split_once("actions:").unwrap().1)
            })
            .collect()
    }

    pub fn odp(&self, name: &str) -> u32 {
        self.dp.port_query_by_name(name).unwrap().port_no.0
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}

/// An Ethernet frame from `src` to `dst`, with an optional VLAN tag.
pub fn frame(src: EthAddr, dst: EthAddr, vid: Option<u16>) -> Vec<u8> {
    let b = PacketBuilder::ethernet(src, dst);
    let b = match vid {
        Some(v) => b.vlan(0x8100, v),
        None => b,
    };
    b.ipv4(Ipv4Addr::new(198, 18, 0, src.0[5]), Ipv4Addr::new(198, 18, 0, dst.0[5]), 64)
        .udp(1000 + u16::from(src.0[5]), 2000)
        .payload(b"rvs")
        .build()
}

/// The VLAN id of a frame, if tagged.
pub fn vid_of(f: &[u8]) -> Option<u16> {
    (f.len() >= 16 && f[12] == 0x81 && f[13] == 0x00)
        .then(|| u16::from_be_bytes([f[14], f[15]]) & 0xfff)
}

pub fn rule(table: u8, priority: u16, m: OfMatch, actions: Vec<OfAction>) -> FlowMod {
    FlowMod {
        table: rvs_ofproto::TableId(table),
        priority,
        match_: m,
        actions,
        ..FlowMod::default()
    }
}
