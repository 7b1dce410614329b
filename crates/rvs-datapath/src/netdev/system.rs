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
//! packets that never fill a block. So each queue has three rings, split by
//! socket filters:
//! - the express lane, a small TPACKET_V2 ring that hands each frame over at
//!   once, takes the small control packets someone waits for: a TCP
//!   sender's acknowledgements, pings, ARP ([`Lane`] has the exact rule);
//! - the bulk traffic (TCP data, UDP, everything else) goes to one of two
//!   rings, by how heavy it is. While it is light, a direct ring (TPACKET_V2,
//!   64 frames of 68 KiB) hands each packet over at once: a 1,000-byte ping
//!   crosses in 0.1 ms, not 1. When packets back up in it (16 waiting at a
//!   poll), bulk traffic moves to the V3 ring, whose blocks save work per
//!   packet; when blocks come by their timer with few packets, twice in a
//!   row, it moves back. The two rings share one kernel hook, a fanout
//!   group whose eBPF program picks the ring for each packet
//!   ([`RingSwitch`]): a move is one map update, and no packet is lost or
//!   taken twice. The giving ring is read empty before the taking one, so
//!   no packet overtakes an older one. Without eBPF fanout (Linux before
//!   6.10, or no `CAP_BPF`) the port has no direct ring (status
//!   `rx_direct=false`, with a warning in the log).
//!   Status keys `rx_bulk_ring`, `rx_bulk_moves` and `rx_direct_packets`
//!   show it at work.
//!
//! Options: `rx_direct=false` keeps bulk traffic in the V3 ring;
//! `rx_express=false` turns the express lane (and the direct ring) off,
//! leaving one V3 ring; `rx_ring=v2` uses one TPACKET_V2 ring for
//! everything instead; `rx_ring_blocks=N` sizes the V3 ring in blocks of
//! 256 KiB (default 8, 2 MiB: small enough to stay in the CPU caches). They
//! apply to queues opened after they are set. docs/PERFORMANCE.md has the
//! measured differences.
//!
//! Packets the kernel drops because a ring is full count in the port's
//! `rx_dropped` (and status `rx_ring_drops`), read every few thousand polls
//! and when the queue closes.
//!
//! Packets the host itself sends out of the interface are not received back
//! (`PACKET_IGNORE_OUTGOING`). The interface must exist when the port is
//! added; rvs does not create or delete it, but brings it up.

use super::linux;
use super::vnet;
use super::{Netdev, NetdevError, NetdevRxq, NetdevStats, TxOffloads};
use crate::sys::fanout::RingSwitch;
use crate::sys::packet::{
    Frame, Lane, RingShape, RingVersion, RxRing, TxSocket, DEFAULT_BLOCK_NR, EXPRESS_FRAME_NR,
    EXPRESS_FRAME_SIZE, MAX_BLOCK_NR, MIN_BLOCK_NR, V2_FRAME_NR, V2_FRAME_SIZE,
};
use rvs_packet::{Batch, EthAddr, Packet, BATCH_SIZE};
use std::any::Any;
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames of the direct ring (a TPACKET_V2 ring of [`V2_FRAME_SIZE`]
/// frames, 4.4 MiB): room for bursts of light traffic.
const DIRECT_FRAME_NR: usize = 64;
/// Members of a port's [`RingSwitch`]: the direct ring joins first.
const SWITCH_DIRECT: u32 = 0;
const SWITCH_BLOCKS: u32 = 1;
/// The rings' drop counts are read (a system call per ring) once in this
/// many polls of the queue, and when it closes.
const DROPS_EVERY: u32 = 4096;
/// Bulk frames found waiting in the direct ring at one poll that make the
/// port move its bulk traffic to the V3 ring: traffic is no longer light.
const DIRECT_BACKLOG: usize = 16;
/// Bulk packets, or bytes, through the direct ring within one
/// [`DIRECT_WINDOW`] that also make it move (64,000 packets or 4 Gbit a
/// second): the ring hands each packet over with a wake-up, which costs
/// more than V3's blocks at such rates even when the poll thread keeps up.
const DIRECT_MAX_PKTS: usize = 64;
const DIRECT_MAX_BYTES: usize = 512 * 1024;
const DIRECT_WINDOW: Duration = Duration::from_millis(1);
/// V3 blocks in a row handed over by their retire timer with few packets
/// ([`RxRing::light_timeouts`]) that make the port move its bulk traffic
/// back to the direct ring: traffic is light again.
const TIMEOUTS_TO_DIRECT: u32 = 2;
/// After bulk traffic moves back to the direct ring, how long at least
/// packets the V3 ring may still be writing are waited for.
const DRAIN_GRACE: Duration = Duration::from_micros(50);
/// Longest the direct ring waits for the V3 ring to empty (its retire
/// timer empties it within 1 ms).
const DRAIN_MAX: Duration = Duration::from_millis(3);

#[derive(Debug, Default)]
struct Counters {
    /// Packets received through the express lane.
    rx_express: AtomicU64,
    /// Packets received through the direct ring.
    rx_direct: AtomicU64,
    /// Bulk traffic is in the V3 ring now (else in the direct ring).
    bulk_in_blocks: AtomicBool,
    /// The receive queue has a direct ring (it asked for one, and the
    /// kernel could switch between it and the V3 ring).
    direct_on: AtomicBool,
    /// Times bulk traffic moved between the direct and the V3 ring.
    bulk_moves: AtomicU64,
    /// Packets the kernel dropped because a receive ring was full.
    rx_ring_drops: AtomicU64,
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
        let direct = express && cfg.direct;
        let open_as = |shape, lane, receiving| {
            RxRing::open(self.ifindex, shape, lane, receiving)
                .map_err(|e| NetdevError::os(&self.name, "opening the receive ring", e))
        };
        let open = |shape, lane| open_as(shape, lane, true);
        let v3 = RingShape::V3 { blocks: cfg.blocks };
        let big = |frames| RingShape::V2 { frame_size: V2_FRAME_SIZE, frames };
        let small = RingShape::V2 { frame_size: EXPRESS_FRAME_SIZE, frames: EXPRESS_FRAME_NR };
        let (ring, express, direct) = match (cfg.version, express, direct) {
            (RingVersion::V2, ..) => (open(big(V2_FRAME_NR), Lane::All)?, None, None),
            (RingVersion::V3, false, _) => (open(v3, Lane::All)?, None, None),
            (RingVersion::V3, true, false) => {
                (open(v3, Lane::Bulk)?, Some(open(small, Lane::Express)?), None)
            }
            // Bulk traffic starts in the direct ring (a port starts idle);
            // the two rings share one hook through a switch.
            (RingVersion::V3, true, true) => {
                // The direct ring's socket first: see `RingSwitch::join`.
                let d = open(big(DIRECT_FRAME_NR), Lane::Bulk)?;
                let blocks = open_as(v3, Lane::Bulk, false)?;
                let x = Some(open(small, Lane::Express)?);
                match RingSwitch::join(&d, &blocks) {
                    Ok(sw) => (blocks, x, Some((d, sw))),
                    Err(e) => {
                        // The V3 ring alone takes the bulk traffic.
                        tracing::warn!("{}: no direct ring: {e}", self.name);
                        drop(d);
                        (open(v3, Lane::Bulk)?, x, None)
                    }
                }
            }
        };
        self.counters.direct_on.store(direct.is_some(), Ordering::Relaxed);
        self.counters.bulk_in_blocks.store(direct.is_none(), Ordering::Relaxed);
        Ok(Box::new(SystemRxq {
            ring,
            express,
            direct,
            mode: BulkMode::Direct,
            window: (Instant::now(), 0, 0),
            until_drops: DROPS_EVERY,
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
        s.rx_dropped += self.counters.rx_ring_drops.load(Ordering::Relaxed);
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
        let direct = self.counters.direct_on.load(Ordering::Relaxed);
        m.insert("rx_direct".into(), direct.to_string());
        if direct {
            let blocks = self.counters.bulk_in_blocks.load(Ordering::Relaxed);
            m.insert("rx_bulk_ring".into(), if blocks { "blocks" } else { "direct" }.into());
            let n = self.counters.bulk_moves.load(Ordering::Relaxed);
            m.insert("rx_bulk_moves".into(), n.to_string());
            let n = self.counters.rx_direct.load(Ordering::Relaxed);
            m.insert("rx_direct_packets".into(), n.to_string());
        }
        let n = self.counters.rx_ring_drops.load(Ordering::Relaxed);
        m.insert("rx_ring_drops".into(), n.to_string());
        m.insert("link_state".into(), if self.carrier() { "up" } else { "down" }.into());
        m.insert("admin_state".into(), if linux::is_up(&self.name) { "up" } else { "down" }.into());
        m.extend(linux::driver_status(&self.name));
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
                ("rx_direct", "true") => cfg.direct = true,
                ("rx_direct", "false") => cfg.direct = false,
                ("rx_direct", _) => return Err(bad("must be true or false")),
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
                         (known: rx_ring, rx_express, rx_direct, rx_ring_blocks)"))
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
    /// Beside a V3 ring and the express lane, a direct ring takes the bulk
    /// traffic while it is light.
    direct: bool,
}

impl Default for RxConfig {
    fn default() -> Self {
        RxConfig { version: RingVersion::V3, express: true, blocks: DEFAULT_BLOCK_NR, direct: true }
    }
}

/// Which ring takes a port's bulk traffic, when it has a direct ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BulkMode {
    /// The direct ring: light traffic, each packet handed over at once.
    Direct,
    /// The V3 ring: heavy traffic, handed over a block at a time.
    Blocks,
    /// Moving back to the direct ring: the V3 ring takes no more, and what
    /// it still holds is read before anything of the direct ring, so that
    /// no packet overtakes an older one of its connection.
    Draining(Instant),
}

/// What a poll saw of the ring that has the bulk traffic.
#[derive(Debug, Default)]
struct Seen {
    /// Bulk packets read from the direct ring.
    direct: usize,
    /// Packets and bytes read from the direct ring in the current
    /// [`DIRECT_WINDOW`], this poll's included.
    direct_window: (usize, usize),
    /// [`RxRing::light_timeouts`] of the V3 ring.
    light_timeouts: u32,
    /// The V3 ring still has packets ([`RxRing::has_packets`]).
    blocks_waiting: bool,
}

impl BulkMode {
    /// The mode to move to after a poll that saw `seen` at `now`, if any:
    /// - from the direct ring to the V3 ring when [`DIRECT_BACKLOG`]
    ///   packets waited in it, or [`DIRECT_MAX_PKTS`] or
    ///   [`DIRECT_MAX_BYTES`] came within a [`DIRECT_WINDOW`]: the traffic
    ///   is heavy, and V3's blocks suit it better;
    /// - back when [`TIMEOUTS_TO_DIRECT`] blocks in a row came by their
    ///   retire timer with few packets ([`RxRing::light_timeouts`]):
    ///   traffic is light, and its packets wait for the timer, where the
    ///   direct ring hands each over at once. (One such block may be a
    ///   pause of a heavy sender.) The V3 ring is drained first:
    ///   [`DRAIN_GRACE`] at least, until it is empty, at most
    ///   [`DRAIN_MAX`].
    fn next(self, seen: &Seen, now: Instant) -> Option<BulkMode> {
        match self {
            BulkMode::Direct => {
                let (pkts, bytes) = seen.direct_window;
                (seen.direct >= DIRECT_BACKLOG
                    || pkts >= DIRECT_MAX_PKTS
                    || bytes >= DIRECT_MAX_BYTES)
                    .then_some(BulkMode::Blocks)
            }
            BulkMode::Blocks => {
                (seen.light_timeouts >= TIMEOUTS_TO_DIRECT).then_some(BulkMode::Draining(now))
            }
            BulkMode::Draining(since) => {
                let waited = now.saturating_duration_since(since);
                ((waited >= DRAIN_GRACE && !seen.blocks_waiting) || waited >= DRAIN_MAX)
                    .then_some(BulkMode::Direct)
            }
        }
    }
}

struct SystemRxq {
    ring: RxRing,
    /// The express lane, beside a V3 ring.
    express: Option<RxRing>,
    /// The direct ring, beside the V3 ring and the express lane, and the
    /// switch that hands bulk packets to one or the other.
    direct: Option<(RxRing, RingSwitch)>,
    mode: BulkMode,
    /// Start of the current [`DIRECT_WINDOW`], and the packets and bytes
    /// the direct ring delivered in it.
    window: (Instant, usize, usize),
    /// `recv` calls until the rings' drop counts are read again.
    until_drops: u32,
    name: String,
    counters: Arc<Counters>,
}

impl SystemRxq {
    /// Moves bulk traffic between the direct ring (`to_blocks` false) and
    /// the V3 ring: from the next packet on, the kernel hands bulk packets
    /// to the other ring.
    fn move_bulk(&mut self, to_blocks: bool) -> bool {
        let Some((_, switch)) = self.direct.as_mut() else { return false };
        match switch.select(if to_blocks { SWITCH_BLOCKS } else { SWITCH_DIRECT }) {
            Ok(()) => {
                self.counters.bulk_in_blocks.store(to_blocks, Ordering::Relaxed);
                self.counters.bulk_moves.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!("{}: cannot move bulk traffic between rings: {e}", self.name);
                false
            }
        }
    }

    /// Moves the direct ring's waiting frames into `batch` (as [`drain`]),
    /// counting them; returns how many it moved.
    fn drain_direct(&mut self, batch: &mut Batch) -> usize {
        let Some((d, _)) = self.direct.as_mut() else { return 0 };
        let before = batch.len();
        drain(d, batch, &self.name, &self.counters);
        let n = batch.len() - before;
        self.counters.rx_direct.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Adds what the kernel dropped for want of room in the rings since the
    /// last call to the port's counters.
    fn count_drops(&self) {
        let rings = std::iter::once(&self.ring)
            .chain(self.express.as_ref())
            .chain(self.direct.as_ref().map(|(d, _)| d));
        let n: u64 = rings.filter_map(|r| r.take_drops().ok()).sum();
        if n > 0 {
            self.counters.rx_ring_drops.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Drop for SystemRxq {
    fn drop(&mut self) {
        self.count_drops();
    }
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
        self.until_drops -= 1;
        if self.until_drops == 0 {
            self.until_drops = DROPS_EVERY;
            self.count_drops();
        }
        let start = batch.len();
        // The express lane first: its packets are the ones someone waits for.
        if let Some(x) = self.express.as_mut() {
            drain(x, batch, &self.name, &self.counters);
            let n = batch.len() - start;
            if n > 0 {
                self.counters.rx_express.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        if self.direct.is_none() {
            drain(&mut self.ring, batch, &self.name, &self.counters);
            return Ok(batch.len() - start);
        }
        let mut seen = Seen::default();
        // The clock is read only when the policy needs it.
        let mut now = None;
        match self.mode {
            BulkMode::Direct => {
                let before = batch.len();
                seen.direct = self.drain_direct(batch);
                if seen.direct > 0 {
                    let t = Instant::now();
                    now = Some(t);
                    if t.saturating_duration_since(self.window.0) >= DIRECT_WINDOW {
                        self.window = (t, 0, 0);
                    }
                    let bytes: usize = batch.pkts[before..].iter().map(Packet::len).sum();
                    self.window.1 += seen.direct;
                    self.window.2 += bytes;
                    seen.direct_window = (self.window.1, self.window.2);
                }
            }
            BulkMode::Blocks => {
                // Frames the direct ring took before the move are older
                // than any of the V3 ring's: they go first.
                if self.direct.as_ref().is_some_and(|(d, _)| d.has_packets()) {
                    self.drain_direct(batch);
                }
                drain(&mut self.ring, batch, &self.name, &self.counters);
                seen.light_timeouts = self.ring.light_timeouts();
            }
            BulkMode::Draining(_) => {
                drain(&mut self.ring, batch, &self.name, &self.counters);
                seen.blocks_waiting = self.ring.has_packets();
            }
        }
        if (matches!(self.mode, BulkMode::Blocks) && seen.light_timeouts > 0)
            || matches!(self.mode, BulkMode::Draining(_))
        {
            now = Some(Instant::now());
        }
        // Without a clock reading the policy does not look at the time.
        let now = now.unwrap_or(self.window.0);
        match self.mode.next(&seen, now) {
            None => {}
            Some(BulkMode::Blocks) if self.move_bulk(true) => {
                self.mode = BulkMode::Blocks;
                self.ring.reset_timeouts();
            }
            Some(BulkMode::Draining(since)) if self.move_bulk(false) => {
                self.mode = BulkMode::Draining(since);
            }
            // A move that failed (warned about): the rings stay as they
            // were, and so does the mode.
            Some(BulkMode::Blocks | BulkMode::Draining(_)) => {}
            Some(BulkMode::Direct) => {
                self.mode = BulkMode::Direct;
                self.window = (now, 0, 0);
                self.drain_direct(batch);
            }
        }
        Ok(batch.len() - start)
    }

    fn wait_fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.ring.as_raw_fd()];
        fds.extend(self.express.as_ref().map(AsRawFd::as_raw_fd));
        fds.extend(self.direct.as_ref().map(|(d, _)| d.as_raw_fd()));
        fds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_traffic_moves_to_blocks_when_heavy_and_back_when_light() {
        let t0 = Instant::now();
        let direct = |n| Seen { direct: n, ..Seen::default() };
        let timeouts = |run| Seen { light_timeouts: run, ..Seen::default() };
        let drained = |waiting| Seen { blocks_waiting: waiting, ..Seen::default() };

        // Light traffic stays direct; a backlog, or a high packet or byte
        // rate, moves it to the blocks.
        assert_eq!(BulkMode::Direct.next(&direct(DIRECT_BACKLOG - 1), t0), None);
        assert_eq!(BulkMode::Direct.next(&direct(DIRECT_BACKLOG), t0), Some(BulkMode::Blocks));
        let rate =
            |pkts, bytes| Seen { direct: 1, direct_window: (pkts, bytes), ..Seen::default() };
        let (p, b) = (DIRECT_MAX_PKTS, DIRECT_MAX_BYTES);
        assert_eq!(BulkMode::Direct.next(&rate(p - 1, b - 1), t0), None);
        assert_eq!(BulkMode::Direct.next(&rate(p, 1000), t0), Some(BulkMode::Blocks));
        assert_eq!(BulkMode::Direct.next(&rate(2, b), t0), Some(BulkMode::Blocks));

        // Full blocks, or one light block (a pause): heavy, it stays.
        let blocks = BulkMode::Blocks;
        assert_eq!(blocks.next(&timeouts(0), t0), None);
        assert_eq!(blocks.next(&timeouts(TIMEOUTS_TO_DIRECT - 1), t0), None);
        // Light blocks in a row: light again.
        let light = timeouts(TIMEOUTS_TO_DIRECT);
        assert_eq!(blocks.next(&light, t0), Some(BulkMode::Draining(t0)));

        // Draining waits the grace time, then for the V3 ring to empty, but
        // not for ever.
        let draining = BulkMode::Draining(t0);
        assert_eq!(draining.next(&drained(false), t0), None);
        assert_eq!(draining.next(&drained(false), t0 + DRAIN_GRACE), Some(BulkMode::Direct));
        assert_eq!(draining.next(&drained(true), t0 + DRAIN_GRACE), None);
        assert_eq!(draining.next(&drained(true), t0 + DRAIN_MAX), Some(BulkMode::Direct));
    }
}
