//! The megaflow classifier of one poll thread: tuple space search, one
//! classifier per input port (the invariants make in_port exact, so flows of
//! different ports never compete), subtables ranked by hits.

use super::flow::{Flow, MaskInfo};
use rvs_packet::flow::WordSet;
use rvs_packet::{FlowKey, Mask};
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// A hasher for keys that are already good hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type IdentityMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// Flows by hash: one flow per hash in the main map, the rare colliding
/// others in an overflow map (so a flow costs one map entry, not a map entry
/// and a vector).
#[derive(Debug, Default)]
pub(crate) struct FlowMap {
    one: IdentityMap<Arc<Flow>>,
    more: IdentityMap<Vec<Arc<Flow>>>,
}

impl FlowMap {
    pub fn insert(&mut self, h: u64, f: Arc<Flow>) {
        match self.one.entry(h) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(f);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more.entry(h).or_default().push(f)
            }
        }
    }

    /// The first flow under hash `h` that satisfies `pred`.
    #[inline]
    pub fn find(&self, h: u64, pred: impl Fn(&Arc<Flow>) -> bool) -> Option<&Arc<Flow>> {
        let f = self.one.get(&h)?;
        if pred(f) {
            return Some(f);
        }
        if self.more.is_empty() {
            return None;
        }
        self.more.get(&h)?.iter().find(|f| pred(f))
    }

    /// Removes `f` (by identity); true if it was here.
    pub fn remove(&mut self, h: u64, f: &Arc<Flow>) -> bool {
        if self.one.get(&h).is_some_and(|g| Arc::ptr_eq(g, f)) {
            self.one.remove(&h);
            if let Some(v) = self.more.get_mut(&h) {
                if let Some(next) = v.pop() {
                    self.one.insert(h, next);
                }
                if v.is_empty() {
                    self.more.remove(&h);
                }
            }
            return true;
        }
        let Some(v) = self.more.get_mut(&h) else {
            return false;
        };
        let Some(j) = v.iter().position(|g| Arc::ptr_eq(g, f)) else {
            return false;
        };
        v.swap_remove(j);
        if v.is_empty() {
            self.more.remove(&h);
        }
        true
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.one.values().chain(self.more.values().flatten())
    }
}

#[derive(Debug)]
struct Subtable {
    mask: Mask,
    words: WordSet,
    flows: FlowMap,
    n_flows: usize,
    /// Hits since the last ranking (a `Cell`: the classifier belongs to one
    /// thread, and lookups take `&self`).
    hits: Cell<u64>,
}

impl Subtable {
    #[inline]
    fn lookup(&self, key: &FlowKey) -> Option<&Arc<Flow>> {
        let h = key.hash_masked(&self.mask, self.words);
        self.flows.find(h, |f| !f.is_dead() && f.matches(key))
    }
}

/// Classifier for one input port.
#[derive(Debug, Default)]
pub(crate) struct Dpcls {
    subtables: Vec<Subtable>,
}

impl Dpcls {
    /// Finds a live flow matching `key`; also returns how many subtables
    /// were searched.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> (Option<&Arc<Flow>>, usize) {
        for (i, st) in self.subtables.iter().enumerate() {
            if let Some(f) = st.lookup(key) {
                st.hits.set(st.hits.get() + 1);
                return (Some(f), i + 1);
            }
        }
        (None, self.subtables.len())
    }

    /// Adds a flow (its mask's subtable is created if needed).
    pub fn insert(&mut self, flow: Arc<Flow>) {
        let MaskInfo { mask, words } = &*flow.mask;
        let st = match self.subtables.iter_mut().position(|s| s.mask == *mask) {
            Some(i) => &mut self.subtables[i],
            None => {
                self.subtables.push(Subtable {
                    mask: *mask,
                    words: *words,
                    flows: FlowMap::default(),
                    n_flows: 0,
                    hits: Cell::new(0),
                });
                self.subtables.last_mut().expect("just pushed")
            }
        };
        st.flows.insert(flow.hash, flow);
        st.n_flows += 1;
    }

    /// Removes a flow (by identity); true if it was here. An emptied
    /// subtable goes away.
    pub fn remove(&mut self, flow: &Arc<Flow>) -> bool {
        let Some(i) = self.subtables.iter().position(|s| s.mask == flow.mask.mask) else {
            return false;
        };
        let st = &mut self.subtables[i];
        let found = st.flows.remove(flow.hash, flow);
        if found {
            st.n_flows -= 1;
            if st.n_flows == 0 {
                self.subtables.remove(i);
            }
        }
        found
    }

    /// Re-ranks subtables by hits since the last ranking (most hit first),
    /// so that lookups of the common flows stop early.
    pub fn rank(&mut self) {
        self.subtables.sort_by_key(|s| std::cmp::Reverse(s.hits.get()));
        for s in &self.subtables {
            s.hits.set(0);
        }
    }

    /// Number of subtables.
    pub fn n_subtables(&self) -> usize {
        self.subtables.len()
    }

    /// Every flow (for tests and for dropping dead flows in bulk).
    pub fn flows(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.subtables.iter().flat_map(|s| s.flows.values())
    }
}

#[cfg(test)]
mod tests {
    use super::super::emc::Emc;
    use super::*;
    use crate::dpif::Ufid;
    use proptest::prelude::*;
    use rvs_packet::flow::Field;
    use std::time::Duration;

    /// Fields the generated flows and keys vary (few values each, so that
    /// random keys often match random flows).
    const FIELDS: [Field; 5] =
        [Field::EthSrc, Field::EthType, Field::NwDst, Field::NwProto, Field::TpDst];

    fn key_from(vals: &[u8; 5]) -> FlowKey {
        let mut k = FlowKey::new();
        for (f, v) in FIELDS.iter().zip(vals) {
            k.set(*f, (*v % 4) as u128);
        }
        k
    }

    fn mask_from(bits: u8) -> Mask {
        let mut m = Mask::zero();
        for (i, f) in FIELDS.iter().enumerate() {
            if bits & (1 << i) != 0 {
                m.set_exact(*f);
            }
        }
        m
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert([u8; 5], u8),
        Delete(usize),
        Modify(usize),
        Lookup([u8; 5]),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<[u8; 5]>(), 0u8..32).prop_map(|(k, m)| Op::Insert(k, m)),
            any::<usize>().prop_map(Op::Delete),
            any::<usize>().prop_map(Op::Modify),
            any::<[u8; 5]>().prop_map(Op::Lookup),
            any::<[u8; 5]>().prop_map(Op::Lookup),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The classifier, with an always-inserting exact-match cache in
        /// front, finds exactly the flows a linear scan finds, and never
        /// returns a deleted flow or stale actions.
        #[test]
        fn classifier_with_emc_agrees_with_linear_scan(ops in proptest::collection::vec(op(), 1..120)) {
            let mut cls = Dpcls::default();
            let mut emc = Emc::new(1);
            let mut live: Vec<Arc<Flow>> = Vec::new();
            let mut version = 0u32;
            for op in ops {
                match op {
                    Op::Insert(k, m) => {
                        let mask = mask_from(m);
                        let key = key_from(&k).masked(&mask);
                        // The datapath refuses duplicates; so does this model.
                        if live.iter().any(|f| f.same_match(&key, &mask)) {
                            continue;
                        }
                        version += 1;
                        let f = Arc::new(Flow::new(
                            Ufid(version as u128),
                            key,
                            Arc::new(MaskInfo::new(mask)),
                            vec![crate::odp::OdpAction::Recirc(version)],
                            Duration::ZERO,
                        ));
                        cls.insert(f.clone());
                        live.push(f);
                    }
                    Op::Delete(i) if !live.is_empty() => {
                        let f = live.remove(i % live.len());
                        f.dead.store(true, std::sync::atomic::Ordering::Relaxed);
                        prop_assert!(cls.remove(&f));
                    }
                    Op::Modify(i) if !live.is_empty() => {
                        version += 1;
                        let f = &live[i % live.len()];
                        f.actions.store(Arc::new(vec![crate::odp::OdpAction::Recirc(version)]));
                    }
                    Op::Lookup(k) => {
                        let key = key_from(&k);
                        let expect: Vec<&Arc<Flow>> =
                            live.iter().filter(|f| f.matches(&key)).collect();
                        let h = key.hash();
                        let got = match emc.lookup(&key, h) {
                            Some(f) => Some(f.clone()),
                            None => {
                                let (f, _) = cls.lookup(&key);
                                let f = f.cloned();
                                if let Some(f) = &f {
                                    emc.maybe_insert(&key, h, f);
                                }
                                f
                            }
                        };
                        match got {
                            None => prop_assert!(expect.is_empty(), "missed {key:?}"),
                            Some(f) => {
                                prop_assert!(expect.iter().any(|e| Arc::ptr_eq(e, &f)), "wrong or dead flow");
                                // Actions read through the flow are the latest ones.
                                let live_f = live.iter().find(|l| Arc::ptr_eq(l, &f)).unwrap();
                                prop_assert_eq!(&**f.actions.load(), &**live_f.actions.load());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn ranking_puts_the_busiest_subtable_first() {
        let mut cls = Dpcls::default();
        let mk = |m: u8, k: [u8; 5], id: u128| {
            let mask = mask_from(m);
            Arc::new(Flow::new(
                Ufid(id),
                key_from(&k).masked(&mask),
                Arc::new(MaskInfo::new(mask)),
                vec![],
                Duration::ZERO,
            ))
        };
        cls.insert(mk(0b00001, [1, 0, 0, 0, 0], 1));
        cls.insert(mk(0b00010, [0, 2, 0, 0, 0], 2));
        let busy = key_from(&[0, 2, 0, 0, 0]);
        assert_eq!(cls.lookup(&busy).1, 2);
        cls.lookup(&busy);
        cls.rank();
        assert_eq!(cls.lookup(&busy).1, 1);
    }
}
