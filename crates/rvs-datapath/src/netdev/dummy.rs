//! The dummy netdev: an in-memory device for unit tests and for users' tests,
//! as OVS's netdev-dummy is.
//!
//! Packets are injected into its receive queues with [`DummyNetdev::receive`]
//! (`netdev-dummy/receive` in the daemon) and wake the poll thread that owns
//! the queue through an eventfd. Sent packets are kept in memory (up to a cap)
//! for tests to take with [`DummyNetdev::take_sent`] or wait for with
//! [`DummyNetdev::wait_sent`], and, with the `pcap`/`tx_pcap`/`rx_pcap`
//! options, written to pcap files that tcpdump and tshark read.
//!
//! Options: `n_rxq` (1-16, only when opening), `pcap=FILE` (both
//! directions), `rx_pcap=FILE`, `tx_pcap=FILE`.

use super::pcap::PcapWriter;
use super::{Netdev, NetdevError, NetdevRxq, NetdevStats, TxOffloads};
use crate::sys::EventFd;
use rvs_packet::{Batch, EthAddr, Packet, BATCH_SIZE};
use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Packets a receive queue holds before it drops (counted in `rx_dropped`).
pub const RX_QUEUE_LIMIT: usize = 8192;
/// Sent packets kept in memory before the oldest are discarded.
pub const SENT_LIMIT: usize = 65_536;

static NEXT_MAC: AtomicU32 = AtomicU32::new(1);

#[derive(Debug)]
struct Queue {
    pkts: Mutex<VecDeque<Packet>>,
    ready: EventFd,
}

#[derive(Debug, Default)]
struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_dropped: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
}

#[derive(Debug)]
struct Config {
    mac: EthAddr,
    mtu: u32,
    rx_pcap: Option<PcapWriter>,
    tx_pcap: Option<PcapWriter>,
    both_pcap: Option<PcapWriter>,
    options: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Sent {
    pkts: Vec<Packet>,
}

/// An in-memory network device.
#[derive(Debug)]
pub struct DummyNetdev {
    name: String,
    internal: bool,
    queues: Vec<Arc<Queue>>,
    config: Mutex<Config>,
    sent: Mutex<Sent>,
    sent_cv: Condvar,
    capture: AtomicBool,
    /// True while a pcap file is configured (saves a lock per send).
    pcap_on: AtomicBool,
    carrier: AtomicBool,
    counters: Arc<Counters>,
    /// What the device takes from the datapath (`tx_offloads`, fixed when
    /// the device is opened).
    offloads: TxOffloads,
}

/// Parses `tx_offloads`: `none`, `all`, or a comma-separated list of
/// `csum`, `tso` and `uso`.
fn parse_offloads(v: &str) -> Option<TxOffloads> {
    match v {
        "none" => return Some(TxOffloads::NONE),
        "all" => return Some(TxOffloads::ALL),
        _ => {}
    }
    let mut o = TxOffloads::NONE;
    for part in v.split(',') {
        match part {
            "csum" => o.csum = true,
            "tso" => o.tso = true,
            "uso" => o.uso = true,
            _ => return None,
        }
    }
    Some(o)
}

impl DummyNetdev {
    /// Opens a `dummy` device (the [`super::NetdevConstructor`] signature).
    pub fn open_dummy(
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, NetdevError> {
        Ok(Self::new(name, false, options)?)
    }

    /// Opens a `dummy-internal` device: a dummy that stands for a datapath's
    /// internal (LOCAL) port.
    pub fn open_internal(
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, NetdevError> {
        Ok(Self::new(name, true, options)?)
    }

    /// Creates a device with the given options.
    pub fn new(
        name: &str,
        internal: bool,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<Self>, NetdevError> {
        let n_rxq = match options.get("n_rxq") {
            None => 1,
            Some(v) => match v.parse::<usize>() {
                Ok(n @ 1..=16) => n,
                _ => {
                    return Err(NetdevError::BadOption {
                        dev: name.into(),
                        key: "n_rxq".into(),
                        value: v.clone(),
                        why: "must be a number from 1 to 16".into(),
                    })
                }
            },
        };
        let offloads = match options.get("tx_offloads") {
            None => TxOffloads::NONE,
            Some(v) => parse_offloads(v).ok_or_else(|| NetdevError::BadOption {
                dev: name.into(),
                key: "tx_offloads".into(),
                value: v.clone(),
                why: "must be none, all, or a comma-separated list of csum, tso, uso".into(),
            })?,
        };
        let mut queues = Vec::with_capacity(n_rxq);
        for _ in 0..n_rxq {
            queues.push(Arc::new(Queue {
                pkts: Mutex::new(VecDeque::new()),
                ready: EventFd::new().map_err(|e| NetdevError::os(name, "eventfd", e))?,
            }));
        }
        let n = NEXT_MAC.fetch_add(1, Ordering::Relaxed);
        let dev = Arc::new(DummyNetdev {
            name: name.to_string(),
            internal,
            queues,
            config: Mutex::new(Config {
                mac: EthAddr([0xaa, 0x55, 0xaa, 0x55, (n >> 8) as u8, n as u8]),
                mtu: 1500,
                rx_pcap: None,
                tx_pcap: None,
                both_pcap: None,
                options: BTreeMap::new(),
            }),
            sent: Mutex::new(Sent::default()),
            sent_cv: Condvar::new(),
            capture: AtomicBool::new(true),
            pcap_on: AtomicBool::new(false),
            carrier: AtomicBool::new(true),
            counters: Arc::default(),
            offloads,
        });
        dev.set_config(options)?;
        Ok(dev)
    }

    /// Injects a packet into receive queue 0, as if it arrived on the wire.
    pub fn receive(&self, pkt: Packet) {
        self.receive_on(0, pkt);
    }

    /// Injects a packet into receive queue `qid` (queue 0 if out of range).
    pub fn receive_on(&self, qid: usize, pkt: Packet) {
        let q = self.queues.get(qid).unwrap_or(&self.queues[0]);
        if self.pcap_on.load(Ordering::Relaxed) {
            let mut cfg = self.config.lock().unwrap();
            let cfg = &mut *cfg;
            for w in [cfg.rx_pcap.as_mut(), cfg.both_pcap.as_mut()].into_iter().flatten() {
                let _ = w.write(pkt.data());
            }
        }
        let mut pkts = q.pkts.lock().unwrap();
        if pkts.len() >= RX_QUEUE_LIMIT {
            self.counters.rx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pkts.push_back(pkt);
        // Only the arrival on an empty queue needs a wake-up: a reader that
        // has not seen the queue empty has not gone to sleep.
        if pkts.len() == 1 {
            q.ready.signal();
        }
    }

    /// Injects a batch of packets into queue 0 (one lock, one wake-up).
    pub fn receive_batch(&self, batch: impl IntoIterator<Item = Packet>) {
        let q = &self.queues[0];
        let mut pkts = q.pkts.lock().unwrap();
        let was_empty = pkts.is_empty();
        for p in batch {
            if pkts.len() >= RX_QUEUE_LIMIT {
                self.counters.rx_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            pkts.push_back(p);
        }
        if was_empty && !pkts.is_empty() {
            q.ready.signal();
        }
    }

    /// Packets waiting in receive queue `qid`.
    pub fn rx_pending(&self, qid: usize) -> usize {
        self.queues.get(qid).map_or(0, |q| q.pkts.lock().unwrap().len())
    }

    /// Turns in-memory capture of sent packets on or off (on by default;
    /// benchmarks turn it off). Counters and pcap files are kept either way.
    pub fn set_capture(&self, on: bool) {
        self.capture.store(on, Ordering::Relaxed);
    }

    /// Takes every captured sent packet, oldest first.
    pub fn take_sent(&self) -> Vec<Packet> {
        std::mem::take(&mut self.sent.lock().unwrap().pkts)
    }

    /// Waits until at least `n` captured packets are waiting or `timeout`
    /// passes, then takes them all.
    pub fn wait_sent(&self, n: usize, timeout: Duration) -> Vec<Packet> {
        let deadline = Instant::now() + timeout;
        let mut sent = self.sent.lock().unwrap();
        while sent.pkts.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            sent = self.sent_cv.wait_timeout(sent, deadline - now).unwrap().0;
        }
        std::mem::take(&mut sent.pkts)
    }

    /// Sets the link state reported by [`Netdev::carrier`].
    pub fn set_carrier(&self, up: bool) {
        self.carrier.store(up, Ordering::Relaxed);
    }

    /// True for a `dummy-internal` device.
    pub fn is_internal(&self) -> bool {
        self.internal
    }

    fn open_pcap(&self, key: &str, path: &str) -> Result<PcapWriter, NetdevError> {
        PcapWriter::create(Path::new(path)).map_err(|e| NetdevError::BadOption {
            dev: self.name.clone(),
            key: key.into(),
            value: path.into(),
            why: e.to_string(),
        })
    }
}

impl Netdev for DummyNetdev {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        if self.internal {
            "dummy-internal"
        } else {
            "dummy"
        }
    }

    fn n_rxq(&self) -> usize {
        self.queues.len()
    }

    fn rxq_open(&self, id: usize) -> Result<Box<dyn NetdevRxq>, NetdevError> {
        let q = self.queues.get(id).ok_or_else(|| NetdevError::NoSuchQueue {
            dev: self.name.clone(),
            qid: id,
            n: self.queues.len(),
        })?;
        Ok(Box::new(DummyRxq { queue: q.clone(), counters: self.counters.clone() }))
    }

    fn n_txq(&self) -> usize {
        16
    }

    fn send(&self, _qid: usize, pkts: &mut Vec<Packet>) -> Result<(), NetdevError> {
        if !self.carrier.load(Ordering::Relaxed) {
            self.counters.tx_dropped.fetch_add(pkts.len() as u64, Ordering::Relaxed);
            pkts.clear();
            return Ok(());
        }
        let bytes: usize = pkts.iter().map(Packet::len).sum();
        self.counters.tx_packets.fetch_add(pkts.len() as u64, Ordering::Relaxed);
        self.counters.tx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if self.pcap_on.load(Ordering::Relaxed) {
            let mut cfg = self.config.lock().unwrap();
            let cfg = &mut *cfg;
            for w in [cfg.tx_pcap.as_mut(), cfg.both_pcap.as_mut()].into_iter().flatten() {
                for p in pkts.iter() {
                    let _ = w.write(p.data());
                }
            }
        }
        if self.capture.load(Ordering::Relaxed) {
            // Captured packets outlive the poll iteration: they must not
            // keep a receive ring's memory from its kernel.
            pkts.iter_mut().for_each(Packet::make_owned);
            let mut sent = self.sent.lock().unwrap();
            if sent.pkts.is_empty() {
                std::mem::swap(&mut sent.pkts, pkts);
            } else {
                sent.pkts.append(pkts);
            }
            // Keep the newest SENT_LIMIT packets.
            let excess = sent.pkts.len().saturating_sub(SENT_LIMIT);
            if excess > 0 {
                sent.pkts.drain(..excess);
            }
            self.sent_cv.notify_all();
        } else {
            pkts.clear();
        }
        Ok(())
    }

    fn tx_offloads(&self) -> TxOffloads {
        self.offloads
    }

    fn mac(&self) -> Result<EthAddr, NetdevError> {
        Ok(self.config.lock().unwrap().mac)
    }

    fn set_mac(&self, mac: EthAddr) -> Result<(), NetdevError> {
        self.config.lock().unwrap().mac = mac;
        Ok(())
    }

    fn mtu(&self) -> Result<u32, NetdevError> {
        Ok(self.config.lock().unwrap().mtu)
    }

    fn set_mtu(&self, mtu: u32) -> Result<(), NetdevError> {
        if !(68..=65535).contains(&mtu) {
            return Err(NetdevError::BadOption {
                dev: self.name.clone(),
                key: "mtu".into(),
                value: mtu.to_string(),
                why: "must be from 68 to 65535".into(),
            });
        }
        self.config.lock().unwrap().mtu = mtu;
        Ok(())
    }

    fn carrier(&self) -> bool {
        self.carrier.load(Ordering::Relaxed)
    }

    fn stats(&self) -> NetdevStats {
        let c = &self.counters;
        NetdevStats {
            rx_packets: c.rx_packets.load(Ordering::Relaxed),
            rx_bytes: c.rx_bytes.load(Ordering::Relaxed),
            rx_dropped: c.rx_dropped.load(Ordering::Relaxed),
            rx_errors: 0,
            tx_packets: c.tx_packets.load(Ordering::Relaxed),
            tx_bytes: c.tx_bytes.load(Ordering::Relaxed),
            tx_dropped: c.tx_dropped.load(Ordering::Relaxed),
            tx_errors: 0,
        }
    }

    fn status(&self) -> BTreeMap<String, String> {
        let mut s = BTreeMap::new();
        s.insert("n_rxq".into(), self.queues.len().to_string());
        s
    }

    fn set_config(&self, options: &BTreeMap<String, String>) -> Result<(), NetdevError> {
        // Validate everything before changing anything.
        let (mut rx, mut tx, mut both) = (None, None, None);
        for (k, v) in options {
            match k.as_str() {
                "n_rxq" => {
                    if v.parse::<usize>().ok() != Some(self.queues.len()) {
                        return Err(NetdevError::BadOption {
                            dev: self.name.clone(),
                            key: k.clone(),
                            value: v.clone(),
                            why: format!("the device was opened with {} queues", self.queues.len()),
                        });
                    }
                }
                "tx_offloads" => {
                    if parse_offloads(v) != Some(self.offloads) {
                        return Err(NetdevError::BadOption {
                            dev: self.name.clone(),
                            key: k.clone(),
                            value: v.clone(),
                            why: "fixed when the device is opened".into(),
                        });
                    }
                }
                "pcap" => both = Some(self.open_pcap(k, v)?),
                "rx_pcap" => rx = Some(self.open_pcap(k, v)?),
                "tx_pcap" => tx = Some(self.open_pcap(k, v)?),
                _ => {
                    return Err(NetdevError::BadOption {
                        dev: self.name.clone(),
                        key: k.clone(),
                        value: v.clone(),
                        why: "unknown option for a dummy device (known: n_rxq, pcap, rx_pcap, \
                          tx_offloads, tx_pcap)"
                            .into(),
                    })
                }
            }
        }
        let mut cfg = self.config.lock().unwrap();
        self.pcap_on.store(rx.is_some() || tx.is_some() || both.is_some(), Ordering::Relaxed);
        cfg.rx_pcap = rx;
        cfg.tx_pcap = tx;
        cfg.both_pcap = both;
        cfg.options = options.clone();
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct DummyRxq {
    queue: Arc<Queue>,
    counters: Arc<Counters>,
}

impl NetdevRxq for DummyRxq {
    fn recv(&mut self, batch: &mut Batch) -> Result<usize, NetdevError> {
        let room = BATCH_SIZE.saturating_sub(batch.len());
        let mut pkts = self.queue.pkts.lock().unwrap();
        let n = room.min(pkts.len());
        let mut bytes = 0;
        for p in pkts.drain(..n) {
            bytes += p.len();
            batch.push(p);
        }
        drop(pkts);
        if n > 0 {
            self.counters.rx_packets.fetch_add(n as u64, Ordering::Relaxed);
            self.counters.rx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn wait_fds(&self) -> Vec<RawFd> {
        vec![self.queue.ready.as_raw_fd()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_then_recv_in_batches() {
        let d = DummyNetdev::new("p1", false, &BTreeMap::new()).unwrap();
        let mut rxq = d.rxq_open(0).unwrap();
        for i in 0..40u8 {
            d.receive(Packet::from_bytes(&[i; 60]));
        }
        let mut b = Batch::new();
        assert_eq!(rxq.recv(&mut b).unwrap(), 32);
        let mut b2 = Batch::new();
        assert_eq!(rxq.recv(&mut b2).unwrap(), 8);
        assert_eq!(b2.pkts[0].data()[0], 32);
        assert_eq!(d.stats().rx_packets, 40);
        assert!(d.rxq_open(1).is_err());
    }

    #[test]
    fn sent_packets_are_captured_and_written_to_pcap() {
        let dir = std::env::temp_dir().join(format!("rvs-dummy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tx.pcap");
        let mut opts = BTreeMap::new();
        opts.insert("tx_pcap".to_string(), path.display().to_string());
        let d = DummyNetdev::new("p2", false, &opts).unwrap();
        let mut v = vec![Packet::from_bytes(&[1; 64]), Packet::from_bytes(&[2; 70])];
        d.send(0, &mut v).unwrap();
        assert!(v.is_empty());
        let sent = d.wait_sent(2, Duration::from_secs(1));
        assert_eq!(sent.len(), 2);
        let recs = super::super::pcap::read_all(&path).unwrap();
        assert_eq!(recs, vec![vec![1; 64], vec![2; 70]]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_options_are_refused_and_change_nothing() {
        let d = DummyNetdev::new("p3", false, &BTreeMap::new()).unwrap();
        let mut opts = BTreeMap::new();
        opts.insert("bogus".to_string(), "1".to_string());
        let e = d.set_config(&opts).unwrap_err();
        assert!(e.to_string().contains("bogus=1"), "{e}");
        opts.clear();
        opts.insert("n_rxq".to_string(), "99".to_string());
        assert!(DummyNetdev::new("p4", false, &opts).is_err());
    }
}
