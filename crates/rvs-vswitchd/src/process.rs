//! Process life cycle, as OVS's `lib/daemon-unix.c` and
//! `lib/fatal-signal.c` do it: `--detach` (fork; the parent waits until
//! the child says it is ready, then exits 0), the pidfile, and a clean
//! exit on SIGTERM, SIGINT and SIGHUP.
//!
//! Signals are never handled asynchronously: they are blocked in every
//! thread (the mask is set before the first thread starts, so each thread
//! inherits it) and one thread takes them synchronously with `sigwait`,
//! then asks the main thread to shut down like the `exit` command does.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

/// Signals that make the daemon exit cleanly.
const EXIT_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn exit_sigset() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is valid storage; sigemptyset then
    // initialises it properly.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live, writable sigset_t; the signal numbers are
    // valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in EXIT_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
    }
    set
}

/// Blocks the exit signals in the calling thread and so in every thread
/// it starts afterwards. Call before any thread exists.
pub fn block_exit_signals() -> std::io::Result<()> {
    let set = exit_sigset();
    // SAFETY: `set` is initialised; the old mask is not wanted (null).
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(std::io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Starts the thread that waits for an exit signal and then sends on
/// `exit` (once).
pub fn spawn_signal_thread(exit: Sender<()>) -> std::io::Result<()> {
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let set = exit_sigset();
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is initialised and `sig` is a live int that sigwait
        // writes the signal number into.
        let r = unsafe { libc::sigwait(&set, &mut sig) };
        if r == 0 {
            let name = match sig {
                libc::SIGTERM => "SIGTERM",
                libc::SIGINT => "SIGINT",
                _ => "SIGHUP",
            };
            tracing::info!("{name} received, exiting");
        }
        let _ = exit.send(());
    })?;
    Ok(())
}

/// The child's side of `--detach`: tells the waiting parent when the
/// daemon is ready.
pub struct Detached {
    ready: Option<OwnedFd>,
}

/// Forks. The parent waits until the child calls [`Detached::ready`] and
/// exits 0, or exits 1 if the child dies first (its errors went to the
/// shared stderr). The child starts a new session and returns.
///
/// Must be called while the process has one thread.
pub fn detach() -> std::io::Result<Detached> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are fresh descriptors that nothing
    // else owns.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the process is single-threaded here (documented
    // precondition), so the child may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        drop(wr);
        let mut f = std::fs::File::from(rd);
        let mut b = [0u8; 1];
        let code = match f.read(&mut b) {
            Ok(1) if b[0] == b'R' => 0,
            _ => {
                let mut status = 0;
                // SAFETY: `pid` is our child; `status` is a live int.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                eprintln!(
                    "rvs-vswitchd: the detached daemon (pid {pid}) exited before it was ready"
                );
                1
            }
        };
        std::process::exit(code);
    }
    drop(rd);
    // SAFETY: setsid has no memory-safety preconditions.
    unsafe { libc::setsid() };
    Ok(Detached { ready: Some(wr) })
}

impl Detached {
    /// The daemon is ready: points stdin, stdout and stderr at
    /// `/dev/null` (logs go to the `--log-file`), changes to `/` unless
    /// `no_chdir`, and lets the parent exit.
    pub fn ready(&mut self, no_chdir: bool) {
        if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
            use std::os::fd::AsRawFd;
            for fd in 0..3 {
                // SAFETY: dup2 onto the standard descriptors from a valid
                // open file; Rust's std handles use the numbers, not
                // owned objects, so they stay valid.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        if !no_chdir {
            let _ = std::env::set_current_dir("/");
        }
        if let Some(fd) = self.ready.take() {
            let mut f = std::fs::File::from(fd);
            let _ = std::io::Write::write_all(&mut f, b"R");
        }
    }
}

/// The pidfile: written when the daemon is ready, removed on drop.
pub struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    /// Writes this process's id to `path`.
    pub fn create(path: &Path) -> std::io::Result<Pidfile> {
        std::fs::write(path, format!("{}\n", std::process::id()))?;
        Ok(Pidfile { path: path.to_path_buf() })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `path` made absolute against the current directory (so it survives
/// the `chdir("/")` of `--detach`).
pub fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
