//! Client streams named the way OVS names them: `unix:PATH` or
//! `tcp:IP:PORT` (OVS's active remotes, as `--db=` and `ovs-vswitchd`'s
//! database argument take them).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::ReadTimeout;

/// A connected stream, Unix or TCP.
#[derive(Debug)]
pub enum Stream {
    /// `unix:PATH`.
    Unix(UnixStream),
    /// `tcp:IP:PORT`.
    Tcp(TcpStream),
}

impl Stream {
    /// Connects to `remote`, `unix:PATH` or `tcp:IP:PORT` (an IPv6 address
    /// in brackets, `tcp:[::1]:6640`). Anything else is refused with an
    /// [`io::ErrorKind::InvalidInput`] error that names it.
    pub fn connect(remote: &str) -> io::Result<Stream> {
        if let Some(path) = remote.strip_prefix("unix:") {
            Ok(Stream::Unix(UnixStream::connect(path)?))
        } else if let Some(addr) = remote.strip_prefix("tcp:") {
            let s = TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            Ok(Stream::Tcp(s))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("remote \"{remote}\" is neither unix:PATH nor tcp:IP:PORT"),
            ))
        }
    }

    /// Whether `remote` has a form that [`Stream::connect`] takes.
    pub fn is_remote(remote: &str) -> bool {
        remote.starts_with("unix:") || remote.starts_with("tcp:")
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

impl ReadTimeout for Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(timeout),
            Stream::Tcp(s) => s.set_read_timeout(timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_remote_is_named() {
        let e = Stream::connect("ssl:1.2.3.4:6640").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "remote \"ssl:1.2.3.4:6640\" is neither unix:PATH nor tcp:IP:PORT"
        );
    }

    #[test]
    fn tcp_round_trip() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut s = Stream::connect(&format!("tcp:{addr}")).unwrap();
        let (mut peer, _) = l.accept().unwrap();
        s.write_all(b"hi").unwrap();
        let mut buf = [0; 2];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }
}
