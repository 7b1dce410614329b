//! Megaflows: the datapath's installed flows, shared by the flow index and
//! the poll threads' classifiers.

use crate::dpif::{FlowStats, Ufid};
use crate::odp::OdpAction;
use arc_swap::ArcSwap;
use rvs_packet::flow::{Field, WordSet, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use rvs_packet::{FlowKey, Mask, OdpPort};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A mask with the words it touches, shared by every flow that uses it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MaskInfo {
    pub mask: Mask,
    pub words: WordSet,
}

impl MaskInfo {
    pub fn new(mask: Mask) -> Self {
        MaskInfo { words: mask.word_set(), mask }
    }
}

/// One installed megaflow.
///
/// Poll threads read it without locks: actions through read-copy-update,
/// statistics as relaxed atomics updated once per batch, and `dead` checked
/// on every cache hit so a deleted flow stops matching at once, before every
/// classifier has let go of it.
///
/// The key is kept compressed, as OVS's miniflow is: only the words its mask
/// touches, in order. A typical megaflow uses a handful of the key's words,
/// so this is most of the difference between a flow of ~200 bytes and one of
/// ~400.
#[derive(Debug)]
pub(crate) struct Flow {
    pub ufid: Ufid,
    /// The masked key's words that the mask touches, in word order.
    mini: Box<[u64]>,
    /// Hash of the masked key over the mask's words (what a subtable looks
    /// packets up by).
    pub hash: u64,
    pub in_port: OdpPort,
    pub mask: Arc<MaskInfo>,
    pub actions: ArcSwap<Vec<OdpAction>>,
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Last use on the datapath clock, in ns; 0 = never.
    pub used: AtomicU64,
    /// Install time on the datapath clock, in ns.
    pub created: u64,
    pub tcp_flags: AtomicU64,
    pub dead: AtomicBool,
    /// Bit `i` set when poll thread `i` has the flow in its classifier.
    pub pmds: AtomicU64,
}

impl Flow {
    pub fn new(
        ufid: Ufid,
        key: FlowKey,
        mask: Arc<MaskInfo>,
        actions: Vec<OdpAction>,
        now: Duration,
    ) -> Self {
        let k = key.masked(&mask.mask);
        Flow {
            ufid,
            mini: mask.words.iter().map(|i| k.w[i]).collect(),
            hash: k.hash_masked(&mask.mask, mask.words),
            in_port: k.in_port(),
            mask,
            actions: ArcSwap::from_pointee(actions),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            used: AtomicU64::new(0),
            created: now.as_nanos() as u64,
            tcp_flags: AtomicU64::new(0),
            dead: AtomicBool::new(false),
            pmds: AtomicU64::new(0),
        }
    }

    /// The masked key, expanded.
    pub fn key(&self) -> FlowKey {
        let mut k = FlowKey::new();
        for (i, w) in self.mask.words.iter().zip(self.mini.iter()) {
            k.w[i] = *w;
        }
        k
    }

    /// True when `key` (a packet's, unmasked) falls under this flow.
    #[inline]
    pub fn matches(&self, key: &FlowKey) -> bool {
        let m = &self.mask.mask.w;
        self.mask.words.iter().zip(self.mini.iter()).all(|(i, w)| key.w[i] & m[i] == *w)
    }

    /// True when this flow has exactly this mask and masked key.
    pub fn same_match(&self, masked_key: &FlowKey, mask: &Mask) -> bool {
        self.mask.mask == *mask && self.matches(masked_key)
    }

    #[inline]
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }

    /// Counts a batch of packets that hit the flow.
    #[inline]
    pub fn account(&self, packets: u64, bytes: u64, tcp_flags: u16, now_ns: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if tcp_flags != 0 {
            self.tcp_flags.fetch_or(tcp_flags as u64, Ordering::Relaxed);
        }
        if self.used.load(Ordering::Relaxed) < now_ns {
            self.used.store(now_ns, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> FlowStats {
        let used = self.used.load(Ordering::Relaxed);
        FlowStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            used: (used != 0).then(|| Duration::from_nanos(used)),
            tcp_flags: self.tcp_flags.load(Ordering::Relaxed) as u16,
        }
    }

    pub fn zero_stats(&self) {
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.tcp_flags.store(0, Ordering::Relaxed);
        // As OVS's DPIF_FP_ZERO_STATS: `used` goes back to never (idle
        // time then counts from creation, see `last_active_ns`).
        self.used.store(0, Ordering::Relaxed);
    }

    /// Time of last use, or of install when never used.
    pub fn last_active_ns(&self) -> u64 {
        self.used.load(Ordering::Relaxed).max(self.created)
    }
}

/// The bits every megaflow must match exactly (OVS's invariants): in_port,
/// recirc_id, the presence and VID of each VLAN tag, eth_type and, for IP,
/// the fragment kind. "No tag" is matched with the whole TCI (as OVS's
/// datapath-flow syntax reads a key without a `vlan()`), a tag with its
/// presence bit and VID.
pub fn invariant_mask(key: &FlowKey) -> Mask {
    let mut m = Mask::zero();
    m.set_exact(Field::InPort);
    m.set_exact(Field::RecircId);
    let tag_bits = |tci: u16| {
        if tci & VLAN_CFI != 0 {
            (VLAN_CFI | 0x0fff) as u128
        } else {
            0xffff
        }
    };
    m.set(Field::Vlan0Tci, tag_bits(key.vlan0_tci()));
    if key.vlan0_tci() & VLAN_CFI != 0 {
        m.set(Field::Vlan1Tci, tag_bits(key.vlan1_tci()));
    }
    m.set_exact(Field::EthType);
    if matches!(key.eth_type(), 0x0800 | 0x86dd) {
        m.set(Field::NwFrag, (FRAG_ANY | FRAG_LATER) as u128);
    }
    m
}

/// Checks the megaflow invariants; the error says which bits are missing.
pub(crate) fn check_invariants(key: &FlowKey, mask: &Mask) -> Result<(), String> {
    let need = invariant_mask(key);
    if need.is_subset_of(mask) {
        return Ok(());
    }
    let missing: Vec<&str> = Field::ALL
        .iter()
        .filter(|f| {
            let want = need.get(**f);
            want != 0 && mask.get(**f) & want != want
        })
        .map(|f| f.spec().name)
        .collect();
    Err(format!(
        "the mask must match {} exactly (megaflow invariants: in_port, recirc_id, VLAN presence and VID, eth_type, IP fragment kind)",
        missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariants_name_the_missing_fields() {
        let mut k = FlowKey::new();
        k.set_eth_type(0x0800);
        let mut m = invariant_mask(&k);
        assert!(check_invariants(&k, &m).is_ok());
        m.set(Field::NwFrag, 0);
        m.set(Field::RecircId, 0);
        let e = check_invariants(&k, &m).unwrap_err();
        assert!(e.contains("recirc_id, nw_frag"), "{e}");
    }
}
