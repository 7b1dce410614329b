//! Poll threads: each owns receive queues, an exact-match cache and a
//! megaflow classifier per input port, and runs the per-packet path:
//! receive a batch, extract keys, look up (cache, classifier, upcall),
//! group packets by flow, execute each group's actions, queue outputs per
//! port, and flush them once per iteration.
//!
//! The control plane never stops a thread: it sends [`Msg`]s that the thread
//! applies at the start of its next iteration (waking it if it sleeps), and
//! it publishes port tables and flow actions through read-copy-update.

use super::cls::Dpcls;
use super::emc::Emc;
use super::exec::Executor;
use super::flow::{invariant_mask, Flow};
use super::policer::{IngressPolicing, PortPolicer};
use super::ports::Port;
use super::Shared;
use crate::dpif::{Upcall, UpcallReply};
use crate::netdev::NetdevRxq;
use crate::odp::DropReason;
use crate::sys::{Epoll, EventFd};
use crossbeam_channel::{Receiver, Sender};
use rvs_packet::flow::extract;
use rvs_packet::{Batch, FlowKey, OdpPort, Packet, BATCH_SIZE};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deepest chain of recirculations a packet may take (OVS's limit).
pub(crate) const MAX_RECIRC_DEPTH: u32 = 6;

/// How often a thread re-ranks its subtables and sweeps its cache.
const RANK_INTERVAL_NS: u64 = 1_000_000_000;

/// An idle poll reads the datapath clock once in this many iterations.
const IDLE_CLOCK_EVERY: u32 = 64;

/// The busy-poll loop looks at the time once in this many empty polls.
const IDLE_CLOCK_CHECK: u32 = 8;

/// A busy thread asks its armed epoll which disarmed queues became
/// readable once in this many iterations (and after each iteration that
/// received packets).
const ARM_CHECK_EVERY: u32 = 16;

/// A receive queue handed to a thread.
pub(crate) struct RxqSlot {
    pub port: OdpPort,
    pub qid: usize,
    pub rxq: Box<dyn NetdevRxq>,
    pub fds: Vec<RawFd>,
    /// The port's ingress policing, applied to each received batch.
    policer: Arc<PortPolicer<IngressPolicing>>,
    /// An empty `recv` costs a system call ([`NetdevRxq::polls_by_syscall`]).
    syscall: bool,
    /// Polled at every iteration. A queue that polls by system call is
    /// disarmed when it comes back empty, and armed again when its fds
    /// become readable (or the thread wakes from sleep).
    armed: bool,
    /// The queue's token in its thread's arming epoll.
    token: u64,
}

impl RxqSlot {
    pub fn new(port: &Port, qid: usize, rxq: Box<dyn NetdevRxq>, fds: Vec<RawFd>) -> Self {
        let syscall = rxq.polls_by_syscall();
        let policer = port.ingress.clone();
        RxqSlot { port: port.no, qid, rxq, fds, policer, syscall, armed: true, token: 0 }
    }
}

/// Control messages to a poll thread.
pub(crate) enum Msg {
    AddRxq(RxqSlot),
    /// Drop every rxq and pending output of the port, then acknowledge.
    RemovePort(OdpPort, Sender<()>),
    /// Stop polling queue `.1` of port `.0` and hand it back (for moving it
    /// to another thread).
    ReleaseRxq(OdpPort, usize, Sender<Option<RxqSlot>>),
    InsertFlow(Arc<Flow>),
    RemoveFlow(Arc<Flow>),
    SetEmcInvProb(u32),
    /// Acknowledge once every earlier message is applied.
    Sync(Sender<()>),
    Exit,
}

/// Counters of one thread, read by the control plane.
#[derive(Debug, Default)]
pub(crate) struct PmdCounters {
    pub packets: AtomicU64,
    pub recirculations: AtomicU64,
    pub emc_hits: AtomicU64,
    pub mask_hits: AtomicU64,
    pub subtable_lookups: AtomicU64,
    pub missed: AtomicU64,
    pub lost: AtomicU64,
    pub no_install: AtomicU64,
    pub iterations: AtomicU64,
    pub busy_iterations: AtomicU64,
    pub sleeps: AtomicU64,
    pub output_batches: AtomicU64,
    pub output_packets: AtomicU64,
    pub gro_merged: AtomicU64,
    pub subtables: AtomicU64,
    pub rxqs: AtomicU64,
}

impl PmdCounters {
    pub fn clear(&self) {
        for c in [
            &self.packets,
            &self.recirculations,
            &self.emc_hits,
            &self.mask_hits,
            &self.subtable_lookups,
            &self.missed,
            &self.lost,
            &self.no_install,
            &self.iterations,
            &self.busy_iterations,
            &self.sleeps,
            &self.output_batches,
            &self.output_packets,
            &self.gro_merged,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Per-batch tallies, added to the shared counters once per batch.
#[derive(Default)]
struct Tally {
    emc_hits: u64,
    mask_hits: u64,
    subtable_lookups: u64,
    missed: u64,
    lost: u64,
    no_install: u64,
}

/// One poll thread's state.
pub(crate) struct PollThread {
    pub id: usize,
    pub(crate) shared: Arc<Shared>,
    msgs: Receiver<Msg>,
    rxqs: Vec<RxqSlot>,
    emc: Emc,
    cls: HashMap<OdpPort, Dpcls>,
    pub(crate) exec: Executor,
    pub(crate) stats: Arc<PmdCounters>,
    keys: Vec<FlowKey>,
    rx_batch: Batch,
    // Scratch buffers reused across batches (taken and put back, so that
    // recursion through recirculation simply allocates fresh ones).
    scratch_groups: Vec<Group>,
    scratch_slots: Vec<Option<Packet>>,
    scratch_pkts: Vec<Packet>,
    pub(crate) now_ns: u64,
    last_rank_ns: u64,
    /// Iterations counted to read the clock now and then when idle.
    idle_polls: u32,
    epoll: Option<Epoll>,
    /// Watches only the queues that poll by system call, to tell which of
    /// them to arm again (a thread with [`Self::epoll`] only).
    arm_epoll: Option<Epoll>,
    next_token: u64,
    /// Iterations since the arming epoll was last asked, and whether the
    /// last iteration received packets.
    since_arm_check: u32,
    prev_busy: bool,
    ready: Vec<u64>,
    exit: bool,
    /// Output queues may be held for GRO (a thread running [`Self::run`];
    /// the main context flushes every time).
    hold_output: bool,
    /// When this thread last received packets (clock ns).
    prev_rx_ns: u64,
}

/// What to do with packets of one flow in a batch: the flow (or, for a miss
/// executed without install, its actions) and a bitmap of packet indices.
enum Group {
    Flow(Arc<Flow>, u32),
    Once(Vec<crate::odp::OdpAction>, u32),
}

impl PollThread {
    pub fn new(
        id: usize,
        shared: Arc<Shared>,
        msgs: Receiver<Msg>,
        waker: Arc<EventFd>,
        stats: Arc<PmdCounters>,
        with_epoll: bool,
    ) -> std::io::Result<Self> {
        let (epoll, arm_epoll) = if with_epoll {
            let e = Epoll::new()?;
            e.add(waker.as_raw_fd(), u64::MAX)?;
            (Some(e), Some(Epoll::new()?))
        } else {
            (None, None)
        };
        let emc = Emc::new(shared.emc_inv_prob.load(Ordering::Relaxed));
        Ok(PollThread {
            id,
            shared,
            msgs,
            rxqs: Vec::new(),
            emc,
            cls: HashMap::new(),
            exec: Executor::default(),
            stats,
            keys: vec![FlowKey::new(); BATCH_SIZE],
            rx_batch: Batch::new(),
            scratch_groups: Vec::with_capacity(BATCH_SIZE),
            scratch_slots: Vec::with_capacity(BATCH_SIZE),
            scratch_pkts: Vec::with_capacity(BATCH_SIZE),
            now_ns: 0,
            last_rank_ns: 0,
            idle_polls: 0,
            epoll,
            arm_epoll,
            next_token: 0,
            since_arm_check: 0,
            prev_busy: false,
            ready: Vec::new(),
            exit: false,
            hold_output: false,
            prev_rx_ns: 0,
        })
    }

    /// Applies pending control messages. Returns false once told to exit.
    pub fn handle_msgs(&mut self) -> bool {
        while let Ok(m) = self.msgs.try_recv() {
            self.apply(m);
        }
        !self.exit
    }

    fn apply(&mut self, m: Msg) {
        match m {
            Msg::AddRxq(mut slot) => {
                slot.armed = true;
                slot.token = self.next_token;
                self.next_token += 1;
                if let Some(ep) = self.arm_epoll.as_ref().filter(|_| slot.syscall) {
                    for &fd in &slot.fds {
                        if let Err(e) = ep.add(fd, slot.token) {
                            // Never disarmed then: polled at every iteration.
                            tracing::warn!("pmd {}: cannot watch rxq {}: {e}", self.id, slot.qid);
                            slot.syscall = false;
                        }
                    }
                }
                for (ep, &fd) in
                    self.epoll.iter().flat_map(|ep| slot.fds.iter().map(move |f| (ep, f)))
                {
                    if let Err(e) = ep.add(fd, self.rxqs.len() as u64) {
                        tracing::warn!(
                            "pmd {}: cannot watch rxq {} of port {}: {e}",
                            self.id,
                            slot.qid,
                            slot.port
                        );
                    }
                }
                self.rxqs.push(slot);
                self.stats.rxqs.store(self.rxqs.len() as u64, Ordering::Relaxed);
            }
            Msg::RemovePort(port, ack) => {
                self.rxqs.retain(|s| {
                    if s.port == port {
                        for ep in self.epoll.iter().chain(&self.arm_epoll) {
                            s.fds.iter().for_each(|&fd| ep.del(fd));
                        }
                        false
                    } else {
                        true
                    }
                });
                self.stats.rxqs.store(self.rxqs.len() as u64, Ordering::Relaxed);
                self.exec.forget_port(port, &self.shared);
                if let Some(cls) = self.cls.remove(&port) {
                    for f in cls.flows() {
                        f.pmds.fetch_and(!(1u64 << self.id), Ordering::Relaxed);
                    }
                }
                self.emc.sweep_dead();
                self.update_subtable_count();
                let _ = ack.send(());
            }
            Msg::ReleaseRxq(port, qid, back) => {
                let slot = self.rxqs.iter().position(|s| s.port == port && s.qid == qid).map(|i| {
                    let s = self.rxqs.remove(i);
                    for ep in self.epoll.iter().chain(&self.arm_epoll) {
                        s.fds.iter().for_each(|&fd| ep.del(fd));
                    }
                    s
                });
                self.stats.rxqs.store(self.rxqs.len() as u64, Ordering::Relaxed);
                let _ = back.send(slot);
            }
            Msg::InsertFlow(f) => {
                if !f.is_dead() {
                    self.cls.entry(f.in_port).or_default().insert(f);
                    self.update_subtable_count();
                }
            }
            Msg::RemoveFlow(f) => {
                if let Some(cls) = self.cls.get_mut(&f.in_port) {
                    cls.remove(&f);
                    if cls.n_subtables() == 0 {
                        self.cls.remove(&f.in_port);
                    }
                }
                self.update_subtable_count();
            }
            Msg::SetEmcInvProb(p) => self.emc.set_insert_inv_prob(p),
            Msg::Sync(ack) => {
                let _ = ack.send(());
            }
            Msg::Exit => self.exit = true,
        }
    }

    fn update_subtable_count(&self) {
        let n: usize = self.cls.values().map(Dpcls::n_subtables).sum();
        self.stats.subtables.store(n as u64, Ordering::Relaxed);
    }

    /// One iteration: messages, every receive queue once, output flush.
    /// Returns the number of packets received.
    pub fn poll_once(&mut self) -> usize {
        if !self.handle_msgs() {
            return 0;
        }
        // The clock is read when there are packets to time-stamp, and now
        // and then when idle (for ranking and sweeping): an idle iteration
        // is mostly this check, and a clock read would double its cost.
        self.idle_polls = self.idle_polls.wrapping_add(1);
        // Held output needs the time to know when it is due.
        let mut clock_read =
            self.idle_polls.is_multiple_of(IDLE_CLOCK_EVERY) || self.exec.has_output();
        if clock_read {
            self.now_ns = self.shared.clock.now().as_nanos() as u64;
        }
        self.since_arm_check += 1;
        if self.prev_busy || self.since_arm_check >= ARM_CHECK_EVERY {
            self.since_arm_check = 0;
            self.arm_ready();
        }
        let mut total = 0;
        for i in 0..self.rxqs.len() {
            if !self.rxqs[i].armed {
                continue;
            }
            let port = self.rxqs[i].port;
            match self.rxqs[i].rxq.recv(&mut self.rx_batch) {
                Ok(0) => {
                    // Asked again once its fds say there is more (see
                    // `arm_ready`): no system call per idle iteration.
                    let s = &mut self.rxqs[i];
                    s.armed = !(s.syscall && self.arm_epoll.is_some());
                }
                Ok(n) => {
                    if !clock_read {
                        clock_read = true;
                        self.now_ns = self.shared.clock.now().as_nanos() as u64;
                    }
                    if total == 0 {
                        // Input is flowing when the previous packets came
                        // less than a hold time ago: then output that GRO
                        // may grow is worth holding for what follows.
                        let hold_ns = self.shared.gro_hold_ns.load(Ordering::Relaxed);
                        self.exec.flowing = self.hold_output
                            && self.now_ns.saturating_sub(self.prev_rx_ns) < hold_ns;
                        self.exec.now_ns = self.now_ns;
                        self.prev_rx_ns = self.now_ns;
                    }
                    total += n;
                    let mut pkts = std::mem::take(&mut self.rx_batch.pkts);
                    self.rxqs[i].policer.run(&mut pkts, self.now_ns);
                    self.process(port, &mut pkts, 0);
                    pkts.clear();
                    self.rx_batch.pkts = pkts;
                }
                Err(e) => tracing::debug!("pmd {}: receive on port {port} failed: {e}", self.id),
            }
        }
        if self.hold_output {
            self.flush_due();
        } else {
            self.flush();
        }
        self.stats.iterations.fetch_add(1, Ordering::Relaxed);
        self.prev_busy = total > 0;
        if total > 0 {
            self.stats.packets.fetch_add(total as u64, Ordering::Relaxed);
            self.stats.busy_iterations.fetch_add(1, Ordering::Relaxed);
        }
        if clock_read && self.now_ns.saturating_sub(self.last_rank_ns) >= RANK_INTERVAL_NS {
            self.last_rank_ns = self.now_ns;
            for c in self.cls.values_mut() {
                c.rank();
            }
            self.emc.sweep_dead();
        }
        total
    }

    /// Arms the disarmed queues whose fds became readable since they came
    /// back empty. Edge-triggered, the arming epoll latches every arrival
    /// after the empty `recv`, so none is missed; an arrival already read
    /// only costs one more empty `recv`.
    fn arm_ready(&mut self) {
        let Some(ep) = &self.arm_epoll else { return };
        if self.rxqs.iter().all(|s| s.armed) {
            return;
        }
        self.ready.clear();
        if let Err(e) = ep.ready_tokens(&mut self.ready) {
            tracing::warn!("pmd {}: epoll failed: {e}", self.id);
            self.arm_all();
            return;
        }
        for s in self.rxqs.iter_mut().filter(|s| self.ready.contains(&s.token)) {
            s.armed = true;
        }
    }

    /// Arms every queue (after sleeping: whatever woke the thread).
    fn arm_all(&mut self) {
        self.rxqs.iter_mut().for_each(|s| s.armed = true);
    }

    /// Sends every queued output.
    pub fn flush(&mut self) {
        if !self.exec.has_output() {
            return;
        }
        let ports = self.shared.ports.load();
        self.exec.flush(&ports, self.id, &self.shared, &self.stats, self.now_ns, 0);
    }

    /// Sends queued output, except what software GRO may still grow, which
    /// waits up to the datapath's GRO hold time while input flows.
    fn flush_due(&mut self) {
        if !self.exec.has_output() {
            return;
        }
        let ports = self.shared.ports.load();
        let hold_ns = self.shared.gro_hold_ns.load(Ordering::Relaxed);
        self.exec.flush(&ports, self.id, &self.shared, &self.stats, self.now_ns, hold_ns);
    }

    /// The thread's main loop: poll while there is traffic, busy-poll a
    /// little longer when it stops, then sleep in epoll until a queue has
    /// packets or a message arrives. Output held for GRO goes before it
    /// sleeps.
    ///
    /// The window and the yielding are read again at every clock check, so
    /// [`super::DpNetdev::set_busy_poll`] applies without a restart.
    pub fn run(mut self) {
        self.hold_output = true;
        let mut idle_yield = self.shared.idle_yield.load(Ordering::Relaxed);
        let mut idle_since: Option<Instant> = None;
        let mut spins = 0u32;
        while !self.exit {
            if self.poll_once() > 0 {
                idle_since = None;
                spins = 0;
                continue;
            }
            // Look at the time only every few empty polls: the clock read
            // costs as much as the poll itself.
            spins = spins.wrapping_add(1);
            if spins % IDLE_CLOCK_CHECK != 1 {
                if idle_yield {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            let now = Instant::now();
            let since = *idle_since.get_or_insert(now);
            idle_yield = self.shared.idle_yield.load(Ordering::Relaxed);
            let busy_window =
                Duration::from_micros(self.shared.busy_poll_us.load(Ordering::Relaxed));
            if now.duration_since(since) < busy_window {
                std::hint::spin_loop();
                continue;
            }
            let pollable_only = self.rxqs.iter().any(|s| s.fds.is_empty());
            let timeout =
                if pollable_only { Duration::from_millis(1) } else { Duration::from_millis(500) };
            self.flush();
            self.stats.sleeps.fetch_add(1, Ordering::Relaxed);
            if let Some(ep) = &self.epoll {
                if let Err(e) = ep.wait(timeout) {
                    tracing::warn!("pmd {}: epoll failed: {e}", self.id);
                    std::thread::sleep(timeout);
                }
            }
            self.arm_all();
            idle_since = None;
        }
    }

    /// The per-packet path for one batch from `in_port` (or recirculated).
    /// Takes every packet of `pkts` (it is left empty).
    pub(crate) fn process(&mut self, in_port: OdpPort, pkts: &mut Vec<Packet>, depth: u32) {
        if pkts.len() > BATCH_SIZE {
            let mut rest = pkts.split_off(BATCH_SIZE);
            self.process(in_port, &mut rest, depth);
        }
        let n = pkts.len();
        if n == 0 {
            return;
        }
        for (p, k) in pkts.iter_mut().zip(self.keys.iter_mut()) {
            if depth == 0 {
                p.md.in_port = in_port;
            }
            extract(p, k);
        }
        let cls_port = self.keys[0].in_port();
        let mut groups = std::mem::take(&mut self.scratch_groups);
        let mut misses: u32 = 0;
        let mut t = Tally::default();
        // Hash every key first: the hashes are independent, so the CPU
        // overlaps them, and the cache lookups that follow can be in flight
        // together.
        let mut hashes = [0u64; BATCH_SIZE];
        for (h, k) in hashes.iter_mut().zip(&self.keys[..n]) {
            *h = k.hash();
        }
        {
            let cls = self.cls.get(&cls_port);
            for (i, (key, &hash)) in self.keys[..n].iter().zip(&hashes).enumerate() {
                if let Some(f) = self.emc.lookup(key, hash) {
                    t.emc_hits += 1;
                    add_to_group(&mut groups, f, i);
                    continue;
                }
                if let Some(c) = cls {
                    let (f, searched) = c.lookup(key);
                    if let Some(f) = f {
                        t.mask_hits += 1;
                        t.subtable_lookups += searched as u64;
                        self.emc.maybe_insert(key, hash, f);
                        add_to_group(&mut groups, f, i);
                        continue;
                    }
                }
                misses |= 1 << i;
            }
        }
        if misses != 0 {
            self.handle_misses(&mut groups, misses, &mut t, pkts);
        }
        self.stats.emc_hits.fetch_add(t.emc_hits, Ordering::Relaxed);
        if t.mask_hits != 0 {
            self.stats.mask_hits.fetch_add(t.mask_hits, Ordering::Relaxed);
            self.stats.subtable_lookups.fetch_add(t.subtable_lookups, Ordering::Relaxed);
        }
        if t.missed != 0 || t.lost != 0 || t.no_install != 0 {
            self.stats.missed.fetch_add(t.missed, Ordering::Relaxed);
            self.stats.lost.fetch_add(t.lost, Ordering::Relaxed);
            self.stats.no_install.fetch_add(t.no_install, Ordering::Relaxed);
        }
        if depth > 0 {
            self.stats.recirculations.fetch_add(n as u64, Ordering::Relaxed);
        }
        self.execute_groups(&mut groups, pkts, depth);
        groups.clear();
        self.scratch_groups = groups;
    }

    fn handle_misses(
        &mut self,
        groups: &mut Vec<Group>,
        misses: u32,
        t: &mut Tally,
        pkts: &[Packet],
    ) {
        // Control-plane flow puts may be waiting; apply them before upcalling.
        while let Ok(m) = self.msgs.try_recv() {
            self.apply(m);
        }
        let handler = self.shared.handler.load_full();
        let mut bits = misses;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let key = self.keys[i];
            // An earlier miss of this batch may have installed the flow.
            if let Some(c) = self.cls.get(&key.in_port()) {
                if let (Some(f), _) = c.lookup(&key) {
                    t.mask_hits += 1;
                    add_to_group(groups, f, i);
                    continue;
                }
            }
            t.missed += 1;
            let Some(h) = handler.as_ref() else {
                t.lost += 1;
                self.shared.count_drop(DropReason::UpcallLost, 1);
                continue;
            };
            let reply = h.0.upcall(&Upcall { packet: &pkts[i], key: &key, pmd_id: self.id });
            match reply {
                Err(e) => {
                    tracing::debug!("pmd {}: {e}", self.id);
                    t.lost += 1;
                    self.shared.count_drop(DropReason::UpcallLost, 1);
                }
                Ok(r) => self.install(groups, i, &key, r, t),
            }
        }
    }

    fn install(
        &mut self,
        groups: &mut Vec<Group>,
        i: usize,
        key: &FlowKey,
        r: UpcallReply,
        t: &mut Tally,
    ) {
        if !r.install {
            groups.push(Group::Once(r.actions, 1 << i));
            return;
        }
        let mask = r.mask.union(&invariant_mask(key));
        match self.shared.install_from_upcall(r.ufid, key, &mask, r.actions.clone(), self.id) {
            Ok((flow, fresh_here)) => {
                if fresh_here {
                    self.cls.entry(key.in_port()).or_default().insert(flow.clone());
                    self.update_subtable_count();
                }
                self.emc.maybe_insert(key, key.hash(), &flow);
                add_to_group(groups, &flow, i);
            }
            Err(_) => {
                t.no_install += 1;
                groups.push(Group::Once(r.actions, 1 << i));
            }
        }
    }

    fn execute_groups(&mut self, groups: &mut Vec<Group>, pkts: &mut Vec<Packet>, depth: u32) {
        let n = pkts.len();
        let all = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        // The common case: one flow for the whole batch, no copies.
        if groups.len() == 1 && groups[0].bits() == all {
            let g = groups.pop().expect("one group");
            self.run_group(g, pkts, all, depth);
            return;
        }
        let mut slots = std::mem::take(&mut self.scratch_slots);
        slots.extend(pkts.drain(..).map(Some));
        for g in groups.drain(..) {
            let bits = g.bits();
            let mut mine = std::mem::take(&mut self.scratch_pkts);
            let mut b = bits;
            while b != 0 {
                let i = b.trailing_zeros() as usize;
                b &= b - 1;
                if let Some(p) = slots[i].take() {
                    mine.push(p);
                }
            }
            self.run_group(g, &mut mine, bits, depth);
            mine.clear();
            self.scratch_pkts = mine;
        }
        // Packets no group took were lost misses; they are already counted.
        slots.clear();
        self.scratch_slots = slots;
    }

    fn run_group(&mut self, g: Group, pkts: &mut Vec<Packet>, bits: u32, depth: u32) {
        let keys = &self.keys;
        let mut gkeys: Vec<FlowKey> = Vec::new();
        let gather = |gkeys: &mut Vec<FlowKey>| {
            let mut b = bits;
            while b != 0 {
                let i = b.trailing_zeros() as usize;
                b &= b - 1;
                gkeys.push(keys[i]);
            }
        };
        match g {
            Group::Flow(flow, _) => {
                let mut flags = 0u16;
                let mut b = bits;
                while b != 0 {
                    let i = b.trailing_zeros() as usize;
                    b &= b - 1;
                    flags |= keys[i].tcp_flags();
                }
                let bytes: usize = pkts.iter().map(Packet::len).sum();
                flow.account(pkts.len() as u64, bytes as u64, flags, self.now_ns);
                let actions = flow.actions.load();
                if Executor::needs_keys(&actions) {
                    gather(&mut gkeys);
                }
                self.execute(&actions, pkts, &mut gkeys, depth);
            }
            Group::Once(actions, _) => {
                if Executor::needs_keys(&actions) {
                    gather(&mut gkeys);
                }
                self.execute(&actions, pkts, &mut gkeys, depth);
            }
        }
    }
}

impl Group {
    #[inline]
    fn bits(&self) -> u32 {
        match self {
            Group::Flow(_, b) | Group::Once(_, b) => *b,
        }
    }
}

/// Adds packet `i` to the group of flow `f`, cloning the `Arc` only for a
/// new group (once per flow per batch, not per packet).
#[inline]
fn add_to_group(groups: &mut Vec<Group>, f: &Arc<Flow>, i: usize) {
    for g in groups.iter_mut() {
        if let Group::Flow(gf, bits) = g {
            if Arc::ptr_eq(gf, f) {
                *bits |= 1 << i;
                return;
            }
        }
    }
    groups.push(Group::Flow(f.clone(), 1 << i));
}
