//! Conditions and mutations on a small hand-written schema, and a property
//! test: a transaction with one invalid operation changes nothing.

use proptest::prelude::*;
use rvs_ovsdb::{transact, Database, Schema};
use serde_json::{json, Value};

fn db() -> Database {
    let schema = Schema::from_json(&json!({
        "name": "T",
        "tables": {
            "R": {"columns": {
                "n": {"type": {"key": {"type": "integer", "minInteger": 0, "maxInteger": 100}}},
                "x": {"type": "real"},
                "s": {"type": {"key": "integer", "min": 0, "max": "unlimited"}},
                "o": {"type": {"key": "integer", "min": 0, "max": 1}},
                "m": {"type": {"key": "string", "value": "integer", "min": 0, "max": 3}},
                "w": {"type": {"key": "string", "min": 0, "max": 2}},
                "k": {"type": "string", "mutable": false}
            }, "isRoot": true}
        }
    }))
    .unwrap();
    let mut db = Database::new(schema);
    let r = transact(
        &mut db,
        &json!([
            {"op": "insert", "table": "R", "row": {"n": 10, "x": 1.5, "s": ["set", [1, 2, 3]],
             "m": ["map", [["a", 1], ["b", 2]]], "k": "one"}},
            {"op": "insert", "table": "R", "row": {"n": 20, "o": 7, "k": "two"}}
        ]),
    );
    assert!(r[1]["uuid"].is_array(), "{r}");
    db
}

/// The sorted `k` of the rows matching `cond`.
fn select_k(db: &mut Database, cond: Value) -> Vec<String> {
    let r =
        transact(db, &json!([{"op": "select", "table": "R", "where": [cond], "columns": ["k"]}]));
    let rows = r[0]["rows"].as_array().unwrap_or_else(|| panic!("{r}"));
    let mut ks: Vec<String> = rows.iter().map(|r| r["k"].as_str().unwrap().to_string()).collect();
    ks.sort();
    ks
}

#[test]
fn conditions() {
    let mut db = db();
    let cases = [
        (json!(["n", "<", 15]), vec!["one"]),
        (json!(["n", "<=", 20]), vec!["one", "two"]),
        (json!(["n", ">", 10]), vec!["two"]),
        (json!(["n", ">=", 500]), vec![]),
        (json!(["n", "!=", 10]), vec!["two"]),
        (json!(["x", ">", 1.0]), vec!["one"]),
        (json!(["o", "==", 7]), vec!["two"]),
        (json!(["o", "<", 100]), vec!["two"]),
        (json!(["o", "==", ["set", []]]), vec!["one"]),
        (json!(["s", "includes", ["set", [1, 3]]]), vec!["one"]),
        (json!(["s", "includes", ["set", []]]), vec!["one", "two"]),
        (json!(["s", "includes", 4]), vec![]),
        (json!(["s", "excludes", ["set", [4, 5]]]), vec!["one", "two"]),
        (json!(["s", "excludes", ["set", [3, 5]]]), vec!["two"]),
        (json!(["s", "==", ["set", [3, 2, 1]]]), vec!["one"]),
        (json!(["m", "includes", ["map", [["a", 1]]]]), vec!["one"]),
        (json!(["m", "includes", ["map", [["a", 2]]]]), vec![]),
        (json!(["m", "excludes", ["map", [["a", 2]]]]), vec!["one", "two"]),
        (json!(["k", "==", "two"]), vec!["two"]),
        (json!(true), vec!["one", "two"]),
        (json!(false), vec![]),
    ];
    for (cond, want) in cases {
        assert_eq!(select_k(&mut db, cond.clone()), want, "{cond}");
    }
    let uuid =
        transact(&mut db, &json!([{"op": "select", "table": "R", "where": [["k", "==", "one"]]}]))
            [0]["rows"][0]["_uuid"]
            .clone();
    assert_eq!(select_k(&mut db, json!(["_uuid", "==", uuid])), vec!["one"]);
    assert_eq!(select_k(&mut db, json!(["_uuid", "!=", uuid])), vec!["two"]);
    for bad in [
        json!(["s", "<", 1]),
        json!(["k", "<", "a"]),
        json!(["n", "~", 1]),
        json!(["n", "==", "x"]),
    ] {
        let r = transact(&mut db, &json!([{"op": "select", "table": "R", "where": [bad]}]));
        assert_eq!(r[0]["error"], "syntax error", "{r}");
    }
}

fn mutate(db: &mut Database, k: &str, m: Value) -> Value {
    transact(
        db,
        &json!([{"op": "mutate", "table": "R", "where": [["k", "==", k]], "mutations": [m]}]),
    )[0]
    .clone()
}

fn get(db: &mut Database, k: &str, col: &str) -> Value {
    transact(
        db,
        &json!([{"op": "select", "table": "R", "where": [["k", "==", k]], "columns": [col]}]),
    )[0]["rows"][0][col]
        .clone()
}

#[test]
fn mutations() {
    let mut db = db();
    assert_eq!(mutate(&mut db, "one", json!(["n", "+=", 5])), json!({"count": 1}));
    assert_eq!(get(&mut db, "one", "n"), json!(15));
    assert_eq!(mutate(&mut db, "one", json!(["n", "*=", 4])), json!({"count": 1}));
    assert_eq!(get(&mut db, "one", "n"), json!(60));
    assert_eq!(mutate(&mut db, "one", json!(["n", "%=", 7])), json!({"count": 1}));
    assert_eq!(get(&mut db, "one", "n"), json!(4));
    // Out of the column's range 0..100.
    let r = mutate(&mut db, "one", json!(["n", "-=", 5]));
    assert_eq!(r["error"], "constraint violation", "{r}");
    assert!(r["details"].as_str().unwrap().contains("R.n"), "{r}");
    assert_eq!(get(&mut db, "one", "n"), json!(4));
    assert_eq!(mutate(&mut db, "one", json!(["n", "/=", 0]))["error"], "domain error");
    assert_eq!(mutate(&mut db, "one", json!(["n", "%=", 0]))["error"], "domain error");
    assert_eq!(mutate(&mut db, "one", json!(["x", "/=", 0.0]))["error"], "domain error");
    assert_eq!(mutate(&mut db, "one", json!(["x", "%=", 2.0]))["error"], "syntax error");
    assert_eq!(mutate(&mut db, "one", json!(["x", "*=", 1e200])), json!({"count": 1}));
    assert_eq!(mutate(&mut db, "one", json!(["x", "*=", 1e200]))["error"], "range error");
    assert_eq!(mutate(&mut db, "one", json!(["s", "*=", i64::MAX]))["error"], "range error");
    // Sets: arithmetic on each element; collisions are refused.
    assert_eq!(mutate(&mut db, "one", json!(["s", "+=", 10])), json!({"count": 1}));
    assert_eq!(get(&mut db, "one", "s"), json!(["set", [11, 12, 13]]));
    assert_eq!(mutate(&mut db, "one", json!(["s", "/=", 100]))["error"], "constraint violation");
    assert_eq!(
        mutate(&mut db, "one", json!(["s", "insert", ["set", [1, 11]]])),
        json!({"count": 1})
    );
    assert_eq!(get(&mut db, "one", "s"), json!(["set", [1, 11, 12, 13]]));
    assert_eq!(
        mutate(&mut db, "one", json!(["s", "delete", ["set", [11, 99]]])),
        json!({"count": 1})
    );
    assert_eq!(get(&mut db, "one", "s"), json!(["set", [1, 12, 13]]));
    // Optional scalar: insert and delete work; at most one element.
    assert_eq!(mutate(&mut db, "one", json!(["o", "insert", 3])), json!({"count": 1}));
    assert_eq!(mutate(&mut db, "one", json!(["o", "insert", 4]))["error"], "constraint violation");
    // Maps: insert keeps existing keys; delete by pair or by key.
    assert_eq!(
        mutate(&mut db, "one", json!(["m", "insert", ["map", [["a", 9], ["c", 3]]]])),
        json!({"count": 1})
    );
    assert_eq!(get(&mut db, "one", "m"), json!(["map", [["a", 1], ["b", 2], ["c", 3]]]));
    let r = mutate(&mut db, "one", json!(["m", "insert", ["map", [["d", 4]]]]));
    assert_eq!(r["error"], "constraint violation", "max 3: {r}");
    assert_eq!(
        mutate(&mut db, "one", json!(["m", "delete", ["map", [["a", 2], ["b", 2]]]])),
        json!({"count": 1})
    );
    assert_eq!(get(&mut db, "one", "m"), json!(["map", [["a", 1], ["c", 3]]]));
    assert_eq!(mutate(&mut db, "one", json!(["m", "delete", ["set", ["c"]]])), json!({"count": 1}));
    assert_eq!(get(&mut db, "one", "m"), json!(["map", [["a", 1]]]));
    assert_eq!(mutate(&mut db, "one", json!(["m", "+=", 1]))["error"], "syntax error");
    assert_eq!(
        mutate(&mut db, "one", json!(["k", "insert", "x"]))["error"],
        "constraint violation"
    );
    assert_eq!(mutate(&mut db, "one", json!(["_uuid", "+=", 1]))["error"], "constraint violation");
    assert_eq!(mutate(&mut db, "nobody", json!(["n", "+=", 1])), json!({"count": 0}));
    // Overflow on an unconstrained set is a range error.
    assert_eq!(mutate(&mut db, "one", json!(["s", "+=", i64::MAX]))["error"], "range error");
}

#[test]
fn results_shape() {
    let mut db = db();
    let r = transact(&mut db, &json!({"op": "select"}));
    assert_eq!(r[0]["error"], "syntax error");
    let r = transact(&mut db, &json!([]));
    assert_eq!(r, json!([]));
    let r = transact(
        &mut db,
        &json!([{"op": "delete", "table": "R", "where": [["n", "==", 10]]},
                {"op": "select", "table": "R", "where": [], "extra": 1},
                {"op": "delete", "table": "R", "where": []}]),
    );
    assert_eq!(r[0], json!({"count": 1}));
    assert_eq!(r[1]["error"], "syntax error");
    assert_eq!(r[2], Value::Null);
    assert_eq!(select_k(&mut db, json!(true)), vec!["one", "two"]);
    let r = transact(
        &mut db,
        &json!([{"op": "insert", "table": "R", "uuid-name": "a", "row": {}},
                                      {"op": "insert", "table": "R", "uuid-name": "a", "row": {}}]),
    );
    assert_eq!(r[1]["error"], "duplicate uuid-name");
    let u = "11111111-2222-4333-8444-555555555555";
    let r = transact(&mut db, &json!([{"op": "insert", "table": "R", "uuid": u, "row": {}}]));
    assert_eq!(r, json!([{"uuid": ["uuid", u]}]));
    let r = transact(&mut db, &json!([{"op": "insert", "table": "R", "uuid": u, "row": {}}]));
    assert_eq!(r[0]["error"], "duplicate uuid");
}

/// A valid operation on the hand-written schema, from a few numbers.
fn valid_op(kind: u8, a: i64, b: u8) -> Value {
    let name = format!("k{b}");
    match kind % 5 {
        0 => json!({"op": "insert", "table": "R", "row": {"n": a.rem_euclid(101), "k": name,
                    "s": ["set", [a, a.wrapping_add(1)]]}}),
        1 => json!({"op": "update", "table": "R", "where": [["n", "<", a.rem_euclid(101)]],
                    "row": {"x": (a as f64) / 3.0}}),
        2 => json!({"op": "mutate", "table": "R", "where": [["k", "==", name]],
                    "mutations": [["m", "delete", ["set", ["a"]]], ["s", "insert", ["set", [a]]]]}),
        3 => json!({"op": "delete", "table": "R", "where": [["n", ">", a.rem_euclid(101)]]}),
        _ => json!({"op": "select", "table": "R", "where": [["s", "includes", a]]}),
    }
}

/// Operations of which the last always fails.
fn invalid_ops(kind: u8) -> Vec<Value> {
    if kind % 6 == 2 {
        return vec![
            json!({"op": "insert", "table": "R", "row": {"n": 1, "k": "fresh"}}),
            json!({"op": "mutate", "table": "R", "where": [["k", "==", "fresh"]],
                   "mutations": [["n", "/=", 0]]}),
        ];
    }
    vec![match kind % 6 {
        0 => json!({"op": "insert", "table": "R", "row": {"n": 101}}),
        1 => json!({"op": "update", "table": "R", "where": [], "row": {"k": "x"}}),
        3 => {
            json!({"op": "wait", "table": "R", "where": [], "until": "==", "rows": [{"k": "nope"}, {"k": "nope"}, {"k": "nope"}, {"k": "nope"}], "timeout": 0})
        }
        4 => json!({"op": "abort"}),
        _ => {
            json!({"op": "insert", "table": "R", "row": {"m": ["map", [["a", 1], ["b", 2], ["c", 3], ["d", 4]]]}})
        }
    }]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn one_invalid_op_changes_nothing(
        prefix in proptest::collection::vec((any::<u8>(), any::<i64>(), 0u8..4), 0..8),
        txns in proptest::collection::vec(
            (proptest::collection::vec((any::<u8>(), any::<i64>(), 0u8..4), 0..6), any::<u8>(), any::<prop::sample::Index>()),
            1..6),
    ) {
        let mut db = db();
        // Some committed history first.
        for (k, a, b) in prefix {
            transact(&mut db, &json!([valid_op(k, a, b)]));
        }
        for (ops, bad, at) in txns {
            let mut list: Vec<Value> = ops.iter().map(|&(k, a, b)| valid_op(k, a, b)).collect();
            let at = at.index(list.len() + 1);
            let bad = invalid_ops(bad);
            let pos = at + bad.len() - 1;
            list.splice(at..at, bad);
            let before = db.to_json().to_string();
            let r = transact(&mut db, &Value::Array(list));
            let r = r.as_array().unwrap();
            prop_assert!(r[pos].get("error").is_some(), "op {} should fail: {:?}", pos, r);
            prop_assert!(r[pos + 1..].iter().all(Value::is_null));
            prop_assert_eq!(db.to_json().to_string(), before);
        }
    }
}
