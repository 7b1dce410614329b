//! The `system` netdev: an existing Linux interface (a veth end, a NIC)
//! opened by name through AF_PACKET.
//!
//! Receive uses a TPACKET_V3 memory-mapped ring in promiscuous mode; transmit
//! uses `sendmmsg` on a second socket that receives nothing. Received
//! packets borrow their bytes from the ring rather than copy them
//! (`Packet::from_shared`): a packet forwarded unchanged goes from the ring
//! straight to `sendmmsg`, and the ring slot goes back to the kernel once the
//! packet is sent or dropped. A packet that is edited is copied first. Both carry the
//! virtio-net header (`PACKET_VNET_HDR`), so checksum-partial packets and GSO
//! super-frames from the kernel (veth's default offloads) cross the switch
//! whole and the kernel finishes them on the way out. A VLAN tag the kernel
//! stripped on receive is put back in the packet, so the datapath sees the
//! frame as it was on the wire.
//!
//! V3 hands frames over a block at a time, when the block is full or its
//! 1 ms retire timer fires, which would add up to a millisecond to the
//! packets that never fill a block: a TCP sender's acknowledgements, pings,
//! ARP. So each queue has a second, small TPACKET_V2 ring, the express lane,
//! which hands each frame over at once; socket filters send those small
//! control packets there and everything else (TCP data, UDP) to the V3 ring
//! ([`Lane`] has the exact rule). Option `rx_express=false` turns the
//! express lane off; `rx_ring=v2` uses one TPACKET_V2 ring for everything
//! instead; `rx_ring_blocks=N` sizes the V3 ring in blocks of 256 KiB
//! (default 8, 2 MiB: small enough to stay in the CPU caches). All three
//! apply to queues opened after they are set. docs/PERFORMANCE.md has the
//! measured differences.
//!
//! Packets the host itself sends out of the interface are not received back
//! (`PACKET_IGNORE_OUTGOING`). The interface must exist when the port is
//! added; rvs does not create or delete it, but brings it up.

use super::linux;
use super::vnet;
use super::{Netdev, NetdevError, NetdevRxq, NetdevStats, TxOffloads};
use crate::sys::packet::{
    Frame, Lane, RingVersion, RxRing, TxSocket, DEFAULT_BLOCK_NR, MAX_BLOCK_NR, MIN_BLOCK_NR,
};
use rvs_packet::{Batch, EthAddr, Packet, BATCH_SIZE};
use std::any::Any;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Counters {
    /// Packets received through the express lane.
    rx_express: AtomicU64,
    rx_errors: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
}

/// A Linux interface opened through AF_PACKET.
#[derive(Debug)]
pub struct SystemNetdev {
    name: String,
    ifindex: u32,
    /// Receive ring layout for queues opened from now on (`rx_ring`,
    /// `rx_express`).
    ring: Mutex<RxConfig>,
    tx: TxSocket,
    counters: Arc<Counters>,
}

impl SystemNetdev {
    /// Opens interface `name` (the [`super::NetdevConstructor`] signature)
    /// with the receive-ring options the module describes.
    pub fn open(
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, NetdevError> {
        let ifindex = linux::ifindex(name)?;
        let tx = TxSocket::open(ifindex)
            .map_err(|e| NetdevError::os(name, "opening the transmit socket", e))?;
        let dev = SystemNetdev {
            name: name.to_string(),
            ifindex,
            ring: Mutex::new(RxConfig::default()),
            tx,
            counters: Arc::default(),
        };
        dev.set_config(options)?;
        if !linux::is_up(name) {
            linux::set_up(name, true)?;
        }
        Ok(Arc::new(dev))
    }
}

impl Netdev for SystemNetdev {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        "system"
    }

    fn rxq_open(&self, id: usize) -> Result<Box<dyn NetdevRxq>, NetdevError> {
        if id != 0 {
            return Err(NetdevError::NoSuchQueue { dev: self.name.clone(), qid: id, n: 1 });
        }
        let cfg = *self.ring.lock().unwrap();
        let express = cfg.version == RingVersion::V3 && cfg.express;
        let open = |lane| {
            RxRing::open(self.ifindex, cfg.version, lane, cfg.blocks)
                .map_err(|e| NetdevError::os(&self.name, "opening the receive ring", e))
        };
        let (ring, express) = if express {
            (open(Lane::Bulk)?, Some(open(Lane::Express)?))
        } else {
            (open(Lane::All)?, None)
        };
        Ok(Box::new(SystemRxq {
            ring,
            express,
            name: self.name.clone(),
            counters: self.counters.clone(),
        }))
    }

    fn send(&self, _qid: usize, pkts: &mut Vec<Packet>) -> Result<(), NetdevError> {
        let r = self.tx.send_batch(pkts, |p| vnet::encode(&p.md));
        pkts.clear();
        if r.refused > 0 {
            let c = if r
                .error
                .as_ref()
                .and_then(|e| e.raw_os_error())
                .is_some_and(|e| e == libc::EAGAIN || e == libc::ENOBUFS)
            {
                &self.counters.tx_dropped
            } else {
                &self.counters.tx_errors
            };
            c.fetch_add(r.refused as u64, Ordering::Relaxed);
            if let Some(e) = r.error {
                tracing::debug!("{}: {} packets refused: {e}", self.name, r.refused);
            }
        }
        Ok(())
    }

    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads { csum: true, tso: true, uso: true }
    }

    fn mac(&self) -> Result<EthAddr, NetdevError> {
        linux::mac(&self.name)
    }

    fn set_mac(&self, mac: EthAddr) -> Result<(), NetdevError> {
        linux::set_mac(&self.name, mac)
    }

    fn mtu(&self) -> Result<u32, NetdevError> {
        linux::mtu(&self.name)
    }

    fn set_mtu(&self, mtu: u32) -> Result<(), NetdevError> {
        linux::set_mtu(&self.name, mtu)
    }

    fn carrier(&self) -> bool {
        linux::carrier(&self.name)
    }

    fn ifindex(&self) -> Option<u32> {
        Some(self.ifindex)
    }

    fn stats(&self) -> NetdevStats {
        let mut s = linux::kernel_stats(&self.name);
        // The kernel counts what it received and sent on the interface; add
        // what rvs itself could not handle.
        s.rx_errors += self.counters.rx_errors.load(Ordering::Relaxed);
        s.tx_dropped += self.counters.tx_dropped.load(Ordering::Relaxed);
        s.tx_errors += self.counters.tx_errors.load(Ordering::Relaxed);
        s
    }

    fn status(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("ifindex".into(), self.ifindex.to_string());
        let cfg = *self.ring.lock().unwrap();
        let ring = match cfg.version {
            RingVersion::V2 => "tpacket_v2",
            RingVersion::V3 => "tpacket_v3",
        };
        m.insert("rx_ring".into(), ring.into());
        if cfg.version == RingVersion::V3 {
            m.insert("rx_ring_blocks".into(), cfg.blocks.to_string());
        }
        let express = cfg.version == RingVersion::V3 && cfg.express;
        m.insert("rx_express".into(), express.to_string());
        let n = self.counters.rx_express.load(Ordering::Relaxed);
        m.insert("rx_express_packets".into(), n.to_string());
        m.insert("link_state".into(), if self.carrier() { "up" } else { "down" }.into());
        m.insert("admin_state".into(), if linux::is_up(&self.name) { "up" } else { "down" }.into());
        m
    }

    fn set_config(&self, options: &BTreeMap<String, String>) -> Result<(), NetdevError> {
        let mut cfg = RxConfig::default();
        for (k, v) in options {
            let bad = |why: &str| NetdevError::BadOption {
                dev: self.name.clone(),
                key: k.clone(),
                value: v.clone(),
                why: why.into(),
            };
            match (k.as_str(), v.as_str()) {
                ("rx_ring", "v3") => cfg.version = RingVersion::V3,
                ("rx_ring", "v2") => cfg.version = RingVersion::V2,
                ("rx_ring", _) => return Err(bad("must be v2 or v3")),
                ("rx_express", "true") => cfg.express = true,
                ("rx_express", "false") => cfg.express = false,
                ("rx_express", _) => return Err(bad("must be true or false")),
                ("rx_ring_blocks", _) => {
                    cfg.blocks = v
                        .parse()
                        .ok()
                        .filter(|n| (MIN_BLOCK_NR..=MAX_BLOCK_NR).contains(n))
                        .ok_or_else(|| {
                            bad(&format!("must be a number from {MIN_BLOCK_NR} to {MAX_BLOCK_NR}"))
                        })?
                }
                _ => {
                    return Err(bad("unknown option for a system interface \
                         (known: rx_ring, rx_express, rx_ring_blocks)"))
                }
            }
        }
        *self.ring.lock().unwrap() = cfg;
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Makes a packet of a ring frame: the frame's bytes borrowed from the ring
/// (no copy) or, when the kernel stripped a VLAN tag, copied with the tag put
/// back; the virtio-net header applied to the metadata. `None` (counted) for
/// a frame that cannot be forwarded.
fn frame_to_packet(f: &Frame<'_>, name: &str, counters: &Counters) -> Option<Packet> {
    if f.data.len() < f.len {
        // Did not fit the ring block: cannot be forwarded whole.
        counters.rx_errors.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let (mut p, tagged) = match f.vlan {
        Some((tpid, tci)) if f.data.len() >= 12 => {
            let mut p = Packet::with_capacity(f.data.len() + 4);
            p.extend_from_slice(&f.data[..12]);
            p.extend_from_slice(&tpid.to_be_bytes());
            p.extend_from_slice(&tci.to_be_bytes());
            p.extend_from_slice(&f.data[12..]);
            (p, true)
        }
        _ => (f.share(), false),
    };
    if let Err(e) = vnet::decode(f.vnet, &mut p.md) {
        tracing::debug!("{name}: dropping a received packet: {e}");
        counters.rx_errors.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    if tagged {
        // The checksum offset counted from the untagged frame.
        if let Some(cs) = p.md.csum_start.as_mut() {
            *cs += 4;
        }
    }
    Some(p)
}

/// How a system port's receive queues are built.
#[derive(Debug, Clone, Copy)]
struct RxConfig {
    version: RingVersion,
    /// A V3 ring gets an express lane.
    express: bool,
    /// Blocks of a V3 ring.
    blocks: usize,
}

impl Default for RxConfig {
    fn default() -> Self {
        RxConfig { version: RingVersion::V3, express: true, blocks: DEFAULT_BLOCK_NR }
    }
}

struct SystemRxq {
    ring: RxRing,
    /// The express lane, beside a V3 ring.
    express: Option<RxRing>,
    name: String,
    counters: Arc<Counters>,
}

/// Moves frames of `ring` into `batch` until it is full or the ring is
/// empty; keeps reading while frames are consumed but dropped, so that
/// stopping short of a full batch really means the ring is empty (the poll
/// thread sleeps on that).
fn drain(ring: &mut RxRing, batch: &mut Batch, name: &str, counters: &Counters) {
    loop {
        let room = BATCH_SIZE.saturating_sub(batch.len());
        if room == 0 {
            break;
        }
        let consumed = ring.recv(room, |f| {
            if let Some(p) = frame_to_packet(&f, name, counters) {
                batch.push(p);
            }
        });
        if consumed == 0 {
            break;
        }
    }
}

impl NetdevRxq for SystemRxq {
    fn recv(&mut self, batch: &mut Batch) -> Result<usize, NetdevError> {
        let start = batch.len();
        // The express lane first: its packets are the ones someone waits for.
        if let Some(x) = self.express.as_mut() {
            drain(x, batch, &self.name, &self.counters);
            let n = batch.len() - start;
            if n > 0 {
                self.counters.rx_express.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        drain(&mut self.ring, batch, &self.name, &self.counters);
        Ok(batch.len() - start)
    }

    fn wait_fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.ring.as_raw_fd()];
        fds.extend(self.express.as_ref().map(AsRawFd::as_raw_fd));
        fds
    }
}
