//! Zero-copy views of the wire formats rvs parses and builds, one file per
//! protocol, in smoltcp's shape: the field byte ranges, a `Packet<T>` view
//! whose checked constructor validates lengths once (after which no getter
//! panics), a `Repr` with `parse`/`emit`/`buffer_len`, `Display`, and tests over
//! captured bytes. Unknown enum values are kept, never rejected.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub mod arp;
pub mod builder;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod igmp;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod mpls;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;

#[cfg(test)]
mod captures;

pub use builder::PacketBuilder;

/// An error from a checked constructor or `Repr::parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the header (or the length a header field
    /// claims).
    #[error("{proto} header truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Protocol being parsed.
        proto: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{proto} field {field} has invalid value {value}")]
    Malformed {
        /// Protocol being parsed.
        proto: &'static str,
        /// The field.
        field: &'static str,
        /// The value found.
        value: u32,
    },
}

/// Result of wire parsing.
pub type Result<T> = std::result::Result<T, WireError>;

pub(crate) fn check_len(proto: &'static str, have: usize, need: usize) -> Result<()> {
    if have < need {
        Err(WireError::Truncated { proto, need, have })
    } else {
        Ok(())
    }
}

/// An EtherType; unknown values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EtherType {
    /// 0x0800
    Ipv4,
    /// 0x0806
    Arp,
    /// 0x86dd
    Ipv6,
    /// 0x8100, 802.1Q customer tag
    Vlan,
    /// 0x88a8, 802.1ad service tag
    QinQ,
    /// 0x8847
    MplsUnicast,
    /// 0x8848
    MplsMulticast,
    /// 0x8035
    Rarp,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            0x8847 => EtherType::MplsUnicast,
            0x8848 => EtherType::MplsMulticast,
            0x8035 => EtherType::Rarp,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88a8,
            EtherType::MplsUnicast => 0x8847,
            EtherType::MplsMulticast => 0x8848,
            EtherType::Rarp => 0x8035,
            EtherType::Unknown(v) => v,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", u16::from(*self))
    }
}

/// IP protocol numbers; unknown values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum IpProtocol {
    /// 0, IPv6 hop-by-hop options
    HopByHop,
    /// 1
    Icmp,
    /// 2
    Igmp,
    /// 6
    Tcp,
    /// 17
    Udp,
    /// 43, IPv6 routing header
    Ipv6Route,
    /// 44, IPv6 fragment header
    Ipv6Frag,
    /// 47
    Gre,
    /// 58
    Icmpv6,
    /// 59, no next header
    Ipv6NoNxt,
    /// 60, IPv6 destination options
    Ipv6Opts,
    /// 132
    Sctp,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            0 => IpProtocol::HopByHop,
            1 => IpProtocol::Icmp,
            2 => IpProtocol::Igmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            47 => IpProtocol::Gre,
            58 => IpProtocol::Icmpv6,
            59 => IpProtocol::Ipv6NoNxt,
            60 => IpProtocol::Ipv6Opts,
            132 => IpProtocol::Sctp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(v: IpProtocol) -> u8 {
        match v {
            IpProtocol::HopByHop => 0,
            IpProtocol::Icmp => 1,
            IpProtocol::Igmp => 2,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Gre => 47,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6NoNxt => 59,
            IpProtocol::Ipv6Opts => 60,
            IpProtocol::Sctp => 132,
            IpProtocol::Unknown(v) => v,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", u8::from(*self))
    }
}

/// The addresses of the IPv4 or IPv6 pseudo-header that TCP, UDP and ICMPv6
/// checksums cover. One enum, so that an IPv4 source cannot be paired with an
/// IPv6 destination.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PseudoHeader {
    /// IPv4 source and destination.
    V4(Ipv4Addr, Ipv4Addr),
    /// IPv6 source and destination.
    V6(Ipv6Addr, Ipv6Addr),
}

impl PseudoHeader {
    /// The pseudo-header sum for an upper-layer packet of `len` bytes.
    pub fn sum(&self, proto: IpProtocol, len: usize) -> u64 {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        match *self {
            PseudoHeader::V4(s, d) => crate::checksum::pseudo_ipv4(s, d, proto.into(), len),
            PseudoHeader::V6(s, d) => crate::checksum::pseudo_ipv6(s, d, proto.into(), len),
        }
    }
}

/// Reads a big-endian `u16` from the first two bytes of `b`.
#[inline]
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian `u32` from the first four bytes of `b`.
#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads an IPv4 address from the first four bytes of `b`.
#[inline]
pub(crate) fn ipv4_at(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Reads an IPv6 address from the first sixteen bytes of `b`.
#[inline]
pub(crate) fn ipv6_at(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// A malformed-field error.
pub(crate) fn malformed(proto: &'static str, field: &'static str, value: u32) -> WireError {
    WireError::Malformed { proto, field, value }
}

/// Up to 40 bytes of IPv4 or TCP options, kept inline so that a `Repr`
/// stays `Copy`. Both headers cap options at 40 bytes (a 4-bit length in
/// 32-bit words, minus the 20-byte fixed part).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OptionBytes {
    len: u8,
    bytes: [u8; 40],
}

impl Default for OptionBytes {
    fn default() -> Self {
        OptionBytes { len: 0, bytes: [0; 40] }
    }
}

impl OptionBytes {
    /// The most option bytes a header can carry.
    pub const MAX: usize = 40;

    /// Copies `b`, or returns `None` if it is longer than 40 bytes.
    pub fn new(b: &[u8]) -> Option<OptionBytes> {
        if b.len() > Self::MAX {
            return None;
        }
        let mut o = OptionBytes::default();
        o.bytes[..b.len()].copy_from_slice(b);
        o.len = b.len() as u8;
        Some(o)
    }

    /// The option bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The length padded to a multiple of four, as it takes in a header.
    pub fn padded_len(&self) -> usize {
        (self.len as usize).div_ceil(4) * 4
    }

    /// True if there are no options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for OptionBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptionBytes({:02x?})", self.as_bytes())
    }
}
