//! One OpenFlow session with a switch, as ovs-ofctl's `vconn` runs it:
//! connect, exchange hellos, then send requests and read their replies.
//!
//! Transaction ids come from one counter per invocation ([`Xids`]), shared
//! by every connection the invocation opens, because ovs-ofctl numbers them
//! that way and prints them (`OFPST_PORT reply (xid=0x2)`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use rvs_ofproto::ofp::msg::{self, Msg};
use rvs_ofproto::ofp::{MsgType, Protocol, RawMsg, Version, MP_MORE};

use super::OfctlError;

/// The transaction id counter of one invocation (the first id is 1).
#[derive(Debug, Default)]
pub struct Xids(u32);

impl Xids {
    /// The next id.
    pub fn alloc(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

/// Where the switch is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket.
    Unix(PathBuf),
    /// A TCP address `IP:PORT`.
    Tcp(String),
}

impl Target {
    /// Resolves ovs-ofctl's SWITCH argument: `unix:PATH`, `tcp:IP[:PORT]`
    /// (port 6653 by default), an existing socket path, or a bridge name
    /// (`<rundir>/<bridge>.mgmt`).
    pub fn parse(s: &str, rundir: &std::path::Path) -> Result<Target, OfctlError> {
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(Target::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp:") {
            let addr = if a.starts_with('[') {
                if a.contains("]:") {
                    a.to_string()
                } else {
                    format!("{a}:6653")
                }
            } else if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:6653")
            };
            return Ok(Target::Tcp(addr));
        }
        let mgmt = rundir.join(format!("{s}.mgmt"));
        if !s.contains('/') && !s.contains(':') && mgmt.exists() {
            return Ok(Target::Unix(mgmt));
        }
        let p = PathBuf::from(s);
        if std::fs::metadata(&p)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
        {
            return Ok(Target::Unix(p));
        }
        Err(OfctlError::Msg(format!("{s} is not a bridge or a socket")))
    }

    fn name(&self) -> String {
        match self {
            Target::Unix(p) => format!("unix:{}", p.display()),
            Target::Tcp(a) => format!("tcp:{a}"),
        }
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A received message, owned.
#[derive(Debug, Clone)]
pub struct Owned(pub Vec<u8>);

impl Owned {
    /// The message split into headers and body.
    pub fn raw(&self) -> RawMsg<'_> {
        RawMsg::parse(&self.0).expect("checked when received")
    }
}

/// A connected, version-negotiated session.
pub struct Session {
    stream: Stream,
    name: String,
    /// What the session speaks (the flow format may switch to NXM).
    pub proto: Protocol,
}

impl Session {
    /// Connects to `target`, offers the versions in `versions` (a
    /// [`Version::bit`] bitmap) and negotiates.
    pub fn open(
        target: &Target,
        versions: u32,
        timeout: Option<Duration>,
        xids: &mut Xids,
    ) -> Result<Session, OfctlError> {
        let name = target.name();
        let connect_err = |e: std::io::Error| {
            OfctlError::Msg(format!("connecting to {name} ({})", io_reason(&e)))
        };
        let stream = match target {
            Target::Unix(p) => {
                let s = UnixStream::connect(p).map_err(connect_err)?;
                s.set_read_timeout(timeout).map_err(connect_err)?;
                Stream::Unix(s)
            }
            Target::Tcp(a) => {
                let s = TcpStream::connect(a.as_str()).map_err(connect_err)?;
                s.set_read_timeout(timeout).map_err(connect_err)?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        let best = Version::ALL
            .into_iter()
            .rev()
            .find(|v| versions & v.bit() != 0)
            .unwrap_or(Version::V10);
        let mut s = Session { stream, name, proto: Protocol::new(best) };
        let hello = msg::hello(versions, xids.alloc());
        s.send_raw(&hello)?;
        let reply = s.recv()?;
        let raw = reply.raw();
        if raw.ty != MsgType::Hello {
            return Err(OfctlError::Msg(format!(
                "{}: expected hello, received {:?}",
                s.name, raw.ty
            )));
        }
        let theirs = match msg::decode(&raw, s.proto) {
            Ok(Msg::Hello(bits)) => bits,
            _ => raw.version.bit(),
        };
        let Some(v) = msg::negotiate(versions, theirs) else {
            return Err(OfctlError::Msg(format!("{}: failed to connect (Protocol error)", s.name)));
        };
        s.proto = Protocol::new(v);
        Ok(s)
    }

    /// The connection's name (`unix:PATH`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.proto.version
    }

    fn send_raw(&mut self, b: &[u8]) -> Result<(), OfctlError> {
        self.stream
            .io()
            .write_all(b)
            .map_err(|e| OfctlError::Msg(format!("{}: send failed ({})", self.name, io_reason(&e))))
    }

    /// Encodes and sends `m` with transaction id `xid`.
    pub fn send(&mut self, m: &Msg, xid: u32) -> Result<(), OfctlError> {
        if !msg::can_encode(m, self.proto) {
            let what = format!("{m:?}");
            let what = what.split(['(', ' ']).next().unwrap_or_default();
            return Err(OfctlError::Msg(format!(
                "{}: {what} does not exist in {}",
                self.name,
                self.proto.version.name()
            )));
        }
        let b = msg::encode(m, self.proto, xid);
        self.send_raw(&b)
    }

    /// Reads one message, answering echo requests on the way.
    pub fn recv(&mut self) -> Result<Owned, OfctlError> {
        loop {
            let mut head = [0u8; 8];
            self.read_exact(&mut head)?;
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            if len < 8 {
                return Err(OfctlError::Msg(format!(
                    "{}: received message with bad length {len}",
                    self.name
                )));
            }
            let mut b = head.to_vec();
            b.resize(len, 0);
            self.read_exact(&mut b[8..])?;
            let raw = RawMsg::parse(&b).map_err(|e| {
                OfctlError::Msg(format!("{}: received bad message ({e})", self.name))
            })?;
            if raw.ty == MsgType::EchoRequest {
                let reply = msg::encode(&Msg::EchoReply(raw.body.to_vec()), self.proto, raw.xid);
                self.send_raw(&reply)?;
                continue;
            }
            return Ok(Owned(b));
        }
    }

    fn read_exact(&mut self, b: &mut [u8]) -> Result<(), OfctlError> {
        self.stream.io().read_exact(b).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "End of file".to_string()
            } else if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                return OfctlError::Timeout;
            } else {
                io_reason(&e)
            };
            OfctlError::Msg(format!("OpenFlow packet receive failed ({why})"))
        })
    }

    /// Sends `m` and collects every reply with the same xid (all the parts
    /// of a multipart reply). An error reply ends the transaction.
    pub fn transact(&mut self, m: &Msg, xid: u32) -> Result<Vec<Owned>, OfctlError> {
        self.send(m, xid)?;
        let mut out = Vec::new();
        loop {
            let r = self.recv()?;
            let raw = r.raw();
            if raw.xid != xid {
                continue;
            }
            let more = raw.mp_flags & MP_MORE != 0
                && matches!(raw.ty, MsgType::MultipartReply(_) | MsgType::VendorMultipartReply(..));
            out.push(r);
            if !more {
                return Ok(out);
            }
        }
    }

    /// Sends each of `msgs` (with its xid), then a barrier, and returns the
    /// error replies received before the barrier reply.
    pub fn transact_noreply(
        &mut self,
        msgs: &[(Msg, u32)],
        xids: &mut Xids,
    ) -> Result<Vec<Owned>, OfctlError> {
        for (m, xid) in msgs {
            self.send(m, *xid)?;
        }
        let bxid = xids.alloc();
        self.send(&Msg::BarrierRequest, bxid)?;
        let mut errors = Vec::new();
        loop {
            let r = self.recv()?;
            let raw = r.raw();
            if raw.ty == MsgType::BarrierReply && raw.xid == bxid {
                return Ok(errors);
            }
            if raw.ty == MsgType::Error {
                errors.push(r);
            }
        }
    }
}

/// The strerror-like text of an I/O error, as OVS prints it.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        std::io::ErrorKind::BrokenPipe => "Broken pipe".into(),
        std::io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
