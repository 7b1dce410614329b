//! Software receive offload: the reverse of [`crate::gso`]. Consecutive TCP
//! segments (or UDP datagrams) of one connection, queued together for a port
//! that takes GSO super-frames, are merged into one super-frame, as Linux's
//! GRO does for a NIC. The kernel on the far side of the port then runs its
//! stack once per super-frame instead of once per packet (one `veth`
//! transmit, one IP receive, for TCP one TCP receive and one socket wake-up;
//! a UDP super-frame is cut back into datagrams at the receiving socket),
//! which is most of what forwarding a packet costs.
//!
//! # Merging is invisible
//! A merged packet, segmented again (by the kernel, or by [`crate::gso`]),
//! gives back exactly the packets that went in. That is what decides which
//! packets may merge, the same rules Linux's GRO follows:
//!
//! - Ethernet with no VLAN tag, then IPv4 without options (not a fragment,
//!   valid header checksum) or IPv6 with TCP or UDP as the next header;
//! - every header byte equal to the first packet's, except the IP lengths,
//!   the IPv4 identification (which must go up by one per packet, as
//!   segmentation will make it), the header checksums, the UDP length, the
//!   TCP sequence number (which must continue the previous segment) and PSH;
//! - TCP: flags ACK (ECE allowed), no SYN, FIN, RST, URG or CWR, and a
//!   payload; UDP: a payload and a checksum (an IPv4 datagram sent without
//!   one would get one when segmented);
//! - no packet longer than the first (its payload size becomes the GSO
//!   size); a shorter one, or a TCP segment with PSH, is the last of its
//!   super-frame;
//! - a valid L4 checksum on every packet (checked here unless the packet is
//!   already checksum-partial, whose checksum its sender's kernel will
//!   compute), so that a corrupted packet is never turned into a good one;
//! - at most 65,535 bytes of IP datagram, and at most 64 UDP datagrams (the
//!   most Linux's UDP GRO merges).
//!
//! The merged packet has the first packet's headers with the lengths and
//! IPv4 header checksum fixed, PSH if the last TCP segment had it, and a
//! checksum-partial L4 checksum; its metadata says [`GsoType::TcpV4`],
//! [`GsoType::TcpV6`] or [`GsoType::Udp`] with the first packet's payload
//! as `gso_size`.
//!
//! # Order
//! Packets of one connection keep their order: a packet only joins the
//! super-frame that its connection's previous packet went into, and any
//! packet of the connection that cannot join closes it. Packets of different
//! connections may be reordered among themselves (a super-frame sits where
//! its first packet was), as with Linux's GRO. Up to eight connections are
//! merged at once; other packets pass through unchanged.

use crate::buffer::{GsoType, Packet};
use crate::checksum::{accumulate, checksum, finish, pseudo_ipv4, pseudo_ipv6};
use crate::gso::TxOffloads;
use std::net::{Ipv4Addr, Ipv6Addr};

const ETH_HEADER_LEN: usize = 14;
const ETH_TYPE_IPV4: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
/// Offset of the checksum in a TCP header.
const TCP_CSUM_OFFSET: u16 = 16;
/// Offset of the checksum in a UDP header.
const UDP_CSUM_OFFSET: u16 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;
/// Flags that keep a segment from merging.
const TCP_NO_MERGE: u8 = TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_CWR;
/// Connections merged at once.
const MAX_OPEN: usize = 8;
/// Largest IP datagram (IPv4 total length, or IPv6 header plus payload
/// length) a merged packet may grow to.
const MAX_IP_LEN: usize = 65535;
/// Most UDP datagrams in one super-frame.
const MAX_UDP_SEGS: usize = 64;

/// A packet's layout, as far as merging cares.
#[derive(Clone, Copy, Debug)]
struct Seg {
    /// Offset of the IP header (after Ethernet).
    l3: usize,
    /// Offset of the TCP or UDP header.
    l4: usize,
    /// Offset of the payload.
    payload: usize,
    /// End of the IP datagram (bytes past it are padding).
    end: usize,
    v6: bool,
    /// UDP rather than TCP.
    udp: bool,
    /// TCP only.
    seq: u32,
    /// TCP only.
    flags: u8,
    ip_id: u16,
    /// The packet is checksum-partial at its L4 checksum: the checksum is
    /// to be computed, not checked.
    partial: bool,
}

impl Seg {
    fn payload_len(&self) -> usize {
        self.end - self.payload
    }

    /// May join a super-frame.
    fn mergeable(&self) -> bool {
        self.payload_len() > 0
            && (self.udp || (self.flags & TCP_NO_MERGE == 0 && self.flags & TCP_ACK != 0))
    }

    /// May start a super-frame (a TCP segment with PSH must be the last).
    fn starts(&self) -> bool {
        self.mergeable() && self.flags & TCP_PSH == 0
    }

    fn proto(&self) -> u8 {
        if self.udp {
            IPPROTO_UDP
        } else {
            IPPROTO_TCP
        }
    }

    fn csum_offset(&self) -> u16 {
        if self.udp {
            UDP_CSUM_OFFSET
        } else {
            TCP_CSUM_OFFSET
        }
    }
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// The layout of `p` when it is an untagged IPv4/IPv6 TCP segment or UDP
/// datagram that is not itself a super-frame and whose kind `kinds` lets
/// merge; `None` for anything else.
fn parse(p: &Packet, kinds: TxOffloads) -> Option<Seg> {
    if p.md.gso_type != GsoType::None {
        return None;
    }
    let d = p.data();
    let l3 = ETH_HEADER_LEN;
    let (v6, proto, l4, end, ip_id) = match ip_version(d)? {
        4 => {
            // Version 4, no options, not a fragment, a sane length and a
            // valid header checksum.
            if d[l3] != 0x45 || be16(d, l3 + 6) & 0x3fff != 0 {
                return None;
            }
            let total = usize::from(be16(d, l3 + 2));
            if total < 28 || l3 + total > d.len() || checksum(&d[l3..l3 + 20]) != 0 {
                return None;
            }
            (false, d[l3 + 9], l3 + 20, l3 + total, be16(d, l3 + 4))
        }
        _ => {
            if d[l3] >> 4 != 6 {
                return None;
            }
            let end = l3 + IPV6_HEADER_LEN + usize::from(be16(d, l3 + 4));
            if end > d.len() {
                return None;
            }
            (true, d[l3 + 6], l3 + IPV6_HEADER_LEN, end, 0)
        }
    };
    let (udp, payload, seq, flags) = match proto {
        IPPROTO_TCP if kinds.tso => {
            if l4 + 20 > end {
                return None;
            }
            let doff = usize::from(d[l4 + 12] >> 4) * 4;
            if doff < 20 || l4 + doff > end {
                return None;
            }
            (false, l4 + doff, be32(d, l4 + 4), d[l4 + 13])
        }
        IPPROTO_UDP if kinds.uso => {
            // The UDP length must agree with IP's, and the datagram must
            // carry a checksum (or be checksum-partial).
            if l4 + UDP_HEADER_LEN > end
                || usize::from(be16(d, l4 + 4)) != end - l4
                || (be16(d, l4 + 6) == 0 && p.md.csum_start.is_none())
            {
                return None;
            }
            (true, l4 + UDP_HEADER_LEN, 0, 0)
        }
        _ => return None,
    };
    let csum_offset = if udp { UDP_CSUM_OFFSET } else { TCP_CSUM_OFFSET };
    let partial = match p.md.csum_start {
        None => false,
        Some(s) if usize::from(s) == l4 && p.md.csum_offset == csum_offset => true,
        // A partial checksum somewhere else: leave the packet alone.
        Some(_) => return None,
    };
    Some(Seg { l3, l4, payload, end, v6, udp, seq, flags, ip_id, partial })
}

/// 4 or 6 for an untagged frame long enough for an IPv4 or IPv6 header
/// (per its EtherType).
fn ip_version(d: &[u8]) -> Option<u8> {
    if d.len() < ETH_HEADER_LEN {
        return None;
    }
    match be16(d, 12) {
        ETH_TYPE_IPV4 if d.len() >= ETH_HEADER_LEN + 20 => Some(4),
        ETH_TYPE_IPV6 if d.len() >= ETH_HEADER_LEN + IPV6_HEADER_LEN => Some(6),
        _ => None,
    }
}

/// The address bytes of an IP header at `l3`.
fn addrs(v6: bool, l3: usize) -> std::ops::Range<usize> {
    if v6 {
        l3 + 8..l3 + 40
    } else {
        l3 + 12..l3 + 20
    }
}

/// The one's-complement pseudo-header sum for `l4_len` bytes of the
/// packet's L4 protocol.
fn pseudo(d: &[u8], s: &Seg, l4_len: usize) -> u64 {
    let len = l4_len as u32;
    if s.v6 {
        let a = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&d[at..at + 16]).expect("16"));
        pseudo_ipv6(a(s.l3 + 8), a(s.l3 + 24), s.proto(), len)
    } else {
        let a = |at: usize| Ipv4Addr::new(d[at], d[at + 1], d[at + 2], d[at + 3]);
        pseudo_ipv4(a(s.l3 + 12), a(s.l3 + 16), s.proto(), len)
    }
}

/// True when the packet's L4 checksum is right (or is still to be
/// computed).
fn checksum_ok(d: &[u8], s: &Seg) -> bool {
    s.partial || finish(accumulate(pseudo(d, s, s.end - s.l4), &d[s.l4..s.end])) == 0
}

/// Same connection: same protocol and header layout, addresses and ports.
fn same_connection(a: &[u8], sa: &Seg, b: &[u8], sb: &Seg) -> bool {
    if sa.v6 != sb.v6 || sa.udp != sb.udp || sa.l4 != sb.l4 {
        return false;
    }
    let r = addrs(sa.v6, sa.l3);
    a[r.clone()] == b[r] && a[sa.l4..sa.l4 + 4] == b[sb.l4..sb.l4 + 4]
}

/// Every header byte equal but those that differ between the packets of
/// one super-frame (lengths, IPv4 id and checksum, TCP sequence number, PSH,
/// L4 checksum).
fn same_headers(a: &[u8], s: &Seg, b: &[u8], t: &Seg) -> bool {
    if s.payload != t.payload || s.l4 != t.l4 || s.udp != t.udp {
        return false;
    }
    let (l3, l4) = (s.l3, s.l4);
    let ip_same = if s.v6 {
        a[..l3 + 4] == b[..l3 + 4] && a[l3 + 6..l4] == b[l3 + 6..l4]
    } else {
        a[..l3 + 2] == b[..l3 + 2]
            && a[l3 + 6..l3 + 10] == b[l3 + 6..l3 + 10]
            && a[l3 + 12..l4] == b[l3 + 12..l4]
    };
    if s.udp {
        return ip_same && a[l4..l4 + 4] == b[l4..l4 + 4];
    }
    ip_same
        && a[l4..l4 + 4] == b[l4..l4 + 4]
        && a[l4 + 8..l4 + 13] == b[l4 + 8..l4 + 13]
        && a[l4 + 13] & !TCP_PSH == b[l4 + 13] & !TCP_PSH
        && a[l4 + 14..l4 + 16] == b[l4 + 14..l4 + 16]
        && a[l4 + 18..s.payload] == b[l4 + 18..t.payload]
}

/// A super-frame being built: the connection's latest packet in the output.
#[derive(Debug)]
struct Open {
    /// Its index in the output.
    idx: usize,
    /// The first packet's layout.
    first: Seg,
    /// The first packet's payload length: the GSO size.
    mss: usize,
    /// The TCP sequence number and IPv4 id the next packet must have.
    next_seq: u32,
    next_id: u16,
    /// The IP datagram's length so far.
    ip_len: usize,
    /// Packets in it.
    n: usize,
    /// The last TCP segment had PSH.
    psh: bool,
}

impl Open {
    /// Nothing more may join.
    fn full(&self, last: &Seg) -> bool {
        self.psh
            || last.payload_len() < self.mss
            || self.ip_len + self.mss > MAX_IP_LEN
            || (self.first.udp && self.n >= MAX_UDP_SEGS)
    }
}

/// True when `p`, queued for a port with offloads `port`, could begin or
/// grow a super-frame that later packets of its connection may join: a TCP
/// segment without PSH or a UDP datagram that [`coalesce`] would merge. An
/// output queue holding only such packets gains by waiting briefly for more;
/// anything else (an ACK without data, a PSH segment, a ping) gains nothing.
pub fn may_grow(p: &Packet, port: TxOffloads) -> bool {
    port.csum && (port.tso || port.uso) && parse(p, port).is_some_and(|s| s.starts())
}

/// Merges runs of TCP segments (when `port.tso`) and UDP datagrams (when
/// `port.uso`) in `pkts`, which are bound for one port that takes such
/// super-frames, as described in the module documentation, and returns how
/// many packets were merged away (0 when `pkts` is unchanged). Nothing is
/// merged unless the port also takes checksum-partial packets.
pub fn coalesce(pkts: &mut Vec<Packet>, port: TxOffloads) -> usize {
    if pkts.len() < 2 || !port.csum || !(port.tso || port.uso) {
        return 0;
    }
    let input = std::mem::take(pkts);
    let n_in = input.len();
    let out = pkts;
    out.reserve(n_in);
    let mut open: Vec<Open> = Vec::with_capacity(MAX_OPEN);
    for p in input {
        let Some(s) = parse(&p, port) else {
            close_related(&mut open, out, p.data());
            out.push(p);
            continue;
        };
        let d = p.data();
        let found = open.iter().position(|o| same_connection(out[o.idx].data(), &o.first, d, &s));
        if let Some(i) = found {
            if s.mergeable() && try_append(&mut open[i], out, &p, &s) {
                if open[i].full(&s) {
                    close(open.swap_remove(i), out);
                }
                continue;
            }
            // A packet of the connection that does not continue its
            // super-frame ends it, so nothing later can pass it.
            close(open.swap_remove(i), out);
        }
        out.push(p);
        if s.starts() {
            if open.len() == MAX_OPEN {
                close(open.remove(0), out);
            }
            open.push(Open {
                idx: out.len() - 1,
                first: s,
                mss: s.payload_len(),
                next_seq: s.seq.wrapping_add(s.payload_len() as u32),
                next_id: s.ip_id.wrapping_add(1),
                ip_len: s.end - s.l3,
                n: 1,
                psh: false,
            });
        }
    }
    for o in open {
        close(o, out);
    }
    n_in - out.len()
}

/// Closes the super-frames that a packet that cannot merge (an IP fragment,
/// a header with options, a kind the port does not merge, one that is cut
/// short) may belong with: those between the same addresses. Then nothing
/// later of those connections can pass it.
fn close_related(open: &mut Vec<Open>, out: &mut [Packet], d: &[u8]) {
    let Some(version) = ip_version(d) else {
        return;
    };
    let v6 = version == 6;
    let r = addrs(v6, ETH_HEADER_LEN);
    let mut i = 0;
    while i < open.len() {
        let o = &open[i];
        if o.first.v6 == v6 && out[o.idx].data()[r.clone()] == d[r.clone()] {
            close(open.swap_remove(i), out);
        } else {
            i += 1;
        }
    }
}

/// Appends packet `s` of `p` to `o` when it continues it; false (nothing
/// changed) when it does not.
fn try_append(o: &mut Open, out: &mut [Packet], p: &Packet, s: &Seg) -> bool {
    let d = p.data();
    let len = s.payload_len();
    if (!s.udp && s.seq != o.next_seq)
        || (!s.v6 && s.ip_id != o.next_id)
        || len > o.mss
        || o.ip_len + len > MAX_IP_LEN
        || !same_headers(out[o.idx].data(), &o.first, d, s)
        || !checksum_ok(d, s)
    {
        return false;
    }
    if o.n == 1 {
        let head = &out[o.idx];
        if !checksum_ok(head.data(), &o.first) {
            return false;
        }
        // An owned copy with room for a whole super-frame; the original
        // (perhaps borrowing a receive ring) goes now.
        let mut m = Packet::with_capacity(o.first.l3 + MAX_IP_LEN);
        m.extend_from_slice(&head.data()[..o.first.end]);
        m.md = head.md;
        out[o.idx] = m;
    }
    out[o.idx].extend_from_slice(&d[s.payload..s.end]);
    o.next_seq = o.next_seq.wrapping_add(len as u32);
    o.next_id = o.next_id.wrapping_add(1);
    o.ip_len += len;
    o.n += 1;
    o.psh = s.flags & TCP_PSH != 0;
    true
}

/// Finishes a super-frame: lengths, IPv4 header checksum, PSH, the partial
/// L4 checksum and the GSO metadata. A packet nothing joined is left as it
/// was.
fn close(o: Open, out: &mut [Packet]) {
    if o.n < 2 {
        return;
    }
    let s = o.first;
    let p = &mut out[o.idx];
    let l4_len = o.ip_len - (s.l4 - s.l3);
    let d = p.data_mut();
    if s.v6 {
        let plen = (o.ip_len - IPV6_HEADER_LEN) as u16;
        d[s.l3 + 4..s.l3 + 6].copy_from_slice(&plen.to_be_bytes());
    } else {
        d[s.l3 + 2..s.l3 + 4].copy_from_slice(&(o.ip_len as u16).to_be_bytes());
        d[s.l3 + 10..s.l3 + 12].fill(0);
        let c = checksum(&d[s.l3..s.l4]);
        d[s.l3 + 10..s.l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    if s.udp {
        d[s.l4 + 4..s.l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    } else if o.psh {
        d[s.l4 + 13] |= TCP_PSH;
    }
    // Checksum-partial: the field holds the folded pseudo-header sum, not
    // inverted, for whoever finishes it.
    let ph = !finish(pseudo(d, &s, l4_len));
    let at = s.l4 + usize::from(s.csum_offset());
    d[at..at + 2].copy_from_slice(&ph.to_be_bytes());
    p.md.csum_start = Some(s.l4 as u16);
    p.md.csum_offset = s.csum_offset();
    p.md.gso_type = match (s.udp, s.v6) {
        (true, _) => GsoType::Udp,
        (false, false) => GsoType::TcpV4,
        (false, true) => GsoType::TcpV6,
    };
    p.md.gso_size = o.mss as u16;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gso::{complete_checksum, segment};

    /// An Ethernet/IPv4/TCP super-frame with `n` payload bytes (a pattern),
    /// timestamps option, id 0x1234, sequence number near the wrap.
    fn frame4(n: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 32 + n];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&ETH_TYPE_IPV4.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((20 + 32 + n) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
        f[20] = 0x40; // DF
        f[22] = 64;
        f[23] = IPPROTO_TCP;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 18, 0, 2]);
        tcp_header(&mut f[34..]);
        for (i, b) in f[66..].iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        f
    }

    fn frame6(n: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40 + 32 + n];
        f[12..14].copy_from_slice(&ETH_TYPE_IPV6.to_be_bytes());
        f[14] = 0x60;
        f[18..20].copy_from_slice(&((32 + n) as u16).to_be_bytes());
        f[20] = IPPROTO_TCP;
        f[21] = 64;
        f[22..24].copy_from_slice(&[0x20, 0x01]);
        f[24..26].copy_from_slice(&[0x0d, 0xb8]);
        f[37] = 1;
        f[38..40].copy_from_slice(&[0x20, 0x01]);
        f[40..42].copy_from_slice(&[0x0d, 0xb8]);
        f[53] = 2;
        tcp_header(&mut f[54..]);
        for (i, b) in f[86..].iter_mut().enumerate() {
            *b = (i * 13 % 241) as u8;
        }
        f
    }

    fn tcp_header(t: &mut [u8]) {
        t[0..2].copy_from_slice(&5201u16.to_be_bytes());
        t[2..4].copy_from_slice(&40000u16.to_be_bytes());
        t[4..8].copy_from_slice(&0xffff_f000u32.to_be_bytes());
        t[8..12].copy_from_slice(&77u32.to_be_bytes());
        t[12] = 8 << 4;
        t[13] = TCP_ACK | TCP_PSH;
        t[14..16].copy_from_slice(&500u16.to_be_bytes());
        // NOP NOP timestamps.
        t[20..24].copy_from_slice(&[1, 1, 8, 10]);
        t[24..32].copy_from_slice(&[0, 0, 0, 9, 0, 0, 0, 3]);
    }

    /// `frame` cut into segments of `mss` with complete checksums.
    fn segments(frame: &[u8], v6: bool, mss: u16) -> Vec<Packet> {
        let mut p = Packet::from_bytes(frame);
        p.md.gso_type = if v6 { GsoType::TcpV6 } else { GsoType::TcpV4 };
        p.md.gso_size = mss;
        cut(p)
    }

    /// A pure ACK of `seg`'s connection (an IPv4 TCP segment): its headers
    /// without the payload, the IPv4 length and checksum fixed.
    fn pure_ack(seg: &Packet) -> Packet {
        let mut ack = seg.clone();
        ack.truncate(66);
        let d = ack.data_mut();
        d[16..18].copy_from_slice(&52u16.to_be_bytes());
        d[24..26].fill(0);
        let c = checksum(&d[14..34]);
        d[24..26].copy_from_slice(&c.to_be_bytes());
        ack
    }

    /// `p` segmented in software, as the far side's kernel would, with the
    /// segments' metadata cleared.
    fn cut(p: Packet) -> Vec<Packet> {
        let mut out = Vec::new();
        segment(p, &mut out).unwrap();
        for s in &mut out {
            s.md = crate::Metadata::default();
        }
        out
    }

    /// What a merged packet becomes on the far side: segmented again, with
    /// complete checksums.
    fn resegment(p: Packet) -> Vec<Packet> {
        if p.md.gso_type == GsoType::None {
            let mut p = p;
            complete_checksum(&mut p).unwrap();
            p.md = crate::Metadata::default();
            return vec![p];
        }
        cut(p)
    }

    #[test]
    fn segments_merge_into_the_super_frame_they_came_from() {
        for (frame, v6) in [(frame4(20_000), false), (frame6(20_000), true)] {
            let segs = segments(&frame, v6, 1448);
            assert_eq!(segs.len(), 14);
            let mut pkts = segs.clone();
            assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 13);
            assert_eq!(pkts.len(), 1);
            let m = &pkts[0];
            assert_eq!(m.md.gso_type, if v6 { GsoType::TcpV6 } else { GsoType::TcpV4 });
            assert_eq!(m.md.gso_size, 1448);
            assert_eq!(m.len(), frame.len());
            assert_eq!(resegment(m.clone()), segs, "v6={v6}");
        }
    }

    /// Segment `i` of a stream of `mss`-byte IPv4 segments with complete
    /// checksums, without PSH.
    fn seg4(i: usize, mss: usize) -> Packet {
        let mut p = Packet::from_bytes(&frame4(mss));
        let d = p.data_mut();
        d[18..20].copy_from_slice(&(0x1234u16.wrapping_add(i as u16)).to_be_bytes());
        d[34 + 4..34 + 8]
            .copy_from_slice(&(0xffff_f000u32.wrapping_add((i * mss) as u32)).to_be_bytes());
        d[34 + 13] = TCP_ACK;
        d[24..26].fill(0);
        let c = checksum(&d[14..34]);
        d[24..26].copy_from_slice(&c.to_be_bytes());
        fix_tcp_checksum(&mut p);
        p
    }

    #[test]
    fn a_super_frame_stops_at_64k_and_the_next_one_carries_on() {
        let segs: Vec<Packet> = (0..100).map(|i| seg4(i, 1448)).collect();
        let mut pkts = segs.clone();
        assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 97);
        // 45 segments of 1448 bytes fit in 65,535 bytes of IP datagram.
        assert_eq!(pkts.len(), 3);
        for p in &pkts {
            assert!(p.len() - 14 <= MAX_IP_LEN);
        }
        let back: Vec<Packet> = pkts.into_iter().flat_map(resegment).collect();
        assert_eq!(back, segs);
    }

    #[test]
    fn gaps_and_changed_headers_start_a_new_super_frame() {
        let segs: Vec<Packet> = (0..10).map(|i| seg4(i, 1000)).collect();
        // A lost segment: the rest continue from after the gap.
        let mut pkts: Vec<Packet> =
            segs.iter().enumerate().filter(|(i, _)| *i != 4).map(|(_, p)| p.clone()).collect();
        coalesce(&mut pkts, TxOffloads::ALL);
        assert_eq!(pkts.len(), 2);
        let back: Vec<Packet> = pkts.into_iter().flat_map(resegment).collect();
        assert_eq!(back.len(), 9);
        assert_eq!(back[4], segs[5]);

        // A different window in the middle: before it, it, after it.
        let mut pkts = segs.clone();
        pkts[6].data_mut()[34 + 15] ^= 1;
        fix_tcp_checksum(&mut pkts[6]);
        let odd = pkts[6].clone();
        coalesce(&mut pkts, TxOffloads::ALL);
        assert_eq!(pkts.len(), 3);
        assert_eq!(pkts[1], odd);
        let back: Vec<Packet> = pkts.into_iter().flat_map(resegment).collect();
        assert_eq!(back[..6], segs[..6]);
        assert_eq!(back[7..], segs[7..]);
    }

    fn fix_tcp_checksum(p: &mut Packet) {
        let s = parse(p, TxOffloads::ALL).unwrap();
        let d = p.data_mut();
        d[s.l4 + 16..s.l4 + 18].fill(0);
        let c = finish(accumulate(pseudo(d, &s, s.end - s.l4), &d[s.l4..s.end]));
        d[s.l4 + 16..s.l4 + 18].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn a_bad_checksum_is_never_merged() {
        let segs = segments(&frame4(5 * 1000), false, 1000);
        for bad in 0..segs.len() {
            let mut pkts = segs.clone();
            let last = pkts[bad].len() - 1;
            pkts[bad].data_mut()[last] ^= 0xff;
            let corrupted = pkts[bad].clone();
            coalesce(&mut pkts, TxOffloads::ALL);
            // The corrupted segment goes out alone and unchanged.
            assert!(pkts.contains(&corrupted), "segment {bad}");
        }
    }

    #[test]
    fn ids_that_do_not_count_up_and_flags_keep_segments_apart() {
        let segs = segments(&frame4(4 * 1000), false, 1000);
        let mut pkts = segs.clone();
        // Same id on every segment: segmentation would not give it back.
        for p in &mut pkts {
            let d = p.data_mut();
            d[18..20].copy_from_slice(&7u16.to_be_bytes());
            d[24..26].fill(0);
            let c = checksum(&d[14..34]);
            d[24..26].copy_from_slice(&c.to_be_bytes());
        }
        let before = pkts.clone();
        assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 0);
        assert_eq!(pkts, before);

        // FIN, SYN, RST, URG, CWR: never merged.
        for flag in [TCP_FIN, TCP_SYN, TCP_RST, TCP_URG, TCP_CWR] {
            let mut pkts = segs.clone();
            pkts[1].data_mut()[34 + 13] |= flag;
            fix_tcp_checksum(&mut pkts[1]);
            let one = pkts[1].clone();
            coalesce(&mut pkts, TxOffloads::ALL);
            assert!(pkts.contains(&one), "flag {flag:#x}");
        }
    }

    #[test]
    fn connections_interleave_and_others_pass_through() {
        let a = segments(&frame4(4 * 1000), false, 1000);
        let b = segments(&frame6(4 * 1000), true, 1000);
        let arp = Packet::from_bytes(&[0xffu8; 60]);
        let mut pkts = Vec::new();
        for i in 0..4 {
            pkts.push(a[i].clone());
            pkts.push(b[i].clone());
            if i == 1 {
                pkts.push(arp.clone());
            }
        }
        assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 6);
        assert_eq!(pkts.len(), 3);
        assert_eq!(resegment(pkts[0].clone()), a);
        assert_eq!(resegment(pkts[1].clone()), b);
        assert_eq!(pkts[2], arp);
    }

    #[test]
    fn a_pure_ack_of_the_connection_closes_its_super_frame() {
        let segs = segments(&frame4(4 * 1000), false, 1000);
        let ack = pure_ack(&segs[0]);
        let mut pkts =
            vec![segs[0].clone(), segs[1].clone(), ack.clone(), segs[2].clone(), segs[3].clone()];
        coalesce(&mut pkts, TxOffloads::ALL);
        // segs 0+1, the ACK, then 2 and 3 (their ids and sequence continue,
        // but they may not pass the ACK).
        assert_eq!(pkts.len(), 3);
        assert_eq!(pkts[1], ack);
        assert_eq!(resegment(pkts[2].clone()), segs[2..].to_vec());
    }

    #[test]
    fn a_packet_between_the_same_hosts_that_cannot_merge_is_not_passed() {
        let segs: Vec<Packet> = (0..4).map(|i| seg4(i, 1000)).collect();
        // A fragment between the same addresses, and an ARP frame.
        let mut frag = segs[2].clone();
        let d = frag.data_mut();
        d[20] |= 0x20;
        d[24..26].fill(0);
        let c = checksum(&d[14..34]);
        d[24..26].copy_from_slice(&c.to_be_bytes());
        let arp = Packet::from_bytes(&[0xffu8; 60]);
        let mut pkts = vec![segs[0].clone(), segs[1].clone(), arp.clone()];
        pkts.extend([frag.clone(), segs[2].clone(), segs[3].clone()]);
        coalesce(&mut pkts, TxOffloads::ALL);
        assert_eq!(pkts.len(), 4);
        assert_eq!(resegment(pkts[0].clone()), segs[..2].to_vec());
        assert_eq!((&pkts[1], &pkts[2]), (&arp, &frag));
        assert_eq!(resegment(pkts[3].clone()), segs[2..].to_vec());
    }

    #[test]
    fn partial_checksums_are_trusted_and_stay_partial() {
        let segs = segments(&frame4(3 * 1000), false, 1000);
        let mut pkts: Vec<Packet> = segs
            .iter()
            .map(|s| {
                let mut p = s.clone();
                let seg = parse(&p, TxOffloads::ALL).unwrap();
                let ph = !finish(pseudo(p.data(), &seg, seg.end - seg.l4));
                p.data_mut()[50..52].copy_from_slice(&ph.to_be_bytes());
                p.md.csum_start = Some(34);
                p.md.csum_offset = 16;
                p
            })
            .collect();
        assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 2);
        assert_eq!(resegment(pkts.remove(0)), segs);
    }

    /// A UDP super-frame of `n` payload bytes over IPv4 or IPv6, cut into
    /// datagrams of `size` with complete checksums.
    fn udp_datagrams(n: usize, v6: bool, size: u16) -> Vec<Packet> {
        let mut f = if v6 { frame6(n + 24) } else { frame4(n + 24) };
        let l3 = 14;
        let l4 = if v6 { l3 + 40 } else { l3 + 20 };
        if v6 {
            f[l3 + 6] = IPPROTO_UDP;
            f[l3 + 4..l3 + 6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
        } else {
            f[l3 + 9] = IPPROTO_UDP;
            f[l3 + 2..l3 + 4].copy_from_slice(&((20 + 8 + n) as u16).to_be_bytes());
        }
        f.truncate(l4 + 8 + n);
        f[l4..l4 + 2].copy_from_slice(&5001u16.to_be_bytes());
        f[l4 + 2..l4 + 4].copy_from_slice(&6001u16.to_be_bytes());
        let mut p = Packet::from_bytes(&f);
        p.md.gso_type = GsoType::Udp;
        p.md.gso_size = size;
        cut(p)
    }

    #[test]
    fn only_segments_that_more_may_join_are_worth_waiting_for() {
        let seg = seg4(0, 1000);
        assert!(may_grow(&seg, TxOffloads::ALL));
        // Not for a port that takes no TCP super-frames or no partial
        // checksums.
        assert!(!may_grow(&seg, TxOffloads { tso: false, ..TxOffloads::ALL }));
        assert!(!may_grow(&seg, TxOffloads { csum: false, ..TxOffloads::ALL }));
        // PSH ends a super-frame; a pure ACK never joins one.
        let mut psh = seg.clone();
        psh.data_mut()[34 + 13] = TCP_ACK | TCP_PSH;
        assert!(!may_grow(&psh, TxOffloads::ALL));
        let ack = pure_ack(&seg);
        assert!(!may_grow(&ack, TxOffloads::ALL));
        // UDP datagrams do, where the port takes UDP super-frames.
        let dgram = udp_datagrams(200, false, 64).remove(0);
        assert!(may_grow(&dgram, TxOffloads::ALL));
        assert!(!may_grow(&dgram, TxOffloads { uso: false, ..TxOffloads::ALL }));
        // A super-frame already is one.
        let mut big = seg.clone();
        big.md.gso_type = GsoType::TcpV4;
        assert!(!may_grow(&big, TxOffloads::ALL));
    }

    #[test]
    fn udp_datagrams_merge_and_come_back_the_same() {
        for v6 in [false, true] {
            let dgrams = udp_datagrams(10 * 64 + 20, v6, 64);
            assert_eq!(dgrams.len(), 11);
            let mut pkts = dgrams.clone();
            assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 10);
            assert_eq!(pkts[0].md.gso_type, GsoType::Udp);
            assert_eq!(pkts[0].md.gso_size, 64);
            assert_eq!(resegment(pkts.remove(0)), dgrams, "v6={v6}");

            // A port without UDP segmentation gets them as they are, and one
            // without TCP segmentation still gets UDP merged.
            let mut pkts = dgrams.clone();
            let no_uso = TxOffloads { uso: false, ..TxOffloads::ALL };
            assert_eq!(coalesce(&mut pkts, no_uso), 0);
            assert_eq!(pkts, dgrams);
            let no_tso = TxOffloads { tso: false, ..TxOffloads::ALL };
            assert_eq!(coalesce(&mut pkts, no_tso), 10);
        }
    }

    #[test]
    fn at_most_64_datagrams_merge_and_unchecksummed_ones_never() {
        let dgrams = udp_datagrams(100 * 64, false, 64);
        let mut pkts = dgrams.clone();
        coalesce(&mut pkts, TxOffloads::ALL);
        assert_eq!(pkts.len(), 2);
        assert_eq!(resegment(pkts[0].clone()).len(), 64);
        let back: Vec<Packet> = pkts.into_iter().flat_map(resegment).collect();
        assert_eq!(back, dgrams);

        // IPv4 UDP without a checksum: segmenting would add one.
        let mut pkts = dgrams[..5].to_vec();
        for p in &mut pkts {
            p.data_mut()[34 + 6..34 + 8].fill(0);
        }
        let before = pkts.clone();
        assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 0);
        assert_eq!(pkts, before);

        // A shorter one is the last of its super-frame.
        let short = udp_datagrams(3 * 64 + 10, false, 64);
        let mut pkts = short.clone();
        pkts.push(dgrams[5].clone());
        assert_eq!(coalesce(&mut pkts, TxOffloads::ALL), 3);
        assert_eq!(pkts.len(), 2);
        assert_eq!(resegment(pkts[0].clone()), short);

        // A longer one (here with an id that does not follow either) ends
        // the one before and starts its own.
        let long = udp_datagrams(2 * 100, false, 100);
        let mut pkts = vec![dgrams[0].clone(), long[0].clone(), long[1].clone()];
        coalesce(&mut pkts, TxOffloads::ALL);
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[0], dgrams[0]);
        assert_eq!(resegment(pkts[1].clone()), long);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Three connections (TCP over IPv4 and IPv6, UDP over IPv4)
        /// interleaved at random, with packets lost and corrupted: after
        /// merging and segmenting again, every packet is there, unchanged,
        /// and each connection's packets are in their order.
        #[test]
        fn merging_loses_nothing_and_keeps_each_connections_order(
            picks in proptest::collection::vec(0usize..3, 1..80),
            lost in proptest::collection::vec(proptest::prelude::any::<bool>(), 80),
            bad in proptest::collection::vec(0usize..200, 0..3),
        ) {
            let flows = [
                (0..40).map(|i| seg4(i, 700)).collect::<Vec<_>>(),
                segments(&frame6(40 * 500), true, 500),
                udp_datagrams(40 * 64, false, 64),
            ];
            let mut next = [0usize; 3];
            let mut input = Vec::new();
            for (k, &f) in picks.iter().enumerate() {
                if next[f] < flows[f].len() {
                    let p = flows[f][next[f]].clone();
                    next[f] += 1;
                    if !lost[k] {
                        input.push(p);
                    }
                }
            }
            for b in &bad {
                if let Some(p) = input.get_mut(b % 80) {
                    let last = p.len() - 1;
                    p.data_mut()[last] ^= 0x40;
                }
            }
            let mut pkts = input.clone();
            coalesce(&mut pkts, TxOffloads::ALL);
            let back: Vec<Packet> = pkts.into_iter().flat_map(resegment).collect();
            proptest::prop_assert_eq!(back.len(), input.len());
            let mut last_seen = [None::<usize>; 3];
            let mut seen = vec![false; input.len()];
            for p in &back {
                let i = input.iter().position(|q| q == p);
                proptest::prop_assert!(i.is_some(), "a packet that was not sent");
                let i = i.unwrap();
                proptest::prop_assert!(!seen[i], "a packet twice");
                seen[i] = true;
                // Order within the connection: by position in the input.
                let conn = conn_of(p);
                if let Some(prev) = last_seen[conn] {
                    proptest::prop_assert!(prev < i, "connection {} reordered", conn);
                }
                last_seen[conn] = Some(i);
            }
        }
    }

    /// Which of the three test connections a packet is.
    fn conn_of(p: &Packet) -> usize {
        let d = p.data();
        match (be16(d, 12), d.get(23)) {
            (ETH_TYPE_IPV6, _) => 1,
            (_, Some(&IPPROTO_UDP)) => 2,
            _ => 0,
        }
    }

    #[test]
    fn nothing_panics_on_mangled_packets() {
        let segs = segments(&frame4(6 * 700), false, 700);
        for cut in [0, 10, 14, 20, 33, 34, 40, 53, 54, 60, 66, 67] {
            for k in 0..segs.len() {
                let mut pkts = segs.clone();
                pkts[k].truncate(cut);
                coalesce(&mut pkts, TxOffloads::ALL);
                let mut pkts = segs.clone();
                if cut < pkts[k].len() {
                    pkts[k].data_mut()[cut] ^= 0x5a;
                }
                coalesce(&mut pkts, TxOffloads::ALL);
            }
        }
    }
}
