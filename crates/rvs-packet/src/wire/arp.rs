//! The Address Resolution Protocol (RFC 826) for Ethernet and IPv4.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Hardware type         |         Protocol type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Hw addr len  | Proto addr len|           Operation           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Sender hardware address (6 for Ethernet)           |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |   Sender protocol address     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Sender proto addr (cont.)   |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                    Target hardware address                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Target protocol address                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 826 leaves the address lengths to the header ("byte length of each
//! hardware address", "byte length of each protocol address"), so the view
//! reads them generically; [`Repr`] is Ethernet/IPv4 only. RARP (RFC 903)
//! uses the same format with operations 3 and 4.
//!
//! [`Packet::new_checked`] validates the length, including the address fields
//! that the length bytes announce, once; after it no getter can panic.
//!
//! The exception is a setter that changes a length field, `set_hardware_len` and `set_protocol_len`:
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;
use std::net::Ipv4Addr;

use super::{be16, check_len, malformed, Result};
use crate::types::EthAddr;

/// Byte ranges of the fixed ARP fields; the address fields follow at
/// [`field::ADDRESSES`] with lengths from `HLEN` and `PLEN`.
pub mod field {
    use core::ops::Range;
    /// Hardware type (1 for Ethernet).
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type (an EtherType, 0x0800 for IPv4).
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;
    /// Start of the address fields.
    pub const ADDRESSES: usize = 8;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETH_IPV4_LEN: usize = 28;

/// An ARP operation; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1
    Request,
    /// 2
    Reply,
    /// 3, RARP request (RFC 903)
    RarpRequest,
    /// 4, RARP reply (RFC 903)
    RarpReply,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => Self::Request,
            2 => Self::Reply,
            3 => Self::RarpRequest,
            4 => Self::RarpReply,
            o => Self::Unknown(o),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(v: ArpOperation) -> u16 {
        match v {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::RarpRequest => 3,
            ArpOperation::RarpReply => 4,
            ArpOperation::Unknown(o) => o,
        }
    }
}

/// A read/write view of an ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds the fixed fields and the four
    /// addresses whose lengths they announce.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("arp", len, field::ADDRESSES)?;
        check_len("arp", len, self.header_len())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The length the header announces: 8 + 2 * (HLEN + PLEN).
    pub fn header_len(&self) -> usize {
        field::ADDRESSES + 2 * (self.hardware_len() as usize + self.protocol_len() as usize)
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::HTYPE])
    }

    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PTYPE])
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        be16(&self.buffer.as_ref()[field::OPER]).into()
    }

    fn sha_range(&self) -> core::ops::Range<usize> {
        let s = field::ADDRESSES;
        s..s + self.hardware_len() as usize
    }
    fn spa_range(&self) -> core::ops::Range<usize> {
        let s = self.sha_range().end;
        s..s + self.protocol_len() as usize
    }
    fn tha_range(&self) -> core::ops::Range<usize> {
        let s = self.spa_range().end;
        s..s + self.hardware_len() as usize
    }
    fn tpa_range(&self) -> core::ops::Range<usize> {
        let s = self.tha_range().end;
        s..s + self.protocol_len() as usize
    }

    /// Sender hardware address bytes.
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.sha_range()]
    }

    /// Sender protocol address bytes.
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.spa_range()]
    }

    /// Target hardware address bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.tha_range()]
    }

    /// Target protocol address bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.tpa_range()]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Bytes after the ARP packet (Ethernet padding, usually).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the hardware address length (re-check the length afterwards).
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }
    /// Sets the protocol address length (re-check the length afterwards).
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }
    /// Sets the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&u16::from(op).to_be_bytes());
    }
    /// Sets the sender hardware address; `a` must be HLEN bytes long.
    pub fn set_source_hardware_addr(&mut self, a: &[u8]) {
        let r = self.sha_range();
        self.buffer.as_mut()[r].copy_from_slice(a);
    }
    /// Sets the sender protocol address; `a` must be PLEN bytes long.
    pub fn set_source_protocol_addr(&mut self, a: &[u8]) {
        let r = self.spa_range();
        self.buffer.as_mut()[r].copy_from_slice(a);
    }
    /// Sets the target hardware address; `a` must be HLEN bytes long.
    pub fn set_target_hardware_addr(&mut self, a: &[u8]) {
        let r = self.tha_range();
        self.buffer.as_mut()[r].copy_from_slice(a);
    }
    /// Sets the target protocol address; `a` must be PLEN bytes long.
    pub fn set_target_protocol_addr(&mut self, a: &[u8]) {
        let r = self.tpa_range();
        self.buffer.as_mut()[r].copy_from_slice(a);
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Operation.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hardware_addr: EthAddr,
    /// Sender protocol address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target hardware address.
    pub target_hardware_addr: EthAddr,
    /// Target protocol address.
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// Reads an Ethernet/IPv4 ARP packet; other hardware or protocol types are
    /// `Malformed` (the view still reads them).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        // RFC 826: "ar$hrd ... Hardware address space (e.g., Ethernet,
        // Packet Radio Net.)"; we only model Ethernet (1) and IPv4 (0x0800).
        if p.hardware_type() != 1 {
            return Err(malformed("arp", "hardware type", p.hardware_type().into()));
        }
        if p.protocol_type() != 0x0800 {
            return Err(malformed("arp", "protocol type", p.protocol_type().into()));
        }
        if p.hardware_len() != 6 {
            return Err(malformed("arp", "hardware length", p.hardware_len().into()));
        }
        if p.protocol_len() != 4 {
            return Err(malformed("arp", "protocol length", p.protocol_len().into()));
        }
        Ok(Repr {
            operation: p.operation(),
            source_hardware_addr: EthAddr::from_bytes(p.source_hardware_addr()),
            source_protocol_addr: super::ipv4_at(p.source_protocol_addr()),
            target_hardware_addr: EthAddr::from_bytes(p.target_hardware_addr()),
            target_protocol_addr: super::ipv4_at(p.target_protocol_addr()),
        })
    }

    /// The packet's length: 28.
    pub const fn buffer_len(&self) -> usize {
        ETH_IPV4_LEN
    }

    /// Writes the packet into a buffer of at least 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_hardware_type(1);
        p.set_protocol_type(0x0800);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(self.operation);
        p.set_source_hardware_addr(&self.source_hardware_addr.0);
        p.set_source_protocol_addr(&self.source_protocol_addr.octets());
        p.set_target_hardware_addr(&self.target_hardware_addr.0);
        p.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arp(sip={},tip={},op={},sha={},tha={})",
            self.source_protocol_addr,
            self.target_protocol_addr,
            u16::from(self.operation),
            self.source_hardware_addr,
            self.target_hardware_addr
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;

    fn mac(s: &str) -> EthAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_captured_request_and_reply() {
        let p = Packet::new_checked(&ARP_REQUEST[14..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.source_hardware_addr, mac("02:00:5e:00:53:0a"));
        assert_eq!(r.source_protocol_addr, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(r.target_hardware_addr, EthAddr::ZERO);
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(198, 18, 0, 2));

        let r = Repr::parse(&Packet::new_checked(&ARP_REPLY[14..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Reply);
        assert_eq!(r.source_hardware_addr, mac("02:00:5e:00:53:0b"));
        assert_eq!(r.target_hardware_addr, mac("02:00:5e:00:53:0a"));
        assert_eq!(
            r.to_string(),
            "arp(sip=198.18.0.2,tip=198.18.0.1,op=2,sha=02:00:5e:00:53:0b,tha=02:00:5e:00:53:0a)"
        );
    }

    #[test]
    fn emit_reproduces_capture() {
        let r = Repr::parse(&Packet::new_checked(&ARP_REPLY[14..]).unwrap()).unwrap();
        let mut buf = [0u8; ETH_IPV4_LEN];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &ARP_REPLY[14..]);
    }

    #[test]
    fn unknown_operation_is_kept() {
        let mut b = ARP_REQUEST;
        b[21] = 9;
        let r = Repr::parse(&Packet::new_checked(&b[14..]).unwrap()).unwrap();
        assert_eq!(r.operation, ArpOperation::Unknown(9));
    }

    #[test]
    fn other_address_types_are_malformed_not_panics() {
        let mut b = ARP_REQUEST;
        b[18] = 16; // hardware length 16: needs 8 + 2 * 20 = 48 bytes
        assert!(Packet::new_checked(&b[14..]).is_err());
        b[18] = 2;
        let p = Packet::new_checked(&b[14..]).unwrap();
        assert_eq!(p.source_hardware_addr().len(), 2);
        assert!(matches!(
            Repr::parse(&p),
            Err(crate::wire::WireError::Malformed { field: "hardware length", value: 2, .. })
        ));
    }

    #[test]
    fn truncations_are_errors() {
        for len in 0..ETH_IPV4_LEN {
            assert!(Packet::new_checked(&ARP_REQUEST[14..14 + len]).is_err(), "{len}");
        }
    }
}
