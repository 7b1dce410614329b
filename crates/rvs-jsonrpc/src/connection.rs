//! A blocking JSON-RPC connection over a byte stream.
//!
//! [`Connection`] pairs a stream with a [`Framer`]: [`Connection::send`]
//! writes one message, [`Connection::recv`] reads until one whole message has
//! arrived. It is meant for clients and simple servers (tests, `rvs-appctl`);
//! the daemon's event loop can use [`Framer`] and [`Message`] directly.
//!
//! Thread safety: a `Connection` is used from one thread at a time (`&mut`).
//! Blocking: `send` blocks until the whole message is written, `recv` and
//! `transact` until a message arrives (or the peer closes); the `_timeout`
//! variants bound the wait for streams that implement [`ReadTimeout`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{FrameError, Framer, Message, MessageError};

/// What can go wrong on a [`Connection`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the stream failed.
    #[error("JSON-RPC connection I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer sent bytes that are not a stream of JSON texts. The
    /// connection cannot recover: OVS closes it.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The peer sent valid JSON that is not a JSON-RPC message. OVS closes
    /// the connection; later messages can still be read here.
    #[error("invalid JSON-RPC message: {0}")]
    Message(#[from] MessageError),
    /// The peer closed the connection between messages.
    #[error("JSON-RPC connection closed by peer")]
    Closed,
    /// The peer closed the connection in the middle of a message.
    #[error("JSON-RPC connection closed by peer in the middle of a message")]
    Truncated,
    /// No message arrived in time.
    #[error("timed out after {0:?} waiting for a JSON-RPC message")]
    Timeout(Duration),
    /// [`Connection::transact`] was handed something other than a request.
    #[error("transact needs a request, got a {0}")]
    NotARequest(&'static str),
}

/// Streams whose reads can time out, for [`Connection::recv_timeout`].
pub trait ReadTimeout {
    /// Sets the read timeout; `None` blocks forever. Never called with a
    /// zero duration.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl ReadTimeout for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
}

impl ReadTimeout for std::net::TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, timeout)
    }
}

/// A blocking JSON-RPC 1.0 connection over a stream `S`.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    framer: Framer,
    /// Messages that arrived while [`Connection::transact`] waited for its
    /// reply; [`Connection::recv`] hands them out first.
    pending: VecDeque<Message>,
    next_id: u64,
    read_buf: Vec<u8>,
}

impl Connection<UnixStream> {
    /// Connects to the Unix socket at `path`.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::new(UnixStream::connect(path)?))
    }
}

impl<S: Read + Write> Connection<S> {
    /// A connection over `stream` whose framer has the default size limit.
    pub fn new(stream: S) -> Self {
        Self::with_framer(stream, Framer::new())
    }

    /// A connection over `stream` that frames with `framer` (e.g. one from
    /// [`Framer::with_max_len`]).
    pub fn with_framer(stream: S, framer: Framer) -> Self {
        Connection {
            stream,
            framer,
            pending: VecDeque::new(),
            next_id: 0,
            read_buf: vec![0; 64 * 1024],
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably. Reading from it directly loses bytes
    /// that the framer would have seen.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// A fresh id for a request: 0, 1, 2, ... on this connection.
    pub fn next_id(&mut self) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        Value::from(id)
    }

    /// Writes `msg` and flushes the stream.
    pub fn send(&mut self, msg: &Message) -> Result<(), Error> {
        self.stream.write_all(&msg.to_bytes())?;
        self.stream.flush()?;
        Ok(())
    }

    /// Blocks until a message arrives and returns it.
    pub fn recv(&mut self) -> Result<Message, Error> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(m);
        }
        self.read_message(None, |_, _| Ok(()))
    }

    /// Sends `request` and waits for the reply or error with the same id,
    /// which it returns. Other messages that arrive meanwhile (notifications,
    /// `echo` probes) are kept for later [`Connection::recv`] calls.
    pub fn transact(&mut self, request: Message) -> Result<Message, Error> {
        self.transact_inner(request, None, |_, _| Ok(()))
    }

    fn transact_inner(
        &mut self,
        request: Message,
        deadline: Option<(Instant, Duration)>,
        set_timeout: impl FnMut(&S, Option<Duration>) -> io::Result<()> + Copy,
    ) -> Result<Message, Error> {
        let Message::Request { id, .. } = &request else {
            return Err(Error::NotARequest(request.kind()));
        };
        let id = id.clone();
        self.send(&request)?;
        loop {
            let msg = self.read_message(deadline, set_timeout)?;
            match &msg {
                Message::Reply { id: got, .. } | Message::Error { id: got, .. } if *got == id => {
                    return Ok(msg)
                }
                _ => self.pending.push_back(msg),
            }
        }
    }

    /// Reads from the stream (never from `pending`) until a whole message
    /// has arrived. `deadline` is the instant to give up and the total wait,
    /// for the error.
    fn read_message(
        &mut self,
        deadline: Option<(Instant, Duration)>,
        mut set_timeout: impl FnMut(&S, Option<Duration>) -> io::Result<()>,
    ) -> Result<Message, Error> {
        let result = loop {
            match self.framer.next() {
                Some(Ok(value)) => break Message::from_value(value).map_err(Error::from),
                Some(Err(e)) => break Err(e.into()),
                None => {}
            }
            if let Some((at, total)) = deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break Err(Error::Timeout(total));
                }
                if let Err(e) = set_timeout(&self.stream, Some(left)) {
                    break Err(e.into());
                }
            }
            match self.stream.read(&mut self.read_buf) {
                Ok(0) if self.framer.is_mid_text() => break Err(Error::Truncated),
                Ok(0) => break Err(Error::Closed),
                Ok(n) => self.framer.push(&self.read_buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if deadline.is_some()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                Err(e) => break Err(e.into()),
            }
        };
        if deadline.is_some() {
            set_timeout(&self.stream, None)?;
        }
        result
    }
}

impl<S: Read + Write + ReadTimeout> Connection<S> {
    /// Like [`Connection::recv`], but gives up with [`Error::Timeout`] after
    /// `timeout`. Bytes of a message that arrived in part stay buffered for
    /// the next call.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Message, Error> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(m);
        }
        let deadline = Some((Instant::now() + timeout, timeout));
        self.read_message(deadline, |s: &S, t| s.set_read_timeout(t))
    }

    /// Like [`Connection::transact`], but gives up with [`Error::Timeout`]
    /// if the reply has not arrived after `timeout`.
    pub fn transact_timeout(
        &mut self,
        request: Message,
        timeout: Duration,
    ) -> Result<Message, Error> {
        let deadline = Some((Instant::now() + timeout, timeout));
        self.transact_inner(request, deadline, |s: &S, t| s.set_read_timeout(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::thread;

    #[test]
    fn transact_matches_the_id_and_keeps_other_messages() {
        let (a, b) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || {
            let mut conn = Connection::new(b);
            let Message::Request { method, params, id } = conn.recv().unwrap() else {
                panic!("expected a request");
            };
            assert_eq!(method, "echo");
            // A notification and a reply to some other request come first,
            // written in one go and split oddly.
            let mut bytes = Message::notification("update", vec![json!(1)]).to_bytes();
            bytes.extend(Message::reply("other", json!(99)).to_bytes());
            bytes.extend(Message::reply(params, id).to_bytes());
            for chunk in bytes.chunks(7) {
                conn.get_mut().write_all(chunk).unwrap();
            }
        });
        let mut conn = Connection::new(a);
        let id = conn.next_id();
        let reply = conn
            .transact_timeout(
                Message::request("echo", vec![json!("hi")], id),
                Duration::from_secs(10),
            )
            .unwrap();
        assert_eq!(reply, Message::reply(json!(["hi"]), json!(0)));
        assert_eq!(conn.recv().unwrap(), Message::notification("update", vec![json!(1)]));
        assert_eq!(conn.recv().unwrap(), Message::reply("other", json!(99)));
        server.join().unwrap();
        assert!(matches!(conn.recv(), Err(Error::Closed)));
    }

    #[test]
    fn timeout_then_message_still_arrives() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Connection::new(a);
        b.write_all(br#"{"method":"x","params":[],"#).unwrap();
        let err = conn.recv_timeout(Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err}");
        b.write_all(br#""id":1}"#).unwrap();
        let m = conn.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(m, Message::request("x", vec![], 1));
        b.write_all(b"[").unwrap();
        drop(b);
        assert!(matches!(conn.recv(), Err(Error::Truncated)));
    }

    #[test]
    fn errors_are_reported() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut conn = Connection::new(a);
        b.write_all(br#"{"method":"x","params":"p","id":1} 7"#).unwrap();
        let e = conn.recv().unwrap_err();
        assert_eq!(e.to_string(), "invalid JSON-RPC message: params must be an array, got string");
        assert!(matches!(conn.recv(), Err(Error::Frame(_))));
        assert!(matches!(conn.recv(), Err(Error::Frame(_))));
        assert!(matches!(
            conn.transact(Message::reply(1, json!(1))),
            Err(Error::NotARequest("reply"))
        ));
    }
}
