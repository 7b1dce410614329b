//! IEEE 802.1Q customer tags (TPID 0x8100) and 802.1ad service tags (TPID
//! 0x88a8), including double tagging ("QinQ").
//!
//! The TPID is the EtherType of the enclosing header; this view starts after
//! it, at the Tag Control Information:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | PCP |D|         VID           |   EtherType (inner) / TPID    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! IEEE 802.1Q-2018 clause 9.6: "The TCI field is two octets in length and
//! encodes the vlan_identifier, drop_eligible, and priority parameters". A
//! double-tagged frame carries an S-tag (0x88a8) whose inner EtherType is the
//! TPID 0x8100 of a C-tag; [`Tags`] walks such stacks.
//!
//! [`Packet::new_checked`] validates the length once; after it no getter or
//! setter can panic.

use core::fmt;

use super::{be16, check_len, EtherType, Result};

/// Byte ranges of a VLAN tag (after the TPID).
pub mod field {
    use core::ops::{Range, RangeFrom};
    /// Tag control information: PCP, DEI, VID.
    pub const TCI: Range<usize> = 0..2;
    /// EtherType of what follows (or the TPID of an inner tag).
    pub const ETHERTYPE: Range<usize> = 2..4;
    /// What follows the tag.
    pub const PAYLOAD: RangeFrom<usize> = 4..;
}

/// Length of a tag after its TPID.
pub const HEADER_LEN: usize = 4;

/// The most tags [`Tags`] follows, as OVS (`FLOW_MAX_VLAN_HEADERS`).
pub const MAX_TAGS: usize = 2;

/// True if `t` is a TPID that introduces a VLAN tag (0x8100 or 0x88a8).
pub fn is_tpid(t: EtherType) -> bool {
    matches!(t, EtherType::Vlan | EtherType::QinQ)
}

/// A read/write view of a VLAN tag.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds the 4-byte tag.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the tag.
    pub fn check_len(&self) -> Result<()> {
        check_len("vlan", self.buffer.as_ref().len(), HEADER_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole TCI.
    pub fn tci(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::TCI])
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (formerly CFI).
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The EtherType after the tag.
    pub fn ethertype(&self) -> EtherType {
        be16(&self.buffer.as_ref()[field::ETHERTYPE]).into()
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the tag.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the whole TCI.
    pub fn set_tci(&mut self, tci: u16) {
        self.buffer.as_mut()[field::TCI].copy_from_slice(&tci.to_be_bytes());
    }

    /// Sets the VID, keeping PCP and DEI.
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }

    /// Sets the PCP, keeping DEI and VID.
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13);
        self.set_tci(tci);
    }

    /// Sets the EtherType after the tag.
    pub fn set_ethertype(&mut self, t: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(t).to_be_bytes());
    }

    /// The bytes after the tag, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A parsed VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Priority code point, 0..=7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 0..=4095.
    pub vid: u16,
    /// EtherType after the tag.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads a checked tag.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr { pcp: p.pcp(), dei: p.dei(), vid: p.vid(), ethertype: p.ethertype() })
    }

    /// The TCI these fields make.
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }

    /// The tag's length: 4.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_tci(self.tci());
        p.set_ethertype(self.ethertype);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vlan(vid={},pcp={}", self.vid, self.pcp)?;
        if self.dei {
            write!(f, ",dei")?;
        }
        write!(f, "),encap(eth_type({}))", self.ethertype)
    }
}

/// One tag found by [`Tags`]: the TPID that introduced it and its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The TPID (0x8100 or 0x88a8).
    pub tpid: EtherType,
    /// The tag.
    pub repr: Repr,
}

/// Walks the VLAN tags at the start of an Ethernet payload, outermost first,
/// at most [`MAX_TAGS`] of them. Yields `Err` once if a tag is truncated.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    data: &'a [u8],
    ethertype: EtherType,
    offset: usize,
    count: usize,
    failed: bool,
}

impl<'a> Tags<'a> {
    /// Starts at `data` (the Ethernet payload) with the frame's EtherType.
    pub fn new(ethertype: EtherType, data: &'a [u8]) -> Tags<'a> {
        Tags { data, ethertype, offset: 0, count: 0, failed: false }
    }

    /// The EtherType after the tags walked so far.
    pub fn ethertype(&self) -> EtherType {
        self.ethertype
    }

    /// Bytes of tags walked so far (the offset of the L3 header once done).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl Iterator for Tags<'_> {
    type Item = Result<Tag>;

    fn next(&mut self) -> Option<Result<Tag>> {
        if self.failed || self.count == MAX_TAGS || !is_tpid(self.ethertype) {
            return None;
        }
        let rest = self.data.get(self.offset..).unwrap_or(&[]);
        let p = match Packet::new_checked(rest) {
            Ok(p) => p,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let repr = Repr { pcp: p.pcp(), dei: p.dei(), vid: p.vid(), ethertype: p.ethertype() };
        let tag = Tag { tpid: self.ethertype, repr };
        self.ethertype = repr.ethertype;
        self.offset += HEADER_LEN;
        self.count += 1;
        Some(Ok(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;
    use crate::wire::ethernet;

    #[test]
    fn parses_captured_single_tag() {
        let eth = ethernet::Packet::new_checked(&VLAN_UDP[..]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Vlan);
        let tag = Packet::new_checked(eth.payload()).unwrap();
        let r = Repr::parse(&tag).unwrap();
        assert_eq!((r.pcp, r.dei, r.vid), (3, false, 10));
        assert_eq!(r.ethertype, EtherType::Ipv4);
        assert_eq!(r.tci(), 0x600a);
        assert_eq!(r.to_string(), "vlan(vid=10,pcp=3),encap(eth_type(0x0800))");
    }

    #[test]
    fn walks_captured_double_tag() {
        let eth = ethernet::Packet::new_checked(&QINQ_UDP[..]).unwrap();
        let mut tags = Tags::new(eth.ethertype(), eth.payload());
        let outer = tags.next().unwrap().unwrap();
        assert_eq!(outer.tpid, EtherType::QinQ);
        assert_eq!(outer.repr.vid, 20);
        assert_eq!(outer.repr.ethertype, EtherType::Vlan);
        let inner = tags.next().unwrap().unwrap();
        assert_eq!(inner.tpid, EtherType::Vlan);
        assert_eq!(inner.repr.vid, 30);
        assert!(tags.next().is_none());
        assert_eq!(tags.ethertype(), EtherType::Ipv4);
        assert_eq!(tags.offset(), 8);
        assert_eq!(eth.payload()[tags.offset()] >> 4, 4);
    }

    #[test]
    fn untagged_frame_has_no_tags() {
        let eth = ethernet::Packet::new_checked(&UDP4[..]).unwrap();
        let mut tags = Tags::new(eth.ethertype(), eth.payload());
        assert!(tags.next().is_none());
        assert_eq!(tags.ethertype(), EtherType::Ipv4);
    }

    #[test]
    fn truncated_tags_are_errors() {
        for len in 14..22 {
            let eth = ethernet::Packet::new_checked(&QINQ_UDP[..len]).unwrap();
            let all: Vec<_> = Tags::new(eth.ethertype(), eth.payload()).collect();
            assert!(all.last().unwrap().is_err(), "{len}");
        }
        for len in 0..HEADER_LEN {
            assert!(Packet::new_checked(&VLAN_UDP[14..14 + len]).is_err());
        }
    }

    #[test]
    fn setters_keep_other_fields() {
        let mut b = [0x60, 0x0a, 0x08, 0x00];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_vid(4095);
        assert_eq!((p.pcp(), p.vid()), (3, 4095));
        p.set_pcp(7);
        assert_eq!((p.pcp(), p.vid(), p.dei()), (7, 4095, false));
        let r = Repr { pcp: 1, dei: true, vid: 100, ethertype: EtherType::Ipv6 };
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, [0x30, 0x64, 0x86, 0xdd]);
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Ok(r));
    }
}
