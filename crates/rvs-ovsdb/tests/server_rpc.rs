//! The server over its sockets, spoken to with our own JSON-RPC client:
//! error handling, transactions, monitors, locks, blocking `wait`,
//! durability across a restart.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rvs_jsonrpc::{Connection, Error, Message};
use rvs_ovsdb::{Schema, Server};
use serde_json::{json, Value};
use support::TempDir;

const T: Duration = Duration::from_secs(10);

fn schema() -> Schema {
    Schema::from_json(&json!({
        "name": "T",
        "tables": {"R": {"columns": {
            "name": {"type": "string"},
            "n": {"type": "integer"},
            "tags": {"type": {"key": "string", "min": 0, "max": "unlimited"}}
        }, "indexes": [["name"]]}}
    }))
    .unwrap()
}

/// An in-memory server listening on a socket in `dir`, and the socket path.
fn start(dir: &TempDir) -> (Server, std::path::PathBuf) {
    let server = Server::in_memory(schema());
    let sock = dir.join("db.sock");
    server.listen(&format!("punix:{}", sock.display())).unwrap();
    (server, sock)
}

fn connect(sock: &std::path::Path) -> Connection<UnixStream> {
    Connection::connect(sock).unwrap()
}

/// Sends a request and returns the reply's result, panicking on an error.
fn call(c: &mut Connection<UnixStream>, method: &str, params: Value) -> Value {
    match call_raw(c, method, params) {
        Message::Reply { result, .. } => result,
        other => panic!("{method}: {other}"),
    }
}

fn call_raw(c: &mut Connection<UnixStream>, method: &str, params: Value) -> Message {
    let id = c.next_id();
    let Value::Array(params) = params else { panic!("params must be an array") };
    c.transact_timeout(Message::request(method, params, id), T).unwrap()
}

fn error_of(m: Message) -> Value {
    match m {
        Message::Error { error, .. } => error,
        other => panic!("expected an error, got {other}"),
    }
}

/// Asserts that nothing arrives on `c` before the reply to an `echo`: the
/// server queues notifications before later replies, so this shows none
/// was queued.
fn assert_quiet(c: &mut Connection<UnixStream>) {
    call(c, "echo", json!([]));
    match c.recv_timeout(Duration::from_millis(50)) {
        Err(Error::Timeout(_)) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

/// The next `n` messages, sorted by method (`update` < `update2` < `update3`).
fn recv_sorted(c: &mut Connection<UnixStream>, n: usize) -> Vec<Message> {
    let mut got: Vec<Message> = (0..n).map(|_| c.recv_timeout(T).unwrap()).collect();
    got.sort_by_key(|m| match m {
        Message::Notification { method, .. } => method.clone(),
        other => panic!("expected a notification, got {other}"),
    });
    got
}

#[test]
fn protocol_errors_get_replies_and_the_connection_stays_usable() {
    let dir = TempDir::new("rpc-errors");
    let (_server, sock) = start(&dir);
    // The error reply to bad JSON has a null id, which JSON-RPC 1.0 message
    // parsers (ours, OVS's) refuse, so read it as plain JSON.
    let mut raw = UnixStream::connect(&sock).unwrap();
    raw.set_read_timeout(Some(T)).unwrap();
    raw.write_all(br#"{"method": nonsense, "params": [], "id": 1}"#).unwrap();
    let mut framer = rvs_jsonrpc::Framer::new();
    let mut buf = [0u8; 4096];
    let reply = loop {
        if let Some(v) = framer.next() {
            break v.unwrap();
        }
        let n = std::io::Read::read(&mut raw, &mut buf).unwrap();
        assert!(n > 0, "connection closed instead of an error reply");
        framer.push(&buf[..n]);
    };
    assert_eq!(reply["error"]["error"], "syntax error", "{reply}");
    assert_eq!((reply["id"].clone(), reply["result"].clone()), (Value::Null, Value::Null));
    let mut c = Connection::new(raw);
    assert_eq!(call(&mut c, "list_dbs", json!([])), json!(["T"]));
    c.get_mut().write_all(br#"{"bogus": 1, "id": 5}"#).unwrap();
    let m = c.recv_timeout(T).unwrap();
    assert_eq!(m.id(), Some(&json!(5)), "{m}");
    assert_eq!(error_of(m)["error"], "invalid JSON-RPC message");
    assert_eq!(error_of(call_raw(&mut c, "frobnicate", json!([]))), json!("unknown method"));
    assert_eq!(
        error_of(call_raw(&mut c, "get_schema", json!(["Nope"])))["error"],
        "unknown database"
    );
    assert_eq!(call(&mut c, "get_schema", json!(["T"])), schema().to_json());
    assert_eq!(call(&mut c, "echo", json!(["hi", 1])), json!(["hi", 1]));
    assert_eq!(call(&mut c, "set_db_change_aware", json!([true])), json!({}));
    // A reply from the client (to a server echo) is ignored.
    c.send(&Message::reply(json!([]), json!("echo"))).unwrap();
    assert_quiet(&mut c);
}

#[test]
fn an_invalid_transaction_is_refused_whole() {
    let dir = TempDir::new("rpc-invalid");
    let (server, sock) = start(&dir);
    let mut c = connect(&sock);
    let r = call(
        &mut c,
        "transact",
        json!(["T", {"op": "insert", "table": "R", "row": {"name": "a"}},
                    {"op": "insert", "table": "R", "row": {"n": "not a number"}}]),
    );
    assert!(r[0]["uuid"].is_array(), "{r}");
    assert_eq!(r[1]["error"], "syntax error", "{r}");
    // Index violation: refused at commit, the result has one more element.
    let r = call(
        &mut c,
        "transact",
        json!(["T", {"op": "insert", "table": "R", "row": {"name": "a"}},
                    {"op": "insert", "table": "R", "row": {"name": "a"}}]),
    );
    assert_eq!(r.as_array().unwrap().len(), 3, "{r}");
    assert_eq!(r[2]["error"], "constraint violation", "{r}");
    let r = call(&mut c, "transact", json!(["T", {"op": "select", "table": "R", "where": []}]));
    assert_eq!(r[0]["rows"], json!([]));
    assert!(server.database().table("R").unwrap().is_empty());
}

#[test]
fn monitors_send_update_update2_and_update3() {
    let dir = TempDir::new("rpc-monitor");
    let (server, sock) = start(&dir);
    server.transact(&json!([{"op": "insert", "table": "R", "row": {"name": "old", "n": 1}}]));
    let mut a = connect(&sock);
    let mut b = connect(&sock);
    let init = call(&mut a, "monitor", json!(["T", "m1", {"R": {"columns": ["name", "n"]}}]));
    let (old_uuid, ev) = init["R"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(ev, &json!({"new": {"name": "old", "n": 1}}));
    let init = call(
        &mut a,
        "monitor_cond",
        json!(["T", ["m", 2], {"R": [{"columns": ["name", "tags"], "where": [["n", ">", 5]]}]}]),
    );
    assert_eq!(init, json!({}));
    let r = call(&mut a, "monitor_cond_since", json!(["T", "m3", {"R": {}}, null]));
    assert_eq!(r[0], false);
    assert!(r[2]["R"][old_uuid]["initial"].is_object(), "{r}");
    let txn_id = r[1].as_str().unwrap().to_string();
    assert_eq!(
        error_of(call_raw(&mut a, "monitor", json!(["T", "m1", {"R": {}}])))["error"],
        "duplicate monitor ID"
    );

    let r = call(
        &mut b,
        "transact",
        json!(["T", {"op": "insert", "table": "R", "row": {"name": "new", "n": 7, "tags": ["set", ["x"]]}}]),
    );
    let new_uuid = r[0]["uuid"][1].as_str().unwrap().to_string();
    let got = recv_sorted(&mut a, 3);
    assert_eq!(
        got[0],
        Message::notification(
            "update",
            vec![json!("m1"), json!({"R": {&new_uuid: {"new": {"name": "new", "n": 7}}}})]
        )
    );
    assert_eq!(
        got[1],
        Message::notification(
            "update2",
            vec![
                json!(["m", 2]),
                json!({"R": {&new_uuid: {"insert": {"name": "new", "tags": "x"}}}})
            ]
        )
    );
    let Message::Notification { method, params } = &got[2] else { panic!("{}", got[2]) };
    assert_eq!(method, "update3");
    assert_ne!(params[1], json!(txn_id), "each commit gets a new transaction id");
    let txn_id = params[1].as_str().unwrap().to_string();
    assert_eq!(params[2]["R"][&new_uuid]["insert"]["n"], 7);

    // The old row enters the monitor_cond selection: an insert there.
    call(
        &mut b,
        "transact",
        json!(["T", {"op": "mutate", "table": "R", "where": [["name", "==", "old"]], "mutations": [["n", "+=", 10], ["tags", "insert", ["set", ["y"]]]]}]),
    );
    let got = recv_sorted(&mut a, 3);
    assert_eq!(
        got[0],
        Message::notification(
            "update",
            vec![
                json!("m1"),
                json!({"R": {old_uuid: {"old": {"n": 1}, "new": {"name": "old", "n": 11}}}})
            ]
        )
    );
    assert_eq!(
        got[1],
        Message::notification(
            "update2",
            vec![
                json!(["m", 2]),
                json!({"R": {old_uuid: {"insert": {"name": "old", "tags": "y"}}}})
            ]
        )
    );
    let Message::Notification { params, .. } = &got[2] else { panic!() };
    assert_eq!(params[2], json!({"R": {old_uuid: {"modify": {"n": 11, "tags": "y"}}}}));
    let txn_id2 = params[1].as_str().unwrap().to_string();
    assert_ne!(txn_id2, txn_id);

    // A reconnecting client with the latest id gets no initial contents.
    let mut c = connect(&sock);
    let r = call(&mut c, "monitor_cond_since", json!(["T", "again", {"R": {}}, txn_id2]));
    assert_eq!(r, json!([true, txn_id2, {}]));

    // After monitor_cancel, no more notifications for that monitor.
    assert_eq!(call(&mut a, "monitor_cancel", json!(["m1"])), json!({}));
    call(&mut a, "monitor_cancel", json!([["m", 2]]));
    call(&mut a, "monitor_cancel", json!(["m3"]));
    assert_eq!(
        error_of(call_raw(&mut a, "monitor_cancel", json!(["m1"])))["error"],
        "unknown monitor"
    );
    call(&mut b, "transact", json!(["T", {"op": "delete", "table": "R", "where": []}]));
    assert_quiet(&mut a);
    let m = c.recv_timeout(T).unwrap();
    let Message::Notification { params, .. } = m else { panic!("{m}") };
    assert_eq!(params[2]["R"][&new_uuid], json!({"delete": null}));
}

#[test]
fn monitor_cond_change_moves_the_selection() {
    let dir = TempDir::new("rpc-condchange");
    let (server, sock) = start(&dir);
    let r = server.transact(&json!([{"op": "insert", "table": "R", "row": {"name": "a"}},
                                     {"op": "insert", "table": "R", "row": {"name": "b"}}]));
    let (ua, ub) = (r[0]["uuid"][1].as_str().unwrap(), r[1]["uuid"][1].as_str().unwrap());
    let mut a = connect(&sock);
    let init = call(
        &mut a,
        "monitor_cond",
        json!(["T", "m", {"R": {"columns": ["name"], "where": [["name", "==", "a"]]}}]),
    );
    assert_eq!(init, json!({"R": {ua: {"initial": {"name": "a"}}}}));
    let r = call(
        &mut a,
        "monitor_cond_change",
        json!(["m", "m2", {"R": [{"where": [["name", "==", "b"]]}]}]),
    );
    assert_eq!(r, json!({}));
    let m = a.recv_timeout(T).unwrap();
    assert_eq!(
        m,
        Message::notification(
            "update2",
            vec![json!("m2"), json!({"R": {ua: {"delete": null}, ub: {"insert": {"name": "b"}}}})]
        )
    );
    call(&mut a, "monitor_cancel", json!(["m2"]));
}

#[test]
fn locks_hand_over_with_locked_and_stolen() {
    let dir = TempDir::new("rpc-locks");
    let (_server, sock) = start(&dir);
    let (mut a, mut b, mut c) = (connect(&sock), connect(&sock), connect(&sock));
    assert_eq!(call(&mut a, "lock", json!(["L"])), json!({"locked": true}));
    assert_eq!(call(&mut b, "lock", json!(["L"])), json!({"locked": false}));
    assert_eq!(error_of(call_raw(&mut b, "lock", json!(["L"])))["error"], "duplicate lock");
    let assert_op = json!(["T", {"op": "assert", "lock": "L"}]);
    assert_eq!(call(&mut a, "transact", assert_op.clone()), json!([{}]));
    assert_eq!(call(&mut b, "transact", assert_op.clone())[0]["error"], "not owner");
    assert_eq!(call(&mut c, "steal", json!(["L"])), json!({"locked": true}));
    assert_eq!(a.recv_timeout(T).unwrap(), Message::notification("stolen", vec![json!("L")]));
    assert_eq!(call(&mut a, "transact", assert_op.clone())[0]["error"], "not owner");
    // The thief unlocks: the victim, next in line, gets it back.
    assert_eq!(call(&mut c, "unlock", json!(["L"])), json!({}));
    assert_eq!(a.recv_timeout(T).unwrap(), Message::notification("locked", vec![json!("L")]));
    // The owner disconnects: the next waiter gets it.
    drop(a);
    assert_eq!(b.recv_timeout(T).unwrap(), Message::notification("locked", vec![json!("L")]));
    assert_eq!(call(&mut b, "transact", assert_op), json!([{}]));
    assert_quiet(&mut c);
}

#[test]
fn wait_blocks_its_request_only_until_the_condition_holds() {
    let dir = TempDir::new("rpc-wait");
    let (_server, sock) = start(&dir);
    let (mut a, mut b) = (connect(&sock), connect(&sock));
    let wait = json!({"op": "wait", "table": "R", "where": [["name", "==", "w"]], "columns": ["n"],
                      "until": "==", "rows": [{"n": 3}], "timeout": 20000});
    let t0 = Instant::now();
    a.send(&Message::request(
        "transact",
        vec![json!("T"), wait, json!({"op": "insert", "table": "R", "row": {"name": "after"}})],
        100,
    ))
    .unwrap();
    // The connection still answers while the transaction waits.
    assert_eq!(call(&mut a, "echo", json!(["still here"])), json!(["still here"]));
    call(
        &mut b,
        "transact",
        json!(["T", {"op": "insert", "table": "R", "row": {"name": "w", "n": 2}}]),
    );
    call(
        &mut b,
        "transact",
        json!(["T", {"op": "update", "table": "R", "where": [["name", "==", "w"]], "row": {"n": 3}}]),
    );
    let m = a.recv_timeout(T).unwrap();
    assert_eq!(m.id(), Some(&json!(100)), "{m}");
    let Message::Reply { result, .. } = m else { panic!("{m}") };
    assert!(result[1]["uuid"].is_array(), "{result}");
    assert!(t0.elapsed() < Duration::from_secs(15));
    // A wait that does not come true fails after its timeout, not before.
    let t0 = Instant::now();
    let r = call(
        &mut a,
        "transact",
        json!(["T", {"op": "wait", "table": "R", "where": [], "until": "==", "rows": [], "timeout": 300}]),
    );
    assert_eq!(r[0]["error"], "timed out", "{r}");
    assert!(t0.elapsed() >= Duration::from_millis(300), "{:?}", t0.elapsed());
    // Timeout 0 fails at once.
    let r = call(
        &mut a,
        "transact",
        json!(["T", {"op": "wait", "table": "R", "where": [], "until": "==", "rows": [], "timeout": 0}]),
    );
    assert_eq!(r[0]["error"], "timed out", "{r}");
}

#[test]
fn restart_on_the_same_file_keeps_the_data() {
    let dir = TempDir::new("rpc-restart");
    let db = dir.join("conf.db");
    let sock = dir.join("db.sock");
    let remote = format!("punix:{}", sock.display());
    let schema_file = dir.join("t.ovsschema");
    std::fs::write(&schema_file, schema().to_json().to_string()).unwrap();
    {
        let server = Server::open(&db, Some(&schema_file)).unwrap();
        server.listen(&remote).unwrap();
        let mut c = connect(&sock);
        let r = call(
            &mut c,
            "transact",
            json!(["T", {"op": "insert", "table": "R", "row": {"name": "kept", "tags": ["set", ["a", "b"]]}}, {"op": "comment", "comment": "first"}]),
        );
        assert!(r[0]["uuid"].is_array(), "{r}");
        server.stop();
        assert!(!sock.exists(), "stop removes the socket file");
    }
    let server = Server::open(&db, Some(&schema_file)).unwrap();
    server.listen(&remote).unwrap();
    let mut c = connect(&sock);
    let r = call(
        &mut c,
        "transact",
        json!(["T", {"op": "select", "table": "R", "where": [], "columns": ["name", "tags"]}]),
    );
    assert_eq!(r[0]["rows"], json!([{"name": "kept", "tags": ["set", ["a", "b"]]}]));
    server.compact().unwrap();
    drop(server);
    let server = Server::open(&db, None).unwrap();
    assert_eq!(server.database().table("R").unwrap().len(), 1);
}

#[test]
fn sockets_are_owner_only_and_tcp_works() {
    let dir = TempDir::new("rpc-sock");
    let (server, sock) = start(&dir);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let bound = server.listen("ptcp:0:127.0.0.1").unwrap();
    let addr = bound.strip_prefix("tcp:").unwrap();
    let mut c = Connection::new(TcpStream::connect(addr).unwrap());
    let r = c.transact_timeout(Message::request("list_dbs", vec![], 0), T).unwrap();
    assert_eq!(r, Message::reply(json!(["T"]), json!(0)));
    server.stop();
    assert!(!sock.exists());
    assert!(matches!(c.recv_timeout(T), Err(Error::Closed)));
}

#[test]
fn the_server_probes_silent_clients_with_echo() {
    let dir = TempDir::new("rpc-probe");
    let server = Server::in_memory(schema());
    server.set_probe_interval(Some(Duration::from_millis(100)));
    let sock = dir.join("db.sock");
    server.listen(&format!("punix:{}", sock.display())).unwrap();
    let mut c = connect(&sock);
    let m = c.recv_timeout(T).unwrap();
    let Message::Request { method, id, .. } = m else { panic!("{m}") };
    assert_eq!(method, "echo");
    c.send(&Message::reply(json!([]), id)).unwrap();
    // Answering keeps the connection; silence after a probe closes it.
    let m = c.recv_timeout(T).unwrap();
    assert!(matches!(m, Message::Request { .. }), "{m}");
    let t0 = Instant::now();
    assert!(matches!(c.recv_timeout(T), Err(Error::Closed)));
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_server_compacts_its_file_as_the_log_grows() {
    let dir = TempDir::new("rpc-compact");
    let db = dir.join("conf.db");
    let schema_file = dir.join("t.ovsschema");
    std::fs::write(&schema_file, schema().to_json().to_string()).unwrap();
    let server = Server::open(&db, Some(&schema_file)).unwrap();
    server.transact(&json!([{"op": "insert", "table": "R", "row": {"name": "c"}}]));
    for i in 0..350 {
        let r =
            server.transact(&json!([{"op": "update", "table": "R", "where": [], "row": {"n": i}}]));
        assert_eq!(r[0]["count"], 1, "{r}");
    }
    let text = std::fs::read_to_string(&db).unwrap();
    let records = text.matches("OVSDB JSON ").count();
    assert!(records < 200, "{records} records: the log was never compacted");
    assert!(text.contains("compacted by rvs"));
    drop(server);
    let server = Server::open(&db, None).unwrap();
    let rows: Vec<_> = server.database().table("R").unwrap().values().cloned().collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get("n").unwrap().to_json(), json!(349));
}
