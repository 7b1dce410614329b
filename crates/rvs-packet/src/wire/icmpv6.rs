//! ICMP for IPv6 (RFC 4443) with Neighbor Discovery (RFC 4861).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Rest: echo Identifier/Sequence, NA flags R|S|O, RA hop limit |
//! |  and flags and router lifetime, or reserved                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  NS/NA/Redirect: Target Address (16 octets)                   |
//! |  RA: Reachable Time, Retrans Timer (8 octets)                 |
//! |  Redirect: then Destination Address (16 octets)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ND options: Type | Length (8-octet units) | Value ...        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 4443 2.3: "The checksum is the 16-bit one's complement of the one's
//! complement sum of the entire ICMPv6 message, starting with the ICMPv6
//! message type field, and prepended with a "pseudo-header" of IPv6 header
//! fields".
//!
//! [`Packet::new_checked`] validates the fixed part of the message type
//! (8 bytes, 24 for NS/NA, 16 for RA, 40 for Redirect) once; after it no
//! getter or setter can panic. ND options are walked by [`NdOptions`], which
//! yields an error for an option that does not fit.
//!
//! The exception is a setter that changes a length field, `set_msg_type` (the fixed part depends on the type):
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;
use std::net::Ipv6Addr;

use super::{be16, be32, check_len, ipv6_at, malformed, IpProtocol, PseudoHeader, Result};
use crate::checksum;
use crate::types::EthAddr;

/// Byte ranges of the ICMPv6 and ND fields.
pub mod field {
    use core::ops::Range;
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
    /// NA flags (R, S, O in the top bits).
    pub const NA_FLAGS: usize = 4;
    /// RA reachable time.
    pub const RA_REACHABLE: Range<usize> = 8..12;
    /// RA retransmission timer.
    pub const RA_RETRANS: Range<usize> = 12..16;
    /// NS/NA/Redirect target address.
    pub const TARGET: Range<usize> = 8..24;
    /// Redirect destination address.
    pub const REDIRECT_DEST: Range<usize> = 24..40;
}

/// Length of the common header.
pub const HEADER_LEN: usize = 8;

/// ND option type: source link-layer address.
pub const OPT_SOURCE_LL: u8 = 1;
/// ND option type: target link-layer address.
pub const OPT_TARGET_LL: u8 = 2;

/// An ICMPv6 message type; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Type {
    /// 1
    DstUnreachable,
    /// 2
    PacketTooBig,
    /// 3
    TimeExceeded,
    /// 4
    ParamProblem,
    /// 128
    EchoRequest,
    /// 129
    EchoReply,
    /// 130, MLD query
    MldQuery,
    /// 131, MLDv1 report
    MldReport,
    /// 132, MLDv1 done
    MldDone,
    /// 133
    RouterSolicit,
    /// 134
    RouterAdvert,
    /// 135
    NeighborSolicit,
    /// 136
    NeighborAdvert,
    /// 137
    Redirect,
    /// 143, MLDv2 report
    Mldv2Report,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for Icmpv6Type {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::DstUnreachable,
            2 => Self::PacketTooBig,
            3 => Self::TimeExceeded,
            4 => Self::ParamProblem,
            128 => Self::EchoRequest,
            129 => Self::EchoReply,
            130 => Self::MldQuery,
            131 => Self::MldReport,
            132 => Self::MldDone,
            133 => Self::RouterSolicit,
            134 => Self::RouterAdvert,
            135 => Self::NeighborSolicit,
            136 => Self::NeighborAdvert,
            137 => Self::Redirect,
            143 => Self::Mldv2Report,
            o => Self::Unknown(o),
        }
    }
}

impl From<Icmpv6Type> for u8 {
    fn from(v: Icmpv6Type) -> u8 {
        match v {
            Icmpv6Type::DstUnreachable => 1,
            Icmpv6Type::PacketTooBig => 2,
            Icmpv6Type::TimeExceeded => 3,
            Icmpv6Type::ParamProblem => 4,
            Icmpv6Type::EchoRequest => 128,
            Icmpv6Type::EchoReply => 129,
            Icmpv6Type::MldQuery => 130,
            Icmpv6Type::MldReport => 131,
            Icmpv6Type::MldDone => 132,
            Icmpv6Type::RouterSolicit => 133,
            Icmpv6Type::RouterAdvert => 134,
            Icmpv6Type::NeighborSolicit => 135,
            Icmpv6Type::NeighborAdvert => 136,
            Icmpv6Type::Redirect => 137,
            Icmpv6Type::Mldv2Report => 143,
            Icmpv6Type::Unknown(o) => o,
        }
    }
}

impl Icmpv6Type {
    /// True for the five Neighbor Discovery messages (RS, RA, NS, NA,
    /// Redirect), which carry ND options.
    pub fn is_nd(self) -> bool {
        matches!(
            self,
            Self::RouterSolicit
                | Self::RouterAdvert
                | Self::NeighborSolicit
                | Self::NeighborAdvert
                | Self::Redirect
        )
    }

    /// True for messages with a Target Address (NS, NA, Redirect).
    pub fn has_target(self) -> bool {
        matches!(self, Self::NeighborSolicit | Self::NeighborAdvert | Self::Redirect)
    }

    /// Length of the fixed part of this message type (where ND options
    /// start).
    pub fn fixed_len(self) -> usize {
        match self {
            Self::NeighborSolicit | Self::NeighborAdvert => 24,
            Self::RouterAdvert => 16,
            Self::Redirect => 40,
            _ => HEADER_LEN,
        }
    }
}

/// One Neighbor Discovery option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdOption<'a> {
    /// Source link-layer address (type 1) holding an Ethernet address.
    SourceLinkLayerAddr(EthAddr),
    /// Target link-layer address (type 2) holding an Ethernet address.
    TargetLinkLayerAddr(EthAddr),
    /// Any other option, or a link-layer option not 8 bytes long.
    Unknown {
        /// Option type.
        kind: u8,
        /// Bytes after the type and length octets.
        data: &'a [u8],
    },
}

/// Walks ND options. Yields `Err` once for a zero length or an option that
/// runs past the message.
#[derive(Debug, Clone)]
pub struct NdOptions<'a> {
    data: &'a [u8],
}

impl<'a> NdOptions<'a> {
    /// Walks `data` (the bytes after a message's fixed part).
    pub fn new(data: &'a [u8]) -> NdOptions<'a> {
        NdOptions { data }
    }
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = Result<NdOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let len = 8 * self.data.get(1).copied().unwrap_or(0) as usize;
        // RFC 4861 4.6: "The value 0 is invalid. Nodes MUST silently
        // discard an ND packet that contains an option with length zero."
        if len == 0 || len > self.data.len() {
            self.data = &[];
            return Some(Err(malformed("nd", "option length", len as u32 / 8)));
        }
        let (opt, rest) = self.data.split_at(len);
        self.data = rest;
        let kind = opt[0];
        Some(Ok(match (kind, len) {
            (OPT_SOURCE_LL, 8) => NdOption::SourceLinkLayerAddr(EthAddr::from_bytes(&opt[2..])),
            (OPT_TARGET_LL, 8) => NdOption::TargetLinkLayerAddr(EthAddr::from_bytes(&opt[2..])),
            _ => NdOption::Unknown { kind, data: &opt[2..] },
        }))
    }
}

/// A read/write view of an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking the fixed part of its message type.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("icmpv6", len, HEADER_LEN)?;
        check_len("icmpv6", len, self.msg_type().fixed_len())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> Icmpv6Type {
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
    /// NA flags: router, solicited, override.
    pub fn na_flags(&self) -> (bool, bool, bool) {
        let f = self.buffer.as_ref()[field::NA_FLAGS];
        (f & 0x80 != 0, f & 0x40 != 0, f & 0x20 != 0)
    }
    /// Target address of NS, NA and Redirect; `None` for other types.
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        self.msg_type().has_target().then(|| ipv6_at(&self.buffer.as_ref()[field::TARGET]))
    }
    /// RA reachable time and retransmission timer; `None` for other types.
    pub fn ra_timers(&self) -> Option<(u32, u32)> {
        (self.msg_type() == Icmpv6Type::RouterAdvert).then(|| {
            let b = self.buffer.as_ref();
            (be32(&b[field::RA_REACHABLE]), be32(&b[field::RA_RETRANS]))
        })
    }
    /// The ND options of an ND message (empty for other types).
    pub fn nd_options(&self) -> NdOptions<'_> {
        let t = self.msg_type();
        let data = if t.is_nd() { &self.buffer.as_ref()[t.fixed_len()..] } else { &[] };
        NdOptions::new(data)
    }
    /// True if the checksum over the whole buffer and the pseudo-header is
    /// right.
    pub fn verify_checksum(&self, ph: &PseudoHeader) -> bool {
        let d = self.buffer.as_ref();
        checksum::finish(checksum::accumulate(ph.sum(IpProtocol::Icmpv6, d.len()), d)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the fixed part (echo data, an error's quoted packet,
    /// or ND options).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.msg_type().fixed_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type (re-check the length afterwards).
    pub fn set_msg_type(&mut self, v: Icmpv6Type) {
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
    /// Sets the target address (NS, NA, Redirect; ignored otherwise).
    pub fn set_target_addr(&mut self, a: Ipv6Addr) {
        if self.msg_type().has_target() {
            self.buffer.as_mut()[field::TARGET].copy_from_slice(&a.octets());
        }
    }
    /// The bytes after the fixed part, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let s = self.msg_type().fixed_len();
        &mut self.buffer.as_mut()[s..]
    }
    /// Computes the checksum over the whole buffer and the pseudo-header.
    pub fn fill_checksum(&mut self, ph: &PseudoHeader) {
        self.set_checksum(0);
        let d = self.buffer.as_ref();
        let c = checksum::finish(checksum::accumulate(ph.sum(IpProtocol::Icmpv6, d.len()), d));
        self.set_checksum(c);
    }
}

/// A parsed ICMPv6 message. For ND messages it keeps the target address and
/// the link-layer address options; other options and RA's timers are read
/// through [`Packet`] and are written as zeros by [`Repr::emit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Message type.
    pub msg_type: Icmpv6Type,
    /// Code.
    pub code: u8,
    /// The four type-specific header bytes (echo: identifier << 16 | sequence;
    /// NA: flags in the top byte).
    pub rest: u32,
    /// Target address (NS, NA, Redirect).
    pub target: Option<Ipv6Addr>,
    /// Source link-layer address option (ND).
    pub source_ll: Option<EthAddr>,
    /// Target link-layer address option (ND).
    pub target_ll: Option<EthAddr>,
    /// Bytes after the fixed part and the options Repr models (echo data,
    /// quoted packet); 0 for ND messages.
    pub payload_len: usize,
}

impl Repr {
    /// An echo request.
    pub fn echo_request(ident: u16, seq_no: u16, payload_len: usize) -> Repr {
        Repr {
            msg_type: Icmpv6Type::EchoRequest,
            code: 0,
            rest: (u32::from(ident) << 16) | u32::from(seq_no),
            target: None,
            source_ll: None,
            target_ll: None,
            payload_len,
        }
    }

    /// A neighbor solicitation for `target`, with a source link-layer
    /// address option if `sll` is given.
    pub fn neighbor_solicit(target: Ipv6Addr, sll: Option<EthAddr>) -> Repr {
        Repr {
            msg_type: Icmpv6Type::NeighborSolicit,
            code: 0,
            rest: 0,
            target: Some(target),
            source_ll: sll,
            target_ll: None,
            payload_len: 0,
        }
    }

    /// Reads a checked message; `ph` given, the checksum is verified too.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        ph: Option<&PseudoHeader>,
    ) -> Result<Repr> {
        p.check_len()?;
        if let Some(ph) = ph {
            if !p.verify_checksum(ph) {
                return Err(malformed("icmpv6", "checksum", p.checksum().into()));
            }
        }
        let t = p.msg_type();
        let mut r = Repr {
            msg_type: t,
            code: p.msg_code(),
            rest: p.rest(),
            target: p.target_addr(),
            source_ll: None,
            target_ll: None,
            payload_len: 0,
        };
        if !t.is_nd() {
            r.payload_len = p.payload().len();
            return Ok(r);
        }
        // RFC 4861 7.1.1 (and likewise for the other ND messages): "ICMP
        // Code is 0."
        if r.code != 0 {
            return Err(malformed("nd", "code", r.code.into()));
        }
        for o in p.nd_options() {
            match o? {
                NdOption::SourceLinkLayerAddr(a) => r.source_ll = Some(a),
                NdOption::TargetLinkLayerAddr(a) => r.target_ll = Some(a),
                NdOption::Unknown { .. } => {}
            }
        }
        Ok(r)
    }

    /// The message length: fixed part, modelled options and payload.
    pub fn buffer_len(&self) -> usize {
        self.msg_type.fixed_len()
            + 8 * (usize::from(self.source_ll.is_some()) + usize::from(self.target_ll.is_some()))
            + self.payload_len
    }

    /// Writes the message into a buffer of exactly `buffer_len()` bytes whose
    /// payload (the last `payload_len` bytes) is in place, then fills the
    /// checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        p: &mut Packet<&mut T>,
        ph: &PseudoHeader,
    ) {
        p.set_msg_type(self.msg_type);
        p.set_msg_code(self.code);
        p.set_rest(self.rest);
        let fixed = self.msg_type.fixed_len();
        p.buffer.as_mut()[HEADER_LEN..fixed].fill(0);
        if let Some(t) = self.target {
            p.set_target_addr(t);
        }
        let mut at = fixed;
        for (kind, a) in [(OPT_SOURCE_LL, self.source_ll), (OPT_TARGET_LL, self.target_ll)] {
            if let Some(a) = a {
                let o = &mut p.buffer.as_mut()[at..at + 8];
                o[0] = kind;
                o[1] = 1;
                o[2..].copy_from_slice(&a.0);
                at += 8;
            }
        }
        p.fill_checksum(ph);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "icmpv6(type={},code={})", u8::from(self.msg_type), self.code)?;
        if let Some(t) = self.target {
            write!(f, ",nd(target={t}")?;
            if let Some(a) = self.source_ll {
                write!(f, ",sll={a}")?;
            }
            if let Some(a) = self.target_ll {
                write!(f, ",tll={a}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;
    use crate::wire::ipv6;

    /// The ICMPv6 message of a captured frame and its pseudo-header.
    fn icmp(frame: &[u8]) -> (&[u8], PseudoHeader) {
        let ip = ipv6::Packet::new_checked(&frame[14..]).unwrap();
        (ip.payload(), PseudoHeader::V6(ip.src_addr(), ip.dst_addr()))
    }

    fn mac(s: &str) -> EthAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_captured_neighbor_solicitation() {
        let (m, ph) = icmp(&ND_NS);
        let p = Packet::new_checked(m).unwrap();
        assert!(p.verify_checksum(&ph));
        let r = Repr::parse(&p, Some(&ph)).unwrap();
        let target: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_eq!(r, Repr::neighbor_solicit(target, Some(mac("02:00:5e:00:53:0a"))));
        assert_eq!(
            r.to_string(),
            "icmpv6(type=135,code=0),nd(target=2001:db8::2,sll=02:00:5e:00:53:0a)"
        );
    }

    #[test]
    fn parses_captured_neighbor_advertisement() {
        let (m, ph) = icmp(&ND_NA);
        let p = Packet::new_checked(m).unwrap();
        let r = Repr::parse(&p, Some(&ph)).unwrap();
        assert_eq!(r.msg_type, Icmpv6Type::NeighborAdvert);
        assert_eq!(p.na_flags(), (false, true, true));
        assert_eq!(r.target, Some("2001:db8::2".parse().unwrap()));
        assert_eq!(r.target_ll, Some(mac("02:00:5e:00:53:0b")));
        assert_eq!(r.source_ll, None);
    }

    #[test]
    fn parses_captured_dad_solicitation_with_nonce_option() {
        // DAD: from ::, no SLL option, but a Nonce option (type 14, RFC 7527)
        // that is kept as Unknown.
        let (m, ph) = icmp(&ND_NS_DAD);
        let p = Packet::new_checked(m).unwrap();
        let opts: Vec<_> = p.nd_options().map(|o| o.unwrap()).collect();
        assert!(matches!(opts[..], [NdOption::Unknown { kind: 14, data }] if data.len() == 6));
        let r = Repr::parse(&p, Some(&ph)).unwrap();
        assert_eq!((r.source_ll, r.target_ll), (None, None));
    }

    #[test]
    fn parses_captured_router_solicitation() {
        let (m, ph) = icmp(&ND_RS);
        let p = Packet::new_checked(m).unwrap();
        let r = Repr::parse(&p, Some(&ph)).unwrap();
        assert_eq!(r.msg_type, Icmpv6Type::RouterSolicit);
        assert_eq!(r.target, None);
        assert_eq!(r.source_ll, Some(mac("02:00:5e:00:53:0a")));
        assert_eq!(p.ra_timers(), None);
    }

    #[test]
    fn parses_captured_echo() {
        let (m, ph) = icmp(&ICMP6_ECHO_REQUEST);
        let p = Packet::new_checked(m).unwrap();
        let r = Repr::parse(&p, Some(&ph)).unwrap();
        assert_eq!(r, Repr::echo_request(0x4321, 1, 8));
        assert_eq!(p.payload(), b"rvs-wire");
        assert_eq!(p.nd_options().count(), 0);
    }

    #[test]
    fn emit_reproduces_captures() {
        for frame in [&ND_NS[..], &ND_NA[..], &ND_RS[..], &ICMP6_ECHO_REQUEST[..]] {
            let (m, ph) = icmp(frame);
            let r = Repr::parse(&Packet::new_checked(m).unwrap(), Some(&ph)).unwrap();
            assert_eq!(r.buffer_len(), m.len());
            let mut b = m.to_vec();
            let n = b.len() - r.payload_len;
            b[..n].fill(0);
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &ph);
            assert_eq!(&b[..], m);
        }
    }

    #[test]
    fn emitted_router_advert_walks_options() {
        let ph = PseudoHeader::V6("fe80::1".parse().unwrap(), "ff02::1".parse().unwrap());
        let r = Repr {
            msg_type: Icmpv6Type::RouterAdvert,
            code: 0,
            rest: 0x4000_0708,
            target: None,
            source_ll: Some(mac("02:00:5e:00:53:01")),
            target_ll: None,
            payload_len: 0,
        };
        let mut b = vec![0u8; r.buffer_len()];
        assert_eq!(b.len(), 24);
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &ph);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.ra_timers(), Some((0, 0)));
        assert_eq!(Repr::parse(&p, Some(&ph)).unwrap(), r);
    }

    #[test]
    fn bad_options_and_codes_are_rejected() {
        let (m, ph) = icmp(&ND_NS);
        let mut b = m.to_vec();
        b[25] = 0; // option length zero
        Packet::new_checked(&mut b[..]).unwrap().fill_checksum(&ph);
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), Some(&ph)).is_err());
        b[25] = 2; // runs past the message
        assert!(Packet::new_checked(&b[..]).unwrap().nd_options().any(|o| o.is_err()));
        let mut b = m.to_vec();
        b[1] = 1;
        Packet::new_checked(&mut b[..]).unwrap().fill_checksum(&ph);
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), Some(&ph)).is_err());
        let mut b = m.to_vec();
        b[30] ^= 1;
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), Some(&ph)).is_err());
    }

    #[test]
    fn unknown_type_is_kept() {
        let mut b = [200u8, 0, 0, 0, 0, 0, 0, 0];
        let p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Type::Unknown(200));
    }

    #[test]
    fn truncations_are_errors() {
        // NS/NA need their 24-byte fixed part; the walker reports a cut option.
        for frame in [&ND_NS[..], &ND_NA[..]] {
            let (m, _) = icmp(frame);
            for len in 0..24 {
                assert!(Packet::new_checked(&m[..len]).is_err(), "{len}");
            }
            for len in 25..m.len() {
                let p = Packet::new_checked(&m[..len]).unwrap();
                assert!(p.nd_options().any(|o| o.is_err()), "{len}");
            }
        }
    }
}
