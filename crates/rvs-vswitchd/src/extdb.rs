//! The configuration database as a client: `rvs-vswitchd unix:PATH` or
//! `rvs-vswitchd tcp:IP:PORT` talks to an OVSDB server (rvs's own, or
//! Open vSwitch's `ovsdb-server` with OVS's full `vswitch.ovsschema`)
//! instead of embedding one.
//!
//! The session, as `ovs-vswitchd` runs it:
//!
//! 1. `get_schema` of `Open_vSwitch`, to learn which tables and columns
//!    the server has (OVS's schema has many more than rvs's; rvs's may have
//!    fewer than the reconciler could use);
//! 2. `lock` `ovs_vswitchd`, and if another switch holds it, wait for the
//!    `locked` notification before touching anything: two switches must not
//!    both apply one configuration;
//! 3. `monitor` the columns the reconciler reads, keeping a local replica
//!    in the same JSON shape as the embedded database's dump
//!    (`{"<table>": {"<uuid>": <row>}}`), so the one [`Reconciler`] serves
//!    both modes;
//! 4. after every update, reconcile and write the status back (`ofport`,
//!    `error`, `link_state`, `cur_cfg`) with `transact`, asserting the lock,
//!    keeping only the columns the server's schema has.
//!
//! `echo` requests are answered. When the connection drops, the session
//! starts over after a backoff that doubles from 100 ms to 8 s; the switch
//! keeps running as configured meanwhile.

use crate::reconcile::Reconciler;
use rvs_jsonrpc::{Connection, Message, Stream};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The OVSDB lock every switch takes, as `ovs-vswitchd` does.
const LOCK: &str = "ovs_vswitchd";

/// The database name.
const DB: &str = "Open_vSwitch";

/// The columns the reconciler reads, per table; those the server lacks are
/// left out of the monitor.
const MONITORED: &[(&str, &[&str])] = &[
    ("Open_vSwitch", &["bridges", "next_cfg", "cur_cfg", "other_config"]),
    (
        "Bridge",
        &[
            "name",
            "fail_mode",
            "other_config",
            "ports",
            "controller",
            "datapath_type",
            "protocols",
            "datapath_id",
            "mirrors",
        ],
    ),
    (
        "Mirror",
        &[
            "name",
            "select_all",
            "select_src_port",
            "select_dst_port",
            "select_vlan",
            "output_port",
            "output_vlan",
            "snaplen",
            "statistics",
        ],
    ),
    ("Port", &["name", "interfaces", "tag", "trunks", "vlan_mode", "fake_bridge", "qos"]),
    ("QoS", &["type", "other_config"]),
    (
        "Interface",
        &[
            "name",
            "type",
            "options",
            "ofport",
            "ofport_request",
            "error",
            "link_state",
            "admin_state",
            "statistics",
            "mtu",
            "mac_in_use",
            "ifindex",
            "status",
            "link_speed",
            "duplex",
            "link_resets",
            "other_config",
            "mtu_request",
            "mac",
            "ingress_policing_rate",
            "ingress_policing_burst",
            "ingress_policing_kpkts_rate",
            "ingress_policing_kpkts_burst",
        ],
    ),
    (
        "Controller",
        &["target", "inactivity_probe", "max_backoff", "is_connected", "role", "status"],
    ),
];

/// Whether `database` names a server to connect to rather than a file.
pub fn is_remote(database: &str) -> bool {
    Stream::is_remote(database)
}

/// Runs sessions against `remote` until `stop` is set, reconnecting with
/// backoff. Meant for its own thread.
pub fn run(
    remote: &str,
    rec: Arc<Reconciler>,
    mut refresh: crate::status::Refresher,
    stop: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        match session(remote, &rec, &mut refresh, &stop) {
            Ok(()) => return,
            Err(e) => tracing::warn!("database {remote}: {e}; reconnecting in {backoff:?}"),
        }
        if started.elapsed() > Duration::from_secs(10) {
            // The session was up for a while: start the backoff afresh.
            backoff = Duration::from_millis(100);
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
}

/// Why a session ended.
#[derive(Debug)]
enum SessionError {
    Connect(io::Error),
    Rpc(rvs_jsonrpc::Error),
    Protocol(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Connect(e) => write!(f, "cannot connect: {e}"),
            SessionError::Rpc(e) => write!(f, "connection failed: {e}"),
            SessionError::Protocol(m) => write!(f, "{m}"),
        }
    }
}

impl From<rvs_jsonrpc::Error> for SessionError {
    fn from(e: rvs_jsonrpc::Error) -> Self {
        SessionError::Rpc(e)
    }
}

/// The server's tables and their columns (from `get_schema`).
type Columns = BTreeMap<String, BTreeSet<String>>;

fn schema_columns(schema: &Value) -> Columns {
    let mut out = Columns::new();
    if let Some(tables) = schema.get("tables").and_then(Value::as_object) {
        for (t, ts) in tables {
            let cols = ts
                .get("columns")
                .and_then(Value::as_object)
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            out.insert(t.clone(), cols);
        }
    }
    out
}

/// The `monitor` request's table part: the columns of [`MONITORED`] that
/// the server has.
fn monitor_requests(columns: &Columns) -> Value {
    let mut reqs = Map::new();
    for (table, want) in MONITORED {
        let Some(have) = columns.get(*table) else { continue };
        let cols: Vec<&str> = want.iter().copied().filter(|c| have.contains(*c)).collect();
        reqs.insert(table.to_string(), json!({"columns": cols}));
    }
    Value::Object(reqs)
}

/// Applies a `<table-updates>` object (monitor version 1) to `replica`.
fn apply_updates(replica: &mut Map<String, Value>, updates: &Value) {
    let Some(tables) = updates.as_object() else { return };
    for (table, rows) in tables {
        let t = replica.entry(table.clone()).or_insert_with(|| json!({}));
        let Some(t) = t.as_object_mut() else { continue };
        let Some(rows) = rows.as_object() else { continue };
        for (uuid, upd) in rows {
            match upd.get("new").and_then(Value::as_object) {
                None => {
                    t.remove(uuid);
                }
                Some(new) => {
                    let row = t.entry(uuid.clone()).or_insert_with(|| json!({}));
                    if let Some(row) = row.as_object_mut() {
                        for (c, v) in new {
                            row.insert(c.clone(), v.clone());
                        }
                    }
                }
            }
        }
    }
}

/// Keeps the write-back operations to columns the server has; drops an
/// update left with nothing to write.
fn filter_ops(ops: Vec<Value>, columns: &Columns) -> Vec<Value> {
    ops.into_iter()
        .filter_map(|mut op| {
            let table = op.get("table").and_then(Value::as_str).map(str::to_string);
            if let (Some(table), Some(row)) =
                (table, op.get_mut("row").and_then(Value::as_object_mut))
            {
                let have = columns.get(&table)?;
                row.retain(|c, _| have.contains(c));
                if row.is_empty() {
                    return None;
                }
            }
            Some(op)
        })
        .collect()
}

/// One connection's life: connect, learn the schema, lock, monitor, then
/// reconcile on every update until the connection fails (an error) or
/// `stop` is set (`Ok`).
fn session(
    remote: &str,
    rec: &Reconciler,
    refresh: &mut crate::status::Refresher,
    stop: &AtomicBool,
) -> Result<(), SessionError> {
    let mut conn = Connection::new(Stream::connect(remote).map_err(SessionError::Connect)?);
    let timeout = Duration::from_secs(30);

    let id = conn.next_id();
    let schema = match conn
        .transact_timeout(Message::request("get_schema", vec![json!(DB)], id), timeout)?
    {
        Message::Reply { result, .. } => result,
        other => return Err(SessionError::Protocol(format!("get_schema {DB} failed: {other}"))),
    };
    let columns = schema_columns(&schema);
    if !columns.contains_key("Open_vSwitch") {
        return Err(SessionError::Protocol(format!(
            "database {DB} at {remote} has no Open_vSwitch table"
        )));
    }

    let id = conn.next_id();
    let mut locked =
        match conn.transact_timeout(Message::request("lock", vec![json!(LOCK)], id), timeout)? {
            Message::Reply { result, .. } => result.get("locked") == Some(&json!(true)),
            other => return Err(SessionError::Protocol(format!("lock {LOCK} failed: {other}"))),
        };
    if !locked {
        tracing::info!("database {remote}: waiting for lock {LOCK}, which another switch holds");
    }

    let id = conn.next_id();
    let mon =
        Message::request("monitor", vec![json!(DB), json!(null), monitor_requests(&columns)], id);
    let mut replica = Map::new();
    match conn.transact_timeout(mon, timeout)? {
        Message::Reply { result, .. } => apply_updates(&mut replica, &result),
        other => return Err(SessionError::Protocol(format!("monitor {DB} failed: {other}"))),
    }
    tracing::info!("database {remote}: connected{}", if locked { ", lock held" } else { "" });

    // The id of the write-back in flight, and when it went.
    let mut in_flight: Option<(Value, Instant)> = None;
    let mut dirty = true;
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let idle =
            in_flight.is_none() && locked && (dirty || last.elapsed() >= Duration::from_secs(1));
        if idle {
            dirty = false;
            last = Instant::now();
            let db = Value::Object(replica.clone());
            let mut ops = rec.reconcile(&db);
            ops.extend(refresh.poll(&db));
            let ops = filter_ops(ops, &columns);
            if !ops.is_empty() {
                let mut txn = vec![json!(DB), json!({"op": "assert", "lock": LOCK})];
                txn.extend(ops);
                let id = conn.next_id();
                conn.send(&Message::request("transact", txn, id.clone()))?;
                in_flight = Some((id, Instant::now()));
            }
        }
        if let Some((_, at)) = &in_flight {
            if at.elapsed() > timeout {
                return Err(SessionError::Protocol(format!(
                    "no answer to a write-back in {timeout:?}"
                )));
            }
        }
        let msg = match conn.recv_timeout(Duration::from_millis(200)) {
            Ok(m) => m,
            Err(rvs_jsonrpc::Error::Timeout(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        match msg {
            Message::Request { method, params, id } if method == "echo" => {
                tracing::debug!("database {remote}: answering echo {id}");
                conn.send(&Message::reply(Value::Array(params), id))?;
            }
            Message::Request { method, id, .. } => {
                conn.send(&Message::error(json!(format!("unknown method {method}")), id))?;
            }
            Message::Notification { method, params } => match method.as_str() {
                "update" => {
                    if let Some(u) = params.get(1) {
                        apply_updates(&mut replica, u);
                    }
                    dirty = true;
                }
                "locked" => {
                    tracing::info!("database {remote}: got lock {LOCK}");
                    locked = true;
                    dirty = true;
                }
                "stolen" => {
                    tracing::warn!("database {remote}: lock {LOCK} was stolen; waiting");
                    locked = false;
                }
                _ => {}
            },
            Message::Reply { result, id } => {
                if in_flight.as_ref().is_some_and(|(i, _)| *i == id) {
                    in_flight = None;
                    if let Some(err) =
                        result.as_array().and_then(|a| a.iter().find(|r| r.get("error").is_some()))
                    {
                        tracing::warn!("database {remote}: write-back failed: {err}");
                    }
                }
            }
            Message::Error { error, id } => {
                if in_flight.as_ref().is_some_and(|(i, _)| *i == id) {
                    in_flight = None;
                }
                tracing::warn!("database {remote}: request {id} failed: {error}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_follows_updates() {
        let mut r = Map::new();
        apply_updates(
            &mut r,
            &json!({"Bridge": {"u1": {"new": {"name": "br0", "ports": ["set", []]}}}}),
        );
        apply_updates(
            &mut r,
            &json!({"Bridge": {"u1": {"old": {"ports": ["set", []]}, "new": {"ports": ["uuid", "p1"]}}}}),
        );
        assert_eq!(r["Bridge"]["u1"], json!({"name": "br0", "ports": ["uuid", "p1"]}));
        apply_updates(&mut r, &json!({"Bridge": {"u1": {"old": {"name": "br0"}}}}));
        assert_eq!(r["Bridge"], json!({}));
    }

    #[test]
    fn write_back_keeps_server_columns() {
        let cols: Columns = [("Interface".to_string(), ["ofport".to_string()].into())].into();
        let ops = vec![
            json!({"op": "update", "table": "Interface", "where": [], "row": {"ofport": 1, "link_state": "up"}}),
            json!({"op": "update", "table": "Interface", "where": [], "row": {"link_state": "up"}}),
            json!({"op": "update", "table": "Nope", "where": [], "row": {"x": 1}}),
        ];
        assert_eq!(
            filter_ops(ops, &cols),
            vec![json!({"op": "update", "table": "Interface", "where": [], "row": {"ofport": 1}})]
        );
    }

    #[test]
    fn monitor_asks_only_for_columns_the_server_has() {
        let cols: Columns = [
            ("Open_vSwitch".to_string(), ["bridges".to_string(), "x".to_string()].into()),
            ("Bridge".to_string(), ["name".to_string()].into()),
        ]
        .into();
        assert_eq!(
            monitor_requests(&cols),
            json!({"Open_vSwitch": {"columns": ["bridges"]}, "Bridge": {"columns": ["name"]}})
        );
    }
}
