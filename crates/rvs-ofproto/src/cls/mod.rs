//! The classifier: OpenFlow rules by priority, searched by tuple space
//! search, counterpart of OVS's `lib/classifier.c`.
//!
//! # Structure
//!
//! Rules are grouped into *subtables*, one per distinct mask
//! ([`Wildcards`]). A subtable is a hash table from a masked key to the rules
//! with that key (at most one per priority, highest first). A lookup hashes
//! the flow under each subtable's mask and probes; hashing and comparing
//! touch only the words the mask has bits in.
//!
//! Subtables are ranked by the highest priority they hold. A lookup visits
//! them in that order and stops as soon as the best rule found has a
//! priority at least the next subtable's maximum: that subtable cannot hold
//! a better rule.
//!
//! # What a lookup examined
//!
//! [`Classifier::lookup`] ORs into the caller's [`Wildcards`] every bit its
//! answer depends on, so that translation can install the widest megaflow
//! that is still correct: every flow that agrees with the looked-up flow on
//! those bits gets the same answer. To keep that set small, lookups are
//! *staged* as in OVS: a subtable's words are split into four stages, in
//! this order,
//!
//! | stage | words | fields |
//! |---|---|---|
//! | metadata | 0-9, 26-34 | in_port, recirc_id, marks, tunnel, `metadata`, registers |
//! | L2 | 10-14 | Ethernet, VLAN, MPLS |
//! | L3 | 15-24 | IPv4/IPv6/ARP/ND |
//! | L4 | 25 | ports, TCP flags, ICMP type/code |
//!
//! and each subtable keeps, for every stage, the set of hashes its rules
//! have after that stage. A flow whose hash after stage `s` is not in the
//! set misses the subtable having examined only stages `0..=s`, so only
//! their mask bits are marked. A hit, or a miss on the full hash, marks the
//! whole mask. Subtables skipped by the priority cut-off mark nothing.
//!
//! The sets are probed through small one-hash Bloom filters (8-16 bits per
//! hash) so that a lookup that misses a subtable usually touches one cache
//! line of it. A false positive only sends the lookup on to the next stage:
//! it examines and marks more bits than it strictly had to, but the answer
//! and the megaflow property are unaffected, since whether the lookup stops
//! at a stage still depends only on the bits it has marked so far.
//!
//! Not (yet) done: OVS's prefix tries, which let a miss on, say, a
//! `nw_dst=10.1.2.0/24` subtable unwildcard only the leading bits of the
//! address that tell it apart from every rule's prefix; here such a miss
//! (at the L3 stage) marks the whole /24.
//!
//! # Ties
//!
//! Two rules with the same priority that both match a flow (OpenFlow leaves
//! the choice undefined) resolve deterministically: the one in the subtable
//! ranked first wins, and subtables with the same maximum priority are
//! ranked by creation, oldest first. (Within a subtable two matching rules
//! share one masked key, so they cannot have the same priority.) The answer
//! is therefore a function of the classifier's contents and, as above, of
//! the examined bits only.

mod bench;
mod hash;
mod subtable;
#[cfg(test)]
mod tests;

pub use bench::{bench_flows, bench_rules};

use crate::flow::{Flow, OfMatch, Wildcards};
use hash::WordHash;
use std::collections::HashMap;
use subtable::Subtable;

/// A subtable's place in the lookup order.
#[derive(Clone, Copy, Debug)]
struct Rank {
    /// The subtable's highest rule priority (kept inline so the cut-off
    /// test does not touch the subtable).
    max_priority: u16,
    /// Creation sequence number, the tie-break.
    seq: u64,
    /// Index in `Classifier::subtables`.
    slot: usize,
}

impl Rank {
    /// Sort key: highest priority first, then oldest.
    fn key(&self) -> (std::cmp::Reverse<u16>, u64) {
        (std::cmp::Reverse(self.max_priority), self.seq)
    }
}

/// A set of OpenFlow rules, each a match with a priority and a value, that
/// finds the highest-priority rule matching a flow. See the module docs.
pub struct Classifier<T> {
    /// Subtables by slot; `None` marks a free slot (listed in `free`).
    subtables: Vec<Option<Subtable<T>>>,
    /// Free slots.
    free: Vec<usize>,
    /// Slot of the subtable for each mask.
    by_mask: HashMap<Wildcards, usize, WordHash>,
    /// Non-empty subtables in lookup order.
    order: Vec<Rank>,
    /// Creation sequence number of each slot's subtable.
    seqs: Vec<u64>,
    /// Next creation sequence number.
    next_seq: u64,
    /// Number of rules.
    n_rules: usize,
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Classifier::new()
    }
}

impl<T> std::fmt::Debug for Classifier<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("rules", &self.n_rules)
            .field("subtables", &self.order.len())
            .finish()
    }
}

impl<T> Classifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Classifier {
            subtables: Vec::new(),
            free: Vec::new(),
            by_mask: HashMap::default(),
            order: Vec::new(),
            seqs: Vec::new(),
            next_seq: 0,
            n_rules: 0,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// Number of subtables (distinct masks among the rules).
    pub fn n_subtables(&self) -> usize {
        self.order.len()
    }

    /// The masks of the subtables, in lookup order, with the highest
    /// priority each holds.
    pub fn subtable_masks(&self) -> impl Iterator<Item = (&Wildcards, u16)> {
        self.order
            .iter()
            .filter_map(|r| Some((&self.subtables[r.slot].as_ref()?.layout.mask, r.max_priority)))
    }

    fn subtable(&self, wc: &Wildcards) -> Option<&Subtable<T>> {
        self.subtables[*self.by_mask.get(wc)?].as_ref()
    }

    fn subtable_mut(&mut self, wc: &Wildcards) -> Option<(usize, &mut Subtable<T>)> {
        let slot = *self.by_mask.get(wc)?;
        Some((slot, self.subtables[slot].as_mut()?))
    }

    /// Puts the subtable in `slot` back in its place in `order` after its
    /// maximum priority changed, or frees it when it became empty.
    fn rerank(&mut self, slot: usize) {
        if let Some(i) = self.order.iter().position(|r| r.slot == slot) {
            self.order.remove(i);
        }
        let Some(st) = self.subtables[slot].as_ref() else { return };
        if st.n_rules == 0 {
            self.by_mask.remove(&st.layout.mask);
            self.subtables[slot] = None;
            self.free.push(slot);
            return;
        }
        let rank = Rank { max_priority: st.max_priority(), seq: self.seqs[slot], slot };
        let at = self.order.partition_point(|r| r.key() < rank.key());
        self.order.insert(at, rank);
    }

    fn new_subtable(&mut self, mask: Wildcards) -> usize {
        let st = Subtable::new(mask);
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.subtables[slot] = Some(st);
                self.seqs[slot] = seq;
                slot
            }
            None => {
                self.subtables.push(Some(st));
                self.seqs.push(seq);
                self.subtables.len() - 1
            }
        };
        self.by_mask.insert(mask, slot);
        slot
    }

    /// Inserts a rule; a rule with the same match and priority is replaced
    /// and its value returned (the rule keeps its place in tie-breaks).
    ///
    /// Bits of `m.flow` outside `m.wc` are ignored.
    pub fn insert(&mut self, m: OfMatch, priority: u16, value: T) -> Option<T> {
        let m = OfMatch::new(m.flow, m.wc);
        let (slot, st) = match self.by_mask.get(&m.wc) {
            Some(&slot) => {
                (slot, self.subtables[slot].as_mut().expect("by_mask names a live subtable"))
            }
            None => {
                let slot = self.new_subtable(m.wc);
                (slot, self.subtables[slot].as_mut().expect("just created"))
            }
        };
        let was_new = st.n_rules == 0;
        let old_max = st.max_priority();
        let old = st.insert(m, priority, value);
        if old.is_none() {
            self.n_rules += 1;
            if was_new || st.max_priority() != old_max {
                self.rerank(slot);
            }
        }
        old
    }

    /// Removes the rule with exactly this match and priority.
    pub fn remove(&mut self, m: &OfMatch, priority: u16) -> Option<T> {
        let m = OfMatch::new(m.flow, m.wc);
        let (slot, st) = self.subtable_mut(&m.wc)?;
        let old_max = st.max_priority();
        let value = st.remove(&m, priority)?;
        if st.n_rules == 0 || st.max_priority() != old_max {
            self.rerank(slot);
        }
        self.n_rules -= 1;
        Some(value)
    }

    /// The value of the rule with exactly this match and priority.
    pub fn find_exact(&self, m: &OfMatch, priority: u16) -> Option<&T> {
        let m = OfMatch::new(m.flow, m.wc);
        self.subtable(&m.wc)?.find(&m, priority)
    }

    /// The value of the rule with exactly this match and priority, mutably.
    pub fn find_exact_mut(&mut self, m: &OfMatch, priority: u16) -> Option<&mut T> {
        let m = OfMatch::new(m.flow, m.wc);
        self.subtable_mut(&m.wc)?.1.find_mut(&m, priority)
    }

    /// The highest-priority rule matching `flow`, ORing into `wc` every bit
    /// the lookup examined (so that every flow agreeing with `flow` on the
    /// bits of `wc` gets the same answer). Ties are broken as the module
    /// docs say.
    pub fn lookup(
        &self,
        flow: &Flow,
        mut wc: Option<&mut Wildcards>,
    ) -> Option<(&OfMatch, u16, &T)> {
        // (priority, subtable, node) of the best rule so far; the node is
        // read only at the end.
        let mut best: Option<(u16, &Subtable<T>, u32)> = None;
        let mut key = [0u64; crate::flow::OF_WORDS];
        for rank in &self.order {
            if let Some((p, _, _)) = best {
                if p >= rank.max_priority {
                    break;
                }
            }
            let Some(st) = self.subtables[rank.slot].as_ref() else { continue };
            if let Some((i, p)) = st.lookup(flow, wc.as_deref_mut(), &mut key) {
                if best.is_none_or(|(bp, _, _)| p > bp) {
                    best = Some((p, st, i));
                }
            }
        }
        best.map(|(_, st, i)| st.best(i))
    }

    /// Every rule, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&OfMatch, u16, &T)> {
        self.order.iter().filter_map(|r| self.subtables[r.slot].as_ref()).flat_map(|st| st.iter())
    }

    /// Removes every rule for which `keep` returns false, returning the
    /// removed ones.
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(&OfMatch, u16, &mut T) -> bool,
    ) -> Vec<(OfMatch, u16, T)> {
        let mut removed = Vec::new();
        let slots: Vec<usize> = self.order.iter().map(|r| r.slot).collect();
        for slot in slots {
            let Some(st) = self.subtables[slot].as_mut() else { continue };
            let before = removed.len();
            let old_max = st.max_priority();
            st.retain(&mut keep, &mut removed);
            if removed.len() != before {
                self.n_rules -= removed.len() - before;
                if st.n_rules == 0 || st.max_priority() != old_max {
                    self.rerank(slot);
                }
            }
        }
        removed
    }

    /// True when some rule at exactly `priority` overlaps `m` (some flow
    /// matches both), as OpenFlow's `OFPFF_CHECK_OVERLAP` asks. A rule with
    /// the very same match counts, as in OVS.
    pub fn overlaps(&self, m: &OfMatch, priority: u16) -> bool {
        let m = OfMatch::new(m.flow, m.wc);
        self.order
            .iter()
            .filter(|r| r.max_priority >= priority)
            .filter_map(|r| self.subtables[r.slot].as_ref())
            .filter(|st| st.has_priority(priority))
            .any(|st| st.matches_with(priority).any(|n| n.overlaps(&m)))
    }
}
