//! The OpenFlow-level flow ([`Flow`]), its wildcards ([`Wildcards`]), matches
//! ([`OfMatch`]) and the table of matchable and settable fields ([`Mf`]), the
//! counterpart of OVS's `struct flow` and `meta-flow`.
//!
//! A [`Flow`] extends the datapath's [`FlowKey`] with the pipeline-only
//! fields: the 64-bit `metadata` and registers `reg0`-`reg15`. Words 0-25 are
//! the datapath key's words in the same layout (see
//! `rvs_packet::flow::key`), except that the `in_port` field holds the
//! OpenFlow port number rather than the datapath port number; so a
//! [`Wildcards`] converts to a datapath [`Mask`] by taking its first words.
//!
//! ```text
//!  0-25  the datapath key (in_port = OpenFlow port)
//! 26     metadata:64
//! 27-34  xreg0-xreg7: xreg(i) = reg(2i) in the high 32 bits, reg(2i+1) low
//!        xxreg(i) = xreg(2i):xreg(2i+1), 128 bits, high half first
//! ```

use crate::types::OfPort;
use rvs_packet::flow::{Field, KEY_WORDS, VLAN_CFI};
use rvs_packet::{FlowKey, Mask, OdpPort};
use std::fmt;

/// Number of `u64` words in a [`Flow`].
pub const OF_WORDS: usize = 35;
/// Word holding `metadata`.
pub const W_METADATA: usize = 26;
/// First register word (xreg0).
pub const W_REGS: usize = 27;
/// Number of 32-bit registers.
pub const N_REGS: usize = 16;

/// Ethertypes the prerequisites name.
pub mod eth_type {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP.
    pub const RARP: u16 = 0x8035;
}

/// A flow as the OpenFlow pipeline sees it: header fields plus metadata and
/// registers. Fields a packet lacks are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The raw words (layout in the module docs).
    pub w: [u64; OF_WORDS],
}

/// Which bits of a [`Flow`] matter: the mask of a rule, or the bits a
/// translation examined (a set bit means "examined" / "matched").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wildcards {
    /// The raw words, in [`Flow`]'s layout.
    pub w: [u64; OF_WORDS],
}

impl Default for Flow {
    fn default() -> Self {
        Flow { w: [0; OF_WORDS] }
    }
}

impl Default for Wildcards {
    fn default() -> Self {
        Wildcards::none()
    }
}

#[inline]
const fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

#[inline]
fn get_bits(w: &[u64; OF_WORDS], word: usize, shift: u32, bits: u32) -> u128 {
    if bits > 64 {
        ((w[word] as u128) << 64) | w[word + 1] as u128
    } else {
        ((w[word] >> shift) as u128) & low_mask(bits)
    }
}

#[inline]
fn set_bits(w: &mut [u64; OF_WORDS], word: usize, shift: u32, bits: u32, v: u128) {
    if bits > 64 {
        w[word] = (v >> 64) as u64;
        w[word + 1] = v as u64;
    } else {
        let m = (low_mask(bits) as u64) << shift;
        w[word] = (w[word] & !m) | (((v as u64) << shift) & m);
    }
}

impl Flow {
    /// Builds the pipeline's flow for a datapath key received on OpenFlow
    /// port `in_port`; metadata and registers start at zero.
    pub fn from_key(key: &FlowKey, in_port: OfPort) -> Flow {
        let mut f = Flow::default();
        f.w[..KEY_WORDS].copy_from_slice(&key.w);
        f.set(Mf::InPort, u128::from(in_port.0));
        f
    }

    /// The datapath key for this flow, with `in_port` as datapath port `port`.
    pub fn to_key(&self, port: OdpPort) -> FlowKey {
        let mut k = FlowKey::new();
        k.w.copy_from_slice(&self.w[..KEY_WORDS]);
        k.set(Field::InPort, u128::from(port.0));
        k
    }

    /// The value of field `f`.
    #[inline]
    pub fn get(&self, f: Mf) -> u128 {
        let s = f.spec();
        get_bits(&self.w, s.word, s.shift, s.bits)
    }

    /// Sets field `f` to `v` (bits past the field's width are dropped).
    #[inline]
    pub fn set(&mut self, f: Mf, v: u128) {
        let s = f.spec();
        set_bits(&mut self.w, s.word, s.shift, s.bits, v)
    }

    /// The input port.
    pub fn in_port(&self) -> OfPort {
        OfPort(self.get(Mf::InPort) as u16)
    }

    /// The Ethernet type.
    pub fn dl_type(&self) -> u16 {
        self.get(Mf::DlType) as u16
    }

    /// The IP protocol (meaningful for IP flows).
    pub fn nw_proto(&self) -> u8 {
        self.get(Mf::NwProto) as u8
    }

    /// True for IPv4 and IPv6 flows.
    pub fn is_ip(&self) -> bool {
        matches!(self.dl_type(), eth_type::IPV4 | eth_type::IPV6)
    }

    /// The outer VLAN TCI ([`VLAN_CFI`] set when a tag is present).
    pub fn vlan_tci(&self) -> u16 {
        self.get(Mf::VlanTci) as u16
    }

    /// The value of register `i` (0-15).
    pub fn reg(&self, i: usize) -> u32 {
        self.get(Mf::Reg(i as u8)) as u32
    }

    /// Clears metadata and registers (what crossing a patch port does).
    pub fn clear_pipeline_fields(&mut self) {
        for w in &mut self.w[W_METADATA..] {
            *w = 0;
        }
    }

    /// The flow with every bit outside `wc` cleared.
    pub fn masked(&self, wc: &Wildcards) -> Flow {
        let mut f = *self;
        for i in 0..OF_WORDS {
            f.w[i] &= wc.w[i];
        }
        f
    }
}

impl Wildcards {
    /// Nothing examined: every bit wild.
    pub const fn none() -> Self {
        Wildcards { w: [0; OF_WORDS] }
    }

    /// Every bit exact.
    pub const fn exact() -> Self {
        Wildcards { w: [u64::MAX; OF_WORDS] }
    }

    /// The mask bits of field `f`.
    pub fn get(&self, f: Mf) -> u128 {
        let s = f.spec();
        get_bits(&self.w, s.word, s.shift, s.bits)
    }

    /// Sets the mask of field `f` to `m`.
    pub fn set(&mut self, f: Mf, m: u128) {
        let s = f.spec();
        set_bits(&mut self.w, s.word, s.shift, s.bits, m)
    }

    /// Marks every bit of `f` as examined.
    #[inline]
    pub fn unwildcard(&mut self, f: Mf) {
        self.or_field(f, u128::MAX);
    }

    /// Marks the bits `m` of `f` as examined.
    #[inline]
    pub fn or_field(&mut self, f: Mf, m: u128) {
        let s = f.spec();
        let cur = get_bits(&self.w, s.word, s.shift, s.bits);
        set_bits(&mut self.w, s.word, s.shift, s.bits, cur | (m & low_mask(s.bits)));
    }

    /// Adds every bit of `other`.
    #[inline]
    pub fn or(&mut self, other: &Wildcards) {
        for i in 0..OF_WORDS {
            self.w[i] |= other.w[i];
        }
    }

    /// True when every bit of `f` is examined.
    pub fn is_exact(&self, f: Mf) -> bool {
        self.get(f) == low_mask(f.spec().bits)
    }

    /// True when nothing is examined.
    pub fn is_catchall(&self) -> bool {
        self.w.iter().all(|&w| w == 0)
    }

    /// True when every bit of `self` is also in `other`.
    pub fn is_subset_of(&self, other: &Wildcards) -> bool {
        self.w.iter().zip(other.w.iter()).all(|(a, b)| a & !b == 0)
    }

    /// The datapath mask: the header words of these wildcards, with the
    /// datapath's invariants (in_port, recirc_id, ...) added by the datapath
    /// layer itself.
    pub fn to_dp_mask(&self) -> Mask {
        let mut m = Mask::zero();
        m.w.copy_from_slice(&self.w[..KEY_WORDS]);
        // The OpenFlow in_port's 16 bits map to the whole datapath port.
        if self.get(Mf::InPort) != 0 {
            m.set_exact(Field::InPort);
        }
        m
    }
}

/// A rule's match: a flow with the bits outside its mask zeroed, and the
/// mask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OfMatch {
    /// The values (zero outside `wc`).
    pub flow: Flow,
    /// The mask.
    pub wc: Wildcards,
}

impl OfMatch {
    /// The match that every packet satisfies.
    pub fn catchall() -> Self {
        OfMatch::default()
    }

    /// Builds a match, zeroing `flow`'s bits outside `wc`.
    pub fn new(flow: Flow, wc: Wildcards) -> Self {
        OfMatch { flow: flow.masked(&wc), wc }
    }

    /// Matches `f` exactly against `v`.
    pub fn set(&mut self, f: Mf, v: u128) {
        self.set_masked(f, v, u128::MAX);
    }

    /// Matches the bits `m` of `f` against `v`.
    pub fn set_masked(&mut self, f: Mf, v: u128, m: u128) {
        let m = m & low_mask(f.spec().bits);
        self.wc.set(f, m);
        self.flow.set(f, v & m);
    }

    /// The value and mask `f` is matched with.
    pub fn get(&self, f: Mf) -> (u128, u128) {
        (self.flow.get(f), self.wc.get(f))
    }

    /// True when `flow` falls under this match.
    pub fn matches(&self, flow: &Flow) -> bool {
        (0..OF_WORDS).all(|i| flow.w[i] & self.wc.w[i] == self.flow.w[i])
    }

    /// True when every flow `self` matches is also matched by `other`
    /// (`other` is at least as wide).
    pub fn is_subset_of(&self, other: &OfMatch) -> bool {
        other.wc.is_subset_of(&self.wc)
            && (0..OF_WORDS).all(|i| self.flow.w[i] & other.wc.w[i] == other.flow.w[i])
    }

    /// True when some flow matches both.
    pub fn overlaps(&self, other: &OfMatch) -> bool {
        (0..OF_WORDS).all(|i| {
            let both = self.wc.w[i] & other.wc.w[i];
            self.flow.w[i] & both == other.flow.w[i] & both
        })
    }
}

/// What must hold of a flow before a field is meaningful in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prereq {
    /// Always meaningful.
    None,
    /// IPv4 or IPv6.
    Ip,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// ARP or RARP.
    Arp,
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// UDP over IPv4 or IPv6.
    Udp,
    /// SCTP over IPv4 or IPv6.
    Sctp,
    /// TCP, UDP or SCTP.
    L4,
    /// ICMP over IPv4.
    Icmp4,
    /// ICMPv6.
    Icmp6,
    /// ICMPv6 neighbour solicitation or advertisement.
    Nd,
    /// ICMPv6 neighbour solicitation.
    NdSolicit,
    /// ICMPv6 neighbour advertisement.
    NdAdvert,
}

impl Prereq {
    /// True when `flow` satisfies the prerequisite. When `wc` is given, the
    /// fields consulted are marked as examined (as translation must).
    pub fn holds(self, flow: &Flow, mut wc: Option<&mut Wildcards>) -> bool {
        let mut see = |f: Mf| {
            if let Some(wc) = wc.as_deref_mut() {
                wc.unwildcard(f);
            }
            flow.get(f)
        };
        let dl = |see: &mut dyn FnMut(Mf) -> u128| see(Mf::DlType) as u16;
        match self {
            Prereq::None => true,
            Prereq::Ip => matches!(dl(&mut see), eth_type::IPV4 | eth_type::IPV6),
            Prereq::Ipv4 => dl(&mut see) == eth_type::IPV4,
            Prereq::Ipv6 => dl(&mut see) == eth_type::IPV6,
            Prereq::Arp => matches!(dl(&mut see), eth_type::ARP | eth_type::RARP),
            Prereq::Tcp | Prereq::Udp | Prereq::Sctp | Prereq::L4 => {
                if !matches!(dl(&mut see), eth_type::IPV4 | eth_type::IPV6) {
                    return false;
                }
                let p = see(Mf::NwProto) as u8;
                match self {
                    Prereq::Tcp => p == 6,
                    Prereq::Udp => p == 17,
                    Prereq::Sctp => p == 132,
                    _ => matches!(p, 6 | 17 | 132),
                }
            }
            Prereq::Icmp4 => dl(&mut see) == eth_type::IPV4 && see(Mf::NwProto) == 1,
            Prereq::Icmp6 | Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
                if dl(&mut see) != eth_type::IPV6 || see(Mf::NwProto) != 58 {
                    return false;
                }
                match self {
                    Prereq::Icmp6 => true,
                    _ => {
                        let t = see(Mf::TpSrc);
                        match self {
                            Prereq::NdSolicit => t == 135,
                            Prereq::NdAdvert => t == 136,
                            _ => t == 135 || t == 136,
                        }
                    }
                }
            }
        }
    }

    /// True when a rule's match pins down this prerequisite (the fields it
    /// needs are matched exactly with satisfying values).
    pub fn holds_in_match(self, m: &OfMatch) -> bool {
        // Every field a prerequisite reads must be matched exactly; then the
        // check on the match's values is the check on every matching flow.
        let exact = |f: Mf| m.wc.is_exact(f);
        let needs: &[Mf] = match self {
            Prereq::None => &[],
            Prereq::Ip | Prereq::Ipv4 | Prereq::Ipv6 | Prereq::Arp => &[Mf::DlType],
            Prereq::Tcp
            | Prereq::Udp
            | Prereq::Sctp
            | Prereq::L4
            | Prereq::Icmp4
            | Prereq::Icmp6 => &[Mf::DlType, Mf::NwProto],
            Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
                &[Mf::DlType, Mf::NwProto, Mf::IcmpType]
            }
        };
        needs.iter().all(|&f| exact(f)) && self.holds(&m.flow, None)
    }
}

/// How a field's values are written in ovs-ofctl's syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Decimal (hex accepted).
    Decimal,
    /// Hexadecimal with `0x`.
    Hex,
    /// An Ethernet address.
    Eth,
    /// A dotted IPv4 address (masks as prefixes where possible).
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An OpenFlow port (number or name).
    Port,
    /// `no`, `yes`, `first`, `later`, `not_later`.
    Frag,
    /// TCP flags as `+syn-ack` or a hex number.
    TcpFlags,
}

/// Where a field lives and how it behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfSpec {
    /// The ovs-ofctl name.
    pub name: &'static str,
    /// The (first) word that holds it.
    pub word: usize,
    /// Bit offset in that word (0 for 128-bit fields).
    pub shift: u32,
    /// Width in bits.
    pub bits: u32,
    /// What a flow must be for the field to be meaningful.
    pub prereq: Prereq,
    /// True when rules may match it with an arbitrary bit mask.
    pub maskable: bool,
    /// True when actions may set it (`set_field`, `load`, `move` target).
    pub writable: bool,
    /// Text format.
    pub format: Format,
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $v:ident, )*) => {
        /// Every field of a [`Flow`] that rules match on or actions read and write.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Mf {
            $( $(#[$doc])* $v, )*
            /// 32-bit register 0-15.
            Reg(u8),
            /// 64-bit register 0-7 (two 32-bit registers).
            Xreg(u8),
            /// 128-bit register 0-3 (four 32-bit registers).
            Xxreg(u8),
        }

        /// The fields with a fixed name, in declaration order.
        const FIXED_FIELDS: &[Mf] = &[$(Mf::$v),*];
    };
}

fields! {
    /// OpenFlow input port.
    InPort,
    /// Recirculation id.
    RecircId,
    /// Datapath hash.
    DpHash,
    /// Packet priority (queue).
    SkbPriority,
    /// Packet mark.
    PktMark,
    /// Tunnel flags.
    TunFlags,
    /// Tunnel outer TOS.
    TunTos,
    /// Tunnel outer TTL.
    TunTtl,
    /// Tunnel id (VNI).
    TunId,
    /// Tunnel outer IPv4 source.
    TunSrc,
    /// Tunnel outer IPv4 destination.
    TunDst,
    /// Tunnel outer IPv6 source.
    TunIpv6Src,
    /// Tunnel outer IPv6 destination.
    TunIpv6Dst,
    /// Ethernet destination.
    DlDst,
    /// Ethernet source.
    DlSrc,
    /// Ethernet type.
    DlType,
    /// Whole outer TCI (with the CFI/present bit).
    VlanTci,
    /// VLAN id (12 bits of the TCI).
    DlVlan,
    /// VLAN priority (3 bits of the TCI).
    DlVlanPcp,
    /// IPv4 source.
    NwSrc,
    /// IPv4 destination.
    NwDst,
    /// ARP sender protocol address.
    ArpSpa,
    /// ARP target protocol address.
    ArpTpa,
    /// IPv6 source.
    Ipv6Src,
    /// IPv6 destination.
    Ipv6Dst,
    /// IPv6 flow label.
    Ipv6Label,
    /// IP protocol.
    NwProto,
    /// ARP opcode.
    ArpOp,
    /// IP TOS byte (DSCP bits only in matches).
    NwTos,
    /// DSCP (the TOS byte's high six bits, shifted down).
    IpDscp,
    /// ECN (the TOS byte's low two bits).
    NwEcn,
    /// IP TTL / hop limit.
    NwTtl,
    /// Fragment kind.
    IpFrag,
    /// ARP sender hardware address.
    ArpSha,
    /// ARP target hardware address.
    ArpTha,
    /// ND source link-layer address.
    NdSll,
    /// ND target link-layer address.
    NdTll,
    /// ND target.
    NdTarget,
    /// L4 source port (TCP, UDP or SCTP).
    TpSrc,
    /// L4 destination port.
    TpDst,
    /// TCP source port.
    TcpSrc,
    /// TCP destination port.
    TcpDst,
    /// UDP source port.
    UdpSrc,
    /// UDP destination port.
    UdpDst,
    /// SCTP source port.
    SctpSrc,
    /// SCTP destination port.
    SctpDst,
    /// TCP flags.
    TcpFlags,
    /// ICMP type.
    IcmpType,
    /// ICMP code.
    IcmpCode,
    /// ICMPv6 type.
    Icmpv6Type,
    /// ICMPv6 code.
    Icmpv6Code,
    /// Pipeline metadata.
    Metadata,
}

const fn sp(
    name: &'static str,
    word: usize,
    shift: u32,
    bits: u32,
    prereq: Prereq,
    maskable: bool,
    format: Format,
) -> MfSpec {
    MfSpec { name, word, shift, bits, prereq, maskable, writable: true, format }
}

const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];
const XREG_NAMES: [&str; 8] =
    ["xreg0", "xreg1", "xreg2", "xreg3", "xreg4", "xreg5", "xreg6", "xreg7"];
const XXREG_NAMES: [&str; 4] = ["xxreg0", "xxreg1", "xxreg2", "xxreg3"];

impl Mf {
    /// Every field with a fixed name, registers included.
    pub fn all() -> Vec<Mf> {
        let mut v = FIXED_FIELDS.to_vec();
        v.extend((0..16).map(Mf::Reg));
        v.extend((0..8).map(Mf::Xreg));
        v.extend((0..4).map(Mf::Xxreg));
        v
    }

    /// Looks a field up by its ovs-ofctl name (and the OXM-style aliases
    /// `eth_src`, `eth_dst`, `eth_type`, `ip_proto`, ...).
    pub fn from_name(name: &str) -> Option<Mf> {
        let alias = match name {
            "eth_src" => "dl_src",
            "eth_dst" => "dl_dst",
            "eth_type" => "dl_type",
            "ip_src" | "ipv4_src" => "nw_src",
            "ip_dst" | "ipv4_dst" => "nw_dst",
            "ip_proto" => "nw_proto",
            "ip_ttl" => "nw_ttl",
            "ip_ecn" => "nw_ecn",
            "vlan_vid" => "dl_vlan",
            "vlan_pcp" => "dl_vlan_pcp",
            "icmpv4_type" => "icmp_type",
            "icmpv4_code" => "icmp_code",
            "tunnel_id" => "tun_id",
            "arp_op" | "arp_spa" | "arp_tpa" | "arp_sha" | "arp_tha" => name,
            "nd_target" | "nd_sll" | "nd_tll" => name,
            n => n,
        };
        Mf::all().into_iter().find(|f| f.spec().name == alias)
    }

    /// The field's name.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Where the field lives and how it behaves.
    pub fn spec(self) -> MfSpec {
        use Format as F;
        use Prereq as P;
        match self {
            Mf::InPort => sp("in_port", 0, 0, 16, P::None, false, F::Port),
            Mf::RecircId => {
                MfSpec { writable: false, ..sp("recirc_id", 0, 32, 32, P::None, false, F::Hex) }
            }
            Mf::DpHash => {
                MfSpec { writable: false, ..sp("dp_hash", 1, 0, 32, P::None, true, F::Hex) }
            }
            Mf::SkbPriority => MfSpec { ..sp("skb_priority", 1, 32, 32, P::None, false, F::Hex) },
            Mf::PktMark => sp("pkt_mark", 2, 0, 32, P::None, true, F::Hex),
            Mf::TunFlags => sp("tun_flags", 2, 32, 16, P::None, true, F::Hex),
            Mf::TunTos => sp("tun_tos", 2, 48, 8, P::None, false, F::Decimal),
            Mf::TunTtl => sp("tun_ttl", 2, 56, 8, P::None, false, F::Decimal),
            Mf::TunId => sp("tun_id", 3, 0, 64, P::None, true, F::Hex),
            Mf::TunSrc => sp("tun_src", 4, 0, 32, P::None, true, F::Ipv4),
            Mf::TunDst => sp("tun_dst", 4, 32, 32, P::None, true, F::Ipv4),
            Mf::TunIpv6Src => sp("tun_ipv6_src", 5, 0, 128, P::None, true, F::Ipv6),
            Mf::TunIpv6Dst => sp("tun_ipv6_dst", 7, 0, 128, P::None, true, F::Ipv6),
            Mf::DlDst => sp("dl_dst", 10, 0, 48, P::None, true, F::Eth),
            Mf::DlSrc => sp("dl_src", 11, 0, 48, P::None, true, F::Eth),
            Mf::DlType => {
                MfSpec { writable: false, ..sp("dl_type", 11, 48, 16, P::None, false, F::Hex) }
            }
            Mf::VlanTci => sp("vlan_tci", 12, 16, 16, P::None, true, F::Hex),
            Mf::DlVlan => sp("dl_vlan", 12, 16, 12, P::None, false, F::Decimal),
            Mf::DlVlanPcp => sp("dl_vlan_pcp", 12, 29, 3, P::None, false, F::Decimal),
            Mf::NwSrc => sp("nw_src", 15, 0, 32, P::Ipv4, true, F::Ipv4),
            Mf::NwDst => sp("nw_dst", 15, 32, 32, P::Ipv4, true, F::Ipv4),
            Mf::ArpSpa => sp("arp_spa", 15, 0, 32, P::Arp, true, F::Ipv4),
            Mf::ArpTpa => sp("arp_tpa", 15, 32, 32, P::Arp, true, F::Ipv4),
            Mf::Ipv6Src => sp("ipv6_src", 16, 0, 128, P::Ipv6, true, F::Ipv6),
            Mf::Ipv6Dst => sp("ipv6_dst", 18, 0, 128, P::Ipv6, true, F::Ipv6),
            Mf::Ipv6Label => sp("ipv6_label", 20, 0, 20, P::Ipv6, true, F::Hex),
            Mf::NwProto => {
                MfSpec { writable: false, ..sp("nw_proto", 20, 32, 8, P::Ip, false, F::Decimal) }
            }
            Mf::ArpOp => sp("arp_op", 20, 32, 8, P::Arp, false, F::Decimal),
            Mf::NwTos => sp("nw_tos", 20, 40, 8, P::Ip, false, F::Decimal),
            Mf::IpDscp => sp("ip_dscp", 20, 42, 6, P::Ip, false, F::Decimal),
            Mf::NwEcn => sp("nw_ecn", 20, 40, 2, P::Ip, false, F::Decimal),
            Mf::NwTtl => sp("nw_ttl", 20, 48, 8, P::Ip, false, F::Decimal),
            Mf::IpFrag => {
                MfSpec { writable: false, ..sp("ip_frag", 20, 56, 2, P::Ip, true, F::Frag) }
            }
            Mf::ArpSha => sp("arp_sha", 21, 0, 48, P::Arp, true, F::Eth),
            Mf::ArpTha => sp("arp_tha", 22, 0, 48, P::Arp, true, F::Eth),
            Mf::NdSll => sp("nd_sll", 21, 0, 48, P::NdSolicit, true, F::Eth),
            Mf::NdTll => sp("nd_tll", 22, 0, 48, P::NdAdvert, true, F::Eth),
            Mf::NdTarget => sp("nd_target", 23, 0, 128, P::Nd, true, F::Ipv6),
            Mf::TpSrc => sp("tp_src", 25, 0, 16, P::L4, true, F::Decimal),
            Mf::TpDst => sp("tp_dst", 25, 16, 16, P::L4, true, F::Decimal),
            Mf::TcpSrc => sp("tcp_src", 25, 0, 16, P::Tcp, true, F::Decimal),
            Mf::TcpDst => sp("tcp_dst", 25, 16, 16, P::Tcp, true, F::Decimal),
            Mf::UdpSrc => sp("udp_src", 25, 0, 16, P::Udp, true, F::Decimal),
            Mf::UdpDst => sp("udp_dst", 25, 16, 16, P::Udp, true, F::Decimal),
            Mf::SctpSrc => sp("sctp_src", 25, 0, 16, P::Sctp, true, F::Decimal),
            Mf::SctpDst => sp("sctp_dst", 25, 16, 16, P::Sctp, true, F::Decimal),
            Mf::TcpFlags => {
                MfSpec { writable: false, ..sp("tcp_flags", 25, 32, 12, P::Tcp, true, F::TcpFlags) }
            }
            Mf::IcmpType => sp("icmp_type", 25, 0, 8, P::Icmp4, false, F::Decimal),
            Mf::IcmpCode => sp("icmp_code", 25, 16, 8, P::Icmp4, false, F::Decimal),
            Mf::Icmpv6Type => sp("icmpv6_type", 25, 0, 8, P::Icmp6, false, F::Decimal),
            Mf::Icmpv6Code => sp("icmpv6_code", 25, 16, 8, P::Icmp6, false, F::Decimal),
            Mf::Metadata => sp("metadata", W_METADATA, 0, 64, P::None, true, F::Hex),
            Mf::Reg(i) => {
                let i = usize::from(i) % N_REGS;
                sp(
                    REG_NAMES[i],
                    W_REGS + i / 2,
                    if i.is_multiple_of(2) { 32 } else { 0 },
                    32,
                    P::None,
                    true,
                    F::Hex,
                )
            }
            Mf::Xreg(i) => {
                let i = usize::from(i) % 8;
                sp(XREG_NAMES[i], W_REGS + i, 0, 64, P::None, true, F::Hex)
            }
            Mf::Xxreg(i) => {
                let i = usize::from(i) % 4;
                sp(XXREG_NAMES[i], W_REGS + 2 * i, 0, 128, P::None, true, F::Hex)
            }
        }
    }

    /// Width in bits.
    pub fn bits(self) -> u32 {
        self.spec().bits
    }
}

impl fmt::Display for Mf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Helpers for VLAN TCIs.
pub mod vlan {
    pub use rvs_packet::flow::VLAN_CFI as CFI;
    /// VID bits of a TCI.
    pub const VID_MASK: u16 = 0x0fff;
    /// PCP bits of a TCI.
    pub const PCP_MASK: u16 = 0xe000;
    /// PCP shift.
    pub const PCP_SHIFT: u16 = 13;
}

fn fmt_words(w: &[u64; OF_WORDS], f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    write!(f, "{name}{{")?;
    let mut first = true;
    for fld in Mf::all() {
        if matches!(
            fld,
            Mf::DlVlan
                | Mf::DlVlanPcp
                | Mf::ArpSpa
                | Mf::ArpTpa
                | Mf::ArpOp
                | Mf::IpDscp
                | Mf::NwEcn
                | Mf::NdSll
                | Mf::NdTll
                | Mf::TcpSrc
                | Mf::TcpDst
                | Mf::UdpSrc
                | Mf::UdpDst
                | Mf::SctpSrc
                | Mf::SctpDst
                | Mf::IcmpType
                | Mf::IcmpCode
                | Mf::Icmpv6Type
                | Mf::Icmpv6Code
                | Mf::Xreg(_)
                | Mf::Xxreg(_)
        ) {
            continue;
        }
        let s = fld.spec();
        let v = get_bits(w, s.word, s.shift, s.bits);
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

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_words(&self.w, f, "Flow")
    }
}

impl fmt::Debug for Wildcards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_words(&self.w, f, "Wildcards")
    }
}

impl fmt::Debug for OfMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OfMatch({:?}, {:?})", self.flow, self.wc)
    }
}

/// True when a TCI means "a tag is present".
pub fn tci_present(tci: u16) -> bool {
    tci & VLAN_CFI != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_fields_line_up_with_the_datapath_key() {
        let pairs = [
            (Mf::DlDst, Field::EthDst),
            (Mf::DlSrc, Field::EthSrc),
            (Mf::DlType, Field::EthType),
            (Mf::VlanTci, Field::Vlan0Tci),
            (Mf::NwSrc, Field::NwSrc),
            (Mf::NwDst, Field::NwDst),
            (Mf::Ipv6Src, Field::Ipv6Src),
            (Mf::Ipv6Dst, Field::Ipv6Dst),
            (Mf::Ipv6Label, Field::Ipv6Label),
            (Mf::NwProto, Field::NwProto),
            (Mf::NwTos, Field::NwTos),
            (Mf::NwTtl, Field::NwTtl),
            (Mf::IpFrag, Field::NwFrag),
            (Mf::ArpSha, Field::ArpSha),
            (Mf::ArpTha, Field::ArpTha),
            (Mf::NdTarget, Field::NdTarget),
            (Mf::TpSrc, Field::TpSrc),
            (Mf::TpDst, Field::TpDst),
            (Mf::TcpFlags, Field::TcpFlags),
            (Mf::PktMark, Field::PktMark),
            (Mf::TunId, Field::TunId),
            (Mf::TunSrc, Field::TunIpv4Src),
            (Mf::TunDst, Field::TunIpv4Dst),
            (Mf::TunIpv6Src, Field::TunIpv6Src),
            (Mf::TunFlags, Field::TunFlags),
            (Mf::RecircId, Field::RecircId),
            (Mf::DpHash, Field::DpHash),
            (Mf::SkbPriority, Field::SkbPriority),
        ];
        for (mf, f) in pairs {
            let a = mf.spec();
            let b = f.spec();
            assert_eq!((a.word, a.shift, a.bits), (b.word, b.shift, b.bits), "{mf} vs {}", b.name);
        }
    }

    #[test]
    fn registers_nest() {
        let mut f = Flow::default();
        f.set(Mf::Reg(0), 0x1111_1111);
        f.set(Mf::Reg(1), 0x2222_2222);
        f.set(Mf::Reg(3), 0x4444_4444);
        assert_eq!(f.get(Mf::Xreg(0)), 0x1111_1111_2222_2222);
        assert_eq!(f.get(Mf::Xxreg(0)), 0x1111_1111_2222_2222_0000_0000_4444_4444);
        f.set(Mf::Reg(15), 7);
        assert_eq!(f.reg(15), 7);
        assert_eq!(f.get(Mf::Xreg(7)), 7);
        f.clear_pipeline_fields();
        assert_eq!(f, Flow::default());
    }

    #[test]
    fn names_resolve_both_ways() {
        for f in Mf::all() {
            assert_eq!(Mf::from_name(f.name()), Some(f), "{f}");
        }
        assert_eq!(Mf::from_name("eth_dst"), Some(Mf::DlDst));
        assert_eq!(Mf::from_name("bogus"), None);
    }

    #[test]
    fn prerequisites_follow_the_flow_and_mark_what_they_read() {
        let mut f = Flow::default();
        f.set(Mf::DlType, u128::from(eth_type::IPV4));
        f.set(Mf::NwProto, 6);
        let mut wc = Wildcards::none();
        assert!(Prereq::Tcp.holds(&f, Some(&mut wc)));
        assert!(wc.is_exact(Mf::DlType) && wc.is_exact(Mf::NwProto));
        assert!(!wc.is_exact(Mf::TpSrc));
        assert!(!Prereq::Udp.holds(&f, None));
        assert!(!Prereq::Arp.holds(&f, None));
        let mut m = OfMatch::catchall();
        m.set(Mf::DlType, 0x0800);
        assert!(Prereq::Ipv4.holds_in_match(&m));
        assert!(!Prereq::Tcp.holds_in_match(&m));
    }

    #[test]
    fn matches_subsets_and_overlaps() {
        let mut wide = OfMatch::catchall();
        wide.set(Mf::DlType, 0x0800);
        let mut narrow = wide;
        narrow.set_masked(Mf::NwDst, 0xc612_0000, 0xffff_ff00);
        assert!(narrow.is_subset_of(&wide));
        assert!(!wide.is_subset_of(&narrow));
        assert!(wide.overlaps(&narrow));
        let mut other = narrow;
        other.set_masked(Mf::NwDst, 0xc612_0100, 0xffff_ff00);
        assert!(!other.overlaps(&narrow));
        let mut f = Flow::default();
        f.set(Mf::DlType, 0x0800);
        f.set(Mf::NwDst, 0xc612_0005);
        assert!(narrow.matches(&f) && wide.matches(&f) && !other.matches(&f));
    }
}
