//! One client connection of the [`crate::server`]: reading JSON-RPC
//! messages and running the OVSDB methods.
//!
//! Methods (RFC 7047 section 4.1 and OVS's extensions): `list_dbs`,
//! `get_schema`, `transact`, `monitor`, `monitor_cond`,
//! `monitor_cond_since`, `monitor_cond_change`, `monitor_cancel`, `lock`,
//! `steal`, `unlock`, `echo` and `set_db_change_aware` (accepted and
//! ignored: there is only ever the one database).
//!
//! Errors keep the connection open: a JSON syntax error gets an error reply
//! with a `null` id and the stream is read afresh from the next byte that
//! arrives (what was buffered after the error is dropped); a JSON value that
//! is not a JSON-RPC message gets an error reply with its `id` if it has
//! one; an unknown method gets OVS's `"unknown method"` error. Replies and
//! notifications from the client (answers to the server's `echo` probes)
//! are read and dropped.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rvs_jsonrpc::{Framer, Message};
use serde_json::{json, Value};

use crate::lock::SessionId;
use crate::monitor::{Monitor, Version};
use crate::server::{error_json, lock, may_block, update_message, SessionState, Shared};

/// A connected socket, Unix or TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    /// Shuts both directions down, which ends the connection's threads.
    pub(crate) fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
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

/// Serves one connection until the client closes it or the server stops.
pub(crate) fn run(shared: Arc<Shared>, id: SessionId, stream: Stream) {
    let (Ok(writer_stream), Ok(handle)) = (stream.try_clone(), stream.try_clone()) else {
        tracing::warn!("cannot clone a new connection's socket; closing it");
        return;
    };
    let (tx, rx) = mpsc::channel();
    {
        let mut st = lock(&shared.state);
        // Registered under the lock that `Server::stop` takes to shut every
        // connection down, so a connection accepted while stopping is seen.
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        st.sessions.insert(
            id,
            SessionState { out: tx.clone(), stream: Some(handle), monitors: BTreeMap::new() },
        );
    }
    let writer = thread::spawn(move || write_loop(writer_stream, rx));
    let closed = Arc::new(AtomicBool::new(false));
    let mut session = Session { shared: shared.clone(), id, out: tx, closed: closed.clone() };
    session.read_loop(stream);
    closed.store(true, Ordering::SeqCst);
    {
        let mut st = lock(&shared.state);
        if let Some(s) = st.sessions.remove(&id) {
            if let Some(stream) = s.stream {
                stream.shutdown();
            }
        }
        for (name, owner) in st.locks.release_all(id) {
            if let Some(o) = st.sessions.get(&owner) {
                let _ = o.out.send(Message::notification("locked", vec![name.into()]));
            }
        }
    }
    drop(session);
    shared.committed.notify_all();
    let _ = writer.join();
}

fn write_loop(mut stream: Stream, rx: Receiver<Message>) {
    let mut buf = Vec::new();
    while let Ok(msg) = rx.recv() {
        buf.clear();
        msg.write_bytes(&mut buf);
        // Batch whatever else is queued into one write.
        while let Ok(more) = rx.try_recv() {
            more.write_bytes(&mut buf);
        }
        if stream.write_all(&buf).is_err() {
            stream.shutdown();
            return;
        }
    }
}

struct Session {
    shared: Arc<Shared>,
    id: SessionId,
    out: Sender<Message>,
    /// Set when the connection ends, for transactions still waiting.
    closed: Arc<AtomicBool>,
}

fn unknown_db(name: &Value) -> Value {
    error_json("unknown database", format!("{name} is not a database served here"))
}

impl Session {
    fn send(&self, msg: Message) {
        let _ = self.out.send(msg);
    }

    fn read_loop(&mut self, mut stream: Stream) {
        let probe = *lock(&self.shared.probe_interval);
        if probe.is_some() && stream.set_read_timeout(probe).is_err() {
            return;
        }
        let mut framer = Framer::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut probed = false;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    probed = false;
                    framer.push(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    if probed {
                        tracing::info!(
                            "connection {} silent after an echo probe; closing",
                            self.id
                        );
                        return;
                    }
                    self.send(Message::request("echo", vec![], "echo"));
                    probed = true;
                    continue;
                }
                Err(_) => return,
            }
            loop {
                match framer.next() {
                    None => break,
                    Some(Ok(v)) => self.handle(v),
                    Some(Err(e)) => {
                        self.send(Message::error(
                            error_json("syntax error", e.to_string()),
                            Value::Null,
                        ));
                        framer = Framer::new();
                        break;
                    }
                }
            }
        }
    }

    fn handle(&mut self, v: Value) {
        let id_hint = v.get("id").cloned().unwrap_or(Value::Null);
        match Message::from_value(v) {
            Err(e) => self.send(Message::error(
                error_json("invalid JSON-RPC message", e.to_string()),
                id_hint,
            )),
            Ok(Message::Request { method, params, id }) => self.dispatch(&method, params, id),
            // Echo replies, and notifications no server method takes.
            Ok(_) => {}
        }
    }

    fn check_db(&self, name: Option<&Value>) -> Result<(), Value> {
        let st = lock(&self.shared.state);
        match name {
            Some(Value::String(n)) if n == st.db.schema().name() => Ok(()),
            Some(other) => Err(unknown_db(other)),
            None => Err(error_json("syntax error", "request lacks the database name")),
        }
    }

    fn dispatch(&mut self, method: &str, params: Vec<Value>, id: Value) {
        let result = match method {
            "echo" => Ok(Value::Array(params)),
            "list_dbs" => Ok(json!([lock(&self.shared.state).db.schema().name()])),
            "get_schema" => self
                .check_db(params.first())
                .map(|_| lock(&self.shared.state).db.schema().to_json()),
            "transact" => match self.check_db(params.first()) {
                Err(e) => Err(e),
                Ok(()) => {
                    let ops = Value::Array(params[1..].to_vec());
                    if may_block(&params[1..]) {
                        self.transact_in_background(ops, id);
                        return;
                    }
                    Ok(self.shared.transact(Some(self.id), &ops, &|| true))
                }
            },
            "monitor" => return self.monitor(Version::V1, &params, id),
            "monitor_cond" => return self.monitor(Version::V2, &params, id),
            "monitor_cond_since" => return self.monitor(Version::V3, &params, id),
            "monitor_cond_change" => self.monitor_cond_change(&params),
            "monitor_cancel" => self.monitor_cancel(&params),
            "lock" | "steal" | "unlock" => self.lock_method(method, &params),
            "set_db_change_aware" => Ok(json!({})),
            _ => Err(Value::from("unknown method")),
        };
        self.send(match result {
            Ok(r) => Message::reply(r, id),
            Err(e) => Message::error(e, id),
        });
    }

    /// Runs a transaction that may wait in a thread of its own, so that
    /// this connection's other requests go on.
    fn transact_in_background(&self, ops: Value, id: Value) {
        let shared = self.shared.clone();
        let out = self.out.clone();
        let closed = self.closed.clone();
        let session = self.id;
        let spawned =
            thread::Builder::new().name(format!("ovsdb-wait {session}")).spawn(move || {
                let alive = || !closed.load(Ordering::SeqCst);
                let r = shared.transact(Some(session), &ops, &alive);
                let _ = out.send(Message::reply(r, id));
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a thread for a waiting transaction: {e}");
        }
    }

    fn monitor(&mut self, version: Version, params: &[Value], id: Value) {
        let want = if version == Version::V3 { 4 } else { 3 };
        let reply = (|| {
            self.check_db(params.first())?;
            if params.len() != want {
                return Err(error_json(
                    "syntax error",
                    format!("monitor request needs {want} parameters, got {}", params.len()),
                ));
            }
            let mut st = lock(&self.shared.state);
            let m = Monitor::parse(st.db.schema(), &params[2], version).map_err(|e| e.to_json())?;
            let key = params[1].to_string();
            let st = &mut *st;
            let session = st.sessions.get_mut(&self.id).expect("registered session");
            if session.monitors.contains_key(&key) {
                return Err(error_json(
                    "duplicate monitor ID",
                    format!("monitor {key} already exists"),
                ));
            }
            let result = match version {
                Version::V3 => {
                    let txn_id = st.txn_id.to_string();
                    if params[3].as_str() == Some(txn_id.as_str()) {
                        json!([true, txn_id, {}])
                    } else {
                        json!([false, txn_id, m.initial(&st.db)])
                    }
                }
                _ => m.initial(&st.db),
            };
            session.monitors.insert(key, (params[1].clone(), m));
            // Sent under the lock, so no update of a later commit overtakes it.
            let _ = self.out.send(Message::reply(result, id.clone()));
            Ok(())
        })();
        if let Err(e) = reply {
            self.send(Message::error(e, id));
        }
    }

    fn monitor_cond_change(&mut self, params: &[Value]) -> Result<Value, Value> {
        let [old, new, changes] = params else {
            return Err(error_json("syntax error", "monitor_cond_change needs 3 parameters"));
        };
        let mut st = lock(&self.shared.state);
        let st = &mut *st;
        let session = st.sessions.get_mut(&self.id).expect("registered session");
        let (old_key, new_key) = (old.to_string(), new.to_string());
        if old_key != new_key && session.monitors.contains_key(&new_key) {
            return Err(error_json(
                "duplicate monitor ID",
                format!("monitor {new_key} already exists"),
            ));
        }
        let (_, mut m) = session
            .monitors
            .remove(&old_key)
            .ok_or_else(|| error_json("unknown monitor", format!("no monitor {old_key}")))?;
        let changed = m.change_conditions(&st.db, changes);
        let version = m.version();
        let back = if changed.is_ok() { (new.clone(), new_key) } else { (old.clone(), old_key) };
        session.monitors.insert(back.1, (back.0, m));
        if let Some(u) = changed.map_err(|e| e.to_json())? {
            let txn_id = st.txn_id.to_string();
            let version = if version == Version::V1 { Version::V2 } else { version };
            let _ = self.out.send(update_message(version, new, &txn_id, u));
        }
        Ok(json!({}))
    }

    fn monitor_cancel(&mut self, params: &[Value]) -> Result<Value, Value> {
        let [mid] = params else {
            return Err(error_json("syntax error", "monitor_cancel needs 1 parameter"));
        };
        let mut st = lock(&self.shared.state);
        let session = st.sessions.get_mut(&self.id).expect("registered session");
        match session.monitors.remove(&mid.to_string()) {
            Some(_) => Ok(json!({})),
            None => Err(error_json("unknown monitor", format!("no monitor {mid}"))),
        }
    }

    fn lock_method(&mut self, method: &str, params: &[Value]) -> Result<Value, Value> {
        let [Value::String(name)] = params else {
            return Err(error_json("syntax error", format!("{method} needs one lock name")));
        };
        let mut st = lock(&self.shared.state);
        let notify = |st: &crate::server::State, who, what: &str| {
            if let Some(s) = st.sessions.get(&who) {
                let _ = s.out.send(Message::notification(what, vec![name.clone().into()]));
            }
        };
        let dup = |e: crate::lock::LockError| error_json("duplicate lock", e.to_string());
        match method {
            "lock" => {
                let locked = st.locks.lock(name, self.id).map_err(dup)?;
                Ok(json!({"locked": locked}))
            }
            "steal" => {
                if let Some(victim) = st.locks.steal(name, self.id).map_err(dup)? {
                    notify(&st, victim, "stolen");
                }
                Ok(json!({"locked": true}))
            }
            _ => {
                if let Some(next) = st.locks.unlock(name, self.id) {
                    notify(&st, next, "locked");
                }
                Ok(json!({}))
            }
        }
    }
}
