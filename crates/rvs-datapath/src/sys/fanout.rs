//! Two receive rings of one interface behind a single kernel hook, with a
//! switch that says which of them takes the packets.
//!
//! A port's bulk traffic lives in one of two rings (a direct ring while it
//! is light, the V3 ring while it is heavy) and moves between them by load.
//! The move must neither lose a packet nor deliver one twice, and it must not
//! stall the poll thread: rebinding a packet socket waits for an RCU grace
//! period (milliseconds), and binding to protocol 0 does not unhook a socket
//! at all (the kernel keeps the protocol it had).
//!
//! So both rings join one `PACKET_FANOUT_EBPF` group: the kernel runs the
//! group's program once per packet and hands the packet to the member whose
//! index it returns. The program reads that index from the only entry of a
//! one-entry BPF array map; a move is one map update. Each packet sees one
//! value, so it reaches exactly one ring. A packet already on its way into
//! the old ring (on another CPU) may land there just after the update: the
//! reader handles the old ring's leftovers before the new ring's packets.

use super::packet::{getsockopt, last_err, setsockopt, RxRing};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// bpf(2) commands and constants (linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
const BPF_PSEUDO_MAP_VALUE: u8 = 2;

// Packet fanout (linux/if_packet.h).
const PACKET_FANOUT_EBPF: u32 = 7;
const PACKET_FANOUT_FLAG_UNIQUEID: u32 = 0x2000;
/// The group ignores packets the host sends out of the interface (Linux
/// 6.10 and later), as each ring's `PACKET_IGNORE_OUTGOING` would alone.
const PACKET_FANOUT_FLAG_IGNORE_OUTGOING: u32 = 0x4000;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

/// The `BPF_MAP_CREATE` part of `union bpf_attr`; the kernel takes the
/// fields left out as zero.
#[repr(C)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
}

/// The `BPF_MAP_UPDATE_ELEM` part of `union bpf_attr`.
#[repr(C)]
struct MapUpdate {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

/// Runs bpf(2) command `cmd` on `attr`, returning the fd it made (map and
/// program commands) or 0.
fn bpf<T>(cmd: libc::c_long, attr: &T, what: &str) -> io::Result<RawFd> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` prefix of `union
    // bpf_attr` for `cmd`, and we pass its exact size; pointers inside it
    // point at live buffers of the sizes it gives.
    let rc = unsafe {
        libc::syscall(libc::SYS_bpf, cmd, (attr as *const T).cast::<u8>(), std::mem::size_of::<T>())
    };
    if rc < 0 {
        return last_err(what);
    }
    Ok(rc as RawFd)
}

/// Takes ownership of an fd bpf(2) just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel just made `fd` for us; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn set_fanout(fd: RawFd, arg: u32, what: &str) -> io::Result<()> {
    setsockopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg, what)
}

/// The id of the fanout group `fd` is in (the option also reports the
/// group's type and flags, above the id).
fn fanout_id(fd: RawFd) -> io::Result<u32> {
    let v: u32 =
        getsockopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, 0, "getsockopt(PACKET_FANOUT)")?;
    Ok(v & 0xffff)
}

/// Two rings of one interface, members 0 and 1 of a fanout group whose
/// program hands each packet to the member [`RingSwitch::select`] named
/// last (member 0 at first). See the module documentation.
#[derive(Debug)]
pub struct RingSwitch {
    map: OwnedFd,
}

impl RingSwitch {
    /// Joins `first` (receiving: bound to the interface) and `second` (not
    /// receiving yet) into a new group; `first` takes the packets. Fails
    /// where the kernel lacks eBPF fanout or the process may not load BPF
    /// programs (without `CAP_BPF`); the two rings are then no pair, and
    /// only fit to be dropped.
    ///
    /// `first` must be the older socket. When the interface goes down and
    /// up, the kernel takes the members out of the group and puts them back
    /// in the order the sockets were made; the indices the map holds only
    /// keep their meaning if that is the order they joined in.
    pub fn join(first: &RxRing, second: &RxRing) -> io::Result<RingSwitch> {
        let attr =
            MapCreate { map_type: BPF_MAP_TYPE_ARRAY, key_size: 4, value_size: 4, max_entries: 1 };
        let map = owned(bpf(BPF_MAP_CREATE, &attr, "creating the ring switch's BPF map")?);
        // r1 = &value[0] of the map; r0 = *(u32 *)r1; return r0.
        let insns = [
            Insn { code: 0x18, regs: 1 | BPF_PSEUDO_MAP_VALUE << 4, off: 0, imm: map.as_raw_fd() },
            Insn { code: 0, regs: 0, off: 0, imm: 0 },
            Insn { code: 0x61, regs: 1 << 4, off: 0, imm: 0 },
            Insn { code: 0x95, regs: 0, off: 0, imm: 0 },
        ];
        let license = c"GPL";
        let attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_SOCKET_FILTER,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 0,
            log_size: 0,
            log_buf: 0,
        };
        let prog = owned(bpf(BPF_PROG_LOAD, &attr, "loading the ring switch's BPF program")?);

        let (a, b) = (first.as_raw_fd(), second.as_raw_fd());
        let ebpf = PACKET_FANOUT_EBPF << 16;
        let mut flags = PACKET_FANOUT_FLAG_IGNORE_OUTGOING << 16;
        // Without the flag (kernels before 6.10) the group would take what
        // the host sends out of the interface: no switch then.
        let what = "creating a fanout group that ignores outgoing packets";
        set_fanout(a, ebpf | flags | PACKET_FANOUT_FLAG_UNIQUEID << 16, what)?;
        let id = fanout_id(a)?;
        let fd = prog.as_raw_fd() as u32;
        setsockopt(a, libc::SOL_PACKET, libc::PACKET_FANOUT_DATA, &fd, "PACKET_FANOUT_DATA")?;
        // The second ring must be bound to join, and between the two it
        // would get packets of its own: it takes none while it binds.
        second.set_filter_drop_all()?;
        second.bind_all()?;
        flags |= ebpf;
        let joined = set_fanout(b, id | flags, &format!("joining fanout group {id}"));
        second.restore_filter()?;
        joined?;
        Ok(RingSwitch { map })
    }

    /// Hands the packets to member `which` (0 or 1) from now on.
    pub fn select(&self, which: u32) -> io::Result<()> {
        let key: u32 = 0;
        let attr = MapUpdate {
            map_fd: self.map.as_raw_fd() as u32,
            _pad: 0,
            key: &key as *const u32 as u64,
            value: &which as *const u32 as u64,
            flags: 0,
        };
        bpf(BPF_MAP_UPDATE_ELEM, &attr, "updating the ring switch")?;
        Ok(())
    }
}
