//! One subtable: every rule whose mask is one particular [`Wildcards`],
//! hashed by masked key, with the per-stage partial hashes that let a lookup
//! give up early.

use super::hash::{finish, mix, PreHashed, SEED};
use crate::flow::{Flow, OfMatch, Wildcards, OF_WORDS};
use std::collections::{BTreeMap, HashMap};

/// Number of lookup stages: metadata, L2, L3, L4.
pub(super) const N_STAGES: usize = 4;

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

/// Which words a mask touches, in stage order, and where each stage ends.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    /// The mask.
    pub mask: Wildcards,
    /// The non-zero words of `mask`, grouped by stage.
    words: [u8; OF_WORDS],
    /// `words[..stage_end[s]]` are the words of the stages up to `s`.
    stage_end: [u8; N_STAGES],
    /// Number of non-empty stages (at least 1, an empty stage standing for
    /// the catch-all mask).
    n_stages: usize,
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
        Layout { mask, words, stage_end, n_stages }
    }

    /// The words of stages `0..=s`.
    #[inline]
    fn words_through(&self, s: usize) -> &[u8] {
        &self.words[..usize::from(self.stage_end[s])]
    }

    /// The hash after each stage of `flow` under the mask; entry
    /// `n_stages - 1` is the full hash.
    fn hashes(&self, flow: &Flow) -> [u64; N_STAGES] {
        let mut out = [0u64; N_STAGES];
        let mut h = SEED;
        let mut start = 0;
        for (s, slot) in out.iter_mut().enumerate().take(self.n_stages) {
            let end = usize::from(self.stage_end[s]);
            for &w in &self.words[start..end] {
                let w = usize::from(w);
                h = mix(h, flow.w[w] & self.mask.w[w]);
            }
            *slot = finish(h);
            start = end;
        }
        out
    }

    /// True when `flow` under the mask equals `masked` (already masked).
    #[inline]
    fn eq_masked(&self, flow: &Flow, masked: &Flow) -> bool {
        let all = self.words_through(self.n_stages - 1);
        all.iter().all(|&w| {
            let w = usize::from(w);
            flow.w[w] & self.mask.w[w] == masked.w[w]
        })
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

/// The rules that share one masked key.
pub(super) struct Node<T> {
    /// The match they share.
    pub m: OfMatch,
    /// The hash after each stage (see [`Layout::hashes`]).
    hashes: [u64; N_STAGES],
    /// The rules, by priority, highest first; priorities are distinct.
    pub rules: Vec<(u16, T)>,
}

/// Every rule with one mask.
pub(super) struct Subtable<T> {
    pub layout: Layout,
    /// For each stage but the last, the partial hashes of the nodes, with
    /// the number of nodes that have each.
    partial: [HashMap<u64, u32, PreHashed>; N_STAGES - 1],
    /// Nodes by full hash; a vector for the (rare) collisions.
    table: HashMap<u64, Vec<Node<T>>, PreHashed>,
    /// Number of rules at each priority.
    prios: BTreeMap<u16, u32>,
    /// Number of rules.
    pub n_rules: usize,
}

impl<T> Subtable<T> {
    pub fn new(mask: Wildcards) -> Self {
        Subtable {
            layout: Layout::new(mask),
            partial: Default::default(),
            table: HashMap::default(),
            prios: BTreeMap::new(),
            n_rules: 0,
        }
    }

    /// The highest priority of a rule here (0 when empty).
    pub fn max_priority(&self) -> u16 {
        self.prios.last_key_value().map_or(0, |(&p, _)| p)
    }

    /// True when some rule here has priority `p`.
    pub fn has_priority(&self, p: u16) -> bool {
        self.prios.contains_key(&p)
    }

    fn add_prio(&mut self, p: u16) {
        *self.prios.entry(p).or_insert(0) += 1;
        self.n_rules += 1;
    }

    fn del_prio(prios: &mut BTreeMap<u16, u32>, p: u16) {
        if let Some(n) = prios.get_mut(&p) {
            *n -= 1;
            if *n == 0 {
                prios.remove(&p);
            }
        }
    }

    fn add_partials(&mut self, hashes: &[u64; N_STAGES]) {
        for (s, map) in self.partial.iter_mut().enumerate().take(self.layout.n_stages - 1) {
            *map.entry(hashes[s]).or_insert(0) += 1;
        }
    }

    fn del_partials(
        partial: &mut [HashMap<u64, u32, PreHashed>; N_STAGES - 1],
        n_stages: usize,
        h: &[u64; N_STAGES],
    ) {
        for (s, map) in partial.iter_mut().enumerate().take(n_stages - 1) {
            if let Some(n) = map.get_mut(&h[s]) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&h[s]);
                }
            }
        }
    }

    /// Inserts a rule (`m` already masked, with this subtable's mask),
    /// returning the value of the rule it replaces.
    pub fn insert(&mut self, m: OfMatch, priority: u16, value: T) -> Option<T> {
        let layout = &self.layout;
        let hashes = layout.hashes(&m.flow);
        let full = hashes[layout.n_stages - 1];
        let nodes = self.table.entry(full).or_default();
        if let Some(node) = nodes.iter_mut().find(|n| layout.eq_masked(&m.flow, &n.m.flow)) {
            match node.rules.binary_search_by(|r| priority.cmp(&r.0)) {
                Ok(i) => return Some(std::mem::replace(&mut node.rules[i].1, value)),
                Err(i) => node.rules.insert(i, (priority, value)),
            }
        } else {
            nodes.push(Node { m, hashes, rules: vec![(priority, value)] });
            self.add_partials(&hashes);
        }
        self.add_prio(priority);
        None
    }

    fn find_node(&self, m: &OfMatch) -> Option<&Node<T>> {
        let hashes = self.layout.hashes(&m.flow);
        let nodes = self.table.get(&hashes[self.layout.n_stages - 1])?;
        nodes.iter().find(|n| self.layout.eq_masked(&m.flow, &n.m.flow))
    }

    /// The rule with match `m` (masked, this subtable's mask) and `priority`.
    pub fn find(&self, m: &OfMatch, priority: u16) -> Option<&T> {
        let node = self.find_node(m)?;
        let i = node.rules.binary_search_by(|r| priority.cmp(&r.0)).ok()?;
        Some(&node.rules[i].1)
    }

    /// The rule with match `m` and `priority`, mutably.
    pub fn find_mut(&mut self, m: &OfMatch, priority: u16) -> Option<&mut T> {
        let layout = &self.layout;
        let hashes = layout.hashes(&m.flow);
        let nodes = self.table.get_mut(&hashes[layout.n_stages - 1])?;
        let node = nodes.iter_mut().find(|n| layout.eq_masked(&m.flow, &n.m.flow))?;
        let i = node.rules.binary_search_by(|r| priority.cmp(&r.0)).ok()?;
        Some(&mut node.rules[i].1)
    }

    /// Removes the rule with match `m` and `priority`.
    pub fn remove(&mut self, m: &OfMatch, priority: u16) -> Option<T> {
        let layout = &self.layout;
        let hashes = layout.hashes(&m.flow);
        let full = hashes[layout.n_stages - 1];
        let nodes = self.table.get_mut(&full)?;
        let ni = nodes.iter().position(|n| layout.eq_masked(&m.flow, &n.m.flow))?;
        let node = &mut nodes[ni];
        let ri = node.rules.binary_search_by(|r| priority.cmp(&r.0)).ok()?;
        let (_, value) = node.rules.remove(ri);
        if node.rules.is_empty() {
            nodes.swap_remove(ni);
            if nodes.is_empty() {
                self.table.remove(&full);
            }
            Self::del_partials(&mut self.partial, layout.n_stages, &hashes);
        }
        Self::del_prio(&mut self.prios, priority);
        self.n_rules -= 1;
        Some(value)
    }

    /// The node whose key `flow` has under the mask, if any, ORing into `wc`
    /// the mask bits of the stages examined: all of them on a hit or a miss
    /// on the full hash, stages `0..=s` on a miss at stage `s`.
    #[inline]
    pub fn lookup(&self, flow: &Flow, wc: Option<&mut Wildcards>) -> Option<&Node<T>> {
        let l = &self.layout;
        let last = l.n_stages - 1;
        let mut h = SEED;
        let mut start = 0;
        for s in 0..l.n_stages {
            let end = usize::from(l.stage_end[s]);
            for &w in &l.words[start..end] {
                let w = usize::from(w);
                h = mix(h, flow.w[w] & l.mask.w[w]);
            }
            if s < last && !self.partial[s].contains_key(&finish(h)) {
                if let Some(wc) = wc {
                    l.unwildcard_through(s, wc);
                }
                return None;
            }
            start = end;
        }
        if let Some(wc) = wc {
            l.unwildcard_through(last, wc);
        }
        self.table.get(&finish(h))?.iter().find(|n| l.eq_masked(flow, &n.m.flow))
    }

    /// Every rule.
    pub fn iter(&self) -> impl Iterator<Item = (&OfMatch, u16, &T)> {
        self.table.values().flatten().flat_map(|n| n.rules.iter().map(move |(p, t)| (&n.m, *p, t)))
    }

    /// Every node with a rule at priority `p`.
    pub fn nodes_with(&self, p: u16) -> impl Iterator<Item = &Node<T>> {
        self.table
            .values()
            .flatten()
            .filter(move |n| n.rules.binary_search_by(|r| p.cmp(&r.0)).is_ok())
    }

    /// Removes the rules `keep` rejects, appending them to `removed`.
    pub fn retain(
        &mut self,
        keep: &mut impl FnMut(&OfMatch, u16, &mut T) -> bool,
        removed: &mut Vec<(OfMatch, u16, T)>,
    ) {
        let n_stages = self.layout.n_stages;
        let partial = &mut self.partial;
        let prios = &mut self.prios;
        let n_rules = &mut self.n_rules;
        self.table.retain(|_, nodes| {
            nodes.retain_mut(|node| {
                let rules = std::mem::take(&mut node.rules);
                for (p, mut t) in rules {
                    if keep(&node.m, p, &mut t) {
                        node.rules.push((p, t));
                    } else {
                        Self::del_prio(prios, p);
                        *n_rules -= 1;
                        removed.push((node.m, p, t));
                    }
                }
                if node.rules.is_empty() {
                    Self::del_partials(partial, n_stages, &node.hashes);
                    false
                } else {
                    true
                }
            });
            !nodes.is_empty()
        });
    }
}
