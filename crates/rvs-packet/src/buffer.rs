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
use std::sync::Arc;

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

/// Memory that packets can borrow their bytes from instead of owning a copy:
/// a frame of a receive ring that the kernel filled, for example. A packet
/// made with [`Packet::from_shared`] holds an `Arc` of the owner and reads its
/// data from a range of [`SharedBytes::bytes`]; the owner learns that no
/// packet uses it any more when its `Arc` is unique again.
///
/// The bytes must not change while any packet holds the owner. Packets never
/// write to shared bytes: the first edit copies the data into an owned buffer
/// (copy on write), and so does [`Clone`], so that only the packet the owner
/// handed out keeps it busy.
pub trait SharedBytes: Send + Sync {
    /// The whole region.
    fn bytes(&self) -> &[u8];
}

/// [`DEFAULT_HEADROOM`] as a buffer position.
const HEADROOM: u32 = DEFAULT_HEADROOM as u32;

/// A position or length inside a packet buffer. Buffers stay far below
/// 4 GiB (a packet is at most a 64 KiB super-frame plus headroom); positions
/// are kept in 32 bits so that a `Packet` stays 128 bytes, which the
/// compiler still moves inline.
#[inline]
fn pos(n: usize) -> u32 {
    u32::try_from(n).expect("packet buffers stay below 4 GiB")
}

/// Shared bytes a packet reads: `len` bytes at `off` in `owner`.
struct SharedRef {
    owner: Arc<dyn SharedBytes>,
    off: u32,
    len: u32,
}

/// Where a packet's bytes live.
enum Storage {
    /// An owned buffer; the data starts at `start`, after the headroom.
    Owned { buf: Vec<u8>, start: u32 },
    /// `len` bytes at `off` in a shared region (no headroom). Boxed so that
    /// the enum needs no tag of its own (it lives in a niche of the `Vec`):
    /// an owned packet is then written and moved exactly as a plain buffer.
    Shared(Box<SharedRef>),
}

/// A packet: bytes with headroom, plus [`Metadata`]. Two packets are equal
/// when their data and metadata are (headroom content does not count).
///
/// The bytes are usually owned; a packet received from a memory-mapped ring
/// may borrow them instead ([`Packet::from_shared`]) and copies them the
/// first time it is edited or cloned.
pub struct Packet {
    storage: Storage,
    /// The packet's metadata.
    pub md: Metadata,
}

impl Clone for Packet {
    /// Clones the packet. A packet with shared bytes gets an owned copy, so
    /// the clone never keeps the shared region busy.
    fn clone(&self) -> Self {
        match &self.storage {
            Storage::Owned { buf, start } => {
                Packet { storage: Storage::Owned { buf: buf.clone(), start: *start }, md: self.md }
            }
            Storage::Shared(_) => {
                let mut p = Packet::with_headroom(self.data(), DEFAULT_HEADROOM);
                p.md = self.md;
                p
            }
        }
    }
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
            .field("headroom", &self.headroom())
            .field("shared", &self.is_shared())
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
        Packet { storage: Storage::Owned { buf, start: pos(headroom) }, md: Metadata::default() }
    }

    /// An empty packet whose buffer can take `capacity` bytes after
    /// [`DEFAULT_HEADROOM`] without reallocating; fill it with
    /// [`Packet::extend_from_slice`].
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(DEFAULT_HEADROOM + capacity);
        buf.resize(DEFAULT_HEADROOM, 0);
        Packet { storage: Storage::Owned { buf, start: HEADROOM }, md: Metadata::default() }
    }

    /// A packet whose data is `owner.bytes()[range]`, borrowed rather than
    /// copied (see [`SharedBytes`]). It has no headroom; the first edit
    /// copies the data into an owned buffer with [`DEFAULT_HEADROOM`].
    ///
    /// # Panics
    /// If `range` is not inside `owner.bytes()`.
    pub fn from_shared(owner: Arc<dyn SharedBytes>, range: std::ops::Range<usize>) -> Self {
        assert!(
            range.start <= range.end && range.end <= owner.bytes().len(),
            "shared range {range:?} outside a region of {} bytes",
            owner.bytes().len()
        );
        let (off, len) = (pos(range.start), pos(range.end - range.start));
        let shared = Box::new(SharedRef { owner, off, len });
        Packet { storage: Storage::Shared(shared), md: Metadata::default() }
    }

    /// True when the data is borrowed from a [`SharedBytes`] owner.
    #[inline]
    pub fn is_shared(&self) -> bool {
        matches!(self.storage, Storage::Shared(_))
    }

    /// Copies shared data into an owned buffer with [`DEFAULT_HEADROOM`]
    /// (no-op for an owned packet), releasing the shared owner.
    #[inline]
    pub fn make_owned(&mut self) {
        if self.is_shared() {
            self.copy_out();
        }
    }

    #[cold]
    fn copy_out(&mut self) {
        if let Storage::Shared(r) = &self.storage {
            let data = &r.owner.bytes()[r.off as usize..(r.off + r.len) as usize];
            let mut buf = Vec::with_capacity(DEFAULT_HEADROOM + data.len());
            buf.resize(DEFAULT_HEADROOM, 0);
            buf.extend_from_slice(data);
            self.storage = Storage::Owned { buf, start: HEADROOM };
        }
    }

    /// The owned buffer and data start, copying shared data first.
    #[inline]
    fn owned(&mut self) -> (&mut Vec<u8>, &mut u32) {
        self.make_owned();
        match &mut self.storage {
            Storage::Owned { buf, start } => (buf, start),
            Storage::Shared { .. } => unreachable!("made owned just above"),
        }
    }

    /// Packet data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        match &self.storage {
            Storage::Owned { buf, start } => &buf[*start as usize..],
            Storage::Shared(r) => &r.owner.bytes()[r.off as usize..(r.off + r.len) as usize],
        }
    }

    /// Packet data, mutable (shared data is copied first).
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (buf, start) = self.owned();
        &mut buf[*start as usize..]
    }

    /// Length of the data in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Owned { buf, start } => buf.len() - *start as usize,
            Storage::Shared(r) => r.len as usize,
        }
    }

    /// True when the packet holds no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of headroom in front of the data (0 for shared data).
    #[inline]
    pub fn headroom(&self) -> usize {
        match &self.storage {
            Storage::Owned { start, .. } => *start as usize,
            Storage::Shared { .. } => 0,
        }
    }

    /// Makes `n` more bytes at the front of the data and returns them (their
    /// content is unspecified). Uses the headroom when it suffices, otherwise
    /// reallocates with fresh headroom. Header offsets in the metadata move
    /// with the data.
    pub fn push_front(&mut self, n: usize) -> &mut [u8] {
        let (buf, start) = self.owned();
        let mut st = *start as usize;
        if n > st {
            let extra = n - st + DEFAULT_HEADROOM;
            let mut b = Vec::with_capacity(extra + buf.len());
            b.resize(extra, 0);
            b.extend_from_slice(buf);
            *buf = b;
            st += extra;
        }
        st -= n;
        *start = pos(st);
        self.shift_offsets(n as isize);
        let (buf, _) = self.owned();
        &mut buf[st..st + n]
    }

    /// Removes `n` bytes from the front of the data (at most the whole data);
    /// header offsets move with the data (an offset that falls before the new
    /// start becomes absent).
    pub fn pull_front(&mut self, n: usize) {
        let n = n.min(self.len());
        match &mut self.storage {
            Storage::Owned { start, .. } => *start += pos(n),
            Storage::Shared(r) => {
                r.off += pos(n);
                r.len -= pos(n);
            }
        }
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
        // push_front moved every offset by n; those before `offset` did not move.
        self.unshift_offsets_before(offset + n, n);
        let (buf, start) = self.owned();
        let s = *start as usize;
        buf.copy_within(s + n..s + n + offset, s);
        &mut buf[s + offset..s + offset + n]
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
        let (buf, start) = self.owned();
        let s = *start as usize;
        buf.copy_within(s..s + offset, s + n);
        *start += pos(n);
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
        self.owned().0.extend_from_slice(data);
    }

    /// Shortens the data to `len` bytes (no-op when already shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            match &mut self.storage {
                Storage::Owned { buf, start } => buf.truncate(*start as usize + len),
                Storage::Shared(r) => r.len = pos(len),
            }
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

    struct Region(Vec<u8>);

    impl SharedBytes for Region {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
    }

    #[test]
    fn shared_data_is_borrowed_until_edited_or_cloned() {
        let owner: Arc<dyn SharedBytes> = Arc::new(Region(vec![0, 1, 2, 3, 4, 5, 6, 7]));
        let mut p = Packet::from_shared(owner.clone(), 2..7);
        assert!(p.is_shared());
        assert_eq!(p.data(), &[2, 3, 4, 5, 6]);
        assert_eq!(p.headroom(), 0);
        assert_eq!(Arc::strong_count(&owner), 2);
        // Trimming needs no copy.
        p.pull_front(1);
        p.truncate(3);
        assert_eq!(p.data(), &[3, 4, 5]);
        assert!(p.is_shared());
        // A clone owns its bytes and does not hold the region.
        let c = p.clone();
        assert!(!c.is_shared());
        assert_eq!(c, p);
        assert_eq!(Arc::strong_count(&owner), 2);
        // The first edit copies, with headroom, and lets the region go.
        p.push_front(2).copy_from_slice(&[9, 9]);
        assert!(!p.is_shared());
        assert_eq!(p.data(), &[9, 9, 3, 4, 5]);
        assert!(p.headroom() >= DEFAULT_HEADROOM - 2);
        assert_eq!(Arc::strong_count(&owner), 1);
        assert_eq!(owner.bytes(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        // Dropping a shared packet releases the region too.
        let q = Packet::from_shared(owner.clone(), 0..8);
        assert_eq!(Arc::strong_count(&owner), 2);
        drop(q);
        assert_eq!(Arc::strong_count(&owner), 1);
        let mut r = Packet::from_shared(owner.clone(), 0..2);
        r.data_mut()[0] = 7;
        assert_eq!(r.data(), &[7, 1]);
        assert_eq!(owner.bytes()[0], 0);
    }

    #[test]
    #[should_panic(expected = "outside a region")]
    fn shared_range_is_checked() {
        let owner: Arc<dyn SharedBytes> = Arc::new(Region(vec![0; 4]));
        let _ = Packet::from_shared(owner, 2..5);
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
