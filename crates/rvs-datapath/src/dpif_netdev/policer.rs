//! Policing: token buckets that drop what a port receives beyond a byte
//! rate, a packet rate, or both (ingress policing, OVS's `Interface`
//! columns `ingress_policing_rate`, `_burst`, `_kpkts_rate` and
//! `_kpkts_burst`), or what it sends beyond a byte rate (OVS's
//! `egress-policer` QoS type, `other_config:cir` and `cbs`).
//!
//! Each bucket starts full, refills at its rate up to its burst, and a
//! packet passes when every configured bucket holds its cost, which it then
//! takes; otherwise the packet is dropped and takes nothing. The byte cost
//! is the packet's size from the network header on (as OVS's userspace and
//! tc policers count it); the packet cost is one per packet. A GSO
//! super-frame costs what its segments will cost on the wire, and one that
//! costs more than a bucket can ever hold is segmented and policed segment
//! by segment, so a small burst slows a TCP flow instead of stopping it.
//!
//! Tokens are counted in units of 10⁻⁹ (a bit or a packet times the
//! nanoseconds of a second), so refilling over any interval is exact
//! integer arithmetic.

use rvs_packet::{gso, GsoType, Packet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Burst in kilobits when `ingress_policing_burst` is 0 (as in OVS).
pub const DEFAULT_KBITS_BURST: u32 = 8000;
/// Burst in kilopackets when `ingress_policing_kpkts_burst` is 0 (as in
/// OVS).
pub const DEFAULT_KPKTS_BURST: u32 = 16;

const NANO: u128 = 1_000_000_000;
const ETH_HEADER_LEN: usize = 14;

/// A port's ingress policing settings, in OVS's units. A rate of 0 turns
/// that limit off; a burst of 0 means the default burst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IngressPolicing {
    /// Kilobits (1,000 bits) a second.
    pub kbits_rate: u32,
    /// Kilobits.
    pub kbits_burst: u32,
    /// Kilopackets (1,000 packets) a second.
    pub kpkts_rate: u32,
    /// Kilopackets.
    pub kpkts_burst: u32,
}

impl IngressPolicing {
    /// No policing.
    pub const OFF: IngressPolicing =
        IngressPolicing { kbits_rate: 0, kbits_burst: 0, kpkts_rate: 0, kpkts_burst: 0 };

    /// Whether any limit is set.
    pub fn is_on(&self) -> bool {
        self.kbits_rate > 0 || self.kpkts_rate > 0
    }
}

/// A port's egress policer (OVS's `egress-policer` QoS type): one token
/// bucket in bytes of IP packets (past the Ethernet header), as OVS
/// counts them. A rate of 0 turns it off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EgressPolicer {
    /// Committed information rate, bytes a second (`other_config:cir`).
    pub cir: u64,
    /// Committed burst size, bytes (`other_config:cbs`).
    pub cbs: u64,
}

/// A bucket's rate (units a second) and burst (units).
type Rate = Option<(u64, u64)>;

/// Settings a [`PortPolicer`] takes: what buckets they make.
pub(crate) trait Limits: Copy + PartialEq + Default {
    /// The bits bucket and the packets bucket, each `None` when not
    /// limited.
    fn buckets(&self) -> (Rate, Rate);
}

impl Limits for IngressPolicing {
    fn buckets(&self) -> (Rate, Rate) {
        let burst = |b: u32, default: u32| u64::from(if b == 0 { default } else { b }) * 1000;
        let bits = (self.kbits_rate > 0).then(|| {
            (u64::from(self.kbits_rate) * 1000, burst(self.kbits_burst, DEFAULT_KBITS_BURST))
        });
        let pkts = (self.kpkts_rate > 0).then(|| {
            (u64::from(self.kpkts_rate) * 1000, burst(self.kpkts_burst, DEFAULT_KPKTS_BURST))
        });
        (bits, pkts)
    }
}

impl Limits for EgressPolicer {
    fn buckets(&self) -> (Rate, Rate) {
        let bits = (self.cir > 0).then(|| (self.cir.saturating_mul(8), self.cbs.saturating_mul(8)));
        (bits, None)
    }
}

/// One token bucket; tokens and costs are in units of 10⁻⁹.
#[derive(Clone, Debug)]
struct Bucket {
    /// Refill per nanosecond (units per second divided by 10⁹, times 10⁹).
    rate: u128,
    capacity: u128,
    tokens: u128,
}

impl Bucket {
    /// A full bucket refilled at `per_s` a second up to `burst`.
    fn new(per_s: u64, burst: u64) -> Self {
        let capacity = u128::from(burst) * NANO;
        Bucket { rate: u128::from(per_s), capacity, tokens: capacity }
    }

    fn refill(&mut self, elapsed_ns: u64) {
        let add = self.rate.saturating_mul(u128::from(elapsed_ns));
        self.tokens = self.tokens.saturating_add(add).min(self.capacity);
    }
}

/// The buckets of one port.
#[derive(Clone, Debug)]
pub(crate) struct Policer {
    /// Bits.
    bits: Option<Bucket>,
    /// Packets.
    pkts: Option<Bucket>,
    last_ns: u64,
}

impl Policer {
    /// Buckets for `cfg`, full at `now_ns`; `None` when `cfg` sets no rate.
    pub(crate) fn new(cfg: &impl Limits, now_ns: u64) -> Option<Self> {
        let (bits, pkts) = cfg.buckets();
        if bits.is_none() && pkts.is_none() {
            return None;
        }
        let bucket = |(rate, burst)| Bucket::new(rate, burst);
        Some(Policer { bits: bits.map(bucket), pkts: pkts.map(bucket), last_ns: now_ns })
    }

    /// Refills for the time since the last call.
    fn refill(&mut self, now_ns: u64) {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        for b in [&mut self.bits, &mut self.pkts].into_iter().flatten() {
            b.refill(elapsed);
        }
    }

    /// What a packet costs in each bucket (units of 10⁻⁹).
    fn cost(p: &Packet) -> (u128, u128) {
        let (segs, l3_bytes) = wire_size(p);
        (l3_bytes as u128 * 8 * NANO, segs as u128 * NANO)
    }

    /// Whether no bucket could ever hold `cost`.
    fn too_big(&self, (bits, pkts): (u128, u128)) -> bool {
        self.bits.as_ref().is_some_and(|b| bits > b.capacity)
            || self.pkts.as_ref().is_some_and(|b| pkts > b.capacity)
    }

    /// Takes `cost` if every bucket holds it.
    fn admit(&mut self, (bits, pkts): (u128, u128)) -> bool {
        let fits = |b: &Option<Bucket>, c: u128| b.as_ref().is_none_or(|b| b.tokens >= c);
        if !fits(&self.bits, bits) || !fits(&self.pkts, pkts) {
            return false;
        }
        if let Some(b) = &mut self.bits {
            b.tokens -= bits;
        }
        if let Some(b) = &mut self.pkts {
            b.tokens -= pkts;
        }
        true
    }

    /// Keeps the packets of `pkts` the buckets admit at `now_ns`, in order,
    /// and returns how many packets were dropped (a segmented super-frame's
    /// dropped segments count one each).
    pub(crate) fn run(&mut self, pkts: &mut Vec<Packet>, now_ns: u64) -> u64 {
        self.refill(now_ns);
        let mut dropped = 0u64;
        // A super-frame bigger than a bucket could never pass whole: its
        // segments take its place, and are policed one by one.
        let too_big = |p: &Packet| p.md.gso_type != GsoType::None && self.too_big(Self::cost(p));
        if pkts.iter().any(too_big) {
            let mut out = Vec::with_capacity(pkts.len());
            for p in pkts.drain(..) {
                if !too_big(&p) {
                    out.push(p);
                } else if gso::segment(p, &mut out).is_err() {
                    dropped += 1;
                }
            }
            *pkts = out;
        }
        pkts.retain(|p| {
            let ok = self.admit(Self::cost(p));
            dropped += u64::from(!ok);
            ok
        });
        dropped
    }
}

/// The segments a packet becomes on the wire and their bytes from the
/// network header on. A packet that is not a super-frame is one segment.
fn wire_size(p: &Packet) -> (usize, usize) {
    let l3 = p.len().saturating_sub(ETH_HEADER_LEN);
    if p.md.gso_type == GsoType::None || p.md.gso_size == 0 {
        return (1, l3);
    }
    match gso::headers_len(p) {
        Some(hdr) => {
            let payload = p.len().saturating_sub(hdr);
            let segs = payload.div_ceil(usize::from(p.md.gso_size)).max(1);
            (segs, l3 + (segs - 1) * hdr.saturating_sub(ETH_HEADER_LEN))
        }
        None => (1, l3),
    }
}

/// A port's policer (ingress or egress) as the control plane and the
/// poll threads share it.
#[derive(Debug, Default)]
pub(crate) struct PortPolicer<C> {
    /// Whether a policer is set (read on every batch without the lock).
    on: AtomicBool,
    state: Mutex<Option<(C, Policer)>>,
    /// Packets dropped by the policer.
    pub(crate) drops: AtomicU64,
}

impl<C: Limits> PortPolicer<C> {
    /// Sets the policing (full buckets at `now_ns`), or removes it when
    /// `cfg` sets no rate. The same settings again keep the buckets as they
    /// are.
    pub(crate) fn set(&self, cfg: &C, now_ns: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.as_ref().is_some_and(|(c, _)| c == cfg) {
            return;
        }
        *st = Policer::new(cfg, now_ns).map(|p| (*cfg, p));
        self.on.store(st.is_some(), Ordering::Release);
    }

    /// The settings in force (the default, no policing, without).
    pub(crate) fn get(&self) -> C {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.as_ref().map_or_else(C::default, |(c, _)| *c)
    }

    /// Polices a batch: drops what exceeds the rates and counts it.
    #[inline]
    pub(crate) fn run(&self, pkts: &mut Vec<Packet>, now_ns: u64) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, p)) = st.as_mut() {
            let n = p.run(pkts, now_ns);
            if n > 0 {
                self.drops.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + UDP frame of `len` bytes.
    fn frame(len: usize) -> Packet {
        let mut d = vec![0u8; len];
        d[12] = 0x08;
        d[14] = 0x45;
        d[23] = 17;
        Packet::from_bytes(&d)
    }

    fn policer(kbits_rate: u32, kbits_burst: u32, kpkts_rate: u32, kpkts_burst: u32) -> Policer {
        let cfg = IngressPolicing { kbits_rate, kbits_burst, kpkts_rate, kpkts_burst };
        Policer::new(&cfg, 0).unwrap()
    }

    #[test]
    fn no_rate_no_policer() {
        assert!(Policer::new(&IngressPolicing::OFF, 0).is_none());
        let burst_only =
            IngressPolicing { kbits_burst: 10, kpkts_burst: 10, ..IngressPolicing::OFF };
        assert!(Policer::new(&burst_only, 0).is_none());
    }

    #[test]
    fn byte_bucket_holds_the_burst_then_refills_at_the_rate() {
        // 8 kb burst = 1,000 bytes; 114-byte frames cost 100 bytes each.
        let mut p = policer(80, 8, 0, 0);
        let mut b: Vec<Packet> = (0..15).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 0), 5);
        assert_eq!(b.len(), 10);
        // 80 kb/s is 10,000 bytes a second: 10 ms refills 100 bytes.
        let mut b: Vec<Packet> = (0..3).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 10_000_000), 2);
        // Refills stop at the burst.
        let mut b: Vec<Packet> = (0..15).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 100_000_000_000), 5);
        // A tiny interval still refills exactly, however often it is asked.
        let mut p = policer(80, 8, 0, 0);
        let mut b: Vec<Packet> = (0..10).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 0), 0);
        let mut t = 0;
        for _ in 0..10_000 {
            t += 1_000;
            assert_eq!(p.run(&mut Vec::new(), t), 0);
        }
        let mut b: Vec<Packet> = (0..2).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, t), 1, "10 ms in 1 µs steps refills one frame");
    }

    #[test]
    fn packet_bucket_counts_packets_and_both_limits_apply_together() {
        let mut p = policer(0, 0, 1, 1);
        let mut b: Vec<Packet> = (0..1500).map(|_| frame(60)).collect();
        assert_eq!(p.run(&mut b, 0), 500);
        // 1 kpps: one packet a millisecond.
        let mut b: Vec<Packet> = (0..5).map(|_| frame(60)).collect();
        assert_eq!(p.run(&mut b, 3_000_000), 2);
        // Both: the byte bucket (1,000 bytes) is the tighter one here, and a
        // packet it refuses takes nothing from the packet bucket.
        let mut p = policer(80, 8, 1, 1);
        let mut b: Vec<Packet> = (0..20).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 0), 10);
        assert_eq!(p.pkts.as_ref().unwrap().tokens, 990 * NANO);
    }

    /// A TCP/IPv4 super-frame with `payload` bytes cut at `mss`.
    fn tcp4_gso(payload: usize, mss: u16) -> Packet {
        let mut d = vec![0u8; 54 + payload];
        d[12] = 0x08;
        d[14] = 0x45;
        d[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        d[23] = 6;
        d[46] = 5 << 4;
        d[47] = 0x10;
        let mut p = Packet::from_bytes(&d);
        p.md.gso_type = GsoType::TcpV4;
        p.md.gso_size = mss;
        p
    }

    #[test]
    fn super_frames_cost_their_segments() {
        // 10 segments of 1,000 bytes: 10 × 1,040 bytes of IP packets.
        assert_eq!(wire_size(&tcp4_gso(10_000, 1000)), (10, 10_400));
        assert_eq!(wire_size(&tcp4_gso(10_001, 1000)), (11, 10_441));
        // 100 kb burst: 12,500 bytes, room for the whole super-frame.
        let mut p = policer(1000, 100, 0, 0);
        let mut b = vec![tcp4_gso(10_000, 1000)];
        assert_eq!(p.run(&mut b, 0), 0);
        assert_eq!((b.len(), b[0].md.gso_type), (1, GsoType::TcpV4));
        // 40 kb: 5,000 bytes, less than the super-frame: its segments are
        // policed one by one, and the first four pass.
        let mut p = policer(1000, 40, 0, 0);
        let mut b = vec![frame(100), tcp4_gso(10_000, 1000)];
        assert_eq!(p.run(&mut b, 0), 6);
        assert_eq!(b.len(), 5);
        assert!(b.iter().all(|p| p.md.gso_type == GsoType::None));
        assert_eq!(b[1].len(), 1054);
    }

    #[test]
    fn the_egress_policer_counts_bytes_of_ip_packets() {
        // 1,000 bytes a second, 1,000-byte burst: ten 114-byte frames.
        let mut p = Policer::new(&EgressPolicer { cir: 1000, cbs: 1000 }, 0).unwrap();
        let mut b: Vec<Packet> = (0..12).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 0), 2);
        let mut b: Vec<Packet> = (0..2).map(|_| frame(114)).collect();
        assert_eq!(p.run(&mut b, 100_000_000), 1, "100 ms refills 100 bytes");
        assert!(Policer::new(&EgressPolicer { cir: 0, cbs: 1000 }, 0).is_none());
        let mut p = Policer::new(&EgressPolicer { cir: u64::MAX, cbs: u64::MAX }, 0).unwrap();
        assert_eq!(p.run(&mut vec![frame(1514)], u64::MAX), 0);
    }

    #[test]
    fn default_bursts_follow_ovs() {
        let p = policer(1000, 0, 1, 0);
        assert_eq!(p.bits.unwrap().capacity, 8_000_000 * NANO);
        assert_eq!(p.pkts.unwrap().capacity, 16_000 * NANO);
    }

    #[test]
    fn largest_settings_do_not_overflow() {
        let mut p = policer(u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        let mut b: Vec<Packet> = (0..32).map(|_| frame(1514)).collect();
        assert_eq!(p.run(&mut b, u64::MAX), 0);
        assert_eq!(b.len(), 32);
    }
}
