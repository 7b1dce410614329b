//! IGMP version 1 and 2 messages (RFC 1112, RFC 2236) and the version 3
//! query and report headers (RFC 9776, formerly RFC 3376).
//!
//! Version 1/2 messages and the start of a version 3 query:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Type     | Max Resp Time |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Group Address                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A version 3 report (type 0x22) has no group address; group records
//! follow its header:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Type = 0x22  |    Reserved   |           Checksum            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Flags/Reserved      |  Number of Group Records (M)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Record Type   |  Aux Data Len |     Number of Sources (N)     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Multicast Address                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Source Address [1..N], Auxiliary Data ...          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 2236: "The checksum is the 16-bit one's complement of the one's
//! complement sum of the whole IGMP message (the entire IP payload)."
//!
//! [`Packet::new_checked`] validates the 8-byte header once; after it no
//! getter or setter can panic. [`GroupRecords`] walks v3 records and reports
//! a cut one as an error.

use core::fmt;
use std::net::Ipv4Addr;

use super::{be16, check_len, ipv4_at, malformed, Result};
use crate::checksum;

/// Byte ranges of the IGMP fields.
pub mod field {
    use core::ops::{Range, RangeFrom};
    /// Type.
    pub const TYPE: usize = 0;
    /// Max response time (v1: unused; v3 report: reserved).
    pub const MAX_RESP: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Group address (v1/v2 messages, queries).
    pub const GROUP: Range<usize> = 4..8;
    /// Number of group records (v3 report).
    pub const NUM_RECORDS: Range<usize> = 6..8;
    /// What follows the 8-byte header.
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// Length of the common header.
pub const HEADER_LEN: usize = 8;

/// An IGMP message type; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgmpType {
    /// 0x11, membership query (all versions)
    MembershipQuery,
    /// 0x12, version 1 membership report
    V1Report,
    /// 0x16, version 2 membership report
    V2Report,
    /// 0x17, version 2 leave group
    LeaveGroup,
    /// 0x22, version 3 membership report
    V3Report,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IgmpType {
    fn from(v: u8) -> Self {
        match v {
            0x11 => Self::MembershipQuery,
            0x12 => Self::V1Report,
            0x16 => Self::V2Report,
            0x17 => Self::LeaveGroup,
            0x22 => Self::V3Report,
            o => Self::Unknown(o),
        }
    }
}

impl From<IgmpType> for u8 {
    fn from(v: IgmpType) -> u8 {
        match v {
            IgmpType::MembershipQuery => 0x11,
            IgmpType::V1Report => 0x12,
            IgmpType::V2Report => 0x16,
            IgmpType::LeaveGroup => 0x17,
            IgmpType::V3Report => 0x22,
            IgmpType::Unknown(o) => o,
        }
    }
}

/// A read/write view of an IGMP message.
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
        check_len("igmp", self.buffer.as_ref().len(), HEADER_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> IgmpType {
        self.buffer.as_ref()[field::TYPE].into()
    }
    /// Max response time/code.
    pub fn max_resp_code(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_RESP]
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Group address; `None` for a v3 report, which has none.
    pub fn group_addr(&self) -> Option<Ipv4Addr> {
        (self.msg_type() != IgmpType::V3Report)
            .then(|| ipv4_at(&self.buffer.as_ref()[field::GROUP]))
    }
    /// Number of group records of a v3 report; `None` for other types.
    pub fn num_group_records(&self) -> Option<u16> {
        (self.msg_type() == IgmpType::V3Report)
            .then(|| be16(&self.buffer.as_ref()[field::NUM_RECORDS]))
    }
    /// The group records of a v3 report (none for other types).
    pub fn group_records(&self) -> GroupRecords<'_> {
        GroupRecords {
            data: &self.buffer.as_ref()[field::PAYLOAD],
            left: self.num_group_records().unwrap_or(0),
        }
    }
    /// True if the checksum over the whole buffer is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the 8-byte header (v3 query fields, v3 records).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: IgmpType) {
        self.buffer.as_mut()[field::TYPE] = v.into();
    }
    /// Sets the max response code.
    pub fn set_max_resp_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::MAX_RESP] = v;
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets bytes 4..8: the group address of v1/v2/query messages.
    pub fn set_group_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::GROUP].copy_from_slice(&a.octets());
    }
    /// Sets bytes 4..8 of a v3 report: reserved zero, number of records.
    pub fn set_num_group_records(&mut self, n: u16) {
        let b = self.buffer.as_mut();
        b[4..6].fill(0);
        b[field::NUM_RECORDS].copy_from_slice(&n.to_be_bytes());
    }
    /// The bytes after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
    /// Computes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// One IGMPv3 group record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRecord<'a> {
    /// Record type (1 MODE_IS_INCLUDE ... 6 BLOCK_OLD_SOURCES).
    pub record_type: u8,
    /// Multicast address.
    pub mcast_addr: Ipv4Addr,
    /// The source addresses, four bytes each.
    pub sources: &'a [u8],
}

/// Walks the group records of a v3 report, as many as the header counts.
/// Yields `Err` once for a record that runs past the message.
#[derive(Debug, Clone)]
pub struct GroupRecords<'a> {
    data: &'a [u8],
    left: u16,
}

impl<'a> Iterator for GroupRecords<'a> {
    type Item = Result<GroupRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let fail = |s: &mut Self, len: usize| {
            s.left = 0;
            Some(Err(malformed("igmp", "group record length", len as u32)))
        };
        if self.data.len() < 8 {
            return fail(self, self.data.len());
        }
        // RFC 9776 4.2.6: "Aux Data Len ... in units of 32-bit words"; and
        // each of the N sources is a 32-bit address.
        let aux = self.data[1] as usize * 4;
        let n = be16(&self.data[2..4]) as usize * 4;
        let len = 8 + n + aux;
        if len > self.data.len() {
            return fail(self, len);
        }
        let r = GroupRecord {
            record_type: self.data[0],
            mcast_addr: ipv4_at(&self.data[4..8]),
            sources: &self.data[8..8 + n],
        };
        self.data = &self.data[len..];
        Some(Ok(r))
    }
}

/// A parsed IGMP message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Message type.
    pub msg_type: IgmpType,
    /// Max response code (0 in reports).
    pub max_resp_code: u8,
    /// Group address (unspecified for a v3 report).
    pub group_addr: Ipv4Addr,
    /// Number of group records (v3 report only, else 0).
    pub num_group_records: u16,
    /// Bytes after the 8-byte header (v3 query fields, v3 records).
    pub payload_len: usize,
}

impl Repr {
    /// A v2 membership report for `group`.
    pub fn v2_report(group: Ipv4Addr) -> Repr {
        Repr {
            msg_type: IgmpType::V2Report,
            max_resp_code: 0,
            group_addr: group,
            num_group_records: 0,
            payload_len: 0,
        }
    }

    /// Reads a checked message, verifying the checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(malformed("igmp", "checksum", p.checksum().into()));
        }
        Ok(Repr {
            msg_type: p.msg_type(),
            max_resp_code: p.max_resp_code(),
            group_addr: p.group_addr().unwrap_or(Ipv4Addr::UNSPECIFIED),
            num_group_records: p.num_group_records().unwrap_or(0),
            payload_len: p.payload().len(),
        })
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into a buffer of exactly `buffer_len()` bytes whose
    /// payload is in place, then fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_msg_type(self.msg_type);
        p.set_max_resp_code(self.max_resp_code);
        if self.msg_type == IgmpType::V3Report {
            p.set_num_group_records(self.num_group_records);
        } else {
            p.set_group_addr(self.group_addr);
        }
        p.fill_checksum();
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "igmp(type={:#04x}", u8::from(self.msg_type))?;
        if self.msg_type == IgmpType::V3Report {
            write!(f, ",records={})", self.num_group_records)
        } else {
            write!(f, ",group={})", self.group_addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);

    /// The IGMP message of a captured frame (after the 24-byte IPv4 header
    /// with its Router Alert option).
    fn igmp(frame: &[u8]) -> &[u8] {
        let ip = crate::wire::ipv4::Packet::new_checked(&frame[14..]).unwrap();
        assert_eq!(ip.header_len(), 24);
        ip.payload()
    }

    #[test]
    fn parses_captured_v2_report_and_leave() {
        let p = Packet::new_checked(igmp(&IGMP2_REPORT)).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, Repr::v2_report(G));
        assert_eq!(r.to_string(), "igmp(type=0x16,group=239.1.2.3)");
        let p = Packet::new_checked(igmp(&IGMP2_LEAVE)).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!((r.msg_type, r.group_addr), (IgmpType::LeaveGroup, G));
    }

    #[test]
    fn parses_captured_v3_report() {
        let p = Packet::new_checked(igmp(&IGMP3_REPORT)).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.msg_type, IgmpType::V3Report);
        assert_eq!(p.group_addr(), None);
        assert_eq!(r.num_group_records, 1);
        let recs: Vec<_> = p.group_records().map(|r| r.unwrap()).collect();
        // CHANGE_TO_EXCLUDE_MODE (4) with no sources: a join.
        assert_eq!(recs, vec![GroupRecord { record_type: 4, mcast_addr: G, sources: &[] }]);
        assert_eq!(r.to_string(), "igmp(type=0x22,records=1)");
    }

    #[test]
    fn emit_reproduces_captures() {
        for frame in [&IGMP2_REPORT[..], &IGMP2_LEAVE[..], &IGMP3_REPORT[..]] {
            let m = igmp(frame);
            let r = Repr::parse(&Packet::new_checked(m).unwrap()).unwrap();
            let mut b = m.to_vec();
            b[..HEADER_LEN].fill(0);
            r.emit(&mut Packet::new_unchecked(&mut b[..]));
            assert_eq!(&b[..], m);
        }
    }

    #[test]
    fn bad_checksum_and_unknown_type() {
        let mut b = igmp(&IGMP2_REPORT).to_vec();
        b[7] = 4;
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).is_err());
        b[0] = 0x30;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.msg_type, IgmpType::Unknown(0x30));
    }

    #[test]
    fn truncations_are_errors() {
        let m = igmp(&IGMP3_REPORT);
        for len in 0..HEADER_LEN {
            assert!(Packet::new_checked(&m[..len]).is_err());
        }
        for len in HEADER_LEN..m.len() {
            let p = Packet::new_checked(&m[..len]).unwrap();
            assert!(p.group_records().any(|r| r.is_err()), "{len}");
        }
    }
}
