//! Ethernet II frames (IEEE 802.3, RFC 894).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+       Source Address          +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           EtherType           |   Payload ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 894: "The type field of the Ethernet header contains the protocol
//! number". The frame check sequence is not part of the view: netdevs hand
//! frames over without it.
//!
//! [`Packet::new_checked`] validates the length once; after it no getter or
//! setter can panic.

use core::fmt;

use super::{check_len, EtherType, Result};
use crate::types::EthAddr;

/// Byte ranges of the Ethernet header fields.
pub mod field {
    use core::ops::{Range, RangeFrom};
    /// Destination MAC address.
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source MAC address.
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType (or the TPID of a VLAN tag).
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// The payload.
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read/write view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the header.
    pub fn check_len(&self) -> Result<()> {
        check_len("ethernet", self.buffer.as_ref().len(), HEADER_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination address.
    pub fn dst_addr(&self) -> EthAddr {
        EthAddr::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// The source address.
    pub fn src_addr(&self) -> EthAddr {
        EthAddr::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// The EtherType (a TPID when the frame is tagged).
    pub fn ethertype(&self) -> EtherType {
        super::be16(&self.buffer.as_ref()[field::ETHERTYPE]).into()
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: EthAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: EthAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, t: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(t).to_be_bytes());
    }

    /// The bytes after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A parsed Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: EthAddr,
    /// Destination address.
    pub dst_addr: EthAddr,
    /// EtherType.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a checked packet.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr { src_addr: p.src_addr(), dst_addr: p.dst_addr(), ethertype: p.ethertype() })
    }

    /// The header length: 14.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.set_ethertype(self.ethertype);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "eth(src={},dst={}),eth_type({})", self.src_addr, self.dst_addr, self.ethertype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;

    #[test]
    fn parses_captured_arp_request() {
        let p = Packet::new_checked(&ARP_REQUEST[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.dst_addr, EthAddr::BROADCAST);
        assert_eq!(r.src_addr, "02:00:5e:00:53:0a".parse().unwrap());
        assert_eq!(r.ethertype, EtherType::Arp);
        assert_eq!(p.payload().len(), 28);
        assert_eq!(
            r.to_string(),
            "eth(src=02:00:5e:00:53:0a,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806)"
        );
    }

    #[test]
    fn emit_reproduces_capture() {
        let r = Repr::parse(&Packet::new_checked(&TCP4_SYN[..]).unwrap()).unwrap();
        assert_eq!(r.ethertype, EtherType::Ipv4);
        let mut buf = TCP4_SYN;
        buf[..14].fill(0);
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, TCP4_SYN);
    }

    #[test]
    fn unknown_ethertype_is_kept() {
        let mut f = ARP_REPLY;
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        let p = Packet::new_checked(&f[..]).unwrap();
        assert_eq!(p.ethertype(), EtherType::Unknown(0x88b5));
    }

    #[test]
    fn truncations_are_errors() {
        for len in 0..HEADER_LEN {
            assert!(Packet::new_checked(&ARP_REQUEST[..len]).is_err(), "{len}");
        }
    }
}
