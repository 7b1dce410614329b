//! The packet buffer, its metadata and batches.
//!
//! A [`Packet`] owns a byte buffer whose data starts after some headroom, so
//! that headers (VLAN tags, tunnel encapsulations) can be pushed at the front
//! without moving the payload. Its [`Metadata`] travels with it through the
//! datapath: the input port, recirculation state, marks, tunnel metadata, the
//! header offsets that extraction found, and the offload state a netdev
//! reported (checksum-partial, GSO).

use crate::types::OdpPort;
use std::net::IpAddr;

/// Headroom reserved in front of received packets, in bytes.
pub const DEFAULT_HEADROOM: usize = 128;
/// Largest number of packets in a [`Batch`].
pub const BATCH_SIZE: usize = 32;
/// Offset value meaning "this header is absent".
pub const NO_OFFSET: u16 = u16::MAX;

/// Tunnel metadata: the outer header of a packet that arrived on a tunnel,
/// or the header a `set(tunnel(...))` asks a tunnel port to push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelMetadata {
    /// Tunnel id (VNI or key).
    pub tun_id: u64,
    /// Outer source address; `None` when the packet has no tunnel metadata.
    pub src: Option<IpAddr>,
    /// Outer destination address.
    pub dst: Option<IpAddr>,
    /// Outer TOS.
    pub tos: u8,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer UDP source port.
    pub tp_src: u16,
    /// Outer UDP destination port.
    pub tp_dst: u16,
    /// `TNL_F_*` flags.
    pub flags: u16,
}

impl TunnelMetadata {
    /// True when the metadata describes a tunnel (has a destination).
    pub fn is_set(&self) -> bool {
        self.dst.is_some()
    }
}

/// Kind of segmentation a GSO super-frame needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GsoType {
    /// Not a GSO frame.
    #[default]
    None,
    /// TCP over IPv4.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
    /// UDP fragmentation offload / UDP GSO.
    Udp,
}

/// Per-packet metadata that travels with a [`Packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Datapath port the packet arrived on.
    pub in_port: OdpPort,
    /// Recirculation id (0 for packets fresh from a port).
    pub recirc_id: u32,
    /// Hash set by a `hash` action.
    pub dp_hash: u32,
    /// Packet priority (skb_priority).
    pub skb_priority: u32,
    /// Packet mark (skb_mark).
    pub pkt_mark: u32,
    /// Tunnel metadata.
    pub tunnel: TunnelMetadata,
    /// Offset of the L2 header from the data start, or [`NO_OFFSET`].
    pub l2_ofs: u16,
    /// Offset of the L3 header, or [`NO_OFFSET`].
    pub l3_ofs: u16,
    /// Offset of the L4 header, or [`NO_OFFSET`].
    pub l4_ofs: u16,
    /// Checksum-partial: where the checksum computation starts (from the
    /// data start), `None` when the packet's checksums are complete.
    pub csum_start: Option<u16>,
    /// Checksum-partial: where, from `csum_start`, the checksum is stored.
    pub csum_offset: u16,
    /// GSO segment size (payload bytes per segment), 0 when not GSO.
    pub gso_size: u16,
    /// GSO kind.
    pub gso_type: GsoType,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            in_port: OdpPort::NONE,
            recirc_id: 0,
            dp_hash: 0,
            skb_priority: 0,
            pkt_mark: 0,
            tunnel: TunnelMetadata::default(),
            l2_ofs: NO_OFFSET,
            l3_ofs: NO_OFFSET,
            l4_ofs: NO_OFFSET,
            csum_start: None,
            csum_offset: 0,
            gso_size: 0,
            gso_type: GsoType::None,
        }
    }
}

/// A packet: bytes with headroom, plus [`Metadata`]. Two packets are equal
/// when their data and metadata are (headroom content does not count).
#[derive(Clone)]
pub struct Packet {
    buf: Vec<u8>,
    start: usize,
    /// The packet's metadata.
    pub md: Metadata,
}

impl PartialEq for Packet {
    fn eq(&self, other: &Self) -> bool {
        self.data() == other.data() && self.md == other.md
    }
}

impl Eq for Packet {}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len())
            .field("headroom", &self.start)
            .field("md", &self.md)
            .finish()
    }
}

impl Packet {
    /// A packet holding a copy of `data`, with [`DEFAULT_HEADROOM`] in front.
    pub fn from_bytes(data: &[u8]) -> Self {
        Self::with_headroom(data, DEFAULT_HEADROOM)
    }

    /// A packet holding a copy of `data` with `headroom` bytes in front.
    pub fn with_headroom(data: &[u8], headroom: usize) -> Self {
        let mut buf = Vec::with_capacity(headroom + data.len());
        buf.resize(headroom, 0);
        buf.extend_from_slice(data);
        Packet { buf, start: headroom, md: Metadata::default() }
    }

    /// An empty packet whose buffer can take `capacity` bytes after
    /// [`DEFAULT_HEADROOM`] without reallocating; fill it with
    /// [`Packet::extend_from_slice`].
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(DEFAULT_HEADROOM + capacity);
        buf.resize(DEFAULT_HEADROOM, 0);
        Packet { buf, start: DEFAULT_HEADROOM, md: Metadata::default() }
    }

    /// Packet data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Packet data, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// Length of the data in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True when the packet holds no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of headroom in front of the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Makes `n` more bytes at the front of the data and returns them (their
    /// content is unspecified). Uses the headroom when it suffices, otherwise
    /// reallocates with fresh headroom. Header offsets in the metadata move
    /// with the data.
    pub fn push_front(&mut self, n: usize) -> &mut [u8] {
        if n > self.start {
            let extra = n - self.start + DEFAULT_HEADROOM;
            let mut buf = Vec::with_capacity(extra + self.buf.len());
            buf.resize(extra, 0);
            buf.extend_from_slice(&self.buf);
            self.buf = buf;
            self.start += extra;
        }
        self.start -= n;
        self.shift_offsets(n as isize);
        &mut self.buf[self.start..self.start + n]
    }

    /// Removes `n` bytes from the front of the data (at most the whole data);
    /// header offsets move with the data (an offset that falls before the new
    /// start becomes absent).
    pub fn pull_front(&mut self, n: usize) {
        let n = n.min(self.len());
        self.start += n;
        self.shift_offsets(-(n as isize));
    }

    /// Inserts `n` bytes at `offset` from the data start, moving the bytes
    /// before `offset` towards the front (into the headroom), and returns the
    /// new bytes. This is how a VLAN tag goes in after the MAC addresses.
    ///
    /// # Panics
    /// If `offset` is past the end of the data.
    pub fn insert_at(&mut self, offset: usize, n: usize) -> &mut [u8] {
        assert!(offset <= self.len(), "insert offset {offset} past packet length {}", self.len());
        self.push_front(n);
        let s = self.start;
        self.buf.copy_within(s + n..s + n + offset, s);
        // push_front moved every offset by n; those before `offset` did not move.
        self.unshift_offsets_before(offset + n, n);
        &mut self.buf[s + offset..s + offset + n]
    }

    /// Removes `n` bytes at `offset` from the data start, moving the bytes
    /// before `offset` towards the back. This is how a VLAN tag comes out.
    ///
    /// # Panics
    /// If `offset + n` is past the end of the data.
    pub fn remove_at(&mut self, offset: usize, n: usize) {
        assert!(
            offset + n <= self.len(),
            "remove of {n} bytes at {offset} past packet length {}",
            self.len()
        );
        let s = self.start;
        self.buf.copy_within(s..s + offset, s + n);
        self.start += n;
        for o in [&mut self.md.l2_ofs, &mut self.md.l3_ofs, &mut self.md.l4_ofs] {
            if *o != NO_OFFSET && (*o as usize) >= offset + n {
                *o -= n as u16;
            }
        }
        if let Some(cs) = self.md.csum_start.as_mut() {
            if (*cs as usize) >= offset + n {
                *cs -= n as u16;
            }
        }
    }

    /// Appends bytes at the end.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Shortens the data to `len` bytes (no-op when already shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.buf.truncate(self.start + len);
        }
    }

    /// The L3 header and what follows, when extraction found one.
    pub fn l3(&self) -> Option<&[u8]> {
        let o = self.md.l3_ofs;
        (o != NO_OFFSET && (o as usize) <= self.len()).then(|| &self.data()[o as usize..])
    }

    /// The L4 header and what follows, when extraction found one.
    pub fn l4(&self) -> Option<&[u8]> {
        let o = self.md.l4_ofs;
        (o != NO_OFFSET && (o as usize) <= self.len()).then(|| &self.data()[o as usize..])
    }

    fn shift_offsets(&mut self, by: isize) {
        for o in [&mut self.md.l2_ofs, &mut self.md.l3_ofs, &mut self.md.l4_ofs] {
            if *o != NO_OFFSET {
                let v = *o as isize + by;
                *o = if v < 0 || v >= NO_OFFSET as isize { NO_OFFSET } else { v as u16 };
            }
        }
        if let Some(cs) = self.md.csum_start {
            let v = cs as isize + by;
            self.md.csum_start = (v >= 0 && v < u16::MAX as isize).then_some(v as u16);
        }
    }

    fn unshift_offsets_before(&mut self, limit: usize, n: usize) {
        for o in [&mut self.md.l2_ofs, &mut self.md.l3_ofs, &mut self.md.l4_ofs] {
            if *o != NO_OFFSET && (*o as usize) < limit {
                *o -= n as u16;
            }
        }
        if let Some(cs) = self.md.csum_start.as_mut() {
            if (*cs as usize) < limit {
                *cs -= n as u16;
            }
        }
    }
}

/// Up to [`BATCH_SIZE`] packets that travel the datapath together.
#[derive(Debug, Default)]
pub struct Batch {
    /// The packets.
    pub pkts: Vec<Packet>,
}

impl Batch {
    /// An empty batch with room for [`BATCH_SIZE`] packets.
    pub fn new() -> Self {
        Batch { pkts: Vec::with_capacity(BATCH_SIZE) }
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// True when the batch holds [`BATCH_SIZE`] packets.
    pub fn is_full(&self) -> bool {
        self.pkts.len() >= BATCH_SIZE
    }

    /// Adds a packet. A full batch still takes it; callers that care check
    /// [`Batch::is_full`] first.
    pub fn push(&mut self, p: Packet) {
        self.pkts.push(p);
    }

    /// Total bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.pkts.iter().map(Packet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_front_uses_headroom_then_reallocates() {
        let mut p = Packet::with_headroom(&[1, 2, 3], 4);
        p.md.l3_ofs = 1;
        p.push_front(4).copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(p.data(), &[9, 9, 9, 9, 1, 2, 3]);
        assert_eq!(p.md.l3_ofs, 5);
        p.push_front(2).copy_from_slice(&[7, 7]);
        assert_eq!(p.data(), &[7, 7, 9, 9, 9, 9, 1, 2, 3]);
        assert!(p.headroom() >= DEFAULT_HEADROOM);
        p.pull_front(6);
        assert_eq!(p.data(), &[1, 2, 3]);
        assert_eq!(p.md.l3_ofs, 1);
    }

    #[test]
    fn insert_and_remove_in_the_middle() {
        let mut p = Packet::from_bytes(&[1, 2, 3, 4, 5, 6]);
        p.md.l2_ofs = 0;
        p.md.l3_ofs = 4;
        p.insert_at(2, 2).copy_from_slice(&[0xa, 0xb]);
        assert_eq!(p.data(), &[1, 2, 0xa, 0xb, 3, 4, 5, 6]);
        assert_eq!(p.md.l2_ofs, 0);
        assert_eq!(p.md.l3_ofs, 6);
        p.remove_at(2, 2);
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(p.md.l3_ofs, 4);
        assert_eq!(p.md.l2_ofs, 0);
    }
}
