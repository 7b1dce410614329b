//! The flow key layout, masks and masked hashing.
//!
//! Layout (word: fields, low bits first). Fields of 128 bits span two words,
//! the high half in the first.
//!
//! ```text
//!  0  in_port:32          recirc_id:32
//!  1  dp_hash:32          skb_priority:32
//!  2  pkt_mark:32         tun_flags:16 tun_tos:8 tun_ttl:8
//!  3  tun_id:64
//!  4  tun_ipv4_src:32     tun_ipv4_dst:32
//!  5  tun_ipv6_src:128 (words 5-6)
//!  7  tun_ipv6_dst:128 (words 7-8)
//!  9  tun_tp_src:16 tun_tp_dst:16 (32 spare)
//! 10  eth_dst:48 (16 spare)
//! 11  eth_src:48          eth_type:16
//! 12  vlan0_tpid:16 vlan0_tci:16 vlan1_tpid:16 vlan1_tci:16
//! 13  mpls_lse0:32        mpls_lse1:32
//! 14  mpls_lse2:32        igmp_group:32
//! 15  nw_src:32           nw_dst:32           (IPv4, or ARP spa/tpa)
//! 16  ipv6_src:128 (words 16-17)
//! 18  ipv6_dst:128 (words 18-19)
//! 20  ipv6_label:20 (12 spare) nw_proto:8 nw_tos:8 nw_ttl:8 nw_frag:2 (6 spare)  (ARP op in nw_proto)
//! 21  arp_sha:48          (ND source link-layer address)
//! 22  arp_tha:48          (ND target link-layer address)
//! 23  nd_target:128 (words 23-24)
//! 25  tp_src:16 tp_dst:16 tcp_flags:12 (20 spare)   (ICMP/IGMP type and code in tp_src/tp_dst)
//! ```
//!
//! VLAN TCIs follow OVS: the CFI bit ([`VLAN_CFI`]) is set when a tag is
//! present, so an untagged packet has TCI 0 and a tag with VID 0 does not.

use crate::types::{EthAddr, OdpPort};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Number of `u64` words in a [`FlowKey`].
pub const KEY_WORDS: usize = 26;

/// `nw_frag` bit: the packet is an IP fragment.
pub const FRAG_ANY: u8 = 1;
/// `nw_frag` bit: the packet is a fragment other than the first.
pub const FRAG_LATER: u8 = 2;
/// TCI bit marking a VLAN tag as present (OVS's VLAN_CFI).
pub const VLAN_CFI: u16 = 0x1000;

/// Tunnel flag: don't fragment was set on the outer header.
pub const TNL_F_DONT_FRAGMENT: u16 = 1 << 0;
/// Tunnel flag: the outer header carried a checksum.
pub const TNL_F_CSUM: u16 = 1 << 1;
/// Tunnel flag: the tunnel key (`tun_id`) is present.
pub const TNL_F_KEY: u16 = 1 << 2;
/// Tunnel flag: an OAM frame.
pub const TNL_F_OAM: u16 = 1 << 3;

/// Where a field lives in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field's name, as in OVS's flow.h where it has one.
    pub name: &'static str,
    /// The (first) word that holds it.
    pub word: usize,
    /// Bit offset within that word (0 for 128-bit fields).
    pub shift: u32,
    /// Width in bits (up to 64, or 128).
    pub bits: u32,
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $variant:ident => ($name:literal, $word:expr, $shift:expr, $bits:expr) ),* $(,)?) => {
        /// Every field of a [`FlowKey`], for code that handles fields
        /// generically (text syntax, masks, property tests).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Field {
            $( $(#[$doc])* $variant, )*
        }

        impl Field {
            /// All fields, in key order.
            pub const ALL: &'static [Field] = &[ $(Field::$variant,)* ];

            /// Where the field lives.
            pub const fn spec(self) -> FieldSpec {
                match self {
                    $( Field::$variant => FieldSpec { name: $name, word: $word, shift: $shift, bits: $bits }, )*
                }
            }
        }
    };
}

fields! {
    /// Datapath input port.
    InPort => ("in_port", 0, 0, 32),
    /// Recirculation id; 0 for packets fresh from a port.
    RecircId => ("recirc_id", 0, 32, 32),
    /// Hash computed by a `hash` action.
    DpHash => ("dp_hash", 1, 0, 32),
    /// Packet priority (skb_priority).
    SkbPriority => ("skb_priority", 1, 32, 32),
    /// Packet mark (skb_mark).
    PktMark => ("pkt_mark", 2, 0, 32),
    /// Tunnel flags (`TNL_F_*`).
    TunFlags => ("tun_flags", 2, 32, 16),
    /// Outer TOS.
    TunTos => ("tun_tos", 2, 48, 8),
    /// Outer TTL.
    TunTtl => ("tun_ttl", 2, 56, 8),
    /// Tunnel id (VNI, key).
    TunId => ("tun_id", 3, 0, 64),
    /// Outer IPv4 source.
    TunIpv4Src => ("tun_ipv4_src", 4, 0, 32),
    /// Outer IPv4 destination.
    TunIpv4Dst => ("tun_ipv4_dst", 4, 32, 32),
    /// Outer IPv6 source.
    TunIpv6Src => ("tun_ipv6_src", 5, 0, 128),
    /// Outer IPv6 destination.
    TunIpv6Dst => ("tun_ipv6_dst", 7, 0, 128),
    /// Outer UDP source port.
    TunTpSrc => ("tun_tp_src", 9, 0, 16),
    /// Outer UDP destination port.
    TunTpDst => ("tun_tp_dst", 9, 16, 16),
    /// Ethernet destination.
    EthDst => ("eth_dst", 10, 0, 48),
    /// Ethernet source.
    EthSrc => ("eth_src", 11, 0, 48),
    /// Ethertype after any VLAN tags.
    EthType => ("eth_type", 11, 48, 16),
    /// Outer VLAN TPID (0x8100 or 0x88a8).
    Vlan0Tpid => ("vlan0_tpid", 12, 0, 16),
    /// Outer VLAN TCI, with [`VLAN_CFI`] set when present.
    Vlan0Tci => ("vlan0_tci", 12, 16, 16),
    /// Inner VLAN TPID.
    Vlan1Tpid => ("vlan1_tpid", 12, 32, 16),
    /// Inner VLAN TCI, with [`VLAN_CFI`] set when present.
    Vlan1Tci => ("vlan1_tci", 12, 48, 16),
    /// First (outermost) MPLS label stack entry.
    MplsLse0 => ("mpls_lse0", 13, 0, 32),
    /// Second MPLS label stack entry.
    MplsLse1 => ("mpls_lse1", 13, 32, 32),
    /// Third MPLS label stack entry.
    MplsLse2 => ("mpls_lse2", 14, 0, 32),
    /// IGMP group address.
    IgmpGroup => ("igmp_group", 14, 32, 32),
    /// IPv4 source, or ARP sender protocol address.
    NwSrc => ("nw_src", 15, 0, 32),
    /// IPv4 destination, or ARP target protocol address.
    NwDst => ("nw_dst", 15, 32, 32),
    /// IPv6 source.
    Ipv6Src => ("ipv6_src", 16, 0, 128),
    /// IPv6 destination.
    Ipv6Dst => ("ipv6_dst", 18, 0, 128),
    /// IPv6 flow label (20 bits).
    Ipv6Label => ("ipv6_label", 20, 0, 20),
    /// IP protocol / IPv6 next header, or ARP opcode (low 8 bits).
    NwProto => ("nw_proto", 20, 32, 8),
    /// IP TOS / IPv6 traffic class (DSCP and ECN).
    NwTos => ("nw_tos", 20, 40, 8),
    /// IP TTL / IPv6 hop limit.
    NwTtl => ("nw_ttl", 20, 48, 8),
    /// Fragment bits (`FRAG_ANY`, `FRAG_LATER`).
    NwFrag => ("nw_frag", 20, 56, 2),
    /// ARP sender hardware address, or ND source link-layer address.
    ArpSha => ("arp_sha", 21, 0, 48),
    /// ARP target hardware address, or ND target link-layer address.
    ArpTha => ("arp_tha", 22, 0, 48),
    /// ND target address.
    NdTarget => ("nd_target", 23, 0, 128),
    /// L4 source port, or ICMP/IGMP type.
    TpSrc => ("tp_src", 25, 0, 16),
    /// L4 destination port, or ICMP/IGMP code.
    TpDst => ("tp_dst", 25, 16, 16),
    /// TCP flags (12 bits).
    TcpFlags => ("tcp_flags", 25, 32, 12),
}

#[inline(always)]
const fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// A set of key words, as a bitmap (bit `i` = word `i`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WordSet(pub u32);

impl WordSet {
    /// Iterates the word indices in the set, lowest first.
    #[inline]
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                None
            } else {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(i)
            }
        })
    }

    /// Number of words in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True when no word is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Mixes one word into a running hash (multiply-rotate; fast and adequate for
/// hash tables, with [`finish_hash`] providing the final avalanche).
#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23)
}

#[inline(always)]
fn finish_hash(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Hashes the words of `words` selected by `set`, each ANDed with `mask`.
#[inline]
pub fn hash_words(words: &[u64; KEY_WORDS], mask: &[u64; KEY_WORDS], set: WordSet) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64;
    for i in set.iter() {
        h = mix(h, words[i] & mask[i]);
    }
    finish_hash(h)
}

macro_rules! accessors {
    ($ty:ident) => {
        impl $ty {
            /// Reads a field as an integer (128-bit fields whole).
            #[inline]
            pub fn get(&self, f: Field) -> u128 {
                let s = f.spec();
                if s.bits == 128 {
                    ((self.w[s.word] as u128) << 64) | self.w[s.word + 1] as u128
                } else {
                    ((self.w[s.word] >> s.shift) & low_mask(s.bits)) as u128
                }
            }

            /// Writes a field from an integer; bits past the field's width are
            /// ignored.
            #[inline]
            pub fn set(&mut self, f: Field, v: u128) {
                let s = f.spec();
                if s.bits == 128 {
                    self.w[s.word] = (v >> 64) as u64;
                    self.w[s.word + 1] = v as u64;
                } else {
                    let m = low_mask(s.bits) << s.shift;
                    self.w[s.word] = (self.w[s.word] & !m) | (((v as u64) << s.shift) & m);
                }
            }

            #[inline(always)]
            fn get_bits(&self, word: usize, shift: u32, bits: u32) -> u64 {
                (self.w[word] >> shift) & low_mask(bits)
            }

            #[inline(always)]
            fn set_bits(&mut self, word: usize, shift: u32, bits: u32, v: u64) {
                let m = low_mask(bits) << shift;
                self.w[word] = (self.w[word] & !m) | ((v << shift) & m);
            }

            /// Datapath input port.
            #[inline]
            pub fn in_port(&self) -> OdpPort {
                OdpPort(self.get_bits(0, 0, 32) as u32)
            }
            /// Sets the datapath input port.
            #[inline]
            pub fn set_in_port(&mut self, p: OdpPort) {
                self.set_bits(0, 0, 32, p.0 as u64)
            }
            /// Recirculation id.
            #[inline]
            pub fn recirc_id(&self) -> u32 {
                self.get_bits(0, 32, 32) as u32
            }
            /// Sets the recirculation id.
            #[inline]
            pub fn set_recirc_id(&mut self, v: u32) {
                self.set_bits(0, 32, 32, v as u64)
            }
            /// Ethernet destination.
            #[inline]
            pub fn eth_dst(&self) -> EthAddr {
                EthAddr::from_u64(self.get_bits(10, 0, 48))
            }
            /// Sets the Ethernet destination.
            #[inline]
            pub fn set_eth_dst(&mut self, a: EthAddr) {
                self.set_bits(10, 0, 48, a.to_u64())
            }
            /// Ethernet source.
            #[inline]
            pub fn eth_src(&self) -> EthAddr {
                EthAddr::from_u64(self.get_bits(11, 0, 48))
            }
            /// Sets the Ethernet source.
            #[inline]
            pub fn set_eth_src(&mut self, a: EthAddr) {
                self.set_bits(11, 0, 48, a.to_u64())
            }
            /// Ethertype after VLAN tags.
            #[inline]
            pub fn eth_type(&self) -> u16 {
                self.get_bits(11, 48, 16) as u16
            }
            /// Sets the Ethertype.
            #[inline]
            pub fn set_eth_type(&mut self, v: u16) {
                self.set_bits(11, 48, 16, v as u64)
            }
            /// Outer VLAN TCI (with [`VLAN_CFI`] when present).
            #[inline]
            pub fn vlan0_tci(&self) -> u16 {
                self.get_bits(12, 16, 16) as u16
            }
            /// Inner VLAN TCI (with [`VLAN_CFI`] when present).
            #[inline]
            pub fn vlan1_tci(&self) -> u16 {
                self.get_bits(12, 48, 16) as u16
            }
            /// IPv4 source (or ARP spa).
            #[inline]
            pub fn nw_src(&self) -> Ipv4Addr {
                Ipv4Addr::from(self.get_bits(15, 0, 32) as u32)
            }
            /// Sets the IPv4 source.
            #[inline]
            pub fn set_nw_src(&mut self, a: Ipv4Addr) {
                self.set_bits(15, 0, 32, u32::from(a) as u64)
            }
            /// IPv4 destination (or ARP tpa).
            #[inline]
            pub fn nw_dst(&self) -> Ipv4Addr {
                Ipv4Addr::from(self.get_bits(15, 32, 32) as u32)
            }
            /// Sets the IPv4 destination.
            #[inline]
            pub fn set_nw_dst(&mut self, a: Ipv4Addr) {
                self.set_bits(15, 32, 32, u32::from(a) as u64)
            }
            /// IPv6 source.
            #[inline]
            pub fn ipv6_src(&self) -> Ipv6Addr {
                Ipv6Addr::from(self.get(Field::Ipv6Src))
            }
            /// Sets the IPv6 source.
            #[inline]
            pub fn set_ipv6_src(&mut self, a: Ipv6Addr) {
                self.set(Field::Ipv6Src, u128::from(a))
            }
            /// IPv6 destination.
            #[inline]
            pub fn ipv6_dst(&self) -> Ipv6Addr {
                Ipv6Addr::from(self.get(Field::Ipv6Dst))
            }
            /// Sets the IPv6 destination.
            #[inline]
            pub fn set_ipv6_dst(&mut self, a: Ipv6Addr) {
                self.set(Field::Ipv6Dst, u128::from(a))
            }
            /// IP protocol (or low byte of the ARP opcode).
            #[inline]
            pub fn nw_proto(&self) -> u8 {
                self.get_bits(20, 32, 8) as u8
            }
            /// Sets the IP protocol.
            #[inline]
            pub fn set_nw_proto(&mut self, v: u8) {
                self.set_bits(20, 32, 8, v as u64)
            }
            /// Fragment bits.
            #[inline]
            pub fn nw_frag(&self) -> u8 {
                self.get_bits(20, 56, 8) as u8
            }
            /// Sets the fragment bits.
            #[inline]
            pub fn set_nw_frag(&mut self, v: u8) {
                self.set_bits(20, 56, 8, v as u64)
            }
            /// L4 source port (ICMP type).
            #[inline]
            pub fn tp_src(&self) -> u16 {
                self.get_bits(25, 0, 16) as u16
            }
            /// Sets the L4 source port.
            #[inline]
            pub fn set_tp_src(&mut self, v: u16) {
                self.set_bits(25, 0, 16, v as u64)
            }
            /// L4 destination port (ICMP code).
            #[inline]
            pub fn tp_dst(&self) -> u16 {
                self.get_bits(25, 16, 16) as u16
            }
            /// Sets the L4 destination port.
            #[inline]
            pub fn set_tp_dst(&mut self, v: u16) {
                self.set_bits(25, 16, 16, v as u64)
            }
            /// TCP flags.
            #[inline]
            pub fn tcp_flags(&self) -> u16 {
                self.get_bits(25, 32, 16) as u16
            }

            /// The words, for code that works on the raw layout.
            #[inline]
            pub fn words(&self) -> &[u64; KEY_WORDS] {
                &self.w
            }
            /// The words, mutable.
            #[inline]
            pub fn words_mut(&mut self) -> &mut [u64; KEY_WORDS] {
                &mut self.w
            }
        }
    };
}

/// A flow key: every header field rvs can match on, in a fixed layout (see
/// the module docs). Fields a packet lacks are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct FlowKey {
    /// The raw words; prefer the accessors.
    pub w: [u64; KEY_WORDS],
}

/// Which bits of a [`FlowKey`] matter: same layout, a set bit means the key
/// bit is matched.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct Mask {
    /// The raw words; prefer the accessors.
    pub w: [u64; KEY_WORDS],
}

accessors!(FlowKey);
accessors!(Mask);

impl FlowKey {
    /// An all-zero key.
    pub const fn new() -> Self {
        FlowKey { w: [0; KEY_WORDS] }
    }

    /// The key with every bit outside `mask` cleared.
    #[inline]
    pub fn masked(&self, mask: &Mask) -> FlowKey {
        let mut k = *self;
        for i in 0..KEY_WORDS {
            k.w[i] &= mask.w[i];
        }
        k
    }

    /// Hash of every word (for the exact-match cache). Four independent
    /// lanes, so the multiplications overlap instead of forming one long
    /// dependency chain.
    #[inline]
    pub fn hash(&self) -> u64 {
        let mut l = [
            0x1319_8a2e_0370_7344u64,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
            0x4528_21e6_38d0_1377,
        ];
        let mut chunks = self.w.chunks_exact(4);
        for c in &mut chunks {
            for i in 0..4 {
                l[i] = mix(l[i], c[i]);
            }
        }
        for (i, &w) in chunks.remainder().iter().enumerate() {
            l[i] = mix(l[i], w);
        }
        finish_hash(l[0] ^ l[1].rotate_left(16) ^ l[2].rotate_left(32) ^ l[3].rotate_left(48))
    }

    /// Hash of the key under `mask`, reading only the words in `set` (which
    /// must cover every non-zero word of `mask`).
    #[inline]
    pub fn hash_masked(&self, mask: &Mask, set: WordSet) -> u64 {
        hash_words(&self.w, &mask.w, set)
    }

    /// True when `self` under `mask` equals `masked_key` (itself already
    /// masked), reading only the words in `set`.
    #[inline]
    pub fn eq_masked(&self, mask: &Mask, set: WordSet, masked_key: &FlowKey) -> bool {
        set.iter().all(|i| self.w[i] & mask.w[i] == masked_key.w[i])
    }
}

impl Mask {
    /// A mask that matches nothing (every key matches it).
    pub const fn zero() -> Self {
        Mask { w: [0; KEY_WORDS] }
    }

    /// A mask that matches every bit.
    pub const fn exact() -> Self {
        Mask { w: [u64::MAX; KEY_WORDS] }
    }

    /// Sets every bit of field `f`.
    pub fn set_exact(&mut self, f: Field) {
        self.set(f, u128::MAX);
    }

    /// True when every bit of field `f` is set.
    pub fn is_exact(&self, f: Field) -> bool {
        let s = f.spec();
        let full = if s.bits == 128 { u128::MAX } else { (low_mask(s.bits)) as u128 };
        self.get(f) == full
    }

    /// The words that have at least one bit set.
    pub fn word_set(&self) -> WordSet {
        let mut bits = 0u32;
        for (i, &w) in self.w.iter().enumerate() {
            if w != 0 {
                bits |= 1 << i;
            }
        }
        WordSet(bits)
    }

    /// Bitwise OR with `other` (the union of two masks).
    pub fn union(&self, other: &Mask) -> Mask {
        let mut m = *self;
        for i in 0..KEY_WORDS {
            m.w[i] |= other.w[i];
        }
        m
    }

    /// True when every bit of `self` is also set in `other`.
    pub fn is_subset_of(&self, other: &Mask) -> bool {
        self.w.iter().zip(other.w.iter()).all(|(a, b)| a & !b == 0)
    }
}

/// A key (already masked) with its mask: what a megaflow or a rule matches.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// The key, with every bit outside `mask` zero.
    pub key: FlowKey,
    /// The mask.
    pub mask: Mask,
}

impl Match {
    /// Builds a match, masking `key` so that bits outside `mask` are zero.
    pub fn new(key: FlowKey, mask: Mask) -> Self {
        Match { key: key.masked(&mask), mask }
    }

    /// True when `key` falls under this match.
    pub fn matches(&self, key: &FlowKey) -> bool {
        (0..KEY_WORDS).all(|i| key.w[i] & self.mask.w[i] == self.key.w[i])
    }
}

fn fmt_fields(w: &[u64; KEY_WORDS], f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    write!(f, "{name}{{")?;
    let mut first = true;
    for &fld in Field::ALL {
        let s = fld.spec();
        let v = if s.bits == 128 {
            ((w[s.word] as u128) << 64) | w[s.word + 1] as u128
        } else {
            ((w[s.word] >> s.shift) & low_mask(s.bits)) as u128
        };
        if v != 0 {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{}=0x{:x}", s.name, v)?;
        }
    }
    write!(f, "}}")
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_fields(&self.w, f, "FlowKey")
    }
}

impl fmt::Debug for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_fields(&self.w, f, "Mask")
    }
}

impl fmt::Debug for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Match({:?}, {:?})", self.key, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap_and_fit() {
        let mut used = [0u64; KEY_WORDS];
        for &f in Field::ALL {
            let s = f.spec();
            let parts: Vec<(usize, u64)> = if s.bits == 128 {
                vec![(s.word, u64::MAX), (s.word + 1, u64::MAX)]
            } else {
                assert!(s.shift + s.bits <= 64, "{} overflows its word", s.name);
                vec![(s.word, low_mask(s.bits) << s.shift)]
            };
            for (w, m) in parts {
                assert!(w < KEY_WORDS, "{} is past the key", s.name);
                assert_eq!(used[w] & m, 0, "{} overlaps another field", s.name);
                used[w] |= m;
            }
        }
    }

    #[test]
    fn accessors_agree_with_generic_get_set() {
        let mut k = FlowKey::new();
        k.set_eth_src("00:00:5e:00:53:01".parse().unwrap());
        k.set_eth_type(0x0800);
        k.set_nw_dst(Ipv4Addr::new(198, 18, 0, 2));
        k.set_tp_dst(80);
        assert_eq!(k.get(Field::EthSrc), 0x00005e005301);
        assert_eq!(k.get(Field::EthType), 0x0800);
        assert_eq!(k.get(Field::NwDst), u32::from(Ipv4Addr::new(198, 18, 0, 2)) as u128);
        assert_eq!(k.get(Field::TpDst), 80);
        k.set(Field::Ipv6Src, 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(k.ipv6_src(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn masked_hash_and_compare_touch_only_mask_words() {
        let mut mask = Mask::zero();
        mask.set_exact(Field::InPort);
        mask.set_exact(Field::EthDst);
        let set = mask.word_set();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 10]);
        let mut a = FlowKey::new();
        a.set_eth_dst(EthAddr([2, 0, 0, 0, 0, 1]));
        let mut b = a;
        b.set_tp_src(99); // outside the mask
        b.set_recirc_id(7); // same word as in_port, outside the mask
        assert_eq!(a.hash_masked(&mask, set), b.hash_masked(&mask, set));
        assert!(b.eq_masked(&mask, set, &a.masked(&mask)));
        b.set_eth_dst(EthAddr([2, 0, 0, 0, 0, 2]));
        assert!(!b.eq_masked(&mask, set, &a.masked(&mask)));
    }
}
