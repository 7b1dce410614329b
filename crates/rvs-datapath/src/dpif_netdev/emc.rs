//! The exact-match cache of one poll thread: a small two-way hash table from
//! a packet's whole key to its megaflow, checked before the classifier.
//!
//! Entries are inserted with probability 1/`insert_inv_prob` (OVS's
//! `emc-insert-inv-prob`, default 100) so that a flood of short flows does not
//! thrash it; 0 turns insertion off. A hit on a flow that has been deleted
//! (its `dead` flag set) is a miss, so the cache never returns a stale flow
//! even before the entry is overwritten.

use super::flow::Flow;
use rvs_packet::FlowKey;
use std::sync::Arc;

/// Entries in the cache (a power of two).
pub(crate) const EMC_ENTRIES: usize = 8192;

#[derive(Debug)]
struct Entry {
    hash: u64,
    key: FlowKey,
    flow: Option<Arc<Flow>>,
}

/// The exact-match cache.
#[derive(Debug)]
pub(crate) struct Emc {
    entries: Box<[Entry]>,
    insert_inv_prob: u32,
    rng: u32,
}

impl Emc {
    pub fn new(insert_inv_prob: u32) -> Self {
        let entries = (0..EMC_ENTRIES)
            .map(|_| Entry { hash: 0, key: FlowKey::new(), flow: None })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Emc { entries, insert_inv_prob, rng: 0x9e37_79b9 }
    }

    pub fn set_insert_inv_prob(&mut self, p: u32) {
        self.insert_inv_prob = p;
    }

    #[inline]
    fn slots(hash: u64) -> [usize; 2] {
        let m = EMC_ENTRIES - 1;
        [hash as usize & m, (hash >> 32) as usize & m]
    }

    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<&Arc<Flow>> {
        for i in Self::slots(hash) {
            let e = &self.entries[i];
            if e.hash == hash {
                if let Some(f) = &e.flow {
                    if !f.is_dead() && e.key == *key {
                        return Some(f);
                    }
                }
            }
        }
        None
    }

    /// Maybe inserts (see the module docs).
    #[inline]
    pub fn maybe_insert(&mut self, key: &FlowKey, hash: u64, flow: &Arc<Flow>) {
        match self.insert_inv_prob {
            0 => return,
            1 => {}
            p => {
                // xorshift32: cheap, and good enough to spread insertions.
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                self.rng = x;
                if !x.is_multiple_of(p) {
                    return;
                }
            }
        }
        let [a, b] = Self::slots(hash);
        let victim = if self.entries[a].flow.as_ref().is_none_or(|f| f.is_dead()) {
            a
        } else if self.entries[b].flow.as_ref().is_none_or(|f| f.is_dead()) {
            b
        } else if hash & (1 << 20) == 0 {
            a
        } else {
            b
        };
        let e = &mut self.entries[victim];
        e.hash = hash;
        e.key = *key;
        e.flow = Some(flow.clone());
    }

    /// Drops every entry that points at a dead flow, releasing it.
    pub fn sweep_dead(&mut self) {
        for e in self.entries.iter_mut() {
            if e.flow.as_ref().is_some_and(|f| f.is_dead()) {
                e.flow = None;
                e.hash = 0;
            }
        }
    }
}
