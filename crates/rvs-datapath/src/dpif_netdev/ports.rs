//! The datapath's port table, replaced whole on every change and read by
//! poll threads through read-copy-update.

use super::policer::{EgressPolicer, IngressPolicing, PortPolicer};
use crate::dpif::DpifPort;
use crate::netdev::{Netdev, TxOffloads};
use rvs_packet::GsoType;
use rvs_packet::{gro, gso};
use rvs_packet::{OdpPort, Packet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One port.
pub(crate) struct Port {
    pub no: OdpPort,
    pub netdev: Arc<dyn Netdev>,
    /// What the device takes on transmit (read once: it does not change).
    offloads: TxOffloads,
    /// One lock per transmit queue: threads that share a queue take turns.
    tx_locks: Box<[Mutex<()>]>,
    /// Packets the datapath could not hand to the device.
    pub tx_errors: AtomicU64,
    /// Ingress policing, shared with the poll threads' receive queues.
    pub ingress: Arc<PortPolicer<IngressPolicing>>,
    /// The egress policer (QoS `egress-policer`), applied by
    /// [`Port::send`].
    pub egress: PortPolicer<EgressPolicer>,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port").field("no", &self.no).field("name", &self.netdev.name()).finish()
    }
}

impl Port {
    pub fn new(no: OdpPort, netdev: Arc<dyn Netdev>) -> Self {
        let n = netdev.n_txq().max(1);
        Port {
            no,
            offloads: netdev.tx_offloads(),
            netdev,
            tx_locks: (0..n).map(|_| Mutex::new(())).collect(),
            tx_errors: AtomicU64::new(0),
            ingress: Arc::default(),
            egress: PortPolicer::default(),
        }
    }

    pub fn name(&self) -> &str {
        self.netdev.name()
    }

    /// What the port's device takes from the datapath (checksum-partial
    /// packets, super-frames).
    pub fn offloads(&self) -> TxOffloads {
        self.offloads
    }

    pub fn info(&self) -> DpifPort {
        DpifPort {
            name: self.name().to_string(),
            type_name: self.netdev.type_name().to_string(),
            port_no: self.no,
        }
    }

    /// Sends on the transmit queue of thread `thread_id` what the egress
    /// policer lets through at `now_ns`; the device takes every packet.
    /// With `gro`, TCP segments are merged into super-frames
    /// first when the device takes those ([`gro::coalesce`]). GSO
    /// super-frames and checksum-partial packets are segmented and
    /// checksummed first when the device cannot take them.
    pub fn send(
        &self,
        thread_id: usize,
        pkts: &mut Vec<Packet>,
        gro: bool,
        now_ns: u64,
    ) -> SendResult {
        self.egress.run(pkts, now_ns);
        let mut failed = 0;
        let mut merged = 0;
        if gro && pkts.len() > 1 {
            merged = gro::coalesce(pkts, self.offloads) as u64;
        }
        if self.offloads != TxOffloads::ALL
            && pkts.iter().any(|p| p.md.csum_start.is_some() || p.md.gso_type != GsoType::None)
        {
            let mut ready = Vec::with_capacity(pkts.len());
            for p in pkts.drain(..) {
                if let Err(e) = gso::prepare_for_port(p, self.offloads, &mut ready) {
                    tracing::debug!("port {} ({}): {e}", self.no, self.name());
                    failed += 1;
                }
            }
            *pkts = ready;
        }
        let qid = thread_id % self.tx_locks.len();
        let _guard = self.tx_locks[qid].lock().unwrap_or_else(|e| e.into_inner());
        let n = pkts.len() as u64;
        if self.netdev.send(qid, pkts).is_err() {
            self.tx_errors.fetch_add(n, Ordering::Relaxed);
        }
        pkts.clear();
        SendResult { failed, merged }
    }
}

/// What [`Port::send`] did besides sending.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SendResult {
    /// Packets that could not be segmented or checksummed (dropped).
    pub failed: u64,
    /// Packets merged into others by software GRO.
    pub merged: u64,
}

/// Ports by number.
#[derive(Clone, Default, Debug)]
pub(crate) struct PortTable {
    ports: Vec<Option<Arc<Port>>>,
}

impl PortTable {
    #[inline]
    pub fn get(&self, no: OdpPort) -> Option<&Arc<Port>> {
        self.ports.get(no.index()).and_then(Option::as_ref)
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Port>> {
        self.iter().find(|p| p.name() == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Port>> {
        self.ports.iter().flatten()
    }

    /// The lowest free number from `from`, below `limit`.
    pub fn lowest_free(&self, from: u32, limit: u32) -> Option<OdpPort> {
        (from..limit).map(OdpPort).find(|p| self.get(*p).is_none())
    }

    pub fn with(&self, port: Arc<Port>) -> PortTable {
        let mut t = self.clone();
        let i = port.no.index();
        if t.ports.len() <= i {
            t.ports.resize(i + 1, None);
        }
        t.ports[i] = Some(port);
        t
    }

    pub fn without(&self, no: OdpPort) -> PortTable {
        let mut t = self.clone();
        if let Some(slot) = t.ports.get_mut(no.index()) {
            *slot = None;
        }
        while matches!(t.ports.last(), Some(None)) {
            t.ports.pop();
        }
        t
    }
}
