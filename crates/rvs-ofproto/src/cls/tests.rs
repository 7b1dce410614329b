use super::bench::bench_masks;
use super::*;
use crate::flow::{eth_type, Mf, OF_WORDS};
use proptest::prelude::*;
use std::collections::HashSet;

fn flow(fields: &[(Mf, u128)]) -> Flow {
    let mut f = Flow::default();
    for &(mf, v) in fields {
        f.set(mf, v);
    }
    f
}

fn rule(fields: &[(Mf, u128)]) -> OfMatch {
    let mut m = OfMatch::catchall();
    for &(mf, v) in fields {
        m.set(mf, v);
    }
    m
}

#[test]
fn insert_find_replace_remove() {
    let mut c = Classifier::new();
    assert!(c.is_empty());
    let a = rule(&[(Mf::InPort, 1)]);
    let b = rule(&[(Mf::InPort, 2)]);
    assert_eq!(c.insert(a, 10, "a"), None);
    assert_eq!(c.insert(b, 10, "b"), None);
    assert_eq!(c.insert(a, 20, "a20"), None);
    assert_eq!((c.len(), c.n_subtables()), (3, 1));
    assert_eq!(c.insert(a, 10, "a2"), Some("a"));
    assert_eq!(c.len(), 3);
    assert_eq!(c.find_exact(&a, 10), Some(&"a2"));
    assert_eq!(c.find_exact(&a, 11), None);
    *c.find_exact_mut(&b, 10).unwrap() = "b2";
    assert_eq!(c.find_exact(&b, 10), Some(&"b2"));
    let got = c.lookup(&flow(&[(Mf::InPort, 1)]), None).map(|(m, p, v)| (*m, p, *v));
    assert_eq!(got, Some((a, 20, "a20")));
    assert_eq!(c.remove(&a, 20), Some("a20"));
    assert_eq!(c.remove(&a, 20), None);
    assert_eq!(c.lookup(&flow(&[(Mf::InPort, 1)]), None).map(|r| r.1), Some(10));
    assert_eq!(c.remove(&a, 10), Some("a2"));
    assert_eq!(c.remove(&b, 10), Some("b2"));
    assert!(c.is_empty());
    assert_eq!(c.n_subtables(), 0);
    assert!(c.lookup(&flow(&[(Mf::InPort, 1)]), None).is_none());
}

#[test]
fn bits_outside_the_mask_are_ignored_on_insert_and_remove() {
    let mut c = Classifier::new();
    let mut m = rule(&[(Mf::InPort, 1)]);
    m.flow.set(Mf::TpDst, 80); // not in the mask
    c.insert(m, 5, ());
    let clean = rule(&[(Mf::InPort, 1)]);
    assert!(c.find_exact(&clean, 5).is_some());
    assert_eq!(c.lookup(&flow(&[(Mf::InPort, 1)]), None).map(|r| *r.0), Some(clean));
    assert_eq!(c.remove(&m, 5), Some(()));
}

#[test]
fn highest_priority_wins_across_subtables() {
    let mut c = Classifier::new();
    c.insert(rule(&[(Mf::InPort, 1)]), 10, "port");
    c.insert(rule(&[(Mf::InPort, 1), (Mf::DlType, 0x0800)]), 5, "port+ip");
    c.insert(rule(&[(Mf::DlType, 0x0800)]), 20, "ip");
    c.insert(OfMatch::catchall(), 0, "any");
    let f = flow(&[(Mf::InPort, 1), (Mf::DlType, 0x0800)]);
    assert_eq!(c.lookup(&f, None).map(|r| *r.2), Some("ip"));
    let f = flow(&[(Mf::InPort, 1), (Mf::DlType, 0x0806)]);
    assert_eq!(c.lookup(&f, None).map(|r| *r.2), Some("port"));
    let f = flow(&[(Mf::InPort, 2), (Mf::DlType, 0x0806)]);
    assert_eq!(c.lookup(&f, None).map(|r| *r.2), Some("any"));
}

#[test]
fn the_priority_cut_off_leaves_lower_subtables_unexamined() {
    let mut c = Classifier::new();
    c.insert(rule(&[(Mf::InPort, 1)]), 100, "high");
    c.insert(rule(&[(Mf::NwProto, 6), (Mf::TpDst, 80)]), 10, "low");
    let mut wc = Wildcards::none();
    let f = flow(&[(Mf::InPort, 1), (Mf::NwProto, 6), (Mf::TpDst, 80)]);
    assert_eq!(c.lookup(&f, Some(&mut wc)).map(|r| *r.2), Some("high"));
    let mut want = Wildcards::none();
    want.unwildcard(Mf::InPort);
    assert_eq!(wc, want);
    // A miss in the first subtable goes on to the second, and marks both.
    let mut wc = Wildcards::none();
    let f = flow(&[(Mf::InPort, 2), (Mf::NwProto, 6), (Mf::TpDst, 80)]);
    assert_eq!(c.lookup(&f, Some(&mut wc)).map(|r| *r.2), Some("low"));
    want.unwildcard(Mf::NwProto);
    want.unwildcard(Mf::TpDst);
    assert_eq!(wc, want);
}

#[test]
fn a_miss_at_an_early_stage_marks_only_the_stages_examined() {
    let mut c = Classifier::new();
    let m =
        rule(&[(Mf::InPort, 1), (Mf::DlType, 0x0800), (Mf::NwDst, 0x0a00_0001), (Mf::TpDst, 80)]);
    c.insert(m, 1, ());
    let mut f =
        flow(&[(Mf::InPort, 2), (Mf::DlType, 0x0800), (Mf::NwDst, 0x0a00_0001), (Mf::TpDst, 80)]);

    let mut wc = Wildcards::none();
    assert!(c.lookup(&f, Some(&mut wc)).is_none());
    let mut want = Wildcards::none();
    want.unwildcard(Mf::InPort);
    assert_eq!(wc, want, "metadata stage miss");

    f.set(Mf::InPort, 1);
    f.set(Mf::DlType, 0x86dd);
    let mut wc = Wildcards::none();
    assert!(c.lookup(&f, Some(&mut wc)).is_none());
    want.unwildcard(Mf::DlType);
    assert_eq!(wc, want, "L2 stage miss");

    f.set(Mf::DlType, 0x0800);
    f.set(Mf::NwDst, 0x0a00_0002);
    let mut wc = Wildcards::none();
    assert!(c.lookup(&f, Some(&mut wc)).is_none());
    want.unwildcard(Mf::NwDst);
    assert_eq!(wc, want, "L3 stage miss");

    f.set(Mf::NwDst, 0x0a00_0001);
    f.set(Mf::TpDst, 81);
    let mut wc = Wildcards::none();
    assert!(c.lookup(&f, Some(&mut wc)).is_none());
    assert_eq!(wc, m.wc, "full miss");

    f.set(Mf::TpDst, 80);
    let mut wc = Wildcards::none();
    assert!(c.lookup(&f, Some(&mut wc)).is_some());
    assert_eq!(wc, m.wc, "hit");
}

#[test]
fn a_catch_all_rule_examines_nothing() {
    let mut c = Classifier::new();
    c.insert(OfMatch::catchall(), 7, ());
    let mut wc = Wildcards::none();
    assert_eq!(c.lookup(&flow(&[(Mf::InPort, 9)]), Some(&mut wc)).map(|r| r.1), Some(7));
    assert!(wc.is_catchall());
}

#[test]
fn ties_go_to_the_oldest_subtable() {
    let mut c = Classifier::new();
    let by_port = rule(&[(Mf::InPort, 1)]);
    let by_type = rule(&[(Mf::DlType, 0x0800)]);
    c.insert(by_port, 5, "port");
    c.insert(by_type, 5, "type");
    let f = flow(&[(Mf::InPort, 1), (Mf::DlType, 0x0800)]);
    let mut wc = Wildcards::none();
    assert_eq!(c.lookup(&f, Some(&mut wc)).map(|r| *r.2), Some("port"));
    assert_eq!(wc, by_port.wc, "the tie is settled without looking at dl_type");
    // Emptying and refilling the port subtable makes it the younger one.
    c.remove(&by_port, 5);
    c.insert(by_port, 5, "port");
    assert_eq!(c.lookup(&f, None).map(|r| *r.2), Some("type"));
}

#[test]
fn subtables_follow_their_max_priority() {
    let mut c = Classifier::new();
    let a = rule(&[(Mf::InPort, 1)]);
    let b = rule(&[(Mf::DlType, 0x0800)]);
    c.insert(a, 1, "a");
    c.insert(b, 2, "b");
    let f = flow(&[(Mf::InPort, 1), (Mf::DlType, 0x0800)]);
    assert_eq!(c.lookup(&f, None).map(|r| *r.2), Some("b"));
    c.insert(a, 3, "a3");
    assert_eq!(c.lookup(&f, None).map(|r| *r.2), Some("a3"));
    let prios: Vec<u16> = c.subtable_masks().map(|(_, p)| p).collect();
    assert_eq!(prios, vec![3, 2]);
    c.remove(&a, 3);
    let prios: Vec<u16> = c.subtable_masks().map(|(_, p)| p).collect();
    assert_eq!(prios, vec![2, 1]);
}

#[test]
fn retain_removes_and_reports() {
    let mut c = Classifier::new();
    for port in 0..10u16 {
        c.insert(rule(&[(Mf::InPort, u128::from(port))]), port, port);
        c.insert(rule(&[(Mf::DlType, u128::from(port))]), 100 + port, 100 + port);
    }
    let mut removed = c.retain(|_, _, v| *v % 2 == 0 && *v < 100);
    removed.sort_by_key(|r| r.2);
    assert_eq!(removed.len(), 15);
    assert_eq!(removed[0].2, 1);
    assert_eq!(c.len(), 5);
    assert_eq!(c.n_subtables(), 1);
    assert_eq!(c.iter().count(), 5);
    assert_eq!(c.lookup(&flow(&[(Mf::InPort, 8)]), None).map(|r| *r.2), Some(8));
    assert!(c.lookup(&flow(&[(Mf::InPort, 7)]), None).is_none());
    // Values can be changed in place.
    c.retain(|_, _, v| {
        *v += 1000;
        true
    });
    assert_eq!(c.lookup(&flow(&[(Mf::InPort, 8)]), None).map(|r| *r.2), Some(1008));
}

#[test]
fn overlaps_checks_only_the_given_priority() {
    let mut c = Classifier::new();
    let mut net = rule(&[(Mf::DlType, 0x0800)]);
    net.set_masked(Mf::NwDst, 0x0a00_0000, 0xff00_0000);
    c.insert(net, 10, ());
    let host = rule(&[(Mf::DlType, 0x0800), (Mf::NwDst, 0x0a01_0203)]);
    let other = rule(&[(Mf::DlType, 0x0800), (Mf::NwDst, 0x0b01_0203)]);
    assert!(c.overlaps(&host, 10));
    assert!(!c.overlaps(&host, 11));
    assert!(!c.overlaps(&other, 10));
    assert!(c.overlaps(&net, 10), "an identical rule overlaps");
    assert!(c.overlaps(&OfMatch::catchall(), 10));
}

#[test]
fn bench_rules_are_deterministic_and_distinct() {
    let a = bench_rules(2000, 20, 7);
    let b = bench_rules(2000, 20, 7);
    assert_eq!(a.len(), 2000);
    assert!(a == b);
    let set: HashSet<(OfMatch, u16)> = a.iter().copied().collect();
    assert_eq!(set.len(), a.len());
    assert_eq!(bench_masks(20), 20);
    assert_eq!(bench_masks(300), 300);
    let mut c = Classifier::new();
    for (m, p) in &a {
        assert!(c.insert(*m, *p, ()).is_none());
    }
    assert_eq!(c.n_subtables(), 20);
    let flows = bench_flows(&a, 200, 90, 1);
    let hits = flows.iter().filter(|f| c.lookup(f, None).is_some()).count();
    assert!(hits >= 150, "{hits} hits");
}

/// Nanoseconds this thread has spent on a CPU (Linux), so that timings on a
/// shared machine are not inflated by waiting for a core.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Release-mode timing (not a pass/fail test):
/// `cargo test --release -p rvs-ofproto -- --ignored --nocapture cls_timing`
#[test]
#[ignore]
fn cls_timing() {
    use std::time::Instant;
    for &(n, masks) in &[(100_000usize, 20usize), (100_000, 100), (10_000, 20)] {
        let rules = bench_rules(n, masks, 42);
        let t = Instant::now();
        let mut c = Classifier::new();
        for (i, (m, p)) in rules.iter().enumerate() {
            c.insert(*m, *p, i);
        }
        let insert = t.elapsed();
        for hit in [90u32, 0] {
            let flows = bench_flows(&rules, 1 << 16, hit, 9);
            let rounds = 16;
            let t = Instant::now();
            let cpu0 = thread_cpu_ns();
            let mut found = 0usize;
            let mut bits = 0u64;
            for _ in 0..rounds {
                for f in &flows {
                    let mut wc = Wildcards::none();
                    if c.lookup(f, Some(&mut wc)).is_some() {
                        found += 1;
                    }
                    bits = bits.wrapping_add(wc.w[15]);
                }
            }
            let el = t.elapsed();
            let cpu = thread_cpu_ns().zip(cpu0).map_or(0, |(b, a)| b - a);
            let lookups = rounds * flows.len();
            println!(
                "{{\"rules\":{},\"masks\":{},\"subtables\":{},\"insert_s\":{:.3},\"hit_pct\":{},\"found\":{},\"lookups_per_s\":{:.0},\"ns_per_lookup\":{:.1},\"cpu_ns_per_lookup\":{:.1},\"x\":{}}}",
                c.len(),
                masks,
                c.n_subtables(),
                insert.as_secs_f64(),
                hit,
                found,
                lookups as f64 / el.as_secs_f64(),
                el.as_nanos() as f64 / lookups as f64,
                cpu as f64 / lookups as f64,
                bits % 2,
            );
        }
        let t = Instant::now();
        for (m, p) in &rules {
            c.remove(m, *p);
        }
        println!("{{\"remove_all_s\":{:.3}}}", t.elapsed().as_secs_f64());
        assert!(c.is_empty());
    }
}

// ---- property tests against a linear scan ----

/// A rule over a handful of fields, each present or not.
#[derive(Clone, Debug)]
struct RuleSpec {
    in_port: Option<u16>,
    dl_type: Option<u16>,
    nw_dst: Option<(u32, u32)>,
    reg0: Option<(u32, u32)>,
    tp_dst: Option<u16>,
    priority: u16,
}

impl RuleSpec {
    fn to_match(&self) -> OfMatch {
        let mut m = OfMatch::catchall();
        if let Some(p) = self.in_port {
            m.set(Mf::InPort, u128::from(p));
        }
        if let Some(t) = self.dl_type {
            m.set(Mf::DlType, u128::from(t));
        }
        if let Some((v, len)) = self.nw_dst {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            m.set_masked(Mf::NwDst, u128::from(v), u128::from(mask));
        }
        if let Some((v, mask)) = self.reg0 {
            m.set_masked(Mf::Reg(0), u128::from(v), u128::from(mask));
        }
        if let Some(t) = self.tp_dst {
            m.set(Mf::TpDst, u128::from(t));
        }
        m
    }
}

const ADDRS: [u32; 6] =
    [0x0a00_0001, 0x0a00_0002, 0x0a00_0101, 0x0a01_0001, 0x0b00_0001, 0x8a00_0001];

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        prop::option::of(1u16..4),
        prop::option::of(prop::sample::select(vec![eth_type::IPV4, eth_type::IPV6])),
        prop::option::of((prop::sample::select(ADDRS.to_vec()), 0u32..=32)),
        prop::option::of((0u32..8, 0u32..8)),
        prop::option::of(0u16..3),
        0u16..12,
    )
        .prop_map(|(in_port, dl_type, nw_dst, reg0, tp_dst, priority)| RuleSpec {
            in_port,
            dl_type,
            nw_dst,
            reg0,
            tp_dst,
            priority,
        })
}

/// Flows drawn from the same small pools (so that they often match), with
/// noise in a few other fields.
fn flow_strategy() -> impl Strategy<Value = Flow> {
    (
        0u16..5,
        prop::sample::select(vec![eth_type::IPV4, eth_type::IPV6, eth_type::ARP]),
        prop::sample::select(ADDRS.to_vec()),
        any::<u32>(),
        0u32..8,
        0u16..4,
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(port, dl_type, addr, noise, reg0, tp_dst, meta, flip)| {
            let mut f = Flow::default();
            f.set(Mf::InPort, u128::from(port));
            f.set(Mf::DlType, u128::from(dl_type));
            // Sometimes flip low-order address bits, to cross prefixes.
            let addr = if flip { addr ^ (noise & 0xffff) } else { addr };
            f.set(Mf::NwDst, u128::from(addr));
            f.set(Mf::NwSrc, u128::from(noise));
            f.set(Mf::Reg(0), u128::from(reg0));
            f.set(Mf::TpDst, u128::from(tp_dst));
            f.set(Mf::Metadata, u128::from(meta));
            f
        })
}

/// The oracle: a list with the classifier's replace semantics.
#[derive(Default)]
struct Linear(Vec<(OfMatch, u16, usize)>);

impl Linear {
    fn insert(&mut self, m: OfMatch, p: u16, v: usize) -> Option<usize> {
        match self.0.iter_mut().find(|r| r.0 == m && r.1 == p) {
            Some(r) => Some(std::mem::replace(&mut r.2, v)),
            None => {
                self.0.push((m, p, v));
                None
            }
        }
    }

    fn remove(&mut self, m: &OfMatch, p: u16) -> Option<usize> {
        let i = self.0.iter().position(|r| r.0 == *m && r.1 == p)?;
        Some(self.0.remove(i).2)
    }

    fn best_priority(&self, f: &Flow) -> Option<u16> {
        self.0.iter().filter(|r| r.0.matches(f)).map(|r| r.1).max()
    }
}

/// Checks one lookup against the oracle and the megaflow property for the
/// given noise flows.
fn check_lookup(
    c: &Classifier<usize>,
    oracle: &Linear,
    f: &Flow,
    noise: &[Flow],
) -> Result<(), TestCaseError> {
    let mut wc = Wildcards::none();
    let got = c.lookup(f, Some(&mut wc)).map(|(m, p, v)| (*m, p, *v));
    let want = oracle.best_priority(f);
    prop_assert_eq!(got.map(|g| g.1), want, "priority for {:?}", f);
    if let Some((m, p, v)) = got {
        prop_assert!(m.matches(f));
        prop_assert!(oracle.0.contains(&(m, p, v)), "returned rule is not in the oracle");
    }
    // Without wc tracking the answer is the same.
    prop_assert_eq!(c.lookup(f, None).map(|(m, p, _)| (*m, p)), got.map(|g| (g.0, g.1)));
    for n in noise {
        let mut f2 = *f;
        for i in 0..OF_WORDS {
            f2.w[i] = (f.w[i] & wc.w[i]) | (n.w[i] & !wc.w[i]);
        }
        let got2 = c.lookup(&f2, None).map(|(m, p, _)| (*m, p));
        prop_assert_eq!(
            got2,
            got.map(|g| (g.0, g.1)),
            "megaflow property: {:?} vs {:?} under {:?}",
            f,
            f2,
            wc
        );
    }
    Ok(())
}

fn random_words() -> impl Strategy<Value = Flow> {
    prop::collection::vec(any::<u64>(), OF_WORDS).prop_map(|v| {
        let mut f = Flow::default();
        f.w.copy_from_slice(&v);
        f
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lookup_agrees_with_a_linear_scan_and_its_megaflow_holds(
        rules in prop::collection::vec(rule_spec(), 0..40),
        flows in prop::collection::vec(flow_strategy(), 1..24),
        noise in prop::collection::vec(flow_strategy(), 4),
        wild in prop::collection::vec(random_words(), 2),
        weak_hash in any::<bool>(),
    ) {
        super::subtable::WEAK_HASH.with(|w| w.set(weak_hash));
        let mut c = Classifier::new();
        let mut oracle = Linear::default();
        for (i, r) in rules.iter().enumerate() {
            let m = r.to_match();
            prop_assert_eq!(c.insert(m, r.priority, i), oracle.insert(m, r.priority, i));
        }
        prop_assert_eq!(c.len(), oracle.0.len());
        let noise: Vec<Flow> = noise.into_iter().chain(wild).collect();
        for f in &flows {
            check_lookup(&c, &oracle, f, &noise)?;
        }
        // Flows built from the rules themselves hit them.
        for r in &oracle.0 {
            let mut f = flows[0];
            for i in 0..OF_WORDS {
                f.w[i] = (f.w[i] & !r.0.wc.w[i]) | r.0.flow.w[i];
            }
            check_lookup(&c, &oracle, &f, &noise)?;
        }
    }

    #[test]
    fn edits_keep_the_classifier_consistent(
        pool in prop::collection::vec(rule_spec(), 1..16),
        ops in prop::collection::vec((0u8..10, any::<prop::sample::Index>()), 1..80),
        flows in prop::collection::vec(flow_strategy(), 8),
        weak_hash in any::<bool>(),
    ) {
        // With a weak hash every subtable has long collision chains.
        super::subtable::WEAK_HASH.with(|w| w.set(weak_hash));
        let mut c = Classifier::new();
        let mut oracle = Linear::default();
        for (step, (op, idx)) in ops.iter().enumerate() {
            let r = &pool[idx.index(pool.len())];
            let m = r.to_match();
            match op {
                0..=5 => prop_assert_eq!(c.insert(m, r.priority, step), oracle.insert(m, r.priority, step)),
                6..=8 => prop_assert_eq!(c.remove(&m, r.priority), oracle.remove(&m, r.priority)),
                _ => {
                    // Drop every rule whose value has the step's parity.
                    let par = step % 2;
                    let mut removed: Vec<usize> = c.retain(|_, _, v| *v % 2 != par).into_iter().map(|r| r.2).collect();
                    let mut want: Vec<usize> = oracle.0.iter().map(|r| r.2).filter(|v| v % 2 == par).collect();
                    oracle.0.retain(|r| r.2 % 2 != par);
                    removed.sort_unstable();
                    want.sort_unstable();
                    prop_assert_eq!(removed, want);
                }
            }
            prop_assert_eq!(c.len(), oracle.0.len());
            prop_assert_eq!(c.find_exact(&m, r.priority).copied(), oracle.0.iter().find(|o| o.0 == m && o.1 == r.priority).map(|o| o.2));
            let masks: HashSet<Wildcards> = oracle.0.iter().map(|r| r.0.wc).collect();
            prop_assert_eq!(c.n_subtables(), masks.len());
            for f in &flows {
                check_lookup(&c, &oracle, f, &flows[..2])?;
            }
            // overlaps agrees with a scan at this rule's priority.
            let want = oracle.0.iter().any(|o| o.1 == r.priority && o.0.overlaps(&m));
            prop_assert_eq!(c.overlaps(&m, r.priority), want);
        }
        let mut all: Vec<(OfMatch, u16, usize)> = c.iter().map(|(m, p, v)| (*m, p, *v)).collect();
        let mut want = oracle.0.clone();
        let key = |r: &(OfMatch, u16, usize)| r.2;
        all.sort_by_key(key);
        want.sort_by_key(key);
        super::subtable::WEAK_HASH.with(|w| w.set(false));
        prop_assert_eq!(all, want);
    }
}
