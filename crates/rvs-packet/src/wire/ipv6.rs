//! The fixed IPv6 header (RFC 8200 section 3). Extension headers are in
//! [`super::ipv6ext`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                         Source Address                        +
//! |                          (16 octets)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                      Destination Address                      +
//! |                          (16 octets)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 8200: "Payload Length: 16-bit unsigned integer. Length of the IPv6
//! payload, i.e., the rest of the packet following this IPv6 header, in
//! octets. (Note that any extension headers present are considered part of
//! the payload, i.e., included in the length count.)" Jumbograms (RFC 2675,
//! payload length 0) are not supported: their payload is empty here.
//!
//! [`Packet::new_checked`] validates the header and the payload length once;
//! after it no getter or setter can panic.
//!
//! The exception is a setter that changes a length field, `set_payload_len`:
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;
use std::net::Ipv6Addr;

use super::{be16, be32, check_len, ipv6_at, malformed, IpProtocol, Result};

/// Byte ranges of the IPv6 header fields.
pub mod field {
    use core::ops::Range;
    /// Version, traffic class, flow label.
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length.
    pub const LENGTH: Range<usize> = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 8..24;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds the header and the payload
    /// length it announces.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("ipv6", len, HEADER_LEN)?;
        check_len("ipv6", len, HEADER_LEN + self.payload_len() as usize)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word0(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    /// Version (6 for a valid packet; checked by [`Repr::parse`]).
    pub fn version(&self) -> u8 {
        (self.word0() >> 28) as u8
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    /// Payload length.
    pub fn payload_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::NXT_HDR].into()
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        ipv6_at(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        ipv6_at(&self.buffer.as_ref()[field::DST_ADDR])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload (extension headers included), to Payload Length.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_word0(&mut self, v: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the version to 6.
    pub fn set_version(&mut self) {
        let w = (self.word0() & 0x0fff_ffff) | (6 << 28);
        self.set_word0(w);
    }
    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, v: u8) {
        let w = (self.word0() & 0xf00f_ffff) | (u32::from(v) << 20);
        self.set_word0(w);
    }
    /// Sets the flow label (low 20 bits of `v`).
    pub fn set_flow_label(&mut self, v: u32) {
        let w = (self.word0() & 0xfff0_0000) | (v & 0x000f_ffff);
        self.set_word0(w);
    }
    /// Sets the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the next header.
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.into();
    }
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + self.payload_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A parsed IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length, extension headers included.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label.
    pub flow_label: u32,
}

impl Repr {
    /// Reads a checked header, verifying the version.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        // RFC 8200: "Version: 4-bit Internet Protocol version number = 6."
        if p.version() != 6 {
            return Err(malformed("ipv6", "version", p.version().into()));
        }
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.payload_len() as usize,
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }

    /// The header length: 40.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; the payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_word0(6 << 28);
        p.set_traffic_class(self.traffic_class);
        p.set_flow_label(self.flow_label);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ipv6(src={},dst={},label={:#x},proto={},tclass={:#x},hlimit={})",
            self.src_addr,
            self.dst_addr,
            self.flow_label,
            self.next_header,
            self.traffic_class,
            self.hop_limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;

    #[test]
    fn parses_captured_tcp_syn() {
        let p = Packet::new_checked(&TCP6_SYN[14..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.src_addr, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.dst_addr, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.next_header, IpProtocol::Tcp);
        assert_eq!(r.payload_len, 40);
        assert_eq!(r.hop_limit, 64);
        assert_eq!(p.payload().len(), 40);
        assert!(r.to_string().starts_with("ipv6(src=2001:db8::1,dst=2001:db8::2,label="));
    }

    #[test]
    fn emit_reproduces_captures() {
        for frame in [&TCP6_SYN[..], &ND_NS[..], &MLD2_REPORT_HBH[..], &UDP6[..]] {
            let ip = &frame[14..];
            let r = Repr::parse(&Packet::new_checked(ip).unwrap()).unwrap();
            let mut buf = ip.to_vec();
            buf[..HEADER_LEN].fill(0xee);
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf[..], ip);
        }
    }

    #[test]
    fn setters_touch_only_their_bits() {
        let mut b = UDP6;
        let mut p = Packet::new_unchecked(&mut b[14..]);
        p.set_traffic_class(0xb8);
        p.set_flow_label(0xabcde);
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xb8, 0xabcde));
        p.set_flow_label(0x1);
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xb8, 1));
    }

    #[test]
    fn wrong_version_is_rejected() {
        let mut b = UDP6;
        b[14] = 0x40;
        assert!(Repr::parse(&Packet::new_checked(&b[14..]).unwrap()).is_err());
    }

    #[test]
    fn truncations_are_errors() {
        for frame in [&TCP6_SYN[..], &ND_NA[..], &IPV6_LAST_FRAGMENT[..]] {
            let ip = &frame[14..];
            for len in 0..ip.len() {
                assert!(Packet::new_checked(&ip[..len]).is_err(), "{len}");
            }
        }
    }
}
