//! The system calls the datapath needs that std lacks: eventfd (to wake a
//! poll thread or signal a software queue), epoll (to block an idle poll
//! thread until a queue has packets), interface ioctls ([`ifreq`]). Every
//! `unsafe` block of the crate lives under this module.

pub mod fanout;
pub mod ifreq;
pub mod packet;
pub mod tun;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A Linux eventfd in non-blocking mode: a counter that is readable (in the
/// epoll sense) while non-zero.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// Creates an eventfd with counter zero, non-blocking and close-on-exec.
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; the flags are valid constants.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, making the fd readable.
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an fd we own. A failure
        // (EAGAIN when the counter is saturated) leaves it readable, which is
        // all a signal needs, so the result is ignored.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Resets the counter to zero (the fd stops being readable).
    pub fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live local from an fd we own;
        // EAGAIN (counter already zero) is the expected failure.
        let _ = unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), std::mem::size_of::<u64>())
        };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// An epoll instance, edge-triggered, with a `u64` token per fd.
///
/// Edge-triggered so that nobody has to read an eventfd back to zero (a
/// system call per poll iteration): a poll thread only sleeps after a round
/// in which every queue came back empty, and any readiness change after that
/// is latched by the kernel until `epoll_wait`.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// Creates an epoll instance.
    pub fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by epoll_create1 and is ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Watches `fd` for becoming readable (edge-triggered), reporting `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev =
            libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: token };
        // SAFETY: `ev` is a valid epoll_event that outlives the call; the
        // kernel copies it.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops watching `fd`. Errors (fd already closed) are ignored: the
    /// kernel drops closed fds from the set by itself.
    pub fn del(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; a non-null event pointer keeps old kernels happy.
        let _ = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Waits until a watched fd is readable or `timeout` passes; returns the
    /// number of ready fds (0 on timeout or interruption).
    pub fn wait(&self, timeout: Duration) -> io::Result<usize> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        self.wait_into(&mut evs, ms)
    }

    /// Appends to `tokens` those of the fds that became readable since the
    /// last call (without waiting), at most 32 at a time.
    pub fn ready_tokens(&self, tokens: &mut Vec<u64>) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 32];
        let n = self.wait_into(&mut evs, 0)?;
        tokens.extend(evs[..n].iter().map(|e| e.u64));
        Ok(())
    }

    /// `epoll_wait` into `evs` for up to `ms` milliseconds; returns how many
    /// entries it filled (0 when interrupted).
    fn wait_into(&self, evs: &mut [libc::epoll_event], ms: i32) -> io::Result<usize> {
        // SAFETY: `evs` is a live slice whose length we pass; the kernel
        // writes at most that many entries.
        let n = unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, ms)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

/// Restricts the calling thread to CPU `cpu` (`sched_setaffinity`).
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no CPU {cpu}")));
    }
    // SAFETY: `cpu` is below the set's size (checked above), and `set` is
    // a valid cpu_set_t.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed, read during the
    // call only; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs the calling thread may run on (`sched_getaffinity`).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most the size passed into the live `set`;
    // pid 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = 8 * std::mem::size_of_val(&set);
    // SAFETY: every index is below the set's size.
    Ok((0..n).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect())
}

/// Number of file descriptors this process has open (for leak tests).
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_wakes_epoll() {
        let e = EventFd::new().unwrap();
        let p = Epoll::new().unwrap();
        p.add(e.as_raw_fd(), 7).unwrap();
        assert_eq!(p.wait(Duration::from_millis(0)).unwrap(), 0);
        e.signal();
        assert_eq!(p.wait(Duration::from_millis(1000)).unwrap(), 1);
        // Edge-triggered: reported once, without reading the counter back.
        assert_eq!(p.wait(Duration::from_millis(0)).unwrap(), 0);
        e.signal();
        assert_eq!(p.wait(Duration::from_millis(1000)).unwrap(), 1);
        assert_eq!(p.wait(Duration::from_millis(0)).unwrap(), 0);
        assert!(!allowed_cpus().unwrap().is_empty());
        // Without waiting, by token.
        let mut tokens = Vec::new();
        p.ready_tokens(&mut tokens).unwrap();
        assert!(tokens.is_empty());
        e.signal();
        p.ready_tokens(&mut tokens).unwrap();
        assert_eq!(tokens, [7]);
    }
}
