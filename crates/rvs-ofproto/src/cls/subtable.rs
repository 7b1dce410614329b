//! One subtable: every rule whose mask is one particular [`Wildcards`],
//! hashed by masked key, with per-stage filters of partial hashes that let a
//! lookup give up early.
//!
//! Memory layout, chosen for the lookup's cache misses rather than for
//! insertion: a lookup that misses touches only the (small, dense) stage
//! filters; one that hits touches the filter, one hash-table bucket and one
//! packed slot holding the node's masked key words and its best priority.
//! The node itself (its [`OfMatch`] and rules) is read only for the rule the
//! whole lookup ends up returning.

use super::hash::{finish, mix, PreHashed, SEED};
use crate::flow::{Flow, OfMatch, Wildcards, OF_WORDS};
use std::collections::{BTreeMap, HashMap};

/// Number of lookup stages: metadata, L2, L3, L4.
pub(super) const N_STAGES: usize = 4;

/// End of a node chain.
const NIL: u32 = u32::MAX;

/// The stage of each word: metadata (tunnel, in_port, marks, `metadata`,
/// registers) first since it is the most selective in OpenFlow pipelines,
/// then L2, L3 and L4, as OVS's `flow_segment_u64s`.
pub(super) const fn stage_of(word: usize) -> usize {
    match word {
        10..=14 => 1,
        15..=24 => 2,
        25 => 3,
        _ => 0,
    }
}

#[cfg(test)]
thread_local! {
    /// When set, stage hashes keep only their low two bits, so that tests
    /// can exercise hash collisions (chains, shared filter bits).
    pub(super) static WEAK_HASH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The hash after a stage, from the running hash.
#[inline(always)]
fn stage_hash(h: u64) -> u64 {
    let h = finish(h);
    #[cfg(test)]
    if WEAK_HASH.with(|w| w.get()) {
        return h & 3;
    }
    h
}

/// Which words a mask touches, in stage order, and where each stage ends.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    /// The mask.
    pub mask: Wildcards,
    /// The non-zero words of `mask`, grouped by stage.
    words: [u8; OF_WORDS],
    /// Number of entries in `words`.
    n_words: usize,
    /// `words[..stage_end[s]]` are the words of the stages up to `s`.
    stage_end: [u8; N_STAGES],
    /// Number of non-empty stages (at least 1, an empty stage standing for
    /// the catch-all mask).
    n_stages: usize,
}

/// A flow's key under a subtable's mask: the hash after each stage (entry
/// `n_stages - 1` is the full hash) and the masked words, in layout order.
struct Probe {
    hashes: [u64; N_STAGES],
    key: [u64; OF_WORDS],
}

impl Layout {
    fn new(mask: Wildcards) -> Layout {
        let mut words = [0u8; OF_WORDS];
        let mut stage_end = [0u8; N_STAGES];
        let mut n = 0usize;
        let mut n_stages = 0usize;
        for stage in 0..N_STAGES {
            let before = n;
            for (w, &m) in mask.w.iter().enumerate() {
                if m != 0 && stage_of(w) == stage {
                    words[n] = w as u8;
                    n += 1;
                }
            }
            if n > before {
                stage_end[n_stages] = n as u8;
                n_stages += 1;
            }
        }
        if n_stages == 0 {
            n_stages = 1;
        }
        Layout { mask, words, n_words: n, stage_end, n_stages }
    }

    /// The words of stages `0..=s`.
    #[inline]
    fn words_through(&self, s: usize) -> &[u8] {
        &self.words[..usize::from(self.stage_end[s])]
    }

    fn probe(&self, flow: &Flow) -> Probe {
        let mut p = Probe { hashes: [0; N_STAGES], key: [0; OF_WORDS] };
        let mut h = SEED;
        let mut start = 0;
        for s in 0..self.n_stages {
            let end = usize::from(self.stage_end[s]);
            for i in start..end {
                let w = usize::from(self.words[i]);
                let v = flow.w[w] & self.mask.w[w];
                p.key[i] = v;
                h = mix(h, v);
            }
            p.hashes[s] = stage_hash(h);
            start = end;
        }
        p
    }

    /// Marks the mask bits of stages `0..=s` as examined.
    #[inline]
    fn unwildcard_through(&self, s: usize, wc: &mut Wildcards) {
        for &w in self.words_through(s) {
            let w = usize::from(w);
            wc.w[w] |= self.mask.w[w];
        }
    }
}

/// The set of hashes one stage of a subtable's nodes have, as an exact
/// count (for maintenance) and a one-hash Bloom filter (for lookups).
///
/// A false positive only makes a lookup go on to the next stage, examining
/// (and marking) more bits than strictly needed; it can never change an
/// answer. Removed hashes leave their bit set until the next rebuild, which
/// happens when such stale bits outnumber the live hashes.
#[derive(Default)]
struct Filter {
    /// Number of nodes with each hash.
    exact: HashMap<u64, u32, PreHashed>,
    /// The bitmap, `bits.len() * 64` a power of two (or empty).
    bits: Vec<u64>,
    /// `bits.len() * 64 - 1`.
    index_mask: usize,
    /// Hashes removed since the last rebuild.
    stale: usize,
}

/// Filter bits per live hash at least (8-16 after rounding up to a power
/// of two; a filter is rebuilt larger when it falls below): a false-positive
/// rate of 6-12% for a bitmap small enough to stay in cache.
const FILTER_BITS_PER_HASH: usize = 8;

impl Filter {
    #[inline]
    fn contains(&self, h: u64) -> bool {
        let i = (h as usize) & self.index_mask;
        match self.bits.get(i >> 6) {
            Some(word) => (word >> (i & 63)) & 1 != 0,
            None => false,
        }
    }

    #[inline]
    fn set_bit(&mut self, h: u64) {
        let i = (h as usize) & self.index_mask;
        self.bits[i >> 6] |= 1 << (i & 63);
    }

    fn add(&mut self, h: u64) {
        let n = self.exact.entry(h).or_insert(0);
        *n += 1;
        if *n == 1 {
            if self.exact.len() * FILTER_BITS_PER_HASH > self.bits.len() * 64 {
                self.rebuild();
            } else {
                self.set_bit(h);
            }
        }
    }

    fn del(&mut self, h: u64) {
        if let Some(n) = self.exact.get_mut(&h) {
            *n -= 1;
            if *n == 0 {
                self.exact.remove(&h);
                self.stale += 1;
                if self.stale > self.exact.len() + 64 {
                    self.rebuild();
                }
            }
        }
    }

    fn rebuild(&mut self) {
        let n_bits = (self.exact.len() * FILTER_BITS_PER_HASH).next_power_of_two().max(64);
        self.bits.clear();
        self.bits.resize(n_bits / 64, 0);
        self.index_mask = n_bits - 1;
        self.stale = 0;
        let hashes: Vec<u64> = self.exact.keys().copied().collect();
        for h in hashes {
            self.set_bit(h);
        }
    }
}

/// The rules that share one masked key.
pub(super) struct Node<T> {
    /// The match they share.
    pub m: OfMatch,
    /// The hash after each stage.
    hashes: [u64; N_STAGES],
    /// The rules, by priority, highest first; priorities are distinct.
    pub rules: Vec<(u16, T)>,
}

/// Every rule with one mask.
pub(super) struct Subtable<T> {
    pub layout: Layout,
    /// For each stage, the hashes of the nodes after that stage (the last
    /// one's are the full hashes).
    filters: [Filter; N_STAGES],
    /// First node of the chain of nodes with each full hash.
    table: HashMap<u64, u32, PreHashed>,
    /// The nodes, in no order (removal moves the last into the hole).
    nodes: Vec<Node<T>>,
    /// Per node, `1 + n_words` words: `next | top << 32` (the next node in
    /// its chain and its highest priority), then its masked key words.
    slots: Vec<u64>,
    /// Number of rules at each priority.
    prios: BTreeMap<u16, u32>,
    /// Number of rules.
    pub n_rules: usize,
}

impl<T> Subtable<T> {
    pub fn new(mask: Wildcards) -> Self {
        Subtable {
            layout: Layout::new(mask),
            filters: Default::default(),
            table: HashMap::default(),
            nodes: Vec::new(),
            slots: Vec::new(),
            prios: BTreeMap::new(),
            n_rules: 0,
        }
    }

    #[inline]
    fn stride(&self) -> usize {
        self.layout.n_words + 1
    }

    #[inline]
    fn next(&self, i: u32) -> u32 {
        self.slots[i as usize * self.stride()] as u32
    }

    fn set_next(&mut self, i: u32, next: u32) {
        let at = i as usize * self.stride();
        self.slots[at] = (self.slots[at] & !0xffff_ffff) | u64::from(next);
    }

    fn set_top(&mut self, i: u32) {
        let top = self.nodes[i as usize].rules[0].0;
        let at = i as usize * self.stride();
        self.slots[at] = (self.slots[at] & 0xffff_ffff) | (u64::from(top) << 32);
    }

    /// The node in the chain of `full` whose key is `key`.
    #[inline]
    fn find_in_chain(&self, full: u64, key: &[u64]) -> Option<u32> {
        let stride = self.stride();
        let mut i = *self.table.get(&full)?;
        while i != NIL {
            let at = i as usize * stride;
            let slot = &self.slots[at..at + stride];
            // A plain loop: these keys are a few words, too short for memcmp.
            if slot[1..].iter().zip(key).all(|(a, b)| a == b) {
                return Some(i);
            }
            i = slot[0] as u32;
        }
        None
    }

    fn find_index(&self, m: &OfMatch) -> Option<(u32, Probe)> {
        let p = self.layout.probe(&m.flow);
        let i =
            self.find_in_chain(p.hashes[self.layout.n_stages - 1], &p.key[..self.layout.n_words])?;
        Some((i, p))
    }

    /// The highest priority of a rule here (0 when empty).
    pub fn max_priority(&self) -> u16 {
        self.prios.last_key_value().map_or(0, |(&p, _)| p)
    }

    /// True when some rule here has priority `p`.
    pub fn has_priority(&self, p: u16) -> bool {
        self.prios.contains_key(&p)
    }

    fn del_prio(prios: &mut BTreeMap<u16, u32>, p: u16) {
        if let Some(n) = prios.get_mut(&p) {
            *n -= 1;
            if *n == 0 {
                prios.remove(&p);
            }
        }
    }

    /// Inserts a rule (`m` already masked, with this subtable's mask),
    /// returning the value of the rule it replaces.
    pub fn insert(&mut self, m: OfMatch, priority: u16, value: T) -> Option<T> {
        let p = self.layout.probe(&m.flow);
        let n_words = self.layout.n_words;
        let full = p.hashes[self.layout.n_stages - 1];
        if let Some(i) = self.find_in_chain(full, &p.key[..n_words]) {
            let node = &mut self.nodes[i as usize];
            match node.rules.binary_search_by(|r| priority.cmp(&r.0)) {
                Ok(r) => return Some(std::mem::replace(&mut node.rules[r].1, value)),
                Err(r) => node.rules.insert(r, (priority, value)),
            }
            self.set_top(i);
        } else {
            let i =
                u32::try_from(self.nodes.len()).expect("fewer than 2^32 - 1 nodes in a subtable");
            let next = self.table.insert(full, i).unwrap_or(NIL);
            self.slots.push(u64::from(next) | (u64::from(priority) << 32));
            self.slots.extend_from_slice(&p.key[..n_words]);
            self.nodes.push(Node { m, hashes: p.hashes, rules: vec![(priority, value)] });
            for s in 0..self.layout.n_stages {
                self.filters[s].add(p.hashes[s]);
            }
        }
        *self.prios.entry(priority).or_insert(0) += 1;
        self.n_rules += 1;
        None
    }

    /// The rule with match `m` (masked, this subtable's mask) and `priority`.
    pub fn find(&self, m: &OfMatch, priority: u16) -> Option<&T> {
        let (i, _) = self.find_index(m)?;
        let node = &self.nodes[i as usize];
        let r = node.rules.binary_search_by(|r| priority.cmp(&r.0)).ok()?;
        Some(&node.rules[r].1)
    }

    /// The rule with match `m` and `priority`, mutably.
    pub fn find_mut(&mut self, m: &OfMatch, priority: u16) -> Option<&mut T> {
        let (i, _) = self.find_index(m)?;
        let node = &mut self.nodes[i as usize];
        let r = node.rules.binary_search_by(|r| priority.cmp(&r.0)).ok()?;
        Some(&mut node.rules[r].1)
    }

    /// Removes the rule with match `m` and `priority`.
    pub fn remove(&mut self, m: &OfMatch, priority: u16) -> Option<T> {
        let (i, _) = self.find_index(m)?;
        let node = &mut self.nodes[i as usize];
        let r = node.rules.binary_search_by(|r| priority.cmp(&r.0)).ok()?;
        let (_, value) = node.rules.remove(r);
        if node.rules.is_empty() {
            self.remove_node(i);
        } else {
            self.set_top(i);
        }
        Self::del_prio(&mut self.prios, priority);
        self.n_rules -= 1;
        Some(value)
    }

    /// Points whatever refers to node `from` (its chain's head or its
    /// predecessor) at `to` instead.
    fn relink(&mut self, from: u32, to: u32) {
        let full = self.nodes[from as usize].hashes[self.layout.n_stages - 1];
        let Some(head) = self.table.get_mut(&full) else { return };
        if *head == from {
            if to == NIL {
                self.table.remove(&full);
            } else {
                *head = to;
            }
            return;
        }
        let mut j = *head;
        while j != NIL {
            let next = self.next(j);
            if next == from {
                self.set_next(j, to);
                return;
            }
            j = next;
        }
    }

    /// Removes node `i` (its rules already gone), moving the last node into
    /// its place.
    fn remove_node(&mut self, i: u32) {
        let next = self.next(i);
        self.relink(i, next);
        let hashes = self.nodes[i as usize].hashes;
        for (filter, &h) in self.filters.iter_mut().zip(&hashes).take(self.layout.n_stages) {
            filter.del(h);
        }
        let last = (self.nodes.len() - 1) as u32;
        if i != last {
            self.relink(last, i);
            let stride = self.stride();
            let (dst, src) = (i as usize * stride, last as usize * stride);
            self.slots.copy_within(src..src + stride, dst);
        }
        self.nodes.swap_remove(i as usize);
        self.slots.truncate(self.nodes.len() * self.stride());
    }

    /// Looks `flow` up: the index and best priority of the node whose key
    /// `flow` has under the mask, if any. ORs into `wc` the mask bits of the
    /// stages examined: all of them on a hit or a miss on the full hash,
    /// stages `0..=s` on a miss at stage `s`.
    #[inline]
    ///
    /// `key` is scratch space for the masked key.
    pub fn lookup(
        &self,
        flow: &Flow,
        wc: Option<&mut Wildcards>,
        key: &mut [u64; OF_WORDS],
    ) -> Option<(u32, u16)> {
        let l = &self.layout;
        let mut h = SEED;
        let mut start = 0;
        for s in 0..l.n_stages {
            let end = usize::from(l.stage_end[s]);
            for (k, &w) in key[start..end].iter_mut().zip(&l.words[start..end]) {
                let w = usize::from(w);
                let v = flow.w[w] & l.mask.w[w];
                *k = v;
                h = mix(h, v);
            }
            if !self.filters[s].contains(stage_hash(h)) {
                if let Some(wc) = wc {
                    l.unwildcard_through(s, wc);
                }
                return None;
            }
            start = end;
        }
        if let Some(wc) = wc {
            l.unwildcard_through(l.n_stages - 1, wc);
        }
        let i = self.find_in_chain(stage_hash(h), &key[..l.n_words])?;
        Some((i, (self.slots[i as usize * self.stride()] >> 32) as u16))
    }

    /// Node `i`'s match and best rule.
    #[inline]
    pub fn best(&self, i: u32) -> (&OfMatch, u16, &T) {
        let node = &self.nodes[i as usize];
        (&node.m, node.rules[0].0, &node.rules[0].1)
    }

    /// Every rule.
    pub fn iter(&self) -> impl Iterator<Item = (&OfMatch, u16, &T)> {
        self.nodes.iter().flat_map(|n| n.rules.iter().map(move |(p, t)| (&n.m, *p, t)))
    }

    /// Every node with a rule at priority `p`.
    pub fn matches_with(&self, p: u16) -> impl Iterator<Item = &OfMatch> {
        self.nodes
            .iter()
            .filter(move |n| n.rules.binary_search_by(|r| p.cmp(&r.0)).is_ok())
            .map(|n| &n.m)
    }

    /// Removes the rules `keep` rejects, appending them to `removed`.
    pub fn retain(
        &mut self,
        keep: &mut impl FnMut(&OfMatch, u16, &mut T) -> bool,
        removed: &mut Vec<(OfMatch, u16, T)>,
    ) {
        // Backwards, so that the node moved into a hole is one already seen.
        for i in (0..self.nodes.len()).rev() {
            let node = &mut self.nodes[i];
            let rules = std::mem::take(&mut node.rules);
            let before = removed.len();
            for (p, mut t) in rules {
                if keep(&node.m, p, &mut t) {
                    node.rules.push((p, t));
                } else {
                    removed.push((node.m, p, t));
                }
            }
            for (_, p, _) in &removed[before..] {
                Self::del_prio(&mut self.prios, *p);
            }
            self.n_rules -= removed.len() - before;
            if self.nodes[i].rules.is_empty() {
                self.remove_node(i as u32);
            } else if removed.len() != before {
                self.set_top(i as u32);
            }
        }
    }
}
