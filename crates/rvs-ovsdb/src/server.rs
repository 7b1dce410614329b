//! An OVSDB server (RFC 7047) that a daemon embeds or that runs on its own
//! (`rvs-ovsdb-server`).
//!
//! # Life cycle
//!
//! [`Server::open`] (a database file) or [`Server::in_memory`] (a schema)
//! makes a server; [`Server::listen`] opens a remote (`punix:PATH`, or
//! `ptcp:PORT[:IP]`) and starts accepting JSON-RPC clients on it;
//! [`Server::stop`] (or dropping the server) closes the listeners and every
//! connection, removes the socket files and returns when the threads are
//! done.
//!
//! # Threads
//!
//! One thread per listener accepts connections; each connection gets a
//! reader thread, which parses requests and runs them, and a writer thread,
//! which drains the connection's outgoing queue, so a slow client never
//! blocks a commit. A `transact` whose `wait` has a nonzero (or no)
//! `timeout` runs in a thread of its own that retries after every commit
//! until the condition holds or the timeout passes, so it blocks neither
//! the server nor the other requests on its connection.
//!
//! All state (the database, its file, the monitors of every connection, the
//! locks) sits behind one mutex. A commit, under it: runs the transaction on
//! a copy of the database, appends it to the file and syncs the file, then
//! installs the copy, queues the monitor updates of every connection and the
//! [`Changes`] of every [`Server::subscribe`]r, and wakes the waiting
//! transactions. So the reply to a transaction leaves only once it is on
//! disk, and every observer sees commits in commit order.
//!
//! # Embedding
//!
//! A daemon calls [`Server::transact`] with a list of operations, as a
//! client would send them, and gets the result array; it follows the
//! database through [`Server::subscribe`], which hands it a consistent
//! snapshot and a channel of every commit after it.
//!
//! Sockets are created with mode 0700 (owner only), set right after `bind`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rvs_jsonrpc::Message;
use serde_json::{json, Value};

use crate::db::{Changes, Database};
use crate::lock::{Locks, SessionId};
use crate::monitor::{Monitor, Version};
use crate::schema::{Schema, SchemaError};
use crate::session::{self, Stream};
use crate::storage::{Storage, StorageError};
use crate::transaction::transact_with;
use crate::uuid::Uuid;

/// What can go wrong setting up or running a server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database file could not be created, read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The schema file is invalid.
    #[error("schema: {0}")]
    Schema(#[from] SchemaError),
    /// A remote that is neither `punix:PATH` nor `ptcp:PORT[:IP]`.
    #[error("remote \"{0}\" is not punix:PATH or ptcp:PORT[:IP]")]
    BadRemote(String),
    /// Listening on a remote failed.
    #[error("cannot listen on {remote}: {source}")]
    Listen {
        /// The remote.
        remote: String,
        /// The system's error.
        source: io::Error,
    },
    /// The server has no database file (it is in memory).
    #[error("the database is in memory; there is no file to compact")]
    NoStorage,
}

/// Locks `m`, carrying on if a thread panicked while holding it: the
/// state is only ever replaced whole, never left half-written.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection's entry in the shared state.
pub(crate) struct SessionState {
    /// The connection's outgoing queue.
    pub(crate) out: Sender<Message>,
    /// A handle on the socket, to shut it down when the server stops.
    pub(crate) stream: Option<Stream>,
    /// Monitors by the JSON text of their id, with the id itself.
    pub(crate) monitors: BTreeMap<String, (Value, Monitor)>,
}

/// Everything behind the server's mutex.
pub(crate) struct State {
    pub(crate) db: Database,
    storage: Option<Storage>,
    /// The id of the last commit, for `monitor_cond_since`.
    pub(crate) txn_id: Uuid,
    pub(crate) sessions: HashMap<SessionId, SessionState>,
    pub(crate) locks: Locks,
    subscribers: Vec<Sender<Arc<Changes>>>,
}

/// What the server's threads share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Signalled after every commit and when the server stops.
    pub(crate) committed: Condvar,
    pub(crate) stopping: AtomicBool,
    next_session: AtomicU64,
    pub(crate) probe_interval: Mutex<Option<Duration>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// How long a waiting transaction sleeps at most before it checks whether
/// its client or the server went away.
const WAIT_POLL: Duration = Duration::from_millis(200);

/// An OVSDB server for one database.
pub struct Server {
    shared: Arc<Shared>,
    listeners: Mutex<Vec<Listener>>,
}

struct Listener {
    wake: Wake,
    thread: Option<JoinHandle<()>>,
}

enum Wake {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Server {
    /// A server for `db`, logging commits to `storage` if given.
    pub fn new(db: Database, storage: Option<Storage>) -> Server {
        let state = State {
            db,
            storage,
            txn_id: Uuid::new_v4(),
            sessions: HashMap::new(),
            locks: Locks::default(),
            subscribers: Vec::new(),
        };
        Server {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                committed: Condvar::new(),
                stopping: AtomicBool::new(false),
                next_session: AtomicU64::new(1),
                probe_interval: Mutex::new(None),
                threads: Mutex::new(Vec::new()),
            }),
            listeners: Mutex::new(Vec::new()),
        }
    }

    /// A server for an empty database of `schema`, kept in memory only.
    pub fn in_memory(schema: Schema) -> Server {
        Server::new(Database::new(schema), None)
    }

    /// A server for the database file at `path`. If the file does not exist
    /// and `create_from` names a schema file, the database is created empty
    /// from it. A damaged tail of the file is cut off with a warning (see
    /// [`crate::storage`]).
    pub fn open(path: impl AsRef<Path>, create_from: Option<&Path>) -> Result<Server, ServerError> {
        let path = path.as_ref();
        let (storage, db) = match create_from {
            Some(schema) if !path.exists() => Storage::create(path, Schema::from_file(schema)?)?,
            _ => Storage::open(path)?,
        };
        Ok(Server::new(db, Some(storage)))
    }

    /// The damaged tail cut off when the database file was opened, if any.
    pub fn truncation(&self) -> Option<crate::storage::Truncation> {
        lock(&self.shared.state).storage.as_ref().and_then(|s| s.truncation().cloned())
    }

    /// Sends an `echo` request to a connection that has been silent for
    /// `interval` and closes it if another `interval` passes in silence.
    /// `None` (the default, as OVS does on Unix sockets) never probes.
    /// Applies to connections accepted afterwards.
    pub fn set_probe_interval(&self, interval: Option<Duration>) {
        *lock(&self.shared.probe_interval) = interval;
    }

    /// The database's name.
    pub fn db_name(&self) -> String {
        lock(&self.shared.state).db.schema().name().to_string()
    }

    /// A snapshot of the database (cheap: tables are shared until written).
    pub fn database(&self) -> Database {
        lock(&self.shared.state).db.clone()
    }

    /// A snapshot of the database and a channel that receives the
    /// [`Changes`] of every commit after that snapshot, in order. Dropping
    /// the receiver unsubscribes.
    pub fn subscribe(&self) -> (Database, Receiver<Arc<Changes>>) {
        let (tx, rx) = mpsc::channel();
        let mut st = lock(&self.shared.state);
        st.subscribers.push(tx);
        (st.db.clone(), rx)
    }

    /// Runs a transaction as a client's `transact` would and returns its
    /// result array. `ops` is the array of operations, optionally preceded
    /// by the database name (the `params` of a `transact` request). A
    /// `wait` with a timeout blocks the caller until its condition holds or
    /// the timeout passes. The commit is on disk when this returns.
    pub fn transact(&self, ops: &Value) -> Value {
        let ops = match ops {
            Value::Array(list) if list.first().is_some_and(Value::is_string) => {
                let name = self.db_name();
                if list[0] != name.as_str() {
                    let e = error_json("unknown database", format!("{} is not {name}", list[0]));
                    return json!([e]);
                }
                Value::Array(list[1..].to_vec())
            }
            other => other.clone(),
        };
        self.shared.transact(None, &ops, &|| true)
    }

    /// Rewrites the database file as one snapshot now.
    pub fn compact(&self) -> Result<(), ServerError> {
        let mut st = lock(&self.shared.state);
        let State { db, storage, .. } = &mut *st;
        storage.as_mut().ok_or(ServerError::NoStorage)?.compact(db)?;
        Ok(())
    }

    /// Listens on `remote`, `punix:PATH` (a Unix socket, mode 0700; a stale
    /// socket file is replaced) or `ptcp:PORT[:IP]` (IP defaults to
    /// 0.0.0.0; port 0 picks a free one). Returns the address bound, as a
    /// remote a client can connect to (`unix:PATH` or `tcp:IP:PORT`).
    pub fn listen(&self, remote: &str) -> Result<String, ServerError> {
        let listen_err = |source| ServerError::Listen { remote: remote.to_string(), source };
        let (acceptor, wake, bound) = if let Some(path) = remote.strip_prefix("punix:") {
            let path = PathBuf::from(path);
            if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = fs::remove_file(&path);
            }
            let l = UnixListener::bind(&path).map_err(listen_err)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(listen_err)?;
            let bound = format!("unix:{}", path.display());
            (Acceptor::Unix(l), Wake::Unix(path), bound)
        } else if let Some(rest) = remote.strip_prefix("ptcp:") {
            let (port, ip) = match rest.split_once(':') {
                Some((p, ip)) => (p, ip),
                None => (rest, "0.0.0.0"),
            };
            let addr: SocketAddr = format!("{ip}:{port}")
                .parse()
                .or_else(|_| format!("[{ip}]:{port}").parse())
                .map_err(|_| ServerError::BadRemote(remote.to_string()))?;
            let l = TcpListener::bind(addr).map_err(listen_err)?;
            let local = l.local_addr().map_err(listen_err)?;
            (Acceptor::Tcp(l), Wake::Tcp(local), format!("tcp:{local}"))
        } else {
            return Err(ServerError::BadRemote(remote.to_string()));
        };
        let shared = self.shared.clone();
        let thread = thread::Builder::new()
            .name(format!("ovsdb-listen {remote}"))
            .spawn(move || accept_loop(shared, acceptor))
            .map_err(listen_err)?;
        lock(&self.listeners).push(Listener { wake, thread: Some(thread) });
        Ok(bound)
    }

    /// Stops listening, closes every connection, removes the socket files
    /// and waits for the server's threads. Idempotent.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let listeners: Vec<Listener> = std::mem::take(&mut *lock(&self.listeners));
        for mut l in listeners {
            // Wake the blocking accept; it sees `stopping` and returns.
            match &l.wake {
                Wake::Unix(p) => drop(UnixStream::connect(p)),
                Wake::Tcp(a) => {
                    let _ = TcpStream::connect_timeout(a, Duration::from_secs(1));
                }
            }
            if let Some(t) = l.thread.take() {
                let _ = t.join();
            }
            if let Wake::Unix(p) = &l.wake {
                let _ = fs::remove_file(p);
            }
        }
        {
            let st = lock(&self.shared.state);
            for s in st.sessions.values() {
                if let Some(stream) = &s.stream {
                    stream.shutdown();
                }
            }
        }
        self.shared.committed.notify_all();
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

enum Acceptor {
    Unix(UnixListener),
    Tcp(TcpListener),
}

fn accept_loop(shared: Arc<Shared>, acceptor: Acceptor) {
    loop {
        let accepted = match &acceptor {
            Acceptor::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Acceptor::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok(stream) => {
                let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
                let sh = shared.clone();
                let spawned = thread::Builder::new()
                    .name(format!("ovsdb-session {id}"))
                    .spawn(move || session::run(sh, id, stream));
                match spawned {
                    Ok(t) => {
                        let mut threads = lock(&shared.threads);
                        threads.retain(|t| !t.is_finished());
                        threads.push(t);
                    }
                    Err(e) => tracing::warn!("cannot start a thread for a new connection: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors, say: back off rather than spin.
                tracing::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The error object `{"error": kind, "details": details}`.
pub(crate) fn error_json(kind: &str, details: impl Into<String>) -> Value {
    json!({"error": kind, "details": details.into()})
}

/// If the transaction failed on a `wait` that may still come true, the
/// deadline to retry until (`Some(None)`: no timeout).
fn wait_deadline(ops: &Value, result: &Value, start: Instant) -> Option<Option<Instant>> {
    let results = result.as_array()?;
    let i = results.iter().position(|r| r.get("error").is_some())?;
    if results[i]["error"] != "timed out" {
        return None;
    }
    let op = ops.as_array()?.get(i)?;
    if op["op"] != "wait" {
        return None;
    }
    match op.get("timeout").and_then(Value::as_u64) {
        None if op.get("timeout").is_none() => Some(None),
        Some(ms) if ms > 0 => Some(Some(start + Duration::from_millis(ms))),
        _ => None,
    }
}

/// Whether `ops` has a `wait` that may block (a timeout other than 0).
pub(crate) fn may_block(ops: &[Value]) -> bool {
    ops.iter().any(|op| op["op"] == "wait" && op.get("timeout").and_then(Value::as_i64) != Some(0))
}

impl Shared {
    /// Runs `ops` for `session`, retrying a failed `wait` after each commit
    /// until it holds, its timeout passes, `alive` says the requester is
    /// gone or the server stops.
    pub(crate) fn transact(
        &self,
        session: Option<SessionId>,
        ops: &Value,
        alive: &dyn Fn() -> bool,
    ) -> Value {
        let start = Instant::now();
        let mut st = lock(&self.state);
        loop {
            let result = self.commit_locked(&mut st, session, ops);
            let Some(deadline) = wait_deadline(ops, &result, start) else { return result };
            let now = Instant::now();
            if self.stopping.load(Ordering::SeqCst) || !alive() {
                return result;
            }
            let nap = match deadline {
                Some(d) if d <= now => return result,
                Some(d) => (d - now).min(WAIT_POLL),
                None => WAIT_POLL,
            };
            st = self.committed.wait_timeout(st, nap).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Runs `ops` once; commits, logs and notifies on success.
    fn commit_locked(&self, st: &mut State, session: Option<SessionId>, ops: &Value) -> Value {
        let mut work = st.db.clone();
        let locks = &st.locks;
        let owns = |name: &str| session.is_some_and(|s| locks.owner(name) == Some(s));
        let out = transact_with(&mut work, ops, &owns);
        let Some(changes) = out.changes else { return out.result };
        if changes.is_empty() {
            return out.result;
        }
        if let Some(storage) = &mut st.storage {
            let comments: Vec<&str> = ops
                .as_array()
                .into_iter()
                .flatten()
                .filter(|op| op["op"] == "comment")
                .filter_map(|op| op["comment"].as_str())
                .collect();
            let comment = (!comments.is_empty()).then(|| comments.join("\n"));
            if let Err(e) = storage.append(work.schema(), &changes, comment.as_deref()) {
                tracing::error!("{e}");
                let mut result = out.result.as_array().cloned().unwrap_or_default();
                result.push(error_json("I/O error", e.to_string()));
                return Value::Array(result);
            }
        }
        st.db = work;
        st.txn_id = Uuid::new_v4();
        let changes = Arc::new(changes);
        let txn_id = st.txn_id.to_string();
        for s in st.sessions.values() {
            for (id, m) in s.monitors.values() {
                if let Some(u) = m.updates(&changes, &st.db) {
                    let _ = s.out.send(update_message(m.version(), id, &txn_id, u));
                }
            }
        }
        st.subscribers.retain(|s| s.send(changes.clone()).is_ok());
        let State { db, storage, .. } = st;
        if let Some(storage) = storage.as_mut().filter(|s| s.should_compact()) {
            if let Err(e) = storage.compact(db) {
                tracing::warn!("automatic compaction failed (the log keeps growing): {e}");
            }
        }
        self.committed.notify_all();
        out.result
    }
}

/// The notification carrying `updates` for a monitor of `version` called `id`.
pub(crate) fn update_message(
    version: Version,
    id: &Value,
    txn_id: &str,
    updates: Value,
) -> Message {
    match version {
        Version::V1 => Message::notification("update", vec![id.clone(), updates]),
        Version::V2 => Message::notification("update2", vec![id.clone(), updates]),
        Version::V3 => Message::notification("update3", vec![id.clone(), txn_id.into(), updates]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        let schema = Schema::from_json(&json!({
            "name": "T",
            "tables": {"R": {"columns": {"n": {"type": "integer"}}}}
        }))
        .unwrap();
        Server::in_memory(schema)
    }

    #[test]
    fn embedded_transact_and_subscribe() {
        let s = server();
        let (db, rx) = s.subscribe();
        assert!(db.table("R").unwrap().is_empty());
        let r = s.transact(&json!(["T", {"op": "insert", "table": "R", "row": {"n": 1}}]));
        assert!(r[0]["uuid"].is_array(), "{r}");
        let ch = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(ch.tables["R"].len(), 1);
        // A failed transaction notifies nobody.
        let r = s.transact(&json!([{"op": "insert", "table": "R", "row": {"n": "x"}}]));
        assert!(r[0]["error"].is_string(), "{r}");
        assert!(rx.try_recv().is_err());
        assert!(matches!(s.compact(), Err(ServerError::NoStorage)));
        let r = s.transact(&json!(["Other", {"op": "select", "table": "R", "where": []}]));
        assert_eq!(r[0]["error"], "unknown database", "{r}");
    }

    #[test]
    fn wait_blocks_until_another_commit_satisfies_it() {
        let s = Arc::new(server());
        let waiter = {
            let s = s.clone();
            thread::spawn(move || {
                let t0 = Instant::now();
                let r = s.transact(&json!([
                    {"op": "wait", "table": "R", "where": [], "columns": ["n"], "until": "==",
                     "rows": [{"n": 5}], "timeout": 20000},
                    {"op": "insert", "table": "R", "row": {"n": 6}}
                ]));
                (r, t0.elapsed())
            })
        };
        thread::sleep(Duration::from_millis(100));
        s.transact(&json!([{"op": "insert", "table": "R", "row": {"n": 5}}]));
        let (r, took) = waiter.join().unwrap();
        assert!(r[1]["uuid"].is_array(), "{r}");
        assert!(took < Duration::from_secs(15), "{took:?}");
        assert_eq!(s.database().table("R").unwrap().len(), 2);
        // A wait that never comes true times out after its timeout.
        let t0 = Instant::now();
        let r = s.transact(&json!([{"op": "wait", "table": "R", "where": [], "until": "==",
                                    "rows": [], "timeout": 300}]));
        assert_eq!(r[0]["error"], "timed out", "{r}");
        assert!(t0.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn bad_remotes_are_named() {
        let s = server();
        let e = s.listen("tcp:1.2.3.4:5").unwrap_err().to_string();
        assert_eq!(e, "remote \"tcp:1.2.3.4:5\" is not punix:PATH or ptcp:PORT[:IP]");
        assert!(s.listen("ptcp:notaport").is_err());
    }
}
