//! The userspace datapath (OVS's dpif-netdev).
//!
//! # How a packet goes through
//! A poll thread (module `pmd`) receives a batch of up to 32 packets from one of
//! its receive queues, extracts each packet's [`FlowKey`], and looks it up in
//! its exact-match cache (module `emc`), then in the megaflow classifier of the
//! input port (module `cls`, tuple space search with subtables ranked by hits),
//! then, on a miss, calls the registered [`UpcallHandler`] synchronously. The
//! handler's actions and mask become a new megaflow (unless over the flow
//! limit) with the invariant bits added. Packets are grouped by flow, each
//! group's statistics are updated once, and its actions run over the group
//! (module `exec`); outputs are queued per port and sent once per iteration.
//!
//! # Threads and sharing
//! Each poll thread owns its cache, its classifiers and its receive queues.
//! Flows are shared (`Arc`) between the flow index, which the control plane
//! uses for put/get/del/dump, and the classifiers of the threads that hold
//! them. Control-plane changes reach threads as messages applied between
//! iterations; a deleted flow is marked dead at once, so no thread uses it
//! after [`Dpif::flow_del`] returns, even before its classifier drops it.
//! Ports are published as an immutable table through `arc-swap`.
//!
//! With `n_threads = 0` the datapath has no threads of its own and the owner
//! drives it by calling [`DpNetdev::poll`], which makes tests deterministic.
//! A "main" thread context always exists for [`Dpif::execute`] (as OVS's
//! non-PMD thread does) and for polling when there are no threads.

mod cls;
mod emc;
mod exec;
mod flow;
mod pmd;
mod policer;
mod ports;

pub use policer::{EgressPolicer, IngressPolicing, DEFAULT_KBITS_BURST, DEFAULT_KPKTS_BURST};

use crate::clock::{Clock, MonotonicClock};
use crate::dpif::{
    DpStats, Dpif, DpifError, DpifFlow, DpifPort, FlowId, FlowPut, FlowStats, PortEvent, PortStats,
    UpcallHandler,
};
use crate::netdev::{Netdev, NetdevRegistry};
use crate::odp::{DropReason, OdpAction};
use crate::sys::EventFd;
use arc_swap::{ArcSwap, ArcSwapOption};
use cls::FlowMap;
use crossbeam_channel::{Receiver, Sender};
pub use flow::invariant_mask;
use flow::{check_invariants, Flow, MaskInfo};
use pmd::{Msg, PmdCounters, PollThread, RxqSlot};
use ports::{Port, PortTable};
use rvs_packet::{FlowKey, Mask, OdpPort, Packet};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use crate::dpif::Ufid;

/// Datapath classes, which differ in the type of their LOCAL port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpClass {
    /// `netdev`: LOCAL is an `internal` device (a tap the kernel sees).
    Netdev,
    /// `dummy`: LOCAL is a `dummy-internal` device (for tests).
    Dummy,
}

impl DpClass {
    /// The type name (`netdev` or `dummy`).
    pub fn name(self) -> &'static str {
        match self {
            DpClass::Netdev => "netdev",
            DpClass::Dummy => "dummy",
        }
    }

    /// Parses a type name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "netdev" | "" => Some(DpClass::Netdev),
            "dummy" => Some(DpClass::Dummy),
            _ => None,
        }
    }

    fn local_port_type(self) -> &'static str {
        match self {
            DpClass::Netdev => "internal",
            DpClass::Dummy => "dummy-internal",
        }
    }
}

/// Default [`DpConfig::gro_hold`], µs: none, as OVS's default
/// `tx-flush-interval`. Receive rings that hand packets over in batches
/// (TPACKET_V3) already give GRO full batches; holding helps queues that
/// hand each packet over at once (`rx_ring=v2`, see docs/PERFORMANCE.md).
pub const DEFAULT_GRO_HOLD_US: u64 = 0;

/// Default [`DpConfig::busy_poll`], µs.
pub const DEFAULT_BUSY_POLL_US: u64 = 200;

/// Default [`DpConfig::idle_yield`]: on. A poll thread that shares its
/// CPU with the hosts it serves gives them the CPU while it has nothing to
/// do; alone on its CPU the yield returns at once (docs/PERFORMANCE.md).
pub const DEFAULT_IDLE_YIELD: bool = true;

/// Configuration of a userspace datapath.
#[derive(Clone, Debug)]
pub struct DpConfig {
    /// Poll threads (0: the owner drives [`DpNetdev::poll`]). At most 63.
    pub n_threads: usize,
    /// CPUs the poll threads run on, one each: thread `i` (from 1) on
    /// `cpus[i - 1]` (OVS's `pmd-cpu-mask`). Empty: wherever the scheduler
    /// puts them. When not empty, there are as many threads as CPUs.
    pub cpus: Vec<usize>,
    /// Exact-match-cache insertion: 1 in this many misses (0 = never).
    pub emc_insert_inv_prob: u32,
    /// Most flows the datapath holds.
    pub flow_limit: usize,
    /// Idle time after which [`DpNetdev::expire_idle`] removes a flow.
    pub max_idle: Duration,
    /// Port numbers must be below this.
    pub port_limit: u32,
    /// How long an idle poll thread keeps polling before it sleeps.
    pub busy_poll: Duration,
    /// Run a maintenance thread that expires idle flows every 500 ms.
    pub maintenance_thread: bool,
    /// Merge TCP segments bound for a port that takes super-frames
    /// (software GRO, [`rvs_packet::gro`]).
    pub gro: bool,
    /// While busy-polling an idle queue, let other threads that want this
    /// CPU run first (`sched_yield`) instead of spinning.
    pub idle_yield: bool,
    /// Longest a poll thread holds output that software GRO may still grow
    /// (TCP segments, UDP datagrams bound for a port that takes
    /// super-frames) while input keeps flowing, so that more of the same
    /// connection can join it; zero sends everything at the end of each
    /// poll iteration. Nothing is held when input is sparse, and the rest
    /// (ACKs without data, pings, super-frames) is never held.
    pub gro_hold: Duration,
    /// The clock (tests use [`crate::clock::ManualClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for DpConfig {
    fn default() -> Self {
        DpConfig {
            n_threads: 1,
            cpus: Vec::new(),
            emc_insert_inv_prob: 100,
            flow_limit: 200_000,
            max_idle: Duration::from_secs(10),
            port_limit: 65_535,
            busy_poll: Duration::from_micros(DEFAULT_BUSY_POLL_US),
            maintenance_thread: true,
            gro: true,
            idle_yield: DEFAULT_IDLE_YIELD,
            gro_hold: Duration::from_micros(DEFAULT_GRO_HOLD_US),
            clock: MonotonicClock::new(),
        }
    }
}

/// Upcall handler holder (arc-swap needs a sized type).
pub(crate) struct HandlerSlot(pub Arc<dyn UpcallHandler>);

/// A receive queue and the poll thread that polls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RxqPlace {
    thread: usize,
    port: OdpPort,
    qid: usize,
    /// Put there by `pmd-rxq-affinity`: its thread is isolated (takes no
    /// queue that is not pinned to it), and the queue stays.
    pinned: bool,
}

/// Threads with a pinned queue (OVS's `pmd-rxq-isolate`, on by default).
fn isolated(map: &[RxqPlace]) -> Vec<usize> {
    let mut v: Vec<usize> = map.iter().filter(|e| e.pinned).map(|e| e.thread).collect();
    v.sort_unstable();
    v.dedup();
    v
}

struct ThreadCtl {
    id: usize,
    tx: Sender<Msg>,
    waker: Arc<EventFd>,
    stats: Arc<PmdCounters>,
    join: Option<JoinHandle<()>>,
    n_rxqs: usize,
}

impl ThreadCtl {
    fn send(&self, m: Msg) {
        let _ = self.tx.send(m);
        self.waker.signal();
    }
}

#[derive(Default)]
struct FlowIndex {
    by_ufid: HashMap<Ufid, Arc<Flow>>,
    /// By the masked key's hash over its mask's words (as subtables hash).
    by_match: FlowMap,
    masks: HashMap<Mask, Arc<MaskInfo>>,
}

impl FlowIndex {
    fn find_match(&self, key: &FlowKey, mask: &Mask) -> Option<&Arc<Flow>> {
        let k = key.masked(mask);
        let h = k.hash_masked(mask, mask.word_set());
        self.by_match.find(h, |f| f.same_match(&k, mask))
    }

    fn intern_mask(&mut self, mask: &Mask) -> Arc<MaskInfo> {
        self.masks.entry(*mask).or_insert_with(|| Arc::new(MaskInfo::new(*mask))).clone()
    }

    fn insert(&mut self, f: Arc<Flow>) {
        self.by_match.insert(f.hash, f.clone());
        self.by_ufid.insert(f.ufid, f);
    }

    fn remove(&mut self, f: &Arc<Flow>) {
        self.by_ufid.remove(&f.ufid);
        self.by_match.remove(f.hash, f);
        // Drop the interned mask when only the index still holds it.
        if Arc::strong_count(&f.mask) <= 2 {
            self.masks.remove(&f.mask.mask);
        }
    }

    fn get(&self, id: &FlowId) -> Option<&Arc<Flow>> {
        match id {
            FlowId::Ufid(u) => self.by_ufid.get(u),
            FlowId::Match(k, m) => self.find_match(k, m),
        }
    }
}

/// State shared by the control plane and the poll threads.
pub(crate) struct Shared {
    name: String,
    class: DpClass,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ports: ArcSwap<PortTable>,
    port_lock: Mutex<()>,
    index: Mutex<FlowIndex>,
    n_flows: AtomicUsize,
    flow_limit: AtomicUsize,
    max_idle_ns: AtomicU64,
    port_limit: u32,
    pub(crate) emc_inv_prob: AtomicU32,
    pub(crate) busy_poll_us: AtomicU64,
    /// Software GRO on output ([`DpConfig::gro`]).
    pub(crate) gro: AtomicBool,
    /// [`DpConfig::idle_yield`].
    pub(crate) idle_yield: AtomicBool,
    /// [`DpConfig::gro_hold`], ns.
    pub(crate) gro_hold_ns: AtomicU64,
    pub(crate) handler: ArcSwapOption<HandlerSlot>,
    drops: Vec<AtomicU64>,
    xlate_drops: Mutex<BTreeMap<u32, u64>>,
    subscribers: Mutex<Vec<Sender<PortEvent>>>,
    threads: Mutex<Vec<ThreadCtl>>,
    /// Where every receive queue is polled.
    rxq_map: Mutex<Vec<RxqPlace>>,
    n_pmd_threads: usize,
    /// [`DpConfig::cpus`].
    cpus: Vec<usize>,
}

impl Shared {
    pub(crate) fn count_drop(&self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        match DropReason::NAMED.iter().position(|r| *r == reason) {
            Some(i) => {
                self.drops[i].fetch_add(n, Ordering::Relaxed);
            }
            None => {
                if let DropReason::Xlate(code) = reason {
                    *self.xlate_drops.lock().unwrap().entry(code).or_default() += n;
                }
            }
        }
    }

    fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Installs (or finds) the flow for a miss. Returns the flow and whether
    /// thread `pmd_id` must add it to its classifier.
    pub(crate) fn install_from_upcall(
        &self,
        ufid: Option<Ufid>,
        key: &FlowKey,
        mask: &Mask,
        actions: Vec<OdpAction>,
        pmd_id: usize,
    ) -> Result<(Arc<Flow>, bool), DpifError> {
        let bit = 1u64 << pmd_id;
        let mut idx = self.index.lock().unwrap();
        if let Some(f) = idx.find_match(key, mask) {
            let had = f.pmds.fetch_or(bit, Ordering::Relaxed) & bit != 0;
            return Ok((f.clone(), !had));
        }
        let limit = self.flow_limit.load(Ordering::Relaxed);
        if idx.by_ufid.len() >= limit {
            return Err(DpifError::FlowLimit(limit));
        }
        let ufid = ufid.unwrap_or_else(|| Ufid::from_match(key, mask));
        if idx.by_ufid.contains_key(&ufid) {
            return Err(DpifError::FlowExists(ufid));
        }
        let mi = idx.intern_mask(mask);
        let f = Arc::new(Flow::new(ufid, *key, mi, actions, self.now()));
        f.pmds.store(bit, Ordering::Relaxed);
        idx.insert(f.clone());
        self.n_flows.store(idx.by_ufid.len(), Ordering::Relaxed);
        Ok((f, true))
    }

    fn send_to_holders(&self, f: &Arc<Flow>, mk: impl Fn() -> Msg) {
        let pmds = f.pmds.load(Ordering::Relaxed);
        for t in self.threads.lock().unwrap().iter() {
            if pmds & (1 << t.id) != 0 {
                t.send(mk());
            }
        }
    }

    /// Removes a flow from the index and every thread. Caller holds `idx`.
    fn delete_locked(&self, idx: &mut FlowIndex, f: &Arc<Flow>) {
        f.dead.store(true, Ordering::Relaxed);
        idx.remove(f);
        self.n_flows.store(idx.by_ufid.len(), Ordering::Relaxed);
        let fc = f.clone();
        self.send_to_holders(f, move || Msg::RemoveFlow(fc.clone()));
    }

    fn notify(&self, ev: PortEvent) {
        self.subscribers.lock().unwrap().retain(|s| s.send(ev.clone()).is_ok());
    }
}

/// A userspace datapath.
pub struct DpNetdev {
    shared: Arc<Shared>,
    main: Mutex<PollThread>,
    maint: Option<(JoinHandle<()>, Sender<()>)>,
}

impl std::fmt::Debug for DpNetdev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpNetdev").field("name", &self.shared.name).finish()
    }
}

/// Id of the main (non-PMD) thread context.
pub const MAIN_THREAD_ID: usize = 0;

impl DpNetdev {
    /// Creates a datapath with its LOCAL port (a `class`-appropriate internal
    /// device named `name`, opened through `netdevs`) and its poll threads.
    pub fn create(
        name: &str,
        class: DpClass,
        config: DpConfig,
        netdevs: &NetdevRegistry,
    ) -> Result<Arc<DpNetdev>, DpifError> {
        if config.n_threads > 63 {
            return Err(DpifError::Os(format!(
                "n_threads {} is past the limit 63",
                config.n_threads
            )));
        }
        if !config.cpus.is_empty() && config.cpus.len() != config.n_threads {
            return Err(DpifError::Os(format!(
                "{} CPUs given for {} poll threads",
                config.cpus.len(),
                config.n_threads
            )));
        }
        let local = netdevs.open(class.local_port_type(), name, &BTreeMap::new())?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            class,
            clock: config.clock.clone(),
            ports: ArcSwap::from_pointee(PortTable::default()),
            port_lock: Mutex::new(()),
            index: Mutex::new(FlowIndex::default()),
            n_flows: AtomicUsize::new(0),
            flow_limit: AtomicUsize::new(config.flow_limit),
            max_idle_ns: AtomicU64::new(config.max_idle.as_nanos() as u64),
            port_limit: config.port_limit,
            emc_inv_prob: AtomicU32::new(config.emc_insert_inv_prob),
            busy_poll_us: AtomicU64::new(config.busy_poll.as_micros() as u64),
            gro: AtomicBool::new(config.gro),
            idle_yield: AtomicBool::new(config.idle_yield),
            gro_hold_ns: AtomicU64::new(config.gro_hold.as_nanos() as u64),
            handler: ArcSwapOption::empty(),
            drops: DropReason::NAMED.iter().map(|_| AtomicU64::new(0)).collect(),
            xlate_drops: Mutex::new(BTreeMap::new()),
            subscribers: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            rxq_map: Mutex::new(Vec::new()),
            n_pmd_threads: config.n_threads,
            cpus: config.cpus.clone(),
        });
        let os = |e: std::io::Error| DpifError::Os(format!("datapath {name}: {e}"));
        let (tx, rx) = crossbeam_channel::unbounded();
        let waker = Arc::new(EventFd::new().map_err(os)?);
        let stats = Arc::new(PmdCounters::default());
        let main = PollThread::new(
            MAIN_THREAD_ID,
            shared.clone(),
            rx,
            waker.clone(),
            stats.clone(),
            false,
        )
        .map_err(os)?;
        let mut ctls =
            vec![ThreadCtl { id: MAIN_THREAD_ID, tx, waker, stats, join: None, n_rxqs: 0 }];
        for id in 1..=config.n_threads {
            let (tx, rx) = crossbeam_channel::unbounded();
            let waker = Arc::new(EventFd::new().map_err(os)?);
            let stats = Arc::new(PmdCounters::default());
            let t = PollThread::new(id, shared.clone(), rx, waker.clone(), stats.clone(), true)
                .map_err(os)?;
            let cpu = config.cpus.get(id - 1).copied();
            let thread_name = format!("pmd-{name}-{id}");
            let join = std::thread::Builder::new()
                .name(thread_name.clone())
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if let Err(e) = crate::sys::pin_to_cpu(cpu) {
                            tracing::warn!("{thread_name}: cannot run on CPU {cpu} only: {e}");
                        }
                    }
                    t.run()
                })
                .map_err(os)?;
            ctls.push(ThreadCtl { id, tx, waker, stats, join: Some(join), n_rxqs: 0 });
        }
        *shared.threads.lock().unwrap() = ctls;
        let mut dp = DpNetdev { shared, main: Mutex::new(main), maint: None };
        dp.add_port_locked(local, Some(OdpPort::LOCAL))?;
        if config.maintenance_thread {
            let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
            let weak = Arc::downgrade(&dp.shared);
            let h = std::thread::Builder::new()
                .name(format!("dp-maint-{name}"))
                .spawn(move || maintenance(weak, stop_rx))
                .map_err(os)?;
            dp.maint = Some((h, stop_tx));
        }
        Ok(Arc::new(dp))
    }

    /// The datapath class.
    pub fn class(&self) -> DpClass {
        self.shared.class
    }

    /// Runs one iteration of the main thread context: applies control
    /// messages, polls the receive queues it owns (all of them when the
    /// datapath has no threads) and flushes outputs. Returns packets received.
    pub fn poll(&self) -> usize {
        self.main.lock().unwrap().poll_once()
    }

    /// Polls until no more packets arrive (at most `max_rounds` iterations).
    pub fn poll_until_idle(&self, max_rounds: usize) -> usize {
        let mut total = 0;
        for _ in 0..max_rounds {
            let n = self.poll();
            total += n;
            if n == 0 {
                break;
            }
        }
        total
    }

    /// Waits until every thread has applied every control message sent so
    /// far (flow puts and deletes, port changes).
    pub fn sync(&self) {
        let acks: Vec<Receiver<()>> = {
            let threads = self.shared.threads.lock().unwrap();
            threads
                .iter()
                .filter(|t| t.id != MAIN_THREAD_ID)
                .map(|t| {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    t.send(Msg::Sync(tx));
                    rx
                })
                .collect()
        };
        self.main.lock().unwrap().handle_msgs();
        for rx in acks {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Removes flows idle for longer than `max_idle`; returns how many.
    pub fn expire_idle(&self) -> usize {
        expire(&self.shared)
    }

    /// Changes the idle time after which flows expire.
    pub fn set_max_idle(&self, d: Duration) {
        self.shared.max_idle_ns.store(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Changes the flow limit (existing flows stay).
    pub fn set_flow_limit(&self, n: usize) {
        self.shared.flow_limit.store(n, Ordering::Relaxed);
    }

    /// Turns software GRO on output on or off ([`DpConfig::gro`]).
    pub fn set_gro(&self, on: bool) {
        self.shared.gro.store(on, Ordering::Relaxed);
    }

    /// Changes [`DpConfig::gro_hold`].
    pub fn set_gro_hold(&self, hold: Duration) {
        self.shared.gro_hold_ns.store(hold.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Changes [`DpConfig::busy_poll`] and [`DpConfig::idle_yield`]. A poll
    /// thread that sleeps applies them when it next wakes.
    pub fn set_busy_poll(&self, window: Duration, idle_yield: bool) {
        let us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        self.shared.busy_poll_us.store(us, Ordering::Relaxed);
        self.shared.idle_yield.store(idle_yield, Ordering::Relaxed);
    }

    /// Changes the exact-match-cache insertion probability (1 in `p`, 0 off).
    pub fn set_emc_insert_inv_prob(&self, p: u32) {
        self.shared.emc_inv_prob.store(p, Ordering::Relaxed);
        for t in self.shared.threads.lock().unwrap().iter() {
            t.send(Msg::SetEmcInvProb(p));
        }
    }

    /// Per-thread statistics, for `dpif-netdev/pmd-stats-show`.
    pub fn pmd_stats(&self) -> Vec<PmdStats> {
        self.shared
            .threads
            .lock()
            .unwrap()
            .iter()
            .map(|t| {
                let s = &t.stats;
                let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
                PmdStats {
                    id: t.id,
                    rxqs: l(&s.rxqs) as usize,
                    packets: l(&s.packets),
                    recirculations: l(&s.recirculations),
                    emc_hits: l(&s.emc_hits),
                    megaflow_hits: l(&s.mask_hits),
                    subtable_lookups: l(&s.subtable_lookups),
                    upcalls_ok: l(&s.missed) - l(&s.lost).min(l(&s.missed)),
                    upcalls_failed: l(&s.lost),
                    no_install: l(&s.no_install),
                    iterations: l(&s.iterations),
                    busy_iterations: l(&s.busy_iterations),
                    sleeps: l(&s.sleeps),
                    output_batches: l(&s.output_batches),
                    output_packets: l(&s.output_packets),
                    gro_merged: l(&s.gro_merged),
                }
            })
            .collect()
    }

    /// Clears per-thread statistics: of every thread, or of thread `only`.
    pub fn pmd_stats_clear(&self, only: Option<usize>) {
        let threads = self.shared.threads.lock().unwrap();
        for t in threads.iter().filter(|t| only.is_none_or(|id| id == t.id)) {
            t.stats.clear();
        }
    }

    /// Which thread polls which receive queue: `(thread id, port, queue)`.
    pub fn rxq_assignment(&self) -> Vec<(usize, OdpPort, usize)> {
        self.shared.rxq_map.lock().unwrap().iter().map(|e| (e.thread, e.port, e.qid)).collect()
    }

    /// The CPU poll thread `id` runs on ([`DpConfig::cpus`]), if it was
    /// given one.
    pub fn thread_cpu(&self, id: usize) -> Option<usize> {
        id.checked_sub(1).and_then(|i| self.shared.cpus.get(i)).copied()
    }

    /// Poll threads that have a pinned queue: they poll only the queues
    /// pinned to them (as OVS's default `pmd-rxq-isolate=true`), unless no
    /// thread is free to take the others.
    pub fn isolated_threads(&self) -> Vec<usize> {
        isolated(&self.shared.rxq_map.lock().unwrap())
    }

    /// Pins receive queue `qid` of `port` to poll thread `thread` (OVS's
    /// `pmd-rxq-affinity`), keeping the port's other pins. Thread ids are
    /// 1..=n_threads (0 is the main context, which polls only when there
    /// are no threads). Waits until the queue's current thread has let go
    /// of it; queues that are not pinned leave the thread.
    pub fn pin_rxq(&self, port: OdpPort, qid: usize, thread: usize) -> Result<(), DpifError> {
        self.place_rxqs(port, &[(qid, thread)], false)
    }

    /// Sets the ingress policing of `port` (see [`IngressPolicing`]); one
    /// that sets no rate removes it. New settings start with full buckets;
    /// the same settings again leave the buckets as they are. A port
    /// without receive queues (a tunnel port) is refused.
    pub fn set_ingress_policing(
        &self,
        port: OdpPort,
        cfg: &IngressPolicing,
    ) -> Result<(), DpifError> {
        let t = self.shared.ports.load();
        let p = t.get(port).ok_or(DpifError::NoSuchPort(port))?;
        if cfg.is_on() && p.netdev.n_rxq() == 0 {
            return Err(DpifError::NoRxqToPolice { port, name: p.name().to_string() });
        }
        p.ingress.set(cfg, self.shared.now().as_nanos() as u64);
        Ok(())
    }

    /// The ingress policing of `port` ([`IngressPolicing::OFF`] without).
    pub fn ingress_policing(&self, port: OdpPort) -> Result<IngressPolicing, DpifError> {
        let t = self.shared.ports.load();
        Ok(t.get(port).ok_or(DpifError::NoSuchPort(port))?.ingress.get())
    }

    /// Sets the egress policer of `port` (QoS `egress-policer`); one with
    /// no rate removes it. New settings start with a full bucket; the same
    /// settings again leave it as it is.
    pub fn set_egress_policer(&self, port: OdpPort, cfg: &EgressPolicer) -> Result<(), DpifError> {
        let t = self.shared.ports.load();
        let p = t.get(port).ok_or(DpifError::NoSuchPort(port))?;
        p.egress.set(cfg, self.shared.now().as_nanos() as u64);
        Ok(())
    }

    /// The egress policer of `port` (the default, no rate, without).
    pub fn egress_policer(&self, port: OdpPort) -> Result<EgressPolicer, DpifError> {
        let t = self.shared.ports.load();
        Ok(t.get(port).ok_or(DpifError::NoSuchPort(port))?.egress.get())
    }

    /// Makes `pins` (`(queue, thread)`) the whole `pmd-rxq-affinity` of
    /// `port`: those queues move to their threads and stay there, the
    /// port's other queues are no longer pinned (they stay where they
    /// are unless their thread is isolated). Everything is checked first:
    /// if one pin names a queue or a thread that does not exist, nothing
    /// changes. An empty `pins` unpins the port.
    pub fn set_rxq_affinity(
        &self,
        port: OdpPort,
        pins: &[(usize, usize)],
    ) -> Result<(), DpifError> {
        self.place_rxqs(port, pins, true)
    }

    fn place_rxqs(
        &self,
        port: OdpPort,
        pins: &[(usize, usize)],
        replace: bool,
    ) -> Result<(), DpifError> {
        let sh = &self.shared;
        let _g = sh.port_lock.lock().unwrap();
        let mut threads = sh.threads.lock().unwrap();
        let mut map = sh.rxq_map.lock().unwrap();
        let mut moves = Vec::with_capacity(pins.len());
        for &(qid, thread) in pins {
            if !threads.iter().any(|t| t.id == thread && self.polls(t.id)) {
                return Err(DpifError::NoSuchThread { thread, n: sh.n_pmd_threads });
            }
            let at = map
                .iter()
                .position(|e| e.port == port && e.qid == qid)
                .ok_or(DpifError::NoSuchQueue { port, qid })?;
            moves.push((at, thread));
        }
        if replace {
            map.iter_mut().filter(|e| e.port == port).for_each(|e| e.pinned = false);
        }
        for (at, thread) in moves {
            self.move_rxq(&mut threads, &mut map, at, thread)?;
            map[at].pinned = true;
        }
        // Queues that are not pinned leave isolated threads, for the least
        // loaded thread that is not isolated (if there is one).
        let iso = isolated(&map);
        for at in 0..map.len() {
            if map[at].pinned || !iso.contains(&map[at].thread) {
                continue;
            }
            let to = threads
                .iter()
                .filter(|t| self.polls(t.id) && !iso.contains(&t.id))
                .min_by_key(|t| t.n_rxqs)
                .map(|t| t.id);
            if let Some(to) = to {
                self.move_rxq(&mut threads, &mut map, at, to)?;
            }
        }
        Ok(())
    }

    /// Spreads the queues that are not pinned evenly over the poll threads
    /// that are not isolated (all of them if every one is), in port and
    /// queue order (OVS's `dpif-netdev/pmd-rxq-rebalance`, by count).
    pub fn rebalance_rxqs(&self) -> Result<(), DpifError> {
        let sh = &self.shared;
        let _g = sh.port_lock.lock().unwrap();
        let mut threads = sh.threads.lock().unwrap();
        let mut map = sh.rxq_map.lock().unwrap();
        let iso = isolated(&map);
        let polling: Vec<usize> =
            threads.iter().map(|t| t.id).filter(|&id| self.polls(id)).collect();
        let free: Vec<usize> = polling.iter().copied().filter(|id| !iso.contains(id)).collect();
        let targets = if free.is_empty() { polling } else { free };
        let mut load: Vec<(usize, usize)> = targets.iter().map(|&id| (id, 0)).collect();
        load.sort_unstable();
        for e in map.iter().filter(|e| e.pinned) {
            if let Some(l) = load.iter_mut().find(|l| l.0 == e.thread) {
                l.1 += 1;
            }
        }
        let mut order: Vec<usize> = (0..map.len()).filter(|&i| !map[i].pinned).collect();
        order.sort_by_key(|&i| (map[i].port, map[i].qid));
        for at in order {
            let l = load.iter_mut().min_by_key(|l| l.1).expect("at least one thread polls");
            l.1 += 1;
            let to = l.0;
            self.move_rxq(&mut threads, &mut map, at, to)?;
        }
        Ok(())
    }

    /// Whether thread `id` polls queues (the main context only when there
    /// are no poll threads).
    fn polls(&self, id: usize) -> bool {
        id != MAIN_THREAD_ID || self.shared.n_pmd_threads == 0
    }

    /// Moves the queue at `map[at]` to thread `to`, waiting until its
    /// thread has let go of it.
    fn move_rxq(
        &self,
        threads: &mut [ThreadCtl],
        map: &mut [RxqPlace],
        at: usize,
        to: usize,
    ) -> Result<(), DpifError> {
        let RxqPlace { thread: from, port, qid, .. } = map[at];
        if from == to {
            return Ok(());
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let owner = threads.iter().find(|t| t.id == from).expect("assigned to a known thread");
        owner.send(Msg::ReleaseRxq(port, qid, tx));
        if from == MAIN_THREAD_ID {
            self.main.lock().unwrap().handle_msgs();
        }
        let slot = rx.recv_timeout(Duration::from_secs(10)).ok().flatten().ok_or_else(|| {
            DpifError::Os(format!("poll thread {from} did not release queue {qid} of port {port}"))
        })?;
        if let Some(t) = threads.iter_mut().find(|t| t.id == from) {
            t.n_rxqs -= 1;
        }
        let target = threads.iter_mut().find(|t| t.id == to).expect("a known thread");
        target.n_rxqs += 1;
        target.send(Msg::AddRxq(slot));
        map[at].thread = to;
        Ok(())
    }

    fn add_port_locked(
        &self,
        netdev: Arc<dyn Netdev>,
        requested: Option<OdpPort>,
    ) -> Result<OdpPort, DpifError> {
        let sh = &self.shared;
        let _g = sh.port_lock.lock().unwrap();
        let table = sh.ports.load_full();
        if table.by_name(netdev.name()).is_some() {
            return Err(DpifError::PortNameExists(netdev.name().to_string()));
        }
        let no = match requested {
            Some(p) if p.0 >= sh.port_limit => {
                return Err(DpifError::PortTooBig { port: p, limit: sh.port_limit })
            }
            Some(p) => {
                if let Some(other) = table.get(p) {
                    return Err(DpifError::PortBusy { port: p, by: other.name().to_string() });
                }
                p
            }
            None => table.lowest_free(1, sh.port_limit).ok_or_else(|| DpifError::PortsFull {
                dp: sh.name.clone(),
                limit: sh.port_limit,
            })?,
        };
        // Open every receive queue before publishing, so a failure changes
        // nothing.
        let port = Arc::new(Port::new(no, netdev.clone()));
        let mut rxqs = Vec::new();
        for q in 0..netdev.n_rxq() {
            let rxq = netdev.rxq_open(q)?;
            let fds = rxq.wait_fds();
            rxqs.push(RxqSlot::new(&port, q, rxq, fds));
        }
        sh.ports.store(Arc::new(table.with(port.clone())));
        {
            let mut threads = sh.threads.lock().unwrap();
            let mut map = sh.rxq_map.lock().unwrap();
            // Spread queues over the poll threads (the main context polls
            // only when there are none) that are not isolated, or over all
            // of them if every one is.
            let iso = isolated(&map);
            let free = threads.iter().any(|t| self.polls(t.id) && !iso.contains(&t.id));
            for slot in rxqs {
                let t = threads
                    .iter_mut()
                    .filter(|t| self.polls(t.id) && (!free || !iso.contains(&t.id)))
                    .min_by_key(|t| t.n_rxqs)
                    .expect("at least the main thread");
                t.n_rxqs += 1;
                map.push(RxqPlace { thread: t.id, port: no, qid: slot.qid, pinned: false });
                t.send(Msg::AddRxq(slot));
            }
        }
        sh.notify(PortEvent::Added(port.info()));
        Ok(no)
    }
}

/// Statistics of one poll thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmdStats {
    /// Thread id (0 is the main context).
    pub id: usize,
    /// Receive queues it polls.
    pub rxqs: usize,
    /// Packets received.
    pub packets: u64,
    /// Packets recirculated.
    pub recirculations: u64,
    /// Exact-match-cache hits.
    pub emc_hits: u64,
    /// Megaflow hits.
    pub megaflow_hits: u64,
    /// Subtables searched over all megaflow hits.
    pub subtable_lookups: u64,
    /// Misses the handler answered.
    pub upcalls_ok: u64,
    /// Misses lost (no handler, handler error).
    pub upcalls_failed: u64,
    /// Misses executed without install (flow limit).
    pub no_install: u64,
    /// Poll iterations.
    pub iterations: u64,
    /// Iterations that received packets.
    pub busy_iterations: u64,
    /// Times the thread went to sleep.
    pub sleeps: u64,
    /// Output batches sent.
    pub output_batches: u64,
    /// Packets in those batches.
    pub output_packets: u64,
    /// Packets merged into others by software GRO on output.
    pub gro_merged: u64,
}

fn expire(sh: &Shared) -> usize {
    let now = sh.now().as_nanos() as u64;
    let max_idle = sh.max_idle_ns.load(Ordering::Relaxed);
    let mut idx = sh.index.lock().unwrap();
    let old: Vec<Arc<Flow>> = idx
        .by_ufid
        .values()
        .filter(|f| now.saturating_sub(f.last_active_ns()) > max_idle)
        .cloned()
        .collect();
    for f in &old {
        sh.delete_locked(&mut idx, f);
    }
    old.len()
}

fn maintenance(shared: std::sync::Weak<Shared>, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(Duration::from_millis(500)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let Some(sh) = shared.upgrade() else { return };
        let n = expire(&sh);
        if n > 0 {
            tracing::debug!("datapath {}: expired {n} idle flows", sh.name);
        }
    }
}

impl Drop for DpNetdev {
    fn drop(&mut self) {
        if let Some((h, stop)) = self.maint.take() {
            let _ = stop.send(());
            let _ = h.join();
        }
        let mut threads = std::mem::take(&mut *self.shared.threads.lock().unwrap());
        for t in &threads {
            t.send(Msg::Exit);
        }
        for t in &mut threads {
            if let Some(j) = t.join.take() {
                let _ = j.join();
            }
        }
        // Release flows (they hold masks) and ports (they hold devices).
        let mut idx = self.shared.index.lock().unwrap();
        for f in idx.by_ufid.values() {
            f.dead.store(true, Ordering::Relaxed);
        }
        *idx = FlowIndex::default();
        self.shared.ports.store(Arc::new(PortTable::default()));
    }
}

impl Dpif for DpNetdev {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn type_name(&self) -> &str {
        self.shared.class.name()
    }

    fn port_add(
        &self,
        netdev: Arc<dyn Netdev>,
        requested: Option<OdpPort>,
    ) -> Result<OdpPort, DpifError> {
        self.add_port_locked(netdev, requested)
    }

    fn port_del(&self, port: OdpPort) -> Result<(), DpifError> {
        let sh = &self.shared;
        let _g = sh.port_lock.lock().unwrap();
        let table = sh.ports.load_full();
        let p = table.get(port).cloned().ok_or(DpifError::NoSuchPort(port))?;
        if port == OdpPort::LOCAL {
            return Err(DpifError::LocalPort(p.name().to_string()));
        }
        sh.ports.store(Arc::new(table.without(port)));
        // Flows from this port can never match again.
        {
            let mut idx = sh.index.lock().unwrap();
            let dead: Vec<Arc<Flow>> =
                idx.by_ufid.values().filter(|f| f.in_port == port).cloned().collect();
            for f in &dead {
                sh.delete_locked(&mut idx, f);
            }
        }
        let acks: Vec<Receiver<()>> = {
            let mut threads = sh.threads.lock().unwrap();
            let mut map = sh.rxq_map.lock().unwrap();
            for t in threads.iter_mut() {
                let n = map.iter().filter(|e| e.thread == t.id && e.port == port).count();
                t.n_rxqs -= n;
            }
            map.retain(|e| e.port != port);
            threads
                .iter()
                .map(|t| {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    t.send(Msg::RemovePort(port, tx));
                    rx
                })
                .collect()
        };
        // The main context applies its messages here; poll threads do at
        // their next iteration (they were woken).
        self.main.lock().unwrap().handle_msgs();
        for rx in acks {
            if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                tracing::warn!(
                    "datapath {}: a poll thread did not release port {port} within 10 s",
                    sh.name
                );
            }
        }
        sh.notify(PortEvent::Deleted(p.info()));
        Ok(())
    }

    fn port_query_by_number(&self, port: OdpPort) -> Result<DpifPort, DpifError> {
        self.shared.ports.load().get(port).map(|p| p.info()).ok_or(DpifError::NoSuchPort(port))
    }

    fn port_query_by_name(&self, name: &str) -> Result<DpifPort, DpifError> {
        self.shared
            .ports
            .load()
            .by_name(name)
            .map(|p| p.info())
            .ok_or_else(|| DpifError::NoSuchPortName(name.to_string()))
    }

    fn port_dump(&self) -> Vec<DpifPort> {
        self.shared.ports.load().iter().map(|p| p.info()).collect()
    }

    fn port_netdev(&self, port: OdpPort) -> Option<Arc<dyn Netdev>> {
        self.shared.ports.load().get(port).map(|p| p.netdev.clone())
    }

    fn port_stats(&self, port: OdpPort) -> Result<PortStats, DpifError> {
        let t = self.shared.ports.load();
        let p = t.get(port).ok_or(DpifError::NoSuchPort(port))?;
        let mut s = p.netdev.stats();
        s.tx_errors += p.tx_errors.load(Ordering::Relaxed);
        let rx_qos_drops = p.ingress.drops.load(Ordering::Relaxed);
        let tx_qos_drops = p.egress.drops.load(Ordering::Relaxed);
        s.rx_dropped += rx_qos_drops;
        s.tx_dropped += tx_qos_drops;
        Ok(PortStats { netdev: s, rx_qos_drops, tx_qos_drops })
    }

    fn port_subscribe(&self) -> Receiver<PortEvent> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.shared.subscribers.lock().unwrap().push(tx);
        rx
    }

    fn flow_put(&self, put: FlowPut) -> Result<Option<FlowStats>, DpifError> {
        let sh = &self.shared;
        check_invariants(&put.key, &put.mask).map_err(DpifError::InvalidFlow)?;
        let key = put.key.masked(&put.mask);
        let mut idx = sh.index.lock().unwrap();
        let by_match = idx.find_match(&key, &put.mask).cloned();
        let by_ufid = put.ufid.and_then(|u| idx.by_ufid.get(&u).cloned());
        let existing = match (&by_ufid, &by_match) {
            (Some(a), Some(b)) if !Arc::ptr_eq(a, b) => {
                return Err(DpifError::FlowExists(b.ufid));
            }
            (Some(a), None) => {
                return Err(DpifError::InvalidFlow(format!(
                    "{} already names a flow with a different match",
                    a.ufid
                )));
            }
            (_, Some(b)) => Some(b.clone()),
            (None, None) => None,
        };
        if let Some(f) = existing {
            if !put.flags.modify {
                return Err(DpifError::FlowExists(f.ufid));
            }
            let old = f.stats();
            f.actions.store(Arc::new(put.actions));
            if put.flags.zero_stats {
                f.zero_stats();
            }
            return Ok(Some(old));
        }
        if !put.flags.create {
            return Err(DpifError::NoSuchFlow(
                put.ufid.map_or_else(|| "no flow has this match".to_string(), |u| u.to_string()),
            ));
        }
        let limit = sh.flow_limit.load(Ordering::Relaxed);
        if idx.by_ufid.len() >= limit {
            return Err(DpifError::FlowLimit(limit));
        }
        let ufid = put.ufid.unwrap_or_else(|| Ufid::from_match(&key, &put.mask));
        if idx.by_ufid.contains_key(&ufid) {
            return Err(DpifError::FlowExists(ufid));
        }
        let mi = idx.intern_mask(&put.mask);
        let f = Arc::new(Flow::new(ufid, key, mi, put.actions, sh.now()));
        let threads = sh.threads.lock().unwrap();
        let all = threads.iter().fold(0u64, |m, t| m | 1 << t.id);
        f.pmds.store(all, Ordering::Relaxed);
        idx.insert(f.clone());
        sh.n_flows.store(idx.by_ufid.len(), Ordering::Relaxed);
        for t in threads.iter() {
            t.send(Msg::InsertFlow(f.clone()));
        }
        Ok(None)
    }

    fn flow_del(&self, id: &FlowId) -> Result<FlowStats, DpifError> {
        let sh = &self.shared;
        let mut idx = sh.index.lock().unwrap();
        let f = idx.get(id).cloned().ok_or_else(|| DpifError::NoSuchFlow(describe(id)))?;
        sh.delete_locked(&mut idx, &f);
        Ok(f.stats())
    }

    fn flow_get(&self, id: &FlowId) -> Result<DpifFlow, DpifError> {
        let idx = self.shared.index.lock().unwrap();
        let f = idx.get(id).ok_or_else(|| DpifError::NoSuchFlow(describe(id)))?;
        Ok(dump_one(f))
    }

    fn flow_dump(&self) -> Vec<DpifFlow> {
        let idx = self.shared.index.lock().unwrap();
        let mut v: Vec<&Arc<Flow>> = idx.by_ufid.values().collect();
        v.sort_by_key(|f| (f.created, f.ufid));
        v.into_iter().map(dump_one).collect()
    }

    fn flow_flush(&self) {
        let sh = &self.shared;
        let mut idx = sh.index.lock().unwrap();
        let all: Vec<Arc<Flow>> = idx.by_ufid.values().cloned().collect();
        for f in &all {
            sh.delete_locked(&mut idx, f);
        }
    }

    fn execute(&self, packet: Packet, actions: &[OdpAction]) -> Result<(), DpifError> {
        let mut main = self.main.lock().unwrap();
        main.handle_msgs();
        main.now_ns = self.shared.now().as_nanos() as u64;
        let mut pkt = packet;
        let mut key = FlowKey::new();
        rvs_packet::flow::extract(&mut pkt, &mut key);
        main.execute(actions, &mut vec![pkt], &mut vec![key], 0);
        main.flush();
        Ok(())
    }

    fn register_upcall_handler(&self, handler: Option<Arc<dyn UpcallHandler>>) {
        self.shared.handler.store(handler.map(|h| Arc::new(HandlerSlot(h))));
    }

    fn stats(&self) -> DpStats {
        let threads = self.shared.threads.lock().unwrap();
        let mut s = DpStats {
            flows: self.shared.n_flows.load(Ordering::Relaxed) as u64,
            ..Default::default()
        };
        for t in threads.iter() {
            let c = &t.stats;
            let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
            s.emc_hits += l(&c.emc_hits);
            s.mask_hits += l(&c.mask_hits);
            s.subtable_lookups += l(&c.subtable_lookups);
            s.missed += l(&c.missed);
            s.lost += l(&c.lost);
            s.no_install += l(&c.no_install);
            s.masks += l(&c.subtables);
        }
        s.hits = s.emc_hits + s.mask_hits;
        s
    }

    fn drop_stats(&self) -> Vec<(DropReason, u64)> {
        let sh = &self.shared;
        let mut v: Vec<(DropReason, u64)> = DropReason::NAMED
            .iter()
            .zip(sh.drops.iter())
            .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        v.extend(sh.xlate_drops.lock().unwrap().iter().map(|(c, n)| (DropReason::Xlate(*c), *n)));
        v
    }
}

fn describe(id: &FlowId) -> String {
    match id {
        FlowId::Ufid(u) => u.to_string(),
        FlowId::Match(..) => "no flow has this match".to_string(),
    }
}

fn dump_one(f: &Arc<Flow>) -> DpifFlow {
    let pmds = f.pmds.load(Ordering::Relaxed);
    DpifFlow {
        ufid: f.ufid,
        key: f.key(),
        mask: f.mask.mask,
        actions: (**f.actions.load()).clone(),
        stats: f.stats(),
        pmds: (0..64).filter(|i| pmds & (1 << i) != 0).collect(),
    }
}
