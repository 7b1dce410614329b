//! IPv6 extension headers (RFC 8200 section 4): hop-by-hop options,
//! routing, destination options and fragment, and a [`Chain`] walker that
//! follows Next Header to the upper-layer protocol.
//!
//! Hop-by-hop, routing and destination options share a shape ([`Packet`]):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |  Hdr Ext Len  |  (routing: Type, Segments Left)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! .         Options / type-specific data (6 + 8 * Hdr Ext Len)    .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 8200: "Hdr Ext Len: 8-bit unsigned integer. Length of the Hop-by-Hop
//! Options header in 8-octet units, not including the first 8 octets."
//!
//! The fragment header ([`FragmentPacket`]) is always 8 bytes:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Identification                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`Packet::new_checked`] and [`FragmentPacket::new_checked`] validate the
//! length once; after them no getter or setter can panic.
//!
//! The exception is a setter that changes a length field, `set_header_len`:
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;

use super::{be16, be32, check_len, malformed, IpProtocol, Result};

/// Byte ranges of the extension header fields.
pub mod field {
    use core::ops::Range;
    /// Next header (all extension headers).
    pub const NXT_HDR: usize = 0;
    /// Header extension length (options and routing headers).
    pub const LENGTH: usize = 1;
    /// Routing type (routing header).
    pub const ROUTING_TYPE: usize = 2;
    /// Segments left (routing header).
    pub const SEGMENTS_LEFT: usize = 3;
    /// Start of the options (hop-by-hop, destination options).
    pub const OPTIONS: usize = 2;
    /// Start of the type-specific data (routing header).
    pub const ROUTING_DATA: usize = 4;
    /// Fragment offset and M flag (fragment header).
    pub const FRAG_OFF: Range<usize> = 2..4;
    /// Identification (fragment header).
    pub const IDENT: Range<usize> = 4..8;
}

/// Length of the fragment header; also the minimum of every other one.
pub const MIN_HEADER_LEN: usize = 8;

/// A read/write view of a hop-by-hop, routing or destination options header.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking that it holds the length Hdr Ext Len says.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("ipv6 extension", len, MIN_HEADER_LEN)?;
        check_len("ipv6 extension", len, self.header_len())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::NXT_HDR].into()
    }

    /// Header length in bytes: 8 * (Hdr Ext Len + 1).
    pub fn header_len(&self) -> usize {
        8 * (self.buffer.as_ref()[field::LENGTH] as usize + 1)
    }

    /// Routing type (meaningful in a routing header).
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    /// Segments left (meaningful in a routing header).
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }

    /// The bytes after Next Header and Hdr Ext Len: the options of a
    /// hop-by-hop or destination options header, or routing type, segments
    /// left and type-specific data of a routing header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after this header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the next header.
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.into();
    }
    /// Sets the length in bytes (a multiple of 8, at least 8).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::LENGTH] = (len / 8).saturating_sub(1) as u8;
    }
    /// The data (see [`Packet::data`]), writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }
    /// The bytes after this header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// A parsed hop-by-hop, routing or destination options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Next header.
    pub next_header: IpProtocol,
    /// Data after the first two bytes; `2 + data.len()` must be a multiple
    /// of 8 for [`Repr::emit`] (it pads with zeros otherwise, which is Pad1s
    /// in an options header).
    pub data: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&'a T>) -> Result<Repr<'a>> {
        p.check_len()?;
        let all: &'a [u8] = p.buffer.as_ref();
        Ok(Repr { next_header: p.next_header(), data: &all[field::OPTIONS..p.header_len()] })
    }

    /// The header length: `2 + data.len()` rounded up to 8.
    pub fn buffer_len(&self) -> usize {
        (2 + self.data.len()).div_ceil(8) * 8
    }

    /// Writes the header into a buffer of at least `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut Packet<&mut T>) {
        p.set_next_header(self.next_header);
        p.set_header_len(self.buffer_len());
        let d = p.data_mut();
        d.fill(0);
        d[..self.data.len()].copy_from_slice(self.data);
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ipv6ext(next={},len={})", self.next_header, self.buffer_len())
    }
}

/// One TLV option of a hop-by-hop or destination options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Option<'a> {
    /// Option type (Pad1 is 0, PadN 1, Router Alert 5, ...).
    pub kind: u8,
    /// Option data.
    pub data: &'a [u8],
}

/// Walks the TLV options of a hop-by-hop or destination options header
/// (from [`Packet::data`]), Pad1 included. Yields `Err` once for an option
/// that runs past the header.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    data: &'a [u8],
}

impl<'a> Options<'a> {
    /// Walks `data`.
    pub fn new(data: &'a [u8]) -> Options<'a> {
        Options { data }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Ipv6Option<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, rest) = self.data.split_first()?;
        // RFC 8200 4.2: "The Pad1 option is used to insert one octet of
        // padding ... it has no length and value fields."
        if kind == 0 {
            self.data = rest;
            return Some(Ok(Ipv6Option { kind, data: &[] }));
        }
        let Some((&len, rest)) = rest.split_first() else {
            self.data = &[];
            return Some(Err(malformed("ipv6 option", "length", 0)));
        };
        if len as usize > rest.len() {
            self.data = &[];
            return Some(Err(malformed("ipv6 option", "length", len.into())));
        }
        let (data, rest) = rest.split_at(len as usize);
        self.data = rest;
        Some(Ok(Ipv6Option { kind, data }))
    }
}

/// A read/write view of a fragment header.
#[derive(Debug, Clone)]
pub struct FragmentPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentPacket<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> FragmentPacket<T> {
        FragmentPacket { buffer }
    }

    /// Wraps `buffer`, checking that it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<FragmentPacket<T>> {
        let p = Self::new_unchecked(buffer);
        check_len("ipv6 fragment", p.buffer.as_ref().len(), MIN_HEADER_LEN)?;
        Ok(p)
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::NXT_HDR].into()
    }

    /// Fragment offset in bytes (the field counts 8-octet units).
    pub fn frag_offset(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FRAG_OFF]) & 0xfff8
    }

    /// The M flag: "1 = more fragments; 0 = last fragment."
    pub fn more_frags(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FRAG_OFF]) & 1 != 0
    }

    /// Identification.
    pub fn ident(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::IDENT])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> FragmentPacket<&'a T> {
    /// The fragment's data.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentPacket<T> {
    /// Sets the next header.
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.into();
    }
    /// Sets the offset (bytes, a multiple of 8) and the M flag; clears the
    /// reserved fields.
    pub fn set_frag(&mut self, offset: u16, more: bool) {
        let v = (offset & 0xfff8) | u16::from(more);
        let b = self.buffer.as_mut();
        b[1] = 0;
        b[field::FRAG_OFF].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, v: u32) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }
}

/// A parsed fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRepr {
    /// Next header.
    pub next_header: IpProtocol,
    /// Offset in bytes.
    pub frag_offset: u16,
    /// More fragments follow.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl FragmentRepr {
    /// Reads a checked fragment header.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &FragmentPacket<&T>) -> Result<FragmentRepr> {
        check_len("ipv6 fragment", p.buffer.as_ref().len(), MIN_HEADER_LEN)?;
        Ok(FragmentRepr {
            next_header: p.next_header(),
            frag_offset: p.frag_offset(),
            more_frags: p.more_frags(),
            ident: p.ident(),
        })
    }

    /// The header length: 8.
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, p: &mut FragmentPacket<&mut T>) {
        p.set_next_header(self.next_header);
        p.set_frag(self.frag_offset, self.more_frags);
        p.set_ident(self.ident);
    }
}

impl fmt::Display for FragmentRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frag(next={},offset={},more={},id={:#x})",
            self.next_header, self.frag_offset, self.more_frags, self.ident
        )
    }
}

/// What [`Chain::walk`] found at the end of the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    /// The protocol after the last extension header walked.
    pub protocol: IpProtocol,
    /// Offset of that protocol's header from the start of the IPv6 payload.
    pub offset: usize,
    /// The fragment header, if one was found.
    pub fragment: Option<FragmentRepr>,
    /// Extension headers walked.
    pub headers: usize,
}

impl Chain {
    /// The most extension headers walked before giving up, so a crafted
    /// chain of tiny headers costs a bounded amount of work.
    pub const MAX_HEADERS: usize = 16;

    /// True if `p` is an extension header this walker follows.
    pub fn is_extension(p: IpProtocol) -> bool {
        matches!(
            p,
            IpProtocol::HopByHop
                | IpProtocol::Ipv6Route
                | IpProtocol::Ipv6Opts
                | IpProtocol::Ipv6Frag
        )
    }

    /// Follows Next Header from `first` (the IPv6 header's) through `payload`
    /// (the IPv6 payload). Stops at the first non-extension protocol, or
    /// after a fragment header with a non-zero offset: RFC 8200 4.5 says a
    /// later fragment's data is a piece of the original payload, so no
    /// upper-layer header can be read there. `Err` if a header is truncated
    /// or the chain is longer than [`Chain::MAX_HEADERS`].
    pub fn walk(first: IpProtocol, payload: &[u8]) -> Result<Chain> {
        let mut chain = Chain { protocol: first, offset: 0, fragment: None, headers: 0 };
        while Self::is_extension(chain.protocol) {
            if chain.headers == Self::MAX_HEADERS {
                return Err(malformed("ipv6", "extension header count", chain.headers as u32));
            }
            let rest = payload.get(chain.offset..).unwrap_or(&[]);
            if chain.protocol == IpProtocol::Ipv6Frag {
                let f = FragmentRepr::parse(&FragmentPacket::new_checked(rest)?)?;
                chain.fragment = Some(f);
                chain.protocol = f.next_header;
                chain.offset += MIN_HEADER_LEN;
                chain.headers += 1;
                if f.frag_offset != 0 {
                    break;
                }
            } else {
                let p = Packet::new_checked(rest)?;
                chain.protocol = p.next_header();
                chain.offset += p.header_len();
                chain.headers += 1;
            }
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;
    use crate::wire::ipv6;

    fn ip6_payload(frame: &[u8]) -> (IpProtocol, &[u8]) {
        let p = ipv6::Packet::new_checked(&frame[14..]).unwrap();
        (p.next_header(), p.payload())
    }

    #[test]
    fn walks_captured_hop_by_hop() {
        // Linux's MLDv2 report: hop-by-hop header with Router Alert (type 5,
        // value 0 = MLD) and a PadN, then ICMPv6.
        let (first, payload) = ip6_payload(&MLD2_REPORT_HBH);
        assert_eq!(first, IpProtocol::HopByHop);
        let h = Packet::new_checked(payload).unwrap();
        assert_eq!(h.header_len(), 8);
        let opts: Vec<_> = Options::new(h.data()).map(|o| o.unwrap()).collect();
        assert_eq!(opts[0], Ipv6Option { kind: 5, data: &[0, 0] });
        assert_eq!(opts[1].kind, 1);
        let c = Chain::walk(first, payload).unwrap();
        assert_eq!((c.protocol, c.offset, c.headers), (IpProtocol::Icmpv6, 8, 1));
        assert_eq!(c.fragment, None);
        assert_eq!(payload[c.offset], 143); // MLDv2 report
    }

    #[test]
    fn walks_captured_later_fragment() {
        let (first, payload) = ip6_payload(&IPV6_LAST_FRAGMENT);
        assert_eq!(first, IpProtocol::Ipv6Frag);
        let c = Chain::walk(first, payload).unwrap();
        let f = c.fragment.unwrap();
        assert_eq!(f.next_header, IpProtocol::Udp);
        assert_eq!(f.frag_offset, 1448);
        assert!(!f.more_frags);
        assert_eq!((c.protocol, c.offset), (IpProtocol::Udp, 8));
        assert_eq!(payload.len() - c.offset, 60);
        assert!(f.to_string().starts_with("frag(next=17,offset=1448,more=false"));
    }

    #[test]
    fn no_extension_headers() {
        let (first, payload) = ip6_payload(&TCP6_SYN);
        let c = Chain::walk(first, payload).unwrap();
        assert_eq!((c.protocol, c.offset, c.headers), (IpProtocol::Tcp, 0, 0));
    }

    #[test]
    fn emitted_chain_walks_to_the_upper_layer() {
        // hop-by-hop -> routing (type 0, 0 left) -> dest opts -> fragment -> udp
        let mut buf = [0u8; 40];
        let hbh = Repr { next_header: IpProtocol::Ipv6Route, data: &[1, 4, 0, 0, 0, 0] };
        hbh.emit(&mut Packet::new_unchecked(&mut buf[0..8]));
        let rt = Repr { next_header: IpProtocol::Ipv6Opts, data: &[0; 14] };
        rt.emit(&mut Packet::new_unchecked(&mut buf[8..24]));
        let dst = Repr { next_header: IpProtocol::Ipv6Frag, data: &[] };
        dst.emit(&mut Packet::new_unchecked(&mut buf[24..32]));
        let fr = FragmentRepr {
            next_header: IpProtocol::Udp,
            frag_offset: 0,
            more_frags: true,
            ident: 0xdeadbeef,
        };
        fr.emit(&mut FragmentPacket::new_unchecked(&mut buf[32..40]));
        assert_eq!(rt.buffer_len(), 16);
        let r = Repr::parse(&Packet::new_checked(&buf[8..]).unwrap()).unwrap();
        assert_eq!(r, rt);
        let c = Chain::walk(IpProtocol::HopByHop, &buf).unwrap();
        assert_eq!((c.protocol, c.offset, c.headers), (IpProtocol::Udp, 40, 4));
        assert_eq!(c.fragment, Some(fr));
        // Truncating anywhere inside the chain is an error, not a panic.
        for len in 0..40 {
            assert!(Chain::walk(IpProtocol::HopByHop, &buf[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn long_chains_are_bounded() {
        let mut buf = vec![0u8; 8 * 20];
        for h in buf.chunks_mut(8) {
            h[0] = 60; // destination options, again and again
        }
        assert!(Chain::walk(IpProtocol::Ipv6Opts, &buf).is_err());
    }

    #[test]
    fn option_overrun_is_an_error() {
        let o: Vec<_> = Options::new(&[0, 5, 7, 0]).collect();
        assert_eq!(o[0], Ok(Ipv6Option { kind: 0, data: &[] }));
        assert!(o[1].is_err());
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn truncations_are_errors() {
        let (_, payload) = ip6_payload(&MLD2_REPORT_HBH);
        for len in 0..8 {
            assert!(Packet::new_checked(&payload[..len]).is_err());
        }
        let (_, payload) = ip6_payload(&IPV6_LAST_FRAGMENT);
        for len in 0..8 {
            assert!(FragmentPacket::new_checked(&payload[..len]).is_err());
        }
    }
}
