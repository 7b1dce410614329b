//! Transactions against the real Open_vSwitch schema, modelled on what
//! `ovs-vsctl` sends.

use rvs_ovsdb::{transact, transact_with, Database, RowChange, Schema, Uuid};
use serde_json::{json, Value};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn db() -> Option<Database> {
    if !std::path::Path::new(SCHEMA).exists() {
        println!("SKIPPED: {SCHEMA} is missing (install openvswitch-common)");
        return None;
    }
    Some(Database::new(Schema::from_file(SCHEMA).expect("schema parses")))
}

fn uuid_of(result: &Value) -> String {
    result["uuid"][1].as_str().expect("insert result").to_string()
}

/// `ovs-vsctl init`: the Open_vSwitch row. Returns its UUID.
fn init(db: &mut Database) -> String {
    let r = transact(db, &json!([{"op": "insert", "table": "Open_vSwitch", "row": {}}]));
    uuid_of(&r[0])
}

/// What `ovs-vsctl add-br br0` sends: a Bridge, its local Port and
/// Interface, and a mutate of Open_vSwitch.bridges.
fn add_br(name: &str) -> Value {
    json!([
        {"op": "insert", "table": "Interface", "uuid-name": "iface",
         "row": {"name": name, "type": "internal"}},
        {"op": "insert", "table": "Port", "uuid-name": "port",
         "row": {"name": name, "interfaces": ["named-uuid", "iface"]}},
        {"op": "insert", "table": "Bridge", "uuid-name": "br",
         "row": {"name": name, "ports": ["named-uuid", "port"]}},
        {"op": "mutate", "table": "Open_vSwitch", "where": [],
         "mutations": [["bridges", "insert", ["set", [["named-uuid", "br"]]]]]},
        {"op": "comment", "comment": format!("ovs-vsctl add-br {name}")}
    ])
}

fn count(db: &Database, table: &str) -> usize {
    db.table(table).unwrap().len()
}

#[test]
fn add_br_select_update_delete() {
    let Some(mut db) = db() else { return };
    let ovs = init(&mut db);
    let out = transact_with(&mut db, &add_br("br0"), &|_| false);
    let r = &out.result;
    assert_eq!(r.as_array().unwrap().len(), 5, "{r}");
    assert_eq!(r[3], json!({"count": 1}));
    assert_eq!(r[4], json!({}));
    let br = uuid_of(&r[2]);
    let port = uuid_of(&r[1]);
    let changes = out.changes.expect("committed");
    assert!(matches!(
        changes.row("Bridge", &Uuid::parse(&br).unwrap()),
        Some(RowChange::Insert(_))
    ));
    match changes.row("Open_vSwitch", &Uuid::parse(&ovs).unwrap()) {
        Some(RowChange::Modify { old, new }) => {
            assert_eq!(old.get("bridges").unwrap().to_json(), json!(["set", []]));
            assert_eq!(new.get("bridges").unwrap().to_json(), json!(["uuid", br]));
            assert!(new.get("_version").is_some() && old.get("_version").is_some());
            assert_ne!(old.get("_version"), new.get("_version"));
        }
        other => panic!("expected a modify, got {other:?}"),
    }

    // The bridge's port refers to the port inserted under a named-uuid.
    let r = transact(
        &mut db,
        &json!([{"op": "select", "table": "Bridge", "where": [["name", "==", "br0"]],
                 "columns": ["name", "ports", "_uuid"]}]),
    );
    assert_eq!(
        r,
        json!([{"rows": [{"name": "br0", "ports": ["uuid", port], "_uuid": ["uuid", br]}]}])
    );

    let r = transact(
        &mut db,
        &json!([{"op": "update", "table": "Bridge", "where": [["_uuid", "==", ["uuid", br]]],
                 "row": {"fail_mode": "secure", "external_ids": ["map", [["k", "v"]]]}}]),
    );
    assert_eq!(r, json!([{"count": 1}]));
    let r = transact(
        &mut db,
        &json!([{"op": "select", "table": "Bridge", "where": [["fail_mode", "==", "secure"]],
                 "columns": ["external_ids"]}]),
    );
    assert_eq!(r, json!([{"rows": [{"external_ids": ["map", [["k", "v"]]]}]}]));

    // Immutable column.
    let r = transact(
        &mut db,
        &json!([{"op": "update", "table": "Bridge", "where": [], "row": {"name": "x"}}]),
    );
    assert_eq!(r[0]["error"], "constraint violation", "{r}");
    assert!(r[0]["details"].as_str().unwrap().contains("Bridge.name"), "{r}");

    // Deleting the Open_vSwitch row, the only root reference, collects all.
    let r = transact(&mut db, &json!([{"op": "delete", "table": "Open_vSwitch", "where": []}]));
    assert_eq!(r, json!([{"count": 1}]));
    for t in ["Open_vSwitch", "Bridge", "Port", "Interface"] {
        assert_eq!(count(&db, t), 0, "{t}");
    }
}

#[test]
fn dangling_strong_reference_is_refused_and_changes_nothing() {
    let Some(mut db) = db() else { return };
    init(&mut db);
    transact(&mut db, &add_br("br0"));
    let before = db.to_json().to_string();
    let ghost = Uuid::new_v4().to_string();
    let r = transact(
        &mut db,
        &json!([
            {"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "p1"}},
            {"op": "insert", "table": "Port", "uuid-name": "p",
             "row": {"name": "p1", "interfaces": ["named-uuid", "i"]}},
            {"op": "mutate", "table": "Bridge", "where": [],
             "mutations": [["ports", "insert", ["set", [["named-uuid", "p"], ["uuid", ghost]]]]]}
        ]),
    );
    let a = r.as_array().unwrap();
    assert_eq!(a.len(), 4, "commit error is an extra element: {r}");
    assert_eq!(a[3]["error"], "referential integrity violation");
    assert!(a[3]["details"].as_str().unwrap().contains(&ghost), "{r}");
    assert_eq!(db.to_json().to_string(), before);

    // Deleting a Port that a Bridge still refers to.
    let r = transact(&mut db, &json!([{"op": "delete", "table": "Port", "where": []}]));
    assert_eq!(r[1]["error"], "referential integrity violation", "{r}");
    assert!(r[1]["details"].as_str().unwrap().contains("cannot delete Port row"), "{r}");
    assert_eq!(db.to_json().to_string(), before);
}

#[test]
fn removing_the_bridge_reference_collects_bridge_port_interface() {
    let Some(mut db) = db() else { return };
    init(&mut db);
    let br0 = uuid_of(&transact(&mut db, &add_br("br0"))[2]);
    transact(&mut db, &add_br("br1"));
    assert_eq!(count(&db, "Bridge"), 2);
    assert_eq!(count(&db, "Interface"), 2);
    let out = transact_with(
        &mut db,
        &json!([{"op": "mutate", "table": "Open_vSwitch", "where": [],
                 "mutations": [["bridges", "delete", ["uuid", br0]]]}]),
        &|_| false,
    );
    assert_eq!(out.result, json!([{"count": 1}]));
    assert_eq!(count(&db, "Bridge"), 1);
    assert_eq!(count(&db, "Port"), 1);
    assert_eq!(count(&db, "Interface"), 1);
    let changes = out.changes.unwrap();
    assert_eq!(changes.tables["Interface"].len(), 1);
    assert!(changes.tables["Port"].values().all(|c| matches!(c, RowChange::Delete(_))));
    let r = transact(
        &mut db,
        &json!([{"op": "select", "table": "Bridge", "where": [], "columns": ["name"]}]),
    );
    assert_eq!(r, json!([{"rows": [{"name": "br1"}]}]));

    // An insert into a non-root table that nothing refers to vanishes.
    let r = transact(
        &mut db,
        &json!([{"op": "insert", "table": "Port", "row": {"name": "lost",
        "interfaces": ["set", []]}}]),
    );
    // OVS calls a value with the wrong number of elements a syntax error.
    assert_eq!(r[0]["error"], "syntax error", "interfaces has min 1: {r}");
    let r = transact(
        &mut db,
        &json!([
        {"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "lost"}},
        {"op": "insert", "table": "Port", "row": {"name": "lost", "interfaces": ["named-uuid", "i"]}}]),
    );
    assert!(r[1]["uuid"].is_array(), "{r}");
    assert_eq!(count(&db, "Port"), 1);
}

#[test]
fn weak_references_are_cleaned() {
    let Some(mut db) = db() else { return };
    init(&mut db);
    let r = transact(&mut db, &add_br("br0"));
    let (port, br) = (uuid_of(&r[1]), uuid_of(&r[2]));
    let r = transact(
        &mut db,
        &json!([
            {"op": "insert", "table": "Mirror", "uuid-name": "m",
             "row": {"name": "m0", "select_src_port": ["uuid", port]}},
            {"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", br]]],
             "mutations": [["mirrors", "insert", ["named-uuid", "m"]]]}
        ]),
    );
    let mirror = uuid_of(&r[0]);
    assert_eq!(r[1], json!({"count": 1}));
    let mrow = |db: &Database| db.row("Mirror", &Uuid::parse(&mirror).unwrap()).unwrap().clone();
    assert_eq!(mrow(&db).get("select_src_port").unwrap().to_json(), json!(["uuid", port]));
    // Dropping the port from the bridge collects it; the mirror's weak
    // reference to it goes.
    let out = transact_with(
        &mut db,
        &json!([{"op": "update", "table": "Bridge", "where": [], "row": {"ports": ["set", []]}}]),
        &|_| false,
    );
    assert_eq!(out.result, json!([{"count": 1}]));
    assert_eq!(count(&db, "Port"), 0);
    assert_eq!(mrow(&db).get("select_src_port").unwrap().to_json(), json!(["set", []]));
    assert!(matches!(
        out.changes.unwrap().row("Mirror", &Uuid::parse(&mirror).unwrap()),
        Some(RowChange::Modify { .. })
    ));
}

#[test]
fn invalid_value_anywhere_leaves_database_unchanged() {
    let Some(mut db) = db() else { return };
    init(&mut db);
    transact(&mut db, &add_br("br0"));
    let before = db.to_json().to_string();
    let bad_ops = [
        json!({"op": "update", "table": "Bridge", "where": [], "row": {"fail_mode": "bogus"}}),
        json!({"op": "insert", "table": "Interface", "row": {"name": "x", "ofport_request": 70000}}),
        json!({"op": "insert", "table": "Nope", "row": {}}),
        json!({"op": "insert", "table": "Bridge", "row": {"nope": 1}}),
        json!({"op": "mutate", "table": "Bridge", "where": [], "mutations": [["name", "insert", "x"]]}),
        json!({"op": "frobnicate"}),
        json!({"op": "select", "table": "Bridge", "where": [["name", "<", "a"]]}),
        json!({"op": "insert", "table": "Open_vSwitch", "row": {}}),
        json!([{"op": "insert", "table": "Bridge", "uuid-name": "dup", "row": {"name": "br0"}},
               {"op": "mutate", "table": "Open_vSwitch", "where": [],
                "mutations": [["bridges", "insert", ["named-uuid", "dup"]]]}]),
    ];
    let kinds = [
        "constraint violation",
        "constraint violation",
        "unknown table",
        "unknown column",
        "constraint violation",
        "unknown operation",
        "syntax error",
        "constraint violation",
        "constraint violation",
    ];
    for (bad, kind) in bad_ops.iter().zip(kinds) {
        let mut ops = json!([
            {"op": "update", "table": "Bridge", "where": [], "row": {"other_config": ["map", [["a", "b"]]]}},
            {"op": "insert", "table": "Interface", "uuid-name": "x2", "row": {"name": "e0"}},
            {"op": "insert", "table": "Port", "uuid-name": "p2", "row": {"name": "e0", "interfaces": ["named-uuid", "x2"]}},
            {"op": "mutate", "table": "Bridge", "where": [], "mutations": [["ports", "insert", ["named-uuid", "p2"]]]},
            {"op": "select", "table": "Open_vSwitch", "where": []}
        ]);
        let list = ops.as_array_mut().unwrap();
        match bad {
            Value::Array(many) => list.splice(4..4, many.iter().cloned()).for_each(drop),
            one => list.insert(4, one.clone()),
        }
        let r = transact(&mut db, &ops);
        let err = r.as_array().unwrap().iter().find(|v| v.get("error").is_some());
        let err = err.unwrap_or_else(|| panic!("{bad} should fail: {r}"));
        assert_eq!(err["error"], kind, "{bad}: {r}");
        assert_eq!(db.to_json().to_string(), before, "{bad} changed the database");
    }
}

#[test]
fn index_uniqueness_and_max_rows() {
    let Some(mut db) = db() else { return };
    init(&mut db);
    transact(&mut db, &add_br("br0"));
    let before = db.to_json().to_string();
    let r = transact(&mut db, &add_br("br0"));
    let err = &r[5];
    assert_eq!(err["error"], "constraint violation", "{r}");
    let d = err["details"].as_str().unwrap();
    assert!(d.contains("index") && d.contains("\"br0\"") && d.contains("table Bridge"), "{d}");
    assert_eq!(db.to_json().to_string(), before);
    let r = transact(&mut db, &json!([{"op": "insert", "table": "Open_vSwitch", "row": {}}]));
    assert!(r[1]["details"].as_str().unwrap().contains("maxRows 1"), "{r}");
}

#[test]
fn wait_assert_abort_comment() {
    let Some(mut db) = db() else { return };
    init(&mut db);
    transact(&mut db, &add_br("br0"));
    let before = db.to_json().to_string();
    let wait = |until: &str, name: &str| {
        json!({"op": "wait", "table": "Bridge", "where": [], "columns": ["name"],
               "until": until, "rows": [{"name": name}], "timeout": 0})
    };
    let r = transact(&mut db, &json!([wait("==", "br0"), wait("!=", "br1")]));
    assert_eq!(r, json!([{}, {}]));
    let r = transact(&mut db, &json!([wait("==", "br1"), {"op": "comment", "comment": "x"}]));
    assert_eq!(r[0]["error"], "timed out", "{r}");
    assert_eq!(r[1], Value::Null);
    let r = transact(&mut db, &json!([wait("!=", "br0")]));
    assert_eq!(r[0]["error"], "timed out");

    let assert_op = json!([{"op": "assert", "lock": "ovs_vswitchd"},
                           {"op": "update", "table": "Bridge", "where": [], "row": {"stp_enable": true}}]);
    let out = transact_with(&mut db, &assert_op, &|_| false);
    assert_eq!(out.result[0]["error"], "not owner");
    assert_eq!(db.to_json().to_string(), before);
    let out = transact_with(&mut db, &assert_op, &|l| l == "ovs_vswitchd");
    assert_eq!(out.result, json!([{}, {"count": 1}]));
    let before = db.to_json().to_string();

    let r = transact(
        &mut db,
        &json!([
            {"op": "update", "table": "Bridge", "where": [], "row": {"stp_enable": false}},
            {"op": "abort"},
            {"op": "comment", "comment": "never"}
        ]),
    );
    assert_eq!(
        r,
        json!([{"count": 1}, {"error": "aborted", "details": "aborted by request"}, null])
    );
    assert_eq!(db.to_json().to_string(), before);

    let out = transact_with(
        &mut db,
        &json!([{"op": "commit", "durable": true}, {"op": "comment", "comment": "c"}]),
        &|_| false,
    );
    assert_eq!(out.result, json!([{}, {}]));
    assert!(out.durable && out.committed());
    assert!(out.changes.unwrap().is_empty());
    assert_eq!(db.to_json().to_string(), before);
}
