//! Action execution over batches, and the per-port output queues that are
//! flushed at the end of each poll iteration, or held a little longer when
//! software GRO may merge what they hold with packets still to come.

use super::pmd::{PmdCounters, PollThread, MAX_RECIRC_DEPTH};
use super::ports::PortTable;
use super::Shared;
use crate::odp::{exec, DropReason, OdpAction};
use rvs_packet::{gro, FlowKey, OdpPort, Packet};
use std::sync::atomic::Ordering;

/// Most packets an output queue holds for GRO before it is sent anyway (as
/// many UDP datagrams as one super-frame takes).
pub(crate) const HOLD_MAX: usize = 64;

/// Packets queued for one output port.
struct OutQueue {
    port: OdpPort,
    pkts: Vec<Packet>,
    /// When the oldest packet was queued (poll thread clock, ns).
    since_ns: u64,
    /// The queue may be held: traffic was flowing when it was started and
    /// every packet in it so far (up to `checked`) may grow a super-frame.
    hold: bool,
    checked: usize,
}

/// Packets queued for output, per port, until the end of the iteration (or,
/// when held for GRO, until more arrive or their time is up).
#[derive(Default)]
pub(crate) struct Executor {
    out: Vec<OutQueue>,
    /// Something is queued.
    queued: bool,
    /// The poll thread's clock when packets are being queued, and whether
    /// input was flowing then (see [`PollThread::poll_once`]).
    pub now_ns: u64,
    pub flowing: bool,
}

impl Executor {
    /// True when executing `actions` reads packets' flow keys.
    pub fn needs_keys(actions: &[OdpAction]) -> bool {
        actions.iter().any(|a| match a {
            OdpAction::Set(_)
            | OdpAction::SetMasked { .. }
            | OdpAction::Hash { .. }
            | OdpAction::Userspace(_) => true,
            OdpAction::Clone(inner) => Self::needs_keys(inner),
            OdpAction::CheckPktLen { gt, le, .. } => Self::needs_keys(gt) || Self::needs_keys(le),
            _ => false,
        })
    }

    /// Queues every packet of `pkts` for `port`, leaving `pkts` empty. An
    /// empty queue swaps buffers with `pkts` instead of copying.
    #[inline]
    fn queue(&mut self, port: OdpPort, pkts: &mut Vec<Packet>) {
        self.queued = true;
        let i = match self.out.iter().position(|q| q.port == port) {
            Some(i) => i,
            None => {
                self.out.push(OutQueue {
                    port,
                    pkts: Vec::new(),
                    since_ns: 0,
                    hold: false,
                    checked: 0,
                });
                self.out.len() - 1
            }
        };
        let q = &mut self.out[i];
        if q.pkts.is_empty() {
            std::mem::swap(&mut q.pkts, pkts);
            q.since_ns = self.now_ns;
            q.hold = self.flowing;
            q.checked = 0;
        } else {
            q.pkts.append(pkts);
        }
    }

    /// True when packets wait to be flushed.
    #[inline]
    pub fn has_output(&self) -> bool {
        self.queued
    }

    /// Sends what is queued. With `hold_ns` > 0, a queue whose packets GRO
    /// may still grow ([`gro::may_grow`]) waits for more, while input is
    /// flowing, until it holds [`HOLD_MAX`] packets or its oldest has waited
    /// `hold_ns` (`now_ns` is the current time). With `hold_ns` 0 everything
    /// goes. A port that no longer exists drops its packets under
    /// [`DropReason::InvalidPort`].
    pub fn flush(
        &mut self,
        ports: &PortTable,
        thread_id: usize,
        shared: &Shared,
        stats: &PmdCounters,
        now_ns: u64,
        hold_ns: u64,
    ) {
        let gro = shared.gro.load(Ordering::Relaxed);
        let mut held = false;
        for q in self.out.iter_mut() {
            if q.pkts.is_empty() {
                continue;
            }
            let port = ports.get(q.port);
            if let Some(p) = port.filter(|_| gro && hold_ns > 0 && q.hold) {
                if q.pkts.len() < HOLD_MAX
                    && now_ns.saturating_sub(q.since_ns) < hold_ns
                    && q.pkts[q.checked..].iter().all(|pkt| gro::may_grow(pkt, p.offloads()))
                {
                    q.checked = q.pkts.len();
                    held = true;
                    continue;
                }
            }
            stats.output_batches.fetch_add(1, Ordering::Relaxed);
            stats.output_packets.fetch_add(q.pkts.len() as u64, Ordering::Relaxed);
            match port {
                Some(p) => {
                    let r = p.send(thread_id, &mut q.pkts, gro, now_ns);
                    stats.gro_merged.fetch_add(r.merged, Ordering::Relaxed);
                    shared.count_drop(DropReason::Segmentation, r.failed);
                }
                None => {
                    shared.count_drop(DropReason::InvalidPort, q.pkts.len() as u64);
                    q.pkts.clear();
                }
            }
        }
        self.queued = held;
    }

    /// Forgets a deleted port's queue, dropping what it held.
    pub fn forget_port(&mut self, port: OdpPort, shared: &Shared) {
        self.out.retain(|q| {
            if q.port == port && !q.pkts.is_empty() {
                shared.count_drop(DropReason::InvalidPort, q.pkts.len() as u64);
            }
            q.port != port
        });
    }
}

impl PollThread {
    /// Runs `actions` over `pkts`, which it empties; `keys` are the packets'
    /// flow keys when [`Executor::needs_keys`] says they are needed (else
    /// empty).
    pub(crate) fn execute(
        &mut self,
        actions: &[OdpAction],
        pkts: &mut Vec<Packet>,
        keys: &mut Vec<FlowKey>,
        depth: u32,
    ) {
        let mut cutlen: Option<u32> = None;
        let n_actions = actions.len();
        for (ai, a) in actions.iter().enumerate() {
            if pkts.is_empty() {
                return;
            }
            let last = ai + 1 == n_actions;
            match a {
                OdpAction::Output(port) => {
                    let cut = cutlen.take();
                    if last {
                        if let Some(len) = cut {
                            pkts.iter_mut().for_each(|p| p.truncate(len as usize));
                        }
                        self.exec.queue(*port, pkts);
                        return;
                    }
                    let mut out = pkts.clone();
                    if let Some(len) = cut {
                        out.iter_mut().for_each(|p| p.truncate(len as usize));
                    }
                    self.exec.queue(*port, &mut out);
                }
                OdpAction::Userspace(u) => {
                    if let Some(h) = self.shared.handler.load_full() {
                        for (i, p) in pkts.iter().enumerate() {
                            let k = keys.get(i).copied().unwrap_or_default();
                            h.0.action_upcall(p, &k, u);
                        }
                    }
                }
                OdpAction::Set(f) => self.edit(pkts, keys, |p, k| exec::set_field(p, k, f, None)),
                OdpAction::SetMasked { value, mask } => {
                    self.edit(pkts, keys, |p, k| exec::set_field(p, k, value, Some(mask)))
                }
                OdpAction::PushVlan { tpid, tci } => {
                    pkts.iter_mut().for_each(|p| exec::push_vlan(p, *tpid, *tci));
                }
                OdpAction::PopVlan => pkts.iter_mut().for_each(exec::pop_vlan),
                OdpAction::Hash { alg, basis } => {
                    for (p, k) in pkts.iter_mut().zip(keys.iter()) {
                        p.md.dp_hash = exec::hash(k, *alg, *basis);
                    }
                }
                OdpAction::Recirc(id) => {
                    let mut batch = if last { std::mem::take(pkts) } else { pkts.clone() };
                    if depth + 1 > MAX_RECIRC_DEPTH {
                        self.shared.count_drop(DropReason::RecircDepth, batch.len() as u64);
                    } else {
                        for p in &mut batch {
                            p.md.recirc_id = *id;
                        }
                        let in_port = batch[0].md.in_port;
                        self.process(in_port, &mut batch, depth + 1);
                    }
                    if last {
                        return;
                    }
                }
                OdpAction::Clone(inner) => {
                    self.execute(inner, &mut pkts.clone(), &mut keys.clone(), depth);
                }
                OdpAction::Trunc(len) => cutlen = Some(*len),
                OdpAction::CheckPktLen { pkt_len, gt, le } => {
                    let src = if last { std::mem::take(pkts) } else { pkts.clone() };
                    let (mut big, mut small) = (Vec::new(), Vec::new());
                    let (mut kbig, mut ksmall) = (Vec::new(), Vec::new());
                    for (i, p) in src.into_iter().enumerate() {
                        let k = keys.get(i).copied();
                        if p.len() > *pkt_len as usize {
                            big.push(p);
                            kbig.extend(k);
                        } else {
                            small.push(p);
                            ksmall.extend(k);
                        }
                    }
                    if !big.is_empty() {
                        self.execute(gt, &mut big, &mut kbig, depth);
                    }
                    if !small.is_empty() {
                        self.execute(le, &mut small, &mut ksmall, depth);
                    }
                    if last {
                        return;
                    }
                }
                OdpAction::Drop(reason) => {
                    self.shared.count_drop(*reason, pkts.len() as u64);
                    pkts.clear();
                    return;
                }
                #[allow(unreachable_patterns)]
                other => {
                    tracing::debug!("pmd {}: action {other:?} is not supported here", self.id);
                    self.shared.count_drop(DropReason::Malformed, pkts.len() as u64);
                    pkts.clear();
                    return;
                }
            }
        }
        // Packets the actions did not consume are dropped (a flow with no
        // actions is OVS's "drop"); ending with a userspace action consumes.
        if !pkts.is_empty() && !matches!(actions.last(), Some(OdpAction::Userspace(_))) {
            self.shared.count_drop(DropReason::Action, pkts.len() as u64);
        }
        pkts.clear();
    }

    /// Applies a per-packet edit; a packet the edit refuses is dropped under
    /// the reason it gives.
    fn edit(
        &mut self,
        pkts: &mut Vec<Packet>,
        keys: &mut Vec<FlowKey>,
        mut f: impl FnMut(&mut Packet, &FlowKey) -> Result<(), DropReason>,
    ) {
        let mut i = 0;
        while i < pkts.len() {
            let k = keys.get(i).copied().unwrap_or_default();
            match f(&mut pkts[i], &k) {
                Ok(()) => i += 1,
                Err(reason) => {
                    self.shared.count_drop(reason, 1);
                    pkts.remove(i);
                    if i < keys.len() {
                        keys.remove(i);
                    }
                }
            }
        }
    }
}
