//! Deterministic rule sets and flows for benchmarking the classifier (used by
//! `rvs-bench ofproto` and the ignored timing test).

use super::hash::WordHash;
use crate::flow::{eth_type, Flow, Mf, OfMatch, OF_WORDS};
use std::collections::HashSet;

/// splitmix64: small, fast and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `nw_dst` prefix lengths the masks cycle through.
const PREFIXES: [u32; 7] = [24, 16, 32, 8, 20, 28, 12];

/// The `j`th mask shape: `dl_type` and an `nw_dst` prefix always, and by the
/// bits of `j % 32` `in_port`, `nw_proto`+`tp_dst`, an `nw_src` /16, `reg0`
/// and `metadata`; past 224 shapes `reg1` is matched with a mask of `j / 224`.
fn shape(j: usize) -> (u32, u32, u32) {
    let flags = (j % 32) as u32;
    let prefix = PREFIXES[(j + j / 32) % PREFIXES.len()];
    (flags, prefix, (j / 224) as u32)
}

fn prefix_mask(len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        u128::from(u32::MAX << (32 - len))
    }
}

/// A deterministic rule set for benchmarks: `n` distinct rules (match and
/// priority) spread round-robin over `masks` distinct masks (at least one),
/// from `seed`.
///
/// Every rule matches `dl_type=0x0800` and a prefix of `nw_dst` inside
/// 10.0.0.0/8 (lengths 8 to 32); depending on its mask it also matches
/// `in_port` (1-16), `nw_proto=6,tp_dst` (one of 1,024 ports), an `nw_src`
/// /16 inside 172.16.0.0/12, `reg0` (0-255) and `metadata` (0-15).
/// Priorities are uniform in 1-32,767, so the priority cut-off rarely helps:
/// a lookup that matches nothing visits every subtable. A mask with few
/// possible values (say `nw_dst` /8 alone) gets fewer rules when it runs out
/// of distinct (match, priority) pairs.
pub fn bench_rules(n: usize, masks: usize, seed: u64) -> Vec<(OfMatch, u16)> {
    let masks = masks.max(1);
    let mut rng = Rng(seed ^ 0x5bd1_e995_5bd1_e995);
    let mut seen: HashSet<(OfMatch, u16), WordHash> = HashSet::default();
    let mut out = Vec::with_capacity(n);
    let mut attempts = 0usize;
    let mut j = 0usize;
    while out.len() < n && attempts < n.saturating_mul(20).max(100) {
        attempts += 1;
        let (flags, prefix, reg1) = shape(j % masks);
        j += 1;
        let mut m = OfMatch::catchall();
        m.set(Mf::DlType, u128::from(eth_type::IPV4));
        let dst = 0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff);
        m.set_masked(Mf::NwDst, u128::from(dst), prefix_mask(prefix));
        if flags & 1 != 0 {
            m.set(Mf::InPort, 1 + u128::from(rng.below(16)));
        }
        if flags & 2 != 0 {
            m.set(Mf::NwProto, 6);
            m.set(Mf::TpDst, u128::from(rng.below(1024)));
        }
        if flags & 4 != 0 {
            let src = 0xac10_0000 | (rng.next() as u32 & 0x000f_ffff);
            m.set_masked(Mf::NwSrc, u128::from(src), prefix_mask(16));
        }
        if flags & 8 != 0 {
            m.set(Mf::Reg(0), u128::from(rng.below(256)));
        }
        if flags & 16 != 0 {
            m.set(Mf::Metadata, u128::from(rng.below(16)));
        }
        if reg1 != 0 {
            m.set_masked(Mf::Reg(1), u128::from(rng.next() as u32), u128::from(reg1));
        }
        let priority = 1 + rng.below(32767) as u16;
        if seen.insert((m, priority)) {
            out.push((m, priority));
        }
    }
    out
}

/// `n` flows for benchmarking lookups in `rules`: each of the first
/// `hit_percent` percent (roughly) agrees with a random rule on its match and
/// is random elsewhere in the fields [`bench_rules`] uses, the rest are
/// random in those fields (and mostly miss). Deterministic in `seed`.
pub fn bench_flows(rules: &[(OfMatch, u16)], n: usize, hit_percent: u32, seed: u64) -> Vec<Flow> {
    let mut rng = Rng(seed ^ 0x2545_f491_4f6c_dd1d);
    (0..n)
        .map(|_| {
            let mut f = Flow::default();
            f.set(Mf::DlType, u128::from(eth_type::IPV4));
            f.set(Mf::InPort, 1 + u128::from(rng.below(16)));
            f.set(Mf::NwProto, if rng.below(2) == 0 { 6 } else { 17 });
            f.set(Mf::TpDst, u128::from(rng.below(1024)));
            f.set(Mf::TpSrc, u128::from(rng.next() as u16));
            f.set(Mf::NwDst, u128::from(0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff)));
            f.set(Mf::NwSrc, u128::from(0xac10_0000 | (rng.next() as u32 & 0x000f_ffff)));
            f.set(Mf::Reg(0), u128::from(rng.below(256)));
            f.set(Mf::Reg(1), u128::from(rng.next() as u32));
            f.set(Mf::Metadata, u128::from(rng.below(16)));
            if !rules.is_empty() && rng.below(100) < u64::from(hit_percent) {
                let (m, _) = &rules[rng.below(rules.len() as u64) as usize];
                for i in 0..OF_WORDS {
                    f.w[i] = (f.w[i] & !m.wc.w[i]) | m.flow.w[i];
                }
            }
            f
        })
        .collect()
}

/// The masks `bench_rules(_, masks, _)` draws from, for tests.
#[cfg(test)]
pub(super) fn bench_masks(masks: usize) -> usize {
    let set: HashSet<crate::flow::Wildcards, WordHash> =
        bench_rules(masks * 4, masks, 1).into_iter().map(|(m, _)| m.wc).collect();
    set.len()
}
