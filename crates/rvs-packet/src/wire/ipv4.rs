//! Internet Protocol version 4 (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |0|D|M|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The TOS octet is split as RFC 2474 (DSCP) and RFC 3168 (ECN) redefine it.
//!
//! [`Packet::new_checked`] validates the header length and the total length
//! once; after it no getter or setter can panic. Bytes after Total Length
//! (Ethernet padding) are not part of [`Packet::payload`].
//!
//! The exception is a setter that changes a length field, `set_version_and_header_len` and `set_total_len`:
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;
use std::net::Ipv4Addr;

use super::{be16, check_len, ipv4_at, malformed, IpProtocol, OptionBytes, Result};
use crate::checksum;

/// Byte ranges of the IPv4 header fields.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (high six bits) and ECN (low two).
    pub const DSCP_ECN: usize = 1;
    /// Total length.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags and fragment offset.
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 16..20;
    /// Start of the options.
    pub const OPTIONS: usize = 20;
}

/// Length of the header without options.
pub const HEADER_LEN: usize = 20;

const DF: u16 = 0x4000;
const MF: u16 = 0x2000;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking the header length and the total length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("ipv4", len, HEADER_LEN)?;
        let hl = self.header_len() as usize;
        // RFC 791: "Internet Header Length is the length of the internet
        // header in 32 bit words ... Note that the minimum value for a
        // correct header is 5."
        if hl < HEADER_LEN {
            return Err(malformed("ipv4", "header length", hl as u32));
        }
        check_len("ipv4", len, hl)?;
        // RFC 791: "Total Length is the length of the datagram, measured in
        // octets, including internet header and data."
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(malformed("ipv4", "total length", tl as u32));
        }
        check_len("ipv4", len, tl)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4 for a valid packet; checked by [`Repr::parse`]).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// DSCP (six bits).
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// ECN (two bits).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 3
    }

    /// Total length.
    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FLG_OFF]) & DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FLG_OFF]) & MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (be16(&self.buffer.as_ref()[field::FLG_OFF]) & 0x1fff) << 3
    }

    /// True if this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// Header checksum.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        ipv4_at(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The option bytes (with any padding).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len() as usize]
    }

    /// True if the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len() as usize]) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: from the end of the header to Total Length.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len() as usize..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) & 0x0f);
    }
    /// Sets the DSCP.
    pub fn set_dscp(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 3) | (v << 2);
    }
    /// Sets the ECN bits.
    pub fn set_ecn(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & !3) | (v & 3);
    }
    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the flags and the fragment offset (in bytes, a multiple of 8).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v =
            (if dont_frag { DF } else { 0 }) | (if more_frags { MF } else { 0 }) | (offset >> 3);
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the TTL.
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    /// Sets the protocol.
    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.into();
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
    /// The option bytes, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }
    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len() as usize]);
        self.set_checksum(c);
    }
    /// The payload (to Total Length), writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len() as usize, self.total_len() as usize);
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// One option found by [`Options`]: its type octet and its data (without the
/// type and length octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// Option type (copied flag, class and number).
    pub kind: u8,
    /// Option data.
    pub data: &'a [u8],
}

/// Option type of Router Alert (RFC 2113).
pub const OPT_ROUTER_ALERT: u8 = 0x94;

/// Walks IPv4 options, stopping at End of Option List. Yields `Err` once for
/// an option whose length is below 2 or runs past the header.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    data: &'a [u8],
}

impl<'a> Options<'a> {
    /// Walks `data` (from [`Packet::options`]).
    pub fn new(data: &'a [u8]) -> Options<'a> {
        Options { data }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Ipv4Option<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&kind, rest) = self.data.split_first()?;
            match kind {
                0 => {
                    self.data = &[];
                    return None;
                }
                1 => self.data = rest,
                _ => {
                    // RFC 791: "The option-length octet counts the
                    // option-type octet and the option-length octet as well
                    // as the option-data octets."
                    let len = rest.first().copied().unwrap_or(0) as usize;
                    if len < 2 || len > self.data.len() {
                        self.data = &[];
                        return Some(Err(malformed("ipv4", "option length", len as u32)));
                    }
                    let opt = Ipv4Option { kind, data: &self.data[2..len] };
                    self.data = &self.data[len..];
                    return Some(Ok(opt));
                }
            }
        }
    }
}

/// A parsed IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length (Total Length minus the header).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP.
    pub dscp: u8,
    /// ECN.
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Options, emitted padded with zeros (End of Option List) to 4 bytes.
    pub options: OptionBytes,
}

impl Repr {
    /// A header with no options, not fragmented, DF clear.
    pub fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        protocol: IpProtocol,
        ttl: u8,
        payload_len: usize,
    ) -> Repr {
        Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            options: OptionBytes::default(),
        }
    }

    /// Reads a checked header, verifying the version and the checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        // RFC 791: "The Version field indicates the format of the internet
        // header. This document describes version 4."
        if p.version() != 4 {
            return Err(malformed("ipv4", "version", p.version().into()));
        }
        // RFC 1122 3.2.1.2: "A host MUST verify the IP header checksum on
        // every received datagram and silently discard every datagram that
        // has a bad checksum."
        if !p.verify_checksum() {
            return Err(malformed("ipv4", "checksum", p.checksum().into()));
        }
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.total_len() as usize - p.header_len() as usize,
            ttl: p.ttl(),
            dscp: p.dscp(),
            ecn: p.ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            // The header is at most 60 bytes, so options fit in 40.
            options: OptionBytes::new(p.options()).unwrap_or_default(),
        })
    }

    /// Header length, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.padded_len()
    }

    /// Header length; the payload follows.
    pub fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the header (checksum included) into a buffer of at least
    /// `buffer_len()` bytes; the payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        let hl = self.header_len();
        p.set_version_and_header_len(hl as u8);
        p.set_dscp(self.dscp);
        p.set_ecn(self.ecn);
        p.set_total_len((hl + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, self.more_frags, self.frag_offset);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        let opts = p.options_mut();
        opts.fill(0);
        opts[..self.options.as_bytes().len()].copy_from_slice(self.options.as_bytes());
        p.fill_checksum();
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frag = match (self.more_frags, self.frag_offset) {
            (false, 0) => "no",
            (true, 0) => "first",
            _ => "later",
        };
        write!(
            f,
            "ipv4(src={},dst={},proto={},tos={},ttl={},frag={})",
            self.src_addr,
            self.dst_addr,
            self.protocol,
            (self.dscp << 2) | self.ecn,
            self.ttl,
            frag
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;

    #[test]
    fn parses_captured_echo_request() {
        let p = Packet::new_checked(&ICMP4_ECHO_REQUEST[14..]).unwrap();
        assert!(p.verify_checksum());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.src_addr, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(r.dst_addr, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(r.protocol, IpProtocol::Icmp);
        assert_eq!(r.ttl, 64);
        assert!(r.dont_frag);
        assert_eq!(r.payload_len, 16);
        assert_eq!(p.payload().len(), 16);
        assert_eq!(
            r.to_string(),
            "ipv4(src=198.18.0.1,dst=198.18.0.2,proto=1,tos=0,ttl=64,frag=no)"
        );
    }

    #[test]
    fn emit_reproduces_captures() {
        for frame in [&UDP4[..], &TCP4_SYN[..], &IPV4_LAST_FRAGMENT[..], &IGMP2_REPORT[..]] {
            let ip = &frame[14..];
            let r = Repr::parse(&Packet::new_checked(ip).unwrap()).unwrap();
            let mut buf = ip.to_vec();
            buf[..r.header_len()].fill(0xee);
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf[..], ip);
        }
    }

    #[test]
    fn captured_last_fragment() {
        let p = Packet::new_checked(&IPV4_LAST_FRAGMENT[14..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert!(!r.more_frags && !r.dont_frag);
        assert_eq!(r.frag_offset, 1480);
        assert!(p.is_fragment());
        assert!(r.to_string().ends_with("frag=later)"));
    }

    #[test]
    fn captured_router_alert_option() {
        // IGMP carries the Router Alert option: 94 04 00 00.
        let p = Packet::new_checked(&IGMP2_REPORT[14..]).unwrap();
        assert_eq!(p.header_len(), 24);
        let opts: Vec<_> = Options::new(p.options()).collect();
        assert_eq!(opts, vec![Ok(Ipv4Option { kind: OPT_ROUTER_ALERT, data: &[0, 0] })]);
        assert_eq!(Repr::parse(&p).unwrap().options.as_bytes(), &[0x94, 4, 0, 0]);
    }

    #[test]
    fn bad_option_length_is_an_error() {
        let o: Vec<_> = Options::new(&[1, 0x94, 1, 0]).collect();
        assert!(matches!(o[..], [Err(_)]));
        let o: Vec<_> = Options::new(&[0x94, 9, 0, 0]).collect();
        assert!(matches!(o[..], [Err(_)]));
        assert_eq!(Options::new(&[1, 1, 0, 0x94]).count(), 0);
    }

    #[test]
    fn bad_checksum_and_version_are_rejected() {
        let mut b = ICMP4_ECHO_REQUEST;
        b[14 + 8] = 63; // TTL changed, checksum not
        let p = Packet::new_checked(&b[14..]).unwrap();
        assert!(!p.verify_checksum());
        assert!(Repr::parse(&p).is_err());
        let mut b = ICMP4_ECHO_REQUEST;
        b[14] = 0x65;
        assert!(matches!(
            Repr::parse(&Packet::new_checked(&b[14..]).unwrap()),
            Err(crate::wire::WireError::Malformed { field: "version", .. })
        ));
    }

    #[test]
    fn bad_lengths_are_rejected() {
        let mut b = ICMP4_ECHO_REQUEST;
        b[14] = 0x44; // IHL 4
        assert!(Packet::new_checked(&b[14..]).is_err());
        let mut b = ICMP4_ECHO_REQUEST;
        b[16..18].copy_from_slice(&19u16.to_be_bytes());
        assert!(Packet::new_checked(&b[14..]).is_err());
    }

    #[test]
    fn truncations_are_errors() {
        for frame in [&ICMP4_ECHO_REQUEST[..], &IGMP2_REPORT[..], &TCP4_SYN[..]] {
            let ip = &frame[14..];
            for len in 0..ip.len() {
                assert!(Packet::new_checked(&ip[..len]).is_err(), "{len}");
            }
        }
    }
}
