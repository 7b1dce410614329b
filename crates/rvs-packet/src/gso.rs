//! Software offloads: segmentation of GSO super-frames and completion of
//! checksum-partial packets, for ports that cannot take them as they are.
//!
//! Ports with offloads (AF_PACKET with `PACKET_VNET_HDR`, tap with
//! `IFF_VNET_HDR`) hand the switch TCP and UDP super-frames of up to 64 KiB
//! whose L4 checksum is left for someone else to finish, as Linux's
//! `CHECKSUM_PARTIAL` does: the checksum field holds the non-inverted
//! pseudo-header sum and [`Metadata::csum_start`](crate::Metadata::csum_start)
//! says where the sum starts. Such packets cross the switch untouched. Before
//! one goes out of a port that cannot take it, the datapath calls
//! [`prepare_for_port`], which does in software what the kernel's
//! `skb_gso_segment` and `skb_checksum_help` would do:
//!
//! - [`segment`] cuts a super-frame into wire-sized packets, each with
//!   complete headers and checksums;
//! - [`complete_checksum`] finishes a checksum-partial packet in place.
//!
//! # What a super-frame may look like
//!
//! Ethernet, any number of 802.1Q/802.1ad tags, then IPv4 (options allowed,
//! not a fragment) or IPv6 (hop-by-hop, routing with no segments left and
//! destination options headers allowed), then TCP (options allowed) for
//! [`GsoType::TcpV4`]/[`GsoType::TcpV6`] or UDP for [`GsoType::Udp`]. The IP
//! length field gives the end of the frame; bytes past it are ignored. The
//! L4 checksum and UDP length fields of the super-frame are not read (every
//! segment gets its own), so the super-frame may be checksum-partial or not.
//! Anything else is refused with a [`GsoError`] that names what is wrong;
//! nothing here panics.
//!
//! # What the segments look like
//!
//! Each segment carries at most `gso_size` payload bytes, the last one the
//! rest, and copies every header byte of the super-frame except:
//!
//! - IPv4: total length; identification, which goes up by one per segment
//!   (as Linux does without `SKB_GSO_TCP_FIXEDID`); header checksum.
//! - IPv6: payload length.
//! - TCP: sequence number, advanced by the payload before it; FIN and PSH
//!   only on the last segment, CWR only on the first; checksum.
//! - UDP: length; checksum (0 computed is sent as 0xffff).
//!
//! Segments carry the super-frame's metadata (port, marks, tunnel, ...) with
//! `gso_type` [`GsoType::None`], `gso_size` 0, no partial checksum, and the
//! L2/L3/L4 offsets found while parsing. Each segment is one allocation; no
//! other per-segment memory is allocated.

use crate::buffer::{GsoType, Packet};
use crate::checksum::{accumulate, finish, pseudo_ipv4, pseudo_ipv6};
use std::net::{Ipv4Addr, Ipv6Addr};

const ETH_HEADER_LEN: usize = 14;
const VLAN_HEADER_LEN: usize = 4;
const ETH_TYPE_IPV4: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_VLAN_8021Q: u16 = 0x8100;
const ETH_TYPE_VLAN_8021AD: u16 = 0x88a8;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPV6_HOPOPTS: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_DSTOPTS: u8 = 60;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;
const TCP_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
/// Offset of the checksum field in a UDP header: a partial checksum stored
/// there gets UDP's "computed 0 is sent as all ones".
const UDP_CSUM_OFFSET: u16 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why a packet could not be segmented or have its checksum completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// A checksum-partial packet whose `csum_start` is past its end.
    #[error("checksum start {start} is past the end of the {len}-byte packet")]
    CsumStartPastEnd {
        /// `csum_start`.
        start: u16,
        /// Packet length.
        len: usize,
    },
    /// A checksum-partial packet whose checksum field is not inside it.
    #[error("checksum field at {start} + {offset} does not fit in the {len}-byte packet")]
    CsumFieldPastEnd {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// Packet length.
        len: usize,
    },
    /// A super-frame with `gso_size` 0.
    #[error("GSO super-frame of type {gso_type:?} has gso_size 0")]
    ZeroGsoSize {
        /// The packet's GSO type.
        gso_type: GsoType,
    },
    /// A header that does not fit in the frame.
    #[error("{header} header at offset {offset} needs {need} bytes, the frame has {len}")]
    Truncated {
        /// Which header.
        header: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs from `offset`.
        need: usize,
        /// Frame length.
        len: usize,
    },
    /// A frame whose network layer does not match its GSO type.
    #[error("GSO type {gso_type:?} cannot segment EtherType {ethertype:#06x}")]
    WrongEtherType {
        /// The packet's GSO type.
        gso_type: GsoType,
        /// The EtherType after the VLAN tags.
        ethertype: u16,
    },
    /// An IP header with the wrong version nibble.
    #[error("IP header announced by its EtherType has version {version}")]
    WrongIpVersion {
        /// The version nibble found.
        version: u8,
    },
    /// An IPv4 header length below 20 bytes.
    #[error("IPv4 header length {ihl} (in 32-bit words) is below 5")]
    BadIhl {
        /// The IHL field.
        ihl: u8,
    },
    /// An IP length field that disagrees with the frame.
    #[error("{header} length field {value} does not fit between {min} and the {available} bytes present")]
    BadIpLength {
        /// "IPv4 total" or "IPv6 payload".
        header: &'static str,
        /// The field's value.
        value: usize,
        /// The smallest value the headers need.
        min: usize,
        /// Bytes present from the field's reference point.
        available: usize,
    },
    /// An IPv4 fragment, which cannot be segmented.
    #[error("IPv4 super-frame is a fragment (offset {offset} bytes, more fragments {more})")]
    Fragment {
        /// Fragment offset in bytes.
        offset: u16,
        /// The MF flag.
        more: bool,
    },
    /// An L4 protocol that does not match the GSO type, or an IPv6 extension
    /// header that segmentation does not walk (fragment, ESP, ...).
    #[error("GSO type {gso_type:?} cannot segment IP protocol {protocol}")]
    WrongProtocol {
        /// The packet's GSO type.
        gso_type: GsoType,
        /// The IP protocol or IPv6 next header found.
        protocol: u8,
    },
    /// An IPv6 routing header with segments left: the TCP/UDP pseudo-header
    /// would need the final destination, which is not computed here.
    #[error("IPv6 routing header has {segments_left} segments left")]
    RoutingHeader {
        /// The routing header's segments-left field.
        segments_left: u8,
    },
    /// A TCP data offset below 5 words.
    #[error("TCP data offset {data_offset} (in 32-bit words) is below 5")]
    BadTcpOffset {
        /// The data offset field.
        data_offset: u8,
    },
}

/// The offloads a port can take on transmit.
///
/// Segmentation offload implies checksum offload, as in Linux (a device
/// without checksum offload loses TSO in `netdev_fix_features`): a port with
/// `tso` but not `csum` gets super-frames segmented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffloads {
    /// The port finishes checksum-partial TCP/UDP checksums.
    pub csum: bool,
    /// The port segments TCP super-frames (TSO).
    pub tso: bool,
    /// The port segments UDP super-frames (USO, `UDP_L4` GSO).
    pub uso: bool,
}

impl TxOffloads {
    /// A port with no offloads (a dummy port, a plain socket, a tunnel).
    pub const NONE: TxOffloads = TxOffloads { csum: false, tso: false, uso: false };
    /// A port that takes super-frames and partial checksums (tap with
    /// `IFF_VNET_HDR`, AF_PACKET with `PACKET_VNET_HDR`).
    pub const ALL: TxOffloads = TxOffloads { csum: true, tso: true, uso: true };

    /// True when the port takes a super-frame of this kind whole.
    pub fn takes(&self, gso: GsoType) -> bool {
        self.csum
            && match gso {
                GsoType::None => true,
                GsoType::TcpV4 | GsoType::TcpV6 => self.tso,
                GsoType::Udp => self.uso,
            }
    }
}

/// Makes `pkt` fit a port with offloads `port` and pushes the result on
/// `out`: a super-frame is segmented unless the port takes super-frames
/// (segments come out with complete checksums), a checksum-partial packet is
/// completed unless the port takes partial checksums, anything else goes
/// through unchanged.
///
/// On error `pkt` is dropped and nothing is pushed.
pub fn prepare_for_port(
    mut pkt: Packet,
    port: TxOffloads,
    out: &mut Vec<Packet>,
) -> Result<(), GsoError> {
    if pkt.md.gso_type != GsoType::None {
        if port.takes(pkt.md.gso_type) {
            out.push(pkt);
            return Ok(());
        }
        return segment(pkt, out);
    }
    if pkt.md.csum_start.is_some() && !port.csum {
        complete_checksum(&mut pkt)?;
    }
    out.push(pkt);
    Ok(())
}

/// Finishes the checksum of a checksum-partial packet, as Linux's
/// `skb_checksum_help` does: the one's-complement sum of the bytes from
/// `csum_start` to the end of the data (which takes in the pseudo-header sum
/// already in the checksum field), complemented, goes into the field at
/// `csum_start + csum_offset`, and `csum_start` becomes `None`.
///
/// A field at offset 6 is taken to be UDP's: a computed 0 is stored as
/// 0xffff, since 0 would mean "no checksum" (RFC 768). Other fields (TCP,
/// ICMPv6) keep a computed 0.
///
/// A packet that is not checksum-partial is left alone. GSO state is not
/// touched: completing the checksum of a super-frame is the segments' job.
pub fn complete_checksum(pkt: &mut Packet) -> Result<(), GsoError> {
    let Some(start) = pkt.md.csum_start else {
        return Ok(());
    };
    let offset = pkt.md.csum_offset;
    let len = pkt.len();
    let s = usize::from(start);
    if s > len {
        return Err(GsoError::CsumStartPastEnd { start, len });
    }
    let at = s + usize::from(offset);
    if at + 2 > len {
        return Err(GsoError::CsumFieldPastEnd { start, offset, len });
    }
    let d = pkt.data_mut();
    let mut c = finish(accumulate(0, &d[s..]));
    if c == 0 && offset == UDP_CSUM_OFFSET {
        c = 0xffff;
    }
    d[at..at + 2].copy_from_slice(&c.to_be_bytes());
    pkt.md.csum_start = None;
    pkt.md.csum_offset = 0;
    Ok(())
}

/// The network layer of a super-frame.
#[derive(Clone, Copy, Debug)]
enum Net {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

/// Where the headers of a super-frame are.
#[derive(Clone, Copy, Debug)]
struct Layout {
    net: Net,
    l3: usize,
    l4: usize,
    /// Length of all headers, L2 to L4 inclusive: the payload starts here.
    hdr_len: usize,
    /// End of the IP packet (bytes past it are padding).
    end: usize,
    tcp: bool,
}

fn rd16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

fn wr16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Fails unless `need` bytes from `offset` are in `d`.
fn need(d: &[u8], header: &'static str, offset: usize, need: usize) -> Result<(), GsoError> {
    if offset.checked_add(need).is_some_and(|e| e <= d.len()) {
        Ok(())
    } else {
        Err(GsoError::Truncated { header, offset, need, len: d.len() })
    }
}

/// Finds the headers of a super-frame of type `gso_type` and checks them.
fn parse(d: &[u8], gso_type: GsoType) -> Result<Layout, GsoError> {
    need(d, "Ethernet", 0, ETH_HEADER_LEN)?;
    let mut l3 = ETH_HEADER_LEN;
    let mut ethertype = rd16(d, 12);
    // Each tag consumes four bytes, so the walk ends within the frame.
    while ethertype == ETH_TYPE_VLAN_8021Q || ethertype == ETH_TYPE_VLAN_8021AD {
        need(d, "VLAN", l3, VLAN_HEADER_LEN)?;
        ethertype = rd16(d, l3 + 2);
        l3 += VLAN_HEADER_LEN;
    }
    let want = match gso_type {
        GsoType::TcpV4 => IPPROTO_TCP,
        GsoType::TcpV6 => IPPROTO_TCP,
        GsoType::Udp => IPPROTO_UDP,
        // `segment` passes non-GSO packets through before parsing.
        GsoType::None => unreachable!("parse is only called for super-frames"),
    };
    let v4 = match (gso_type, ethertype) {
        (GsoType::TcpV4 | GsoType::Udp, ETH_TYPE_IPV4) => true,
        (GsoType::TcpV6 | GsoType::Udp, ETH_TYPE_IPV6) => false,
        _ => return Err(GsoError::WrongEtherType { gso_type, ethertype }),
    };
    let (net, l4, proto, end) = if v4 {
        need(d, "IPv4", l3, IPV4_HEADER_LEN)?;
        let version = d[l3] >> 4;
        if version != 4 {
            return Err(GsoError::WrongIpVersion { version });
        }
        let ihl = d[l3] & 0xf;
        if ihl < 5 {
            return Err(GsoError::BadIhl { ihl });
        }
        let hl = usize::from(ihl) * 4;
        need(d, "IPv4", l3, hl)?;
        let total = usize::from(rd16(d, l3 + 2));
        if total < hl || total > d.len() - l3 {
            return Err(GsoError::BadIpLength {
                header: "IPv4 total",
                value: total,
                min: hl,
                available: d.len() - l3,
            });
        }
        let frag = rd16(d, l3 + 6);
        if frag & 0x3fff != 0 {
            return Err(GsoError::Fragment {
                offset: (frag & 0x1fff) * 8,
                more: frag & 0x2000 != 0,
            });
        }
        let a = |i: usize| Ipv4Addr::new(d[i], d[i + 1], d[i + 2], d[i + 3]);
        let net = Net::V4 { src: a(l3 + 12), dst: a(l3 + 16) };
        (net, l3 + hl, d[l3 + 9], l3 + total)
    } else {
        need(d, "IPv6", l3, IPV6_HEADER_LEN)?;
        let version = d[l3] >> 4;
        if version != 6 {
            return Err(GsoError::WrongIpVersion { version });
        }
        let plen = usize::from(rd16(d, l3 + 4));
        let available = d.len() - l3 - IPV6_HEADER_LEN;
        if plen > available {
            return Err(GsoError::BadIpLength {
                header: "IPv6 payload",
                value: plen,
                min: 0,
                available,
            });
        }
        let end = l3 + IPV6_HEADER_LEN + plen;
        let ip = &d[..end];
        let mut next = ip[l3 + 6];
        let mut at = l3 + IPV6_HEADER_LEN;
        // Each extension header consumes at least eight bytes.
        while matches!(next, IPV6_HOPOPTS | IPV6_ROUTING | IPV6_DSTOPTS) {
            need(ip, "IPv6 extension", at, 8)?;
            let len = (usize::from(ip[at + 1]) + 1) * 8;
            need(ip, "IPv6 extension", at, len)?;
            if next == IPV6_ROUTING && ip[at + 3] != 0 {
                return Err(GsoError::RoutingHeader { segments_left: ip[at + 3] });
            }
            next = ip[at];
            at += len;
        }
        let a = |i: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&d[i..i + 16]);
            Ipv6Addr::from(o)
        };
        let net = Net::V6 { src: a(l3 + 8), dst: a(l3 + 24) };
        (net, at, next, end)
    };
    if proto != want {
        return Err(GsoError::WrongProtocol { gso_type, protocol: proto });
    }
    let ip = &d[..end];
    let l4_len = if want == IPPROTO_TCP {
        need(ip, "TCP", l4, TCP_HEADER_LEN)?;
        let data_offset = ip[l4 + 12] >> 4;
        if data_offset < 5 {
            return Err(GsoError::BadTcpOffset { data_offset });
        }
        let thl = usize::from(data_offset) * 4;
        need(ip, "TCP", l4, thl)?;
        thl
    } else {
        need(ip, "UDP", l4, UDP_HEADER_LEN)?;
        UDP_HEADER_LEN
    };
    Ok(Layout { net, l3, l4, hdr_len: l4 + l4_len, end, tcp: want == IPPROTO_TCP })
}

/// The length of a super-frame's headers, Ethernet to L4 inclusive: what
/// each of its segments repeats. `None` for a packet that is not a
/// super-frame or whose headers do not parse.
pub fn headers_len(pkt: &Packet) -> Option<usize> {
    if pkt.md.gso_type == GsoType::None {
        return None;
    }
    parse(pkt.data(), pkt.md.gso_type).ok().map(|l| l.hdr_len)
}

/// Cuts a GSO super-frame into packets of at most `gso_size` payload bytes
/// each, with complete headers and checksums (see the module documentation
/// for what changes), and pushes them on `out` in order.
///
/// A packet that is not a super-frame (`gso_type` [`GsoType::None`]) is
/// pushed unchanged, partial checksum and all. A super-frame with no payload
/// gives one packet, its headers with their checksums completed.
///
/// On error `pkt` is dropped and nothing is pushed.
pub fn segment(pkt: Packet, out: &mut Vec<Packet>) -> Result<(), GsoError> {
    let gso_type = pkt.md.gso_type;
    if gso_type == GsoType::None {
        out.push(pkt);
        return Ok(());
    }
    let mss = usize::from(pkt.md.gso_size);
    if mss == 0 {
        return Err(GsoError::ZeroGsoSize { gso_type });
    }
    let d = pkt.data();
    let lay = parse(d, gso_type)?;
    let headers = &d[..lay.hdr_len];
    let payload = &d[lay.hdr_len..lay.end];

    let mut md = pkt.md;
    md.gso_type = GsoType::None;
    md.gso_size = 0;
    md.csum_start = None;
    md.csum_offset = 0;
    // The offsets fit in u16 unless thousands of VLAN tags come first; such
    // a frame keeps the input's offsets rather than truncated ones.
    if let (Ok(l3), Ok(l4)) = (u16::try_from(lay.l3), u16::try_from(lay.l4)) {
        md.l2_ofs = 0;
        md.l3_ofs = l3;
        md.l4_ofs = l4;
    }

    let ip_id = match lay.net {
        Net::V4 { .. } => rd16(d, lay.l3 + 4),
        Net::V6 { .. } => 0,
    };
    let (seq, flags) = if lay.tcp {
        let l4 = lay.l4;
        let seq = u32::from_be_bytes([d[l4 + 4], d[l4 + 5], d[l4 + 6], d[l4 + 7]]);
        (seq, d[l4 + 13])
    } else {
        (0, 0)
    };

    let n = payload.len().div_ceil(mss).max(1);
    out.reserve(n);
    let mut chunks = payload.chunks(mss);
    for i in 0..n {
        // `chunks` yields nothing for an empty payload: one header-only packet.
        let chunk = chunks.next().unwrap_or(&[]);
        let mut seg = Packet::with_capacity(lay.hdr_len + chunk.len());
        seg.extend_from_slice(headers);
        seg.extend_from_slice(chunk);
        seg.md = md;
        let s = seg.data_mut();
        let l4_len = lay.hdr_len - lay.l4 + chunk.len();
        let pseudo = match lay.net {
            Net::V4 { src, dst } => {
                let l3 = lay.l3;
                let ihl = usize::from(s[l3] & 0xf) * 4;
                // Fits: it is at most the super-frame's total length.
                wr16(s, l3 + 2, (lay.l4 - l3 + l4_len) as u16);
                wr16(s, l3 + 4, ip_id.wrapping_add(i as u16));
                wr16(s, l3 + 10, 0);
                let c = finish(accumulate(0, &s[l3..l3 + ihl]));
                wr16(s, l3 + 10, c);
                let proto = if lay.tcp { IPPROTO_TCP } else { IPPROTO_UDP };
                pseudo_ipv4(src, dst, proto, l4_len as u32)
            }
            Net::V6 { src, dst } => {
                let l3 = lay.l3;
                wr16(s, l3 + 4, (lay.l4 - l3 - IPV6_HEADER_LEN + l4_len) as u16);
                let proto = if lay.tcp { IPPROTO_TCP } else { IPPROTO_UDP };
                pseudo_ipv6(src, dst, proto, l4_len as u32)
            }
        };
        let l4 = lay.l4;
        let csum_at = if lay.tcp {
            let off = (mss * i) as u32;
            s[l4 + 4..l4 + 8].copy_from_slice(&seq.wrapping_add(off).to_be_bytes());
            let mut f = flags;
            if i + 1 < n {
                f &= !(TCP_FIN | TCP_PSH);
            }
            if i > 0 {
                f &= !TCP_CWR;
            }
            s[l4 + 13] = f;
            l4 + 16
        } else {
            wr16(s, l4 + 4, l4_len as u16);
            l4 + 6
        };
        wr16(s, csum_at, 0);
        // The L4 header has an even length, so summing in two pieces is
        // the same as summing the whole.
        let sum = accumulate(accumulate(pseudo, &s[l4..lay.hdr_len]), chunk);
        let mut c = finish(sum);
        if c == 0 && !lay.tcp {
            c = 0xffff;
        }
        wr16(s, csum_at, c);
        out.push(seg);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + TCP, payload `n` bytes of 0xab, no checksums.
    fn tcp4(n: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20 + n];
        f[12..14].copy_from_slice(&ETH_TYPE_IPV4.to_be_bytes());
        f[14] = 0x45;
        let tot = (20 + 20 + n) as u16;
        f[16..18].copy_from_slice(&tot.to_be_bytes());
        f[18..20].copy_from_slice(&0xfffeu16.to_be_bytes());
        f[23] = IPPROTO_TCP;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34 + 4..34 + 8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        f[34 + 12] = 5 << 4;
        f[34 + 13] = TCP_FIN | TCP_PSH | TCP_CWR | 0x10;
        for b in &mut f[54..] {
            *b = 0xab;
        }
        f
    }

    fn gso(frame: &[u8], t: GsoType, size: u16) -> Packet {
        let mut p = Packet::from_bytes(frame);
        p.md.gso_type = t;
        p.md.gso_size = size;
        p
    }

    #[test]
    fn ids_and_sequence_numbers_wrap() {
        let mut out = Vec::new();
        segment(gso(&tcp4(25), GsoType::TcpV4, 10), &mut out).unwrap();
        assert_eq!(out.len(), 3);
        let ids: Vec<u16> = out.iter().map(|p| rd16(p.data(), 18)).collect();
        assert_eq!(ids, [0xfffe, 0xffff, 0]);
        let seqs: Vec<u32> =
            out.iter().map(|p| u32::from_be_bytes(p.data()[38..42].try_into().unwrap())).collect();
        assert_eq!(seqs, [0xffff_fff0, 0xffff_fffa, 4]);
        let flags: Vec<u8> = out.iter().map(|p| p.data()[47]).collect();
        assert_eq!(flags, [0x90, 0x10, 0x10 | TCP_FIN | TCP_PSH]);
        let lens: Vec<usize> = out.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [64, 64, 59]);
        for p in &out {
            assert_eq!(checksum_ok_v4(p.data()), (true, true));
            assert_eq!(p.md.gso_type, GsoType::None);
            assert_eq!((p.md.l3_ofs, p.md.l4_ofs), (14, 34));
        }
    }

    /// (IPv4 header verifies, TCP checksum verifies).
    fn checksum_ok_v4(f: &[u8]) -> (bool, bool) {
        let ip = finish(accumulate(0, &f[14..34])) == 0;
        let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
        let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
        let ph = pseudo_ipv4(src, dst, IPPROTO_TCP, (f.len() - 34) as u32);
        (ip, finish(accumulate(ph, &f[34..])) == 0)
    }

    #[test]
    fn empty_payload_gives_one_header_only_segment() {
        let mut out = Vec::new();
        segment(gso(&tcp4(0), GsoType::TcpV4, 1448), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 54);
        assert_eq!(out[0].data()[47], TCP_FIN | TCP_PSH | TCP_CWR | 0x10);
        assert_eq!(checksum_ok_v4(out[0].data()), (true, true));
    }

    #[test]
    fn padding_past_the_ip_length_is_ignored() {
        let mut f = tcp4(20);
        f.extend_from_slice(&[0xcc; 7]);
        let mut out = Vec::new();
        segment(gso(&f, GsoType::TcpV4, 10), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|p| p.len() == 64 && !p.data().contains(&0xcc)));
    }

    #[test]
    fn errors_name_the_problem() {
        let mut out = Vec::new();
        let e = segment(gso(&tcp4(10), GsoType::TcpV4, 0), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "GSO super-frame of type TcpV4 has gso_size 0");
        let e = segment(gso(&tcp4(10), GsoType::TcpV6, 4), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "GSO type TcpV6 cannot segment EtherType 0x0800");
        let e = segment(gso(&tcp4(10), GsoType::Udp, 4), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "GSO type Udp cannot segment IP protocol 6");
        let mut f = tcp4(10);
        f[20] = 0x20; // MF
        let e = segment(gso(&f, GsoType::TcpV4, 4), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPv4 super-frame is a fragment (offset 0 bytes, more fragments true)"
        );
        let mut f = tcp4(10);
        f[16..18].copy_from_slice(&100u16.to_be_bytes());
        let e = segment(gso(&f, GsoType::TcpV4, 4), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPv4 total length field 100 does not fit between 20 and the 50 bytes present"
        );
        let mut f = tcp4(10);
        f[46] = 4 << 4;
        let e = segment(gso(&f, GsoType::TcpV4, 4), &mut out).unwrap_err();
        assert_eq!(e, GsoError::BadTcpOffset { data_offset: 4 });
        let e = segment(gso(&tcp4(10)[..30], GsoType::TcpV4, 4), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "IPv4 header at offset 14 needs 20 bytes, the frame has 30");
        let e = segment(gso(&tcp4(10)[..40], GsoType::TcpV4, 4), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPv4 total length field 50 does not fit between 20 and the 26 bytes present"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn complete_checksum_checks_offsets() {
        let mut p = Packet::from_bytes(&[0; 10]);
        p.md.csum_start = Some(11);
        assert_eq!(
            complete_checksum(&mut p).unwrap_err().to_string(),
            "checksum start 11 is past the end of the 10-byte packet"
        );
        p.md.csum_start = Some(4);
        p.md.csum_offset = 5;
        assert_eq!(
            complete_checksum(&mut p).unwrap_err().to_string(),
            "checksum field at 4 + 5 does not fit in the 10-byte packet"
        );
        p.md.csum_offset = 4;
        complete_checksum(&mut p).unwrap();
        assert_eq!(p.data()[8..10], [0xff, 0xff]);
        assert_eq!(p.md.csum_start, None);
    }

    #[test]
    fn udp_zero_checksum_is_sent_as_all_ones() {
        // The sum of the covered bytes is 0xffff, so the checksum computes
        // to 0: UDP's field at offset 6 stores 0xffff, TCP's at 16 keeps 0.
        let mut b = [0u8; 20];
        b[0] = 0xff;
        b[1] = 0xff;
        let mut p = Packet::from_bytes(&b);
        p.md.csum_start = Some(0);
        p.md.csum_offset = 6;
        complete_checksum(&mut p).unwrap();
        assert_eq!(p.data()[6..8], [0xff, 0xff]);
        let mut p = Packet::from_bytes(&b);
        p.md.csum_start = Some(0);
        p.md.csum_offset = 16;
        complete_checksum(&mut p).unwrap();
        assert_eq!(p.data()[16..18], [0, 0]);
    }

    #[test]
    fn prepare_for_port_picks_the_work() {
        let mut partial = Packet::from_bytes(&tcp4(30));
        partial.md.csum_start = Some(34);
        partial.md.csum_offset = 16;
        let mut out = Vec::new();
        prepare_for_port(partial.clone(), TxOffloads::ALL, &mut out).unwrap();
        assert_eq!(out.pop().unwrap(), partial);
        prepare_for_port(partial.clone(), TxOffloads::NONE, &mut out).unwrap();
        assert_eq!(out.pop().unwrap().md.csum_start, None);

        let mut sf = gso(&tcp4(30), GsoType::TcpV4, 10);
        sf.md.csum_start = Some(34);
        sf.md.csum_offset = 16;
        prepare_for_port(sf.clone(), TxOffloads::ALL, &mut out).unwrap();
        assert_eq!(std::mem::take(&mut out), [sf.clone()]);
        let tso_only = TxOffloads { csum: false, tso: true, uso: true };
        for port in [TxOffloads::NONE, tso_only] {
            prepare_for_port(sf.clone(), port, &mut out).unwrap();
            assert_eq!(out.len(), 3);
            assert!(out.iter().all(|p| p.md.csum_start.is_none()));
            out.clear();
        }
        let csum_only = TxOffloads { csum: true, tso: false, uso: true };
        prepare_for_port(sf, csum_only, &mut out).unwrap();
        assert_eq!(out.len(), 3);
    }
}
