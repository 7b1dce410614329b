//! Internet Control Message Protocol for IPv4 (RFC 792).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Rest of header (echo: Identifier, Sequence Number; errors:   |
//! |  unused or next-hop MTU)                                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data (echo data, or the offending IP header + 8 bytes) ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! RFC 792: "The checksum is the 16-bit ones's complement of the one's
//! complement sum of the ICMP message starting with the ICMP Type."
//!
//! [`Packet::new_checked`] validates the 8-byte header once; after it no
//! getter or setter can panic.

use core::fmt;

use super::{be16, be32, check_len, malformed, Result};
use crate::checksum;

/// Byte ranges of the ICMPv4 header fields.
pub mod field {
    use core::ops::{Range, RangeFrom};
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The four type-specific header bytes.
    pub const REST: Range<usize> = 4..8;
    /// Echo identifier.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo sequence number.
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Data.
    pub const DATA: RangeFrom<usize> = 8..;
}

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// An ICMPv4 message type; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Type {
    /// 0
    EchoReply,
    /// 3
    DstUnreachable,
    /// 5
    Redirect,
    /// 8
    EchoRequest,
    /// 9
    RouterAdvert,
    /// 10
    RouterSolicit,
    /// 11
    TimeExceeded,
    /// 12
    ParamProblem,
    /// 13
    Timestamp,
    /// 14
    TimestampReply,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for Icmpv4Type {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::EchoReply,
            3 => Self::DstUnreachable,
            5 => Self::Redirect,
            8 => Self::EchoRequest,
            9 => Self::RouterAdvert,
            10 => Self::RouterSolicit,
            11 => Self::TimeExceeded,
            12 => Self::ParamProblem,
            13 => Self::Timestamp,
            14 => Self::TimestampReply,
            o => Self::Unknown(o),
        }
    }
}

impl From<Icmpv4Type> for u8 {
    fn from(v: Icmpv4Type) -> u8 {
        match v {
            Icmpv4Type::EchoReply => 0,
            Icmpv4Type::DstUnreachable => 3,
            Icmpv4Type::Redirect => 5,
            Icmpv4Type::EchoRequest => 8,
            Icmpv4Type::RouterAdvert => 9,
            Icmpv4Type::RouterSolicit => 10,
            Icmpv4Type::TimeExceeded => 11,
            Icmpv4Type::ParamProblem => 12,
            Icmpv4Type::Timestamp => 13,
            Icmpv4Type::TimestampReply => 14,
            Icmpv4Type::Unknown(o) => o,
        }
    }
}

/// A read/write view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length.
    pub fn check_len(&self) -> Result<()> {
        check_len("icmpv4", self.buffer.as_ref().len(), HEADER_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> Icmpv4Type {
        self.buffer.as_ref()[field::TYPE].into()
    }
    /// Code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// The four type-specific header bytes as one word.
    pub fn rest(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::REST])
    }
    /// Echo identifier (meaningful for echo messages).
    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }
    /// Echo sequence number (meaningful for echo messages).
    pub fn echo_seq_no(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQNO])
    }
    /// True if the checksum over the whole buffer is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The data after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: Icmpv4Type) {
        self.buffer.as_mut()[field::TYPE] = v.into();
    }
    /// Sets the code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the four type-specific header bytes.
    pub fn set_rest(&mut self, v: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v.to_be_bytes());
    }
    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
    /// Computes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A parsed ICMPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Message type.
    pub msg_type: Icmpv4Type,
    /// Code.
    pub code: u8,
    /// The four type-specific header bytes (echo: identifier << 16 | sequence).
    pub rest: u32,
    /// Length of the data after the header.
    pub payload_len: usize,
}

impl Repr {
    /// An echo request header.
    pub fn echo_request(ident: u16, seq_no: u16, payload_len: usize) -> Repr {
        Repr {
            msg_type: Icmpv4Type::EchoRequest,
            code: 0,
            rest: (u32::from(ident) << 16) | u32::from(seq_no),
            payload_len,
        }
    }

    /// Reads a checked message, verifying the checksum over the whole buffer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(malformed("icmpv4", "checksum", p.checksum().into()));
        }
        Ok(Repr {
            msg_type: p.msg_type(),
            code: p.msg_code(),
            rest: p.rest(),
            payload_len: p.payload().len(),
        })
    }

    /// Header plus data length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into a buffer of exactly `buffer_len()` bytes whose
    /// data is already in place, then fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_msg_type(self.msg_type);
        p.set_msg_code(self.code);
        p.set_rest(self.rest);
        p.fill_checksum();
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "icmp(type={},code={})", u8::from(self.msg_type), self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;

    #[test]
    fn parses_captured_echo_request_and_reply() {
        let p = Packet::new_checked(&ICMP4_ECHO_REQUEST[34..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, Repr::echo_request(0x1234, 1, 8));
        assert_eq!(p.payload(), b"rvs-wire");
        assert_eq!(r.to_string(), "icmp(type=8,code=0)");
        let p = Packet::new_checked(&ICMP4_ECHO_REPLY[34..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.msg_type, Icmpv4Type::EchoReply);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
    }

    #[test]
    fn parses_captured_port_unreachable() {
        let p = Packet::new_checked(&ICMP4_PORT_UNREACH[34..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!((r.msg_type, r.code), (Icmpv4Type::DstUnreachable, 3));
        // The data quotes the offending IPv4 header.
        let quoted = crate::wire::ipv4::Packet::new_unchecked(p.payload());
        assert_eq!(quoted.dst_addr(), std::net::Ipv4Addr::new(198, 18, 0, 2));
    }

    #[test]
    fn emit_reproduces_captures() {
        for m in [&ICMP4_ECHO_REQUEST[34..], &ICMP4_ECHO_REPLY[34..], &ICMP4_PORT_UNREACH[34..]] {
            let r = Repr::parse(&Packet::new_checked(m).unwrap()).unwrap();
            let mut b = m.to_vec();
            b[..HEADER_LEN].fill(0);
            r.emit(&mut Packet::new_unchecked(&mut b[..]));
            assert_eq!(&b[..], m);
        }
    }

    #[test]
    fn bad_checksum_and_unknown_type() {
        let mut b = ICMP4_ECHO_REQUEST;
        b[45] ^= 0xff;
        assert!(Repr::parse(&Packet::new_checked(&b[34..]).unwrap()).is_err());
        let mut b = ICMP4_ECHO_REQUEST;
        b[34] = 42;
        let mut p = Packet::new_checked(&mut b[34..]).unwrap();
        p.fill_checksum();
        let r = Repr::parse(&Packet::new_checked(&b[34..]).unwrap()).unwrap();
        assert_eq!(r.msg_type, Icmpv4Type::Unknown(42));
    }

    #[test]
    fn truncations_are_errors() {
        for len in 0..HEADER_LEN {
            assert!(Packet::new_checked(&ICMP4_ECHO_REQUEST[34..34 + len]).is_err());
        }
    }
}
