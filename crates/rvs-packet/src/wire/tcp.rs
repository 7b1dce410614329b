//! Transmission Control Protocol headers (RFC 9293).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |     |N|C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsv |S|W|C|R|C|S|S|Y|I|            Window             |
//! |       |     | |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! TCP has no length field: the segment is the whole buffer, which must end
//! where the IP payload ends for checksums to be right.
//!
//! [`Packet::new_checked`] validates the data offset once; after it no getter
//! or setter can panic.
//!
//! The exception is a setter that changes a length field, `set_header_len_and_flags`:
//! it trusts the caller that the buffer is long enough for the new value;
//! call `check_len` again after it if that is in doubt.

use core::fmt;

use super::{be16, be32, check_len, malformed, IpProtocol, OptionBytes, PseudoHeader, Result};
use crate::checksum;

/// Byte ranges of the TCP header fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset and flags.
    pub const FLAGS: Range<usize> = 12..14;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
    /// Start of the options.
    pub const OPTIONS: usize = 20;
}

/// Length of the header without options.
pub const HEADER_LEN: usize = 20;

/// The nine TCP flag bits as OVS's `tcp_flags` holds them (low 12 bits of
/// the data-offset word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// NS (RFC 3540, historic)
    pub const NS: TcpFlags = TcpFlags(0x100);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, o: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | o.0)
    }
}

impl fmt::Display for TcpFlags {
    /// OVS's spelling: `syn|ack`, or `0` when none is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 9] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns"];
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("0")?;
        }
        Ok(())
    }
}

/// A read/write view of a TCP segment.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking its length; getters may panic.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer`, checking the data offset against the length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths (see [`Packet::new_checked`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len("tcp", len, HEADER_LEN)?;
        // RFC 9293: "Data Offset (DOffset): 4 bits. The number of 32-bit
        // words in the TCP header. This indicates where the data begins."
        // The fixed header alone is five words.
        let hl = self.header_len() as usize;
        if hl < HEADER_LEN {
            return Err(malformed("tcp", "data offset", hl as u32 / 4));
        }
        check_len("tcp", len, hl)
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
    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ_NUM])
    }
    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK_NUM])
    }
    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }
    /// The flags.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(be16(&self.buffer.as_ref()[field::FLAGS]) & 0x01ff)
    }
    /// Window.
    pub fn window_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WINDOW])
    }
    /// Checksum.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }
    /// Option bytes (with padding).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len() as usize]
    }
    /// True if the checksum over the whole buffer and the pseudo-header is
    /// right.
    pub fn verify_checksum(&self, ph: &PseudoHeader) -> bool {
        let data = self.buffer.as_ref();
        checksum::finish(checksum::accumulate(ph.sum(IpProtocol::Tcp, data.len()), data)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The data after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
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
    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the header length (bytes, a multiple of 4) and the flags.
    pub fn set_header_len_and_flags(&mut self, header_len: u8, flags: TcpFlags) {
        let v = (u16::from(header_len / 4) << 12) | (flags.0 & 0x01ff);
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the flags, keeping the data offset.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let hl = self.header_len();
        self.set_header_len_and_flags(hl, flags);
    }
    /// Sets the window.
    pub fn set_window_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::WINDOW].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }
    /// Option bytes, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }
    /// The data after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len() as usize;
        &mut self.buffer.as_mut()[hl..]
    }
    /// Computes the checksum over the whole buffer and the pseudo-header.
    pub fn fill_checksum(&mut self, ph: &PseudoHeader) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let c = checksum::finish(checksum::accumulate(ph.sum(IpProtocol::Tcp, data.len()), data));
        self.set_checksum(c);
    }
}

/// A parsed TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number (meaningful with ACK).
    pub ack_number: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window.
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_at: u16,
    /// Options, emitted padded with zeros (End of Option List).
    pub options: OptionBytes,
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
        // RFC 9293 3.1: "The checksum field is the 16-bit ones' complement of
        // the ones' complement sum of all 16-bit words in the header and
        // text."
        if let Some(ph) = ph {
            if !p.verify_checksum(ph) {
                return Err(malformed("tcp", "checksum", p.checksum().into()));
            }
        }
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window_len: p.window_len(),
            urgent_at: p.urgent_at(),
            options: OptionBytes::new(p.options()).unwrap_or_default(),
            payload_len: p.payload().len(),
        })
    }

    /// Header length, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.padded_len()
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header into a buffer of exactly `buffer_len()` bytes whose
    /// payload is already in place, then fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        p: &mut Packet<&mut T>,
        ph: &PseudoHeader,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len_and_flags(self.header_len() as u8, self.flags);
        p.set_window_len(self.window_len);
        p.set_urgent_at(self.urgent_at);
        let o = p.options_mut();
        o.fill(0);
        o[..self.options.as_bytes().len()].copy_from_slice(self.options.as_bytes());
        p.fill_checksum(ph);
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp(src={},dst={}),tcp_flags({})", self.src_port, self.dst_port, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captures::*;
    use std::net::Ipv4Addr;

    const PH4: PseudoHeader =
        PseudoHeader::V4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    const PH4_BACK: PseudoHeader =
        PseudoHeader::V4(Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1));

    fn ph6() -> PseudoHeader {
        PseudoHeader::V6("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
    }

    /// The folded pseudo-header sum that veth's checksum offload leaves in
    /// the field of a CHECKSUM_PARTIAL segment.
    fn partial(ph: &PseudoHeader, len: usize) -> u16 {
        !checksum::finish(ph.sum(IpProtocol::Tcp, len))
    }

    /// A copy of `seg` with its checksum completed.
    fn completed(seg: &[u8], ph: &PseudoHeader) -> Vec<u8> {
        let mut b = seg.to_vec();
        Packet::new_checked(&mut b[..]).unwrap().fill_checksum(ph);
        b
    }

    #[test]
    fn parses_captured_syn() {
        let seg = &TCP4_SYN[34..];
        let p = Packet::new_checked(seg).unwrap();
        assert_eq!(p.checksum(), partial(&PH4, seg.len()));
        assert!(!p.verify_checksum(&PH4));
        let full = completed(seg, &PH4);
        let p = Packet::new_checked(&full[..]).unwrap();
        assert!(p.verify_checksum(&PH4));
        // (Swapping source and destination would not change the sum.)
        let other = PseudoHeader::V4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 3));
        assert!(!p.verify_checksum(&other));
        let r = Repr::parse(&p, Some(&PH4)).unwrap();
        assert_eq!((r.src_port, r.dst_port), (38604, 8080));
        assert_eq!(r.flags, TcpFlags::SYN);
        assert_eq!(r.seq_number, 3866574574);
        assert_eq!(r.window_len, 64240);
        assert_eq!(r.header_len(), 40);
        // mss 1460 is the first option
        assert_eq!(&r.options.as_bytes()[..4], &[2, 4, 0x05, 0xb4]);
        assert_eq!(r.to_string(), "tcp(src=38604,dst=8080),tcp_flags(syn)");
    }

    #[test]
    fn completed_checksum_matches_etherparse() {
        let ip = etherparse::Ipv4HeaderSlice::from_slice(&TCP4_SYN[14..34]).unwrap();
        let tcp = etherparse::TcpHeader::from_slice(&TCP4_SYN[34..]).unwrap().0;
        let want = tcp.calc_checksum_ipv4_raw(ip.source(), ip.destination(), &[]).unwrap();
        let full = completed(&TCP4_SYN[34..], &PH4);
        assert_eq!(Packet::new_checked(&full[..]).unwrap().checksum(), want);
    }

    #[test]
    fn parses_captured_rst_ack_and_v6_syn() {
        // The RST/ACK has a complete checksum.
        let p = Packet::new_checked(&TCP4_RST_ACK[34..]).unwrap();
        let r = Repr::parse(&p, Some(&PH4_BACK)).unwrap();
        assert_eq!(r.flags, TcpFlags::RST | TcpFlags::ACK);
        assert_eq!(r.flags.to_string(), "rst|ack");
        assert_eq!(r.ack_number, 3866574575);
        let seg = &TCP6_SYN[54..];
        assert_eq!(Packet::new_checked(seg).unwrap().checksum(), partial(&ph6(), seg.len()));
        let mut b = completed(seg, &ph6());
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), Some(&ph6())).is_ok());
        b[6] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(Repr::parse(&p, Some(&ph6())).is_err());
        assert!(Repr::parse(&p, None).is_ok());
    }

    #[test]
    fn emit_reproduces_captures() {
        for (seg, ph) in [
            (completed(&TCP4_SYN[34..], &PH4), PH4),
            (TCP4_RST_ACK[34..].to_vec(), PH4_BACK),
            (completed(&TCP6_SYN[54..], &ph6()), ph6()),
        ] {
            let r = Repr::parse(&Packet::new_checked(&seg[..]).unwrap(), Some(&ph)).unwrap();
            let mut b = seg.clone();
            b[..r.header_len()].fill(0xaa);
            r.emit(&mut Packet::new_unchecked(&mut b[..]), &ph);
            assert_eq!(b, seg);
        }
    }

    #[test]
    fn bad_data_offset_is_rejected() {
        let mut b = TCP4_SYN;
        b[34 + 12] = 0x40;
        assert!(Packet::new_checked(&b[34..]).is_err());
        b[34 + 12] = 0xf0; // 60 bytes, more than the 40 there are
        assert!(Packet::new_checked(&b[34..]).is_err());
    }

    #[test]
    fn truncations_are_errors() {
        for seg in [&TCP4_SYN[34..], &TCP6_SYN[54..], &TCP4_RST_ACK[34..]] {
            for len in 0..seg.len() {
                assert!(Packet::new_checked(&seg[..len]).is_err(), "{len}");
            }
        }
    }
}
