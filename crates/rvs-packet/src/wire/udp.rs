//! User Datagram Protocol headers (RFC 768).
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |                 |                 |
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! |          data octets ...
//! +---------------- ...
//! ```
//!
//! [`Packet::new_checked`] validates the length field against the buffer
//! once; after it no getter or setter can panic.
//!
//! The exception is a setter that changes a length field, `set_len`:
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;

use super::{be16, check_len, malformed, IpProtocol, PseudoHeader, Result};
use crate::checksum;

/// Byte ranges of the UDP header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length of header and data.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the header.
pub const HEADER_LEN: usize = 8;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking the header and the Length field.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("udp", len, HEADER_LEN)?;
        // RFC 768: "Length is the length in octets of this user datagram
        // including this header and the data. (This means the minimum value
        // of the length is eight.)"
        let l = self.len() as usize;
        if l < HEADER_LEN {
            return Err(malformed("udp", "length", l as u32));
        }
        check_len("udp", len, l)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }
    /// The Length field (header and data).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// True if the checksum is right, or absent where that is allowed.
    ///
    /// RFC 768: "An all zero transmitted checksum value means that the
    /// transmitter generated no checksum"; but over IPv6, RFC 8200 8.1:
    /// "IPv6 receivers must discard UDP packets containing a zero checksum".
    pub fn verify_checksum(&self, ph: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return matches!(ph, PseudoHeader::V4(..));
        }
        let data = &self.buffer.as_ref()[..self.len() as usize];
        checksum::finish(checksum::accumulate(ph.sum(IpProtocol::Udp, data.len()), data)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The data, up to Length.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the Length field.
    pub fn set_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..l]
    }
    /// Computes the checksum over Length bytes and the pseudo-header.
    pub fn fill_checksum(&mut self, ph: &PseudoHeader) {
        self.set_checksum(0);
        let data = &self.buffer.as_ref()[..self.len() as usize];
        let c = checksum::finish(checksum::accumulate(ph.sum(IpProtocol::Udp, data.len()), data));
        // RFC 768: "If the computed checksum is zero, it is transmitted as
        // all ones".
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length of the data after the header.
    pub payload_len: usize,
}

impl Repr {
    /// Reads a checked header; `ph` given, the checksum is verified too.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        ph: Option<&PseudoHeader>,
    ) -> Result<Repr> {
        p.check_len()?;
        if let Some(ph) = ph {
            if !p.verify_checksum(ph) {
                return Err(malformed("udp", "checksum", p.checksum().into()));
            }
        }
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.len() as usize - HEADER_LEN,
        })
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into a buffer of at least `buffer_len()` bytes whose
    /// payload is already in place, then fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        p: &mut Packet<&mut T>,
        ph: &PseudoHeader,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(self.buffer_len() as u16);
        p.fill_checksum(ph);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "udp(src={},dst={})", self.src_port, self.dst_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;
    use std::net::Ipv4Addr;

    const PH4: PseudoHeader =
        PseudoHeader::V4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));

    fn ph6() -> PseudoHeader {
        PseudoHeader::V6("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
    }

    /// A copy of `d` with its checksum completed (see `captures`: veth
    /// left the folded pseudo-header sum in the field).
    fn completed(d: &[u8], ph: &PseudoHeader) -> Vec<u8> {
        let p = Packet::new_checked(d).unwrap();
        assert_eq!(p.checksum(), !checksum::finish(ph.sum(IpProtocol::Udp, d.len())));
        assert!(!p.verify_checksum(ph));
        let mut b = d.to_vec();
        Packet::new_checked(&mut b[..]).unwrap().fill_checksum(ph);
        b
    }

    #[test]
    fn parses_captured_datagrams() {
        let d = completed(&UDP4[34..], &PH4);
        let p = Packet::new_checked(&d[..]).unwrap();
        let r = Repr::parse(&p, Some(&PH4)).unwrap();
        assert_eq!(r, Repr { src_port: 40000, dst_port: 5354, payload_len: 9 });
        assert_eq!(p.payload(), b"hello rvs");
        assert_eq!(r.to_string(), "udp(src=40000,dst=5354)");
        let d = completed(&UDP6[54..], &ph6());
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(Repr::parse(&p, Some(&ph6())).unwrap(), r);
        assert!(Repr::parse(&p, Some(&PH4)).is_err());
    }

    #[test]
    fn completed_checksum_matches_etherparse() {
        let ip = etherparse::Ipv4HeaderSlice::from_slice(&UDP4[14..34]).unwrap();
        let udp = etherparse::UdpHeader::from_slice(&UDP4[34..]).unwrap().0;
        let want = udp.calc_checksum_ipv4_raw(ip.source(), ip.destination(), b"hello rvs").unwrap();
        let d = completed(&UDP4[34..], &PH4);
        assert_eq!(Packet::new_checked(&d[..]).unwrap().checksum(), want);
    }

    #[test]
    fn emit_reproduces_captures() {
        for (d, ph) in
            [(completed(&UDP4[34..], &PH4), PH4), (completed(&UDP6[54..], &ph6()), ph6())]
        {
            let r = Repr::parse(&Packet::new_checked(&d[..]).unwrap(), Some(&ph)).unwrap();
            let mut b = d.clone();
            b[..8].fill(0);
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &ph);
            assert_eq!(b, d);
        }
    }

    #[test]
    fn zero_checksum_is_absent_over_ipv4_only() {
        let mut b = UDP4;
        b[40..42].fill(0); // "no checksum"
        assert!(Packet::new_checked(&b[34..]).unwrap().verify_checksum(&PH4));
        let mut b = UDP6;
        b[60..62].fill(0);
        assert!(!Packet::new_checked(&b[54..]).unwrap().verify_checksum(&ph6()));
    }

    #[test]
    fn bad_length_is_rejected() {
        let mut b = UDP4;
        b[38..40].copy_from_slice(&7u16.to_be_bytes());
        assert!(Packet::new_checked(&b[34..]).is_err());
    }

    #[test]
    fn truncations_are_errors() {
        for d in [&UDP4[34..], &UDP6[54..]] {
            for len in 0..d.len() {
                assert!(Packet::new_checked(&d[..len]).is_err(), "{len}");
            }
        }
    }
}
