//! Tap devices through `/dev/net/tun`: attaching (creating if needed) with
//! a virtio-net header in front of every frame, offload negotiation, and
//! reading and writing one frame with its header in a single system call.
//!
//! A tap fd opened here is non-blocking and close-on-exec. A tap that the
//! kernel created for the `TUNSETIFF` call is not persistent: closing its
//! last fd removes the interface, in whatever network namespace it is by
//! then. A persistent tap (`ip tuntap add mode tap name X`) outlives the fd.

use std::ffi::CStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Length of the virtio-net header the fd is configured for
/// (`struct virtio_net_hdr`, without the `num_buffers` of the mergeable
/// variant).
pub const VNET_HDR_SZ: usize = 10;

/// `TUN_F_USO6`: the reader takes UDP GSO super-frames over IPv6 (libc
/// only names the IPv4 flag).
const TUN_F_USO6: libc::c_uint = 0x40;

/// What the kernel reported about a tap after `TUNSETIFF`.
#[derive(Debug)]
pub struct TapFd {
    /// The open `/dev/net/tun` fd, attached to the tap.
    pub fd: OwnedFd,
    /// The interface's actual name (as the kernel spells it).
    pub name: String,
    /// True when the tap was persistent before (made by `ip tuntap add` or
    /// another program); false when it was created by this call or was
    /// already attached non-persistently elsewhere (multi-queue).
    pub was_persistent: bool,
}

/// An `ifreq` carrying `name` and `flags` (the union's `ifru_flags`).
fn ifreq(name: &str, flags: libc::c_int) -> io::Result<libc::ifreq> {
    let mut r = super::ifreq::named(name)?;
    r.ifr_ifru.ifru_flags = flags as libc::c_short;
    Ok(r)
}

/// The name in an `ifreq` the kernel filled.
fn ifreq_name(r: &libc::ifreq) -> String {
    // SAFETY: the kernel NUL-terminates ifr_name within IFNAMSIZ (the array
    // is IFNAMSIZ long and names are at most IFNAMSIZ - 1 bytes), and `r`
    // outlives the borrow.
    let c = unsafe { CStr::from_ptr(r.ifr_name.as_ptr()) };
    c.to_string_lossy().into_owned()
}

/// An ioctl whose argument is a pointer to an `ifreq` (`TUNSETIFF`,
/// `TUNGETIFF`, `SIOCSIFHWADDR`).
fn ioctl_ifreq(fd: BorrowedFd<'_>, req: libc::Ioctl, r: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: `r` is a valid, initialised ifreq that outlives the call; the
    // tun driver reads and writes at most one `struct ifreq` through it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, r as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An ioctl whose argument is a plain integer (`TUNSETOFFLOAD`,
/// `TUNSETPERSIST`).
fn ioctl_value(fd: BorrowedFd<'_>, req: libc::Ioctl, value: libc::c_ulong) -> io::Result<()> {
    // SAFETY: these requests take their argument by value, not as a
    // pointer, so no memory is read or written on our behalf.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, value) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens `/dev/net/tun` and attaches to the tap `name` with
/// `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, creating it if no interface has
/// that name. Fails with `EBUSY` if another process holds a single-queue
/// tap of that name, `EINVAL` if `name` is an interface of another kind,
/// `EPERM` without `CAP_NET_ADMIN` (to create).
///
/// The fd is non-blocking, its vnet header size is set to [`VNET_HDR_SZ`].
pub fn open_tap(name: &str) -> io::Result<TapFd> {
    let mut r = ifreq(name, libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR)?;
    // SAFETY: the path is a NUL-terminated literal; open takes no other
    // pointers.
    let raw = unsafe {
        libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC)
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    ioctl_ifreq(fd.as_fd(), libc::TUNSETIFF, &mut r)?;
    let actual = ifreq_name(&r);
    let flags = get_flags(fd.as_fd())?;
    set_vnet_hdr_sz(fd.as_fd(), VNET_HDR_SZ)?;
    Ok(TapFd { fd, name: actual, was_persistent: flags & libc::IFF_PERSIST != 0 })
}

/// The tap's `TUNGETIFF` flags (`IFF_TAP`, `IFF_VNET_HDR`, `IFF_PERSIST`,
/// ...). Works through the fd wherever the interface is, even after it was
/// moved to another network namespace.
pub fn get_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    get_iff(fd).map(|(_, flags)| flags)
}

/// The tap's current name and `TUNGETIFF` flags, through the fd.
pub fn get_iff(fd: BorrowedFd<'_>) -> io::Result<(String, libc::c_int)> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    ioctl_ifreq(fd, libc::TUNGETIFF, &mut r)?;
    // SAFETY: TUNGETIFF filled the `ifru_flags` member of the union.
    let flags = unsafe { r.ifr_ifru.ifru_flags } as libc::c_int & 0xffff;
    Ok((ifreq_name(&r), flags))
}

/// Sets the vnet header size the tap uses in both directions.
pub fn set_vnet_hdr_sz(fd: BorrowedFd<'_>, size: usize) -> io::Result<()> {
    let sz =
        libc::c_int::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer; `sz` is a
    // live local that outlives the call.
    let rc =
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &sz as *const libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Offloads the reader accepts, as negotiated by [`set_offload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offloads {
    /// Checksum-partial frames (`TUN_F_CSUM`).
    pub csum: bool,
    /// TCP GSO super-frames over IPv4 and IPv6 (`TUN_F_TSO4 | TUN_F_TSO6`).
    pub tso: bool,
    /// UDP GSO super-frames (`TUN_F_USO4 | TUN_F_USO6`, Linux 6.2 and later).
    pub uso: bool,
}

/// Tells the kernel which offloaded frames we can read: checksum-partial,
/// TSO and, if the kernel knows it, USO. Falls back to fewer offloads when
/// the kernel refuses a set (older kernels reject unknown `TUN_F_*` bits
/// with `EINVAL`), down to none. Returns what was accepted.
///
/// This only concerns frames the kernel hands us; frames we write with a
/// vnet header may carry any GSO type the kernel supports regardless.
pub fn set_offload(fd: BorrowedFd<'_>) -> Offloads {
    let csum_tso = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
    let tries = [
        (csum_tso | libc::TUN_F_USO4 | TUN_F_USO6, Offloads { csum: true, tso: true, uso: true }),
        (csum_tso, Offloads { csum: true, tso: true, uso: false }),
        (libc::TUN_F_CSUM, Offloads { csum: true, tso: false, uso: false }),
    ];
    for (bits, off) in tries {
        if ioctl_value(fd, libc::TUNSETOFFLOAD, libc::c_ulong::from(bits)).is_ok() {
            return off;
        }
    }
    let _ = ioctl_value(fd, libc::TUNSETOFFLOAD, 0);
    Offloads::default()
}

/// Makes the tap persistent (it outlives its fds) or not (closing the last
/// fd removes it).
pub fn set_persist(fd: BorrowedFd<'_>, persist: bool) -> io::Result<()> {
    ioctl_value(fd, libc::TUNSETPERSIST, libc::c_ulong::from(persist))
}

/// Sets the tap's MAC address through the fd (`SIOCSIFHWADDR` on a tun fd
/// acts on the attached device, wherever its namespace).
pub fn set_mac(fd: BorrowedFd<'_>, name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut r = ifreq(name, 0)?;
    // SAFETY: sockaddr is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in sa.sa_data.iter_mut().zip(mac) {
        *d = s as libc::c_char;
    }
    r.ifr_ifru.ifru_hwaddr = sa;
    ioctl_ifreq(fd, libc::SIOCSIFHWADDR, &mut r)
}

/// Reads one frame: its vnet header into `hdr` and the frame into `buf`.
/// Returns the frame's full length, which exceeds `buf.len()` when the frame
/// was truncated. `WouldBlock` when no frame waits.
pub fn read_frame(
    fd: BorrowedFd<'_>,
    hdr: &mut [u8; VNET_HDR_SZ],
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut iov = [IoSliceMut::new(hdr), IoSliceMut::new(buf)];
    // SAFETY: IoSliceMut is ABI-compatible with struct iovec; both describe
    // live, exclusively borrowed buffers that outlive the call, and we pass
    // the array's real length.
    let n = unsafe {
        libc::readv(
            fd.as_raw_fd(),
            iov.as_mut_ptr().cast::<libc::iovec>(),
            iov.len() as libc::c_int,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n < VNET_HDR_SZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("tap read returned {n} bytes, less than a vnet header"),
        ));
    }
    Ok(n - VNET_HDR_SZ)
}

/// Writes one frame with its vnet header in front, in one system call.
/// `WouldBlock` when the tap cannot take it now.
pub fn write_frame(fd: BorrowedFd<'_>, hdr: &[u8; VNET_HDR_SZ], frame: &[u8]) -> io::Result<()> {
    let iov = [IoSlice::new(hdr), IoSlice::new(frame)];
    // SAFETY: IoSlice is ABI-compatible with struct iovec; both describe
    // live buffers that outlive the call, and we pass the array's length.
    let n = unsafe {
        libc::writev(fd.as_raw_fd(), iov.as_ptr().cast::<libc::iovec>(), iov.len() as libc::c_int)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_system_call() {
        for bad in ["", "a-name-much-too-long", "nul\0in"] {
            let e = open_tap(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
    }
}
