//! Interface ioctls (`SIOCGIFMTU` and friends) on a throwaway datagram
//! socket, as `ip link` does. Names are Linux interface names (at most 15
//! bytes).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket and is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `ifreq` with its name set (the rest zero).
pub(crate) fn named(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("\"{name}\" is not a valid interface name (1 to 15 bytes)"),
        ));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(r)
}

fn ioctl(req: libc::Ioctl, r: &mut libc::ifreq) -> io::Result<()> {
    let s = ioctl_socket()?;
    // SAFETY: `r` is a valid, initialised ifreq that outlives the call, which
    // is what every SIOC[GS]IF* request reads or writes. SIOCETHTOOL also
    // writes through `ifru_data`, which its one caller (`driver_info`)
    // points at a buffer of the command's size that outlives the call.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), req, r as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The interface index of `name`.
pub fn index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

/// The MTU of `name`.
pub fn mtu(name: &str) -> io::Result<u32> {
    let mut r = named(name)?;
    ioctl(libc::SIOCGIFMTU, &mut r)?;
    // SAFETY: SIOCGIFMTU filled the `ifru_mtu` member of the union.
    Ok(unsafe { r.ifr_ifru.ifru_mtu } as u32)
}

/// Sets the MTU of `name`.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut r = named(name)?;
    r.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    ioctl(libc::SIOCSIFMTU, &mut r)
}

/// The hardware address of `name`.
pub fn mac(name: &str) -> io::Result<[u8; 6]> {
    let mut r = named(name)?;
    ioctl(libc::SIOCGIFHWADDR, &mut r)?;
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
    let mut m = [0u8; 6];
    for (d, s) in m.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(m)
}

/// Sets the hardware address of `name`.
pub fn set_mac(name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut r = named(name)?;
    // SAFETY: ifru_hwaddr is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in sa.sa_data.iter_mut().zip(mac) {
        *d = s as libc::c_char;
    }
    r.ifr_ifru.ifru_hwaddr = sa;
    ioctl(libc::SIOCSIFHWADDR, &mut r)
}

/// The interface flags (`IFF_UP`, `IFF_RUNNING`, ...).
pub fn flags(name: &str) -> io::Result<i32> {
    let mut r = named(name)?;
    ioctl(libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    Ok(unsafe { r.ifr_ifru.ifru_flags } as i32 & 0xffff)
}

/// Sets or clears `IFF_UP`.
pub fn set_up(name: &str, up: bool) -> io::Result<()> {
    let f = flags(name)?;
    let nf = if up { f | libc::IFF_UP } else { f & !libc::IFF_UP };
    if nf == f {
        return Ok(());
    }
    let mut r = named(name)?;
    r.ifr_ifru.ifru_flags = nf as libc::c_short;
    ioctl(libc::SIOCSIFFLAGS, &mut r)
}

/// `struct ethtool_drvinfo` (linux/ethtool.h), for `ETHTOOL_GDRVINFO`.
#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `ETHTOOL_GDRVINFO`: get driver information.
const ETHTOOL_GDRVINFO: u32 = 0x3;

/// What the driver of `name` says of itself (`ethtool -i`): its name, its
/// version and its firmware's version (each may be empty).
pub fn driver_info(name: &str) -> io::Result<(String, String, String)> {
    // SAFETY: EthtoolDrvinfo is plain old data; all-zero is a valid value.
    let mut info: EthtoolDrvinfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    let mut r = named(name)?;
    r.ifr_ifru.ifru_data = (&mut info as *mut EthtoolDrvinfo).cast();
    // `ioctl` passes `r`, whose data pointer leads to `info`: SIOCETHTOOL
    // with ETHTOOL_GDRVINFO writes at most size_of::<EthtoolDrvinfo>()
    // bytes there, and `info` outlives the call.
    ioctl(libc::SIOCETHTOOL as libc::Ioctl, &mut r)?;
    let text = |b: &[u8]| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    Ok((text(&info.driver), text(&info.version), text(&info.fw_version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_readable_and_bad_names_are_refused() {
        assert_eq!(index("lo").unwrap(), 1);
        assert_eq!(mtu("lo").unwrap(), 65536);
        assert_eq!(mac("lo").unwrap(), [0; 6]);
        assert!(flags("lo").unwrap() & libc::IFF_LOOPBACK != 0);
        let e = mtu("a-name-much-too-long").unwrap_err();
        assert!(e.to_string().contains("a-name-much-too-long"), "{e}");
        assert!(index("rvs-no-such-if").is_err());
        assert!(driver_info("rvs-no-such-if").is_err());
    }
}
