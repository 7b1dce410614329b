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

/// Block size of the receive ring: room for three 64 KiB super-frames, so
/// a block fills (and is handed over) quickly under load.
pub const BLOCK_SIZE: usize = 1 << 18;
/// Blocks in a TPACKET_V3 receive ring by default: 2 MiB in all, about 30
/// super-frames or 14,000 small packets. A ring this small stays in the
/// CPU caches between the kernel's write and the poll thread's read, which
/// a 16 MiB ring did not: TCP through rvs went from about 35 to 41 Gb/s
/// (docs/PERFORMANCE.md).
pub const DEFAULT_BLOCK_NR: usize = 8;
/// A V3 block handed over by its retire timer with fewer packets than this
/// is a sign of light traffic ([`RxRing::light_timeouts`]).
pub const LIGHT_BLOCK_PKTS: u32 = 16;
/// Fewest blocks a V3 ring may have (one being filled while one is read).
pub const MIN_BLOCK_NR: usize = 2;
/// Most blocks a V3 ring may have (256 MiB).
pub const MAX_BLOCK_NR: usize = 1024;
/// Longest a partly filled block waits before the kernel hands it over, ms.
pub const RETIRE_TOV_MS: u32 = 1;

const ETH_P_ALL: u16 = 0x0003;
const VNET_HDR_LEN: usize = 10;

pub(super) fn last_err<T>(what: &str) -> io::Result<T> {
    let e = io::Error::last_os_error();
    Err(io::Error::new(e.kind(), format!("{what}: {e}")))
}

pub(super) fn setsockopt<T>(
    fd: RawFd,
    level: i32,
    opt: i32,
    val: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: `val` points at a live, initialised `T` of the size we pass.
    let rc = unsafe {
        libc::setsockopt(fd, level, opt, (val as *const T).cast(), std::mem::size_of::<T>() as u32)
    };
    if rc < 0 {
        return last_err(what);
    }
    Ok(())
}

/// Reads socket option `opt` of `level` into `v` (a plain C value the
/// kernel overwrites) and returns it.
pub(super) fn getsockopt<T: Copy>(
    fd: RawFd,
    level: i32,
    opt: i32,
    mut v: T,
    what: &str,
) -> io::Result<T> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into the live `v`.
    let rc = unsafe { libc::getsockopt(fd, level, opt, (&mut v as *mut T).cast(), &mut len) };
    if rc < 0 {
        return last_err(what);
    }
    Ok(v)
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

/// How a receive ring is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingShape {
    /// TPACKET_V2: `frames` fixed frames of `frame_size` bytes.
    V2 {
        /// Bytes per frame (a multiple of 16; packets longer than fits are
        /// refused when read).
        frame_size: usize,
        /// Number of frames.
        frames: usize,
    },
    /// TPACKET_V3: `blocks` blocks of [`BLOCK_SIZE`] bytes
    /// ([`MIN_BLOCK_NR`]..=[`MAX_BLOCK_NR`]).
    V3 {
        /// Number of blocks.
        blocks: usize,
    },
}

/// Frame size of an express ring (TPACKET_V2): its packets are at most
/// [`EXPRESS_MAX_LEN`] bytes.
pub const EXPRESS_FRAME_SIZE: usize = 1024;
/// Frames in an express ring (1 MiB in all).
pub const EXPRESS_FRAME_NR: usize = 1024;
/// Longest packet the express lane takes.
pub const EXPRESS_MAX_LEN: u32 = 256;

/// Which of an interface's packets a receive ring takes.
///
/// A TPACKET_V3 ring hands frames over a block at a time, so a packet that
/// does not fill its block waits for the block's retire timer (1 ms). That
/// suits bulk traffic, which fills blocks fast and gains from the batches,
/// but not the packets a sender waits for: TCP acknowledgements (whose delay
/// the sender reads as a longer round trip and a smaller window), pings and
/// ARP. A port can therefore split its receive traffic between two rings by
/// socket filters: a V3 ring for the bulk and a small V2 ring, which hands
/// each frame over at once, for the express packets: frames of at most
/// [`EXPRESS_MAX_LEN`] bytes that are ARP, ICMP or ICMPv6 (not fragments),
/// or TCP without payload and without SYN, FIN or RST (pure ACKs, window
/// updates). Everything else, UDP and TCP data included, is bulk, so the
/// packets of a connection that carry data stay in one ring and in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Every packet (no filter).
    All,
    /// Every packet but the express ones.
    Bulk,
    /// Only the express packets.
    Express,
}

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_LEN: u16 = 0x80; // BPF_LD | BPF_W | BPF_LEN
const LD_MEM: u16 = 0x60; // BPF_LD | BPF_W | BPF_MEM
const ST: u16 = 0x02; // BPF_ST
const LD_H_ABS: u16 = 0x08 | 0x20; // BPF_LD | BPF_H | BPF_ABS
const LD_B_ABS: u16 = 0x10 | 0x20; // BPF_LD | BPF_B | BPF_ABS
const LD_B_IND: u16 = 0x10 | 0x40; // BPF_LD | BPF_B | BPF_IND
const LDX_B_MSH: u16 = 0x01 | 0x10 | 0xa0; // BPF_LDX | BPF_B | BPF_MSH
const ALU_AND_K: u16 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const ALU_RSH_K: u16 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
const ALU_ADD_X: u16 = 0x04 | 0x08; // BPF_ALU | BPF_ADD | BPF_X
const ALU_SUB_X: u16 = 0x04 | 0x10 | 0x08; // BPF_ALU | BPF_SUB | BPF_X
const MISC_TAX: u16 = 0x07; // BPF_MISC | BPF_TAX
const CLASS_JMP: u16 = 0x05; // BPF_JMP
const JMP_JGT_K: u16 = 0x05 | 0x20; // BPF_JMP | BPF_JGT | BPF_K
const JMP_JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
const JMP_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JEQ_X: u16 = 0x05 | 0x10 | 0x08; // BPF_JMP | BPF_JEQ | BPF_X
const JMP_JSET_K: u16 = 0x05 | 0x40; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Where a filter instruction goes next.
#[derive(Clone, Copy, PartialEq)]
enum To {
    Next,
    Express,
    Bulk,
    V4,
    V6,
    Tcp4,
    Tcp6,
}

/// The express-lane classifier as (label, opcode, jump if true, jump if
/// false, k), with symbolic jump targets that [`lane_filter`] resolves.
/// Every load is checked against the packet's length first: the kernel
/// drops a packet whose filter reads past its end, and a frame too short
/// for its headers must still reach the bulk ring.
const PROGRAM: &[(Option<To>, u16, To, To, u32)] = &[
    (None, LD_W_LEN, To::Next, To::Next, 0),
    (None, JMP_JGT_K, To::Bulk, To::Next, EXPRESS_MAX_LEN),
    // ARP, and IPv4 with ICMP's 8 bytes, are at least 42 bytes.
    (None, JMP_JGE_K, To::Next, To::Bulk, 42),
    (None, ST, To::Next, To::Next, 0),        // M[0] = length
    (None, LD_H_ABS, To::Next, To::Next, 12), // EtherType
    (None, JMP_JEQ_K, To::V4, To::Next, 0x0800),
    (None, JMP_JEQ_K, To::V6, To::Next, 0x86dd),
    (None, JMP_JEQ_K, To::Express, To::Bulk, 0x0806), // ARP, else bulk
    // IPv4: not a fragment; ICMP, or TCP without payload.
    (Some(To::V4), LD_H_ABS, To::Next, To::Next, 20), // flags, fragment offset
    (None, JMP_JSET_K, To::Bulk, To::Next, 0x3fff),
    (None, LD_B_ABS, To::Next, To::Next, 23),    // protocol
    (None, JMP_JEQ_K, To::Express, To::Next, 1), // ICMP
    (None, JMP_JEQ_K, To::Tcp4, To::Bulk, 6),
    (Some(To::Tcp4), LDX_B_MSH, To::Next, To::Next, 14), // X = IPv4 header length
    (None, LD_MEM, To::Next, To::Next, 0),
    (None, ALU_SUB_X, To::Next, To::Next, 0),
    (None, JMP_JGE_K, To::Next, To::Bulk, 14 + 20), // room for the TCP header
    (None, LD_B_IND, To::Next, To::Next, 14 + 13),  // TCP flags
    (None, JMP_JSET_K, To::Bulk, To::Next, 0x07),   // FIN, SYN, RST
    (None, LD_B_IND, To::Next, To::Next, 14 + 12),  // TCP data offset
    (None, ALU_AND_K, To::Next, To::Next, 0xf0),
    (None, ALU_RSH_K, To::Next, To::Next, 2), // TCP header length
    (None, ALU_ADD_X, To::Next, To::Next, 0), // + IPv4 header length
    (None, MISC_TAX, To::Next, To::Next, 0),
    (None, LD_H_ABS, To::Next, To::Next, 16), // IPv4 total length
    (None, JMP_JEQ_X, To::Express, To::Bulk, 0), // no payload
    // IPv6 without extension headers (fragments and the rest are bulk):
    // ICMPv6, or TCP without payload.
    (Some(To::V6), LD_B_ABS, To::Next, To::Next, 20), // next header
    (None, JMP_JEQ_K, To::Express, To::Next, 58),     // ICMPv6
    (None, JMP_JEQ_K, To::Tcp6, To::Bulk, 6),
    (Some(To::Tcp6), LD_MEM, To::Next, To::Next, 0),
    (None, JMP_JGE_K, To::Next, To::Bulk, 14 + 40 + 20), // room for the TCP header
    (None, LD_B_ABS, To::Next, To::Next, 14 + 40 + 13),  // TCP flags
    (None, JMP_JSET_K, To::Bulk, To::Next, 0x07),        // FIN, SYN, RST
    (None, LD_B_ABS, To::Next, To::Next, 14 + 40 + 12),  // TCP data offset
    (None, ALU_AND_K, To::Next, To::Next, 0xf0),
    (None, ALU_RSH_K, To::Next, To::Next, 2), // TCP header length
    (None, MISC_TAX, To::Next, To::Next, 0),
    (None, LD_H_ABS, To::Next, To::Next, 18), // IPv6 payload length
    (None, JMP_JEQ_X, To::Express, To::Bulk, 0), // no payload
];

/// The socket filter of `lane` (none for [`Lane::All`]): it accepts the
/// express packets described at [`Lane`] (for [`Lane::Express`]) or all
/// the others (for [`Lane::Bulk`]). Offsets count from the Ethernet header,
/// as a `SOCK_RAW` packet socket sees frames; a VLAN tag the kernel keeps
/// out of band does not move them, one inside the frame makes it bulk.
pub fn lane_filter(lane: Lane) -> Option<Vec<libc::sock_filter>> {
    let (express, bulk) = match lane {
        Lane::All => return None,
        Lane::Express => (u32::MAX, 0),
        Lane::Bulk => (0, u32::MAX),
    };
    let n = PROGRAM.len();
    // The program is followed by the two returns: express at n, bulk at n + 1.
    let at = |t: To| -> usize {
        match t {
            To::Express => n,
            To::Bulk => n + 1,
            _ => PROGRAM.iter().position(|i| i.0 == Some(t)).expect("label defined"),
        }
    };
    let mut prog: Vec<libc::sock_filter> = PROGRAM
        .iter()
        .enumerate()
        .map(|(i, &(_, code, jt, jf, k))| {
            // Jumps count instructions skipped after this one.
            let off = |t: To| -> u8 {
                if t == To::Next {
                    0
                } else {
                    u8::try_from(at(t) - i - 1).expect("jump fits")
                }
            };
            if code & 0x07 == CLASS_JMP {
                libc::sock_filter { code, jt: off(jt), jf: off(jf), k }
            } else {
                libc::sock_filter { code, jt: 0, jf: 0, k }
            }
        })
        .collect();
    prog.push(libc::sock_filter { code: RET_K, jt: 0, jf: 0, k: express });
    prog.push(libc::sock_filter { code: RET_K, jt: 0, jf: 0, k: bulk });
    Some(prog)
}

/// Attaches (or replaces) the classic BPF socket filter of `fd`.
fn attach_filter(fd: RawFd, prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog, "SO_ATTACH_FILTER")
}

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
    /// The interface, for binding again.
    ifindex: u32,
    /// The packets it takes (its socket filter).
    lane: Lane,
    /// Size of a slot: a V2 frame or a V3 block.
    frame_size: usize,
    /// V3 blocks read in a row that their retire timer handed over with
    /// fewer than [`LIGHT_BLOCK_PKTS`] packets.
    light_timeouts: u32,
}

impl RxRing {
    /// Opens a promiscuous receive ring of `shape` on interface `ifindex`
    /// for the packets of `lane`, ignoring packets the host itself sends out
    /// of it. A ring opened with `receiving` false is not bound to the
    /// interface and takes nothing (until it joins a
    /// [`RingSwitch`](super::fanout::RingSwitch)).
    pub fn open(ifindex: u32, shape: RingShape, lane: Lane, receiving: bool) -> io::Result<Self> {
        let (version, blocks, v2_frame, v2_nr) = match shape {
            RingShape::V3 { blocks } => {
                if !(MIN_BLOCK_NR..=MAX_BLOCK_NR).contains(&blocks) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{blocks} ring blocks: must be {MIN_BLOCK_NR} to {MAX_BLOCK_NR}"),
                    ));
                }
                (RingVersion::V3, blocks, 0, 0)
            }
            RingShape::V2 { frame_size, frames } => (RingVersion::V2, 0, frame_size, frames),
        };
        // Protocol 0 receives nothing until `bind` below names the
        // interface, so no other interface's packet gets into the ring.
        let fd = packet_socket(0)?;
        let raw = fd.as_raw_fd();
        if let Some(prog) = lane_filter(lane) {
            attach_filter(raw, &prog)?;
        }
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
                    tp_block_nr: blocks as u32,
                    tp_frame_size: 2048,
                    tp_frame_nr: (BLOCK_SIZE / 2048 * blocks) as u32,
                    tp_retire_blk_tov: RETIRE_TOV_MS,
                    tp_sizeof_priv: 0,
                    tp_feature_req_word: 0,
                };
                setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
                (BLOCK_SIZE, blocks)
            }
            RingVersion::V2 => {
                // Blocks of whole pages, each holding whole frames; frames
                // then lie back to back, one slot each.
                let block = v2_frame.max(4096);
                let req = libc::tpacket_req {
                    tp_block_size: block as u32,
                    tp_block_nr: (v2_frame * v2_nr / block) as u32,
                    tp_frame_size: v2_frame as u32,
                    tp_frame_nr: v2_nr as u32,
                };
                setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
                (v2_frame, v2_nr)
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
            ifindex,
            lane,
            map,
            slots,
            version,
            block: 0,
            pkt_in_block: 0,
            next_offset: 0,
            release: 0,
            pending: 0,
            frame_size: slot_size,
            light_timeouts: 0,
        };
        bind(raw, ifindex, if receiving { ETH_P_ALL } else { 0 })?;
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

    /// The packet count of V3 block `i`, which the kernel updates while it
    /// fills the block.
    fn num_pkts(&self, i: usize) -> &AtomicU32 {
        let b = self.slot_ptr(i).cast::<libc::tpacket_block_desc>();
        // SAFETY: the block header lies inside the mapping; `num_pkts` is a
        // 4-byte aligned u32 (the header is at the page-aligned block start)
        // that the kernel writes concurrently, so it is accessed as an
        // atomic; `addr_of!` makes no reference to the non-atomic header.
        unsafe { &*std::ptr::addr_of!((*b).hdr.bh1.num_pkts).cast::<AtomicU32>() }
    }

    /// Whether packets wait in the ring: ready for [`RxRing::recv`] or, in
    /// a V3 ring, in the block the kernel is still filling (they come out
    /// when the block is full or its retire timer fires).
    pub fn has_packets(&self) -> bool {
        if self.pending >= self.slots.len() {
            return false;
        }
        if self.status(self.block).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0 {
            return true;
        }
        self.version == RingVersion::V3 && self.num_pkts(self.block).load(Ordering::Relaxed) > 0
    }

    /// Packets the kernel dropped because the ring was full, since the last
    /// call (reading the kernel's count resets it).
    pub fn take_drops(&self) -> io::Result<u64> {
        // tpacket_stats for V2; V3 appends a field the kernel fills as well.
        let zero = libc::tpacket_stats_v3 { tp_packets: 0, tp_drops: 0, tp_freeze_q_cnt: 0 };
        let (fd, opt) = (self.fd.as_raw_fd(), libc::PACKET_STATISTICS);
        let st = getsockopt(fd, libc::SOL_PACKET, opt, zero, "getsockopt(PACKET_STATISTICS)")?;
        Ok(u64::from(st.tp_drops))
    }

    /// How many of the V3 blocks read last, in a row, their retire timer
    /// handed over (rather than being full) with fewer than
    /// [`LIGHT_BLOCK_PKTS`] packets: light traffic. (Heavy traffic fills
    /// blocks; a flood of small packets may not fill one in a timeout, but
    /// puts many packets in it.)
    pub fn light_timeouts(&self) -> u32 {
        self.light_timeouts
    }

    /// Starts counting [`RxRing::light_timeouts`] again.
    pub fn reset_timeouts(&mut self) {
        self.light_timeouts = 0;
    }

    /// Binds the ring to every protocol of its interface.
    pub(super) fn bind_all(&self) -> io::Result<()> {
        bind(self.fd.as_raw_fd(), self.ifindex, ETH_P_ALL)
    }

    /// Makes the ring drop every packet, until [`RxRing::restore_filter`].
    pub(super) fn set_filter_drop_all(&self) -> io::Result<()> {
        attach_filter(self.fd.as_raw_fd(), &[libc::sock_filter { code: RET_K, jt: 0, jf: 0, k: 0 }])
    }

    /// Puts back the filter of the ring's lane.
    pub(super) fn restore_filter(&self) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        match lane_filter(self.lane) {
            Some(prog) => attach_filter(fd, &prog),
            None => {
                // SAFETY: SO_DETACH_FILTER takes no value.
                let rc = unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_DETACH_FILTER,
                        std::ptr::null(),
                        0,
                    )
                };
                if rc < 0 {
                    return last_err("SO_DETACH_FILTER");
                }
                Ok(())
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
            if self.version == RingVersion::V3 {
                // The kernel sets the count again when it opens the block;
                // until then a stale count must not look like packets
                // waiting in it (`has_packets`).
                self.num_pkts(i).store(0, Ordering::Relaxed);
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
            if mac >= VNET_HDR_LEN && mac + snap <= self.frame_size {
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
                let st = self.status(self.block).load(Ordering::Relaxed);
                if st & libc::TP_STATUS_BLK_TMO != 0 && num < LIGHT_BLOCK_PKTS {
                    self.light_timeouts = self.light_timeouts.saturating_add(1);
                } else {
                    self.light_timeouts = 0;
                }
            }
            while self.pkt_in_block < num && n < max {
                let off = self.next_offset;
                if off + std::mem::size_of::<libc::tpacket3_hdr>() > self.frame_size {
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
                if mac >= VNET_HDR_LEN && off + mac + snap <= self.frame_size {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program (the instructions `lane_filter` uses) over
    /// `pkt` as the kernel would for a packet socket: the return value, or 0
    /// when a load falls outside the packet.
    fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc, mut mem) = (0u32, 0u32, 0usize, [0u32; 16]);
        let byte = |at: u32| pkt.get(at as usize).map(|&b| u32::from(b));
        let half = |at: u32| Some(byte(at)? << 8 | byte(at + 1)?);
        loop {
            let i = prog[pc];
            pc += 1;
            let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
            match i.code {
                LD_W_LEN => a = pkt.len() as u32,
                LD_MEM => a = mem[i.k as usize],
                ST => mem[i.k as usize] = a,
                ALU_SUB_X => a = a.wrapping_sub(x),
                JMP_JGE_K => pc += jump(a >= i.k),
                LD_H_ABS => match half(i.k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_B_ABS => match byte(i.k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_B_IND => match byte(x + i.k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDX_B_MSH => match byte(i.k) {
                    Some(v) => x = (v & 0xf) * 4,
                    None => return 0,
                },
                ALU_AND_K => a &= i.k,
                ALU_RSH_K => a >>= i.k,
                ALU_ADD_X => a = a.wrapping_add(x),
                MISC_TAX => x = a,
                JMP_JGT_K => pc += jump(a > i.k),
                JMP_JEQ_K => pc += jump(a == i.k),
                JMP_JEQ_X => pc += jump(a == x),
                JMP_JSET_K => pc += jump(a & i.k != 0),
                RET_K => return i.k,
                c => panic!("opcode {c:#x} not interpreted"),
            }
        }
    }

    /// An Ethernet frame: IPv4 (or IPv6) with `proto`, a 20-byte TCP header
    /// with `flags` when TCP (8-byte header otherwise), then `payload` bytes.
    fn frame(v6: bool, proto: u8, flags: u8, payload: usize) -> Vec<u8> {
        let l4 = if proto == 6 { 20 } else { 8 };
        let mut f = vec![0u8; 12];
        if v6 {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&((l4 + payload) as u16).to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&[0; 32]);
        } else {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            f.extend_from_slice(&((20 + l4 + payload) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            f.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        }
        let mut h = vec![0u8; l4];
        if proto == 6 {
            h[12] = 5 << 4;
            h[13] = flags;
        }
        f.extend_from_slice(&h);
        f.resize(f.len() + payload, 0xab);
        f
    }

    fn lane_of(pkt: &[u8]) -> Lane {
        let x = run(&lane_filter(Lane::Express).unwrap(), pkt);
        let b = run(&lane_filter(Lane::Bulk).unwrap(), pkt);
        // Exactly one of the two rings takes each packet.
        assert!((x == 0) != (b == 0), "express {x}, bulk {b} for {pkt:02x?}");
        if x != 0 {
            Lane::Express
        } else {
            Lane::Bulk
        }
    }

    #[test]
    fn acks_pings_and_arp_take_the_express_lane_and_data_the_bulk_one() {
        const ACK: u8 = 0x10;
        for v6 in [false, true] {
            assert_eq!(lane_of(&frame(v6, 6, ACK, 0)), Lane::Express, "pure ACK, v6 {v6}");
            assert_eq!(lane_of(&frame(v6, 6, ACK | 0x08, 1)), Lane::Bulk, "data, v6 {v6}");
            assert_eq!(lane_of(&frame(v6, 6, ACK | 0x01, 0)), Lane::Bulk, "FIN, v6 {v6}");
            assert_eq!(lane_of(&frame(v6, 6, 0x02, 0)), Lane::Bulk, "SYN, v6 {v6}");
            assert_eq!(lane_of(&frame(v6, 6, 0x04, 0)), Lane::Bulk, "RST, v6 {v6}");
            assert_eq!(lane_of(&frame(v6, 17, 0, 18)), Lane::Bulk, "UDP, v6 {v6}");
            let icmp = if v6 { 58 } else { 1 };
            assert_eq!(lane_of(&frame(v6, icmp, 0, 56)), Lane::Express, "ping, v6 {v6}");
            assert_eq!(lane_of(&frame(v6, icmp, 0, 1400)), Lane::Bulk, "big ping, v6 {v6}");
        }
        // A pure ACK with options (data offset 8 words) is still one.
        let mut opts = frame(false, 6, ACK, 12);
        opts[14 + 20 + 12] = 8 << 4;
        assert_eq!(lane_of(&opts), Lane::Express);
        // IPv4 options move the TCP header: still found.
        let mut f = frame(false, 6, ACK, 0);
        f[14] = 0x46;
        f.splice(34..34, [1, 1, 1, 0]);
        f[16..18].copy_from_slice(&44u16.to_be_bytes());
        assert_eq!(lane_of(&f), Lane::Express);
        // A fragment, an IPv6 extension header, a VLAN tag in the frame and
        // an unknown EtherType are bulk; ARP is express.
        let mut frag = frame(false, 1, 0, 56);
        frag[20] = 0x20;
        assert_eq!(lane_of(&frag), Lane::Bulk);
        assert_eq!(lane_of(&frame(true, 44, 0, 56)), Lane::Bulk);
        let mut tagged = frame(false, 6, ACK, 0);
        tagged.splice(12..12, [0x81, 0x00, 0, 10]);
        assert_eq!(lane_of(&tagged), Lane::Bulk);
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(lane_of(&arp), Lane::Express);
        arp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(lane_of(&arp), Lane::Bulk);
        // Truncated headers never reach the express lane.
        assert_eq!(lane_of(&frame(false, 6, ACK, 0)[..40]), Lane::Bulk);
        assert_eq!(lane_of(&frame(false, 6, ACK, 0)[..50]), Lane::Bulk);
        assert_eq!(lane_of(&frame(true, 6, ACK, 0)[..70]), Lane::Bulk);
        assert_eq!(lane_of(&[0u8; 10]), Lane::Bulk);
    }

    proptest::proptest! {
        /// Whatever the bytes, exactly one ring takes the packet (`lane_of`
        /// checks it): nothing is lost, nothing is received twice.
        #[test]
        fn every_packet_takes_exactly_one_lane(
            kind in 0usize..5,
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut pkt = bytes;
            // Steer the EtherType (and IP version) so the deeper checks run.
            let types: [&[u8]; 5] = [&[0x08, 0x00, 0x45], &[0x86, 0xdd, 0x60], &[0x08, 0x06], &[], &[0x08, 0x00, 0x4f]];
            let t = types[kind];
            if pkt.len() >= 12 + t.len() {
                pkt[12..12 + t.len()].copy_from_slice(t);
            }
            lane_of(&pkt);
        }
    }

    #[test]
    fn every_lane_but_all_has_a_filter() {
        assert!(lane_filter(Lane::All).is_none());
        let x = lane_filter(Lane::Express).unwrap();
        let b = lane_filter(Lane::Bulk).unwrap();
        assert_eq!(x.len(), b.len());
        assert!(x.len() < 4096, "the kernel's BPF_MAXINSNS");
    }
}
