//! [`PacketBuilder`]: whole, valid Ethernet frames from a few calls, for
//! tests and benchmarks.
//!
//! ```
//! use rvs_packet::wire::PacketBuilder;
//! use rvs_packet::wire::tcp::TcpFlags;
//! use rvs_packet::EthAddr;
//! use std::net::Ipv4Addr;
//!
//! let frame = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2))
//!     .vlan(0x8100, 10)
//!     .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
//!     .tcp(1000, 80, TcpFlags::SYN)
//!     .payload(b"hello")
//!     .build();
//! assert_eq!(frame.len(), 14 + 4 + 20 + 20 + 5);
//! ```
//!
//! Layers are given outermost first: Ethernet, then any VLAN tags and MPLS
//! entries, then one network layer (IPv4, IPv6 or ARP), then at most one
//! transport or ICMP layer, then the payload. [`PacketBuilder::build`] fills
//! every EtherType, next-header, length and checksum field with the Reprs of
//! this module. Misuse (TCP without IP, ICMPv6 over IPv4, ...) is a bug in
//! the test that wrote it, so `build` panics with a message naming it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::arp::{self, ArpOperation};
use super::icmpv6::{self, Icmpv6Type};
use super::igmp::{self, IgmpType};
use super::tcp::{self, TcpFlags};
use super::{
    ethernet, icmpv4, ipv4, ipv6, ipv6ext, mpls, sctp, udp, vlan, EtherType, IpProtocol,
    OptionBytes, PseudoHeader,
};
use crate::types::EthAddr;

/// The IP protocol number used when IP carries only a raw payload: 253,
/// "Use for experimentation and testing" (RFC 3692).
pub const RAW_IP_PROTOCOL: IpProtocol = IpProtocol::Unknown(253);

/// The EtherType used when Ethernet carries only a raw payload: 0x88b5,
/// "IEEE Std 802 - Local Experimental Ethertype 1".
pub const RAW_ETHERTYPE: EtherType = EtherType::Unknown(0x88b5);

#[derive(Debug, Clone)]
enum L3 {
    None,
    Ipv4(ipv4::Repr),
    Ipv6(ipv6::Repr, Option<ipv6ext::FragmentRepr>),
    Arp(arp::Repr),
}

#[derive(Debug, Clone)]
enum L4 {
    None,
    Tcp(tcp::Repr),
    Udp(udp::Repr),
    Icmpv4(icmpv4::Repr),
    Icmpv6(icmpv6::Repr),
    Sctp(sctp::Repr),
    Igmp(igmp::Repr),
}

/// Builds an Ethernet frame layer by layer; see the module documentation.
#[derive(Debug, Clone)]
pub struct PacketBuilder {
    eth: ethernet::Repr,
    tags: Vec<(u16, u16)>,
    mpls: Vec<mpls::Repr>,
    l3: L3,
    l4: L4,
    payload: Vec<u8>,
}

impl PacketBuilder {
    /// Starts a frame from `src` to `dst`.
    pub fn ethernet(src: EthAddr, dst: EthAddr) -> PacketBuilder {
        PacketBuilder {
            eth: ethernet::Repr { src_addr: src, dst_addr: dst, ethertype: RAW_ETHERTYPE },
            tags: Vec::new(),
            mpls: Vec::new(),
            l3: L3::None,
            l4: L4::None,
            payload: Vec::new(),
        }
    }

    /// Sets the EtherType of a frame with no network layer (default
    /// [`RAW_ETHERTYPE`]).
    pub fn ethertype(mut self, t: EtherType) -> Self {
        self.eth.ethertype = t;
        self
    }

    /// Adds a VLAN tag with TPID `tpid` (0x8100 or 0x88a8) and TCI `tci`
    /// (PCP << 13 | DEI << 12 | VID). Call twice for a double-tagged frame,
    /// outer tag first.
    pub fn vlan(mut self, tpid: u16, tci: u16) -> Self {
        self.tags.push((tpid, tci));
        self
    }

    /// Adds an MPLS label stack entry below the previous ones; the last one
    /// added gets the bottom-of-stack bit. The frame's EtherType becomes
    /// 0x8847.
    pub fn mpls(mut self, label: u32, tc: u8, ttl: u8) -> Self {
        self.mpls.push(mpls::Repr { label, tc, bottom: false, ttl });
        self
    }

    /// Adds an IPv4 header (no options, DF clear, identification 0).
    pub fn ipv4(mut self, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Self {
        self.l3 = L3::Ipv4(ipv4::Repr::new(src, dst, RAW_IP_PROTOCOL, ttl, 0));
        self
    }

    /// Makes the IPv4 header a fragment: identification, DF, MF and offset
    /// in bytes (a multiple of 8).
    ///
    /// # Panics
    /// If no IPv4 header was added.
    pub fn ipv4_fragment(mut self, ident: u16, dont_frag: bool, more: bool, offset: u16) -> Self {
        let L3::Ipv4(r) = &mut self.l3 else {
            panic!("PacketBuilder::ipv4_fragment needs .ipv4() first");
        };
        r.ident = ident;
        r.dont_frag = dont_frag;
        r.more_frags = more;
        r.frag_offset = offset;
        self
    }

    /// Sets DSCP and ECN of the IPv4 header, or the traffic class of the
    /// IPv6 header, to `tos`.
    ///
    /// # Panics
    /// If no IP header was added.
    pub fn ip_tos(mut self, tos: u8) -> Self {
        match &mut self.l3 {
            L3::Ipv4(r) => {
                r.dscp = tos >> 2;
                r.ecn = tos & 3;
            }
            L3::Ipv6(r, _) => r.traffic_class = tos,
            _ => panic!("PacketBuilder::ip_tos needs .ipv4() or .ipv6() first"),
        }
        self
    }

    /// Adds IPv4 options (padded to four bytes).
    ///
    /// # Panics
    /// If no IPv4 header was added or `opts` is longer than 40 bytes.
    pub fn ipv4_options(mut self, opts: &[u8]) -> Self {
        let L3::Ipv4(r) = &mut self.l3 else {
            panic!("PacketBuilder::ipv4_options needs .ipv4() first");
        };
        r.options = OptionBytes::new(opts).expect("IPv4 options are at most 40 bytes");
        self
    }

    /// Adds an IPv6 header (traffic class and flow label 0).
    pub fn ipv6(mut self, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Self {
        self.l3 = L3::Ipv6(
            ipv6::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: RAW_IP_PROTOCOL,
                payload_len: 0,
                hop_limit,
                traffic_class: 0,
                flow_label: 0,
            },
            None,
        );
        self
    }

    /// Adds a fragment extension header after the IPv6 header.
    ///
    /// # Panics
    /// If no IPv6 header was added.
    pub fn ipv6_fragment(mut self, ident: u32, more: bool, offset: u16) -> Self {
        let L3::Ipv6(_, f) = &mut self.l3 else {
            panic!("PacketBuilder::ipv6_fragment needs .ipv6() first");
        };
        *f = Some(ipv6ext::FragmentRepr {
            next_header: RAW_IP_PROTOCOL,
            frag_offset: offset,
            more_frags: more,
            ident,
        });
        self
    }

    /// Makes the frame an Ethernet/IPv4 ARP packet.
    pub fn arp(
        mut self,
        op: ArpOperation,
        sha: EthAddr,
        spa: Ipv4Addr,
        tha: EthAddr,
        tpa: Ipv4Addr,
    ) -> Self {
        self.l3 = L3::Arp(arp::Repr {
            operation: op,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            target_protocol_addr: tpa,
        });
        self
    }

    /// Adds a TCP header (sequence 1, acknowledgment 0, window 65535, no
    /// options).
    pub fn tcp(mut self, src_port: u16, dst_port: u16, flags: TcpFlags) -> Self {
        self.l4 = L4::Tcp(tcp::Repr {
            src_port,
            dst_port,
            seq_number: 1,
            ack_number: 0,
            flags,
            window_len: 65535,
            urgent_at: 0,
            options: OptionBytes::default(),
            payload_len: 0,
        });
        self
    }

    /// Adds a UDP header.
    pub fn udp(mut self, src_port: u16, dst_port: u16) -> Self {
        self.l4 = L4::Udp(udp::Repr { src_port, dst_port, payload_len: 0 });
        self
    }

    /// Adds an ICMPv4 echo request; the payload is its data.
    pub fn icmpv4_echo(mut self, ident: u16, seq_no: u16) -> Self {
        self.l4 = L4::Icmpv4(icmpv4::Repr::echo_request(ident, seq_no, 0));
        self
    }

    /// Adds an ICMPv4 message of any type; `rest` is the four bytes after
    /// the checksum.
    pub fn icmpv4(mut self, msg_type: icmpv4::Icmpv4Type, code: u8, rest: u32) -> Self {
        self.l4 = L4::Icmpv4(icmpv4::Repr { msg_type, code, rest, payload_len: 0 });
        self
    }

    /// Adds an ICMPv6 echo request; the payload is its data.
    pub fn icmpv6_echo(mut self, ident: u16, seq_no: u16) -> Self {
        self.l4 = L4::Icmpv6(icmpv6::Repr::echo_request(ident, seq_no, 0));
        self
    }

    /// Adds a neighbor solicitation for `target`, with a source link-layer
    /// address option if `sll` is given. (RFC 4861 wants hop limit 255 in
    /// the IPv6 header; that is the caller's choice.)
    pub fn nd_ns(mut self, target: Ipv6Addr, sll: Option<EthAddr>) -> Self {
        self.l4 = L4::Icmpv6(icmpv6::Repr::neighbor_solicit(target, sll));
        self
    }

    /// Adds a neighbor advertisement for `target` with flags (router,
    /// solicited, override) and a target link-layer address option if `tll`
    /// is given.
    pub fn nd_na(
        mut self,
        target: Ipv6Addr,
        tll: Option<EthAddr>,
        flags: (bool, bool, bool),
    ) -> Self {
        let f =
            (u32::from(flags.0) << 31) | (u32::from(flags.1) << 30) | (u32::from(flags.2) << 29);
        self.l4 = L4::Icmpv6(icmpv6::Repr {
            msg_type: Icmpv6Type::NeighborAdvert,
            code: 0,
            rest: f,
            target: Some(target),
            source_ll: None,
            target_ll: tll,
            payload_len: 0,
        });
        self
    }

    /// Adds an SCTP common header; the payload is its chunks.
    pub fn sctp(mut self, src_port: u16, dst_port: u16, verification_tag: u32) -> Self {
        self.l4 = L4::Sctp(sctp::Repr { src_port, dst_port, verification_tag, payload_len: 0 });
        self
    }

    /// Adds an IGMP message of type `msg_type` for `group` (for a v3 report,
    /// `group` is ignored and the payload holds the records).
    pub fn igmp(mut self, msg_type: IgmpType, group: Ipv4Addr) -> Self {
        self.l4 = L4::Igmp(igmp::Repr {
            msg_type,
            max_resp_code: 0,
            group_addr: group,
            num_group_records: 0,
            payload_len: 0,
        });
        self
    }

    /// Sets the bytes after the innermost header.
    pub fn payload(mut self, data: &[u8]) -> Self {
        self.payload = data.to_vec();
        self
    }

    /// The pseudo-header of the IP layer, if there is one.
    fn pseudo(&self) -> Option<PseudoHeader> {
        match &self.l3 {
            L3::Ipv4(r) => Some(PseudoHeader::V4(r.src_addr, r.dst_addr)),
            L3::Ipv6(r, _) => Some(PseudoHeader::V6(r.src_addr, r.dst_addr)),
            _ => None,
        }
    }

    /// The transport layer with its payload, and its protocol number.
    fn build_l4(&self) -> (Vec<u8>, IpProtocol) {
        let pl = &self.payload;
        let n = pl.len();
        let need_ip = |what: &str| -> PseudoHeader {
            self.pseudo()
                .unwrap_or_else(|| panic!("PacketBuilder: {what} needs .ipv4() or .ipv6()"))
        };
        let v4_only = |what: &str| {
            if !matches!(self.l3, L3::Ipv4(_)) {
                panic!("PacketBuilder: {what} needs .ipv4()");
            }
        };
        let mut buf;
        let proto = match &self.l4 {
            L4::None => return (pl.clone(), RAW_IP_PROTOCOL),
            L4::Tcp(r) => {
                let ph = need_ip("tcp");
                let r = tcp::Repr { payload_len: n, ..*r };
                buf = frame_with_payload(r.header_len(), pl);
                r.emit(&mut tcp::Packet::new_unchecked(&mut buf[..]), &ph);
                IpProtocol::Tcp
            }
            L4::Udp(r) => {
                let ph = need_ip("udp");
                let r = udp::Repr { payload_len: n, ..*r };
                buf = frame_with_payload(udp::HEADER_LEN, pl);
                r.emit(&mut udp::Packet::new_unchecked(&mut buf[..]), &ph);
                IpProtocol::Udp
            }
            L4::Icmpv4(r) => {
                v4_only("icmpv4");
                let r = icmpv4::Repr { payload_len: n, ..*r };
                buf = frame_with_payload(icmpv4::HEADER_LEN, pl);
                r.emit(&mut icmpv4::Packet::new_unchecked(&mut buf[..]));
                IpProtocol::Icmp
            }
            L4::Icmpv6(r) => {
                let ph = need_ip("icmpv6");
                if !matches!(ph, PseudoHeader::V6(..)) {
                    panic!("PacketBuilder: icmpv6 needs .ipv6()");
                }
                let r = icmpv6::Repr { payload_len: n, ..*r };
                buf = frame_with_payload(r.buffer_len() - n, pl);
                r.emit(&mut icmpv6::Packet::new_unchecked(&mut buf[..]), &ph);
                IpProtocol::Icmpv6
            }
            L4::Sctp(r) => {
                need_ip("sctp");
                let r = sctp::Repr { payload_len: n, ..*r };
                buf = frame_with_payload(sctp::HEADER_LEN, pl);
                r.emit(&mut sctp::Packet::new_unchecked(&mut buf[..]));
                IpProtocol::Sctp
            }
            L4::Igmp(r) => {
                v4_only("igmp");
                let r = igmp::Repr { payload_len: n, ..*r };
                buf = frame_with_payload(igmp::HEADER_LEN, pl);
                r.emit(&mut igmp::Packet::new_unchecked(&mut buf[..]));
                IpProtocol::Igmp
            }
        };
        (buf, proto)
    }

    /// The network layer with everything above it, and its EtherType.
    fn build_l3(&self) -> (Vec<u8>, EtherType) {
        match &self.l3 {
            L3::None => {
                if !matches!(self.l4, L4::None) {
                    panic!("PacketBuilder: a transport layer needs .ipv4() or .ipv6()");
                }
                (self.payload.clone(), self.eth.ethertype)
            }
            L3::Arp(r) => {
                if !matches!(self.l4, L4::None) {
                    panic!("PacketBuilder: ARP carries no transport layer");
                }
                let mut b = frame_with_payload(r.buffer_len(), &self.payload);
                r.emit(&mut arp::Packet::new_unchecked(&mut b[..]));
                (b, EtherType::Arp)
            }
            L3::Ipv4(r) => {
                let (l4, proto) = self.build_l4();
                let r = ipv4::Repr { protocol: proto, payload_len: l4.len(), ..*r };
                assert!(
                    r.header_len() + l4.len() <= 65535,
                    "PacketBuilder: IPv4 payload of {} bytes is too long",
                    l4.len()
                );
                let mut b = frame_with_payload(r.header_len(), &l4);
                r.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
                (b, EtherType::Ipv4)
            }
            L3::Ipv6(r, frag) => {
                let (l4, proto) = self.build_l4();
                let (next, l4) = match frag {
                    None => (proto, l4),
                    Some(f) => {
                        let f = ipv6ext::FragmentRepr { next_header: proto, ..*f };
                        let mut b = frame_with_payload(f.buffer_len(), &l4);
                        f.emit(&mut ipv6ext::FragmentPacket::new_unchecked(&mut b[..]));
                        (IpProtocol::Ipv6Frag, b)
                    }
                };
                assert!(
                    l4.len() <= 65535,
                    "PacketBuilder: IPv6 payload of {} bytes is too long (no jumbograms)",
                    l4.len()
                );
                let r = ipv6::Repr { next_header: next, payload_len: l4.len(), ..*r };
                let mut b = frame_with_payload(ipv6::HEADER_LEN, &l4);
                r.emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
                (b, EtherType::Ipv6)
            }
        }
    }

    /// Builds the frame.
    ///
    /// # Panics
    /// On a layer that cannot go where it was put (see the module doc), or a
    /// packet too long for its length fields.
    pub fn build(&self) -> Vec<u8> {
        let (mut inner, mut ethertype) = self.build_l3();
        if !self.mpls.is_empty() {
            let mut stack = Vec::with_capacity(4 * self.mpls.len() + inner.len());
            for (i, e) in self.mpls.iter().enumerate() {
                let e = mpls::Repr { bottom: i + 1 == self.mpls.len(), ..*e };
                stack.extend_from_slice(&e.lse().to_be_bytes());
            }
            stack.extend_from_slice(&inner);
            inner = stack;
            ethertype = EtherType::MplsUnicast;
        }
        // Tags go on inside out, so each one's inner EtherType is known.
        for &(tpid, tci) in self.tags.iter().rev() {
            let mut b = frame_with_payload(vlan::HEADER_LEN, &inner);
            let mut p = vlan::Packet::new_unchecked(&mut b[..]);
            p.set_tci(tci);
            p.set_ethertype(ethertype);
            inner = b;
            ethertype = tpid.into();
        }
        let eth = ethernet::Repr { ethertype, ..self.eth };
        let mut b = frame_with_payload(ethernet::HEADER_LEN, &inner);
        eth.emit(&mut ethernet::Packet::new_unchecked(&mut b[..]));
        b
    }
}

/// A buffer of `header_len` zero bytes followed by `payload`.
fn frame_with_payload(header_len: usize, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; header_len + payload.len()];
    b[header_len..].copy_from_slice(payload);
    b
}

#[cfg(test)]
mod tests;
