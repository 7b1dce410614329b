//! AF_PACKET sockets: a receive socket with a TPACKET_V3 memory-mapped ring
//! and a transmit socket, both with `PACKET_VNET_HDR` so that checksum-partial
//! packets and GSO super-frames cross whole.
//!
//! The receive ring is a run of blocks. The kernel fills a block with frames
//! and hands it to user space (`TP_STATUS_USER` in the block header) when it is
//! full or its retire timer fires; user space reads every frame of the block
//! and hands it back (`TP_STATUS_KERNEL`). Each frame is a `tpacket3_hdr`,
//! then (at `tp_mac - 10`) the virtio-net header, then the packet from its
//! Ethernet header. A VLAN tag the kernel stripped (hardware offload) is
//! reported in the frame header rather than the data. (A TPACKET_V2 ring is
//! the same with one fixed-size frame per slot, handed over one at a time.)
//!
//! Packets may borrow their bytes from the ring ([`Frame::share`]): a slot
//! then goes back to the kernel only when the last packet that borrows from
//! it is dropped, which the ring notices at its next `recv` (reference
//! counts, one `Arc` per slot made when the ring is). Slots go back in ring
//! order, so a packet kept too long stops the ring at its slot (the kernel
//! drops what does not fit) but never lets the kernel write under it.

use rvs_packet::{Packet, SharedBytes};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Block size of the receive ring: room for several 64 KiB super-frames, so
/// a block fills (and is handed over) quickly under load.
pub const BLOCK_SIZE: usize = 1 << 18;
/// Blocks in the receive ring (16 MiB in all).
pub const BLOCK_NR: usize = 64;
/// Longest a partly filled block waits before the kernel hands it over, ms.
pub const RETIRE_TOV_MS: u32 = 1;

const ETH_P_ALL: u16 = 0x0003;
const VNET_HDR_LEN: usize = 10;

fn last_err<T>(what: &str) -> io::Result<T> {
    let e = io::Error::last_os_error();
    Err(io::Error::new(e.kind(), format!("{what}: {e}")))
}

fn setsockopt<T>(fd: RawFd, level: i32, opt: i32, val: &T, what: &str) -> io::Result<()> {
    // SAFETY: `val` points at a live, initialised `T` of the size we pass.
    let rc = unsafe {
        libc::setsockopt(fd, level, opt, (val as *const T).cast(), std::mem::size_of::<T>() as u32)
    };
    if rc < 0 {
        return last_err(what);
    }
    Ok(())
}

fn packet_socket(protocol: u16) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol.to_be() as i32,
        )
    };
    if fd < 0 {
        return last_err("socket(AF_PACKET)");
    }
    // SAFETY: `fd` was just returned by socket and is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: RawFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll and we pass its exact size.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc < 0 {
        return last_err("bind(AF_PACKET)");
    }
    Ok(())
}

/// A frame read from the ring, borrowed from it until the next call.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The virtio-net header (10 bytes).
    pub vnet: &'a [u8],
    /// The packet from its Ethernet header (possibly truncated, see `len`).
    pub data: &'a [u8],
    /// The packet's length on the wire (more than `data.len()` when the
    /// frame did not fit the block and was truncated).
    pub len: usize,
    /// A VLAN tag the kernel stripped: `(tpid, tci)`.
    pub vlan: Option<(u16, u16)>,
    /// The ring slot (V2 frame, V3 block) holding the frame, and where
    /// `data` starts in it.
    slot: &'a Arc<RingSlot>,
    data_off: usize,
}

impl Frame<'_> {
    /// A packet whose data is this frame's `data`, borrowed from the ring
    /// instead of copied. The ring keeps the frame's slot from the kernel
    /// until the packet (and every packet of the same slot) is dropped, so
    /// such packets must not be kept past the poll iteration that received
    /// them (a netdev that stores sent packets calls `Packet::make_owned`).
    pub fn share(&self) -> Packet {
        let owner: Arc<dyn SharedBytes> = self.slot.clone();
        Packet::from_shared(owner, self.data_off..self.data_off + self.data.len())
    }
}

/// Which TPACKET ring layout to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingVersion {
    /// Fixed-size frames, each handed over as soon as it is written.
    V2,
    /// Variable-size frames packed into blocks, handed over a block at a
    /// time (when full or when its retire timer fires).
    V3,
}

/// Frame size of a TPACKET_V2 ring: a 64 KiB super-frame with its headers.
pub const V2_FRAME_SIZE: usize = 68 * 1024;
/// Frames in a TPACKET_V2 ring.
pub const V2_FRAME_NR: usize = 256;

/// The ring's memory mapping, unmapped when the ring and every packet that
/// borrows from it are gone.
#[derive(Debug)]
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the kernel; the pointer is
// never freed before Drop, and which parts may be read or written is governed
// by the ring's ownership protocol (status words), not by the thread.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only gives out the pointer.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `RxRing::open`; this
        // runs when the last `Arc` of it goes, so no slot or frame refers to
        // it any more.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// One slot of the ring (a V2 frame or a V3 block): the unit the kernel
/// and user space hand to each other. Packets that borrow from the slot
/// hold an `Arc` of it; the ring hands the slot back to the kernel only
/// when its own `Arc` is the last one.
#[derive(Debug)]
struct RingSlot {
    map: Arc<Mapping>,
    off: usize,
    len: usize,
}

impl SharedBytes for RingSlot {
    fn bytes(&self) -> &[u8] {
        // SAFETY: [off, off + len) lies inside the mapping (checked when the
        // ring made its slots), which `self.map` keeps alive. Packets only
        // borrow a slot while user space owns it (TP_STATUS_USER), and the
        // ring gives it back to the kernel only once no packet holds it, so
        // the kernel does not write these bytes while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.map.ptr.add(self.off), self.len) }
    }
}

/// An AF_PACKET receive socket with a TPACKET_V2 or V3 ring.
///
/// Frames are read in ring order. A slot (V2 frame, V3 block) that has been
/// read stays with user space until no packet borrows from it any more
/// ([`Frame::share`]); slots go back to the kernel in ring order at the start
/// of each [`RxRing::recv`].
#[derive(Debug)]
pub struct RxRing {
    fd: OwnedFd,
    map: Arc<Mapping>,
    slots: Vec<Arc<RingSlot>>,
    version: RingVersion,
    /// Slot being read (V3: block; V2: frame), and where in it (V3).
    block: usize,
    pkt_in_block: u32,
    next_offset: usize,
    /// Oldest slot read but not yet handed back, and how many there are.
    release: usize,
    pending: usize,
}

impl RxRing {
    /// Opens a promiscuous receive ring on interface `ifindex`, ignoring
    /// packets the host itself sends out of it.
    pub fn open(ifindex: u32, version: RingVersion) -> io::Result<Self> {
        let fd = packet_socket(ETH_P_ALL)?;
        let raw = fd.as_raw_fd();
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &1i32, "PACKET_VNET_HDR")?;
        let v = match version {
            RingVersion::V2 => libc::tpacket_versions::TPACKET_V2 as i32,
            RingVersion::V3 => libc::tpacket_versions::TPACKET_V3 as i32,
        };
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &v, "PACKET_VERSION")?;
        // Our own transmissions on this interface are not received back.
        let ign = libc::PACKET_IGNORE_OUTGOING;
        setsockopt(raw, libc::SOL_PACKET, ign, &1i32, "PACKET_IGNORE_OUTGOING")?;
        let (slot_size, slot_nr) = match version {
            RingVersion::V3 => {
                let req = libc::tpacket_req3 {
                    tp_block_size: BLOCK_SIZE as u32,
                    tp_block_nr: BLOCK_NR as u32,
                    tp_frame_size: 2048,
                    tp_frame_nr: (BLOCK_SIZE / 2048 * BLOCK_NR) as u32,
                    tp_retire_blk_tov: RETIRE_TOV_MS,
                    tp_sizeof_priv: 0,
                    tp_feature_req_word: 0,
                };
                setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
                (BLOCK_SIZE, BLOCK_NR)
            }
            RingVersion::V2 => {
                let req = libc::tpacket_req {
                    tp_block_size: V2_FRAME_SIZE as u32,
                    tp_block_nr: V2_FRAME_NR as u32,
                    tp_frame_size: V2_FRAME_SIZE as u32,
                    tp_frame_nr: V2_FRAME_NR as u32,
                };
                setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
                (V2_FRAME_SIZE, V2_FRAME_NR)
            }
        };
        let ring_len = slot_size * slot_nr;
        // SAFETY: maps the ring the kernel just allocated for this socket;
        // the length is the one we asked for. The mapping is released when
        // the `Mapping` that owns it drops.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED | libc::MAP_POPULATE,
                raw,
                0,
            )
        };
        let ring = if ring == libc::MAP_FAILED {
            // MAP_LOCKED can fail under a low memlock limit; try without.
            // SAFETY: as above.
            let r = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    ring_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    raw,
                    0,
                )
            };
            if r == libc::MAP_FAILED {
                return last_err("mmap(PACKET_RX_RING)");
            }
            r
        } else {
            ring
        };
        let map = Arc::new(Mapping { ptr: ring.cast(), len: ring_len });
        let slots = (0..slot_nr)
            .map(|i| Arc::new(RingSlot { map: map.clone(), off: i * slot_size, len: slot_size }))
            .collect();
        let me = RxRing {
            fd,
            map,
            slots,
            version,
            block: 0,
            pkt_in_block: 0,
            next_offset: 0,
            release: 0,
            pending: 0,
        };
        bind(raw, ifindex, ETH_P_ALL)?;
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as i32,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        setsockopt(
            raw,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &mreq,
            "PACKET_ADD_MEMBERSHIP",
        )?;
        Ok(me)
    }

    fn slot_ptr(&self, i: usize) -> *mut u8 {
        // SAFETY: i < the number of slots, so the offset stays inside the
        // mapping.
        unsafe { self.map.ptr.add(self.slots[i].off) }
    }

    /// The status word of slot `i`: V3's `block_status`, V2's `tp_status`.
    fn status(&self, i: usize) -> &AtomicU32 {
        let p = self.slot_ptr(i);
        // SAFETY: both headers start with their status word, which lies
        // inside the mapping, is 4-byte aligned (slots are page aligned) and
        // is written by the kernel concurrently, so it is read as an atomic.
        // For V3, `hdr.bh1.block_status` sits after the 4-byte version and
        // offset_to_priv fields; `addr_of!` computes that without a
        // reference to the non-atomic header.
        unsafe {
            match self.version {
                RingVersion::V3 => {
                    let b = p.cast::<libc::tpacket_block_desc>();
                    &*std::ptr::addr_of!((*b).hdr.bh1.block_status).cast::<AtomicU32>()
                }
                RingVersion::V2 => &*p.cast::<AtomicU32>(),
            }
        }
    }

    /// Marks the slot just read as pending and moves to the next one.
    fn finish_slot(&mut self) {
        self.pending += 1;
        self.block = (self.block + 1) % self.slots.len();
        self.pkt_in_block = 0;
    }

    /// Hands back to the kernel, oldest first, every read slot that no
    /// packet borrows from any more.
    fn release_slots(&mut self) {
        while self.pending > 0 {
            let i = self.release;
            // `get_mut` succeeds only for the sole owner, and synchronises
            // with the drops of the other `Arc`s (acquire), so every read of
            // the slot's bytes happened before the kernel may reuse it.
            if Arc::get_mut(&mut self.slots[i]).is_none() {
                break;
            }
            self.status(i).store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.release = (i + 1) % self.slots.len();
            self.pending -= 1;
        }
    }

    /// Calls `f` for up to `max` frames that are ready, returning how many.
    /// A slot is handed back to the kernel once read and no packet borrows
    /// from it any more (checked at the start of the next call).
    pub fn recv(&mut self, max: usize, f: impl FnMut(Frame<'_>)) -> usize {
        self.release_slots();
        match self.version {
            RingVersion::V2 => self.recv_v2(max, f),
            RingVersion::V3 => self.recv_v3(max, f),
        }
    }

    fn recv_v2(&mut self, max: usize, mut f: impl FnMut(Frame<'_>)) -> usize {
        let mut n = 0;
        // A slot is only read once every slot before it is back with the
        // kernel or pending; never read past the pending ones.
        while n < max && self.pending < self.slots.len() {
            if self.status(self.block).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            let frame = self.slot_ptr(self.block);
            // SAFETY: the frame is ours (TP_STATUS_USER) until handed back,
            // and the kernel wrote a tpacket2_hdr at its start.
            let hdr = unsafe { &*frame.cast::<libc::tpacket2_hdr>() };
            let (mac, snap) = (hdr.tp_mac as usize, hdr.tp_snaplen as usize);
            if mac >= VNET_HDR_LEN && mac + snap <= V2_FRAME_SIZE {
                // SAFETY: [mac - 10, mac + snap) lies inside the frame
                // (checked just above), untouched until handed back.
                let (vnet, data) = unsafe {
                    let base = frame.add(mac);
                    (
                        std::slice::from_raw_parts(base.sub(VNET_HDR_LEN), VNET_HDR_LEN),
                        std::slice::from_raw_parts(base, snap),
                    )
                };
                let st = hdr.tp_status;
                let vlan = (st & libc::TP_STATUS_VLAN_VALID != 0).then(|| {
                    let tpid = if st & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                        hdr.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    (tpid, hdr.tp_vlan_tci)
                });
                let slot = &self.slots[self.block];
                f(Frame { vnet, data, len: hdr.tp_len as usize, vlan, slot, data_off: mac });
                n += 1;
            }
            self.finish_slot();
        }
        n
    }

    fn recv_v3(&mut self, max: usize, mut f: impl FnMut(Frame<'_>)) -> usize {
        let mut n = 0;
        while n < max && self.pending < self.slots.len() {
            if self.status(self.block).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            let b = self.slot_ptr(self.block).cast::<libc::tpacket_block_desc>();
            // SAFETY: the block is ours (TP_STATUS_USER) until we hand it
            // back; its header is initialised by the kernel.
            let (num, first) = unsafe {
                let h = &(*b).hdr.bh1;
                (h.num_pkts, h.offset_to_first_pkt as usize)
            };
            if self.pkt_in_block == 0 {
                self.next_offset = first;
            }
            while self.pkt_in_block < num && n < max {
                let off = self.next_offset;
                if off + std::mem::size_of::<libc::tpacket3_hdr>() > BLOCK_SIZE {
                    // A corrupt offset: give the block back rather than read
                    // outside it.
                    self.pkt_in_block = num;
                    break;
                }
                // SAFETY: `off` is inside the block (checked above) and the
                // kernel laid a tpacket3_hdr there.
                let hdr = unsafe { &*(b as *const u8).add(off).cast::<libc::tpacket3_hdr>() };
                let mac = hdr.tp_mac as usize;
                let snap = hdr.tp_snaplen as usize;
                if mac >= VNET_HDR_LEN && off + mac + snap <= BLOCK_SIZE {
                    // SAFETY: the frame's bytes [off + mac - 10, off + mac +
                    // snap) lie inside the block (checked just above) and stay
                    // untouched by the kernel until the block is handed back.
                    let (vnet, data) = unsafe {
                        let base = (b as *const u8).add(off + mac);
                        (
                            std::slice::from_raw_parts(base.sub(VNET_HDR_LEN), VNET_HDR_LEN),
                            std::slice::from_raw_parts(base, snap),
                        )
                    };
                    let st = hdr.tp_status;
                    let vlan = (st & libc::TP_STATUS_VLAN_VALID != 0).then(|| {
                        let tpid = if st & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            hdr.hv1.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        (tpid, hdr.hv1.tp_vlan_tci as u16)
                    });
                    let slot = &self.slots[self.block];
                    let data_off = off + mac;
                    f(Frame { vnet, data, len: hdr.tp_len as usize, vlan, slot, data_off });
                    n += 1;
                }
                self.pkt_in_block += 1;
                self.next_offset = off + hdr.tp_next_offset as usize;
            }
            if self.pkt_in_block >= num {
                self.finish_slot();
            }
        }
        n
    }
}

impl AsRawFd for RxRing {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An AF_PACKET transmit socket bound to one interface. It receives nothing
/// (bound with protocol 0).
#[derive(Debug)]
pub struct TxSocket {
    fd: OwnedFd,
}

impl TxSocket {
    /// Opens a transmit socket on `ifindex`, with virtio-net headers and
    /// bypassing the queueing discipline.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let fd = packet_socket(0)?;
        let raw = fd.as_raw_fd();
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &1i32, "PACKET_VNET_HDR")?;
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &1i32, "PACKET_QDISC_BYPASS")?;
        bind(raw, ifindex, 0)?;
        Ok(TxSocket { fd })
    }

    /// Sends packets, each as a virtio-net header (from `vnet_hdr`) then its
    /// data, with `sendmmsg`, up to [`TX_CHUNK`] packets a call and no heap
    /// allocation. A packet the kernel refuses (too big, a bad header) is
    /// skipped and counted; a full queue stops the batch (the rest count as
    /// refused too). Never blocks.
    pub fn send_batch(
        &self,
        pkts: &[Packet],
        vnet_hdr: impl Fn(&Packet) -> [u8; VNET_HDR_LEN],
    ) -> SendResult {
        let mut r = SendResult::default();
        let mut chunks = pkts.chunks(TX_CHUNK);
        while let Some(chunk) = chunks.next() {
            let n = chunk.len();
            let mut hdrs = [[0u8; VNET_HDR_LEN]; TX_CHUNK];
            for (h, p) in hdrs.iter_mut().zip(chunk) {
                *h = vnet_hdr(p);
            }
            let empty = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
            let mut iovs = [[empty; 2]; TX_CHUNK];
            for ((iov, h), p) in iovs.iter_mut().zip(&hdrs).zip(chunk) {
                let d = p.data();
                *iov = [
                    libc::iovec { iov_base: h.as_ptr() as *mut _, iov_len: VNET_HDR_LEN },
                    libc::iovec { iov_base: d.as_ptr() as *mut _, iov_len: d.len() },
                ];
            }
            // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
            let mut msgs: [libc::mmsghdr; TX_CHUNK] = unsafe { std::mem::zeroed() };
            for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
                m.msg_hdr.msg_iov = iov.as_mut_ptr();
                m.msg_hdr.msg_iovlen = 2;
            }
            let mut at = 0;
            while at < n {
                // SAFETY: every mmsghdr in [at, n) points at two iovecs that
                // point at live buffers (`hdrs`, the packets' data) borrowed
                // for this call; the kernel only reads them.
                let rc = unsafe {
                    libc::sendmmsg(
                        self.fd.as_raw_fd(),
                        msgs[at..n].as_mut_ptr(),
                        (n - at) as u32,
                        libc::MSG_DONTWAIT,
                    )
                };
                if rc > 0 {
                    r.sent += rc as usize;
                    at += rc as usize;
                    continue;
                }
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                        r.refused += n - at;
                        r.refused += chunks.by_ref().map(<[Packet]>::len).sum::<usize>();
                        r.error = Some(e);
                        return r;
                    }
                    _ => {
                        // This packet is refused; the others may still go.
                        r.refused += 1;
                        r.error = Some(e);
                        at += 1;
                    }
                }
            }
        }
        r
    }
}

/// Most packets [`TxSocket::send_batch`] hands to one `sendmmsg`.
pub const TX_CHUNK: usize = 32;

/// What [`TxSocket::send_batch`] did.
#[derive(Debug, Default)]
pub struct SendResult {
    /// Packets the kernel took.
    pub sent: usize,
    /// Packets refused.
    pub refused: usize,
    /// The last error, if any packet was refused.
    pub error: Option<io::Error>,
}
