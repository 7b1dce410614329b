//! Schema tests: the real `vswitch.ovsschema` and hand-made invalid ones.

use super::*;
use crate::types::{Constraints, Max, RefType};
use crate::{Atom, Datum};
use serde_json::json;

const VSWITCH: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn vswitch() -> Option<Schema> {
    if !Path::new(VSWITCH).exists() {
        println!("SKIPPED: {VSWITCH} is missing (install openvswitch-common)");
        return None;
    }
    Some(Schema::from_file(VSWITCH).expect("vswitch.ovsschema parses"))
}

#[test]
fn vswitch_schema_parses() {
    let Some(s) = vswitch() else { return };
    assert_eq!(s.name(), "Open_vSwitch");
    assert!(s.version().is_some());
    for t in ["Open_vSwitch", "Bridge", "Port", "Interface", "Controller", "Manager"] {
        assert!(s.table(t).is_some(), "table {t}");
    }
    let ovs = s.table("Open_vSwitch").unwrap();
    assert_eq!(ovs.max_rows(), Some(1));
    assert!(ovs.is_root());
    assert!(!s.table("Port").unwrap().is_root());
    assert_eq!(s.table("Bridge").unwrap().indexes(), &[vec!["name".to_string()]]);
    // Round trip through our JSON form.
    assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
    // Every table and column of the file is there (the file writes some
    // types non-canonically, e.g. `{"type": "string"}`, so compare names).
    let orig: Value = serde_json::from_str(&std::fs::read_to_string(VSWITCH).unwrap()).unwrap();
    let ours = s.to_json();
    let names = |v: &Value| -> Vec<(String, Vec<String>)> {
        v["tables"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(t, tv)| {
                (t.clone(), tv["columns"].as_object().unwrap().keys().cloned().collect())
            })
            .collect()
    };
    assert_eq!(names(&ours), names(&orig));
    assert_eq!(
        ours["tables"]["Bridge"]["columns"]["ports"],
        json!({"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}})
    );
    assert_eq!(
        ours["tables"]["Interface"]["columns"]["mac"],
        json!({"type": {"key": "string", "min": 0}})
    );
}

#[test]
fn vswitch_column_types() {
    let Some(s) = vswitch() else { return };
    let col = |t: &str, c: &str| s.table(t).unwrap().column(c).unwrap().clone();

    let fail_mode = col("Bridge", "fail_mode");
    let ty = fail_mode.ty();
    assert!(ty.is_optional_scalar());
    assert_eq!(
        ty.key().enumeration().unwrap(),
        &[Atom::from("secure"), Atom::from("standalone")].into()
    );

    let ofport = col("Interface", "ofport_request");
    assert_eq!(ofport.ty().key().constraints(), &Constraints::Integer { min: 1, max: 65279 });
    assert_eq!((ofport.ty().min(), ofport.ty().max()), (0, Max::Limited(1)));
    assert_eq!(
        Datum::from_json(&json!(70000), ofport.ty(), None).unwrap_err().to_string(),
        "value 70000 is out of range 1 to 65279"
    );

    let ports = col("Bridge", "ports");
    assert_eq!(ports.ty().key().ref_table(), Some("Port"));
    assert_eq!(ports.ty().key().ref_type(), Some(RefType::Strong));
    assert_eq!((ports.ty().min(), ports.ty().max()), (0, Max::Unlimited));

    let oc = col("Bridge", "other_config");
    assert!(oc.ty().is_map());

    let uuid = col("Bridge", "_uuid");
    assert!(uuid.is_implicit() && !uuid.is_mutable());
    assert!(s.table("Bridge").unwrap().column("_version").is_some());
    assert!(!s.table("Bridge").unwrap().user_columns().any(|c| c.is_implicit()));

    // Ephemeral and immutable columns exist in the real schema.
    assert!(s.tables().flat_map(|t| t.columns()).any(|c| c.is_ephemeral()));
    assert!(s.tables().flat_map(|t| t.user_columns()).any(|c| !c.is_mutable()));

    // Every column's default value is valid for its type.
    for t in s.tables() {
        for c in t.columns() {
            let d = Datum::default_for(c.ty());
            d.check(c.ty()).unwrap_or_else(|e| panic!("{}.{}: {e}", t.name(), c.name()));
        }
    }
}

fn err(j: Value) -> String {
    Schema::from_json(&j).unwrap_err().to_string()
}

#[test]
fn invalid_schemas() {
    let table = |cols: Value| json!({"name": "D", "tables": {"T": {"columns": cols}}});
    assert_eq!(err(json!([])), "database schema must be an object, got []");
    assert_eq!(err(json!({"tables": {}})), "database schema is missing required member \"name\"");
    assert_eq!(
        err(json!({"name": "D", "tables": {}, "extra": 1})),
        "member \"extra\" is not allowed in database schema"
    );
    assert_eq!(
        err(json!({"name": "D", "version": "1.2", "tables": {}})),
        "schema version \"1.2\" is not in the format x.y.z"
    );
    assert_eq!(
        err(json!({"name": "1D", "tables": {}})),
        "database name \"1D\" is not a valid identifier"
    );
    assert_eq!(
        err(json!({"name": "D", "tables": {"_T": {"columns": {"a": {"type": "integer"}}}}})),
        "table name \"_T\" is reserved (names beginning with \"_\" are)"
    );
    assert_eq!(err(table(json!({}))), "table T must have at least one column");
    assert_eq!(
        err(table(json!({"_uuid": {"type": "uuid"}}))),
        "column name \"_uuid\" is reserved (names beginning with \"_\" are)"
    );
    assert_eq!(
        err(table(json!({"a": {"type": "int"}}))),
        "column T.a: unknown atomic type \"int\""
    );
    assert_eq!(err(table(json!({"a": {}}))), "column T.a is missing required member \"type\"");
    assert_eq!(
        err(table(json!({"a": {"type": "integer", "ephemeral": "yes"}}))),
        "column T.a ephemeral must be a boolean, got \"yes\""
    );
    assert_eq!(
        err(table(json!({"a": {"type": {"key": {"type": "uuid", "refTable": "X"}}}}))),
        "column T.a refers to undefined table X"
    );
    let with = |extra: Value| {
        let mut t = json!({"columns": {"a": {"type": "integer"}, "e": {"type": "integer", "ephemeral": true}}});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        err(json!({"name": "D", "tables": {"T": t}}))
    };
    assert_eq!(with(json!({"maxRows": 0})), "table T: maxRows 0 must be a positive integer");
    assert_eq!(with(json!({"indexes": [["b"]]})), "table T: index [\"b\"]: no column b in table T");
    assert_eq!(with(json!({"indexes": [[]]})), "table T: index []: must have at least one column");
    assert_eq!(
        with(json!({"indexes": [["e"]]})),
        "table T: index [\"e\"]: ephemeral column e may not be indexed"
    );
    assert_eq!(
        with(json!({"indexes": [["a", "a"]]})),
        "table T: index [\"a\",\"a\"]: column a is listed twice"
    );
    assert!(Schema::parse_str("{")
        .unwrap_err()
        .to_string()
        .starts_with("schema is not valid JSON"));
    assert!(Schema::from_file("/nonexistent/x.ovsschema")
        .unwrap_err()
        .to_string()
        .starts_with("cannot read schema /nonexistent/x.ovsschema"));
}

#[test]
fn is_root_defaults_to_all_when_none_is_root() {
    let s = Schema::from_json(&json!({"name": "D", "tables": {
        "A": {"columns": {"x": {"type": "integer"}}},
        "B": {"columns": {"x": {"type": "integer"}}}
    }}))
    .unwrap();
    assert!(s.tables().all(TableSchema::is_root));
    assert!(s.to_json()["tables"]["A"].get("isRoot").is_none());
    let s = Schema::from_json(&json!({"name": "D", "tables": {
        "A": {"columns": {"x": {"type": "integer"}}, "isRoot": true},
        "B": {"columns": {"x": {"type": "integer"}}}
    }}))
    .unwrap();
    assert!(s.table("A").unwrap().is_root() && !s.table("B").unwrap().is_root());
    assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
}
